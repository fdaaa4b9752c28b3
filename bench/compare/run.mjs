// ferrotel next to the browser SDKs users would pick instead, on one machine in one run.
//
//   node bench/compare/run.mjs            full run: writes bench/REPORT.md and bench/report.svg
//   node bench/compare/run.mjs --smoke    one iteration of everything, few clicks: checks every
//                                         SDK loads, inits and yields numbers (bench/out/compare/)
//   options: --pkg DIR (ferrotel package, default pkg/), --only id,id (subset; no report files);
//   COMPARE_DEBUG=1 prints every sink request, console message and the init loads' resources;
//   COMPARE_PROFILE=1 samples ferrotel's timed click loops with the CDP profiler (50 us) and prints
//   each function's self time per click (profiling inflates every figure)
//
// Needs the ferrotel package (bash scripts/build-pkg.sh). Installs the pinned SDKs of
// bench/compare/package.json with `npm ci` (from the committed lockfile, scripts not run) into
// bench/compare/node_modules when they are missing. Each SDK's entry file (bench/compare/entries/)
// is bundled and minified with esbuild (ESM, code splitting, NODE_ENV=production); everything
// is served from a local 127.0.0.1 server on a free port, whose /sink/<sdk>/ answers any request
// (204 for ferrotel, 200 `{}` for the others); Chromium resolves every other host to nothing, and
// any request that leaves 127.0.0.1 fails the run.
//
// Measures (exact definitions in the report's "Method"): the bytes the visitor downloads (every
// JS and wasm file the SDK's pages fetched, brotli q11 and gzip 9), import -> init time, added
// time per click, and the JS heap after 10,000 clicks and 1,000 errors, each against a page
// without any SDK in the same run. Exits non-zero if an SDK fails to load or init, sends nothing,
// calls a host other than 127.0.0.1, or a measurement is missing; never on timing values.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { BENCH_DIR, REPO, launch, median, until } from "../common.mjs";
import { productPage } from "./page.mjs";

const HERE = path.join(BENCH_DIR, "compare");
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const opt = (name) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
const SMOKE = flag("--smoke");
const ONLY = opt("--only") ? opt("--only").split(",") : null;
const log = (...a) => console.log("compare:", ...a);
function fail(msg) { console.error("compare: FAILED: " + msg); process.exit(1); }

// Full run: 15 timed init loads per SDK (after one discarded warm-up), 9 click rounds of 3,400
// clicks (each of the 340 targets 10 times, after 340 warm-up clicks), 3 memory rounds.
const P = SMOKE
  ? { initLoads: 1, warmLoads: 0, busyMs: 300, clickRounds: 1, warmClicks: 40, clicks: 340, chunk: 20, heapRounds: 1, heapClicks: 1000, heapErrors: 100, settleMs: 500 }
  : { initLoads: 15, warmLoads: 1, busyMs: 1000, clickRounds: 9, warmClicks: 340, clicks: 3400, chunk: 20, heapRounds: 3, heapClicks: 10000, heapErrors: 1000, settleMs: 2000 };

const TRIM = 0.05; // share of the slowest click chunks left out of the per-click figure

// One row per SDK, ferrotel first. `pkgs`: the packages whose versions the report lists.
const SDKS = [
  { id: "ferrotel", name: "ferrotel", pkgs: ["ferrotel"], clicks: "yes", errors: "yes" },
  { id: "web-vitals", name: "web-vitals", pkgs: ["web-vitals"], clicks: "no", errors: "no" },
  { id: "sentry-errors", name: "Sentry (errors only)", pkgs: ["@sentry/browser"], clicks: "breadcrumbs", errors: "yes" },
  { id: "sentry-tracing", name: "Sentry + browserTracing", pkgs: ["@sentry/browser"], clicks: "breadcrumbs", errors: "yes" },
  { id: "posthog", name: "PostHog", pkgs: ["posthog-js"], clicks: "autocapture", errors: "yes" },
  { id: "faro", name: "Grafana Faro", pkgs: ["@grafana/faro-web-sdk"], clicks: "user actions", errors: "yes" },
  { id: "datadog", name: "Datadog RUM", pkgs: ["@datadog/browser-rum"], clicks: "actions", errors: "yes" },
  { id: "otel", name: "OpenTelemetry web", pkgs: ["@opentelemetry/sdk-trace", "@opentelemetry/exporter-trace-otlp-http", "@opentelemetry/instrumentation-document-load", "@opentelemetry/api"], clicks: "no", errors: "no" },
  { id: "elastic", name: "Elastic APM RUM", pkgs: ["@elastic/apm-rum"], clicks: "transactions", errors: "yes" },
  { id: "plausible", name: "plausible-tracker", pkgs: ["plausible-tracker"], clicks: "no", errors: "no" },
].filter((s) => !ONLY || ONLY.includes(s.id));
if (ONLY && SDKS.length !== ONLY.length) fail(`--only: unknown id among ${ONLY.join(",")}; ids: ferrotel web-vitals sentry-errors sentry-tracing posthog faro datadog otel elastic plausible`);
const VARIANTS = ["none", ...SDKS.map((s) => s.id)];

// ---------------------------------------------------------------- setup: package, deps, bundles

const pkgArg = opt("--pkg") || "pkg";
const pkgDir = path.resolve(REPO, pkgArg);
if (!existsSync(path.join(pkgDir, "index.js")) || !existsSync(path.join(pkgDir, "ferrotel_bg.wasm"))) {
  fail(`no ferrotel package (index.js + ferrotel_bg.wasm) at ${pkgDir}: run  bash scripts/build-pkg.sh`);
}

function ensureDeps() {
  const ok = () => { try { execFileSync("npm", ["ls", "--depth=0"], { cwd: HERE, stdio: "ignore" }); return true; } catch { return false; } };
  if (ok()) return;
  log("npm ci in bench/compare (pinned SDK versions from package-lock.json, install scripts off)");
  execFileSync("npm", ["ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"], { cwd: HERE, stdio: "inherit" });
  if (!ok()) fail("npm ci in bench/compare did not produce the pinned dependencies (npm ls fails)");
}

function versions() {
  const v = {};
  for (const s of SDKS) for (const p of s.pkgs) {
    v[p] = p === "ferrotel" ? JSON.parse(readFileSync(path.join(pkgDir, "package.json"), "utf8")).version
      : JSON.parse(readFileSync(path.join(HERE, "node_modules", p, "package.json"), "utf8")).version;
  }
  return v;
}

const OUT = path.join(REPO, "bench/out/compare");
const BUNDLES = path.join(OUT, "bundles");

async function bundleAll() {
  const { build } = createRequire(path.join(REPO, "package.json"))("esbuild");
  rmSync(BUNDLES, { recursive: true, force: true });
  const ferrotelPlugin = {
    name: "ferrotel-pkg",
    setup(b) { b.onResolve({ filter: /^ferrotel$/ }, () => ({ path: path.join(pkgDir, "index.js") })); },
  };
  for (const id of VARIANTS) {
    const outdir = path.join(BUNDLES, id);
    mkdirSync(outdir, { recursive: true });
    if (id === "none") { writeFileSync(path.join(outdir, "entry.js"), ""); continue; }
    await build({
      entryPoints: { entry: path.join(HERE, "entries", `${id}.js`) },
      bundle: true, minify: true, format: "esm", splitting: true, outdir,
      platform: "browser", logLevel: "error",
      define: { "process.env.NODE_ENV": '"production"' },
      external: ["*.wasm"], // ferrotel fetches its wasm by URL next to the module
      plugins: [ferrotelPlugin],
    });
    if (id === "ferrotel") copyFileSync(path.join(pkgDir, "ferrotel_bg.wasm"), path.join(outdir, "ferrotel_bg.wasm"));
  }
}

// ---------------------------------------------------------------- the local server and sink

const ISOLATED = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };
const TYPES = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json", ".css": "text/css" };

async function startServer(pageHtml) {
  const served = Object.fromEntries(VARIANTS.map((v) => [v, new Set()])); // sdk -> static files fetched
  const sink = Object.fromEntries(VARIANTS.map((v) => [v, { requests: 0, bytes: 0, paths: new Set() }]));
  const notFound = [];
  const routes = [["/b/", BUNDLES, null]];
  if (VARIANTS.includes("posthog")) routes.push(["/assets/posthog/static/", path.join(HERE, "node_modules/posthog-js/dist"), "posthog"]);
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const p = url.pathname;
    if (p === "/shop.html") {
      res.writeHead(200, { "content-type": "text/html", "cache-control": "no-store", ...ISOLATED });
      return res.end(pageHtml);
    }
    const m = /^\/sink\/([^/]+)(\/.*)?$/.exec(p);
    if (m && sink[m[1]]) {
      const s = sink[m[1]];
      s.requests++; s.bytes += chunks.reduce((n, c) => n + c.length, 0);
      s.paths.add(`${req.method} ${(m[2] || "/").replace(/[0-9a-f]{16,}/g, "…")}`);
      if (process.env.COMPARE_DEBUG) console.error(`sink ${m[1]} ${req.method} ${req.url} ${Buffer.concat(chunks).toString("utf8").slice(0, 300)}`);
      const cors = { "access-control-allow-origin": req.headers.origin || "*", "access-control-allow-credentials": "true",
        "access-control-allow-headers": req.headers["access-control-request-headers"] || "*", "access-control-allow-methods": "GET, POST, OPTIONS" };
      if (m[1] === "ferrotel" || req.method === "OPTIONS") { res.writeHead(204, cors); return res.end(); }
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store", ...cors });
      return res.end("{}");
    }
    for (const [prefix, dir, sdkOf] of routes) {
      if (!p.startsWith(prefix)) continue;
      const rel = path.normalize(decodeURIComponent(p.slice(prefix.length))).replace(/^(\.\.[/\\])+/, "");
      const file = path.join(dir, rel);
      if (!file.startsWith(dir) || !existsSync(file)) break;
      const sdk = sdkOf || rel.split(/[/\\]/)[0];
      served[sdk]?.add(file);
      res.writeHead(200, { "content-type": TYPES[path.extname(file)] || "application/octet-stream", "cache-control": "no-store",
        "cross-origin-resource-policy": "same-origin" });
      return res.end(readFileSync(file));
    }
    notFound.push(`${req.method} ${p}`);
    res.writeHead(404);
    res.end("not found");
  });
  await new Promise((r, j) => server.once("error", j).listen(0, "127.0.0.1", r));
  return {
    origin: `http://127.0.0.1:${server.address().port}`, served, sink, notFound,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

// ---------------------------------------------------------------- pages

const problems = { external: [], pageErrors: {} };
// A desktop Chrome's user agent, as a visitor's: headless Chromium says "HeadlessChrome", which
// SDKs may treat as a bot.
let USER_AGENT;

/** A fresh context and page for `sdk`, loaded, its SDK started by __go(); `body(page, cdp, go)` then runs. */
async function withPage(browser, server, sdk, body) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, userAgent: USER_AGENT });
  try {
    const page = await ctx.newPage();
    if (process.env.COMPARE_DEBUG) page.on("console", (m) => console.error(`console ${sdk} ${m.type()}: ${m.text().slice(0, 300)}`));
    page.on("request", (r) => { if (!r.url().startsWith(server.origin) && !r.url().startsWith("data:")) problems.external.push(`${sdk}: ${r.method()} ${r.url()}`); });
    page.on("pageerror", (e) => {
      const msg = String(e && e.message || e);
      if (!msg.includes("bench: ")) (problems.pageErrors[sdk] ||= []).push(msg.slice(0, 200));
    });
    const cdp = await ctx.newCDPSession(page);
    await cdp.send("Performance.enable");
    await page.goto(`${server.origin}/shop.html?sdk=${sdk}`, { waitUntil: "load" });
    await page.waitForFunction(() => window.__ready, null, { timeout: 15000 });
    await new Promise((r) => setTimeout(r, 100));
    const go = await page.evaluate(() => window.__go());
    if (go.error) throw new Error(`${sdk}: import/init failed in the page: ${go.error}`);
    if (go.targets < 300) throw new Error(`page has only ${go.targets} click targets`);
    const result = await body(page, cdp, go);
    // The visitor leaves: pagehide and visibilitychange (hidden) fire, SDKs send what they hold.
    await page.goto("about:blank");
    return result;
  } finally {
    await ctx.close(); // pagehide: SDKs flush here
  }
}

const taskMs = async (cdp) => {
  const { metrics } = await cdp.send("Performance.getMetrics");
  const t = metrics.find((m) => m.name === "TaskDuration");
  if (!t) throw new Error("CDP Performance.getMetrics has no TaskDuration");
  return t.value * 1000;
};

async function measureInit(browser, server, sdk) {
  return withPage(browser, server, sdk, async (page, cdp, go) => {
    if (process.env.COMPARE_DEBUG) console.error(sdk, JSON.stringify(go), JSON.stringify(await page.evaluate(() => performance.getEntriesByType("resource").map((e) => [e.name.slice(-24), Math.round(e.startTime), Math.round(e.responseEnd)]))));
    await page.evaluate((ms) => new Promise((r) => setTimeout(r, ms)), P.busyMs);
    return { ms: go.ms, importMs: go.importMs, busy: await taskMs(cdp), info: go.info, isolated: go.isolated };
  });
}

async function measureClicks(browser, server, sdk) {
  return withPage(browser, server, sdk, async (page, cdp) => {
    await page.evaluate(([n, c]) => window.__clicks(n, c), [P.warmClicks, P.chunk]);
    const task0 = await taskMs(cdp);
    const prof = process.env.COMPARE_PROFILE && sdk === "ferrotel";
    if (prof) { await cdp.send("Profiler.enable"); await cdp.send("Profiler.setSamplingInterval", { interval: 50 }); await cdp.send("Profiler.start"); }
    const chunks = await page.evaluate(([n, c]) => window.__clicks(n, c), [P.clicks, P.chunk]);
    if (prof) {
      const { profile } = await cdp.send("Profiler.stop");
      const self = new Map(); const dt = profile.timeDeltas; const byId = new Map(profile.nodes.map((n) => [n.id, n]));
      profile.samples.forEach((id, i) => { const n = byId.get(id); const k = n.callFrame.functionName + " " + n.callFrame.url.slice(-30) + ":" + n.callFrame.lineNumber; self.set(k, (self.get(k) || 0) + (dt[i] || 0)); });
      const tot = [...self.values()].reduce((a, b) => a + b, 0);
      console.error("PROFILE total ms", (tot / 1000).toFixed(1), "per click us", (tot / P.clicks).toFixed(1));
      for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.error("  ", (v / P.clicks).toFixed(2), "us/click", k);
    }
    await page.evaluate((ms) => new Promise((r) => setTimeout(r, ms)), P.busyMs);
    const task1 = await taskMs(cdp);
    // Mean chunk time without the slowest TRIM share of chunks (bursts of other processes on
    // this shared machine), per click.
    const kept = [...chunks].sort((a, b) => a - b).slice(0, Math.max(1, Math.round(chunks.length * (1 - TRIM))));
    const us = (kept.reduce((a, b) => a + b, 0) * 1000) / (kept.length * P.chunk);
    return { us, taskUs: ((task1 - task0) * 1000) / P.clicks };
  });
}

async function measureHeap(browser, server, sdk) {
  return withPage(browser, server, sdk, async (page, cdp) => {
    const done = await page.evaluate(([c, e, s]) => window.__work(c, e, s), [P.heapClicks, P.heapErrors, P.settleMs]);
    if (done.clicks !== P.heapClicks || done.thrown + done.rejected !== P.heapErrors) throw new Error(`${sdk}: workload incomplete: ${JSON.stringify(done)}`);
    for (let i = 0; i < 3; i++) await cdp.send("HeapProfiler.collectGarbage");
    const u = await cdp.send("Runtime.getHeapUsage");
    const wasm = await page.evaluate(() => window.__wasmBytes());
    // JS heap used, ArrayBuffer backing stores, and wasm linear memory (counted by the page).
    return { kb: (u.usedSize + (u.backingStorageSize || 0) + wasm) / 1024, jsKb: u.usedSize / 1024, wasmKb: wasm / 1024, app: done.app };
  });
}

// ---------------------------------------------------------------- run

function sizes(files) {
  const t = { raw: 0, gzip: 0, brotli: 0, files: [] };
  for (const f of [...files].sort()) {
    const buf = readFileSync(f);
    if (!/\.(m?js|wasm)$/.test(f)) continue;
    t.raw += buf.length;
    t.gzip += gzipSync(buf, { level: 9 }).length;
    t.brotli += brotliCompressSync(buf, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: buf.length } }).length;
    t.files.push(path.relative(REPO, f));
  }
  return t;
}

function onDisk(id) {
  const dir = path.join(BUNDLES, id);
  return sizes(readdirSync(dir).map((f) => path.join(dir, f)));
}

async function main() {
  const started = Date.now();
  ensureDeps();
  const ver = versions();
  await bundleAll();
  log(`bundled ${SDKS.length} SDKs in ${((Date.now() - started) / 1000).toFixed(1)} s (${SMOKE ? "smoke" : "full"} run)`);

  const server = await startServer(productPage());
  // No host but 127.0.0.1 resolves: an SDK that calls out fails visibly instead of reaching it.
  const browser = await launch(["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]);
  const R = Object.fromEntries(VARIANTS.map((v) => [v, { init: [], click: [], heap: [], info: null }]));
  const chromiumVersion = browser.version();
  USER_AGENT = `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${chromiumVersion} Safari/537.36`;
  try {
    const rot = (i) => VARIANTS.map((_, k) => VARIANTS[(i + k) % VARIANTS.length]);
    // 1. init (plus main-thread time of the first busyMs after it)
    for (let w = 0; w < P.warmLoads; w++) for (const v of VARIANTS) await measureInit(browser, server, v);
    for (let i = 0; i < P.initLoads; i++) for (const v of rot(i)) {
      const r = await measureInit(browser, server, v);
      R[v].init.push(r); R[v].info = r.info;
    }
    log(`init: ${P.initLoads} loads x ${VARIANTS.length} variants done (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    // 2. clicks
    for (let i = 0; i < P.clickRounds; i++) for (const v of rot(i)) R[v].click.push(await measureClicks(browser, server, v));
    log(`clicks: ${P.clickRounds} rounds done (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    // 3. memory
    for (let i = 0; i < P.heapRounds; i++) for (const v of rot(i)) R[v].heap.push(await measureHeap(browser, server, v));
    log(`memory: ${P.heapRounds} rounds done (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    await until(() => false, 500); // last beacons from the closed contexts
  } finally {
    await browser.close().catch(() => {});
    await server.close();
  }

  // ---- figures
  const paired = (v, key, field) => median(R[v][key].map((r, i) => r[field] - R.none[key][i][field]));
  const rows = SDKS.map((s) => {
    const size = sizes(server.served[s.id]);
    return {
      ...s,
      version: s.pkgs.map((p) => `${p} ${ver[p]}`).join(", "),
      size, disk: onDisk(s.id),
      initMs: median(R[s.id].init.map((r) => r.ms)),
      initRounds: R[s.id].init.map((r) => r.ms),
      importMs: median(R[s.id].init.map((r) => r.importMs)),
      busyMs: paired(s.id, "init", "busy"),
      clickUs: paired(s.id, "click", "us"),
      clickTaskUs: paired(s.id, "click", "taskUs"),
      clickRounds: R[s.id].click.map((r, i) => r.us - R.none.click[i].us),
      heapKb: paired(s.id, "heap", "kb"),
      heapJsKb: paired(s.id, "heap", "jsKb"),
      wasmKb: median(R[s.id].heap.map((r) => r.wasmKb)),
      sink: server.sink[s.id],
      info: R[s.id].info,
    };
  });
  const base = {
    initMs: median(R.none.init.map((r) => r.ms)), busyMs: median(R.none.init.map((r) => r.busy)),
    clickUs: median(R.none.click.map((r) => r.us)), clickTaskUs: median(R.none.click.map((r) => r.taskUs)),
    heapKb: median(R.none.heap.map((r) => r.kb)), app: R.none.heap[0]?.app,
  };

  // ---- checks: what must hold whatever the timings
  const errs = [];
  for (const r of rows) {
    for (const k of ["initMs", "busyMs", "clickUs", "clickTaskUs", "heapKb"]) if (!Number.isFinite(r[k])) errs.push(`${r.id}: ${k} missing`);
    if (!(r.size.brotli > 0 && r.size.gzip > 0)) errs.push(`${r.id}: no JS/wasm download recorded`);
    if (r.id === "ferrotel" && !r.size.files.some((f) => f.endsWith(".wasm"))) errs.push("ferrotel: the wasm was not downloaded");
    if (r.id === "ferrotel" && !(r.wasmKb > 0)) errs.push("ferrotel: its wasm memory was not seen by the page");
    if (r.sink.requests === 0) errs.push(`${r.id}: sent nothing to the local sink`);
  }
  for (const k of ["initMs", "clickUs", "heapKb"]) if (!Number.isFinite(base[k])) errs.push(`no-SDK baseline: ${k} missing`);
  if (problems.external.length) errs.push(`requests to other hosts than 127.0.0.1: ${[...new Set(problems.external)].slice(0, 5).join("; ")}`);
  if (R.none.init.some((r) => !r.isolated)) errs.push("pages are not cross-origin isolated (timer resolution 100 us)");

  const machine = {
    cpu: (readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/) || [])[1] || os.cpus()[0]?.model || "?",
    cores: os.cpus().length, mem: `${Math.round(os.totalmem() / 2 ** 30)} GiB`, chromium: chromiumVersion, node: process.version,
    load: os.loadavg().map((x) => x.toFixed(2)).join(" "),
  };
  const took = (Date.now() - started) / 1000;
  printTable(rows, base, machine, took);
  if (errs.length) fail(errs.join("\n  "));

  if (SMOKE || ONLY) {
    mkdirSync(OUT, { recursive: true });
    writeFileSync(path.join(OUT, "report-smoke.md"), report(rows, base, machine, ver, took));
    writeFileSync(path.join(OUT, "report-smoke.svg"), svg(rows));
    log(`smoke OK: ${rows.length} SDKs loaded, initialised, sent to the sink and produced every measure (${took.toFixed(0)} s); wrote bench/out/compare/report-smoke.md`);
  } else {
    writeFileSync(path.join(BENCH_DIR, "REPORT.md"), report(rows, base, machine, ver, took));
    writeFileSync(path.join(BENCH_DIR, "report.svg"), svg(rows));
    log(`wrote bench/REPORT.md and bench/report.svg (${took.toFixed(0)} s)`);
  }
}

// ---------------------------------------------------------------- output

const kb = (b) => (b / 1000).toFixed(1);
const n1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : "—");
const n2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : "—");
const n0 = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "—");

function printTable(rows, base, machine, took) {
  const head = ["SDK", "brotli KB", "gzip KB", "init ms", "busy ms", "µs/click", "task µs/click", "heap KB", "sink req"];
  const lines = rows.map((r) => [r.id, kb(r.size.brotli), kb(r.size.gzip), n2(r.initMs), n1(r.busyMs), n1(r.clickUs), n1(r.clickTaskUs), n0(r.heapKb), String(r.sink.requests)]);
  lines.push(["(no SDK)", "0", "0", n2(base.initMs), `(${n1(base.busyMs)})`, `(${n1(base.clickUs)})`, `(${n1(base.clickTaskUs)})`, `(${n0(base.heapKb)})`, "-"]);
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (l) => l.map((c, i) => (i ? c.padStart(w[i]) : c.padEnd(w[i]))).join("  ");
  console.log(["", fmt(head), ...lines.map(fmt), "",
    `${machine.cpu}, ${machine.cores} cores, Chromium ${machine.chromium}, node ${machine.node}, load ${machine.load}; ${took.toFixed(0)} s`,
    ...Object.entries(problems.pageErrors).map(([k, v]) => `page errors in ${k} pages (${v.length}): ${[...new Set(v)].slice(0, 2).join(" | ")}`), ""].join("\n"));
}

function report(rows, base, machine, ver, took) {
  const L = [];
  const runs = SMOKE ? "smoke run (one iteration each: figures are not meaningful)" : "full run";
  L.push("# ferrotel next to the alternatives: one machine, one run");
  L.push("");
  L.push("Generated by `node bench/compare/run.mjs` (" + runs + "); do not edit by hand. " +
    "The machine is shared with other jobs (2 cores, several agents building and testing at once), so every timing here is noisy: " +
    "read differences of less than about 2x in init time and per-click time as ties. Sizes and, to a lesser degree, heap figures are stable.");
  L.push("");
  L.push(`**Machine**: ${machine.cpu}, ${machine.cores} cores, ${machine.mem}; Chromium ${machine.chromium} (headless, /usr/bin/chromium, playwright-core); node ${machine.node}; load average at the end ${machine.load}; run took ${took.toFixed(0)} s.`);
  L.push("");
  L.push("![brotli size, init time and added time per click per SDK](report.svg)");
  L.push("");
  L.push("| SDK | captures clicks / errors | brotli KB | gzip KB | import → init ms | main-thread ms, first " + P.busyMs / 1000 + " s | added µs per click | added main-thread µs per click | heap KiB after " + n0(P.heapClicks) + " clicks + " + n0(P.heapErrors) + " errors |");
  L.push("|---|---|--:|--:|--:|--:|--:|--:|--:|");
  for (const r of rows) {
    L.push(`| ${r.id === "ferrotel" ? "**ferrotel**" : r.name} | ${r.clicks} / ${r.errors} | ${kb(r.size.brotli)} | ${kb(r.size.gzip)} | ${n2(r.initMs)} | ${n1(r.busyMs)} | ${n1(r.clickUs)} | ${n1(r.clickTaskUs)} | ${n0(r.heapKb)} |`);
  }
  L.push(`| *no SDK (baseline)* | — | 0 | 0 | ${n2(base.initMs)} (empty module) | (${n1(base.busyMs)}) | (${n1(base.clickUs)} per click) | (${n1(base.clickTaskUs)} per click) | (${n0(base.heapKb)}) |`);
  L.push("");
  L.push("Added time and heap are the SDK's page minus the no-SDK page of the same round (median over rounds); the baseline's own figures are in parentheses. " +
    "Negative values mean the difference is below the noise.");
  L.push("");
  L.push("## Versions");
  L.push("");
  L.push("Pinned in `bench/compare/package.json` (exact versions) and `bench/compare/package-lock.json`; ferrotel is the package built by `scripts/build-pkg.sh` from this commit.");
  L.push("");
  for (const [p, v] of Object.entries(ver)) L.push(`- ${p} ${v}`);
  L.push("");
  L.push("## Method");
  L.push("");
  L.push(`- **Setup per SDK**: the entry file \`bench/compare/entries/<sdk>.js\` holds a minimal init as each SDK documents it, pointed at \`/sink/<sdk>/\` on the local server (127.0.0.1, free port), which answers every request with 204 (ferrotel) or 200 \`{}\`. It is bundled and minified by esbuild (ESM, code splitting, \`process.env.NODE_ENV = "production"\`). Chromium resolves no host but 127.0.0.1 and the run fails if a page requests any other host. Options that load more code or call third-party hosts are off (PostHog: session recording, surveys, web experiments, conversations, product tours; Datadog: session replay); PostHog loads its lazy extensions from its own \`dist/\` through the local server, and those bytes count.`);
  L.push("- **Page**: a shop page with 64 nested product cards (article > div > a > img; h3 > a; price; buttons with a label span and an SVG icon), header links and filter checkboxes; 340 distinct click targets. Every page is cross-origin isolated (COOP/COEP, 5 µs timers) and served with `cache-control: no-store`; every load is a fresh browser context (empty cache, storage and cookies).");
  L.push(`- **Size**: every JS and wasm file the SDK's pages actually fetched (its bundle, chunks loaded at run time, ferrotel's wasm), brotli quality 11 and gzip level 9, in KB of 1,000 bytes. The SDK's init code is included. Chunks never requested are not counted.`);
  L.push(`- **import → init**: after the page's \`load\` event and 100 ms, the page measures with \`performance.now()\` from before \`import()\` of the bundle to after its \`start()\` returned and the promise it returned, if any, resolved (ferrotel: \`init\` resolves once its listeners are attached and keeping events; the wasm is fetched, compiled and run behind it, see \`bench/init.mjs\`; the others initialise synchronously). Median of ${P.initLoads} fresh page loads per SDK after ${P.warmLoads} discarded warm-up load, the order of the SDKs rotating per round. The baseline row imports an empty module the same way (the harness's floor, contained in every figure). Work an SDK defers to later tasks is not in this figure: see the next column.`);
  L.push(`- **main-thread ms, first ${P.busyMs / 1000} s**: Chromium's TaskDuration (CDP \`Performance.getMetrics\`: all main-thread tasks of the page) from navigation to ${P.busyMs} ms after init, minus the no-SDK page of the same round: init plus whatever the SDK deferred (timers, idle callbacks, requests, lazy chunks).`);
  L.push(`- **added µs per click**: ${n0(P.clicks)} clicks after ${P.warmClicks} warm-up clicks, cycling through the 340 targets. Each click is the sequence pointerdown, mousedown, pointerup, mouseup, click dispatched on the element (with its coordinates), the page's own delegated click handler running (links prevented, cart counter, wishlist toggle), then a forced style and layout (as rendering between real clicks would do). Clicks run in chunks of ${P.chunk} with a yield to the event loop (a MessageChannel task) after each chunk, where microtasks and queued tasks such as an SDK's batch encoding run. Per page: the wall time of the chunks, yields included, without the slowest ${TRIM * 100}% of chunks (bursts of other processes), per click; minus the no-SDK page of the same round; median of ${P.clickRounds} rounds. Every SDK is measured, with its click capture on where it has one (column 2). The next column counts everything instead: Chromium's main-thread task time (CDP TaskDuration) from the start of the loop to ${P.busyMs} ms after it, per click, so it also holds work an SDK deferred to a timer, and is noisier.`);
  L.push(`- **heap**: ${n0(P.heapClicks)} clicks over the targets and ${n0(P.heapErrors)} errors (half thrown by a button's click handler, half unhandled \`Promise.reject\`, 20 distinct messages), in 100 chunks with yields, then ${P.settleMs} ms idle; then three CDP \`HeapProfiler.collectGarbage\` and \`Runtime.getHeapUsage\`: JS heap used plus ArrayBuffer backing stores, plus the size of every wasm linear memory the page instantiated (V8 counts neither wasm memory nor DOM objects in its heap; the page wraps \`WebAssembly.instantiate\`/\`instantiateStreaming\` to find them: ferrotel's, the only wasm here). KiB of 1,024 bytes. SDK page minus no-SDK page of the same round, median of ${P.heapRounds} rounds; it includes the SDK's code and whatever it still holds (queued events, breadcrumbs).`);
  L.push("- What an SDK does with the clicks and errors differs (e.g. Sentry keeps the last 100 breadcrumbs and sends each error; PostHog rate-limits captured events per second; ferrotel counts repeated errors instead of re-sending them), so the columns measure each SDK's default behaviour for the same page and user, not equal work. " +
    "ferrotel sends a batch every 100 events by default (a \`fetch\`, and a Web Storage write that a profile of this loop shows), which lands inside the measured click loop; \`node bench/click.mjs\` measures its click path alone (one \`click\` event per click, sends kept out of the loop).");
  L.push("");
  L.push("## Checks of this run");
  L.push("");
  L.push("| SDK | state after init (last load) | requests to the sink, all pages | JS/wasm files fetched (on disk: files, brotli KB) | heap: JS only / wasm memory, KiB |");
  L.push("|---|---|--:|---|--:|");
  for (const r of rows) {
    L.push(`| ${r.name} | ${String(r.info).replace(/\|/g, "/")} | ${r.sink.requests} (${kb(r.sink.bytes)} KB: ${[...r.sink.paths].slice(0, 3).join(", ").replace(/\|/g, "/")}${r.sink.paths.size > 3 ? ", …" : ""}) | ${r.size.files.length} (${r.disk.files.length}, ${kb(r.disk.brotli)}) | ${n0(r.heapJsKb)} / ${n0(r.wasmKb)} |`);
  }
  L.push("");
  const pe = Object.entries(problems.pageErrors);
  L.push(pe.length ? "Errors the SDKs themselves raised in the page (not the workload's):" : "No page errors other than the workload's own.");
  for (const [k, v] of pe) L.push(`- ${k} (${v.length}): ${[...new Set(v)].slice(0, 3).map((m) => "`" + m.replace(/`/g, "'") + "`").join("; ")}`);
  L.push("");
  L.push("Per-round figures (added µs per click; import → init ms, and the median of its import() part alone):");
  L.push("");
  for (const r of rows) L.push(`- ${r.id}: clicks ${r.clickRounds.map((x) => x.toFixed(1)).join(" ")}; init ${r.initRounds.map((x) => x.toFixed(1)).join(" ")}; import() alone ${n2(r.importMs)} ms`);
  L.push("");
  return L.join("\n");
}

function esc(s) { return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }

/** Four bar panels (brotli KB, import → init ms, added µs per click, added heap), one bar per SDK. */
function svg(rows) {
  const panels = [
    { title: "brotli KB downloaded", get: (r) => r.size.brotli / 1000, fmt: (x) => x.toFixed(1) },
    { title: "import → init, ms (median)", get: (r) => r.initMs, fmt: (x) => x.toFixed(1) },
    { title: "added µs per click (median)", get: (r) => r.clickUs, fmt: (x) => x.toFixed(1), clicks: true },
    { title: `added heap KiB, ${n0(P.heapClicks / 1000)}k clicks + ${n0(P.heapErrors / 1000)}k errors`, get: (r) => r.heapKb, fmt: (x) => Math.round(x).toLocaleString("en-US") },
  ];
  const labelW = 190, panelW = 230, gap = 30, rowH = 24, top = 48;
  const W = labelW + panels.length * (panelW + gap), H = top + rows.length * rowH + 30;
  const o = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="8" y="18" font-size="14" font-weight="bold">ferrotel and alternatives, one run${SMOKE ? " (smoke: not meaningful)" : ""}: shorter is better</text>`];
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    o.push(`<text x="${labelW - 8}" y="${y + 15}" text-anchor="end"${r.id === "ferrotel" ? ' font-weight="bold"' : ""}>${esc(r.name)}</text>`);
  });
  panels.forEach((p, k) => {
    const x0 = labelW + k * (panelW + gap);
    const vals = rows.map(p.get);
    const max = Math.max(...vals.filter(Number.isFinite).map((v) => Math.max(v, 0)), 1e-9);
    o.push(`<text x="${x0}" y="${top - 12}" font-weight="bold">${esc(p.title)}</text>`);
    o.push(`<line x1="${x0}" y1="${top - 4}" x2="${x0}" y2="${top + rows.length * rowH}" stroke="#999"/>`);
    rows.forEach((r, i) => {
      const v = vals[i], y = top + i * rowH;
      const w = Number.isFinite(v) ? Math.max(0, (v / max) * (panelW - 50)) : 0;
      o.push(`<rect x="${x0}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${r.id === "ferrotel" ? "#d9480f" : "#4c6ef5"}"/>`);
      const note = p.clicks && r.clicks === "no" ? " (no click capture)" : "";
      o.push(`<text x="${(x0 + w + 4).toFixed(1)}" y="${y + 16}" fill="#333">${Number.isFinite(v) ? esc(p.fmt(v)) : "—"}<tspan fill="#888">${note}</tspan></text>`);
    });
  });
  o.push(`<text x="8" y="${H - 8}" fill="#666">Shared 2-core machine: timings are noisy. Table, definitions and versions: bench/REPORT.md</text>`);
  o.push("</svg>");
  return o.join("\n") + "\n";
}

await main().catch((e) => fail(e && e.stack || String(e)));
