//! `metric: throughput`: size on inflow plus backlog, not on backlog alone. The value served is
//! produce rate + lag / drainSeconds, in messages per second, against a target of
//! replicaThroughput (what one replica handles) with `AverageValue`: replicas =
//! ceil(value / replicaThroughput), enough to keep up with the arrivals and work the backlog
//! off in `drainSeconds`. While no rate is known yet (a cold start), the value is the lag term
//! alone, and that is logged and counted.

use std::time::Duration;

use super::rate::Rates;

/// The throughput metric's settings, valid by construction (see `trigger::strategy`).
#[derive(Debug, Clone, PartialEq)]
pub struct ThroughputPolicy {
    /// Messages per second one replica handles: the target; > 0.
    pub replica_throughput: f64,
    /// How fast a backlog should be worked off.
    pub drain: Duration,
    /// The window the produce rate is measured over.
    pub rate_window: Duration,
}

/// The value served, and whether it had to do without a rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    pub value: f64,
    /// No produce rate yet: `value` is the lag term alone.
    pub without_rate: bool,
    /// The value was capped at partitions × replicaThroughput.
    pub capped: bool,
}

impl ThroughputPolicy {
    /// How often offsets are sampled: twelve samples per window, between 1 s and 30 s apart.
    pub fn sample_interval(&self) -> Duration {
        (self.rate_window / 12).clamp(Duration::from_secs(1), Duration::from_secs(30))
    }

    /// produce rate + lag / drain; capped, when `max_partitions` is given (idle consumers not
    /// allowed), at what that many replicas handle.
    pub fn value(
        &self,
        lag: u64,
        rates: Option<&Rates>,
        max_partitions: Option<u64>,
    ) -> Throughput {
        let drain = lag as f64 / self.drain.as_secs_f64();
        let raw = rates.map_or(drain, |r| r.produce + drain);
        let cap = max_partitions.map(|p| p as f64 * self.replica_throughput);
        let value = cap.map_or(raw, |cap| raw.min(cap));
        Throughput {
            value,
            without_rate: rates.is_none(),
            capped: value < raw,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThroughputPolicy {
        ThroughputPolicy {
            replica_throughput: 100.0,
            drain: Duration::from_secs(120),
            rate_window: Duration::from_secs(60),
        }
    }

    #[test]
    fn inflow_plus_backlog() {
        let rates = Rates {
            produce: 450.0,
            consume: Some(400.0),
            span: Duration::from_secs(60),
        };
        // 450/s arriving + 12,000 backlog over 120 s = 550/s: 6 replicas of 100/s.
        let served = policy().value(12_000, Some(&rates), None);
        assert_eq!(
            served,
            Throughput {
                value: 550.0,
                without_rate: false,
                capped: false
            }
        );
        // Cold start: the backlog term alone, and said so.
        let cold = policy().value(12_000, None, None);
        assert_eq!(
            cold,
            Throughput {
                value: 100.0,
                without_rate: true,
                capped: false
            }
        );
        // Never more than the partitions' worth of replicas when idle consumers are not allowed.
        let capped = policy().value(12_000, Some(&rates), Some(4));
        assert_eq!(
            capped,
            Throughput {
                value: 400.0,
                without_rate: false,
                capped: true
            }
        );
        assert_eq!(policy().sample_interval(), Duration::from_secs(5));
    }
}
