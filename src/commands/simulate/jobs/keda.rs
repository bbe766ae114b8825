//! KEDA's ScaledJob loop, one poll: how many jobs to create, for each `scalingStrategy`
//! (kedacore/keda, `pkg/scaling/executor/scale_jobs.go`: `RequestJobScale`,
//! `getScalingDecision`, `createJobs` and the `GetEffectiveMaxScale` of each strategy; the
//! queue length and `maxScale` come from `pkg/scaling/scaledjob/metrics.go`,
//! `CalculateQueueLengthAndMaxValue` and `IsScaledJobActive`; `maxReplicaCount` from
//! `apis/keda/v1alpha1/scaledjob_types.go`, `MaxReplicaCount`).

use serde::Deserialize;

/// `spec.scalingStrategy` of a ScaledJob.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScalingStrategy {
    #[serde(default)]
    pub strategy: Strategy,
    pub custom_scaling_queue_length_deduction: Option<i32>,
    /// A string in KEDA (`"0.5"`); a number here.
    pub custom_scaling_running_job_percentage: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    #[default]
    Default,
    Custom,
    Accurate,
    Eager,
}

/// What KEDA sees at one poll.
#[derive(Debug, Clone, Copy)]
pub struct Poll {
    /// The trigger's metric (the queue length) and its target (messages per job).
    pub queue_length: f64,
    pub target: f64,
    /// Whether the trigger is active.
    pub active: bool,
    /// Jobs not finished, and those of them whose pod is not running yet.
    pub running: i64,
    pub pending: i64,
    /// The ScaledJob's `minReplicaCount` and `maxReplicaCount`.
    pub min: i64,
    pub max: i64,
}

/// The jobs KEDA creates at this poll.
pub fn jobs_to_create(strategy: &ScalingStrategy, poll: Poll) -> i64 {
    // `MaxReplicaCount`: the maximum less the minimum (unless the minimum exceeds it).
    let max_replicas = if poll.min > poll.max {
        poll.max
    } else {
        poll.max - poll.min
    };
    // `IsScaledJobActive`: a minimum above 0 keeps it active; the queue length and the
    // jobs it asks for, capped at `MaxReplicaCount`, rounded up.
    let active = poll.active || poll.min > 0;
    let max_value = if poll.target != 0.0 {
        (poll.queue_length / poll.target).min(max_replicas as f64)
    } else {
        0.0
    };
    let (max_scale, scale_to) = (max_value.ceil() as i64, poll.queue_length.ceil() as i64);
    // `getScalingDecision`.
    let (effective, scale_to) = if poll.running < poll.min {
        let missing = poll.min - poll.running;
        (missing, missing)
    } else {
        effective_max_scale(
            strategy,
            max_scale,
            poll.running - poll.min,
            poll.pending,
            max_replicas,
            scale_to,
        )
    };
    // `RequestJobScale` and `createJobs`.
    let effective = effective.max(0);
    if !active || effective <= 0 {
        return 0;
    }
    scale_to.min(effective)
}

/// `GetEffectiveMaxScale` of each strategy: (jobs at most, jobs asked for).
fn effective_max_scale(
    strategy: &ScalingStrategy,
    max_scale: i64,
    running: i64,
    pending: i64,
    max_replicas: i64,
    scale_to: i64,
) -> (i64, i64) {
    match strategy.strategy {
        Strategy::Default => (max_scale - running, scale_to),
        Strategy::Custom => {
            let deduction = i64::from(strategy.custom_scaling_queue_length_deduction.unwrap_or(0));
            let percentage = strategy
                .custom_scaling_running_job_percentage
                .unwrap_or(0.0);
            let result = max_scale - deduction - (running as f64 * percentage) as i64;
            (result.min(max_replicas), scale_to)
        }
        Strategy::Accurate => {
            if max_scale + running - pending > max_replicas {
                (max_replicas - running, scale_to)
            } else {
                (max_scale - pending, scale_to)
            }
        }
        Strategy::Eager => (
            (max_replicas - running - pending).min(max_scale),
            max_replicas,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(queue_length: f64, running: i64, pending: i64, max: i64) -> Poll {
        Poll {
            queue_length,
            target: 10.0,
            active: queue_length > 0.0,
            running,
            pending,
            min: 0,
            max,
        }
    }

    fn with(strategy: Strategy) -> ScalingStrategy {
        ScalingStrategy {
            strategy,
            ..Default::default()
        }
    }

    /// scaling-math's ScaledJob vector: default strategy, maxReplicaCount 3, target 10.
    #[test]
    fn scaling_math_vector() {
        let default = with(Strategy::Default);
        assert_eq!(jobs_to_create(&default, poll(30.0, 0, 0, 3)), 3);
        assert_eq!(jobs_to_create(&default, poll(0.0, 0, 0, 3)), 0);
    }

    /// The strategies on the same queue: 45 messages waiting (5 jobs' worth), 3 jobs running of
    /// which 2 are still pending, maxReplicaCount 6.
    #[test]
    fn each_strategy_as_keda_computes_it() {
        let at = poll(45.0, 3, 2, 6);
        // default: maxScale − running = 5 − 3.
        assert_eq!(jobs_to_create(&with(Strategy::Default), at), 2);
        // accurate: 5 + 3 − 2 = 6 ≤ 6, so maxScale − pending = 3.
        assert_eq!(jobs_to_create(&with(Strategy::Accurate), at), 3);
        // eager: min(6 − 3 − 2, 5) = 1 (and it asks for maxReplicaCount).
        assert_eq!(jobs_to_create(&with(Strategy::Eager), at), 1);
        // custom: 5 − 1 − floor(3 × 0.5) = 3.
        let custom = ScalingStrategy {
            strategy: Strategy::Custom,
            custom_scaling_queue_length_deduction: Some(1),
            custom_scaling_running_job_percentage: Some(0.5),
        };
        assert_eq!(jobs_to_create(&custom, at), 3);
        // accurate when the queue would overflow the maximum: 6 + 3 − 0 > 6 → 6 − 3.
        assert_eq!(
            jobs_to_create(&with(Strategy::Accurate), poll(90.0, 3, 0, 6)),
            3
        );
        // Never more than the queue length itself (`createJobs`: scaleTo), nor below 0.
        assert_eq!(
            jobs_to_create(&with(Strategy::Eager), poll(2.0, 0, 0, 6)),
            1
        );
        assert_eq!(
            jobs_to_create(&with(Strategy::Default), poll(20.0, 5, 0, 6)),
            0
        );
        // A minimum is filled first, whatever the queue.
        let floor = Poll {
            min: 2,
            ..poll(0.0, 0, 0, 6)
        };
        assert_eq!(jobs_to_create(&with(Strategy::Default), floor), 2);
    }
}
