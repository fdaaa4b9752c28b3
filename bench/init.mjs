// Init cost in headless Chromium: from starting to load the module to `init` resolved.
//
//   node bench/init.mjs [pkgDir]       (pkgDir defaults to `pkg`, relative to the repo root)
//
// ferrotel, timed with performance.now() inside the page:
//   js module   import() of the package's one module (index.js: entry, glue, page-side JS)
//   init        `await init({...})`: the listeners are attached (capturing); the wasm load starts
//   total       import -> init resolved: what the page waits for
// then in the background, until `await ready()`:
//   (i)  wasm   fetch + compile + instantiate of ferrotel_bg.wasm (from init to the
//               WebAssembly.instantiate* promise resolving, seen by wrapping it)
//   (ii) start  from then to ready() resolved: __wbindgen_start and the synchronous `start` work
//               (config validation, observers, the buffered events) plus a couple of microtask
//               hops
// Baseline in the same run, the same way: web-vitals (import of dist/web-vitals.js from
// bench/.deps, then onLCP/onINP/onCLS/onFCP/onTTFB registration).
//
// Each measurement is a fresh page in a fresh browser context (empty HTTP cache, so no cached
// wasm code either; the server also sends cache-control: no-store), everything from the local
// 127.0.0.1 server. The page itself loads nothing; after its `load` event and a 100 ms settle the
// harness calls window.go(), which does the timed import + init. (Timing it inside the page's
// own module script during loading was tried: there even an empty module's import() took
// 60-125 ms here, Blink's loading-time scheduling swamping what is being measured.) A third page
// imports an empty module the same way: the import "floor" of this harness (new connection,
// module fetch), contained in both totals. One discarded warm-up load per variant, then N loads
// of each, order rotating.
// Pages are cross-origin isolated (COOP/COEP) so performance.now() has 5 us rather than 100 us
// resolution. No timed assertions: prints numbers, exits 0 unless something breaks.
import path from "node:path";
import { existsSync } from "node:fs";
import { BENCH_DIR, pkgDirFromArgs, withServerAndBrowser, until, median, f, fail } from "./common.mjs";

const N = 15;
const pkgDir = pkgDirFromArgs();
const wvDir = path.join(BENCH_DIR, ".deps/node_modules/web-vitals/dist");
if (!existsSync(path.join(wvDir, "web-vitals.js"))) {
  fail(`web-vitals baseline missing: run  npm install --no-save --prefix ${path.join(BENCH_DIR, ".deps")} web-vitals`);
}
let wvVersion = "?";
try { wvVersion = JSON.parse(await (await import("node:fs/promises")).readFile(path.join(wvDir, "../package.json"), "utf8")).version; } catch {}

const ISOLATED = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };
const page = (script) => ({
  headers: ISOLATED,
  body: `<!doctype html><html><head><meta charset="utf-8"><title>init bench</title></head><body>
<main><h1>init bench</h1><p>Some text for a paint.</p></main>
<script type="module">
window.go = async () => {
  try {
${script}
  } catch (e) {
    return { error: String(e && e.stack || e) };
  }
};
window.__ok = true;
</script></body></html>`,
});

const FERROTEL = page(`
  // When the wasm is instantiated (to split the background load from the synchronous start).
  for (const k of ["instantiateStreaming", "instantiate"]) {
    const orig = WebAssembly[k];
    WebAssembly[k] = (...a) => orig.apply(WebAssembly, a).then((r) => { window.__inst ??= performance.now(); return r; });
  }
  const t0 = performance.now();
  const sdk = await import("/pkg/index.js");     // as an app does: the package is one module
  const t1 = performance.now();
  await sdk.init({ endpoint: "/v1/batch", key: "pk_bench" });   // capturing from here
  const t2 = performance.now();
  await sdk.ready();                             // the module runs (loaded in the background)
  const t3 = performance.now();
  return { js: t1 - t0, init: t2 - t1, total: t2 - t0, wasm: window.__inst - t2, start: t3 - window.__inst,
    ready: t3 - t0, session: sdk.sessionId() ?? null, isolated: self.crossOriginIsolated };
`);

const WEBVITALS = page(`
  const t0 = performance.now();
  const wv = await import("/wv/web-vitals.js");
  const t1 = performance.now();
  const cb = () => {};
  wv.onLCP(cb); wv.onINP(cb); wv.onCLS(cb); wv.onFCP(cb); wv.onTTFB(cb);
  const t2 = performance.now();
  return { js: t1 - t0, start: t2 - t1, total: t2 - t0, isolated: self.crossOriginIsolated };
`);

const FLOOR = page(`
  const t0 = performance.now();
  await import("/floor/empty.js");
  return { total: performance.now() - t0, isolated: self.crossOriginIsolated };
`);

await withServerAndBrowser({ "/pkg/": pkgDir, "/wv/": wvDir, "/floor/": path.join(BENCH_DIR, "fixtures") }, { "/ferrotel.html": FERROTEL, "/web-vitals.html": WEBVITALS, "/floor.html": FLOOR },
  async ({ server, browser }) => {
    const t0 = Date.now();
    const NAMES = ["ferrotel", "web-vitals", "floor"];
    const res = { ferrotel: [], "web-vitals": [], floor: [] };
    const pageErrors = [];

    async function load(name) {
      const ctx = await browser.newContext();
      try {
        const p = await ctx.newPage();
        p.on("pageerror", (e) => pageErrors.push(`${name}: ${e}`));
        await p.goto(`${server.origin}/${name}.html`);
        await p.waitForFunction(() => window.__ok, null, { timeout: 15000 });
        await new Promise((r) => setTimeout(r, 100));
        const r = await p.evaluate(() => window.go());
        if (r.error) throw new Error(`${name}: ${r.error}`);
        if (name === "ferrotel" && !r.session) throw new Error("ferrotel: init resolved but sessionId() is empty");
        return r;
      } finally {
        await ctx.close(); // pagehide: ferrotel flushes its page_view etc. here
      }
    }

    for (const name of NAMES) await load(name); // warm-up loads (browser processes, server), discarded
    for (let i = 0; i < N; i++) {
      for (let k = 0; k < NAMES.length; k++) {
        const name = NAMES[(i + k) % NAMES.length];
        res[name].push(await load(name));
      }
    }
    await until(() => server.counts.batches >= N + 1, 1500);

    const m = (name, k) => median(res[name].map((r) => r[k]));
    const F = { js: m("ferrotel", "js"), init: m("ferrotel", "init"), wasm: m("ferrotel", "wasm"), start: m("ferrotel", "start"), total: m("ferrotel", "total"), ready: m("ferrotel", "ready") };
    const W = { js: m("web-vitals", "js"), start: m("web-vitals", "start"), total: m("web-vitals", "total") };
    const iso = NAMES.every((n) => res[n].every((r) => r.isolated));
    const c = server.counts;

    const out = [];
    out.push("== ferrotel init cost (headless Chromium " + browser.version() + ") ==");
    out.push(`package: ${pkgDir}`);
    out.push(`median of ${N} fresh page loads each (fresh context, no HTTP cache, local 127.0.0.1 server), ms` +
      (iso ? "" : "  [pages NOT cross-origin isolated: 100 us timer resolution]"));
    out.push("");
    out.push(`ferrotel total (import -> init resolved) ${f(F.total).padStart(7)} ms   rounds: ${res.ferrotel.map((r) => f(r.total, 1)).join(" ")}`);
    out.push(`  js module import (one file)           ${f(F.js).padStart(7)} ms`);
    out.push(`  init(): listeners attached, capturing ${f(F.init).padStart(7)} ms`);
    out.push(`then, in the background (the page is not waiting):`);
    out.push(`  (i)  wasm fetch+compile+instantiate   ${f(F.wasm).padStart(7)} ms`);
    out.push(`  (ii) start (synchronous init work)    ${f(F.start).padStart(7)} ms   target <= 3 ms`);
    out.push(`  import -> ready() resolved            ${f(F.ready).padStart(7)} ms`);
    out.push(`web-vitals ${wvVersion} total (import + 5 on*) ${f(W.total).padStart(7)} ms   rounds: ${res["web-vitals"].map((r) => f(r.total, 1)).join(" ")}`);
    out.push(`  js module import                      ${f(W.js).padStart(7)} ms`);
    out.push(`  onLCP/onINP/onCLS/onFCP/onTTFB        ${f(W.start).padStart(7)} ms`);
    out.push(`import floor: empty module              ${f(m("floor", "total")).padStart(7)} ms   (harness cost inside both totals)`);
    out.push("");
    out.push(`ratio ferrotel / web-vitals (total)   : ${f(F.total / W.total, 1)}x`);
    out.push(`ratio ferrotel import -> ready() / web-vitals total: ${f(F.ready / W.total, 1)}x   (not what the page waits for)`);
    out.push(`target: total <= 1.25x web-vitals (measured ${f(F.total / W.total, 2)}x); start <= 3 ms (measured ${f(F.start)} ms)`);
    out.push(`reference (from the issue, NOT measured here): Sentry ~ 14-18 ms`);
    out.push(`check: ${res.ferrotel.length + 1} ferrotel inits with a session id; collector got ${c.batches} batches, ${c.events} events` +
      (pageErrors.length ? `; page errors: ${pageErrors.slice(0, 3).join(" | ")}` : "; no page errors"));
    out.push(`(run took ${f((Date.now() - t0) / 1000, 1)} s)`);
    console.log(out.join("\n"));
  });
