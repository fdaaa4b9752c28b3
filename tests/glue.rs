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
    assert_eq!(js.len(), 14, "glue.js codes: {js:?}");
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
