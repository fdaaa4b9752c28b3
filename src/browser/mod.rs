//! The browser SDK: the executor of the core's state machine ([`crate::core::sdk::Sdk`]).
//!
//! This module reads the page (DOM, performance entries, storage, visibility), hands each fact
//! to the core and performs the actions the core returns (`fetch`, `sendBeacon`, storage writes,
//! timers). It decides nothing itself.
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
//! After `init` nothing here panics or throws into the page: every callback is guarded.

pub mod api;
mod capture;
mod js;

use std::cell::{RefCell, RefMut};
use std::sync::atomic::{AtomicBool, Ordering};

pub use crate::core::config::{Config, ConfigError};
pub use crate::core::event::AttrValue;
use crate::core::event::ErrorSource;
pub use crate::core::sdk::Stats;
use crate::core::sdk::{Action, Page, Sdk};

/// The persisted retry queue (`localStorage` items "ferrotel:q:<id>", one per batch: read as
/// one text, changed by a [`crate::core::sdk::StoreOp`]) and the session record
/// (`sessionStorage` "ferrotel:session"), as [`js::text`] and [`js::set`] select them.
const QUEUE: i32 = 0;
const SESSION: i32 = 1;

fn store_get(item: i32) -> Option<String> {
    js::text(js::STORED + item)
}

fn store_set(item: i32, value: &str) {
    js::set(js::STORE + item, Some(value))
}

/// The one SDK instance. wasm32 in the browser is single-threaded, so a plain static (cheaper
/// than `thread_local!`) is sound; `try_borrow_mut` (no panicking path) guards re-entrancy.
/// Where it sends is kept on the JavaScript side ([`js::ENDPOINT`]).
struct Global(RefCell<Option<Sdk>>);
// SAFETY: the browser build runs on one thread; nothing here is shared across threads.
unsafe impl Sync for Global {}
static SDK: Global = Global(RefCell::new(None));

/// Set by the panic hook: after a panic the module's memory may be inconsistent, so every entry
/// point becomes a no-op.
static POISONED: AtomicBool = AtomicBool::new(false);

/// The running SDK, if any (and not re-entered or poisoned). Not generic: one copy for every
/// entry point.
#[inline(never)]
fn enter() -> Option<RefMut<'static, Sdk>> {
    if POISONED.load(Ordering::Relaxed) {
        return None;
    }
    RefMut::filter_map(SDK.0.try_borrow_mut().ok()?, Option::as_mut).ok()
}

/// Hands a fact to the core (if running, and not re-entered or poisoned), then performs the
/// actions it decided.
fn with<R>(f: impl FnOnce(&mut Sdk, f64) -> R) -> Option<R> {
    with_at(js::perf_now(), f)
}

/// [`with`] at a time the caller already has (the click path: the event's `timeStamp`, which
/// is on the `performance.now()` clock, saves a call out to JavaScript per click).
fn with_at<R>(now: f64, f: impl FnOnce(&mut Sdk, f64) -> R) -> Option<R> {
    let r = f(&mut *enter()?, now);
    perform();
    Some(r)
}

/// Performs the core's pending actions; results re-enter the core as facts (whose own actions
/// are performed before the rest, in order).
#[inline(never)]
fn perform() {
    let Some(actions) = enter().map(|mut s| s.take_actions()) else {
        return;
    };
    for a in actions {
        match a {
            // fetch (`how` 1, 2 with keepalive), or sendBeacon (0): whether the browser took it
            // re-enters the core.
            Action::Fetch {
                token,
                body,
                keepalive,
            } => {
                js::send(&body, token, 1 + keepalive as i32);
            }
            Action::Beacon { token, body } => {
                let taken = js::send(&body, token, 0);
                if let Some(mut s) = enter() {
                    s.beacon_result(token, taken, js::perf_now());
                }
                perform();
            }
            // One item written or removed (glue.js `set`), nothing read.
            Action::Store(op) => store_set(QUEUE, &op.0),
            Action::ReadSession => {
                let v = store_get(SESSION);
                if let Some(mut s) = enter() {
                    s.session_read(v.as_deref(), js::perf_now());
                }
                perform();
            }
            Action::SaveSession(v) => store_set(SESSION, &v),
            Action::ReadQueue => {
                let text = store_get(QUEUE).unwrap_or_default();
                if let Some(mut s) = enter() {
                    s.queue_read(&text, js::perf_now());
                }
                perform();
            }
            Action::ReadNavigation => capture::report_navigation(),
            Action::Wake(at) => {
                // Rounded up: a timer that fires early only re-arms itself.
                let ms = (at - js::perf_now()).max(0.0) as u32 + 1;
                js::later(ms, capture::TIMER)
            }
        }
    }
}

/// Starts capturing with `cfg`. Returns the first invalid option as an error; nothing is
/// installed then. Calling it again while running changes nothing and returns `Ok`. When
/// `respect_do_not_track` is set and the browser sends Do-Not-Track or Global Privacy Control,
/// it returns `Ok`, captures nothing and clears what earlier pages persisted.
pub fn init(cfg: Config) -> Result<(), ConfigError> {
    // The page side gets the module's exports from here. The npm entry hands them over itself
    // (and calls [`start`] instead), so its build holds no JavaScript value at all: no
    // `wasm_bindgen::exports()`, no externref table (README "Size and speed").
    js::bind();
    start(cfg)
}

/// [`init`] once the page side has the module's exports.
fn start(cfg: Config) -> Result<(), ConfigError> {
    cfg.validate()?;
    if SDK.0.try_borrow().map(|s| s.is_some()).unwrap_or(true) {
        return Ok(());
    }
    // The npm entry attached the listeners before the module ran: the page view and the
    // session start from then (what happened since is dispatched right after, in order).
    let now = js::num(js::SINCE);
    let random = || js::num(js::RANDOM) as u32;
    let page = Page {
        url: js::text(js::START_URL).unwrap_or_default(),
        referrer: js::text(js::REFERRER).unwrap_or_default(),
        visible: js::num(js::VISIBLE) == 1.0,
        privacy_signal: js::num(js::PRIVACY) == 1.0,
        wall_origin: (js::num(js::WALL) - js::perf_now()).max(0.0) as u64,
        seed: crate::core::ids::seed([random(), random(), random(), random()]),
    };
    js::set(js::ENDPOINT, Some(&cfg.endpoint));
    let sdk = Sdk::new(cfg, &page, &capture::navigation_type(), now);
    let on = sdk.is_on();
    // Nothing holds the SDK across a call out to JavaScript, so this cannot fail.
    let Ok(mut g) = SDK.0.try_borrow_mut() else {
        return Ok(());
    };
    *g = Some(sdk);
    drop(g);
    perform();
    if !on {
        if let Ok(mut g) = SDK.0.try_borrow_mut() {
            *g = None;
        }
        return Ok(());
    }
    capture::install();
    Ok(())
}

/// Records an app-defined event. Attribute values are flat (string, number, bool); at most 32
/// are kept.
pub fn track(name: &str, attrs: Vec<(String, AttrValue)>) {
    with(|s, now| s.track(name, attrs, now));
}

/// Sends everything pending now (also happens on the timer and when the page is hidden).
pub fn flush() {
    with(|s, now| s.flush(now));
}

/// Grants or refuses consent when `require_consent` is set. Granting sends what was held;
/// refusing discards it, clears what is persisted, and keeps discarding.
pub fn set_consent(granted: bool) {
    with(|s, now| s.set_consent(granted, now));
}

/// The session id (32 hex digits), if running. Resolves it now if it was not yet.
pub fn session_id() -> Option<String> {
    let stored = store_get(SESSION);
    with(|s, now| {
        s.session_read(stored.as_deref(), now); // a no-op once known
        s.session_id().map(str::to_owned)
    })
    .flatten()
}

/// Delivery and capture counters, if running.
pub fn stats() -> Option<Stats> {
    with(|s, _| s.stats())
}

/// Flushes and stops: listeners stay attached but do nothing until the next [`init`].
pub fn shutdown() {
    with(|s, now| s.stop(now));
    if let Ok(mut g) = SDK.0.try_borrow_mut() {
        *g = None;
    }
}

/// Installs the panic hook: the panic becomes an error event sent at once, then the SDK goes
/// quiet (the module cannot be trusted after a panic).
#[cfg(not(panic = "immediate-abort"))]
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

/// With panic=immediate-abort (the npm build) a panic traps at once and no hook runs: none is
/// installed, so none is linked (74 B brotli).
#[cfg(panic = "immediate-abort")]
fn install_panic_hook() {}

/// Records a panic as an error event (`source: "panic"`), sends it and stops the SDK.
/// Installed as the panic hook by [`init`]; call it from your own hook if you replace it.
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
    let stack = js::text(js::STACK).unwrap_or_default();
    with(|s, now| {
        s.error(ErrorSource::Panic, "RustPanic", &message, &stack, now);
        s.flush(now);
    });
    POISONED.store(true, Ordering::Relaxed);
}
