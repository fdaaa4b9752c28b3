//! The retry queue for batches that could not be delivered, as pure functions over its stored
//! text, so the browser only reads and writes one storage item and the logic is tested here.
//!
//! The text is one line per batch: `<id hex16>|<attempts>|<next_at ms>|<body>`. A body is
//! JSON from our encoder, which escapes every control character, so it never holds a newline.

use super::bytes::{cut, first_is, has, parts};
use super::ids::{parse_hex64, parse_u64, push_hex64};
use super::json::push_u64;

/// Delivery attempts before a batch is given up.
pub const MAX_ATTEMPTS: u32 = 8;
/// Batches kept at most; the oldest are dropped first.
pub const MAX_BATCHES: usize = 32;
/// Bytes of stored text at most (well inside the usual 5 MiB origin quota).
pub const MAX_BYTES: usize = 1024 * 1024;

/// Delay before retry number `attempt` (1-based): 5 s, 20 s, 80 s, ... capped at one hour.
pub fn retry_delay_ms(attempt: u32) -> u64 {
    let exp = attempt.saturating_sub(1).min(10);
    (5_000u64 << (2 * exp)).min(3_600_000)
}

/// Whether a response status means "stop retrying": delivered (2xx), or refused for good
/// (4xx other than 408/429, which a retry cannot fix). Network errors (0), 408, 429 and 5xx
/// are retried.
pub fn is_final_status(status: u32) -> bool {
    (200..300).contains(&status) || ((400..500).contains(&status) && status != 408 && status != 429)
}

/// One stored batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch<'a> {
    /// Identifies the batch for removal once delivered.
    pub id: u64,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// When to try next, ms since the epoch.
    pub next_at: u64,
    /// The request body, as sent.
    pub body: &'a str,
}

impl<'a> StoredBatch<'a> {
    fn push_line(&self, out: &mut String) {
        if !out.is_empty() {
            out.push('\n');
        }
        push_hex64(out, self.id);
        out.push('|');
        push_u64(out, self.attempts as u64);
        out.push('|');
        push_u64(out, self.next_at);
        out.push('|');
        out.push_str(self.body);
    }

    /// Parses one line; `None` for anything else (foreign or corrupted text).
    fn parse(line: &'a str) -> Option<StoredBatch<'a>> {
        // `split_once` three times is `splitn(4, '|')` (the body keeps any further '|').
        let (id, rest) = cut(line, b'|')?;
        let (attempts, rest) = cut(rest, b'|')?;
        let (next_at, body) = cut(rest, b'|')?;
        let id = parse_hex64(id)?;
        // Parsed as u64 (as `next_at` is: one parser in the wasm), then narrowed.
        let attempts = u32::try_from(parse_u64(attempts)?).ok()?;
        let next_at = parse_u64(next_at)?;
        if !first_is(body, b'{') {
            return None;
        }
        Some(StoredBatch {
            id,
            attempts,
            next_at,
            body,
        })
    }
}

/// Every well-formed batch in `text`, oldest first.
pub fn entries(text: &str) -> impl Iterator<Item = StoredBatch<'_>> {
    parts(text, b'\n').filter_map(StoredBatch::parse)
}

fn join<'a>(entries: impl Iterator<Item = StoredBatch<'a>>) -> String {
    let mut out = String::new();
    for e in entries {
        e.push_line(&mut out);
    }
    out
}

/// Whether [`put`] stores `body`: a batch (JSON object text on one line), not larger than the
/// whole budget.
pub fn storable(body: &str) -> bool {
    !has(body, b'\n') && first_is(body, b'{') && body.len() + 64 <= MAX_BYTES
}

/// Adds a batch; the oldest are dropped to stay within [`MAX_BATCHES`] and [`MAX_BYTES`].
/// Returns the new text and how many batches were dropped. A body that is not a batch (or a
/// batch larger than the whole budget) is not stored and counts as dropped.
pub fn put(text: &str, entry: StoredBatch<'_>) -> (String, u32) {
    if !storable(entry.body) {
        return (join(entries(text)), 1);
    }
    let mut all: Vec<StoredBatch<'_>> = entries(text).collect();
    all.push(entry);
    let (text, dropped) = join_within_bounds(all, true);
    (text, dropped as u32)
}

/// The text of `all`; with `trim`, the oldest are dropped first to stay within
/// [`MAX_BATCHES`] and [`MAX_BYTES`] (the longest suffix that fits). Also how many were dropped.
pub fn join_within_bounds(all: Vec<StoredBatch<'_>>, trim: bool) -> (String, usize) {
    let line_len = |e: &StoredBatch<'_>| e.body.len() + 48;
    let mut bytes: usize = all.iter().map(line_len).sum();
    let mut skip = 0;
    while trim && (all.len() - skip > MAX_BATCHES || bytes > MAX_BYTES) {
        bytes -= line_len(&all[skip]);
        skip += 1;
    }
    (join(all.into_iter().skip(skip)), skip)
}

/// Removes the batch `id` (delivered, or refused for good).
pub fn remove(text: &str, id: u64) -> String {
    join(entries(text).filter(|e| e.id != id))
}

/// The batches due at `now`: returns the new text, in which each due batch is already
/// rescheduled for its next attempt (so a page closed mid-retry still has it), the due batches
/// as (id, body), and how many were given up after [`MAX_ATTEMPTS`].
pub fn take_due(text: &str, now: u64) -> (String, Vec<(u64, String)>, u32) {
    let mut due = Vec::new();
    let mut dropped = 0;
    let mut out = String::new();
    for mut e in entries(text) {
        if e.next_at <= now {
            if e.attempts >= MAX_ATTEMPTS {
                dropped += 1;
                continue;
            }
            e.attempts += 1;
            e.next_at = now + retry_delay_ms(e.attempts);
            due.push((e.id, e.body.to_owned()));
        }
        e.push_line(&mut out);
    }
    (out, due, dropped)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b(id: u64, next_at: u64, body: &str) -> StoredBatch<'_> {
        StoredBatch {
            id,
            attempts: 1,
            next_at,
            body,
        }
    }

    #[test]
    fn retry_delays_grow_and_cap() {
        assert_eq!(retry_delay_ms(1), 5_000);
        assert_eq!(retry_delay_ms(2), 20_000);
        assert_eq!(retry_delay_ms(3), 80_000);
        assert_eq!(retry_delay_ms(7), 3_600_000);
        assert_eq!(retry_delay_ms(u32::MAX), 3_600_000);
    }

    #[test]
    fn which_statuses_end_retries() {
        for s in [200, 204, 400, 401, 403, 413] {
            assert!(is_final_status(s), "{s}");
        }
        for s in [0, 408, 429, 500, 502, 503, 504] {
            assert!(!is_final_status(s), "{s}");
        }
    }

    #[test]
    fn put_take_remove() {
        let (t, d) = put("", b(1, 100, "{\"a\":1}"));
        assert_eq!(d, 0);
        let (t, _) = put(&t, b(2, 500, "{\"b\":2}"));
        let (t, due, gone) = take_due(&t, 200);
        assert_eq!((due, gone), (vec![(1, "{\"a\":1}".to_owned())], 0));
        let all: Vec<_> = entries(&t).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(
            (all[0].attempts, all[0].next_at),
            (2, 200 + retry_delay_ms(2))
        );
        let t = remove(&t, 1);
        assert_eq!(entries(&t).map(|e| e.id).collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn gives_up_after_max_attempts_and_skips_garbage() {
        let t = format!("garbage\n{}\nxx|1|2|{{}}", {
            let mut s = String::new();
            StoredBatch {
                id: 9,
                attempts: MAX_ATTEMPTS,
                next_at: 0,
                body: "{}",
            }
            .push_line(&mut s);
            s
        });
        let (t, due, gone) = take_due(&t, 1);
        assert!(due.is_empty());
        assert_eq!(gone, 1);
        assert_eq!(t, "");
    }

    #[test]
    fn bounded_by_count_and_bytes_dropping_oldest() {
        let mut t = String::new();
        let mut dropped = 0;
        for i in 0..40u64 {
            let (n, d) = put(&t, b(i, 0, "{}"));
            t = n;
            dropped += d;
        }
        assert_eq!(dropped, 8);
        assert_eq!(entries(&t).next().unwrap().id, 8, "oldest dropped first");
        let big = format!("{{{}}}", "x".repeat(400 * 1024));
        let (t, _) = put("", b(1, 0, &big));
        let (t, _) = put(&t, b(2, 0, &big));
        let (t, d) = put(&t, b(3, 0, &big));
        assert_eq!(d, 1);
        assert!(t.len() <= MAX_BYTES);
        assert_eq!(entries(&t).map(|e| e.id).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(put(&t, b(4, 0, "not json")).1, 1);
    }

    proptest! {
        #[test]
        fn never_panics_and_keeps_within_bounds(text in "\\PC{0,300}", id in any::<u64>(), now in any::<u64>(), body in "\\{[^\\n]{0,50}") {
            let (t, _) = put(&text, b(id, now, &body));
            prop_assert!(t.len() <= MAX_BYTES && entries(&t).count() <= MAX_BATCHES);
            prop_assert!(entries(&t).any(|e| e.id == id && e.body == body));
            let (t2, due, _) = take_due(&t, now);
            prop_assert!(due.iter().any(|(i, _)| *i == id));
            prop_assert!(!entries(&remove(&t2, id)).any(|e| e.id == id));
        }
    }
}
