//! Wire format v1: encode → decode round trip, the validation reasons clients see, and the
//! README's copy of the schema.
#![cfg(not(target_arch = "wasm32"))]

use ferrotel::core::envelope::{Envelope, Header, MAX_BODY_BYTES, MAX_TIME_MS};
use ferrotel::core::event::{
    limits, AttrValue, ErrorSource, Event, EventKind, NavTiming, Resource, ViewCause,
};
use ferrotel::core::vitals::{Metric, Rating};
use proptest::prelude::*;

fn f(k: i64) -> f64 {
    // Values with at most 3 decimals survive the encoder's 6-decimal form exactly.
    k as f64 / 1000.0
}

fn short() -> impl Strategy<Value = String> {
    "\\PC{0,40}"
}

fn kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        (short(), 0..3u8).prop_map(|(referrer, c)| EventKind::PageView {
            referrer,
            cause: [ViewCause::Load, ViewCause::Route, ViewCause::Pop][c as usize],
        }),
        (1..u64::MAX, 0..10_000_000i64).prop_map(|(view, v)| EventKind::ScreenTime {
            view,
            visible_ms: f(v)
        }),
        (short(), "[a-z]{1,8}", short(), any::<i32>(), any::<i32>()).prop_map(
            |(selector, tag, text, x, y)| EventKind::Click {
                selector,
                tag,
                text,
                x,
                y
            }
        ),
        (
            0..5usize,
            0..10_000_000i64,
            -1_000_000..1_000_000i64,
            "v5-[0-9]{1,12}",
        )
            .prop_map(|(n, v, d, metric_id)| EventKind::WebVital {
                name: Metric::ALL[n],
                value: f(v),
                delta: f(d),
                metric_id,
                // Not sent: the edge derives it from the name and value.
                rating: Metric::ALL[n].rating(f(v)),
                navigation_type: "navigate".into(),
            }),
        (0..100_000i64, 0..100_000i64).prop_map(|(a, b)| EventKind::NavTiming(NavTiming {
            dns: f(a),
            tcp: f(b),
            tls: 0.0,
            ttfb: f(a + b),
            download: 1.0,
            dom_interactive: 2.0,
            dom_content_loaded: 3.5,
            load: 4.25,
            transfer_size: 1234.0,
            navigation_type: "reload".into(),
        })),
        (0..10_000_000i64, 0..1_000_000i64).prop_map(|(s, d)| EventKind::LongTask {
            start: f(s),
            duration: f(d)
        }),
        (
            0..4u8,
            "[A-Za-z]{0,12}",
            short(),
            "\\PC{0,200}",
            1..u32::MAX
        )
            .prop_map(
                // The SDK never sends a fingerprint: the edge sets it.
                |(s, kind, message, stack, count)| EventKind::Error {
                    source: [
                        ErrorSource::Error,
                        ErrorSource::Rejection,
                        ErrorSource::Panic,
                        ErrorSource::Manual
                    ][s as usize],
                    kind,
                    message,
                    stack,
                    fingerprint: 0,
                    count,
                }
            ),
        (
            short(),
            proptest::collection::btree_map(
                "[a-z_]{1,10}",
                prop_oneof![
                    short().prop_map(AttrValue::Str),
                    (-1_000_000..1_000_000i64).prop_map(|k| AttrValue::Num(f(k))),
                    any::<bool>().prop_map(AttrValue::Bool),
                ],
                0..limits::ATTRS
            )
        )
            .prop_map(|(name, attrs)| EventKind::Custom {
                name,
                attrs: attrs.into_iter().collect()
            }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    (1..u64::MAX, 1..=MAX_TIME_MS, short(), kind()).prop_map(|(id, t, url, kind)| Event {
        id,
        t,
        url,
        kind,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn encode_then_decode_round_trips(
        events in proptest::collection::vec(event(), 1..20),
        key in "[A-Za-z0-9_-]{1,64}",
        session in "[0-9a-f]{32}",
        sent_at in 1..=MAX_TIME_MS,
        release in "[A-Za-z0-9 ._@+-]{0,64}",
        environment in "[a-z]{0,12}",
        mask_messages in any::<bool>(),
        allow_query in proptest::collection::vec("[a-z_]{1,12}", 0..4),
    ) {
        let env = Envelope {
            key,
            sdk_name: "ferrotel".into(),
            sdk_version: env!("CARGO_PKG_VERSION").into(),
            session,
            sent_at,
            resource: Resource { release, environment, mask_messages, allow_query },
            events,
        };
        let body = env.encode();
        let back = Envelope::decode(body.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, env);
    }

    #[test]
    fn decode_never_panics_on_garbage(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Envelope::decode(&body);
    }
}

#[test]
fn every_encoded_event_fits_the_declared_limit() {
    let huge = "\u{1}".repeat(100_000);
    let worst = [
        EventKind::Error {
            source: ErrorSource::Error,
            kind: huge.clone(),
            message: huge.clone(),
            stack: huge.clone(),
            fingerprint: u64::MAX,
            count: u32::MAX,
        },
        EventKind::Custom {
            name: huge.clone(),
            attrs: (0..100)
                .map(|i| (huge.clone() + &i.to_string(), AttrValue::Str(huge.clone())))
                .collect(),
        },
        EventKind::Click {
            selector: huge.clone(),
            tag: huge.clone(),
            text: huge.clone(),
            x: i32::MIN,
            y: i32::MIN,
        },
    ];
    for kind in worst {
        let e = Event {
            id: u64::MAX,
            t: MAX_TIME_MS,
            url: huge.clone(),
            kind,
        };
        let s = e.encode();
        assert!(s.len() <= limits::EVENT_BYTES, "{} bytes", s.len());
        assert!(Envelope::decode(
            Header::new("k", &"a".repeat(32))
                .encode_batch(1, &[s])
                .as_bytes()
        )
        .is_ok());
    }
}

fn body(events: &str) -> String {
    format!(
        r#"{{"v":1,"key":"pk_demo","sdk":{{"name":"ferrotel","version":"0.1.0"}},"session":"0123456789abcdef0123456789abcdef","sent_at":1764000000000,"events":[{events}]}}"#
    )
}

const CLICK: &str = r##"{"id":"00000000000000aa","t":1764000000000,"type":"click","url":"https://x.test/","selector":"#buy","tag":"button","text":"Buy","x":1,"y":2}"##;

fn reason(b: &str) -> (String, String) {
    let e = Envelope::decode(b.as_bytes()).expect_err("must be refused");
    (e.field, e.reason.into_owned())
}

#[test]
fn valid_beacon_body_decodes() {
    let env = Envelope::decode(body(CLICK).as_bytes()).unwrap();
    assert_eq!(env.events.len(), 1);
    assert_eq!(env.events[0].id, 0xaa);
    assert!(matches!(&env.events[0].kind, EventKind::Click { selector, .. } if selector == "#buy"));
}

#[test]
fn refusals_name_the_field_and_rule() {
    let cases: Vec<(String, &str, &str)> = vec![
        (String::new(), "body", "empty"),
        ("{\"v\":1".into(), "body", "valid v1 envelope"),
        (
            body(CLICK).replace("\"v\":1", "\"v\":2"),
            "v",
            "unsupported wire version 2",
        ),
        (body(CLICK).replace("\"v\":1,", ""), "v", "missing"),
        (body(""), "events", "empty"),
        (body(CLICK).replace("pk_demo", "bad key!"), "key", "A-Z"),
        (
            body(CLICK).replace("0123456789abcdef0123456789abcdef", "xyz"),
            "session",
            "32 hex",
        ),
        (
            body(&CLICK.replace("\"click\"", "\"nope\"")),
            "events[0].type",
            "known event type",
        ),
        (
            body(&CLICK.replace("00000000000000aa", "zz")),
            "events[0].id",
            "16 hex",
        ),
        (
            body(&CLICK.replace("\"t\":1764000000000", "\"t\":\"soon\"")),
            "events[0].t",
            "invalid type",
        ),
        (
            body(&CLICK.replace("\"t\":1764000000000,", "")),
            "events[0].t",
            "missing",
        ),
        (body(&[CLICK; 201].join(",")), "events", "more than 200"),
        (
            body(&CLICK.replace("\"x\":1", "\"x\":1,\"x\":2")),
            "events[0].x",
            "duplicate field",
        ),
        (
            body(&CLICK.replace("\"x\":1", "\"x\":{\"a\":{\"b\":1}}")),
            "body",
            "deeper than 4",
        ),
        (
            body(&CLICK.replace("\"x\":1", "\"x\":1e999")),
            "events[0].x",
            "number out of range",
        ),
        (
            format!("{}{}", body(CLICK), " ".repeat(MAX_BODY_BYTES)),
            "body",
            "65536",
        ),
        (
            body(
                r#"{"id":"00000000000000aa","t":1,"type":"custom","name":"n","attrs":{"a":null}}"#,
            ),
            "events[0].attrs",
            "string, number or boolean",
        ),
        (
            body(
                r#"{"id":"00000000000000aa","t":1,"type":"web_vital","name":"FID","value":1,"delta":1}"#,
            ),
            "events[0].name",
            "LCP",
        ),
        (
            body(
                r#"{"id":"00000000000000aa","t":1,"type":"error","exception.message":"m","count":0}"#,
            ),
            "events[0].count",
            "at least 1",
        ),
        (
            body(&CLICK.replace("00000000000000aa", "0000000000000000")),
            "events[0].id",
            "all zeros",
        ),
        (
            body(&CLICK.replace("\"t\":1764000000000", "\"t\":18446744073709551615")),
            "events[0].t",
            "before 2100",
        ),
        (
            body(CLICK).replace("\"sent_at\":1764000000000", "\"sent_at\":0"),
            "sent_at",
            "epoch",
        ),
        (
            body(CLICK).replace(
                "{\"name\":\"ferrotel\",\"version\":\"0.1.0\"}",
                "[\"ferrotel\",\"0.1.0\"]",
            ),
            "body",
            "only `events` is an array",
        ),
        (
            format!("[{}]", body(CLICK)),
            "body",
            "must be a JSON object",
        ),
        (
            body(r#"["00000000000000aa",1764000000000,"click"]"#),
            "body",
            "only `events` is an array",
        ),
        (
            body(
                r#"{"id":"00000000000000aa","t":1,"type":"custom","name":"n","attrs":{"a":1,"a":2}}"#,
            ),
            "events[0].attrs",
            "duplicate key",
        ),
        (
            body(r#"{"id":"00000000000000aa","t":1,"type":"nav_timing","dns":-5}"#),
            "events[0].dns",
            "negative",
        ),
        (
            body(
                r#"{"id":"00000000000000aa","t":1,"type":"long_task","start":-1e308,"duration":1}"#,
            ),
            "events[0].start",
            "negative",
        ),
    ];
    for (b, field, words) in cases {
        let (f, r) = reason(&b);
        assert_eq!(f, field, "for {}", &b[..b.len().min(120)]);
        assert!(r.contains(words), "reason {r:?} lacks {words:?}");
    }
}

#[test]
fn over_long_strings_are_truncated_not_refused() {
    let long = "é".repeat(2000);
    let b = body(&CLICK.replace("\"Buy\"", &format!("\"{long}\"")));
    let env = Envelope::decode(b.as_bytes()).unwrap();
    match &env.events[0].kind {
        EventKind::Click { text, .. } => {
            assert!(text.len() <= limits::TEXT && text.len() >= limits::TEXT - 1);
            assert!(long.starts_with(text.as_str()));
        }
        _ => unreachable!(),
    }
}

#[test]
fn invalid_utf8_is_refused() {
    let mut b = body(CLICK).into_bytes();
    let at = b.windows(3).position(|w| w == b"Buy").unwrap();
    b[at] = 0xff;
    assert!(Envelope::decode(&b).is_err());
}

#[test]
fn release_and_environment_travel_in_the_header() {
    let mut cfg = ferrotel::core::config::Config::new("/v1/batch", "pk_demo");
    cfg.release = "shop@2.4.1".into();
    let session = "0123456789abcdef0123456789abcdef";
    let header = Header::for_config(&cfg, session);
    let b = header.encode_batch(1_764_000_000_000, &[]);
    assert!(
        b.starts_with(r#"{"sent_at":       1764000000000,"v":1,"#),
        "{b}"
    );
    assert!(
        b.contains(
            r#""session":"0123456789abcdef0123456789abcdef","release":"shop@2.4.1","events""#
        ),
        "{b}"
    );
    assert!(!b.contains("environment"), "an empty field is not sent");
    assert!(!b.contains("mask_messages"), "a default flag is not sent");
    cfg.mask_messages = false;
    let b = Header::for_config(&cfg, session).encode_batch(1_764_000_000_000, &[]);
    assert!(
        b.contains(r#""release":"shop@2.4.1","mask_messages":false,"events""#),
        "{b}"
    );
    let b = body(CLICK).replace("\"sent_at\"", r#""mask_messages":false,"sent_at""#);
    assert!(
        !Envelope::decode(b.as_bytes())
            .unwrap()
            .resource
            .mask_messages
    );
    let b = body(CLICK).replace("\"sent_at\"", r#""mask_messages":"no","sent_at""#);
    assert!(
        reason(&b).1.contains("expected a boolean"),
        "{:?}",
        reason(&b)
    );
    let b = body(CLICK).replace(
        "\"sent_at\"",
        r#""release":"shop@2.4.1","environment":"production","sent_at""#,
    );
    let env = Envelope::decode(b.as_bytes()).unwrap();
    assert_eq!(
        env.resource,
        Resource {
            release: "shop@2.4.1".into(),
            environment: "production".into(),
            mask_messages: true,
            allow_query: Vec::new(),
        }
    );
    let b = body(CLICK).replace("\"sent_at\"", r#""release":7,"sent_at""#);
    assert!(reason(&b)
        .1
        .contains("invalid type: integer `7`, expected a string"));
    let long = body(CLICK).replace(
        "\"sent_at\"",
        &format!(r#""release":"{}","sent_at""#, "é".repeat(40)),
    );
    let env = Envelope::decode(long.as_bytes()).unwrap();
    assert_eq!(
        env.resource.release,
        "é".repeat(32),
        "cut at 64 bytes, not refused"
    );
}

#[test]
fn unknown_envelope_members_are_skipped() {
    let b = body(CLICK).replace("\"v\":1,", "\"v\":1,\"future\":{\"a\":1},\"x\":\"y\",");
    let env = Envelope::decode(b.as_bytes()).unwrap();
    assert_eq!((env.events.len(), env.resource), (1, Resource::default()));
}

#[test]
fn web_vital_names_and_ratings_are_typed() {
    let vital = |extra: &str| {
        body(&format!(
            r#"{{"id":"00000000000000aa","t":1,"type":"web_vital","name":"LCP","value":3000,"delta":3000{extra}}}"#
        ))
    };
    let rating = |b: &str| match &Envelope::decode(b.as_bytes()).unwrap().events[0].kind {
        EventKind::WebVital { name, rating, .. } => (*name, *rating),
        _ => unreachable!(),
    };
    assert_eq!(
        rating(&vital(r#","rating":"poor""#)),
        (Metric::Lcp, Rating::Poor),
        "a sent rating is kept"
    );
    assert_eq!(
        rating(&vital("")),
        (Metric::Lcp, Rating::NeedsImprovement),
        "an absent rating is rated from the value"
    );
    assert_eq!(
        reason(&vital(r#","rating":"meh""#)),
        (
            "events[0].rating".into(),
            "must be good, needs-improvement or poor".into()
        )
    );
}

#[test]
fn readme_has_the_generated_wire_schema_table() {
    let table = ferrotel::core::schema::markdown();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    assert!(
        readme.contains(&table),
        "README.md's wire schema table differs from src/core/schema.rs; replace it with:\n\n{table}"
    );
}
