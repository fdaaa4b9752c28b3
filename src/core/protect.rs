//! What the edge does to an event's free text before anything is stored or forwarded.
//!
//! Bytes are dear in the browser and cheap at the edge (issue #8): the SDK ships error
//! messages, stacks and click text as the page had them (cut to their limits), and the ingest
//! runs [`protect`] on every event it keeps, before OTLP encoding, so neither D1 nor an OTLP
//! receiver ever sees them unprotected. What it does, in order:
//!
//! * a message or stack that the SDK may have cut at its limit loses its last, partial word
//!   (message) or line (stack): a cut address, number or URL might no longer be recognisable;
//! * every absolute URL inside an error message or stack loses its whole query, its userinfo
//!   and any parameter fragment ([`scrub_urls_in_text`] with no parameter allowed). The SDK's
//!   `allowQuery` keeps parameters in page URLs and referrers only ([`protect_urls`], with the
//!   list the envelope's `allow_query` carries): the stricter rule costs nothing in a stack (a
//!   frame's `?v=3` cache-buster says nothing about the error);
//! * unless the envelope says `mask_messages: false` (`init({ maskMessages: false })`), the
//!   message is masked ([`mask_message`]), and so is V8's copy of it atop the stack (frames
//!   never are);
//! * click text is masked ([`mask_text`]): digits, words with an `@`, whitespace runs;
//! * an error without a type becomes `Error`, and its fingerprint is computed from the type,
//!   the masked message and the first frame's location ([`fingerprint`]), the function the
//!   SDK used to run in the browser. An older SDK's own fingerprint (non-zero) is kept: it
//!   computed the same function on the same masked text, and its repeats carry no stack.
//!
//! [`protect`] is idempotent (a second pass changes nothing; the `ingest` fuzz target checks
//! it), so a batch from an older SDK, which did all of this itself (with its `allowQuery`),
//! comes out as it went in, except for URLs in the text losing the parameters that list
//! allowed, and a message within 6 bytes of its limit losing its last word.

use super::event::{limits, Event, EventKind};
use super::json::escaped_len;
use super::scrub::scrub_url;
use super::scrub::{mask_message, mask_text, scrub_urls_in_text, truncate_in_place};
use super::stack::fingerprint;

/// Scrubs the event's page URL and a page view's referrer in place, keeping the query
/// parameters in `allow_query` (the envelope's `allow_query`, from the SDK's `allowQuery`):
/// the browser sends them as the page had them. Idempotent.
pub fn protect_urls(ev: &mut Event, allow_query: &[String]) {
    scrub_owned(&mut ev.url, allow_query);
    if let EventKind::PageView { referrer, .. } = &mut ev.kind {
        scrub_owned(referrer, allow_query);
    }
}

fn scrub_owned(url: &mut String, allow: &[String]) {
    // Without `?`, `#` or `@` `scrub_url` finds nothing to scrub (no query, no fragment, no
    // userinfo): most page URLs, found by one memchr3 instead of its cuts and scheme scan.
    if memchr::memchr3(b'?', b'#', b'@', url.as_bytes()).is_none() {
        return;
    }
    if let std::borrow::Cow::Owned(clean) = scrub_url(url, allow) {
        *url = clean;
    }
}

/// Protects one event's free text in place (see the module docs); `mask_messages` is the
/// envelope's flag. The ingest runs [`protect_urls`] on it too.
pub fn protect(ev: &mut Event, mask_messages: bool) {
    match &mut ev.kind {
        EventKind::Click { text, .. } if !plain(text) => {
            *text = mask_text(text);
            truncate_in_place(text, limits::TEXT);
            let kept = text.trim_end().len();
            text.truncate(kept);
        }
        EventKind::Error {
            kind,
            message,
            stack,
            fingerprint: fp,
            ..
        } => {
            let message_cut = may_be_cut(message, limits::MESSAGE);
            if message_cut {
                drop_partial_word(message);
            }
            if may_be_cut(stack, limits::STACK) {
                drop_partial_line(stack);
            }
            scrub_in_place(message);
            scrub_in_place(stack);
            if mask_messages {
                if let Some(s) = mask_v8_header(stack, message, message_cut) {
                    *stack = s;
                }
                if let Some(m) = mask_message(message) {
                    *message = m;
                }
            }
            // Masking can lengthen a text ("a@b.cd" is 7 bytes masked). Whole words (lines)
            // go until it is clear of the cut rule: within its limit, and a second pass (an
            // older SDK's batch, a replay) finds nothing cut and changes nothing.
            while may_be_cut(message, limits::MESSAGE) {
                drop_partial_word(message);
            }
            while may_be_cut(stack, limits::STACK) {
                drop_partial_line(stack);
            }
            if kind.is_empty() {
                kind.push_str("Error");
            }
            if *fp == 0 {
                *fp = fingerprint(kind, message, stack);
            }
        }
        _ => {}
    }
}

/// True when `s` may have been cut by the SDK's encoder, which bounds the escaped form of a
/// string to `max` bytes and stops before a character (or escape, at most 6 bytes) that would
/// not fit, or by the edge's decoder (`max` bytes of the decoded text).
fn may_be_cut(s: &str, max: usize) -> bool {
    // An escape is at most 6 bytes: most texts are clear of the limit without a scan.
    s.len() * 6 + 6 > max && escaped_len(s) + 6 > max
}

/// True when [`mask_text`] would leave `t` as it is, by a cheap test that covers most click
/// text: ASCII without digits or `@`, words separated by single spaces (it allocates for the
/// others, ~0.25 µs a click).
fn plain(t: &str) -> bool {
    let b = t.as_bytes();
    b.first() != Some(&b' ')
        && b.last() != Some(&b' ')
        && !b.windows(2).any(|w| w == b"  ")
        && b.iter()
            .all(|&c| (c.is_ascii_graphic() && !c.is_ascii_digit() && c != b'@') || c == b' ')
}

/// Removes the last whitespace-separated word and the whitespace before it (all of `s` when it
/// is one word).
fn drop_partial_word(s: &mut String) {
    let end = s.rfind(char::is_whitespace).unwrap_or(0);
    s.truncate(end);
    let kept = s.trim_end().len();
    s.truncate(kept);
}

/// Removes the last line (the last word of a text of one line).
fn drop_partial_line(s: &mut String) {
    match s.rfind('\n') {
        Some(i) => s.truncate(i),
        None => drop_partial_word(s),
    }
}

fn scrub_in_place(s: &mut String) {
    if let std::borrow::Cow::Owned(clean) = scrub_urls_in_text(s, &[]) {
        *s = clean;
    }
}

/// V8 (Chrome, Edge) starts a stack with `Type: message`; Firefox and Safari stacks hold frames
/// only. Returns the stack with that copy of `message` masked ([`mask_message`]), or `None`
/// when the header does not start with `message` (Firefox, Safari, a message changed after the
/// error was made) or nothing needs masking. When the message was cut (`message_cut`), the
/// header holds more of it than `message` does: then everything up to the first frame line
/// (`at …`) is masked. Frames are never masked (their line and column numbers, file names and
/// hosts are what symbolication needs).
fn mask_v8_header(stack: &str, message: &str, message_cut: bool) -> Option<String> {
    let (head, rest) = stack.split_once(':')?;
    let rest = rest.strip_prefix(' ')?;
    if !rest.starts_with(message) {
        return None;
    }
    let mut end = message.len();
    if message_cut {
        end = rest.len();
        let mut from = message.len();
        while let Some(nl) = rest.get(from..).and_then(|r| r.find('\n')) {
            let line = from + nl + 1;
            if rest
                .get(line..)
                .is_some_and(|l| l.trim_start().starts_with("at "))
            {
                end = from + nl;
                break;
            }
            from = line;
        }
    }
    let masked = mask_message(rest.get(..end)?)?;
    let mut s = String::with_capacity(stack.len());
    s.push_str(head);
    s.push_str(": ");
    s.push_str(&masked);
    s.push_str(rest.get(end..)?);
    Some(s)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::event::ErrorSource;

    fn error(kind: &str, message: &str, stack: &str) -> Event {
        Event {
            id: 1,
            t: 1,
            url: String::new(),
            kind: EventKind::Error {
                source: ErrorSource::Error,
                kind: kind.into(),
                message: message.into(),
                stack: stack.into(),
                fingerprint: 0,
                count: 1,
            },
        }
    }

    fn parts(ev: &Event) -> (&str, &str, &str, u64) {
        match &ev.kind {
            EventKind::Error {
                kind,
                message,
                stack,
                fingerprint,
                ..
            } => (kind, message, stack, *fingerprint),
            _ => unreachable!(),
        }
    }

    #[test]
    fn errors_are_scrubbed_masked_and_fingerprinted_as_the_sdk_did() {
        let message =
            "no user bob@example.com at https://api.test/u?token=SECRET card 4111111111111111";
        let stack = format!("TypeError: {message}\n    at f (https://app.test/a.js?session=s1:1:2)\n    at bob@example.com (https://user:pw@app.test/b.js:2:3)");
        let mut ev = error("TypeError", message, &stack);
        protect(&mut ev, true);
        let (kind, m, s, fp) = parts(&ev);
        assert_eq!(kind, "TypeError");
        assert_eq!(m, "no user [email] at https://api.test/u card [number]");
        assert_eq!(s, "TypeError: no user [email] at https://api.test/u card [number]\n    at f (https://app.test/a.js:1:2)\n    at bob@example.com (https://app.test/b.js:2:3)");
        // What the SDK used to compute in the browser, on the text it used to send.
        assert_eq!(fp, fingerprint(kind, m, s));
        assert_ne!(fp, 0);
        // Idempotent: a second pass (or an older SDK's already protected batch) changes nothing.
        let before = ev.clone();
        protect(&mut ev, true);
        assert_eq!(ev, before);
    }

    #[test]
    fn mask_messages_off_keeps_the_message_but_still_scrubs_urls() {
        let message = "no user bob@example.com at https://api.test/u?token=SECRET";
        let mut ev = error(
            "",
            message,
            &format!("Error: {message}\n    at f (x.js:1:2)"),
        );
        protect(&mut ev, false);
        let (kind, m, s, _) = parts(&ev);
        assert_eq!(kind, "Error");
        assert_eq!(m, "no user bob@example.com at https://api.test/u");
        assert_eq!(
            s,
            "Error: no user bob@example.com at https://api.test/u\n    at f (x.js:1:2)"
        );
    }

    #[test]
    fn an_older_sdks_fingerprint_is_kept() {
        let mut ev = error("E", "m", "");
        if let EventKind::Error { fingerprint, .. } = &mut ev.kind {
            *fingerprint = 0xabc;
        }
        protect(&mut ev, true);
        assert_eq!(parts(&ev).3, 0xabc);
    }

    #[test]
    fn repeats_get_the_first_occurrences_fingerprint_and_digits_still_group() {
        let stack = "Error: order 12 failed\n    at f (https://app.test/a.js?t=1:1:2)";
        let mut first = error("Error", "order 12 failed", stack);
        let mut repeat = first.clone();
        if let EventKind::Error { count, .. } = &mut repeat.kind {
            *count = 5;
        }
        let mut other = error(
            "Error",
            "order 345 failed",
            "Error: order 345 failed\n    at f (https://app.test/a.js?t=2:1:2)",
        );
        for ev in [&mut first, &mut repeat, &mut other] {
            protect(ev, true);
        }
        assert_eq!(parts(&first).3, parts(&repeat).3);
        assert_eq!(parts(&first).3, parts(&other).3);
    }

    #[test]
    fn a_cut_message_loses_its_partial_word_and_its_header_copy_is_masked_whole() {
        // The SDK cut the message at 1 KiB in the middle of an address: "bob@exam" is no
        // longer an address for `mask_message`, so the partial word goes.
        let pad = "x ".repeat(505);
        let full = format!("{pad}mail bob@example.com and call 4111 1111 1111 1111");
        let cut = &full[..limits::MESSAGE];
        assert!(cut.ends_with("bob@examp"), "{cut}");
        let stack = format!("Error: {full}\n    at f (a.js:1:2)");
        let mut ev = error("Error", cut, &stack);
        protect(&mut ev, true);
        let (_, m, s, _) = parts(&ev);
        assert_eq!(m, format!("{pad}mail"));
        // The header holds the whole message: all of it is masked, frames are not.
        assert_eq!(
            s,
            format!("Error: {pad}mail [email] and call [number]\n    at f (a.js:1:2)")
        );
        // A message under its limit keeps its last word.
        let mut short = error("Error", "mail bob@exam", "");
        protect(&mut short, true);
        assert_eq!(parts(&short).1, "mail bob@exam");
    }

    #[test]
    fn a_cut_stack_loses_its_partial_line() {
        let frame = "    at f (https://app.test/a.js:1:2)\n";
        let mut stack = "Error: m\n".to_owned();
        while stack.len() < limits::STACK - 40 {
            stack.push_str(frame);
        }
        stack.push_str("    at g (https://user:pa");
        let mut ev = error("Error", "m", &stack);
        protect(&mut ev, true);
        let (_, _, s, _) = parts(&ev);
        assert!(s.ends_with("a.js:1:2)"), "{}", &s[s.len() - 60..]);
        assert!(!s.contains("user:pa"));
    }

    #[test]
    fn stacks_are_masked_in_their_copy_of_the_message_only() {
        let message = "no user bob@example.com\ncard 4111111111111111";
        let masked = mask_message(message).unwrap();
        assert_eq!(masked, "no user [email]\ncard [number]");
        // V8 repeats `Type: message` (all its lines) before the frames.
        let v8 = format!("TypeError: {message}\n    at f (https://app.test/chunk-1234567.js:1:1234567)\n    at bob@example.com (x.js:2:3)");
        assert_eq!(
            mask_v8_header(&v8, message, false).unwrap(),
            "TypeError: no user [email]\ncard [number]\n    at f (https://app.test/chunk-1234567.js:1:1234567)\n    at bob@example.com (x.js:2:3)"
        );
        // Without frames (`Error.stackTraceLimit = 0`) too.
        let bare = format!("Error: {message}");
        assert_eq!(
            mask_v8_header(&bare, message, false),
            Some(format!("Error: {masked}"))
        );
        // A cut message: the header's whole copy (up to the first frame) is masked.
        assert_eq!(
            mask_v8_header(&v8, "no user bob", true).unwrap(),
            "TypeError: no user [email]\ncard [number]\n    at f (https://app.test/chunk-1234567.js:1:1234567)\n    at bob@example.com (x.js:2:3)"
        );
        // Firefox and Safari stacks are frames only, and a header holding another message
        // (changed after the error was made) is not guessed at: left as they are.
        for other in [
            "f@https://192.168.100.200/app.js:1:1234567\n@debugger eval code:1:1",
            "https://app.test/a.js:3:9",
            "Error: an earlier message\n    at f (a.js:1:2)",
            "",
        ] {
            assert_eq!(mask_v8_header(other, message, false), None, "{other}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]
        #[test]
        fn protect_is_idempotent_and_leaves_nothing_to_mask(
            pad in 0usize..1100,
            tail in "[a-z@. 0-9:/?=&#\n-]{0,80}",
            frames in 0usize..300,
            mask in proptest::bool::ANY,
        ) {
            let message = format!("{}{tail}", "ab ".repeat(pad / 3));
            let mut stack = format!("Error: {message}");
            for i in 0..frames {
                stack.push_str(&format!("\n    at f{i} (https://u:p@a.test/x.js?t={tail}:1:2)"));
            }
            let mut ev = error("", &message, &stack);
            protect(&mut ev, mask);
            let once = ev.clone();
            protect(&mut ev, mask);
            proptest::prop_assert_eq!(&ev, &once);
            let (_, m, s, fp) = parts(&ev);
            proptest::prop_assert!(m.len() <= limits::MESSAGE && s.len() <= limits::STACK);
            proptest::prop_assert!(matches!(scrub_urls_in_text(m, &[]), std::borrow::Cow::Borrowed(_)));
            proptest::prop_assert!(matches!(scrub_urls_in_text(s, &[]), std::borrow::Cow::Borrowed(_)));
            if mask {
                proptest::prop_assert_eq!(mask_message(m), None);
            }
            proptest::prop_assert_eq!(fp, fingerprint("Error", m, s));
        }
    }

    #[test]
    fn plain_click_text_is_what_mask_text_leaves_alone() {
        for t in ["", "Buy now", "View details", "a-b_c.d!", "x"] {
            assert!(plain(t), "{t}");
            assert_eq!(mask_text(t), t);
        }
        for t in [
            " a", "a ", "a  b", "a\tb", "a\nb", "1", "a@b", "é", "a\u{0}b",
        ] {
            assert!(!plain(t), "{t:?}");
        }
    }

    #[test]
    fn click_text_is_masked_and_stays_within_its_limit() {
        let mut ev = Event {
            id: 1,
            t: 1,
            url: String::new(),
            kind: EventKind::Click {
                selector: "button".into(),
                tag: "button".into(),
                text: format!(
                    "  Call  me at 555-1234\n\tor a.b@c.com {}",
                    "a@ ".repeat(40)
                ),
                x: 1,
                y: 2,
            },
        };
        protect(&mut ev, true);
        let EventKind::Click { text, .. } = &ev.kind else {
            unreachable!()
        };
        assert!(
            text.starts_with("Call me at ***-**** or *** *** ***"),
            "{text}"
        );
        assert!(text.len() <= limits::TEXT);
    }
}
