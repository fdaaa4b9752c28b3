//! The ingest Worker's configuration (from wrangler vars and secrets) and the decisions it
//! makes with it, kept pure so they are tested natively.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::envelope::{Envelope, MAX_BODY_BYTES};
use super::event::EventKind;
use super::otlp::{Enrichment, LogsEncoder, MAX_CHUNK_BYTES};
use super::sample::Sampler;
use super::ua::classify;

/// Validated Worker configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestConfig {
    /// Write key → allowed origins (`*` allows any, including requests without `Origin`).
    pub keys: BTreeMap<String, Vec<String>>,
    /// Sampling rate per wire event type, with `default` for the rest.
    pub sample_rates: BTreeMap<String, f64>,
    /// Where to forward OTLP/HTTP JSON logs (`…/v1/logs`), if anywhere.
    pub otlp_endpoint: Option<String>,
    /// Extra headers for the OTLP request (e.g. authorization), from a secret.
    pub otlp_headers: Vec<(String, String)>,
    /// Bearer token for `GET /v1/events`; the endpoint is off without one.
    pub read_token: Option<String>,
    /// Secret salt for the daily client hash.
    pub ip_salt: String,
}

/// A configuration problem, named so an operator can fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The var or secret.
    pub name: &'static str,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.problem)
    }
}

fn problem(name: &'static str, p: impl Into<String>) -> ConfigProblem {
    ConfigProblem {
        name,
        problem: p.into(),
    }
}

impl IngestConfig {
    /// Reads and validates the configuration; `var` returns a var's or secret's value.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<IngestConfig, ConfigProblem> {
        let raw = var("WRITE_KEYS").ok_or_else(|| problem("WRITE_KEYS", "is required: a JSON object of write key to allowed origins, e.g. {\"pk_live\": [\"https://shop.example\"]}"))?;
        let keys: BTreeMap<String, Vec<String>> = serde_json::from_str(&raw).map_err(|e| {
            problem(
                "WRITE_KEYS",
                format!("must be a JSON object of key to a list of origins: {e}"),
            )
        })?;
        if keys.is_empty() {
            return Err(problem("WRITE_KEYS", "lists no keys"));
        }
        for (k, origins) in &keys {
            if k.is_empty()
                || k.len() > 64
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(problem(
                    "WRITE_KEYS",
                    format!("key {k:?} must be 1-64 characters of A-Z a-z 0-9 _ -"),
                ));
            }
            for o in origins {
                if o != "*" && !(o.starts_with("https://") || o.starts_with("http://"))
                    || o.ends_with('/')
                {
                    return Err(problem("WRITE_KEYS", format!("origin {o:?} of key {k:?} must be \"*\" or scheme://host[:port] without a path")));
                }
            }
        }
        let sample_rates: BTreeMap<String, f64> = match var("SAMPLE_RATES") {
            None => BTreeMap::new(),
            Some(raw) => serde_json::from_str(&raw)
                .map_err(|e| problem("SAMPLE_RATES", format!("must be a JSON object of event type to rate, e.g. {{\"default\": 1, \"click\": 0.5}}: {e}")))?,
        };
        for (t, r) in &sample_rates {
            if t != "default" && !EventKind::TYPES.contains(&t.as_str()) {
                return Err(problem(
                    "SAMPLE_RATES",
                    format!(
                        "{t:?} is not an event type (one of default, {})",
                        EventKind::TYPES.join(", ")
                    ),
                ));
            }
            if !(0.0..=1.0).contains(r) {
                return Err(problem(
                    "SAMPLE_RATES",
                    format!("rate for {t:?} must be from 0 to 1"),
                ));
            }
        }
        let otlp_endpoint = var("OTLP_ENDPOINT").filter(|s| !s.is_empty());
        if let Some(e) = &otlp_endpoint {
            if !(e.starts_with("https://") || e.starts_with("http://")) {
                return Err(problem(
                    "OTLP_ENDPOINT",
                    "must be an http(s) URL such as https://collector.example/v1/logs",
                ));
            }
        }
        let otlp_headers: Vec<(String, String)> =
            match var("OTLP_HEADERS").filter(|s| !s.is_empty()) {
                None => Vec::new(),
                Some(raw) => serde_json::from_str::<BTreeMap<String, String>>(&raw)
                    .map_err(|e| {
                        problem(
                            "OTLP_HEADERS",
                            format!("must be a JSON object of header name to value: {e}"),
                        )
                    })?
                    .into_iter()
                    .collect(),
            };
        let ip_salt = var("IP_SALT").filter(|s| s.len() >= 16).ok_or_else(|| {
            problem("IP_SALT", "is required (a secret of at least 16 characters): without it the daily client hash could be reversed")
        })?;
        Ok(IngestConfig {
            keys,
            sample_rates,
            otlp_endpoint,
            otlp_headers,
            read_token: var("READ_TOKEN").filter(|s| !s.is_empty()),
            ip_salt,
        })
    }

    /// Whether `origin` (the request's `Origin` header) may send with `key`.
    pub fn origin_allowed(&self, key: &str, origin: Option<&str>) -> bool {
        self.keys.get(key).is_some_and(|allowed| {
            allowed
                .iter()
                .any(|a| a == "*" || Some(a.as_str()) == origin)
        })
    }

    /// Whether any key accepts `origin` (for CORS preflight, which carries no key).
    pub fn any_key_allows(&self, origin: &str) -> bool {
        self.keys
            .values()
            .flatten()
            .any(|a| a == "*" || a == origin)
    }

    /// The sampling rate for an event.
    pub fn rate_for(&self, kind: &EventKind) -> f64 {
        self.sample_rates
            .get(kind.type_name())
            .or_else(|| self.sample_rates.get("default"))
            .copied()
            .unwrap_or(1.0)
    }
}

/// What the request path knows about one `POST /v1/batch`.
#[derive(Debug, Clone)]
pub struct BatchRequest<'a> {
    /// The body as received.
    pub body: &'a [u8],
    /// `Content-Type`, as sent (empty when absent).
    pub content_type: &'a str,
    /// `Origin`, if sent.
    pub origin: Option<&'a str>,
    /// `User-Agent` (empty when absent).
    pub user_agent: &'a str,
    /// Country from the edge, if known.
    pub country: Option<&'a str>,
    /// Daily-salted hash of the client address (empty when unknown).
    pub client_hash: &'a str,
    /// Now, ms since the epoch.
    pub now_ms: u64,
}

/// A refusal: status, a machine-readable error, the field and a reason for people.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// HTTP status (4xx).
    pub status: u16,
    /// `invalid_batch`, `unknown_key`, ...
    pub error: &'static str,
    /// The field at fault, if one is.
    pub field: Option<String>,
    /// What rule was broken.
    pub reason: Cow<'static, str>,
    /// The origin to allow in CORS headers (so a browser can read the reason), if any.
    pub cors: Option<String>,
}

impl Rejection {
    /// The JSON body: `{"error":…,"field":…,"reason":…}`.
    pub fn body(&self) -> String {
        error_body(self.error, self.field.as_deref(), &self.reason)
    }
}

/// `{"error":…,"field":…,"reason":…}`.
pub fn error_body(error: &str, field: Option<&str>, reason: &str) -> String {
    use super::json::push_str;
    let mut b = String::with_capacity(64 + reason.len());
    b.push_str("{\"error\":");
    push_str(&mut b, error, usize::MAX);
    if let Some(f) = field {
        b.push_str(",\"field\":");
        push_str(&mut b, f, usize::MAX);
    }
    b.push_str(",\"reason\":");
    push_str(&mut b, reason, usize::MAX);
    b.push('}');
    b
}

/// An accepted batch, ready for rate limiting and the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The write key (the per-key rate limit key).
    pub key: String,
    /// The per-client rate limit key.
    pub client_key: String,
    /// OTLP logs documents of the kept events, each within the queue's message limit.
    pub docs: Vec<String>,
    /// The origin to allow in CORS headers, if any.
    pub cors: Option<String>,
}

/// Everything the request path decides before rate limiting: media type, size, decoding and
/// validation, key and origin, sampling, enrichment and OTLP encoding.
pub fn prepare(cfg: &IngestConfig, req: &BatchRequest<'_>) -> Result<Accepted, Rejection> {
    let reject =
        |status, error, field: Option<&str>, reason: Cow<'static, str>, cors: Option<&str>| {
            Rejection {
                status,
                error,
                field: field.map(str::to_owned),
                reason,
                cors: cors.map(str::to_owned),
            }
        };
    let ct = req.content_type.as_bytes();
    let starts = |p: &str| ct.len() >= p.len() && ct[..p.len()].eq_ignore_ascii_case(p.as_bytes());
    if !ct.is_empty() && !starts("text/plain") && !starts("application/json") {
        return Err(reject(
            415,
            "unsupported_media_type",
            Some("content-type"),
            "send text/plain (sendBeacon) or application/json".into(),
            None,
        ));
    }
    if req.body.len() > MAX_BODY_BYTES {
        return Err(reject(
            413,
            "payload_too_large",
            Some("body"),
            "exceeds 65536 bytes".into(),
            None,
        ));
    }
    let env = match Envelope::decode(req.body) {
        Ok(e) => e,
        Err(e) => {
            let cors = req.origin.filter(|o| cfg.any_key_allows(o));
            return Err(reject(400, "invalid_batch", Some(&e.field), e.reason, cors));
        }
    };
    if !cfg.keys.contains_key(&env.key) {
        return Err(reject(
            401,
            "unknown_key",
            Some("key"),
            "this write key is not configured".into(),
            None,
        ));
    }
    if !cfg.origin_allowed(&env.key, req.origin) {
        return Err(reject(
            403,
            "origin_not_allowed",
            Some("origin"),
            "this origin may not send with this key".into(),
            None,
        ));
    }
    let enrichment = Enrichment {
        country: req.country,
        ua: classify(req.user_agent),
        client_hash: req.client_hash,
        received_ms: req.now_ms,
    };
    let encoder = LogsEncoder::for_envelope(&env, &enrichment);
    let mut records = Vec::with_capacity(env.events.len());
    for ev in &env.events {
        let error = ev.kind.is_error();
        let rate = if error { 1.0 } else { cfg.rate_for(&ev.kind) };
        if Sampler::new(rate).keep(&env.session, error) {
            let mut r = String::with_capacity(512);
            encoder.record(&mut r, ev, rate, req.now_ms);
            records.push(r);
        }
    }
    let mut client_key = String::with_capacity(env.key.len() + 1 + req.client_hash.len());
    client_key.push_str(&env.key);
    client_key.push(':');
    client_key.push_str(req.client_hash);
    Ok(Accepted {
        docs: encoder.documents(&records, MAX_CHUNK_BYTES),
        client_key,
        key: env.key,
        cors: req.origin.map(str::to_owned),
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::event::EventKind;

    fn cfg(pairs: &[(&str, &str)]) -> Result<IngestConfig, ConfigProblem> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        IngestConfig::from_vars(|k| map.get(k).cloned())
    }

    const OK: &[(&str, &str)] = &[
        (
            "WRITE_KEYS",
            r#"{"pk_a":["https://a.test"],"pk_any":["*"]}"#,
        ),
        ("SAMPLE_RATES", r#"{"default":0.5,"error":1,"click":0.1}"#),
        ("IP_SALT", "0123456789abcdef"),
    ];

    #[test]
    fn valid_config_and_decisions() {
        let c = cfg(OK).unwrap();
        assert!(c.origin_allowed("pk_a", Some("https://a.test")));
        assert!(!c.origin_allowed("pk_a", Some("https://b.test")));
        assert!(!c.origin_allowed("pk_a", None));
        assert!(c.origin_allowed("pk_any", None));
        assert!(!c.origin_allowed("pk_unknown", Some("https://a.test")));
        assert!(c.any_key_allows("https://zzz.test"));
        let click = EventKind::Click {
            selector: String::new(),
            tag: String::new(),
            text: String::new(),
            x: 0,
            y: 0,
        };
        assert_eq!(c.rate_for(&click), 0.1);
        assert_eq!(
            c.rate_for(&EventKind::LongTask {
                start: 0.0,
                duration: 0.0
            }),
            0.5
        );
        assert_eq!(c.otlp_endpoint, None);
    }

    #[test]
    fn prepare_decides_status_and_output() {
        let c = cfg(OK).unwrap();
        let body = br#"{"v":1,"key":"pk_a","sdk":{"name":"ferrotel","version":"0.1.0"},"session":"0123456789abcdef0123456789abcdef","sent_at":1764000000000,"events":[{"id":"00000000000000aa","t":1764000000000,"type":"error","url":"https://a.test/","exception.message":"m"}]}"#;
        let req =
            |body: &'static [u8], ct: &'static str, origin: Option<&'static str>| BatchRequest {
                body,
                content_type: ct,
                origin,
                user_agent: "curl/8",
                country: Some("FR"),
                client_hash: "abcd",
                now_ms: 1_764_000_001_000,
            };
        let ok = prepare(
            &c,
            &req(body, "text/plain;charset=UTF-8", Some("https://a.test")),
        )
        .unwrap();
        assert_eq!(
            (ok.key.as_str(), ok.client_key.as_str(), ok.docs.len()),
            ("pk_a", "pk_a:abcd", 1)
        );
        assert!(ok.docs[0].contains("\"exception.message\""));
        assert!(ok.docs[0].contains("\"ferrotel.bot\",\"value\":{\"boolValue\":true}"));
        let status = |r: Result<Accepted, Rejection>| r.unwrap_err().status;
        assert_eq!(
            status(prepare(
                &c,
                &req(body, "application/xml", Some("https://a.test"))
            )),
            415
        );
        assert_eq!(
            status(prepare(&c, &req(b"{", "", Some("https://a.test")))),
            400
        );
        assert_eq!(
            status(prepare(&c, &req(body, "", Some("https://b.test")))),
            403
        );
        let bad = prepare(&c, &req(b"{", "", Some("https://a.test"))).unwrap_err();
        assert_eq!(
            bad.cors.as_deref(),
            Some("https://a.test"),
            "a browser may read why it was refused"
        );
        let j: serde_json::Value = serde_json::from_str(&bad.body()).unwrap();
        assert_eq!(
            (j["error"].as_str(), j["field"].as_str()),
            (Some("invalid_batch"), Some("body"))
        );
    }

    #[test]
    fn every_wire_type_takes_a_sample_rate() {
        let rates: Vec<String> = EventKind::TYPES
            .iter()
            .map(|t| format!("\"{t}\":0.5"))
            .collect();
        let rates = format!("{{\"default\":1,{}}}", rates.join(","));
        let mut pairs: Vec<(&str, &str)> = OK.to_vec();
        pairs.retain(|(k, _)| *k != "SAMPLE_RATES");
        pairs.push(("SAMPLE_RATES", &rates));
        let c = cfg(&pairs).unwrap();
        assert_eq!(c.sample_rates.len(), EventKind::TYPES.len() + 1);
        assert_eq!(EventKind::TYPES.len(), 8);
    }

    #[test]
    fn problems_name_the_var() {
        let with = |k: &str, v: &str| {
            let mut p: Vec<(&str, &str)> = OK.iter().filter(|(n, _)| *n != k).copied().collect();
            if !v.is_empty() {
                p.push((k, v));
            }
            cfg(&p).unwrap_err().name
        };
        assert_eq!(with("WRITE_KEYS", ""), "WRITE_KEYS");
        assert_eq!(with("WRITE_KEYS", "nope"), "WRITE_KEYS");
        assert_eq!(with("WRITE_KEYS", r#"{"bad key":["*"]}"#), "WRITE_KEYS");
        assert_eq!(
            with("WRITE_KEYS", r#"{"k":["https://a.test/path/"]}"#),
            "WRITE_KEYS"
        );
        assert_eq!(with("SAMPLE_RATES", r#"{"clicks":0.5}"#), "SAMPLE_RATES");
        assert_eq!(with("SAMPLE_RATES", r#"{"click":2}"#), "SAMPLE_RATES");
        assert_eq!(with("OTLP_ENDPOINT", "ftp://x"), "OTLP_ENDPOINT");
        assert_eq!(with("OTLP_HEADERS", "[1]"), "OTLP_HEADERS");
        assert_eq!(with("IP_SALT", ""), "IP_SALT");
        assert_eq!(with("IP_SALT", "short"), "IP_SALT");
    }
}
