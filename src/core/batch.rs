//! The byte- and count-budgeted batcher.
//!
//! Events arrive already encoded (so their exact size is known once, on the cheap path) and
//! leave as batches whose encoded envelope never exceeds the budget: a beacon over 64 KiB is
//! refused by the browser and would be lost.

use super::event::limits;

/// Groups encoded events into batches within a byte and a count budget, keeping their order.
#[derive(Debug)]
pub struct Batcher {
    capacity: usize,
    max_events: usize,
    events: Vec<String>,
    bytes: usize,
}

impl Batcher {
    /// A batcher whose batches, wrapped in an envelope adding at most `overhead` bytes, stay
    /// within `max_bytes` and `max_events`. `max_bytes` is raised if needed so that one event of
    /// the largest size the encoder produces ([`limits::EVENT_BYTES`]) always fits.
    pub fn new(max_bytes: usize, max_events: usize, overhead: usize) -> Self {
        let capacity = max_bytes.saturating_sub(overhead).max(limits::EVENT_BYTES);
        Batcher {
            capacity,
            max_events: max_events.max(1),
            events: Vec::new(),
            bytes: 0,
        }
    }

    /// Adds an event. Returns a batch when one is complete: the pending events if `event` does
    /// not fit beside them (then `event` starts the next batch), or all of them including
    /// `event` when the count budget is reached.
    pub fn push(&mut self, event: String) -> Option<Vec<String>> {
        let added = event.len() + usize::from(!self.events.is_empty());
        let out = if !self.events.is_empty() && self.bytes + added > self.capacity {
            Some(self.take())
        } else {
            None
        };
        self.bytes += event.len() + usize::from(!self.events.is_empty());
        self.events.push(event);
        if out.is_none() && self.events.len() >= self.max_events {
            return Some(self.take());
        }
        out
    }

    /// Takes whatever is pending (possibly nothing).
    pub fn take(&mut self) -> Vec<String> {
        self.bytes = 0;
        std::mem::take(&mut self.events)
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Pending event count.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Pending bytes (events and the commas between them).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The byte budget for events inside one batch.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ev(n: usize, tag: usize) -> String {
        let mut s = tag.to_string();
        while s.len() < n {
            s.push('x');
        }
        s
    }

    #[test]
    fn count_budget_closes_a_batch() {
        let mut b = Batcher::new(64 * 1024, 3, 100);
        assert!(b.push(ev(10, 1)).is_none());
        assert!(b.push(ev(10, 2)).is_none());
        let batch = b.push(ev(10, 3)).expect("third event completes the batch");
        assert_eq!(batch.len(), 3);
        assert!(b.is_empty());
    }

    #[test]
    fn byte_budget_moves_the_overflowing_event_to_the_next_batch() {
        let mut b = Batcher::new(20_000, 200, 0);
        assert_eq!(b.capacity(), 20_000);
        assert_eq!(
            Batcher::new(1_000, 200, 0).capacity(),
            limits::EVENT_BYTES,
            "one max event always fits"
        );
        assert!(b.push(ev(10_000, 1)).is_none());
        let batch = b.push(ev(10_000, 2)).expect("second does not fit");
        assert_eq!(batch, vec![ev(10_000, 1)]);
        assert_eq!(b.take(), vec![ev(10_000, 2)]);
    }

    proptest! {
        #[test]
        fn never_exceeds_budget_never_drops_or_reorders(
            sizes in proptest::collection::vec(1usize..limits::EVENT_BYTES, 0..300),
            max_bytes in 1usize..70_000,
            max_events in 1usize..250,
            overhead in 0usize..300,
        ) {
            let mut b = Batcher::new(max_bytes, max_events, overhead);
            let input: Vec<String> = sizes.iter().enumerate().map(|(i, &n)| ev(n, i)).collect();
            let mut out: Vec<Vec<String>> = Vec::new();
            for e in input.clone() {
                if let Some(batch) = b.push(e) {
                    out.push(batch);
                }
            }
            out.push(b.take());
            let budget = max_bytes.max(limits::EVENT_BYTES + overhead);
            for batch in &out {
                let size: usize = overhead + batch.iter().map(|e| e.len()).sum::<usize>()
                    + batch.len().saturating_sub(1);
                prop_assert!(size <= budget, "batch of {} bytes > {}", size, budget);
                prop_assert!(batch.len() <= max_events);
            }
            let flat: Vec<String> = out.into_iter().flatten().collect();
            prop_assert_eq!(flat, input);
        }
    }
}
