//! The SDK core without a browser: a simulated executor (storage as strings, an ingest whose
//! answers the test chooses) drives it through unit scenarios and random interleavings.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use proptest::prelude::*;

use super::*;
use crate::core::envelope::Envelope;
use crate::core::event::{Event, EventKind};
use crate::core::queue::{self, StoredBatch, LINE_OVERHEAD, MAX_BATCHES, MAX_BYTES};

/// One page's executor plus what outlives a page (storage, what the ingest received).
struct World {
    cfg: Config,
    sdk: Sdk,
    now: f64,
    wall_origin: u64,
    /// The origin's `localStorage` items, as glue.js keeps them.
    local: BTreeMap<String, String>,
    session: Option<String>,
    wake: Option<f64>,
    /// Requests in flight: (token, body).
    in_flight: Vec<(u32, String)>,
    /// Whether the next beacons are taken by the browser.
    beacon_ok: bool,
    /// The ingest's last answer was a failure: a beacon sent now is lost (nobody hears it).
    ingest_down: bool,
    /// Another tab may have written the queue meanwhile: its bounds are one page's, not the
    /// storage's (see `two_tabs_…`).
    shared_storage: bool,
    /// Event ids the ingest answered 2xx for (or a taken beacon carried), with counts.
    delivered: HashMap<u64, u32>,
    /// Event ids in batches refused with a final 4xx.
    rejected: BTreeSet<u64>,
    /// Every body handed to fetch or sendBeacon.
    sent: Vec<String>,
    /// Stats of earlier pages (a reload starts new counters).
    past: Stats,
    loads: u64,
}

/// The persisted queue holds at most [`MAX_BATCHES`] batches and [`MAX_BYTES`], and only
/// batches (one page's view: other tabs may add theirs, see `two_tabs_…`).
fn assert_within_bounds(local: &BTreeMap<String, String>) {
    let text = StoreOp::read(local);
    let batches: Vec<_> = queue::entries(&text).collect();
    assert_eq!(
        batches.len(),
        local.len(),
        "only batches are stored: {text}"
    );
    assert!(batches.len() <= MAX_BATCHES);
    let bytes: usize = batches.iter().map(|b| b.body.len() + LINE_OVERHEAD).sum();
    assert!(bytes <= MAX_BYTES);
}

/// Stores a batch as an earlier page would have.
fn persist(local: &mut BTreeMap<String, String>, id: u64, attempts: u32, next_at: u64, body: &str) {
    let line = StoredBatch {
        id,
        attempts,
        next_at,
        body,
    }
    .line();
    StoreOp(line).apply(local);
}

fn ids_in(body: &str) -> Vec<u64> {
    if body == "{\"v\":1}" {
        return Vec::new(); // a hand-made stored body (a_persisted_retry_time_…)
    }
    let env = Envelope::decode(body.as_bytes()).expect("the SDK sends valid envelopes");
    env.events.iter().map(|e| e.id).collect()
}

fn config() -> Config {
    let mut c = Config::new("https://ingest.test/v1/batch", "pk_test");
    c.flush_interval_ms = 5_000;
    c.max_batch_bytes = 20_000;
    c.max_batch_events = 10;
    c
}

impl World {
    fn new(cfg: Config) -> World {
        Self::with_page(cfg, false)
    }

    fn with_page(cfg: Config, privacy_signal: bool) -> World {
        let wall_origin = 1_764_000_000_000;
        let sdk = Sdk::new(
            cfg.clone(),
            &Page {
                url: "https://shop.test/cart?token=secret&x=1".into(),
                referrer: String::new(),
                visible: true,
                privacy_signal,
                wall_origin,
                seed: 7,
            },
            "navigate",
            0.0,
        );
        let mut w = World {
            cfg,
            sdk,
            now: 0.0,
            wall_origin,
            local: BTreeMap::new(),
            session: None,
            wake: None,
            in_flight: Vec::new(),
            beacon_ok: true,
            ingest_down: false,
            shared_storage: false,
            delivered: HashMap::new(),
            rejected: BTreeSet::new(),
            sent: Vec::new(),
            past: Stats::default(),
            loads: 1,
        };
        w.run();
        w
    }

    /// Performs every pending action (results of beacons and storage reads feed back at once).
    fn run(&mut self) {
        loop {
            let actions = self.sdk.take_actions();
            if actions.is_empty() {
                return;
            }
            for a in actions {
                match a {
                    Action::Fetch { token, body, .. } => {
                        self.sent.push(body.clone());
                        self.in_flight.push((token, body));
                    }
                    Action::Beacon { token, body } => {
                        let ok = self.beacon_ok;
                        if ok {
                            self.sent.push(body.clone());
                            if !self.ingest_down {
                                self.deliver(&body);
                            }
                        }
                        self.sdk.beacon_result(token, ok, self.now);
                    }
                    Action::Store(op) => {
                        op.apply(&mut self.local);
                        // Checked on every write (removals come first, so a write that
                        // follows them joins a queue within its bounds).
                        if op.0.len() > 16 && !self.shared_storage {
                            assert_within_bounds(&self.local);
                        }
                    }
                    Action::ReadSession => {
                        let s = self.session.clone();
                        self.sdk.session_read(s.as_deref(), self.now);
                    }
                    Action::SaveSession(v) => self.session = Some(v),
                    Action::ReadQueue => {
                        let t = StoreOp::read(&self.local);
                        self.sdk.queue_read(&t, self.now);
                    }
                    Action::ReadNavigation => {}
                    Action::Wake(t) => self.wake = Some(t),
                }
            }
        }
    }

    fn deliver(&mut self, body: &str) {
        for id in ids_in(body) {
            assert!(
                !self.rejected.contains(&id),
                "event {id:x} delivered after a 4xx dropped it"
            );
            *self.delivered.entry(id).or_default() += 1;
        }
    }

    /// Advances the clock by `ms`, firing the timer whenever a wake is due.
    fn advance(&mut self, ms: f64) {
        let end = self.now + ms;
        while let Some(t) = self.wake.filter(|t| *t <= end) {
            self.now = self.now.max(t);
            self.wake = None;
            self.sdk.timer(self.now);
            self.run();
        }
        self.now = end;
    }

    /// Answers the oldest request in flight.
    fn answer(&mut self, status: u16, retry_after: Option<&str>) -> bool {
        if self.in_flight.is_empty() {
            return false;
        }
        let (token, body) = self.in_flight.remove(0);
        self.ingest_down = !queue::is_final_status(status as u32);
        if (200..300).contains(&status) {
            self.deliver(&body);
        } else if queue::is_final_status(status as u32) {
            self.rejected.extend(ids_in(&body));
        }
        // As glue.js reads the header: `Number(value)`, -1 when absent.
        let ra = retry_after.map_or(-1.0, |v| v.trim().parse().unwrap_or(f64::NAN));
        self.sdk.transport(token, status, ra, self.now);
        self.run();
        true
    }

    fn track(&mut self, name: &str) -> u64 {
        let id = self.sdk.track(name, Vec::new(), self.now);
        self.run();
        id
    }

    fn flush(&mut self) {
        self.sdk.flush(self.now);
        self.run();
    }

    fn hide(&mut self) {
        self.sdk.visibility(false, 0, self.now);
        self.run();
    }

    fn show(&mut self) {
        self.sdk.visibility(true, 0, self.now);
        self.run();
    }

    /// The page is left (pagehide) and the next page of the origin loads, `jump` ms of wall
    /// clock later (negative: the clock went back). Requests in flight never report back.
    fn reload(&mut self, jump: i64) {
        self.sdk.page_hide(0, self.now);
        self.run();
        let s = self.sdk.stats();
        self.past.beacons += s.beacons;
        self.past.fetches += s.fetches;
        self.past.dropped_events += s.dropped_events;
        self.past.rejected_events += s.rejected_events;
        self.in_flight.clear();
        let wall = self.wall_origin as i64 + self.now as i64 + 10_000 + jump;
        self.wall_origin = wall.max(1) as u64;
        self.now = 0.0;
        self.wake = None;
        self.loads += 1;
        self.sdk = Sdk::new(
            self.cfg.clone(),
            &Page {
                url: "https://shop.test/next".into(),
                referrer: String::new(),
                visible: true,
                privacy_signal: false,
                wall_origin: self.wall_origin,
                seed: 7 + self.loads,
            },
            "navigate",
            0.0,
        );
        self.run();
    }

    fn stats(&self) -> Stats {
        let s = self.sdk.stats();
        Stats {
            dropped_events: s.dropped_events + self.past.dropped_events,
            rejected_events: s.rejected_events + self.past.rejected_events,
            ..s
        }
    }
}

#[test]
fn visible_batches_go_by_fetch_and_2xx_ends_them() {
    let mut w = World::new(config());
    let id = w.track("a");
    assert_ne!(id, 0);
    w.flush();
    assert_eq!(w.in_flight.len(), 1, "sent with fetch while visible");
    // The page URL goes as the page has it; the edge scrubs it before anything is kept.
    assert!(w.sent[0].contains("\"url\":\"https://shop.test/cart?token=secret&x=1\""));
    let env = Envelope::decode(w.sent[0].as_bytes()).unwrap();
    let mut e = env.events[0].clone();
    crate::core::protect::protect_urls(&mut e, &env.resource.allow_query);
    assert_eq!(
        e.url, "https://shop.test/cart",
        "query scrubbed at the edge"
    );
    assert!(w.answer(204, None));
    assert_eq!(w.delivered.get(&id), Some(&1));
    assert!(w.local.is_empty(), "nothing persisted on the healthy path");
    assert_eq!(w.sdk.unconfirmed_events(), 0);
    assert_eq!(w.sdk.stats().delivered_batches, 1);
}

/// Page views of `routes` made after the load, by cause and URL as the edge stores them.
fn views_after(cfg: Config, routes: &[&str]) -> Vec<String> {
    let mut w = World::new(cfg);
    for r in routes {
        w.sdk.route(r, ViewCause::Route, w.now);
        w.run();
    }
    w.flush();
    let mut out = Vec::new();
    for body in &w.sent {
        let env = Envelope::decode(body.as_bytes()).unwrap();
        for mut e in env.events {
            crate::core::protect::protect_urls(&mut e, &env.resource.allow_query);
            if let EventKind::PageView { cause, referrer } = &e.kind {
                out.push(format!("{} {} <- {}", cause.as_str(), e.url, referrer));
            }
        }
    }
    out
}

#[test]
fn a_query_change_is_a_new_view_only_when_the_edge_keeps_it() {
    let routes = [
        "https://shop.test/cart?token=other", // only the query: same view
        "https://shop.test/cart?token=x#/items", // a hash route: new view
        "https://shop.test/list?utm_source=a", // a new path
        "https://shop.test/list?utm_source=b", // only the query
    ];
    assert_eq!(
        views_after(config(), &routes),
        [
            "load https://shop.test/cart <- ",
            "route https://shop.test/cart#/items <- https://shop.test/cart",
            "route https://shop.test/list <- https://shop.test/cart#/items",
        ]
    );
    let mut keep = config();
    keep.allow_query = vec!["utm_source".into()];
    assert_eq!(
        views_after(keep, &routes),
        [
            "load https://shop.test/cart <- ",
            "route https://shop.test/cart <- https://shop.test/cart",
            "route https://shop.test/cart#/items <- https://shop.test/cart",
            "route https://shop.test/list?utm_source=a <- https://shop.test/cart#/items",
            "route https://shop.test/list?utm_source=b <- https://shop.test/list?utm_source=a",
        ],
        "with allowQuery any query change is a new view; the edge keeps the allowed parameter"
    );
}

fn sent_at(body: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["sent_at"].as_u64().unwrap()
}

#[test]
fn a_503_keeps_persists_and_retries_with_backoff() {
    let mut w = World::new(config());
    let id = w.track("a");
    w.flush();
    w.answer(503, None);
    assert_eq!(w.local.len(), 1, "persisted after the failure");
    assert!(w.in_flight.is_empty());
    w.advance(3_000.0);
    assert!(
        w.in_flight.is_empty(),
        "no retry before the backoff (5 s ± 25%)"
    );
    let first = sent_at(&w.sent[0]);
    w.advance(4_000.0);
    assert_eq!(w.in_flight.len(), 1, "retried after the backoff");
    let again = w.sent.last().unwrap();
    assert!(
        sent_at(again) >= first + 3_000,
        "sent_at is stamped at each attempt: {first} then {}",
        sent_at(again)
    );
    let without = |b: &str| {
        let mut v: serde_json::Value = serde_json::from_str(b).unwrap();
        v.as_object_mut().unwrap().remove("sent_at");
        v
    };
    assert_eq!(without(again), without(&w.sent[0]), "only sent_at changed");
    w.answer(204, None);
    assert_eq!(w.delivered.get(&id), Some(&1));
    assert!(w.local.is_empty(), "removed once delivered");
}

#[test]
fn a_429_waits_for_retry_after_and_probes_one_batch_at_a_time() {
    let mut w = World::new(config());
    w.track("a");
    w.flush();
    w.answer(429, Some("30"));
    for i in 0..3 {
        w.track(&format!("b{i}"));
        w.flush();
    }
    assert!(
        w.in_flight.is_empty(),
        "nothing sent while Retry-After runs"
    );
    assert_eq!(w.local.len(), 4, "all persisted while failing");
    w.advance(29_000.0);
    assert!(w.in_flight.is_empty());
    w.advance(3_000.0);
    assert_eq!(w.in_flight.len(), 1, "one probe after Retry-After");
    w.answer(204, None);
    assert_eq!(
        w.in_flight.len(),
        3,
        "the rest follow once the ingest answers 2xx"
    );
    while w.answer(204, None) {}
    assert!(w.local.is_empty());
    assert_eq!(
        w.delivered.len(),
        5,
        "the page view and four events, once each"
    );
    assert!(w.delivered.values().all(|n| *n == 1));
}

#[test]
fn a_final_4xx_drops_the_batch_for_good_and_counts_it() {
    let mut w = World::new(config());
    w.track("a");
    w.track("b");
    w.flush();
    w.answer(413, None);
    w.advance(4_000_000.0);
    assert!(w.in_flight.is_empty());
    assert_eq!(w.sdk.stats().rejected_batches, 1);
    assert_eq!(w.sdk.stats().rejected_events, 3, "page view and two events");
    assert!(w.local.is_empty());
}

#[test]
fn hidden_page_beacons_when_healthy_and_persists_when_failing() {
    let mut w = World::new(config());
    let a = w.track("a");
    w.hide();
    assert!(w.in_flight.is_empty());
    assert_eq!(w.delivered.get(&a), Some(&1), "beaconed on hide");
    assert_eq!(w.sdk.stats().beacons, 1);
    w.show();
    let b = w.track("b");
    w.flush();
    w.answer(503, None);
    let c = w.track("c");
    w.hide();
    assert_eq!(w.sdk.stats().beacons, 1, "no beacon into a failing ingest");
    let stored: Vec<_> = queue::entries(&StoreOp::read(&w.local))
        .flat_map(|e| ids_in(e.body))
        .collect();
    assert!(stored.contains(&b) && stored.contains(&c));
    // The page is closed; the next load of the origin delivers what was pending, once.
    w.reload(0);
    w.advance(2_000.0);
    while w.answer(204, None) {}
    assert_eq!(w.delivered.get(&b), Some(&1));
    assert_eq!(w.delivered.get(&c), Some(&1));
    assert!(w.local.is_empty());
}

/// A second tab of the origin: its own page (another seed), the same storage.
fn tab(seed: u64, storage: &mut BTreeMap<String, String>) -> World {
    let mut w = World::new(config());
    w.sdk = Sdk::new(
        w.cfg.clone(),
        &Page {
            url: "https://shop.test/other".into(),
            visible: true,
            wall_origin: w.wall_origin,
            seed,
            ..Page::default()
        },
        "navigate",
        0.0,
    );
    w.shared_storage = true;
    w.local = std::mem::take(storage);
    w.run();
    w
}

/// Runs `f` on `w` with the shared storage in its hands.
fn in_tab(w: &mut World, storage: &mut BTreeMap<String, String>, f: impl FnOnce(&mut World)) {
    std::mem::swap(&mut w.local, storage);
    f(w);
    std::mem::swap(&mut w.local, storage);
}

#[test]
fn two_tabs_persist_side_by_side_and_the_next_load_brings_the_queue_within_bounds() {
    let mut storage = BTreeMap::new();
    let mut a = World::new(config());
    a.shared_storage = true;
    std::mem::swap(&mut a.local, &mut storage);
    let mut b = tab(99, &mut storage);
    std::mem::swap(&mut b.local, &mut storage);
    // Both tabs have read the (empty) queue; then the ingest goes down for both.
    in_tab(&mut a, &mut storage, |w| w.advance(1_500.0));
    in_tab(&mut b, &mut storage, |w| w.advance(1_500.0));
    let mut recorded = Vec::new();
    for w in [&mut a, &mut b] {
        in_tab(w, &mut storage, |w| {
            while w.answer(204, None) {}
            for _ in 0..20 {
                recorded.push(w.track("t"));
                w.flush();
                w.answer(503, None);
            }
            w.in_flight.clear(); // both pages are closed, their requests never answer
        });
    }
    assert_eq!(
        storage.len(),
        40,
        "each tab's batches in items of their own"
    );
    let oldest: Vec<String> = storage.keys().take(8).cloned().collect();
    // The next page of the origin adopts the newest 32 and gives up the 8 oldest (counted).
    let mut c = World::new(config());
    c.local = storage;
    c.advance(1_500.0);
    assert!(c.local.len() <= MAX_BATCHES);
    assert!(
        oldest.iter().all(|k| !c.local.contains_key(k)),
        "the oldest removed"
    );
    assert_eq!(c.sdk.stats().dropped_batches, 8);
    for _ in 0..10 {
        while c.answer(204, None) {}
        c.advance(600_000.0);
    }
    assert!(c.local.is_empty());
    let lost = recorded
        .iter()
        .filter(|id| !c.delivered.contains_key(id))
        .count();
    assert!(lost > 0 && lost as u32 <= c.sdk.stats().dropped_events);
}

#[test]
fn stop_delivers_what_is_pending() {
    let mut w = World::new(config());
    let a = w.track("a");
    w.sdk.stop(w.now);
    w.run();
    assert_eq!(w.delivered.get(&a), Some(&1), "beaconed on stop");
    assert_eq!(w.track("b"), 0, "nothing recorded after stop");
}

#[test]
fn refused_beacon_falls_back_to_keepalive_fetch_persisted_first() {
    let mut w = World::new(config());
    w.beacon_ok = false;
    w.track("a");
    w.hide();
    assert_eq!(w.in_flight.len(), 1);
    assert_eq!(w.local.len(), 1, "write-ahead");
    w.answer(204, None);
    assert!(w.local.is_empty());
}

#[test]
fn in_flight_fetch_at_pagehide_is_persisted_and_resent_next_load() {
    let mut w = World::new(config());
    let a = w.track("a");
    w.flush();
    assert_eq!(w.in_flight.len(), 1);
    w.reload(0); // the fetch never reports back
    w.advance(1_500.0);
    while w.answer(204, None) {}
    assert_eq!(w.delivered.get(&a), Some(&1));
}

#[test]
fn consent_holds_then_sends_or_discards_everything() {
    let mut c = config();
    c.require_consent = true;
    let mut w = World::new(c.clone());
    w.track("a");
    w.flush();
    w.hide();
    assert!(w.sent.is_empty(), "nothing leaves before consent");
    assert!(w.local.is_empty(), "nothing persisted before consent");
    w.show();
    w.sdk.set_consent(true, w.now);
    w.run();
    let sent: Vec<u64> = w.sent.iter().flat_map(|b| ids_in(b)).collect();
    assert!(
        sent.len() >= 2,
        "the held page view and event go out on consent"
    );
    let mut w = World::new(c);
    persist(&mut w.local, 0xaa, 1, 0, "{}");
    w.track("a");
    w.sdk.set_consent(false, w.now);
    w.run();
    assert!(
        w.local.is_empty(),
        "withdrawing consent clears what is persisted"
    );
    w.track("b");
    w.flush();
    w.hide();
    assert!(w.sent.is_empty());
}

#[test]
fn consent_pending_holds_the_newest_batches_worth_and_counts_the_rest() {
    let mut c = config();
    c.require_consent = true;
    c.max_batch_events = 2;
    let mut w = World::new(c);
    let held = MAX_HELD_BATCHES * 2;
    let ids: Vec<u64> = (0..held + 5).map(|i| w.track(&format!("e{i}"))).collect();
    w.flush();
    assert!(w.sent.is_empty(), "nothing leaves before consent");
    // The page view and the first 5 events were the oldest.
    assert_eq!(w.sdk.stats().dropped_events, 6);
    assert_eq!(w.sdk.unconfirmed_events(), held);
    w.sdk.set_consent(true, w.now);
    w.run();
    while w.answer(204, None) {}
    let sent: BTreeSet<u64> = w.sent.iter().flat_map(|b| ids_in(b)).collect();
    assert_eq!(
        sent,
        ids[5..].iter().copied().collect(),
        "the newest go out, once"
    );
    assert_eq!(w.sdk.unconfirmed_events(), 0);
}

#[test]
fn do_not_track_sends_nothing_and_clears_storage() {
    let mut w = World::with_page(config(), true);
    persist(&mut w.local, 0xaa, 1, 0, "{}");
    // What the format before left (one item): cleared too.
    w.local
        .insert("ferrotel:queue".into(), "00000000000000aa|1|0|{}".into());
    // The constructor's only action was the clear; replay it on the pre-filled storage.
    StoreOp::clear().apply(&mut w.local);
    assert!(!w.sdk.is_on());
    assert_eq!(w.track("a"), 0);
    w.hide();
    assert!(w.sent.is_empty());
    assert!(w.local.is_empty());
}

#[test]
fn back_forward_cache_restore_starts_a_new_view_and_new_metric_ids() {
    let mut w = World::new(config());
    w.sdk.fcp(100.0, w.now);
    w.sdk.layout_shift(0.2, 50.0, false);
    w.sdk.page_hide(0, w.now);
    w.run();
    w.sdk
        .page_show(true, true, "https://shop.test/cart", 10_000.0);
    w.sdk.layout_shift(0.05, 10_100.0, false);
    w.sdk.restore_painted(10_030.0);
    w.now = 20_000.0;
    w.hide();
    let evs: Vec<Envelope> = w
        .sent
        .iter()
        .map(|b| Envelope::decode(b.as_bytes()).unwrap())
        .collect();
    let all: Vec<&Event> = evs.iter().flat_map(|e| e.events.iter()).collect();
    let views: Vec<_> = all
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::PageView { cause, .. } => Some(*cause),
            _ => None,
        })
        .collect();
    assert_eq!(views, vec![ViewCause::Load, ViewCause::Restore]);
    let cls: Vec<_> = all
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::WebVital {
                name,
                value,
                metric_id,
                navigation_type,
                ..
            } if *name == Metric::Cls => Some((*value, metric_id.clone(), navigation_type.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(cls.len(), 2);
    assert_eq!(cls[0].0, 0.2);
    assert_eq!(cls[1].0, 0.05, "re-armed: the restored page's own shifts");
    assert_ne!(cls[0].1, cls[1].1, "a new metric id after the restore");
    assert_eq!(cls[1].2, "back-forward-cache");
    let fcp: Vec<f64> = all
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::WebVital { name, value, .. } if *name == Metric::Fcp => Some(*value),
            _ => None,
        })
        .collect();
    assert_eq!(fcp, vec![100.0, 30.0]);
}

#[test]
fn session_is_reused_while_active_and_rolls_over_when_idle() {
    let mut w = World::new(config());
    w.advance(10.0);
    let first = w.sdk.session_id().unwrap().to_owned();
    w.reload(60_000);
    w.advance(10.0);
    assert_eq!(
        w.sdk.session_id(),
        Some(first.as_str()),
        "reused within 30 min"
    );
    w.track("x");
    w.advance(SESSION_IDLE_MS as f64 + 60_000.0);
    w.track("y");
    w.flush();
    assert_ne!(
        w.sdk.session_id(),
        Some(first.as_str()),
        "rolled over when idle"
    );
    w.reload(2 * SESSION_IDLE_MS as i64);
    w.advance(10.0);
    assert_ne!(w.sdk.session_id(), Some(first.as_str()));
}

/// The session record's activity time is written at most once a minute while the page is
/// visible (not at every batch), and at once when the page is hidden.
#[test]
fn session_record_is_written_once_a_minute_while_visible_and_on_hide() {
    let mut w = World::new(config());
    w.advance(10.0);
    let first = w.session.clone().expect("written when the session starts");
    for _ in 0..5 {
        w.advance(5_000.0);
        w.track("x");
        w.flush();
    }
    assert_eq!(
        w.session.as_ref(),
        Some(&first),
        "not rewritten within a minute"
    );
    w.advance(40_000.0);
    w.track("x");
    w.flush();
    let second = w.session.clone().unwrap();
    assert_ne!(second, first, "rewritten after a minute");
    w.advance(1_000.0);
    w.track("x");
    w.hide();
    assert_ne!(w.session.as_ref(), Some(&second), "rewritten on hide");
}

#[test]
fn errors_are_deduplicated_and_counted_and_repeats_carry_the_stack() {
    let mut w = World::new(config());
    let report = |w: &mut World, line: u32| {
        let stack = format!("TypeError: x is null\n    at f (https://app.test/a.js:{line}:2)");
        w.sdk
            .error(ErrorSource::Error, "TypeError", "x is null", &stack, w.now)
    };
    for _ in 0..3 {
        report(&mut w, 1);
    }
    report(&mut w, 7); // another place: another error
    w.flush();
    w.advance(60_000.0);
    report(&mut w, 1); // a repeat after the first was sent
    w.flush();
    assert!(
        w.sent.iter().all(|b| !b.contains("fingerprint")),
        "the SDK leaves the fingerprint to the edge"
    );
    let sent = edge_errors(&w);
    let summary: Vec<(&str, u32)> = sent
        .iter()
        .map(|(_, stack, _, count)| (&stack[stack.len() - 4..], *count))
        .collect();
    assert_eq!(
        summary,
        [("1:2)", 1), ("7:2)", 1), ("1:2)", 2), ("1:2)", 1)],
        "repeats are sent once per flush with their count and the first occurrence's stack"
    );
    let fp: Vec<u64> = sent.iter().map(|e| e.2).collect();
    assert!(fp[0] != 0 && fp[0] != fp[1]);
    assert_eq!(
        (fp[2], fp[3]),
        (fp[0], fp[0]),
        "the edge gives repeats the first occurrence's fingerprint"
    );
}

/// The error events `w` sent, as the edge stores them ([`protect`]ed with the envelope's
/// `mask_messages`, as `ingest::decide` does): (message, stack, fingerprint, count).
///
/// [`protect`]: crate::core::protect::protect
fn edge_errors(w: &World) -> Vec<(String, String, u64, u32)> {
    let mut out = Vec::new();
    for body in &w.sent {
        let env = Envelope::decode(body.as_bytes()).unwrap();
        for mut e in env.events {
            crate::core::protect::protect_urls(&mut e, &env.resource.allow_query);
            crate::core::protect::protect(&mut e, env.resource.mask_messages);
            if let EventKind::Error {
                message,
                stack,
                fingerprint,
                count,
                ..
            } = e.kind
            {
                out.push((message, stack, fingerprint, count));
            }
        }
    }
    out
}

#[test]
fn error_messages_travel_as_thrown_and_the_edge_masks_them_unless_turned_off() {
    let report = |mask: bool| {
        let mut w = World::new(Config {
            mask_messages: mask,
            ..config()
        });
        for (who, card) in [
            ("bob@example.com", "4111 1111 1111 1111"),
            ("amy@example.org", "5500-0000-0000-0004"),
        ] {
            let message = format!("no account for {who}, card {card}, status 404");
            let stack = format!(
                "Error: {message}\n    at pay (https://shop.test/app.js?token=T:1:2345678)"
            );
            w.sdk
                .error(ErrorSource::Error, "Error", &message, &stack, w.now);
        }
        w.flush();
        let body = w.sent[0].clone();
        assert!(body.contains("bob@example.com") && body.contains("token=T"));
        assert_eq!(body.contains(r#""mask_messages":false"#), !mask);
        edge_errors(&w)
    };
    let masked = report(true);
    assert_eq!(masked.len(), 2, "{masked:?}");
    let (message, stack, fingerprint, _) = &masked[0];
    assert_eq!(message, "no account for [email], card [number], status 404");
    assert_eq!(
        stack,
        "Error: no account for [email], card [number], status 404\n    at pay (https://shop.test/app.js:1:2345678)",
        "the header is masked, the frame (a 7-digit column) is not; its query is scrubbed"
    );
    assert_eq!(
        (&masked[1].0, &masked[1].2),
        (message, fingerprint),
        "another address and card is the same error at the edge"
    );
    let plain = report(false);
    assert_eq!(plain.len(), 2, "{plain:?}");
    assert_ne!(plain[0].2, plain[1].2, "unmasked, they are two errors");
    assert_eq!(
        plain[0].0,
        "no account for bob@example.com, card 4111 1111 1111 1111, status 404"
    );
    assert!(plain[0]
        .1
        .starts_with("Error: no account for bob@example.com, card 4111"));
    assert!(plain[0].1.ends_with("app.js:1:2345678)"), "{}", plain[0].1);
}

#[test]
fn a_persisted_retry_time_in_the_far_future_is_capped() {
    let mut w = World::new(config());
    persist(&mut w.local, 0xaa, 1, 99_999_999_999_999, "{\"v\":1}");
    w.advance(1_500.0);
    assert!(w.in_flight.is_empty());
    for _ in 0..4 {
        w.advance(delivery::MAX_DELAY_MS as f64 / 3.0);
        while w.answer(204, None) {}
    }
    assert!(
        w.sent.iter().any(|b| b == "{\"v\":1}"),
        "retried within the cap despite the clock"
    );
}

#[test]
fn retry_after_parsing() {
    use delivery::retry_after_ms as ms;
    assert_eq!(ms(30.0), Some(30_000));
    assert_eq!(ms(0.0), Some(0));
    assert_eq!(ms(999_999.0), Some(delivery::MAX_DELAY_MS));
    assert_eq!(ms(1e300), Some(delivery::MAX_DELAY_MS));
    // Number("Wed, 21 Oct 2015 07:28:00 GMT"), a fraction, a negative number, absent (-1).
    for none in [f64::NAN, 1.5, -1.0, f64::NEG_INFINITY] {
        assert_eq!(ms(none), None, "{none}");
    }
}

/// One step of a random run.
#[derive(Debug, Clone)]
enum Step {
    Track,
    Click,
    Flush,
    Advance(u32),
    Answer(u16, Option<u16>),
    Hide,
    Show,
    BeaconOk(bool),
    Reload(i32),
    Consent(bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Track),
        2 => Just(Step::Click),
        2 => Just(Step::Flush),
        4 => (0u32..200_000).prop_map(Step::Advance),
        5 => (
            prop_oneof![
                Just(204u16), Just(200), Just(400), Just(413), Just(429), Just(503), Just(0), Just(408)
            ],
            proptest::option::of(0u16..120)
        )
            .prop_map(|(s, r)| Step::Answer(s, r)),
        1 => Just(Step::Hide),
        1 => Just(Step::Show),
        1 => any::<bool>().prop_map(Step::BeaconOk),
        1 => (-4_000_000i32..4_000_000).prop_map(Step::Reload),
        1 => any::<bool>().prop_map(Step::Consent),
    ]
}

fn apply(w: &mut World, s: &Step, recorded: &mut Vec<u64>, consent_run: bool) {
    match *s {
        Step::Track => {
            let id = w.track("t");
            if id != 0 {
                recorded.push(id);
            }
        }
        Step::Click => {
            w.sdk.click("#b", "button", "Buy 2", 1, 2, w.now);
            w.run();
        }
        Step::Flush => w.flush(),
        Step::Advance(ms) => w.advance(ms as f64),
        Step::Answer(status, ra) => {
            let ra = ra.map(|r| r.to_string());
            w.answer(status, ra.as_deref());
        }
        Step::Hide => w.hide(),
        Step::Show => w.show(),
        Step::BeaconOk(ok) => w.beacon_ok = ok,
        Step::Reload(jump) => w.reload(jump as i64),
        Step::Consent(granted) => {
            if consent_run {
                w.sdk.set_consent(granted, w.now);
                w.run();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Every recorded event is delivered (a 2xx or a beacon the browser took) at least once,
    /// refused by a final 4xx, or given up and counted; nothing is delivered after a 4xx
    /// dropped it (checked on every delivery); storage stays within its bounds (checked on
    /// every write). The run ends with the ingest healthy and enough time for every retry.
    #[test]
    fn nothing_is_lost_silently(steps in proptest::collection::vec(step(), 1..120)) {
        let mut w = World::new(config());
        let mut recorded = Vec::new();
        for s in &steps {
            apply(&mut w, s, &mut recorded, false);
        }
        // Recovery: the page stays open (visible), the ingest answers 2xx from now on.
        w.show();
        w.beacon_ok = true;
        w.ingest_down = false;
        for _ in 0..40 {
            while w.answer(204, None) {}
            w.advance(600_000.0);
        }
        w.flush();
        while w.answer(204, None) {}
        prop_assert_eq!(w.sdk.unconfirmed_events(), 0);
        prop_assert!(w.local.is_empty(), "nothing left persisted once delivered");
        let st = w.stats();
        let missing = recorded
            .iter()
            .filter(|id| !w.delivered.contains_key(id) && !w.rejected.contains(id))
            .count();
        prop_assert!(missing as u32 <= st.dropped_events,
            "{} events neither delivered, refused nor counted as given up ({} counted)",
            missing, st.dropped_events);
        if st.dropped_events == 0 {
            prop_assert_eq!(missing, 0);
        }
    }

    /// With `requireConsent`, nothing is sent or persisted before consent, and nothing after it
    /// is withdrawn; withdrawing consent leaves nothing persisted.
    #[test]
    fn nothing_leaves_without_consent(steps in proptest::collection::vec(step(), 1..80)) {
        let mut c = config();
        c.require_consent = true;
        let mut w = World::new(c);
        let mut granted = false;
        let mut recorded = Vec::new();
        for s in &steps {
            let before = w.sent.len();
            apply(&mut w, s, &mut recorded, true);
            if let Step::Reload(_) = s {
                granted = false; // consent is given per page by the app's consent manager
                continue;
            }
            if let Step::Consent(g) = s {
                granted = *g;
                if !g {
                    prop_assert!(w.local.is_empty(), "withdrawal clears storage");
                }
            }
            if !granted {
                prop_assert_eq!(w.sent.len(), before, "sent without consent after {:?}", s);
            }
        }
    }
}

#[test]
fn stats_are_read_by_index_in_field_order() {
    let s = Stats {
        beacons: 1,
        fetches: 2,
        delivered_batches: 3,
        rejected_batches: 4,
        rejected_events: 5,
        dropped_batches: 6,
        dropped_events: 7,
        errors_over_cap: 8,
    };
    let all: Vec<u32> = (0..9).filter_map(|i| s.get(i)).collect();
    assert_eq!(all, [1, 2, 3, 4, 5, 6, 7, 8]);
}

/// Repeats of an error rewrite the last digit of its encoded fields (`ErrorSlot`): that needs
/// `count` to be the error kind's last field.
#[test]
fn an_errors_count_is_its_last_field() {
    let mut f = String::new();
    write::Error(&mut f, &ErrorSource::Error, "T", "m", "s", &(), &1u32);
    assert!(f.ends_with(",\"count\":1"), "{f}");
}
