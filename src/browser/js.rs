//! The few things that are smaller and safer in JavaScript than through generated glue: guarded
//! listeners (a failure inside the SDK must never surface in the host page), the history hook
//! (wrapping a host method) and feature-checked PerformanceObservers.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
export function listen(target, type, f, capture) {
  try {
    target.addEventListener(type, (e) => { try { f(e); } catch (_) { } }, { capture, passive: true });
  } catch (_) { }
}
export function hookHistory(f) {
  try {
    for (const m of ["pushState", "replaceState"]) {
      const orig = history[m];
      if (typeof orig !== "function" || orig.__ferrotel) continue;
      const wrapped = function () {
        const r = orig.apply(this, arguments);
        try { f(); } catch (_) { }
        return r;
      };
      wrapped.__ferrotel = true;
      history[m] = wrapped;
    }
  } catch (_) { }
}
export function observe(type, f, threshold) {
  try {
    const s = PerformanceObserver.supportedEntryTypes;
    if (!s || !s.includes(type)) return false;
    const o = new PerformanceObserver((l) => { try { f(l.getEntries()); } catch (_) { } });
    const opts = { type, buffered: true };
    if (threshold) opts.durationThreshold = threshold;
    o.observe(opts);
    return true;
  } catch (_) { return false; }
}
export function get(o, k) { try { return o == null ? undefined : o[k]; } catch (_) { return undefined; } }
export function describe(v) {
  try { return typeof v === "string" ? v : JSON.stringify(v) ?? String(v); } catch (_) { return String(v); }
}
export function beacon(url, body) {
  try { return navigator.sendBeacon(url, body); } catch (_) { return false; }
}
export function post(url, body, done) {
  try {
    fetch(url, { method: "POST", body, keepalive: body.length < 65000, credentials: "omit", mode: "cors" })
      .then((r) => done(r.status), () => done(0));
  } catch (_) { done(0); }
}
export function stack() { try { return new Error().stack || ""; } catch (_) { return ""; } }
export function randomSeed() {
  const a = new Uint32Array(4);
  try { crypto.getRandomValues(a); } catch (_) { for (let i = 0; i < 4; i++) a[i] = Math.random() * 4294967296; }
  return a;
}
"#)]
extern "C" {
    /// `target.addEventListener(type, guarded f, {capture, passive: true})`.
    pub fn listen(target: &JsValue, ty: &str, f: &JsValue, capture: bool);
    /// Calls `f` after every `history.pushState` / `replaceState` (idempotent).
    #[wasm_bindgen(js_name = hookHistory)]
    pub fn hook_history(f: &JsValue);
    /// Observes a performance entry type with `buffered: true` if the browser supports it;
    /// `f` receives an array of entries. Returns whether it is observed.
    pub fn observe(ty: &str, f: &JsValue, duration_threshold: u32) -> bool;
    /// `o[k]`, never throwing (getters on hostile objects can).
    pub fn get(o: &JsValue, k: &str) -> JsValue;
    /// A string for any thrown value (rejections need not be Errors).
    pub fn describe(v: &JsValue) -> String;
    /// `navigator.sendBeacon(url, body)` (a string body goes as `text/plain;charset=UTF-8`, so no
    /// CORS preflight); false when refused or unavailable.
    pub fn beacon(url: &str, body: &str) -> bool;
    /// `fetch(url, {method: "POST", keepalive})`, then `done(status)`, with 0 for a network error.
    pub fn post(url: &str, body: &str, done: &JsValue);
    /// The current JavaScript stack (for panics, which carry none of their own).
    pub fn stack() -> String;
    /// 16 random bytes as four u32s (crypto when available).
    #[wasm_bindgen(js_name = randomSeed)]
    pub fn random_seed() -> Vec<u32>;
}

/// `o[k]` as a number, or 0.
pub fn num(o: &JsValue, k: &str) -> f64 {
    get(o, k).as_f64().unwrap_or(0.0)
}

/// `o[k]` as a string, or empty.
pub fn string(o: &JsValue, k: &str) -> String {
    get(o, k).as_string().unwrap_or_default()
}
