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
    u64::from_str_radix(s, 16).ok()
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
