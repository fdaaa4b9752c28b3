//! Which browser engine runs `tests/web.rs`, for the few assertions that legitimately differ
//! between Chromium, Firefox and WebKit (`scripts/test-browsers.sh` runs the same built suite in
//! all three). Decide from what the page can do where possible (`supports_entry_type`), and from
//! the engine only where behaviour differs without a feature to test (stack formats).
//!
//! ```ignore
//! if engine::supports_entry_type("layout-shift") { /* assert CLS was recorded */ }
//! if engine::engine() == Engine::Firefox { /* Firefox's `fn@url:line:col` frames */ }
//! ```
#![allow(dead_code)]

use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

#[wasm_bindgen(inline_js = r#"
export function ftUserAgent() { return navigator.userAgent; }
export function ftSupportsEntryType(t) {
  const s = typeof PerformanceObserver !== "undefined" && PerformanceObserver.supportedEntryTypes;
  return !!s && s.includes(t);
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = ftUserAgent)]
    fn user_agent() -> String;
    #[wasm_bindgen(js_name = ftSupportsEntryType)]
    fn supports_entry_type_js(t: &str) -> bool;
}

/// A browser engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Chrome, Chromium, Edge (Blink).
    Chromium,
    /// Firefox (Gecko).
    Firefox,
    /// Safari, WebKitGTK's MiniBrowser (WebKit).
    WebKit,
    /// Anything else.
    Other,
}

impl Engine {
    /// The name `scripts/test-browsers.sh` uses: `chrome`, `firefox`, `webkit`.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Chromium => "chrome",
            Engine::Firefox => "firefox",
            Engine::WebKit => "webkit",
            Engine::Other => "other",
        }
    }
}

/// The engine running this page, from its user agent.
pub fn engine() -> Engine {
    let ua = user_agent();
    if ua.contains("Firefox/") {
        Engine::Firefox
    } else if ua.contains("Chrome/") || ua.contains("Chromium/") {
        Engine::Chromium
    } else if ua.contains("AppleWebKit/") {
        Engine::WebKit
    } else {
        Engine::Other
    }
}

/// Whether `PerformanceObserver` can observe this entry type here (`layout-shift`,
/// `largest-contentful-paint`, `event`, `longtask` are Chromium-only or not everywhere).
pub fn supports_entry_type(ty: &str) -> bool {
    supports_entry_type_js(ty)
}

/// Names the engine in the test output (`scripts/test-browsers.sh` checks it matches the one it
/// asked for, so a misconfigured driver cannot quietly run one engine three times).
#[wasm_bindgen_test]
fn engine_is_known() {
    let e = engine();
    console_log!("ferrotel-test-engine: {} ({})", e.name(), user_agent());
    assert_ne!(e, Engine::Other, "unknown engine: {}", user_agent());
}
