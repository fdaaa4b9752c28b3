// The page side of the ferrotel browser SDK (src/browser/js.rs imports it with
// `#[wasm_bindgen(module = ...)]`): the listeners, observers and the click path's DOM walk, each
// guarded so that nothing the SDK does ever throws into the host page. Linted by eslint
// (eslint.config.mjs) in scripts/test-all.sh; exercised by tests/web.rs in three engines.

// Dispatch codes: mirror `capture::code` in src/browser/capture.rs (tests/glue.rs checks that
// the two agree; esbuild inlines them).
const KEYDOWN = 1, ERROR = 2, REJECTION = 3, VISIBILITY = 4, PAGEHIDE = 5, PAGESHOW = 6,
  POPSTATE = 7, ROUTE = 8, LOAD = 9, PAINT = 11, LCP = 12, LAYOUT_SHIFT = 13, EVENT_TIMING = 14,
  LONG_TASK = 15;

// F: the Rust dispatcher, once the module runs; until then (from `prelude()` on) what the
// listeners see is kept in B, with its time, and handed over in order by `install`. D: nothing
// more is kept (the SDK did not start: Do-Not-Track, or a bad option).
let F = null, C = null, U = "", B = [], D = false, H, T;
const MAX_EARLY = 200;
const call = (code, a, t) => {
  try {
    if (t === undefined) t = performance.now();
    if (F) F(code, a, t); else if (!D && B.length < MAX_EARLY) B.push([code, a, t]);
  } catch { }
};
export function setEndpoint(u) { U = u; }
// `what` reads what the SDK needs at the time of the event (it may be dispatched later).
function listen(onDocument, type, code, capture, what) {
  try { (onDocument ? document : window).addEventListener(type, (e) => call(code, what ? what() : e), { capture, passive: true }); } catch { }
}
export function perfNow() { try { return performance.now(); } catch { return 0; } }
// 1: document.referrer; 2: location.href when capture started (`prelude`); else location.href.
export function pageUrl(k) { try { return k == 1 ? document.referrer : k == 2 && H || location.href; } catch { return ""; } }
// When capture started (`prelude`), on the performance.now() clock; now if it has not.
export function since() { return T ?? perfNow(); }
export function visible() { try { return document.visibilityState != "hidden"; } catch { return true; } }
export function loaded() { try { return document.readyState == "complete"; } catch { return false; } }
export function navEntry() { try { return performance.getEntriesByType("navigation")[0]; } catch { return undefined; } }
export function interactionCount() { try { return performance.interactionCount || 0; } catch { return 0; } }
// The session record (sessionStorage) or the persisted retry queue (localStorage).
const KEY = ["ferrotel:queue", "ferrotel:session"];
export function storeGet(session) {
  try { return (session ? sessionStorage : localStorage).getItem(KEY[session]) ?? undefined; } catch { return undefined; }
}
export function storeSet(session, value) {
  try {
    const s = session ? sessionStorage : localStorage;
    if (value === undefined) s.removeItem(KEY[session]); else s.setItem(KEY[session], value);
  } catch { }
}
// One step of the selector path: `#id` (64 characters at most), else the tag, its first two
// classes of at most 32 characters with fewer than 3 digits (generated names such as
// `css-1a2b3c` are skipped), and `:nth-of-type(i)` when a sibling has the same tag (counted
// among the 32 nearest). The class attribute is scanned as a string (split on ASCII whitespace,
// a repeat skipped, as classList would): iterating classList costs ~0.8 us more per click.
function part(el, tag) {
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
      const p = part(x, t);
      sel = d ? p + " > " + sel : p;
      if (p.charCodeAt(0) == 35 || ++d == 5 || !(x = x.parentElement)) break; // "#id" is unique: stop there
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
function observe(type, code, threshold) {
  try {
    const s = PerformanceObserver.supportedEntryTypes;
    if (!s || !s.includes(type)) return false;
    const opts = { type, buffered: true };
    if (threshold) opts.durationThreshold = threshold;
    new PerformanceObserver((l) => call(code, l.getEntries())).observe(opts);
    return true;
  } catch { return false; }
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
// The SDK runs: what was kept is dispatched in order, then the observers are attached
// (`buffered: true`, so entries from before are delivered too).
export function install(f, c) {
  prelude();
  F = f;
  C = c;
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
export function later(ms, code) { try { setTimeout(() => call(code), ms); } catch { } }
export function get(o, k) { try { return o == null ? undefined : o[k]; } catch { return undefined; } }
export function at(a, i) { return a[i]; }
export function keys(o) { return Object.keys(o); }
export function entries(o) { return Object.entries(o); }
export function isArray(v) { return Array.isArray(v); }
export function dateNow() { return Date.now(); }
export function isObject(v) { return typeof v == "object" && v !== null; }
export function isUndefined(v) { return v === undefined; }
// undefined for an Error (anything with a stack or a message); any other value by type and keys
// only: typeof ("null" for null), "Array\0length", or "name\0the first n keys, joined[, ...]".
export function shape(v, n) {
  try {
    if (v == null) return "" + v;
    if (typeof v != "object") return typeof v;
    if (v.stack || v.message !== undefined) return undefined;
    if (Array.isArray(v)) return "Array\0" + v.length;
    const k = Object.keys(v), c = Object.getPrototypeOf(v)?.constructor;
    return (typeof c == "function" && c.name || "Object") + "\0" + k.slice(0, n).join(", ") + (k.length > n ? ", ..." : "");
  } catch { return "Object"; }
}
export function describe(v) {
  try { return typeof v == "string" ? v : JSON.stringify(v) ?? String(v); } catch { try { return String(v); } catch { return ""; } }
}
export function beacon(body) {
  try { return navigator.sendBeacon(U, body); } catch { return false; }
}
export function post(body, code, t, keepalive) {
  const done = (s, r) => call(code, { t, s, r });
  try {
    fetch(U, { method: "POST", body, keepalive, credentials: "omit", mode: "cors" })
      .then((r) => done(r.status, r.headers.get("retry-after") ?? undefined), () => done(0));
  } catch { done(0); }
}
export function frames(code) { try { requestAnimationFrame(() => requestAnimationFrame(() => call(code))); } catch { } }
export function stack() { try { return new Error().stack || ""; } catch { return ""; } }
export function random32() {
  try { return crypto.getRandomValues(new Uint32Array(1))[0]; } catch { return Math.random() * 4294967296; }
}
export function privacySignal() {
  try { return navigator.globalPrivacyControl === true || navigator.doNotTrack == "1" || window.doNotTrack == "1"; } catch { return false; }
}
