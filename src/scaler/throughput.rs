//! What `metric: throughput` triggers serve: produce rate + lag / drainSeconds from offsets
//! sampled in the background, and the time-lag gauge from the same samples.

use std::sync::{Arc, Weak};

use super::{Evaluation, Scaler, Served};
use crate::error::ScalerError;
use crate::metrics;
use crate::source::{LagRule, Observation, SourceQuery};
use crate::strategy::rate::{self, PartitionPoint};
use crate::strategy::sampler::{Probe, Timed};
use crate::strategy::throughput::ThroughputPolicy;
use crate::trigger::TriggerSpec;

impl Scaler {
    pub(super) fn throughput(
        self: &Arc<Self>,
        spec: &TriggerSpec,
        policy: &ThroughputPolicy,
        evaluation: &Evaluation,
    ) -> Result<Served, ScalerError> {
        let key = (spec.query.clone(), policy.rate_window);
        let probe = self.offsets_probe(&spec.query);
        let samples =
            self.offset_samplers
                .samples(&key, probe, policy.sample_interval(), policy.rate_window);
        let rates = rate::rates(&samples, policy.rate_window);
        let max_partitions = match &spec.lag_rule {
            LagRule::Kafka(options) if !options.allow_idle_consumers => evaluation.partitions,
            _ => None,
        };
        let served = policy.value(evaluation.lag, rates.as_ref(), max_partitions);
        if served.without_rate {
            tracing::info!(
                metric_name = %spec.metric_name,
                samples = samples.len(),
                "no produce rate yet (cold start): serving lag / drainSeconds alone"
            );
            metrics::throughput_without_rate(&spec.query);
        }
        if let Some(rates) = &rates {
            metrics::time_lag(&spec.query, rate::time_lag(evaluation.lag, rates));
        }
        Ok(Served {
            metric: served.value,
            replicas: None,
            rates,
        })
    }

    /// Reads the query's offsets through the shared cache, stamped with when the broker
    /// answered. Holds the scaler weakly.
    fn offsets_probe(self: &Arc<Self>, query: &SourceQuery) -> Probe<Arc<[PartitionPoint]>> {
        let scaler: Weak<Scaler> = Arc::downgrade(self);
        let query = query.clone();
        Arc::new(move || {
            let scaler = scaler.clone();
            let query = query.clone();
            Box::pin(async move {
                let scaler = scaler.upgrade()?;
                match scaler.observe(&query).await.0 {
                    Ok(Observation::Kafka(snapshot)) => {
                        let topic = match &query {
                            SourceQuery::Kafka(q) => q.topic.clone(),
                            SourceQuery::Rabbitmq(_) => None,
                        };
                        let points = snapshot
                            .partitions
                            .iter()
                            .filter(|p| topic.as_ref().is_none_or(|t| *t == p.topic))
                            .map(|p| PartitionPoint {
                                partition: p.offsets.partition,
                                high: p.offsets.high,
                                committed: p.offsets.committed,
                            })
                            .collect();
                        Some(Timed {
                            at: snapshot.read_at,
                            value: points,
                        })
                    }
                    Ok(Observation::QueueDepth(_)) => None,
                    Err(error) => {
                        tracing::warn!(%error, "offset sample failed");
                        None
                    }
                }
            })
        })
    }
}
