//! OTLP/HTTP JSON logs for accepted events (the edge's durable and forwarded format), and the
//! projection back to flat rows for the embedded store.
//!
//! The encoder writes the JSON by hand into pre-sized buffers: on the Worker's request path it
//! is the largest cost, and going through generated protocol structs and serde doubles it. The
//! tests check every output against the official `opentelemetry-proto` types, so the shape is
//! what a strict OTLP receiver accepts.
//!
//! Attribute names follow OpenTelemetry conventions where one exists (`event.id`,
//! `event.name`, `url.full`, `session.id`, `exception.*`, `code.*`, `browser.web_vital.*`,
//! `geo.country.iso_code`); the rest are `ferrotel.<wire field name>`.

use std::borrow::Cow;

use serde::Deserialize;

use super::envelope::Envelope;
use super::event::{limits, ErrorSource, Event, EventKind, Resource};
use super::json::{push_bool, push_escaped_byte, push_f64, push_str};
use super::schema::wire_name_of;
use super::stack;
use super::ua::UaClass;

/// What the edge adds to a batch.
#[derive(Debug, Clone)]
pub struct Enrichment<'a> {
    /// ISO country code from the edge, if known.
    pub country: Option<&'a str>,
    /// Coarse user-agent class.
    pub ua: UaClass,
    /// Daily-salted hash of the client address (never the address).
    pub client_hash: &'a str,
    /// When the edge received the batch, ms since the epoch.
    pub received_ms: u64,
    /// Milliseconds added to every event time to correct the client's clock (0: none; see
    /// `ingest::CLOCK_SKEW_TOLERANCE_MS`).
    pub clock_correction_ms: i64,
}

/// A queue message / OTLP request should stay under this (Cloudflare Queues take 128 KB).
pub const MAX_CHUNK_BYTES: usize = 100 * 1024;

/// Appends `v` as a JSON string literal: the same text as `json::push_str(o, v, usize::MAX)`,
/// faster. The request path writes ~90 KB of strings per 31 KB batch, almost all of them with
/// nothing to escape, so runs are found eight bytes at a time and copied whole.
pub(crate) fn push_text(o: &mut String, v: &str) {
    o.push('"');
    let b = v.as_bytes();
    let mut start = 0;
    loop {
        let i = next_escape(b, start);
        o.push_str(v.get(start..i).unwrap_or(""));
        let Some(&c) = b.get(i) else { break };
        push_escaped_byte(o, c);
        start = i + 1;
    }
    o.push('"');
}

/// The index of the first byte at or after `from` that JSON must escape (a control character,
/// `"` or `\\`), or `b.len()`.
pub(crate) fn next_escape(b: &[u8], from: usize) -> usize {
    let mut i = skip_plain(b, from);
    while let Some(&c) = b.get(i) {
        if c < 0x20 || c == b'"' || c == b'\\' {
            return i;
        }
        i += 1;
    }
    b.len()
}

/// Where the first byte to escape is, or where the chunk holding it starts, or where fewer
/// than a chunk remain (`next_escape` looks at the rest byte by byte). Sixteen bytes at a time
/// with wasm SIMD (the Worker's build), which gives the byte itself.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn skip_plain(b: &[u8], mut i: usize) -> usize {
    use core::arch::wasm32::{u8x16, u8x16_bitmask, u8x16_eq, u8x16_lt, u8x16_splat, v128_or};
    let (quote, backslash, space) = (u8x16_splat(b'"'), u8x16_splat(b'\\'), u8x16_splat(0x20));
    while let Some(c) = b.get(i..i + 16).and_then(|c| <&[u8; 16]>::try_from(c).ok()) {
        let v = u8x16(
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12], c[13],
            c[14], c[15],
        );
        let hit = v128_or(
            v128_or(u8x16_eq(v, quote), u8x16_eq(v, backslash)),
            u8x16_lt(v, space),
        );
        let mask = u8x16_bitmask(hit);
        if mask != 0 {
            return i + mask.trailing_zeros() as usize; // the byte itself: no second look
        }
        i += 16;
    }
    i
}

/// Eight bytes at a time in a `u64` elsewhere.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn skip_plain(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Whether any byte of `w` is zero / less than 0x20 (exact tests, no false positives).
    let zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGH != 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let w = u64::from_le_bytes(w);
        if zero(w ^ (ONES * b'"' as u64))
            || zero(w ^ (ONES * b'\\' as u64))
            || w.wrapping_sub(ONES * 0x20) & !w & HIGH != 0
        {
            break;
        }
        i += 8;
    }
    i
}

/// Appends `n` in decimal (the same text as `json::push_u64`, two digits per division and
/// in one copy).
pub(crate) fn push_dec(o: &mut String, mut n: u64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869\
        707172737475767778798081828384858687888990919293949596979899";
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while n >= 100 {
        let d = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        buf[i] = PAIRS[d];
        buf[i + 1] = PAIRS[d + 1];
    }
    if n >= 10 {
        let d = n as usize * 2;
        i -= 2;
        buf[i] = PAIRS[d];
        buf[i + 1] = PAIRS[d + 1];
    } else {
        i -= 1;
        buf[i] = b'0' + n as u8;
    }
    o.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
}

/// Appends `ms` in nanoseconds (saturating): the digits of `ms` and six zeros, without the
/// 19-digit division loop.
fn push_nanos(o: &mut String, ms: u64) {
    match ms.checked_mul(1_000_000) {
        Some(0) => o.push('0'),
        Some(_) => {
            push_dec(o, ms);
            o.push_str("000000");
        }
        None => push_dec(o, u64::MAX),
    }
}

/// Appends `n` as 16 lowercase hex digits (the same text as `ids::push_hex64`, in one copy).
fn push_hex(o: &mut String, n: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 16];
    for (i, d) in buf.iter_mut().enumerate() {
        *d = HEX[((n >> ((15 - i) * 4)) & 0xF) as usize];
    }
    o.push_str(std::str::from_utf8(&buf).unwrap_or("0000000000000000"));
}

pub(crate) fn kv_str(o: &mut String, key: &str, v: &str) {
    o.push_str("{\"key\":\"");
    o.push_str(key);
    o.push_str("\",\"value\":{\"stringValue\":");
    push_text(o, v);
    o.push_str("}},");
}

/// A string attribute whose escaped value is cut to at most `max` bytes.
fn kv_str_max(o: &mut String, key: &str, v: &str, max: usize) {
    o.push_str("{\"key\":\"");
    o.push_str(key);
    o.push_str("\",\"value\":{\"stringValue\":");
    push_str(o, v, max);
    o.push_str("}},");
}

pub(crate) fn kv_f64(o: &mut String, key: &str, v: f64) {
    o.push_str("{\"key\":\"");
    o.push_str(key);
    o.push_str("\",\"value\":{\"doubleValue\":");
    push_f64(o, v);
    o.push_str("}},");
}

pub(crate) fn kv_i64(o: &mut String, key: &str, v: i64) {
    o.push_str("{\"key\":\"");
    o.push_str(key);
    o.push_str("\",\"value\":{\"intValue\":\"");
    if v < 0 {
        o.push('-');
    }
    push_dec(o, v.unsigned_abs());
    o.push_str("\"}},");
}

pub(crate) fn kv_bool(o: &mut String, key: &str, v: bool) {
    o.push_str("{\"key\":\"");
    o.push_str(key);
    o.push_str("\",\"value\":{\"boolValue\":");
    push_bool(o, v);
    o.push_str("}},");
}

fn end_list(o: &mut String) {
    if o.ends_with(',') {
        o.pop();
    }
}

/// The OTLP severity number of an event: 17 (ERROR) for errors and crash reports, 13 (WARN)
/// for CSP violations, interventions and network errors other than `ok`, 9 (INFO) for the rest.
fn severity(kind: &EventKind) -> u8 {
    match kind {
        EventKind::Error { .. } => 17,
        #[cfg(any(feature = "edge", not(target_arch = "wasm32")))]
        EventKind::Report {
            report_type,
            error_type,
            ..
        } => match report_type.as_str() {
            "crash" => 17,
            "csp-violation" | "intervention" => 13,
            "network-error" if error_type.as_deref() != Some("ok") => 13,
            _ => 9,
        },
        _ => 9,
    }
}

/// Encodes one batch's kept events as OTLP `ExportLogsServiceRequest` JSON documents, each at
/// most [`MAX_CHUNK_BYTES`] (an event never straddles two documents).
pub struct LogsEncoder {
    prefix: String,
}

const SUFFIX: &str = "]}]}]}";

impl LogsEncoder {
    /// The resource part shared by every record of a batch, without the schema's envelope
    /// fields (see [`LogsEncoder::for_envelope`]).
    pub fn new(
        key: &str,
        session: &str,
        sdk_name: &str,
        sdk_version: &str,
        e: &Enrichment<'_>,
    ) -> Self {
        Self::with_resource(key, session, sdk_name, sdk_version, &Resource::default(), e)
    }

    /// The resource part shared by every record of a decoded batch.
    pub fn for_envelope(env: &Envelope, e: &Enrichment<'_>) -> Self {
        Self::with_resource(
            &env.key,
            &env.session,
            &env.sdk_name,
            &env.sdk_version,
            &env.resource,
            e,
        )
    }

    fn with_resource(
        key: &str,
        session: &str,
        sdk_name: &str,
        sdk_version: &str,
        resource: &Resource,
        e: &Enrichment<'_>,
    ) -> Self {
        let mut o = String::with_capacity(640);
        o.push_str("{\"resourceLogs\":[{\"resource\":{\"attributes\":[");
        kv_str(&mut o, "service.name", key);
        resource.otlp(&mut o);
        if !session.is_empty() {
            kv_str(&mut o, "session.id", session);
        }
        kv_str(&mut o, "telemetry.sdk.name", sdk_name);
        kv_str(&mut o, "telemetry.sdk.version", sdk_version);
        kv_str(&mut o, "telemetry.sdk.language", "webjs");
        if let Some(c) = e.country {
            kv_str(&mut o, "geo.country.iso_code", c);
        }
        kv_str(&mut o, "ferrotel.ua_device", e.ua.device);
        kv_str(&mut o, "ferrotel.ua_browser", e.ua.browser);
        kv_bool(&mut o, "ferrotel.bot", e.ua.bot);
        if !e.client_hash.is_empty() {
            kv_str(&mut o, "ferrotel.client_hash", e.client_hash);
        }
        if e.clock_correction_ms != 0 {
            kv_i64(
                &mut o,
                "ferrotel.clock_correction_ms",
                e.clock_correction_ms,
            );
        }
        end_list(&mut o);
        o.push_str("]},\"scopeLogs\":[{\"scope\":{\"name\":\"ferrotel\",\"version\":\"");
        o.push_str(super::envelope::SDK_VERSION);
        o.push_str("\"},\"logRecords\":[");
        LogsEncoder { prefix: o }
    }

    /// Appends one log record for `ev` to `o`.
    pub fn record(&self, o: &mut String, ev: &Event, sample_rate: f64, received_ms: u64) {
        let mut observed = String::with_capacity(20);
        push_nanos(&mut observed, received_ms);
        self.record_observed(o, ev, sample_rate, None, false, &observed);
    }

    /// [`record`](Self::record) with the receipt time already written in nanoseconds.
    fn record_observed(
        &self,
        o: &mut String,
        ev: &Event,
        sample_rate: f64,
        rule: Option<&str>,
        error_session: bool,
        observed: &str,
    ) {
        o.push_str("{\"timeUnixNano\":\"");
        push_nanos(o, ev.t);
        o.push_str("\",\"observedTimeUnixNano\":\"");
        o.push_str(observed);
        o.push_str(match severity(&ev.kind) {
            17 => "\",\"severityNumber\":17,\"severityText\":\"ERROR\",\"eventName\":\"",
            13 => "\",\"severityNumber\":13,\"severityText\":\"WARN\",\"eventName\":\"",
            _ => "\",\"severityNumber\":9,\"severityText\":\"INFO\",\"eventName\":\"",
        });
        o.push_str("browser.");
        o.push_str(ev.kind.type_name());
        o.push_str("\",\"attributes\":[");
        o.push_str("{\"key\":\"event.id\",\"value\":{\"stringValue\":\"");
        push_hex(o, ev.id);
        o.push_str("\"}},{\"key\":\"event.name\",\"value\":{\"stringValue\":\"browser.");
        o.push_str(ev.kind.type_name());
        o.push_str("\"}},");
        kv_str(o, "url.full", &ev.url);
        kv_f64(o, "ferrotel.sample_rate", sample_rate);
        if let Some(rule) = rule {
            kv_str(o, super::rules::RULE_ATTRIBUTE, rule);
        }
        if error_session {
            kv_bool(o, super::rules::ERROR_SESSION_ATTRIBUTE, true);
        }
        ev.kind.otlp_attributes(o);
        // Frames are parsed here, at the edge, so the browser ships no parser.
        if let EventKind::Error {
            source, stack: raw, ..
        } = &ev.kind
        {
            if !raw.is_empty() && *source != ErrorSource::Panic {
                let (frames, top) = stack::summary(raw);
                kv_i64(o, "ferrotel.frames", frames as i64);
                if let Some(f) = top {
                    // Bounded (escaped size, like the wire's strings): they repeat part of the
                    // trace, and unbounded they let one record outgrow MAX_CHUNK_BYTES.
                    if !f.function.is_empty() {
                        kv_str_max(o, "code.function.name", f.function, limits::URL);
                    }
                    kv_str_max(o, "code.file.path", f.file, limits::URL);
                    if let Some(l) = f.line {
                        kv_i64(o, "code.line.number", l as i64);
                    }
                    if let Some(c) = f.column {
                        kv_i64(o, "code.column.number", c as i64);
                    }
                }
            }
        }
        end_list(o);
        o.push_str("]}");
    }

    /// A writer that appends records straight to their documents, each at most `max_bytes`
    /// (see [`DocWriter`]); `estimate` is the expected size of all of them (it pre-sizes the
    /// first document).
    pub fn writer(&self, max_bytes: usize, estimate: usize) -> DocWriter<'_> {
        DocWriter {
            enc: self,
            max: max_bytes,
            estimate,
            docs: Vec::new(),
            cur: String::new(),
            observed: None,
        }
    }

    /// Joins records into documents of at most `max_bytes` each.
    pub fn documents(&self, records: &[String], max_bytes: usize) -> Vec<String> {
        let mut docs = Vec::new();
        let mut cur = String::new();
        for r in records {
            let fits = cur.len() + 1 + r.len() + SUFFIX.len() <= max_bytes;
            if !cur.is_empty() && !fits {
                cur.push_str(SUFFIX);
                docs.push(std::mem::take(&mut cur));
            }
            if cur.is_empty() {
                cur.reserve(self.prefix.len() + r.len() + SUFFIX.len());
                cur.push_str(&self.prefix);
            } else {
                cur.push(',');
            }
            cur.push_str(r);
        }
        if !cur.is_empty() {
            cur.push_str(SUFFIX);
            docs.push(cur);
        }
        docs
    }
}

/// Writes log records straight into OTLP documents: the documents [`LogsEncoder::documents`]
/// makes of the same records, without a buffer per record and the copy joining them.
pub struct DocWriter<'e> {
    enc: &'e LogsEncoder,
    max: usize,
    estimate: usize,
    docs: Vec<String>,
    cur: String,
    /// The last receipt time and its text in nanoseconds (the same for every record of a batch).
    observed: Option<(u64, String)>,
}

impl DocWriter<'_> {
    /// Appends the log record of `ev` (see [`LogsEncoder::record`]) to the current document,
    /// or, when it would take that document over the limit, to a new one.
    pub fn record(&mut self, ev: &Event, sample_rate: f64, received_ms: u64) {
        self.record_sampled(ev, sample_rate, None, false, received_ms);
    }

    /// [`record`](Self::record) with the sampling rule that decided (`ferrotel.sample_rule`)
    /// and whether the event was kept only because its session had an error
    /// (`ferrotel.sample_error_session`).
    pub fn record_sampled(
        &mut self,
        ev: &Event,
        sample_rate: f64,
        rule: Option<&str>,
        error_session: bool,
        received_ms: u64,
    ) {
        let before = self.cur.len();
        if before == 0 {
            self.start();
        } else {
            self.cur.push(',');
        }
        let start = self.cur.len();
        let observed = match &mut self.observed {
            Some((ms, text)) if *ms == received_ms => text,
            slot => {
                let mut text = String::with_capacity(20);
                push_nanos(&mut text, received_ms);
                &mut slot.insert((received_ms, text)).1
            }
        };
        self.enc.record_observed(
            &mut self.cur,
            ev,
            sample_rate,
            rule,
            error_session,
            observed,
        );
        let len = self.cur.len() - start;
        if before != 0 && before + 1 + len + SUFFIX.len() > self.max {
            let record = self.cur.split_off(start);
            self.cur.truncate(before);
            self.cur.push_str(SUFFIX);
            self.docs.push(std::mem::take(&mut self.cur));
            self.start();
            self.cur.push_str(&record);
        }
    }

    fn start(&mut self) {
        let left = (self.estimate).saturating_sub(self.docs.len().saturating_mul(self.max));
        self.cur
            .reserve(left.min(self.max).max(1024).saturating_add(4096));
        self.cur.push_str(&self.enc.prefix);
    }

    /// The documents, each closed.
    pub fn finish(mut self) -> Vec<String> {
        if !self.cur.is_empty() {
            self.cur.push_str(SUFFIX);
            self.docs.push(self.cur);
        }
        self.docs
    }
}

/// One stored row of the embedded store.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Event id, 16 hex digits.
    pub id: String,
    /// Event time, ms since the epoch.
    pub t: u64,
    /// Wire type (`click`, `error`, ...).
    pub kind: String,
    /// Session id.
    pub session: String,
    /// Write key.
    pub key: String,
    /// The event as a flat JSON object with wire field names, plus the enrichment.
    pub data: String,
}

#[derive(Deserialize)]
struct Req<'a> {
    #[serde(rename = "resourceLogs", borrow)]
    resource_logs: Vec<ResourceLogs<'a>>,
}
#[derive(Deserialize)]
struct ResourceLogs<'a> {
    #[serde(borrow)]
    resource: ResourceJson<'a>,
    #[serde(rename = "scopeLogs", borrow)]
    scope_logs: Vec<ScopeLogs<'a>>,
}
#[derive(Deserialize)]
struct ResourceJson<'a> {
    #[serde(borrow)]
    attributes: Vec<Kv<'a>>,
}
#[derive(Deserialize)]
struct ScopeLogs<'a> {
    #[serde(rename = "logRecords", borrow)]
    log_records: Vec<LogRecord<'a>>,
}
#[derive(Deserialize)]
struct LogRecord<'a> {
    #[serde(rename = "timeUnixNano", borrow)]
    time: Cow<'a, str>,
    #[serde(borrow)]
    attributes: Vec<Kv<'a>>,
}
#[derive(Deserialize)]
struct Kv<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow)]
    value: AnyValue<'a>,
}
#[derive(Deserialize)]
struct AnyValue<'a> {
    #[serde(rename = "stringValue", borrow)]
    string: Option<Cow<'a, str>>,
    #[serde(rename = "intValue", borrow)]
    int: Option<Cow<'a, str>>,
    #[serde(rename = "doubleValue")]
    double: Option<f64>,
    #[serde(rename = "boolValue")]
    boolean: Option<bool>,
    /// Lists and maps (the consumer's `ferrotel.stack_frames`, see `symbolicate`).
    #[serde(rename = "arrayValue", borrow)]
    array: Option<Values<AnyValue<'a>>>,
    #[serde(rename = "kvlistValue", borrow)]
    kvlist: Option<Values<Kv<'a>>>,
}
#[derive(Deserialize)]
struct Values<T> {
    #[serde(default = "Vec::new")]
    values: Vec<T>,
}

impl AnyValue<'_> {
    fn json(&self) -> serde_json::Value {
        if let Some(s) = &self.string {
            serde_json::Value::from(s.as_ref())
        } else if let Some(i) = &self.int {
            i.parse::<i64>()
                .map(serde_json::Value::from)
                .unwrap_or(serde_json::Value::Null)
        } else if let Some(d) = self.double {
            serde_json::Value::from(d)
        } else if let Some(b) = self.boolean {
            serde_json::Value::from(b)
        } else if let Some(a) = &self.array {
            serde_json::Value::Array(a.values.iter().map(AnyValue::json).collect())
        } else if let Some(m) = &self.kvlist {
            serde_json::Value::Object(
                m.values
                    .iter()
                    .map(|kv| (kv.key.to_string(), kv.value.json()))
                    .collect(),
            )
        } else {
            serde_json::Value::Null
        }
    }
}

/// The wire field name for an OTLP attribute key (the inverse of the encoder's naming): the
/// schema's fields by their declared keys, custom attributes by their own key, the enrichment
/// without its `ferrotel.` prefix.
fn wire_name(key: &str) -> &str {
    if let Some(k) = key.strip_prefix("ferrotel.attr.") {
        return k;
    }
    match key {
        "event.id" => "id",
        "event.name" => "type",
        "url.full" => "url",
        "session.id" => "session",
        "service.name" => "key",
        "geo.country.iso_code" => "country",
        _ => wire_name_of(key)
            .or_else(|| key.strip_prefix("ferrotel."))
            .unwrap_or(key),
    }
}

/// Projects an OTLP logs document produced by [`LogsEncoder`] into rows.
pub fn project(doc: &[u8]) -> Result<Vec<Row>, String> {
    let req: Req<'_> = serde_json::from_slice(doc).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for rl in req.resource_logs {
        let mut base = serde_json::Map::new();
        for kv in &rl.resource.attributes {
            if !kv.key.starts_with("telemetry.") {
                base.insert(wire_name(&kv.key).to_owned(), kv.value.json());
            }
        }
        let text = |m: &serde_json::Map<String, serde_json::Value>, k: &str| {
            m.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        for sl in rl.scope_logs {
            for lr in sl.log_records {
                let mut data = base.clone();
                let mut attrs = serde_json::Map::new();
                for kv in &lr.attributes {
                    let name = wire_name(&kv.key);
                    let mut v = kv.value.json();
                    if name == "type" {
                        v = serde_json::Value::from(
                            v.as_str()
                                .unwrap_or_default()
                                .trim_start_matches("browser."),
                        );
                    }
                    if kv.key.starts_with("ferrotel.attr.") {
                        attrs.insert(name.to_owned(), v);
                    } else {
                        data.insert(name.to_owned(), v);
                    }
                }
                let t = lr.time.parse::<u64>().map_err(|e| e.to_string())? / 1_000_000;
                data.insert("t".into(), serde_json::Value::from(t));
                if !attrs.is_empty() {
                    data.insert("attrs".into(), serde_json::Value::Object(attrs));
                }
                let id = text(&data, "id");
                if id.is_empty() {
                    return Err("a log record has no event.id".into());
                }
                rows.push(Row {
                    kind: text(&data, "type"),
                    session: text(&data, "session"),
                    key: text(&data, "key"),
                    id,
                    t,
                    data: serde_json::Value::Object(data).to_string(),
                });
            }
        }
    }
    Ok(rows)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::ids::push_hex64;
    use crate::core::json::{push_str, push_u64};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fast_writers_write_what_the_json_writers_write(
            s in any::<String>(),
            ascii in "[ -~\\t\\n\\r\\x00-\\x1f\"\\\\]{0,40}",
            n in any::<u64>(),
            ms in any::<u64>(),
        ) {
            for s in [&s, &ascii] {
                let (mut a, mut b) = (String::new(), String::new());
                push_text(&mut a, s);
                push_str(&mut b, s, usize::MAX);
                prop_assert_eq!(a, b);
            }
            for n in [n, n % 1000, n % 10, ms % 10_000_000_000_000] {
                let (mut a, mut b) = (String::new(), String::new());
                push_dec(&mut a, n);
                push_u64(&mut b, n);
                prop_assert_eq!(a, b);
            }
            let (mut a, mut b) = (String::new(), String::new());
            push_hex(&mut a, n);
            push_hex64(&mut b, n);
            prop_assert_eq!(a, b);
            for ms in [ms, ms % 5_000_000_000_000, 0] {
                let (mut a, mut b) = (String::new(), String::new());
                push_nanos(&mut a, ms);
                push_u64(&mut b, ms.saturating_mul(1_000_000));
                prop_assert_eq!(a, b);
            }
        }
    }
}
