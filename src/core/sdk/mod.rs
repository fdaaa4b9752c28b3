//! The browser SDK as a sans-IO state machine: facts in, actions out.
//!
//! [`Sdk`] never touches the DOM, storage, the network or a clock. The browser executor
//! (`src/browser`) reads the page, hands each fact to one of the methods below (a click with its
//! already-read selector and text, a performance entry's numbers, an error, a visibility change,
//! a transport result with its status and `Retry-After`, what storage returned, a timer firing),
//! then drains [`Sdk::take_actions`] and performs each [`Action`]. Consent, sampling, error
//! dedup, sessions, screen time, vitals finalisation, batching, retry, backoff and persistence
//! are decided here and nowhere else, so all of it is tested natively (see `tests.rs`, including
//! property tests over random interleavings of facts and transport results).
//!
//! Time comes in as `now`: milliseconds on the page's monotonic clock (`performance.now()`).
//! Wall time (event timestamps, retry times that survive a reload) is `wall_origin + now`, with
//! `wall_origin` given once per page, so a clock jump between two page loads cannot reorder the
//! events of one page, and a retry time far in the future (the clock went back) is capped.

mod delivery;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use super::batch::Batcher;
use super::bytes::cut;
use super::config::Config;
use super::envelope::Header;
use super::event::{limits, AttrValue, ErrorSource, Event, EventKind, NavTiming, ViewCause};
use super::ids::{fnv1a_continue, is_hex, parse_u64, push_hex64, IdGen};
use super::json::push_u64;
use super::sample::Sampler;
use super::scrub::{scrub_url, truncate_in_place};
use super::vitals::{Cls, Inp, Metric};

pub use delivery::{StoreOp, KEY_PREFIX};

/// Sessions end after this long without activity (the usual analytics convention).
pub const SESSION_IDLE_MS: u64 = 30 * 60 * 1000;
/// When the persisted retry queue is first read, after start: the first `localStorage` access
/// of a page loads the origin's storage from disk, which must not delay the page's start.
pub const QUEUE_READ_DELAY_MS: f64 = 1_000.0;
/// Batches held in memory while consent is pending, at most.
pub const MAX_HELD_BATCHES: usize = 8;

/// Something the executor must do. Results come back as facts: [`Sdk::transport`] for a
/// `Fetch`, [`Sdk::beacon_result`] for a `Beacon`, [`Sdk::session_read`] for `ReadSession`,
/// [`Sdk::queue_read`] for `ReadQueue`, [`Sdk::navigation`] for `ReadNavigation`,
/// [`Sdk::timer`] when a `Wake` time is reached.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// POST `body` to the endpoint with `fetch` and report the status (0 for a network error)
    /// and the `Retry-After` header with `token`. `keepalive` is set while the page is going away.
    Fetch {
        /// Identifies this attempt in [`Sdk::transport`].
        token: u32,
        /// The request body (one envelope).
        body: String,
        /// Use `fetch(…, {keepalive: true})`.
        keepalive: bool,
    },
    /// Hand `body` to `navigator.sendBeacon` and report whether the browser took it.
    Beacon {
        /// Identifies this attempt in [`Sdk::beacon_result`].
        token: u32,
        /// The request body.
        body: String,
    },
    /// Write or remove one item of the persisted retry queue (`localStorage`, one item per
    /// batch, shared by the origin's tabs), as [`StoreOp`] says; nothing is read.
    Store(StoreOp),
    /// Read the session record (`sessionStorage`) now and report it.
    ReadSession,
    /// Write the session record.
    SaveSession(String),
    /// Read the persisted retry queue now and report it.
    ReadQueue,
    /// Read the navigation timing entry now and report it (if the browser has one).
    ReadNavigation,
    /// Call [`Sdk::timer`] at this `now` (or soon after). Replaces any earlier request.
    Wake(f64),
}

/// Counters of what happened to delivery and capture (never surfaced as exceptions).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Batches handed to `sendBeacon`.
    pub beacons: u32,
    /// Requests made with `fetch` (first sends and retries).
    pub fetches: u32,
    /// Batches the ingest answered 2xx.
    pub delivered_batches: u32,
    /// Batches the ingest refused for good (a 4xx other than 408/429): not retried.
    pub rejected_batches: u32,
    /// Events in those refused batches.
    pub rejected_events: u32,
    /// Batches given up: out of attempts, or over the queue's bounds (oldest first).
    pub dropped_batches: u32,
    /// Events in those batches.
    pub dropped_events: u32,
    /// Errors not sent because the session's cap was reached.
    pub errors_over_cap: u32,
}

/// Whether events may leave the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consent {
    Granted,
    Pending,
    Denied,
}

/// What the executor knows about the page when the SDK starts.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// `location.href`.
    pub url: String,
    /// `document.referrer`.
    pub referrer: String,
    /// The document is visible.
    pub visible: bool,
    /// Do-Not-Track or Global Privacy Control is on.
    pub privacy_signal: bool,
    /// Wall time at `now == 0`: `Date.now() - performance.now()`.
    pub wall_origin: u64,
    /// The event-id seed: [`super::ids::seed`] of four random words (`crypto.getRandomValues`).
    pub seed: u64,
}

/// The raw numbers of a `PerformanceNavigationTiming` entry (0 where the browser has none).
#[derive(Debug, Clone, Default, PartialEq)]
#[allow(missing_docs)]
pub struct NavEntry {
    pub navigation_type: String,
    pub activation_start: f64,
    pub domain_lookup_start: f64,
    pub domain_lookup_end: f64,
    pub connect_start: f64,
    pub connect_end: f64,
    pub secure_connection_start: f64,
    pub request_start: f64,
    pub response_start: f64,
    pub response_end: f64,
    pub dom_interactive: f64,
    pub dom_content_loaded_event_end: f64,
    pub load_event_end: f64,
    pub transfer_size: f64,
}

/// One distinct error seen this session (same type, message and stack, byte for byte):
/// repeats are counted and sent as one event, with the first occurrence's message and stack,
/// so the edge groups the repeats under the first occurrence's fingerprint.
struct ErrorSlot {
    /// FNV-1a of type, message and stack: a dedup key only, never sent.
    key: u64,
    source: ErrorSource,
    kind: String,
    message: String,
    stack: String,
    unsent: u32,
}

/// Web-vitals state for one page load (or one back/forward-cache restore).
struct Vitals {
    /// Distinguishes this load's metrics from a restore's (`<name>-<hex>`).
    load_id: u64,
    navigation_type: String,
    /// `now` when the page was first hidden (FCP/LCP after that do not count).
    first_hidden: f64,
    fcp_done: bool,
    lcp: f64,
    lcp_done: bool,
    cls: Cls,
    cls_reported: f64,
    inp: Inp,
    inp_reported: f64,
    nav_done: bool,
    /// `now` of a back/forward-cache restore whose paint is awaited.
    restored_at: Option<f64>,
}

impl Vitals {
    fn new(load_id: u64, navigation_type: &str, visible: bool, now: f64) -> Vitals {
        Vitals {
            load_id,
            navigation_type: navigation_type.into(),
            first_hidden: if visible { f64::INFINITY } else { now },
            fcp_done: false,
            lcp: 0.0,
            lcp_done: false,
            cls: Cls::default(),
            cls_reported: -1.0,
            inp: Inp::default(),
            inp_reported: 0.0,
            nav_done: false,
            restored_at: None,
        }
    }
}

/// The SDK of one page.
pub struct Sdk {
    cfg: Config,
    /// Nothing is captured or sent (Do-Not-Track / GPC at start).
    off: bool,
    /// Stopped: nothing more is recorded.
    stopped: bool,
    wall_origin: u64,
    ids: IdGen,
    session: String,
    /// `now` of the last activity recorded in the session record.
    session_touched: f64,
    /// Empty until the session is known.
    header: Option<Header>,
    sampled: bool,
    consent: Consent,
    pending: Vec<Event>,
    batcher: Batcher,
    held: Vec<Vec<String>>,
    /// Flush as soon as the session is known.
    flush_after_session: bool,
    /// Flush at the next wake (a full batch's worth is pending).
    flush_soon: bool,
    last_flush: f64,
    started: f64,
    queue_read: bool,
    hidden: bool,
    url: String,
    view: u64,
    visible_since: Option<f64>,
    visible_ms: f64,
    errors: Vec<ErrorSlot>,
    vitals: Vitals,
    out: delivery::Outbox,
    stats: Stats,
    actions: Vec<Action>,
    /// The `Wake` time last asked for (infinite: none).
    wake: f64,
}

impl Sdk {
    /// Starts the SDK for one page. `cfg` must be valid ([`Config::validate`]). With
    /// `respect_do_not_track` and the page's privacy signal on, the SDK is off: it captures and
    /// sends nothing and its only action clears what earlier pages persisted.
    pub fn new(cfg: Config, page: &Page, navigation_type: &str, now: f64) -> Sdk {
        let mut ids = IdGen::new(page.seed);
        // The envelope overhead depends only on the lengths of the key and the 32-digit session.
        let overhead = Header::for_config(&cfg, "00000000000000000000000000000000").overhead();
        let batcher = Batcher::new(
            cfg.max_batch_bytes as usize,
            cfg.max_batch_events as usize,
            overhead,
        );
        let off = cfg.respect_do_not_track && page.privacy_signal;
        let load_id = ids.next_u64();
        let mut sdk = Sdk {
            off,
            stopped: false,
            wall_origin: page.wall_origin,
            ids,
            session: String::new(),
            session_touched: now,
            header: None,
            sampled: true,
            consent: if cfg.require_consent {
                Consent::Pending
            } else {
                Consent::Granted
            },
            pending: Vec::new(),
            batcher,
            held: Vec::new(),
            flush_after_session: false,
            flush_soon: false,
            last_flush: now,
            started: now,
            queue_read: false,
            hidden: !page.visible,
            url: String::new(),
            view: 0,
            visible_since: page.visible.then_some(now),
            visible_ms: 0.0,
            errors: Vec::new(),
            vitals: Vitals::new(load_id, navigation_type, page.visible, now),
            out: delivery::Outbox::default(),
            stats: Stats::default(),
            actions: Vec::new(),
            wake: f64::INFINITY,
            cfg,
        };
        if off {
            // Do-Not-Track / GPC: also forget what earlier pages left for retry.
            sdk.actions.push(Action::Store(StoreOp::clear()));
            return sdk;
        }
        // Tokens start anywhere: a late answer to an earlier instance's request (after a
        // stop and a new start in the same page) must not match one of ours.
        sdk.out.first_token(sdk.ids.next_u64() as u32);
        sdk.url = sdk.scrubbed(&page.url);
        if sdk.cfg.capture_page_views {
            let referrer = sdk.scrubbed(&page.referrer);
            sdk.view = sdk.record(
                EventKind::PageView {
                    referrer,
                    cause: ViewCause::Load,
                },
                now,
            );
        }
        sdk.arm(now);
        sdk
    }

    /// Whether the SDK captures at all (false under Do-Not-Track / GPC, or after a stop).
    pub fn is_on(&self) -> bool {
        !self.off && !self.stopped
    }

    /// The running configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The actions decided since the last call, in order.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// The session id (32 hex digits), once known.
    pub fn session_id(&self) -> Option<&str> {
        (!self.session.is_empty()).then_some(self.session.as_str())
    }

    /// Delivery and capture counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Events recorded but not yet confirmed delivered, refused or given up (pending, held for
    /// consent, or in a batch waiting for its first send or a retry).
    pub fn unconfirmed_events(&self) -> usize {
        self.pending.len()
            + self.batcher.len()
            + self.held.iter().map(Vec::len).sum::<usize>()
            + self.out.events()
    }

    fn wall(&self, now: f64) -> u64 {
        self.wall_origin.saturating_add(now.max(0.0) as u64)
    }

    fn scrubbed(&self, url: &str) -> String {
        scrub_url(url, &self.cfg.allow_query).into_owned()
    }

    /// Records one event (if consent, sampling and the SDK's state allow it); returns its id,
    /// or 0 when it was not recorded. Encoding and batching happen at the next flush.
    fn record(&mut self, kind: EventKind, now: f64) -> u64 {
        if self.off
            || self.stopped
            || self.consent == Consent::Denied
            || (!self.sampled && !kind.is_error())
        {
            return 0;
        }
        let id = self.ids.next_u64();
        self.pending.push(Event {
            id,
            t: self.wall(now),
            url: self.url.clone(),
            kind,
        });
        // The click path: a wake-up is only needed for the first pending event (the flush
        // interval starts) or when a batch's worth is pending.
        if self.pending.len() >= self.cfg.max_batch_events as usize {
            if !self.flush_soon {
                self.flush_soon = true;
                self.arm(now);
            }
        } else if self.pending.len() == 1 {
            self.arm(now);
        }
        id
    }

    /// The next time something is due, and asks for a wake-up if it is earlier than the one
    /// already asked for.
    fn arm(&mut self, now: f64) {
        if self.off {
            return;
        }
        let mut next = f64::INFINITY;
        if self.flush_soon || (self.session.is_empty() && !self.flush_after_session) {
            next = now;
        } else if !self.pending.is_empty() || self.errors.iter().any(|e| e.unsent > 0) {
            next = self.last_flush + self.cfg.flush_interval_ms as f64;
        }
        if !self.queue_read {
            next = next.min(self.started + QUEUE_READ_DELAY_MS);
        }
        if self.consent == Consent::Granted {
            if let Some(t) = self.out.next_due(self.wall_origin) {
                next = next.min(t);
            }
        }
        let next = next.max(now);
        if next < self.wake || self.wake < now {
            self.wake = next;
            if next.is_finite() {
                self.actions.push(Action::Wake(next));
            }
        }
    }

    // ---- facts: the page ------------------------------------------------------------------

    /// A click, with what the executor read: the selector path, the lower-case tag and the raw
    /// visible text (truncated here; the edge masks it before storing or forwarding
    /// it). Also ends LCP (first input).
    pub fn click(&mut self, selector: &str, tag: &str, text: &str, x: i32, y: i32, now: f64) {
        if !self.vitals.lcp_done {
            self.finalize_lcp(now);
        }
        if !self.cfg.capture_clicks || !self.sampled || self.off {
            return;
        }
        let mut selector = selector.to_owned();
        truncate_in_place(&mut selector, limits::SELECTOR);
        let mut tag = tag.to_owned();
        truncate_in_place(&mut tag, limits::NAME);
        let text = if self.cfg.capture_text {
            let mut t = text.to_owned();
            truncate_in_place(&mut t, limits::TEXT);
            t
        } else {
            String::new()
        };
        self.record(
            EventKind::Click {
                selector,
                tag,
                text,
                x,
                y,
            },
            now,
        );
    }

    /// A key press: ends LCP (first input), as web-vitals does.
    pub fn key(&mut self, now: f64) {
        self.finalize_lcp(now);
    }

    /// An app-defined event. Returns its id (0 when not recorded).
    pub fn track(&mut self, name: &str, attrs: Vec<(String, AttrValue)>, now: f64) -> u64 {
        let mut name = name.to_owned();
        truncate_in_place(&mut name, limits::NAME);
        self.record(EventKind::Custom { name, attrs }, now)
    }

    /// An uncaught error, rejection or panic, as thrown: the edge scrubs URLs, masks the
    /// message and computes the fingerprint before anything is stored or forwarded. The same
    /// error again (type, message and stack equal) is counted and sent as one event at the next
    /// flush.
    pub fn error(
        &mut self,
        source: ErrorSource,
        kind: &str,
        message: &str,
        stack: &str,
        now: f64,
    ) -> u64 {
        if !self.cfg.capture_errors || self.off {
            return 0;
        }
        // 0xFF never occurs in UTF-8: the parts cannot run into each other.
        let mut key = 0xcbf2_9ce4_8422_2325;
        for part in [kind, message, stack] {
            key = fnv1a_continue(fnv1a_continue(key, part.as_bytes()), &[0xFF]);
        }
        if let Some(slot) = self.errors.iter_mut().find(|e| e.key == key) {
            slot.unsent = slot.unsent.saturating_add(1);
            self.arm(now);
            return 0;
        }
        if self.errors.len() >= self.cfg.max_errors_per_session as usize {
            self.stats.errors_over_cap += 1;
            return 0;
        }
        let mut message = message.to_owned();
        truncate_in_place(&mut message, limits::MESSAGE);
        let mut stack = stack.to_owned();
        truncate_in_place(&mut stack, limits::STACK);
        self.errors.push(ErrorSlot {
            key,
            source,
            kind: kind.into(),
            message: message.clone(),
            stack: stack.clone(),
            unsent: 0,
        });
        self.record(
            EventKind::Error {
                source,
                kind: kind.into(),
                message,
                stack,
                fingerprint: 0,
                count: 1,
            },
            now,
        )
    }

    /// The URL changed (History API or `popstate`): a new view if the scrubbed URL differs.
    pub fn route(&mut self, url: &str, cause: ViewCause, now: f64) {
        if !self.cfg.capture_page_views || self.off {
            return;
        }
        let url = self.scrubbed(url);
        if url == self.url {
            return;
        }
        self.report_screen_time(now);
        let referrer = std::mem::replace(&mut self.url, url);
        self.view = self.record(EventKind::PageView { referrer, cause }, now);
    }

    /// `visibilitychange`: visible or hidden. `interaction_count` is
    /// `performance.interactionCount` (0 where unsupported), read for INP when hiding.
    pub fn visibility(&mut self, visible: bool, interaction_count: u32, now: f64) {
        if visible {
            self.hidden = false;
            if self.visible_since.is_none() {
                self.visible_since = Some(now);
            }
            self.arm(now);
        } else {
            self.hide(interaction_count, now);
        }
    }

    /// `pagehide`: the page is being left (or frozen into the back/forward cache).
    pub fn page_hide(&mut self, interaction_count: u32, now: f64) {
        self.hide(interaction_count, now);
    }

    /// `pageshow`. With `persisted` (a back/forward-cache restore) a new view starts and the
    /// vitals are re-armed with new metric ids, as web-vitals does; the executor then reports
    /// the next paint with [`Sdk::restore_painted`].
    pub fn page_show(&mut self, persisted: bool, visible: bool, url: &str, now: f64) {
        // The first `pageshow` of a load in a hidden tab (or a prerender) starts no visible time.
        if self.off || !(persisted || visible) {
            return;
        }
        self.hidden = false;
        if self.visible_since.is_none() {
            self.visible_since = Some(now);
        }
        if persisted {
            let load_id = self.ids.next_u64();
            self.vitals = Vitals::new(load_id, "back-forward-cache", true, now);
            self.vitals.nav_done = true;
            self.vitals.restored_at = Some(now);
            if self.cfg.capture_page_views {
                self.url = self.scrubbed(url);
                let referrer = self.url.clone();
                self.visible_ms = 0.0;
                self.view = self.record(
                    EventKind::PageView {
                        referrer,
                        cause: ViewCause::Restore,
                    },
                    now,
                );
            }
            if self.cfg.capture_performance {
                self.vital(Metric::Ttfb, 0.0, 0.0, now);
            }
        }
        self.arm(now);
    }

    /// The first frame after a back/forward-cache restore was painted: FCP and LCP of the
    /// restored page are the time from `pageshow` to that paint.
    pub fn restore_painted(&mut self, now: f64) {
        if let Some(at) = self.vitals.restored_at.take() {
            if self.cfg.capture_performance && self.vitals.first_hidden.is_infinite() {
                let v = (now - at).max(0.0);
                self.vitals.fcp_done = true;
                self.vitals.lcp_done = true;
                self.vital(Metric::Fcp, v, v, now);
                self.vital(Metric::Lcp, v, v, now);
            }
        }
    }

    // ---- facts: performance entries --------------------------------------------------------

    /// A `paint` entry named `first-contentful-paint`.
    pub fn fcp(&mut self, start_time: f64, now: f64) {
        if self.vitals.fcp_done
            || start_time >= self.vitals.first_hidden
            || !self.cfg.capture_performance
        {
            return;
        }
        self.vitals.fcp_done = true;
        self.vital(Metric::Fcp, start_time, start_time, now);
    }

    /// A `largest-contentful-paint` entry.
    pub fn lcp(&mut self, start_time: f64) {
        if !self.vitals.lcp_done && start_time < self.vitals.first_hidden {
            self.vitals.lcp = start_time;
        }
    }

    /// A `layout-shift` entry.
    pub fn layout_shift(&mut self, value: f64, start_time: f64, had_recent_input: bool) {
        self.vitals.cls.add(value, start_time, had_recent_input);
    }

    /// An `event` or `first-input` entry.
    pub fn event_timing(&mut self, interaction_id: u64, duration: f64) {
        self.vitals.inp.add(interaction_id, duration);
    }

    /// A `longtask` entry.
    pub fn long_task(&mut self, start_time: f64, duration: f64, now: f64) {
        if self.cfg.capture_performance {
            self.record(
                EventKind::LongTask {
                    start: start_time.max(0.0),
                    duration: duration.max(0.0),
                },
                now,
            );
        }
    }

    /// The navigation timing entry (after `load`, or when asked with `ReadNavigation`): TTFB
    /// and the navigation phases, once per page load.
    pub fn navigation(&mut self, e: &NavEntry, now: f64) {
        if self.vitals.nav_done || !self.cfg.capture_performance || self.off {
            return;
        }
        self.vitals.nav_done = true;
        if !e.navigation_type.is_empty() && self.vitals.navigation_type == "navigate" {
            self.vitals.navigation_type = e.navigation_type.clone();
        }
        let d = |a: f64, b: f64| (a - b).max(0.0);
        if e.response_start > 0.0 {
            let ttfb = d(e.response_start, e.activation_start);
            self.vital(Metric::Ttfb, ttfb, ttfb, now);
        }
        let navigation_type = self.vitals.navigation_type.clone();
        self.record(
            EventKind::NavTiming(NavTiming {
                dns: d(e.domain_lookup_end, e.domain_lookup_start),
                tcp: d(e.connect_end, e.connect_start),
                tls: if e.secure_connection_start > 0.0 {
                    d(e.connect_end, e.secure_connection_start)
                } else {
                    0.0
                },
                ttfb: d(e.response_start, e.request_start),
                download: d(e.response_end, e.response_start),
                dom_interactive: e.dom_interactive.max(0.0),
                dom_content_loaded: e.dom_content_loaded_event_end.max(0.0),
                load: e.load_event_end.max(0.0),
                transfer_size: e.transfer_size.max(0.0),
                navigation_type,
            }),
            now,
        );
    }

    fn vital(&mut self, metric: Metric, value: f64, delta: f64, now: f64) {
        let mut metric_id = String::with_capacity(24);
        metric_id.push_str(metric.name());
        metric_id.push('-');
        push_hex64(&mut metric_id, self.vitals.load_id);
        let navigation_type = self.vitals.navigation_type.clone();
        self.record(
            EventKind::WebVital {
                name: metric,
                value,
                delta,
                metric_id,
                rating: metric.rating(value),
                navigation_type,
            },
            now,
        );
    }

    /// LCP stops at the first input or when the page is hidden (as web-vitals does).
    fn finalize_lcp(&mut self, now: f64) {
        if self.vitals.lcp_done {
            return;
        }
        self.vitals.lcp_done = true;
        if self.vitals.lcp > 0.0 && self.cfg.capture_performance {
            let v = self.vitals.lcp;
            self.vital(Metric::Lcp, v, v, now);
        }
    }

    /// CLS and INP are reported each time the page is hidden, when they changed.
    fn vitals_on_hide(&mut self, interaction_count: u32, now: f64) {
        if self.vitals.first_hidden.is_infinite() {
            self.vitals.first_hidden = now;
        }
        if !self.cfg.capture_performance {
            return;
        }
        self.finalize_lcp(now);
        if !self.vitals.nav_done {
            self.actions.push(Action::ReadNavigation);
        }
        let cls = self.vitals.cls.value();
        if cls != self.vitals.cls_reported {
            let delta = cls - self.vitals.cls_reported.max(0.0);
            self.vitals.cls_reported = cls;
            self.vital(Metric::Cls, cls, delta, now);
        }
        if let Some(inp) = self.vitals.inp.value(interaction_count) {
            if inp != self.vitals.inp_reported {
                let delta = inp - self.vitals.inp_reported;
                self.vitals.inp_reported = inp;
                self.vital(Metric::Inp, inp, delta, now);
            }
        }
    }

    fn report_screen_time(&mut self, now: f64) {
        if let Some(since) = self.visible_since {
            self.visible_ms += (now - since).max(0.0);
            self.visible_since = Some(now);
        }
        if self.view != 0 && self.visible_ms > 0.0 {
            let visible_ms = self.visible_ms;
            self.record(
                EventKind::ScreenTime {
                    view: self.view,
                    visible_ms,
                },
                now,
            );
        }
        self.visible_ms = 0.0;
    }

    fn hide(&mut self, interaction_count: u32, now: f64) {
        if self.off {
            return;
        }
        self.hidden = true;
        if self.cfg.capture_page_views {
            self.report_screen_time(now);
        }
        self.visible_since = None;
        self.vitals_on_hide(interaction_count, now);
        self.flush(now);
    }

    // ---- facts: storage, timers, API ------------------------------------------------------

    /// What the session record held (`None`: absent or storage off). Reuses the session when
    /// it was active in the last [`SESSION_IDLE_MS`], otherwise starts a new one; decides
    /// sampling for it.
    pub fn session_read(&mut self, stored: Option<&str>, now: f64) {
        if self.off || !self.session.is_empty() {
            return;
        }
        let wall = self.wall(now);
        let reused = stored.and_then(|v| cut(v, b'|')).and_then(|(id, last)| {
            let fresh = parse_u64(last)
                .is_some_and(|l| wall.saturating_sub(l) < SESSION_IDLE_MS && l <= wall + 60_000);
            (id.len() == 32 && is_hex(id) && fresh).then(|| id.to_owned())
        });
        match reused {
            Some(id) => self.set_session(id, now),
            None => self.new_session(now),
        }
        if std::mem::take(&mut self.flush_after_session) {
            self.flush(now);
        } else {
            self.arm(now);
        }
    }

    fn new_session(&mut self, now: f64) {
        let mut id = String::with_capacity(32);
        push_hex64(&mut id, self.ids.next_u64());
        push_hex64(&mut id, self.ids.next_u64());
        self.set_session(id, now);
    }

    fn set_session(&mut self, id: String, now: f64) {
        self.header = Some(Header::for_config(&self.cfg, &id));
        self.sampled = Sampler::new(self.cfg.sample_rate).keep_session(&id);
        if !self.sampled {
            self.pending.retain(|e| e.kind.is_error());
        }
        self.session = id;
        self.touch_session(now);
    }

    fn touch_session(&mut self, now: f64) {
        self.session_touched = now;
        let mut v = String::with_capacity(48);
        v.push_str(&self.session);
        v.push('|');
        push_u64(&mut v, self.wall(now));
        self.actions.push(Action::SaveSession(v));
    }

    /// What the persisted retry queue held (empty when absent or storage is off): batches left
    /// by earlier pages (or other tabs) are adopted and retried. Once per page: a later read
    /// (two asked for at once) changes nothing.
    pub fn queue_read(&mut self, stored: &str, now: f64) {
        if self.off || self.queue_read {
            return;
        }
        self.queue_read = true;
        let wall = self.wall(now);
        self.out.adopt(stored, wall, &mut self.stats);
        self.pump(now);
    }

    /// A `Wake` time was reached (early or late calls are harmless).
    pub fn timer(&mut self, now: f64) {
        if self.off {
            return;
        }
        self.wake = f64::INFINITY;
        if self.session.is_empty() {
            self.actions.push(Action::ReadSession);
            self.flush_after_session = self.flush_soon;
            return;
        }
        if !self.queue_read && now >= self.started + QUEUE_READ_DELAY_MS {
            self.actions.push(Action::ReadQueue);
        }
        if self.flush_soon || now >= self.last_flush + self.cfg.flush_interval_ms as f64 {
            self.flush(now);
        } else {
            self.pump(now);
        }
    }

    /// Sends everything pending now (the app's `flush()`; also on the timer and on hide).
    pub fn flush(&mut self, now: f64) {
        if self.off {
            return;
        }
        self.flush_soon = false;
        self.last_flush = now;
        self.record_error_repeats(now);
        if self.session.is_empty() {
            if !self.pending.is_empty() {
                self.flush_after_session = true;
                self.actions.push(Action::ReadSession);
            }
            return;
        }
        if self
            .wall(now)
            .saturating_sub(self.wall(self.session_touched))
            >= SESSION_IDLE_MS
        {
            // Idle past the session timeout with the page open: a new session (rollover).
            self.new_session(now);
        }
        let mut made = false;
        for event in std::mem::take(&mut self.pending) {
            if let Some(batch) = self.batcher.push(event.encode()) {
                self.ship(batch, now);
                made = true;
            }
        }
        let rest = self.batcher.take();
        if !rest.is_empty() {
            self.ship(rest, now);
            made = true;
        }
        if made && self.consent == Consent::Granted {
            self.touch_session(now);
        }
        self.pump(now);
    }

    /// Repeats of known errors become one event each with their count, and the first
    /// occurrence's message and stack, from which the edge computes the same fingerprint.
    fn record_error_repeats(&mut self, now: f64) {
        let mut repeats = Vec::new();
        for e in self.errors.iter_mut().filter(|e| e.unsent > 0) {
            repeats.push(EventKind::Error {
                source: e.source,
                kind: e.kind.clone(),
                message: e.message.clone(),
                stack: e.stack.clone(),
                fingerprint: 0,
                count: e.unsent,
            });
            e.unsent = 0;
        }
        for r in repeats {
            self.record(r, now);
        }
    }

    /// Grants or refuses consent (with `require_consent`). Granting sends what was held;
    /// refusing discards it, everything unsent and everything persisted, and keeps discarding.
    pub fn set_consent(&mut self, granted: bool, now: f64) {
        if self.off {
            return;
        }
        if granted {
            self.consent = Consent::Granted;
            for batch in std::mem::take(&mut self.held) {
                self.ship(batch, now);
            }
            self.flush(now);
        } else {
            self.consent = Consent::Denied;
            self.held.clear();
            self.pending.clear();
            self.batcher.take();
            self.out.clear();
            self.actions.push(Action::Store(StoreOp::clear()));
        }
    }

    /// Stops: flushes as if the page were hidden, then captures nothing more.
    pub fn stop(&mut self, now: f64) {
        // No storage read on the way out (the answer would reach a stopped SDK): beacon or
        // persist by what this page knows.
        self.queue_read = true;
        self.hide(0, now);
        // Records nothing more; what is pending still goes out (the session may be read first).
        self.stopped = true;
    }

    /// A finished batch: into the outbox (sent at the next pump), or held until consent.
    fn ship(&mut self, events: Vec<String>, now: f64) {
        match self.consent {
            Consent::Denied => {}
            Consent::Pending => {
                if self.held.len() >= MAX_HELD_BATCHES {
                    let gone = self.held.remove(0);
                    self.stats.dropped_batches += 1;
                    self.stats.dropped_events += gone.len() as u32;
                }
                self.held.push(events);
            }
            Consent::Granted => {
                let Some(header) = &self.header else { return };
                let body = header.encode_batch(self.wall(now), &events);
                let id = self.ids.next_u64();
                let wall = self.wall(now);
                self.out
                    .add(id, body, events.len() as u32, wall, &mut self.stats);
            }
        }
    }
}
