// ferrotel: the npm entry. Loads the wasm module on `init`, queues calls made before it is
// ready, and makes sure nothing but a bad `init` option ever throws into the host page.
import load, * as wasm from "./ferrotel.js";

let ready = null;
let running = false;
let queued = [];
const MAX_QUEUED = 100;

function call(name, args) {
  if (running) {
    try { wasm[name](...args); } catch (_) { /* never into the host page */ }
  } else if (queued.length < MAX_QUEUED) {
    queued.push([name, args]);
  }
}

/**
 * Starts ferrotel. Resolves when capturing; rejects with one Error naming the first bad option.
 * Calling it again returns the same promise.
 */
export function init(options) {
  if (ready) return ready;
  const { wasmUrl, ...opts } = options || {};
  ready = load(wasmUrl ? { module_or_path: wasmUrl } : undefined)
    .then(() => {
      wasm.start(options == null ? options : opts);
      running = true;
      const q = queued;
      queued = [];
      for (const [name, args] of q) call(name, args);
    })
    .catch((e) => {
      ready = null;
      throw e;
    });
  return ready;
}

/** Records a custom event with flat attributes (string, number, boolean). */
export function track(name, attrs) { call("track", [name, attrs]); }

/** Sends pending events now. */
export function flush() { call("flush", []); }

/** Grants or refuses consent when `requireConsent` is set. */
export function setConsent(granted) { call("setConsent", [!!granted]); }

/** The current session id, or undefined before `init` has finished. */
export function sessionId() {
  if (!running) return undefined;
  try { return wasm.sessionId(); } catch (_) { return undefined; }
}

const STATS = ["beacons", "fetches", "deliveredBatches", "rejectedBatches", "rejectedEvents", "droppedBatches", "droppedEvents", "errorsOverCap"];
/** Delivery counters (batches delivered, refused for good by a 4xx, given up), or undefined before `init` has finished. */
export function stats() {
  if (!running) return undefined;
  try {
    const v = wasm.stats();
    return v && Object.fromEntries(STATS.map((k, i) => [k, v[i]]));
  } catch (_) { return undefined; }
}
