// The ingest Worker's hot path, Rust (worker-build output) against a plain-JS Worker doing the
// same work (js-worker.mjs): each in its own Miniflare / workerd, identical bindings, the queue
// without a consumer (so only the request path is measured), one ~30 KB 100-event batch,
// loopback load from Node with keep-alive and fixed concurrency, rounds alternating between the
// Workers. CPU per request is the workerd process's utime+stime over a round.
//
//   node bench/worker/bench.mjs [--build DIR] [--rounds 6] [--requests 2000] [--warmup 500] [--concurrency 8] [--entry FILE] [--stub-queue] [--js-unprotected]
//
// The JS Worker protects every kept event as the Rust one does (src/core/protect.rs: page URLs
// scrubbed with allow_query, error text cut/scrubbed/masked, click text masked; see js-worker.mjs
// "protection"); its documents for the benchmark body equal the Rust Worker's (checked by
// sampling-parity.mjs). --js-unprotected runs it without that stage, as the baseline was before
// the Rust Worker took it on (less work than the Rust Worker does).
//
// --entry FILE runs the Rust Worker through a JS entry module that imports `./build/index.js`
// (e.g. worker/entry.mjs), with the --build directory mounted behind that import.
// --stub-queue replaces the EVENTS queue in both Workers by an in-isolate object whose send() only
// JSON.stringifies the message (see common.mjs): locally the queue hop through Miniflare's broker
// costs more CPU than the rest of the request path, and production does not run that broker in
// the Worker's process. A diagnostic; the default run is the benchmark.
//
// Run from the repo root (Miniflare, wrangler and undici come from its node_modules). Prints the
// report and writes it to bench/out/worker-report.txt (not with --stub-queue). No timed assertions: exits 0 when it ran,
// 1 if anything but a 204 came back.
import { mkdirSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { Pool } from "undici";
import { REPO, arg, buildDir, entryFile, fail, ingestOptions, startMiniflare, cpuTicks, benchBody, HEADERS } from "./common.mjs";

const ROUNDS = Number(arg("rounds", 6));
const REQUESTS = Number(arg("requests", 2000));
const WARMUP = Number(arg("warmup", 500));
const CONCURRENCY = Number(arg("concurrency", 8));
const STUB_QUEUE = process.argv.includes("--stub-queue");
const JS_UNPROTECTED = process.argv.includes("--js-unprotected");
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

const build = buildDir();
const entry = entryFile();
const body = Buffer.from(benchBody());
const events = JSON.parse(body.toString()).events.length;

/** `n` POSTs of the body, `CONCURRENCY` at a time over kept-alive connections. */
async function load(w, n) {
  const lat = new Float64Array(n);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const t = performance.now();
      const res = await w.pool.request({ path: "/v1/batch", method: "POST", headers: HEADERS, body });
      const text = await res.body.text();
      lat[i] = performance.now() - t;
      if (res.statusCode !== 204) throw new Error(`${w.name}: request ${i} answered ${res.statusCode}: ${text.slice(0, 300)}`);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { wall: (performance.now() - t0) / 1000, lat };
}

async function start(name, kind) {
  const vars = kind === "js" && JS_UNPROTECTED ? { JS_PROTECT: "0" } : {};
  const w = await startMiniflare(ingestOptions(kind, { build, entry, vars, stubQueue: STUB_QUEUE }));
  w.name = name;
  w.pool = new Pool(w.url, { connections: CONCURRENCY, pipelining: 1, keepAliveTimeout: 60_000 });
  w.rounds = [];
  return w;
}

const t0 = Date.now();
const rust = await start("Rust", "rust");
const js = await start("JS", "js");
const both = [rust, js];

try {
  for (const w of both) await load(w, WARMUP);
  // ABBA order: each pair of rounds swaps which Worker goes first, so drift hits both alike.
  for (let r = 0; r < ROUNDS; r++) {
    for (const w of r % 2 ? [js, rust] : [rust, js]) {
      const c0 = cpuTicks(w.pid);
      const { wall, lat } = await load(w, REQUESTS);
      const c1 = cpuTicks(w.pid);
      w.rounds.push({ wall, lat, cpuUs: ((c1 - c0) * 1e6) / CLK_TCK });
    }
  }
} catch (e) {
  for (const w of both) await w.mf.dispose().catch(() => {});
  fail(e.message);
}

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summary(w) {
  const n = w.rounds.length * REQUESTS;
  const wall = w.rounds.reduce((a, r) => a + r.wall, 0);
  const cpu = w.rounds.reduce((a, r) => a + r.cpuUs, 0);
  const lat = Float64Array.from(w.rounds.flatMap((r) => Array.from(r.lat))).sort();
  const perRoundCpu = w.rounds.map((r) => r.cpuUs / REQUESTS);
  const perRoundRps = w.rounds.map((r) => REQUESTS / r.wall);
  return {
    rps: n / wall,
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    cpu: cpu / n,
    cpuRange: [Math.min(...perRoundCpu), Math.max(...perRoundCpu)],
    rpsRange: [Math.min(...perRoundRps), Math.max(...perRoundRps)],
  };
}

const R = summary(rust);
const J = summary(js);
for (const w of both) {
  await w.pool.close();
  await w.mf.dispose();
}

const f0 = (x) => x.toFixed(0);
const rel = (p) => (p.startsWith(REPO + path.sep) ? path.relative(REPO, p) : p);
const H = ["Worker", "req/s (round min–max)", "p50 ms", "p99 ms", "CPU µs/req (round min–max)"];
const line = (cells) => "| " + cells.map((c, i) => (i === 0 ? c.padEnd(H[i].length) : c.padStart(H[i].length))).join(" | ") + " |";
const row = (name, s) => line([name, `${f0(s.rps)} (${f0(s.rpsRange[0])}–${f0(s.rpsRange[1])})`, s.p50.toFixed(2), s.p99.toFixed(2), `${f0(s.cpu)} (${f0(s.cpuRange[0])}–${f0(s.cpuRange[1])})`]);
const cpuRatio = R.cpu / J.cpu;
const rpsRatio = R.rps / J.rps;
const lines = [
  `ferrotel ingest Worker: Rust (worker-build) vs plain-JS Worker, request path only`,
  `Rust Worker: ${entry ? `entry ${rel(entry)} over build ` : "build "}${rel(build)}`,
  `body: ${body.length} bytes, ${events} events; ${ROUNDS} rounds x ${REQUESTS} requests per Worker (ABBA order) after ${WARMUP} warm-up; concurrency ${CONCURRENCY}, keep-alive, 127.0.0.1`,
  `JS Worker: ${JS_UNPROTECTED ? "WITHOUT the protection stage (--js-unprotected): less work than the Rust Worker" : "with the protection stage (the same work as protect.rs)"}`,
  `EVENTS: ${STUB_QUEUE ? "STUBBED (--stub-queue): send() only JSON.stringifies the message; no queue broker hop" : "local Miniflare queue producer, no consumer"}`,
  `CPU = workerd utime+stime per request (CLK_TCK ${CLK_TCK}, so ±${f0(1e6 / CLK_TCK / REQUESTS)} µs per round); every response was 204`,
  ``,
  "| " + H.join(" | ") + " |",
  "|" + H.map((h) => "-".repeat(h.length + 2)).join("|") + "|",
  row("Rust", R),
  row("JS", J),
  ``,
  `Rust/JS CPU per request: ${cpuRatio.toFixed(2)}x  (goal <= 0.80x: ${cpuRatio <= 0.8 ? "met" : "NOT met"})`,
  `Rust/JS requests/s:      ${rpsRatio.toFixed(2)}x  (goal >= 1.25x: ${rpsRatio >= 1.25 ? "met" : "NOT met"})`,
  `(goals from the issue: "CPU per request <= 0.8x the plain-JS Worker's and requests/s >= 1.25x of it")`,
  `ran in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
];
const report = lines.join("\n");
console.log(report);
if (!STUB_QUEUE) {
  mkdirSync(path.join(REPO, "bench/out"), { recursive: true });
  writeFileSync(path.join(REPO, "bench/out/worker-report.txt"), report + "\n");
}
