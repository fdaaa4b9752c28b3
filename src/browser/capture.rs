//! Listeners and observers: each translates a browser object into a core event and nothing
//! more. Installed once per page; each checks the running config when it fires.

use std::sync::atomic::{AtomicBool, Ordering};

use wasm_bindgen::prelude::*;

use super::{js, perf_now, with, Sdk};
use crate::core::event::{limits, ErrorSource, EventKind, NavTiming, ViewCause};
use crate::core::ids::{is_hex, push_hex64, IdGen};
use crate::core::json::push_u64;
use crate::core::scrub::{mask_text, truncate_in_place};
use crate::core::vitals::{Cls, Inp, Metric};

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Sessions end after this long without a flush (the usual analytics convention).
const SESSION_IDLE_MS: u64 = 30 * 60 * 1000;
const SESSION_KEY: &str = "ferrotel:session";

/// Web-vitals state for this page load.
pub struct Vitals {
    /// `performance.now()` when the page was first hidden (FCP/LCP after that do not count).
    pub first_hidden: f64,
    fcp_done: bool,
    lcp: f64,
    lcp_done: bool,
    cls: Cls,
    cls_reported: f64,
    inp: Inp,
    inp_reported: f64,
    nav_done: bool,
    navigation_type: String,
}

impl Vitals {
    pub fn new() -> Vitals {
        Vitals {
            first_hidden: f64::INFINITY,
            fcp_done: false,
            lcp: 0.0,
            lcp_done: false,
            cls: Cls::default(),
            cls_reported: -1.0,
            inp: Inp::default(),
            inp_reported: 0.0,
            nav_done: false,
            navigation_type: navigation_type(),
        }
    }
}

fn navigation_entry() -> JsValue {
    js::nav_entry()
}

fn navigation_type() -> String {
    let t = js::string(&navigation_entry(), "type");
    if t.is_empty() {
        "navigate".into()
    } else {
        t
    }
}

/// Do-Not-Track or Global Privacy Control is on.
pub fn do_not_track() -> bool {
    js::privacy_signal()
}

/// Whether the document is visible now.
pub fn page_visible() -> bool {
    js::visible()
}

/// The session id: reused from sessionStorage while the tab was active in the last 30 minutes,
/// otherwise new. Storage that is off just means a new session per load.
pub fn session(ids: &mut IdGen, now: u64) -> String {
    if let Some(v) = js::store_get(true, SESSION_KEY) {
        if let Some((id, last)) = v.split_once('|') {
            if id.len() == 32
                && is_hex(id)
                && last
                    .parse::<u64>()
                    .is_ok_and(|l| now.saturating_sub(l) < SESSION_IDLE_MS)
            {
                let id = id.to_owned();
                touch_session(&id, now);
                return id;
            }
        }
    }
    let mut id = String::with_capacity(32);
    push_hex64(&mut id, ids.next_u64());
    push_hex64(&mut id, ids.next_u64());
    touch_session(&id, now);
    id
}

/// Marks the session active (called on flush, never on the click path).
pub fn touch_session(id: &str, now: u64) {
    let mut v = String::with_capacity(48);
    v.push_str(id);
    v.push('|');
    push_u64(&mut v, now);
    js::store_set(true, SESSION_KEY, Some(v));
}

pub(super) use code::{FETCH_DONE, FLUSH, RETRY, SESSION};

/// What a dispatch from JavaScript is about.
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
    pub const FLUSH: u32 = 17;
    pub const RETRY: u32 = 18;
    pub const SESSION: u32 = 19;
}

/// The one entry point for everything but clicks.
fn dispatch(code: u32, arg: JsValue) {
    match code {
        code::LOAD => js::later(0, code::AFTER_LOAD), // loadEventEnd is set after load handlers
        code::VISIBILITY => {
            let visible = page_visible();
            with(|s| {
                if visible {
                    s.on_visible()
                } else {
                    s.on_hidden()
                }
            });
        }
        code::PAINT | code::LCP | code::LAYOUT_SHIFT | code::EVENT_TIMING | code::LONG_TASK => {
            with(|s| {
                if s.cfg.capture_performance {
                    for e in js_sys::Array::from(&arg).iter() {
                        s.on_entry(code, &e);
                    }
                }
            });
        }
        _ => {
            with(|s| match code {
                code::KEYDOWN => s.finalize_lcp(),
                code::ERROR => s.on_error(&arg),
                code::REJECTION => s.on_rejection(&arg),
                code::PAGEHIDE => s.on_hidden(),
                code::PAGESHOW if page_visible() => s.on_visible(),
                code::POPSTATE => s.on_route_change(ViewCause::Pop),
                code::ROUTE => s.on_route_change(ViewCause::Route),
                code::AFTER_LOAD => s.report_navigation(),
                code::FLUSH => s.flush(),
                code::RETRY => s.retry_due(),
                code::SESSION => {
                    s.session();
                }
                code::FETCH_DONE => {
                    let n = arg.as_f64().unwrap_or(0.0) as u64;
                    s.on_post_done((n / 1000) as u32, (n % 1000) as u32);
                }
                _ => {}
            });
        }
    }
}

/// The click path's entry: plain values from the JavaScript DOM walk.
fn on_click(parts: String, x: i32, y: i32) {
    // `selector \0 tag \0 text`: none of the three can hold a NUL worth keeping.
    let mut it = parts.splitn(3, '\0');
    let (selector, tag, text) = (
        it.next().unwrap_or(""),
        it.next().unwrap_or(""),
        it.next().unwrap_or(""),
    );
    with(|s| s.on_click(selector.into(), tag.into(), text, x, y));
}

/// Attaches every listener and observer, once per page.
pub fn install() {
    if INSTALLED.swap(true, Ordering::Relaxed) {
        return;
    }
    let complete = js::loaded();
    super::install_panic_hook();
    js::set_handlers(
        &Closure::<dyn FnMut(u32, JsValue)>::new(dispatch).into_js_value(),
        &Closure::<dyn FnMut(String, i32, i32)>::new(on_click).into_js_value(),
    );
    js::listen_clicks();
    js::listen(true, "keydown", code::KEYDOWN, true);
    js::listen(false, "error", code::ERROR, true);
    js::listen(false, "unhandledrejection", code::REJECTION, false);
    js::listen(true, "visibilitychange", code::VISIBILITY, true);
    js::listen(false, "pagehide", code::PAGEHIDE, true);
    js::listen(false, "pageshow", code::PAGESHOW, true);
    js::listen(false, "popstate", code::POPSTATE, false);
    js::listen(false, "load", code::LOAD, false);
    js::hook_history(code::ROUTE);
    if complete {
        with(|s| s.report_navigation());
    }
    js::observe("paint", code::PAINT, 0);
    js::observe("largest-contentful-paint", code::LCP, 0);
    js::observe("layout-shift", code::LAYOUT_SHIFT, 0);
    js::observe("event", code::EVENT_TIMING, 40);
    js::observe("first-input", code::EVENT_TIMING, 0);
    js::observe("longtask", code::LONG_TASK, 0);
}

impl Sdk {
    /// The hot path: no layout, no storage, no sending (unless this event completes a batch).
    fn on_click(&mut self, selector: String, tag: String, text: &str, x: i32, y: i32) {
        if !self.vitals.lcp_done {
            self.finalize_lcp();
        }
        if !self.cfg.capture_clicks || !self.sampled {
            return;
        }
        let mut selector = selector;
        truncate_in_place(&mut selector, limits::SELECTOR);
        let text = if self.cfg.capture_text && !text.is_empty() {
            let mut t = mask_text(text);
            truncate_in_place(&mut t, limits::TEXT);
            t
        } else {
            String::new()
        };
        self.record(EventKind::Click {
            selector,
            tag,
            text,
            x,
            y,
        });
    }

    fn on_entry(&mut self, code: u32, e: &JsValue) {
        match code {
            code::PAINT => {
                if js::string(e, "name") == "first-contentful-paint" {
                    self.report_fcp(js::num(e, "startTime"));
                }
            }
            code::LCP => {
                let t = js::num(e, "startTime");
                if !self.vitals.lcp_done && t < self.vitals.first_hidden {
                    self.vitals.lcp = t;
                }
            }
            code::LAYOUT_SHIFT => {
                let recent = js::get(e, "hadRecentInput").as_bool().unwrap_or(false);
                self.vitals
                    .cls
                    .add(js::num(e, "value"), js::num(e, "startTime"), recent);
            }
            code::EVENT_TIMING => {
                self.vitals
                    .inp
                    .add(js::num(e, "interactionId") as u64, js::num(e, "duration"));
            }
            _ => {
                self.record(EventKind::LongTask {
                    start: js::num(e, "startTime"),
                    duration: js::num(e, "duration"),
                });
            }
        }
    }

    /// An `ErrorEvent` (resource load errors, plain `Event`s without a message, are ignored).
    fn on_error(&mut self, e: &JsValue) {
        let mut message = js::string(e, "message");
        let err = js::get(e, "error");
        if !self.cfg.capture_errors || (message.is_empty() && err.is_undefined()) {
            return;
        }
        let mut kind = js::string(&err, "name");
        let mut stack = js::string(&err, "stack");
        let m = js::string(&err, "message");
        if !m.is_empty() {
            message = m;
        }
        if kind.is_empty() {
            kind = "Error".into();
        }
        let file = js::string(e, "filename");
        if stack.is_empty() && !file.is_empty() {
            stack = file;
            stack.push(':');
            push_u64(&mut stack, js::num(e, "lineno") as u64);
            stack.push(':');
            push_u64(&mut stack, js::num(e, "colno") as u64);
        }
        self.record_error(ErrorSource::Error, kind, message, stack);
    }

    fn on_rejection(&mut self, e: &JsValue) {
        if !self.cfg.capture_errors || js::get(e, "promise").is_undefined() {
            return;
        }
        let reason = js::get(e, "reason");
        let stack = js::string(&reason, "stack");
        let (kind, message) = if stack.is_empty() && js::get(&reason, "message").is_undefined() {
            ("UnhandledRejection".into(), js::describe(&reason))
        } else {
            let k = js::string(&reason, "name");
            (
                if k.is_empty() { "Error".into() } else { k },
                js::string(&reason, "message"),
            )
        };
        self.record_error(ErrorSource::Rejection, kind, message, stack);
    }

    fn vital(&mut self, metric: Metric, value: f64, delta: f64) {
        let metric_id = self.metric_id(metric.name());
        let navigation_type = self.vitals.navigation_type.clone();
        self.record(EventKind::WebVital {
            name: metric,
            value,
            delta,
            metric_id,
            rating: metric.rating(value),
            navigation_type,
        });
    }

    fn report_fcp(&mut self, t: f64) {
        if self.vitals.fcp_done || t >= self.vitals.first_hidden {
            return;
        }
        self.vitals.fcp_done = true;
        self.vital(Metric::Fcp, t, t);
    }

    /// LCP stops at the first input or when the page is hidden (as web-vitals does).
    fn finalize_lcp(&mut self) {
        if self.vitals.lcp_done {
            return;
        }
        self.vitals.lcp_done = true;
        if self.vitals.lcp > 0.0 && self.cfg.capture_performance {
            let v = self.vitals.lcp;
            self.vital(Metric::Lcp, v, v);
        }
    }

    /// CLS and INP are reported each time the page is hidden, when they changed.
    pub(super) fn report_vitals_on_hide(&mut self) {
        if self.vitals.first_hidden.is_infinite() {
            self.vitals.first_hidden = perf_now();
        }
        if !self.cfg.capture_performance {
            return;
        }
        self.finalize_lcp();
        self.report_navigation();
        let cls = self.vitals.cls.value();
        if cls != self.vitals.cls_reported {
            let delta = cls - self.vitals.cls_reported.max(0.0);
            self.vitals.cls_reported = cls;
            self.vital(Metric::Cls, cls, delta);
        }
        let count = js::interaction_count();
        if let Some(inp) = self.vitals.inp.value(count as u32) {
            if inp != self.vitals.inp_reported {
                let delta = inp - self.vitals.inp_reported;
                self.vitals.inp_reported = inp;
                self.vital(Metric::Inp, inp, delta);
            }
        }
    }

    /// TTFB and navigation timing, once, from the navigation entry.
    fn report_navigation(&mut self) {
        if self.vitals.nav_done || !self.cfg.capture_performance {
            return;
        }
        let e = navigation_entry();
        if e.is_undefined() {
            return;
        }
        self.vitals.nav_done = true;
        // Phases the browser did not time are 0 on both ends; clamp anyway, the edge refuses
        // negative durations.
        let n = |k: &str| js::num(&e, k).max(0.0);
        let ttfb = (n("responseStart") - n("activationStart")).max(0.0);
        if n("responseStart") > 0.0 {
            self.vital(Metric::Ttfb, ttfb, ttfb);
        }
        let secure = n("secureConnectionStart");
        self.record(EventKind::NavTiming(NavTiming {
            dns: (n("domainLookupEnd") - n("domainLookupStart")).max(0.0),
            tcp: (n("connectEnd") - n("connectStart")).max(0.0),
            tls: if secure > 0.0 {
                (n("connectEnd") - secure).max(0.0)
            } else {
                0.0
            },
            ttfb: (n("responseStart") - n("requestStart")).max(0.0),
            download: (n("responseEnd") - n("responseStart")).max(0.0),
            dom_interactive: n("domInteractive"),
            dom_content_loaded: n("domContentLoadedEventEnd"),
            load: n("loadEventEnd"),
            transfer_size: n("transferSize"),
            navigation_type: self.vitals.navigation_type.clone(),
        }));
    }
}
