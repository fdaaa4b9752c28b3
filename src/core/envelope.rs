//! The versioned batch envelope (wire format v1): encoding for the browser, decoding and
//! validation (with a reason a client developer can act on) for the edge.
//!
//! ```json
//! { "sent_at":        1764000000000, "v": 1, "key": "pk_demo",
//!   "sdk": {"name": "ferrotel", "version": "0.1.0"}, "session": "<32 hex>", "events": [ {...}, ... ] }
//! ```

use std::borrow::Cow;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

mod quick;

use super::config::Config;
use super::event::{limits, Event, EventKind, Resource};
use super::fields::{optional, read_object, required, CowStr, FieldError, Raw, Rules, Slots};
use super::ids::is_hex;
use super::json::push_str;
use super::schema::{EVENT_SLOTS, EVENT_TABLE, RESOURCE_SLOTS, RESOURCE_TABLE};

/// The only wire version this build speaks.
pub const VERSION: u64 = 1;
/// A request body may not exceed this (it is also `sendBeacon`'s limit in practice).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Events per batch.
pub const MAX_EVENTS: usize = 200;
/// JSON nesting depth: envelope → events → event → attrs.
pub const MAX_DEPTH: usize = 4;
/// Timestamps beyond 2100-01-01 are refused: they are garbage, and as OTLP nanoseconds they
/// would overflow.
pub const MAX_TIME_MS: u64 = 4_102_444_800_000;
/// The SDK name on the wire.
pub const SDK_NAME: &str = "ferrotel";
/// This build's version, sent as `sdk.version`.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The constant part of every batch a session sends, encoded once.
#[derive(Debug, Clone)]
pub struct Header {
    prefix: String,
}

/// Bytes `encode_batch` adds around the events besides the header prefix: `,"events":[` and
/// `]}`.
const TAIL_BYTES: usize = 11 + 2;

/// A body the SDK encodes starts with this, then [`SENT_AT`]: `sent_at` comes first, in a
/// field of 20 bytes (the number right-aligned after JSON whitespace), so that each attempt's
/// time is written over the last one's in place ([`Header::restamp`]).
const SENT_AT_KEY: &str = "{\"sent_at\":";
/// Where a body's `sent_at` is (after [`SENT_AT_KEY`]): 20 bytes hold any `u64`.
const SENT_AT: std::ops::Range<usize> = 11..31;

impl Header {
    /// The header for one write key and session, without the schema's envelope fields.
    pub fn new(key: &str, session: &str) -> Self {
        Header {
            prefix: Header::start(key, session),
        }
    }

    /// The header the SDK sends: its write key and the envelope fields set in `cfg`.
    pub fn for_config(cfg: &Config, session: &str) -> Self {
        let mut prefix = Header::start(&cfg.key, session);
        Resource::encode_config(cfg, &mut prefix);
        Header { prefix }
    }

    /// The header for one write key, session and set of envelope fields.
    pub fn with_resource(key: &str, session: &str, resource: &Resource) -> Self {
        let mut prefix = Header::start(key, session);
        resource.encode(&mut prefix);
        Header { prefix }
    }

    fn start(key: &str, session: &str) -> String {
        let mut prefix = String::with_capacity(160);
        prefix.push_str(SENT_AT_KEY);
        prefix.push_str("                    ,\"v\":1,\"key\":"); // SENT_AT, 20 bytes
        push_str(&mut prefix, key, 64);
        prefix.push_str(",\"sdk\":{\"name\":\"ferrotel\",\"version\":\"");
        prefix.push_str(SDK_VERSION);
        prefix.push_str("\"},\"session\":");
        push_str(&mut prefix, session, 64);
        prefix
    }

    /// The most bytes a batch adds on top of its events and the commas between them.
    pub fn overhead(&self) -> usize {
        self.prefix.len() + TAIL_BYTES
    }

    /// Sets a body's `sent_at` (in place): the SDK stamps each attempt, so the edge can tell a
    /// wrong client clock (`sent_at` far from receipt) from a batch retried late. A body that
    /// does not start with its 20-byte `sent_at` field (persisted by an SDK before it, which
    /// wrote `sent_at` last) keeps its first attempt's time.
    pub fn restamp(body: &mut str, sent_at: u64) {
        if !body.starts_with(SENT_AT_KEY) || body.len() < SENT_AT.end {
            return;
        }
        // SAFETY: only the bytes of `SENT_AT` change, each from ASCII to ASCII (a digit or a
        // space), so the text stays UTF-8.
        let b = unsafe { body.as_bytes_mut() };
        let mut n = sent_at;
        for i in SENT_AT.rev() {
            b[i] = if n > 0 || i == SENT_AT.end - 1 {
                let d = b'0' + (n % 10) as u8;
                n /= 10;
                d
            } else {
                b' '
            };
        }
    }

    /// Joins already-encoded events (see [`Event::encode`]) into one request body.
    pub fn encode_batch(&self, sent_at: u64, events: &[String]) -> String {
        let len = self.overhead() + events.iter().map(|e| e.len() + 1).sum::<usize>();
        let mut out = String::with_capacity(len);
        out.push_str(&self.prefix);
        Header::restamp(&mut out, sent_at);
        out.push_str(",\"events\":[");
        for (i, e) in events.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(e);
        }
        out.push_str("]}");
        out
    }
}

/// A decoded and validated batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The public write key.
    pub key: String,
    /// SDK name as sent.
    pub sdk_name: String,
    /// SDK version as sent.
    pub sdk_version: String,
    /// Session id: 32 hex digits.
    pub session: String,
    /// When the client sent the batch, ms since the epoch (client clock).
    pub sent_at: u64,
    /// The schema's envelope fields (release, environment, ...).
    pub resource: Resource,
    /// The events, in the order recorded.
    pub events: Vec<Event>,
}

/// Why a body was refused: the field (a JSON path such as `events[3].t`) and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Where: `body`, `v`, `events[2].type`, ...
    pub field: String,
    /// What rule was broken, in words.
    pub reason: Cow<'static, str>,
}

impl DecodeError {
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<Cow<'static, str>>) -> Self {
        DecodeError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for DecodeError {}

/// An event left out of an otherwise valid batch: where it was and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Its index in `events`.
    pub index: usize,
    /// The field at fault, as a JSON path (`events[3].type`, or `events[3]` for the whole event).
    pub field: String,
    /// What rule was broken, in words.
    pub reason: Cow<'static, str>,
}

impl Envelope {
    /// Encodes the whole envelope (the browser does this incrementally with [`Header`]).
    pub fn encode(&self) -> String {
        let events: Vec<String> = self.events.iter().map(Event::encode).collect();
        Header::with_resource(&self.key, &self.session, &self.resource)
            .encode_batch(self.sent_at, &events)
    }

    /// Decodes and validates a request body, all or nothing: an event that
    /// [`decode_partial`](Self::decode_partial) would drop refuses the whole body, naming that
    /// event's field.
    pub fn decode(body: &[u8]) -> Result<Envelope, DecodeError> {
        let (env, dropped) = Envelope::decode_partial(body)?;
        match dropped.into_iter().next() {
            None => Ok(env),
            Some(d) => Err(DecodeError::new(d.field, d.reason)),
        }
    }

    /// Decodes and validates a request body, event by event. Over-long strings are truncated to
    /// the shared [`limits`] (the data is kept). A broken envelope (not JSON, its shape or
    /// depth, `v`, `key`, `sdk`, `session`, `sent_at`, the `events` list itself) is refused with
    /// the field and rule; an event that is not valid (unknown `type`, a field of the wrong JSON
    /// type or out of range) is left out and listed in the returned drops, in order, and the
    /// other events are kept.
    pub fn decode_partial(body: &[u8]) -> Result<(Envelope, Vec<Dropped>), DecodeError> {
        if body.is_empty() {
            return Err(DecodeError::new(
                "body",
                "is empty; expected a JSON batch envelope",
            ));
        }
        if body.len() > MAX_BODY_BYTES {
            return Err(DecodeError::new("body", "exceeds 65536 bytes"));
        }
        Envelope::peek(body)?;
        Envelope::decode_peeked(body)
    }

    /// [`decode_partial`](Self::decode_partial) of a body that [`peek`](Self::peek) has
    /// accepted (the ingest peeks before it consults the limiters, and decodes after).
    pub(crate) fn decode_peeked(body: &[u8]) -> Result<(Envelope, Vec<Dropped>), DecodeError> {
        // One pass decodes every event as it is read. An event that serde refuses (not an
        // object, a value of the wrong JSON type, a repeated field) would end that pass, so
        // then the body is read again with each event kept raw and decoded on its own: one bad
        // event is one drop, with serde's reason. Both give the same result for any body.
        // The body is checked as UTF-8 once, not string by string (invalid UTF-8 takes the
        // second way, which refuses it as before).
        if let Ok(text) = std::str::from_utf8(body) {
            // What the SDK sends is read quickest without serde's visitors (see `quick`).
            if let Some(raw) = quick::envelope(text) {
                return raw.validate();
            }
            let mut de = serde_json::Deserializer::from_str(text);
            let one_pass = EnvelopeVisitor { one_pass: true };
            if let Ok(raw) = de::DeserializeSeed::deserialize(one_pass, &mut de)
                .and_then(|raw| de.end().map(|()| raw))
            {
                return raw.validate();
            }
        }
        Envelope::decode_event_by_event(body)
    }

    /// The second way: the events kept raw, then each decoded on its own.
    fn decode_event_by_event(body: &[u8]) -> Result<(Envelope, Vec<Dropped>), DecodeError> {
        let raw: RawEnvelope<'_> = serde_json::from_slice(body)
            .map_err(|e| DecodeError::new("body", format!("is not a valid v1 envelope: {e}")))?;
        raw.validate()
    }
}

/// What one cheap pass over a body shows before it is decoded: the write key (the value of the
/// top-level `key` member, if it is a plain string) and how many elements `events` has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peek<'a> {
    /// The top-level `key` member's string value, as sent (no unescaping: a valid key has no
    /// escapes), or `None` when there is none or it is not a plain string.
    pub key: Option<&'a str>,
    /// Elements of the top-level `events` array (counted by commas; 0 without one).
    pub events: usize,
}

impl Envelope {
    /// The checks that need no parsing, in one pass over the bytes and without allocating:
    /// the shape (see [`check_shape`]), the write key and the event count (more than
    /// [`MAX_EVENTS`] is refused here, before any event is read). The ingest uses this to
    /// refuse an unknown key, a wrong origin or an over-limit client before decoding.
    pub fn peek(body: &[u8]) -> Result<Peek<'_>, DecodeError> {
        if body.is_empty() {
            return Err(DecodeError::new(
                "body",
                "is empty; expected a JSON batch envelope",
            ));
        }
        let p = check_shape(body)?;
        if p.events > MAX_EVENTS {
            return Err(DecodeError::new("events", "has more than 200 events"));
        }
        Ok(p)
    }
}

/// Checks the shape before any parsing, in one pass over the bytes: the body is an object,
/// nesting is at most [`MAX_DEPTH`], and the only array is the top-level `events` (serde would
/// otherwise read an array in place of an object field by field). Also reads the top-level
/// `key` (a plain string) and counts the `events` elements.
fn check_shape(body: &[u8]) -> Result<Peek<'_>, DecodeError> {
    let mut depth = 0usize;
    // At depth 1: whether the next string is a key, and what the last key read was.
    let (mut expect_key, mut last_key_events, mut last_key_key) = (false, false, false);
    let mut key: Option<&[u8]> = None;
    let mut key_seen = false;
    // Inside the top-level `events` array (depth 2), and the commas seen there.
    let (mut in_events, mut events_open, mut commas) = (false, false, 0usize);
    let first = body.iter().position(|b| !b.is_ascii_whitespace());
    if first.map(|i| body[i]) != Some(b'{') {
        return Err(DecodeError::new(
            "body",
            "must be a JSON object (a v1 batch envelope)",
        ));
    }
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if in_events && depth == 2 && !events_open && !b.is_ascii_whitespace() && b != b']' {
            events_open = true;
        }
        match b {
            b'"' => {
                // Skip the string in runs (most of a batch is string content).
                let start = i + 1;
                let mut j = start;
                let mut escaped = false;
                loop {
                    match memchr::memchr2(b'"', b'\\', &body[j..]) {
                        Some(k) if body[j + k] == b'\\' => {
                            escaped = true;
                            j += k + 2
                        }
                        Some(k) => {
                            j += k;
                            break;
                        }
                        None => {
                            j = body.len();
                            break;
                        }
                    }
                    if j >= body.len() {
                        break;
                    }
                }
                if depth == 1 {
                    if expect_key {
                        expect_key = false;
                        let name = body.get(start..j);
                        last_key_events = name == Some(b"events");
                        last_key_key = name == Some(b"key");
                    } else if last_key_key && !key_seen {
                        key_seen = true;
                        key = (!escaped).then(|| body.get(start..j)).flatten();
                    }
                }
                i = j + 1;
                continue;
            }
            b'{' | b'[' => {
                if b == b'[' {
                    if !(depth == 1 && last_key_events) {
                        return Err(DecodeError::new(
                            "body",
                            "has an array where an object or value belongs: only `events` is an array",
                        ));
                    }
                    in_events = true;
                }
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(DecodeError::new("body", "nests deeper than 4 levels"));
                }
                if depth == 1 {
                    expect_key = true;
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 1 {
                    in_events = false;
                }
            }
            b',' if depth == 1 => {
                expect_key = true;
                // A non-string `key` value: the key is whatever the first one was (none).
                if last_key_key {
                    key_seen = true;
                }
            }
            b',' if depth == 2 && in_events => commas += 1,
            _ => {}
        }
        i += 1;
    }
    if depth != 0 {
        // Truncated: serde says where, without allocating (nothing is kept).
        let why = match serde_json::from_slice::<de::IgnoredAny>(body) {
            Err(e) => e.to_string(),
            Ok(_) => "ends inside an object, array or string".to_owned(),
        };
        return Err(DecodeError::new(
            "body",
            format!("is not a valid v1 envelope: {why}"),
        ));
    }
    Ok(Peek {
        key: key.and_then(|k| std::str::from_utf8(k).ok()),
        events: if events_open { commas + 1 } else { 0 },
    })
}

#[derive(Deserialize)]
struct RawSdk<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    version: Cow<'a, str>,
}

/// The envelope as read in one pass: its fixed members, the schema's envelope fields in their
/// slots, and the events (see [`RawEvents`]). Other members are skipped; a repeated member is
/// refused.
#[derive(Default)]
struct RawEnvelope<'a> {
    v: Option<u64>,
    key: Option<Cow<'a, str>>,
    sdk: Option<RawSdk<'a>>,
    session: Option<Cow<'a, str>>,
    sent_at: Option<u64>,
    events: Option<RawEvents<'a>>,
    resource: Slots<'a, RESOURCE_SLOTS>,
}

/// The events of an envelope: decoded as they were read (each one valid, or what made it
/// invalid), or raw, each to be decoded on its own (so that one bad event is one drop).
enum RawEvents<'a> {
    Decoded(Vec<Result<Event, FieldError>>),
    Raw(Vec<&'a RawValue>),
}

impl<'de: 'a, 'a> Deserialize<'de> for RawEnvelope<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EnvelopeVisitor { one_pass: false })
    }
}

/// Reads an envelope; with `one_pass`, the events are decoded as they are read.
#[derive(Clone, Copy)]
struct EnvelopeVisitor {
    one_pass: bool,
}

impl<'de> de::DeserializeSeed<'de> for EnvelopeVisitor {
    type Value = RawEnvelope<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

/// The `events` member decoded in one pass: `null`, or an array of event objects.
struct EventsSeed;

impl<'de> de::DeserializeSeed<'de> for EventsSeed {
    type Value = Option<Vec<Result<Event, FieldError>>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for EventsSeed {
    type Value = Option<Vec<Result<Event, FieldError>>>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut events = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_EVENTS));
        while let Some(ev) = seq.next_element::<RawEvent<'de>>()? {
            events.push(ev.validate());
        }
        Ok(Some(events))
    }
}

/// Stores a fixed member's value, refusing a second one as serde's derive would.
fn once<T, E: de::Error>(
    slot: &mut Option<T>,
    seen: &mut bool,
    v: Option<T>,
    name: &'static str,
) -> Result<(), E> {
    if std::mem::replace(seen, true) {
        return Err(E::duplicate_field(name));
    }
    *slot = v;
    Ok(())
}

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = RawEnvelope<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a v1 batch envelope")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut e = RawEnvelope::default();
        let mut seen = [false; 6];
        while let Some(CowStr(k)) = map.next_key::<CowStr<'de>>()? {
            match &*k {
                "v" => once(&mut e.v, &mut seen[0], map.next_value()?, "v")?,
                "key" => {
                    let v = map.next_value::<Option<CowStr<'de>>>()?.map(|s| s.0);
                    once(&mut e.key, &mut seen[1], v, "key")?
                }
                "sdk" => once(&mut e.sdk, &mut seen[2], map.next_value()?, "sdk")?,
                "session" => {
                    let v = map.next_value::<Option<CowStr<'de>>>()?.map(|s| s.0);
                    once(&mut e.session, &mut seen[3], v, "session")?
                }
                "sent_at" => once(&mut e.sent_at, &mut seen[4], map.next_value()?, "sent_at")?,
                "events" => {
                    let v = if self.one_pass {
                        map.next_value_seed(EventsSeed)?.map(RawEvents::Decoded)
                    } else {
                        map.next_value::<Option<Vec<&'de RawValue>>>()?
                            .map(RawEvents::Raw)
                    };
                    once(&mut e.events, &mut seen[5], v, "events")?
                }
                other => match (RESOURCE_TABLE.index)(other) {
                    Some(i) => e.resource.read_value(&RESOURCE_TABLE, i, &mut map)?,
                    None => {
                        map.next_value::<de::IgnoredAny>()?;
                    }
                },
            }
        }
        Ok(e)
    }
}

/// Every field an event may carry, by slot (see `schema.rs`); which are required depends on
/// `type`.
struct RawEvent<'a>(Slots<'a, EVENT_SLOTS>);

impl<'de: 'a, 'a> Deserialize<'de> for RawEvent<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        read_object(d, &EVENT_TABLE).map(RawEvent)
    }
}

fn truncated(s: &str, max: usize) -> String {
    super::scrub::truncate(s, max).to_owned()
}

/// Whether a write key has the wire's form: 1-64 characters of `A-Z a-z 0-9 _ -`.
pub fn valid_key(k: &str) -> bool {
    (1..=64).contains(&k.len())
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl<'a> RawEnvelope<'a> {
    fn validate(self) -> Result<(Envelope, Vec<Dropped>), DecodeError> {
        match self.v {
            None => return Err(DecodeError::new("v", "is missing; expected 1")),
            Some(VERSION) => {}
            Some(v) => {
                return Err(DecodeError::new(
                    "v",
                    format!("unsupported wire version {v}; this endpoint speaks v1"),
                ))
            }
        }
        let key = self
            .key
            .ok_or_else(|| DecodeError::new("key", "is missing"))?;
        if !valid_key(&key) {
            return Err(DecodeError::new(
                "key",
                "must be 1-64 characters of A-Z a-z 0-9 _ -",
            ));
        }
        let sdk = self
            .sdk
            .ok_or_else(|| DecodeError::new("sdk", "is missing"))?;
        let session = self
            .session
            .ok_or_else(|| DecodeError::new("session", "is missing"))?;
        if session.len() != 32 || !is_hex(&session) {
            return Err(DecodeError::new("session", "must be 32 hex digits"));
        }
        let sent_at = self
            .sent_at
            .ok_or_else(|| DecodeError::new("sent_at", "is missing"))?;
        if !(1..=MAX_TIME_MS).contains(&sent_at) {
            return Err(DecodeError::new(
                "sent_at",
                "must be milliseconds since the epoch, before 2100",
            ));
        }
        let mut resource = self.resource;
        let resource = Resource::decode(&mut resource)
            .map_err(|(field, reason)| DecodeError::new(field, reason))?;
        let raw_events = self
            .events
            .ok_or_else(|| DecodeError::new("events", "is missing"))?;
        let count = match &raw_events {
            RawEvents::Decoded(v) => v.len(),
            RawEvents::Raw(v) => v.len(),
        };
        if count == 0 {
            return Err(DecodeError::new(
                "events",
                "is empty; send at least one event",
            ));
        }
        if count > MAX_EVENTS {
            return Err(DecodeError::new("events", "has more than 200 events"));
        }
        let mut events = Vec::with_capacity(count);
        let mut dropped = Vec::new();
        let mut keep = |index: usize, e: Result<Event, (Option<&str>, Cow<'static, str>)>| match e {
            Ok(e) => events.push(e),
            Err((field, reason)) => dropped.push(Dropped {
                index,
                field: match field {
                    Some(f) => format!("events[{index}].{f}"),
                    None => format!("events[{index}]"),
                },
                reason,
            }),
        };
        match raw_events {
            RawEvents::Decoded(v) => {
                for (index, e) in v.into_iter().enumerate() {
                    keep(index, e.map_err(|(field, reason)| (Some(field), reason)));
                }
            }
            RawEvents::Raw(v) => {
                for (index, raw) in v.into_iter().enumerate() {
                    keep(index, decode_event(raw.get()));
                }
            }
        }
        let env = Envelope {
            key: key.into_owned(),
            sdk_name: truncated(&sdk.name, limits::NAME),
            sdk_version: truncated(&sdk.version, limits::NAME),
            session: session.into_owned(),
            sent_at,
            resource,
            events,
        };
        Ok((env, dropped))
    }
}

/// Parses and validates one event from its JSON text. The error names the event's field (as it
/// is spelled on the wire; `None` for the event as a whole) and the rule.
fn decode_event(raw: &str) -> Result<Event, (Option<&str>, Cow<'static, str>)> {
    if !raw.trim_start().starts_with('{') {
        return Err((None, "must be a JSON object (one event)".into()));
    }
    let ev: RawEvent<'_> = serde_json::from_str(raw).map_err(|e| {
        // serde_json says what is wrong and where, not in which field: the field is the key
        // whose value (or whose own name, for a duplicate) holds the error's position.
        let field = key_at(raw, offset_of(raw, e.line(), e.column()));
        let mut reason = e.to_string();
        if let Some(at) = reason.rfind(" at line ") {
            reason.truncate(at); // positions within one event would only confuse
        }
        (field, Cow::Owned(reason))
    })?;
    ev.validate()
        .map_err(|(field, reason)| (Some(field), reason))
}

/// The byte offset of serde_json's 1-based `line` and column (bytes before the position).
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match memchr::memchr(b'\n', &text.as_bytes()[start..]) {
            Some(k) => start += k + 1,
            None => break,
        }
    }
    (start + column).min(text.len())
}

/// The top-level key of the JSON object `obj` whose member (from the key's opening quote to
/// the comma or brace after its value) contains byte `at`; keys are returned as written.
fn key_at(obj: &str, at: usize) -> Option<&str> {
    let b = obj.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    // The current top-level member: where its key starts and the key itself.
    let mut member: Option<(usize, &str)> = None;
    let mut expect_key = false;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                if depth == 1 && expect_key {
                    expect_key = false;
                    member = Some((start, obj.get(start + 1..i.min(b.len()))?));
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth == 1 {
                    expect_key = true;
                }
            }
            c @ (b'}' | b']' | b',') => {
                if depth == 1 {
                    if let Some((start, key)) = member.take() {
                        if (start..=i).contains(&at) {
                            return Some(key);
                        }
                    }
                    expect_key = c == b',';
                }
                if c != b',' {
                    depth = depth.saturating_sub(1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    // The error may be at the end of a truncated member.
    member.filter(|(start, _)| at >= *start).map(|(_, k)| k)
}

/// Slots of the fields every event has (the first four of `EVENT_TABLE`).
const ID: usize = 0;
const T: usize = 1;
const TYPE: usize = 2;
const URL: usize = 3;

impl<'a> RawEvent<'a> {
    fn validate(self) -> Result<Event, FieldError> {
        let mut raw = self.0;
        Self::validate_slots(&mut raw)
    }

    /// [`RawEvent::validate`] on slots in place (the quick reader's: the slots, ~1.4 KB, are
    /// not moved).
    pub(super) fn validate_slots(raw: &mut Slots<'a, EVENT_SLOTS>) -> Result<Event, FieldError> {
        let id: u64 = required(raw.take(ID), "id", &Rules::NONE.nonzero())?;
        let t = match raw.take(T) {
            Raw::U64(t) if (1..=MAX_TIME_MS).contains(&t) => t,
            Raw::Absent => return Err(("t", "is missing".into())),
            _ => {
                return Err((
                    "t",
                    "must be milliseconds since the epoch, before 2100".into(),
                ))
            }
        };
        let ty = match raw.take(TYPE) {
            Raw::Str(ty) => ty,
            _ => return Err(("type", "is missing".into())),
        };
        if ty == super::reports::REPORT_TYPE {
            // Made by the Worker from `POST /v1/reports` only: a batch cannot pass one off.
            return Err((
                "type",
                "report events come from POST /v1/reports, not from a batch".into(),
            ));
        }
        let url: String = optional(
            raw.take(URL),
            "url",
            &Rules::NONE.max(limits::URL),
            String::new,
        )?;
        let kind = match EventKind::decode(&ty, raw)? {
            // The browser sends the entry; its phases are computed here (`core::nav`).
            EventKind::NavEntry { entry } => EventKind::NavTiming(entry.timing()),
            kind => kind,
        };
        Ok(Event { id, t, url, kind })
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod partial_tests {
    use super::*;

    const GOOD: &str =
        r##"{"id":"00000000000000aa","t":1764000000000,"type":"click","selector":"#a"}"##;

    fn body(events: &[&str]) -> String {
        format!(
            r#"{{"v":1,"key":"pk_demo","sdk":{{"name":"ferrotel","version":"0.1.0"}},"session":"0123456789abcdef0123456789abcdef","sent_at":1764000000000,"events":[{}]}}"#,
            events.join(",")
        )
    }

    fn drops(b: &str) -> (usize, Vec<(usize, String, String)>) {
        let (env, d) = Envelope::decode_partial(b.as_bytes()).expect("the envelope is valid");
        let d = d
            .into_iter()
            .map(|d| (d.index, d.field, d.reason.into_owned()))
            .collect();
        (env.events.len(), d)
    }

    #[test]
    fn a_type_error_names_its_field_wherever_it_is() {
        let spaced = "{ \"id\" : \"00000000000000ab\" ,\n  \"t\":1764000000000,\n  \"type\" : \"click\",\n  \"y\" :\n \"2\"\n}";
        let escaped = r##"{"id":"00000000000000ac","t":1764000000000,"type":"click","text":"a \"quoted\", {x}","x":true}"##;
        let nested = r#"{"id":"00000000000000ad","t":1764000000000,"type":"custom","name":"n","attrs":{"a":1,"b":null}}"#;
        let (kept, d) = drops(&body(&[GOOD, spaced, escaped, GOOD, nested]));
        assert_eq!(kept, 2);
        assert_eq!(
            d.iter()
                .map(|(i, f, _)| (*i, f.as_str()))
                .collect::<Vec<_>>(),
            [
                (1, "events[1].y"),
                (2, "events[2].x"),
                (4, "events[4].attrs")
            ]
        );
        assert!(
            d[0].2
                .starts_with("invalid type: string \"2\", expected i32"),
            "{d:?}"
        );
        assert!(
            !d[0].2.contains("line"),
            "no position inside the event: {d:?}"
        );
    }

    #[test]
    fn each_attempt_is_stamped_in_place_and_the_quick_reader_reads_it() {
        let header = Header::new("pk_demo", "0123456789abcdef0123456789abcdef");
        let mut b = header.encode_batch(1_764_000_000_000, &[GOOD.to_owned()]);
        assert!(quick::envelope(&b).is_some(), "{b}");
        for t in [1, 1_764_000_123_456, u64::MAX] {
            Header::restamp(&mut b, t);
            let digits = t.to_string();
            assert_eq!(b[11..31].trim_start(), digits, "{b}");
            assert_eq!(b.len(), header.encode_batch(1, &[GOOD.to_owned()]).len());
        }
        Header::restamp(&mut b, 1_764_000_000_001);
        let env = Envelope::decode(b.as_bytes()).unwrap();
        assert_eq!((env.sent_at, env.events.len()), (1_764_000_000_001, 1));
        // A body persisted by an SDK before this format (`sent_at` last) is left as it is.
        let old = body(&[GOOD]);
        let mut same = old.clone();
        Header::restamp(&mut same, 5);
        assert_eq!(same, old);
    }

    #[test]
    fn a_navigation_entry_is_decoded_into_its_nav_timing_and_a_broken_one_dropped() {
        let entry = r#"{"id":"00000000000000ae","t":1764000000000,"type":"nav_entry","url":"https://a.test/","entry":"{\"name\":\"https://a.test/?q=1\",\"domainLookupStart\":2,\"domainLookupEnd\":5,\"requestStart\":10,\"responseStart\":30.5,\"domInteractive\":90,\"type\":\"reload\"}"}"#;
        let broken = r#"{"id":"00000000000000af","t":1764000000000,"type":"nav_entry","entry":"{\"domInteractive\":"}"#;
        let b = body(&[entry, broken]);
        assert!(quick::envelope(&b).is_some(), "the quick reader reads it");
        let (env, d) = Envelope::decode_partial(b.as_bytes()).unwrap();
        assert_eq!(env.events.len(), 1);
        let EventKind::NavTiming(t) = &env.events[0].kind else {
            panic!("{:?}", env.events[0].kind)
        };
        assert_eq!((t.dns, t.ttfb, t.dom_interactive), (3.0, 20.5, 90.0));
        assert_eq!(t.navigation_type, "reload");
        assert_eq!((d[0].index, d[0].field.as_str()), (1, "events[1].entry"));
        assert!(d[0].reason.contains("navigation timing entry"), "{d:?}");
        // Stored and forwarded as the nav_timing it stands for: encoded again, it is one.
        let again = env.encode();
        assert!(again.contains("\"type\":\"nav_timing\"") && !again.contains("nav_entry"));
        assert_eq!(
            Envelope::decode(again.as_bytes()).unwrap().events,
            env.events
        );
    }

    #[test]
    fn what_is_not_an_event_object_is_dropped_whole() {
        let (kept, d) = drops(&body(&[GOOD, "null", "\"click\"", "7", "true"]));
        assert_eq!(kept, 1);
        assert!(d.iter().all(|(_, f, r)| f.starts_with("events[")
            && f.ends_with(']')
            && r.contains("must be a JSON object")));
        // The shape check still refuses an array for an event, and serde any broken JSON.
        assert!(Envelope::decode_partial(body(&[GOOD, "[1]"]).as_bytes()).is_err());
        assert!(Envelope::decode_partial(body(&[GOOD, "{\"t\":}"]).as_bytes()).is_err());
    }

    #[test]
    fn a_repeated_envelope_member_is_refused_and_envelope_fields_are_read_in_the_same_pass() {
        let b = body(&[GOOD]);
        for dup in [r#"{"v":1,"#, r#"{"release":"a","release":"b","#] {
            let twice = b.replacen('{', dup, 1);
            let e = Envelope::decode_partial(twice.as_bytes()).unwrap_err();
            assert!(e.reason.contains("duplicate field"), "{dup}: {e}");
        }
        let with = b.replacen('{', r#"{"release":"1.2.3","x":{"y":1},"#, 1);
        let (env, _) = Envelope::decode_partial(with.as_bytes()).unwrap();
        assert_eq!(env.resource.release, "1.2.3");
    }

    #[test]
    fn strict_decode_refuses_the_first_dropped_event() {
        let b = body(&[GOOD, r#"{"id":"00000000000000ab","t":1,"type":"nope"}"#]);
        let e = Envelope::decode(b.as_bytes()).unwrap_err();
        assert_eq!(e.field, "events[1].type");
        assert!(Envelope::decode(body(&[GOOD, GOOD]).as_bytes()).is_ok());
    }

    /// A valid batch of every kind of event, with escapes, attributes and a stack.
    fn varied() -> String {
        body(&[
            GOOD,
            r#"{"id":"00000000000000b1","t":1764000000001,"type":"page_view","url":"https://a.test/p?q=\"x\"","referrer":"","cause":"route"}"#,
            r#"{"id":"00000000000000b2","t":1764000000002,"type":"web_vital","name":"CLS","value":0.01,"delta":0.01,"metric_id":"v1-1"}"#,
            r#"{"id":"00000000000000b3","t":1764000000003,"type":"error","exception.type":"TypeError","exception.message":"x is \u00e9\n","exception.stacktrace":"TypeError: x\n    at f (https://a.test/app.js:1:2)","fingerprint":"00000000000000ff","count":2}"#,
            r#"{"id":"00000000000000b4","t":1764000000004,"type":"custom","name":"buy","attrs":{"sku":"a\"b","n":3,"ok":true}}"#,
            r#"{"id":"00000000000000b5","t":1764000000005,"type":"nav_timing","dns":1.5,"load":1200,"navigation_type":"navigate"}"#,
            r#"{"id":"00000000000000b6","t":1764000000006,"type":"long_task","start":10,"duration":60}"#,
            r#"{"id":"00000000000000b7","t":1764000000007,"type":"screen_time","view":"00000000000000b1","visible_ms":500}"#,
        ])
    }

    #[test]
    fn one_pass_and_event_by_event_agree_on_valid_and_partly_valid_batches() {
        let b = varied();
        let (env, d) = Envelope::decode_partial(b.as_bytes()).unwrap();
        assert_eq!((env.events.len(), d.len()), (8, 0));
        // Every single-byte change of the batch: whichever way decodes it, the result is the
        // same as event by event (bad events dropped with serde's reason, or the body refused).
        assert!(
            quick::envelope(&b).is_some(),
            "the quick reader reads a valid batch"
        );
        let bytes = b.as_bytes();
        let (mut ways, mut quickly) = ([0usize; 3], 0);
        let changes: &[&[u8]] = &[
            b"\"", b"1", b"{", b"x", b"\xff", b"-", b"0", b"\\", b" ", b"n", b"e", b".", b":",
            b",", b"\x01", b"u", b"-0", b"01", b"1e2", b"\\u0041", b"\\n", b"null",
        ];
        for i in 0..bytes.len() {
            for c in changes {
                let mut m = bytes.to_vec();
                m.splice(i..i + 1, c.iter().copied());
                if Envelope::peek(&m).is_err() {
                    continue;
                }
                let got = Envelope::decode_peeked(&m);
                let want = Envelope::decode_event_by_event(&m);
                assert_eq!(got, want, "byte {i} -> {c:?}");
                ways[match &want {
                    Err(_) => 0,
                    Ok((_, d)) if d.is_empty() => 1,
                    Ok(_) => 2,
                }] += 1;
                quickly += std::str::from_utf8(&m)
                    .ok()
                    .and_then(quick::envelope)
                    .is_some() as usize;
            }
        }
        // The changes reach every outcome (refused, whole, with drops), and many of the
        // changed batches are still read by the quick reader.
        assert!(ways.iter().all(|&n| n > 50), "{ways:?}");
        assert!(quickly > 1000, "{quickly}");
    }

    #[test]
    fn key_at_finds_the_member() {
        let o = r#"{"a":1,"bb":{"c":[1,2]},"d":"x,y"}"#;
        assert_eq!(key_at(o, 2), Some("a"));
        assert_eq!(key_at(o, 6), Some("a"));
        assert_eq!(key_at(o, 15), Some("bb"));
        assert_eq!(key_at(o, o.len() - 3), Some("d"));
        assert_eq!(key_at(o, 0), None);
        assert_eq!(offset_of("ab\ncd\nef", 3, 1), 7);
    }
}
