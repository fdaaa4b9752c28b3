//! SDK configuration: defaults, and validation errors that name the option and say what to do.

use super::bytes::{first_is, has};
use super::json::push_u64;

/// What an option's value must be: its check and its error message both follow from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A string: an absolute `http(s)://` URL or a same-origin `/path`.
    Url,
    /// A string: a write key, 1–64 of `A-Z a-z 0-9 _ -`.
    Key,
    /// A string: empty, or up to 64 printable ASCII characters without quotes.
    Label,
    /// `true` or `false`.
    Bool,
    /// A number from `.0` to `.1`.
    Num(u32, u32),
    /// A whole number from `.0` to `.1`.
    Int(u32, u32),
    /// An array of strings of 1–128 characters, without commas.
    List,
}

/// One option `init` accepts: its JavaScript name, what its value must be (which says how it is
/// read, checked and explained when bad) and where it goes in [`Config`]. The one declaration
/// of the options: the browser writes each value into its field by it (`Config::field`, as
/// [`Config::set`] does), [`Config::validate`] checks them by it, and the README's options
/// table (names and ranges) is checked against it.
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    /// The JavaScript name.
    pub name: &'static str,
    /// What its value must be.
    pub kind: Kind,
    /// Its field's offset in [`Config`], of the type its kind is read as ([`Config::at`]).
    at: usize,
}

/// The Rust type of a [`Kind`]'s field.
macro_rules! field_type {
    (Url) => { String };
    (Key) => { String };
    (Label) => { String };
    (Bool) => { bool };
    (Num) => { f64 };
    (Int) => { u32 };
    (List) => { Vec<String> };
}

/// The Rust types of the options' fields: what [`Config::field`] hands out for which kinds (the
/// same as `field_type!`).
pub(crate) trait FieldType {
    /// Whether an option of kind `k` is stored as this type.
    fn fits(k: Kind) -> bool;
}

impl FieldType for String {
    fn fits(k: Kind) -> bool {
        matches!(k, Kind::Url | Kind::Key | Kind::Label)
    }
}

impl FieldType for bool {
    fn fits(k: Kind) -> bool {
        matches!(k, Kind::Bool)
    }
}

impl FieldType for f64 {
    fn fits(k: Kind) -> bool {
        matches!(k, Kind::Num(..))
    }
}

impl FieldType for u32 {
    fn fits(k: Kind) -> bool {
        matches!(k, Kind::Int(..))
    }
}

impl FieldType for Vec<String> {
    fn fits(k: Kind) -> bool {
        matches!(k, Kind::List)
    }
}

/// [`OPTIONS`] from one line per option, and a compile-time proof that each field has its
/// kind's type (which is what makes [`Config::at`] sound).
macro_rules! options {
    ($($field:ident $name:literal $kind:ident $(($lo:literal, $hi:literal))?,)*) => {
        /// Every option `init` accepts, in the README's order.
        pub const OPTIONS: &[Opt] = &[$(Opt {
            name: $name,
            kind: Kind::$kind $(($lo, $hi))?,
            at: std::mem::offset_of!(Config, $field),
        },)*];
        // By value: no coercion (a `Box<String>` field would not pass for a `String`).
        const _: () = { $(let _: fn(Config) -> field_type!($kind) = |c| c.$field;)* };
    };
}

options! {
    endpoint "endpoint" Url,
    key "key" Key,
    sample_rate "sampleRate" Num(0, 1),
    flush_interval_ms "flushIntervalMs" Int(100, 600_000),
    max_batch_bytes "maxBatchBytes" Int(20_000, 65_536),
    max_batch_events "maxBatchEvents" Int(1, 200),
    respect_do_not_track "respectDoNotTrack" Bool,
    require_consent "requireConsent" Bool,
    allow_query "allowQuery" List,
    capture_clicks "captureClicks" Bool,
    capture_text "captureText" Bool,
    capture_errors "captureErrors" Bool,
    capture_page_views "capturePageViews" Bool,
    capture_performance "capturePerformance" Bool,
    max_errors_per_session "maxErrorsPerSession" Int(1, 1000),
    mask_messages "maskMessages" Bool,
    release "release" Label,
    environment "environment" Label,
}

/// An option's value as read from JavaScript (`Num` for both numeric kinds, `Str` for the
/// string kinds).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// For [`Kind::Url`], [`Kind::Key`] and [`Kind::Label`].
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
    /// removed (in the browser). URLs inside error messages and stacks lose their whole query at
    /// the edge.
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
    pub problem: String,
}

impl ConfigError {
    /// An error for `option`.
    pub fn new(option: &str, problem: &str) -> Self {
        ConfigError {
            option: option.into(),
            problem: problem.into(),
        }
    }

    /// The whole message, e.g. "ferrotel.init: option `sampleRate` must be a number from 0 to 1".
    /// Built by concatenation: `fmt` would add a kilobyte to the browser build.
    pub fn message(&self) -> String {
        let mut m = String::with_capacity(64);
        m.push_str("ferrotel.init: option `");
        m.push_str(&self.option);
        m.push_str("` ");
        m.push_str(&self.problem);
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
            ..Config::DEFAULTS
        }
    }

    /// The defaults, with the two required options empty (so invalid until set).
    pub const DEFAULTS: Config = Config {
        endpoint: String::new(),
        key: String::new(),
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
    };

    /// Sets option `i` of [`OPTIONS`] from a value read by its kind; `None` (or a value of
    /// another kind) is that option's error. Ranges are checked by [`Config::validate`].
    pub fn set(&mut self, i: usize, v: Option<Value>) -> Result<(), ConfigError> {
        let o = OPTIONS.get(i).ok_or_else(|| error(i))?;
        match v {
            Some(Value::Str(s)) => self.field(o).map(|f| *f = s),
            Some(Value::Bool(b)) => self.field(o).map(|f| *f = b),
            Some(Value::Num(n)) => self.set_num(o, n),
            Some(Value::List(l)) => self.field(o).map(|f| *f = l),
            None => None,
        }
        .ok_or_else(|| o.error())
    }

    /// Sets numeric option `o` ([`Kind::Num`] or [`Kind::Int`]; `None` for another kind). A
    /// number that is not whole is out of every [`Kind::Int`] range.
    pub(crate) fn set_num(&mut self, o: &Opt, n: f64) -> Option<()> {
        match o.kind {
            Kind::Int(..) => self.field(o).map(|f| *f = whole(n)),
            _ => self.field(o).map(|f| *f = n),
        }
    }

    /// The field of option `o` if it is of type `T`.
    pub(crate) fn field<T: FieldType>(&mut self, o: &Opt) -> Option<&mut T> {
        // SAFETY: `o` is one of `OPTIONS` (only this module makes an `Opt`), whose `at` is the
        // offset of a field of `Config` of the type `field_type!` gives its kind (proven by
        // `options!` at compile time), and `T` is that type (`T::fits`).
        T::fits(o.kind)
            .then(|| unsafe { &mut *(self as *mut Self).cast::<u8>().add(o.at).cast::<T>() })
    }

    /// The field of option `o`, as `T`. Private, and every caller names `T` by `o.kind`.
    fn at<T>(&self, o: &Opt) -> &T {
        // SAFETY: as for `field`; the callers ask for the type of `o.kind`.
        unsafe { &*(self as *const Self).cast::<u8>().add(o.at).cast::<T>() }
    }

    /// Checks every option; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for o in OPTIONS {
            let ok = match o.kind {
                Kind::Url => valid_endpoint(self.at::<String>(o)),
                Kind::Key => {
                    let k = self.at::<String>(o);
                    !k.is_empty()
                        && k.len() <= 64
                        && k.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                }
                Kind::Label => valid_label(self.at::<String>(o)),
                Kind::Bool => true,
                Kind::Num(lo, hi) => {
                    let n = *self.at::<f64>(o);
                    n >= f64::from(lo) && n <= f64::from(hi)
                }
                Kind::Int(lo, hi) => (lo..=hi).contains(self.at::<u32>(o)),
                Kind::List => self
                    .at::<Vec<String>>(o)
                    .iter()
                    .all(|q| !q.is_empty() && q.len() <= 128 && !has(q, b',')),
            };
            if !ok {
                return Err(o.error());
            }
        }
        Ok(())
    }
}

/// The error of option `i` of [`OPTIONS`].
fn error(i: usize) -> ConfigError {
    match OPTIONS.get(i) {
        Some(o) => o.error(),
        None => ConfigError::new("options", "has an unknown option"),
    }
}

impl Opt {
    /// This option's error: what its kind allows ("must be a whole number from 100 to
    /// 600000").
    pub fn error(&self) -> ConfigError {
        let mut p = String::from("must be ");
        p.push_str(match self.kind {
            Kind::Url => {
                "a string: an absolute http(s) URL or a same-origin path such as \"/v1/batch\""
            }
            Kind::Key => {
                "a string of 1-64 characters of A-Z a-z 0-9 _ - (your project's public write key)"
            }
            Kind::Label => "a string of at most 64 printable ASCII characters, without quotes",
            Kind::Bool => "true or false",
            Kind::List => "an array of query parameter names of 1-128 characters, without commas",
            Kind::Num(..) => "a number from ",
            Kind::Int(..) => "a whole number from ",
        });
        if let Kind::Num(lo, hi) | Kind::Int(lo, hi) = self.kind {
            push_u64(&mut p, lo.into());
            p.push_str(" to ");
            push_u64(&mut p, hi.into());
        }
        ConfigError {
            option: self.name.into(),
            problem: p,
        }
    }
}

/// A whole number in `u32`, or `u32::MAX` (out of every range) for anything else.
fn whole(n: f64) -> u32 {
    let w = n as u32; // saturating; NaN is 0
    if f64::from(w) == n {
        w
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
    fn messages_say_what_each_kind_allows() {
        let msg = |name: &str| {
            let i = OPTIONS.iter().position(|o| o.name == name).unwrap();
            error(i).message()
        };
        assert_eq!(
            msg("sampleRate"),
            "ferrotel.init: option `sampleRate` must be a number from 0 to 1"
        );
        assert_eq!(
            msg("flushIntervalMs"),
            "ferrotel.init: option `flushIntervalMs` must be a whole number from 100 to 600000"
        );
        assert_eq!(
            msg("maxBatchBytes"),
            "ferrotel.init: option `maxBatchBytes` must be a whole number from 20000 to 65536"
        );
        assert_eq!(
            msg("captureText"),
            "ferrotel.init: option `captureText` must be true or false"
        );
        assert!(msg("endpoint").contains("http(s) URL"));
        assert!(msg("key").contains("A-Z a-z 0-9 _ -"));
        assert!(msg("release").contains("at most 64 printable ASCII characters"));
        assert!(msg("allowQuery").contains("array"));
        assert_eq!(error(OPTIONS.len()).option, "options");
    }

    #[test]
    fn every_option_is_set_by_its_kind_and_only_by_it() {
        let mut c = ok();
        for (i, o) in OPTIONS.iter().enumerate() {
            let good = match o.kind {
                Kind::Url | Kind::Key | Kind::Label => Value::Str("x".into()),
                Kind::Bool => Value::Bool(false),
                Kind::Num(lo, _) | Kind::Int(lo, _) => Value::Num(lo.into()),
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
        for bad in [1000.5, -1000.0, f64::NAN, f64::INFINITY, 4294967296.0] {
            let mut c = ok();
            c.set(3, Some(Value::Num(bad))).unwrap();
            assert_eq!(c.validate().unwrap_err().option, "flushIntervalMs");
        }
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
        // ... and the ranges of the numeric ones, as declared here.
        for o in OPTIONS {
            if let Kind::Num(lo, hi) | Kind::Int(lo, hi) = o.kind {
                let row = readme
                    .lines()
                    .find(|l| l.starts_with(&format!("| `{}`", o.name)))
                    .unwrap();
                assert!(row.contains(&format!("{lo}–{hi}")), "README: {}", o.name);
            }
        }
        let dts = include_str!("../../pkg-templates/index.d.ts");
        for n in names {
            assert!(
                dts.contains(&format!("  {n}?:")) || dts.contains(&format!("  {n}:")),
                "index.d.ts lacks {n}"
            );
        }
    }
}
