// ferrotel: the npm entry. Loads the wasm module on `init`, queues calls made before it is
// ready, and makes sure nothing but a bad `init` option ever throws into the host page.
// Named imports (not a namespace): the bundler drops the glue's unused exports (initSync).
import load, { start, track as wTrack, flush as wFlush, setConsent as wSetConsent, sessionId as wSessionId, stat as wStat } from "./ferrotel.js";

let ready = null;
let running = false;
let queued = [];
const MAX_QUEUED = 100;

function call(f, args) {
  if (running) {
    try { f(...args); } catch { /* never into the host page */ }
  } else if (queued.length < MAX_QUEUED) {
    queued.push([f, args]);
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
      start(options == null ? options : opts);
      running = true;
      const q = queued;
      queued = [];
      for (const [f, args] of q) call(f, args);
    })
    .catch((e) => {
      ready = null;
      throw e;
    });
  return ready;
}

/** Records a custom event with flat attributes (string, number, boolean). */
export function track(name, attrs) { call(wTrack, [name, attrs]); }

/** Sends pending events now. */
export function flush() { call(wFlush, []); }

/** Grants or refuses consent when `requireConsent` is set. */
export function setConsent(granted) { call(wSetConsent, [!!granted]); }

/** The current session id, or undefined before `init` has finished. */
export function sessionId() {
  if (!running) return undefined;
  try { return wSessionId(); } catch { return undefined; }
}

const STATS = ["beacons", "fetches", "deliveredBatches", "rejectedBatches", "rejectedEvents", "droppedBatches", "droppedEvents", "errorsOverCap"];
/** Delivery counters (batches delivered, refused for good by a 4xx, given up), or undefined before `init` has finished. */
export function stats() {
  if (!running) return undefined;
  try {
    const v = STATS.map((k, i) => [k, wStat(i)]);
    return v[0][1] === undefined ? undefined : Object.fromEntries(v);
  } catch { return undefined; }
}
