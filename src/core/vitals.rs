//! Core Web Vitals math, as the web-vitals library defines it, kept out of the browser glue so
//! that it is tested natively: ratings, CLS session windows and INP's high-percentile pick.

pub use super::schema::{Metric, Rating};

impl Metric {
    /// The wire name.
    pub fn name(self) -> &'static str {
        self.as_str()
    }

    /// The "good" and "poor" thresholds from web.dev.
    fn thresholds(self) -> (f64, f64) {
        match self {
            Metric::Lcp => (2500.0, 4000.0),
            Metric::Inp => (200.0, 500.0),
            Metric::Cls => (0.1, 0.25),
            Metric::Fcp => (1800.0, 3000.0),
            Metric::Ttfb => (800.0, 1800.0),
        }
    }

    /// How `value` rates against the metric's thresholds.
    pub fn rating(self, value: f64) -> Rating {
        let (good, poor) = self.thresholds();
        if value <= good {
            Rating::Good
        } else if value <= poor {
            Rating::NeedsImprovement
        } else {
            Rating::Poor
        }
    }
}

/// CLS: the largest sum of layout shifts in a session window (shifts less than 1 s apart,
/// window at most 5 s), ignoring shifts right after input.
#[derive(Debug, Default, Clone)]
pub struct Cls {
    window_value: f64,
    window_first: f64,
    window_last: f64,
    max: f64,
}

impl Cls {
    /// Adds one `layout-shift` entry.
    pub fn add(&mut self, value: f64, start_time: f64, had_recent_input: bool) {
        if had_recent_input || !value.is_finite() || value < 0.0 {
            return;
        }
        if self.window_value > 0.0
            && start_time - self.window_last < 1000.0
            && start_time - self.window_first < 5000.0
        {
            self.window_value += value;
        } else {
            self.window_value = value;
            self.window_first = start_time;
        }
        self.window_last = start_time;
        if self.window_value > self.max {
            self.max = self.window_value;
        }
    }

    /// The current CLS value.
    pub fn value(&self) -> f64 {
        self.max
    }
}

/// INP: the worst interaction latency, or roughly the 98th percentile when there are many
/// (one in every 50 interactions is ignored), from `event` timing entries grouped by
/// interaction id.
#[derive(Debug, Default, Clone)]
pub struct Inp {
    /// The longest interactions seen: (interaction id, latency), longest first, at most 10.
    longest: Vec<(u64, f64)>,
    count: u32,
}

const INP_KEEP: usize = 10;

impl Inp {
    /// Adds one `event` / `first-input` entry; entries with interaction id 0 are not
    /// interactions (hover, scroll) and are ignored.
    pub fn add(&mut self, interaction_id: u64, duration: f64) {
        if interaction_id == 0 || !duration.is_finite() {
            return;
        }
        // Kept sorted longest-first by insertion: a general sort would add ~3 KB to the wasm.
        let mut duration = duration;
        if let Some(i) = self
            .longest
            .iter()
            .position(|&(id, _)| id == interaction_id)
        {
            let (_, d) = self.longest.remove(i);
            duration = duration.max(d);
        } else {
            self.count += 1;
        }
        let at = self
            .longest
            .iter()
            .position(|&(_, d)| d < duration)
            .unwrap_or(self.longest.len());
        if at < INP_KEEP {
            self.longest.insert(at, (interaction_id, duration));
            self.longest.truncate(INP_KEEP);
        }
    }

    /// Number of distinct interactions seen.
    pub fn interactions(&self) -> u32 {
        self.count
    }

    /// The current INP, if there was any interaction. `interaction_count` is the browser's
    /// `performance.interactionCount` when it has one (it also counts interactions too quick to
    /// get an entry); otherwise pass 0 to use the number seen here.
    pub fn value(&self, interaction_count: u32) -> Option<f64> {
        let n = if interaction_count > 0 {
            interaction_count
        } else {
            self.count
        };
        let idx = ((n / 50) as usize).min(self.longest.len().checked_sub(1)?);
        Some(self.longest[idx].1)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn ratings_match_web_dev_thresholds() {
        use Rating::*;
        assert_eq!(Metric::Lcp.rating(2500.0), Good);
        assert_eq!(Metric::Lcp.rating(2501.0), NeedsImprovement);
        assert_eq!(Metric::Lcp.rating(4001.0), Poor);
        assert_eq!(Metric::Cls.rating(0.1), Good);
        assert_eq!(Metric::Cls.rating(0.2), NeedsImprovement);
        assert_eq!(Metric::Inp.rating(600.0), Poor);
        assert_eq!(Metric::Ttfb.rating(100.0), Good);
        assert_eq!(Metric::Fcp.rating(2000.0), NeedsImprovement);
        assert_eq!(Rating::NeedsImprovement.as_str(), "needs-improvement");
    }

    #[test]
    fn cls_takes_the_largest_session_window() {
        let mut c = Cls::default();
        c.add(0.1, 0.0, false);
        c.add(0.1, 500.0, false); // same window: 0.2
        c.add(0.05, 3000.0, false); // gap > 1 s: new window 0.05
        c.add(0.5, 3100.0, true); // after input: ignored
        assert!((c.value() - 0.2).abs() < 1e-12);
        // A window is capped at 5 s even with no gap.
        let mut c = Cls::default();
        for i in 0..12 {
            c.add(0.1, i as f64 * 900.0, false);
        }
        assert!((c.value() - 0.6).abs() < 1e-9, "{}", c.value());
    }

    #[test]
    fn inp_is_the_worst_until_fifty_interactions() {
        let mut inp = Inp::default();
        assert_eq!(inp.value(0), None);
        inp.add(1, 40.0);
        inp.add(1, 120.0); // same interaction, longer entry
        inp.add(2, 80.0);
        inp.add(0, 900.0); // not an interaction
        assert_eq!(inp.value(0), Some(120.0));
        assert_eq!(inp.interactions(), 2);
        let mut inp = Inp::default();
        for i in 1..=120u64 {
            inp.add(i, i as f64);
        }
        // 120 interactions: ignore the 2 worst -> third longest.
        assert_eq!(inp.value(0), Some(118.0));
        assert_eq!(inp.value(1000), Some(111.0), "index capped at the 10 kept");
    }
}
