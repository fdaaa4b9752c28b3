//! A minimal JSON writer for the encoder.
//!
//! The browser build cannot afford `serde_json` or `core::fmt` (about 1–2 KB of wasm each), and
//! the batcher needs the exact encoded size of every event, so events are written by hand here.
//! Decoding (at the edge) uses `serde_json`.

/// Appends `s` as a JSON string literal, writing at most `max` bytes of *escaped* content
/// (quotes excluded) and stopping on a character boundary. Bounding the escaped form, not the
/// raw one, is what keeps an event's encoded size bounded even for control-character garbage.
pub fn push_str(out: &mut String, s: &str, max: usize) {
    out.push('"');
    // One pass over the bytes: runs of bytes that need no escape are copied at once; `used`
    // counts the escaped bytes written so far. `s` is UTF-8, so a byte >= 0x80 seen here is a
    // character's first byte, and the whole character must fit.
    let b = s.as_bytes();
    let (mut used, mut run, mut i) = (0, 0, 0);
    while i < b.len() {
        let c = b[i];
        let escaped = c < 0x20 || c == b'"' || c == b'\\';
        let (need, len) = if escaped {
            (escaped_width(c), 1)
        } else if c < 0x80 {
            (1, 1)
        } else {
            let n = 2 + usize::from(c >= 0xE0) + usize::from(c >= 0xF0);
            (n, n)
        };
        if used + need > max {
            break;
        }
        if escaped {
            out.push_str(s.get(run..i).unwrap_or(""));
            push_escaped_byte(out, c);
            run = i + 1;
        }
        used += need;
        i += len;
    }
    out.push_str(s.get(run..i).unwrap_or(""));
    out.push('"');
}

/// How many bytes [`push_escaped_byte`] writes for `b`.
fn escaped_width(b: u8) -> usize {
    match b {
        b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 8 | 12 => 2,
        _ => 6,
    }
}

/// The length of `s` escaped as [`push_str`] writes it (quotes excluded).
pub fn escaped_len(s: &str) -> usize {
    s.bytes()
        .map(|b| {
            if b < 0x20 || b == b'"' || b == b'\\' {
                escaped_width(b)
            } else {
                1
            }
        })
        .sum()
}

pub(crate) fn push_escaped_byte(out: &mut String, b: u8) {
    match b {
        b'"' => out.push_str("\\\""),
        b'\\' => out.push_str("\\\\"),
        b'\n' => out.push_str("\\n"),
        b'\r' => out.push_str("\\r"),
        b'\t' => out.push_str("\\t"),
        8 => out.push_str("\\b"),
        12 => out.push_str("\\f"),
        n => {
            out.push_str("\\u00");
            out.push(HEX[(n >> 4) as usize] as char);
            out.push(HEX[(n & 0xF) as usize] as char);
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends an unsigned integer in decimal.
pub fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

/// Appends a signed integer in decimal.
pub fn push_i64(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_u64(out, n.unsigned_abs());
}

/// Digits kept after the decimal point: enough for CLS (0.000001) and sub-microsecond timings.
pub const FLOAT_DECIMALS: u32 = 6;
const FLOAT_SCALE: u64 = 1_000_000;
/// The value times 10^decimals is kept below this (2^49), where an f64 is exact to a fifth of
/// a unit even after a parse that is an ulp off: reading the written decimal back and writing
/// it again gives the same digits (decode → encode is a fixed point). Larger magnitudes get
/// fewer decimals (five from about 5.6e8, ...).
const SCALED_MAX: u64 = 1 << 49;
/// Magnitudes above this are written without a fraction (they are not telemetry values anyway).
const FLOAT_MAX_EXACT: f64 = 9_007_199_254_740_992.0; // 2^53

/// Appends a finite number with at most [`FLOAT_DECIMALS`] decimals (fewer from about 5.6e8,
/// none from about 5.6e14) and no exponent; NaN and infinities (which JSON cannot carry) are
/// written as 0. What it writes, read back, is written the same again.
pub fn push_f64(out: &mut String, v: f64) {
    if !v.is_finite() {
        out.push('0');
        return;
    }
    let neg = v < 0.0;
    let a = if neg { -v } else { v };
    // Round once at the scaled magnitude, then split: avoids 0.9999995 printing as "0.1000000".
    let mut unit = FLOAT_SCALE;
    let mut scaled = (a * unit as f64 + 0.5) as u64;
    while scaled >= SCALED_MAX && unit > 1 {
        unit /= 10;
        scaled = (a * unit as f64 + 0.5) as u64;
    }
    if scaled >= SCALED_MAX {
        // Integer part only; clamp so the cast is exact and never saturates silently.
        let whole = if a >= FLOAT_MAX_EXACT {
            FLOAT_MAX_EXACT
        } else {
            a
        } as u64;
        if neg && whole != 0 {
            out.push('-');
        }
        push_u64(out, whole);
        return;
    }
    let whole = scaled / unit;
    // As six digits (the ones past `unit` are zeros, trimmed below).
    let mut frac = scaled % unit * (FLOAT_SCALE / unit);
    if neg && scaled != 0 {
        out.push('-');
    }
    push_u64(out, whole);
    if frac != 0 {
        out.push('.');
        let mut digits = [b'0'; FLOAT_DECIMALS as usize];
        for d in digits.iter_mut().rev() {
            *d = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        let mut end = digits.len();
        while end > 0 && digits[end - 1] == b'0' {
            end -= 1;
        }
        for &b in &digits[..end] {
            out.push(b as char);
        }
    }
}

/// Appends `true` or `false`.
pub fn push_bool(out: &mut String, b: bool) {
    out.push_str(if b { "true" } else { "false" });
}

/// Writes the `,"key":` prefix of an object member (keys are trusted literals, never escaped).
pub fn push_key(out: &mut String, key: &str) {
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":");
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(v: f64) -> String {
        let mut s = String::new();
        push_f64(&mut s, v);
        s
    }

    #[test]
    fn floats_are_plain_decimals() {
        assert_eq!(f(0.0), "0");
        assert_eq!(f(-0.0), "0");
        assert_eq!(f(1.5), "1.5");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(0.000123), "0.000123");
        assert_eq!(f(0.0000004), "0");
        assert_eq!(f(0.9999996), "1");
        assert_eq!(f(-2.25), "-2.25");
        assert_eq!(f(1234.5678), "1234.5678");
        assert_eq!(f(f64::NAN), "0");
        assert_eq!(f(f64::INFINITY), "0");
        assert_eq!(f(1e300), "9007199254740992");
        assert_eq!(f(8855147457.854354), "8855147457.8544");
        assert_eq!(f(123456789.123456), "123456789.123456");
        assert_eq!(f(1e15 + 0.5), "1000000000000000");
    }

    #[test]
    fn strings_escape_and_bound_their_escaped_size() {
        let mut s = String::new();
        push_str(&mut s, "a\"b\\c\n\u{1}é", 100);
        assert_eq!(s, "\"a\\\"b\\\\c\\n\\u0001é\"");
        let mut s = String::new();
        push_str(&mut s, &"\u{1}".repeat(100), 13);
        assert_eq!(s, format!("\"{}\"", "\\u0001".repeat(2)));
        let mut s = String::new();
        push_str(&mut s, "ééé", 5);
        assert_eq!(s, "\"éé\"");
    }

    proptest! {
        #[test]
        fn any_string_round_trips_through_serde_json(input in any::<String>()) {
            let mut s = String::new();
            push_str(&mut s, &input, usize::MAX);
            let back: String = serde_json::from_str(&s).unwrap();
            prop_assert_eq!(back, input);
        }

        #[test]
        fn bounded_string_is_a_prefix_within_budget(input in any::<String>(), max in 0usize..64) {
            let mut s = String::new();
            push_str(&mut s, &input, max);
            prop_assert!(s.len() <= max + 2);
            let back: String = serde_json::from_str(&s).unwrap();
            prop_assert!(input.starts_with(&back));
        }

        #[test]
        fn integers_match_std(n in any::<i64>(), u in any::<u64>()) {
            let mut s = String::new();
            push_i64(&mut s, n);
            prop_assert_eq!(s, n.to_string());
            let mut s = String::new();
            push_u64(&mut s, u);
            prop_assert_eq!(s, u.to_string());
        }

        #[test]
        fn floats_parse_back_within_half_a_micro_unit(v in -1e9f64..1e9) {
            let back: f64 = serde_json::from_str(&f(v)).unwrap();
            // Six decimals up to about 5.6e8, then one fewer per decade.
            prop_assert!((back - v).abs() <= 0.5e-6 + v.abs() * 1e-14, "{} -> {}", v, back);
        }

        /// Found by the `envelope` fuzz target: 8855147457.854354 was written ….854356, read
        /// back and written ….854358, and so on (six decimals of a number that large are more
        /// digits than an f64 holds), so a decoded batch did not re-encode to a fixed point.
        #[test]
        fn what_is_written_reads_back_to_the_same_text(
            v in prop_oneof![any::<f64>(), -1e16f64..1e16, -1e10f64..1e10, 1e8f64..1e10, -1e3f64..1e3]
        ) {
            let once = f(v);
            let back: f64 = serde_json::from_str(&once).unwrap();
            prop_assert_eq!(f(back), once.clone(), "{} -> {} -> {}", v, once, back);
        }
    }
}
