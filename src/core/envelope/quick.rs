//! A quick reader for the batches the SDK sends: the envelope and its events read by a scanner
//! that knows the schema, instead of serde's visitors. It reads what serde would read into the
//! same values, and gives up (`None`, and serde reads the body) on anything it does not handle
//! or that serde would refuse: an unknown or repeated member, an escape in a member name, a value
//! of another JSON type than its field's, a control character in a string, a malformed number,
//! anything after the envelope. Strings without escapes are borrowed from the body; numbers that
//! are not plain integers, and strings with escapes, are handed to `serde_json` one by one, so
//! their values are exactly serde's.
//!
//! On the Worker this is the request path's decoding: a 31 KB / 100-event batch decodes in
//! 67 µs in wasm this way, 78 µs through serde's visitors.

use std::borrow::Cow;

use super::super::event::{limits, AttrValue};
use super::super::fields::{CowStr, Raw, Read, Slots, Table};
use super::super::otlp::next_escape;
use super::super::schema::{EVENT_TABLE, RESOURCE_TABLE};
use super::{RawEnvelope, RawEvent, RawEvents, RawSdk, MAX_EVENTS};

/// Reads an envelope, all of `text`; `None` when serde must.
pub(super) fn envelope(text: &str) -> Option<RawEnvelope<'_>> {
    let mut s = Scanner {
        b: text.as_bytes(),
        t: text,
        i: 0,
    };
    let mut e = RawEnvelope::default();
    let mut seen = [false; 6];
    let mut once = |i: usize| !std::mem::replace(&mut seen[i], true);
    s.object(|s, name| match name {
        "v" => {
            let v = s.opt(|s| s.integer::<u64>())?;
            once(0).then(|| e.v = v)
        }
        "key" => {
            let v = s.opt(Scanner::string)?;
            once(1).then(|| e.key = v)
        }
        "sdk" => {
            let v = s.sdk()?;
            once(2).then(|| e.sdk = Some(v))
        }
        "session" => {
            let v = s.opt(Scanner::string)?;
            once(3).then(|| e.session = v)
        }
        "sent_at" => {
            let v = s.opt(|s| s.integer::<u64>())?;
            once(4).then(|| e.sent_at = v)
        }
        "events" => {
            let v = s.opt(Scanner::events)?;
            once(5).then(|| e.events = v.map(RawEvents::Decoded))
        }
        other => {
            let i = (RESOURCE_TABLE.index)(other)?;
            let v = s.value(&RESOURCE_TABLE, i)?;
            e.resource.put(i, v).then_some(())
        }
    })?;
    s.ws();
    (s.i == s.b.len()).then_some(e)
}

struct Scanner<'a> {
    b: &'a [u8],
    t: &'a str,
    i: usize,
}

impl<'a> Scanner<'a> {
    /// Skips JSON whitespace.
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// An object: `member` reads each member's value after its name (names with escapes are
    /// left to serde).
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            let name = match self.string()? {
                Cow::Borrowed(n) => n,
                Cow::Owned(_) => return None,
            };
            self.eat(b':')?;
            member(self, name)?;
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `null` as `None`, else what `read` reads.
    fn opt<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        read(self).map(Some)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)?;
        self.delimited()
    }

    /// What follows a value must end it.
    fn delimited(&mut self) -> Option<()> {
        match self.b.get(self.i) {
            Some(b' ' | b'\n' | b'\t' | b'\r' | b',' | b'}' | b']') | None => Some(()),
            _ => None,
        }
    }

    /// A string: borrowed when it has no escapes, else unescaped by serde.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.i;
        let end = next_escape(self.b, start);
        match self.b.get(end)? {
            b'"' => {
                self.i = end + 1;
                Some(Cow::Borrowed(self.t.get(start..end)?))
            }
            b'\\' => {
                // Find the closing quote (any escaped character is skipped), then let serde
                // unescape and check the whole literal.
                let mut j = end;
                loop {
                    match self.b.get(j)? {
                        b'\\' => j = next_escape(self.b, j + 2),
                        b'"' => break,
                        _ => return None, // a control character
                    }
                }
                self.i = j + 1;
                let CowStr(s) = serde_json::from_str(self.t.get(start - 1..j + 1)?).ok()?;
                Some(Cow::Owned(s.into_owned()))
            }
            _ => None, // a control character: serde refuses it
        }
    }

    /// The text of a number (serde checks its grammar when it reads it).
    fn number_text(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.i;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
        }
        self.delimited()?;
        (self.i > start).then(|| self.t.get(start..self.i))?
    }

    /// An integer of type `T`: plain digits directly, anything else through serde.
    fn integer<T: TryFrom<u64> + TryFrom<i64> + serde::de::DeserializeOwned>(
        &mut self,
    ) -> Option<T> {
        let n = self.number_text()?;
        let digits = n.strip_prefix('-').unwrap_or(n);
        let plain = (1..=18).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits.len() == 1 || !digits.starts_with('0'));
        if !plain {
            return serde_json::from_str(n).ok();
        }
        let v = digits
            .bytes()
            .fold(0u64, |v, b| v * 10 + u64::from(b - b'0'));
        if n.starts_with('-') && v == 0 {
            return serde_json::from_str(n).ok(); // serde reads `-0` as a float
        }
        if n.starts_with('-') {
            T::try_from(-(v as i64)).ok()
        } else {
            T::try_from(v).ok()
        }
    }

    fn float(&mut self) -> Option<f64> {
        serde_json::from_str(self.number_text()?).ok()
    }

    /// `sdk`: `{"name":…,"version":…}` (serde's derive: both required, others skipped, which
    /// is left to serde here).
    fn sdk(&mut self) -> Option<RawSdk<'a>> {
        let (mut name, mut version) = (None, None);
        self.object(|s, k| {
            let slot = match k {
                "name" => &mut name,
                "version" => &mut version,
                _ => return None,
            };
            let v = s.string()?;
            slot.replace(v).is_none().then_some(())
        })?;
        Some(RawSdk {
            name: name?,
            version: version?,
        })
    }

    /// The value of member `i` of `table`, as `Slots::read_value` reads it.
    fn value(&mut self, table: &Table, i: usize) -> Option<Raw<'a>> {
        let read = table.fields.get(i)?.1;
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(Raw::Absent);
        }
        Some(match read {
            Read::Str => Raw::Str(self.string()?),
            Read::F64 => Raw::F64(self.float()?),
            Read::I32 => Raw::I64(self.integer::<i32>()?.into()),
            Read::U32 => Raw::I64(self.integer::<u32>()?.into()),
            Read::U64 => Raw::U64(self.integer::<u64>()?),
            Read::Bool => Raw::Bool(self.boolean()?),
            Read::Attrs => Raw::Attrs(Box::new(self.attrs()?)),
        })
    }

    /// `true` or `false`.
    fn boolean(&mut self) -> Option<bool> {
        if self.peek()? == b't' {
            self.literal(b"true")?;
            Some(true)
        } else {
            self.literal(b"false")?;
            Some(false)
        }
    }

    /// Custom attributes, as `fields::Attrs` reads them.
    fn attrs(&mut self) -> Option<Vec<(String, AttrValue)>> {
        let mut out: Vec<(String, AttrValue)> = Vec::new();
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(out);
        }
        loop {
            if out.len() == limits::ATTRS {
                return None;
            }
            let k = self.string()?;
            self.eat(b':')?;
            let v = match self.peek()? {
                b'"' => AttrValue::Str(truncated(&self.string()?, limits::ATTR_VALUE)),
                b't' => {
                    self.literal(b"true")?;
                    AttrValue::Bool(true)
                }
                b'f' => {
                    self.literal(b"false")?;
                    AttrValue::Bool(false)
                }
                _ => AttrValue::Num(self.float()?),
            };
            let k = truncated(&k, limits::ATTR_KEY);
            if out.iter().any(|(seen, _)| *seen == k) {
                return None;
            }
            out.push((k, v));
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(out);
                }
                _ => return None,
            }
        }
    }

    /// `events`: an array of event objects, each decoded as it is read.
    fn events(&mut self) -> Option<Vec<Result<super::Event, super::FieldError>>> {
        self.eat(b'[')?;
        let mut out = Vec::new();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(out);
        }
        loop {
            if out.len() == MAX_EVENTS {
                return None;
            }
            let mut slots = Slots::default();
            self.object(|s, name| {
                let i = (EVENT_TABLE.index)(name)?;
                let v = s.value(&EVENT_TABLE, i)?;
                slots.put(i, v).then_some(())
            })?;
            out.push(RawEvent::validate_slots(&mut slots));
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(out);
                }
                _ => return None,
            }
        }
    }
}

fn truncated(s: &str, max: usize) -> String {
    super::super::scrub::truncate(s, max).to_owned()
}
