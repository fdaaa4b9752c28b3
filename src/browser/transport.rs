//! Delivery: `sendBeacon` first, `fetch(keepalive)` when the beacon is refused, and a bounded
//! retry queue (one localStorage item; memory when storage is off or full) for what could not
//! be delivered, retried with backoff on the timer and on the next page load. The queue's logic
//! is `core::queue`; this file only moves its text in and out of storage.

use super::js;
use crate::core::queue::{self, StoredBatch};

const KEY: &str = "ferrotel:queue";

/// Batches waiting for a retry.
pub struct Queue {
    /// Whether localStorage worked when last used.
    storage: bool,
    /// The queue text when storage is unusable (disabled, or full even after dropping).
    memory: String,
    /// Set when anything may be waiting, so the timer skips storage otherwise.
    pub maybe_pending: bool,
    /// Batches given up (queue full, or out of attempts).
    pub dropped: u32,
}

impl Queue {
    /// The queue over `localStorage` (memory when that fails).
    pub fn new() -> Queue {
        Queue {
            storage: true,
            memory: String::new(),
            maybe_pending: true,
            dropped: 0,
        }
    }

    fn load(&self) -> String {
        let stored = js::store_get(false, KEY).unwrap_or_default();
        if self.memory.is_empty() {
            return stored;
        }
        // Both can hold batches after storage failed once and recovered.
        let mut all = stored;
        if !all.is_empty() {
            all.push('\n');
        }
        all.push_str(&self.memory);
        all
    }

    fn save(&mut self, text: String) {
        self.maybe_pending = !text.is_empty();
        let value = if text.is_empty() {
            None
        } else {
            Some(text.clone())
        };
        self.storage = js::store_set(false, KEY, value);
        if self.storage {
            self.memory.clear();
        } else {
            js::store_set(false, KEY, None);
            self.memory = text;
        }
    }

    /// Stores a batch for retry (write-ahead: before the fetch that may fail).
    pub fn put(&mut self, id: u64, attempts: u32, next_at: u64, body: &str) {
        let (text, dropped) = queue::put(
            &self.load(),
            StoredBatch {
                id,
                attempts,
                next_at,
                body,
            },
        );
        self.dropped += dropped;
        self.save(text);
    }

    /// Forgets a delivered (or permanently refused) batch.
    pub fn remove(&mut self, id: u64) {
        let text = queue::remove(&self.load(), id);
        self.save(text);
    }

    /// The batches due at `now`, already rescheduled in storage for their next attempt.
    pub fn take_due(&mut self, now: u64) -> Vec<(u64, String)> {
        let (text, due, dropped) = queue::take_due(&self.load(), now);
        self.dropped += dropped;
        self.save(text);
        due
    }
}

/// Sends with `sendBeacon`; true if the browser took it.
pub fn beacon(endpoint: &str, body: &str) -> bool {
    js::beacon(endpoint, body)
}

/// POSTs with `fetch` (`keepalive` when the page is going away); the status (0 on a network error) comes back as a
/// `FETCH_DONE` dispatch carrying `token`.
pub fn post(endpoint: &str, body: &str, token: u32, keepalive: bool) {
    js::post(endpoint, body, super::capture::FETCH_DONE, token, keepalive);
}
