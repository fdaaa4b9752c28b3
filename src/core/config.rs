//! SDK configuration: defaults, and validation errors that name the option and say what to do.

use super::bytes::{first_is, has};

/// What an option's value must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A string.
    Str,
    /// `true` or `false`.
    Bool,
    /// A number from `.0` to `.1`.
    Num(f64, f64),
    /// A whole number from `.0` to `.1`.
    Int(u32, u32),
    /// An array of strings.
    List,
}

/// One option `init` accepts: its JavaScript name, what its value must be, and what the error
/// says when it is not ("option `name` …"). The one declaration of the options: the browser
/// reads them by it ([`Config::set`]) and [`Config::validate`] checks the ranges by it.
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    /// The JavaScript name.
    pub name: &'static str,
    /// What its value must be.
    pub kind: Kind,
    /// The end of the error message.
    pub problem: &'static str,
}

const fn opt(name: &'static str, kind: Kind, problem: &'static str) -> Opt {
    Opt {
        name,
        kind,
        problem,
    }
}

const BOOL: &str = "must be true or false";
const LABEL_RULE: &str =
    "must be a string of at most 64 printable ASCII characters, without quotes";

/// Every option `init` accepts, in [`Config::set`]'s order.
pub const OPTIONS: &[Opt] = &[
    opt("endpoint", Kind::Str, "must be a string: an absolute http(s) URL such as \"https://ingest.example.com/v1/batch\" or a same-origin path such as \"/v1/batch\""),
    opt("key", Kind::Str, "must be a string of 1-64 characters of A-Z a-z 0-9 _ -: the public write key of your project"),
    opt("sampleRate", Kind::Num(0.0, 1.0), "must be a number from 0 to 1"),
    opt("flushIntervalMs", Kind::Int(100, 600_000), "must be a whole number of milliseconds from 100 to 600000"),
    opt("maxBatchBytes", Kind::Int(20_000, 65_536), "must be a whole number from 20000 to 65536 (browsers refuse larger beacons)"),
    opt("maxBatchEvents", Kind::Int(1, 200), "must be a whole number from 1 to 200"),
    opt("respectDoNotTrack", Kind::Bool, BOOL),
    opt("requireConsent", Kind::Bool, BOOL),
    opt("allowQuery", Kind::List, "must be an array of query parameter names of 1-128 characters, without commas"),
    opt("captureClicks", Kind::Bool, BOOL),
    opt("captureText", Kind::Bool, BOOL),
    opt("captureErrors", Kind::Bool, BOOL),
    opt("capturePageViews", Kind::Bool, BOOL),
    opt("capturePerformance", Kind::Bool, BOOL),
    opt("maxErrorsPerSession", Kind::Int(1, 1000), "must be a whole number from 1 to 1000"),
    opt("maskMessages", Kind::Bool, BOOL),
    opt("release", Kind::Str, LABEL_RULE),
    opt("environment", Kind::Str, LABEL_RULE),
];

/// An option's value as read from JavaScript by its [`Kind`] (`Num` for both numeric kinds).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// For [`Kind::Str`].
    Str(String),
    /// For [`Kind::Bool`].
    Bool(bool),
    /// For [`Kind::Num`] and [`Kind::Int`].
    Num(f64),
    /// For [`Kind::List`].
    List(Vec<String>),
}

/// Validated SDK options. Field docs give the JavaScript option name and default.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `endpoint` (required): the ingest URL, absolute `http(s)://…` or a same-origin `/path`.
    pub endpoint: String,
    /// `key` (required): the public write key, 1–64 of `A-Z a-z 0-9 _ -`.
    pub key: String,
    /// `sampleRate` (1): fraction of sessions kept, 0..=1; errors are always kept.
    pub sample_rate: f64,
    /// `flushIntervalMs` (5000): how often pending events are sent, 100..=600000.
    pub flush_interval_ms: u32,
    /// `maxBatchBytes` (32000): largest request body, 20000..=65536. Browsers allow 64 KiB of
    /// beacon/keepalive data in flight per page, so the default leaves room for two.
    pub max_batch_bytes: u32,
    /// `maxBatchEvents` (100): most events per request, 1..=200.
    pub max_batch_events: u32,
    /// `respectDoNotTrack` (true): send nothing when Do-Not-Track or Global Privacy Control is on.
    pub respect_do_not_track: bool,
    /// `requireConsent` (false): hold events in memory until `setConsent(true)`.
    pub require_consent: bool,
    /// `allowQuery` ([]): query parameters kept in page URLs and referrers; all others are
    /// removed at the edge, before anything is stored or forwarded (the list travels in the
    /// batch header). URLs inside error messages and stacks lose their whole query.
    pub allow_query: Vec<String>,
    /// `captureClicks` (true).
    pub capture_clicks: bool,
    /// `captureText` (true): record visible text of clicked elements (masked at the edge).
    pub capture_text: bool,
    /// `captureErrors` (true): uncaught errors, unhandled rejections, panics.
    pub capture_errors: bool,
    /// `capturePageViews` (true): page views, SPA routes and visible time.
    pub capture_page_views: bool,
    /// `capturePerformance` (true): web vitals, navigation timing, long tasks.
    pub capture_performance: bool,
    /// `maxErrorsPerSession` (50): distinct errors sent per session, 1..=1000; repeats are counted.
    pub max_errors_per_session: u32,
    /// `maskMessages` (true): the edge masks e-mail-like words and numbers of 7 or more digits
    /// in error messages and in the copy of the message atop V8 stacks
    /// ([`super::scrub::mask_message`], run by `core::protect`); `false` travels in the batch
    /// header (`mask_messages`).
    pub mask_messages: bool,
    /// `release` (none): the app's release, sent with every batch; up to 64 printable ASCII
    /// characters without quotes.
    pub release: String,
    /// `environment` (none): where the app runs, e.g. `production`; same rules as `release`.
    pub environment: String,
}

/// A bad option: which one and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The JavaScript option name.
    pub option: String,
    /// What is wrong, as the end of a sentence starting with the option name.
    pub problem: &'static str,
}

impl ConfigError {
    /// An error for `option`.
    pub fn new(option: &str, problem: &'static str) -> Self {
        ConfigError {
            option: option.into(),
            problem,
        }
    }

    /// The whole message, e.g. "ferrotel.init: option `sampleRate` must be a number from 0 to 1".
    /// Built by concatenation: `fmt` would add a kilobyte to the browser build.
    pub fn message(&self) -> String {
        let mut m = String::with_capacity(64);
        m.push_str("ferrotel.init: option `");
        m.push_str(&self.option);
        m.push_str("` ");
        m.push_str(self.problem);
        m
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Defaults for everything but the two required options.
    pub fn new(endpoint: impl Into<String>, key: impl Into<String>) -> Self {
        Config {
            endpoint: endpoint.into(),
            key: key.into(),
            sample_rate: 1.0,
            flush_interval_ms: 5000,
            max_batch_bytes: 32_000,
            max_batch_events: 100,
            respect_do_not_track: true,
            require_consent: false,
            allow_query: Vec::new(),
            capture_clicks: true,
            capture_text: true,
            capture_errors: true,
            capture_page_views: true,
            capture_performance: true,
            max_errors_per_session: 50,
            mask_messages: true,
            release: String::new(),
            environment: String::new(),
        }
    }

    /// Sets option `i` of [`OPTIONS`] from a value read by its kind; `None` (or a value of
    /// another kind) is that option's error. Ranges are checked by [`Config::validate`].
    pub fn set(&mut self, i: usize, v: Option<Value>) -> Result<(), ConfigError> {
        use Value::*;
        match (i, v) {
            (0, Some(Str(s))) => self.endpoint = s,
            (1, Some(Str(s))) => self.key = s,
            (2, Some(Num(n))) => self.sample_rate = n,
            (3, Some(Num(n))) => self.flush_interval_ms = whole(n),
            (4, Some(Num(n))) => self.max_batch_bytes = whole(n),
            (5, Some(Num(n))) => self.max_batch_events = whole(n),
            (6, Some(Bool(b))) => self.respect_do_not_track = b,
            (7, Some(Bool(b))) => self.require_consent = b,
            (8, Some(List(l))) => self.allow_query = l,
            (9, Some(Bool(b))) => self.capture_clicks = b,
            (10, Some(Bool(b))) => self.capture_text = b,
            (11, Some(Bool(b))) => self.capture_errors = b,
            (12, Some(Bool(b))) => self.capture_page_views = b,
            (13, Some(Bool(b))) => self.capture_performance = b,
            (14, Some(Num(n))) => self.max_errors_per_session = whole(n),
            (15, Some(Bool(b))) => self.mask_messages = b,
            (16, Some(Str(s))) => self.release = s,
            (17, Some(Str(s))) => self.environment = s,
            _ => return Err(self::error(i)),
        }
        Ok(())
    }

    /// The value of numeric option `i` of [`OPTIONS`].
    fn number(&self, i: usize) -> f64 {
        match i {
            2 => self.sample_rate,
            3 => self.flush_interval_ms.into(),
            4 => self.max_batch_bytes.into(),
            5 => self.max_batch_events.into(),
            _ => self.max_errors_per_session.into(),
        }
    }

    /// Checks every option; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (i, o) in OPTIONS.iter().enumerate() {
            let ok = match o.kind {
                Kind::Num(lo, hi) => (lo..=hi).contains(&self.number(i)),
                Kind::Int(lo, hi) => {
                    let n = self.number(i);
                    n >= f64::from(lo) && n <= f64::from(hi)
                }
                Kind::List => self
                    .allow_query
                    .iter()
                    .all(|q| !q.is_empty() && q.len() <= 128 && !has(q, b',')),
                Kind::Bool => true,
                Kind::Str => match i {
                    0 => valid_endpoint(&self.endpoint),
                    1 => {
                        !self.key.is_empty()
                            && self.key.len() <= 64
                            && self
                                .key
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    }
                    16 => valid_label(&self.release),
                    _ => valid_label(&self.environment),
                },
            };
            if !ok {
                return Err(error(i));
            }
        }
        Ok(())
    }
}

/// The error of option `i` of [`OPTIONS`].
fn error(i: usize) -> ConfigError {
    match OPTIONS.get(i) {
        Some(o) => ConfigError::new(o.name, o.problem),
        None => ConfigError::new("options", "has an unknown option"),
    }
}

/// A whole number in `u32`, or `u32::MAX` (out of every range) for anything else.
fn whole(n: f64) -> u32 {
    if n.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&n) {
        n as u32
    } else {
        u32::MAX
    }
}

/// A release or environment name: empty (not sent) or up to 64 printable ASCII characters
/// without quotes.
fn valid_label(s: &str) -> bool {
    s.len() <= super::event::limits::LABEL
        && s.bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\'')
}

/// `http(s)://host[...]` with a non-empty host and no whitespace, or `/path`.
fn valid_endpoint(e: &str) -> bool {
    if e.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return false;
    }
    if first_is(e, b'/') {
        return e.as_bytes().get(1) != Some(&b'/'); // "//host" is protocol-relative, not a path
    }
    let rest = match e
        .strip_prefix("https://")
        .or_else(|| e.strip_prefix("http://"))
    {
        Some(r) => r,
        None => return false,
    };
    let host_end = rest
        .bytes()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let host = rest.get(..host_end).unwrap_or(rest);
    !host.is_empty() && !has(host, b'@') && !first_is(host, b':')
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn ok() -> Config {
        Config::new("https://ingest.example.com/v1/batch", "pk_demo")
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(ok().validate(), Ok(()));
        let mut c = ok();
        c.endpoint = "/v1/batch".into();
        assert_eq!(c.validate(), Ok(()));
        c.endpoint = "http://127.0.0.1:8787/v1/batch".into();
        assert_eq!(c.validate(), Ok(()));
        c.release = "shop@2.4.1 (build 77)".into();
        c.environment = "x".repeat(64);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn each_bad_option_is_named() {
        type Breaker = fn(&mut Config);
        let cases: Vec<(Breaker, &str)> = vec![
            (|c| c.endpoint.clear(), "endpoint"),
            (|c| c.endpoint = "not a url".into(), "endpoint"),
            (|c| c.endpoint = "ftp://x".into(), "endpoint"),
            (|c| c.endpoint = "https://".into(), "endpoint"),
            (|c| c.endpoint = "//evil.example".into(), "endpoint"),
            (|c| c.key.clear(), "key"),
            (|c| c.key = "has space".into(), "key"),
            (|c| c.sample_rate = 1.5, "sampleRate"),
            (|c| c.sample_rate = -0.1, "sampleRate"),
            (|c| c.sample_rate = f64::NAN, "sampleRate"),
            (|c| c.flush_interval_ms = 10, "flushIntervalMs"),
            (|c| c.max_batch_bytes = 100_000, "maxBatchBytes"),
            (|c| c.max_batch_events = 0, "maxBatchEvents"),
            (|c| c.max_errors_per_session = 0, "maxErrorsPerSession"),
            (|c| c.allow_query = vec![String::new()], "allowQuery"),
            (|c| c.allow_query = vec!["a,b".into()], "allowQuery"),
            (|c| c.release = "x".repeat(65), "release"),
            (|c| c.release = "v1\"".into(), "release"),
            (|c| c.release = "v1\n".into(), "release"),
            (|c| c.environment = "prod'".into(), "environment"),
            (|c| c.environment = "préprod".into(), "environment"),
        ];
        for (break_it, name) in cases {
            let mut c = ok();
            break_it(&mut c);
            let err = c.validate().expect_err(name);
            assert_eq!(err.option, name);
            assert!(err.message().starts_with("ferrotel.init: option `"));
            assert!(err.message().contains(name));
        }
    }

    #[test]
    fn every_option_is_set_by_its_kind_and_only_by_it() {
        let mut c = ok();
        for (i, o) in OPTIONS.iter().enumerate() {
            let good = match o.kind {
                Kind::Str => Value::Str("x".into()),
                Kind::Bool => Value::Bool(false),
                Kind::Num(lo, _) => Value::Num(lo),
                Kind::Int(lo, _) => Value::Num(lo.into()),
                Kind::List => Value::List(vec!["utm_source".into()]),
            };
            c.set(i, Some(good))
                .unwrap_or_else(|e| panic!("{}: {e}", o.name));
            let wrong = match o.kind {
                Kind::Bool => Value::Str("true".into()),
                _ => Value::Bool(true),
            };
            assert_eq!(c.set(i, Some(wrong)).unwrap_err().option, o.name);
            assert_eq!(c.set(i, None).unwrap_err().option, o.name);
        }
        assert!(c.set(OPTIONS.len(), Some(Value::Bool(true))).is_err());
        // A fractional number for a whole-number option is out of every range.
        let mut c = ok();
        c.set(3, Some(Value::Num(1000.5))).unwrap();
        assert_eq!(c.validate().unwrap_err().option, "flushIntervalMs");
        // The README's options table lists every option, in this order.
        let readme = include_str!("../../README.md");
        let listed: Vec<&str> = readme
            .lines()
            .skip_while(|l| !l.starts_with("| option | default | meaning |"))
            .skip(2)
            .take_while(|l| l.starts_with("| `"))
            .filter_map(|l| l.split('`').nth(1))
            .filter(|n| *n != "wasmUrl")
            .collect();
        let names: Vec<&str> = OPTIONS.iter().map(|o| o.name).collect();
        assert_eq!(listed, names, "README's options table");
        let dts = include_str!("../../pkg-templates/index.d.ts");
        for n in names {
            assert!(
                dts.contains(&format!("  {n}?:")) || dts.contains(&format!("  {n}:")),
                "index.d.ts lacks {n}"
            );
        }
    }
}
