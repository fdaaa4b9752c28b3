//! The Worker's request-path decisions natively: `core::ingest::decide` on a batch body,
//! split into decode + validate and the rest (sampling, enrichment, OTLP, the plan and its
//! answers). Prints µs per call.
//!
//!   cargo run --release --example prepare_cost -- path/to/body.json [iterations]
use std::time::Instant;

use ferrotel::core::envelope::Envelope;
use ferrotel::core::ingest::{decide, Bindings, Decision, Incoming, IngestConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: prepare_cost BODY.json [iterations]");
    let n: u32 = args
        .next()
        .map(|s| s.parse().expect("iterations"))
        .unwrap_or(2000);
    let body = std::fs::read(&path).expect("read body");
    let cfg = IngestConfig::from_vars(|k| match k {
        "WRITE_KEYS" => Some(r#"{"pk_demo":["*"]}"#.into()),
        "IP_SALT" => Some("bench-salt-0123456789".into()),
        _ => None,
    })
    .expect("config");
    let req = Incoming {
        method: "POST",
        url: "https://ingest.example/v1/batch",
        content_type: Some("text/plain;charset=UTF-8"),
        content_length: None,
        origin: Some("http://127.0.0.1"),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
        ip: Some("192.0.2.1"),
        country: Some("US"),
        now_ms: 1_764_000_000_000,
        body: Some(&body),
        checked: true,
        ..Incoming::default()
    };
    let bindings = Bindings {
        rl_key: true,
        rl_client: true,
        queue: true,
    };
    let time = |f: &dyn Fn() -> usize| {
        let mut sink = 0;
        for _ in 0..n / 10 {
            sink += f();
        }
        let t = Instant::now();
        for _ in 0..n {
            sink += f();
        }
        (t.elapsed().as_secs_f64() * 1e6 / n as f64, sink)
    };
    let (decode, _) = time(&|| Envelope::decode(&body).map(|e| e.events.len()).unwrap_or(0));
    let (all, _) = time(&|| match decide(Ok(&cfg), &req, bindings) {
        Decision::Accept(p) => p.docs.iter().map(String::len).sum(),
        _ => 0,
    });
    println!("body {} bytes: decode+validate {decode:.1} µs, decide (decode, sample, enrich, OTLP, plan) {all:.1} µs per call", body.len());
}
