//! The persisted retry queue's format and bounds, as pure functions, so that the browser only
//! sets, removes and lists `localStorage` items and the logic is tested here.
//!
//! Each batch is one item, `ferrotel:q:<id>` (the id as 16 hex digits), whose value is one line:
//! `<id: 16 hex digits><attempts: 1 digit><next attempt: ms since the epoch><body>`, parsed by
//! offsets. A body is a JSON object from our encoder: its `{` ends the number before it, and it
//! never holds a newline (every control character is escaped). The executor reads the queue as
//! every item's line, in key order, joined by newlines; a batch id starts with the batch's
//! creation time, so key order is oldest first.

use super::bytes::parts;
use super::ids::{parse_hex64, parse_u64, push_hex64};
use super::json::push_u64;

/// Delivery attempts before a batch is given up.
pub const MAX_ATTEMPTS: u32 = 8;
/// Batches kept at most; the oldest are dropped first.
pub const MAX_BATCHES: usize = 32;
/// Bytes of stored text at most (well inside the usual 5 MiB origin quota).
pub const MAX_BYTES: usize = 1024 * 1024;
/// What a line costs beside its body, counted against [`MAX_BYTES`] (the key and the line's
/// numbers, rounded up).
pub const LINE_OVERHEAD: usize = 48;

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
    /// Identifies the batch (its item's key).
    pub id: u64,
    /// Delivery attempts that failed so far (at most 9 are written).
    pub attempts: u32,
    /// When to try next, ms since the epoch.
    pub next_at: u64,
    /// The request body, as sent.
    pub body: &'a str,
}

impl<'a> StoredBatch<'a> {
    /// The stored line (its first 16 bytes are the item's key).
    pub fn line(&self) -> String {
        let mut out = String::with_capacity(self.body.len() + 40);
        push_hex64(&mut out, self.id);
        out.push((b'0' + self.attempts.min(9) as u8) as char);
        push_u64(&mut out, self.next_at);
        out.push_str(self.body);
        out
    }

    /// Parses one line; `None` for anything else (foreign or corrupted text).
    pub fn parse(line: &'a str) -> Option<StoredBatch<'a>> {
        let b = line.as_bytes();
        let open = b.iter().position(|&c| c == b'{')?;
        let attempts = b.get(16)?.wrapping_sub(b'0');
        if attempts > 9 {
            return None;
        }
        // Bytes 0..=16 are ASCII (checked: hex digits and a digit), so every cut below is on a
        // character boundary; `get` all the same (a slicing panic would link formatting).
        Some(StoredBatch {
            id: parse_hex64(line.get(..16)?)?,
            attempts: attempts as u32,
            next_at: parse_u64(line.get(17..open)?)?,
            body: line.get(open..)?,
        })
    }
}

/// Every well-formed batch in `text` (lines), in order.
pub fn entries(text: &str) -> impl Iterator<Item = StoredBatch<'_>> {
    parts(text, b'\n').filter_map(StoredBatch::parse)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    fn lines_round_trip_and_garbage_is_skipped() {
        let b = StoredBatch {
            id: 0x0197_a3f1_c2e4_a5b6,
            attempts: 2,
            next_at: 1_764_000_005_000,
            body: "{\"a\":\"{1}\"}",
        };
        let line = b.line();
        assert_eq!(line, "0197a3f1c2e4a5b621764000005000{\"a\":\"{1}\"}");
        let text = format!("garbage\n{line}\n0197a3f1c2e4a5b6x1{{}}\n0197a3f1c2e4a5b61{{}}\nxx");
        assert_eq!(entries(&text).collect::<Vec<_>>(), vec![b]);
        // The format before one item per batch (`<id>|<attempts>|<next_at>|<body>`) is foreign.
        assert_eq!(entries("00000000000000aa|1|0|{}").count(), 0);
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_reads_what_line_wrote(
            text in "\\PC{0,80}",
            id in any::<u64>(),
            attempts in 0u32..10,
            next_at in 0u64..10_000_000_000_000_000_000, // parse_u64: at most 19 digits
            body in "\\{[^\\n]{0,50}",
        ) {
            let _ = entries(&text).count();
            let b = StoredBatch { id, attempts, next_at, body: &body };
            let line = b.line();
            prop_assert_eq!(StoredBatch::parse(&line), Some(b));
            // Any text before or after it on other lines does not change it.
            let text = format!("{text}\n{line}\n{text}");
            prop_assert!(entries(&text).any(|e| e.id == id && e.body == body));
        }
    }
}
