//! KEDA's `scalerMetadata` → a typed, validated [`TriggerSpec`]. All validation of trigger
//! metadata happens here (and in the source's own `parse_query`), once per call; the rest of
//! lagscale takes a `TriggerSpec` and never re-checks.
//!
//! Unknown keys are errors with a suggestion (`lagTreshold` → `lagThreshold`); KEDA's own
//! external-scaler keys (`scalerAddress`, `enableTLS`, `unsafeSsl`, `caCert`, `tlsClientCert`,
//! `tlsClientKey`, `tlsCertFile`) are accepted and ignored.

mod decide;
mod known_keys;
pub mod memo;
pub mod strategy;

use std::collections::{BTreeMap, HashMap};

pub use decide::{Decided, Inputs};
pub use known_keys::KNOWN_KEYS;
pub use strategy::{Metric, Strategy};

use crate::metadata::{Metadata, MetricName, TriggerError, keys, number};
use crate::source::{ClusterProfile, Lag, SourceKind, SourceQuery, SourceTrigger};
use crate::transform::{Multiplier, Transform};

/// Default target per replica, in messages (as KEDA's Kafka scaler).
pub const DEFAULT_LAG_THRESHOLD: f64 = 10.0;

/// One trigger, parsed and valid.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerSpec {
    /// What to ask the broker (the cache key shared by every trigger that asks the same), and
    /// how this trigger reads its lag from the answer.
    pub source: SourceTrigger,
    /// Target per replica, in messages: > 0, and > 1 with `transform: log2`.
    pub lag_threshold: f64,
    /// Active when lag (in messages) is greater than this; ≥ 0.
    pub activation_lag_threshold: f64,
    pub transform: Transform,
    /// `metric`: the lag, or throughput.
    pub metric: Metric,
    /// `strategy`: how a lag metric is served (always direct with `metric: throughput`).
    pub strategy: Strategy,
    pub metric_name: MetricName,
}

impl TriggerSpec {
    /// Parses and validates trigger metadata. `clusters` are the connection profiles of the
    /// config file, which `cluster:` refers to.
    pub fn parse(
        metadata: &HashMap<String, String>,
        clusters: &BTreeMap<String, ClusterProfile>,
    ) -> Result<TriggerSpec, TriggerError> {
        let mut md = Metadata::new(metadata, &KNOWN_KEYS)?;
        let source_value = md.required(keys::SOURCE, SourceKind::EXPECTED)?;
        let source = SourceKind::parse(source_value).ok_or_else(|| {
            TriggerError::invalid(keys::SOURCE, source_value, SourceKind::EXPECTED)
        })?;
        let source_trigger = SourceTrigger::parse(source, &mut md, clusters)?;

        let (threshold_key, lag_threshold) = match md.either(keys::LAG_THRESHOLD, keys::VALUE)? {
            Some((key, value)) => (key, number(key, value, "a number > 0", |n| n > 0.0)?),
            None => source_trigger
                .default_target()
                .unwrap_or((keys::LAG_THRESHOLD, DEFAULT_LAG_THRESHOLD)),
        };
        let activation_lag_threshold =
            match md.either(keys::ACTIVATION_LAG_THRESHOLD, keys::ACTIVATION_VALUE)? {
                Some((key, value)) => number(key, value, "a number >= 0", |n| n >= 0.0)?,
                None => 0.0,
            };

        let transform = parse_transform(&mut md)?;
        if matches!(transform, Transform::Log2 { .. }) && lag_threshold <= 1.0 {
            return Err(TriggerError::invalid(
                threshold_key,
                &lag_threshold.to_string(),
                "a number > 1 with transform: log2 (the target k·log2(lagThreshold) must be > 0)",
            ));
        }

        let (metric, strategy) = strategy::parse(&mut md, &source_trigger, transform)?;

        let metric_name = match md.optional(keys::METRIC_NAME) {
            Some(name) => MetricName::parse(name)
                .map_err(|expected| TriggerError::invalid(keys::METRIC_NAME, name, expected))?,
            None => source_trigger.query().default_metric_name(),
        };

        md.finish(&format!("with source: {}", source.name()))?;
        Ok(TriggerSpec {
            source: source_trigger,
            lag_threshold,
            activation_lag_threshold,
            transform,
            metric,
            strategy,
            metric_name,
        })
    }

    /// What the broker is asked.
    pub fn query(&self) -> &SourceQuery {
        self.source.query()
    }

    /// The target KEDA gives the HPA, in the metric's units; always > 0. With
    /// `strategy: step` the metric is a replica count and the target 1 per replica.
    pub fn target(&self) -> f64 {
        match (&self.metric, &self.strategy) {
            (Metric::Throughput(policy), _) => policy.target(),
            (Metric::Lag, Strategy::Step(_)) => 1.0,
            (Metric::Lag, Strategy::Direct { .. }) => self.transform.target(self.lag_threshold),
        }
    }

    /// The lagThreshold the Kafka `allowIdleConsumers: false` cap multiplies: none (infinity)
    /// with `strategy: step` and `metric: throughput`, which cap replicas instead of lag.
    pub fn lag_cap_threshold(&self) -> f64 {
        match (&self.metric, &self.strategy) {
            (Metric::Throughput(_), _) | (_, Strategy::Step(_)) => f64::INFINITY,
            (Metric::Lag, Strategy::Direct { .. }) => self.lag_threshold,
        }
    }

    /// The `transform` metric label: `none`, `log2`, `step` or `throughput`.
    pub fn metric_kind(&self) -> &'static str {
        match (&self.metric, &self.strategy, self.transform) {
            (Metric::Throughput(_), _, _) => "throughput",
            (_, Strategy::Step(_), _) => "step",
            (_, _, Transform::None) => "none",
            (_, _, Transform::Log2 { .. }) => "log2",
        }
    }

    /// The metric served for a lag in messages (the transform's).
    pub fn metric(&self, lag: u64) -> f64 {
        self.transform.metric(lag)
    }

    /// Whether KEDA should activate the workload (0 → 1) at this lag. Always in messages,
    /// whatever the transform.
    pub fn is_active(&self, lag: u64) -> bool {
        lag as f64 > self.activation_lag_threshold
    }

    /// The metric of a reading's lag alone, and whether it activates: the source's own
    /// decision where it makes one (a RabbitMQ rate, ratio or time `mode`), else the
    /// transform of its messages and its activation lag against the threshold.
    pub fn read(&self, lag: &Lag) -> (f64, bool) {
        match lag.decided {
            Some(decided) => (decided.metric, decided.active),
            None => (self.metric(lag.messages), self.is_active(lag.activation)),
        }
    }
}

fn parse_transform(md: &mut Metadata<'_>) -> Result<Transform, TriggerError> {
    const EXPECTED: &str = "one of: none, log2";
    let multiplier = md.optional(keys::LOG2_MULTIPLIER);
    match md.optional(keys::TRANSFORM).unwrap_or("none") {
        "none" => match multiplier {
            Some(_) => Err(TriggerError::NotApplicable {
                key: keys::LOG2_MULTIPLIER.to_owned(),
                context: "with transform: none (set transform: log2)".to_owned(),
            }),
            None => Ok(Transform::None),
        },
        "log2" => {
            let multiplier = match multiplier {
                Some(value) => value
                    .parse()
                    .ok()
                    .and_then(Multiplier::new)
                    .ok_or_else(|| {
                        TriggerError::invalid(keys::LOG2_MULTIPLIER, value, "a number > 0")
                    })?,
                None => Multiplier::ONE,
            };
            Ok(Transform::Log2 { multiplier })
        }
        other => Err(TriggerError::invalid(keys::TRANSFORM, other, EXPECTED)),
    }
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod kafka_keda_tests;
#[cfg(test)]
mod kafka_tests;
#[cfg(test)]
mod keda_copy_tests;
#[cfg(test)]
mod rabbitmq_credentials_tests;
#[cfg(test)]
mod rabbitmq_tests;
#[cfg(test)]
pub(crate) mod tests;
