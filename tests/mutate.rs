//! Structural mutation of valid batches: a fuzz-style property test that reaches past the first
//! byte.
//!
//! `tests/corpus.rs` replays hand-written bad bodies and `core_wire.rs` throws random bytes at the
//! decoder, which mostly stop at the first `{`. Here every case starts from a *valid* batch, built
//! from random events by the core encoder, and damages it the way a buggy client, a proxy or an
//! attacker would: values swap types, numbers become strings or overflow, fields move between
//! events, keys repeat, members vanish or appear, values nest deeper, strings gain unicode and
//! escapes (lone surrogates included), events repeat; then bytes flip, appear, vanish, repeat or
//! are cut off. For every body:
//!
//! - `Envelope::decode`, `Envelope::decode_partial` and `ingest::decide` never panic;
//! - the two decoders agree (`decode` refuses with the first event `decode_partial` drops), and
//!   every refusal and every dropped event names a field and a reason;
//! - what is kept re-encodes to a batch that decodes whole, and that encoding is a fixed point;
//! - the request path answers a 4xx with a reason (never a 5xx), or accepts with 204 (every event
//!   kept) or 200 naming each dropped event; it refuses exactly what the decoder refuses, and
//!   every kept event becomes a log record;
//! - an unmutated batch is accepted and round-trips byte for byte.
//!
//! Cases: `PROPTEST_CASES` (default 5000, about 10 s in a debug build). The run prints to stderr
//! what the mutants met: how many were accepted whole or in part, and every refusal by status and
//! field.

#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use ferrotel::core::envelope::{valid_key, Envelope, Header, MAX_BODY_BYTES, MAX_TIME_MS};
use ferrotel::core::event::{AttrValue, ErrorSource, Event, EventKind, NavTiming, ViewCause};
use ferrotel::core::ingest::{
    clock_times, decide, Bindings, Decision, Incoming, IngestConfig, DEFAULT_RETENTION_DAYS,
    MAX_LISTED_DROPS, RL_CLIENT,
};
use ferrotel::core::schema::{Metric, Rating};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

const DEFAULT_CASES: u32 = 5000;

// ---------------------------------------------------------------------------------------------
// Valid batches from random events.

/// Non-negative measurements, fractions at every magnitude (the encoder writes fewer decimals
/// from about 5.6e8 so that decode → encode is a fixed point there too).
fn num() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0..10_000_000i64).prop_map(|k| k as f64 / 1000.0),
        Just(0.0),
        Just(0.1),
        (0.0..1e9f64),
        (1e9..1e15f64),
        (1e9..1e15f64).prop_map(f64::round),
    ]
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::string::string_regex(&format!("[a-zA-Z0-9 ./:#_-]{{0,{}}}", max.min(40)))
            .unwrap(),
        1 => proptest::string::string_regex(&format!("\\PC{{0,{}}}", max.min(24))).unwrap(),
        1 => proptest::string::string_regex("[\\x00-\\x1f\"\\\\é𝄞\u{202e}]{0,12}").unwrap(),
    ]
}

fn kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        (text(80), 0..3usize).prop_map(|(referrer, c)| EventKind::PageView {
            referrer,
            cause: [ViewCause::Load, ViewCause::Route, ViewCause::Pop][c],
        }),
        (1..u64::MAX, num())
            .prop_map(|(view, visible_ms)| EventKind::ScreenTime { view, visible_ms }),
        (text(60), "[a-z]{1,8}", text(30), any::<i32>(), any::<i32>()).prop_map(
            |(selector, tag, text, x, y)| EventKind::Click {
                selector,
                tag,
                text,
                x,
                y
            }
        ),
        (0..5usize, num(), -1e6..1e6f64, "v5-[0-9]{1,12}").prop_map(|(n, value, delta, id)| {
            EventKind::WebVital {
                name: [
                    Metric::Lcp,
                    Metric::Inp,
                    Metric::Cls,
                    Metric::Fcp,
                    Metric::Ttfb,
                ][n],
                value,
                delta,
                metric_id: id,
                rating: Rating::Good,
                navigation_type: "navigate".into(),
            }
        }),
        (num(), num(), num()).prop_map(|(a, b, c)| EventKind::NavTiming(NavTiming {
            dns: a,
            tcp: b,
            tls: 0.0,
            ttfb: c,
            download: 1.0,
            dom_interactive: 2.0,
            dom_content_loaded: 3.5,
            load: 4.25,
            transfer_size: 1234.0,
            navigation_type: "reload".into(),
        })),
        (num(), num()).prop_map(|(start, duration)| EventKind::LongTask { start, duration }),
        (
            0..4usize,
            "[A-Za-z]{0,12}",
            text(60),
            text(200),
            1..u32::MAX
        )
            .prop_map(
                // The SDK never sends a fingerprint: the edge sets it.
                |(s, kind, message, stack, count)| EventKind::Error {
                    source: [
                        ErrorSource::Error,
                        ErrorSource::Rejection,
                        ErrorSource::Panic,
                        ErrorSource::Manual
                    ][s],
                    kind,
                    message,
                    stack,
                    fingerprint: 0,
                    count,
                }
            ),
        (
            text(20),
            proptest::collection::btree_map(
                "[a-z_]{1,10}",
                prop_oneof![
                    text(40).prop_map(AttrValue::Str),
                    (-1e6..1e6f64).prop_map(AttrValue::Num),
                    any::<bool>().prop_map(AttrValue::Bool),
                ],
                0..6
            )
        )
            .prop_map(|(name, attrs)| EventKind::Custom {
                name,
                attrs: attrs.into_iter().collect()
            }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    // Times mostly within the edge's window (the receipt time below, RETENTION_DAYS), some
    // anywhere the wire allows.
    let t = prop_oneof![4 => 1_763_000_000_000..1_764_000_001_000u64, 1 => 1..=MAX_TIME_MS];
    (1..u64::MAX, t, text(100), kind()).prop_map(|(id, t, url, kind)| Event { id, t, url, kind })
}

/// A batch as the browser SDK sends it: encoded with the core's `Header` and `Event::encode`.
#[derive(Debug, Clone)]
struct Batch {
    key: String,
    session: String,
    sent_at: u64,
    events: Vec<Event>,
}

impl Batch {
    fn encode(&self) -> String {
        let events: Vec<String> = self.events.iter().map(Event::encode).collect();
        Header::new(&self.key, &self.session).encode_batch(self.sent_at, &events)
    }
}

fn batch() -> impl Strategy<Value = Batch> {
    (
        proptest::collection::vec(event(), 1..8),
        prop_oneof![
            4 => Just("pk_a".to_owned()),
            1 => Just("pk_b".to_owned()),
            1 => "[A-Za-z0-9_-]{1,64}",
        ],
        "[0-9a-f]{32}",
        prop_oneof![4 => 1_764_000_000_000..1_764_000_002_000u64, 1 => 1..=MAX_TIME_MS],
    )
        .prop_map(|(events, key, session, sent_at)| Batch {
            key,
            session,
            sent_at,
            events,
        })
}

// ---------------------------------------------------------------------------------------------
// An order-preserving JSON tree that can also hold what serde_json's `Value` cannot: duplicate
// keys (objects are member lists), numbers of any size or form and raw (even invalid) text.

#[derive(Debug, Clone)]
enum J {
    Null,
    Bool(bool),
    /// A number as written, or any raw JSON text (`1e999`, `"\ud800"`, `01`, ...).
    Raw(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl<'de> Deserialize<'de> for J {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<J, D::Error> {
        d.deserialize_any(JVisitor)
    }
}

struct JVisitor;

impl<'de> Visitor<'de> for JVisitor {
    type Value = J;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E>(self) -> Result<J, E> {
        Ok(J::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<J, E> {
        Ok(J::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<J, E> {
        Ok(J::Raw(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<J, E> {
        Ok(J::Raw(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<J, E> {
        Ok(J::Raw(serde_json::to_string(&v).unwrap()))
    }
    fn visit_str<E>(self, v: &str) -> Result<J, E> {
        Ok(J::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<J, E> {
        Ok(J::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(J::Arr(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, J>()? {
            out.push((k, v));
        }
        Ok(J::Obj(out))
    }
}

impl J {
    fn write(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Raw(s) => out.push_str(s),
            J::Str(s) => out.push_str(&serde_json::to_string(s).unwrap()),
            J::Arr(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            J::Obj(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    fn children_mut(&mut self) -> Vec<&mut J> {
        match self {
            J::Arr(a) => a.iter_mut().collect(),
            J::Obj(m) => m.iter_mut().map(|(_, v)| v).collect(),
            _ => Vec::new(),
        }
    }

    /// Paths (child indices from the root) of every node, in pre-order.
    fn paths(&self) -> Vec<Vec<usize>> {
        fn walk(j: &J, path: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
            out.push(path.clone());
            let kids: Vec<&J> = match j {
                J::Arr(a) => a.iter().collect(),
                J::Obj(m) => m.iter().map(|(_, v)| v).collect(),
                _ => Vec::new(),
            };
            for (i, k) in kids.into_iter().enumerate() {
                path.push(i);
                walk(k, path, out);
                path.pop();
            }
        }
        let mut out = Vec::new();
        walk(self, &mut Vec::new(), &mut out);
        out
    }

    fn get(&self, path: &[usize]) -> &J {
        match (path.split_first(), self) {
            (None, _) => self,
            (Some((&i, rest)), J::Arr(a)) => a[i].get(rest),
            (Some((&i, rest)), J::Obj(m)) => m[i].1.get(rest),
            (Some(_), _) => unreachable!("a path into a scalar"),
        }
    }

    fn at(&mut self, path: &[usize]) -> &mut J {
        match path.split_first() {
            None => self,
            Some((&i, rest)) => self.children_mut().swap_remove(i).at(rest),
        }
    }

    /// The events array, if the envelope still has one.
    fn events(&mut self) -> Option<&mut Vec<J>> {
        match self {
            J::Obj(m) => m.iter_mut().find_map(|(k, v)| match (k.as_str(), v) {
                ("events", J::Arr(a)) => Some(a),
                _ => None,
            }),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations.

/// Replacement values: other types, numbers at and past every limit, odd number forms, unicode,
/// escapes (valid and not), empty and huge strings.
const PALETTE: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1.5",
    "-0",
    "1e2",
    "1E-7",
    "0.0000001",
    "4102444800001",
    "9007199254740993",
    "4294967296",
    "2147483648",
    "-2147483649",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "1e308",
    "1e999",
    "-1e999",
    "01",
    "1.",
    ".5",
    "+1",
    "NaN",
    "Infinity",
    "\"\"",
    "\"1764000000000\"",
    "\"0000000000000000\"",
    "\"00000000000000aa\"",
    "\"ffffffffffffffff\"",
    "\"0123456789abcdef0123456789abcdef\"",
    "\"page_view\"",
    "\"error\"",
    "\"LCP\"",
    "\"popstate\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\\udc00\\ud800\"",
    "\"\\uD834\\uDD1E\"",
    "\"\\u00e9\\u202e\\ufeff\"",
    "\"\\x41\"",
    "\"\\u12\"",
    "\"é𝄞\u{202e}\u{feff}\u{0}\"",
    "\"\u{7f}\u{85}\u{2028}\u{2029}\"",
    "[]",
    "[1]",
    "{}",
    "{\"a\":1}",
    "{\"\":null}",
    "[[[[[]]]]]",
    "{\"a\":{\"b\":{\"c\":{}}}}",
];

/// Numbers at and past every limit, and number forms JSON or the decoder may not take.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1",
    "0.5",
    "1.5",
    "-1.5",
    "1e2",
    "1E-7",
    "1e-400",
    "0.0000001",
    "2.0",
    "4102444800000",
    "4102444800001",
    "9007199254740993",
    "4294967295",
    "4294967296",
    "2147483647",
    "2147483648",
    "-2147483648",
    "-2147483649",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "1e15",
    "-1e15",
    "1e300",
    "1.7976931348623157e308",
    "1e309",
    "-1e999",
    "123456789012345678901234567890",
    "01",
    "1.",
    ".5",
    "+1",
    "0x10",
    "NaN",
    "-Infinity",
    "\"1\"",
    "\"-1e999\"",
];

/// Strings: unicode, escapes (valid and not), ids and names other fields expect.
const STRINGS: &[&str] = &[
    "\"\"",
    "\" \"",
    "\"\\u0000\"",
    "\"\\u001f\\u007f\"",
    "\"\\ud800\"",
    "\"\\udfff\"",
    "\"\\udc00\\ud800\"",
    "\"\\ud800\\u0041\"",
    "\"\\uD834\\uDD1E\"",
    "\"\\u00e9\\u202e\\ufeff\\u2028\"",
    "\"\\u0065\\u0072\\u0072\\u006f\\u0072\"",
    "\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"",
    "\"\\x41\"",
    "\"\\u12\"",
    "\"\\U0041\"",
    "\"é𝄞\u{202e}\u{feff}\"",
    "\"\u{7f}\u{85}\u{2028}\u{2029}\u{fffd}\"",
    "\"0000000000000000\"",
    "\"00000000000000aa\"",
    "\"00000000000000AA\"",
    "\"ffffffffffffffff\"",
    "\"fffffffffffffffff\"",
    "\"0123456789abcdef0123456789abcdef\"",
    "\"0123456789ABCDEF0123456789ABCDEF\"",
    "\"page_view\"",
    "\"screen_time\"",
    "\"click\"",
    "\"web_vital\"",
    "\"nav_timing\"",
    "\"long_task\"",
    "\"error\"",
    "\"custom\"",
    "\"Error\"",
    "\"LCP\"",
    "\"lcp\"",
    "\"route\"",
    "\"popstate\"",
    "\"unhandledrejection\"",
    "\"panic\"",
    "\"pk_a\"",
    "\"pk a\"",
    "\"1764000000000\"",
    "\"1e999\"",
    "\"null\"",
];

/// Keys an event or envelope may carry, plus near misses.
const KEYS: &[&str] = &[
    "v",
    "key",
    "sdk",
    "session",
    "sent_at",
    "events",
    "id",
    "t",
    "type",
    "url",
    "referrer",
    "cause",
    "view",
    "visible_ms",
    "selector",
    "tag",
    "text",
    "x",
    "y",
    "name",
    "value",
    "delta",
    "metric_id",
    "rating",
    "navigation_type",
    "dns",
    "load",
    "transfer_size",
    "start",
    "duration",
    "source",
    "exception.type",
    "exception.message",
    "exception.stacktrace",
    "fingerprint",
    "count",
    "attrs",
    "__proto__",
    "Type",
    "t ",
    "",
    "\u{0}",
];

#[derive(Debug, Clone)]
enum Tree {
    /// Replace a node with a palette value.
    Replace(Index, Index),
    /// Replace a number with another number: huge, negative, fractional, exponent, out of range.
    Number(Index, Index),
    /// Replace a string with unicode, escapes (valid or not) or another field's kind of value.
    Text(Index, Index),
    /// A number becomes the string of its digits, a string becomes bare text.
    Retype(Index),
    /// Swap two nodes' values (a string lands where a number was, an object where a string was).
    Swap(Index, Index),
    /// Copy a member of one event into another (replacing or adding it).
    Splice(Index, Index, Index),
    /// Repeat a member of an object, with its own or another value.
    DuplicateKey(Index, Index, Option<Index>),
    /// Remove a node from its parent.
    Remove(Index),
    /// Add a member to an object.
    AddMember(Index, Index, Index),
    /// Wrap a node in arrays or objects.
    Nest(Index, u8, bool),
    /// Repeat an event (past 200 with a large count; the same id twice with a small one).
    RepeatEvent(Index, u16),
    /// Replace a string with a long one (past every per-field limit, sometimes past 64 KiB).
    LongString(Index, u32, Index),
}

#[derive(Debug, Clone)]
enum Bytes {
    Flip(Index, u8),
    Insert(Index, u8),
    InsertText(Index, Index),
    Delete(Index, u8),
    Repeat(Index, Index, u8),
    Truncate(Index),
}

fn tree_mutation() -> impl Strategy<Value = Tree> {
    let i = any::<Index>;
    prop_oneof![
        4 => (i(), i()).prop_map(|(a, b)| Tree::Replace(a, b)),
        4 => (i(), i()).prop_map(|(a, b)| Tree::Number(a, b)),
        3 => (i(), i()).prop_map(|(a, b)| Tree::Text(a, b)),
        3 => i().prop_map(Tree::Retype),
        2 => (i(), i()).prop_map(|(a, b)| Tree::Swap(a, b)),
        2 => (i(), i(), i()).prop_map(|(a, b, c)| Tree::Splice(a, b, c)),
        2 => (i(), i(), proptest::option::of(i())).prop_map(|(a, b, c)| Tree::DuplicateKey(a, b, c)),
        2 => i().prop_map(Tree::Remove),
        2 => (i(), i(), i()).prop_map(|(a, b, c)| Tree::AddMember(a, b, c)),
        1 => (i(), 1..8u8, any::<bool>()).prop_map(|(a, d, o)| Tree::Nest(a, d, o)),
        1 => (i(), prop_oneof![1..3u16, 190..260u16]).prop_map(|(a, n)| Tree::RepeatEvent(a, n)),
        1 => (i(), prop_oneof![100..20_000u32, 60_000..70_000u32], i())
            .prop_map(|(a, n, c)| Tree::LongString(a, n, c)),
    ]
}

fn byte_mutation() -> impl Strategy<Value = Bytes> {
    let i = any::<Index>;
    prop_oneof![
        3 => (i(), 1..=255u8).prop_map(|(a, x)| Bytes::Flip(a, x)),
        2 => (i(), any::<u8>()).prop_map(|(a, b)| Bytes::Insert(a, b)),
        3 => (i(), i()).prop_map(|(a, b)| Bytes::InsertText(a, b)),
        2 => (i(), 1..16u8).prop_map(|(a, n)| Bytes::Delete(a, n)),
        1 => (i(), i(), 1..64u8).prop_map(|(a, b, n)| Bytes::Repeat(a, b, n)),
        1 => i().prop_map(Bytes::Truncate),
    ]
}

/// Bytes worth inserting: JSON structure, escapes, a BOM, invalid UTF-8.
const SNIPPETS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"\\",
    b"\\u",
    b"\\ud800",
    b"\\u0000",
    b"null",
    b"-",
    b"e9",
    b"0",
    b" \t\r\n",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"/*",
    b",]",
    b",}",
    b"\"\":",
    b"\"t\":1,",
    b"{\"id\":\"00000000000000aa\"},",
];

fn apply_tree(root: &mut J, m: &Tree) {
    let paths = root.paths();
    let pick = |i: &Index| paths[i.index(paths.len())].clone();
    match m {
        Tree::Replace(at, with) => {
            *root.at(&pick(at)) = J::Raw(PALETTE[with.index(PALETTE.len())].to_owned());
        }
        Tree::Number(at, with) | Tree::Text(at, with) => {
            let numbers = matches!(m, Tree::Number(..));
            let targets: Vec<&Vec<usize>> = paths
                .iter()
                .filter(|p| match root.get(p) {
                    J::Raw(_) => numbers,
                    J::Str(_) => !numbers,
                    _ => false,
                })
                .collect();
            if targets.is_empty() {
                return;
            }
            let p = targets[at.index(targets.len())].clone();
            let palette = if numbers { NUMBERS } else { STRINGS };
            *root.at(&p) = J::Raw(palette[with.index(palette.len())].to_owned());
        }
        Tree::Retype(at) => {
            let node = root.at(&pick(at));
            *node = match std::mem::replace(node, J::Null) {
                J::Raw(s) => J::Str(s),
                J::Bool(b) => J::Str(b.to_string()),
                J::Null => J::Str("null".into()),
                J::Str(s) => J::Raw(if s.is_empty() { "0".into() } else { s }),
                J::Arr(a) => J::Obj(
                    a.into_iter()
                        .enumerate()
                        .map(|(i, v)| (i.to_string(), v))
                        .collect(),
                ),
                J::Obj(m) => J::Arr(m.into_iter().map(|(_, v)| v).collect()),
            };
        }
        Tree::Swap(a, b) => {
            let (pa, pb) = (pick(a), pick(b));
            // Only between disjoint nodes (neither contains the other).
            if pa.starts_with(&pb) || pb.starts_with(&pa) {
                return;
            }
            let va = root.at(&pa).clone();
            let vb = std::mem::replace(root.at(&pb), va);
            *root.at(&pa) = vb;
        }
        Tree::Splice(from, to, member) => {
            let Some(events) = root.events() else { return };
            if events.is_empty() {
                return;
            }
            let src = from.index(events.len());
            let dst = to.index(events.len());
            let J::Obj(m) = &events[src] else { return };
            if m.is_empty() {
                return;
            }
            let (k, v) = m[member.index(m.len())].clone();
            if let J::Obj(d) = &mut events[dst] {
                match d.iter_mut().find(|(dk, _)| *dk == k) {
                    Some(slot) => slot.1 = v,
                    None => d.push((k, v)),
                }
            }
        }
        Tree::DuplicateKey(at, member, other) => {
            let objects: Vec<&Vec<usize>> = paths
                .iter()
                .filter(|p| matches!(root.get(p), J::Obj(m) if !m.is_empty()))
                .collect();
            if objects.is_empty() {
                return;
            }
            let p = objects[at.index(objects.len())].clone();
            if let J::Obj(m) = root.at(&p) {
                let i = member.index(m.len());
                let (k, mut v) = m[i].clone();
                if let Some(o) = other {
                    v = J::Raw(PALETTE[o.index(PALETTE.len())].to_owned());
                }
                m.insert(i + 1, (k, v));
            }
        }
        Tree::Remove(at) => {
            let p = pick(at);
            let Some((&last, parent)) = p.split_last() else {
                return;
            };
            match root.at(parent) {
                J::Arr(a) => {
                    a.remove(last);
                }
                J::Obj(m) => {
                    m.remove(last);
                }
                _ => {}
            }
        }
        Tree::AddMember(at, key, value) => {
            let objects: Vec<&Vec<usize>> = paths
                .iter()
                .filter(|p| matches!(root.get(p), J::Obj(_)))
                .collect();
            if let Some(&p) = objects.get(at.index(objects.len().max(1))) {
                let p = p.clone();
                if let J::Obj(m) = root.at(&p) {
                    let k = KEYS[key.index(KEYS.len())].to_owned();
                    m.push((k, J::Raw(PALETTE[value.index(PALETTE.len())].to_owned())));
                }
            }
        }
        Tree::Nest(at, depth, object) => {
            let node = root.at(&pick(at));
            let mut v = std::mem::replace(node, J::Null);
            for _ in 0..*depth {
                v = if *object {
                    J::Obj(vec![("a".into(), v)])
                } else {
                    J::Arr(vec![v])
                };
            }
            *node = v;
        }
        Tree::RepeatEvent(at, n) => {
            let Some(events) = root.events() else { return };
            if events.is_empty() {
                return;
            }
            let e = events[at.index(events.len())].clone();
            for _ in 0..*n {
                events.push(e.clone());
            }
        }
        Tree::LongString(at, len, ch) => {
            let c = ['a', 'é', '\u{1}', '"', '𝄞'][ch.index(5)];
            *root.at(&pick(at)) = J::Str(std::iter::repeat_n(c, *len as usize).collect());
        }
    }
}

fn apply_bytes(body: &mut Vec<u8>, m: &Bytes) {
    let n = body.len();
    match m {
        Bytes::Flip(at, x) if n > 0 => body[at.index(n)] ^= x,
        Bytes::Insert(at, b) => body.insert(at.index(n + 1), *b),
        Bytes::InsertText(at, s) => {
            let at = at.index(n + 1);
            let s = SNIPPETS[s.index(SNIPPETS.len())];
            body.splice(at..at, s.iter().copied());
        }
        Bytes::Delete(at, len) if n > 0 => {
            let start = at.index(n);
            body.drain(start..(start + *len as usize).min(n));
        }
        Bytes::Repeat(from, to, len) if n > 0 => {
            let start = from.index(n);
            let piece = body[start..(start + *len as usize).min(n)].to_vec();
            let at = to.index(n + 1);
            body.splice(at..at, piece);
        }
        Bytes::Truncate(at) => body.truncate(at.index(n + 1)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// The property.

/// What the mutants met, printed at the end.
#[derive(Default)]
struct Tally {
    cases: u64,
    unmutated: u64,
    accepted: u64,
    accepted_mutated: u64,
    refused: BTreeMap<String, u64>,
    refused_inside_events: u64,
    /// Accepted with some events dropped (200), the events dropped, and 200s that kept none.
    partial: u64,
    dropped_events: u64,
    accepted_nothing: u64,
    /// Refusals of the whole body, by reason (numbers and quoted text elided).
    body_reasons: BTreeMap<String, u64>,
    largest_body: usize,
}

fn cfg() -> IngestConfig {
    let vars: BTreeMap<&str, &str> = [
        ("WRITE_KEYS", r#"{"pk_a":["*"],"pk_b":["https://b.test"]}"#),
        ("SAMPLE_RATES", r#"{"default":1}"#),
        ("IP_SALT", "0123456789abcdef"),
    ]
    .into_iter()
    .collect();
    IngestConfig::from_vars(|k| vars.get(k).map(|v| v.to_string())).expect("valid test config")
}

/// `events[12].attrs` → `events[].attrs`, so the tally groups by field, not by position.
fn field_class(field: &str) -> String {
    let mut out = String::new();
    let mut in_brackets = false;
    for c in field.chars() {
        match c {
            '[' => {
                in_brackets = true;
                out.push('[');
            }
            ']' => {
                in_brackets = false;
                out.push(']');
            }
            _ if in_brackets => {}
            c => out.push(c),
        }
    }
    out
}

/// `is not a valid v1 envelope: invalid type: string "x\"y", expected u64 at line 1 column 80`
/// → `invalid type: string, expected u64`.
fn reason_class(reason: &str) -> String {
    let r = reason.split(" at line ").next().unwrap_or(reason);
    let r = r.strip_prefix("is not a valid v1 envelope: ").unwrap_or(r);
    let head: String = r
        .chars()
        .take_while(|c| !matches!(c, '"' | '0'..='9'))
        .take(70)
        .collect();
    let mut head = head.trim_end_matches([',', ' ', '-']);
    if head.matches('`').count() % 2 == 1 {
        head = head.trim_end_matches(['`', ' ']);
    }
    match r.rsplit_once(", expected ") {
        Some((_, exp)) if !head.contains(", expected ") => {
            format!(
                "{head}, expected {}",
                exp.chars().take(40).collect::<String>()
            )
        }
        _ => head.to_owned(),
    }
}

/// Where serde_json stopped (`... at line 1 column 80`), as a byte offset when the body is one
/// line.
fn error_offset(reason: &str, body: &[u8]) -> Option<usize> {
    let (_, tail) = reason.rsplit_once(" at line ")?;
    let (line, col) = tail.split_once(" column ")?;
    let (line, col): (usize, usize) = (line.parse().ok()?, col.trim().parse().ok()?);
    (line == 1 && !body.contains(&b'\n')).then(|| col.saturating_sub(1))
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn log_records(doc: &str) -> Result<usize, TestCaseError> {
    let v: serde_json::Value = serde_json::from_str(doc)
        .map_err(|e| TestCaseError::fail(format!("an OTLP document is not JSON: {e}")))?;
    let mut n = 0;
    for rl in v["resourceLogs"].as_array().into_iter().flatten() {
        for sl in rl["scopeLogs"].as_array().into_iter().flatten() {
            n += sl["logRecords"].as_array().map_or(0, Vec::len);
        }
    }
    Ok(n)
}

/// Runs `f`, turning a panic into a test failure that shows the body.
fn no_panic<T>(what: &str, body: &[u8], f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        TestCaseError::fail(format!(
            "{what} PANICKED ({msg}) on this body:\n{}",
            String::from_utf8_lossy(body)
        ))
    })
}

const BINDINGS: Bindings = Bindings {
    rl_key: true,
    rl_client: true,
    queue: true,
};

fn check(
    cfg: &IngestConfig,
    body: &[u8],
    content_type: Option<&str>,
    origin: Option<&str>,
    mutated: bool,
    tally: &Mutex<Tally>,
) -> Result<(), TestCaseError> {
    let show = || String::from_utf8_lossy(&body[..body.len().min(600)]).into_owned();
    let fail = |what: String| TestCaseError::fail(format!("{what}\nbody: {}", show()));

    // The decoders: `decode_partial` drops bad events, `decode` refuses the batch for the first.
    let strict = no_panic("Envelope::decode", body, || Envelope::decode(body))?;
    let partial = no_panic("Envelope::decode_partial", body, || {
        Envelope::decode_partial(body)
    })?;
    match (&strict, &partial) {
        (Ok(a), Ok((b, drops))) => {
            prop_assert!(
                drops.is_empty(),
                "decode took whole what decode_partial cut"
            );
            prop_assert_eq!(a, b);
        }
        (Err(e), Ok((_, drops))) => {
            let first = drops.first().ok_or_else(|| {
                fail(format!(
                    "decode refused ({e}) what decode_partial took whole"
                ))
            })?;
            prop_assert_eq!(&e.field, &first.field);
        }
        (Err(a), Err(b)) => prop_assert_eq!(a, b),
        (Ok(_), Err(e)) => {
            return Err(fail(format!(
                "decode took what decode_partial refused: {e}"
            )))
        }
    }
    // The request path then corrects the clock and drops events outside the time window; the
    // drops must stay in order, with their index in the batch as sent.
    let partial = partial.map(|(mut env, mut drops)| {
        clock_times(
            &mut env,
            &mut drops,
            1_764_000_001_000,
            DEFAULT_RETENTION_DAYS,
        );
        (env, drops)
    });
    match &partial {
        Err(e) => {
            prop_assert!(!e.field.is_empty(), "refused without a field: {}", show());
            prop_assert!(
                !e.reason.trim().is_empty(),
                "refused without a reason: {}",
                show()
            );
        }
        Ok((env, drops)) => {
            let total = env.events.len() + drops.len();
            for (i, d) in drops.iter().enumerate() {
                prop_assert!(d.index < total, "drop index {} of {total} events", d.index);
                prop_assert!(i == 0 || drops[i - 1].index < d.index, "drops out of order");
                prop_assert!(
                    d.field.starts_with(&format!("events[{}]", d.index)),
                    "drop {} names {}",
                    d.index,
                    d.field
                );
                prop_assert!(
                    !d.reason.trim().is_empty(),
                    "a drop without a reason: {}",
                    show()
                );
            }
            if !env.events.is_empty() {
                // What was kept re-encodes to a valid batch, and that encoding is a fixed point.
                let again = env.encode();
                let env2 = Envelope::decode(again.as_bytes()).map_err(|e| {
                    fail(format!(
                        "kept, but its re-encoding is refused ({e})\nre-encoded: {}",
                        &again[..again.len().min(600)]
                    ))
                })?;
                prop_assert_eq!(env2.events.len(), env.events.len());
                prop_assert_eq!(env2.encode(), again, "re-encoding is not a fixed point");
            }
        }
    }
    if !mutated {
        let env = strict
            .as_ref()
            .map_err(|e| fail(format!("an unmutated batch is refused: {e}")))?;
        let again = env.encode();
        prop_assert_eq!(again.as_bytes(), body, "unmutated batch did not round-trip");
    }

    // The request path.
    let len = body.len().to_string();
    let req = Incoming {
        method: "POST",
        url: "https://ingest.test/v1/batch",
        content_type,
        content_length: Some(&len),
        origin,
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0"),
        ip: Some("192.0.2.1"),
        country: Some("FR"),
        now_ms: 1_764_000_001_000,
        body: Some(body),
        checked: false,
        ..Incoming::default()
    };
    // As the entry does: the limiters (all allow here) before decoding, then the decision.
    let decision = no_panic("ingest::decide", body, || {
        let d = match decide(Ok(cfg), &req, BINDINGS) {
            Decision::Next(step) => {
                assert!(step.checked && step.read == 0, "{step:?}");
                let checked = Incoming {
                    checked: true,
                    ..req.clone()
                };
                decide(Ok(cfg), &checked, BINDINGS)
            }
            d => d,
        };
        // Every refusal is charged to the client's limiter; the answer is the same.
        match d {
            Decision::Refuse(r) => {
                assert_eq!(r.limit.0, RL_CLIENT);
                Decision::Answer(r.reply)
            }
            d => d,
        }
    })?;
    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
    t.cases += 1;
    t.unmutated += u64::from(!mutated);
    t.largest_body = t.largest_body.max(body.len());
    let good_media = content_type != Some("application/xml");
    match decision {
        Decision::Accept(plan) => {
            // 2xx: 204 when every event was kept, 200 naming every dropped one.
            let (env, drops) = partial.as_ref().map_err(|e| {
                fail(format!(
                    "the request path accepted what the decoder refused: {e}"
                ))
            })?;
            let mut records = 0;
            for d in &plan.docs {
                records += log_records(d)?;
            }
            // SAMPLE_RATES keeps everything: every kept event is a log record.
            prop_assert_eq!(records, env.events.len());
            match plan.reply.status {
                204 => prop_assert!(drops.is_empty() && records > 0, "204 for {records} events"),
                200 => {
                    let j: serde_json::Value =
                        serde_json::from_str(plan.reply.body.as_deref().unwrap_or(""))
                            .map_err(|e| fail(format!("a 200 body that is not JSON: {e}")))?;
                    prop_assert_eq!(j["accepted"].as_u64(), Some(records as u64));
                    prop_assert_eq!(j["dropped"].as_u64(), Some(drops.len() as u64));
                    prop_assert!(!drops.is_empty(), "200 with nothing dropped");
                    let errors = j["errors"].as_array().map_or(&[][..], Vec::as_slice);
                    prop_assert_eq!(errors.len(), drops.len().min(MAX_LISTED_DROPS));
                    for e in errors {
                        prop_assert!(e["field"].as_str().is_some_and(|f| !f.is_empty()));
                        prop_assert!(e["reason"].as_str().is_some_and(|r| !r.trim().is_empty()));
                    }
                    t.partial += 1;
                    t.dropped_events += drops.len() as u64;
                    t.accepted_nothing += u64::from(records == 0);
                }
                other => return Err(fail(format!("accepted with status {other}"))),
            }
            t.accepted += 1;
            t.accepted_mutated += u64::from(mutated);
        }
        Decision::Answer(reply) => {
            prop_assert!(
                (400..500).contains(&reply.status),
                "answered {}: {}",
                reply.status,
                show()
            );
            let j: serde_json::Value = serde_json::from_str(reply.body.as_deref().unwrap_or(""))
                .map_err(|e| fail(format!("a {} body that is not JSON: {e}", reply.status)))?;
            prop_assert!(j["error"].as_str().is_some_and(|s| !s.is_empty()));
            let reason = j["reason"].as_str().unwrap_or("");
            prop_assert!(
                !reason.trim().is_empty(),
                "{} without a reason",
                reply.status
            );
            if good_media {
                // The decoder's verdict decides, except that the key and origin are checked
                // first (from the cheap pass): only the key or origin may refuse what it took
                // (or the cheap pass, when the key is not a plain string), and what it refused
                // is a 400 (a 413 past the size limit) unless the key or origin refused first.
                let plain_key = Envelope::peek(body).is_ok_and(|p| p.key.is_some_and(valid_key));
                let expected: &[u16] = match (partial.is_ok(), plain_key) {
                    (true, true) => &[401, 403],
                    (true, false) => &[400],
                    (false, _) => &[400, 401, 403, 413],
                };
                prop_assert!(
                    expected.contains(&reply.status),
                    "decoder said {:?}, request path {} {reason}",
                    partial.as_ref().err(),
                    reply.status
                );
            }
            let field = j["field"].as_str().unwrap_or("");
            // Past the envelope's own fields: the decoder names a field of an event, or the
            // parser stopped inside the events array.
            let events_at = memchr_find(body, b"\"events\":[");
            let inside = field.starts_with("events[")
                || (field == "body"
                    && matches!((error_offset(reason, body), events_at),
                                (Some(at), Some(ev)) if at > ev + 10));
            if inside {
                t.refused_inside_events += 1;
            }
            if reply.status == 400 && field == "body" {
                *t.body_reasons.entry(reason_class(reason)).or_default() += 1;
            }
            *t.refused
                .entry(format!("{} {}", reply.status, field_class(field)))
                .or_default() += 1;
        }
        other => return Err(fail(format!("a POST with its body was answered {other:?}"))),
    }
    Ok(())
}

#[test]
fn structurally_mutated_batches_are_refused_cleanly_or_round_trip() {
    let cases: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        source_file: Some(file!()),
        ..Config::default()
    });
    let tree = || proptest::collection::vec(tree_mutation(), 1..4);
    let bytes = || proptest::collection::vec(byte_mutation(), 1..3);
    let (no_tree, no_bytes) = (|| Just(Vec::<Tree>::new()), || Just(Vec::<Bytes>::new()));
    let mutations = prop_oneof![
        1 => (no_tree(), no_bytes()),
        5 => (tree(), no_bytes()),
        2 => (tree(), bytes()),
        2 => (no_tree(), bytes()),
    ];
    let strategy = (
        batch(),
        mutations,
        prop_oneof![
            12 => Just("text/plain;charset=UTF-8"),
            4 => Just("application/json"),
            3 => Just(""),
            1 => Just("application/xml"),
        ],
        prop_oneof![
            4 => Just(Some("https://a.test")),
            1 => Just(Some("https://b.test")),
            1 => Just(None)
        ],
    );
    let cfg = cfg();
    let tally = Mutex::new(Tally::default());
    let started = std::time::Instant::now();
    // A panic is reported as a failure with its body (see `no_panic`); keep shrinking quiet. This
    // binary has this one test, so the hook is nobody else's.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = runner.run(&strategy, |(batch, (tree, bytes), ct, origin)| {
        let valid = batch.encode();
        let mut body = valid.clone().into_bytes();
        if !tree.is_empty() {
            let mut root: J = serde_json::from_str(&valid).expect("the encoder writes JSON");
            for m in &tree {
                apply_tree(&mut root, m);
            }
            let mut s = String::with_capacity(valid.len() + 64);
            root.write(&mut s);
            body = s.into_bytes();
            // Past 64 KiB only the size matters; keep long strings times repeated events cheap.
            body.truncate(MAX_BODY_BYTES * 4);
        }
        for m in &bytes {
            apply_bytes(&mut body, m);
        }
        let mutated = body != valid.as_bytes();
        let ct = Some(ct).filter(|c| !c.is_empty());
        check(&cfg, &body, ct, origin, mutated, &tally)
    });
    std::panic::set_hook(default_hook);
    let t = tally.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut report = String::new();
    let _ = writeln!(
        report,
        "mutate: {} cases in {:.1} s ({} unmutated; largest body {} bytes, limit {MAX_BODY_BYTES})",
        t.cases,
        started.elapsed().as_secs_f64(),
        t.unmutated,
        t.largest_body
    );
    let refused: u64 = t.refused.values().sum();
    let _ = writeln!(
        report,
        "mutate: accepted {} ({} of them mutated; {} with events dropped: {} events, {} batches \
         keeping none); refused {refused}, {} inside the events array",
        t.accepted,
        t.accepted_mutated,
        t.partial,
        t.dropped_events,
        t.accepted_nothing,
        t.refused_inside_events
    );
    let mut by_count: Vec<_> = t.refused.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let _ = write!(report, "mutate: refusals by status and field:");
    for (k, n) in by_count {
        let _ = write!(report, " {k}={n};");
    }
    let mut reasons: Vec<_> = t.body_reasons.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let _ = write!(
        report,
        "\nmutate: `400 body` refusals, {} kinds; the commonest:",
        reasons.len()
    );
    for (k, n) in reasons.iter().take(12) {
        let _ = write!(report, "\n    {n:5}  {k}");
    }
    // Straight to stderr, past the test harness's capture: CI logs show the count on success too.
    let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("{report}\n").as_bytes());
    if let Err(e) = result {
        panic!("{e}");
    }
    // The mutants must get past the envelope: a good share is refused inside the events array
    // or still accepted after damage (with a decoder that drops bad events, more move from the
    // first group to the second).
    if t.cases >= 500 {
        assert!(
            (t.refused_inside_events + t.accepted_mutated) * 5 >= t.cases,
            "fewer than 20% of the mutants got past the envelope's own fields:\n{report}"
        );
        assert!(
            t.accepted_mutated > 0,
            "no mutated body was accepted:\n{report}"
        );
    }
}
