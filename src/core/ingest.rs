//! The ingest Worker's configuration (from wrangler vars and secrets) and the decisions it
//! makes with it, kept pure so they are tested natively.

use std::collections::BTreeMap;

use super::event::EventKind;

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
    ConfigProblem { name, problem: p.into() }
}

impl IngestConfig {
    /// Reads and validates the configuration; `var` returns a var's or secret's value.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<IngestConfig, ConfigProblem> {
        let raw = var("WRITE_KEYS").ok_or_else(|| problem("WRITE_KEYS", "is required: a JSON object of write key to allowed origins, e.g. {\"pk_live\": [\"https://shop.example\"]}"))?;
        let keys: BTreeMap<String, Vec<String>> = serde_json::from_str(&raw)
            .map_err(|e| problem("WRITE_KEYS", format!("must be a JSON object of key to a list of origins: {e}")))?;
        if keys.is_empty() {
            return Err(problem("WRITE_KEYS", "lists no keys"));
        }
        for (k, origins) in &keys {
            if k.is_empty() || k.len() > 64 || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                return Err(problem("WRITE_KEYS", format!("key {k:?} must be 1-64 characters of A-Z a-z 0-9 _ -")));
            }
            for o in origins {
                if o != "*" && !(o.starts_with("https://") || o.starts_with("http://")) || o.ends_with('/') {
                    return Err(problem("WRITE_KEYS", format!("origin {o:?} of key {k:?} must be \"*\" or scheme://host[:port] without a path")));
                }
            }
        }
        let sample_rates: BTreeMap<String, f64> = match var("SAMPLE_RATES") {
            None => BTreeMap::new(),
            Some(raw) => serde_json::from_str(&raw)
                .map_err(|e| problem("SAMPLE_RATES", format!("must be a JSON object of event type to rate, e.g. {{\"default\": 1, \"click\": 0.5}}: {e}")))?,
        };
        const TYPES: &[&str] = &["default", "page_view", "screen_time", "click", "web_vital", "nav_timing", "long_task", "error", "custom"];
        for (t, r) in &sample_rates {
            if !TYPES.contains(&t.as_str()) {
                return Err(problem("SAMPLE_RATES", format!("{t:?} is not an event type (one of {})", TYPES.join(", "))));
            }
            if !(0.0..=1.0).contains(r) {
                return Err(problem("SAMPLE_RATES", format!("rate for {t:?} must be from 0 to 1")));
            }
        }
        let otlp_endpoint = var("OTLP_ENDPOINT").filter(|s| !s.is_empty());
        if let Some(e) = &otlp_endpoint {
            if !(e.starts_with("https://") || e.starts_with("http://")) {
                return Err(problem("OTLP_ENDPOINT", "must be an http(s) URL such as https://collector.example/v1/logs"));
            }
        }
        let otlp_headers: Vec<(String, String)> = match var("OTLP_HEADERS").filter(|s| !s.is_empty()) {
            None => Vec::new(),
            Some(raw) => serde_json::from_str::<BTreeMap<String, String>>(&raw)
                .map_err(|e| problem("OTLP_HEADERS", format!("must be a JSON object of header name to value: {e}")))?
                .into_iter()
                .collect(),
        };
        let ip_salt = var("IP_SALT").filter(|s| s.len() >= 16).ok_or_else(|| {
            problem("IP_SALT", "is required (a secret of at least 16 characters): without it the daily client hash could be reversed")
        })?;
        Ok(IngestConfig { keys, sample_rates, otlp_endpoint, otlp_headers, read_token: var("READ_TOKEN").filter(|s| !s.is_empty()), ip_salt })
    }

    /// Whether `origin` (the request's `Origin` header) may send with `key`.
    pub fn origin_allowed(&self, key: &str, origin: Option<&str>) -> bool {
        self.keys.get(key).is_some_and(|allowed| allowed.iter().any(|a| a == "*" || Some(a.as_str()) == origin))
    }

    /// Whether any key accepts `origin` (for CORS preflight, which carries no key).
    pub fn any_key_allows(&self, origin: &str) -> bool {
        self.keys.values().flatten().any(|a| a == "*" || a == origin)
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

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::event::EventKind;

    fn cfg(pairs: &[(&str, &str)]) -> Result<IngestConfig, ConfigProblem> {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        IngestConfig::from_vars(|k| map.get(k).cloned())
    }

    const OK: &[(&str, &str)] = &[
        ("WRITE_KEYS", r#"{"pk_a":["https://a.test"],"pk_any":["*"]}"#),
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
        let click = EventKind::Click { selector: String::new(), tag: String::new(), text: String::new(), x: 0, y: 0 };
        assert_eq!(c.rate_for(&click), 0.1);
        assert_eq!(c.rate_for(&EventKind::LongTask { start: 0.0, duration: 0.0 }), 0.5);
        assert_eq!(c.otlp_endpoint, None);
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
        assert_eq!(with("WRITE_KEYS", r#"{"k":["https://a.test/path/"]}"#), "WRITE_KEYS");
        assert_eq!(with("SAMPLE_RATES", r#"{"clicks":0.5}"#), "SAMPLE_RATES");
        assert_eq!(with("SAMPLE_RATES", r#"{"click":2}"#), "SAMPLE_RATES");
        assert_eq!(with("OTLP_ENDPOINT", "ftp://x"), "OTLP_ENDPOINT");
        assert_eq!(with("OTLP_HEADERS", "[1]"), "OTLP_HEADERS");
        assert_eq!(with("IP_SALT", ""), "IP_SALT");
        assert_eq!(with("IP_SALT", "short"), "IP_SALT");
    }
}
