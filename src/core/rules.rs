//! Sampling rules that change without a redeploy: parsed and validated from the body of
//! `PUT /v1/sampling-rules`, kept in D1, matched against each event at ingest.
//!
//! A rule names conditions (event types, a route pattern on the URL path, a release pattern)
//! and a rate; the first rule whose conditions all hold decides the event (list order is
//! precedence). The decision is the session sampler's ([`Sampler`]): a session falls at a fixed
//! point in [0, 1) by the hash of its id, so every event of a session under the same rule is
//! kept or dropped together, and a session kept at one rate is kept at every higher rate.
//! Errors are always kept; no rule applies to them. With `keep_sessions_with_error`, a rule
//! also keeps the events of sessions outside its sample from the batch holding their first
//! error onwards (see [`ErrorSessions`]): what was dropped before cannot be brought back.
//! No rule matching: the static `SAMPLE_RATES` decide, as before.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::event::EventKind;
use super::sample::Sampler;

/// Most rules in a set.
pub const MAX_RULES: usize = 50;
/// Longest rule id, bytes.
pub const MAX_ID_BYTES: usize = 64;
/// Longest route pattern, bytes.
pub const MAX_ROUTE_BYTES: usize = 256;
/// Longest release pattern, bytes (a release itself is at most 64).
pub const MAX_RELEASE_BYTES: usize = 64;
/// Largest `PUT` body, bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The OTLP attribute naming the rule that decided an event (absent: `SAMPLE_RATES` decided).
pub const RULE_ATTRIBUTE: &str = "ferrotel.sample_rule";
/// The OTLP attribute marking an event kept only because its session had an error (outside
/// its rule's sample: leave it out when extrapolating with `ferrotel.sample_rate`).
pub const ERROR_SESSION_ATTRIBUTE: &str = "ferrotel.sample_error_session";

/// One rule as sent and stored (`{"id", "rate", "types"?, "route"?, "release"?,
/// "keep_sessions_with_error"?}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique name, recorded on every event it decides (`ferrotel.sample_rule`).
    pub id: String,
    /// Fraction of sessions kept, 0 to 1.
    pub rate: f64,
    /// Event types it applies to (wire names; not `error`); absent: every type but `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<String>>,
    /// URL path pattern (see [`PathPattern`]); absent: any path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Release pattern (one `*` at most); absent: any release, or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Keep sessions outside the sample from their first error on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_sessions_with_error: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    rules: Vec<RuleSpec>,
}

/// A rule ready to match.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// As sent.
    pub spec: RuleSpec,
    /// The [`EventKind::TYPES`] it applies to; empty: all but `error`.
    types: Vec<&'static str>,
    route: Option<PathPattern>,
    release: Option<Glob>,
}

/// A validated set of rules, in precedence order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

/// Why a rule set was refused: the field (`rules[2].rate`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// Where.
    pub field: String,
    /// What is wrong, for a person.
    pub reason: String,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

fn err(field: impl Into<String>, reason: impl Into<String>) -> RuleError {
    RuleError {
        field: field.into(),
        reason: reason.into(),
    }
}

impl Rules {
    /// Parses and validates `{"rules": [...]}` (the `PUT` body, and what D1 keeps).
    pub fn parse(body: &[u8]) -> Result<Rules, RuleError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(err("body", format!("exceeds {MAX_BODY_BYTES} bytes")));
        }
        let body: Body = serde_json::from_slice(body).map_err(|e| {
            err(
                "body",
                format!("must be {{\"rules\": [{{\"id\", \"rate\", \"types\"?, \"route\"?, \"release\"?, \"keep_sessions_with_error\"?}}, ...]}}: {e}"),
            )
        })?;
        Rules::from_specs(body.rules)
    }

    /// Validates rules in precedence order.
    pub fn from_specs(specs: Vec<RuleSpec>) -> Result<Rules, RuleError> {
        if specs.len() > MAX_RULES {
            return Err(err(
                "rules",
                format!("{} rules; at most {MAX_RULES}", specs.len()),
            ));
        }
        let mut rules: Vec<Rule> = Vec::with_capacity(specs.len());
        for (i, spec) in specs.into_iter().enumerate() {
            let at = |f: &str| format!("rules[{i}].{f}");
            let id_ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':');
            if spec.id.is_empty() || spec.id.len() > MAX_ID_BYTES || !spec.id.bytes().all(id_ok) {
                return Err(err(
                    at("id"),
                    format!("must be 1-{MAX_ID_BYTES} characters of A-Z a-z 0-9 _ - . :"),
                ));
            }
            if rules.iter().any(|r| r.spec.id == spec.id) {
                return Err(err(
                    at("id"),
                    format!("{:?} is used by an earlier rule", spec.id),
                ));
            }
            if !(0.0..=1.0).contains(&spec.rate) {
                return Err(err(at("rate"), "must be a number from 0 to 1"));
            }
            let mut types = Vec::new();
            if let Some(list) = &spec.types {
                if list.is_empty() {
                    return Err(err(
                        at("types"),
                        "must list at least one event type (leave it out for all)",
                    ));
                }
                for t in list {
                    if t == "error" {
                        return Err(err(
                            at("types"),
                            "errors are always kept: no rule applies to them",
                        ));
                    }
                    let stored = super::nav::stored_types();
                    let Some(known) = stored.iter().find(|k| **k == t) else {
                        return Err(err(
                            at("types"),
                            format!("{t:?} is not an event type (one of {})", stored.join(", ")),
                        ));
                    };
                    if !types.contains(known) {
                        types.push(*known);
                    }
                }
            }
            let route = match &spec.route {
                None => None,
                Some(p) => Some(PathPattern::parse(p).map_err(|r| err(at("route"), r))?),
            };
            let release = match &spec.release {
                None => None,
                Some(p) => {
                    Some(Glob::parse(p, MAX_RELEASE_BYTES).map_err(|r| err(at("release"), r))?)
                }
            };
            let mut spec = spec;
            if spec.types.is_some() {
                // Stored without repeats.
                spec.types = Some(types.iter().map(|t| (*t).to_owned()).collect());
            }
            rules.push(Rule {
                spec,
                types,
                route,
                release,
            });
        }
        Ok(Rules { rules })
    }

    /// Whether there are no rules (the static `SAMPLE_RATES` decide everything).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, in precedence order.
    pub fn rules(&self) -> impl Iterator<Item = &RuleSpec> {
        self.rules.iter().map(|r| &r.spec)
    }

    /// `{"rules":[...]}`: what `GET` answers and D1 keeps (parses back to the same rules).
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Out<'a> {
            rules: Vec<&'a RuleSpec>,
        }
        serde_json::to_string(&Out {
            rules: self.rules().collect(),
        })
        .unwrap_or_else(|_| "{\"rules\":[]}".to_owned())
    }

    /// The first rule whose conditions all hold for an event of type `kind` (wire name) at
    /// `url` in a batch of `release` (empty: none); errors never match.
    pub fn first_match(&self, kind: &str, url: &str, release: &str) -> Option<&Rule> {
        if kind == "error" {
            return None;
        }
        let path = super::ingest::path_of(url);
        self.rules.iter().find(|r| {
            (r.types.is_empty() || r.types.contains(&kind))
                && r.route.as_ref().is_none_or(|p| p.matches(path))
                && r.release
                    .as_ref()
                    .is_none_or(|g| !release.is_empty() && g.matches(release))
        })
    }
}

impl Rule {
    /// The rule's id.
    pub fn id(&self) -> &str {
        &self.spec.id
    }
}

/// What sampling decided for one event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict<'r> {
    /// Kept.
    pub keep: bool,
    /// The rate in force (1 for errors).
    pub rate: f64,
    /// The rule that decided, if one did.
    pub rule: Option<&'r str>,
    /// Kept only because the session had an error (outside the rule's sample).
    pub error_session: bool,
}

/// Whether the session's earlier error is known: from this batch, from memory or D1, or
/// not known yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// The session had an error (in this batch or before).
    Yes,
    /// It had none, as far as could be known.
    No,
    /// Not known: the caller may look it up and decide again.
    Unknown,
}

/// The decision depends on whether the session had an error, and that is not known: look it
/// up, then decide again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeedLookup;

/// The sampling decision for one event: the first matching rule's, else the static rate
/// (`static_rate`, from `SAMPLE_RATES`). [`NeedLookup`] when the decision depends on whether
/// the session had an error and that is [`SessionError::Unknown`].
pub fn decide<'r>(
    rules: Option<&'r Rules>,
    kind: &EventKind,
    url: &str,
    release: &str,
    session: &str,
    static_rate: f64,
    errored: SessionError,
) -> Result<Verdict<'r>, NeedLookup> {
    if kind.is_error() {
        return Ok(Verdict {
            keep: true,
            rate: 1.0,
            rule: None,
            error_session: false,
        });
    }
    let Some(rule) = rules.and_then(|r| r.first_match(kind.type_name(), url, release)) else {
        return Ok(Verdict {
            keep: Sampler::new(static_rate).keep_session(session),
            rate: static_rate,
            rule: None,
            error_session: false,
        });
    };
    let rate = rule.spec.rate;
    let sampled = Sampler::new(rate).keep_session(session);
    let by_error = !sampled && rule.spec.keep_sessions_with_error;
    let error_session = match (by_error, errored) {
        (false, _) | (true, SessionError::No) => false,
        (true, SessionError::Yes) => true,
        (true, SessionError::Unknown) => return Err(NeedLookup),
    };
    Ok(Verdict {
        keep: sampled || error_session,
        rate,
        rule: Some(rule.id()),
        error_session,
    })
}

/// A URL path pattern: segments separated by `/`; `*` within a segment matches any run of
/// characters but `/` (at most one per segment); a segment that is exactly `**` matches any
/// number of segments, none included (at most one per pattern). Everything else is literal
/// and case-sensitive; the query and fragment are never part of the path. Matching is linear
/// in the path's length, whatever the pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct PathPattern {
    /// Segments before `**` (all of them when there is none).
    head: Vec<Glob>,
    /// Segments after `**`, if there is one.
    tail: Option<Vec<Glob>>,
}

impl PathPattern {
    /// Parses a pattern, or says what is wrong with it.
    pub fn parse(p: &str) -> Result<PathPattern, String> {
        if p.len() > MAX_ROUTE_BYTES {
            return Err(format!("must be at most {MAX_ROUTE_BYTES} bytes"));
        }
        let Some(rest) = p.strip_prefix('/') else {
            return Err(
                "must be a URL path starting with /, e.g. /checkout/** or /product/*".into(),
            );
        };
        if let Some(c) = p
            .chars()
            .find(|c| c.is_control() || c.is_whitespace() || matches!(c, '?' | '#'))
        {
            return Err(format!(
                "must not contain {c:?}: it matches the path only (no query, fragment or spaces)"
            ));
        }
        let mut head = Vec::new();
        let mut tail: Option<Vec<Glob>> = None;
        for seg in rest.split('/') {
            if seg == "**" {
                if tail.is_some() {
                    return Err("may contain ** (any number of segments) only once".into());
                }
                tail = Some(Vec::new());
                continue;
            }
            if seg.contains("**") {
                return Err("** must be a whole segment (/**/ or a trailing /**)".into());
            }
            let g = if seg.is_empty() {
                // `/` itself, or a trailing or doubled slash: an empty segment, literally.
                Glob {
                    prefix: String::new(),
                    suffix: None,
                }
            } else {
                Glob::parse(seg, MAX_ROUTE_BYTES).map_err(|r| format!("segment {seg:?}: {r}"))?
            };
            match &mut tail {
                Some(t) => t.push(g),
                None => head.push(g),
            }
        }
        Ok(PathPattern { head, tail })
    }

    /// Whether `path` (starting with `/`) matches. No allocation; each byte is looked at a
    /// bounded number of times.
    pub fn matches(&self, path: &str) -> bool {
        let Some(mut rest) = path.strip_prefix('/') else {
            return false;
        };
        // `rest` holds the segments not yet matched (at least one, maybe empty) until `done`.
        let mut done = false;
        for g in &self.head {
            if done {
                return false;
            }
            let seg = match rest.find('/') {
                Some(i) => {
                    let seg = &rest[..i];
                    rest = &rest[i + 1..];
                    seg
                }
                None => {
                    done = true;
                    rest
                }
            };
            if !g.matches(seg) {
                return false;
            }
        }
        let Some(tail) = &self.tail else {
            return done;
        };
        if done {
            return tail.is_empty();
        }
        // `**` takes whatever lies between the head and the last `tail.len()` segments.
        let mut left = Some(rest);
        for g in tail.iter().rev() {
            let Some(r) = left else {
                return false;
            };
            let seg = match r.rfind('/') {
                Some(i) => {
                    left = Some(&r[..i]);
                    &r[i + 1..]
                }
                None => {
                    left = None;
                    r
                }
            };
            if !g.matches(seg) {
                return false;
            }
        }
        true
    }
}

/// A text pattern with at most one `*` (any run of characters, none included).
#[derive(Debug, Clone, PartialEq)]
pub struct Glob {
    prefix: String,
    /// The text after `*`, when there is one.
    suffix: Option<String>,
}

impl Glob {
    /// Parses a pattern of at most `max` bytes.
    pub fn parse(p: &str, max: usize) -> Result<Glob, String> {
        if p.is_empty() {
            return Err("must not be empty".into());
        }
        if p.len() > max {
            return Err(format!("must be at most {max} bytes"));
        }
        if p.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        match p.split_once('*') {
            None => Ok(Glob {
                prefix: p.to_owned(),
                suffix: None,
            }),
            Some((_, s)) if s.contains('*') => Err("may contain * only once".into()),
            Some((pre, s)) => Ok(Glob {
                prefix: pre.to_owned(),
                suffix: Some(s.to_owned()),
            }),
        }
    }

    /// Whether `s` matches.
    pub fn matches(&self, s: &str) -> bool {
        match &self.suffix {
            None => s == self.prefix,
            Some(suf) => {
                s.len() >= self.prefix.len() + suf.len()
                    && s.starts_with(&self.prefix)
                    && s.ends_with(suf.as_str())
            }
        }
    }
}

/// How long an isolate remembers that a session had no error (then it asks D1 again).
pub const NO_ERROR_TTL_MS: u64 = 10_000;
/// How long an isolate remembers that a session had an error (marks in D1 are kept as long).
pub const ERROR_TTL_MS: u64 = 24 * 3_600_000;
/// Most sessions an isolate remembers.
pub const MAX_REMEMBERED: usize = 10_000;

/// Sessions known to have had an error, or not, as of when: the isolate's memory in front of
/// D1's `error_sessions` marks (written by the queue consumer for every stored error).
#[derive(Debug, Default, Clone)]
pub struct ErrorSessions {
    known: HashMap<String, (bool, u64)>,
}

impl ErrorSessions {
    /// What is known about `session` at `now`.
    pub fn get(&self, session: &str, now: u64) -> SessionError {
        match self.known.get(session) {
            Some(&(true, at)) if now.saturating_sub(at) < ERROR_TTL_MS => SessionError::Yes,
            Some(&(false, at)) if now.saturating_sub(at) < NO_ERROR_TTL_MS => SessionError::No,
            _ => SessionError::Unknown,
        }
    }

    /// Remembers that `session` had an error (`errored`) or none, as of `now`. A known error
    /// is not forgotten by a later "none" (a D1 read racing the consumer's mark).
    pub fn set(&mut self, session: &str, errored: bool, now: u64) {
        if self.known.len() >= MAX_REMEMBERED && !self.known.contains_key(session) {
            self.known.retain(|_, &mut (e, at)| {
                now.saturating_sub(at) < if e { ERROR_TTL_MS } else { NO_ERROR_TTL_MS }
            });
            if self.known.len() >= MAX_REMEMBERED {
                // Full of live entries: forget the "no error" ones, then everything (a lookup
                // in D1 answers again).
                self.known.retain(|_, &mut (e, _)| e);
                if self.known.len() >= MAX_REMEMBERED {
                    self.known.clear();
                }
            }
        }
        let e = self
            .known
            .entry(session.to_owned())
            .or_insert((errored, now));
        if errored || !(e.0 && now.saturating_sub(e.1) < ERROR_TTL_MS) {
            *e = (errored, now);
        }
    }

    /// How many sessions are remembered.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::ids::{hex64, IdGen};

    fn rules(json: &str) -> Result<Rules, RuleError> {
        Rules::parse(json.as_bytes())
    }

    fn click() -> EventKind {
        EventKind::Click {
            selector: String::new(),
            tag: String::new(),
            text: String::new(),
            x: 0,
            y: 0,
        }
    }

    fn page_view() -> EventKind {
        EventKind::PageView {
            referrer: String::new(),
            cause: crate::core::schema::ViewCause::Load,
        }
    }

    fn error() -> EventKind {
        EventKind::Error {
            source: crate::core::schema::ErrorSource::Error,
            kind: String::new(),
            message: "m".into(),
            stack: String::new(),
            fingerprint: 0,
            count: 1,
        }
    }

    fn session(g: &mut IdGen) -> String {
        hex64(g.next_u64()) + &hex64(g.next_u64())
    }

    #[test]
    fn path_patterns() {
        for (p, yes, no) in [
            ("/", &["/"][..], &["/a", ""][..]),
            (
                "/checkout",
                &["/checkout"],
                &["/checkout/", "/checkouts", "/x/checkout"],
            ),
            (
                "/product/*",
                &["/product/1", "/product/"],
                &["/product", "/product/1/2"],
            ),
            (
                "/product/*/reviews",
                &["/product/9/reviews"],
                &["/product/9/8/reviews"],
            ),
            (
                "/blog/**",
                &["/blog", "/blog/", "/blog/a/b/c"],
                &["/blogs/a", "/"],
            ),
            (
                "/**/*.html",
                &["/a.html", "/x/y/a.html"],
                &["/x/a.htm", "/x/a.html/b"],
            ),
            (
                "/api/v*/**",
                &["/api/v1", "/api/v2/users/3"],
                &["/api/x1/users"],
            ),
            ("/**", &["/", "/anything/at/all"], &[""]),
            ("/a/**/b/c", &["/a/b/c", "/a/x/y/b/c"], &["/a/b", "/a/c/b"]),
        ] {
            let pat = PathPattern::parse(p).unwrap();
            for y in yes {
                assert!(pat.matches(y), "{p} should match {y:?}");
            }
            for n in no {
                assert!(!pat.matches(n), "{p} should not match {n:?}");
            }
        }
        for bad in [
            "checkout",
            "/a?b",
            "/a#b",
            "/a b",
            "/**/x/**",
            "/a**",
            "/a/*b*",
            "/a\u{1}",
            &format!("/{}", "a".repeat(300)),
        ] {
            assert!(
                PathPattern::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn matching_is_linear_on_hostile_paths() {
        // The longest URL the wire allows, against a pattern that nearly matches everywhere.
        let pat = PathPattern::parse("/**/a*a/b").unwrap();
        let path = "/".to_owned() + &"a/".repeat(1023);
        let t = std::time::Instant::now();
        for _ in 0..1000 {
            assert!(!pat.matches(&path));
        }
        // Not a timing assertion: printed for the README's figure.
        eprintln!("1000 matches of a 2 KB path: {:?}", t.elapsed());
    }

    #[test]
    fn validation_names_the_field_and_the_reason() {
        let bad = |json: &str, field: &str, needle: &str| {
            let e = rules(json).unwrap_err();
            assert_eq!(e.field, field, "{json}: {e}");
            assert!(e.reason.contains(needle), "{json}: {e}");
        };
        bad("nope", "body", "must be");
        bad(r#"{"rules":[],"x":1}"#, "body", "unknown field");
        bad(
            r#"{"rules":[{"id":"a","rate":1,"typo":2}]}"#,
            "body",
            "unknown field `typo`",
        );
        bad(r#"{"rules":[{"id":"a"}]}"#, "body", "missing field `rate`");
        bad(
            r#"{"rules":[{"id":"a","rate":1.5}]}"#,
            "rules[0].rate",
            "0 to 1",
        );
        bad(
            r#"{"rules":[{"id":"a","rate":-0.1}]}"#,
            "rules[0].rate",
            "0 to 1",
        );
        bad(
            r#"{"rules":[{"id":"a","rate":"1"}]}"#,
            "body",
            "invalid type",
        );
        bad(r#"{"rules":[{"id":"","rate":1}]}"#, "rules[0].id", "1-64");
        bad(
            r#"{"rules":[{"id":"a b","rate":1}]}"#,
            "rules[0].id",
            "1-64",
        );
        bad(
            r#"{"rules":[{"id":"a","rate":1},{"id":"a","rate":0}]}"#,
            "rules[1].id",
            "earlier rule",
        );
        bad(
            r#"{"rules":[{"id":"a","rate":1,"types":["clicks"]}]}"#,
            "rules[0].types",
            "not an event type",
        );
        bad(
            r#"{"rules":[{"id":"a","rate":1,"types":[]}]}"#,
            "rules[0].types",
            "at least one",
        );
        bad(
            r#"{"rules":[{"id":"a","rate":1,"types":["error"]}]}"#,
            "rules[0].types",
            "always kept",
        );
        bad(
            r#"{"rules":[{"id":"a","rate":1,"route":"checkout"}]}"#,
            "rules[0].route",
            "starting with /",
        );
        bad(
            r#"{"rules":[{"id":"a","rate":1,"route":"/a/**/b/**"}]}"#,
            "rules[0].route",
            "only once",
        );
        bad(
            r#"{"rules":[{"id":"a","rate":1,"release":"1.*.*"}]}"#,
            "rules[0].release",
            "only once",
        );
        bad(
            r#"{"rules":[{"id":"a","rate":1,"release":""}]}"#,
            "rules[0].release",
            "empty",
        );
        let many: Vec<String> = (0..=MAX_RULES)
            .map(|i| format!(r#"{{"id":"r{i}","rate":1}}"#))
            .collect();
        bad(
            &format!(r#"{{"rules":[{}]}}"#, many.join(",")),
            "rules",
            "at most 50",
        );
        let big = format!(r#"{{"rules":[],"pad":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        bad(&big, "body", "exceeds");
        // Valid, and stored text parses back to the same rules.
        let ok = rules(
            r#"{"rules":[{"id":"checkout","rate":1,"route":"/checkout/**"},{"id":"clicks.v2","rate":0.1,"types":["click","click"],"release":"2.*","keep_sessions_with_error":true}]}"#,
        )
        .unwrap();
        assert_eq!(rules(&ok.to_json()).unwrap(), ok);
        assert!(
            !ok.to_json().contains("types\":[\"click\",\"click"),
            "{}",
            ok.to_json()
        );
        assert!(rules(r#"{"rules":[]}"#).unwrap().is_empty());
    }

    #[test]
    fn first_match_wins_and_every_condition_must_hold() {
        let r = rules(
            r#"{"rules":[
                {"id":"checkout","rate":1,"route":"/checkout/**"},
                {"id":"beta-clicks","rate":0.5,"types":["click"],"release":"2.0-beta*"},
                {"id":"clicks","rate":0.1,"types":["click"]},
                {"id":"rest","rate":0.2}
            ]}"#,
        )
        .unwrap();
        let id = |kind: &str, url: &str, rel: &str| r.first_match(kind, url, rel).map(Rule::id);
        assert_eq!(
            id("click", "https://s.test/checkout/pay?x=1", "2.0-beta3"),
            Some("checkout")
        );
        assert_eq!(
            id("click", "https://s.test/", "2.0-beta3"),
            Some("beta-clicks")
        );
        assert_eq!(id("click", "https://s.test/", "2.0"), Some("clicks"));
        assert_eq!(
            id("click", "https://s.test/", ""),
            Some("clicks"),
            "no release: a release rule does not apply"
        );
        assert_eq!(id("page_view", "https://s.test/", "2.0"), Some("rest"));
        assert_eq!(
            id("page_view", "https://s.test/checkout", ""),
            Some("checkout")
        );
        assert_eq!(
            id("error", "https://s.test/checkout", ""),
            None,
            "errors: no rule"
        );
        let none = rules(r#"{"rules":[{"id":"c","rate":0,"types":["click"]}]}"#).unwrap();
        assert!(none.first_match("page_view", "/", "").is_none());
    }

    #[test]
    fn decisions_use_the_session_sampler_and_fall_back_to_the_static_rate() {
        let r = rules(r#"{"rules":[{"id":"clicks","rate":0.3,"types":["click"]}]}"#).unwrap();
        let mut g = IdGen::new(3);
        for _ in 0..2000 {
            let s = session(&mut g);
            let v = decide(Some(&r), &click(), "/", "", &s, 1.0, SessionError::No).unwrap();
            assert_eq!(v.keep, Sampler::new(0.3).keep_session(&s));
            assert_eq!(
                (v.rate, v.rule, v.error_session),
                (0.3, Some("clicks"), false)
            );
            // Same session, same rule, another event and URL: the same decision.
            let again =
                decide(Some(&r), &click(), "/other", "9", &s, 1.0, SessionError::No).unwrap();
            assert_eq!(again.keep, v.keep);
            // Not matched: the static rate decides, with no rule recorded.
            let pv = decide(Some(&r), &page_view(), "/", "", &s, 0.6, SessionError::No).unwrap();
            assert_eq!(
                (pv.keep, pv.rate, pv.rule),
                (Sampler::new(0.6).keep_session(&s), 0.6, None)
            );
            let e = decide(Some(&r), &error(), "/", "", &s, 0.0, SessionError::Unknown).unwrap();
            assert_eq!((e.keep, e.rate, e.rule), (true, 1.0, None));
        }
    }

    #[test]
    fn sessions_with_an_error_are_kept_only_with_the_flag_and_unknown_asks() {
        let keep =
            rules(r#"{"rules":[{"id":"k","rate":0,"keep_sessions_with_error":true}]}"#).unwrap();
        let plain = rules(r#"{"rules":[{"id":"p","rate":0}]}"#).unwrap();
        fn d(r: &Rules, e: SessionError) -> Result<Verdict<'_>, NeedLookup> {
            let s = "0123456789abcdef0123456789abcdef";
            decide(Some(r), &click(), "/", "", s, 1.0, e)
        }
        assert_eq!(d(&keep, SessionError::Unknown), Err(NeedLookup));
        assert!(!d(&keep, SessionError::No).unwrap().keep);
        let v = d(&keep, SessionError::Yes).unwrap();
        assert_eq!((v.keep, v.error_session, v.rule), (true, true, Some("k")));
        for e in [SessionError::Unknown, SessionError::Yes] {
            assert!(
                !d(&plain, e).unwrap().keep,
                "no flag: never asks, never keeps"
            );
        }
        // Inside the sample nothing needs knowing.
        let all =
            rules(r#"{"rules":[{"id":"k","rate":1,"keep_sessions_with_error":true}]}"#).unwrap();
        let v = d(&all, SessionError::Unknown).unwrap();
        assert_eq!((v.keep, v.error_session), (true, false));
    }

    #[test]
    fn the_kept_fraction_over_100000_sessions_is_within_one_percent_of_the_rate() {
        let mut g = IdGen::new(2024);
        let sessions: Vec<String> = (0..100_000).map(|_| session(&mut g)).collect();
        for rate in [0.01, 0.1, 0.25, 0.5, 0.9] {
            let r = Rules::from_specs(vec![RuleSpec {
                id: "r".into(),
                rate,
                types: None,
                route: None,
                release: None,
                keep_sessions_with_error: false,
            }])
            .unwrap();
            let kept = sessions
                .iter()
                .filter(|s| {
                    decide(Some(&r), &click(), "/", "", s, 1.0, SessionError::No)
                        .unwrap()
                        .keep
                })
                .count();
            let fraction = kept as f64 / sessions.len() as f64;
            assert!(
                (fraction - rate).abs() <= 0.01,
                "kept {fraction} at rate {rate}"
            );
        }
    }

    #[test]
    fn error_memory_expires_and_stays_bounded() {
        let mut m = ErrorSessions::default();
        m.set("a", true, 1_000);
        m.set("b", false, 1_000);
        assert_eq!(m.get("a", 2_000), SessionError::Yes);
        assert_eq!(m.get("b", 2_000), SessionError::No);
        assert_eq!(m.get("b", 1_000 + NO_ERROR_TTL_MS), SessionError::Unknown);
        assert_eq!(m.get("c", 2_000), SessionError::Unknown);
        m.set("a", false, 3_000);
        assert_eq!(
            m.get("a", 3_000),
            SessionError::Yes,
            "a known error is not forgotten"
        );
        assert_eq!(m.get("a", 1_000 + ERROR_TTL_MS), SessionError::Unknown);
        for i in 0..3 * MAX_REMEMBERED {
            m.set(&i.to_string(), i % 2 == 0, 5_000);
        }
        assert!(m.len() <= MAX_REMEMBERED);
    }
}
