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
use super::event::{encode_head, names, write, AttrValue, ErrorSource, ViewCause};
use super::ids::{is_hex, parse_u64, push_hex64, IdGen};
use super::json::push_u64;
use super::sample::Sampler;
use super::vitals::{Cls, Inp, Metric};

pub use delivery::{StoreOp, KEY_PREFIX};

/// Sessions end after this long without activity (the usual analytics convention).
pub const SESSION_IDLE_MS: u64 = 30 * 60 * 1000;
/// While the page is visible, the session record's activity time is written at most this often.
const SESSION_SAVE_MS: f64 = 60_000.0;
/// When the persisted retry queue is first read, after start: the first `localStorage` access
/// of a page loads the origin's storage from disk, which must not delay the page's start.
pub const QUEUE_READ_DELAY_MS: f64 = 1_000.0;
/// While consent is pending, events are held in memory, at most this many batches' worth
/// (`maxBatchEvents` each); the oldest go first (counted in `dropped_events`).
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
/// `repr(C)`: eight `u32`s in this order, which [`Stats::get`] reads by index.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
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

impl Stats {
    /// Counter `i`, in the order of the fields (`None` past the last).
    pub fn get(&self, i: usize) -> Option<u32> {
        let all: &[u32; 8] = {
            const _: () = assert!(std::mem::size_of::<Stats>() == 8 * 4);
            // SAFETY: `Stats` is `repr(C)` with eight `u32` fields and nothing else (checked
            // above), so it has the layout of `[u32; 8]`.
            unsafe { &*(self as *const Stats as *const [u32; 8]) }
        };
        all.get(i).copied()
    }
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

/// A `PerformanceNavigationTiming` entry, as the executor read it: the edge computes the
/// navigation's phases from its JSON (`core::nav`); TTFB is a web vital reported from here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NavEntry {
    /// `type`: `navigate`, `reload`, `back_forward`, `prerender`.
    pub navigation_type: String,
    /// The entry as JSON text: its numbers and `type` (glue.js `text`).
    pub json: String,
    /// `activationStart` (0 unless prerendered).
    pub activation_start: f64,
    /// `responseStart`.
    pub response_start: f64,
}

/// `x`, or 0 when it is negative or NaN (`f64::max` keeps NaN handling that costs wasm bytes).
pub(crate) fn pos(x: f64) -> f64 {
    if x > 0.0 {
        x
    } else {
        0.0
    }
}

/// One distinct error seen this session (same source, type, message and stack as encoded, so
/// byte for byte within the schema's bounds):
/// repeats are counted and sent as one event, with the first occurrence's message and stack,
/// so the edge groups the repeats under the first occurrence's fingerprint.
struct ErrorSlot {
    /// The first occurrence's fields as encoded (`write::Error`), ending with its count, 1:
    /// `count` is the kind's last field, so a repeat writes all but that digit, then its own.
    fields: String,
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
    /// `now` of the last activity recorded in the session record (a minute's resolution while
    /// the page is visible).
    session_touched: f64,
    /// Empty until the session is known.
    header: Option<Header>,
    sampled: bool,
    consent: Consent,
    /// Events recorded and encoded, not yet batched (`true`: an error, which sampling keeps).
    pending: Vec<(bool, String)>,
    batcher: Batcher,
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
        // Page URLs and referrers go as the page has them: the edge scrubs them with the
        // `allowQuery` list the batch header carries (`core::protect::protect_urls`).
        sdk.url = page.url.clone();
        if sdk.cfg.capture_page_views {
            let referrer = page.referrer.as_str();
            sdk.view = sdk.record(names::PageView, now, &mut |o| {
                write::PageView(o, referrer, &ViewCause::Load)
            });
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
        self.pending.len() + self.batcher.len() + self.out.events()
    }

    fn wall(&self, now: f64) -> u64 {
        self.wall_origin.saturating_add(pos(now) as u64)
    }

    /// Whether `a` and `b` are the same view: equal but for the query, whose parameters the
    /// edge removes (all of them unless `allowQuery` names some: then any query change is a
    /// new view).
    fn same_view(&self, a: &str, b: &str) -> bool {
        let split = |u: &'_ str| -> (usize, usize) {
            let hash = cut(u, b'#').map_or(u.len(), |(h, _)| h.len());
            (cut(&u[..hash], b'?').map_or(hash, |(p, _)| p.len()), hash)
        };
        if !self.cfg.allow_query.is_empty() {
            return a == b;
        }
        let ((pa, ha), (pb, hb)) = (split(a), split(b));
        a.get(..pa) == b.get(..pb) && a.get(ha..) == b.get(hb..)
    }

    /// Records one event of wire type `ty` (if consent, sampling and the SDK's state allow
    /// it), its fields written by `fields` (the kind's [`write`] function); returns its id, or
    /// 0 when it was not recorded. Batching happens at the next flush.
    fn record(&mut self, ty: &str, now: f64, fields: &mut dyn FnMut(&mut String)) -> u64 {
        let error = ty == names::Error;
        if self.off || self.stopped || self.consent == Consent::Denied || (!self.sampled && !error)
        {
            return 0;
        }
        let id = self.ids.next_u64();
        let mut o = encode_head(id, self.wall(now), ty, &self.url);
        fields(&mut o);
        o.push('}');
        self.pending.push((error, o));
        // The click path: a wake-up is only needed for the first pending event (the flush
        // interval starts) or when a batch's worth is pending.
        if self.pending.len() >= self.cfg.max_batch_events as usize
            && self.consent == Consent::Granted
        {
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
        // The encoder bounds each string (the schema's `max`).
        let text = if self.cfg.capture_text { text } else { "" };
        self.record(names::Click, now, &mut |o| {
            write::Click(o, selector, tag, text, &x, &y)
        });
    }

    /// A key press: ends LCP (first input), as web-vitals does.
    pub fn key(&mut self, now: f64) {
        self.finalize_lcp(now);
    }

    /// An app-defined event. Returns its id (0 when not recorded).
    pub fn track(&mut self, name: &str, attrs: Vec<(String, AttrValue)>, now: f64) -> u64 {
        self.record(names::Custom, now, &mut |o| write::Custom(o, name, &attrs))
    }

    /// An uncaught error, rejection or panic, as thrown: the edge scrubs URLs, masks the
    /// message and computes the fingerprint before anything is stored or forwarded. The same
    /// error again (source, type, message and stack equal) is counted and sent as one event at the next
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
        // Bounded by the encoder (the schema's `max` of each field). Two errors whose encoded
        // fields are equal are the same error (what the edge would fingerprint is the same).
        let mut fields = String::new();
        write::Error(&mut fields, &source, kind, message, stack, &(), &1u32);
        if let Some(slot) = self.errors.iter_mut().find(|e| e.fields == fields) {
            slot.unsent = slot.unsent.saturating_add(1);
            self.arm(now);
            return 0;
        }
        if self.errors.len() >= self.cfg.max_errors_per_session as usize {
            self.stats.errors_over_cap += 1;
            return 0;
        }
        let id = self.record(names::Error, now, &mut |o| o.push_str(&fields));
        self.errors.push(ErrorSlot { fields, unsent: 0 });
        id
    }

    /// The URL changed (History API or `popstate`): a new view unless only its query changed
    /// in parameters the edge removes ([`Sdk::same_view`]).
    pub fn route(&mut self, url: &str, cause: ViewCause, now: f64) {
        if !self.cfg.capture_page_views || self.off {
            return;
        }
        if self.same_view(url, &self.url) {
            return;
        }
        let url = url.to_owned();
        self.report_screen_time(now);
        let referrer = std::mem::replace(&mut self.url, url);
        self.view = self.record(names::PageView, now, &mut |o| {
            write::PageView(o, referrer.as_str(), &cause)
        });
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
                self.url = url.to_owned();
                let referrer = self.url.clone();
                self.visible_ms = 0.0;
                self.view = self.record(names::PageView, now, &mut |o| {
                    write::PageView(o, referrer.as_str(), &ViewCause::Restore)
                });
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
                let v = pos(now - at);
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
            self.record(names::LongTask, now, &mut |o| {
                write::LongTask(o, &pos(start_time), &pos(duration))
            });
        }
    }

    /// The navigation timing entry (after `load`, or when asked with `ReadNavigation`): TTFB,
    /// and the entry itself for the edge to compute the navigation's phases from, once per
    /// page load.
    pub fn navigation(&mut self, e: &NavEntry, now: f64) {
        if self.vitals.nav_done || !self.cfg.capture_performance || self.off {
            return;
        }
        self.vitals.nav_done = true;
        if !e.navigation_type.is_empty() && self.vitals.navigation_type == "navigate" {
            self.vitals.navigation_type = e.navigation_type.clone();
        }
        if e.response_start > 0.0 {
            let ttfb = pos(e.response_start - e.activation_start);
            self.vital(Metric::Ttfb, ttfb, ttfb, now);
        }
        self.record(names::NavEntry, now, &mut |o| {
            write::NavEntry(o, e.json.as_str())
        });
    }

    fn vital(&mut self, metric: Metric, value: f64, delta: f64, now: f64) {
        let mut metric_id = String::with_capacity(24);
        metric_id.push_str(metric.name());
        metric_id.push('-');
        push_hex64(&mut metric_id, self.vitals.load_id);
        let navigation_type = self.vitals.navigation_type.clone();
        self.record(names::WebVital, now, &mut |o| {
            write::WebVital(
                o,
                &metric,
                &value,
                &delta,
                metric_id.as_str(),
                &(),
                navigation_type.as_str(),
            )
        });
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
            self.visible_ms += pos(now - since);
            self.visible_since = Some(now);
        }
        if self.view != 0 && self.visible_ms > 0.0 {
            let (view, visible_ms) = (self.view, self.visible_ms);
            self.record(names::ScreenTime, now, &mut |o| {
                write::ScreenTime(o, &view, &visible_ms)
            });
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
            self.pending.retain(|e| e.0);
        }
        self.session = id;
        self.session_touched = f64::NEG_INFINITY;
        self.touch_session(now);
    }

    /// Writes the session record: at most once a minute while the page is visible (a storage
    /// write per batch cost ~0.5 us per click on the click bench), at once when it is hidden.
    fn touch_session(&mut self, now: f64) {
        if !self.hidden && now - self.session_touched < SESSION_SAVE_MS {
            return;
        }
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
        if self.consent == Consent::Pending {
            // Held as events until consent is given, the newest MAX_HELD_BATCHES batches' worth.
            let max = MAX_HELD_BATCHES * self.cfg.max_batch_events as usize;
            if let Some(gone) = self.pending.len().checked_sub(max) {
                self.pending = self.pending.split_off(gone);
                self.stats.dropped_events += gone as u32;
            }
        } else {
            let mut made = false;
            for (_, event) in std::mem::take(&mut self.pending) {
                if let Some(batch) = self.batcher.push(event) {
                    self.ship(batch, now);
                    made = true;
                }
            }
            let rest = self.batcher.take();
            if !rest.is_empty() {
                self.ship(rest, now);
                made = true;
            }
            if made {
                self.touch_session(now);
            }
        }
        self.pump(now);
    }

    /// Repeats of known errors become one event each with their count, and the first
    /// occurrence's message and stack, from which the edge computes the same fingerprint.
    fn record_error_repeats(&mut self, now: f64) {
        let mut errors = std::mem::take(&mut self.errors);
        for e in errors.iter_mut().filter(|e| e.unsent > 0) {
            let (f, n) = (&e.fields, e.unsent as u64);
            self.record(names::Error, now, &mut |o| {
                o.push_str(f.get(..f.len() - 1).unwrap_or(f));
                push_u64(o, n);
            });
            e.unsent = 0;
        }
        self.errors = errors;
    }

    /// Grants or refuses consent (with `require_consent`). Granting sends what was held;
    /// refusing discards it, everything unsent and everything persisted, and keeps discarding.
    pub fn set_consent(&mut self, granted: bool, now: f64) {
        if self.off {
            return;
        }
        if granted {
            self.consent = Consent::Granted;
            self.flush(now);
        } else {
            self.consent = Consent::Denied;
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

    /// A finished batch (with consent): into the outbox, sent at the next pump.
    fn ship(&mut self, events: Vec<String>, now: f64) {
        let Some(header) = &self.header else { return };
        let body = header.encode_batch(self.wall(now), &events);
        let id = self.ids.next_u64();
        let wall = self.wall(now);
        self.out
            .add(id, body, events.len() as u32, wall, &mut self.stats);
    }
}
