//! Browser reports, read at the edge (`POST /v1/reports`): the Reporting API's
//! `application/reports+json` (an array of `{type, age, url, user_agent, body}`) and the legacy
//! CSP `report-uri` body `application/csp-report` (`{"csp-report": {...}}`), turned into
//! `report` events of the one schema with every URL scrubbed.
//!
//! Pure, like the rest of `core`: [`check_shape`] refuses a body by its bytes before any
//! parsing (nesting, the number of reports), [`parse`] reads what passed into events; the
//! decisions around it (route, key, origin, limits, the answer) are `ingest::decide`'s.
//!
//! The report's fields reach the event through the schema's own decoder (`EventKind::decode`
//! for wire type `report`), so the declared limits and rules apply here exactly as they do to
//! a batch: a string over its limit is cut, a negative duration or a line number that is not a
//! 32-bit integer drops the report with the field's name.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::envelope::{DecodeError, Dropped, MAX_BODY_BYTES};
use super::event::{limits, Event, EventKind};
use super::fields::{Raw, Slots};
use super::schema::{EVENT_SLOTS, EVENT_TABLE};
use super::scrub::{scrub_url, scrub_urls_in_text, truncate};

/// Reports per request. Chrome keeps at most 100 queued reports and sends them in one upload.
pub const MAX_REPORTS: usize = 100;
/// JSON nesting: the array, a report, its body, NEL's `request_headers` / `response_headers`
/// object, and the list of values of one header in it.
pub const MAX_REPORT_DEPTH: usize = 5;
/// The wire `type` of a report event.
pub const REPORT_TYPE: &str = "report";
/// The report types read (others are dropped, each with its reason).
pub const REPORT_TYPES: &[&str] = &[
    "csp-violation",
    "deprecation",
    "intervention",
    "crash",
    "network-error",
];

/// How a body is read, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/reports+json`: an array of reports.
    Reports,
    /// `application/csp-report`: one legacy CSP report, `{"csp-report": {...}}`.
    CspReport,
    /// `application/json`: either, by the first byte (`[` or `{`); some browsers sent legacy
    /// CSP reports so.
    Json,
}

impl Format {
    /// The format of a `Content-Type` (parameters such as `charset` ignored, case-insensitive),
    /// or `None` for any other media type.
    pub fn of(content_type: &str) -> Option<Format> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        [
            ("application/reports+json", Format::Reports),
            ("application/csp-report", Format::CspReport),
            ("application/json", Format::Json),
        ]
        .into_iter()
        .find(|(name, _)| essence.eq_ignore_ascii_case(name))
        .map(|(_, f)| f)
    }
}

/// What [`check_shape`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// The format the body has (`Reports` or `CspReport`; never `Json`).
    pub format: Format,
    /// Reports in it (elements of the top-level array; 1 for a legacy CSP report).
    pub reports: usize,
}

/// The checks that need no parsing, in one pass over the bytes and without allocating: the
/// body is not empty, starts as its format says (`[` or `{`), nests at most
/// [`MAX_REPORT_DEPTH`] deep and holds at most [`MAX_REPORTS`] reports.
pub fn check_shape(body: &[u8], format: Format) -> Result<Shape, DecodeError> {
    let Some(first) = body.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Err(DecodeError::new(
            "body",
            "is empty; expected browser reports (JSON)",
        ));
    };
    let format = match (format, body[first]) {
        (Format::Reports | Format::Json, b'[') => Format::Reports,
        (Format::CspReport | Format::Json, b'{') => Format::CspReport,
        (Format::Reports, _) => {
            return Err(DecodeError::new(
                "body",
                "must be a JSON array of reports (application/reports+json)",
            ))
        }
        (Format::CspReport, _) => {
            return Err(DecodeError::new(
                "body",
                "must be a JSON object {\"csp-report\": {...}} (application/csp-report)",
            ))
        }
        (Format::Json, _) => {
            return Err(DecodeError::new(
                "body",
                "must be a JSON array of reports or a {\"csp-report\": {...}} object",
            ))
        }
    };
    let (mut depth, mut commas, mut empty) = (0usize, 0usize, true);
    let mut i = first;
    while i < body.len() {
        let b = body[i];
        if depth == 1 && empty && !b.is_ascii_whitespace() && b != b']' && b != b'}' {
            empty = false;
        }
        match b {
            b'"' => {
                // Skip the string: to the next quote that no backslash escapes.
                let mut j = i + 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &body[j.min(body.len())..]) {
                        Some(k) if body[j + k] == b'\\' => j += k + 2,
                        Some(k) => {
                            j += k;
                            break;
                        }
                        None => return Err(DecodeError::new("body", "has an unterminated string")),
                    }
                }
                i = j;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_REPORT_DEPTH {
                    return Err(DecodeError::new(
                        "body",
                        "nests deeper than 5 levels (reports array, report, body, NEL headers, a header's values)",
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => {
                commas += 1;
                if format == Format::Reports && commas >= MAX_REPORTS {
                    return Err(DecodeError::new(
                        "reports",
                        "has more than 100 reports; send them in several requests",
                    ));
                }
            }
            _ => {}
        }
        i += 1;
    }
    let reports = match format {
        Format::CspReport => 1,
        _ if empty => 0,
        _ => commas + 1,
    };
    Ok(Shape { format, reports })
}

/// What the edge knows when it reads the reports of one request.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The write key (from the URL).
    pub key: &'a str,
    /// The daily-salted client hash ("" without an address): part of each report's id.
    pub client_hash: &'a str,
    /// Receipt time, ms since the epoch.
    pub now_ms: u64,
    /// Reports older than this many days (by their `age`) are dropped.
    pub retention_days: u32,
}

/// One report as sent.
#[derive(Deserialize)]
struct Report<'a> {
    #[serde(rename = "type", borrow)]
    ty: Option<Cow<'a, str>>,
    age: Option<f64>,
    #[serde(borrow)]
    url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    body: Option<&'a RawValue>,
}

/// The legacy `{"csp-report": {...}}`.
#[derive(Deserialize)]
struct Legacy<'a> {
    #[serde(rename = "csp-report", borrow)]
    report: &'a RawValue,
}

/// A report's body: the union of the fields read from every report type (each type uses its
/// own names; the legacy CSP names are aliases). Unknown members, `originalPolicy` and the CSP
/// `sample` (the first characters of an inline script, which can hold personal data) among
/// them, are skipped.
#[derive(Deserialize, Default)]
struct Body<'a> {
    #[serde(rename = "documentURL", alias = "document-uri", borrow)]
    document_url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    referrer: Option<Cow<'a, str>>,
    #[serde(rename = "blockedURL", alias = "blocked-uri", borrow)]
    blocked_url: Option<Cow<'a, str>>,
    #[serde(rename = "effectiveDirective", alias = "effective-directive", borrow)]
    effective_directive: Option<Cow<'a, str>>,
    #[serde(rename = "violated-directive", borrow)]
    violated_directive: Option<Cow<'a, str>>,
    #[serde(borrow)]
    disposition: Option<Cow<'a, str>>,
    #[serde(rename = "sourceFile", alias = "source-file", borrow)]
    source_file: Option<Cow<'a, str>>,
    #[serde(rename = "lineNumber", alias = "line-number")]
    line: Option<u64>,
    #[serde(rename = "columnNumber", alias = "column-number")]
    column: Option<u64>,
    #[serde(rename = "statusCode", alias = "status-code", alias = "status_code")]
    status_code: Option<u64>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reason: Option<Cow<'a, str>>,
    #[serde(borrow)]
    phase: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    nel_type: Option<Cow<'a, str>>,
    elapsed_time: Option<f64>,
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    protocol: Option<Cow<'a, str>>,
    #[serde(borrow)]
    server_ip: Option<Cow<'a, str>>,
    sampling_fraction: Option<f64>,
}

/// The reports read from a body: the events (ids, times, scrubbed URLs) and the reports
/// dropped, each with its index, field and reason.
#[derive(Debug, Default)]
pub struct Parsed {
    /// One `report` event per report kept.
    pub events: Vec<Event>,
    /// Per event: a `crash` report (kept whatever the sampling rate, like errors).
    pub crash: Vec<bool>,
    /// Reports dropped, by index (`reports[i]`, or `csp-report` for the legacy form).
    pub dropped: Vec<Dropped>,
}

/// Reads the reports of a body that passed [`check_shape`] (which gave `shape`). A body that
/// is not JSON of its format is refused whole; a report that is broken, of a type not read,
/// older than the retention or from a page `allowed` refuses (it is given the origin of the
/// report's URL, `None` when that URL has none) is dropped with its reason, and the others kept.
pub fn parse(
    body: &[u8],
    shape: Shape,
    cx: &Context<'_>,
    allowed: &dyn Fn(Option<&str>) -> bool,
) -> Result<Parsed, DecodeError> {
    let bad = |e: serde_json::Error| DecodeError::new("body", format!("is not valid JSON: {e}"));
    let mut out = Parsed::default();
    match shape.format {
        Format::CspReport => {
            let legacy: Legacy<'_> = serde_json::from_slice(body).map_err(bad)?;
            let read = serde_json::from_str::<Body<'_>>(legacy.report.get())
                .map_err(|e| ("csp-report", Cow::Owned(e.to_string())))
                .and_then(|b| {
                    let url = b.document_url.clone().unwrap_or_default();
                    event(
                        cx,
                        "csp-violation",
                        &url,
                        0.0,
                        &b,
                        legacy.report.get(),
                        allowed,
                    )
                    .map_err(|(f, r)| {
                        (
                            if f == "url" {
                                "csp-report.document-uri"
                            } else {
                                f
                            },
                            r,
                        )
                    })
                });
            match read {
                Ok(ev) => out.push(ev, false),
                Err((field, reason)) => out.dropped.push(Dropped {
                    index: 0,
                    field: field.into(),
                    reason,
                }),
            }
        }
        _ => {
            let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(bad)?;
            for (i, item) in items.iter().enumerate() {
                match report(cx, item.get(), allowed) {
                    Ok((ev, crash)) => out.push(ev, crash),
                    Err((field, reason)) => out.dropped.push(Dropped {
                        index: i,
                        field: if field.is_empty() {
                            format!("reports[{i}]")
                        } else {
                            format!("reports[{i}].{field}")
                        },
                        reason,
                    }),
                }
            }
        }
    }
    Ok(out)
}

impl Parsed {
    /// Keeps `ev` unless the upload already held the same report (the same id).
    fn push(&mut self, ev: Event, crash: bool) {
        if self.events.iter().any(|e| e.id == ev.id) {
            return;
        }
        self.events.push(ev);
        self.crash.push(crash);
    }
}

type Problem = (&'static str, Cow<'static, str>);

/// One element of a Reporting API upload.
fn report(
    cx: &Context<'_>,
    item: &str,
    allowed: &dyn Fn(Option<&str>) -> bool,
) -> Result<(Event, bool), Problem> {
    let r: Report<'_> = serde_json::from_str(item).map_err(|e| ("", Cow::Owned(e.to_string())))?;
    let ty =
        r.ty.as_deref()
            .ok_or(("type", Cow::Borrowed("is missing")))?;
    if !REPORT_TYPES.contains(&ty) {
        return Err((
            "type",
            Cow::Owned(format!(
                "{:?} is not a report type read here ({})",
                truncate(ty, 64),
                REPORT_TYPES.join(", ")
            )),
        ));
    }
    let age = r.age.unwrap_or(0.0);
    if age < 0.0 {
        return Err(("age", Cow::Borrowed("must be milliseconds, not negative")));
    }
    let raw_body = r.body.map_or("{}", |b| b.get());
    let b: Body<'_> =
        serde_json::from_str(raw_body).map_err(|e| ("body", Cow::Owned(e.to_string())))?;
    let url = r.url.as_deref().unwrap_or("");
    Ok((
        event(cx, ty, url, age, &b, raw_body, allowed)?,
        ty == "crash",
    ))
}

/// The origin (`scheme://host[:port]`) of an http(s) URL.
pub fn origin_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..end];
    if host.is_empty() || host.contains('@') {
        return None;
    }
    Some(&url[..url.len() - rest.len() + end])
}

/// The event of one report of type `ty` for the page (or request) `url`, `age` ms old.
fn event(
    cx: &Context<'_>,
    ty: &str,
    url: &str,
    age: f64,
    b: &Body<'_>,
    raw_body: &str,
    allowed: &dyn Fn(Option<&str>) -> bool,
) -> Result<Event, Problem> {
    if !allowed(origin_of(url)) {
        return Err((
            "url",
            Cow::Borrowed(
                "is not on an origin this write key accepts (list the origin of every page, and every origin that sets NEL, in WRITE_KEYS)",
            ),
        ));
    }
    let oldest = u64::from(cx.retention_days) * 86_400_000;
    if age > oldest as f64 {
        return Err((
            "age",
            Cow::Owned(format!(
                "is more than {} days (RETENTION_DAYS)",
                cx.retention_days
            )),
        ));
    }
    let t = cx.now_ms.saturating_sub(age as u64).max(1);
    let none: &[String] = &[];
    let int = |n: Option<u64>| n.map(|n| Raw::I64(i64::try_from(n).unwrap_or(i64::MAX)));
    let directive = match &b.effective_directive {
        Some(_) => text(&b.effective_directive),
        None => text(&b.violated_directive),
    };
    let message = b
        .message
        .as_deref()
        .map(|m| Raw::Str(scrub_urls_in_text(m, none)));
    let mut slots: Slots<'_, EVENT_SLOTS> = Slots::default();
    for (wire, v) in [
        ("report_type", Some(Raw::Str(Cow::Borrowed(ty)))),
        ("effective_directive", directive),
        ("disposition", text(&b.disposition)),
        ("blocked_url", scrubbed(&b.blocked_url)),
        ("code.file.path", scrubbed(&b.source_file)),
        ("code.line.number", int(b.line)),
        ("code.column.number", int(b.column)),
        ("referrer", scrubbed(&b.referrer)),
        ("feature", text(&b.id)),
        ("message", message),
        ("reason", text(&b.reason)),
        ("http.response.status_code", int(b.status_code)),
        ("phase", text(&b.phase)),
        ("error.type", text(&b.nel_type)),
        ("elapsed_ms", b.elapsed_time.map(Raw::F64)),
        ("http.request.method", text(&b.method)),
        ("network.protocol.name", text(&b.protocol)),
        ("server.address", text(&b.server_ip)),
        ("sampling_fraction", b.sampling_fraction.map(Raw::F64)),
    ] {
        // Every name is a declared wire name of `report` (a test holds them to the schema),
        // each put once into fresh slots.
        if let (Some(v), Some(i)) = (v, (EVENT_TABLE.index)(wire)) {
            slots.put(i, v);
        }
    }
    let kind = EventKind::decode(REPORT_TYPE, &mut slots)?;
    let url = scrub_url(url, none);
    let url = truncate(&url, limits::URL).to_owned();
    Ok(Event {
        id: report_id(cx, ty, &url, raw_body, t),
        t,
        url,
        kind,
    })
}

fn text<'s>(s: &'s Option<Cow<'_, str>>) -> Option<Raw<'s>> {
    s.as_deref().map(|s| Raw::Str(Cow::Borrowed(s)))
}

fn scrubbed<'s>(s: &'s Option<Cow<'_, str>>) -> Option<Raw<'s>> {
    s.as_deref().map(|s| Raw::Str(scrub_url(s, &[])))
}

/// A report's event id: a hash of the write key, the client, the report (type, scrubbed URL,
/// body as sent) and the minute it happened in, so a browser's resend of an upload whose answer
/// it lost is stored once, and the same report from another client or another minute is
/// another event. Never zero.
fn report_id(cx: &Context<'_>, ty: &str, url: &str, raw_body: &str, t: u64) -> u64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [cx.key, cx.client_hash, ty, url, raw_body] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.update((t / 60_000).to_le_bytes());
    let d = h.finalize();
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]).max(1)
}

/// The body size limit (the same as a batch's).
pub const MAX_REPORTS_BODY: usize = MAX_BODY_BYTES;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::core::ingest::{
        decide, Bindings, Decision, Incoming, IngestConfig, Plan, Reply, READ_AT_MOST, RL_CLIENT,
        RL_KEY,
    };
    use crate::core::otlp::project;
    use serde_json::Value;

    const NOW: u64 = 1_764_000_001_000;
    const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36";

    /// Report bodies in the formats browsers send (Chrome's Reporting API uploads, a legacy
    /// `report-uri` body), each with a secret in a query string.
    pub(crate) const CSP: &str = r#"{"age":10,"body":{"blockedURL":"https://evil.test/x.js?token=SECRET","columnNumber":5,"disposition":"enforce","documentURL":"https://a.test/page?session=abc","effectiveDirective":"script-src-elem","lineNumber":12,"originalPolicy":"script-src 'self'; report-to csp","referrer":"https://a.test/?q=1","sample":"alert(1)","sourceFile":"https://a.test/app.js?v=1","statusCode":200},"type":"csp-violation","url":"https://a.test/page?session=abc","user_agent":"UA"}"#;
    pub(crate) const DEPRECATION: &str = r#"{"age":1,"body":{"anticipatedRemoval":null,"columnNumber":3,"id":"UnloadHandler","lineNumber":9,"message":"Unload event listeners are deprecated. See https://a.test/doc?token=SECRET","sourceFile":"https://a.test/app.js"},"type":"deprecation","url":"https://a.test/","user_agent":"UA"}"#;
    pub(crate) const INTERVENTION: &str = r#"{"age":2,"body":{"id":"HeavyAdIntervention","message":"Ad was removed because its network usage exceeded the limit.","sourceFile":null,"lineNumber":null,"columnNumber":null},"type":"intervention","url":"https://a.test/","user_agent":"UA"}"#;
    pub(crate) const CRASH: &str = r#"{"age":42,"body":{"reason":"oom","is_top_level":true},"type":"crash","url":"https://a.test/","user_agent":"UA"}"#;
    pub(crate) const NEL: &str = r#"{"age":500,"body":{"elapsed_time":1234,"method":"GET","phase":"connection","protocol":"http/1.1","referrer":"https://a.test/?ref=x","sampling_fraction":1.0,"server_ip":"203.0.113.7","status_code":0,"type":"tcp.timed_out","request_headers":{"If-None-Match":["abc"]},"response_headers":{}},"type":"network-error","url":"https://a.test/api?token=SECRET","user_agent":"UA"}"#;
    pub(crate) const LEGACY: &str = r#"{"csp-report":{"document-uri":"https://a.test/p?token=SECRET","referrer":"","violated-directive":"script-src-elem","effective-directive":"script-src-elem","original-policy":"script-src 'self'; report-uri /v1/reports?key=pk_a","disposition":"report","blocked-uri":"https://evil.test/x.js?token=SECRET","line-number":4,"column-number":7,"source-file":"https://a.test/p","status-code":200,"script-sample":""}}"#;

    fn cfg(rates: &str) -> IngestConfig {
        let vars: BTreeMap<&str, &str> = [
            (
                "WRITE_KEYS",
                r#"{"pk_a":["https://a.test"],"pk_any":["*"]}"#,
            ),
            ("SAMPLE_RATES", rates),
            ("IP_SALT", "0123456789abcdef"),
            ("DAILY_QUOTAS", r#"{"pk_any":10}"#),
        ]
        .into_iter()
        .collect();
        IngestConfig::from_vars(|k| vars.get(k).map(|v| v.to_string())).unwrap()
    }

    const ALL: Bindings = Bindings {
        rl_key: true,
        rl_client: true,
        queue: true,
    };

    fn req<'a>(url: &'a str, ct: &'a str, body: Option<&'a [u8]>) -> Incoming<'a> {
        Incoming {
            method: "POST",
            url,
            content_type: Some(ct),
            content_length: None,
            origin: Some("https://a.test"),
            user_agent: Some(UA),
            ip: Some("192.0.2.1"),
            country: Some("FR"),
            now_ms: NOW,
            body,
            checked: false,
            day_salt: "",
            used_today: None,
            rules: None,
            error_sessions: None,
            looked_up: false,
        }
    }

    const URL: &str = "https://ingest.test/v1/reports?key=pk_a";
    const RJ: &str = "application/reports+json";

    /// What the entry does: the headers' decision, the limiters (all allow), the body, the
    /// final decision.
    fn run(c: &IngestConfig, r: &Incoming<'_>, body: &[u8]) -> Decision {
        let first = Incoming {
            body: None,
            ..r.clone()
        };
        match decide(Ok(c), &first, ALL) {
            Decision::Next(s) => {
                assert_eq!(s.read, READ_AT_MOST);
                assert!(s.checked);
                let read = &body[..body.len().min(s.read)];
                decide(
                    Ok(c),
                    &Incoming {
                        body: Some(read),
                        checked: true,
                        ..r.clone()
                    },
                    ALL,
                )
            }
            d => d,
        }
    }

    fn refused(d: Decision) -> (u16, Value) {
        let r: Reply = match d {
            Decision::Refuse(r) => {
                assert_eq!(r.limit.0, RL_CLIENT, "charged to the client");
                r.reply
            }
            other => panic!("expected a charged refusal, got {other:?}"),
        };
        assert!(r.status >= 400 && r.status < 500, "{r:?}");
        (
            r.status,
            serde_json::from_str(r.body.as_deref().unwrap()).unwrap(),
        )
    }

    fn plan(d: Decision) -> Plan {
        match d {
            Decision::Accept(p) => p,
            other => panic!("expected a plan, got {other:?}"),
        }
    }

    /// The stored rows of a plan, as the consumer projects them.
    fn rows(p: &Plan) -> Vec<Value> {
        p.docs
            .iter()
            .flat_map(|d| project(d.as_bytes()).unwrap())
            .map(|r| serde_json::from_str(&r.data).unwrap())
            .collect()
    }

    fn upload(reports: &[&str]) -> String {
        format!("[{}]", reports.join(","))
    }

    #[test]
    fn every_report_type_is_stored_scrubbed_with_its_fields() {
        let c = cfg(r#"{"default":1}"#);
        let body = upload(&[CSP, DEPRECATION, INTERVENTION, CRASH, NEL]);
        let p = plan(run(&c, &req(URL, RJ, None), body.as_bytes()));
        assert_eq!(
            (p.reply.status, p.accepted, p.key.as_str()),
            (204, 5, "pk_a")
        );
        let all = p.docs.concat();
        assert!(
            !all.contains("SECRET") && !all.contains("session=abc"),
            "{all}"
        );
        assert!(!all.contains("alert(1)"), "the CSP sample is not kept");
        assert!(!all.contains("script-src 'self'"), "nor the policy");
        assert!(!all.contains("203.0.113.7\"") || all.contains("server.address"));
        let r = rows(&p);
        let by = |t: &str| r.iter().find(|r| r["report_type"] == t).unwrap().clone();
        for row in &r {
            assert_eq!(row["type"], "report");
            assert_eq!(row["key"], "pk_a");
            assert_eq!(row["country"], "FR");
            assert!(row.get("session").is_none(), "reports have no session");
        }
        let csp = by("csp-violation");
        assert_eq!(csp["url"], "https://a.test/page");
        assert_eq!(csp["blocked_url"], "https://evil.test/x.js");
        assert_eq!(csp["effective_directive"], "script-src-elem");
        assert_eq!(csp["disposition"], "enforce");
        assert_eq!(csp["code.file.path"], "https://a.test/app.js");
        assert_eq!(
            (
                csp["code.line.number"].as_i64(),
                csp["code.column.number"].as_i64()
            ),
            (Some(12), Some(5))
        );
        assert_eq!(csp["http.response.status_code"], 200);
        assert_eq!(csp["referrer"], "https://a.test/");
        assert_eq!(csp["t"].as_u64(), Some(NOW - 10), "receipt minus age");
        let dep = by("deprecation");
        assert_eq!(dep["feature"], "UnloadHandler");
        assert_eq!(
            dep["message"],
            "Unload event listeners are deprecated. See https://a.test/doc"
        );
        assert_eq!(by("intervention")["feature"], "HeavyAdIntervention");
        assert!(
            by("intervention").get("code.file.path").is_none(),
            "null is absent"
        );
        assert_eq!(by("crash")["reason"], "oom");
        let nel = by("network-error");
        assert_eq!(nel["url"], "https://a.test/api");
        assert_eq!(nel["phase"], "connection");
        assert_eq!(nel["error.type"], "tcp.timed_out");
        assert_eq!(nel["elapsed_ms"], 1234.0);
        assert_eq!(nel["http.request.method"], "GET");
        assert_eq!(nel["network.protocol.name"], "http/1.1");
        assert_eq!(nel["server.address"], "203.0.113.7");
        assert_eq!(nel["sampling_fraction"], 1.0);
        assert_eq!(nel["http.response.status_code"], 0);
        assert_eq!(nel["referrer"], "https://a.test/");
        // Severity: crash ERROR, CSP / intervention / failed NEL WARN, deprecation INFO.
        let doc: Value = serde_json::from_str(&p.docs[0]).unwrap();
        let sev: BTreeMap<String, u64> = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
            .as_array()
            .unwrap()
            .iter()
            .map(|lr| {
                let ty = lr["attributes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|a| a["key"] == "browser.report.type")
                    .unwrap()["value"]["stringValue"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                (ty, lr["severityNumber"].as_u64().unwrap())
            })
            .collect();
        assert_eq!(sev["crash"], 17);
        assert_eq!(
            (
                sev["csp-violation"],
                sev["intervention"],
                sev["network-error"]
            ),
            (13, 13, 13)
        );
        assert_eq!(sev["deprecation"], 9);
    }

    #[test]
    fn every_field_the_reader_fills_is_declared_in_the_schema() {
        // One report with every field set: each lands as its own attribute (a name that is not
        // a declared wire name of `report` would vanish silently).
        let all = CSP.replace("\"sample\"", "\"id\":\"f\",\"message\":\"m\",\"reason\":\"r\",\"phase\":\"dns\",\"type\":\"dns.name_not_resolved\",\"elapsed_time\":1,\"method\":\"GET\",\"protocol\":\"h2\",\"server_ip\":\"::1\",\"sampling_fraction\":0.5,\"sample\"");
        let c = cfg(r#"{"default":1}"#);
        let p = plan(run(&c, &req(URL, RJ, None), upload(&[&all]).as_bytes()));
        let doc: Value = serde_json::from_str(&p.docs[0]).unwrap();
        let attrs = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"]
            .as_array()
            .unwrap()
            .len();
        // event.id, event.name, url.full, ferrotel.sample_rate and the kind's 19 fields.
        assert_eq!(attrs, 4 + 19, "{}", p.docs[0]);
    }

    #[test]
    fn the_documents_are_what_the_official_otlp_types_read() {
        use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
        use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
        let c = cfg(r#"{"default":1}"#);
        let body = upload(&[CSP, DEPRECATION, INTERVENTION, CRASH, NEL]);
        let p = plan(run(&c, &req(URL, RJ, None), body.as_bytes()));
        let r: ExportLogsServiceRequest = serde_json::from_str(&p.docs[0]).unwrap();
        let res = r.resource_logs[0].resource.as_ref().unwrap();
        let has = |k: &str| res.attributes.iter().any(|a| a.key == k);
        assert!(has("service.name") && !has("session.id"));
        let records = &r.resource_logs[0].scope_logs[0].log_records;
        assert_eq!(records.len(), 5);
        let nel = records
            .iter()
            .find(|lr| {
                lr.attributes
                    .iter()
                    .any(|a| a.key == "phase" || a.key == "browser.report.phase")
            })
            .unwrap();
        let attr = |k: &str| {
            nel.attributes
                .iter()
                .find(|a| a.key == k)
                .and_then(|a| a.value.as_ref()?.value.clone())
        };
        assert_eq!(attr("http.response.status_code"), Some(Any::IntValue(0)));
        assert_eq!(
            attr("browser.report.elapsed_ms"),
            Some(Any::DoubleValue(1234.0))
        );
        assert_eq!(
            attr("error.type"),
            Some(Any::StringValue("tcp.timed_out".into()))
        );
        assert_eq!(nel.event_name, "browser.report");
        assert_eq!(nel.time_unix_nano, (NOW - 500) * 1_000_000);
    }

    #[test]
    fn a_legacy_csp_report_is_read_as_a_csp_violation() {
        let c = cfg(r#"{"default":1}"#);
        for ct in ["application/csp-report", "application/json; charset=utf-8"] {
            let p = plan(run(&c, &req(URL, ct, None), LEGACY.as_bytes()));
            assert_eq!((p.reply.status, p.accepted), (204, 1), "{ct}");
            let r = &rows(&p)[0];
            assert_eq!(r["report_type"], "csp-violation");
            assert_eq!(r["url"], "https://a.test/p");
            assert_eq!(r["blocked_url"], "https://evil.test/x.js");
            assert_eq!(r["disposition"], "report");
            assert_eq!(r["t"].as_u64(), Some(NOW));
            assert!(!p.docs[0].contains("SECRET"));
        }
        // Only violated-directive (older Firefox): it stands in for the effective one.
        let old = LEGACY.replace("\"effective-directive\":\"script-src-elem\",", "");
        let p = plan(run(
            &c,
            &req(URL, "application/csp-report", None),
            old.as_bytes(),
        ));
        assert_eq!(rows(&p)[0]["effective_directive"], "script-src-elem");
    }

    #[test]
    fn cheap_checks_refuse_before_the_body_is_read_and_every_refusal_is_charged() {
        let c = cfg(r#"{"default":1}"#);
        let first = |r: Incoming<'_>| decide(Ok(&c), &r, ALL);
        let (s, j) = refused(first(req(URL, "text/plain", None)));
        assert_eq!((s, j["field"].as_str()), (415, Some("content-type")));
        let (s, j) = refused(first(req("https://i.test/v1/reports", RJ, None)));
        assert_eq!((s, j["field"].as_str()), (400, Some("key")));
        assert!(j["reason"].as_str().unwrap().contains("?key="));
        let (s, _) = refused(first(req("https://i.test/v1/reports?key=a%20b", RJ, None)));
        assert_eq!(s, 400);
        let (s, j) = refused(first(req(
            "https://i.test/v1/reports?key=pk_nobody",
            RJ,
            None,
        )));
        assert_eq!((s, j["error"].as_str()), (401, Some("unknown_key")));
        let mut wrong = req(URL, RJ, None);
        wrong.origin = Some("https://b.test");
        assert_eq!(refused(first(wrong)).0, 403);
        let mut null = req(URL, RJ, None);
        null.origin = Some("null");
        assert_eq!(refused(first(null)).0, 403);
        let mut big = req(URL, RJ, None);
        big.content_length = Some("70000");
        assert_eq!(refused(first(big)).0, 413);
        // A key over its daily quota: 429 until midnight UTC.
        let used: BTreeMap<String, u64> = [("pk_any".to_owned(), 10)].into_iter().collect();
        let mut over = req("https://i.test/v1/reports?key=pk_any", RJ, None);
        over.used_today = Some(&used);
        let (s, j) = refused(first(over));
        assert_eq!((s, j["error"].as_str()), (429, Some("quota_exceeded")));
        // Passing all that: the limiters (client first, then the key), then the body.
        let Decision::Next(step) = first(req("https://i.test/v1/reports?x=1&key=pk_a", RJ, None))
        else {
            panic!()
        };
        assert_eq!(step.limits.len(), 2);
        assert_eq!((step.limits[0].0, step.limits[1].0), (RL_CLIENT, RL_KEY));
        assert_eq!(step.limits[1].1, "pk_a");
        assert_eq!(step.limited.status, 429);
        assert_eq!((step.read, step.checked), (READ_AT_MOST, true));
        // Without an Origin header (some report-uri senders) the request is not refused for it.
        let mut none = req(URL, RJ, None);
        none.origin = None;
        assert!(matches!(first(none), Decision::Next(_)));
    }

    #[test]
    fn hostile_bodies_get_400_with_a_reason() {
        let c = cfg(r#"{"default":1}"#);
        let bad = |ct: &str, body: &str| refused(run(&c, &req(URL, ct, None), body.as_bytes()));
        let (s, j) = bad(RJ, "not json");
        assert_eq!((s, j["field"].as_str()), (400, Some("body")));
        assert!(j["reason"].as_str().unwrap().contains("array"), "{j}");
        let (_, j) = bad(RJ, "[{\"type\":\"crash\"");
        assert!(j["reason"].as_str().unwrap().contains("JSON"), "{j}");
        let (_, j) = bad(RJ, "[\"unterminated]");
        assert!(
            j["reason"].as_str().unwrap().contains("unterminated"),
            "{j}"
        );
        let (_, j) = bad(RJ, "");
        assert!(j["reason"].as_str().unwrap().contains("empty"), "{j}");
        let (_, j) = bad(RJ, LEGACY);
        assert_eq!(
            j["field"], "body",
            "an object where the Reporting API sends an array"
        );
        let (_, j) = bad("application/csp-report", &upload(&[CSP]));
        assert!(j["reason"].as_str().unwrap().contains("csp-report"), "{j}");
        let (_, j) = bad("application/csp-report", r#"{"nope":1}"#);
        assert!(j["reason"].as_str().unwrap().contains("csp-report"), "{j}");
        let deep = format!("[{}1{}]", "[".repeat(10), "]".repeat(10));
        let (_, j) = bad(RJ, &deep);
        assert!(j["reason"].as_str().unwrap().contains("nests"), "{j}");
        let (_, j) = bad(RJ, &format!("[{}]", vec![CRASH; 101].join(",")));
        assert_eq!(j["field"], "reports");
        let (s, _) = bad(RJ, &format!("[{}]", "{},".repeat(40_000)));
        assert_eq!(s, 413, "over 64 KiB as read, whatever the headers said");
        // 100 reports are fine; strings with brackets and escaped quotes are not nesting.
        let many = vec![CRASH; 100].join(",");
        assert_eq!(
            plan(run(&c, &req(URL, RJ, None), format!("[{many}]").as_bytes())).accepted,
            1,
            "identical reports of one minute are one event (same id)"
        );
        let tricky = CRASH.replace("\"oom\"", "\"[[[[{{{{\\\"]]\"");
        assert_eq!(
            plan(run(&c, &req(URL, RJ, None), upload(&[&tricky]).as_bytes()))
                .reply
                .status,
            204
        );
    }

    #[test]
    fn broken_reports_are_dropped_with_their_reason_and_the_rest_kept() {
        let c = cfg(r#"{"default":1}"#);
        let other_site = CRASH.replace("https://a.test/", "https://b.test/");
        let reports = [
            CRASH,
            "7",
            r#"{"type":"permissions-policy-violation","url":"https://a.test/","body":{}}"#,
            &CSP.replace("\"lineNumber\":12", "\"lineNumber\":\"12\""),
            &NEL.replace("\"elapsed_time\":1234", "\"elapsed_time\":-1"),
            &CRASH.replace("\"age\":42", "\"age\":99999999999"),
            &other_site,
            r#"{"url":"https://a.test/","body":{}}"#,
            &CRASH.replace("\"age\":42", "\"age\":-5"),
        ];
        let p = plan(run(&c, &req(URL, RJ, None), upload(&reports).as_bytes()));
        assert_eq!(p.reply.status, 200);
        let j: Value = serde_json::from_str(p.reply.body.as_deref().unwrap()).unwrap();
        assert_eq!(
            (j["accepted"].as_u64(), j["dropped"].as_u64()),
            (Some(1), Some(8)),
            "{j}"
        );
        let fields: Vec<&str> = j["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "reports[1]",
                "reports[2].type",
                "reports[3].body",
                "reports[4].elapsed_ms",
                "reports[5].age",
                "reports[6].url",
                "reports[7].type",
                "reports[8].age"
            ]
        );
        let reason = |i: usize| j["errors"][i]["reason"].as_str().unwrap().to_owned();
        assert!(
            reason(1).contains("not a report type read here"),
            "{}",
            reason(1)
        );
        assert!(reason(3).contains("negative"), "{}", reason(3));
        assert!(reason(4).contains("RETENTION_DAYS"), "{}", reason(4));
        assert!(reason(5).contains("WRITE_KEYS"), "{}", reason(5));
        // A key accepting any origin takes the other site's report.
        let any = "https://ingest.test/v1/reports?key=pk_any";
        assert_eq!(
            plan(run(
                &c,
                &req(any, RJ, None),
                upload(&[&other_site]).as_bytes()
            ))
            .reply
            .status,
            204
        );
        // A batch cannot pass a report off as its own.
        let batch = r#"{"v":1,"key":"pk_a","sdk":{"name":"ferrotel","version":"0.1.0"},"session":"0123456789abcdef0123456789abcdef","sent_at":1764000000000,"events":[{"id":"00000000000000aa","t":1764000000000,"type":"report","report_type":"crash"}]}"#;
        let (env, dropped) =
            crate::core::envelope::Envelope::decode_partial(batch.as_bytes()).unwrap();
        assert!(env.events.is_empty());
        assert!(
            dropped[0].reason.contains("POST /v1/reports"),
            "{:?}",
            dropped[0]
        );
    }

    #[test]
    fn reports_are_sampled_one_by_one_and_crashes_always_kept() {
        let c = cfg(r#"{"default":1,"report":0}"#);
        let p = plan(run(
            &c,
            &req(URL, RJ, None),
            upload(&[CSP, NEL, CRASH]).as_bytes(),
        ));
        assert_eq!((p.reply.status, p.accepted), (204, 1));
        assert_eq!(rows(&p)[0]["report_type"], "crash");
        // Kept like an error: recorded at rate 1, so counts need no weighting.
        assert!(p.docs[0].contains("\"ferrotel.sample_rate\",\"value\":{\"doubleValue\":1"));
        // Half: about half of 100 distinct reports (ids hash independently).
        let c = cfg(r#"{"default":1,"report":0.5}"#);
        let many: Vec<String> = (0..100)
            .map(|i| CSP.replace("\"lineNumber\":12", &format!("\"lineNumber\":{i}")))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let kept = plan(run(&c, &req(URL, RJ, None), upload(&many).as_bytes())).accepted;
        assert!((30..=70).contains(&kept), "{kept}");
    }

    #[test]
    fn sampling_rules_decide_for_reports_before_sample_rates() {
        use crate::core::rules::Rules;
        let rules = Rules::parse(
            br#"{"rules":[{"id":"no-csp","rate":0,"types":["report"],"route":"/page"},{"id":"reports","rate":1,"types":["report"]}]}"#,
        )
        .unwrap();
        let c = cfg(r#"{"default":0}"#);
        let mut r = req(URL, RJ, None);
        r.rules = Some(&rules);
        let p = plan(run(&c, &r, upload(&[CSP, DEPRECATION, CRASH]).as_bytes()));
        let kept: Vec<String> = rows(&p)
            .iter()
            .map(|r| {
                format!(
                    "{}:{}",
                    r["report_type"].as_str().unwrap(),
                    r["sample_rule"].as_str().unwrap_or("-")
                )
            })
            .collect();
        // The CSP report is on /page (dropped by `no-csp`); the deprecation is kept by
        // `reports` although SAMPLE_RATES says 0; the crash is kept whatever the rules say.
        assert_eq!(kept, ["deprecation:reports", "crash:-"]);
    }

    #[test]
    fn ids_are_stable_across_a_resend_and_differ_between_clients() {
        let c = cfg(r#"{"default":1}"#);
        let ids = |ip: &'static str, now: u64, body: &str| {
            let mut r = req(URL, RJ, None);
            r.ip = Some(ip);
            r.now_ms = now;
            rows(&plan(run(&c, &r, body.as_bytes())))
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        let a = ids("192.0.2.1", NOW, &upload(&[CSP]));
        // Resent 5 s later: age grew by as much, same minute, same id.
        let later = upload(&[&CSP.replace("\"age\":10", "\"age\":5010")]);
        assert_eq!(a, ids("192.0.2.1", NOW + 5_000, &later));
        assert_ne!(a, ids("192.0.2.2", NOW, &upload(&[CSP])));
    }

    #[test]
    fn shape_and_helpers() {
        assert_eq!(
            Format::of("Application/Reports+JSON"),
            Some(Format::Reports)
        );
        assert_eq!(
            Format::of("application/csp-report; charset=utf-8"),
            Some(Format::CspReport)
        );
        assert_eq!(Format::of("application/jsonx"), None);
        assert_eq!(Format::of("text/plain"), None);
        let s = |b: &str| check_shape(b.as_bytes(), Format::Json);
        assert_eq!(
            s(" [ ] ").unwrap(),
            Shape {
                format: Format::Reports,
                reports: 0
            }
        );
        assert_eq!(s("[{},{}]").unwrap().reports, 2);
        assert_eq!(s("[\"a,b\",{\"x\":[1,2]}]").unwrap().reports, 2);
        assert_eq!(s("{\"csp-report\":{}}").unwrap().format, Format::CspReport);
        assert!(s("[[[[[[1]]]]]]").unwrap_err().reason.contains("nests"));
        assert!(s("[[[[[1]]]]]").is_ok());
        assert!(s("[[[1]]]").is_ok());
        assert!(s("\"x\"").is_err());
        assert!(s("[\"\\").is_err());
        assert_eq!(origin_of("https://a.test/x?y"), Some("https://a.test"));
        assert_eq!(origin_of("http://a.test:8080"), Some("http://a.test:8080"));
        assert_eq!(origin_of("https://u:p@a.test/"), None);
        assert_eq!(origin_of("data:text/html,x"), None);
        assert_eq!(origin_of("inline"), None);
        use crate::core::ingest::query_param;
        assert_eq!(
            query_param("https://i/v1/reports?a=1&key=pk&b", "key"),
            Some("pk")
        );
        assert_eq!(query_param("https://i/v1/reports?keys=pk", "key"), None);
        assert_eq!(query_param("https://i/v1/reports#?key=pk", "key"), None);
    }
}
