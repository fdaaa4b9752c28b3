//! Stack traces from Chrome/V8, Firefox and Safari.
//!
//! The browser only ships the raw `Error.stack`; the edge computes [`fingerprint`]
//! (`core::protect`) and runs [`parse`] before storing or forwarding, where bytes and cycles
//! matter less.

/// One parsed stack frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Function name as the engine printed it (`Foo.bar`, `foo/<`, `global code`), if any.
    pub function: Option<String>,
    /// Script URL or pseudo-location (`<anonymous>`, `[native code]`), without line and column.
    pub file: String,
    /// 1-based line number, if the engine gave one.
    pub line: Option<u32>,
    /// 1-based column, or the byte offset into the module for WebAssembly frames.
    pub column: Option<u32>,
    /// False for engine-internal and browser-extension frames, which the page cannot fix.
    pub in_app: bool,
}

/// Which engine's format a trace was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Chrome, Edge and Node: `    at fn (file:1:2)`, after a `TypeError: msg` header.
    V8,
    /// Firefox and Safari/JavaScriptCore: `fn@file:1:2`.
    Gecko,
    /// No line could be read as a frame.
    Unknown,
}

/// Beyond this, frames are almost always recursion and only bloat storage.
const MAX_FRAMES: usize = 100;

/// Parses a raw `Error.stack` string from Chrome/V8, Firefox or Safari. Never panics; lines it
/// cannot parse are skipped; at most 100 frames (the first 100). Returns frames in the order
/// given (innermost first).
pub fn parse(stack: &str) -> (Format, Vec<Frame>) {
    let (v8, frames) = frames(stack);
    let frames: Vec<Frame> = frames.map(FrameRef::to_owned).collect();
    let format = match (frames.is_empty(), v8) {
        (true, _) => Format::Unknown,
        (false, true) => Format::V8,
        (false, false) => Format::Gecko,
    };
    (format, frames)
}

/// What the OTLP record keeps of a stack: how many frames [`parse`] reads and the first
/// in-app frame (or the first frame), without allocating. Frames after the one returned are
/// only counted (see [`is_frame`]), not parsed.
pub(crate) fn summary(stack: &str) -> (usize, Option<FrameRef<'_>>) {
    let v8 = is_v8(stack);
    let (mut n, mut first, mut app) = (0, None, None);
    for line in stack.lines() {
        if n == MAX_FRAMES {
            break;
        }
        let line = line.trim();
        if app.is_some() {
            n += usize::from(is_frame(v8, line));
        } else if let Some(f) = parse_line(v8, line) {
            n += 1;
            first = first.or(Some(f));
            if f.in_app {
                app = Some(f);
            }
        }
    }
    (n, app.or(first))
}

/// A frame borrowing from the stack text (see [`Frame`]; the function is empty when none).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameRef<'a> {
    pub function: &'a str,
    pub file: &'a str,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub in_app: bool,
}

impl FrameRef<'_> {
    fn to_owned(self) -> Frame {
        Frame {
            function: (!self.function.is_empty()).then(|| self.function.to_owned()),
            file: self.file.to_owned(),
            line: self.line,
            column: self.column,
            in_app: self.in_app,
        }
    }
}

/// Whether the trace is V8's, and its frames (at most [`MAX_FRAMES`]).
fn frames(stack: &str) -> (bool, impl Iterator<Item = FrameRef<'_>>) {
    let v8 = is_v8(stack);
    let frames = stack
        .lines()
        .filter_map(move |line| parse_line(v8, line.trim()))
        .take(MAX_FRAMES);
    (v8, frames)
}

/// A V8 header (the message) can contain '@', so once any V8 frame is present only V8 lines
/// count; the pre-scan is cheap next to parsing a frame.
fn is_v8(stack: &str) -> bool {
    stack.lines().any(|l| l.trim_start().starts_with("at "))
}

/// The frame on a trimmed line, if it is one.
fn parse_line(v8: bool, line: &str) -> Option<FrameRef<'_>> {
    if v8 {
        line.strip_prefix("at ").and_then(parse_v8)
    } else {
        parse_gecko(line)
    }
}

/// `parse_line(v8, line).is_some()`, without reading the location.
fn is_frame(v8: bool, line: &str) -> bool {
    if v8 {
        line.strip_prefix("at ")
            .is_some_and(|rest| !rest.trim().is_empty())
    } else {
        line == "[native code]"
            || line.split_once('@').is_some_and(|(function, location)| {
                !has_colon_space(function) && !location.trim().is_empty()
            })
    }
}

fn parse_v8(rest: &str) -> Option<FrameRef<'_>> {
    let rest = rest.trim();
    if rest.is_empty() {
        return None;
    }
    let (function, location) = match split_trailing_group(rest) {
        Some((f, loc)) => (f.trim(), loc),
        None => ("", rest),
    };
    // `async` and `new` describe the call, not the callee; dropping them keeps one name per function.
    let function = function.strip_prefix("async ").unwrap_or(function);
    let function = function.strip_prefix("new ").unwrap_or(function);
    let location = location.strip_prefix("address at ").unwrap_or(location);
    Some(frame(function, location))
}

/// Splits `name (location)` at the parenthesis matching the final ')', so that nested groups in
/// eval locations (`eval at f (url:1:2), <anonymous>:3:4`) stay in the location.
fn split_trailing_group(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_suffix(')')?;
    let mut depth = 1usize;
    for (i, b) in inner.bytes().enumerate().rev() {
        match b {
            b')' => depth += 1,
            b'(' => {
                depth -= 1;
                if depth == 0 {
                    return Some((inner.get(..i)?, inner.get(i + 1..)?));
                }
            }
            _ => {}
        }
    }
    None
}

fn parse_gecko(line: &str) -> Option<FrameRef<'_>> {
    if line == "[native code]" {
        return Some(frame("", line));
    }
    // Function names never contain '@', URLs may (`/npm/pkg@1.2.3/`), so the first one splits.
    let (function, location) = line.split_once('@')?;
    if has_colon_space(function) || location.trim().is_empty() {
        return None;
    }
    // Firefox marks async boundaries as `async*fn` or `promise callback*fn`.
    let function = function.rsplit_once('*').map_or(function, |(_, f)| f);
    Some(frame(function, location))
}

fn frame<'a>(function: &'a str, location: &'a str) -> FrameRef<'a> {
    let (file, line, column) = split_location(location.trim());
    FrameRef {
        function,
        file,
        line,
        column,
        in_app: is_app_file(file),
    }
}

/// `s.split_once(sep)` for a multi-byte separator, without `str`'s per-call searcher setup
/// (a memchr on the first byte and a compare: this runs on every frame of every error).
fn split_once_str<'a>(s: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    let (b, sep_b) = (s.as_bytes(), sep.as_bytes());
    let (&first, rest) = sep_b.split_first()?;
    let mut at = 0;
    while let Some(i) = b.get(at..).and_then(|h| memchr::memchr(first, h)) {
        let start = at + i;
        if b.get(start + 1..start + 1 + rest.len()) == Some(rest) {
            return Some((s.get(..start)?, s.get(start + sep_b.len()..)?));
        }
        at = start + 1;
    }
    None
}

fn split_location(loc: &str) -> (&str, Option<u32>, Option<u32>) {
    // V8 eval: the innermost parenthesised position is the real script; the trailing
    // `<anonymous>:3:4` is relative to eval'd text that no source map covers.
    if let Some(rest) = loc.strip_prefix("eval at ") {
        let inner = match rest.rsplit_once('(') {
            Some((_, r)) => r.split(')').next().unwrap_or(r),
            None => rest.rsplit_once(", ").map_or(rest, |(_, r)| r),
        };
        return split_line_col(inner.trim());
    }
    // Firefox eval/Function: `url line 2 > eval:1:3`; only the line in `url` is meaningful.
    if let Some((file, after)) = split_once_str(loc, " line ").filter(|(_, a)| a.contains(" > ")) {
        let digits = after
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap_or("");
        return (file, digits.parse().ok(), None);
    }
    // `wasm://wasm/abc:wasm-function[12]:0x1a2b`: the hex offset is what wasm source maps key on.
    if let Some((file, rest)) = split_once_str(loc, ":wasm-function[") {
        let offset = rest
            .rsplit_once(":0x")
            .and_then(|(_, hex)| u32::from_str_radix(hex, 16).ok());
        return (file, None, offset);
    }
    split_line_col(loc)
}

fn split_line_col(loc: &str) -> (&str, Option<u32>, Option<u32>) {
    match split_number(loc) {
        None => (loc, None, None),
        Some((rest, last)) => match split_number(rest) {
            Some((file, line)) => (file, Some(line), Some(last)),
            None => (rest, Some(last), None),
        },
    }
}

/// `a.js:10` -> (`a.js`, 10); only a purely decimal suffix counts, so ports inside URLs and
/// `blob:` prefixes are left alone.
fn split_number(s: &str) -> Option<(&str, u32)> {
    let (rest, num) = s.rsplit_once(':')?;
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((rest, num.parse().ok()?))
}

fn is_app_file(file: &str) -> bool {
    const NOT_APP: [&str; 3] = ["<anonymous>", "native", "[native code]"];
    // `index N` is V8's location for `Promise.all` element frames.
    const NOT_APP_PREFIXES: [&str; 5] = [
        "chrome-extension://",
        "moz-extension://",
        "safari-extension://",
        "safari-web-extension://",
        "index ",
    ];
    !(NOT_APP.contains(&file) || NOT_APP_PREFIXES.iter().any(|p| file.starts_with(p)))
}

/// A stable 64-bit fingerprint (FNV-1a) of an error for dedup: hashes the error type, the
/// message with digit runs and hex-looking runs (8 or more hex digits, dashes allowed, as in
/// UUIDs) replaced so "id 123" and "id 456" group together, and the first frame location of the
/// raw stack (file, line and column as text). Allocation-free and does not call [`parse`].
pub fn fingerprint(kind: &str, message: &str, stack: &str) -> u64 {
    let mut h = Fnv::new();
    h.bytes(kind.as_bytes());
    // 0xFF never occurs in UTF-8, so the fields cannot run into each other.
    h.byte(0xFF);
    hash_message(&mut h, message.as_bytes());
    h.byte(0xFF);
    h.bytes(first_location(message, stack).as_bytes());
    h.0
}

/// Marks for replaced runs; bytes that are invalid in UTF-8 cannot collide with message text.
const DIGITS_MARK: u8 = 0xFE;
const HEX_MARK: u8 = 0xFD;
const HEX_RUN_MIN: usize = 8;

fn hash_message(h: &mut Fnv, msg: &[u8]) {
    let mut run_start = None;
    for (i, &b) in msg.iter().enumerate() {
        if b.is_ascii_hexdigit() || b == b'-' {
            if run_start.is_none() {
                run_start = Some(i);
            }
            continue;
        }
        if let Some(s) = run_start.take() {
            hash_run(h, msg.get(s..i).unwrap_or(&[]));
        }
        h.byte(b);
    }
    if let Some(s) = run_start {
        hash_run(h, msg.get(s..).unwrap_or(&[]));
    }
}

fn hash_run(h: &mut Fnv, run: &[u8]) {
    if run.iter().filter(|b| b.is_ascii_hexdigit()).count() >= HEX_RUN_MIN {
        h.byte(HEX_MARK);
        return;
    }
    let mut in_digits = false;
    for &b in run {
        if b.is_ascii_digit() {
            if !in_digits {
                h.byte(DIGITS_MARK);
            }
            in_digits = true;
        } else {
            in_digits = false;
            h.byte(b);
        }
    }
}

/// The first frame's position as raw text. A V8 frame wins wherever it is, because the header
/// before it is the message and may itself look like a location; otherwise the first Gecko
/// frame (same test as [`parse`]), otherwise the first line with a ':' after the first line.
/// What is skipped depends on structure, not on whether a line resembles the message, so
/// messages differing only in digits cannot skip different lines. The one exception keeps a
/// multi-line message out: V8 prints its further lines verbatim as stack lines 1, 2, …, and a
/// stack cut short by truncation may end inside them. Comparing line i with message line i
/// keeps this linear and free of the substring searcher and its panicking paths.
fn first_location<'a>(message: &str, stack: &'a str) -> &'a str {
    let mut gecko = None;
    let mut other = None;
    // `split('\n')` rather than `lines()`: every line is trimmed below (so a '\r' before the
    // '\n' goes either way) and a trailing empty line is skipped, and the wasm already has
    // the `split` iterator (the retry queue's).
    let mut message_lines = message.split('\n');
    for (i, line) in stack.split('\n').enumerate() {
        let message_line = message_lines.next();
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("at ") {
            let loc = match rest.strip_suffix(')').and_then(|r| r.rsplit_once('(')) {
                Some((_, inner)) => inner.split(')').next().unwrap_or(inner),
                None => rest,
            };
            if loc.contains(':') {
                return loc;
            }
            continue;
        }
        let in_message = i > 0 && message_line.is_some_and(|m| m.trim().starts_with(t));
        if gecko.is_some() || t.is_empty() || in_message {
            continue;
        }
        match t.split_once('@') {
            Some((name, loc)) if !has_colon_space(name) && loc.contains(':') => gecko = Some(loc),
            // Line 0 of anything else is a header in every engine that writes one.
            _ if i > 0 && other.is_none() && t.contains(':') => other = Some(t),
            _ => {}
        }
    }
    gecko.or(other).unwrap_or("")
}

/// `s.contains(": ")` without the substring searcher: ": " only appears in a message header
/// someone prepended (`Error: mail a@b.c`), never in a function name.
fn has_colon_space(s: &str) -> bool {
    s.split(':').skip(1).any(|part| part.starts_with(' '))
}

struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn byte(&mut self, b: u8) {
        self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    fn bytes(&mut self, bs: &[u8]) {
        for &b in bs {
            self.byte(b);
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(
        function: Option<&str>,
        file: &str,
        line: Option<u32>,
        column: Option<u32>,
        in_app: bool,
    ) -> Frame {
        Frame {
            function: function.map(str::to_owned),
            file: file.to_owned(),
            line,
            column,
            in_app,
        }
    }

    #[test]
    fn chrome_trace_skips_header_and_reads_frames() {
        let stack = "TypeError: Cannot read properties of undefined (reading 'x')\n    at Foo.bar (https://x.com/a.js:10:5)\n    at https://x.com/a.js:20:7\n    at HTMLButtonElement.onclick (https://x.com/:1:1)";
        let (fmt, frames) = parse(stack);
        assert_eq!(fmt, Format::V8);
        assert_eq!(
            frames,
            vec![
                f(
                    Some("Foo.bar"),
                    "https://x.com/a.js",
                    Some(10),
                    Some(5),
                    true
                ),
                f(None, "https://x.com/a.js", Some(20), Some(7), true),
                f(
                    Some("HTMLButtonElement.onclick"),
                    "https://x.com/",
                    Some(1),
                    Some(1),
                    true
                ),
            ]
        );
    }

    #[test]
    fn chrome_async_and_new_prefixes_are_dropped() {
        let stack = "Error: boom\n    at new Foo (https://x.com/a.js:3:9)\n    at async load (https://x.com/b.js:1:2)\n    at async Promise.all (index 0)";
        let (_, frames) = parse(stack);
        assert_eq!(
            frames[0],
            f(Some("Foo"), "https://x.com/a.js", Some(3), Some(9), true)
        );
        assert_eq!(
            frames[1],
            f(Some("load"), "https://x.com/b.js", Some(1), Some(2), true)
        );
        assert_eq!(
            frames[2],
            f(Some("Promise.all"), "index 0", None, None, false)
        );
    }

    #[test]
    fn chrome_eval_uses_innermost_script_position() {
        let stack = "Error\n    at eval (eval at <anonymous> (https://x/a.js:1:2), <anonymous>:3:4)\n    at eval (eval at foo (eval at bar (https://x/b.js:5:6)), <anonymous>:1:1)";
        let (_, frames) = parse(stack);
        assert_eq!(
            frames[0],
            f(Some("eval"), "https://x/a.js", Some(1), Some(2), true)
        );
        assert_eq!(
            frames[1],
            f(Some("eval"), "https://x/b.js", Some(5), Some(6), true)
        );
    }

    #[test]
    fn chrome_native_and_anonymous_frames_are_not_in_app() {
        let stack = "Error: x\n    at Array.map (<anonymous>)\n    at <anonymous>\n    at Array.forEach (native)\n    at JSON.parse (<anonymous>)";
        let (_, frames) = parse(stack);
        assert_eq!(frames.len(), 4);
        assert_eq!(
            frames[0],
            f(Some("Array.map"), "<anonymous>", None, None, false)
        );
        assert_eq!(frames[1], f(None, "<anonymous>", None, None, false));
        assert_eq!(
            frames[2],
            f(Some("Array.forEach"), "native", None, None, false)
        );
    }

    #[test]
    fn chrome_special_urls() {
        let stack = "Error: x\n    at Module.run (webpack:///./src/index.js?4b3c:12:3)\n    at blob:https://x.com/0d6e-4c2a:4:11\n    at chrome-extension://abcdef/content.js:1:100\n    at Object.<anonymous> [as handler] (webpack-internal:///./src/a.ts:7:1)";
        let (_, frames) = parse(stack);
        assert_eq!(
            frames[0],
            f(
                Some("Module.run"),
                "webpack:///./src/index.js?4b3c",
                Some(12),
                Some(3),
                true
            )
        );
        assert_eq!(
            frames[1],
            f(
                None,
                "blob:https://x.com/0d6e-4c2a",
                Some(4),
                Some(11),
                true
            )
        );
        assert_eq!(
            frames[2],
            f(
                None,
                "chrome-extension://abcdef/content.js",
                Some(1),
                Some(100),
                false
            )
        );
        assert_eq!(
            frames[3].function.as_deref(),
            Some("Object.<anonymous> [as handler]")
        );
        assert_eq!(frames[3].file, "webpack-internal:///./src/a.ts");
    }

    #[test]
    fn chrome_wasm_frame_keeps_offset_as_column() {
        let stack = "RuntimeError: unreachable\n    at my_crate::boom (wasm://wasm/abc:wasm-function[12]:0x1a2b)\n    at wasm://wasm/abc:wasm-function[3]:0x10";
        let (_, frames) = parse(stack);
        assert_eq!(
            frames[0],
            f(
                Some("my_crate::boom"),
                "wasm://wasm/abc",
                None,
                Some(0x1a2b),
                true
            )
        );
        assert_eq!(
            frames[1],
            f(None, "wasm://wasm/abc", None, Some(0x10), true)
        );
    }

    #[test]
    fn firefox_trace() {
        let stack = "foo@https://x.com/a.js:10:5\n@https://x.com/a.js:20:1\nfoo/<@https://x.com/a.js:3:2\nasync*load@https://x.com/b.js:1:1\nbar@https://x/a.js line 2 > eval:1:3\nhandler@moz-extension://1234/c.js:5:5\n";
        let (fmt, frames) = parse(stack);
        assert_eq!(fmt, Format::Gecko);
        assert_eq!(
            frames,
            vec![
                f(Some("foo"), "https://x.com/a.js", Some(10), Some(5), true),
                f(None, "https://x.com/a.js", Some(20), Some(1), true),
                f(Some("foo/<"), "https://x.com/a.js", Some(3), Some(2), true),
                f(Some("load"), "https://x.com/b.js", Some(1), Some(1), true),
                f(Some("bar"), "https://x/a.js", Some(2), None, true),
                f(
                    Some("handler"),
                    "moz-extension://1234/c.js",
                    Some(5),
                    Some(5),
                    false
                ),
            ]
        );
    }

    #[test]
    fn safari_trace() {
        let stack = "foo@https://x.com/a.js:10:5\nmap@[native code]\n[native code]\nglobal code@https://x/a.js:1:2\nmodule code@https://x/m.js:4:8\nevaluate@safari-web-extension://abc/s.js:1:1";
        let (fmt, frames) = parse(stack);
        assert_eq!(fmt, Format::Gecko);
        assert_eq!(
            frames,
            vec![
                f(Some("foo"), "https://x.com/a.js", Some(10), Some(5), true),
                f(Some("map"), "[native code]", None, None, false),
                f(None, "[native code]", None, None, false),
                f(
                    Some("global code"),
                    "https://x/a.js",
                    Some(1),
                    Some(2),
                    true
                ),
                f(
                    Some("module code"),
                    "https://x/m.js",
                    Some(4),
                    Some(8),
                    true
                ),
                f(
                    Some("evaluate"),
                    "safari-web-extension://abc/s.js",
                    Some(1),
                    Some(1),
                    false
                ),
            ]
        );
    }

    #[test]
    fn at_sign_in_url_and_v8_header_are_handled() {
        let (_, frames) = parse("load@https://cdn.x/npm/lib@1.2.3/dist/l.js:1:99");
        assert_eq!(
            frames[0],
            f(
                Some("load"),
                "https://cdn.x/npm/lib@1.2.3/dist/l.js",
                Some(1),
                Some(99),
                true
            )
        );
        // The header contains '@' but V8 frames decide the format.
        let (fmt, frames) = parse("Error: mail a@b.com:3 failed\n    at send (https://x/a.js:1:2)");
        assert_eq!(fmt, Format::V8);
        assert_eq!(frames.len(), 1);
        // A prepended header on a Gecko trace is not a frame.
        let (_, frames) = parse("Error: mail a@b.com\nfoo@https://x/a.js:1:2");
        assert_eq!(
            frames,
            vec![f(Some("foo"), "https://x/a.js", Some(1), Some(2), true)]
        );
    }

    #[test]
    fn garbage_and_empty_are_unknown() {
        assert_eq!(parse(""), (Format::Unknown, vec![]));
        assert_eq!(parse("just some text\nmore: text").0, Format::Unknown);
        assert_eq!(parse("\n\n  \r\n").1.len(), 0);
    }

    #[test]
    fn at_most_100_frames_are_kept() {
        let mut stack = String::from("RangeError: Maximum call stack size exceeded");
        for i in 0..250 {
            stack.push_str(&format!("\n    at f{i} (https://x/a.js:{i}:1)"));
        }
        let (_, frames) = parse(&stack);
        assert_eq!(frames.len(), 100);
        assert_eq!(frames[0].function.as_deref(), Some("f0"));
        assert_eq!(frames[99].line, Some(99));
    }

    #[test]
    fn crlf_and_odd_numbers() {
        let (_, frames) =
            parse("foo@https://x/a.js:10:5\r\nbar@https://x:8080/b.js:99999999999:1\r\n");
        assert_eq!(
            frames[0],
            f(Some("foo"), "https://x/a.js", Some(10), Some(5), true)
        );
        // A line number beyond u32 is not a number, so it stays part of the file.
        assert_eq!(frames[1].file, "https://x:8080/b.js:99999999999");
        assert_eq!(frames[1].line, Some(1));
    }

    #[test]
    fn fingerprint_groups_by_digits_and_hex() {
        let a = fingerprint(
            "TypeError",
            "user 123 not found",
            "TypeError: user 123 not found\n    at f (https://x/a.js:1:2)",
        );
        let b = fingerprint(
            "TypeError",
            "user 98765 not found",
            "TypeError: user 98765 not found\n    at f (https://x/a.js:1:2)",
        );
        assert_eq!(a, b);
        let u1 = fingerprint("Error", "no row 123e4567-e89b-12d3-a456-426614174000", "");
        let u2 = fingerprint("Error", "no row abcdefab-cdef-abcd-efab-cdefabcdefab", "");
        assert_eq!(u1, u2);
        let h1 = fingerprint("Error", "hash deadbeefcafe", "");
        let h2 = fingerprint("Error", "hash 0123456789ab", "");
        assert_eq!(h1, h2);
        // A Gecko first frame that happens to end like the message is still the location.
        assert_eq!(
            fingerprint("", "2", "f@https://x/a.js:1:2"),
            fingerprint("", "3", "f@https://x/a.js:1:2")
        );
    }

    #[test]
    fn fingerprint_separates_kind_message_and_location() {
        let base = fingerprint(
            "TypeError",
            "x is null",
            "TypeError: x is null\n    at f (https://x/a.js:1:2)",
        );
        assert_ne!(
            base,
            fingerprint(
                "RangeError",
                "x is null",
                "TypeError: x is null\n    at f (https://x/a.js:1:2)"
            )
        );
        assert_ne!(
            base,
            fingerprint(
                "TypeError",
                "y is null",
                "TypeError: x is null\n    at f (https://x/a.js:1:2)"
            )
        );
        assert_ne!(
            base,
            fingerprint(
                "TypeError",
                "x is null",
                "TypeError: x is null\n    at f (https://x/a.js:9:2)"
            )
        );
        // Field boundaries are not ambiguous.
        assert_ne!(fingerprint("ab", "c", ""), fingerprint("a", "bc", ""));
    }

    #[test]
    fn fingerprint_location_ignores_header_and_native_frames() {
        let loc = |s| fingerprint("Error", "m", s);
        let plain = loc("Error: m\n    at f (https://x/a.js:1:2)");
        // The V8 header with a ':' in it, and a native frame without position, are skipped.
        assert_eq!(plain, loc("Error: m: see a@b.c:7\n    at Array.map (<anonymous>)\n    at g (https://x/a.js:1:2)"));
        // Firefox and Safari frames give the same location text.
        assert_eq!(plain, loc("f@https://x/a.js:1:2\ng@https://x/a.js:5:5"));
        assert_eq!(plain, loc("map@[native code]\nf@https://x/a.js:1:2"));
        assert_eq!(plain, loc("Error: m\nf@https://x/a.js:1:2"));
        // A multi-line message in a V8 header cut off by truncation is not a location.
        assert_eq!(
            fingerprint("Error", "bad\nid: 5 at x", "Error: bad\nid: 5 at"),
            fingerprint("Error", "bad\nid: 7 at x", "Error: bad\nid: 7 at")
        );
        // A V8 eval frame hashes the real script position.
        assert_eq!(
            plain,
            loc(
                "Error: m\n    at eval (eval at <anonymous> (https://x/a.js:1:2), <anonymous>:3:4)"
            )
        );
    }

    /// Replaces every ASCII digit, seeded so different runs pick different digits.
    fn change_digits(s: &str, seed: u8) -> String {
        s.chars()
            .enumerate()
            .map(|(i, c)| match c.to_digit(10) {
                Some(d) if c.is_ascii_digit() => {
                    char::from(b'0' + ((d as u8 + seed + i as u8) % 10))
                }
                _ => c,
            })
            .collect()
    }

    /// `first_location` as it was with `lines()`: the reference for the `split('\n')` version.
    fn first_location_by_lines<'a>(message: &str, stack: &'a str) -> &'a str {
        let mut gecko = None;
        let mut other = None;
        let mut message_lines = message.lines();
        for (i, line) in stack.lines().enumerate() {
            let message_line = message_lines.next();
            let t = line.trim();
            if let Some(rest) = t.strip_prefix("at ") {
                let loc = match rest.strip_suffix(')').and_then(|r| r.rsplit_once('(')) {
                    Some((_, inner)) => inner.split(')').next().unwrap_or(inner),
                    None => rest,
                };
                if loc.contains(':') {
                    return loc;
                }
                continue;
            }
            let in_message = i > 0 && message_line.is_some_and(|m| m.trim().starts_with(t));
            if gecko.is_some() || t.is_empty() || in_message {
                continue;
            }
            match t.split_once('@') {
                Some((name, loc)) if !has_colon_space(name) && loc.contains(':') => {
                    gecko = Some(loc)
                }
                _ if i > 0 && other.is_none() && t.contains(':') => other = Some(t),
                _ => {}
            }
        }
        gecko.or(other).unwrap_or("")
    }

    proptest! {
        #[test]
        fn the_summary_counts_and_picks_the_frame_parse_would(
            lines in proptest::collection::vec(
                "( *at )?([a-z.<> ]{0,8}\\(|[a-z:* ]{0,5}@ ?|eval at )?(https://a\\.test/[a-z]{1,3}\\.js|chrome-extension://x|<anonymous>|native|index 1|a line 2 > eval|w:wasm-function\\[1\\]:0x1f|\\[native code\\])?(:[0-9]{1,3}){0,2}\\)?",
                0..8,
            ),
        ) {
            let s = lines.join("\n");
            let (_, frames) = parse(&s);
            let (n, top) = summary(&s);
            prop_assert_eq!(n, frames.len());
            let want = frames.iter().find(|f| f.in_app).or(frames.first()).cloned();
            prop_assert_eq!(top.map(FrameRef::to_owned), want);
        }

        #[test]
        fn first_location_is_the_same_as_by_lines(
            message in "[a-z@:() 0-9\r\n]{0,40}",
            stack in "([a-z@:()/. 0-9]{0,12}|    at |\r|\n|\r\n|f@https://x/a.js:1:2){0,12}",
        ) {
            prop_assert_eq!(first_location(&message, &stack), first_location_by_lines(&message, &stack));
            prop_assert_eq!(first_location(&stack, &stack), first_location_by_lines(&stack, &stack));
        }

        #[test]
        fn first_location_is_the_same_as_by_lines_on_any_text(message in any::<String>(), stack in any::<String>()) {
            prop_assert_eq!(first_location(&message, &stack), first_location_by_lines(&message, &stack));
        }

        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let (_, frames) = parse(&s);
            prop_assert!(frames.len() <= 100);
        }

        #[test]
        fn parse_never_panics_on_stack_like_text(s in "[a-z@:()<> 0-9\n\\[\\]x/.,*>-]{0,300}", prefix in prop::sample::select(vec!["", "    at ", "at eval (eval at ", "f@", "wasm://w:wasm-function[", "u line 2 > eval"])) {
            let s = format!("{prefix}{s}");
            let _ = parse(&s);
            let _ = fingerprint("E", "m", &s);
        }

        #[test]
        fn fingerprint_never_panics(kind in any::<String>(), message in any::<String>(), stack in any::<String>()) {
            let _ = fingerprint(&kind, &message, &stack);
        }

        #[test]
        fn fingerprint_ignores_digits(kind in "[A-Za-z]{0,12}", message in any::<String>(), frames in prop::sample::select(vec!["", "    at f (https://x/a.js:1:2)", "f@https://x/a.js:3:4\n@https://x/b.js:5:6", "map@[native code]", "    at Array.map (<anonymous>)"]), seed in 1u8..10) {
            let other = change_digits(&message, seed);
            let stack_a = format!("{kind}: {message}\n{frames}");
            let stack_b = format!("{kind}: {other}\n{frames}");
            prop_assert_eq!(fingerprint(&kind, &message, &stack_a), fingerprint(&kind, &other, &stack_b));
            prop_assert_eq!(fingerprint(&kind, &message, "f@https://x/a.js:1:2"), fingerprint(&kind, &other, "f@https://x/a.js:1:2"));
        }
    }
}
