//! Listeners and observers: each reads what a browser object says and hands it to the core as
//! a fact, nothing more. Installed once per page; a fact for a stopped SDK is dropped.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{js, with, with_at};
use crate::core::bytes::cut;
use crate::core::event::{ErrorSource, ViewCause};
use crate::core::sdk::NavEntry;

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
    // The npm entry's API (glue.js `api`).
    pub const FLUSH: u32 = 20;
    pub const CONSENT: u32 = 21;
    pub const SESSION_ID: u32 = 22;
    pub const TRACK: u32 = 23;
    pub const STAT: u32 = 24;
    pub const START: u32 = 25;
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
    let entry = NavEntry {
        navigation_type,
        json: js::text(js::NAV_JSON).unwrap_or_default(),
        activation_start: js::num(js::NAV),
        response_start: js::num(js::NAV + 1),
    };
    with(|s, now| s.navigation(&entry, now));
}

/// The one entry point from the page side (glue.js `event` and `click`): `code`, what the page
/// side read from the event as numbers (`a`, `b`, `c`; by code, below), its time `t`, and its
/// strings in `A` ([`js::arg`]). Not part of the API. One call into the core for every code
/// (one borrow of the SDK, one [`super::perform`]).
// A plain export, not a wasm-bindgen one: it takes and returns numbers only, so it needs no
// wrapper (README "Size and speed").
#[unsafe(no_mangle)]
pub extern "C" fn __ferrotel_event(code: u32, a: f64, b: f64, c: f64, t: f64) -> f64 {
    match code {
        code::LOAD => js::later(0, code::AFTER_LOAD), // loadEventEnd is set after load handlers
        code::AFTER_LOAD => report_navigation(),
        // Delivery and capture counter `a`, in the order of the fields of
        // [`crate::core::sdk::Stats`]; -1 when not running. The npm entry names them.
        code::STAT => {
            return super::enter()
                .and_then(|s| s.stats().get(a as usize))
                .map_or(-1.0, f64::from)
        }
        // `a` entries of options in `A`; 1 when it started.
        code::START => return super::api::start_laid_out(a as i32) as u8 as f64,
        _ => fact(code, a, b, c, t),
    }
    0.0
}

/// A fact for the core, by `code` ([`__ferrotel_event`]).
fn fact(code: u32, a: f64, b: f64, c: f64, t: f64) {
    // The click's `selector \0 tag \0 text`, at most `c` bytes, which the page side kept (one
    // call back fewer on the hot path); else `A[0]`: a URL or an error's type.
    let text = if code == code::CLICK {
        js::take(c as i32)
    } else {
        js::arg(0)
    }
    .unwrap_or_default();
    // An error's message and stack: glue.js `event` has described the thrown value.
    let (message, stack) = if code == code::ERROR || code == code::REJECTION {
        (js::arg(1), js::arg(2))
    } else {
        (None, None)
    };
    // A custom event's attributes (`a` entries in `A`, its name first); the session record.
    let attrs = if code == code::TRACK {
        super::api::attrs(a as i32)
    } else {
        Vec::new()
    };
    let stored = if code == code::SESSION_ID {
        super::store_get(super::SESSION)
    } else {
        None
    };
    with_at(t, |s, now| match code {
        // `a`, `b`: the pointer's position. Only the text can hold a NUL worth keeping. `t` is
        // the event's `timeStamp`, on the `performance.now()` clock in every engine the package
        // supports (wasm and ES modules both came later than that change).
        code::CLICK => {
            let (selector, rest) = cut(&text, 0).unwrap_or((&text, ""));
            let (tag, text) = cut(rest, 0).unwrap_or((rest, ""));
            s.click(selector, tag, text, a as i32, b as i32, now)
        }
        // `a`: visible; `b` (and `a` for pagehide): `performance.interactionCount`.
        code::VISIBILITY => s.visibility(a == 1.0, b as u32, now),
        code::PAGEHIDE => s.page_hide(a as u32, now),
        // `a`: persisted, `b`: visible.
        code::PAGESHOW => s.page_show(a == 1.0, b == 1.0, &text, now),
        code::RESTORE_PAINT => s.restore_painted(now),
        code::POPSTATE => s.route(&text, ViewCause::Pop, now),
        code::ROUTE => s.route(&text, ViewCause::Route, now),
        // One performance entry: `a` startTime, `b` value (layout shift) or duration, `c`
        // interactionId (event timing) or hadRecentInput (layout shift). Paint entries come
        // only for first-contentful-paint.
        code::PAINT => s.fcp(a, now),
        code::LCP => s.lcp(a),
        code::LAYOUT_SHIFT => s.layout_shift(b, a, c == 1.0),
        code::EVENT_TIMING => s.event_timing(c as u64, b),
        code::LONG_TASK => s.long_task(a, b, now),
        code::KEYDOWN => s.key(now),
        code::ERROR | code::REJECTION => {
            let source = if code == code::ERROR {
                ErrorSource::Error
            } else {
                ErrorSource::Rejection
            };
            let (m, st) = (message.unwrap_or_default(), stack.unwrap_or_default());
            s.error(source, &text, &m, &st, now);
        }
        code::TIMER => s.timer(now),
        // `a` token, `b` status, `c` Retry-After as a number (-1 when absent).
        code::FETCH_DONE => s.transport(a as u32, b as u16, c, now),
        // The npm entry's API: `a` is granted (consent) or the number of entries in `A`
        // (track). The session id goes to the `RESULT` slot, resolved now if it was not yet.
        code::FLUSH => s.flush(now),
        code::CONSENT => s.set_consent(a == 1.0, now),
        code::TRACK => {
            s.track(&text, attrs, now);
        }
        code::SESSION_ID => {
            s.session_read(stored.as_deref(), now); // a no-op once known
            js::set(js::RESULT, s.session_id());
        }
        _ => {}
    });
    if code == code::PAGESHOW && a == 1.0 {
        js::frames(code::RESTORE_PAINT);
    }
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
