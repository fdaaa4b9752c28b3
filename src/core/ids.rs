//! Ids, hex and hashing without the formatting machinery (which would cost ~1 KB of wasm).

/// A splitmix64 generator: event ids only need to be unique, not secret, so one crypto seed per
/// page load is enough and the click path never calls into `crypto.getRandomValues`.
#[derive(Debug, Clone)]
pub struct IdGen {
    state: u64,
}

impl IdGen {
    /// A generator seeded from 8 random bytes.
    pub fn new(seed: u64) -> Self {
        IdGen { state: seed }
    }

    /// The next 64-bit value; never 0, so 0 can mean "no id".
    pub fn next_u64(&mut self) -> u64 {
        loop {
            self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            if z != 0 {
                return z;
            }
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `n` as exactly 16 lowercase hex digits.
pub fn push_hex64(out: &mut String, n: u64) {
    for shift in (0..16).rev() {
        out.push(HEX[((n >> (shift * 4)) & 0xF) as usize] as char);
    }
}

/// `n` as 16 lowercase hex digits.
pub fn hex64(n: u64) -> String {
    let mut s = String::with_capacity(16);
    push_hex64(&mut s, n);
    s
}

/// Parses exactly 16 hex digits (either case).
pub fn parse_hex64(s: &str) -> Option<u64> {
    if s.len() != 16 || !is_hex(s) {
        return None;
    }
    // Checked above: 16 digits of 0-9, a-f, A-F (`| 0x20` lower-cases the letters).
    Some(s.bytes().fold(0, |n, b| {
        n << 4
            | if b <= b'9' {
                b - b'0'
            } else {
                (b | 0x20) - b'a' + 10
            } as u64
    }))
}

/// `str::parse::<u64>` (an optional `+`, then decimal digits; `None` when there are none, for
/// any other byte and on overflow), without core's generic radix parser in the wasm.
pub fn parse_u64(s: &str) -> Option<u64> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.is_empty() {
        return None;
    }
    digits.bytes().try_fold(0u64, |n, b| {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n.checked_mul(10)?.checked_add(d as u64)
    })
}

/// True if `s` is non-empty and only hex digits.
pub fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// FNV-1a over bytes: tiny, and stable across both ends and releases.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_continue(0xcbf2_9ce4_8422_2325, bytes)
}

/// Continues an FNV-1a hash with more bytes.
pub fn fnv1a_continue(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// A well-mixed 64-bit hash of a string (FNV-1a, then the splitmix finaliser so that nearby
/// session ids spread over the whole range, which the sampler relies on).
pub fn mix_hash(s: &str) -> u64 {
    let mut z = fnv1a(s.as_bytes());
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_width() {
        for n in [0u64, 1, 0xdead_beef, u64::MAX] {
            let h = hex64(n);
            assert_eq!(h.len(), 16);
            assert_eq!(parse_hex64(&h), Some(n));
        }
        assert_eq!(hex64(0xab), "00000000000000ab");
        assert_eq!(parse_hex64("xyz"), None);
        assert_eq!(parse_hex64("+000000000000001"), None);
    }

    #[test]
    fn decimal_parsing_is_std_parsing() {
        for s in [
            "",
            "+",
            "-",
            "0",
            "+0",
            "-0",
            "007",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
            "1 ",
            " 1",
            "1a",
            "++1",
            "+-1",
            "\u{0661}",
        ] {
            assert_eq!(parse_u64(s), s.parse::<u64>().ok(), "{s:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn decimal_parsing_matches_std(s in "[+-]?[0-9]{0,22}|\\PC{0,8}") {
            proptest::prop_assert_eq!(parse_u64(&s), s.parse::<u64>().ok());
        }

        #[test]
        fn hex_parsing_matches_std(s in "[0-9a-fA-F]{16}|[0-9a-zA-Z+]{14,17}|\\PC{0,17}") {
            let want = if s.len() == 16 && is_hex(&s) { u64::from_str_radix(&s, 16).ok() } else { None };
            proptest::prop_assert_eq!(parse_hex64(&s), want);
        }
    }

    #[test]
    fn ids_are_unique_and_non_zero() {
        let mut g = IdGen::new(42);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100_000 {
            let id = g.next_u64();
            assert_ne!(id, 0);
            assert!(seen.insert(id), "duplicate id");
        }
    }

    #[test]
    fn fnv_known_vector() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
