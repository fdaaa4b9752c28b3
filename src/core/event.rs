//! The event model: what the SDK records and the Worker receives.
//!
//! Field names follow the OpenTelemetry browser conventions where one exists
//! (`exception.type`, `exception.message`, `exception.stacktrace`, web-vital name/value/delta/
//! rating/navigation_type); the edge maps the rest onto OTLP attributes.

use super::ids::push_hex64;
use super::json::{push_bool, push_f64, push_i64, push_key, push_str, push_u64};

/// Byte limits for strings, applied to the escaped JSON form by the encoder and to the decoded
/// form by the edge, so the two agree and every event stays well under one beacon.
pub mod limits {
    /// A page URL or referrer.
    pub const URL: usize = 2048;
    /// An error message.
    pub const MESSAGE: usize = 1024;
    /// A raw stack trace.
    pub const STACK: usize = 8192;
    /// A CSS selector path.
    pub const SELECTOR: usize = 256;
    /// Masked visible text of a clicked element.
    pub const TEXT: usize = 128;
    /// Short names: event names, tags, error types, metric ids, ratings.
    pub const NAME: usize = 128;
    /// A custom attribute key.
    pub const ATTR_KEY: usize = 64;
    /// A custom attribute string value.
    pub const ATTR_VALUE: usize = 256;
    /// Custom attributes per event.
    pub const ATTRS: usize = 32;
    /// The largest encoded event these limits allow, with headroom; the batcher relies on it.
    pub const EVENT_BYTES: usize = 16 * 1024;
}

/// A custom attribute value: flat on purpose (nesting is where unbounded payloads hide).
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// A string, truncated to [`limits::ATTR_VALUE`].
    Str(String),
    /// A finite number.
    Num(f64),
    /// A boolean.
    Bool(bool),
}

/// How a page view started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewCause {
    /// The document loaded.
    Load,
    /// `history.pushState` / `replaceState` changed the route.
    Route,
    /// Back/forward (`popstate`).
    Pop,
    /// The page came back from the back/forward cache (`pageshow` with `persisted`).
    Restore,
}

impl ViewCause {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ViewCause::Load => "load",
            ViewCause::Route => "route",
            ViewCause::Pop => "popstate",
            ViewCause::Restore => "restore",
        }
    }
    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "load" => ViewCause::Load,
            "route" => ViewCause::Route,
            "popstate" => ViewCause::Pop,
            "restore" => ViewCause::Restore,
            _ => return None,
        })
    }
}

/// Where a captured error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    /// A `window` `error` event (uncaught exception).
    Error,
    /// An `unhandledrejection` event.
    Rejection,
    /// A Rust panic inside the SDK or the host's wasm.
    Panic,
    /// Reported by the app through the API.
    Manual,
}

impl ErrorSource {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorSource::Error => "error",
            ErrorSource::Rejection => "unhandledrejection",
            ErrorSource::Panic => "panic",
            ErrorSource::Manual => "manual",
        }
    }
    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "error" => ErrorSource::Error,
            "unhandledrejection" => ErrorSource::Rejection,
            "panic" => ErrorSource::Panic,
            "manual" => ErrorSource::Manual,
            _ => return None,
        })
    }
}

/// Navigation timing of the document, in milliseconds (phase durations, not timestamps).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NavTiming {
    /// DNS lookup.
    pub dns: f64,
    /// TCP connect (including TLS).
    pub tcp: f64,
    /// TLS handshake alone.
    pub tls: f64,
    /// Request start to first response byte.
    pub ttfb: f64,
    /// First to last response byte.
    pub download: f64,
    /// Navigation start to `domInteractive`.
    pub dom_interactive: f64,
    /// Navigation start to `domContentLoadedEventEnd`.
    pub dom_content_loaded: f64,
    /// Navigation start to `loadEventEnd` (0 if the page was left before load).
    pub load: f64,
    /// Bytes over the wire (0 when cached or cross-origin without Timing-Allow-Origin).
    pub transfer_size: f64,
    /// `navigate`, `reload`, `back-forward` or `prerender`.
    pub navigation_type: String,
}

impl NavTiming {
    /// The numeric fields with their wire names, in wire order.
    pub fn phases(&self) -> [(&'static str, f64); 9] {
        [
            ("dns", self.dns),
            ("tcp", self.tcp),
            ("tls", self.tls),
            ("ttfb", self.ttfb),
            ("download", self.download),
            ("dom_interactive", self.dom_interactive),
            ("dom_content_loaded", self.dom_content_loaded),
            ("load", self.load),
            ("transfer_size", self.transfer_size),
        ]
    }
}

/// What happened: the type-specific part of an event.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A page or SPA screen became current.
    PageView {
        /// Scrubbed referrer (empty when none).
        referrer: String,
        /// Why the view started.
        cause: ViewCause,
    },
    /// Visible time spent on a screen since the last report for it (summed downstream).
    ScreenTime {
        /// The id of the `page_view` event this time belongs to.
        view: u64,
        /// Milliseconds the screen was visible.
        visible_ms: f64,
    },
    /// A click anywhere in the document.
    Click {
        /// A CSS selector path to the element (id / classes / nth-of-type).
        selector: String,
        /// Lower-case tag name.
        tag: String,
        /// Masked, truncated visible text (never an input value).
        text: String,
        /// Viewport x coordinate in CSS pixels.
        x: i32,
        /// Viewport y coordinate in CSS pixels.
        y: i32,
    },
    /// A Core Web Vital (`browser.web_vital`).
    WebVital {
        /// `LCP`, `INP`, `CLS`, `FCP` or `TTFB`.
        name: String,
        /// The metric value (ms, or unitless for CLS).
        value: f64,
        /// Change since the last report of this metric id.
        delta: f64,
        /// Unique per metric instance (per page load or bfcache restore).
        metric_id: String,
        /// `good`, `needs-improvement` or `poor`.
        rating: String,
        /// How the page was reached.
        navigation_type: String,
    },
    /// Navigation timing of the document.
    NavTiming(NavTiming),
    /// A main-thread task longer than 50 ms.
    LongTask {
        /// Start, ms since navigation start.
        start: f64,
        /// Duration in ms.
        duration: f64,
    },
    /// An uncaught error, unhandled rejection or panic.
    Error {
        /// Where it came from.
        source: ErrorSource,
        /// `exception.type`, e.g. `TypeError`.
        kind: String,
        /// `exception.message`.
        message: String,
        /// `exception.stacktrace`, raw (parsed at the edge); empty when the first occurrence
        /// already carried it.
        stack: String,
        /// Dedup fingerprint (see `stack::fingerprint`).
        fingerprint: u64,
        /// How many occurrences this event stands for.
        count: u32,
    },
    /// An app-defined event from `track(name, attrs)`.
    Custom {
        /// Event name.
        name: String,
        /// Flat attributes.
        attrs: Vec<(String, AttrValue)>,
    },
}

impl EventKind {
    /// The wire `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::PageView { .. } => "page_view",
            EventKind::ScreenTime { .. } => "screen_time",
            EventKind::Click { .. } => "click",
            EventKind::WebVital { .. } => "web_vital",
            EventKind::NavTiming(_) => "nav_timing",
            EventKind::LongTask { .. } => "long_task",
            EventKind::Error { .. } => "error",
            EventKind::Custom { .. } => "custom",
        }
    }

    /// True for errors, which sampling never drops.
    pub fn is_error(&self) -> bool {
        matches!(self, EventKind::Error { .. })
    }
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Random 64-bit id, unique per event: lets every hop dedup at-least-once delivery.
    pub id: u64,
    /// Milliseconds since the Unix epoch.
    pub t: u64,
    /// The scrubbed page URL.
    pub url: String,
    /// The type-specific part.
    pub kind: EventKind,
}

impl Event {
    /// Encodes this event as one JSON object (the element of `events` in the envelope), with
    /// every string bounded by [`limits`], so the result is at most [`limits::EVENT_BYTES`].
    pub fn encode(&self) -> String {
        let mut o = String::with_capacity(128);
        o.push_str("{\"id\":\"");
        push_hex64(&mut o, self.id);
        o.push_str("\",\"t\":");
        push_u64(&mut o, self.t);
        o.push_str(",\"type\":\"");
        o.push_str(self.kind.type_name());
        o.push('"');
        push_key(&mut o, "url");
        push_str(&mut o, &self.url, limits::URL);
        match &self.kind {
            EventKind::PageView { referrer, cause } => {
                push_key(&mut o, "referrer");
                push_str(&mut o, referrer, limits::URL);
                push_key(&mut o, "cause");
                push_str(&mut o, cause.as_str(), limits::NAME);
            }
            EventKind::ScreenTime { view, visible_ms } => {
                push_key(&mut o, "view");
                o.push('"');
                push_hex64(&mut o, *view);
                o.push('"');
                push_key(&mut o, "visible_ms");
                push_f64(&mut o, *visible_ms);
            }
            EventKind::Click {
                selector,
                tag,
                text,
                x,
                y,
            } => {
                push_key(&mut o, "selector");
                push_str(&mut o, selector, limits::SELECTOR);
                push_key(&mut o, "tag");
                push_str(&mut o, tag, limits::NAME);
                push_key(&mut o, "text");
                push_str(&mut o, text, limits::TEXT);
                push_key(&mut o, "x");
                push_i64(&mut o, *x as i64);
                push_key(&mut o, "y");
                push_i64(&mut o, *y as i64);
            }
            EventKind::WebVital {
                name,
                value,
                delta,
                metric_id,
                rating,
                navigation_type,
            } => {
                push_key(&mut o, "name");
                push_str(&mut o, name, limits::NAME);
                push_key(&mut o, "value");
                push_f64(&mut o, *value);
                push_key(&mut o, "delta");
                push_f64(&mut o, *delta);
                push_key(&mut o, "metric_id");
                push_str(&mut o, metric_id, limits::NAME);
                push_key(&mut o, "rating");
                push_str(&mut o, rating, limits::NAME);
                push_key(&mut o, "navigation_type");
                push_str(&mut o, navigation_type, limits::NAME);
            }
            EventKind::NavTiming(n) => {
                for (k, v) in n.phases() {
                    push_key(&mut o, k);
                    push_f64(&mut o, v);
                }
                push_key(&mut o, "navigation_type");
                push_str(&mut o, &n.navigation_type, limits::NAME);
            }
            EventKind::LongTask { start, duration } => {
                push_key(&mut o, "start");
                push_f64(&mut o, *start);
                push_key(&mut o, "duration");
                push_f64(&mut o, *duration);
            }
            EventKind::Error {
                source,
                kind,
                message,
                stack,
                fingerprint,
                count,
            } => {
                push_key(&mut o, "source");
                push_str(&mut o, source.as_str(), limits::NAME);
                push_key(&mut o, "exception.type");
                push_str(&mut o, kind, limits::NAME);
                push_key(&mut o, "exception.message");
                push_str(&mut o, message, limits::MESSAGE);
                push_key(&mut o, "exception.stacktrace");
                push_str(&mut o, stack, limits::STACK);
                push_key(&mut o, "fingerprint");
                o.push('"');
                push_hex64(&mut o, *fingerprint);
                o.push('"');
                push_key(&mut o, "count");
                push_u64(&mut o, *count as u64);
            }
            EventKind::Custom { name, attrs } => {
                push_key(&mut o, "name");
                push_str(&mut o, name, limits::NAME);
                push_key(&mut o, "attrs");
                o.push('{');
                let mut written: Vec<&str> = Vec::new();
                for (k, v) in attrs.iter() {
                    // Keys are cut to the limit; the edge refuses duplicates, so a key that
                    // collides with one already written (after the cut) is skipped.
                    let key = super::scrub::truncate(k, limits::ATTR_KEY);
                    if written.len() == limits::ATTRS || written.contains(&key) {
                        continue;
                    }
                    if !written.is_empty() {
                        o.push(',');
                    }
                    written.push(key);
                    push_str(&mut o, key, limits::ATTR_KEY);
                    o.push(':');
                    match v {
                        AttrValue::Str(s) => push_str(&mut o, s, limits::ATTR_VALUE),
                        AttrValue::Num(n) => push_f64(&mut o, *n),
                        AttrValue::Bool(b) => push_bool(&mut o, *b),
                    }
                }
                o.push('}');
            }
        }
        o.push('}');
        o
    }
}
