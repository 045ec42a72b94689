//! Latency samples and their percentiles.

use std::time::Duration;

/// Latencies in microseconds, sorted once when summarised. Four bytes a sample: a few
/// million samples (a long run of a cheap scenario) stay well under 100 MiB.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    micros: Vec<u32>,
    sorted: bool,
}

impl Latencies {
    /// Records one latency (saturating at about 71 minutes).
    pub fn record(&mut self, d: Duration) {
        self.micros
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
        self.sorted = false;
    }

    /// Takes in another worker's samples.
    pub fn merge(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
        self.sorted = false;
    }

    /// How many samples there are.
    pub fn len(&self) -> usize {
        self.micros.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    /// The `p`-th percentile (0 < `p` ≤ 100) by nearest rank: the smallest sample such that
    /// at least `p` % of the samples are at most it. `None` without samples.
    pub fn percentile(&mut self, p: f64) -> Option<Duration> {
        if self.micros.is_empty() {
            return None;
        }
        if !self.sorted {
            self.micros.sort_unstable();
            self.sorted = true;
        }
        let n = self.micros.len();
        // p × n first: exact for whole p, where (p / 100) × n can land just above an integer.
        let rank = (p * n as f64 / 100.0).ceil() as usize;
        let index = rank.clamp(1, n) - 1;
        self.micros
            .get(index)
            .map(|&us| Duration::from_micros(u64::from(us)))
    }

    /// The largest sample.
    pub fn max(&self) -> Option<Duration> {
        self.micros
            .iter()
            .max()
            .map(|&us| Duration::from_micros(u64::from(us)))
    }

    /// The arithmetic mean.
    pub fn mean(&self) -> Option<Duration> {
        if self.micros.is_empty() {
            return None;
        }
        let sum: u64 = self.micros.iter().map(|&us| u64::from(us)).sum();
        Some(Duration::from_micros(sum / self.micros.len() as u64))
    }
}
