//! Delivery: `sendBeacon` first, `fetch(keepalive)` when the beacon is refused, and a bounded
//! localStorage queue (memory when storage is off or full) for what could not be delivered,
//! retried with backoff on the timer and on the next page load.

use web_sys::Storage;

use super::js;
use crate::core::batch::{retry_delay_ms, StoredBatch, MAX_ATTEMPTS};
use crate::core::ids::push_hex64;

const PREFIX: &str = "ferrotel:q:";
/// Batches kept for retry; the oldest goes first when full (each is at most 64 KiB, so this
/// stays well inside the usual 5 MiB origin quota).
pub const MAX_STORED: usize = 32;

/// Batches waiting for a retry.
pub struct Queue {
    storage: Option<Storage>,
    memory: Vec<(String, StoredBatch)>,
    /// Set when anything may be waiting, so the timer skips the storage scan otherwise.
    pub maybe_pending: bool,
    /// Batches given up (queue full, or too many attempts).
    pub dropped: u32,
}

impl Queue {
    /// The queue over `localStorage` when it is usable.
    pub fn new() -> Queue {
        let storage = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
        Queue { storage, memory: Vec::new(), maybe_pending: true, dropped: 0 }
    }

    /// A fresh storage key.
    pub fn key(id: u64) -> String {
        let mut k = String::with_capacity(PREFIX.len() + 16);
        k.push_str(PREFIX);
        push_hex64(&mut k, id);
        k
    }

    /// Stores `entry` under `key`, making room if needed. Storage that throws (disabled,
    /// quota) falls back to memory, so the batch still gets its retries in this page.
    pub fn put(&mut self, key: &str, entry: &StoredBatch) {
        self.maybe_pending = true;
        let value = entry.encode();
        if let Some(s) = self.storage.clone() {
            let keys = stored_keys(&s);
            if keys.len() >= MAX_STORED {
                self.evict_oldest(&keys);
            }
            if s.set_item(key, &value).is_ok() {
                return;
            }
            // Quota: give up the oldest and try once more.
            if let Some(k) = keys.first() {
                let _ = s.remove_item(k);
                self.dropped += 1;
            }
            if s.set_item(key, &value).is_ok() {
                return;
            }
        }
        self.memory.retain(|(k, _)| k != key);
        if self.memory.len() >= MAX_STORED {
            self.memory.remove(0);
            self.dropped += 1;
        }
        self.memory.push((key.to_owned(), entry.clone()));
    }

    fn evict_oldest(&mut self, keys: &[String]) {
        let Some(s) = &self.storage else { return };
        let oldest = keys
            .iter()
            .filter_map(|k| Some((s.get_item(k).ok()??.split('|').nth(1)?.parse::<u64>().ok()?, k)))
            .min_by_key(|(at, _)| *at);
        if let Some((_, k)) = oldest {
            let _ = s.remove_item(k);
            self.dropped += 1;
        }
    }

    /// Forgets a delivered (or permanently refused) batch.
    pub fn remove(&mut self, key: &str) {
        if let Some(s) = &self.storage {
            let _ = s.remove_item(key);
        }
        self.memory.retain(|(k, _)| k != key);
    }

    /// Takes the batches due at `now` and reschedules each for its next attempt before it is
    /// sent, so a page closed mid-retry still has it on the next load. Garbage under our
    /// prefix and batches out of attempts are removed.
    pub fn take_due(&mut self, now: u64) -> Vec<(String, String)> {
        let mut due = Vec::new();
        let mut any_left = false;
        let mut entries: Vec<(String, Option<StoredBatch>)> = Vec::new();
        if let Some(s) = &self.storage {
            for k in stored_keys(s) {
                let v = s.get_item(&k).ok().flatten();
                entries.push((k, v.as_deref().and_then(StoredBatch::decode)));
            }
        }
        for (k, b) in std::mem::take(&mut self.memory) {
            entries.push((k, Some(b)));
        }
        for (k, b) in entries {
            match b {
                Some(b) if b.next_at > now => {
                    any_left = true;
                    if !self.storage_has(&k) {
                        self.memory.push((k, b));
                    }
                }
                Some(b) if b.attempts < MAX_ATTEMPTS => {
                    any_left = true;
                    let attempts = b.attempts + 1;
                    let next = StoredBatch { attempts, next_at: now + retry_delay_ms(attempts), body: String::new() };
                    let body = b.body;
                    self.put(&k, &StoredBatch { body: body.clone(), ..next });
                    due.push((k, body));
                }
                Some(_) => {
                    self.remove(&k);
                    self.dropped += 1;
                }
                None => self.remove(&k),
            }
        }
        self.maybe_pending = any_left;
        due
    }

    fn storage_has(&self, key: &str) -> bool {
        self.storage.as_ref().is_some_and(|s| s.get_item(key).ok().flatten().is_some())
    }
}

fn stored_keys(s: &Storage) -> Vec<String> {
    let n = s.length().unwrap_or(0);
    (0..n).filter_map(|i| s.key(i).ok().flatten()).filter(|k| k.starts_with(PREFIX)).collect()
}

/// Sends with `sendBeacon`; true if the browser took it.
pub fn beacon(endpoint: &str, body: &str) -> bool {
    js::beacon(endpoint, body)
}

/// POSTs with `fetch(keepalive)`; the status (0 on a network error) comes back as a
/// `FETCH_DONE` dispatch carrying `token`.
pub fn post(endpoint: &str, body: &str, token: u32) {
    js::post(endpoint, body, super::capture::FETCH_DONE, token);
}
