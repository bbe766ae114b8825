//! `metric`, `strategy` and `replicaAware`: what is measured (lag, or throughput), how a lag
//! metric is served, and whether that needs the workload's current replicas (read from
//! Kubernetes, see `replicas`). Two keys, two types: [`Metric`] and [`Strategy`].

use std::time::Duration;

use super::{Metadata, TriggerError, keys};
use crate::metadata::number;
use crate::source::{RateSource, SourceQuery, SourceTrigger};
use crate::strategy::step::StepPolicy;
use crate::strategy::throughput::{ReplicaThroughput, ThroughputPolicy};
use crate::transform::Transform;

/// `metric`: what is measured.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// The lag, served as [`Strategy`] says.
    Lag,
    /// `metric: throughput`: produce rate + lag / drainSeconds, in messages per second (its
    /// strategy is always `direct`).
    Throughput(ThroughputPolicy),
}

/// `strategy`: how a lag metric is served.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    /// The (transformed) lag, as KEDA's scalers serve it. `replica_aware`: a Kafka log2 metric
    /// is capped so that the HPA never asks for more replicas than the partitions.
    Direct { replica_aware: bool },
    /// Apache Druid's lag-based step strategy: the metric is the replica count decided.
    Step(StepPolicy),
}

impl Strategy {
    /// Whether serving a metric reads the workload's replicas.
    pub fn reads_replicas(&self) -> bool {
        matches!(
            self,
            Strategy::Direct {
                replica_aware: true
            } | Strategy::Step(_)
        )
    }
}

const REPLICA_AWARE_USE: &str = "only with source: kafka, transform: log2 and \
    allowIdleConsumers: false, where it keeps a metricType Value HPA within the partitions";

const THROUGHPUT_KEYS: [&str; 4] = [
    keys::REPLICA_THROUGHPUT,
    keys::REPLICA_THROUGHPUT_INITIAL,
    keys::DRAIN_SECONDS,
    keys::RATE_WINDOW_SECS,
];

/// Reads `metric`, `strategy` and their keys, and `replicaAware`.
pub fn parse(
    md: &mut Metadata<'_>,
    source: &SourceTrigger,
    transform: Transform,
) -> Result<(Metric, Strategy), TriggerError> {
    match md.optional(keys::METRIC).unwrap_or("lag") {
        "lag" => parse_strategy(md, source, transform).map(|s| (Metric::Lag, s)),
        "throughput" => {
            let policy = parse_throughput(md, source.query(), transform)?;
            let direct = Strategy::Direct {
                replica_aware: false,
            };
            Ok((Metric::Throughput(policy), direct))
        }
        other => Err(TriggerError::invalid(
            keys::METRIC,
            other,
            "one of: lag, throughput",
        )),
    }
}

/// `strategy` and `replicaAware`, with `metric: lag`.
fn parse_strategy(
    md: &mut Metadata<'_>,
    source: &SourceTrigger,
    transform: Transform,
) -> Result<Strategy, TriggerError> {
    if let Some(key) = THROUGHPUT_KEYS.iter().find(|k| md.optional(k).is_some()) {
        return Err(TriggerError::NotApplicable {
            key: (*key).to_owned(),
            context: "without metric: throughput".to_owned(),
        });
    }
    let replica_aware = md.flag(keys::REPLICA_AWARE)?;
    match md.optional(keys::STRATEGY).unwrap_or("direct") {
        "direct" => {
            if let Some(key) = keys::STEP.iter().find(|k| md.optional(k).is_some()) {
                return Err(TriggerError::NotApplicable {
                    key: (*key).to_owned(),
                    context: "without strategy: step".to_owned(),
                });
            }
            let replica_aware = replica_aware.unwrap_or(false);
            let capped_log2 =
                source.caps_at_partitions() && matches!(transform, Transform::Log2 { .. });
            if replica_aware && !capped_log2 {
                return Err(TriggerError::invalid(
                    keys::REPLICA_AWARE,
                    "true",
                    REPLICA_AWARE_USE,
                ));
            }
            Ok(Strategy::Direct { replica_aware })
        }
        "step" => {
            if replica_aware == Some(false) {
                return Err(TriggerError::invalid(
                    keys::REPLICA_AWARE,
                    "false",
                    "true or unset with strategy: step, which always reads the replicas",
                ));
            }
            Ok(Strategy::Step(parse_step(md)?))
        }
        other => Err(TriggerError::invalid(
            keys::STRATEGY,
            other,
            "one of: direct, step",
        )),
    }
}

/// `metric: throughput` and its keys. The lag itself, the drain time and the target replace
/// `lagThreshold`, the transform and the strategies.
fn parse_throughput(
    md: &mut Metadata<'_>,
    query: &SourceQuery,
    transform: Transform,
) -> Result<ThroughputPolicy, TriggerError> {
    if query.rate_source() == RateSource::Missing {
        return Err(TriggerError::invalid(
            keys::METRIC,
            "throughput",
            "lag here: with source: rabbitmq the publish rate comes from RabbitMQ's management \
             API, so name a `cluster` whose profile sets `management_url`",
        ));
    }
    let replica_throughput = md.required(
        keys::REPLICA_THROUGHPUT,
        "the messages per second one replica handles, > 0 (the target), or `auto`, with \
         metric: throughput",
    )?;
    let rate = |key, value| {
        number(
            key,
            value,
            "messages per second one replica handles, > 0, or `auto`",
            |n| n > 0.0,
        )
    };
    let initial = md.optional(keys::REPLICA_THROUGHPUT_INITIAL);
    let replica_throughput = match replica_throughput {
        "auto" => ReplicaThroughput::Auto {
            initial: initial
                .map(|v| rate(keys::REPLICA_THROUGHPUT_INITIAL, v))
                .transpose()?,
        },
        fixed => {
            if initial.is_some() {
                return Err(TriggerError::NotApplicable {
                    key: keys::REPLICA_THROUGHPUT_INITIAL.to_owned(),
                    context: format!(
                        "with replicaThroughput: \"{fixed}\" (it is the rate used until \
                         `auto` has learned one)"
                    ),
                });
            }
            ReplicaThroughput::Fixed(rate(keys::REPLICA_THROUGHPUT, fixed)?)
        }
    };
    if let (ReplicaThroughput::Auto { .. }, SourceQuery::Kafka(q)) = (&replica_throughput, query)
        && q.topic.is_none()
    {
        return Err(TriggerError::invalid(
            keys::REPLICA_THROUGHPUT,
            "auto",
            "a number here, or a `topic`: `auto` learns from each member's partitions of one \
             topic",
        ));
    }
    let drain = md.optional(keys::DRAIN_SECONDS).map_or(Ok(120.0), |v| {
        number(
            keys::DRAIN_SECONDS,
            v,
            "seconds > 0 to work off a backlog",
            |n| n > 0.0,
        )
    })?;
    let window = md.optional(keys::RATE_WINDOW_SECS).map_or(Ok(60.0), |v| {
        number(
            keys::RATE_WINDOW_SECS,
            v,
            "whole seconds from 2 to 3600",
            |n| n.fract() == 0.0 && (2.0..=3600.0).contains(&n),
        )
    })?;
    let not_with = |key: &'static str| TriggerError::NotApplicable {
        key: key.to_owned(),
        context: "with metric: throughput (the target is replicaThroughput)".to_owned(),
    };
    for key in [
        keys::LAG_THRESHOLD,
        keys::VALUE,
        keys::STRATEGY,
        keys::REPLICA_AWARE,
    ] {
        if md.optional(key).is_some() {
            return Err(not_with(key));
        }
    }
    if let Some(key) = keys::STEP.iter().find(|k| md.optional(k).is_some()) {
        return Err(not_with(key));
    }
    if !matches!(transform, Transform::None) {
        return Err(not_with(keys::TRANSFORM));
    }
    Ok(ThroughputPolicy {
        replica_throughput,
        drain: Duration::from_secs_f64(drain),
        rate_window: Duration::from_secs(window as u64),
    })
}

fn parse_step(md: &mut Metadata<'_>) -> Result<StepPolicy, TriggerError> {
    let d = StepPolicy::default();
    let mut num = |key: &'static str, default: f64, expected: &'static str, ok: fn(f64) -> bool| {
        md.optional(key)
            .map_or(Ok(default), |value| number(key, value, expected, ok))
    };
    let scale_out_threshold = num(
        keys::SCALE_OUT_THRESHOLD,
        d.scale_out_threshold,
        "a lag > 0, in messages",
        |n| n > 0.0,
    )?;
    let scale_in_threshold = num(
        keys::SCALE_IN_THRESHOLD,
        d.scale_in_threshold,
        "a lag >= 0, in messages",
        |n| n >= 0.0,
    )?;
    let fraction = |n: f64| n > 0.0 && n <= 1.0;
    let out_fraction = num(
        keys::TRIGGER_SCALE_OUT_FRACTION,
        d.trigger_scale_out_fraction,
        "a fraction of the samples, > 0 and <= 1",
        fraction,
    )?;
    let in_fraction = num(
        keys::TRIGGER_SCALE_IN_FRACTION,
        d.trigger_scale_in_fraction,
        "a fraction of the samples, > 0 and <= 1",
        fraction,
    )?;
    let secs = |n: f64| n.fract() == 0.0 && (1.0..=86_400.0).contains(&n);
    let interval = num(
        keys::LAG_COLLECTION_INTERVAL_SECS,
        d.lag_collection_interval.as_secs_f64(),
        "whole seconds from 1 to 86400",
        secs,
    )?;
    let range = num(
        keys::LAG_COLLECTION_RANGE_SECS,
        d.lag_collection_range.as_secs_f64(),
        "whole seconds from 1 to 86400",
        secs,
    )?;
    let replicas = |n: f64| n >= 1.0 && n.fract() == 0.0 && n <= 10_000.0;
    const REPLICAS: &str = "a whole number of replicas >= 1";
    let out_step = num(
        keys::SCALE_OUT_STEP,
        d.scale_out_step.into(),
        REPLICAS,
        replicas,
    )?;
    let in_step = num(
        keys::SCALE_IN_STEP,
        d.scale_in_step.into(),
        REPLICAS,
        replicas,
    )?;
    let min_interval = num(
        keys::MIN_SCALE_ACTION_INTERVAL_SECS,
        d.min_scale_action_interval.as_secs_f64(),
        "whole seconds >= 0",
        |n| n >= 0.0 && n.fract() == 0.0 && n <= 86_400.0 * 7.0,
    )?;
    if scale_in_threshold >= scale_out_threshold {
        return Err(TriggerError::invalid(
            keys::SCALE_IN_THRESHOLD,
            &scale_in_threshold.to_string(),
            format!("a lag below scaleOutThreshold ({scale_out_threshold})"),
        ));
    }
    if range < interval {
        return Err(TriggerError::invalid(
            keys::LAG_COLLECTION_RANGE_SECS,
            &range.to_string(),
            format!("at least lagCollectionIntervalSecs ({interval})"),
        ));
    }
    for key in [
        keys::LAG_THRESHOLD,
        keys::VALUE,
        keys::TRANSFORM,
        keys::LOG2_MULTIPLIER,
    ] {
        if md.optional(key).is_some() {
            return Err(TriggerError::NotApplicable {
                key: key.to_owned(),
                context: "with strategy: step (the metric is the replica count decided, with \
                          target 1; thresholds are scaleOutThreshold and scaleInThreshold)"
                    .to_owned(),
            });
        }
    }
    Ok(StepPolicy {
        scale_out_threshold,
        scale_in_threshold,
        trigger_scale_out_fraction: out_fraction,
        trigger_scale_in_fraction: in_fraction,
        lag_collection_interval: Duration::from_secs(interval as u64),
        lag_collection_range: Duration::from_secs(range as u64),
        scale_out_step: out_step as u32,
        scale_in_step: in_step as u32,
        min_scale_action_interval: Duration::from_secs(min_interval as u64),
    })
}

#[cfg(test)]
#[path = "strategy_tests.rs"]
mod tests;
