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
//! The persisted queue is one `localStorage` item per batch, shared by the origin's tabs and
//! changed one item at a time by the executor ([`StoreOp`]); `core::queue` has the format. Its
//! bounds are kept in memory (what a page persists is what it holds) and on reading (what
//! earlier pages and other tabs left is adopted within them, the oldest given up first). A
//! page reads the queue before its first write (a second after start, or at once when it must
//! persist before then).

use super::{Action, Consent, Sdk, Stats};
use crate::core::bytes::parts;
use crate::core::envelope::Header;
use crate::core::ids::hex64;
use crate::core::queue::{
    self, retry_delay_ms, StoredBatch, LINE_OVERHEAD, MAX_ATTEMPTS, MAX_BATCHES, MAX_BYTES,
};

/// The longest wait before a retry (also caps a persisted retry time after the clock went
/// back between two page loads).
pub const MAX_DELAY_MS: u64 = 3_600_000;
/// Batches with a request in flight at once while the ingest is healthy.
const MAX_IN_FLIGHT: usize = 4;
/// Bodies above this cannot use `fetch(…, {keepalive: true})` (the browser's in-flight quota).
const KEEPALIVE_MAX: usize = 65_000;
/// The prefix of the persisted queue's items, `ferrotel:q:<id>` (glue.js `Q + ":"`;
/// tests/glue.rs checks that they agree).
pub const KEY_PREFIX: &str = "ferrotel:q:";

/// A change to the persisted retry queue, as the executor hands it to glue.js `set`: a batch's
/// line ([`StoredBatch::line`]) is written to the item `ferrotel:q:<its first 16 bytes>`; 16
/// bytes alone (an id) remove that item; nothing removes every item whose key starts with
/// `ferrotel:q` (consent withdrawn, Do-Not-Track / GPC; also the single item of the format
/// before, `ferrotel:queue`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOp(pub String);

impl StoreOp {
    pub(super) fn clear() -> StoreOp {
        StoreOp::default()
    }

    /// What the executor does with this op on the origin's items (key to value), as glue.js
    /// `set` does with `localStorage`: for the native tests.
    pub fn apply(&self, items: &mut std::collections::BTreeMap<String, String>) {
        let s = &self.0;
        match s.get(..16) {
            Some(id) if s.len() > 16 => {
                items.insert(format!("{KEY_PREFIX}{id}"), s.clone());
            }
            Some(id) => {
                items.remove(&format!("{KEY_PREFIX}{id}"));
            }
            None => items.retain(|k, _| !k.starts_with("ferrotel:q")),
        }
    }

    /// What the executor reads back (glue.js `text`): the values of the queue's items in key
    /// order, joined by newlines.
    pub fn read(items: &std::collections::BTreeMap<String, String>) -> String {
        let lines: Vec<&str> = items
            .iter()
            .filter(|(k, _)| k.starts_with(KEY_PREFIX))
            .map(|(_, v)| v.as_str())
            .collect();
        lines.join("\n")
    }
}

#[derive(Debug)]
struct Batch {
    /// Its creation time (ms since the epoch) in the top 43 bits, 21 random bits below: the
    /// persisted items sort oldest first, and two tabs do not collide.
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
    /// Removals of the items of persisted batches forgotten since the last pump.
    removed: Vec<Action>,
}

impl Outbox {
    pub(super) fn events(&self) -> usize {
        self.batches.iter().map(|b| b.events as usize).sum()
    }

    /// The earliest `now` at which a batch waiting for an attempt is due.
    pub(super) fn next_due(&self, wall_origin: u64) -> Option<f64> {
        let mut in_flight = 0;
        let mut next = u64::MAX;
        for b in &self.batches {
            if b.token != 0 {
                in_flight += 1;
            } else {
                next = next.min(b.next_at);
            }
        }
        // A batch that cannot go out before a request in flight answers needs no timer: the
        // answer pumps the queue.
        if next == u64::MAX || in_flight >= if self.failing { 1 } else { MAX_IN_FLIGHT } {
            return None;
        }
        Some(next.max(self.blocked_until).saturating_sub(wall_origin) as f64)
    }

    pub(super) fn add(&mut self, id: u64, body: String, events: u32, wall: u64, stats: &mut Stats) {
        self.batches.push(Batch {
            id: wall << 21 | id >> 43,
            body,
            events,
            attempts: 0,
            next_at: wall,
            token: 0,
            stored: false,
            dirty: self.failing,
        });
        self.trim(stats);
    }

    /// Within the persisted queue's bounds (so what is persisted is all that is held): over
    /// them, the oldest batches not in flight are given up (counted).
    fn trim(&mut self, stats: &mut Stats) {
        while self.batches.len() > MAX_BATCHES
            || self
                .batches
                .iter()
                .map(|b| b.body.len() + LINE_OVERHEAD)
                .sum::<usize>()
                > MAX_BYTES
        {
            let Some(i) = self.batches.iter().position(|b| b.token == 0) else {
                break;
            };
            let gone = self.forget(i);
            stats.dropped_batches += 1;
            stats.dropped_events += gone.events;
        }
    }

    fn forget(&mut self, i: usize) -> Batch {
        let b = self.batches.remove(i);
        if b.stored {
            self.removed.push(Action::Store(StoreOp(hex64(b.id))));
        }
        b
    }

    /// Takes in what earlier pages (or other tabs) persisted: older than this page's batches.
    pub(super) fn adopt(&mut self, text: &str, wall: u64, stats: &mut Stats) {
        let mut n = 0;
        for line in parts(text, b'\n') {
            let Some(e) = StoredBatch::parse(line) else {
                continue;
            };
            // A batch that already failed means the ingest was failing just before.
            self.failing |= e.attempts > 0;
            // Every event object starts with its id (the encoder's order).
            let events = e
                .body
                .as_bytes()
                .windows(6)
                .filter(|w| w == b"{\"id\":")
                .count() as u32;
            self.batches.insert(
                n,
                Batch {
                    id: e.id,
                    body: e.body.to_owned(),
                    events,
                    attempts: e.attempts,
                    // The clock may have gone back since it was written: never wait past the cap.
                    next_at: e.next_at.min(wall + MAX_DELAY_MS),
                    token: 0,
                    stored: true,
                    dirty: false,
                },
            );
            n += 1;
        }
        self.trim(stats);
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

    /// The batch whose attempt `token` is, if any.
    fn find(&self, token: u32) -> Option<usize> {
        self.batches.iter().position(|b| b.token == token)
    }
}

/// `Retry-After` as a delay in ms, from the header's value read as a number of seconds (the
/// executor's `Number(value)`: NaN for an HTTP date, which is treated as absent and the backoff
/// applies, as is a negative number or a fraction); capped at [`MAX_DELAY_MS`].
pub fn retry_after_ms(seconds: f64) -> Option<u64> {
    // `min` first (NaN fails the comparison before it): a huge number is the cap, not a
    // saturated cast.
    let s = seconds.min((MAX_DELAY_MS / 1000) as f64);
    (seconds >= 0.0 && s as u64 as f64 == s).then(|| s as u64 * 1000)
}

impl Sdk {
    /// Starts whatever delivery is due, writes what must be persisted, asks for the next wake.
    pub(super) fn pump(&mut self, now: f64) {
        let wall = self.wall(now);
        let hidden = self.hidden;
        let Sdk {
            out,
            actions,
            stats,
            consent,
            queue_read,
            ..
        } = &mut *self;
        // Removals first: what is written next then joins a queue within its bounds.
        actions.append(&mut out.removed);
        if *consent == Consent::Granted {
            if !*queue_read && (hidden || out.failing) {
                // About to persist before the persisted queue was read: read it first (the
                // executor answers at once, still inside the `pagehide` handler), so that what
                // this page writes joins it within its bounds; and whether the ingest was
                // failing on an earlier page decides between beacon and persist.
                actions.push(Action::ReadQueue);
                return;
            }
            let failing = out.failing;
            let open = wall >= out.blocked_until;
            let limit = if failing { 1 } else { MAX_IN_FLIGHT };
            let mut in_flight = out.batches.iter().filter(|b| b.token != 0).count();
            // One pass, oldest first: sends, then what must be (re)written.
            for b in &mut out.batches {
                // Never sent, stored nor refused as a beacon.
                let fresh = b.attempts == 0 && !b.stored && !b.dirty;
                let beacon = b.token == 0 && hidden && fresh && !failing;
                if b.token == 0 && (beacon || open && b.next_at <= wall && in_flight < limit) {
                    out.last_token = out.last_token.wrapping_add(1).max(1);
                    let token = out.last_token;
                    b.token = token;
                    // Stamped at each attempt (see `Header::restamp`).
                    let mut body = b.body.clone();
                    Header::restamp(&mut body, wall);
                    actions.push(if beacon {
                        stats.beacons += 1;
                        Action::Beacon { token, body }
                    } else {
                        in_flight += 1;
                        stats.fetches += 1;
                        Action::Fetch {
                            token,
                            keepalive: hidden && body.len() < KEEPALIVE_MAX,
                            body,
                        }
                    });
                }
                // Persisted while the page may be going away (a request in flight may be
                // cancelled with it: write-ahead) and while the ingest is failing; a beacon is
                // the browser's.
                if (hidden || failing) && !b.stored && !beacon {
                    b.dirty = true;
                }
                if b.dirty {
                    b.dirty = false;
                    b.stored = true;
                    actions.push(Action::Store(StoreOp(
                        StoredBatch {
                            id: b.id,
                            attempts: b.attempts,
                            next_at: b.next_at,
                            body: &b.body,
                        }
                        .line(),
                    )));
                }
            }
        }
        self.arm(now);
    }

    /// The result of a `Beacon`: whether the browser took it. A taken beacon is done (the
    /// browser reports nothing more); a refused one goes by `fetch` keepalive, persisted first.
    pub fn beacon_result(&mut self, token: u32, accepted: bool, now: f64) {
        let Some(i) = self.out.find(token) else {
            return;
        };
        if accepted {
            self.out.forget(i);
        } else {
            self.stats.beacons -= 1;
            let b = &mut self.out.batches[i];
            b.token = 0;
            b.dirty = true; // not fresh any more: the pump fetches it
        }
        self.pump(now);
    }

    /// The result of a `Fetch`: the status (0 for a network error, including a response the
    /// page may not read) and the `Retry-After` header read as a number of seconds (NaN or
    /// negative when absent, unreadable or not a number: [`retry_after_ms`]).
    pub fn transport(&mut self, token: u32, status: u16, retry_after: f64, now: f64) {
        let Some(i) = self.out.find(token) else {
            return; // stale: the batch was cleared (consent withdrawn) or given up
        };
        let wall = self.wall(now);
        let out = &mut self.out;
        let b = &mut out.batches[i];
        b.token = 0;
        b.attempts += 1;
        let last = b.attempts >= MAX_ATTEMPTS;
        if queue::is_final_status(status as u32) || last {
            let b = out.forget(i);
            let st = &mut self.stats;
            if (200..300).contains(&status) {
                st.delivered_batches += 1;
                out.failing = false;
                out.blocked_until = 0;
            } else if last && !queue::is_final_status(status as u32) {
                st.dropped_batches += 1;
                st.dropped_events += b.events;
            } else {
                st.rejected_batches += 1;
                st.rejected_events += b.events;
            }
        } else {
            let backoff = retry_delay_ms(b.attempts);
            let r = self.ids.next_u64();
            let delay = match retry_after_ms(retry_after) {
                Some(ra) => ra + r % 1_000,
                // 0.75x to 1.25x: clients that failed together do not retry together.
                None => backoff - backoff / 4 + r % (backoff / 2),
            };
            b.next_at = wall + delay;
            b.dirty = true;
            out.failing = true;
            out.blocked_until = out.blocked_until.max(wall + delay);
            // Everything unconfirmed is persisted while the ingest is failing (the pump).
        }
        self.pump(now);
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn line(id: u64, body: &str) -> String {
        StoredBatch {
            id,
            attempts: 1,
            next_at: 5,
            body,
        }
        .line()
    }

    #[test]
    fn store_ops_write_remove_and_clear_items() {
        let mut items = BTreeMap::new();
        StoreOp(line(2, "{\"b\":2}")).apply(&mut items);
        StoreOp(line(1, "{\"a\":1}")).apply(&mut items);
        StoreOp(line(2, "{\"b\":3}")).apply(&mut items); // rewritten in place
        items.insert("other".to_owned(), "x".to_owned());
        assert!(items.contains_key("ferrotel:q:0000000000000001"));
        let both = format!("{}\n{}", line(1, "{\"a\":1}"), line(2, "{\"b\":3}"));
        assert_eq!(StoreOp::read(&items), both, "in key order");
        StoreOp(hex64(1)).apply(&mut items);
        assert_eq!(StoreOp::read(&items), line(2, "{\"b\":3}"));
        items.insert("ferrotel:queue".to_owned(), "the format before".to_owned());
        StoreOp::clear().apply(&mut items);
        assert_eq!(items.keys().collect::<Vec<_>>(), ["other"]);
    }

    #[test]
    fn batch_ids_sort_by_creation_time() {
        let mut out = Outbox::default();
        let mut stats = Stats::default();
        out.add(u64::MAX, "{}".into(), 1, 1_764_000_000_000, &mut stats);
        out.add(0, "{}".into(), 1, 1_764_000_000_001, &mut stats);
        assert!(hex64(out.batches[0].id) < hex64(out.batches[1].id));
    }

    fn body() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "\\{[^\\n]{0,40}",
            1 => (1usize..4).prop_map(|n| format!("{{{}}}", "x".repeat(n * 150 * 1024))),
        ]
    }

    proptest! {
        /// What earlier pages and other tabs left (any number of items) is adopted within the
        /// bounds: the oldest are given up first and counted and their items removed; this
        /// page's own batches stay (they are newer).
        #[test]
        fn adopt_keeps_the_newest_within_bounds(
            stored in proptest::collection::vec((any::<u64>(), body()), 0..48),
            own in 0usize..4,
        ) {
            let mut items = BTreeMap::new();
            for (id, body) in &stored {
                StoreOp(line(*id, body)).apply(&mut items);
            }
            let text = StoreOp::read(&items);
            let in_order: Vec<u64> = queue::entries(&text).map(|e| e.id).collect();
            let mut out = Outbox::default();
            let mut stats = Stats::default();
            for i in 0..own {
                out.add(i as u64, "{}".into(), 1, 9, &mut stats);
            }
            out.adopt(&text, 9, &mut stats);
            let bytes: usize = out.batches.iter().map(|b| b.body.len() + LINE_OVERHEAD).sum();
            prop_assert!(out.batches.len() <= MAX_BATCHES && bytes <= MAX_BYTES);
            let kept: Vec<u64> = out.batches.iter().filter(|b| b.stored).map(|b| b.id).collect();
            let gone = in_order.len() - kept.len();
            prop_assert_eq!(&in_order[gone..], &kept[..], "the newest stored batches, in order");
            let removals: Vec<Action> = in_order[..gone]
                .iter()
                .map(|id| Action::Store(StoreOp(hex64(*id))))
                .collect();
            prop_assert_eq!(&out.removed, &removals, "the items of those given up");
            prop_assert_eq!(stats.dropped_batches as usize, gone);
            prop_assert_eq!(out.batches.len(), kept.len() + own, "this page's own are kept");
            prop_assert_eq!(out.failing, !in_order.is_empty(), "a batch that failed: the ingest was failing");
        }
    }
}
