//! The JavaScript side of the SDK, kept to what is smaller or faster there:
//!
//! * one guarded dispatcher: every listener, observer and fetch callback enters Rust through a
//!   single closure with a numeric code (clicks through a second, typed one: the hot path), so a
//!   failure inside the SDK never surfaces in the host page and the module carries two closure
//!   shims instead of fifteen;
//! * the click path: walking the DOM for a selector is nothing but boundary crossings, so it
//!   runs here and enters Rust once per click with plain values (masking, truncation, encoding
//!   and batching stay in Rust). It reads no layout, no storage and never an input's value;
//! * the history hook (wrapping a host method) and feature-checked PerformanceObservers.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r##"
let F = null, C = null, U = "";
const call = (code, a) => { try { F && F(code, a); } catch (_) { } };
export function setEndpoint(u) { U = u; }
function listen(onDocument, type, code, capture) {
  try { (onDocument ? document : window).addEventListener(type, (e) => call(code, e), { capture, passive: true }); } catch (_) { }
}
export function perfNow() { try { return performance.now(); } catch (_) { return 0; } }
export function pageUrl(referrer) { try { return referrer ? document.referrer : location.href; } catch (_) { return ""; } }
export function visible() { try { return document.visibilityState != "hidden"; } catch (_) { return true; } }
export function loaded() { try { return document.readyState == "complete"; } catch (_) { return false; } }
export function navEntry() { try { return performance.getEntriesByType("navigation")[0]; } catch (_) { return undefined; } }
export function interactionCount() { try { return performance.interactionCount || 0; } catch (_) { return 0; } }
// The session record (sessionStorage) or the persisted retry queue (localStorage).
const KEY = ["ferrotel:queue", "ferrotel:session"];
export function storeGet(session) {
  try { return (session ? sessionStorage : localStorage).getItem(KEY[session]) ?? undefined; } catch (_) { return undefined; }
}
export function storeSet(session, value) {
  try {
    const s = session ? sessionStorage : localStorage;
    if (value === undefined) s.removeItem(KEY[session]); else s.setItem(KEY[session], value);
  } catch (_) { }
}
function part(el) {
  const tag = el.localName;
  const id = el.id;
  if (id && id.length <= 64) return "#" + id;
  let p = tag, n = 0;
  for (const c of el.classList) {
    if (c.length > 32) continue;
    let d = 0;
    for (let i = 0; i < c.length && d < 3; i++) { const k = c.charCodeAt(i); if (k >= 48 && k <= 57) d++; }
    if (d < 3) { p += "." + c; if (++n == 2) break; }
  }
  let i = 1, same = false, s = el, k = 0;
  while ((s = s.previousElementSibling) && ++k <= 32) if (s.localName == tag) i++;
  if (i > 1) same = k <= 32;
  else for (s = el, k = 0; (s = s.nextElementSibling) && ++k <= 32;) if (s.localName == tag) { same = true; break; }
  return same ? p + ":nth-of-type(" + i + ")" : p;
}
const FIELDS = new Set(["input", "textarea", "select", "option"]);
function onClick(e) {
  try {
    const el = e.target;
    if (!F || !(el instanceof Element)) return;
    let sel = "";
    for (let x = el, d = 0; x && d < 5; x = x.parentElement, d++) {
      const t = x.localName;
      if (t == "html" || t == "body") break;
      const p = part(x);
      sel = sel ? p + " > " + sel : p;
      if (p.charCodeAt(0) == 35) break; // "#id" is unique: stop there
    }
    const tag = el.localName;
    let text = "";
    if (el.firstChild && !FIELDS.has(tag) && !el.hasAttribute("contenteditable") && !el.closest("[data-ferrotel-mask]")) {
      for (let c = el.firstChild, n = 0; c && n < 8 && text.length <= 128; c = c.nextSibling, n++) if (c.nodeType == 3) text += c.nodeValue + " ";
    }
    // Its own entry with typed arguments (measured: ~2 us less per click than going through
    // the dispatch closure with a JS value); one string in, split on NUL in Rust.
    C(sel + "\0" + tag + "\0" + text, e.clientX | 0, e.clientY | 0, e.timeStamp);
  } catch (_) { }
}
function hookHistory(code) {
  try {
    for (const m of ["pushState", "replaceState"]) {
      const orig = history[m];
      if (typeof orig != "function" || orig.__ferrotel) continue;
      const w = function () { const r = orig.apply(this, arguments); call(code); return r; };
      w.__ferrotel = true;
      history[m] = w;
    }
  } catch (_) { }
}
function observe(type, code, threshold) {
  try {
    const s = PerformanceObserver.supportedEntryTypes;
    if (!s || !s.includes(type)) return false;
    const opts = { type, buffered: true };
    if (threshold) opts.durationThreshold = threshold;
    new PerformanceObserver((l) => call(code, l.getEntries())).observe(opts);
    return true;
  } catch (_) { return false; }
}
// Every listener and observer, once per page, dispatching the codes of `capture::code`.
export function install(f, c) {
  F = f;
  C = c;
  try { document.addEventListener("click", onClick, { capture: true, passive: true }); } catch (_) { }
  listen(true, "keydown", 1, true);
  listen(false, "error", 2, true);
  listen(false, "unhandledrejection", 3, false);
  listen(true, "visibilitychange", 4, true);
  listen(false, "pagehide", 5, true);
  listen(false, "pageshow", 6, true);
  listen(false, "popstate", 7, false);
  listen(false, "load", 9, false);
  hookHistory(8);
  observe("paint", 11);
  observe("largest-contentful-paint", 12);
  observe("layout-shift", 13);
  observe("event", 14, 40);
  observe("first-input", 14);
  observe("longtask", 15);
}
export function later(ms, code) { try { setTimeout(() => call(code), ms); } catch (_) { } }
export function get(o, k) { try { return o == null ? undefined : o[k]; } catch (_) { return undefined; } }
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
  } catch (_) { return "Object"; }
}
export function describe(v) {
  try { return typeof v == "string" ? v : JSON.stringify(v) ?? String(v); } catch (_) { try { return String(v); } catch (_) { return ""; } }
}
export function beacon(body) {
  try { return navigator.sendBeacon(U, body); } catch (_) { return false; }
}
export function post(body, code, t, keepalive) {
  const done = (s, r) => call(code, { t, s, r });
  try {
    fetch(U, { method: "POST", body, keepalive, credentials: "omit", mode: "cors" })
      .then((r) => done(r.status, r.headers.get("retry-after") ?? undefined), () => done(0));
  } catch (_) { done(0); }
}
export function frames(code) { try { requestAnimationFrame(() => requestAnimationFrame(() => call(code))); } catch (_) { } }
export function stack() { try { return new Error().stack || ""; } catch (_) { return ""; } }
export function random32() {
  try { return crypto.getRandomValues(new Uint32Array(1))[0]; } catch (_) { return Math.random() * 4294967296; }
}
export function privacySignal() {
  try { return navigator.globalPrivacyControl === true || navigator.doNotTrack == "1" || window.doNotTrack == "1"; } catch (_) { return false; }
}
"##)]
extern "C" {
    /// Installs the Rust entry point (`f(code, arg)`, clicks included) and attaches every
    /// listener and observer: `addEventListener(type, e => f(code, e),
    /// {capture, passive})`, a capture-phase click listener on `document`, the history hook
    /// (`code::ROUTE` after every `pushState` / `replaceState`), PerformanceObservers with
    /// `buffered: true` where the browser supports the type (`f(code, entries)`).
    pub fn install(f: &JsValue, c: &JsValue);
    /// Where `beacon` and `post` send.
    #[wasm_bindgen(js_name = setEndpoint)]
    pub fn set_endpoint(url: &str);
    /// `performance.now()`.
    #[wasm_bindgen(js_name = perfNow)]
    pub fn perf_now() -> f64;
    /// `location.href`, or `document.referrer`.
    #[wasm_bindgen(js_name = pageUrl)]
    fn page_url_js(referrer: i32) -> JsValue;
    /// The document is not hidden.
    pub fn visible() -> bool;
    /// `document.readyState == "complete"`.
    pub fn loaded() -> bool;
    /// The navigation timing entry, if any.
    #[wasm_bindgen(js_name = navEntry)]
    pub fn nav_entry() -> JsValue;
    /// `performance.interactionCount` (0 where unsupported).
    #[wasm_bindgen(js_name = interactionCount)]
    pub fn interaction_count() -> f64;
    /// `getItem` on sessionStorage or localStorage; `None` when absent or storage is off.
    #[wasm_bindgen(js_name = storeGet)]
    fn store_get_js(session: i32) -> JsValue;
    /// `setItem` (or `removeItem` for `None`) of the session record (1) or the retry queue (0);
    /// nothing when storage refuses (off, or full).
    #[wasm_bindgen(js_name = storeSet)]
    fn store_set_js(session: i32, value: Option<&str>);
    /// Dispatches `code` after `ms`.
    #[wasm_bindgen(js_name = later)]
    fn later_js(ms: i32, code: i32);
    /// `o[k]`, never throwing (getters on hostile objects can).
    pub fn get(o: &JsValue, k: &str) -> JsValue;
    /// `a[i]` of an array.
    #[wasm_bindgen(js_name = at)]
    fn at_js(a: &JsValue, i: i32) -> JsValue;
    /// `undefined` for an `Error` (anything with a `stack` or a `message`); any other value by
    /// type and keys only, as [`crate::core::scrub::describe_non_error`] reads them.
    pub fn shape(v: &JsValue, n: i32) -> JsValue;
    /// `JSON.stringify` (or `String`) of a value: custom event names and nested attributes.
    #[wasm_bindgen(js_name = describe)]
    fn describe_js(v: &JsValue) -> JsValue;
    /// `navigator.sendBeacon(endpoint, body)` (a string body goes as `text/plain;charset=UTF-8`, so no
    /// CORS preflight); false when refused or unavailable.
    pub fn beacon(body: &str) -> bool;
    /// `fetch(endpoint, {method: "POST", keepalive})`, then dispatches `code` with
    /// `{t: token, s: status, r: retryAfter}` (status 0 for a network error).
    pub fn post(body: &str, code: u32, token: u32, keepalive: bool);
    /// Dispatches `code` after the next frame was painted (two `requestAnimationFrame`s).
    #[wasm_bindgen(js_name = frames)]
    fn frames_js(code: i32);
    /// The current JavaScript stack (for panics, which carry none of their own).
    #[wasm_bindgen(js_name = stack)]
    fn stack_js() -> JsValue;
    /// 32 random bits (crypto when available).
    pub fn random32() -> u32;
    /// Do-Not-Track or Global Privacy Control is on.
    #[wasm_bindgen(js_name = privacySignal)]
    pub fn privacy_signal() -> bool;
    /// `Date.now()`.
    #[wasm_bindgen(js_name = dateNow)]
    pub fn date_now() -> f64;
    /// `Object.keys(o)`.
    pub fn keys(o: &JsValue) -> JsValue;
    /// `Object.entries(o)`.
    pub fn entries(o: &JsValue) -> JsValue;
    /// `Array.isArray(v)`.
    #[wasm_bindgen(js_name = isArray)]
    pub fn is_array(v: &JsValue) -> bool;
    /// `JsValue::is_object`, imported from the snippet (no glue).
    #[wasm_bindgen(js_name = isObject)]
    pub fn is_object(v: &JsValue) -> bool;
    /// `JsValue::is_undefined`, imported from the snippet (no glue).
    #[wasm_bindgen(js_name = isUndefined)]
    pub fn is_undefined(v: &JsValue) -> bool;
}

// A JavaScript built-in (declared here rather than linking js-sys: see Cargo.toml).
#[wasm_bindgen]
extern "C" {
    /// A JavaScript `Error`.
    pub type Error;
    /// `new Error(message)`.
    #[wasm_bindgen(constructor)]
    pub fn new(message: &str) -> Error;
}

/// The length of an array.
pub fn len(a: &JsValue) -> u32 {
    num(a, "length") as u32
}

/// `o[k]` as a number, or 0.
pub fn num(o: &JsValue, k: &str) -> f64 {
    get(o, k).as_f64().unwrap_or(0.0)
}

/// `o[k]` as a string, or empty.
pub fn string(o: &JsValue, k: &str) -> String {
    text(get(o, k))
}

// Strings come back from JavaScript as values, read with `as_string`: one conversion in the
// glue for all of them instead of one per import.
fn text(v: JsValue) -> String {
    v.as_string().unwrap_or_default()
}

// Numbers and values cross without glue (imported straight from the snippet); a `bool` or
// `u32` argument would need a conversion wrapper each, so those are passed as `i32`.

/// `location.href`, or `document.referrer`.
pub fn page_url(referrer: bool) -> String {
    text(page_url_js(referrer as i32))
}

/// `getItem` of the session record (`sessionStorage`, "ferrotel:session") or the persisted
/// retry queue (`localStorage`, "ferrotel:queue"); `None` when absent or storage is off.
pub fn store_get(session: bool) -> Option<String> {
    store_get_js(session as i32).as_string()
}

/// `setItem` (or `removeItem` for `None`) of the same items; nothing when storage refuses
/// (off, or full).
pub fn store_set(session: bool, value: Option<&str>) {
    store_set_js(session as i32, value)
}

/// Dispatches `code` after `ms`.
pub fn later(ms: u32, code: u32) {
    later_js(ms as i32, code as i32)
}

/// Dispatches `code` after the next frame was painted (two `requestAnimationFrame`s).
pub fn frames(code: u32) {
    frames_js(code as i32)
}

/// `a[i]` of an array.
pub fn at(a: &JsValue, i: u32) -> JsValue {
    at_js(a, i as i32)
}

/// `JSON.stringify` (or `String`) of a value: custom event names and nested attributes.
pub fn describe(v: &JsValue) -> String {
    text(describe_js(v))
}

/// The current JavaScript stack (for panics, which carry none of their own).
pub fn stack() -> String {
    text(stack_js())
}
