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
//!
//! That JavaScript is a real module, `src/browser/glue.js` (linted by eslint, and its dispatch
//! codes checked against `capture::code` by tests/glue.rs); this file declares its imports.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/browser/glue.js")]
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
    /// `location.href` (0), `document.referrer` (1), or `location.href` when capture started
    /// (2: the npm entry attaches the listeners before the module runs).
    #[wasm_bindgen(js_name = pageUrl)]
    fn page_url_js(which: i32) -> JsValue;
    /// When capture started, on the `performance.now()` clock (now, if it has not).
    pub fn since() -> f64;
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

/// `location.href` when capture started (now, if it has not).
pub fn start_url() -> String {
    text(page_url_js(2))
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
