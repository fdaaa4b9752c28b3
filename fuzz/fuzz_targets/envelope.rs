//! The envelope decoder and validator (`Envelope::decode_partial` / `decode`) on any bytes.
//!
//! Beyond "never panics":
//! - `decode` and `decode_partial` agree (whole, or refused at the first dropped event), a
//!   refusal names a field and a reason, drops are in order and name their event;
//! - what `decode_partial` keeps re-encodes (`Header` + `Event::encode`, in batches within
//!   `MAX_BODY_BYTES` as the SDK sends them) to bodies that `decode` takes whole, with every event;
//! - decode → encode → decode is then a fixed point: the second encoding is byte for byte the
//!   first, and decodes to an equal `Envelope`;
//! - the first round trip only applies the encoder's documented normalizations: the SDK's own
//!   name and version, strings cut to their limit only when escaping made them longer than it
//!   (a custom attribute whose key then collides with an earlier one is left out), numbers
//!   written with six decimals (fewer for large magnitudes). This is checked on what the Worker forwards (the OTLP
//!   record of every event), so it covers every field of the schema without listing them.

#![no_main]

use ferrotel::core::envelope::{
    Envelope, Header, MAX_BODY_BYTES, MAX_EVENTS, SDK_NAME, SDK_VERSION,
};
use ferrotel::core::event::{limits, Event};
use ferrotel::core::otlp::{Enrichment, LogsEncoder};
use ferrotel::core::ua::classify;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let strict = Envelope::decode(data);
    let (env, drops) = match Envelope::decode_partial(data) {
        Ok(d) => d,
        Err(e) => {
            assert!(!e.field.is_empty() && !e.reason.trim().is_empty(), "{e:?}");
            assert_eq!(
                strict,
                Err(e),
                "decode and decode_partial refuse differently"
            );
            return;
        }
    };
    match (&strict, drops.first()) {
        (Ok(whole), None) => assert_eq!(whole, &env),
        (Err(e), Some(d)) => assert_eq!(e.field, d.field, "decode refuses another field"),
        (s, d) => panic!("decode gave {s:?} where decode_partial dropped {d:?}"),
    }
    let total = env.events.len() + drops.len();
    for (i, d) in drops.iter().enumerate() {
        assert!(
            d.index < total && (i == 0 || drops[i - 1].index < d.index),
            "{drops:?}"
        );
        assert!(
            d.field.starts_with(&format!("events[{}]", d.index)),
            "{d:?}"
        );
        assert!(!d.reason.trim().is_empty(), "{d:?}");
    }
    if env.events.is_empty() {
        return;
    }

    let (bodies, again) = round_trip(&env);
    assert_eq!(again.key, env.key);
    assert_eq!(again.session, env.session);
    assert_eq!(again.sent_at, env.sent_at);
    assert_eq!(
        (again.sdk_name.as_str(), again.sdk_version.as_str()),
        (SDK_NAME, SDK_VERSION)
    );
    assert_eq!(
        again.events.len(),
        env.events.len(),
        "events lost in the round trip"
    );

    // Fixed point from the second decode on.
    let (bodies2, again2) = round_trip(&again);
    assert!(
        bodies2 == bodies,
        "re-encoding is not a fixed point:\n{bodies:?}\n{bodies2:?}"
    );
    assert_eq!(again2, again);

    // The first round trip changed nothing but what the encoder normalizes.
    let (a, b) = (otlp(&env), otlp(&again));
    compare_attributes(
        &a["resourceLogs"][0]["resource"]["attributes"],
        &b["resourceLogs"][0]["resource"]["attributes"],
    );
    let (ra, rb) = (records(&a), records(&b));
    assert_eq!(ra.len(), rb.len());
    for (x, y) in ra.iter().zip(rb) {
        for k in ["timeUnixNano", "severityNumber", "eventName"] {
            assert_eq!(x[k], y[k], "{k}");
        }
        compare_attributes(&x["attributes"], &y["attributes"]);
    }
});

/// Encodes `env` as the SDK would (batches of at most `MAX_EVENTS` events and `MAX_BODY_BYTES`)
/// and decodes every batch strictly; returns the bodies and the envelope they decode to.
fn round_trip(env: &Envelope) -> (Vec<String>, Envelope) {
    let header = Header::with_resource(&env.key, &env.session, &env.resource);
    let encoded: Vec<String> = env.events.iter().map(Event::encode).collect();
    let mut bodies = Vec::new();
    let mut start = 0;
    while start < encoded.len() {
        let mut end = start;
        let mut len = header.overhead();
        // Each event adds its bytes and a comma (`overhead` counts the rest).
        while end < encoded.len() && end - start < MAX_EVENTS {
            let with = len + encoded[end].len() + 1;
            if with > MAX_BODY_BYTES {
                break;
            }
            len = with;
            end += 1;
        }
        assert!(
            end > start,
            "one event does not fit a batch: {} bytes",
            encoded[start].len()
        );
        bodies.push(header.encode_batch(env.sent_at, &encoded[start..end]));
        start = end;
    }
    if bodies.len() == 1 {
        assert_eq!(bodies[0], env.encode());
    }
    let mut out: Option<Envelope> = None;
    for body in &bodies {
        assert!(body.len() <= MAX_BODY_BYTES);
        let part = Envelope::decode(body.as_bytes())
            .unwrap_or_else(|e| panic!("a kept event re-encodes to a refused batch: {e}\n{body}"));
        match &mut out {
            None => out = Some(part),
            Some(o) => {
                assert_eq!(
                    (&o.key, &o.session, &o.resource),
                    (&part.key, &part.session, &part.resource)
                );
                o.events.extend(part.events);
            }
        }
    }
    (bodies, out.expect("at least one batch"))
}

/// The OTLP document the Worker would forward for `env` (fixed enrichment, every event kept).
fn otlp(env: &Envelope) -> Value {
    let e = Enrichment {
        country: None,
        ua: classify(""),
        client_hash: "",
        received_ms: 1,
        clock_correction_ms: 0,
    };
    let enc = LogsEncoder::for_envelope(env, &e);
    let records: Vec<String> = env
        .events
        .iter()
        .map(|ev| {
            let mut r = String::new();
            enc.record(&mut r, ev, 1.0, 1);
            r
        })
        .collect();
    let docs = enc.documents(&records, usize::MAX);
    assert_eq!(docs.len(), 1);
    serde_json::from_str(&docs[0]).unwrap_or_else(|e| panic!("OTLP is not JSON: {e}\n{}", docs[0]))
}

fn records(doc: &Value) -> &Vec<Value> {
    doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
        .as_array()
        .expect("logRecords")
}

/// Attributes that are not carried on the wire: the SDK's identity (the encoder writes its own)
/// and what the edge derives from the stack trace (compared through the trace itself).
fn derived(key: &str) -> bool {
    matches!(
        key,
        "telemetry.sdk.name" | "telemetry.sdk.version" | "ferrotel.frames"
        // An older SDK's fingerprint is decoded, never encoded: the edge computes it.
        | "ferrotel.fingerprint"
        // A `derived` field is not encoded (the SDK does not send it): decoded again, it is
        // derived from the value, whatever an older SDK or a client sent.
        | "browser.web_vital.rating"
    ) || key.starts_with("code.")
}

/// A string may only be cut by the encoder if it holds characters JSON escapes (the encoder
/// bounds the escaped form, the decoder the decoded one), and then only to a prefix.
fn same_or_cut(before: &str, after: &str, what: &str) {
    if before == after {
        return;
    }
    let escapes = before.chars().any(|c| c < ' ' || c == '"' || c == '\\');
    assert!(
        escapes && before.starts_with(after),
        "{what}: {before:?} became {after:?} in the round trip"
    );
}

/// A custom attribute key as the encoder writes it: the longest prefix whose escaped form fits
/// `limits::ATTR_KEY` bytes.
fn cut_key(k: &str) -> &str {
    let mut used = 0;
    for (i, c) in k.char_indices() {
        used += match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if c < ' ' => 6,
            c => c.len_utf8(),
        };
        if used > limits::ATTR_KEY {
            return &k[..i];
        }
    }
    k
}

fn compare_attributes(a: &Value, b: &Value) {
    let keep = |v: &Value| -> Vec<(String, Value)> {
        v.as_array()
            .expect("attributes")
            .iter()
            .map(|kv| {
                (
                    kv["key"].as_str().expect("key").to_owned(),
                    kv["value"].clone(),
                )
            })
            .filter(|(k, _)| !derived(k))
            .collect()
    };
    let (a, b) = (keep(a), keep(b));
    let mut b = b.iter();
    // Custom attribute keys written so far: one whose cut collides with them is left out.
    let mut written: Vec<&str> = Vec::new();
    for (ka, va) in &a {
        let key = match ka.strip_prefix("ferrotel.attr.") {
            Some(k) if written.contains(&cut_key(k)) => continue,
            Some(k) => {
                written.push(cut_key(k));
                format!("ferrotel.attr.{}", cut_key(k))
            }
            None => ka.clone(),
        };
        let (kb, vb) = b
            .next()
            .unwrap_or_else(|| panic!("{ka} is lost in the round trip"));
        assert_eq!(&key, kb, "attributes differ after the round trip");
        match (&va["stringValue"], &vb["stringValue"]) {
            (Value::String(x), Value::String(y)) => same_or_cut(x, y, ka),
            _ => assert_eq!(va, vb, "{ka}: the value changed in the round trip"),
        }
    }
    if let Some((k, _)) = b.next() {
        panic!("{k} appeared in the round trip");
    }
}
