//! The Worker's request path (`ingest::decide`, which decodes, validates, enriches and encodes
//! OTLP) with a fixed configuration and the fuzz input as the body of `POST /v1/batch`; or, when
//! the input's first byte is 1, 2 or 3 (no JSON body starts so), the rest as the body of
//! `POST /v1/reports?key=…` sent as `application/reports+json`, `application/csp-report` or
//! `application/json` (see `reports` below).
//!
//! Beyond "never panics":
//! - a refusal is a 400/401/403/413 whose body is JSON naming the error and the reason, and it
//!   is a 400/413 exactly when `Envelope::decode_partial` refuses the body;
//! - whatever is accepted is forwarded as documents that serde_json parses, in the OTLP logs
//!   shape (`resourceLogs[].scopeLogs[].logRecords[]`, typed attribute values), each at most
//!   `otlp::MAX_CHUNK_BYTES` (the queue message limit the code declares), holding every kept
//!   event exactly once, in order (sampling is off in this configuration), and that the
//!   consumer's `otlp::project` reads back into one row per event;
//! - the answer is 204, or 200 with a JSON body counting the accepted and dropped events;
//! - what is forwarded and stored of an error or click is the event after `protect::protect`
//!   (masked, URL-scrubbed, fingerprinted at the edge), and `protect` is idempotent: nothing
//!   in it is left to mask or scrub.

#![no_main]

use std::sync::OnceLock;

use ferrotel::core::envelope::valid_key;
use ferrotel::core::envelope::Envelope;
use ferrotel::core::event::{Event, EventKind};
use ferrotel::core::ids::hex64;
use ferrotel::core::ingest::{
    clock_times, decide, Bindings, Decision, Incoming, IngestConfig, DEFAULT_RETENTION_DAYS, QUEUE,
    READ_AT_MOST, RL_CLIENT,
};
use ferrotel::core::otlp::{project, MAX_CHUNK_BYTES};
use ferrotel::core::protect::{protect, protect_urls};
use ferrotel::core::rules::Rules;
use ferrotel::core::scrub::scrub_url;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Rules that match hostile URLs and releases but keep everything (rate 1), so the checks
/// below on what is kept still hold.
fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        Rules::parse(br#"{"rules":[{"id":"cart","rate":1,"route":"/**/c*t/*"},{"id":"rel","rate":1,"release":"1.*"}]}"#)
            .expect("the fuzz rules are valid")
    })
}

fn config() -> &'static IngestConfig {
    static CFG: OnceLock<IngestConfig> = OnceLock::new();
    CFG.get_or_init(|| {
        IngestConfig::from_vars(|k| {
            match k {
                // pk_demo is the corpus's key.
                "WRITE_KEYS" => Some(r#"{"pk_demo":["*"],"pk_a":["https://a.test"]}"#),
                "IP_SALT" => Some("0123456789abcdef"),
                _ => None,
            }
            .map(str::to_owned)
        })
        .expect("the fuzz configuration is valid")
    })
}

const ALL: Bindings = Bindings {
    rl_key: true,
    rl_client: true,
    queue: true,
};

fuzz_target!(|data: &[u8]| match data.first() {
    Some(&r @ 1..=3) => reports(r, &data[1..]),
    _ => batch(data),
});

fn batch(data: &[u8]) {
    let len = data.len().to_string();
    let req = Incoming {
        method: "POST",
        url: "https://ingest.test/v1/batch",
        content_type: Some("text/plain;charset=UTF-8"),
        content_length: Some(&len),
        origin: Some("https://a.test"),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
        ip: Some("2001:db8:1:2::1"),
        country: Some("DE"),
        now_ms: 1_764_000_001_000,
        body: Some(data),
        checked: false,
        day_salt: "fuzz-day-salt",
        used_today: None,
        rules: Some(rules()),
        error_sessions: None,
        looked_up: false,
    };
    // As the request path keeps them: decoded, then corrected for the client clock and cut to
    // the time window.
    let decoded = Envelope::decode_partial(data).map(|(mut env, mut drops)| {
        clock_times(&mut env, &mut drops, req.now_ms, DEFAULT_RETENTION_DAYS);
        (env, drops)
    });
    let plain_key = Envelope::peek(data).is_ok_and(|p| p.key.is_some_and(valid_key));
    // As the entry runs it: the limiters (all allow here) before decoding, then the decision;
    // every refusal is charged to the client's limiter.
    let decision = match decide(Ok(config()), &req, ALL) {
        Decision::Next(step) => {
            assert!(step.checked && step.read == 0, "{step:?}");
            let checked = Incoming {
                checked: true,
                ..req.clone()
            };
            decide(Ok(config()), &checked, ALL)
        }
        d => d,
    };
    let decision = match decision {
        Decision::Refuse(r) => {
            assert_eq!(r.limit.0, RL_CLIENT);
            Decision::Answer(r.reply)
        }
        d => d,
    };
    match decision {
        Decision::Answer(r) => {
            let body: Value =
                serde_json::from_str(r.body.as_deref().expect("a refusal has a body"))
                    .expect("a refusal's body is JSON");
            assert!(
                body["error"].is_string() && body["reason"].is_string(),
                "{body}"
            );
            // The key and origin are checked before decoding (from the cheap pass), so a body
            // the decoder refuses may still be refused for its key or origin first.
            match (&decoded, plain_key) {
                (Err(_), _) => assert!(matches!(r.status, 400 | 401 | 403 | 413), "{r:?}"),
                (Ok(_), true) => assert!(matches!(r.status, 401 | 403), "{r:?}"),
                (Ok(_), false) => assert_eq!(r.status, 400, "{r:?}"),
            }
        }
        Decision::Accept(plan) => {
            let (env, drops) = decoded.expect("accepted, so it decodes");
            let mut ids = Vec::new();
            let mut rows = Vec::new();
            for doc in &plan.docs {
                assert!(
                    doc.len() <= MAX_CHUNK_BYTES,
                    "a forwarded document of {} bytes exceeds MAX_CHUNK_BYTES ({MAX_CHUNK_BYTES})",
                    doc.len()
                );
                let v: Value = serde_json::from_str(doc)
                    .unwrap_or_else(|e| panic!("a forwarded document is not JSON: {e}\n{doc}"));
                let n = check_shape(&v, &mut ids);
                let got = project(doc.as_bytes()).expect("the consumer reads the document");
                assert_eq!(got.len(), n);
                rows.extend(got);
            }
            for (ev, row) in env.events.iter().zip(&rows) {
                check_protected(
                    ev,
                    &row.data,
                    env.resource.mask_messages,
                    &env.resource.allow_query,
                );
            }
            let expected: Vec<String> = env.events.iter().map(|e| hex64(e.id)).collect();
            assert_eq!(ids, expected, "forwarded events differ from the kept ones");
            assert_eq!(plan.queue, (!plan.docs.is_empty()).then_some(QUEUE));
            assert_eq!(plan.docs.is_empty(), env.events.is_empty());
            if drops.is_empty() {
                assert_eq!((plan.reply.status, &plan.reply.body), (204, &None));
            } else {
                assert_eq!(plan.reply.status, 200);
                let b: Value = serde_json::from_str(plan.reply.body.as_deref().expect("a body"))
                    .expect("the partial acceptance is JSON");
                assert_eq!(b["accepted"].as_u64(), Some(env.events.len() as u64));
                assert_eq!(b["dropped"].as_u64(), Some(drops.len() as u64));
            }
        }
        d => panic!("a POST with its body read got {d:?}"),
    }
}

/// `POST /v1/reports`. Beyond "never panics": the headers pass, so the first decision reads the
/// body (after the limiters); a refusal is a 400 or 413 with a JSON reason, a 413 exactly when
/// the body is over the limit; whatever is accepted is OTLP as above, one record per event
/// kept, every URL in it already scrubbed (scrubbing it again changes nothing), and the answer
/// counts what was dropped.
fn reports(selector: u8, body: &[u8]) {
    const TYPES: [&str; 3] = [
        "application/reports+json",
        "application/csp-report",
        "application/json",
    ];
    let len = body.len().to_string();
    let mut req = Incoming {
        method: "POST",
        url: "https://ingest.test/v1/reports?key=pk_demo",
        content_type: Some(TYPES[usize::from(selector - 1)]),
        content_length: Some(&len),
        origin: Some("https://a.test"),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0"),
        ip: Some("192.0.2.1"),
        country: Some("DE"),
        now_ms: 1_764_000_001_000,
        body: None,
        checked: false,
        day_salt: "fuzz-day-salt",
        used_today: None,
        rules: Some(rules()),
        error_sessions: None,
        looked_up: false,
    };
    if body.len() > READ_AT_MOST - 1 {
        // Refused from Content-Length, unread.
        let Decision::Refuse(r) = decide(Ok(config()), &req, ALL) else {
            panic!("an over-long body is refused")
        };
        assert_eq!(r.reply.status, 413);
        return;
    }
    let Decision::Next(step) = decide(Ok(config()), &req, ALL) else {
        panic!("the headers pass: the body is read next")
    };
    assert_eq!(
        (step.limits.len(), step.read, step.checked),
        (2, READ_AT_MOST, true)
    );
    req.body = Some(body);
    req.checked = true;
    match decide(Ok(config()), &req, ALL) {
        Decision::Refuse(r) => {
            assert_eq!(r.limit.0, RL_CLIENT);
            assert_eq!(r.reply.status, 400, "{r:?}");
            let b: Value = serde_json::from_str(r.reply.body.as_deref().expect("a body"))
                .expect("a refusal's body is JSON");
            assert!(b["error"].is_string() && b["reason"].is_string(), "{b}");
        }
        Decision::Accept(plan) => {
            let mut ids = Vec::new();
            for doc in &plan.docs {
                assert!(doc.len() <= MAX_CHUNK_BYTES);
                let v: Value = serde_json::from_str(doc)
                    .unwrap_or_else(|e| panic!("a forwarded document is not JSON: {e}\n{doc}"));
                let n = check_shape(&v, &mut ids);
                assert_eq!(
                    project(doc.as_bytes())
                        .expect("the consumer reads it")
                        .len(),
                    n
                );
                for r in v["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    for kv in r["attributes"].as_array().into_iter().flatten() {
                        let key = kv["key"].as_str().unwrap_or("");
                        if matches!(
                            key,
                            "url.full"
                                | "browser.report.blocked_url"
                                | "browser.report.referrer"
                                | "code.file.path"
                        ) {
                            let url = kv["value"]["stringValue"].as_str().expect("a string");
                            assert_eq!(scrub_url(url, &[]), url, "{key} is not scrubbed");
                        }
                    }
                }
            }
            assert_eq!(ids.len(), plan.accepted);
            let mut unique = ids.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), ids.len(), "one event per report id");
            match plan.reply.status {
                204 => assert!(plan.reply.body.is_none()),
                200 => {
                    let b: Value =
                        serde_json::from_str(plan.reply.body.as_deref().expect("a body"))
                            .expect("the partial acceptance is JSON");
                    assert!(b["dropped"].as_u64().is_some_and(|d| d > 0), "{b}");
                }
                s => panic!("accepted with {s}"),
            }
        }
        d => panic!("a POST with its body read got {d:?}"),
    }
}

/// The stored row `data` of `ev` holds its text as `protect` leaves it, and `protect` changes
/// nothing more on a second pass.
fn check_protected(ev: &Event, data: &str, mask: bool, allow: &[String]) {
    let mut once = ev.clone();
    protect_urls(&mut once, allow);
    protect(&mut once, mask);
    let mut twice = once.clone();
    protect_urls(&mut twice, allow);
    protect(&mut twice, mask);
    assert_eq!(once, twice, "protect is not idempotent");
    let row: Value = serde_json::from_str(data).expect("a row is JSON");
    match &once.kind {
        EventKind::Error {
            message,
            stack,
            fingerprint,
            ..
        } => {
            assert_eq!(row["exception.message"].as_str(), Some(message.as_str()));
            assert_eq!(
                row["exception.stacktrace"].as_str().unwrap_or(""),
                stack.as_str()
            );
            assert_eq!(
                row["fingerprint"].as_str(),
                Some(hex64(*fingerprint).as_str())
            );
        }
        EventKind::Click { text, .. } => {
            assert_eq!(row["text"].as_str().unwrap_or(""), text.as_str());
        }
        _ => {}
    }
}

fn array<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    match v[key].as_array() {
        Some(a) if !a.is_empty() => a,
        _ => panic!("{key} is not a non-empty array in {v}"),
    }
}

fn check_attributes(v: &Value) {
    for kv in v["attributes"].as_array().expect("attributes is an array") {
        assert!(kv["key"].is_string(), "{kv}");
        let val = kv["value"]
            .as_object()
            .expect("an attribute value is an object");
        assert_eq!(val.len(), 1, "one typed value: {kv}");
        let (t, x) = val.iter().next().expect("one entry");
        let ok = match t.as_str() {
            "stringValue" => x.is_string(),
            "boolValue" => x.is_boolean(),
            "doubleValue" => x.is_number(),
            "intValue" => x.as_str().is_some_and(|s| s.parse::<i64>().is_ok()),
            _ => false,
        };
        assert!(ok, "not an OTLP AnyValue: {kv}");
    }
}

/// Checks the OTLP logs shape; appends the records' `event.id`s; returns how many records.
fn check_shape(doc: &Value, ids: &mut Vec<String>) -> usize {
    let mut n = 0;
    for rl in array(doc, "resourceLogs") {
        check_attributes(&rl["resource"]);
        for sl in array(rl, "scopeLogs") {
            assert!(sl["scope"]["name"].is_string());
            for r in array(sl, "logRecords") {
                for k in ["timeUnixNano", "observedTimeUnixNano"] {
                    assert!(
                        r[k].as_str().is_some_and(|s| s.parse::<u64>().is_ok()),
                        "{k}: {r}"
                    );
                }
                assert!(
                    r["severityNumber"].is_u64() && r["eventName"].is_string(),
                    "{r}"
                );
                check_attributes(r);
                let id = r["attributes"]
                    .as_array()
                    .and_then(|a| a.iter().find(|kv| kv["key"] == "event.id"))
                    .and_then(|kv| kv["value"]["stringValue"].as_str())
                    .expect("a record has its event.id");
                ids.push(id.to_owned());
                n += 1;
            }
        }
    }
    n
}
