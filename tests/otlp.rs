//! The edge's OTLP JSON: accepted by the official protocol types, chunked within the queue
//! limit, and projected back into rows with wire field names.
#![cfg(not(target_arch = "wasm32"))]

use ferrotel::core::envelope::Envelope;
use ferrotel::core::event::{
    AttrValue, ErrorSource, Event, EventKind, NavTiming, Resource, ViewCause,
};
use ferrotel::core::otlp::{project, Enrichment, LogsEncoder, MAX_CHUNK_BYTES};
use ferrotel::core::ua::classify;
use ferrotel::core::vitals::{Metric, Rating};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;

fn events() -> Vec<Event> {
    let t = 1_764_000_000_000;
    let url = "https://shop.test/cart".to_string();
    let kinds = vec![
        EventKind::PageView { referrer: "https://ref.test/".into(), cause: ViewCause::Route },
        EventKind::ScreenTime { view: 7, visible_ms: 1234.5 },
        EventKind::Click { selector: "#buy \"now\"".into(), tag: "button".into(), text: "Buy".into(), x: -3, y: 40 },
        EventKind::WebVital { name: Metric::Cls, value: 0.0123, delta: 0.01, metric_id: "CLS-1".into(), rating: Rating::Good, navigation_type: "navigate".into() },
        EventKind::NavTiming(NavTiming { dns: 1.5, ttfb: 20.0, load: 300.0, navigation_type: "reload".into(), ..Default::default() }),
        EventKind::LongTask { start: 10.0, duration: 120.5 },
        EventKind::Error {
            source: ErrorSource::Error,
            kind: "TypeError".into(),
            message: "x is undefined".into(),
            stack: "TypeError: x is undefined\n    at render (https://shop.test/app.js:10:5)\n    at https://shop.test/app.js:20:1".into(),
            fingerprint: 0xabc,
            count: 3,
        },
        EventKind::Custom { name: "signup".into(), attrs: vec![("plan".into(), AttrValue::Str("pro".into())), ("seats".into(), AttrValue::Num(3.0)), ("trial\"x".into(), AttrValue::Bool(true))] },
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Event {
            id: i as u64 + 1,
            t: t + i as u64,
            url: url.clone(),
            kind,
        })
        .collect()
}

fn enrichment() -> Enrichment<'static> {
    Enrichment {
        country: Some("DE"),
        ua: classify("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
        client_hash: "00ff00ff00ff00ff",
        received_ms: 1_764_000_001_000,
        clock_correction_ms: 0,
    }
}

/// The encoder for one batch of the test session.
fn encoder(key: &str) -> LogsEncoder {
    LogsEncoder::new(
        key,
        "0123456789abcdef0123456789abcdef",
        "ferrotel",
        "0.1.0",
        &enrichment(),
    )
}

/// One encoded log record per event.
fn records(enc: &LogsEncoder, evs: &[Event], rate: f64) -> Vec<String> {
    evs.iter()
        .map(|e| {
            let mut s = String::new();
            enc.record(&mut s, e, rate, 1_764_000_001_000);
            s
        })
        .collect()
}

#[test]
fn official_types_accept_every_event_kind() {
    let evs = events();
    let enc = encoder("pk_demo");
    let docs = enc.documents(&records(&enc, &evs, 0.5), MAX_CHUNK_BYTES);
    assert_eq!(docs.len(), 1);
    let req: ExportLogsServiceRequest =
        serde_json::from_str(&docs[0]).expect("a valid OTLP logs request");
    let rl = &req.resource_logs[0];
    let res_attr = |k: &str| {
        rl.resource
            .as_ref()
            .unwrap()
            .attributes
            .iter()
            .find(|a| a.key == k)
            .and_then(|a| a.value.clone())
            .and_then(|v| v.value)
    };
    assert_eq!(
        res_attr("session.id"),
        Some(Value::StringValue(
            "0123456789abcdef0123456789abcdef".into()
        ))
    );
    assert_eq!(
        res_attr("geo.country.iso_code"),
        Some(Value::StringValue("DE".into()))
    );
    assert_eq!(res_attr("ferrotel.bot"), Some(Value::BoolValue(false)));
    let logs = &rl.scope_logs[0].log_records;
    assert_eq!(logs.len(), evs.len());
    assert_eq!(logs[0].time_unix_nano, 1_764_000_000_000u64 * 1_000_000);
    let attr = |i: usize, k: &str| {
        logs[i]
            .attributes
            .iter()
            .find(|a| a.key == k)
            .and_then(|a| a.value.clone())
            .and_then(|v| v.value)
    };
    assert_eq!(attr(2, "ferrotel.x"), Some(Value::IntValue(-3)));
    assert_eq!(
        attr(2, "ferrotel.selector"),
        Some(Value::StringValue("#buy \"now\"".into()))
    );
    assert_eq!(
        attr(3, "browser.web_vital.value"),
        Some(Value::DoubleValue(0.0123))
    );
    assert_eq!(logs[6].severity_number, 17);
    assert_eq!(
        attr(6, "code.function.name"),
        Some(Value::StringValue("render".into()))
    );
    assert_eq!(attr(6, "code.line.number"), Some(Value::IntValue(10)));
    assert_eq!(
        attr(7, "ferrotel.attr.trial\"x"),
        Some(Value::BoolValue(true))
    );
    assert_eq!(
        attr(0, "ferrotel.sample_rate"),
        Some(Value::DoubleValue(0.5))
    );
}

#[test]
fn documents_stay_under_the_queue_limit_and_keep_every_record() {
    let enc = encoder("k");
    let big = Event {
        id: 1,
        t: 1_764_000_000_000,
        url: "https://x.test/".into(),
        kind: EventKind::Error {
            source: ErrorSource::Error,
            kind: "E".into(),
            message: "m".repeat(1000),
            stack: "s".repeat(8000),
            fingerprint: 1,
            count: 1,
        },
    };
    let evs: Vec<Event> = (0..200)
        .map(|i| Event {
            id: i + 1,
            ..big.clone()
        })
        .collect();
    let docs = enc.documents(&records(&enc, &evs, 1.0), MAX_CHUNK_BYTES);
    assert!(docs.len() > 1);
    let mut n = 0;
    for d in &docs {
        assert!(d.len() <= MAX_CHUNK_BYTES, "{}", d.len());
        let req: ExportLogsServiceRequest = serde_json::from_str(d).unwrap();
        n += req.resource_logs[0].scope_logs[0].log_records.len();
    }
    assert_eq!(n, 200);
}

#[test]
fn the_writer_makes_the_documents_of_the_joined_records() {
    let enc = encoder("k");
    let mut evs = events();
    // Large errors, so that the records fill several documents.
    evs.extend((0..60).map(|i| Event {
        id: 1000 + i,
        t: 1_764_000_000_000 + i,
        url: "https://x.test/".into(),
        kind: EventKind::Error {
            source: ErrorSource::Error,
            kind: "E".into(),
            message: "m\"".repeat(200 + i as usize * 7),
            stack: "s\n".repeat(2000 + i as usize * 11),
            fingerprint: 1,
            count: 1,
        },
    }));
    for max in [MAX_CHUNK_BYTES, 20_000, 1] {
        for n in [0, 1, evs.len()] {
            let mut w = enc.writer(max, 4096);
            for e in &evs[..n] {
                w.record(e, 1.0, 1_764_000_001_000);
            }
            let docs = w.finish();
            assert_eq!(docs, enc.documents(&records(&enc, &evs[..n], 1.0), max));
            if max == 20_000 && n == evs.len() {
                assert!(docs.len() > 5, "{}", docs.len());
            }
        }
    }
}

#[test]
fn projection_gives_wire_names_back() {
    let evs = events();
    let enc = encoder("pk_demo");
    let rows =
        project(enc.documents(&records(&enc, &evs, 1.0), MAX_CHUNK_BYTES)[0].as_bytes()).unwrap();
    assert_eq!(rows.len(), evs.len());
    assert_eq!(rows[2].kind, "click");
    assert_eq!(rows[2].id, "0000000000000003");
    assert_eq!(rows[2].session, "0123456789abcdef0123456789abcdef");
    assert_eq!(rows[2].key, "pk_demo");
    let click: serde_json::Value = serde_json::from_str(&rows[2].data).unwrap();
    assert_eq!(click["selector"], "#buy \"now\"");
    assert_eq!(click["x"], -3);
    assert_eq!(click["url"], "https://shop.test/cart");
    assert_eq!(click["country"], "DE");
    assert_eq!(click["t"], 1_764_000_000_002u64);
    let vital: serde_json::Value = serde_json::from_str(&rows[3].data).unwrap();
    assert_eq!(
        (vital["name"].as_str(), vital["value"].as_f64()),
        (Some("CLS"), Some(0.0123))
    );
    let err: serde_json::Value = serde_json::from_str(&rows[6].data).unwrap();
    assert_eq!(err["exception.message"], "x is undefined");
    assert_eq!(err["count"], 3);
    let custom: serde_json::Value = serde_json::from_str(&rows[7].data).unwrap();
    assert_eq!(custom["name"], "signup");
    assert_eq!(custom["attrs"]["plan"], "pro");
    assert!(project(b"{not json").is_err());
}

#[test]
fn envelope_fields_become_resource_attributes_and_columns() {
    let env = Envelope {
        key: "pk_demo".into(),
        sdk_name: "ferrotel".into(),
        sdk_version: "0.1.0".into(),
        session: "0123456789abcdef0123456789abcdef".into(),
        sent_at: 1_764_000_000_000,
        resource: Resource {
            release: "shop@2.4.1".into(),
            environment: "production".into(),
            mask_messages: false,
            allow_query: Vec::new(),
        },
        events: events(),
    };
    let enc = LogsEncoder::for_envelope(&env, &enrichment());
    let doc = &enc.documents(&records(&enc, &env.events, 1.0), MAX_CHUNK_BYTES)[0];
    let req: ExportLogsServiceRequest = serde_json::from_str(doc).expect("a valid OTLP request");
    let res = req.resource_logs[0].resource.as_ref().unwrap();
    let attr = |k: &str| {
        res.attributes
            .iter()
            .find(|a| a.key == k)
            .and_then(|a| a.value.clone())
            .and_then(|v| v.value)
    };
    assert_eq!(
        attr("service.version"),
        Some(Value::StringValue("shop@2.4.1".into()))
    );
    assert_eq!(
        attr("deployment.environment"),
        Some(Value::StringValue("production".into()))
    );
    assert_eq!(
        attr("ferrotel.mask_messages"),
        Some(Value::BoolValue(false))
    );
    let row: serde_json::Value =
        serde_json::from_str(&project(doc.as_bytes()).unwrap()[0].data).unwrap();
    assert_eq!(
        (row["release"].as_str(), row["environment"].as_str()),
        (Some("shop@2.4.1"), Some("production"))
    );
    assert_eq!(row["mask_messages"], false);
    // Unset fields (and flags at their default) are not forwarded.
    let enc = encoder("pk_demo");
    let doc = &enc.documents(&records(&enc, &env.events, 1.0), MAX_CHUNK_BYTES)[0];
    assert!(!doc.contains("service.version") && !doc.contains("deployment.environment"));
    assert!(!doc.contains("mask_messages"));
}

#[test]
fn projection_keeps_event_and_metric_ids_apart() {
    let evs = events();
    let enc = encoder("pk_demo");
    let rows =
        project(enc.documents(&records(&enc, &evs, 1.0), MAX_CHUNK_BYTES)[0].as_bytes()).unwrap();
    // The web vital's `browser.web_vital.id` is its `metric_id`, not the row's event id.
    assert_eq!(rows[3].id, "0000000000000004");
    let vital: serde_json::Value = serde_json::from_str(&rows[3].data).unwrap();
    assert_eq!(
        (vital["id"].as_str(), vital["metric_id"].as_str()),
        (Some("0000000000000004"), Some("CLS-1"))
    );
    assert_eq!(vital["rating"], "good");
}
