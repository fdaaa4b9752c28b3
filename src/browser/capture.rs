//! Listeners and observers: each translates a browser object into a core event and nothing
//! more. Installed once per page; each checks the running config when it fires.

use std::sync::atomic::{AtomicBool, Ordering};

use js_sys::Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Element, ErrorEvent, MouseEvent, PromiseRejectionEvent};

use super::{dom, js, perf_now, with, Sdk};
use crate::core::event::{ErrorSource, EventKind, NavTiming, ViewCause};
use crate::core::ids::{is_hex, push_hex64, IdGen};
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

fn window() -> Option<web_sys::Window> {
    web_sys::window()
}

fn navigation_entry() -> JsValue {
    window()
        .and_then(|w| w.performance())
        .map(|p| p.get_entries_by_type("navigation").get(0))
        .unwrap_or(JsValue::UNDEFINED)
}

fn navigation_type() -> String {
    let t = js::string(&navigation_entry(), "type");
    if t.is_empty() { "navigate".into() } else { t }
}

/// Do-Not-Track or Global Privacy Control is on.
pub fn do_not_track() -> bool {
    let Some(w) = window() else { return false };
    let nav: JsValue = w.navigator().into();
    js::get(&nav, "globalPrivacyControl").as_bool() == Some(true)
        || js::string(&nav, "doNotTrack") == "1"
        || js::string(&w.into(), "doNotTrack") == "1"
}

/// Whether the document is visible now.
pub fn page_visible() -> bool {
    window()
        .and_then(|w| w.document())
        .map(|d| d.visibility_state() == web_sys::VisibilityState::Visible)
        .unwrap_or(true)
}

/// The session id: reused from sessionStorage while the tab was active in the last 30 minutes,
/// otherwise new. Storage that is off just means a new session per load.
pub fn session(ids: &mut IdGen, now: u64) -> String {
    let storage = window().and_then(|w| w.session_storage().ok().flatten());
    if let Some(v) = storage.as_ref().and_then(|s| s.get_item(SESSION_KEY).ok().flatten()) {
        if let Some((id, last)) = v.split_once('|') {
            if id.len() == 32 && is_hex(id) && last.parse::<u64>().is_ok_and(|l| now.saturating_sub(l) < SESSION_IDLE_MS) {
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
    if let Some(s) = window().and_then(|w| w.session_storage().ok().flatten()) {
        let mut v = String::with_capacity(48);
        v.push_str(id);
        v.push('|');
        crate::core::json::push_u64(&mut v, now);
        let _ = s.set_item(SESSION_KEY, &v);
    }
}

fn listen(target: &JsValue, ty: &str, capture: bool, f: impl FnMut(web_sys::Event) + 'static) {
    let cb = Closure::<dyn FnMut(web_sys::Event)>::new(f).into_js_value();
    js::listen(target, ty, &cb, capture);
}

fn observe(ty: &str, threshold: u32, mut f: impl FnMut(&mut Sdk, &JsValue) + 'static) {
    let cb = Closure::<dyn FnMut(Array)>::new(move |entries: Array| {
        with(|s| {
            if s.cfg.capture_performance {
                for e in entries.iter() {
                    f(s, &e);
                }
            }
        });
    })
    .into_js_value();
    js::observe(ty, &cb, threshold);
}

/// Attaches every listener and observer, once per page.
pub fn install() {
    if INSTALLED.swap(true, Ordering::Relaxed) {
        return;
    }
    let Some(w) = window() else { return };
    let Some(doc) = w.document() else { return };
    let win: JsValue = w.clone().into();
    let doc: JsValue = doc.into();
    super::install_panic_hook();

    listen(&doc, "click", true, |e| {
        with(|s| s.on_click(&e));
    });
    listen(&doc, "keydown", true, |_| {
        with(|s| s.finalize_lcp());
    });
    listen(&win, "error", true, |e| {
        if let Some(e) = e.dyn_ref::<ErrorEvent>() {
            with(|s| s.on_error(e));
        }
    });
    listen(&win, "unhandledrejection", false, |e| {
        if let Some(e) = e.dyn_ref::<PromiseRejectionEvent>() {
            with(|s| s.on_rejection(e));
        }
    });
    listen(&doc, "visibilitychange", true, |_| {
        let visible = page_visible();
        with(|s| if visible { s.on_visible() } else { s.on_hidden() });
    });
    listen(&win, "pagehide", true, |_| {
        with(|s| s.on_hidden());
    });
    listen(&win, "pageshow", true, |_| {
        with(|s| if page_visible() { s.on_visible() });
    });
    listen(&win, "popstate", false, |_| {
        with(|s| s.on_route_change(ViewCause::Pop));
    });
    js::hook_history(&Closure::<dyn FnMut()>::new(|| {
        with(|s| s.on_route_change(ViewCause::Route));
    })
    .into_js_value());
    listen(&win, "load", false, |_| {
        // loadEventEnd is set only after the load handlers have run.
        gloo_timers::callback::Timeout::new(0, || {
            with(|s| s.report_navigation());
        })
        .forget();
    });
    if w.document().map(|d| d.ready_state() == "complete").unwrap_or(false) {
        with(|s| s.report_navigation());
    }

    observe("paint", 0, |s, e| {
        if js::string(e, "name") == "first-contentful-paint" {
            s.report_fcp(js::num(e, "startTime"));
        }
    });
    observe("largest-contentful-paint", 0, |s, e| {
        let t = js::num(e, "startTime");
        if !s.vitals.lcp_done && t < s.vitals.first_hidden {
            s.vitals.lcp = t;
        }
    });
    observe("layout-shift", 0, |s, e| {
        let recent = js::get(e, "hadRecentInput").as_bool().unwrap_or(false);
        s.vitals.cls.add(js::num(e, "value"), js::num(e, "startTime"), recent);
    });
    for ty in ["event", "first-input"] {
        observe(ty, 40, |s, e| {
            s.vitals.inp.add(js::num(e, "interactionId") as u64, js::num(e, "duration"));
        });
    }
    observe("longtask", 0, |s, e| {
        s.record(EventKind::LongTask { start: js::num(e, "startTime"), duration: js::num(e, "duration") });
    });
}

impl Sdk {
    /// The hot path: DOM-tree reads and one encoded event; no layout, no storage, no sending
    /// (unless this event completes a batch).
    fn on_click(&mut self, e: &web_sys::Event) {
        if !self.vitals.lcp_done {
            self.finalize_lcp();
        }
        if !self.cfg.capture_clicks || !self.sampled {
            return;
        }
        let Some(el) = e.target().and_then(|t| t.dyn_into::<Element>().ok()) else { return };
        let (x, y) = e.dyn_ref::<MouseEvent>().map(|m| (m.client_x(), m.client_y())).unwrap_or((0, 0));
        let tag = el.local_name();
        let text = if self.cfg.capture_text { dom::text(&el, &tag) } else { String::new() };
        let selector = dom::selector(&el);
        self.record(EventKind::Click { selector, tag, text, x, y });
    }

    fn on_error(&mut self, e: &ErrorEvent) {
        if !self.cfg.capture_errors {
            return;
        }
        let err = e.error();
        let mut kind = js::string(&err, "name");
        let mut message = js::string(&err, "message");
        let mut stack = js::string(&err, "stack");
        if message.is_empty() {
            message = e.message();
        }
        if kind.is_empty() {
            kind = "Error".into();
        }
        if stack.is_empty() && !e.filename().is_empty() {
            stack = e.filename();
            stack.push(':');
            crate::core::json::push_u64(&mut stack, e.lineno() as u64);
            stack.push(':');
            crate::core::json::push_u64(&mut stack, e.colno() as u64);
        }
        self.record_error(ErrorSource::Error, kind, message, stack);
    }

    fn on_rejection(&mut self, e: &PromiseRejectionEvent) {
        if !self.cfg.capture_errors {
            return;
        }
        let reason = e.reason();
        let stack = js::string(&reason, "stack");
        let (kind, message) = if stack.is_empty() && js::get(&reason, "message").is_undefined() {
            ("UnhandledRejection".into(), js::describe(&reason))
        } else {
            let k = js::string(&reason, "name");
            (if k.is_empty() { "Error".into() } else { k }, js::string(&reason, "message"))
        };
        self.record_error(ErrorSource::Rejection, kind, message, stack);
    }

    fn vital(&mut self, metric: Metric, value: f64, delta: f64) {
        let metric_id = self.metric_id(metric.name());
        let navigation_type = self.vitals.navigation_type.clone();
        self.record(EventKind::WebVital {
            name: metric.name().into(),
            value,
            delta,
            metric_id,
            rating: metric.rating(value).into(),
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
        let count = js::num(&window().and_then(|w| w.performance()).map(JsValue::from).unwrap_or_default(), "interactionCount");
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
        let n = |k: &str| js::num(&e, k);
        let ttfb = (n("responseStart") - n("activationStart")).max(0.0);
        if n("responseStart") > 0.0 {
            self.vital(Metric::Ttfb, ttfb, ttfb);
        }
        let secure = n("secureConnectionStart");
        self.record(EventKind::NavTiming(NavTiming {
            dns: n("domainLookupEnd") - n("domainLookupStart"),
            tcp: n("connectEnd") - n("connectStart"),
            tls: if secure > 0.0 { n("connectEnd") - secure } else { 0.0 },
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
