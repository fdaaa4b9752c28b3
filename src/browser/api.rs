//! The JavaScript API. The npm package's `index.js` wraps it so that `init` loads the module
//! first and the others never throw. `start`, `track`, `flush`, `setConsent`, `sessionId` and
//! `stats` enter through the page side's one export, [`super::capture::__ferrotel_event`] (glue.js `api`),
//! with codes of their own: one export (and one call into the core) fewer each.
//!
//! Arguments that are JavaScript objects (the options, a custom event's attributes) are laid out
//! by the page side first (glue.js `options`, `attrs`) as plain strings, numbers and booleans
//! that Rust reads by index ([`js::arg`]); results that are strings (the session id, a bad
//! option's message) go back to its `RESULT` slot. No JavaScript value crosses as such.

use wasm_bindgen::prelude::*;

use super::js;
use crate::core::config::{Config, ConfigError, OPTIONS};
use crate::core::event::{limits, AttrValue};

// glue.js `typed`.
const STR: i32 = 1;
const NUM: i32 = 2;
const BOOL: i32 = 3;
const LIST: i32 = 4;

/// Converts the `init` options (`n` entries laid out by glue.js `options`: name, type, value, a
/// list's items after its length; -1 for a value that is not an object) by the options table
/// ([`OPTIONS`]): each value is read by its JavaScript type and [`Config::set`] takes it only for
/// an option of that kind; unknown names and wrong kinds are errors naming the option.
fn parse_options(n: i32) -> Result<Config, ConfigError> {
    if n < 0 {
        return Err(ConfigError::new(
            "options",
            "must be an object such as { endpoint, key }",
        ));
    }
    let mut c = Config::DEFAULTS;
    let mut i = 0;
    while i < n {
        let name = js::arg(i).unwrap_or_default();
        let ty = js::arg_num(i + 1) as i32;
        let v = i + 2;
        let x = js::arg_num(v);
        let items = if ty == LIST { x as i32 } else { 0 };
        i = v + 1 + items;
        let Some(o) = OPTIONS.iter().find(|o| o.name == name) else {
            return Err(ConfigError::new(
                &name,
                "is not a known option (see the README)",
            ));
        };
        // Written only to a field of the type the option's kind is stored as.
        let set = match ty {
            STR => c.field(o).and_then(|f| {
                *f = js::arg(v)?;
                Some(())
            }),
            BOOL => c.field(o).map(|f| *f = x == 1.0),
            NUM => c.set_num(o, x),
            // Straight into the field (set once: an object's keys are distinct).
            LIST => c.field::<Vec<String>>(o).and_then(|f| {
                for j in v + 1..i {
                    f.push(js::arg(j)?);
                }
                Some(())
            }),
            _ => None,
        };
        set.ok_or_else(|| o.error())?;
    }
    Ok(c)
}

/// Starts the SDK with the options laid out by glue.js `options`; false, with the message of
/// the first bad option in the `RESULT` slot, when one is bad. The npm entry has handed the
/// module's exports to glue.js (`bind`) first, and calls this as [`super::capture::__ferrotel_event`]'s
/// `START`.
pub(super) fn start_laid_out(n: i32) -> bool {
    let r = parse_options(n).and_then(super::start);
    if let Err(e) = &r {
        js::set(js::RESULT, Some(&e.message()));
    }
    r.is_ok()
}

/// What the npm entry's `init` does, from Rust: starts the SDK with a JavaScript options object;
/// the error is one `Error` naming the first bad option.
pub fn start(options: JsValue) -> Result<(), JsValue> {
    js::bind();
    parse_options(js::options(&options))
        .and_then(super::start)
        .map_err(|e| js::Error::new(&e.message()).into())
}

/// A custom event's attributes laid out by glue.js `attrs` (`n` entries: the name, then key,
/// type, value for each attribute, nested values already JSON text), at most
/// [`limits::ATTRS`]. The npm entry's `track` is [`super::capture::__ferrotel_event`]'s `TRACK`.
pub(super) fn attrs(n: i32) -> Vec<(String, AttrValue)> {
    let mut out = Vec::new();
    let mut i = 1;
    while i + 2 < n && out.len() < limits::ATTRS {
        let k = js::arg(i).unwrap_or_default();
        let x = js::arg_num(i + 2);
        let v = match js::arg_num(i + 1) as i32 {
            NUM => AttrValue::Num(x),
            BOOL => AttrValue::Bool(x == 1.0),
            _ => AttrValue::Str(js::arg(i + 2).unwrap_or_default()),
        };
        out.push((k, v));
        i += 3;
    }
    out
}
