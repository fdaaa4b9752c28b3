//! The ingest Worker's configuration (from wrangler vars and secrets) and the decisions it
//! makes with it, kept pure so they are tested natively.

use std::collections::BTreeMap;

use super::envelope::{Dropped, Envelope, MAX_BODY_BYTES};
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
    /// Bearer token for `GET /v1/events`; the endpoint is off without one (unset or empty).
    /// Outside local development it is at least [`MIN_READ_TOKEN_CHARS`] characters and not a
    /// [`DEMO_READ_TOKENS`] value (see [`IngestConfig::from_vars`]).
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

/// The least `READ_TOKEN` length (characters) outside local development.
pub const MIN_READ_TOKEN_CHARS: usize = 32;

/// `READ_TOKEN` values that were ever published (committed demo config, docs): refused outside
/// local development whatever their length.
pub const DEMO_READ_TOKENS: &[&str] = &["demo-token"];

/// The var that marks local development (`wrangler dev` reading `worker/.dev.vars`, written by
/// scripts/demo.sh), and its one value that does: `FERROTEL_ENV=development`. Any other value,
/// or none, is treated as a deployment.
pub const DEV_MARKER_VAR: &str = "FERROTEL_ENV";
/// See [`DEV_MARKER_VAR`].
pub const DEV_MARKER_VALUE: &str = "development";

fn problem(name: &'static str, p: impl Into<String>) -> ConfigProblem {
    ConfigProblem {
        name,
        problem: p.into(),
    }
}

impl IngestConfig {
    /// Reads and validates the configuration; `var` returns a var's or secret's value.
    ///
    /// `READ_TOKEN`: unset or empty turns `GET /v1/events` off (404 saying so; ingest and
    /// the rest unaffected). Set, it must be at least [`MIN_READ_TOKEN_CHARS`] characters and not one of
    /// [`DEMO_READ_TOKENS`], unless `FERROTEL_ENV=development` (local development only), else
    /// the Worker serves nothing but `500 misconfigured` naming `READ_TOKEN`.
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
        let development = var(DEV_MARKER_VAR).as_deref() == Some(DEV_MARKER_VALUE);
        let read_token = var("READ_TOKEN").filter(|s| !s.is_empty());
        if let (Some(t), false) = (&read_token, development) {
            if DEMO_READ_TOKENS.contains(&t.as_str()) {
                return Err(problem(
                    "READ_TOKEN",
                    "is a published demo value: set a random secret (`wrangler secret put READ_TOKEN`, e.g. from `openssl rand -hex 32`)",
                ));
            }
            if t.chars().count() < MIN_READ_TOKEN_CHARS {
                return Err(problem(
                    "READ_TOKEN",
                    format!("must be at least {MIN_READ_TOKEN_CHARS} characters (a random secret, e.g. from `openssl rand -hex 32`)"),
                ));
            }
        }
        Ok(IngestConfig {
            keys,
            sample_rates,
            otlp_endpoint,
            otlp_headers,
            read_token,
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

/// The ingest route.
pub const BATCH_PATH: &str = "/v1/batch";
/// The per-key rate-limit binding: consulted first, with the write key.
pub const RL_KEY: &str = "RL_KEY";
/// The per-client rate-limit binding: consulted second, with `key:client hash`.
pub const RL_CLIENT: &str = "RL_CLIENT";
/// The Queue binding. Without it accepted events are written directly, after the response.
pub const QUEUE: &str = "EVENTS";
/// `Retry-After` (seconds) of a 429: the rate limiters' period.
pub const RATE_LIMITED_RETRY_AFTER: &str = "60";
/// `Retry-After` (seconds) of a 503 (the queue refused the batch).
pub const UNAVAILABLE_RETRY_AFTER: &str = "5";
/// Most dropped events itemised in a partial acceptance's body (`dropped` counts them all).
pub const MAX_LISTED_DROPS: usize = 10;

/// What a method and path are, for every entry (worker/entry.mjs and the `worker` crate's router
/// both route with this, so they cannot disagree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /v1/batch`.
    Batch,
    /// `OPTIONS` on any path: CORS preflight.
    Preflight,
    /// `GET /healthz`.
    Health,
    /// `GET /v1/events`: the read endpoint.
    Events,
    /// `/v1/batch` with another method: 405.
    WrongMethod,
    /// Anything else: 404.
    NotFound,
}

/// Routes a request by its method and its URL's path (exact match; the query is ignored).
pub fn route(method: &str, url: &str) -> Route {
    match (method, path_of(url)) {
        ("OPTIONS", _) => Route::Preflight,
        ("POST", BATCH_PATH) => Route::Batch,
        (_, BATCH_PATH) => Route::WrongMethod,
        ("GET", "/healthz") => Route::Health,
        ("GET", "/v1/events") => Route::Events,
        _ => Route::NotFound,
    }
}

/// The path of an absolute URL (`https://host/p?q` → `/p`) or of a path with a query.
pub fn path_of(url: &str) -> &str {
    let rest = match url.find("://") {
        Some(i) => {
            let after = &url[i + 3..];
            match after.find(['/', '?', '#']) {
                Some(j) if after.as_bytes()[j] == b'/' => &after[j..],
                _ => return "/",
            }
        }
        None => url,
    };
    match rest.find(['?', '#']) {
        Some(i) => &rest[..i],
        None => rest,
    }
}

/// What the entry knows about one request: the method and URL, the headers the decisions use,
/// what the edge adds, and the body once it has been read.
#[derive(Debug, Clone, Default)]
pub struct Incoming<'a> {
    /// `POST`, `GET`, ...
    pub method: &'a str,
    /// The request URL (absolute, or a path).
    pub url: &'a str,
    /// `Content-Type`, if sent.
    pub content_type: Option<&'a str>,
    /// `Content-Length`, if sent (a 10 MB body is refused from it, unread).
    pub content_length: Option<&'a str>,
    /// `Origin`, if sent.
    pub origin: Option<&'a str>,
    /// `User-Agent`, if sent.
    pub user_agent: Option<&'a str>,
    /// `CF-Connecting-IP`, if known: hashed (daily salt), never kept.
    pub ip: Option<&'a str>,
    /// Country from the edge, if known.
    pub country: Option<&'a str>,
    /// Now, ms since the epoch.
    pub now_ms: u64,
    /// The body, once read; `None` before (the answer may then be [`Decision::ReadBody`]).
    pub body: Option<&'a [u8]>,
}

/// Which of the optional bindings the Worker has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bindings {
    /// [`RL_KEY`].
    pub rl_key: bool,
    /// [`RL_CLIENT`].
    pub rl_client: bool,
    /// [`QUEUE`].
    pub queue: bool,
}

/// A complete HTTP answer: status, headers (lower-case names) and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Header names and values, in order.
    pub headers: Vec<(&'static str, String)>,
    /// The body (JSON), if any.
    pub body: Option<String>,
}

impl Reply {
    /// A JSON body with a status.
    pub fn json(status: u16, body: String) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".to_owned())],
            body: Some(body),
        }
    }

    /// An error answer: `{"error":…,"field":…,"reason":…}`.
    pub fn error(status: u16, error: &str, field: Option<&str>, reason: &str) -> Reply {
        Reply::json(status, error_body(error, field, reason))
    }

    /// A status without a body.
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    /// The value of a header, by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn with(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_owned()));
        self
    }

    /// CORS headers of an ingest answer: `Vary: Origin` always (the answer depends on it), and
    /// for an allowed origin `Access-Control-Allow-Origin` and `Access-Control-Expose-Headers`
    /// (so a page can read `Retry-After`, not only the status).
    fn cors(self, allowed_origin: Option<&str>) -> Reply {
        let r = self.with("vary", "Origin");
        match allowed_origin {
            Some(o) => r
                .with("access-control-allow-origin", o)
                .with("access-control-expose-headers", "Retry-After"),
            None => r,
        }
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

/// `{"accepted":N,"dropped":M,"errors":[{"index":i,"field":…,"reason":…},…]}`, listing the
/// first [`MAX_LISTED_DROPS`] drops.
pub fn partial_body(accepted: usize, dropped: &[Dropped]) -> String {
    use super::json::{push_str, push_u64};
    let mut b = String::with_capacity(48 + 96 * dropped.len().min(MAX_LISTED_DROPS));
    b.push_str("{\"accepted\":");
    push_u64(&mut b, accepted as u64);
    b.push_str(",\"dropped\":");
    push_u64(&mut b, dropped.len() as u64);
    b.push_str(",\"errors\":[");
    for (i, d) in dropped.iter().take(MAX_LISTED_DROPS).enumerate() {
        if i > 0 {
            b.push(',');
        }
        b.push_str("{\"index\":");
        push_u64(&mut b, d.index as u64);
        b.push_str(",\"field\":");
        push_str(&mut b, &d.field, usize::MAX);
        b.push_str(",\"reason\":");
        push_str(&mut b, &d.reason, 512);
        b.push('}');
    }
    b.push_str("]}");
    b
}

/// The one 5xx the Worker gives on purpose: its own configuration is wrong.
pub fn misconfigured(p: &ConfigProblem) -> Reply {
    Reply::error(500, "misconfigured", Some(p.name), &p.problem)
}

/// The answer to a CORS preflight: what the SDK sends (`POST` with `Content-Type`; the read
/// endpoint's `GET` with `Authorization`) from an origin some key accepts.
pub fn preflight(cfg: &IngestConfig, origin: Option<&str>) -> Reply {
    match origin.filter(|o| cfg.any_key_allows(o)) {
        Some(o) => Reply::empty(204)
            .with("access-control-allow-origin", o)
            .with("access-control-allow-methods", "POST, GET, OPTIONS")
            .with(
                "access-control-allow-headers",
                "content-type, authorization",
            )
            .with("access-control-max-age", "86400")
            .with("vary", "Origin"),
        None => Reply::error(
            403,
            "origin_not_allowed",
            Some("origin"),
            "no write key accepts this origin",
        )
        .with("vary", "Origin"),
    }
}

/// Daily-salted hash of the client address: unique counts per day without storing the
/// address, and no way to link days (the day is in the salt).
pub fn client_hash(salt: &str, ip: &str, now_ms: u64) -> String {
    use sha2::{Digest, Sha256};
    if ip.is_empty() {
        return String::new();
    }
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update((now_ms / 86_400_000).to_le_bytes());
    h.update(ip.as_bytes());
    let d = h.finalize();
    let mut out = String::with_capacity(16);
    super::ids::push_hex64(
        &mut out,
        u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]),
    );
    out
}

/// The part of a client address the client rate limit keys on: an IPv4 address as it is, an
/// IPv6 address as its /64 prefix (`2001:db8:1:2::/64`; an IPv4-mapped IPv6 address as the
/// IPv4 address); anything unparsable as it is.
pub fn limit_net(ip: &str) -> String {
    use std::net::{IpAddr, Ipv6Addr};
    match ip.trim().parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                let mut out = net.to_string();
                out.push_str("/64");
                out
            }
        },
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.to_owned(),
    }
}

/// What to do with an accepted batch, and how to answer in each outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Rate limiters to consult, in order: (binding, key). The first that refuses ends the
    /// request with [`Plan::limited`]; nothing is stored.
    pub limits: Vec<(&'static str, String)>,
    /// OTLP logs documents of the kept events, each within the queue's message limit.
    pub docs: Vec<String>,
    /// Send `docs` to this Queue binding (if a send fails: [`Plan::unavailable`]).
    pub queue: Option<&'static str>,
    /// No Queue: write `docs` directly (`consume::process`) after answering.
    pub direct: bool,
    /// The answer when every limiter allowed the batch and the docs were handed over: 204, or
    /// 200 with the partial-acceptance body when events were dropped.
    pub reply: Reply,
    /// The answer when a limiter refuses: 429 with `Retry-After`.
    pub limited: Reply,
    /// The answer when the Queue refuses a document: 503 with `Retry-After`.
    pub unavailable: Reply,
}

/// Everything the request path decides, for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Not the ingest's: the `worker` crate's router answers ([`Route::Preflight`],
    /// [`Route::Health`], [`Route::Events`]).
    Route,
    /// The headers pass: read the body and decide again with it.
    ReadBody,
    /// Answer this, and do nothing else.
    Answer(Reply),
    /// Rate-limit, store and answer as planned.
    Accept(Plan),
}

/// Every decision of the request path, in order: route; configuration; declared size;
/// media type; (body) size; decoding and validation (a broken envelope is a 400, bad events
/// are dropped and reported); key; origin; sampling, enrichment and OTLP encoding; which rate
/// limiters to consult with which keys; where the documents go; and the exact answer for every
/// outcome, with CORS headers for an origin some key accepts.
pub fn decide(
    cfg: Result<&IngestConfig, &ConfigProblem>,
    req: &Incoming<'_>,
    bindings: Bindings,
) -> Decision {
    let route = route(req.method, req.url);
    if matches!(route, Route::Preflight | Route::Health | Route::Events) {
        return Decision::Route;
    }
    let cfg = match cfg {
        Ok(c) => c,
        Err(p) => return Decision::Answer(misconfigured(p)),
    };
    let cors = req.origin.filter(|o| cfg.any_key_allows(o));
    let refuse = |status, error, field: Option<&str>, reason: &str| {
        Decision::Answer(Reply::error(status, error, field, reason).cors(cors))
    };
    match route {
        Route::Batch => {}
        Route::WrongMethod => {
            return Decision::Answer(
                Reply::error(405, "method_not_allowed", None, "use POST")
                    .with("allow", "POST, OPTIONS")
                    .cors(cors),
            )
        }
        _ => {
            return refuse(
                404,
                "not_found",
                None,
                "routes: POST /v1/batch, GET /v1/events, GET /healthz",
            )
        }
    }
    let too_large = |n: u64| n > MAX_BODY_BYTES as u64;
    if req
        .content_length
        .and_then(|l| l.trim().parse::<u64>().ok())
        .is_some_and(too_large)
    {
        return refuse(
            413,
            "payload_too_large",
            Some("body"),
            "exceeds 65536 bytes",
        );
    }
    let ct = req.content_type.unwrap_or("").as_bytes();
    let starts = |p: &str| ct.len() >= p.len() && ct[..p.len()].eq_ignore_ascii_case(p.as_bytes());
    if !ct.is_empty() && !starts("text/plain") && !starts("application/json") {
        return refuse(
            415,
            "unsupported_media_type",
            Some("content-type"),
            "send text/plain (sendBeacon) or application/json",
        );
    }
    let Some(body) = req.body else {
        return Decision::ReadBody;
    };
    if too_large(body.len() as u64) {
        return refuse(
            413,
            "payload_too_large",
            Some("body"),
            "exceeds 65536 bytes",
        );
    }
    let (env, dropped) = match Envelope::decode_partial(body) {
        Ok(d) => d,
        Err(e) => return refuse(400, "invalid_batch", Some(&e.field), &e.reason),
    };
    if !cfg.keys.contains_key(&env.key) {
        return refuse(
            401,
            "unknown_key",
            Some("key"),
            "this write key is not configured",
        );
    }
    if !cfg.origin_allowed(&env.key, req.origin) {
        return refuse(
            403,
            "origin_not_allowed",
            Some("origin"),
            "this origin may not send with this key",
        );
    }
    let hash = client_hash(&cfg.ip_salt, req.ip.unwrap_or(""), req.now_ms);
    let enrichment = Enrichment {
        country: req.country,
        ua: classify(req.user_agent.unwrap_or("")),
        client_hash: &hash,
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
    let docs = encoder.documents(&records, MAX_CHUNK_BYTES);
    // The client's own limit first: a client over it must not also spend the key's shared
    // budget (one address could otherwise starve every other client of the key).
    let mut limits = Vec::with_capacity(2);
    if bindings.rl_client {
        // IPv6 clients are limited per /64: one host usually holds the whole prefix, so
        // rotating addresses within it must not multiply the limit.
        let net = client_hash(&cfg.ip_salt, &limit_net(req.ip.unwrap_or("")), req.now_ms);
        let mut client_key = String::with_capacity(env.key.len() + 1 + net.len());
        client_key.push_str(&env.key);
        client_key.push(':');
        client_key.push_str(&net);
        limits.push((RL_CLIENT, client_key));
    }
    if bindings.rl_key {
        limits.push((RL_KEY, env.key.clone()));
    }
    let reply = if dropped.is_empty() {
        Reply::empty(204)
    } else {
        Reply::json(200, partial_body(env.events.len(), &dropped))
    };
    Decision::Accept(Plan {
        limits,
        queue: (bindings.queue && !docs.is_empty()).then_some(QUEUE),
        direct: !bindings.queue && !docs.is_empty(),
        docs,
        reply: reply.cors(cors),
        limited: Reply::error(
            429,
            "rate_limited",
            None,
            "too many batches; retry after the period",
        )
        .with("retry-after", RATE_LIMITED_RETRY_AFTER)
        .cors(cors),
        unavailable: Reply::error(503, "unavailable", None, "could not queue the batch; retry")
            .with("retry-after", UNAVAILABLE_RETRY_AFTER)
            .cors(cors),
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::event::EventKind;
    use crate::core::otlp::project;

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

    const BODY: &str = r#"{"v":1,"key":"pk_a","sdk":{"name":"ferrotel","version":"0.1.0"},"session":"0123456789abcdef0123456789abcdef","sent_at":1764000000000,"events":[{"id":"00000000000000aa","t":1764000000000,"type":"error","url":"https://a.test/","exception.message":"m"}]}"#;
    const ALL: Bindings = Bindings {
        rl_key: true,
        rl_client: true,
        queue: true,
    };
    const NONE: Bindings = Bindings {
        rl_key: false,
        rl_client: false,
        queue: false,
    };

    fn post<'a>(body: Option<&'a [u8]>, origin: Option<&'a str>) -> Incoming<'a> {
        Incoming {
            method: "POST",
            url: "https://ingest.test/v1/batch",
            content_type: Some("text/plain;charset=UTF-8"),
            content_length: body.map(|_| "100"),
            origin,
            user_agent: Some("curl/8"),
            ip: Some("192.0.2.1"),
            country: Some("FR"),
            now_ms: 1_764_000_001_000,
            body,
        }
    }

    fn answer(d: Decision) -> Reply {
        match d {
            Decision::Answer(r) => r,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    fn plan(d: Decision) -> Plan {
        match d {
            Decision::Accept(p) => p,
            other => panic!("expected a plan, got {other:?}"),
        }
    }

    fn json(r: &Reply) -> serde_json::Value {
        serde_json::from_str(r.body.as_deref().expect("a body")).expect("a JSON body")
    }

    /// The CORS headers every ingest answer carries for an allowed origin.
    fn assert_cors(r: &Reply, origin: &str) {
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some(origin),
            "{r:?}"
        );
        assert_eq!(r.header("vary"), Some("Origin"), "{r:?}");
        assert_eq!(
            r.header("access-control-expose-headers"),
            Some("Retry-After"),
            "{r:?}"
        );
    }

    #[test]
    fn routing_is_by_exact_path() {
        for (m, u, want) in [
            ("POST", "https://i.test/v1/batch", Route::Batch),
            ("POST", "https://i.test/v1/batch?x=1", Route::Batch),
            ("POST", "/v1/batch", Route::Batch),
            ("POST", "https://i.test/x/v1/batch", Route::NotFound),
            ("POST", "https://i.test/v1/batch/", Route::NotFound),
            ("POST", "https://i.test/v1/batchy", Route::NotFound),
            ("POST", "https://i.test?/v1/batch", Route::NotFound),
            ("GET", "https://i.test/v1/batch", Route::WrongMethod),
            ("PUT", "https://i.test/v1/batch", Route::WrongMethod),
            ("OPTIONS", "https://i.test/anything", Route::Preflight),
            ("GET", "https://i.test/healthz", Route::Health),
            ("POST", "https://i.test/healthz", Route::NotFound),
            ("GET", "https://i.test/v1/events?type=click", Route::Events),
            ("GET", "https://i.test", Route::NotFound),
        ] {
            assert_eq!(route(m, u), want, "{m} {u}");
        }
        assert_eq!(path_of("http://127.0.0.1:8787/v1/batch#f"), "/v1/batch");
        assert_eq!(path_of("http://127.0.0.1:8787"), "/");
    }

    #[test]
    fn the_router_keeps_preflight_health_and_reads() {
        let c = cfg(OK).unwrap();
        for (m, u) in [
            ("OPTIONS", "https://i.test/v1/batch"),
            ("GET", "https://i.test/healthz"),
            ("GET", "https://i.test/v1/events"),
        ] {
            let req = Incoming {
                method: m,
                url: u,
                ..Incoming::default()
            };
            assert_eq!(decide(Ok(&c), &req, ALL), Decision::Route, "{m} {u}");
        }
        let pre = preflight(&c, Some("https://zzz.test"));
        assert_eq!(pre.status, 204);
        assert_eq!(
            pre.header("access-control-allow-origin"),
            Some("https://zzz.test")
        );
        assert!(pre
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST"));
        assert!(pre
            .header("access-control-allow-headers")
            .unwrap()
            .contains("content-type"));
        let only_a = IngestConfig::from_vars(|k| match k {
            "WRITE_KEYS" => Some(r#"{"pk_a":["https://a.test"]}"#.into()),
            "IP_SALT" => Some("0123456789abcdef".into()),
            _ => None,
        })
        .unwrap();
        let no = preflight(&only_a, Some("https://b.test"));
        assert_eq!(no.status, 403);
        assert_eq!(no.header("access-control-allow-origin"), None);
    }

    #[test]
    fn refusals_before_the_body_is_read() {
        let c = cfg(OK).unwrap();
        let o = Some("https://a.test");
        // Headers pass: the body is asked for.
        assert_eq!(decide(Ok(&c), &post(None, o), ALL), Decision::ReadBody);
        // 413 from Content-Length alone: a 10 MB body is never read.
        let mut big = post(None, o);
        big.content_length = Some("10485760");
        let r = answer(decide(Ok(&c), &big, ALL));
        assert_eq!(
            (r.status, json(&r)["error"].as_str()),
            (413, Some("payload_too_large"))
        );
        assert_cors(&r, "https://a.test");
        let mut xml = post(None, o);
        xml.content_type = Some("application/xml");
        let r = answer(decide(Ok(&c), &xml, ALL));
        assert_eq!(
            (r.status, json(&r)["field"].as_str()),
            (415, Some("content-type"))
        );
        assert_cors(&r, "https://a.test");
        let mut json_ct = post(None, o);
        json_ct.content_type = Some("Application/JSON");
        assert_eq!(decide(Ok(&c), &json_ct, ALL), Decision::ReadBody);
        // Path and method.
        let mut nf = post(None, o);
        nf.url = "https://i.test/x/v1/batch";
        let r = answer(decide(Ok(&c), &nf, ALL));
        assert_eq!(r.status, 404);
        assert_cors(&r, "https://a.test");
        let mut get = post(None, o);
        get.method = "GET";
        let r = answer(decide(Ok(&c), &get, ALL));
        assert_eq!((r.status, r.header("allow")), (405, Some("POST, OPTIONS")));
        assert_cors(&r, "https://a.test");
        // The Worker's own configuration is wrong: 500, naming the var.
        let p = cfg(&[("WRITE_KEYS", "nope")]).unwrap_err();
        let r = answer(decide(Err(&p), &post(Some(BODY.as_bytes()), o), ALL));
        assert_eq!(
            (r.status, json(&r)["field"].as_str()),
            (500, Some("WRITE_KEYS"))
        );
    }

    #[test]
    fn refusals_after_reading_carry_cors_for_an_accepted_origin() {
        let c = IngestConfig::from_vars(|k| match k {
            "WRITE_KEYS" => Some(r#"{"pk_a":["https://a.test"],"pk_b":["https://b.test"]}"#.into()),
            "IP_SALT" => Some("0123456789abcdef".into()),
            _ => None,
        })
        .unwrap();
        let a = Some("https://a.test");
        let status_field = |r: &Reply| (r.status, json(r)["field"].as_str().map(str::to_owned));
        let r = answer(decide(Ok(&c), &post(Some(b"{"), a), ALL));
        assert_eq!(status_field(&r), (400, Some("body".into())));
        assert_cors(&r, "https://a.test");
        let big = "x".repeat(70_000);
        let r = answer(decide(Ok(&c), &post(Some(big.as_bytes()), a), ALL));
        assert_eq!(
            r.status, 413,
            "a body over the limit without Content-Length"
        );
        let v9 = BODY.replace("\"v\":1", "\"v\":9");
        let r = answer(decide(Ok(&c), &post(Some(v9.as_bytes()), a), ALL));
        assert_eq!(status_field(&r), (400, Some("v".into())));
        let unknown = BODY.replace("pk_a", "pk_nobody");
        let r = answer(decide(Ok(&c), &post(Some(unknown.as_bytes()), a), ALL));
        assert_eq!(status_field(&r), (401, Some("key".into())));
        assert_cors(&r, "https://a.test");
        // pk_a from b.test: 403, readable by b.test (pk_b accepts it) ...
        let b = Some("https://b.test");
        let r = answer(decide(Ok(&c), &post(Some(BODY.as_bytes()), b), ALL));
        assert_eq!(status_field(&r), (403, Some("origin".into())));
        assert_cors(&r, "https://b.test");
        // ... but not by an origin no key accepts, nor without an Origin.
        let r = answer(decide(
            Ok(&c),
            &post(Some(BODY.as_bytes()), Some("https://evil.test")),
            ALL,
        ));
        assert_eq!(r.status, 403);
        assert_eq!(r.header("access-control-allow-origin"), None);
        assert_eq!(r.header("vary"), Some("Origin"));
        let r = answer(decide(Ok(&c), &post(Some(BODY.as_bytes()), None), ALL));
        assert_eq!(r.status, 403);
        assert_eq!(r.header("access-control-allow-origin"), None);
    }

    #[test]
    fn an_accepted_batch_is_planned_with_limits_in_order_and_every_answer() {
        let c = cfg(OK).unwrap();
        let o = Some("https://a.test");
        let p = plan(decide(Ok(&c), &post(Some(BODY.as_bytes()), o), ALL));
        let hash = client_hash("0123456789abcdef", "192.0.2.1", 1_764_000_001_000);
        assert_eq!(hash.len(), 16);
        assert_eq!(
            p.limits,
            vec![
                (RL_CLIENT, format!("pk_a:{hash}")),
                (RL_KEY, "pk_a".to_owned())
            ],
            "per key and client first (a client over its limit spends none of the key's), then per key"
        );
        assert_eq!((p.queue, p.direct, p.docs.len()), (Some(QUEUE), false, 1));
        assert!(p.docs[0].contains("\"exception.message\""));
        assert!(p.docs[0].contains("\"ferrotel.bot\",\"value\":{\"boolValue\":true}"));
        assert!(
            p.docs[0].contains(&hash),
            "the client hash enriches the record"
        );
        assert!(
            !p.docs[0].contains("192.0.2.1"),
            "the address is never kept"
        );
        assert_eq!((p.reply.status, &p.reply.body), (204, &None));
        assert_cors(&p.reply, "https://a.test");
        assert_eq!(
            (p.limited.status, p.limited.header("retry-after")),
            (429, Some(RATE_LIMITED_RETRY_AFTER))
        );
        assert_eq!(json(&p.limited)["error"], "rate_limited");
        assert_cors(&p.limited, "https://a.test");
        assert_eq!(
            (p.unavailable.status, p.unavailable.header("retry-after")),
            (503, Some(UNAVAILABLE_RETRY_AFTER))
        );
        assert_eq!(json(&p.unavailable)["error"], "unavailable");
        assert_cors(&p.unavailable, "https://a.test");
        // Only the limiters that are bound; without a Queue the docs are written directly.
        let only_client = Bindings {
            rl_key: false,
            ..NONE
        };
        let p = plan(decide(
            Ok(&c),
            &post(Some(BODY.as_bytes()), o),
            Bindings {
                rl_client: true,
                ..only_client
            },
        ));
        assert_eq!(p.limits.len(), 1);
        assert_eq!(p.limits[0].0, RL_CLIENT);
        assert_eq!((p.queue, p.direct), (None, true));
        let p = plan(decide(Ok(&c), &post(Some(BODY.as_bytes()), o), NONE));
        assert!(p.limits.is_empty());
        // Any key allowing "*" accepts a request without Origin; no CORS headers are needed.
        let any = BODY.replace("pk_a", "pk_any");
        let p = plan(decide(Ok(&c), &post(Some(any.as_bytes()), None), ALL));
        assert_eq!(p.reply.status, 204);
        assert_eq!(p.reply.header("access-control-allow-origin"), None);
    }

    /// Found by the `ingest` fuzz target's property: one error event whose stack is a single
    /// frame of control characters (escaped, 6 bytes each) filling the 64 KB body was forwarded
    /// as a 116,027-byte document, over `MAX_CHUNK_BYTES`: the frame's file was repeated
    /// unbounded next to the trace. The largest body a client can send must fit one document.
    #[test]
    fn the_largest_event_fits_one_queue_message() {
        let c = cfg(OK).unwrap();
        let esc = |n: usize| "\\u0001".repeat(n);
        let body = |url: usize| {
            BODY.replace("https://a.test/", &esc(url)).replace(
                "\"exception.message\":\"m\"",
                &format!(
                    "\"exception.type\":\"{}\",\"exception.message\":\"{}\",\"exception.stacktrace\":\"{}@{}\"",
                    esc(128),
                    esc(1024),
                    esc(4000),
                    esc(4191)
                ),
            )
        };
        let room = (MAX_BODY_BYTES - body(0).len()) / 6;
        let body = body(room.min(2048));
        assert!(body.len() > MAX_BODY_BYTES - 6 && body.len() <= MAX_BODY_BYTES);
        let p = plan(decide(
            Ok(&c),
            &post(Some(body.as_bytes()), Some("https://a.test")),
            ALL,
        ));
        assert_eq!((p.reply.status, p.docs.len()), (204, 1));
        assert!(
            p.docs[0].len() <= MAX_CHUNK_BYTES,
            "{} bytes",
            p.docs[0].len()
        );
        assert_eq!(project(p.docs[0].as_bytes()).unwrap().len(), 1);
    }

    #[test]
    fn bad_events_are_dropped_and_reported_with_200() {
        let c = cfg(OK).unwrap();
        let o = Some("https://a.test");
        let ev = |i: u32, rest: &str| {
            format!(
                r#"{{"id":"{:016x}","t":1764000000000,"url":"https://a.test/",{rest}}}"#,
                i + 1
            )
        };
        let good = ev(0, r#""type":"error","exception.message":"m""#);
        let body = BODY.replace(
            &BODY[BODY.find("[{").unwrap() + 1..BODY.len() - 2],
            &[
                good.clone(),
                ev(1, r#""type":"klick""#),
                ev(2, r#""type":"click","x":"abc""#),
                ev(3, r#""type":"long_task","start":1,"duration":-1"#),
                "null".into(),
                ev(5, r#""type":"error","exception.message":"m2""#),
            ]
            .join(","),
        );
        let p = plan(decide(Ok(&c), &post(Some(body.as_bytes()), o), ALL));
        assert_eq!(p.reply.status, 200);
        assert_eq!(p.reply.header("content-type"), Some("application/json"));
        assert_cors(&p.reply, "https://a.test");
        let j = json(&p.reply);
        assert_eq!(
            (j["accepted"].as_u64(), j["dropped"].as_u64()),
            (Some(2), Some(4))
        );
        let errors: Vec<(u64, &str, &str)> = j["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["index"].as_u64().unwrap(),
                    e["field"].as_str().unwrap(),
                    e["reason"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(errors[0].0, 1);
        assert_eq!(errors[0].1, "events[1].type");
        assert!(errors[0].2.contains("not a known event type"), "{errors:?}");
        assert_eq!((errors[1].0, errors[1].1), (2, "events[2].x"));
        assert!(
            errors[1].2.contains("invalid type: string \"abc\""),
            "{errors:?}"
        );
        assert_eq!((errors[2].0, errors[2].1), (3, "events[3].duration"));
        assert!(errors[2].2.contains("negative"), "{errors:?}");
        assert_eq!((errors[3].0, errors[3].1), (4, "events[4]"));
        assert!(
            p.docs[0].contains("\"m2\""),
            "the events after the bad ones are kept"
        );
        assert_eq!(p.docs[0].matches("\"event.id\"").count(), 2);
        assert_eq!(
            p.limits.len(),
            2,
            "a batch with drops is still rate-limited"
        );
    }

    #[test]
    fn a_batch_of_only_bad_events_is_200_with_nothing_to_store() {
        let c = cfg(OK).unwrap();
        let events: Vec<String> = (1..=15)
            .map(|i| format!(r#"{{"id":"{i:016x}","t":1764000000000,"type":"nope"}}"#))
            .collect();
        let body = BODY.replace(
            &BODY[BODY.find("[{").unwrap() + 1..BODY.len() - 2],
            &events.join(","),
        );
        let p = plan(decide(
            Ok(&c),
            &post(Some(body.as_bytes()), Some("https://a.test")),
            ALL,
        ));
        assert_eq!(p.reply.status, 200, "the client must not retry garbage");
        let j = json(&p.reply);
        assert_eq!(
            (j["accepted"].as_u64(), j["dropped"].as_u64()),
            (Some(0), Some(15))
        );
        assert_eq!(j["errors"].as_array().unwrap().len(), MAX_LISTED_DROPS);
        assert_eq!(j["errors"][9]["field"], "events[9].type");
        assert!(p.docs.is_empty());
        assert_eq!(
            (p.queue, p.direct),
            (None, false),
            "nothing to send or write"
        );
        assert_eq!(p.limits.len(), 2);
    }

    #[test]
    fn the_client_limit_keys_ipv6_on_its_64_and_comes_before_the_key_limit() {
        assert_eq!(limit_net("192.0.2.7"), "192.0.2.7");
        assert_eq!(limit_net("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            limit_net("2001:0db8:0001:0002:ffff:1:2:3"),
            limit_net("2001:db8:1:2::9"),
            "addresses rotated within one /64 share a limit"
        );
        assert_ne!(limit_net("2001:db8:1:2::1"), limit_net("2001:db8:1:3::1"));
        assert_eq!(limit_net("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(limit_net("not an address"), "not an address");
        let c = cfg(OK).unwrap();
        let body = br#"{"v":1,"key":"pk_any","sdk":{"name":"ferrotel","version":"0.1.0"},"session":"0123456789abcdef0123456789abcdef","sent_at":1764000000000,"events":[{"id":"00000000000000aa","t":1764000000000,"type":"error","url":"https://a.test/","exception.message":"m"}]}"#;
        let plan = |ip: &'static str| {
            let req = Incoming {
                method: "POST",
                url: "https://ingest.test/v1/batch",
                content_type: Some("text/plain"),
                content_length: None,
                origin: None,
                user_agent: None,
                ip: Some(ip),
                country: None,
                now_ms: 1_764_000_001_000,
                body: Some(body),
            };
            let bindings = Bindings {
                rl_key: true,
                rl_client: true,
                queue: true,
            };
            match decide(Ok(&c), &req, bindings) {
                Decision::Accept(p) => p,
                other => panic!("{other:?}"),
            }
        };
        let a = plan("2001:db8:1:2::1");
        assert_eq!(
            a.limits.iter().map(|(b, _)| *b).collect::<Vec<_>>(),
            [RL_CLIENT, RL_KEY],
            "the client's own limit first"
        );
        assert_eq!(a.limits[0].1, plan("2001:db8:1:2:ffff::42").limits[0].1);
        assert_ne!(a.limits[0].1, plan("2001:db8:1:3::1").limits[0].1);
        assert!(
            !a.limits[0].1.contains("2001"),
            "the address is hashed, not kept"
        );
    }

    #[test]
    fn the_client_hash_is_salted_per_day_and_empty_without_an_address() {
        let day = 1_764_000_000_000;
        let h = client_hash("salt-0123456789ab", "192.0.2.1", day);
        assert_eq!(h.len(), 16);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(h, client_hash("salt-0123456789ab", "192.0.2.1", day + 1));
        assert_ne!(
            h,
            client_hash("salt-0123456789ab", "192.0.2.1", day + 86_400_000)
        );
        assert_ne!(h, client_hash("salt-0123456789ac", "192.0.2.1", day));
        assert_ne!(h, client_hash("salt-0123456789ab", "192.0.2.2", day));
        assert_eq!(client_hash("salt-0123456789ab", "", day), "");
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

    #[test]
    fn read_token_rules() {
        let long = "0123456789abcdef0123456789abcdef"; // 32 characters
        let with = |extra: &[(&str, &str)]| {
            let mut p: Vec<(&str, &str)> = OK.to_vec();
            p.extend_from_slice(extra);
            cfg(&p)
        };
        let refused = |extra: &[(&str, &str)]| {
            let e = with(extra).unwrap_err();
            assert_eq!(e.name, "READ_TOKEN", "{extra:?}");
            assert!(
                !e.problem.contains(extra[0].1),
                "the problem does not echo the token"
            );
            e.problem
        };
        // Unset or empty: the read endpoint is off, the rest of the Worker serves.
        assert_eq!(with(&[]).unwrap().read_token, None);
        assert_eq!(with(&[("READ_TOKEN", "")]).unwrap().read_token, None);
        // 32 characters and more are accepted; 31 are not; characters, not bytes, count.
        assert_eq!(
            with(&[("READ_TOKEN", long)]).unwrap().read_token.as_deref(),
            Some(long)
        );
        assert!(refused(&[("READ_TOKEN", &long[1..])]).contains("at least 32"));
        assert!(refused(&[("READ_TOKEN", &"é".repeat(31))]).contains("at least 32"));
        assert!(with(&[("READ_TOKEN", &"é".repeat(32))]).is_ok());
        // A published demo value is refused outside local development.
        assert!(refused(&[("READ_TOKEN", "demo-token")]).contains("demo value"));
        assert!(
            refused(&[("READ_TOKEN", "demo-token"), ("FERROTEL_ENV", "production")])
                .contains("demo value")
        );
        // Only FERROTEL_ENV=development relaxes both rules.
        refused(&[("READ_TOKEN", "demo-token"), ("FERROTEL_ENV", "dev")]);
        refused(&[("READ_TOKEN", "short"), ("FERROTEL_ENV", "Development")]);
        for t in ["demo-token", "short", long] {
            let c = with(&[("READ_TOKEN", t), ("FERROTEL_ENV", "development")]).unwrap();
            assert_eq!(c.read_token.as_deref(), Some(t));
        }
    }
}
