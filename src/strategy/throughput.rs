//! `metric: throughput`: size on inflow plus backlog, not on backlog alone. The value served is
//! produce rate + lag / drainSeconds, in messages per second, against a target of
//! replicaThroughput (what one replica handles) with `AverageValue`: replicas =
//! ceil(value / replicaThroughput), enough to keep up with the arrivals and work the backlog
//! off in `drainSeconds`. While no rate is known yet (a cold start), the value is the lag term
//! alone, and that is logged and counted.
//!
//! With `replicaThroughput: auto` the rate one replica handles is learned
//! ([`super::replica_rate`]) and may change, while the target KEDA gives the HPA is fixed when
//! the ScaledObject is reconciled (kedacore/keda `controllers/keda/hpa.go`,
//! `getScaledObjectMetricSpecs`, writes GetMetricSpec's target into the HPA). With
//! `AverageValue` the HPA asks for ceil(value / target) replicas (kubernetes
//! `pkg/controller/podautoscaler/replica_calculator.go`, `GetExternalPerPodMetricReplicas`,
//! outside its tolerance). So the value is served in percent of one replica's work:
//! (produce rate + lag / drainSeconds) ÷ the rate × 100, against a target of
//! [`AUTO_TARGET`] = 100, and `kubectl describe hpa` reads as the load per replica in percent
//! of what one handles, like a CPU trigger. The rate divided by is the learned one; until
//! there is one, `replicaThroughputInitial`. Without it, the value first lets the consumers
//! teach their rate:
//! - consumers with a backlog (of [`BUSY_SECS`] of their work) are held where they are
//!   (`held`: one replica per consumer), so that their busy windows, unbroken by a rebalance,
//!   are learned: three of them, about three minutes with the default window;
//! - consumers that keep up are asked to shrink to [`PROBE_SHARE`] of their number (`probing`):
//!   never busy, they would teach nothing, and a fleet left over-sized (lagscale restarted at
//!   night) would stay so. The fewer consumers then get busy, and are held;
//! - no consumers: one replica for a lag (`held`);
//! - consumers unknown (the broker does not say who consumes): no value; `serve` answers an
//!   error, which leaves the HPA where it is.

use std::time::Duration;

use super::rate::Rates;
use super::replica_rate::{BUSY_SECS, Learned};

/// `replicaThroughput: auto`'s target: the value is in percent of one replica's rate.
pub const AUTO_TARGET: f64 = 100.0;

/// While learning with nothing configured, consumers that keep up are asked to shrink to this
/// share of their number, rounded down (beyond the HPA's 10 % tolerance), and by one at least.
pub const PROBE_SHARE: f64 = 0.8;

/// `replicaThroughput`: configured, or learned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReplicaThroughput {
    /// Messages per second one replica handles; > 0. The target.
    Fixed(f64),
    /// `auto`: learned from the consumers; `initial` (`replicaThroughputInitial`, > 0) is
    /// used until then.
    Auto { initial: Option<f64> },
}

/// Where the rate a value was divided by came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateBasis {
    /// `replicaThroughput` as configured.
    Configured,
    /// Learned from busy windows.
    Learned,
    /// `replicaThroughputInitial`, while learning.
    Initial,
    /// Consumers keeping up, while learning: fewer asked for.
    Probing,
    /// Nothing to divide by: one replica per consumer.
    Held,
    /// Who consumes is not known: nothing can be served.
    Unknown,
}

impl RateBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            RateBasis::Configured => "configured",
            RateBasis::Learned => "learned",
            RateBasis::Initial => "initial",
            RateBasis::Probing => "probing",
            RateBasis::Held => "held",
            RateBasis::Unknown => "unknown",
        }
    }
}

/// The throughput metric's settings, valid by construction (see `trigger::strategy`).
#[derive(Debug, Clone, PartialEq)]
pub struct ThroughputPolicy {
    /// Messages per second one replica handles, or `auto`.
    pub replica_throughput: ReplicaThroughput,
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
    /// Messages per second per replica the value was sized with, and where it came from.
    pub per_replica: Option<f64>,
    pub basis: RateBasis,
}

impl ThroughputPolicy {
    /// How often offsets are sampled: twelve samples per window, between 1 s and 30 s apart.
    pub fn sample_interval(&self) -> Duration {
        (self.rate_window / 12).clamp(Duration::from_secs(1), Duration::from_secs(30))
    }

    /// The target KEDA gives the HPA.
    pub fn target(&self) -> f64 {
        match self.replica_throughput {
            ReplicaThroughput::Fixed(rate) => rate,
            ReplicaThroughput::Auto { .. } => AUTO_TARGET,
        }
    }

    /// produce rate + lag / drain, in the target's units; capped, when `max_partitions` is
    /// given (idle consumers not allowed), at what that many replicas handle. `learned` is
    /// what `auto` knows (ignored with a configured rate).
    pub fn value(
        &self,
        lag: u64,
        rates: Option<&Rates>,
        max_partitions: Option<u64>,
        learned: Option<&Learned>,
    ) -> Throughput {
        let drain = lag as f64 / self.drain.as_secs_f64();
        let demand = rates.map_or(drain, |r| r.produce + drain);
        let (raw, per_replica, basis) = match self.replica_throughput {
            ReplicaThroughput::Fixed(rate) => (demand, Some(rate), RateBasis::Configured),
            ReplicaThroughput::Auto { initial } => {
                let consumers = learned.and_then(|l| l.consumers);
                let consume = rates.and_then(|r| r.consume).unwrap_or(0.0);
                let keeping_up = (lag as f64) < BUSY_SECS * consume;
                let sized = learned
                    .and_then(|l| l.estimate)
                    .map(|r| (r, RateBasis::Learned))
                    .or(initial.map(|r| (r, RateBasis::Initial)));
                match (sized, consumers) {
                    (Some((rate, basis)), _) => (demand / rate * AUTO_TARGET, Some(rate), basis),
                    (None, None) => (0.0, None, RateBasis::Unknown),
                    (None, Some(0)) => {
                        let one = f64::from(u8::from(lag > 0));
                        (one * AUTO_TARGET, None, RateBasis::Held)
                    }
                    (None, Some(c)) if !keeping_up => {
                        (f64::from(c) * AUTO_TARGET, None, RateBasis::Held)
                    }
                    (None, Some(c)) => {
                        let fewer = (f64::from(c) * PROBE_SHARE).floor().min(f64::from(c - 1));
                        (fewer * AUTO_TARGET, None, RateBasis::Probing)
                    }
                }
            }
        };
        let cap = max_partitions.map(|p| p as f64 * self.target());
        let value = cap.map_or(raw, |cap| raw.min(cap));
        Throughput {
            value,
            without_rate: rates.is_none(),
            capped: value < raw,
            per_replica,
            basis,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThroughputPolicy {
        ThroughputPolicy {
            replica_throughput: ReplicaThroughput::Fixed(100.0),
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
        let served = policy().value(12_000, Some(&rates), None, None);
        assert_eq!(
            served,
            Throughput {
                value: 550.0,
                without_rate: false,
                capped: false,
                per_replica: Some(100.0),
                basis: RateBasis::Configured,
            }
        );
        // Cold start: the backlog term alone, and said so.
        let cold = policy().value(12_000, None, None, None);
        assert_eq!(
            cold,
            Throughput {
                value: 100.0,
                without_rate: true,
                capped: false,
                per_replica: Some(100.0),
                basis: RateBasis::Configured,
            }
        );
        // Never more than the partitions' worth of replicas when idle consumers are not allowed.
        let capped = policy().value(12_000, Some(&rates), Some(4), None);
        assert_eq!(
            capped,
            Throughput {
                value: 400.0,
                without_rate: false,
                capped: true,
                per_replica: Some(100.0),
                basis: RateBasis::Configured,
            }
        );
        assert_eq!(policy().sample_interval(), Duration::from_secs(5));
    }

    #[test]
    fn auto_serves_percent_of_one_replica() {
        let auto = |initial| ThroughputPolicy {
            replica_throughput: ReplicaThroughput::Auto { initial },
            ..policy()
        };
        let rates = Rates {
            produce: 450.0,
            consume: Some(400.0),
            span: Duration::from_secs(60),
        };
        let learned = |estimate, consumers| Learned {
            estimate,
            windows: 3,
            last_skip: None,
            consumers,
        };
        let value = |initial, learned: Option<Learned>, lag| {
            let served = auto(initial).value(lag, Some(&rates), None, learned.as_ref());
            (served.value, served.basis)
        };
        // 550/s of demand over a learned 110/s: 5 replicas' worth, 500 %.
        let known = learned(Some(110.0), Some(4));
        assert_eq!(
            value(None, Some(known), 12_000),
            (500.0, RateBasis::Learned)
        );
        assert_eq!(auto(None).target(), AUTO_TARGET);
        // Learning: the initial rate; without it, busy consumers (12,000 waiting is 30 s of
        // their 400/s) are held.
        let learning = learned(None, Some(4));
        assert_eq!(
            value(Some(50.0), Some(learning), 12_000),
            (1_100.0, RateBasis::Initial)
        );
        assert_eq!(
            value(None, Some(learning), 12_000),
            (400.0, RateBasis::Held)
        );
        // Keeping up (2,000 waiting is 5 s of work): fewer asked for, to learn.
        assert_eq!(
            value(None, Some(learning), 2_000),
            (300.0, RateBasis::Probing)
        );
        // A backlog nobody consumes: held; no consumers: one for a lag; nobody known: nothing.
        let held = |consumers, consume| {
            let rates = Rates { consume, ..rates };
            let learned = learned(None, consumers);
            let served = auto(None).value(10, Some(&rates), None, Some(&learned));
            (served.value, served.basis)
        };
        assert_eq!(held(Some(4), Some(0.0)), (400.0, RateBasis::Held));
        assert_eq!(held(Some(0), None), (100.0, RateBasis::Held));
        assert_eq!(held(None, Some(400.0)).1, RateBasis::Unknown);
        // The cap: 2 partitions, 200 %.
        let capped = auto(None).value(12_000, Some(&rates), Some(2), Some(&known));
        assert_eq!((capped.value, capped.capped), (200.0, true));
    }
}
