//! The browser SDK: captures clicks, screen timings, web vitals and errors, batches them and
//! sends them with `sendBeacon`.
//!
//! From JavaScript it is started by the npm package's `init({...})`. From a Rust web app
//! (Leptos, Yew, plain wasm-bindgen) call [`init`] directly:
//!
//! ```no_run
//! use ferrotel::browser::{self, AttrValue, Config};
//!
//! let mut cfg = Config::new("https://ingest.example.com/v1/batch", "pk_demo");
//! cfg.sample_rate = 0.5;
//! browser::init(cfg).expect("valid ferrotel config");
//! browser::track("signup", vec![("plan".into(), AttrValue::Str("pro".into()))]);
//! ```
//!
//! After `init` nothing here panics or throws into the page: every callback is guarded and
//! every failure is counted or falls back (beacon → fetch → storage → memory).

pub mod api;
mod capture;
mod js;
mod transport;

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

use gloo_timers::callback::Interval;

use crate::core::batch::Batcher;
pub use crate::core::config::{Config, ConfigError};
use crate::core::envelope::Header;
pub use crate::core::event::AttrValue;
use crate::core::event::{ErrorSource, Event, EventKind, ViewCause};
use crate::core::ids::{push_hex64, IdGen};
use crate::core::queue::{is_final_status, retry_delay_ms};
use crate::core::sample::Sampler;
use crate::core::scrub::{scrub_url, scrub_urls_in_text};
use crate::core::stack::fingerprint;
use transport::Queue;

/// The one SDK instance. wasm32 in the browser is single-threaded, so a plain static (cheaper
/// than `thread_local!`) is sound; `try_borrow_mut` (no panicking path) guards re-entrancy.
struct Global(RefCell<Option<Sdk>>);
// SAFETY: the browser build runs on one thread; nothing here is shared across threads.
unsafe impl Sync for Global {}
static SDK: Global = Global(RefCell::new(None));

/// Set by the panic hook: after a panic the module's memory may be inconsistent, so every entry
/// point becomes a no-op.
static POISONED: AtomicBool = AtomicBool::new(false);

/// Runs `f` on the SDK if it is running (and not re-entered or poisoned).
fn with<R>(f: impl FnOnce(&mut Sdk) -> R) -> Option<R> {
    if POISONED.load(Ordering::Relaxed) {
        return None;
    }
    let mut guard = SDK.0.try_borrow_mut().ok()?;
    guard.as_mut().map(f)
}

/// Whether events may leave the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consent {
    Granted,
    Pending,
    Denied,
}

/// Batches held in memory while consent is pending, at most.
const MAX_HELD_BATCHES: usize = 8;

/// One error fingerprint seen this session: repeats are counted and sent as one event.
struct ErrorSlot {
    fingerprint: u64,
    source: ErrorSource,
    kind: String,
    message: String,
    unsent: u32,
}

/// Counters of what went wrong inside the SDK (never surfaced as exceptions).
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Batches handed to `sendBeacon`.
    pub beacons: u32,
    /// Batches sent with `fetch` (beacon refused, or a retry).
    pub fetches: u32,
    /// Batches given up: storage queue full or out of attempts.
    pub dropped_batches: u32,
    /// Errors not sent because the session's cap was reached (still counted here).
    pub errors_over_cap: u32,
}

struct Sdk {
    cfg: Config,
    /// Empty until [`Sdk::session`] resolves it (off the init path).
    header: Header,
    session: String,
    sampled: bool,
    ids: IdGen,
    load_id: u64,
    batcher: Batcher,
    queue: Queue,
    consent: Consent,
    held: Vec<Vec<String>>,
    url: String,
    view: u64,
    visible_since: Option<f64>,
    visible_ms: f64,
    errors: Vec<ErrorSlot>,
    stats: Stats,
    vitals: capture::Vitals,
    pending: Vec<Event>,
    flush_scheduled: bool,
    hidden: bool,
    posts: Vec<(u32, u64)>,
    post_token: u32,
    _timer: Option<Interval>,
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

fn perf_now() -> f64 {
    js::perf_now()
}

/// Starts capturing with `cfg`. Returns the first invalid option as an error; nothing is
/// installed then. Calling it again while running changes nothing and returns `Ok`. When
/// `respect_do_not_track` is set and the browser sends Do-Not-Track or Global Privacy Control,
/// it returns `Ok` and captures nothing.
pub fn init(cfg: Config) -> Result<(), ConfigError> {
    cfg.validate()?;
    if SDK.0.try_borrow().map(|s| s.is_some()).unwrap_or(true) {
        return Ok(());
    }
    if cfg.respect_do_not_track && capture::do_not_track() {
        return Ok(());
    }
    let seed = js::random_seed();
    let word = |i: usize| seed.get(i).copied().unwrap_or(0) as u64;
    let mut ids =
        IdGen::new((word(0) << 32) | word(1) ^ ((word(2) << 32) | word(3)).rotate_left(17));
    // The envelope overhead depends only on the config (key, envelope fields) and the 32-digit
    // session's length.
    let overhead = Header::for_config(&cfg, "00000000000000000000000000000000").overhead();
    let batcher = Batcher::new(
        cfg.max_batch_bytes as usize,
        cfg.max_batch_events as usize,
        overhead,
    );
    let interval = cfg.flush_interval_ms;
    let sdk = Sdk {
        sampled: true,
        consent: if cfg.require_consent {
            Consent::Pending
        } else {
            Consent::Granted
        },
        load_id: ids.next_u64(),
        header: Header::new("", ""),
        session: String::new(),
        ids,
        batcher,
        queue: Queue::new(),
        held: Vec::new(),
        url: String::new(),
        view: 0,
        visible_since: None,
        visible_ms: 0.0,
        errors: Vec::new(),
        stats: Stats::default(),
        vitals: capture::Vitals::new(),
        pending: Vec::new(),
        flush_scheduled: false,
        hidden: false,
        posts: Vec::new(),
        post_token: 0,
        _timer: None,
        cfg,
    };
    *SDK.0
        .try_borrow_mut()
        .map_err(|_| ConfigError::new("init", "was called re-entrantly"))? = Some(sdk);
    capture::install();
    with(|s| {
        s._timer = Some(Interval::new(interval, || {
            with(|s| s.tick());
        }));
        s.url = s.scrubbed_location();
        if capture::page_visible() {
            s.visible_since = Some(perf_now());
        } else {
            s.vitals.first_hidden = 0.0;
        }
        if s.cfg.capture_page_views {
            s.start_view(ViewCause::Load);
        }
    });
    // The session lives in sessionStorage, whose first access in a page is a synchronous trip to
    // the browser process (0.5-5 ms measured): resolved in the next task, not inside `init`.
    js::later(0, capture::SESSION);
    // Batches left by earlier pages wait a moment: the first localStorage access of a page
    // loads the origin's storage from disk (milliseconds), which must not delay `init`.
    js::later(1_000, capture::RETRY);
    Ok(())
}

/// Records an app-defined event. Attribute values are flat (string, number, bool); at most 32
/// are kept.
pub fn track(name: &str, attrs: Vec<(String, AttrValue)>) {
    with(|s| {
        s.record(EventKind::Custom {
            name: name.into(),
            attrs,
        })
    });
}

/// Sends everything pending now (also happens on the timer and when the page is hidden).
pub fn flush() {
    with(|s| s.flush());
}

/// Grants or refuses consent when `require_consent` is set. Granting sends what was held;
/// refusing discards it and keeps discarding.
pub fn set_consent(granted: bool) {
    with(|s| {
        if granted {
            s.consent = Consent::Granted;
            for batch in std::mem::take(&mut s.held) {
                s.ship(batch);
            }
            s.flush();
        } else {
            s.consent = Consent::Denied;
            s.held.clear();
            s.pending.clear();
            s.batcher.take();
        }
    });
}

/// The session id (32 hex digits), if running.
pub fn session_id() -> Option<String> {
    with(|s| s.session().to_owned())
}

/// Internal failure counters, if running.
pub fn stats() -> Option<Stats> {
    with(|s| {
        let mut st = s.stats;
        st.dropped_batches += s.queue.dropped;
        st
    })
}

/// Flushes and stops: listeners stay attached but do nothing until the next [`init`].
pub fn shutdown() {
    with(|s| s.on_hidden());
    if let Ok(mut g) = SDK.0.try_borrow_mut() {
        *g = None;
    }
}

impl Sdk {
    fn scrubbed(&self, url: &str) -> String {
        scrub_url(url, &self.cfg.allow_query).into_owned()
    }

    fn scrubbed_location(&self) -> String {
        self.scrubbed(&js::page_url(false))
    }

    /// Encodes and batches one event; a completed batch is shipped at once.
    fn record(&mut self, kind: EventKind) -> u64 {
        if !self.sampled && !kind.is_error() || self.consent == Consent::Denied {
            return 0;
        }
        let id = self.ids.next_u64();
        // Only recorded here; encoding and batching happen on the next flush, off the click.
        self.pending.push(Event {
            id,
            t: now_ms(),
            url: self.url.clone(),
            kind,
        });
        if self.pending.len() >= self.cfg.max_batch_events as usize && !self.flush_scheduled {
            self.flush_scheduled = true;
            js::later(0, capture::FLUSH);
        }
        id
    }

    /// The session id, resolving it (and the sampling decision) on first use.
    fn session(&mut self) -> &str {
        if self.session.is_empty() {
            self.session = capture::session(&mut self.ids, now_ms());
            self.header = Header::for_config(&self.cfg, &self.session);
            self.sampled = Sampler::new(self.cfg.sample_rate).keep_session(&self.session);
            if !self.sampled {
                self.pending.retain(|e| e.kind.is_error());
            }
        }
        &self.session
    }

    /// Encodes pending events into the batcher, shipping every batch it completes.
    fn encode_pending(&mut self) {
        self.session();
        for event in std::mem::take(&mut self.pending) {
            if let Some(batch) = self.batcher.push(event.encode()) {
                self.ship(batch);
            }
        }
    }

    fn record_error(&mut self, source: ErrorSource, kind: String, message: String, stack: String) {
        // Frames carry page URLs with their query strings: scrub them like every other URL.
        let message = scrub_urls_in_text(&message, &self.cfg.allow_query).into_owned();
        let stack = scrub_urls_in_text(&stack, &self.cfg.allow_query).into_owned();
        let fp = fingerprint(&kind, &message, &stack);
        if let Some(slot) = self.errors.iter_mut().find(|e| e.fingerprint == fp) {
            slot.unsent = slot.unsent.saturating_add(1);
            return;
        }
        if self.errors.len() >= self.cfg.max_errors_per_session as usize {
            self.stats.errors_over_cap += 1;
            return;
        }
        self.errors.push(ErrorSlot {
            fingerprint: fp,
            source,
            kind: kind.clone(),
            message: message.clone(),
            unsent: 0,
        });
        self.record(EventKind::Error {
            source,
            kind,
            message,
            stack,
            fingerprint: fp,
            count: 1,
        });
    }

    /// Repeats of known errors become one event each with their count (and no stack: the first
    /// occurrence carried it).
    fn record_error_repeats(&mut self) {
        let mut repeats = Vec::new();
        for e in self.errors.iter_mut().filter(|e| e.unsent > 0) {
            repeats.push(EventKind::Error {
                source: e.source,
                kind: e.kind.clone(),
                message: e.message.clone(),
                stack: String::new(),
                fingerprint: e.fingerprint,
                count: e.unsent,
            });
            e.unsent = 0;
        }
        for r in repeats {
            self.record(r);
        }
    }

    fn flush(&mut self) {
        self.flush_scheduled = false;
        self.record_error_repeats();
        self.encode_pending();
        let batch = self.batcher.take();
        if !batch.is_empty() {
            self.ship(batch);
            capture::touch_session(self.session(), now_ms());
        }
    }

    fn tick(&mut self) {
        self.flush();
        self.retry_due();
    }

    /// Sends a batch now, or holds it until consent.
    fn ship(&mut self, batch: Vec<String>) {
        match self.consent {
            Consent::Denied => {}
            Consent::Pending => {
                if self.held.len() >= MAX_HELD_BATCHES {
                    self.held.remove(0);
                    self.stats.dropped_batches += 1;
                }
                self.held.push(batch);
            }
            Consent::Granted => {
                let body = self.header.encode_batch(now_ms(), &batch);
                if transport::beacon(&self.cfg.endpoint, &body) {
                    self.stats.beacons += 1;
                } else {
                    // Stored before the fetch so that a page closing now still retries it later.
                    let id = self.ids.next_u64();
                    self.queue.put(id, 1, now_ms() + retry_delay_ms(1), &body);
                    self.post(id, &body);
                }
            }
        }
    }

    /// POSTs with `fetch`; the outcome comes back through [`Sdk::on_post_done`] with a token.
    fn post(&mut self, id: u64, body: &str) {
        self.stats.fetches += 1;
        self.post_token = self.post_token.wrapping_add(1) % 1_000_000;
        let token = self.post_token;
        if self.posts.len() >= 64 {
            self.posts.remove(0); // stale: the batch stays stored and is retried anyway
        }
        self.posts.push((token, id));
        // keepalive only while the page is going away: its in-flight quota (64 KiB, shared with
        // sendBeacon) is what refused the beacon in the first place.
        transport::post(&self.cfg.endpoint, body, token, self.hidden);
    }

    fn on_post_done(&mut self, token: u32, status: u32) {
        if let Some(i) = self.posts.iter().position(|(t, _)| *t == token) {
            let (_, id) = self.posts.swap_remove(i);
            if is_final_status(status) {
                self.queue.remove(id);
            }
        }
    }

    /// Retries stored batches whose time has come (with `fetch`, to learn the outcome).
    fn retry_due(&mut self) {
        if self.consent != Consent::Granted || !self.queue.maybe_pending {
            return;
        }
        for (id, body) in self.queue.take_due(now_ms()) {
            self.post(id, &body);
        }
    }

    /// A new screen: reports the visible time of the previous one, then a page view.
    fn start_view(&mut self, cause: ViewCause) {
        self.report_screen_time();
        let referrer = match cause {
            ViewCause::Load => self.scrubbed(&js::page_url(true)),
            _ => self.url.clone(),
        };
        self.url = self.scrubbed_location();
        self.view = self.record(EventKind::PageView { referrer, cause });
    }

    fn on_route_change(&mut self, cause: ViewCause) {
        if !self.cfg.capture_page_views || self.scrubbed_location() == self.url {
            return;
        }
        self.start_view(cause);
    }

    fn report_screen_time(&mut self) {
        if let Some(since) = self.visible_since {
            let now = perf_now();
            self.visible_ms += (now - since).max(0.0);
            self.visible_since = Some(now);
        }
        if self.view != 0 && self.visible_ms > 0.0 {
            let visible_ms = self.visible_ms;
            self.record(EventKind::ScreenTime {
                view: self.view,
                visible_ms,
            });
        }
        self.visible_ms = 0.0;
    }

    /// The page was hidden or is being left: the last chance to send reliably.
    fn on_hidden(&mut self) {
        self.hidden = true;
        if self.cfg.capture_page_views {
            self.report_screen_time();
        }
        self.visible_since = None;
        self.report_vitals_on_hide();
        self.flush();
    }

    fn on_visible(&mut self) {
        self.hidden = false;
        if self.visible_since.is_none() {
            self.visible_since = Some(perf_now());
        }
    }

    fn metric_id(&self, name: &str) -> String {
        let mut s = String::with_capacity(24);
        s.push_str(name);
        s.push('-');
        push_hex64(&mut s, self.load_id);
        s
    }
}

/// Installs the panic hook: the panic becomes an error event sent at once with a beacon, then
/// the SDK goes quiet (the module cannot be trusted after a panic).
fn install_panic_hook() {
    // Debug builds chain to the previous hook (test output, console_error_panic_hook). Release
    // builds do not: calling std's default hook links ~2.6 KB of formatting and I/O that prints
    // nowhere in a browser. A Rust app with a hook of its own sets it after `init` and calls
    // [`report_panic`] from it.
    #[cfg(debug_assertions)]
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report_panic(info);
        #[cfg(debug_assertions)]
        previous(info);
    }));
}

/// Records a panic as an error event (`source: "panic"`), sends it with a beacon and stops the
/// SDK. Installed as the panic hook by [`init`]; call it from your own hook if you replace it.
pub fn report_panic(info: &std::panic::PanicHookInfo<'_>) {
    let mut message = String::from("panicked at ");
    if let Some(l) = info.location() {
        message.push_str(l.file());
        message.push(':');
        crate::core::json::push_u64(&mut message, l.line() as u64);
        message.push(':');
        crate::core::json::push_u64(&mut message, l.column() as u64);
    }
    if let Some(p) = info.payload_as_str() {
        message.push_str(": ");
        message.push_str(p);
    }
    let stack = js::stack();
    with(|s| {
        s.record_error(ErrorSource::Panic, "RustPanic".into(), message, stack);
        s.flush();
    });
    POISONED.store(true, Ordering::Relaxed);
}
