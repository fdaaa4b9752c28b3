//! Listeners and observers: each reads what a browser object says and hands it to the core as
//! a fact, nothing more. Installed once per page; a fact for a stopped SDK is dropped.

use std::sync::atomic::{AtomicBool, Ordering};

use wasm_bindgen::prelude::*;

use super::{js, with, with_at};
use crate::core::bytes::cut;
use crate::core::event::{ErrorSource, ViewCause};
use crate::core::json::push_u64;
use crate::core::scrub::describe_non_error;
use crate::core::sdk::{nav, NavEntry};

static INSTALLED: AtomicBool = AtomicBool::new(false);

pub(super) use code::TIMER;

/// What a call from the page side is about (glue.js has the same numbers: tests/glue.rs).
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
    pub const CLICK: u32 = 19;
}

/// The navigation entry's `type` (`navigate` when the browser has none).
pub fn navigation_type() -> String {
    js::text(js::NAV_TYPE).unwrap_or_else(|| "navigate".into())
}

/// Reads the navigation timing entry (if the browser has one) into the core.
pub fn report_navigation() {
    let Some(navigation_type) = js::text(js::NAV_TYPE) else {
        return;
    };
    let mut entry = NavEntry {
        navigation_type,
        n: [0.0; nav::COUNT],
    };
    for (i, v) in entry.n.iter_mut().enumerate() {
        *v = js::num(js::NAV + i as i32);
    }
    with(|s, now| s.navigation(&entry, now));
}

/// The one entry point from the page side (glue.js `event` and `click`): `code`, what the page
/// side read from the event as numbers (`a`, `b`, `c`; by code, below), its time `t`, and its
/// strings in `A` ([`js::arg`]). Not part of the API.
#[wasm_bindgen(js_name = __ferrotel_event)]
pub fn event(code: u32, a: f64, b: f64, c: f64, t: f64) {
    match code {
        // `a`, `b`: the pointer's position; the page side kept `selector \0 tag \0 text`, at
        // most `c` bytes (one call back fewer on the hot path).
        code::CLICK => on_click(
            js::take(c as i32).unwrap_or_default(),
            a as i32,
            b as i32,
            t,
        ),
        code::LOAD => js::later(0, code::AFTER_LOAD), // loadEventEnd is set after load handlers
        code::AFTER_LOAD => report_navigation(),
        // `a`: visible; `b` (and `a` for pagehide): `performance.interactionCount`.
        code::VISIBILITY => {
            with_at(t, |s, now| s.visibility(a == 1.0, b as u32, now));
        }
        code::PAGEHIDE => {
            with_at(t, |s, now| s.page_hide(a as u32, now));
        }
        // `a`: persisted, `b`: visible; `A`: the URL.
        code::PAGESHOW => {
            let url = js::arg(0).unwrap_or_default();
            with_at(t, |s, now| s.page_show(a == 1.0, b == 1.0, &url, now));
            if a == 1.0 {
                js::frames(code::RESTORE_PAINT);
            }
        }
        code::RESTORE_PAINT => {
            with_at(t, |s, now| s.restore_painted(now));
        }
        // `A`: the URL.
        code::POPSTATE | code::ROUTE => {
            let url = js::arg(0).unwrap_or_default();
            let cause = if code == code::ROUTE {
                ViewCause::Route
            } else {
                ViewCause::Pop
            };
            with_at(t, |s, now| s.route(&url, cause, now));
        }
        // One performance entry: `a` startTime, `b` value (layout shift) or duration, `c`
        // interactionId (event timing) or hadRecentInput (layout shift). Paint entries come
        // only for first-contentful-paint.
        code::PAINT => {
            with_at(t, |s, now| s.fcp(a, now));
        }
        code::LCP => {
            with_at(t, |s, _| s.lcp(a));
        }
        code::LAYOUT_SHIFT => {
            with_at(t, |s, _| s.layout_shift(b, a, c == 1.0));
        }
        code::EVENT_TIMING => {
            with_at(t, |s, _| s.event_timing(c as u64, b));
        }
        code::LONG_TASK => {
            with_at(t, |s, now| s.long_task(a, b, now));
        }
        code::KEYDOWN => {
            with_at(t, |s, now| s.key(now));
        }
        code::ERROR | code::REJECTION => report(code == code::ERROR, a, b, t),
        code::TIMER => {
            with_at(t, |s, now| s.timer(now));
        }
        // `a` token, `b` status; `A`: Retry-After.
        code::FETCH_DONE => {
            let retry_after = js::arg(0);
            with_at(t, |s, now| {
                s.transport(a as u32, b as u16, retry_after.as_deref(), now)
            });
        }
        _ => {}
    }
}

/// Reports a thrown value (from an `ErrorEvent`, `event`) or a rejection reason (not). `A`:
/// the value's shape (none for an `Error`), name, message and stack, then the event's message
/// and file; `line`, `column` the event's. An `Error` (anything with a `stack` or a `message`)
/// gives its own name, message and stack; any other value is described by its type and keys
/// only, never its values ([`describe_non_error`]).
fn report(event: bool, line: f64, column: f64, t: f64) {
    let rejection = !event;
    let s = |i| js::arg(i).unwrap_or_default();
    let (kind, mut message, mut stack) = match js::arg(0) {
        None => (s(1), s(2), s(3)),
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
    if event {
        if message.is_empty() {
            // No value (a cross-origin script's "Script error.", a synthetic event) or an Error
            // without a message: the event's own message. Never for other thrown values, where
            // it holds the value ("Uncaught s3cret").
            message = s(4);
            if message.is_empty() && stack.is_empty() {
                return;
            }
        }
        let file = s(5);
        if stack.is_empty() && !file.is_empty() {
            stack = file;
            stack.push(':');
            push_u64(&mut stack, line as u64);
            stack.push(':');
            push_u64(&mut stack, column as u64);
        }
    }
    let source = if rejection {
        ErrorSource::Rejection
    } else {
        ErrorSource::Error
    };
    with_at(t, |s, now| s.error(source, &kind, &message, &stack, now));
}

/// A click: `parts` (`selector \0 tag \0 text`) and the pointer's position, plain values from
/// the JavaScript DOM walk.
fn on_click(parts: String, x: i32, y: i32, t: f64) {
    // `selector \0 tag \0 text`: only the text can hold a NUL worth keeping.
    let (selector, rest) = cut(&parts, 0).unwrap_or((&parts, ""));
    let (tag, text) = cut(rest, 0).unwrap_or((rest, ""));
    // `t` is the event's `timeStamp`, on the `performance.now()` clock in every engine the
    // package supports (wasm and ES modules both came later than that change).
    with_at(t, |s, now| s.click(selector, tag, text, x, y, now));
}

/// Attaches every listener and observer, once per page.
pub fn install() {
    if INSTALLED.swap(true, Ordering::Relaxed) {
        return;
    }
    let complete = js::num(js::LOADED) == 1.0;
    super::install_panic_hook();
    js::install();
    // After the observers are attached: their first (buffered) entries arrive in a later task.
    if complete {
        report_navigation();
    }
}
