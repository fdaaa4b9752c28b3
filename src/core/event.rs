//! The event model: what the SDK records and the Worker receives. The event kinds and their
//! fields are declared in [`super::schema`]; this module has what every event shares.
//!
//! Field names follow the OpenTelemetry browser conventions where one exists
//! (`exception.type`, `exception.message`, `exception.stacktrace`, web-vital name/value/delta/
//! rating/navigation_type); the edge maps the rest onto OTLP attributes.

use super::ids::push_hex64;
use super::json::{push_key, push_str, push_u64};

pub use super::schema::{names, write, ErrorSource, EventKind, NavTiming, Resource, ViewCause};

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
    /// A release or environment name (checked by `Config` as printable ASCII without quotes).
    pub const LABEL: usize = 64;
    /// Custom attributes per event.
    pub const ATTRS: usize = 32;
    /// A navigation timing entry's JSON text (its numbers and type: about 800 bytes).
    pub const NAV_ENTRY: usize = 4096;
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

impl EventKind {
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
    /// The page URL (scrubbed at the edge, `core::protect::protect_urls`).
    pub url: String,
    /// The type-specific part.
    pub kind: EventKind,
}

impl Event {
    /// Encodes this event as one JSON object (the element of `events` in the envelope), with
    /// every string bounded by [`limits`], so the result is at most [`limits::EVENT_BYTES`].
    pub fn encode(&self) -> String {
        let mut o = encode_head(self.id, self.t, self.kind.type_name(), &self.url);
        self.kind.encode_fields(&mut o);
        o.push('}');
        o
    }
}

/// The start of an event object, what every kind shares: `{"id":…,"t":…,"type":…,"url":…`;
/// the kind's fields and the closing `}` follow (the browser writes the fields with
/// [`super::schema::write`]).
pub fn encode_head(id: u64, t: u64, ty: &str, url: &str) -> String {
    let mut o = String::with_capacity(128);
    o.push_str("{\"id\":\"");
    push_hex64(&mut o, id);
    o.push_str("\",\"t\":");
    push_u64(&mut o, t);
    o.push_str(",\"type\":\"");
    o.push_str(ty);
    o.push('"');
    push_key(&mut o, "url");
    push_str(&mut o, url, limits::URL);
    o
}
