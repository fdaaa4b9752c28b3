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
            let z = mix64(self.state);
            if z != 0 {
                return z;
            }
        }
    }
}

/// The splitmix64 finaliser: a bijection on 64 bits in which every input bit flips each output
/// bit with probability about 1/2.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A page's id seed from four 32-bit random words (`crypto.getRandomValues`, or `Math.random`
/// where crypto is missing). The first two words pass through the finaliser, the last two are
/// XORed in and the result passes through it again, so every input bit reaches all 64 output
/// bits: words that vary in a few bits only (a weak fallback) still give seeds spread over the
/// whole range, and two pages whose words differ anywhere get unrelated id sequences.
pub fn seed(w: [u32; 4]) -> u64 {
    let word = |i: usize| (w[i] as u64) << 32 | w[i + 1] as u64;
    mix64(mix64(word(0)) ^ word(2))
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

/// `str::parse::<u64>` for at most 19 decimal digits (an optional `+`, then the digits; `None`
/// when there are none, more, or any other byte): every number below 10^19, which is all the
/// SDK writes (times in ms), without an overflow check (128-bit multiplication in wasm32) or
/// core's generic radix parser.
pub fn parse_u64(s: &str) -> Option<u64> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.bytes().try_fold(0u64, |n, b| {
        let d = b.wrapping_sub(b'0');
        (d <= 9).then(|| n * 10 + d as u64)
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
    mix64(fnv1a(s.as_bytes()))
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
            "9999999999999999999",
            "1 ",
            " 1",
            "1a",
            "++1",
            "+-1",
            "\u{0661}",
        ] {
            assert_eq!(parse_u64(s), s.parse::<u64>().ok(), "{s:?}");
        }
        // Twenty digits are refused, even those std would read.
        for s in [
            "18446744073709551615",
            "18446744073709551616",
            "00000000000000000001",
        ] {
            assert_eq!(parse_u64(s), None, "{s:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn decimal_parsing_matches_std(s in "[+-]?[0-9]{0,22}|\\PC{0,8}") {
            let digits = s.strip_prefix('+').unwrap_or(&s).len();
            let want = s.parse::<u64>().ok().filter(|_| digits <= 19);
            proptest::prop_assert_eq!(parse_u64(&s), want);
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
    fn seeds_spread_over_all_64_bits() {
        // Inputs of several kinds, each a poor source on its own: a counter in each of the four
        // words (only low bits change), one bit set anywhere in the 128, and words from a weak
        // source (whole numbers below 2^20).
        let mut groups: Vec<Vec<[u32; 4]>> = (0..4)
            .map(|word| {
                (1..=256u32)
                    .map(|i| {
                        let mut w = [0; 4];
                        w[word] = i;
                        w
                    })
                    .collect()
            })
            .collect();
        groups.push(
            (0..128)
                .map(|bit| {
                    let mut w = [0; 4];
                    w[bit / 32] = 1 << (bit % 32);
                    w
                })
                .collect(),
        );
        groups.push(
            (0..256u32)
                .map(|i| [0, 3, 6, 9].map(|s| (i.wrapping_mul(2_654_435_761) >> s) & 0xF_FFFF))
                .collect(),
        );
        let mut all = std::collections::HashMap::new();
        for (g, group) in groups.iter().enumerate() {
            let seeds: Vec<u64> = group.iter().map(|w| seed(*w)).collect();
            for (w, s) in group.iter().zip(&seeds) {
                if let Some(other) = all.insert(*s, *w) {
                    assert_eq!(other, *w, "two inputs, one seed");
                }
            }
            let (ones, zeros) = seeds.iter().fold((0u64, 0u64), |(o, z), s| (o | s, z | !s));
            assert_eq!(ones, u64::MAX, "every bit is 1 in some seed of group {g}");
            assert_eq!(zeros, u64::MAX, "every bit is 0 in some seed of group {g}");
            // Not just once: each bit is set in 25-75 % of the group's seeds.
            for b in 0..64 {
                let set = seeds.iter().filter(|s| *s >> b & 1 == 1).count();
                let n = seeds.len();
                assert!(
                    (n / 4..n * 3 / 4).contains(&set),
                    "group {g}, bit {b}: {set} of {n}"
                );
            }
        }
        // Two seeds whose words differ in one bit give unrelated id sequences.
        let mut a = IdGen::new(seed([1, 2, 3, 4]));
        let mut b = IdGen::new(seed([1, 2, 3, 5]));
        for _ in 0..1000 {
            let (x, y) = (a.next_u64(), b.next_u64());
            assert!((x ^ y).count_ones() > 8, "{x:x} {y:x}");
        }
    }

    #[test]
    fn fnv_known_vector() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
