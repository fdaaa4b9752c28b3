//! The stack parser (`stack::parse`, run by the Worker on every error's raw `Error.stack`) and
//! the edge's `stack::fingerprint` (computed at ingest since issue #8), on any text.
//!
//! Beyond "never panics":
//! - at most 100 frames, and never more frames than lines; `Format::Unknown` exactly when no
//!   frame was read;
//! - every frame is read from the text: its function (non-empty when present) and file are
//!   substrings of the input, its line and column numbers are written in it (decimal, or hex
//!   for a WebAssembly offset);
//! - extension and engine-internal frames are never "in app";
//! - CRLF line ends parse exactly as LF ones (traces pasted or proxied from Windows);
//! - the fingerprint ignores the digits of a message (errors differing only in ids group).

#![no_main]

use ferrotel::core::stack::{fingerprint, parse, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (format, frames) = parse(&text);
    assert!(frames.len() <= 100);
    assert!(
        frames.len() <= text.lines().count(),
        "{} frames from {} lines",
        frames.len(),
        text.lines().count()
    );
    assert_eq!(format == Format::Unknown, frames.is_empty());
    let lower = text.to_ascii_lowercase();
    for f in &frames {
        if let Some(func) = &f.function {
            assert!(!func.is_empty() && text.contains(func.as_str()), "{f:?}");
        }
        assert!(text.contains(f.file.as_str()), "{f:?}");
        if let Some(l) = f.line {
            assert!(
                text.contains(&l.to_string()),
                "line {l} is not in the text: {f:?}"
            );
        }
        if let Some(c) = f.column {
            assert!(
                text.contains(&c.to_string()) || lower.contains(&format!("{c:x}")),
                "column {c} is not in the text: {f:?}"
            );
        }
        let foreign = [
            "chrome-extension://",
            "moz-extension://",
            "safari-extension://",
            "safari-web-extension://",
        ]
        .iter()
        .any(|p| f.file.starts_with(p))
            || matches!(f.file.as_str(), "<anonymous>" | "native" | "[native code]");
        assert!(!(foreign && f.in_app), "{f:?} is not the page's code");
    }
    if text.contains("\r\n") {
        assert_eq!(
            parse(&text.replace("\r\n", "\n")),
            (format, frames),
            "CRLF changes the frames"
        );
    }

    // The first line is the message, the rest the stack.
    let (message, stack) = text.split_once('\n').unwrap_or((&text, ""));
    let h = fingerprint("Error", message, stack);
    assert_eq!(h, fingerprint("Error", message, stack), "not deterministic");
    let other: String = message
        .chars()
        .map(|c| match c.to_digit(10) {
            Some(d) if c.is_ascii_digit() => char::from(b'0' + ((d as u8 + 7) % 10)),
            _ => c,
        })
        .collect();
    assert_eq!(
        fingerprint("Error", message, ""),
        fingerprint("Error", &other, ""),
        "the message's digits change the fingerprint: {message:?} / {other:?}"
    );
});
