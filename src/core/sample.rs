//! Consistent sampling by session: a session is either fully in or fully out, so funnels and
//! screen times stay whole, and the same decision is reached by the browser and the edge.

use super::ids::mix_hash;

/// Keeps a deterministic fraction of sessions; errors are always kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampler {
    rate: f64,
}

impl Sampler {
    /// A sampler keeping `rate` (clamped to 0..=1) of sessions.
    pub fn new(rate: f64) -> Self {
        let rate = if rate.is_nan() {
            1.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        Sampler { rate }
    }

    /// The rate in force.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Where a session falls in [0, 1): a fixed point per session id, so a session kept at rate
    /// r is kept at every rate above r (monotone), and the decision never flips mid-session.
    pub fn position(session: &str) -> f64 {
        (mix_hash(session) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether an event of this session is kept.
    pub fn keep(&self, session: &str, is_error: bool) -> bool {
        is_error || self.keep_session(session)
    }

    /// Whether a session's non-error events are kept.
    pub fn keep_session(&self, session: &str) -> bool {
        self.rate >= 1.0 || Self::position(session) < self.rate
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::ids::{hex64, IdGen};
    use proptest::prelude::*;

    fn session(g: &mut IdGen) -> String {
        hex64(g.next_u64()) + &hex64(g.next_u64())
    }

    #[test]
    fn extremes_and_errors() {
        let mut g = IdGen::new(7);
        for _ in 0..1000 {
            let s = session(&mut g);
            assert!(Sampler::new(1.0).keep(&s, false));
            assert!(!Sampler::new(0.0).keep(&s, false));
            assert!(Sampler::new(0.0).keep(&s, true), "errors are always kept");
        }
    }

    #[test]
    fn keeps_about_the_configured_fraction() {
        let mut g = IdGen::new(99);
        let s = Sampler::new(0.25);
        let kept = (0..20_000)
            .filter(|_| s.keep(&session(&mut g), false))
            .count();
        assert!(
            (4_500..5_500).contains(&kept),
            "kept {kept} of 20000 at 0.25"
        );
    }

    proptest! {
        #[test]
        fn deterministic_and_monotone(sess in "[0-9a-f]{32}", r1 in 0.0f64..=1.0, r2 in 0.0f64..=1.0) {
            let (lo, hi) = if r1 <= r2 { (r1, r2) } else { (r2, r1) };
            let a = Sampler::new(lo).keep(&sess, false);
            prop_assert_eq!(a, Sampler::new(lo).keep(&sess, false));
            if a {
                prop_assert!(Sampler::new(hi).keep(&sess, false));
            }
        }
    }
}
