//! The machinery behind the wire schema ([`super::schema`]): how each type of field value is
//! written (browser), read and checked (edge), forwarded as an OTLP attribute and documented,
//! and the macros that turn the schema's declarations into the event model and that code.
//!
//! A field's Rust type picks its wire form through [`Field`]: `String` is a bounded JSON string,
//! `f64` a number, `i32`/`u32` integers, `u64` 16 hex digits (ids), a `label_enum!` enum one of its
//! names, and the custom attributes a flat object; `Option<T>` is `T` when sent, and when not
//! sent is neither written nor forwarded. The declaration adds presence (`required`,
//! `optional`, `default(..)`, `derived(..)`, `edge(..)`), [`Rules`] (`max(N)`, `non_negative`, `nonzero`,
//! `min(N)`) and, when it is not `<kind prefix><wire name>`, the OTLP attribute key.
//!
//! Only [`Field::encode`] is reachable from the browser build; the decoder, the OTLP writer and
//! the docs are linked into the Worker and native builds only.

use std::borrow::Cow;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, Visitor};

use super::event::{limits, AttrValue};
use super::ids::{parse_hex64, push_hex64};
use super::json::{push_bool, push_f64, push_i64, push_key, push_str, push_u64};
use super::otlp::{kv_bool, kv_f64, kv_i64, kv_str};

/// A refused field: its wire name and the rule it broke.
pub type FieldError = (&'static str, Cow<'static, str>);

/// Checks beyond the type, from a field's declaration (`max(URL), non_negative`, ...).
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Strings: the byte limit (the encoder bounds the escaped form, the edge the decoded one).
    pub max: usize,
    /// Numbers: negative values are refused (and `-0` becomes `0`).
    pub non_negative: bool,
    /// Hex ids: all zeros is refused.
    pub nonzero: bool,
    /// Integers: the smallest value accepted.
    pub min: u64,
}

impl Rules {
    /// No checks beyond the type.
    pub const NONE: Rules = Rules {
        max: usize::MAX,
        non_negative: false,
        nonzero: false,
        min: 0,
    };
    /// At most `n` bytes.
    pub const fn max(self, n: usize) -> Self {
        Rules { max: n, ..self }
    }
    /// Not negative.
    pub const fn non_negative(self) -> Self {
        Rules {
            non_negative: true,
            ..self
        }
    }
    /// Not all zeros.
    pub const fn nonzero(self) -> Self {
        Rules {
            nonzero: true,
            ..self
        }
    }
    /// At least `n`.
    pub const fn min(self, n: u64) -> Self {
        Rules { min: n, ..self }
    }
}

/// How a field's JSON value is read before its kind is known (the JSON type serde checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// A string.
    Str,
    /// A number.
    F64,
    /// An integer that fits `i32`.
    I32,
    /// An integer that fits `u32`.
    U32,
    /// An integer that fits `u64`.
    U64,
    /// `true` or `false`.
    Bool,
    /// A flat object of attributes.
    Attrs,
}

/// A field's value as read, before validation.
#[derive(Debug)]
pub enum Raw<'a> {
    /// Not sent, or `null`.
    Absent,
    /// A string, borrowed from the body when it had no escapes.
    Str(Cow<'a, str>),
    /// A number.
    F64(f64),
    /// A signed or small unsigned integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A boolean.
    Bool(bool),
    /// Custom attributes (boxed: they are rare, and this keeps every slot at 24 bytes).
    Attrs(Box<Vec<(String, AttrValue)>>),
}

const WRONG_TYPE: &str = "has the wrong type";

/// A field's Rust type and its wire form.
pub trait Field: Sized {
    /// How the JSON value is read.
    const READ: Read;
    /// Writes the member `,"name":value`; `max` bounds strings (see [`Rules::max`]).
    fn encode(&self, o: &mut String, name: &'static str, max: usize);
    /// Checks and converts a value that was sent.
    fn decode(raw: Raw<'_>, r: &Rules) -> Result<Self, Cow<'static, str>>;
    /// Appends the OTLP attribute(s) `key` = value, each followed by a comma.
    fn otlp(&self, o: &mut String, key: &'static str);
    /// Whether the value is "not set" (envelope fields are only sent when set).
    fn is_unset(&self) -> bool {
        false
    }
    /// The value column of the docs table.
    #[cfg(not(target_arch = "wasm32"))]
    fn describe(r: &Rules) -> String;
    /// A default value, as the docs show it.
    #[cfg(not(target_arch = "wasm32"))]
    fn show(&self) -> String;
}

/// How a value is written by a kind's writer ([`wire_schema!`]'s `write` module): as its
/// [`Field`] type does, and a `str` as a `String` (so the browser writes what it read without
/// copying it first).
pub trait Enc {
    /// Writes the member `,"name":value`.
    fn enc(&self, o: &mut String, name: &'static str, max: usize);
}

impl<T: Field> Enc for T {
    fn enc(&self, o: &mut String, name: &'static str, max: usize) {
        self.encode(o, name, max);
    }
}

impl Enc for str {
    fn enc(&self, o: &mut String, name: &'static str, max: usize) {
        push_key(o, name);
        push_str(o, self, max);
    }
}

impl Field for String {
    const READ: Read = Read::Str;
    fn encode(&self, o: &mut String, name: &'static str, max: usize) {
        self.as_str().enc(o, name, max);
    }
    fn decode(raw: Raw<'_>, r: &Rules) -> Result<Self, Cow<'static, str>> {
        match raw {
            Raw::Str(s) => Ok(truncated(&s, r.max)),
            _ => Err(WRONG_TYPE.into()),
        }
    }
    fn otlp(&self, o: &mut String, key: &'static str) {
        kv_str(o, key, self);
    }
    fn is_unset(&self) -> bool {
        self.is_empty()
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn describe(r: &Rules) -> String {
        format!("string ≤ {} bytes", r.max)
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn show(&self) -> String {
        format!("{self:?}")
    }
}

impl Field for f64 {
    const READ: Read = Read::F64;
    fn encode(&self, o: &mut String, name: &'static str, _: usize) {
        push_key(o, name);
        push_f64(o, *self);
    }
    fn decode(raw: Raw<'_>, r: &Rules) -> Result<Self, Cow<'static, str>> {
        match raw {
            Raw::F64(v) if r.non_negative && v < 0.0 => Err("must not be negative".into()),
            Raw::F64(v) if r.non_negative => Ok(v + 0.0), // -0 becomes 0
            Raw::F64(v) => Ok(v),
            _ => Err(WRONG_TYPE.into()),
        }
    }
    fn otlp(&self, o: &mut String, key: &'static str) {
        kv_f64(o, key, *self);
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn describe(r: &Rules) -> String {
        if r.non_negative {
            "number ≥ 0"
        } else {
            "number"
        }
        .into()
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn show(&self) -> String {
        format!("`{self}`")
    }
}

impl Field for i32 {
    const READ: Read = Read::I32;
    fn encode(&self, o: &mut String, name: &'static str, _: usize) {
        push_key(o, name);
        push_i64(o, *self as i64);
    }
    fn decode(raw: Raw<'_>, _: &Rules) -> Result<Self, Cow<'static, str>> {
        match raw {
            Raw::I64(v) => i32::try_from(v).map_err(|_| WRONG_TYPE.into()),
            _ => Err(WRONG_TYPE.into()),
        }
    }
    fn otlp(&self, o: &mut String, key: &'static str) {
        kv_i64(o, key, *self as i64);
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn describe(_: &Rules) -> String {
        "integer (32-bit)".into()
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn show(&self) -> String {
        format!("`{self}`")
    }
}

impl Field for u32 {
    const READ: Read = Read::U32;
    fn encode(&self, o: &mut String, name: &'static str, _: usize) {
        push_key(o, name);
        push_u64(o, *self as u64);
    }
    fn decode(raw: Raw<'_>, r: &Rules) -> Result<Self, Cow<'static, str>> {
        match raw {
            Raw::I64(v) if (v as u64) < r.min => Err(at_least(r.min)),
            Raw::I64(v) => u32::try_from(v).map_err(|_| WRONG_TYPE.into()),
            _ => Err(WRONG_TYPE.into()),
        }
    }
    fn otlp(&self, o: &mut String, key: &'static str) {
        kv_i64(o, key, *self as i64);
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn describe(r: &Rules) -> String {
        format!("integer ≥ {} (32-bit)", r.min)
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn show(&self) -> String {
        format!("`{self}`")
    }
}

/// A list of names (the envelope's `allow_query`): one string, the names joined by `,`
/// (names are checked to hold no comma; an empty list is not sent).
impl Field for Vec<String> {
    const READ: Read = Read::Str;
    fn encode(&self, o: &mut String, name: &'static str, max: usize) {
        // A loop: `join` brings 0.8 KB of generic copying into the browser's wasm.
        let mut all = String::new();
        for n in self {
            if !all.is_empty() {
                all.push(',');
            }
            all.push_str(n);
        }
        all.as_str().enc(o, name, max);
    }
    fn decode(raw: Raw<'_>, r: &Rules) -> Result<Self, Cow<'static, str>> {
        match raw {
            Raw::Str(s) => Ok(truncated(&s, r.max)
                .split(',')
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect()),
            _ => Err(WRONG_TYPE.into()),
        }
    }
    fn otlp(&self, o: &mut String, key: &'static str) {
        kv_str(o, key, &self.join(","));
    }
    fn is_unset(&self) -> bool {
        self.is_empty()
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn describe(r: &Rules) -> String {
        format!("names joined by `,`, ≤ {} bytes", r.max)
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn show(&self) -> String {
        format!("{:?}", self.join(","))
    }
}

fn at_least(min: u64) -> Cow<'static, str> {
    match min {
        1 => "must be at least 1".into(),
        n => format!("must be at least {n}").into(),
    }
}

/// `bool` fields are flags (envelope flags travel only when they differ from their default).
impl Field for bool {
    const READ: Read = Read::Bool;
    fn encode(&self, o: &mut String, name: &'static str, _: usize) {
        push_key(o, name);
        push_bool(o, *self);
    }
    fn decode(raw: Raw<'_>, _: &Rules) -> Result<Self, Cow<'static, str>> {
        match raw {
            Raw::Bool(b) => Ok(b),
            _ => Err(WRONG_TYPE.into()),
        }
    }
    fn otlp(&self, o: &mut String, key: &'static str) {
        kv_bool(o, key, *self);
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn describe(_: &Rules) -> String {
        "boolean".into()
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn show(&self) -> String {
        format!("`{self}`")
    }
}

/// `u64` fields are ids: 16 hex digits on the wire and in OTLP.
impl Field for u64 {
    const READ: Read = Read::Str;
    fn encode(&self, o: &mut String, name: &'static str, _: usize) {
        push_key(o, name);
        o.push('"');
        push_hex64(o, *self);
        o.push('"');
    }
    fn decode(raw: Raw<'_>, r: &Rules) -> Result<Self, Cow<'static, str>> {
        let Raw::Str(s) = raw else {
            return Err(WRONG_TYPE.into());
        };
        match parse_hex64(&s) {
            Some(0) if r.nonzero => Err("must not be all zeros".into()),
            Some(n) => Ok(n),
            None => Err("must be 16 hex digits".into()),
        }
    }
    fn otlp(&self, o: &mut String, key: &'static str) {
        let mut v = String::with_capacity(16);
        push_hex64(&mut v, *self);
        kv_str(o, key, &v);
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn describe(r: &Rules) -> String {
        if r.nonzero {
            "16 hex digits, not all zeros"
        } else {
            "16 hex digits"
        }
        .into()
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn show(&self) -> String {
        format!("`{self:016x}`")
    }
}

/// An optional value that stays absent when not sent: not written, not forwarded (the
/// report kind's fields, most of which only one report type has).
impl<T: Field> Field for Option<T> {
    const READ: Read = T::READ;
    fn encode(&self, o: &mut String, name: &'static str, max: usize) {
        if let Some(v) = self {
            v.encode(o, name, max);
        }
    }
    fn decode(raw: Raw<'_>, r: &Rules) -> Result<Self, Cow<'static, str>> {
        T::decode(raw, r).map(Some)
    }
    fn otlp(&self, o: &mut String, key: &'static str) {
        if let Some(v) = self {
            v.otlp(o, key);
        }
    }
    fn is_unset(&self) -> bool {
        self.is_none()
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn describe(r: &Rules) -> String {
        T::describe(r)
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn show(&self) -> String {
        match self {
            Some(v) => v.show(),
            None => "absent".into(),
        }
    }
}

/// Custom attributes: a flat object, bounded in entries, key and value length.
impl Field for Vec<(String, AttrValue)> {
    const READ: Read = Read::Attrs;
    fn encode(&self, o: &mut String, name: &'static str, _: usize) {
        push_key(o, name);
        o.push('{');
        let mut written: Vec<String> = Vec::new();
        for (k, v) in self.iter() {
            // Keys are cut to the limit (of their escaped form, so escapes can cut more than
            // the bytes alone would); the edge refuses duplicates, so a key that collides with
            // one already written, as written, is skipped.
            let mut key = String::new();
            push_str(&mut key, k, limits::ATTR_KEY);
            if written.len() == limits::ATTRS || written.contains(&key) {
                continue;
            }
            if !written.is_empty() {
                o.push(',');
            }
            o.push_str(&key);
            written.push(key);
            o.push(':');
            match v {
                AttrValue::Str(s) => push_str(o, s, limits::ATTR_VALUE),
                AttrValue::Num(n) => push_f64(o, *n),
                AttrValue::Bool(b) => push_bool(o, *b),
            }
        }
        o.push('}');
    }
    fn decode(raw: Raw<'_>, _: &Rules) -> Result<Self, Cow<'static, str>> {
        match raw {
            Raw::Attrs(a) => Ok(*a),
            _ => Err(WRONG_TYPE.into()),
        }
    }
    /// One attribute per entry, `key` being the prefix (`ferrotel.attr.`), typed.
    fn otlp(&self, o: &mut String, prefix: &'static str) {
        for (k, v) in self {
            let mut key = String::with_capacity(prefix.len() + k.len() + 2);
            key.push_str(prefix);
            // Attribute keys are written raw inside quotes: escape via push_str.
            let mut escaped = String::new();
            push_str(&mut escaped, k, usize::MAX);
            key.push_str(&escaped[1..escaped.len() - 1]);
            match v {
                AttrValue::Str(s) => kv_str(o, &key, s),
                AttrValue::Num(n) => kv_f64(o, &key, *n),
                AttrValue::Bool(b) => kv_bool(o, &key, *b),
            }
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn describe(_: &Rules) -> String {
        format!(
            "object of ≤ {} string, number or boolean values (keys ≤ {} bytes, strings ≤ {} bytes)",
            limits::ATTRS,
            limits::ATTR_KEY,
            limits::ATTR_VALUE
        )
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn show(&self) -> String {
        "`{}`".into()
    }
}

/// Writes a label member: `,"name":"value"` (a trusted literal: no escaping needed).
pub fn encode_label(o: &mut String, name: &'static str, value: &'static str) {
    push_key(o, name);
    o.push('"');
    o.push_str(value);
    o.push('"');
}

/// The docs' value column for a label: its names.
#[cfg(not(target_arch = "wasm32"))]
pub fn describe_label(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(" \\| ")
}

/// Declares an enum whose values travel as fixed names (`as_str`/`parse`), usable as a schema
/// field type; `$expected` is the refusal reason for any other name.
macro_rules! label_enum {
    (
        $(#[doc = $doc:literal])*
        pub enum $E:ident ($expected:literal) {
            $( $(#[doc = $vdoc:literal])* $V:ident = $name:literal, )*
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $E {
            $( $(#[doc = $vdoc])* $V, )*
        }

        impl $E {
            /// Every value, in declaration order.
            pub const ALL: &'static [$E] = &[$($E::$V),*];
            /// Every wire name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($E::$V => $name,)*
                }
            }

            /// Parses the wire name.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($name => Some($E::$V),)*
                    _ => None,
                }
            }
        }

        impl $crate::core::fields::Field for $E {
            const READ: $crate::core::fields::Read = $crate::core::fields::Read::Str;
            fn encode(&self, o: &mut String, name: &'static str, _: usize) {
                $crate::core::fields::encode_label(o, name, self.as_str());
            }
            fn decode(
                raw: $crate::core::fields::Raw<'_>,
                _: &$crate::core::fields::Rules,
            ) -> Result<Self, std::borrow::Cow<'static, str>> {
                match raw {
                    $crate::core::fields::Raw::Str(s) => Self::parse(&s).ok_or($expected.into()),
                    _ => Err($expected.into()),
                }
            }
            fn otlp(&self, o: &mut String, key: &'static str) {
                $crate::core::otlp::kv_str(o, key, self.as_str());
            }
            #[cfg(not(target_arch = "wasm32"))]
            fn describe(_: &$crate::core::fields::Rules) -> String {
                $crate::core::fields::describe_label(Self::NAMES)
            }
            #[cfg(not(target_arch = "wasm32"))]
            fn show(&self) -> String {
                format!("`{}`", self.as_str())
            }
        }
    };
}
pub(crate) use label_enum;

fn truncated(s: &str, max: usize) -> String {
    super::scrub::truncate(s, max).to_owned()
}

/// A `required` field: absent is refused.
pub fn required<T: Field>(raw: Raw<'_>, wire: &'static str, r: &Rules) -> Result<T, FieldError> {
    match raw {
        Raw::Absent => Err((wire, Cow::Borrowed("is missing"))),
        raw => T::decode(raw, r).map_err(|e| (wire, e)),
    }
}

/// An `optional`, `default(..)` or `derived(..)` field: absent takes `default()`.
pub fn optional<T: Field>(
    raw: Raw<'_>,
    wire: &'static str,
    r: &Rules,
    default: impl FnOnce() -> T,
) -> Result<T, FieldError> {
    match raw {
        Raw::Absent => Ok(default()),
        raw => T::decode(raw, r).map_err(|e| (wire, e)),
    }
}

/// The fields of one JSON object (an event, or the envelope's schema fields), by slot: each
/// distinct wire name has one, the index of its first declaration in the table.
#[derive(Debug)]
pub struct Slots<'a, const N: usize> {
    seen: u64,
    // Only slots marked in `seen` can hold a value: `Drop` releases those and leaves the rest
    // alone (dropping every slot of every event cost ~7% of the Worker's decode and encode).
    raw: std::mem::ManuallyDrop<[Raw<'a>; N]>,
}

impl<'a, const N: usize> Slots<'a, N> {
    /// Takes the value of slot `i`, leaving it absent.
    pub fn take(&mut self, i: usize) -> Raw<'a> {
        std::mem::replace(&mut self.raw[i], Raw::Absent)
    }

    /// Stores the value read for slot `i` (`Absent` for `null`); false when slot `i` was read
    /// before (a repeated member, which [`Slots::read_value`] refuses).
    pub(crate) fn put(&mut self, i: usize, v: Raw<'a>) -> bool {
        let bit = 1u64 << i;
        if self.seen & bit != 0 {
            return false;
        }
        match self.raw.get_mut(i) {
            Some(slot) => {
                self.seen |= bit;
                *slot = v;
                true
            }
            None => false,
        }
    }
}

impl<const N: usize> Drop for Slots<'_, N> {
    fn drop(&mut self) {
        let mut seen = self.seen;
        while seen != 0 {
            let i = seen.trailing_zeros() as usize;
            seen &= seen - 1;
            if let Some(slot) = self.raw.get_mut(i) {
                *slot = Raw::Absent;
            }
        }
    }
}

/// A schema's slot table: every declared wire name with how it is read (duplicates share the
/// first one's slot), and the generated name-to-slot match.
pub struct Table {
    /// (wire name, how it is read), in declaration order.
    pub fields: &'static [(&'static str, Read)],
    /// The slot of a wire name, if it is one.
    pub index: fn(&str) -> Option<usize>,
    /// What the object is, for serde's "invalid type" message.
    pub expecting: &'static str,
}

/// Reads a JSON object into the slots of `table`: unknown members are skipped, a repeated
/// member is refused (`duplicate field`), and each value is checked against its JSON type.
pub fn read_object<'de, D: Deserializer<'de>, const N: usize>(
    d: D,
    table: &'static Table,
) -> Result<Slots<'de, N>, D::Error> {
    d.deserialize_map(SlotsVisitor::<N>(table))
}

struct SlotsVisitor<const N: usize>(&'static Table);

impl<'de, const N: usize> Visitor<'de> for SlotsVisitor<N> {
    type Value = Slots<'de, N>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.expecting)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let table = self.0;
        let mut s = Slots::default();
        while let Some(k) = map.next_key_seed(KeySeed(table.index))? {
            match k {
                Some(i) => s.read_value(table, i, &mut map)?,
                None => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(s)
    }
}

impl<const N: usize> Default for Slots<'_, N> {
    /// Slots with nothing read yet.
    fn default() -> Self {
        Slots {
            seen: 0,
            raw: std::mem::ManuallyDrop::new([const { Raw::Absent }; N]),
        }
    }
}

impl<'de, const N: usize> Slots<'de, N> {
    /// Reads the value of member `i` of `table` (whose key `map` has just given) into its
    /// slot: a repeated member is refused (`duplicate field`), the value's JSON type checked.
    pub fn read_value<A: MapAccess<'de>>(
        &mut self,
        table: &'static Table,
        i: usize,
        map: &mut A,
    ) -> Result<(), A::Error> {
        let bit = 1u64 << i;
        if self.seen & bit != 0 {
            return Err(de::Error::duplicate_field(table.fields[i].0));
        }
        self.seen |= bit;
        self.raw[i] = match table.fields[i].1 {
            Read::Str => map
                .next_value::<Option<CowStr<'de>>>()?
                .map_or(Raw::Absent, |s| Raw::Str(s.0)),
            Read::F64 => map
                .next_value::<Option<f64>>()?
                .map_or(Raw::Absent, Raw::F64),
            Read::I32 => map
                .next_value::<Option<i32>>()?
                .map_or(Raw::Absent, |v| Raw::I64(v as i64)),
            Read::U32 => map
                .next_value::<Option<u32>>()?
                .map_or(Raw::Absent, |v| Raw::I64(v as i64)),
            Read::U64 => map
                .next_value::<Option<u64>>()?
                .map_or(Raw::Absent, Raw::U64),
            Read::Bool => map
                .next_value::<Option<bool>>()?
                .map_or(Raw::Absent, Raw::Bool),
            Read::Attrs => map
                .next_value::<Option<Attrs>>()?
                .map_or(Raw::Absent, |a| Raw::Attrs(Box::new(a.0))),
        };
        Ok(())
    }
}

/// A member name, matched to its slot without copying it.
struct KeySeed(fn(&str) -> Option<usize>);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok((self.0)(v))
    }
}

/// A string borrowed from the body when it has no escapes (what `#[serde(borrow)]` does).
/// A string that borrows from the input when it has no escapes.
pub struct CowStr<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(CowStrVisitor)
    }
}

struct CowStrVisitor;

impl<'de> Visitor<'de> for CowStrVisitor {
    type Value = CowStr<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(CowStr(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(CowStr(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(CowStr(Cow::Owned(v)))
    }
}

/// Custom attributes, read straight into a bounded flat list.
struct Attrs(Vec<(String, AttrValue)>);

impl<'de> Deserialize<'de> for Attrs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(AttrsVisitor)
    }
}

struct AttrsVisitor;

impl<'de> Visitor<'de> for AttrsVisitor {
    type Value = Attrs;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object of at most 32 string, number or boolean attributes")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attrs, A::Error> {
        let mut out = Vec::new();
        while let Some(k) = map.next_key::<CowStr<'de>>()? {
            if out.len() == limits::ATTRS {
                return Err(de::Error::custom("attrs has more than 32 entries"));
            }
            let v = map.next_value::<AttrValueDe>()?.0;
            let k = truncated(&k.0, limits::ATTR_KEY);
            if out.iter().any(|(seen, _)| *seen == k) {
                return Err(de::Error::custom("attrs has a duplicate key"));
            }
            out.push((k, v));
        }
        Ok(Attrs(out))
    }
}

struct AttrValueDe(AttrValue);

impl<'de> Deserialize<'de> for AttrValueDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AttrValueVisitor)
    }
}

struct AttrValueVisitor;

impl<'de> Visitor<'de> for AttrValueVisitor {
    type Value = AttrValueDe;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an attribute value that is a string, number or boolean")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<AttrValueDe, E> {
        Ok(AttrValueDe(AttrValue::Str(truncated(
            v,
            limits::ATTR_VALUE,
        ))))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<AttrValueDe, E> {
        Ok(AttrValueDe(AttrValue::Num(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<AttrValueDe, E> {
        Ok(AttrValueDe(AttrValue::Num(v as f64)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<AttrValueDe, E> {
        Ok(AttrValueDe(AttrValue::Num(v as f64)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<AttrValueDe, E> {
        Ok(AttrValueDe(AttrValue::Bool(v)))
    }
}

/// The slot of `name` in `fields`: the index of its first declaration. Evaluated at compile
/// time for every declared field.
pub const fn slot(fields: &[(&str, Read)], name: &str) -> usize {
    let mut i = 0;
    while i < fields.len() {
        if str_eq(fields[i].0, name) {
            return i;
        }
        i += 1;
    }
    panic!("not a declared wire name")
}

/// Compile-time check of a slot table: at most 64 slots (the duplicate mask is a `u64`), and a
/// wire name declared twice (`name`, `navigation_type`) is read the same way both times.
pub const fn check_table(fields: &[(&str, Read)]) {
    assert!(fields.len() <= 64, "more than 64 wire names");
    let mut i = 0;
    while i < fields.len() {
        let first = slot(fields, fields[i].0);
        assert!(
            fields[first].1 as u8 == fields[i].1 as u8,
            "a wire name is declared with two JSON types"
        );
        i += 1;
    }
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// One row of the docs table (`| type | field | value | OTLP attribute | meaning |`): `what`
/// is the first cell as written, the others are set in code; an OTLP key ending in `.` is a
/// prefix (`ferrotel.attr.<key>`).
#[cfg(not(target_arch = "wasm32"))]
pub fn doc_row(o: &mut String, what: &str, wire: &str, value: &str, otlp: &str, doc: &[&str]) {
    let meaning = doc
        .iter()
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|");
    let wire = if wire.is_empty() {
        String::new()
    } else {
        format!("`{wire}`")
    };
    let otlp = if otlp.ends_with('.') {
        format!("`{otlp}<key>`")
    } else {
        format!("`{otlp}`")
    };
    o.push_str(&format!(
        "| {what} | {wire} | {value} | {otlp} | {meaning} |\n"
    ));
}

/// Generates, from the declarations in `schema.rs`: the envelope's [`Resource`] fields (header
/// encoding, decoding, OTLP resource attributes) and, per event kind, the [`EventKind`] variant
/// (and its struct, for `Kind(Struct)`), the wire names, the encoder, the decoder and
/// validator, the OTLP attributes, the OTLP-key-to-wire-name inverse and the docs table.
///
/// [`Resource`]: super::schema::Resource
/// [`EventKind`]: super::schema::EventKind
macro_rules! wire_schema {
    (
        resource {
            $(
                $(#[doc = $rdoc:literal])*
                $rf:ident : $rty:ty = $rw:literal => $ro:literal,
                    $rp:ident $(($rpe:expr))? $(, $rr:ident $(($($rra:expr),*))?)* ;
            )*
        }
        events {
            $(
                $(#[doc = $kdoc:literal])*
                $(#[cfg($kc:meta)])?
                $V:ident $(($S:ident))? = $kw:literal, otlp $kp:literal {
                    $(
                        $(#[doc = $fdoc:literal])*
                        $f:ident : $fty:ty = $fw:literal $(=> $fo:literal)?,
                            $fp:ident $(($fpe:expr))? $(, $fr:ident $(($($fra:expr),*))?)* ;
                    )*
                }
            )*
        }
    ) => {
        use $crate::core::fields::{Field as _, FieldError, Read, Rules, Slots, Table};

        // ---- The envelope's schema fields.

        /// Envelope fields from the schema, sent in the batch header when set (the app's, from
        /// `init` options; a `default(..)` field only when it differs from its default) and
        /// forwarded as OTLP resource attributes (likewise).
        #[derive(Debug, Clone, PartialEq)]
        pub struct Resource {
            $( $(#[doc = $rdoc])* pub $rf: $rty, )*
        }

        impl Default for Resource {
            /// Every field at its declared default (what an envelope without them means).
            fn default() -> Self {
                Resource {
                    $( $rf: $crate::core::fields::__default_value!($rp $(($rpe))?), )*
                }
            }
        }

        const RESOURCE_FIELDS: &[(&str, Read)] = &[ $( ($rw, <$rty as $crate::core::fields::Field>::READ), )* ];
        const _: () = $crate::core::fields::check_table(RESOURCE_FIELDS);
        /// Slots of the envelope's schema fields.
        pub(crate) const RESOURCE_SLOTS: usize = RESOURCE_FIELDS.len();
        #[allow(unreachable_patterns)]
        fn resource_index(key: &str) -> Option<usize> {
            match key {
                $( $rw => Some(const { $crate::core::fields::slot(RESOURCE_FIELDS, $rw) }), )*
                _ => None,
            }
        }
        /// The envelope's schema fields as a slot table.
        pub(crate) static RESOURCE_TABLE: Table = Table {
            fields: RESOURCE_FIELDS,
            index: resource_index,
            expecting: "a v1 batch envelope",
        };

        impl Resource {
            /// Appends `,"name":value` for each field that is set.
            pub(crate) fn encode(&self, o: &mut String) {
                Self::encode_values(o, $(&self.$rf),*);
            }

            /// Appends `,"name":value` for each field set in the SDK configuration (the
            /// `Config` field of the same name).
            pub(crate) fn encode_config(cfg: &$crate::core::config::Config, o: &mut String) {
                let _ = cfg;
                Self::encode_values(o, $(&cfg.$rf),*);
            }

            #[allow(clippy::too_many_arguments)]
            fn encode_values(o: &mut String, $($rf: &$rty),*) {
                let _ = o;
                $(
                    if !$crate::core::fields::__unset!($rp $(($rpe))?; $rf) {
                        $rf.encode(o, $rw, const { Rules::NONE $(.$rr($($($rra),*)?))* }.max);
                    }
                )*
            }

            /// Checks and converts the fields read from an envelope.
            pub(crate) fn decode(raw: &mut Slots<'_, RESOURCE_SLOTS>) -> Result<Resource, FieldError> {
                let _ = &raw;
                $(
                    let $rf: $rty = $crate::core::fields::__presence!(
                        $rp $(($rpe))?;
                        raw.take(const { $crate::core::fields::slot(RESOURCE_FIELDS, $rw) }),
                        $rw,
                        &const { Rules::NONE $(.$rr($($($rra),*)?))* }
                    );
                )*
                Ok(Resource { $($rf),* })
            }

            /// Appends the OTLP resource attribute of each field that is set.
            pub(crate) fn otlp(&self, o: &mut String) {
                let _ = o;
                $( if !$crate::core::fields::__unset!($rp $(($rpe))?; &self.$rf) { self.$rf.otlp(o, $ro); } )*
            }
        }

        // ---- The event kinds.

        $( $crate::core::fields::__kind_struct! {
            $(#[doc = $kdoc])* $(($S))? { $( $(#[doc = $fdoc])* $f: $fty, )* }
        } )*

        $crate::core::fields::__event_enum! {
            []
            $( $(#[doc = $kdoc])* $(#[cfg($kc)])? $V $(($S))? { $( $(#[doc = $fdoc])* $f: $fty, )* } )*
        }

        const EVENT_FIELDS: &[(&str, Read)] = &[
            ("id", Read::Str),
            ("t", Read::U64),
            ("type", Read::Str),
            ("url", Read::Str),
            $($( ($fw, <$fty as $crate::core::fields::Field>::READ), )*)*
        ];
        const _: () = $crate::core::fields::check_table(EVENT_FIELDS);
        /// Slots of an event object.
        pub(crate) const EVENT_SLOTS: usize = EVENT_FIELDS.len();
        #[allow(unreachable_patterns)]
        fn event_index(key: &str) -> Option<usize> {
            match key {
                "id" => Some(0),
                "t" => Some(1),
                "type" => Some(2),
                "url" => Some(3),
                $($( $fw => Some(const { $crate::core::fields::slot(EVENT_FIELDS, $fw) }), )*)*
                _ => None,
            }
        }
        /// An event object's fields as a slot table (the common ones first: `id`, `t`,
        /// `type`, `url` are slots 0 to 3).
        pub(crate) static EVENT_TABLE: Table = Table {
            fields: EVENT_FIELDS,
            index: event_index,
            expecting: "an event object",
        };

        impl EventKind {
            /// Every wire `type`, in declaration order.
            pub const TYPES: &'static [&'static str] = &[$( $(#[cfg($kc)])? $kw ),*];

            /// The wire `type`.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $( $(#[cfg($kc)])? EventKind::$V { .. } => $kw, )*
                }
            }

            /// Appends `,"name":value` for each field of the kind, in declaration order (with
            /// the kind's writer in [`write`]).
            pub(crate) fn encode_fields(&self, o: &mut String) {
                match self {
                    $(
                        $(#[cfg($kc)])?
                        $crate::core::fields::__variant!(EventKind::$V $(($S))? { $($f),* }) => {
                            let _ = ($($f,)*);
                            write::$V(o, $( $crate::core::fields::__write_arg!($fp $(($fpe))?; $f) ),*);
                        }
                    )*
                }
            }

            /// Checks and converts the fields of an event of wire type `ty`, in declaration
            /// order; the first problem is returned.
            pub(crate) fn decode(ty: &str, raw: &mut Slots<'_, EVENT_SLOTS>) -> Result<EventKind, FieldError> {
                Ok(match ty {
                    $(
                        $(#[cfg($kc)])?
                        $kw => {
                            $(
                                let $f: $fty = $crate::core::fields::__presence!(
                                    $fp $(($fpe))?;
                                    raw.take(const { $crate::core::fields::slot(EVENT_FIELDS, $fw) }),
                                    $fw,
                                    &const { Rules::NONE $(.$fr($($($fra),*)?))* }
                                );
                            )*
                            $crate::core::fields::__variant!(EventKind::$V $(($S))? { $($f),* })
                        }
                    )*
                    _ => {
                        return Err((
                            "type",
                            format!("is not a known event type ({})", Self::TYPES.join(", ")).into(),
                        ))
                    }
                })
            }

            /// Appends the OTLP attributes of the kind's fields, each followed by a comma.
            pub(crate) fn otlp_attributes(&self, o: &mut String) {
                match self {
                    $(
                        $(#[cfg($kc)])?
                        $crate::core::fields::__variant!(EventKind::$V $(($S))? { $($f),* }) => {
                            $( $f.otlp(o, $crate::core::fields::__otlp_key!($kp, $fw $(, $fo)?)); )*
                        }
                    )*
                }
            }
        }

        /// Each kind's wire `type`, by kind (`names::Click` is `"click"`).
        #[allow(non_upper_case_globals, dead_code)]
        pub mod names {
            $( $(#[cfg($kc)])? #[allow(missing_docs)] pub const $V: &str = $kw; )*
        }

        /// Each kind's writer: appends `,"name":value` for each of its fields, in declaration
        /// order, from values passed one by one (a `String` field takes a `str`; an
        /// `edge(..)` field, which the SDK never sends, takes `&()`). The browser writes each
        /// event with these as it records it, without building an [`EventKind`] first.
        #[allow(non_snake_case, clippy::too_many_arguments, dead_code)]
        pub mod write {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[doc = $kdoc])*
                $(#[cfg($kc)])?
                pub fn $V(o: &mut String, $( $f: $crate::core::fields::__write_ty!($fp $(($fpe))?) ),*) {
                    $( $crate::core::fields::__encode!(
                        $fp $(($fpe))?;
                        $f, o, $fw, const { Rules::NONE $(.$fr($($($fra),*)?))* }.max
                    ); )*
                }
            )*
        }

        /// The wire name of a schema field's OTLP attribute key (resource or event), if it is
        /// one; custom attributes (`ferrotel.attr.*`) are not.
        #[allow(unreachable_patterns)]
        pub(crate) fn wire_name_of(otlp_key: &str) -> Option<&'static str> {
            match otlp_key {
                $( $ro => Some($rw), )*
                $($( $crate::core::fields::__otlp_key!($kp, $fw $(, $fo)?) => Some($fw), )*)*
                _ => None,
            }
        }

        /// The schema as a markdown table (the README's "Wire schema" table): the envelope's
        /// schema fields, the fields every event has, then each kind and its fields.
        #[cfg(not(target_arch = "wasm32"))]
        pub fn markdown() -> String {
            use $crate::core::fields::doc_row;
            let mut o = String::from(
                "| type | field | value | OTLP attribute | meaning |\n|---|---|---|---|---|\n",
            );
            $(
                doc_row(
                    &mut o,
                    "envelope",
                    $rw,
                    &$crate::core::fields::__doc_value!(
                        $rty, $rp $(($rpe))?, &const { Rules::NONE $(.$rr($($($rra),*)?))* }
                    ),
                    $ro,
                    &[$($rdoc),*],
                );
            )*
            let every = "every event";
            doc_row(&mut o, every, "id", "16 hex digits, not all zeros; required", "event.id", &["Random 64-bit id, unique per event: every hop dedups on it."]);
            doc_row(&mut o, every, "t", "integer, ms since the epoch, before 2100; required", "timeUnixNano", &["When it happened (client clock)."]);
            doc_row(&mut o, every, "type", "one of the types below; required", "event.name", &["The kind of event; the OTLP event name is `browser.<type>`."]);
            doc_row(&mut o, every, "url", &format!("string ≤ {} bytes; optional", $crate::core::event::limits::URL), "url.full", &["The page URL, scrubbed at the edge with the envelope's `allow_query` (`protect::protect_urls`)."]);
            $(
                $(
                    doc_row(
                        &mut o,
                        concat!("`", $kw, "`"),
                        $fw,
                        &$crate::core::fields::__doc_value!(
                            $fty, $fp $(($fpe))?, &const { Rules::NONE $(.$fr($($($fra),*)?))* }
                        ),
                        $crate::core::fields::__otlp_key!($kp, $fw $(, $fo)?),
                        &[$($fdoc),*],
                    );
                )*
            )*
            o
        }
    };
}
pub(crate) use wire_schema;

/// A field's presence rule, as the decoder applies it.
#[doc(hidden)]
macro_rules! __presence {
    (required; $raw:expr, $w:expr, $r:expr) => {
        $crate::core::fields::required($raw, $w, $r)?
    };
    (optional; $raw:expr, $w:expr, $r:expr) => {
        $crate::core::fields::optional($raw, $w, $r, Default::default)?
    };
    (default($e:expr); $raw:expr, $w:expr, $r:expr) => {
        $crate::core::fields::optional($raw, $w, $r, || $e)?
    };
    (derived($e:expr); $raw:expr, $w:expr, $r:expr) => {
        $crate::core::fields::optional($raw, $w, $r, || $e)?
    };
    (edge($e:expr); $raw:expr, $w:expr, $r:expr) => {
        $crate::core::fields::optional($raw, $w, $r, || $e)?
    };
}
pub(crate) use __presence;

/// Writes an event field, unless the edge sets it (`edge(..)`: the SDK does not send it).
#[doc(hidden)]
macro_rules! __encode {
    (edge($e:expr); $f:ident, $o:ident, $w:expr, $($max:tt)*) => {
        let _ = $f;
    };
    // Derived from the fields sent: the edge computes it, so the SDK does not send it.
    (derived($e:expr); $f:ident, $o:ident, $w:expr, $($max:tt)*) => {
        let _ = $f;
    };
    ($p:ident $(($e:expr))?; $f:ident, $o:ident, $w:expr, $($max:tt)*) => {
        $crate::core::fields::Enc::enc($f, $o, $w, $($max)*)
    };
}
pub(crate) use __encode;

/// A writer's parameter type: `&()` for an `edge(..)` or `derived(..)` field (never sent by
/// the SDK), any
/// [`Enc`] value otherwise.
#[doc(hidden)]
macro_rules! __write_ty {
    (edge($e:expr)) => {
        &()
    };
    (derived($e:expr)) => {
        &()
    };
    ($p:ident $(($e:expr))?) => {
        &(impl $crate::core::fields::Enc + ?Sized)
    };
}
pub(crate) use __write_ty;

/// What [`EventKind::encode_fields`] passes a writer for a field: the value, or `&()` for an
/// `edge(..)` field.
#[doc(hidden)]
macro_rules! __write_arg {
    (edge($e:expr); $f:ident) => {
        &()
    };
    (derived($e:expr); $f:ident) => {
        &()
    };
    ($p:ident $(($e:expr))?; $f:ident) => {
        $f
    };
}
pub(crate) use __write_arg;

/// Whether an envelope field's value (a reference) is "not set": a `default(..)` field when it
/// equals its default, any other when empty ([`Field::is_unset`]).
#[doc(hidden)]
macro_rules! __unset {
    (default($e:expr); $v:expr) => {
        *$v == $e
    };
    ($p:ident; $v:expr) => {
        $v.is_unset()
    };
}
pub(crate) use __unset;

/// An envelope field's default value: its `default(..)`, else the type's.
#[doc(hidden)]
macro_rules! __default_value {
    (default($e:expr)) => {
        $e
    };
    ($p:ident) => {
        Default::default()
    };
}
pub(crate) use __default_value;

/// The docs' value column: the type's description and the presence rule.
#[doc(hidden)]
macro_rules! __doc_value {
    ($t:ty, required, $r:expr) => {
        format!(
            "{}; required",
            <$t as $crate::core::fields::Field>::describe($r)
        )
    };
    ($t:ty, optional, $r:expr) => {
        format!(
            "{}; optional",
            <$t as $crate::core::fields::Field>::describe($r)
        )
    };
    ($t:ty, default($e:expr), $r:expr) => {
        format!(
            "{}; default {}",
            <$t as $crate::core::fields::Field>::describe($r),
            $crate::core::fields::Field::show(&{
                let d: $t = $e;
                d
            })
        )
    };
    ($t:ty, derived($e:expr), $r:expr) => {
        format!(
            "{}; derived when absent",
            <$t as $crate::core::fields::Field>::describe($r)
        )
    };
    ($t:ty, edge($e:expr), $r:expr) => {
        format!(
            "{}; not sent by the SDK: set at the edge",
            <$t as $crate::core::fields::Field>::describe($r)
        )
    };
}
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use __doc_value;

/// An event field's OTLP key: the declared one, or the kind's prefix and the wire name.
#[doc(hidden)]
macro_rules! __otlp_key {
    ($p:literal, $w:literal, $o:literal) => {
        $o
    };
    ($p:literal, $w:literal) => {
        concat!($p, $w)
    };
}
pub(crate) use __otlp_key;

/// A kind's pattern or constructor: `E::V { a, b }`, or `E::V(S { a, b })` for `V(S)` kinds.
#[doc(hidden)]
macro_rules! __variant {
    ($E:ident :: $V:ident ($S:ident) { $($f:ident),* }) => {
        $E::$V($S { $($f),* })
    };
    ($E:ident :: $V:ident { $($f:ident),* }) => {
        $E::$V { $($f),* }
    };
}
pub(crate) use __variant;

/// The struct of a `V(S)` kind; nothing for the others.
#[doc(hidden)]
macro_rules! __kind_struct {
    ($(#[doc = $d:literal])* ($S:ident) { $( $(#[doc = $fd:literal])* $f:ident: $t:ty, )* }) => {
        $(#[doc = $d])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $S {
            $( $(#[doc = $fd])* pub $f: $t, )*
        }
    };
    ($(#[doc = $d:literal])* { $($x:tt)* }) => {};
}
pub(crate) use __kind_struct;

/// The `EventKind` enum, one variant per kind (a token muncher: variants differ in shape).
#[doc(hidden)]
macro_rules! __event_enum {
    ([$($acc:tt)*]) => {
        /// What happened: the type-specific part of an event.
        // The edge-only `report` kind (19 fields) makes the enum ~390 bytes where it exists
        // (the Worker and native builds; the browser build, where memory is dear, does not
        // have it). Boxing it would take patterns this macro cannot write on stable.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq)]
        pub enum EventKind {
            $($acc)*
        }
    };
    ([$($acc:tt)*] $(#[doc = $d:literal])* $(#[cfg($c:meta)])? $V:ident ($S:ident) { $($fields:tt)* } $($rest:tt)*) => {
        $crate::core::fields::__event_enum! { [$($acc)* $(#[doc = $d])* $(#[cfg($c)])? $V($S),] $($rest)* }
    };
    ([$($acc:tt)*] $(#[doc = $d:literal])* $(#[cfg($c:meta)])? $V:ident { $($fields:tt)* } $($rest:tt)*) => {
        $crate::core::fields::__event_enum! { [$($acc)* $(#[doc = $d])* $(#[cfg($c)])? $V { $($fields)* },] $($rest)* }
    };
}
pub(crate) use __event_enum;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::super::envelope::{Envelope, Header};
    use super::super::event::{Event, EventKind};
    use super::*;

    /// Found by the `envelope` fuzz target: two keys that differ only after the encoder's cut
    /// of their escaped form (here 11 control characters, 6 bytes each escaped, then `a` or
    /// `b`) were both written, as the same key, and the edge dropped the event for it.
    #[test]
    fn attribute_keys_that_collide_once_cut_are_written_once() {
        let ctl = "\u{1}".repeat(11);
        let attrs = vec![
            (format!("{ctl}a"), AttrValue::Num(1.0)),
            (format!("{ctl}b"), AttrValue::Num(2.0)),
            ("k".repeat(70) + "1", AttrValue::Bool(true)),
            ("k".repeat(70) + "2", AttrValue::Bool(false)),
            ("plain".into(), AttrValue::Str("v".into())),
        ];
        let ev = Event {
            id: 1,
            t: 1_764_000_000_000,
            url: String::new(),
            kind: EventKind::Custom {
                name: "n".into(),
                attrs,
            },
        };
        let body = Header::new("pk_demo", "0123456789abcdef0123456789abcdef")
            .encode_batch(1_764_000_000_000, &[ev.encode()]);
        let env = Envelope::decode(body.as_bytes()).unwrap_or_else(|e| panic!("{e}: {body}"));
        let EventKind::Custom { attrs, .. } = &env.events[0].kind else {
            panic!("{env:?}")
        };
        let keys: Vec<&str> = attrs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["\u{1}".repeat(10), "k".repeat(64), "plain".into()],
            "the first of each colliding pair is kept"
        );
        assert_eq!(attrs[0].1, AttrValue::Num(1.0));
        assert_eq!(attrs[1].1, AttrValue::Bool(true));
    }
}
