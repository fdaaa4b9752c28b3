// Shared by bench.mjs and sampling-parity.mjs: the build-dir argument, the two ingest Workers in
// Miniflare (each its own workerd process) with identical bindings, the workerd PID, and the
// benchmark body.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(BENCH_DIR, "../..");
export const JS_WORKER = path.join(BENCH_DIR, "js-worker.mjs");
// worker/wrangler.toml's date as wrangler resolves it (clamped to what the bundled workerd supports),
// the same the test harness runs with.
export const COMPAT_DATE = unstable_getMiniflareWorkerOptions(path.join(REPO, "worker/wrangler.toml")).workerOptions.compatibilityDate;

export function fail(msg) {
  console.error("bench/worker: " + msg);
  process.exit(1);
}

/** `--name value` from argv, or the default. */
export function arg(name, def) {
  const i = process.argv.indexOf("--" + name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

/** The Rust build directory: `--build DIR` (relative to the cwd, then to the repo root),
 *  default worker/build of the repo. */
export function buildDir() {
  const a = arg("build", "worker/build");
  const cands = path.isAbsolute(a) ? [a] : [path.resolve(process.cwd(), a), path.resolve(REPO, a)];
  const dir = cands.find((d) => existsSync(path.join(d, "index.js")) && existsSync(path.join(d, "index_bg.wasm")));
  if (!dir) fail(`no Worker build (index.js + index_bg.wasm) at ${cands.join(" or ")}`);
  return dir;
}

/** `--entry FILE`: a JS entry module that imports the build as `./build/index.js` (such as
 *  worker/entry.mjs), or null to run build/index.js itself. */
export function entryFile() {
  const a = arg("entry", null);
  if (a === null) return null;
  const cands = path.isAbsolute(a) ? [a] : [path.resolve(process.cwd(), a), path.resolve(REPO, a)];
  const f = cands.find((c) => existsSync(c));
  if (!f) fail(`no entry module at ${cands.join(" or ")}`);
  return f;
}

/** The Rust Worker's modules: build/index.js (+ wasm) from `build`, or, with `entry`, the entry
 *  module laid out next to a virtual `build/` holding that build (so any build dir can sit
 *  behind the entry's `./build/index.js` import). */
export function rustModules(build, entry) {
  const rules = [{ type: "CompiledWasm", include: ["**/*.wasm"] }];
  if (!entry) return { scriptPath: path.join(build, "index.js"), modulesRoot: build, modulesRules: rules };
  const root = "/ferrotel-bench";
  const wasm = readdirSync(build).filter((f) => f.endsWith(".wasm"));
  return {
    modulesRoot: root,
    modules: [
      { type: "ESModule", path: path.join(root, path.basename(entry)), contents: readFileSync(entry, "utf8") },
      { type: "ESModule", path: path.join(root, "build/index.js"), contents: readFileSync(path.join(build, "index.js"), "utf8") },
      ...wasm.map((f) => ({ type: "CompiledWasm", path: path.join(root, "build", f), contents: readFileSync(path.join(build, f)) })),
    ],
  };
}

/** Request.cf for every request (also keeps Miniflare from fetching cf.json from the network). */
export const CF = { country: "DE", colo: "FRA", asn: 3320, httpProtocol: "HTTP/1.1", tlsVersion: "TLSv1.3" };

export const BINDINGS = {
  WRITE_KEYS: '{"pk_demo":["*"]}',
  IP_SALT: "bench-salt-0123456789abcdef",
  SAMPLE_RATES: '{"default":1}',
};

const QUEUE = "ferrotel-events";

/** Miniflare options for one ingest Worker: `kind` is "rust" (the worker-build output in `build`)
 *  or "js" (js-worker.mjs). With `sink` (an http URL), a second Worker consumes the queue and
 *  POSTs every message body there as a JSON array; without, the queue has no consumer. With
 *  `stubQueue`, EVENTS is not a queue but an object in the Worker's own isolate whose `send`
 *  only does what the runtime does first with a `json` message (JSON.stringify): the Worker's
 *  cost without the local queue broker hop (a diagnostic, not the benchmark's configuration). */
export function ingestOptions(kind, { build, entry = null, vars = {}, sink, stubQueue = false, rateLimit = 1_000_000_000 } = {}) {
  const ingest = {
    name: "ingest",
    modules: true,
    compatibilityDate: COMPAT_DATE,
    bindings: { ...BINDINGS, ...vars },
    queueProducers: { EVENTS: { queueName: QUEUE } },
    ratelimits: { RL_KEY: { simple: { limit: rateLimit, period: 60 } }, RL_CLIENT: { simple: { limit: rateLimit, period: 60 } } },
    ...(kind === "rust" ? rustModules(build, entry) : { scriptPath: JS_WORKER, modulesRoot: BENCH_DIR }),
  };
  const workers = [ingest];
  if (stubQueue) {
    delete ingest.queueProducers;
    ingest.wrappedBindings = { EVENTS: { scriptName: "queue-stub" } };
    // The class name matters: worker::Env::queue checks constructor.name == "WorkerQueue".
    workers.push({
      name: "queue-stub",
      modules: true,
      script: `class WorkerQueue { async send(body, options) { if (JSON.stringify(body).length === 0) throw new Error("empty"); } }
        export default function () { return new WorkerQueue(); }`,
    });
  }
  if (sink) {
    workers.push({
      name: "capture",
      modules: true,
      compatibilityDate: COMPAT_DATE,
      bindings: { SINK: sink },
      queueConsumers: { [QUEUE]: { maxBatchSize: 10, maxBatchTimeout: 0 } },
      script: `export default { async queue(batch, env) {
        const r = await fetch(env.SINK, { method: "POST", body: JSON.stringify(batch.messages.map((m) => m.body)) });
        await r.arrayBuffer();
        batch.ackAll();
      } };`,
    });
  }
  return { host: "127.0.0.1", port: 0, cf: CF, workers };
}

/** PIDs of this process's direct children. */
function children() {
  const out = new Set();
  for (const t of readdirSync(`/proc/${process.pid}/task`)) {
    try {
      for (const p of readFileSync(`/proc/${process.pid}/task/${t}/children`, "utf8").split(/\s+/)) if (p) out.add(Number(p));
    } catch {}
  }
  return out;
}

function comm(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** Starts a Miniflare instance and finds its workerd process (the child that appeared). */
export async function startMiniflare(opts) {
  const before = children();
  const mf = new Miniflare(opts);
  const url = (await mf.ready).origin;
  const fresh = [...children()].filter((p) => !before.has(p));
  const workerd = fresh.filter((p) => comm(p) === "workerd");
  const pid = workerd.length === 1 ? workerd[0] : null;
  if (pid === null) fail(`could not tell this Miniflare's workerd process: new children ${JSON.stringify(fresh.map((p) => [p, comm(p)]))}`);
  return { mf, url, pid };
}

/** utime + stime of a process (all its threads), in clock ticks. */
export function cpuTicks(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]); // fields 14 and 15 of proc(5)
}

// ---------------------------------------------------------------- the benchmark body

/** Deterministic 64-bit ids as 16 hex digits (splitmix64), never zero. */
function* ids(seed) {
  let s = BigInt(seed);
  const M = (1n << 64n) - 1n;
  for (;;) {
    s = (s + 0x9e3779b97f4a7c15n) & M;
    let z = s;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
    z ^= z >> 31n;
    if (z !== 0n) yield z.toString(16).padStart(16, "0");
  }
}

function v8Stack(i) {
  const fns = ["renderCart", "CartView.update", "Array.map", "reconcileChildren", "commitRoot", "performSyncWorkOnRoot", "flushSyncCallbacks", "batchedUpdates", "dispatchDiscreteEvent", "HTMLButtonElement.onClick", "async loadRecommendations", "new ProductTile"];
  let s = `TypeError: Cannot read properties of undefined (reading 'price')`;
  for (let k = 0; k < fns.length; k++) {
    const file = k === 2 ? "<anonymous>" : `https://shop.example/assets/${k % 3 === 0 ? "vendor" : "app"}-${(0x3f2a9c + k * 7919 + i).toString(16)}.js`;
    s += `\n    at ${fns[k]} (${file}${file.startsWith("<") ? "" : `:${1 + k}:${10000 + k * 137 + i}`})`;
  }
  return s;
}

/**
 * The benchmark body: one realistic 100-event batch (~30 KB) — clicks, page views, screen
 * times, web vitals, navigation timing, long tasks, errors with ~1 KB V8 stacks, and custom
 * events with attributes — from one session.
 */
export function benchBody({ session = "5f0c2a9d8e7b4c1a3f6e9d2b7a4c8e1f", events = 100 } = {}) {
  const id = ids(42);
  const t0 = 1764000000000;
  const pages = ["/", "/category/shoes", "/products/trail-runner-2?color=blue", "/cart", "/checkout/shipping", "/search?q=running+shoes"];
  const url = (i) => "https://shop.example" + pages[i % pages.length];
  // 100 events: 38 clicks, 12 page views, 8 screen times, 15 web vitals, 2 nav timings,
  // 5 long tasks, 8 errors, 12 custom; interleaved as a session would produce them.
  const plan = [];
  const add = (type, n) => { for (let k = 0; k < n; k++) plan.push(type); };
  add("click", 38); add("page_view", 12); add("screen_time", 8); add("web_vital", 15);
  add("nav_timing", 2); add("long_task", 5); add("error", 8); add("custom", 12);
  // A fixed interleaving (stride through the plan).
  const order = [];
  for (let k = 0; k < plan.length; k++) order.push(plan[(k * 37) % plan.length]);
  const vitals = ["LCP", "INP", "CLS", "FCP", "TTFB"];
  let lastView = null;
  const out = order.slice(0, events).map((type, i) => {
    const e = { id: id.next().value, t: t0 + i * 1375, type, url: url(i) };
    switch (type) {
      case "click":
        Object.assign(e, { selector: `main > section.product-grid > article:nth-of-type(${1 + (i % 12)}) > div.actions > button.add-to-cart`, tag: "button", text: i % 3 ? "Add to cart" : "View details", x: 220 + (i * 37) % 900, y: 340 + (i * 53) % 600 });
        break;
      case "page_view":
        Object.assign(e, { referrer: i === 0 ? "https://www.google.com/" : url(i + 5), cause: i === 0 ? "load" : i % 4 ? "route" : "popstate" });
        lastView = e.id;
        break;
      case "screen_time":
        Object.assign(e, { view: lastView ?? "00000000000000a1", visible_ms: 1234.5 + i * 97 });
        break;
      case "web_vital": {
        const name = vitals[i % 5];
        Object.assign(e, { name, value: name === "CLS" ? 0.0412 : 180 + i * 3.25, delta: name === "CLS" ? 0.0021 : 12.5, metric_id: `v4-${t0 + i}-${8000000000000 + i * 7}`, rating: i % 3 ? "good" : "needs-improvement", navigation_type: "navigate" });
        break;
      }
      case "nav_timing":
        Object.assign(e, { dns: 12.3, tcp: 31.7, tls: 18.2, ttfb: 142.9, download: 8.4, dom_interactive: 612.5, dom_content_loaded: 702.1, load: 1388.6, transfer_size: 18342, navigation_type: "navigate" });
        break;
      case "long_task":
        Object.assign(e, { start: 2034.5 + i * 11, duration: 57 + (i % 40) });
        break;
      case "error":
        Object.assign(e, { source: i % 3 ? "error" : "unhandledrejection", "exception.type": "TypeError", "exception.message": "Cannot read properties of undefined (reading 'price')", "exception.stacktrace": v8Stack(i), fingerprint: id.next().value, count: 1 + (i % 3) });
        break;
      case "custom":
        Object.assign(e, { name: i % 2 ? "add_to_cart" : "checkout_step", attrs: { sku: `TR2-BLU-${40 + (i % 8)}`, price: 129.95, currency: "EUR", qty: 1 + (i % 3), logged_in: i % 2 === 0, step: "shipping" } });
        break;
    }
    return e;
  });
  return JSON.stringify({ v: 1, key: "pk_demo", sdk: { name: "ferrotel", version: "0.1.0" }, session, sent_at: t0 + 200000, events: out });
}

export const UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
export const HEADERS = { "content-type": "text/plain;charset=UTF-8", origin: "https://shop.example", "user-agent": UA };
