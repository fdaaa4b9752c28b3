//! The page-side module (src/browser/glue.js) dispatches into Rust with numeric codes that
//! `capture::code` (src/browser/capture.rs) declares: the two lists must agree, name for name.

use std::collections::BTreeMap;

/// `NAME = N` items between `start` (included) and `end`, separated by `,` `;` or newlines.
fn consts(text: &str, start: &str, end: &str) -> BTreeMap<String, u32> {
    let from = text.find(start).expect("the codes' start");
    let to = from + text[from..].find(end).expect("the codes' end");
    text[from..to]
        .split([',', ';', '\n'])
        .filter_map(|item| {
            let item = item.trim();
            let item = item.strip_prefix("const ").unwrap_or(item);
            let item = item.strip_prefix("pub const ").unwrap_or(item);
            let (name, value) = item.split_once('=')?;
            let name = name.trim().trim_end_matches(": u32").trim().to_owned();
            Some((name, value.trim().parse().ok()?))
        })
        .collect()
}

#[test]
fn glue_js_dispatch_codes_match_capture_code() {
    let js = consts(
        include_str!("../src/browser/glue.js"),
        "const KEYDOWN",
        ";\n",
    );
    let rs = consts(
        include_str!("../src/browser/capture.rs"),
        "pub const KEYDOWN",
        "}",
    );
    assert_eq!(js.len(), 22, "glue.js codes: {js:?}");
    assert!(rs.len() >= js.len(), "capture::code: {rs:?}");
    for (name, v) in &js {
        assert_eq!(
            rs.get(name),
            Some(v),
            "glue.js says {name} = {v}; capture::code says {:?}",
            rs.get(name)
        );
    }
}

#[test]
fn navigation_numbers_are_read_by_the_index_rust_expects() {
    // glue.js reads `NAV_KEYS[i]` of the entry for `num(NAV + i)`; capture.rs reads
    // `activationStart` as `NAV` and `responseStart` as `NAV + 1`.
    let js = include_str!("../src/browser/glue.js");
    let from = js.find("NAV_KEYS = [").expect("NAV_KEYS") + "NAV_KEYS = [".len();
    let keys: Vec<&str> = js[from..from + js[from..].find(']').unwrap()]
        .split(',')
        .map(|k| k.trim().trim_matches('"'))
        .collect();
    assert_eq!(keys, ["activationStart", "responseStart"]);
    let rs = include_str!("../src/browser/capture.rs");
    assert!(rs.contains("activation_start: js::num(js::NAV),"));
    assert!(rs.contains("response_start: js::num(js::NAV + 1),"));
}

#[test]
fn glue_js_names_the_queue_items_as_the_core_does() {
    let js = include_str!("../src/browser/glue.js");
    let prefix = ferrotel::core::sdk::KEY_PREFIX;
    let q = &prefix[..prefix.len() - 1];
    assert!(js.contains(&format!("Q = \"{q}\"")), "glue.js `Q`");
    assert!(js.contains("Q + \":\" + s.slice(0, 16)"), "an item per id");
}
