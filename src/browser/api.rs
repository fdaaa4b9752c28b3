//! The JavaScript API (wasm-bindgen exports). The npm package's `index.js` wraps these so that
//! `init` loads the module first and the others never throw.

use wasm_bindgen::prelude::*;

use super::js;
use crate::core::config::{Config, ConfigError, Kind, Value, OPTIONS};
use crate::core::event::{limits, AttrValue};
use crate::core::scrub::truncate_in_place;

fn js_error(e: &ConfigError) -> JsValue {
    js::Error::new(&e.message()).into()
}

/// An array of strings, or `None`.
fn strings(v: &JsValue) -> Option<Vec<String>> {
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

/// Converts the `init` options object by the options table ([`OPTIONS`]): each value is read
/// by its option's kind; unknown names and wrong kinds are errors naming the option.
fn parse_options(o: &JsValue) -> Result<Config, ConfigError> {
    if !js::is_object(o) {
        return Err(ConfigError::new(
            "options",
            "must be an object such as { endpoint, key }",
        ));
    }
    let mut c = Config::new("", "");
    let keys = js::keys(o);
    for k in 0..js::len(&keys) {
        let name = js::at(&keys, k).as_string().unwrap_or_default();
        let v = js::get(o, &name);
        if js::is_undefined(&v) {
            continue;
        }
        let Some(i) = OPTIONS.iter().position(|o| o.name == name) else {
            return Err(ConfigError::new(
                &name,
                "is not a known option (see the options table in the README)",
            ));
        };
        let value = match OPTIONS[i].kind {
            Kind::Str => v.as_string().map(Value::Str),
            Kind::Bool => v.as_bool().map(Value::Bool),
            Kind::Num(..) | Kind::Int(..) => v.as_f64().map(Value::Num),
            Kind::List => strings(&v).map(Value::List),
        };
        c.set(i, value)?;
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
