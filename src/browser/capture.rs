//! Listeners and observers: each reads what a browser object says and hands it to the core as
//! a fact, nothing more. Installed once per page; a fact for a stopped SDK is dropped.

use std::sync::atomic::{AtomicBool, Ordering};

use wasm_bindgen::prelude::*;

use super::{js, with, with_at};
use crate::core::event::{ErrorSource, ViewCause};
use crate::core::json::push_u64;
use crate::core::scrub::{describe_non_error, NON_ERROR_KEYS};
use crate::core::sdk::NavEntry;

static INSTALLED: AtomicBool = AtomicBool::new(false);

pub(super) use code::{FETCH_DONE, TIMER};

/// What a dispatch from JavaScript is about (`install` in js.rs uses these numbers).
mod code {
    pub const KEYDOWN: u32 = 1;
    pub const ERROR: u32 = 2;
    pub const REJECTION: u32 = 3;
    pub const VISIBILITY: u32 = 4;
    pub const PAGEHIDE: u32 = 5;
    pub const PAGESHOW: u32 = 6;
    pub const POPSTATE: u32 = 7;
    pub const ROUTE: u32 = 8;
    pub const LOAD: u32 = 9;
    pub const AFTER_LOAD: u32 = 10;
    pub const PAINT: u32 = 11;
    pub const LCP: u32 = 12;
    pub const LAYOUT_SHIFT: u32 = 13;
    pub const EVENT_TIMING: u32 = 14;
    pub const LONG_TASK: u32 = 15;
    pub const FETCH_DONE: u32 = 16;
    pub const TIMER: u32 = 17;
    pub const RESTORE_PAINT: u32 = 18;
}

/// The navigation entry's `type` (`navigate` when the browser has none).
pub fn navigation_type() -> String {
    let t = js::string(&js::nav_entry(), "type");
    if t.is_empty() {
        "navigate".into()
    } else {
        t
    }
}

/// Reads the navigation timing entry (if the browser has one) into the core.
pub fn report_navigation() {
    let e = js::nav_entry();
    if js::is_undefined(&e) {
        return;
    }
    let n = |k: &str| js::num(&e, k);
    let entry = NavEntry {
        navigation_type: js::string(&e, "type"),
        activation_start: n("activationStart"),
        domain_lookup_start: n("domainLookupStart"),
        domain_lookup_end: n("domainLookupEnd"),
        connect_start: n("connectStart"),
        connect_end: n("connectEnd"),
        secure_connection_start: n("secureConnectionStart"),
        request_start: n("requestStart"),
        response_start: n("responseStart"),
        response_end: n("responseEnd"),
        dom_interactive: n("domInteractive"),
        dom_content_loaded_event_end: n("domContentLoadedEventEnd"),
        load_event_end: n("loadEventEnd"),
        transfer_size: n("transferSize"),
    };
    with(|s, now| s.navigation(&entry, now));
}

/// The one entry point for everything but clicks.
fn dispatch(code: u32, arg: JsValue, t: f64) {
    match code {
        code::LOAD => js::later(0, code::AFTER_LOAD), // loadEventEnd is set after load handlers
        code::AFTER_LOAD => report_navigation(),
        code::VISIBILITY => {
            let visible = arg.as_bool().unwrap_or_else(js::visible);
            let count = js::interaction_count() as u32;
            with_at(t, |s, now| s.visibility(visible, count, now));
        }
        code::PAGEHIDE => {
            let count = js::interaction_count() as u32;
            with_at(t, |s, now| s.page_hide(count, now));
        }
        code::PAGESHOW => {
            let persisted = js::get(&arg, "persisted").as_bool().unwrap_or(false);
            let (visible, url) = (js::visible(), js::page_url(false));
            with_at(t, |s, now| s.page_show(persisted, visible, &url, now));
            if persisted {
                js::frames(code::RESTORE_PAINT);
            }
        }
        code::RESTORE_PAINT => {
            with_at(t, |s, now| s.restore_painted(now));
        }
        code::POPSTATE | code::ROUTE => {
            let url = arg.as_string().unwrap_or_else(|| js::page_url(false));
            let cause = if code == code::ROUTE {
                ViewCause::Route
            } else {
                ViewCause::Pop
            };
            with_at(t, |s, now| s.route(&url, cause, now));
        }
        code::PAINT | code::LCP | code::LAYOUT_SHIFT | code::EVENT_TIMING | code::LONG_TASK => {
            with_at(t, |s, now| {
                for i in 0..js::len(&arg) {
                    let e = js::at(&arg, i);
                    let start = js::num(&e, "startTime");
                    match code {
                        code::PAINT => {
                            if js::string(&e, "name") == "first-contentful-paint" {
                                s.fcp(start, now);
                            }
                        }
                        code::LCP => s.lcp(start),
                        code::LAYOUT_SHIFT => s.layout_shift(
                            js::num(&e, "value"),
                            start,
                            js::get(&e, "hadRecentInput").as_bool().unwrap_or(false),
                        ),
                        code::EVENT_TIMING => s.event_timing(
                            js::num(&e, "interactionId") as u64,
                            js::num(&e, "duration"),
                        ),
                        _ => s.long_task(start, js::num(&e, "duration"), now),
                    }
                }
            });
        }
        code::KEYDOWN => {
            with_at(t, |s, now| s.key(now));
        }
        // An `ErrorEvent` (resource load errors, plain `Event`s without a message, are ignored).
        code::ERROR => report(&js::get(&arg, "error"), Some(&arg), t),
        // A rejection: `reason` of a PromiseRejectionEvent.
        code::REJECTION if !js::is_undefined(&js::get(&arg, "promise")) => {
            report(&js::get(&arg, "reason"), None, t)
        }
        code::TIMER => {
            with_at(t, |s, now| s.timer(now));
        }
        code::FETCH_DONE => {
            let token = js::num(&arg, "t") as u32;
            let status = js::num(&arg, "s") as u16;
            let retry_after = js::get(&arg, "r").as_string();
            with_at(t, |s, now| {
                s.transport(token, status, retry_after.as_deref(), now)
            });
        }
        _ => {}
    }
}

/// Reports a thrown value (with its `ErrorEvent`) or a rejection reason (without). An `Error`
/// (anything with a `stack` or a `message`) gives its own name, message and stack; any other
/// value is described by its type and keys only, never its values ([`describe_non_error`]).
fn report(v: &JsValue, event: Option<&JsValue>, t: f64) {
    let rejection = event.is_none();
    let (kind, mut message, mut stack) = match js::shape(v, NON_ERROR_KEYS as i32).as_string() {
        None => (
            js::string(v, "name"),
            js::string(v, "message"),
            js::string(v, "stack"),
        ),
        // A thrown null or undefined: the event's own message (below) is harmless.
        Some(shape) if !rejection && (shape == "undefined" || shape == "null") => {
            Default::default()
        }
        Some(shape) => (
            if rejection { "UnhandledRejection" } else { "" }.into(),
            describe_non_error(rejection, &shape),
            String::new(),
        ),
    };
    if let Some(e) = event {
        if message.is_empty() {
            // No value (a cross-origin script's "Script error.", a synthetic event) or an Error
            // without a message: the event's own message. Never for other thrown values, where
            // it holds the value ("Uncaught s3cret").
            message = js::string(e, "message");
            if message.is_empty() && stack.is_empty() {
                return;
            }
        }
        let file = js::string(e, "filename");
        if stack.is_empty() && !file.is_empty() {
            stack = file;
            stack.push(':');
            push_u64(&mut stack, js::num(e, "lineno") as u64);
            stack.push(':');
            push_u64(&mut stack, js::num(e, "colno") as u64);
        }
    }
    let source = if rejection {
        ErrorSource::Rejection
    } else {
        ErrorSource::Error
    };
    with_at(t, |s, now| s.error(source, &kind, &message, &stack, now));
}

/// A click: `[parts, x, y]`, plain values from the JavaScript DOM walk.
fn on_click(parts: String, x: i32, y: i32, t: f64) {
    // `selector \0 tag \0 text`: only the text can hold a NUL worth keeping.
    let (selector, rest) = parts.split_once('\0').unwrap_or((&parts, ""));
    let (tag, text) = rest.split_once('\0').unwrap_or((rest, ""));
    // `t` is the event's `timeStamp`, on the `performance.now()` clock in every engine the
    // package supports (wasm and ES modules both came later than that change).
    with_at(t, |s, now| s.click(selector, tag, text, x, y, now));
}

/// Attaches every listener and observer, once per page.
pub fn install() {
    if INSTALLED.swap(true, Ordering::Relaxed) {
        return;
    }
    let complete = js::loaded();
    super::install_panic_hook();
    js::install(
        &Closure::<dyn FnMut(u32, JsValue, f64)>::new(dispatch).into_js_value(),
        &Closure::<dyn FnMut(String, i32, i32, f64)>::new(on_click).into_js_value(),
    );
    // After the observers are attached: their first (buffered) entries arrive in a later task.
    if complete {
        report_navigation();
    }
}
