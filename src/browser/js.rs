//! The JavaScript side of the SDK, kept to what is smaller or faster there:
//!
//! * every listener, observer and fetch callback enters Rust through one export,
//!   [`crate::browser::capture::__ferrotel_event`], with a numeric code and what the page side already
//!   read from the event as numbers (strings beside them, see below), each call guarded so that a
//!   failure inside the SDK never surfaces in the host page. No Rust closure is handed to
//!   JavaScript: the page side calls the module's exports, which Rust gives it ([`bind`]);
//! * the click path: walking the DOM for a selector is nothing but boundary crossings, so it
//!   runs here and enters Rust once per click with plain values (masking, truncation, encoding
//!   and batching stay in Rust). It reads no layout, no storage and never an input's value;
//! * the history hook (wrapping a host method) and feature-checked PerformanceObservers.
//!
//! That JavaScript is a real module, `src/browser/glue.js` (linted by eslint, and its dispatch
//! codes checked against `capture::code` by tests/glue.rs); this file declares its imports.
//!
//! The imports take and return numbers only, so wasm-bindgen imports them straight from the
//! module with no glue of its own. A few wide ones ([`num`], [`text`]: "read this fact") stand
//! for a dozen narrow ones. Strings cross as UTF-8 in the module's memory: out of Rust as
//! `(pointer, length)`, which the page side decodes; into Rust as the most bytes it can take,
//! returned by the import that read it, after which Rust allocates that much and `copy` writes
//! it there ([`take`]). README "Size and speed" has what this saves over wasm-bindgen's own string glue.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/browser/glue.js")]
extern "C" {
    /// Hands the module's exports (its memory, and `__ferrotel_event`) to the page side.
    #[wasm_bindgen(js_name = bind)]
    fn bind_js(exports: &JsValue);
    /// Attaches every listener and observer (once per page; the npm entry attached the
    /// listeners before the module ran) and hands over, in order, what they kept meanwhile.
    pub fn install();
    /// A number read from the page: one of the constants below; `!i` (negative) is `A[i]`, the
    /// arguments of the current call into Rust from the page side, as a number.
    #[wasm_bindgen(js_name = num)]
    fn num_js(which: i32) -> f64;
    /// A string read from the page (one of the constants below; `!i` is `A[i]`): keeps it and
    /// returns the most UTF-8 bytes it can take (3 per UTF-16 unit), or -1 when there is none.
    #[wasm_bindgen(js_name = text)]
    fn text_js(which: i32) -> i32;
    /// Lays out an `init` options object in `A` as the npm entry does (`api::start` from Rust).
    pub fn options(o: &JsValue) -> i32;
    /// Writes the string the last `text` kept to `p` as UTF-8 (at most as many bytes as it
    /// said); returns how many it wrote.
    fn copy(p: i32) -> i32;
    /// A string out of Rust (UTF-8 at `p`, `n` bytes) to one of the slots below.
    #[wasm_bindgen(js_name = set)]
    fn set_js(slot: i32, p: i32, n: i32);
    /// `navigator.sendBeacon(endpoint, body)` (`how` 0; true when the browser took it) or
    /// `fetch(endpoint, {method: "POST", keepalive: how == 2})`, after which `FETCH_DONE` is
    /// dispatched with the token, the status (0 for a network error) and Retry-After (as a number).
    #[wasm_bindgen(js_name = send)]
    fn send_js(p: i32, n: i32, token: f64, how: i32) -> bool;
    /// Dispatches `code` after `ms`, or after the next frame was painted (`ms` < 0).
    #[wasm_bindgen(js_name = later)]
    fn later_js(code: i32, ms: i32);
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

// What `num` reads (glue.js `NUMS`, then the navigation entry's numbers from `NAV`).
/// `performance.now()`.
pub const NOW: i32 = 0;
/// When capture started, on the `performance.now()` clock (now, if it has not).
pub const SINCE: i32 = 1;
/// `Date.now()`.
pub const WALL: i32 = 2;
/// The document is not hidden (1 or 0).
pub const VISIBLE: i32 = 3;
/// `document.readyState == "complete"`.
pub const LOADED: i32 = 4;
/// Do-Not-Track or Global Privacy Control is on.
pub const PRIVACY: i32 = 5;
/// 32 random bits (crypto when available).
pub const RANDOM: i32 = 6;
/// The navigation entry's `activationStart`, then (`+ 1`) its `responseStart` (0 when there
/// is no entry).
pub const NAV: i32 = 8;

// What `text` reads (0 is `location.href`, which glue.js reads itself).
/// `document.referrer`.
pub const REFERRER: i32 = 1;
/// `location.href` when capture started (the npm entry attaches the listeners before the
/// module runs).
pub const START_URL: i32 = 2;
/// The navigation entry's `type`; none when the browser has no entry.
pub const NAV_TYPE: i32 = 3;
/// The current JavaScript stack (for panics, which carry none of their own).
pub const STACK: i32 = 4;
/// The navigation entry as JSON text: its numbers and `type` (`core::nav` reads it at the edge);
/// none when the browser has no entry.
pub const NAV_JSON: i32 = 7;
/// The persisted retry queue (`+ 0`: the values of the `localStorage` items "ferrotel:q:<id>"
/// in key order, joined by newlines) or the session record (`+ 1`: `sessionStorage`
/// "ferrotel:session"); none when absent or storage is off.
pub const STORED: i32 = 5;

// Where `set` puts a string.
/// Where `send` sends.
pub const ENDPOINT: i32 = 0;
/// A result for the npm entry (the session id, a bad option's message).
pub const RESULT: i32 = 1;
/// A change to the persisted retry queue (`+ 0`, a [`crate::core::sdk::StoreOp`]) or `setItem` of
/// the session record (`+ 1`); nothing when storage refuses.
pub const STORE: i32 = 2;

/// Hands the module's exports to the page side: before anything else crosses.
pub fn bind() {
    bind_js(&wasm_bindgen::exports());
}

/// A number read from the page ([`NOW`], [`VISIBLE`], ...).
pub fn num(which: i32) -> f64 {
    num_js(which)
}

/// `performance.now()`.
pub fn perf_now() -> f64 {
    num_js(NOW)
}

/// A string read from the page ([`URL`], [`STORED`], ...).
pub fn text(which: i32) -> Option<String> {
    take(text_js(which))
}

/// `A[i]` of the current call into Rust, if a string.
pub fn arg(i: i32) -> Option<String> {
    take(text_js(!i))
}

/// `A[i]` of the current call into Rust as a number (true is 1).
pub fn arg_num(i: i32) -> f64 {
    num_js(!i)
}

/// A string the page side kept: `max` is what its import (or the call into Rust) said (-1:
/// none).
#[inline(never)]
pub fn take(max: i32) -> Option<String> {
    let max = usize::try_from(max).ok()?;
    let mut v = Vec::<u8>::with_capacity(max);
    if max > 0 {
        let n = (copy(v.as_mut_ptr() as i32) as usize).min(max);
        // SAFETY: `copy` wrote `n` bytes there, within the capacity it asked for.
        unsafe { v.set_len(n) };
    }
    // SAFETY: the page side writes UTF-8 (ASCII as is, the rest by TextEncoder, which turns
    // lone surrogates into U+FFFD).
    Some(unsafe { String::from_utf8_unchecked(v) })
}

/// A string out of Rust to `slot` ([`ENDPOINT`], [`RESULT`], [`STORE`]); `None` removes the
/// stored item.
pub fn set(slot: i32, s: Option<&str>) {
    match s {
        Some(s) => set_js(slot, s.as_ptr() as i32, s.len() as i32),
        None => set_js(slot, 0, -1),
    }
}

/// `body` to the endpoint: `navigator.sendBeacon` (`how` 0; false when refused or unavailable)
/// or `fetch` (`how` 1, 2 with keepalive), then `FETCH_DONE` with `token`.
pub fn send(body: &str, token: u32, how: i32) -> bool {
    // Any u32 token: an i32 would come back negative.
    send_js(body.as_ptr() as i32, body.len() as i32, token as f64, how)
}

/// Dispatches `code` after `ms`.
pub fn later(ms: u32, code: u32) {
    later_js(code as i32, ms as i32)
}

/// Dispatches `code` after the next frame was painted (two `requestAnimationFrame`s).
pub fn frames(code: u32) {
    later_js(code as i32, -1)
}
