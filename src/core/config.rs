//! SDK configuration: defaults, and validation errors that name the option and say what to do.

/// Every option `init` accepts, by its JavaScript name.
pub const OPTIONS: &[&str] = &[
    "endpoint",
    "key",
    "sampleRate",
    "flushIntervalMs",
    "maxBatchBytes",
    "maxBatchEvents",
    "respectDoNotTrack",
    "requireConsent",
    "allowQuery",
    "captureClicks",
    "captureText",
    "captureErrors",
    "capturePageViews",
    "capturePerformance",
    "maxErrorsPerSession",
    "maskMessages",
    "release",
    "environment",
];

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
    /// `allowQuery` ([]): query parameters kept in URLs; all others are removed.
    pub allow_query: Vec<String>,
    /// `captureClicks` (true).
    pub capture_clicks: bool,
    /// `captureText` (true): record masked visible text of clicked elements.
    pub capture_text: bool,
    /// `captureErrors` (true): uncaught errors, unhandled rejections, panics.
    pub capture_errors: bool,
    /// `capturePageViews` (true): page views, SPA routes and visible time.
    pub capture_page_views: bool,
    /// `capturePerformance` (true): web vitals, navigation timing, long tasks.
    pub capture_performance: bool,
    /// `maxErrorsPerSession` (50): distinct errors sent per session, 1..=1000; repeats are counted.
    pub max_errors_per_session: u32,
    /// `maskMessages` (true): mask e-mail-like words and numbers of 7 or more digits in error
    /// messages and in the copy of the message atop V8 stacks (see [`super::scrub::mask_message`]).
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

    /// Checks every option; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        // One `ConfigError::new` for all the checks (one call site in the wasm, not ten).
        let (option, problem) = if self.endpoint.is_empty() {
            ("endpoint", "is required: the URL of your ferrotel ingest, e.g. \"https://ingest.example.com/v1/batch\"")
        } else if !valid_endpoint(&self.endpoint) {
            ("endpoint", "must be an absolute http(s) URL such as \"https://ingest.example.com/v1/batch\" or a same-origin path such as \"/v1/batch\"")
        } else if self.key.is_empty() {
            ("key", "is required: the public write key of your project")
        } else if self.key.len() > 64
            || !self
                .key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            ("key", "must be 1-64 characters of A-Z a-z 0-9 _ -")
        } else if !(0.0..=1.0).contains(&self.sample_rate) {
            ("sampleRate", "must be a number from 0 to 1")
        } else if !(100..=600_000).contains(&self.flush_interval_ms) {
            ("flushIntervalMs", "must be from 100 to 600000")
        } else if !(20_000..=65_536).contains(&self.max_batch_bytes) {
            (
                "maxBatchBytes",
                "must be from 20000 to 65536 (browsers refuse larger beacons)",
            )
        } else if !(1..=200).contains(&self.max_batch_events) {
            ("maxBatchEvents", "must be from 1 to 200")
        } else if !(1..=1000).contains(&self.max_errors_per_session) {
            ("maxErrorsPerSession", "must be from 1 to 1000")
        } else if self
            .allow_query
            .iter()
            .any(|q| q.is_empty() || q.len() > 128)
        {
            (
                "allowQuery",
                "must list query parameter names of 1-128 characters",
            )
        } else if !valid_label(&self.release) {
            ("release", LABEL_RULE)
        } else if !valid_label(&self.environment) {
            ("environment", LABEL_RULE)
        } else {
            return Ok(());
        };
        Err(ConfigError::new(option, problem))
    }
}

const LABEL_RULE: &str = "must be at most 64 printable ASCII characters, without quotes";

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
    if let Some(path) = e.strip_prefix('/') {
        return !path.starts_with('/'); // "//host" is protocol-relative, not a path
    }
    let rest = match e
        .strip_prefix("https://")
        .or_else(|| e.strip_prefix("http://"))
    {
        Some(r) => r,
        None => return false,
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = rest.get(..host_end).unwrap_or(rest);
    !host.is_empty() && !host.contains('@') && !host.starts_with(':')
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
    fn every_field_has_an_option_name() {
        assert_eq!(OPTIONS.len(), 18);
    }
}
