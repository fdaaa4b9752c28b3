//! The JavaScript API (wasm-bindgen exports). The npm package's `index.js` wraps these so that
//! `init` loads the module first and the others never throw.

use wasm_bindgen::prelude::*;

use super::js;
use crate::core::config::{Config, ConfigError};
use crate::core::event::{limits, AttrValue};
use crate::core::scrub::truncate_in_place;

fn js_error(e: &ConfigError) -> JsValue {
    js::Error::new(&e.message()).into()
}

/// One option's value, read with a type check; a wrong type becomes an error naming the option.
trait FromJs: Sized {
    fn from_js(v: &JsValue) -> Option<Self>;
}
impl FromJs for String {
    fn from_js(v: &JsValue) -> Option<Self> {
        v.as_string()
    }
}
impl FromJs for bool {
    fn from_js(v: &JsValue) -> Option<Self> {
        v.as_bool()
    }
}
impl FromJs for f64 {
    fn from_js(v: &JsValue) -> Option<Self> {
        v.as_f64()
    }
}
impl FromJs for u32 {
    fn from_js(v: &JsValue) -> Option<Self> {
        let n = v.as_f64()?;
        (n.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&n)).then_some(n as u32)
    }
}
impl FromJs for Vec<String> {
    fn from_js(v: &JsValue) -> Option<Self> {
        if !js::is_array(v) {
            return None;
        }
        // A loop rather than `collect::<Option<Vec<_>>>` (whose adapter costs wasm bytes).
        let mut out = Vec::new();
        for i in 0..js::len(v) {
            out.push(js::at(v, i).as_string()?);
        }
        Some(out)
    }
}

fn opt<T: FromJs>(name: &str, v: JsValue, problem: &'static str) -> Result<T, ConfigError> {
    T::from_js(&v).ok_or_else(|| ConfigError::new(name, problem))
}

/// Converts the `init` options object; unknown names and wrong types are errors.
fn parse_options(o: &JsValue) -> Result<Config, ConfigError> {
    if !js::is_object(o) {
        return Err(ConfigError::new(
            "options",
            "must be an object such as { endpoint, key }",
        ));
    }
    let mut c = Config::new("", "");
    let keys = js::keys(o);
    for i in 0..js::len(&keys) {
        let name = js::at(&keys, i).as_string().unwrap_or_default();
        let v = js::get(o, &name);
        if js::is_undefined(&v) {
            continue;
        }
        const BOOL: &str = "must be true or false";
        let n = name.as_str();
        match n {
            "endpoint" => c.endpoint = opt(n, v, "must be a string URL")?,
            "key" => c.key = opt(n, v, "must be a string")?,
            "sampleRate" => c.sample_rate = opt(n, v, "must be a number from 0 to 1")?,
            "flushIntervalMs" => {
                c.flush_interval_ms = opt(
                    n,
                    v,
                    "must be a whole number of milliseconds from 100 to 600000",
                )?
            }
            "maxBatchBytes" => {
                c.max_batch_bytes = opt(n, v, "must be a whole number from 20000 to 65536")?
            }
            "maxBatchEvents" => {
                c.max_batch_events = opt(n, v, "must be a whole number from 1 to 200")?
            }
            "maxErrorsPerSession" => {
                c.max_errors_per_session = opt(n, v, "must be a whole number from 1 to 1000")?
            }
            "allowQuery" => c.allow_query = opt(n, v, "must be an array of query parameter names")?,
            "respectDoNotTrack" => c.respect_do_not_track = opt(n, v, BOOL)?,
            "requireConsent" => c.require_consent = opt(n, v, BOOL)?,
            "captureClicks" => c.capture_clicks = opt(n, v, BOOL)?,
            "captureText" => c.capture_text = opt(n, v, BOOL)?,
            "captureErrors" => c.capture_errors = opt(n, v, BOOL)?,
            "capturePageViews" => c.capture_page_views = opt(n, v, BOOL)?,
            "capturePerformance" => c.capture_performance = opt(n, v, BOOL)?,
            "maskMessages" => c.mask_messages = opt(n, v, BOOL)?,
            "release" => c.release = opt(n, v, "must be a string")?,
            "environment" => c.environment = opt(n, v, "must be a string")?,
            _ => {
                return Err(ConfigError::new(
                    n,
                    "is not a known option (see the options table in the README)",
                ))
            }
        }
    }
    Ok(c)
}

/// Starts the SDK; throws one `Error` naming the first bad option.
#[wasm_bindgen]
pub fn start(options: JsValue) -> Result<(), JsValue> {
    let cfg = parse_options(&options).map_err(|e| js_error(&e))?;
    super::init(cfg).map_err(|e| js_error(&e))
}

/// Records a custom event; `attrs` is a flat object (nested values are stored as JSON text).
#[wasm_bindgen]
pub fn track(name: JsValue, attrs: JsValue) {
    let mut name = js::describe(&name);
    truncate_in_place(&mut name, limits::NAME);
    let mut out = Vec::new();
    if js::is_object(&attrs) {
        let entries = js::entries(&attrs);
        for i in 0..js::len(&entries).min(limits::ATTRS as u32) {
            let pair = js::at(&entries, i);
            let k = js::at(&pair, 0).as_string().unwrap_or_default();
            let v = js::at(&pair, 1);
            let v = if let Some(s) = v.as_string() {
                AttrValue::Str(s)
            } else if let Some(n) = v.as_f64() {
                AttrValue::Num(n)
            } else if let Some(b) = v.as_bool() {
                AttrValue::Bool(b)
            } else {
                AttrValue::Str(js::describe(&v))
            };
            out.push((k, v));
        }
    }
    super::track(&name, out);
}

/// Sends everything pending now.
#[wasm_bindgen]
pub fn flush() {
    super::flush();
}

/// Grants (true) or refuses (false) consent when `requireConsent` is set.
#[wasm_bindgen(js_name = setConsent)]
pub fn set_consent(granted: bool) {
    super::set_consent(granted);
}

/// The session id, or undefined when not running.
#[wasm_bindgen(js_name = sessionId)]
pub fn session_id() -> Option<String> {
    super::session_id()
}

/// Delivery and capture counter `i`, in the order of the fields of
/// [`crate::core::sdk::Stats`]; undefined when not running. The npm entry names them.
#[wasm_bindgen]
pub fn stat(i: u32) -> Option<u32> {
    let s = super::stats()?;
    [
        s.beacons,
        s.fetches,
        s.delivered_batches,
        s.rejected_batches,
        s.rejected_events,
        s.dropped_batches,
        s.dropped_events,
        s.errors_over_cap,
    ]
    .get(i as usize)
    .copied()
}
