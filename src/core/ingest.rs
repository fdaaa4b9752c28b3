//! The ingest Worker's configuration (from wrangler vars and secrets) and the decisions it
//! makes with it, kept pure so they are tested natively.

use std::collections::BTreeMap;

use super::envelope::{valid_key, DecodeError, Dropped, Envelope, MAX_BODY_BYTES};
use super::event::EventKind;
use super::otlp::{Enrichment, LogsEncoder, MAX_CHUNK_BYTES};
use super::protect::{protect, protect_urls};
use super::rules::{decide as sample, ErrorSessions, NeedLookup, Rules, SessionError};
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
    /// Bearer token for `PUT /v1/sourcemaps` (source maps and wasm modules); uploads are off
    /// without one. The same rules as `read_token`.
    pub upload_token: Option<String>,
    /// Optional secret pepper for the client hash (`IP_SALT`; empty when unset). The day's
    /// random salt is what makes hashes unlinkable (see [`client_hash`]).
    pub ip_salt: String,
    /// Base of the queue consumer's retry delay, seconds (`RETRY_BASE_SECONDS`, default 10).
    pub retry_base_s: u32,
    /// Time limit of one OTLP attempt, seconds (`OTLP_TIMEOUT_SECONDS`, default 10).
    pub otlp_timeout_s: u32,
    /// Events older than this many days are deleted by the cron trigger, and refused at
    /// ingest (`RETENTION_DAYS`, default 30).
    pub retention_days: u32,
    /// Events per UTC day per write key (`DAILY_QUOTAS`, e.g. `{"pk_live": 1000000}`); keys not
    /// listed have no quota.
    pub daily_quotas: BTreeMap<String, u64>,
    /// Bearer token for `GET`/`PUT /v1/sampling-rules`; the endpoint is off without one. The
    /// same rules as [`IngestConfig::read_token`].
    pub admin_token: Option<String>,
    /// How long an isolate uses its copy of the sampling rules before reading D1 again,
    /// seconds (`RULES_CACHE_SECONDS`, default [`DEFAULT_RULES_CACHE_SECONDS`], 1-60).
    pub rules_cache_s: u32,
}

/// `RULES_CACHE_SECONDS` when unset: a rule changed through the endpoint is in force in every
/// isolate within this many seconds.
pub const DEFAULT_RULES_CACHE_SECONDS: u32 = 30;

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

/// `RETENTION_DAYS` when unset.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

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
                if o != "*"
                    && o != "null"
                    && !(o.starts_with("https://") || o.starts_with("http://"))
                    || o.ends_with('/')
                {
                    return Err(problem("WRITE_KEYS", format!("origin {o:?} of key {k:?} must be \"*\", \"null\" or scheme://host[:port] without a path")));
                }
            }
        }
        let sample_rates: BTreeMap<String, f64> = match var("SAMPLE_RATES") {
            None => BTreeMap::new(),
            Some(raw) => serde_json::from_str(&raw)
                .map_err(|e| problem("SAMPLE_RATES", format!("must be a JSON object of event type to rate, e.g. {{\"default\": 1, \"click\": 0.5}}: {e}")))?,
        };
        let types = super::nav::stored_types();
        for (t, r) in &sample_rates {
            if t != "default" && !types.contains(&t.as_str()) {
                return Err(problem(
                    "SAMPLE_RATES",
                    format!(
                        "{t:?} is not an event type (one of default, {})",
                        types.join(", ")
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
        let ip_salt = var("IP_SALT").unwrap_or_default();
        if !ip_salt.is_empty() && ip_salt.len() < 16 {
            return Err(problem(
                "IP_SALT",
                "is optional, but when set must be a secret of at least 16 characters",
            ));
        }
        let development = var(DEV_MARKER_VAR).as_deref() == Some(DEV_MARKER_VALUE);
        let token = |name: &'static str| -> Result<Option<String>, ConfigProblem> {
            let t = var(name).filter(|s| !s.is_empty());
            if let (Some(t), false) = (&t, development) {
                if DEMO_READ_TOKENS.contains(&t.as_str()) {
                    return Err(problem(
                        name,
                        format!("is a published demo value: set a random secret (`wrangler secret put {name}`, e.g. from `openssl rand -hex 32`)"),
                    ));
                }
                if t.chars().count() < MIN_READ_TOKEN_CHARS {
                    return Err(problem(
                        name,
                        format!("must be at least {MIN_READ_TOKEN_CHARS} characters (a random secret, e.g. from `openssl rand -hex 32`)"),
                    ));
                }
            }
            Ok(t)
        };
        let read_token = token("READ_TOKEN")?;
        let admin_token = token("ADMIN_TOKEN")?;
        if admin_token.is_some() && admin_token == read_token {
            return Err(problem(
                "ADMIN_TOKEN",
                "must differ from READ_TOKEN (the dashboard's token must not change sampling)",
            ));
        }
        let upload_token = token("UPLOAD_TOKEN")?;
        let number = |name: &'static str, default: u32, range: std::ops::RangeInclusive<u32>| {
            match var(name).filter(|s| !s.is_empty()) {
                None => Ok(default),
                Some(raw) => raw
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| range.contains(n))
                    .ok_or_else(|| {
                        problem(
                            name,
                            format!(
                                "must be a whole number from {} to {} (default {default})",
                                range.start(),
                                range.end()
                            ),
                        )
                    }),
            }
        };
        let retry_base_s = number(
            "RETRY_BASE_SECONDS",
            super::consume::RETRY_BASE_SECONDS,
            1..=600,
        )?;
        let otlp_timeout_s = number("OTLP_TIMEOUT_SECONDS", 10, 1..=300)?;
        let retention_days = number("RETENTION_DAYS", DEFAULT_RETENTION_DAYS, 1..=3650)?;
        let rules_cache_s = number("RULES_CACHE_SECONDS", DEFAULT_RULES_CACHE_SECONDS, 1..=60)?;
        let daily_quotas: BTreeMap<String, u64> = match var("DAILY_QUOTAS").filter(|s| !s.is_empty()) {
            None => BTreeMap::new(),
            Some(raw) => serde_json::from_str(&raw).map_err(|e| {
                problem(
                    "DAILY_QUOTAS",
                    format!("must be a JSON object of write key to events per UTC day, e.g. {{\"pk_live\": 1000000}}: {e}"),
                )
            })?,
        };
        if let Some(k) = daily_quotas.keys().find(|k| !keys.contains_key(*k)) {
            return Err(problem(
                "DAILY_QUOTAS",
                format!("names {k:?}, which WRITE_KEYS does not list"),
            ));
        }
        Ok(IngestConfig {
            keys,
            sample_rates,
            otlp_endpoint,
            otlp_headers,
            read_token,
            upload_token,
            ip_salt,
            retry_base_s,
            otlp_timeout_s,
            retention_days,
            daily_quotas,
            admin_token,
            rules_cache_s,
        })
    }

    /// Whether `origin` (the request's `Origin` header) may send with `key`. `*` allows any
    /// origin and none, but not the opaque `null` (sent for pages with `Referrer-Policy:
    /// no-referrer` and sandboxed frames), which only a key listing `"null"` accepts.
    pub fn origin_allowed(&self, key: &str, origin: Option<&str>) -> bool {
        self.keys
            .get(key)
            .is_some_and(|allowed| allowed.iter().any(|a| allows(a, origin)))
    }

    /// Whether any key accepts `origin` (for CORS preflight, which carries no key).
    pub fn any_key_allows(&self, origin: &str) -> bool {
        self.keys
            .values()
            .flatten()
            .any(|a| allows(a, Some(origin)))
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

/// Whether one allowlist entry admits an `Origin` (or its absence).
fn allows(entry: &str, origin: Option<&str>) -> bool {
    match origin {
        Some("null") => entry == "null",
        _ => entry == "*" || Some(entry) == origin,
    }
}

/// The ingest route.
pub const BATCH_PATH: &str = "/v1/batch";
/// The browser reports route (`?key=<write key>`; see [`super::reports`]).
pub const REPORTS_PATH: &str = "/v1/reports";
/// The sampling rules' route (`GET`, `PUT` with `ADMIN_TOKEN`).
pub const RULES_PATH: &str = "/v1/sampling-rules";
/// The per-key rate-limit binding: consulted after [`RL_CLIENT`], with the write key.
pub const RL_KEY: &str = "RL_KEY";
/// The per-client rate-limit binding: consulted first, with the client's hashed address
/// (IPv6: its /64), across keys; every refusal counts against it too.
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
    /// `POST /v1/reports`: browser reports (Reporting API, CSP `report-uri`).
    Reports,
    /// `OPTIONS` on any path: CORS preflight.
    Preflight,
    /// `GET /healthz`.
    Health,
    /// `GET /v1/events`: the read endpoint.
    Events,
    /// `/v1/sampling-rules` (`GET` reads, `PUT` replaces; the handler answers other methods).
    Rules,
    /// `/v1/sourcemaps`: uploads of source maps and wasm modules (`PUT`; see `symbolicate`).
    Artifacts,
    /// `/v1/batch` or `/v1/reports` with another method: 405.
    WrongMethod,
    /// Anything else: 404.
    NotFound,
}

/// Routes a request by its method and its URL's path (exact match; the query is ignored).
pub fn route(method: &str, url: &str) -> Route {
    match (method, path_of(url)) {
        ("OPTIONS", _) => Route::Preflight,
        ("POST", BATCH_PATH) => Route::Batch,
        ("POST", REPORTS_PATH) => Route::Reports,
        (_, BATCH_PATH | REPORTS_PATH) => Route::WrongMethod,
        ("GET", "/healthz") => Route::Health,
        ("GET", "/v1/events") => Route::Events,
        (_, RULES_PATH) => Route::Rules,
        (_, "/v1/sourcemaps") => Route::Artifacts,
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
    /// The body, once read (at most [`READ_AT_MOST`] bytes); `None` before.
    pub body: Option<&'a [u8]>,
    /// Whether the batch's rate limiters were consulted (a [`Step`] said so, after the body
    /// passed the shape check of `Envelope::peek`: it is not checked again).
    pub checked: bool,
    /// Today's random salt for the client hash (see [`client_hash`]); empty if unknown.
    pub day_salt: &'a str,
    /// Events stored today per write key, as far as this isolate knows (for `DAILY_QUOTAS`).
    pub used_today: Option<&'a BTreeMap<String, u64>>,
    /// The sampling rules in force (from D1, cached); `None` or empty: `SAMPLE_RATES` only.
    pub rules: Option<&'a Rules>,
    /// What this isolate knows of sessions' errors (for `keep_sessions_with_error`); `None`:
    /// nothing, and nothing can be looked up (only an error in the batch itself counts).
    pub error_sessions: Option<&'a ErrorSessions>,
    /// Whether the session asked about by a [`Step::lookup`] was looked up: what is still
    /// unknown then counts as no error.
    pub looked_up: bool,
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

/// Hash of the client address for one UTC day: `SHA-256(pepper ‖ day salt ‖ day ‖ address)`,
/// cut to 64 bits. `day_salt` is the day's random salt (kept in D1, deleted after 48 hours:
/// from then on nobody can link that day's hashes to an address or to another day's);
/// `pepper` is the optional `IP_SALT` secret. Unique counts per day without storing the address.
pub fn client_hash(pepper: &str, day_salt: &str, ip: &str, now_ms: u64) -> String {
    use sha2::{Digest, Sha256};
    if ip.is_empty() {
        return String::new();
    }
    let mut h = Sha256::new();
    h.update(pepper.as_bytes());
    h.update([0]);
    h.update(day_salt.as_bytes());
    h.update([0]);
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

/// A rate limiter to consult: (binding, key).
pub type Limit = (&'static str, String);

/// What to do with an accepted batch, and how to answer in each outcome. The rate limiters
/// were consulted before decoding (see [`Step`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The write key.
    pub key: String,
    /// Events kept (after validation and sampling): what counts against the key's quota.
    pub accepted: usize,
    /// OTLP logs documents of the kept events, each within the queue's message limit.
    pub docs: Vec<String>,
    /// Send `docs` to this Queue binding (if a send fails: [`Plan::unavailable`]).
    pub queue: Option<&'static str>,
    /// No Queue: write `docs` directly (`consume::process`) after answering.
    pub direct: bool,
    /// The answer when the docs were handed over: 204, or 200 with the partial-acceptance body
    /// when events were dropped.
    pub reply: Reply,
    /// The answer when the Queue refuses a document: 503 with `Retry-After`.
    pub unavailable: Reply,
    /// The batch holds an error: remember that this session had one (see [`ErrorSessions`]).
    pub errored_session: Option<String>,
}

/// A step before the decision: consult `limits` in order (the first that refuses ends the
/// request with `limited`), read the body if `read` > 0 (at most `read` bytes: one more than
/// the limit, so an over-long body is seen as such whatever its headers said), then decide
/// again with [`Incoming::checked`] = `checked`.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Rate limiters to consult, in order.
    pub limits: Vec<Limit>,
    /// The answer when a limiter refuses: 429 with `Retry-After`.
    pub limited: Reply,
    /// Bytes of body to read (0: the body was read).
    pub read: usize,
    /// Whether the limiters of the batch have now been consulted.
    pub checked: bool,
    /// Look up whether this session had an error (D1's `error_sessions`, into the isolate's
    /// [`ErrorSessions`]) before deciding again with [`Incoming::looked_up`].
    pub lookup: Option<String>,
}

/// A refusal that counts against the client's rate limit: consult `limit`; if it refuses,
/// answer `limited` (429), else `reply`.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The refusal (4xx with a reason).
    pub reply: Reply,
    /// The client's limiter.
    pub limit: Limit,
    /// 429 with `Retry-After`.
    pub limited: Reply,
}

/// Everything the request path decides, for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Not the ingest's: the `worker` crate's router answers ([`Route::Preflight`],
    /// [`Route::Health`], [`Route::Events`], [`Route::Rules`]).
    Route,
    /// Consult limiters and/or read the body, then decide again.
    Next(Step),
    /// Answer this, and do nothing else.
    Answer(Reply),
    /// Charge the client's limiter, then answer.
    Refuse(Refusal),
    /// Store and answer as planned.
    Accept(Plan),
}

impl Decision {
    /// The answer given when no limiter refuses, if this decision is an answer.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Decision::Answer(r) => Some(r),
            Decision::Refuse(r) => Some(&r.reply),
            Decision::Accept(p) => Some(&p.reply),
            Decision::Route | Decision::Next(_) => None,
        }
    }
}

/// The body bytes the entry reads at most: one more than [`MAX_BODY_BYTES`].
pub const READ_AT_MOST: usize = MAX_BODY_BYTES + 1;

fn rate_limited(cors: Option<&str>) -> Reply {
    Reply::error(
        429,
        "rate_limited",
        None,
        "too many requests; retry after the period",
    )
    .with("retry-after", RATE_LIMITED_RETRY_AFTER)
    .cors(cors)
}

/// Every decision of the request path, cheapest first: route; configuration; media type;
/// declared size; (reading the body, at most one byte over the limit) actual size; the one-pass
/// shape check with the write key and the event count; key; origin; the client's rate limit;
/// the key's; then decoding and validation (a broken envelope is a 400, bad events are dropped
/// and reported); sampling, enrichment and OTLP encoding; where the documents go; and the exact
/// answer for every outcome, with CORS headers for an origin some key accepts. Every refusal
/// counts against the client's rate limit. `POST /v1/reports` (browser reports, the key in the
/// URL) takes the same steps in its own order: every check but the body's comes before the
/// body is read (see `decide_reports`).
pub fn decide(
    cfg: Result<&IngestConfig, &ConfigProblem>,
    req: &Incoming<'_>,
    bindings: Bindings,
) -> Decision {
    let route = route(req.method, req.url);
    if matches!(
        route,
        Route::Preflight | Route::Health | Route::Events | Route::Rules | Route::Artifacts
    ) {
        return Decision::Route;
    }
    let cfg = match cfg {
        Ok(c) => c,
        Err(p) => return Decision::Answer(misconfigured(p)),
    };
    let cors = req.origin.filter(|o| cfg.any_key_allows(o));
    let ip = req.ip.filter(|ip| !ip.is_empty());
    // The client's limiter: per address (IPv6 per /64: one host usually holds the whole
    // prefix, so rotating addresses within it must not multiply the limit), across keys.
    let client_limit = || -> Option<Limit> {
        let ip = ip.filter(|_| bindings.rl_client)?;
        Some((
            RL_CLIENT,
            client_hash(&cfg.ip_salt, req.day_salt, &limit_net(ip), req.now_ms),
        ))
    };
    let charge = |reply: Reply| match client_limit() {
        Some(limit) => Decision::Refuse(Refusal {
            reply,
            limit,
            limited: rate_limited(cors),
        }),
        None => Decision::Answer(reply),
    };
    let refuse = |status, error, field: Option<&str>, reason: &str| {
        charge(Reply::error(status, error, field, reason).cors(cors))
    };
    match route {
        Route::Batch => {}
        Route::Reports => {
            return decide_reports(cfg, req, bindings, cors, &client_limit, &charge);
        }
        Route::WrongMethod => {
            return charge(
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
                "routes: POST /v1/batch, POST /v1/reports, GET /v1/events, GET|PUT /v1/sampling-rules, PUT /v1/sourcemaps, GET /healthz",
            )
        }
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
    let Some(body) = req.body else {
        return Decision::Next(Step {
            limits: Vec::new(),
            limited: rate_limited(cors),
            read: READ_AT_MOST,
            checked: false,
            lookup: None,
        });
    };
    if too_large(body.len() as u64) {
        return refuse(
            413,
            "payload_too_large",
            Some("body"),
            "exceeds 65536 bytes",
        );
    }
    if !req.checked {
        // Before decoding: the key, the origin and the limiters, from one cheap pass.
        let peek = match Envelope::peek(body) {
            Ok(p) => p,
            Err(e) => return refuse(400, "invalid_batch", Some(&e.field), &e.reason),
        };
        let Some(key) = peek.key.filter(|k| valid_key(k)) else {
            // Not a well-formed key: a 400 either way, with the decoder's precise reason (the
            // body is bounded: at most 64 KiB and 200 events, checked above).
            let e = match Envelope::decode_partial(body) {
                Err(e) => e,
                Ok(_) => DecodeError::new("key", "must be a plain JSON string (no escapes)"),
            };
            return refuse(400, "invalid_batch", Some(&e.field), &e.reason);
        };
        if !cfg.keys.contains_key(key) {
            return refuse(
                401,
                "unknown_key",
                Some("key"),
                "this write key is not configured",
            );
        }
        if !cfg.origin_allowed(key, req.origin) {
            return refuse(403, "origin_not_allowed", Some("origin"), ORIGIN_REFUSED);
        }
        if let Some(r) = over_quota(cfg, key, req, cors) {
            return charge(r);
        }
        let mut limits = Vec::with_capacity(2);
        // The client's own limit first: a client over it must not also spend the key's
        // shared budget (one address could otherwise starve every other client of the key).
        limits.extend(client_limit());
        if bindings.rl_key {
            limits.push((RL_KEY, key.to_owned()));
        }
        if !limits.is_empty() {
            return Decision::Next(Step {
                limits,
                limited: rate_limited(cors),
                read: 0,
                checked: true,
                lookup: None,
            });
        }
    }
    // The body passed `Envelope::peek` above, or in the call that asked for the limiters.
    let (mut env, mut dropped) = match Envelope::decode_peeked(body) {
        Ok(d) => d,
        Err(e) => return refuse(400, "invalid_batch", Some(&e.field), &e.reason),
    };
    let sent = env.events.len() + dropped.len();
    let correction = clock_times(&mut env, &mut dropped, req.now_ms, cfg.retention_days);
    // The peek and the decoder agree on the key (a repeated `key` is refused by the decoder);
    // checked again so that no path stores a batch whose key or origin was not allowed.
    if !cfg.keys.contains_key(&env.key) {
        return refuse(
            401,
            "unknown_key",
            Some("key"),
            "this write key is not configured",
        );
    }
    if !cfg.origin_allowed(&env.key, req.origin) {
        return refuse(403, "origin_not_allowed", Some("origin"), ORIGIN_REFUSED);
    }
    let hash = client_hash(&cfg.ip_salt, req.day_salt, ip.unwrap_or(""), req.now_ms);
    let enrichment = Enrichment {
        country: req.country,
        ua: classify(req.user_agent.unwrap_or("")),
        client_hash: &hash,
        received_ms: req.now_ms,
        clock_correction_ms: correction,
    };
    let encoder = LogsEncoder::for_envelope(&env, &enrichment);
    // OTLP runs about three times the batch's size.
    let mut writer = encoder.writer(MAX_CHUNK_BYTES, body.len() * 3);
    let mut accepted = 0;
    let rules = req.rules.filter(|r| !r.is_empty());
    let batch_error = env.events.iter().any(|e| e.kind.is_error());
    let errored = if batch_error {
        SessionError::Yes
    } else {
        match req.error_sessions.map(|m| m.get(&env.session, req.now_ms)) {
            Some(SessionError::Unknown) if !req.looked_up => SessionError::Unknown,
            Some(SessionError::Yes) => SessionError::Yes,
            _ => SessionError::No,
        }
    };
    let release = env.resource.release.as_str();
    let mask_messages = env.resource.mask_messages;
    let allow_query = &env.resource.allow_query;
    for ev in &mut env.events {
        let static_rate = if ev.kind.is_error() {
            1.0
        } else {
            cfg.rate_for(&ev.kind)
        };
        let v = match sample(
            rules,
            &ev.kind,
            &ev.url,
            release,
            &env.session,
            static_rate,
            errored,
        ) {
            Ok(v) => v,
            // Whether the session had an error decides: look it up, then decide again.
            Err(NeedLookup) => {
                return Decision::Next(Step {
                    limits: Vec::new(),
                    limited: rate_limited(cors),
                    read: 0,
                    checked: true,
                    lookup: Some(env.session.clone()),
                })
            }
        };
        if v.keep {
            // The browser ships page URLs, message, stack and click text as the page had
            // them: scrubbed, masked and fingerprinted here, before anything is stored or
            // forwarded.
            protect_urls(ev, allow_query);
            protect(ev, mask_messages);
            writer.record_sampled(ev, v.rate, v.rule, v.error_session, req.now_ms);
            accepted += 1;
        }
    }
    let docs = writer.finish();
    let reply = if dropped.is_empty() {
        Reply::empty(204)
    } else {
        Reply::json(200, partial_body(sent - dropped.len(), &dropped))
    };
    Decision::Accept(Plan {
        accepted,
        key: env.key.clone(),
        queue: (bindings.queue && !docs.is_empty()).then_some(QUEUE),
        direct: !bindings.queue && !docs.is_empty(),
        docs,
        reply: reply.cors(cors),
        unavailable: Reply::error(503, "unavailable", None, "could not queue the batch; retry")
            .with("retry-after", UNAVAILABLE_RETRY_AFTER)
            .cors(cors),
        errored_session: batch_error.then(|| env.session.clone()),
    })
}

/// The 429 for a key whose `DAILY_QUOTAS` quota is used up today, if it is.
fn over_quota(
    cfg: &IngestConfig,
    key: &str,
    req: &Incoming<'_>,
    cors: Option<&str>,
) -> Option<Reply> {
    let quota = *cfg.daily_quotas.get(key)?;
    let used = req
        .used_today
        .and_then(|u| u.get(key))
        .copied()
        .unwrap_or(0);
    (used >= quota).then(|| {
        let reason = format!("this write key's quota of {quota} events per UTC day is used up; retry after midnight UTC");
        Reply::error(429, "quota_exceeded", Some("key"), &reason)
            .with(
                "retry-after",
                &seconds_to_next_utc_day(req.now_ms).to_string(),
            )
            .cors(cors)
    })
}

/// The value of the query parameter `name` in a URL (as written, not percent-decoded).
pub fn query_param<'u>(url: &'u str, name: &str) -> Option<&'u str> {
    let query = url.split('#').next()?.split_once('?')?.1;
    query
        .split('&')
        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
}

/// `telemetry.sdk.name` of report events: the browser's Reporting API sent them.
pub const REPORTS_SDK_NAME: &str = "browser.reporting";

/// `POST /v1/reports?key=<write key>` (see [`decide`] for the order and [`super::reports`] for
/// the formats): the key is in the URL, so the media type, the key, the `Origin` header, the
/// quota, the declared size and the rate limiters are all checked before the body is read;
/// then its size, its shape (one pass over the bytes: nesting, number of reports), and the
/// reports themselves. A report that is broken, of a type not read, too old, or from a page
/// whose origin the key does not accept is dropped with its reason (200 and the
/// partial-acceptance body); the others are scrubbed, sampled (by the sampling rules, else
/// `SAMPLE_RATES.report`; each report on its own; crash reports always kept) and stored as
/// `report` events. Every refusal is charged
/// to the client.
///
/// `Origin`: browsers send a report upload with credentials omitted, and with an `Origin`
/// (Chrome: the page's) or, for some legacy `report-uri` senders, none. A sent `Origin` must be
/// one the key accepts (`null` only for a key listing `"null"`); with none the request is not
/// refused for it. Either way each report's own URL must be on an origin the key accepts
/// (keys with `*` accept every one).
fn decide_reports(
    cfg: &IngestConfig,
    req: &Incoming<'_>,
    bindings: Bindings,
    cors: Option<&str>,
    client_limit: &dyn Fn() -> Option<Limit>,
    charge: &dyn Fn(Reply) -> Decision,
) -> Decision {
    use super::ids::hex64;
    use super::reports::{check_shape, parse, Context, Format};
    let refuse = |status: u16, error: &str, field: &str, reason: &str| {
        charge(Reply::error(status, error, Some(field), reason).cors(cors))
    };
    let Some(format) = req.content_type.and_then(Format::of) else {
        return refuse(
            415,
            "unsupported_media_type",
            "content-type",
            "send application/reports+json (Reporting API) or application/csp-report (CSP report-uri)",
        );
    };
    let key = match query_param(req.url, "key") {
        None => {
            return refuse(
                400,
                "invalid_report",
                "key",
                "is missing: report to /v1/reports?key=<write key>",
            )
        }
        Some(k) if !valid_key(k) => {
            return refuse(
                400,
                "invalid_report",
                "key",
                "must be a write key: 1-64 characters of A-Z a-z 0-9 _ -",
            )
        }
        Some(k) if !cfg.keys.contains_key(k) => {
            return refuse(
                401,
                "unknown_key",
                "key",
                "this write key is not configured",
            )
        }
        Some(k) => k,
    };
    if req.origin.is_some() && !cfg.origin_allowed(key, req.origin) {
        return refuse(403, "origin_not_allowed", "origin", ORIGIN_REFUSED);
    }
    if let Some(r) = over_quota(cfg, key, req, cors) {
        return charge(r);
    }
    let too_large = |n: u64| n > MAX_BODY_BYTES as u64;
    if req
        .content_length
        .and_then(|l| l.trim().parse::<u64>().ok())
        .is_some_and(too_large)
    {
        return refuse(413, "payload_too_large", "body", "exceeds 65536 bytes");
    }
    if !req.checked {
        let mut limits = Vec::with_capacity(2);
        limits.extend(client_limit());
        if bindings.rl_key {
            limits.push((RL_KEY, key.to_owned()));
        }
        if req.body.is_none() || !limits.is_empty() {
            return Decision::Next(Step {
                limits,
                limited: rate_limited(cors),
                read: if req.body.is_none() { READ_AT_MOST } else { 0 },
                checked: true,
                lookup: None,
            });
        }
    }
    let Some(body) = req.body else {
        return Decision::Next(Step {
            limits: Vec::new(),
            limited: rate_limited(cors),
            read: READ_AT_MOST,
            checked: true,
            lookup: None,
        });
    };
    if too_large(body.len() as u64) {
        return refuse(413, "payload_too_large", "body", "exceeds 65536 bytes");
    }
    let shape = match check_shape(body, format) {
        Ok(s) => s,
        Err(e) => return refuse(400, "invalid_report", &e.field, &e.reason),
    };
    let ip = req.ip.filter(|ip| !ip.is_empty());
    let hash = client_hash(&cfg.ip_salt, req.day_salt, ip.unwrap_or(""), req.now_ms);
    let cx = Context {
        key,
        client_hash: &hash,
        now_ms: req.now_ms,
        retention_days: cfg.retention_days,
    };
    let parsed = match parse(body, shape, &cx, &|origin| cfg.origin_allowed(key, origin)) {
        Ok(p) => p,
        Err(e) => return refuse(400, "invalid_report", &e.field, &e.reason),
    };
    let enrichment = Enrichment {
        country: req.country,
        ua: classify(req.user_agent.unwrap_or("")),
        client_hash: &hash,
        received_ms: req.now_ms,
        clock_correction_ms: 0,
    };
    let encoder = LogsEncoder::new(key, "", REPORTS_SDK_NAME, "1", &enrichment);
    let mut writer = encoder.writer(MAX_CHUNK_BYTES, body.len() * 3);
    let mut accepted = 0;
    let rules = req.rules.filter(|r| !r.is_empty());
    for (ev, &crash) in parsed.events.iter().zip(&parsed.crash) {
        if crash {
            writer.record(ev, 1.0, req.now_ms);
            accepted += 1;
            continue;
        }
        // No session and no release: each report is its own sampling unit (a rule's
        // `keep_sessions_with_error` cannot apply), by the rules first, then SAMPLE_RATES.
        let unit = hex64(ev.id);
        let static_rate = cfg.rate_for(&ev.kind);
        let Ok(v) = sample(
            rules,
            &ev.kind,
            &ev.url,
            "",
            &unit,
            static_rate,
            SessionError::No,
        ) else {
            continue; // never: a lookup is only asked for when the session's error is unknown
        };
        if v.keep {
            writer.record_sampled(ev, v.rate, v.rule, v.error_session, req.now_ms);
            accepted += 1;
        }
    }
    let docs = writer.finish();
    let reply = if parsed.dropped.is_empty() {
        Reply::empty(204)
    } else {
        Reply::json(200, partial_body(parsed.events.len(), &parsed.dropped))
    };
    Decision::Accept(Plan {
        accepted,
        key: key.to_owned(),
        queue: (bindings.queue && !docs.is_empty()).then_some(QUEUE),
        direct: !bindings.queue && !docs.is_empty(),
        docs,
        reply: reply.cors(cors),
        unavailable: Reply::error(
            503,
            "unavailable",
            None,
            "could not queue the reports; retry",
        )
        .with("retry-after", UNAVAILABLE_RETRY_AFTER)
        .cors(cors),
        errored_session: None,
    })
}

/// Seconds from `now_ms` to the next UTC midnight (at least 1).
pub fn seconds_to_next_utc_day(now_ms: u64) -> u64 {
    let day = 86_400_000;
    ((day - now_ms % day) / 1000).max(1)
}

/// A client clock within this of the edge's (`sent_at` against receipt) is trusted as it is;
/// beyond it, every event time of the batch is corrected by the difference. The SDK stamps
/// `sent_at` at each attempt, so a batch retried days later is not mistaken for a wrong clock.
pub const CLOCK_SKEW_TOLERANCE_MS: u64 = 60_000;
/// How far after receipt a (corrected) event time may be.
pub const FUTURE_TOLERANCE_MS: u64 = 60_000;

/// Corrects event times for the client's clock and drops (into `dropped`, by their index in
/// the batch as sent) events outside the window: older than `retention_days` before receipt
/// (the retention job would delete them at once) or more than [`FUTURE_TOLERANCE_MS`] after it.
/// Returns the correction applied, in ms.
pub fn clock_times(
    env: &mut Envelope,
    dropped: &mut Vec<Dropped>,
    received_ms: u64,
    retention_days: u32,
) -> i64 {
    let skew = received_ms as i64 - env.sent_at as i64;
    let correction = if skew.unsigned_abs() > CLOCK_SKEW_TOLERANCE_MS {
        skew
    } else {
        0
    };
    let oldest = received_ms.saturating_sub(u64::from(retention_days) * 86_400_000);
    let newest = received_ms + FUTURE_TOLERANCE_MS;
    // Indices in the batch as sent: the kept events fill the indices the decoder did not drop.
    let mut taken: Vec<usize> = dropped.iter().map(|d| d.index).collect();
    taken.sort_unstable();
    let mut index = 0usize;
    let mut next_index = || {
        while taken.binary_search(&index).is_ok() {
            index += 1;
        }
        index += 1;
        index - 1
    };
    let mut late = Vec::new();
    let events = std::mem::take(&mut env.events);
    for mut ev in events {
        let i = next_index();
        let t = (ev.t as i64).saturating_add(correction).max(0) as u64;
        let reason = if t < oldest {
            format!("is more than {retention_days} days before receipt (RETENTION_DAYS)")
        } else if t > newest {
            "is after receipt: later than the batch's sent_at allows".to_owned()
        } else {
            ev.t = t;
            env.events.push(ev);
            continue;
        };
        let reason = if correction != 0 {
            format!("{reason}, after correcting the client clock by {correction} ms")
        } else {
            reason
        };
        late.push(Dropped {
            index: i,
            field: format!("events[{i}].t"),
            reason: reason.into(),
        });
    }
    if !late.is_empty() {
        dropped.extend(late);
        dropped.sort_by_key(|d| d.index);
    }
    correction
}

/// The reason of a 403 for the origin.
const ORIGIN_REFUSED: &str = "this origin may not send with this key (a page with Referrer-Policy: no-referrer or a sandboxed frame sends Origin: null, which only a key listing \"null\" accepts)";

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
            checked: false,
            day_salt: "",
            used_today: None,
            rules: None,
            error_sessions: None,
            looked_up: false,
        }
    }

    fn answer(d: Decision) -> Reply {
        match d {
            Decision::Answer(r) => r,
            Decision::Refuse(r) => r.reply,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    /// Decides a request with its body as the entry does: through a [`Step`] that consults the
    /// limiters (all allow here) to the final decision.
    fn run(c: Result<&IngestConfig, &ConfigProblem>, req: &Incoming<'_>, b: Bindings) -> Decision {
        match decide(c, req, b) {
            Decision::Next(s) if s.read == 0 => {
                assert!(s.checked);
                let again = Incoming {
                    checked: true,
                    ..req.clone()
                };
                decide(c, &again, b)
            }
            d => d,
        }
    }

    /// The limiters a request with a body is checked against before it is decoded.
    fn step_limits(c: &IngestConfig, req: &Incoming<'_>, b: Bindings) -> Vec<Limit> {
        match decide(Ok(c), req, b) {
            Decision::Next(s) => s.limits,
            _ => Vec::new(),
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
            (
                "PUT",
                "https://i.test/v1/sourcemaps?release=1",
                Route::Artifacts,
            ),
            ("GET", "https://i.test/v1/sourcemaps", Route::Artifacts),
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
        let read_body = |d: Decision| matches!(d, Decision::Next(Step { read: READ_AT_MOST, checked: false, ref limits, .. }) if limits.is_empty());
        assert!(read_body(decide(Ok(&c), &post(None, o), ALL)));
        // 413 from Content-Length alone: a 10 MB body is never read.
        let mut big = post(None, o);
        big.content_length = Some("10485760");
        let r = answer(run(Ok(&c), &big, ALL));
        assert_eq!(
            (r.status, json(&r)["error"].as_str()),
            (413, Some("payload_too_large"))
        );
        assert_cors(&r, "https://a.test");
        let mut xml = post(None, o);
        xml.content_type = Some("application/xml");
        let r = answer(run(Ok(&c), &xml, ALL));
        assert_eq!(
            (r.status, json(&r)["field"].as_str()),
            (415, Some("content-type"))
        );
        assert_cors(&r, "https://a.test");
        let mut json_ct = post(None, o);
        json_ct.content_type = Some("Application/JSON");
        assert!(read_body(decide(Ok(&c), &json_ct, ALL)));
        // Path and method.
        let mut nf = post(None, o);
        nf.url = "https://i.test/x/v1/batch";
        let r = answer(run(Ok(&c), &nf, ALL));
        assert_eq!(r.status, 404);
        assert_cors(&r, "https://a.test");
        let mut get = post(None, o);
        get.method = "GET";
        let r = answer(run(Ok(&c), &get, ALL));
        assert_eq!((r.status, r.header("allow")), (405, Some("POST, OPTIONS")));
        assert_cors(&r, "https://a.test");
        // The Worker's own configuration is wrong: 500, naming the var.
        let p = cfg(&[("WRITE_KEYS", "nope")]).unwrap_err();
        let r = answer(run(Err(&p), &post(Some(BODY.as_bytes()), o), ALL));
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
        let r = answer(run(Ok(&c), &post(Some(b"{"), a), ALL));
        assert_eq!(status_field(&r), (400, Some("body".into())));
        assert_cors(&r, "https://a.test");
        let big = "x".repeat(70_000);
        let r = answer(run(Ok(&c), &post(Some(big.as_bytes()), a), ALL));
        assert_eq!(
            r.status, 413,
            "a body over the limit without Content-Length"
        );
        let v9 = BODY.replace("\"v\":1", "\"v\":9");
        let r = answer(run(Ok(&c), &post(Some(v9.as_bytes()), a), ALL));
        assert_eq!(status_field(&r), (400, Some("v".into())));
        let unknown = BODY.replace("pk_a", "pk_nobody");
        let r = answer(run(Ok(&c), &post(Some(unknown.as_bytes()), a), ALL));
        assert_eq!(status_field(&r), (401, Some("key".into())));
        assert_cors(&r, "https://a.test");
        // pk_a from b.test: 403, readable by b.test (pk_b accepts it) ...
        let b = Some("https://b.test");
        let r = answer(run(Ok(&c), &post(Some(BODY.as_bytes()), b), ALL));
        assert_eq!(status_field(&r), (403, Some("origin".into())));
        assert_cors(&r, "https://b.test");
        // ... but not by an origin no key accepts, nor without an Origin.
        let r = answer(run(
            Ok(&c),
            &post(Some(BODY.as_bytes()), Some("https://evil.test")),
            ALL,
        ));
        assert_eq!(r.status, 403);
        assert_eq!(r.header("access-control-allow-origin"), None);
        assert_eq!(r.header("vary"), Some("Origin"));
        let r = answer(run(Ok(&c), &post(Some(BODY.as_bytes()), None), ALL));
        assert_eq!(r.status, 403);
        assert_eq!(r.header("access-control-allow-origin"), None);
    }

    #[test]
    fn an_accepted_batch_is_planned_with_limits_in_order_and_every_answer() {
        let c = cfg(OK).unwrap();
        let o = Some("https://a.test");
        let hash = client_hash("0123456789abcdef", "", "192.0.2.1", 1_764_000_001_000);
        assert_eq!(hash.len(), 16);
        let step = match decide(Ok(&c), &post(Some(BODY.as_bytes()), o), ALL) {
            Decision::Next(s) => s,
            other => panic!("the limiters come before decoding: {other:?}"),
        };
        assert_eq!(
            step.limits,
            vec![(RL_CLIENT, hash.clone()), (RL_KEY, "pk_a".to_owned())],
            "the client first (a client over its limit spends none of the key's), then the key"
        );
        assert_eq!((step.read, step.checked), (0, true));
        assert_eq!(
            (step.limited.status, step.limited.header("retry-after")),
            (429, Some(RATE_LIMITED_RETRY_AFTER))
        );
        assert_eq!(json(&step.limited)["error"], "rate_limited");
        assert_cors(&step.limited, "https://a.test");
        let p = plan(run(Ok(&c), &post(Some(BODY.as_bytes()), o), ALL));
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
        let client = Bindings {
            rl_client: true,
            ..only_client
        };
        let l = step_limits(&c, &post(Some(BODY.as_bytes()), o), client);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].0, RL_CLIENT);
        let p = plan(run(Ok(&c), &post(Some(BODY.as_bytes()), o), client));
        assert_eq!((p.queue, p.direct), (None, true));
        assert!(step_limits(&c, &post(Some(BODY.as_bytes()), o), NONE).is_empty());
        let p = plan(decide(Ok(&c), &post(Some(BODY.as_bytes()), o), NONE));
        assert_eq!(p.reply.status, 204, "no limiter bound: decided in one call");
        // Any key allowing "*" accepts a request without Origin; no CORS headers are needed.
        let any = BODY.replace("pk_a", "pk_any");
        let p = plan(run(Ok(&c), &post(Some(any.as_bytes()), None), ALL));
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
        let p = plan(run(
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
        let p = plan(run(Ok(&c), &post(Some(body.as_bytes()), o), ALL));
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
            step_limits(&c, &post(Some(body.as_bytes()), o), ALL).len(),
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
        let p = plan(run(
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
        assert_eq!(
            step_limits(
                &c,
                &post(Some(body.as_bytes()), Some("https://a.test")),
                ALL
            )
            .len(),
            2
        );
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
                checked: false,
                ..Incoming::default()
            };
            step_limits(&c, &req, ALL)
        };
        let a = plan("2001:db8:1:2::1");
        assert_eq!(
            a.iter().map(|(b, _)| *b).collect::<Vec<_>>(),
            [RL_CLIENT, RL_KEY],
            "the client's own limit first"
        );
        assert_eq!(a[0].1, plan("2001:db8:1:2:ffff::42")[0].1);
        assert_ne!(a[0].1, plan("2001:db8:1:3::1")[0].1);
        assert!(!a[0].1.contains("2001"), "the address is hashed, not kept");
    }

    #[test]
    fn cheap_checks_come_first_and_every_refusal_is_charged_to_the_client() {
        let c = cfg(OK).unwrap();
        let o = Some("https://a.test");
        let hash = client_hash("0123456789abcdef", "", "192.0.2.1", 1_764_000_001_000);
        let charged = |d: Decision| match d {
            Decision::Refuse(r) => {
                assert_eq!(r.limit, (RL_CLIENT, hash.clone()));
                assert_eq!(r.limited.status, 429);
                r.reply
            }
            other => panic!("expected a charged refusal, got {other:?}"),
        };
        // Unknown key and wrong origin: refused from the cheap pass, before any limiter of the
        // batch and before decoding (the rest of this body is not even a valid envelope).
        let unknown = r#"{"v":1,"key":"pk_nobody","events":[{"t":"x"}],"sdk":7}"#;
        let r = charged(decide(Ok(&c), &post(Some(unknown.as_bytes()), o), ALL));
        assert_eq!((r.status, json(&r)["field"].as_str()), (401, Some("key")));
        let wrong = r#"{"v":1,"key":"pk_a","events":[{"t":"x"}],"sdk":7}"#;
        let r = charged(decide(
            Ok(&c),
            &post(Some(wrong.as_bytes()), Some("https://b.test")),
            ALL,
        ));
        assert_eq!(r.status, 403);
        // More than 200 events: refused by counting, before any event is parsed.
        let many = BODY.replace(
            &BODY[BODY.find("[{").unwrap() + 1..BODY.len() - 2],
            &vec!["{}"; 201].join(","),
        );
        let r = charged(decide(Ok(&c), &post(Some(many.as_bytes()), o), ALL));
        assert_eq!(
            (r.status, json(&r)["field"].as_str()),
            (400, Some("events"))
        );
        assert_eq!(Envelope::peek(many.as_bytes()).unwrap_err().field, "events");
        let exactly = BODY.replace(
            &BODY[BODY.find("[{").unwrap() + 1..BODY.len() - 2],
            &vec!["{}"; 200].join(","),
        );
        assert_eq!(Envelope::peek(exactly.as_bytes()).unwrap().events, 200);
        // Refusals from the headers and the route are charged too; without an address or a
        // client limiter there is nothing to charge.
        let mut xml = post(None, o);
        xml.content_type = Some("application/xml");
        assert_eq!(charged(decide(Ok(&c), &xml, ALL)).status, 415);
        let mut nf = post(None, o);
        nf.url = "https://i.test/nope";
        assert_eq!(charged(decide(Ok(&c), &nf, ALL)).status, 404);
        let mut anon = post(Some(unknown.as_bytes()), o);
        anon.ip = None;
        assert!(matches!(decide(Ok(&c), &anon, ALL), Decision::Answer(r) if r.status == 401));
        assert!(matches!(
            decide(Ok(&c), &post(Some(unknown.as_bytes()), o), NONE),
            Decision::Answer(r) if r.status == 401
        ));
        // A body that arrives longer than the limit (no Content-Length: the entry read one
        // byte more than allowed) is a 413.
        let mut long = post(Some(&[b' '; READ_AT_MOST]), o);
        long.content_length = None;
        assert_eq!(charged(decide(Ok(&c), &long, ALL)).status, 413);
    }

    #[test]
    fn event_times_are_corrected_for_the_client_clock_and_kept_within_the_window() {
        let c = cfg(OK).unwrap();
        let now = 1_764_000_001_000u64;
        let day = 86_400_000u64;
        let ev = |i: u32, t: u64| {
            format!(
                r#"{{"id":"{:016x}","t":{t},"type":"error","url":"https://a.test/","exception.message":"m{i}"}}"#,
                i + 1
            )
        };
        let body = |sent_at: u64, events: &[String]| {
            BODY.replace("1764000000000,\"events", &format!("{sent_at},\"events"))
                .replace(
                    &BODY[BODY.find("[{").unwrap() + 1..BODY.len() - 2],
                    &events.join(","),
                )
        };
        let times = |p: &Plan| -> Vec<u64> {
            let v: serde_json::Value = serde_json::from_str(&p.docs[0]).unwrap();
            v["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["timeUnixNano"].as_str().unwrap().parse::<u64>().unwrap() / 1_000_000)
                .collect()
        };
        let o = Some("https://a.test");
        // A clock 2 hours ahead: every time moves back by the measured skew, and it is recorded.
        let ahead = 2 * 3_600_000;
        let b = body(
            now + ahead,
            &[ev(0, now + ahead - 5_000), ev(1, now + ahead - 1_000)],
        );
        let p = plan(run(Ok(&c), &post(Some(b.as_bytes()), o), ALL));
        assert_eq!(times(&p), [now - 5_000, now - 1_000]);
        assert!(p.docs[0]
            .contains("\"ferrotel.clock_correction_ms\",\"value\":{\"intValue\":\"-7200000\"}"));
        // Within the tolerance: times as sent, nothing recorded.
        let b = body(now - 30_000, &[ev(0, now - 40_000)]);
        let p = plan(run(Ok(&c), &post(Some(b.as_bytes()), o), ALL));
        assert_eq!(times(&p), [now - 40_000]);
        assert!(!p.docs[0].contains("clock_correction"));
        // A batch retried 3 days later (sent_at restamped at the attempt): times kept.
        let b = body(now - 200, &[ev(0, now - 3 * day)]);
        let p = plan(run(Ok(&c), &post(Some(b.as_bytes()), o), ALL));
        assert_eq!(times(&p), [now - 3 * day]);
        // Outside the window: dropped by index in the batch as sent (after a decoder drop),
        // the others kept.
        let b = body(
            now,
            &[
                ev(0, now - 31 * day),
                r#"{"id":"00000000000000ff","t":1,"type":"nope"}"#.to_owned(),
                ev(2, now - 1_000),
                ev(3, now + 3_600_000),
            ],
        );
        let p = plan(run(Ok(&c), &post(Some(b.as_bytes()), o), ALL));
        assert_eq!(times(&p), [now - 1_000]);
        let j = json(&p.reply);
        assert_eq!(
            (j["accepted"].as_u64(), j["dropped"].as_u64()),
            (Some(1), Some(3))
        );
        let fields: Vec<_> = j["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(fields, ["events[0].t", "events[1].type", "events[3].t"]);
        assert!(j["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("30 days"));
    }

    #[test]
    fn origin_null_is_refused_unless_the_key_lists_null() {
        let c = IngestConfig::from_vars(|k| match k {
            "WRITE_KEYS" => Some(r#"{"pk_any":["*"],"pk_null":["https://a.test","null"]}"#.into()),
            "IP_SALT" => Some("0123456789abcdef".into()),
            _ => None,
        })
        .unwrap();
        assert!(!c.origin_allowed("pk_any", Some("null")), "* is not null");
        assert!(c.origin_allowed("pk_any", Some("https://x.test")));
        assert!(c.origin_allowed("pk_null", Some("null")));
        assert!(!c.origin_allowed("pk_null", Some("https://x.test")));
        let any = BODY.replace("pk_a", "pk_any");
        let r = answer(run(Ok(&c), &post(Some(any.as_bytes()), Some("null")), ALL));
        assert_eq!(r.status, 403);
        assert!(
            json(&r)["reason"]
                .as_str()
                .unwrap()
                .contains("Origin: null"),
            "{r:?}"
        );
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("null"),
            "readable: pk_null accepts null"
        );
        let ok = BODY.replace("pk_a", "pk_null");
        let p = plan(run(Ok(&c), &post(Some(ok.as_bytes()), Some("null")), ALL));
        assert_eq!(p.reply.status, 204);
        assert!(cfg(&[
            ("WRITE_KEYS", r#"{"k":["nul"]}"#),
            ("IP_SALT", "0123456789abcdef")
        ])
        .is_err());
    }

    #[test]
    fn the_client_hash_is_salted_per_day_and_empty_without_an_address() {
        let day = 1_764_000_000_000;
        let h = client_hash("salt-0123456789ab", "", "192.0.2.1", day);
        assert_eq!(h.len(), 16);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            h,
            client_hash("salt-0123456789ab", "", "192.0.2.1", day + 1)
        );
        assert_ne!(
            h,
            client_hash("salt-0123456789ab", "", "192.0.2.1", day + 86_400_000)
        );
        assert_ne!(h, client_hash("salt-0123456789ac", "", "192.0.2.1", day));
        assert_ne!(h, client_hash("salt-0123456789ab", "", "192.0.2.2", day));
        assert_eq!(client_hash("salt-0123456789ab", "", "", day), "");
        // The day's random salt: another salt, another hash, even on the same day and address.
        assert_ne!(
            h,
            client_hash("salt-0123456789ab", "day-salt-1", "192.0.2.1", day)
        );
        assert_ne!(
            client_hash("", "day-salt-1", "192.0.2.1", day),
            client_hash("", "day-salt-2", "192.0.2.1", day)
        );
    }

    /// A batch of `session` with the given events (wire JSON) and release.
    fn batch_of(session: &str, release: &str, events: &[&str]) -> String {
        let evs: Vec<String> = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                format!(
                    r#"{{"id":"{:016x}","t":1764000000000,"url":"https://a.test/shop/cart?x=1",{e}}}"#,
                    i + 1
                )
            })
            .collect();
        format!(
            r#"{{"v":1,"key":"pk_a","sdk":{{"name":"ferrotel","version":"0.1.0"}},"release":"{release}","session":"{session}","sent_at":1764000000000,"events":[{}]}}"#,
            evs.join(",")
        )
    }

    fn records(p: &Plan) -> Vec<serde_json::Value> {
        p.docs
            .iter()
            .flat_map(|d| {
                let v: serde_json::Value = serde_json::from_str(d).unwrap();
                v["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
                    .as_array()
                    .unwrap()
                    .clone()
            })
            .collect()
    }

    fn attr<'v>(r: &'v serde_json::Value, k: &str) -> Option<&'v serde_json::Value> {
        r["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == k)
            .map(|a| &a["value"])
    }

    #[test]
    fn sampling_rules_decide_before_the_static_rates_and_are_recorded() {
        use crate::core::rules::Rules;
        use crate::core::sample::Sampler;
        let c = cfg(OK).unwrap(); // static: default 0.5, click 0.1
        let rules = Rules::parse(
            br#"{"rules":[{"id":"cart","rate":1,"route":"/shop/**","release":"2.*"},{"id":"none","rate":0,"types":["click"]}]}"#,
        )
        .unwrap();
        let click = r#""type":"click""#;
        let pv = r#""type":"page_view""#;
        let o = Some("https://a.test");
        let s = "0123456789abcdef0123456789abcdef";
        // Release 2.x on /shop/**: rule "cart" keeps everything, recorded with its rate.
        let b = batch_of(s, "2.1", &[click, pv]);
        let mut req = post(Some(b.as_bytes()), o);
        req.rules = Some(&rules);
        let p = plan(run(Ok(&c), &req, ALL));
        let recs = records(&p);
        assert_eq!(recs.len(), 2);
        for r in &recs {
            assert_eq!(
                attr(r, "ferrotel.sample_rule").unwrap()["stringValue"],
                "cart"
            );
            assert_eq!(attr(r, "ferrotel.sample_rate").unwrap()["doubleValue"], 1.0);
            assert!(attr(r, "ferrotel.sample_error_session").is_none());
        }
        // The projection into D1 rows keeps it as `sample_rule`.
        let rows = project(p.docs[0].as_bytes()).unwrap();
        let data: serde_json::Value = serde_json::from_str(&rows[0].data).unwrap();
        assert_eq!(data["sample_rule"], "cart");
        // Another release: clicks fall to rule "none" (rate 0), page views to SAMPLE_RATES
        // (0.5, no rule recorded).
        let b = batch_of(s, "1.0", &[click, pv]);
        let mut req = post(Some(b.as_bytes()), o);
        req.rules = Some(&rules);
        let p = plan(run(Ok(&c), &req, ALL));
        let recs = records(&p);
        let kept_pv = Sampler::new(0.5).keep_session(s);
        assert_eq!(recs.len(), usize::from(kept_pv));
        for r in &recs {
            assert_eq!(r["eventName"], "browser.page_view");
            assert!(attr(r, "ferrotel.sample_rule").is_none());
        }
        // No rules: exactly the static sampling as before.
        let b = batch_of(s, "2.1", &[click, pv]);
        let req = post(Some(b.as_bytes()), o);
        let n = records(&plan(run(Ok(&c), &req, ALL))).len();
        assert_eq!(
            n,
            usize::from(Sampler::new(0.1).keep_session(s)) + usize::from(kept_pv)
        );
    }

    #[test]
    fn a_rule_keeps_sessions_with_an_error_from_the_error_on() {
        use crate::core::rules::{ErrorSessions, Rules};
        let c = cfg(OK).unwrap();
        let rules = Rules::parse(
            br#"{"rules":[{"id":"keep-err","rate":0,"keep_sessions_with_error":true}]}"#,
        )
        .unwrap();
        let click = r#""type":"click""#;
        let err = r#""type":"error","exception.message":"boom""#;
        let o = Some("https://a.test");
        let s = "fedcba9876543210fedcba9876543210";
        let mut memory = ErrorSessions::default();
        let now = 1_764_000_001_000;
        // Not known yet: the decision asks for a lookup of the session, after the limiters.
        let b = batch_of(s, "", &[click]);
        let mut req = post(Some(b.as_bytes()), o);
        req.rules = Some(&rules);
        req.error_sessions = Some(&memory);
        match run(Ok(&c), &req, ALL) {
            Decision::Next(step) => {
                assert_eq!(step.lookup.as_deref(), Some(s));
                assert!(step.checked && step.read == 0 && step.limits.is_empty());
            }
            d => panic!("expected a lookup, got {d:?}"),
        }
        // Looked up and nothing found: dropped, and no second lookup.
        let mut looked = req.clone();
        looked.checked = true;
        looked.looked_up = true;
        assert_eq!(plan(decide(Ok(&c), &looked, ALL)).accepted, 0);
        // A batch with an error: all of it kept (the click before the error too), the click
        // marked as kept for the error, and the session remembered.
        let b = batch_of(s, "", &[click, err]);
        let mut req = post(Some(b.as_bytes()), o);
        req.rules = Some(&rules);
        req.error_sessions = Some(&memory);
        let p = plan(run(Ok(&c), &req, ALL));
        assert_eq!(p.errored_session.as_deref(), Some(s));
        let recs = records(&p);
        assert_eq!(recs.len(), 2);
        assert_eq!(
            attr(&recs[0], "ferrotel.sample_rule").unwrap()["stringValue"],
            "keep-err"
        );
        assert_eq!(
            attr(&recs[0], "ferrotel.sample_error_session").unwrap()["boolValue"],
            true
        );
        assert!(
            attr(&recs[1], "ferrotel.sample_rule").is_none(),
            "errors: no rule"
        );
        // Later batches of the session are kept without asking D1.
        memory.set(s, true, now);
        let b = batch_of(s, "", &[click]);
        let mut req = post(Some(b.as_bytes()), o);
        req.rules = Some(&rules);
        req.error_sessions = Some(&memory);
        assert_eq!(plan(run(Ok(&c), &req, ALL)).accepted, 1);
        // Another session, known to be without error: dropped without a lookup.
        memory.set("00000000000000000000000000000001", false, now);
        let b = batch_of("00000000000000000000000000000001", "", &[click]);
        let mut req = post(Some(b.as_bytes()), o);
        req.rules = Some(&rules);
        req.error_sessions = Some(&memory);
        assert_eq!(plan(run(Ok(&c), &req, ALL)).accepted, 0);
    }

    #[test]
    fn rules_route_to_the_router_and_admin_token_rules() {
        let c = cfg(OK).unwrap();
        for m in ["GET", "PUT", "DELETE"] {
            let req = Incoming {
                method: m,
                url: "https://i.test/v1/sampling-rules",
                ..Incoming::default()
            };
            assert_eq!(decide(Ok(&c), &req, ALL), Decision::Route, "{m}");
        }
        let long = "0123456789abcdef0123456789abcdef";
        let with = |extra: &[(&str, &str)]| {
            let mut p: Vec<(&str, &str)> = OK.to_vec();
            p.extend_from_slice(extra);
            cfg(&p)
        };
        assert_eq!(with(&[]).unwrap().admin_token, None);
        assert_eq!(
            with(&[]).unwrap().rules_cache_s,
            DEFAULT_RULES_CACHE_SECONDS
        );
        assert_eq!(
            with(&[("ADMIN_TOKEN", long)])
                .unwrap()
                .admin_token
                .as_deref(),
            Some(long)
        );
        assert_eq!(
            with(&[("ADMIN_TOKEN", "short")]).unwrap_err().name,
            "ADMIN_TOKEN"
        );
        assert_eq!(
            with(&[("ADMIN_TOKEN", "demo-token")]).unwrap_err().name,
            "ADMIN_TOKEN"
        );
        assert_eq!(
            with(&[("ADMIN_TOKEN", long), ("READ_TOKEN", long)])
                .unwrap_err()
                .name,
            "ADMIN_TOKEN"
        );
        assert_eq!(
            with(&[("RULES_CACHE_SECONDS", "2")]).unwrap().rules_cache_s,
            2
        );
        for bad in ["0", "61", "x"] {
            assert_eq!(
                with(&[("RULES_CACHE_SECONDS", bad)]).unwrap_err().name,
                "RULES_CACHE_SECONDS"
            );
        }
    }

    #[test]
    fn every_wire_type_takes_a_sample_rate() {
        let rates: Vec<String> = crate::core::nav::stored_types()
            .iter()
            .map(|t| format!("\"{t}\":0.5"))
            .collect();
        let rates = format!("{{\"default\":1,{}}}", rates.join(","));
        let mut pairs: Vec<(&str, &str)> = OK.to_vec();
        pairs.retain(|(k, _)| *k != "SAMPLE_RATES");
        pairs.push(("SAMPLE_RATES", &rates));
        let c = cfg(&pairs).unwrap();
        assert_eq!(c.sample_rates.len(), 9 + 1);
        assert_eq!(
            EventKind::TYPES.len(),
            10,
            "and nav_entry, which is not sampled"
        );
        assert!(cfg(&[("SAMPLE_RATES", "{\"nav_entry\":0.5}")]).is_err());
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
        assert_eq!(with("IP_SALT", "short"), "IP_SALT");
        assert_eq!(with("RETENTION_DAYS", "0"), "RETENTION_DAYS");
        assert_eq!(with("RETENTION_DAYS", "thirty"), "RETENTION_DAYS");
        assert_eq!(with("RETRY_BASE_SECONDS", "0"), "RETRY_BASE_SECONDS");
        assert_eq!(with("DAILY_QUOTAS", "[1]"), "DAILY_QUOTAS");
        assert_eq!(with("DAILY_QUOTAS", r#"{"pk_nobody":5}"#), "DAILY_QUOTAS");
        // IP_SALT is an optional pepper now: the day's random salt unlinks the hashes.
        let mut p: Vec<(&str, &str)> = OK
            .iter()
            .filter(|(n, _)| *n != "IP_SALT")
            .copied()
            .collect();
        assert_eq!(cfg(&p).unwrap().ip_salt, "");
        p.push(("RETENTION_DAYS", "7"));
        p.push(("DAILY_QUOTAS", r#"{"pk_a":1000}"#));
        let c = cfg(&p).unwrap();
        assert_eq!((c.retention_days, c.daily_quotas["pk_a"]), (7, 1000));
        assert_eq!(cfg(OK).unwrap().retention_days, DEFAULT_RETENTION_DAYS);
    }

    #[test]
    fn a_key_over_its_daily_quota_gets_429_until_midnight_utc() {
        let mut p: Vec<(&str, &str)> = OK.to_vec();
        p.push(("DAILY_QUOTAS", r#"{"pk_a":10}"#));
        let c = cfg(&p).unwrap();
        let o = Some("https://a.test");
        let mut used = BTreeMap::new();
        used.insert("pk_a".to_owned(), 9u64);
        let mut req = post(Some(BODY.as_bytes()), o);
        req.used_today = Some(&used);
        let p = plan(run(Ok(&c), &req, ALL));
        assert_eq!(
            (p.reply.status, p.key.as_str(), p.accepted),
            (204, "pk_a", 1)
        );
        let mut full = used.clone();
        full.insert("pk_a".to_owned(), 10);
        req.used_today = Some(&full);
        let r = answer(decide(Ok(&c), &req, ALL));
        assert_eq!(
            (r.status, json(&r)["error"].as_str()),
            (429, Some("quota_exceeded"))
        );
        // 1_764_000_001_000 is 16:00:01 UTC: 7h 59m 59s to midnight.
        assert_eq!(r.header("retry-after"), Some("28799"));
        assert_cors(&r, "https://a.test");
        assert_eq!(seconds_to_next_utc_day(86_400_000 * 5), 86_400);
        // Another key is not limited by pk_a's quota.
        let any = BODY.replace("pk_a", "pk_any");
        let mut other = post(Some(any.as_bytes()), o);
        other.used_today = Some(&full);
        assert_eq!(plan(run(Ok(&c), &other, ALL)).reply.status, 204);
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

    #[test]
    fn upload_token_follows_the_read_token_rules() {
        let long = "0123456789abcdef0123456789abcdef";
        let with = |extra: &[(&str, &str)]| {
            let mut p: Vec<(&str, &str)> = OK.to_vec();
            p.extend_from_slice(extra);
            cfg(&p)
        };
        assert_eq!(with(&[]).unwrap().upload_token, None);
        assert_eq!(
            with(&[("UPLOAD_TOKEN", long)])
                .unwrap()
                .upload_token
                .as_deref(),
            Some(long)
        );
        for bad in ["demo-token", "short"] {
            let e = with(&[("UPLOAD_TOKEN", bad)]).unwrap_err();
            assert_eq!(e.name, "UPLOAD_TOKEN");
            assert!(e.problem.contains("UPLOAD_TOKEN") || e.problem.contains("at least 32"));
        }
        assert!(with(&[("UPLOAD_TOKEN", "short"), ("FERROTEL_ENV", "development")]).is_ok());
    }
}

/// A timing harness over the Worker bench's body (bench/worker/common.mjs `benchBody`), run by
/// hand: `node -e 'import("./bench/worker/common.mjs").then(m => process.stdout.write(m.benchBody()))' > /tmp/body.json`,
/// then `FERROTEL_BENCH_BODY=/tmp/body.json CARGO_PROFILE_RELEASE_OPT_LEVEL=3 cargo test --release --lib ingest::profile -- --ignored --nocapture`
/// (the Worker's opt-level; `FERROTEL_ONLY=<name prefix>` times one step, `FERROTEL_N` sets the
/// iterations, `FERROTEL_BENCH_DOCS=<file>` writes the OTLP documents).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod profile {
    use super::*;
    use std::time::Instant;

    fn time(name: &str, n: u32, mut f: impl FnMut()) {
        if std::env::var("FERROTEL_ONLY").is_ok_and(|o| !name.starts_with(&o)) {
            return;
        }
        for _ in 0..n / 10 {
            f();
        }
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        println!(
            "{name:>28}: {:8.2} µs",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
    }

    #[test]
    #[ignore]
    fn profile_bench_body() {
        let Ok(path) = std::env::var("FERROTEL_BENCH_BODY") else {
            return;
        };
        let body = std::fs::read(path).unwrap();
        let vars: BTreeMap<&str, &str> = [
            ("WRITE_KEYS", r#"{"pk_demo":["*"]}"#),
            ("IP_SALT", "bench-salt-0123456789abcdef"),
            ("SAMPLE_RATES", r#"{"default":1}"#),
        ]
        .into();
        let cfg = IngestConfig::from_vars(|k| vars.get(k).map(|v| v.to_string())).unwrap();
        let req = Incoming {
            method: "POST",
            url: "http://127.0.0.1/v1/batch",
            content_type: Some("text/plain;charset=UTF-8"),
            content_length: Some("31133"),
            origin: Some("https://shop.example"),
            user_agent: Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
            ip: Some("127.0.0.1"),
            country: Some("DE"),
            now_ms: 1_764_000_210_000,
            body: Some(&body),
            checked: true,
            day_salt: "salt",
            used_today: None,
            rules: None,
            error_sessions: None,
            looked_up: false,
        };
        let b = Bindings {
            rl_key: true,
            rl_client: true,
            queue: true,
        };
        let n: u32 = std::env::var("FERROTEL_N")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2000);
        let Decision::Accept(p) = decide(Ok(&cfg), &req, b) else {
            panic!()
        };
        let total: usize = p.docs.iter().map(|d| d.len()).sum();
        println!("docs: {} totalling {total} bytes", p.docs.len());
        if let Ok(out) = std::env::var("FERROTEL_BENCH_DOCS") {
            std::fs::write(out, p.docs.join("\n")).unwrap();
        }
        time("peek", n, || {
            std::hint::black_box(Envelope::peek(&body).unwrap());
        });
        time("decode_peeked", n, || {
            std::hint::black_box(Envelope::decode_peeked(&body).unwrap());
        });
        let (env, _) = Envelope::decode_peeked(&body).unwrap();
        time("protect_urls+protect", n, || {
            let mut e = env.clone();
            for ev in &mut e.events {
                protect_urls(ev, &e.resource.allow_query);
                protect(ev, e.resource.mask_messages);
            }
            std::hint::black_box(e);
        });
        time("clone (subtract)", n, || {
            std::hint::black_box(env.clone());
        });
        time("decide (unchecked)", n, || {
            let r = Incoming {
                checked: false,
                ..req.clone()
            };
            std::hint::black_box(decide(Ok(&cfg), &r, b));
        });
        time("decide (checked)", n, || {
            std::hint::black_box(decide(Ok(&cfg), &req, b));
        });
    }
}
