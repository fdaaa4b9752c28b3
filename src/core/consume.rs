//! The queue consumer's decisions, pure: when a message is retried and after how long, when it
//! goes to the dead-letter queue and how the reason travels with it, and which records of a
//! document still need forwarding after a redelivery. `src/edge/consume.rs` executes them.

use std::collections::BTreeSet;

/// Deliveries of a message (the queue's `attempts`, 1-based) before the consumer gives up on
/// it and dead-letters it itself, with the reason. `worker/wrangler.toml`'s `max_retries` for
/// the events queue is larger, so the platform's own dead-lettering (which loses the reason)
/// only catches a consumer that failed to dead-letter.
pub const DEAD_LETTER_AFTER: u32 = 8;

/// Deliveries of a dead letter before it is dropped (logged): the dead-letter consumer's own
/// limit. Retries are [`DEAD_LETTER_RETRY_SECONDS`] apart, so D1 has about two hours to recover.
pub const DEAD_LETTER_ATTEMPTS: u32 = 24;
/// Delay between deliveries of a dead letter that could not be stored.
pub const DEAD_LETTER_RETRY_SECONDS: u32 = 300;

/// Default base of the retry delay (`RETRY_BASE_SECONDS`).
pub const RETRY_BASE_SECONDS: u32 = 10;
/// Longest delay between deliveries of a message.
pub const MAX_RETRY_SECONDS: u32 = 900;

/// What to do with a message that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    /// Deliver it again after this many seconds.
    Retry(u32),
    /// Give up: send it to the dead-letter queue with the reason.
    DeadLetter,
}

/// The decision after delivery number `attempts` (1-based) failed, `permanent` when retrying
/// cannot help (the receiver refused it for good, or the document is corrupt). Transient
/// failures back off exponentially from `base_s` (`base_s` × 2ⁿ⁻¹, capped at
/// [`MAX_RETRY_SECONDS`]): with the default 10 s, the first seven retries span 21 minutes, so a
/// receiver or D1 outage of that long loses nothing.
pub fn after_failure(attempts: u32, permanent: bool, base_s: u32) -> AfterFailure {
    if permanent || attempts >= DEAD_LETTER_AFTER {
        return AfterFailure::DeadLetter;
    }
    let exp = attempts.saturating_sub(1).min(16);
    AfterFailure::Retry(
        base_s
            .max(1)
            .saturating_mul(1 << exp)
            .min(MAX_RETRY_SECONDS),
    )
}

const DEAD_LETTER_MAGIC: &str = "ferrotel-dead-letter";

/// A dead letter as sent to the dead-letter queue: a first line with the reason and the
/// deliveries tried, then the document as it was (OTLP JSON from our encoder escapes every
/// control character, so the document holds no newline and the text stays within the queue's
/// message limit: the reason is capped at 512 bytes).
pub fn dead_letter(reason: &str, attempts: u32, doc: &str) -> String {
    let reason = super::scrub::truncate(reason, 512);
    let mut s = String::with_capacity(DEAD_LETTER_MAGIC.len() + reason.len() + doc.len() + 16);
    s.push_str(DEAD_LETTER_MAGIC);
    s.push('\t');
    s.push_str(&attempts.to_string());
    s.push('\t');
    for c in reason.chars() {
        s.push(if c == '\n' || c == '\t' { ' ' } else { c });
    }
    s.push('\n');
    s.push_str(doc);
    s
}

/// A message on the dead-letter queue, read back: (reason, document). A message the platform
/// moved there (the consumer never dead-lettered it) is the bare document; its reason says so.
pub fn read_dead_letter(message: &str) -> (String, &str) {
    if let Some(rest) = message.strip_prefix(DEAD_LETTER_MAGIC) {
        if let Some((head, doc)) = rest.split_once('\n') {
            let mut parts = head.trim_start_matches('\t').splitn(2, '\t');
            let attempts = parts.next().unwrap_or("?");
            let reason = parts.next().unwrap_or("");
            return (format!("{reason} (after {attempts} deliveries)"), doc);
        }
    }
    (
        "retries exhausted on the queue (moved by the platform; the consumer recorded no reason)"
            .to_owned(),
        message,
    )
}

/// The document without the log records whose `event.id` is in `skip` (already forwarded on
/// an earlier delivery), or `None` when none is left. Errors if the document is not OTLP JSON.
pub fn without_records(doc: &str, skip: &BTreeSet<String>) -> Result<Option<String>, String> {
    use serde_json::Value;
    if skip.is_empty() {
        return Ok(Some(doc.to_owned()));
    }
    let mut v: Value = serde_json::from_str(doc).map_err(|e| e.to_string())?;
    let mut left = 0usize;
    let resource_logs = v
        .get_mut("resourceLogs")
        .and_then(Value::as_array_mut)
        .ok_or("no resourceLogs")?;
    for rl in resource_logs.iter_mut() {
        let Some(scopes) = rl.get_mut("scopeLogs").and_then(Value::as_array_mut) else {
            continue;
        };
        for sl in scopes.iter_mut() {
            let Some(records) = sl.get_mut("logRecords").and_then(Value::as_array_mut) else {
                continue;
            };
            records.retain(|r| {
                let id = r
                    .get("attributes")
                    .and_then(Value::as_array)
                    .and_then(|a| {
                        a.iter()
                            .find(|kv| kv.get("key").and_then(Value::as_str) == Some("event.id"))
                    })
                    .and_then(|kv| kv.pointer("/value/stringValue"))
                    .and_then(Value::as_str);
                !id.is_some_and(|id| skip.contains(id))
            });
            left += records.len();
        }
    }
    Ok((left > 0).then(|| v.to_string()))
}

/// Dead letters are kept this many days.
pub const DEAD_LETTER_DAYS: u64 = 90;
/// Rows the retention job deletes per statement (D1 statements are bounded in time).
pub const DELETE_CHUNK: u32 = 5_000;

/// What the retention job (the cron trigger) deletes, at `now_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    /// Events whose time is before this (ms): older than `RETENTION_DAYS`.
    pub events_before_ms: u64,
    /// Dead letters received before this (ms): older than [`DEAD_LETTER_DAYS`].
    pub dead_letters_before_ms: u64,
    /// Salts and quota counts of days before this (days since the epoch): only today's and
    /// yesterday's are kept, so a day's salt is gone at most 48 hours after that day began
    /// (plus the time to the next cron run).
    pub days_before: u64,
    /// Error marks of sessions (`error_sessions`) made before this (ms): older than
    /// [`crate::core::rules::ERROR_TTL_MS`], as long as an isolate remembers one.
    pub error_sessions_before_ms: u64,
}

/// The cutoffs for a retention of `retention_days`.
pub fn cutoffs(now_ms: u64, retention_days: u32) -> Cutoffs {
    const DAY: u64 = 86_400_000;
    Cutoffs {
        events_before_ms: now_ms.saturating_sub(u64::from(retention_days) * DAY),
        dead_letters_before_ms: now_ms.saturating_sub(DEAD_LETTER_DAYS * DAY),
        days_before: (now_ms / DAY).saturating_sub(1),
        error_sessions_before_ms: now_ms.saturating_sub(super::rules::ERROR_TTL_MS),
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// The platform's dead-lettering loses the reason, so wrangler.toml must let the consumer
    /// reach [`DEAD_LETTER_AFTER`] first, and the dead-letter queue must allow
    /// [`DEAD_LETTER_ATTEMPTS`] deliveries.
    #[test]
    fn wrangler_toml_retries_leave_dead_lettering_to_the_consumer() {
        let toml = include_str!("../../worker/wrangler.toml");
        let max_retries = |queue: &str| -> u32 {
            let at = toml
                .find(&format!("queue = \"{queue}\"\nmax_batch_size"))
                .unwrap_or_else(|| panic!("a consumer of {queue} in wrangler.toml"));
            let rest = &toml[at..];
            let line = rest
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .find(|l| l.starts_with("max_retries"))
                .unwrap_or_else(|| panic!("max_retries for {queue}"));
            line.split('=').nth(1).unwrap().trim().parse().unwrap()
        };
        assert!(max_retries("ferrotel-events") + 1 > DEAD_LETTER_AFTER);
        assert!(max_retries("ferrotel-dlq") + 1 >= DEAD_LETTER_ATTEMPTS);
    }

    #[test]
    fn retention_cutoffs() {
        let day = 86_400_000u64;
        let now = 20_000 * day + 3_600_000; // 01:00 UTC on day 20000
        let c = cutoffs(now, 30);
        assert_eq!(c.events_before_ms, now - 30 * day);
        assert_eq!(c.dead_letters_before_ms, now - 90 * day);
        assert_eq!(c.days_before, 19_999, "today's and yesterday's salts stay");
        assert_eq!(c.error_sessions_before_ms, now - day);
        assert_eq!(cutoffs(5, 30).events_before_ms, 0);
    }

    #[test]
    fn transient_failures_back_off_then_dead_letter_and_permanent_ones_go_at_once() {
        let delays: Vec<_> = (1..DEAD_LETTER_AFTER)
            .map(|a| match after_failure(a, false, RETRY_BASE_SECONDS) {
                AfterFailure::Retry(s) => s,
                AfterFailure::DeadLetter => panic!("dead-lettered at {a}"),
            })
            .collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 320, 640]);
        assert!(
            delays.iter().sum::<u32>() > 20 * 60,
            "a 20-minute outage is survived"
        );
        assert_eq!(
            after_failure(DEAD_LETTER_AFTER, false, 10),
            AfterFailure::DeadLetter
        );
        assert_eq!(after_failure(1, true, 10), AfterFailure::DeadLetter);
        assert_eq!(after_failure(7, false, 1000), AfterFailure::Retry(900));
        assert_eq!(after_failure(1, false, 0), AfterFailure::Retry(1));
    }

    #[test]
    fn a_dead_letter_keeps_its_reason_and_document() {
        let doc = r#"{"resourceLogs":[]}"#;
        let m = dead_letter("OTLP receiver answered 400\nbad\tthing", 3, doc);
        assert_eq!(m.lines().count(), 2);
        let (reason, back) = read_dead_letter(&m);
        assert_eq!(back, doc);
        assert_eq!(
            reason,
            "OTLP receiver answered 400 bad thing (after 3 deliveries)"
        );
        let (reason, back) = read_dead_letter(doc);
        assert_eq!(back, doc);
        assert!(reason.contains("moved by the platform"));
        let long = dead_letter(&"x".repeat(10_000), 1, doc);
        assert!(long.len() < 600 + doc.len());
    }

    #[test]
    fn records_already_forwarded_are_left_out() {
        let rec = |id: &str| {
            format!(
                r#"{{"timeUnixNano":"1","attributes":[{{"key":"event.id","value":{{"stringValue":"{id}"}}}}]}}"#
            )
        };
        let doc = format!(
            r#"{{"resourceLogs":[{{"resource":{{}},"scopeLogs":[{{"logRecords":[{},{},{}]}}]}}]}}"#,
            rec("a"),
            rec("b"),
            rec("c")
        );
        let skip: BTreeSet<String> = ["a".to_owned(), "c".to_owned()].into();
        let left = without_records(&doc, &skip).unwrap().unwrap();
        assert!(left.contains("\"b\"") && !left.contains("\"a\"") && !left.contains("\"c\""));
        let all: BTreeSet<String> = ["a", "b", "c"].map(str::to_owned).into();
        assert_eq!(without_records(&doc, &all).unwrap(), None);
        assert_eq!(
            without_records(&doc, &BTreeSet::new()).unwrap().as_deref(),
            Some(doc.as_str())
        );
        assert!(without_records("nope", &skip).is_err());
    }
}
