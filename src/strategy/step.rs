//! `strategy: step`: Apache Druid's lag-based task autoscaler, as a pure decision.
//!
//! Lag is sampled every `lagCollectionIntervalSecs` into a window of `lagCollectionRangeSecs`.
//! When at least `triggerScaleOutFraction` of the samples are ≥ `scaleOutThreshold`, the
//! workload grows by `scaleOutStep`, capped at the maximum; otherwise, when at least
//! `triggerScaleInFraction` are ≤ `scaleInThreshold`, it shrinks by `scaleInStep`, floored at
//! the minimum. Scale-out wins. Nothing happens within `minScaleActionIntervalSecs` of the last
//! change, and a change clears the window: only samples taken after it count. A decision needs
//! half a window of samples (Druid waits 5 minutes of a 10-minute window after start).
//!
//! One difference from Druid: the HPA ignores changes within its 10 % tolerance, so a step
//! too small to land is widened to the smallest change that does (a scale-in by 1 from 20
//! replicas goes to 18, a scale-out by 2 from 20 to 23). Without it, a workload above 19
//! replicas could never shrink by one.
//!
//! "The last change" is the HPA's `lastScaleTime`, read from Kubernetes, not a memory of this
//! process: every lagscale replica sees the same one, so no two replicas act on one window.
//!
//! A decision is a function of its inputs: the samples, the bounds, the replicas, the
//! `lastScaleTime` and now. Now is tokio's clock, read once per evaluation (`Scaler::step`)
//! and passed to [`StepPolicy::decide_for`]; nothing below it reads a clock. The
//! `lastScaleTime` comes as an instant on that clock, related to the wall clock once per
//! replica source (`replicas::clock`), so the same `lastScaleTime` is the same instant
//! whether the replica state was read now or taken from the cache. With the inputs unchanged,
//! only now moving changes a decision: a cooldown ending, samples entering or leaving the
//! window (see `step_clock_tests.rs`).

use std::time::Duration;

use tokio::time::Instant;

use crate::replicas::TargetState;

/// The step strategy's settings, valid by construction (see `trigger::strategy`).
#[derive(Debug, Clone, PartialEq)]
pub struct StepPolicy {
    pub scale_out_threshold: f64,
    pub scale_in_threshold: f64,
    pub trigger_scale_out_fraction: f64,
    pub trigger_scale_in_fraction: f64,
    pub lag_collection_interval: Duration,
    pub lag_collection_range: Duration,
    pub scale_out_step: u32,
    pub scale_in_step: u32,
    pub min_scale_action_interval: Duration,
}

impl Default for StepPolicy {
    /// Druid's defaults.
    fn default() -> StepPolicy {
        StepPolicy {
            scale_out_threshold: 6_000_000.0,
            scale_in_threshold: 1_000_000.0,
            trigger_scale_out_fraction: 0.3,
            trigger_scale_in_fraction: 0.9,
            lag_collection_interval: Duration::from_secs(30),
            lag_collection_range: Duration::from_secs(600),
            scale_out_step: 2,
            scale_in_step: 1,
            min_scale_action_interval: Duration::from_secs(600),
        }
    }
}

/// One lag sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: Instant,
    pub lag: u64,
}

impl From<&crate::strategy::sampler::Timed<u64>> for Sample {
    /// A lag the sampler read, and when.
    fn from(timed: &crate::strategy::sampler::Timed<u64>) -> Sample {
        Sample {
            at: timed.at,
            lag: timed.value,
        }
    }
}

/// What the workload may be scaled between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// max(minReplicaCount, 1): scaling to and from zero is KEDA's activation.
    pub min: u32,
    /// maxReplicaCount, and for Kafka no more than the partitions consumers can use.
    pub max: u32,
}

/// What the strategy decided, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    ScaleOut { from: u32, to: u32 },
    ScaleIn { from: u32, to: u32 },
    Hold { replicas: u32, reason: HoldReason },
}

/// Why nothing changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldReason {
    /// The last change was less than `minScaleActionIntervalSecs` ago.
    MinInterval,
    /// Less than half a window of samples since start or since the last change.
    TooFewSamples,
    /// Scale-out conditions hold but the workload is at its maximum.
    AtMax,
    /// Scale-in conditions hold but the workload is at its minimum.
    AtMin,
    /// Neither fraction is reached.
    Mixed,
}

impl Decision {
    /// The replica count to serve.
    pub fn replicas(self) -> u32 {
        match self {
            Decision::ScaleOut { to, .. } | Decision::ScaleIn { to, .. } => to,
            Decision::Hold { replicas, .. } => replicas,
        }
    }

    /// A label for logs and the decisions metric.
    pub fn kind(self) -> &'static str {
        match self {
            Decision::ScaleOut { .. } => "scale_out",
            Decision::ScaleIn { .. } => "scale_in",
            Decision::Hold { .. } => "hold",
        }
    }

    /// Why, in words a log reader understands (a bounded set, for metric labels).
    pub fn reason(self) -> &'static str {
        match self {
            Decision::ScaleOut { .. } => "lag above scaleOutThreshold often enough",
            Decision::ScaleIn { .. } => "lag below scaleInThreshold often enough",
            Decision::Hold { reason, .. } => match reason {
                HoldReason::MinInterval => "within minScaleActionIntervalSecs of the last change",
                HoldReason::TooFewSamples => "fewer than half a window of samples",
                HoldReason::AtMax => "at the maximum",
                HoldReason::AtMin => "at the minimum",
                HoldReason::Mixed => "neither fraction reached",
            },
        }
    }
}

/// The HPA's default tolerance, in thousandths: no change while
/// |1 − value / (target × current)| ≤ 0.1.
pub const HPA_TOLERANCE_MILLI: u64 = 100;
pub const HPA_TOLERANCE: f64 = HPA_TOLERANCE_MILLI as f64 / 1000.0;

/// The metric, against a target of 1 per replica, that makes an `AverageValue` HPA at
/// `current` replicas land on `desired`. The HPA sets ceil(metric) replicas, but only once the
/// ratio metric / current leaves its tolerance band: serving `desired` itself would never take
/// 11 replicas to 10 (ratio 0.91). Any metric in (desired − 1, desired] gives `desired`, so a
/// scale-in serves the largest of them below the band, rounded down to KEDA's 0.001: 9.899
/// from 11 lands on 10. When no such metric exists (the step is under 10 % of the replicas,
/// e.g. 30 → 29), `desired` is served and the HPA holds; the README says to size steps for it.
pub fn metric_for(current: u32, desired: u32) -> f64 {
    let d = f64::from(desired);
    if desired >= current || current == 0 {
        return d;
    }
    // (1 − tolerance) × current in thousandths is exact in integers; one thousandth less is
    // outside the band.
    let below_band = (u64::from(current) * (1000 - HPA_TOLERANCE_MILLI) - 1) as f64 / 1000.0;
    if below_band > d - 1.0 {
        below_band.min(d)
    } else {
        d
    }
}

/// The smallest count above `current` that an `AverageValue` HPA moves to: its ratio must
/// exceed 1 + tolerance (from 10 replicas, 12; 11 would be a ratio of exactly 1.1).
pub fn smallest_landing_above(current: u32) -> u32 {
    let current = u64::from(current);
    let count = current * (1000 + HPA_TOLERANCE_MILLI) / 1000 + 1;
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// The largest count below `current` that an `AverageValue` HPA moves to, given the value
/// [`metric_for`] serves (from 20 replicas, 18; from 11, 10).
pub fn largest_landing_below(current: u32) -> u32 {
    let current = u64::from(current);
    if current == 0 {
        return 0;
    }
    let count = (current * (1000 - HPA_TOLERANCE_MILLI) - 1) / 1000 + 1;
    u32::try_from(count)
        .unwrap_or(u32::MAX)
        .min(current as u32 - 1)
}

impl StepPolicy {
    /// Samples needed for a decision: half a window.
    pub fn samples_needed(&self) -> usize {
        let per_window =
            self.lag_collection_range.as_secs_f64() / self.lag_collection_interval.as_secs_f64();
        (per_window / 2.0).floor() as usize + 1
    }

    /// Decides at `now` for the workload in `state` (Kafka: with no more replicas than the
    /// `partitions` consumers can use), and the bounds it moved within.
    pub fn decide_for(
        &self,
        samples: &[Sample],
        state: &TargetState,
        partitions: Option<u64>,
        now: Instant,
    ) -> (Bounds, Decision) {
        let min = state.min.max(1);
        let max = match partitions {
            Some(partitions) => u64::from(state.max).min(partitions) as u32,
            None => state.max,
        };
        let bounds = Bounds {
            min,
            max: max.max(min),
        };
        let since = state.since_last_scale(now);
        let decision = self.decide(samples, now, state.current, since, bounds);
        (bounds, decision)
    }

    /// Decides at `now` for a workload at `current` replicas whose last change was
    /// `since_last_change` ago (`None`: never). `samples` may hold more than the window.
    pub fn decide(
        &self,
        samples: &[Sample],
        now: Instant,
        current: u32,
        since_last_change: Option<Duration>,
        bounds: Bounds,
    ) -> Decision {
        let hold = |reason| Decision::Hold {
            replicas: current,
            reason,
        };
        if since_last_change.is_some_and(|ago| ago < self.min_scale_action_interval) {
            return hold(HoldReason::MinInterval);
        }
        let window_start = now.checked_sub(self.lag_collection_range);
        let last_change = since_last_change.and_then(|ago| now.checked_sub(ago));
        let window: Vec<u64> = samples
            .iter()
            .filter(|s| window_start.is_none_or(|start| s.at >= start))
            .filter(|s| last_change.is_none_or(|change| s.at > change))
            .map(|s| s.lag)
            .collect();
        if window.len() < self.samples_needed() {
            return hold(HoldReason::TooFewSamples);
        }
        let fraction = |f: &dyn Fn(f64) -> bool| {
            window.iter().filter(|lag| f(**lag as f64)).count() as f64 / window.len() as f64
        };
        let out = fraction(&|lag| lag >= self.scale_out_threshold);
        if out >= self.trigger_scale_out_fraction {
            let to = current
                .saturating_add(self.scale_out_step)
                .max(smallest_landing_above(current))
                .min(bounds.max);
            return if to > current {
                Decision::ScaleOut { from: current, to }
            } else {
                hold(HoldReason::AtMax)
            };
        }
        let inward = fraction(&|lag| lag <= self.scale_in_threshold);
        if inward >= self.trigger_scale_in_fraction {
            let to = current
                .saturating_sub(self.scale_in_step)
                .min(largest_landing_below(current))
                .max(bounds.min);
            return if to < current {
                Decision::ScaleIn { from: current, to }
            } else {
                hold(HoldReason::AtMin)
            };
        }
        hold(HoldReason::Mixed)
    }
}

#[cfg(test)]
#[path = "step_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "step_clock_tests.rs"]
mod clock_tests;
