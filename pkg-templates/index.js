// ferrotel: the npm entry. `init` starts capturing at once (the page-side listeners keep what
// happens until the module runs), loads the wasm module in the background, queues API calls
// made before it is ready, and makes sure nothing ever throws into the host page.
// scripts/build-pkg.sh bundles this file with the page-side module into the package's one
// index.js ({{GLUE}} is the path wasm-bindgen gives src/browser/glue.js; the module imports it
// as `g`, scripts/wasm-imports.mjs).
import { prelude, settle, bind, options as layOut, attrs, take, api, FLUSH, CONSENT, SESSION_ID, TRACK, STAT, START } from "{{GLUE}}";
// The module's imports. scripts/build-pkg.sh replaces this line with named imports of just the
// functions the module imports, and `glue` an object of them (a namespace object would cost
// esbuild's getter helper and a getter per export).
import * as glue from "{{GLUE}}"; // {{IMPORTS}}
// {{BINDINGS}}

let started = null;
let running = false;
let queued = [];
const MAX_QUEUED = 100;

// The module is compiled while it downloads (compileStreaming; from the bytes when the server
// does not say application/wasm), then instantiated with glue.js as its only import: it imports
// nothing else and needs no start-up call, which scripts/build-pkg.sh checks on every build, so
// wasm-bindgen's generated loader and wrappers (which would do the same) are not shipped (README
// "Size and speed"; where the check fails, as in a build on stable Rust, the script swaps in
// wasm-bindgen's `initSync` for this line). glue.js gets the module's exports (its memory and
// its one entry point, numbers in and out: every API call goes through glue.js `api`) from here.
async function load(url) {
  const r = fetch(url || new URL("ferrotel_bg.wasm", import.meta.url));
  let m, W;
  try { m = await WebAssembly.compileStreaming(r); } catch { m = await WebAssembly.compile(await (await r).arrayBuffer()); }
  W = (await WebAssembly.instantiate(m, { g: glue })).exports; // {{OWN_LOADER}}
  bind(W);
}

function call(f) {
  if (running) {
    try { f(); } catch { /* never into the host page */ }
  } else if (queued.length < MAX_QUEUED) {
    queued.push(f);
  }
}

/**
 * Starts ferrotel: resolves as soon as it is capturing (clicks, errors, route and visibility
 * changes from then on are kept and recorded once the module runs; performance entries are
 * buffered by the browser). The module loads in the background; `ready()` says when it runs.
 * Calling it again changes nothing.
 */
export function init(options) {
  if (!started) {
    const { wasmUrl, ...opts } = options || {};
    try { prelude(); } catch { /* capture starts with the module instead */ }
    started = load(wasmUrl)
      .then(() => {
        // The options go in laid out (glue.js `options`); a bad one's message comes back.
        if (!api(START, layOut(options == null ? options : opts))) throw new Error(take());
        running = true;
        const q = queued;
        queued = [];
        for (const f of q) call(f);
      })
      .catch((e) => {
        console.error("ferrotel:", e && e.message || e);
        throw e;
      })
      .finally(settle);
    started.catch(() => { /* reported by ready() and on the console */ });
  }
  return Promise.resolve();
}

/**
 * Resolves once the module runs with the options given to `init`; rejects with one Error naming
 * the first bad option (also logged with console.error), or if the module could not be loaded.
 */
export function ready() {
  return started || Promise.reject(new Error("ferrotel: init() was not called"));
}

/** Records a custom event with flat attributes (string, number, boolean). */
export function track(name, a) { call(() => api(TRACK, attrs(name, a))); }

/** Sends pending events now. */
export function flush() { call(() => api(FLUSH)); }

/** Grants or refuses consent when `requireConsent` is set. */
export function setConsent(granted) { call(() => api(CONSENT, !!granted)); }

/** The current session id, or undefined before the module runs (see `ready()`). */
export function sessionId() {
  if (!running) return undefined;
  try { api(SESSION_ID); return take(); } catch { return undefined; }
}

const STATS = ["beacons", "fetches", "deliveredBatches", "rejectedBatches", "rejectedEvents", "droppedBatches", "droppedEvents", "errorsOverCap"];
/** Delivery counters (batches delivered, refused for good by a 4xx, given up), or undefined before the module runs. */
export function stats() {
  if (!running) return undefined;
  try {
    const v = STATS.map((k, i) => [k, api(STAT, i)]);
    return v[0][1] < 0 ? undefined : Object.fromEntries(v);
  } catch { return undefined; }
}
