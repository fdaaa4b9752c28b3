//! Delivery: which batch goes out how, what a transport result means, what is persisted.
//!
//! * While the page is visible a batch goes out with `fetch`, whose status drives what
//!   follows: 2xx done; 408, 429 (after its `Retry-After`), 5xx and network errors keep the
//!   batch, persist it and retry it with backoff and jitter (on this page and on the next load
//!   of the origin); any other 4xx drops it for good and counts it.
//! * While the ingest is failing, one batch probes it at a time; the others wait, persisted.
//! * When the page is hidden, fresh batches go with `sendBeacon` (then `fetch` keepalive if the
//!   browser refuses it), unless the ingest was failing just before: then they are persisted
//!   instead of beaconed into the void. Batches with a `fetch` still in flight are persisted
//!   too (the browser may cancel it with the page).
//!
//! The persisted queue is one `localStorage` item shared by the origin's tabs, changed only by
//! [`StoreOp::apply`] on its current text (see `core::queue` for the format and its bounds).

use super::{Action, Consent, Sdk, Stats};
use crate::core::envelope::Header;
use crate::core::ids::parse_u64;
use crate::core::queue::{self, retry_delay_ms, StoredBatch, MAX_ATTEMPTS, MAX_BATCHES, MAX_BYTES};

/// The longest wait before a retry (also caps a persisted retry time after the clock went
/// back between two page loads).
pub const MAX_DELAY_MS: u64 = 3_600_000;
/// Batches with a request in flight at once while the ingest is healthy.
const MAX_IN_FLIGHT: usize = 4;
/// Bodies above this cannot use `fetch(…, {keepalive: true})` (the browser's in-flight quota).
const KEEPALIVE_MAX: usize = 65_000;

/// One persisted batch, as written by [`StoreOp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// Batch id.
    pub id: u64,
    /// Delivery attempts that failed so far.
    pub attempts: u32,
    /// Wall time of the next attempt, ms since the epoch.
    pub next_at: u64,
    /// The request body.
    pub body: String,
}

/// A change to the persisted retry queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOp {
    /// Remove every batch (consent withdrawn, Do-Not-Track / GPC).
    pub clear: bool,
    /// Batches to remove (delivered, refused, given up).
    pub remove: Vec<u64>,
    /// Batches to add or replace.
    pub put: Vec<StoredEntry>,
}

impl StoreOp {
    pub(super) fn clear() -> StoreOp {
        StoreOp {
            clear: true,
            ..StoreOp::default()
        }
    }

    /// The queue text after this change, within the queue's bounds (oldest dropped first).
    pub fn apply(&self, text: &str) -> String {
        if self.clear {
            return String::new();
        }
        // In one pass, what `queue::remove` of every batch removed or replaced, then
        // `queue::put` of each batch to add would leave: a sequence of puts keeps the longest
        // suffix within the bounds, so trimming once at the end is the same.
        if self.remove.is_empty() && self.put.is_empty() {
            return text.to_owned();
        }
        let mut all = Vec::new();
        for e in queue::entries(text) {
            if !self.remove.contains(&e.id) && !self.put.iter().any(|p| p.id == e.id) {
                all.push(e);
            }
        }
        let kept = all.len();
        for e in &self.put {
            if queue::storable(&e.body) {
                all.push(StoredBatch {
                    id: e.id,
                    attempts: e.attempts,
                    next_at: e.next_at,
                    body: &e.body,
                });
            }
        }
        // Removals alone do not trim (only a put does).
        let added = all.len() > kept;
        queue::join_within_bounds(all, added).0
    }
}

#[derive(Debug)]
struct Batch {
    id: u64,
    body: String,
    events: u32,
    /// Failed attempts so far.
    attempts: u32,
    /// Wall time of the next attempt.
    next_at: u64,
    /// The attempt in flight (0: none).
    token: u32,
    /// In the persisted queue as it is now.
    stored: bool,
    /// Must be (re)written to the persisted queue.
    dirty: bool,
}

/// Batches not yet confirmed, oldest first.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    batches: Vec<Batch>,
    last_token: u32,
    /// The ingest failed on the last attempt and has not answered 2xx since.
    failing: bool,
    /// No attempt before this wall time (backoff or `Retry-After`).
    blocked_until: u64,
    removed: Vec<u64>,
}

impl Outbox {
    pub(super) fn events(&self) -> usize {
        self.batches.iter().map(|b| b.events as usize).sum()
    }

    /// The earliest `now` at which a batch waiting for an attempt is due.
    pub(super) fn next_due(&self, wall_origin: u64) -> Option<f64> {
        // A batch that cannot go out before a request in flight answers needs no timer: the
        // answer pumps the queue.
        let in_flight = self.batches.iter().filter(|b| b.token != 0).count();
        if in_flight >= if self.failing { 1 } else { MAX_IN_FLIGHT } {
            return None;
        }
        self.batches
            .iter()
            .filter(|b| b.token == 0)
            .map(|b| b.next_at.max(self.blocked_until))
            .min()
            .map(|at| at.saturating_sub(wall_origin) as f64)
    }

    pub(super) fn add(&mut self, id: u64, body: String, events: u32, wall: u64, stats: &mut Stats) {
        // Within the persisted queue's bounds (so what is persisted is all that is held): over
        // them, the oldest batches not in flight are given up (counted).
        let line = |b: &Batch| b.body.len() + 48;
        let mut bytes: usize = self.batches.iter().map(line).sum::<usize>() + body.len() + 48;
        while self.batches.len() >= MAX_BATCHES || bytes > MAX_BYTES {
            let Some(i) = self.batches.iter().position(|b| b.token == 0) else {
                break;
            };
            let gone = self.forget(i);
            bytes -= line(&gone);
            self.give_up(gone, stats);
        }
        self.batches.push(Batch {
            id,
            body,
            events,
            attempts: 0,
            next_at: wall,
            token: 0,
            stored: false,
            dirty: self.failing,
        });
    }

    fn give_up(&mut self, b: Batch, stats: &mut Stats) {
        stats.dropped_batches += 1;
        stats.dropped_events += b.events;
        let _ = b;
    }

    fn forget(&mut self, i: usize) -> Batch {
        let b = self.batches.remove(i);
        if b.stored {
            self.removed.push(b.id);
        }
        b
    }

    /// Takes in what an earlier page (or another tab) persisted.
    pub(super) fn adopt(&mut self, text: &str, wall: u64, stats: &mut Stats) {
        for e in queue::entries(text) {
            if self.batches.iter().any(|b| b.id == e.id) {
                continue;
            }
            // A batch that already failed means the ingest was failing just before.
            self.failing |= e.attempts > 0;
            // Every event object starts with its id (the encoder's order).
            let events = e
                .body
                .as_bytes()
                .windows(6)
                .filter(|w| w == b"{\"id\":")
                .count() as u32;
            let b = Batch {
                id: e.id,
                body: e.body.to_owned(),
                events,
                attempts: e.attempts,
                // The clock may have gone back since it was written: never wait past the cap.
                next_at: e.next_at.min(wall + MAX_DELAY_MS),
                token: 0,
                stored: true,
                dirty: false,
            };
            let bytes: usize = self.batches.iter().map(|b| b.body.len() + 48).sum();
            if self.batches.len() >= MAX_BATCHES || bytes + b.body.len() + 48 > MAX_BYTES {
                self.removed.push(b.id);
                self.give_up(b, stats);
            } else {
                self.batches.push(b);
            }
        }
    }

    pub(super) fn clear(&mut self) {
        self.batches.clear();
        self.removed.clear();
        self.failing = false;
        self.blocked_until = 0;
    }

    pub(super) fn first_token(&mut self, t: u32) {
        self.last_token = t;
    }

    fn token(&mut self) -> u32 {
        self.last_token = self.last_token.wrapping_add(1).max(1);
        self.last_token
    }

    /// The change to write, if any.
    fn store_op(&mut self) -> Option<StoreOp> {
        let mut op = StoreOp {
            remove: std::mem::take(&mut self.removed),
            ..StoreOp::default()
        };
        for b in self.batches.iter_mut().filter(|b| b.dirty) {
            b.dirty = false;
            b.stored = true;
            op.put.push(StoredEntry {
                id: b.id,
                attempts: b.attempts,
                next_at: b.next_at,
                body: b.body.clone(),
            });
        }
        (!op.remove.is_empty() || !op.put.is_empty()).then_some(op)
    }
}

/// `Retry-After` as a delay in ms: delta-seconds only (an HTTP date is treated as absent and
/// the backoff applies), capped at [`MAX_DELAY_MS`].
pub fn retry_after_ms(header: Option<&str>) -> Option<u64> {
    let s = header?.trim_ascii();
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(parse_u64(s)?.saturating_mul(1000).min(MAX_DELAY_MS))
}

impl Sdk {
    fn jitter(&mut self, max: u64) -> u64 {
        if max == 0 {
            0
        } else {
            self.ids.next_u64() % max
        }
    }

    /// Starts whatever delivery is due, writes what must be persisted, asks for the next wake.
    pub(super) fn pump(&mut self, now: f64) {
        if self.hidden && !self.queue_read && self.consent == Consent::Granted {
            // Going away before the persisted queue was read: whether the ingest was failing
            // on an earlier page decides between beacon and persist, so read it first (the
            // executor answers at once, still inside the `pagehide` handler).
            self.actions.push(Action::ReadQueue);
            return;
        }
        if self.consent == Consent::Granted {
            let wall = self.wall(now);
            let hidden = self.hidden;
            let out = &mut self.out;
            let open = wall >= out.blocked_until;
            let mut in_flight = out.batches.iter().filter(|b| b.token != 0).count();
            let limit = if out.failing { 1 } else { MAX_IN_FLIGHT };
            let mut sends = Vec::new();
            for i in 0..out.batches.len() {
                let failing = out.failing;
                let b = &mut out.batches[i];
                if b.token != 0 {
                    // In flight: if the page goes away the browser may cancel it.
                    if hidden && !b.stored {
                        b.dirty = true;
                    }
                    continue;
                }
                let fresh = b.attempts == 0 && !b.stored;
                if hidden && fresh && !failing {
                    sends.push((i, true));
                } else if open && b.next_at <= wall && in_flight < limit {
                    in_flight += 1;
                    sends.push((i, false));
                } else if (hidden || failing) && !b.stored {
                    b.dirty = true;
                }
            }
            for (i, beacon) in sends {
                let token = self.out.token();
                let b = &mut self.out.batches[i];
                b.token = token;
                // Stamped at each attempt (see `Header::restamp`).
                let body = Header::restamp(&b.body, wall);
                if beacon {
                    self.stats.beacons += 1;
                    self.actions.push(Action::Beacon { token, body });
                } else {
                    if hidden && !b.stored {
                        b.dirty = true; // write-ahead: the page may be going away
                    }
                    self.stats.fetches += 1;
                    let keepalive = hidden && body.len() < KEEPALIVE_MAX;
                    self.actions.push(Action::Fetch {
                        token,
                        body,
                        keepalive,
                    });
                }
            }
        }
        if let Some(op) = self.out.store_op() {
            self.actions.push(Action::Store(op));
        }
        self.arm(now);
    }

    /// The result of a `Beacon`: whether the browser took it. A taken beacon is done (the
    /// browser reports nothing more); a refused one goes by `fetch` keepalive, persisted first.
    pub fn beacon_result(&mut self, token: u32, accepted: bool, now: f64) {
        let Some(i) = self.out.batches.iter().position(|b| b.token == token) else {
            return;
        };
        if accepted {
            self.out.forget(i);
        } else {
            self.stats.beacons -= 1;
            let new = self.out.token();
            let b = &mut self.out.batches[i];
            b.token = new;
            b.dirty = true;
            self.stats.fetches += 1;
            let body = b.body.clone();
            let keepalive = body.len() < KEEPALIVE_MAX;
            self.actions.push(Action::Fetch {
                token: new,
                body,
                keepalive,
            });
        }
        self.pump(now);
    }

    /// The result of a `Fetch`: the status (0 for a network error, including a response the
    /// page may not read) and the `Retry-After` header if readable.
    pub fn transport(&mut self, token: u32, status: u16, retry_after: Option<&str>, now: f64) {
        let Some(i) = self.out.batches.iter().position(|b| b.token == token) else {
            return; // stale: the batch was cleared (consent withdrawn) or given up
        };
        self.out.batches[i].token = 0;
        if queue::is_final_status(status as u32) {
            let b = self.out.forget(i);
            if (200..300).contains(&status) {
                self.stats.delivered_batches += 1;
                self.out.failing = false;
                self.out.blocked_until = 0;
            } else {
                self.stats.rejected_batches += 1;
                self.stats.rejected_events += b.events;
            }
        } else {
            let wall = self.wall(now);
            let attempts = self.out.batches[i].attempts + 1;
            if attempts >= MAX_ATTEMPTS {
                let b = self.out.forget(i);
                self.out.give_up(b, &mut self.stats);
            } else {
                let backoff = retry_delay_ms(attempts);
                let delay = match retry_after_ms(retry_after) {
                    Some(ra) => ra + self.jitter(1_000),
                    // 0.75x to 1.25x: clients that failed together do not retry together.
                    None => backoff - backoff / 4 + self.jitter(backoff / 2),
                };
                let out = &mut self.out;
                out.failing = true;
                out.blocked_until = out.blocked_until.max(wall + delay);
                let b = &mut out.batches[i];
                b.attempts = attempts;
                b.next_at = wall + delay;
                b.dirty = true;
                // Everything unconfirmed is persisted while the ingest is failing.
                for b in out.batches.iter_mut().filter(|b| !b.stored) {
                    b.dirty = true;
                }
            }
        }
        self.pump(now);
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `StoreOp::apply` as it was: every removal, then every put, one at a time.
    fn apply_by_steps(op: &StoreOp, text: &str) -> String {
        if op.clear {
            return String::new();
        }
        let mut t = text.to_owned();
        for id in op.remove.iter().chain(op.put.iter().map(|e| &e.id)) {
            t = queue::remove(&t, *id);
        }
        for e in &op.put {
            t = queue::put(
                &t,
                StoredBatch {
                    id: e.id,
                    attempts: e.attempts,
                    next_at: e.next_at,
                    body: &e.body,
                },
            )
            .0;
        }
        t
    }

    fn entry() -> impl Strategy<Value = StoredEntry> {
        (
            0u64..12,
            0u32..3,
            prop_oneof![
                "\\{[^\\n]{0,40}",
                Just("not json".to_owned()),
                Just("{x\ny".to_owned()),
                (1usize..4).prop_map(|n| format!("{{{}}}", "x".repeat(n * 150 * 1024))),
            ],
        )
            .prop_map(|(id, attempts, body)| StoredEntry {
                id,
                attempts,
                next_at: 9,
                body,
            })
    }

    proptest! {
        #[test]
        fn apply_is_removes_then_puts(
            stored in proptest::collection::vec(entry(), 0..40),
            garbage in proptest::collection::vec("[^\\n]{0,8}", 0..3),
            clear in proptest::bool::weighted(0.1),
            remove in proptest::collection::vec(0u64..12, 0..4),
            put in proptest::collection::vec(entry(), 0..40),
        ) {
            let mut text = garbage.join("\n");
            for e in &stored {
                let line = StoredBatch { id: e.id, attempts: e.attempts, next_at: e.next_at, body: &e.body };
                text = queue::join_within_bounds(queue::entries(&text).chain([line]).collect(), false).0;
                if !garbage.is_empty() {
                    text.push('\n');
                    text.push_str(&garbage[0]);
                }
            }
            let op = StoreOp { clear, remove, put };
            prop_assert_eq!(op.apply(&text), apply_by_steps(&op, &text));
        }
    }
}
