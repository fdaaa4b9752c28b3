// The page side of the ferrotel browser SDK (src/browser/js.rs imports it with
// `#[wasm_bindgen(module = ...)]`): the listeners, observers and the click path's DOM walk, each
// guarded so that nothing the SDK does ever throws into the host page. Linted by eslint
// (eslint.config.mjs) in scripts/test-all.sh; exercised by tests/web.rs in three engines.

// Dispatch codes: mirror `capture::code` in src/browser/capture.rs (tests/glue.rs checks that
// the two agree; esbuild inlines them).
const KEYDOWN = 1, ERROR = 2, REJECTION = 3, VISIBILITY = 4, PAGEHIDE = 5, PAGESHOW = 6,
  POPSTATE = 7, ROUTE = 8, LOAD = 9, PAINT = 11, LCP = 12, LAYOUT_SHIFT = 13, EVENT_TIMING = 14,
  LONG_TASK = 15, FETCH_DONE = 16, CLICK = 19, FLUSH = 20, CONSENT = 21, SESSION_ID = 22, TRACK = 23, STAT = 24,
  START = 25;

// The module's side of the boundary is numbers only (no wasm-bindgen glue per import, no
// closures): Rust enters through one export, `__ferrotel_event(code, a, b, c, t)`, with what this
// side already read from the event as numbers; strings cross as UTF-8 in the module's memory
// (X.memory, from `bind`): into Rust, `text` keeps one in S and returns the most bytes it can
// take (3 per UTF-16 unit, or -1 for none), Rust allocates that much and `copy` writes it there
// and says how many bytes it wrote; out of Rust, `(pointer, length)` read by `txt`.
let X, M, S, R, A = [];
const enc = new TextEncoder(), dec = new TextDecoder();
// A view of the module's memory, renewed when it grew (the old buffer is then detached, and
// its views empty).
const mem = () => M?.byteLength ? M : M = new Uint8Array(X.memory.buffer);
const txt = (p, n) => dec.decode(mem().subarray(p, p + n));
const put = (s) => X && typeof s == "string" ? (S = s).length * 3 : -1;
// The module's exports (its memory and `__ferrotel_event`): from the npm entry's loader (which
// instantiates the module itself), or, in a Rust app, `wasm_bindgen::exports()` from `browser::init`.
export function bind(x) { X = x; }
export function copy(p) {
  const m = mem(), n = S.length;
  let i = 0;
  for (; i < n; i++) { const c = S.charCodeAt(i); if (c > 127) break; m[p + i] = c; } // ASCII: as is
  return i < n ? i + enc.encodeInto(S.slice(i), m.subarray(p + i, p + n * 3)).written : n;
}

// F, C: into Rust, once the module runs; until then (from `prelude()` on) what the listeners see is
// kept in B, with its time, and handed over in order by `install`. D: nothing more is kept (the
// SDK did not start: Do-Not-Track, or a bad option).
let F = null, C = null, U = "", B = [], D = false, H, T;
const MAX_EARLY = 200;
const call = (code, a, t) => {
  try {
    if (t === undefined) t = performance.now();
    if (F) F(code, a, t); else if (!D && B.length < MAX_EARLY) B.push([code, a, t]);
  } catch { }
};
// `what` reads what the SDK needs at the time of the event (it may be dispatched later).
function listen(onDocument, type, code, capture, what) {
  try { (onDocument ? document : window).addEventListener(type, (e) => call(code, what ? what() : e), { capture, passive: true }); } catch { }
}
function perfNow() { try { return performance.now(); } catch { return 0; } }
// 0: location.href; 1: document.referrer; 2: location.href when capture started (`prelude`).
function pageUrl(k) { try { return k == 1 ? document.referrer : k == 2 && H || location.href; } catch { return ""; } }
function visible() { try { return document.visibilityState != "hidden"; } catch { return true; } }
function interactionCount() { try { return performance.interactionCount || 0; } catch { return 0; } }
function navEntry() { try { return performance.getEntriesByType("navigation")[0]; } catch { return undefined; } }
// The navigation entry's numbers for TTFB (`js::NAV`; tests/glue.rs); the rest goes as JSON text.
const NAV = 8, NAV_KEYS = ["activationStart", "responseStart"];
// What the SDK reads from the page as a number (`js::num`'s constants in src/browser/js.rs).
const NUMS = [
  perfNow,
  () => T ?? perfNow(), // when capture started (`prelude`), on the same clock; now if it has not
  () => Date.now(),
  visible,
  () => document.readyState == "complete",
  () => navigator.globalPrivacyControl === true || navigator.doNotTrack == "1" || window.doNotTrack == "1",
  () => { try { return crypto.getRandomValues(new Uint32Array(1))[0]; } catch { return Math.random() * 4294967296; } },
];
// A negative k is `A[~k]` (true is 1).
export function num(k) {
  try { return k < 0 ? +A[~k] : k < NAV ? +NUMS[k]() : +(navEntry()?.[NAV_KEYS[k - NAV]] ?? 0); } catch { return 0; }
}
// The session record (sessionStorage) and the persisted retry queue: one localStorage item per
// batch, `ferrotel:q:<id>` (src/core/queue.rs has the format), listed oldest first (the key
// order: ids start with their batch's creation time). `queued` also lists the single item of
// the format before ("ferrotel:queue"), whose text the SDK does not parse: a clear removes it.
const SESSION = "ferrotel:session", Q = "ferrotel:q";
const queued = () => Object.keys(localStorage).filter((k) => k.startsWith(Q)).sort();
// A string the SDK reads from the page (`js::text`'s constants): 0-2 as `pageUrl`, 3 the
// navigation entry's type (none without an entry), 4 the current JavaScript stack, 5 the
// queue's items (their values, joined by newlines), 6 the session record (none when absent;
// none for both when storage is off), 7 the navigation entry as JSON text, its numbers and type
// only (none without an entry); a negative k `A[~k]` (none when not a string).
export function text(k) {
  let s;
  try { s = k < 0 ? A[~k] : k < 3 ? pageUrl(k) : k == 3 ? navEntry()?.type : k == 4 ? new Error().stack || "" : k > 6 ? JSON.stringify(navEntry(), (n, v) => n && n != "type" && typeof v != "number" ? undefined : v) : k > 5 ? sessionStorage.getItem(SESSION) : queued().map((q) => localStorage.getItem(q)).join("\n"); } catch { }
  return put(s);
}
// A value as A entries: its type (1 string, 2 number, 3 boolean, 4 array: then its length and
// items; 0 anything else), then itself.
const TYPES = ["string", "number", "boolean"];
const typed = (v) => Array.isArray(v) ? [4, v.length, ...v] : [TYPES.indexOf(typeof v) + 1, v];
function describe(v) {
  try { return typeof v == "string" ? v : JSON.stringify(v) ?? String(v); } catch { try { return String(v); } catch { return ""; } }
}
// The npm entry's `init` options as A (`api::start` reads them): name, then the value `typed`
// for each one set; -1 when not an object.
export function options(o) {
  A = [];
  if (typeof o != "object" || o === null) return -1;
  for (const k of Object.keys(o)) { const v = get(o, k); if (v !== undefined) A.push(k, ...typed(v)); }
  return A.length;
}
// The npm entry's `track(name, attrs)` as A (`api::track` reads it): the name, then key and the
// value `typed` for each attribute, a value that is not a string, number or boolean as its JSON
// text.
export function attrs(name, a) {
  A = [describe(name)];
  if (typeof a == "object" && a !== null) for (const [k, v] of Object.entries(a)) A.push(k, ...typed(TYPES.includes(typeof v) ? v : describe(v)));
  return A.length;
}
// A string out of Rust (none for a negative length): k 0 the endpoint (where `send` sends), 1 a
// result for the npm entry (`take`), 2 a change to the queue (`core::sdk::StoreOp`: a batch's line
// is written to `ferrotel:q:` + its first 16 characters, its id alone removes that item, nothing
// removes them all), 3 the session record; nothing when storage refuses (off, or full).
export function set(k, p, n) {
  try {
    const s = n < 0 ? undefined : txt(p, n);
    if (k > 2) sessionStorage.setItem(SESSION, s);
    else if (k > 1) s ? localStorage[s[16] ? "setItem" : "removeItem"](Q + ":" + s.slice(0, 16), s) : queued().map((q) => localStorage.removeItem(q));
    else if (k) R = s; else U = s;
  } catch { }
}
// The npm entry: what the last call into Rust left for it (the session id, a bad option's message).
export function take() { const r = R; R = undefined; return r; }
// One step of the selector path: `#id` (64 characters at most), else the tag, its first two
// classes of at most 32 characters with fewer than 3 digits (generated names such as
// `css-1a2b3c` are skipped), and `:nth-of-type(i)` when a sibling has the same tag (counted
// among the 32 nearest), on the clicked element and on ancestors (up) without such a class:
// a class names the kind of element, and repeats of a kind (product cards, table rows) are
// one selector, not one per position (also ~1 us less per click on the click bench). The class
// attribute is scanned as a string (split on ASCII whitespace, a repeat skipped, as classList
// would): iterating classList costs ~0.8 us more per click.
function part(el, tag, up) {
  const id = el.id;
  if (id && id.length <= 64) return "#" + id;
  let p = tag, s = el.className, x = el, i = 1, k = 0, same = false;
  if (typeof s != "string") s = el.getAttribute("class"); // SVG: an SVGAnimatedString
  if (s) for (let j = 0, n = 0, f, w; j < s.length && n < 2; j = k) {
    let d = 0, c;
    for (k = j; k < s.length && (c = s.charCodeAt(k)) != 32 && (c < 9 || c > 13 || c == 11); k++) if (c >= 48 && c <= 57) d++;
    if (k == j) k++;
    else if (k - j <= 32 && d < 3 && (w = s.slice(j, k)) != f) { p += "." + w; f = w; n++; }
  }
  if (up && p.length > tag.length) return p;
  k = 0;
  while ((x = x.previousElementSibling) && ++k <= 32) if (x.localName == tag) i++;
  if (i > 1) same = k <= 32;
  else for (x = el, k = 0; (x = x.nextElementSibling) && ++k <= 32;) if (x.localName == tag) { same = true; break; }
  return same ? p + ":nth-of-type(" + i + ")" : p;
}
const FIELDS = new Set(["input", "textarea", "select", "option"]);
function onClick(e) {
  try {
    const el = e.target;
    if (D || !(el instanceof Element)) return;
    const tag = el.localName;
    let sel = "";
    for (let x = el, t = tag, d = 0; t != "html" && t != "body";) {
      const p = part(x, t, d);
      sel = d ? p + " > " + sel : p;
      // Four steps at most (was five: each costs ~0.3 us, and its bytes are encoded and sent), and
      // none past an "#id", which is unique.
      if (p.charCodeAt(0) == 35 || ++d == 4 || !(x = x.parentElement)) break;
      t = x.localName;
    }
    // The text of its first 8 child nodes, unless it is a form field, or it or an ancestor is
    // editable or marked `data-ferrotel-mask` (checked only when there is text: one native call).
    let text = "";
    if (!FIELDS.has(tag)) for (let c = el.firstChild, n = 0; c && n < 8 && text.length <= 128; c = c.nextSibling, n++) if (c.nodeType == 3) text += c.nodeValue + " ";
    if (text && el.closest("[data-ferrotel-mask],[contenteditable]")) text = "";
    // Its own entry with typed arguments (measured: ~2 us less per click than going through
    // the dispatch closure with a JS value); one string in, split on NUL in Rust.
    const a = sel + "\0" + tag + "\0" + text, x = e.clientX | 0, y = e.clientY | 0;
    if (C) C(a, x, y, e.timeStamp); else if (B.length < MAX_EARLY) B.push([0, [a, x, y], e.timeStamp]);
  } catch { }
}
function hookHistory(code) {
  try {
    for (const m of ["pushState", "replaceState"]) {
      const orig = history[m];
      if (typeof orig != "function" || orig.__ferrotel) continue;
      const w = function () { const r = orig.apply(this, arguments); call(code, pageUrl()); return r; };
      w.__ferrotel = true;
      history[m] = w;
    }
  } catch { }
}
// Where the browser has the entry type (an undefined `durationThreshold` is as good as none).
function observe(type, code, durationThreshold) {
  try { if (PerformanceObserver.supportedEntryTypes.includes(type)) new PerformanceObserver((l) => call(code, l.getEntries())).observe({ type, buffered: true, durationThreshold }); } catch { }
}
// Every listener, once per page, dispatching the codes of `capture::code`: called by the npm
// entry's `init` before the module is loaded (so nothing the page does meanwhile is missed), and
// by `install` for a Rust app.
let attached = false;
export function prelude() {
  if (attached) return;
  attached = true;
  T = perfNow();
  H = pageUrl();
  try { document.addEventListener("click", onClick, { capture: true, passive: true }); } catch { }
  listen(true, "keydown", KEYDOWN, true);
  listen(false, "error", ERROR, true);
  listen(false, "unhandledrejection", REJECTION, false);
  listen(true, "visibilitychange", VISIBILITY, true, visible);
  listen(false, "pagehide", PAGEHIDE, true);
  listen(false, "pageshow", PAGESHOW, true);
  listen(false, "popstate", POPSTATE, false, pageUrl);
  listen(false, "load", LOAD, false);
  hookHistory(ROUTE);
}
function get(o, k) { try { return o == null ? undefined : o[k]; } catch { return undefined; } }
// undefined for an Error (anything with a stack or a message); any other value by type and keys
// only, never its values: typeof ("null" for null), "Array(length)", or "name with keys [the
// first 10 keys, joined[, ...]]".
function shape(v) {
  try {
    if (v == null) return "" + v;
    if (typeof v != "object") return typeof v;
    if (v.stack || v.message !== undefined) return undefined;
    if (Array.isArray(v)) return "Array(" + v.length + ")";
    const k = Object.keys(v), c = Object.getPrototypeOf(v)?.constructor;
    return (typeof c == "function" && c.name || "Object") + " with keys [" + k.slice(0, 10).join(", ") + (k.length > 10 ? ", ...]" : "]");
  } catch { return "Object"; }
}
const str = (v) => typeof v == "string" ? v : "";
// Into Rust: the event's strings in A, its numbers as arguments (`capture::__ferrotel_event` reads them).
const ev = (code, t, a, b, c) => X.__ferrotel_event(code, a, b, c, t);
function event(code, v, t) {
  A = [];
  if (code == VISIBILITY) ev(code, t, v, interactionCount());
  else if (code == PAGEHIDE) ev(code, t, interactionCount());
  else if (code == PAGESHOW) { A = [pageUrl()]; ev(code, t, !!get(v, "persisted"), visible()); }
  else if (code == POPSTATE || code == ROUTE) { A = [v]; ev(code, t); }
  else if (code == ERROR || code == REJECTION) {
    // An ErrorEvent's error (resource load errors, plain Events without one, have no message and
    // are dropped) or a PromiseRejectionEvent's reason, as [type, message, stack]. An Error
    // gives its own; any other value its `shape` (a thrown null or undefined nothing: the
    // event's own message is harmless then). An ErrorEvent without a message takes the event's
    // (a cross-origin script's "Script error.", a synthetic event; never for other thrown
    // values, where it holds the value: "Uncaught s3cret"), and without a stack its file:line:col.
    const r = code == REJECTION;
    if (r && get(v, "promise") === undefined) return;
    const x = get(v, r ? "reason" : "error"), d = shape(x);
    let k = r ? "UnhandledRejection" : "", m = "", s = "";
    if (d === undefined) { k = str(get(x, "name")); m = str(get(x, "message")); s = str(get(x, "stack")); }
    else if (r || x != null) m = "Non-Error " + (r ? "promise rejection: " : "exception: ") + d;
    if (!r) {
      m ||= str(get(v, "message"));
      if (!m && !s) return;
      const f = str(get(v, "filename"));
      if (!s && f) s = f + ":" + (get(v, "lineno") >>> 0) + ":" + (get(v, "colno") >>> 0);
    }
    A = [k, m, s];
    ev(code, t);
  } else if (code >= PAINT && code <= LONG_TASK) {
    // Performance entries, one call each: start, then value (layout shift) or duration, then
    // interactionId (event timing) or hadRecentInput (layout shift).
    for (const e of v) if (code != PAINT || e.name == "first-contentful-paint") ev(code, t, e.startTime, e.value ?? e.duration, e.interactionId ?? e.hadRecentInput);
  } else if (code == FETCH_DONE) ev(code, t, v.t, v.s, v.r);
  else ev(code, t);
}
// The npm entry's API (`start` after `options`, `flush`, `setConsent`, `sessionId`, `track`
// after `attrs`, `stats`), at the time of the call.
export { FLUSH, CONSENT, SESSION_ID, TRACK, STAT, START };
export const api = (code, a) => ev(code, perfNow(), a);
// A click's string goes in S at once (`put`: no call back for it): c is its most bytes.
function click(a, x, y, t) { ev(CLICK, t, x, y, put(a)); }
// The SDK runs: what was kept is dispatched in order, then the observers are attached
// (`buffered: true`, so entries from before are delivered too).
export function install() {
  prelude();
  F = event;
  C = click;
  const b = B;
  B = [];
  for (const [code, a, t] of b) try { code ? F(code, a, t) : C(a[0], a[1], a[2], t); } catch { }
  observe("paint", PAINT);
  observe("largest-contentful-paint", LCP);
  observe("layout-shift", LAYOUT_SHIFT);
  observe("event", EVENT_TIMING, 40);
  observe("first-input", EVENT_TIMING);
  observe("longtask", LONG_TASK);
}
// The npm entry, once `start` returned: if the SDK did not start, keep nothing more.
export function settle() { if (!F) { D = true; B = []; } }
// Dispatches `code` after `ms`, or after the next frame was painted (ms < 0: two
// `requestAnimationFrame`s).
export function later(code, ms) {
  try { if (ms < 0) requestAnimationFrame(() => requestAnimationFrame(() => call(code))); else setTimeout(() => call(code), ms); } catch { }
}
// A batch (UTF-8 at p, n bytes) to the endpoint: `navigator.sendBeacon` (how 0), true when the
// browser took it; or `fetch` (how 1; 2 with keepalive), then FETCH_DONE with {t: token, s:
// status (0 for a network error), r: Retry-After as a number (NaN when it is not
// one, -1 when absent or empty; src/core/sdk/delivery.rs `retry_after_ms` decides)}. The body is
// a copy of the bytes, not a string (no decode here and encode again in the browser: measured ~1.5 us less per click of a batch of
// 100), so it goes without a Content-Type: no CORS preflight either way.
export function send(p, n, token, how) {
  const body = mem().slice(p, p + n);
  if (!how) { try { return navigator.sendBeacon(U, body); } catch { return false; } }
  const done = (s, r = -1) => call(FETCH_DONE, { t: token, s, r });
  try {
    fetch(U, { method: "POST", body, keepalive: how > 1, credentials: "omit", mode: "cors" })
      .then((r) => done(r.status, +(r.headers.get("retry-after") || -1)), () => done(0));
  } catch { done(0); }
}
