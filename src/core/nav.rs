//! The navigation timing entry as the browser sends it (`nav_entry` events), and the
//! `nav_timing` event the edge computes from it.
//!
//! The browser hands over the `PerformanceNavigationTiming` entry as it is (its numbers and its
//! `type`, as JSON text: glue.js `text`), so the phases are computed here, at the edge, rather
//! than by code in every visitor's download (269 B brotli of wasm and JavaScript). The
//! decoder turns every `nav_entry` into the `nav_timing` it stands for, so nothing after it (and
//! nothing stored or forwarded) sees a `nav_entry`; an older SDK's `nav_timing` still arrives as
//! it was.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::fields::{Field, Raw, Read, Rules};
use super::json::push_key;
use super::json::push_str;
use super::otlp::kv_str;
use super::schema::{names, EventKind, NavTiming};
use super::sdk::pos;

/// The event types that are stored and forwarded, and so sampled (`SAMPLE_RATES`, sampling
/// rules): every wire type but `nav_entry`, which the decoder turns into `nav_timing`.
pub fn stored_types() -> Vec<&'static str> {
    EventKind::TYPES
        .iter()
        .copied()
        .filter(|t| *t != names::NavEntry)
        .collect()
}

/// The entry's numbers the phases are computed from (0 where the browser has none) and its
/// `type`; the attributes of these names, read from its JSON (other members are ignored).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct NavEntryJson {
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
    /// `navigate`, `reload`, `back_forward`, `prerender`.
    #[serde(rename = "type")]
    pub navigation_type: String,
}

impl NavEntryJson {
    /// The phases of the navigation, as `nav_timing` reports them.
    pub fn timing(&self) -> NavTiming {
        let d = |end: f64, start: f64| pos(end - start);
        NavTiming {
            dns: d(self.domain_lookup_end, self.domain_lookup_start),
            tcp: d(self.connect_end, self.connect_start),
            tls: if self.secure_connection_start > 0.0 {
                d(self.connect_end, self.secure_connection_start)
            } else {
                0.0
            },
            ttfb: d(self.response_start, self.request_start),
            download: d(self.response_end, self.response_start),
            dom_interactive: pos(self.dom_interactive),
            dom_content_loaded: pos(self.dom_content_loaded_event_end),
            load: pos(self.load_event_end),
            transfer_size: pos(self.transfer_size),
            navigation_type: if self.navigation_type.is_empty() {
                "navigate".into()
            } else {
                self.navigation_type.clone()
            },
        }
    }
}

/// On the wire: a JSON string holding the entry's JSON.
impl Field for NavEntryJson {
    const READ: Read = Read::Str;
    fn encode(&self, o: &mut String, name: &'static str, max: usize) {
        push_key(o, name);
        push_str(o, &serde_json::to_string(self).unwrap_or_default(), max);
    }
    fn decode(raw: Raw<'_>, _: &Rules) -> Result<Self, Cow<'static, str>> {
        match raw {
            // An object (serde would also read a struct from an array).
            Raw::Str(s) => (s.trim_start().starts_with('{'))
                .then(|| serde_json::from_str::<NavEntryJson>(&s).ok())
                .flatten()
                .filter(|e| e.navigation_type.len() <= super::event::limits::NAME)
                .ok_or_else(|| {
                    "must be the navigation timing entry as JSON text (its numbers and type)".into()
                }),
            _ => Err("has the wrong type".into()),
        }
    }
    fn otlp(&self, o: &mut String, key: &'static str) {
        kv_str(o, key, &serde_json::to_string(self).unwrap_or_default());
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn describe(r: &Rules) -> String {
        format!("JSON text ≤ {} bytes: the browser's `PerformanceNavigationTiming` entry (its numbers and `type`); the edge turns the event into `nav_timing`", r.max)
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn show(&self) -> String {
        format!("{:?}", serde_json::to_string(self).unwrap_or_default())
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// The phases from an entry as Chromium serializes it (rounded to what it reports).
    #[test]
    fn phases_come_from_the_entry() {
        let json = r#"{"name":"https://shop.example/?q=1","entryType":"navigation","startTime":0,
            "activationStart":0,"domainLookupStart":3.5,"domainLookupEnd":10,"connectStart":10,
            "secureConnectionStart":14,"connectEnd":30,"requestStart":30.2,"responseStart":120,
            "responseEnd":130,"domInteractive":200,"domContentLoadedEventEnd":210,
            "loadEventEnd":300,"transferSize":4321,"type":"reload","serverTiming":[]}"#;
        let e: NavEntryJson = serde_json::from_str(json).unwrap();
        let t = e.timing();
        assert_eq!((t.dns, t.tcp, t.tls), (6.5, 20.0, 16.0));
        assert_eq!((t.ttfb, t.download), (89.8, 10.0));
        assert_eq!(
            (t.dom_interactive, t.dom_content_loaded, t.load),
            (200.0, 210.0, 300.0)
        );
        assert_eq!(
            (t.transfer_size, t.navigation_type.as_str()),
            (4321.0, "reload")
        );
        // No TLS (secureConnectionStart 0), missing numbers, no type.
        let t = serde_json::from_str::<NavEntryJson>(r#"{"connectEnd":5}"#)
            .unwrap()
            .timing();
        assert_eq!(
            (t.tcp, t.tls, t.navigation_type.as_str()),
            (5.0, 0.0, "navigate")
        );
    }

    #[test]
    fn what_is_not_an_entry_is_refused() {
        for bad in [
            "",
            "[]",
            "{\"domInteractive\":\"soon\"}",
            "{\"type\":1}",
            "{",
        ] {
            assert!(
                NavEntryJson::decode(Raw::Str(bad.into()), &Rules::NONE).is_err(),
                "{bad}"
            );
        }
    }
}
