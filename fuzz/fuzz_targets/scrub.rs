//! The URL scrubber (`scrub::scrub_url`, run in the browser on every URL it records, and
//! `scrub_urls_in_text`, run at the edge on error messages and stacks) on any text and
//! allow-list.
//!
//! Input: `url[\0name\0name...]`. The allow-list is the names after the NULs plus the name of
//! every other parameter in the URL itself, so kept and dropped parameters both occur from any
//! seed.
//!
//! Beyond "never panics":
//! - no parameter whose name is not allow-listed leaves: not in the query (as a browser reads
//!   it: after the first `?`, before the first `#`), not in a hash route's query, not in a
//!   parameter-list fragment (`#access_token=…`);
//! - the query keeps exactly the allowed, non-empty parameters of the input, in order;
//! - no userinfo (`user:pass@`) is left in the authority;
//! - idempotent; borrowed exactly when nothing changed (it allocates only to change something);
//! - `scrub_urls_in_text` is borrowed only when nothing changed, and idempotent for allow-lists
//!   without a ':' in a name (a `:digits` tail is read as a line or column).

#![no_main]

use std::borrow::Cow;

use ferrotel::core::scrub::{scrub_url, scrub_urls_in_text};
use libfuzzer_sys::fuzz_target;

fn name(param: &str) -> &str {
    param.split_once('=').map_or(param, |(n, _)| n)
}

/// The query as a browser reads it: after the first `?`, before the first `#`.
fn query(url: &str) -> Option<&str> {
    url.split('#')
        .next()
        .unwrap_or("")
        .split_once('?')
        .map(|(_, q)| q)
}

fn params(q: &str) -> impl Iterator<Item = &str> {
    q.split('&').filter(|p| !p.is_empty())
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let url = parts.next().unwrap_or("");
    let mut allow: Vec<String> = parts.map(str::to_owned).collect();
    for (i, p) in url.split(['?', '&', '#']).skip(1).enumerate() {
        if i % 2 == 0 {
            allow.push(name(p).to_owned());
        }
    }
    let allowed = |p: &str| allow.iter().any(|a| a == name(p));

    let out = scrub_url(url, &allow);
    match &out {
        Cow::Borrowed(b) => assert_eq!(*b, url),
        Cow::Owned(o) => assert_ne!(o, url, "allocated without changing anything"),
    }
    let out = out.as_ref();

    // The query: exactly the allowed parameters of the input, in order.
    let kept: Vec<&str> = query(url)
        .map(|q| params(q).filter(|p| allowed(p)).collect())
        .unwrap_or_default();
    let left: Vec<&str> = query(out).map(|q| params(q).collect()).unwrap_or_default();
    assert_eq!(left, kept, "{url:?} -> {out:?} (allow {allow:?})");
    if kept.is_empty() {
        assert!(
            query(out).is_none(),
            "an empty query keeps its '?': {out:?}"
        );
    }

    // The fragment: a hash route's query, or a fragment that is itself a parameter list.
    if let Some((_, frag)) = out.split_once('#') {
        let (path, q) = match frag.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (frag, None),
        };
        let listed = if path.contains('=') && !path.starts_with('/') && !path.starts_with('!') {
            Some(frag)
        } else {
            q
        };
        if let Some(l) = listed {
            for p in params(l) {
                assert!(
                    allowed(p),
                    "fragment parameter {p:?} left in {out:?} (from {url:?}, allow {allow:?})"
                );
            }
        }
    }

    // No userinfo in the authority of an absolute or protocol-relative URL.
    let base = out.split(['?', '#']).next().unwrap_or("");
    let scheme = base
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        .count();
    let authority = if scheme > 0
        && base.as_bytes()[0].is_ascii_alphabetic()
        && base[scheme..].starts_with("://")
    {
        Some(&base[scheme + 3..])
    } else {
        base.strip_prefix("//")
    };
    if let Some(a) = authority {
        let host = a.split(['/', '\\']).next().unwrap_or("");
        assert!(
            !host.contains('@'),
            "userinfo left in {out:?} (from {url:?})"
        );
    }

    let twice = scrub_url(out, &allow);
    assert!(
        matches!(twice, Cow::Borrowed(_)),
        "not idempotent: {out:?} -> {twice:?}"
    );

    let t = scrub_urls_in_text(&text, &allow);
    if let Cow::Owned(o) = &t {
        assert_ne!(
            o.as_str(),
            text.as_ref(),
            "allocated without changing anything"
        );
    }
    // A `:digits` tail is read as a line or column, so an allowed name with a ':' in it (which
    // no real allow-list has) can read differently once what followed it was dropped.
    if !allow.iter().any(|a| a.contains(':')) {
        let t2 = scrub_urls_in_text(&t, &allow);
        assert_eq!(
            t2.as_ref(),
            t.as_ref(),
            "scrub_urls_in_text is not idempotent"
        );
    }
});
