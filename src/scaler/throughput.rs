//! What `metric: throughput` triggers serve: produce rate + lag / drainSeconds from offsets
//! sampled in the background, and the time-lag gauge from the same samples.

use std::sync::{Arc, Weak};

use super::{Evaluation, Scaler, Served};
use crate::error::ScalerError;
use crate::metrics;
use crate::source::{BrokerRates, SourceQuery};
use crate::strategy::rate::{self, PartitionPoint, Rates};
use crate::strategy::sampler::{Probe, Timed};
use crate::strategy::throughput::ThroughputPolicy;
use crate::trigger::TriggerSpec;

impl Scaler {
    pub(super) async fn throughput(
        self: &Arc<Self>,
        spec: &TriggerSpec,
        policy: &ThroughputPolicy,
        evaluation: &Evaluation,
    ) -> Result<Served, ScalerError> {
        let window = policy.rate_window;
        let rates = match self.sources.rates(&spec.query, window).await {
            BrokerRates::Sampled => {
                let key = (spec.query.clone(), window);
                let probe = self.offsets_probe(&spec.query);
                let interval = policy.sample_interval();
                let samples = self.offset_samplers.samples(&key, probe, interval, window);
                rate::rates(&samples, window)
            }
            BrokerRates::Measured { publish, consume } => Some(Rates {
                produce: publish,
                consume,
                span: window,
            }),
            BrokerRates::Unknown => None,
        };
        let max_partitions = if spec.lag_rule.caps_at_partitions() {
            evaluation.partitions
        } else {
            None
        };
        let served = policy.value(evaluation.lag, rates.as_ref(), max_partitions);
        if served.without_rate {
            tracing::info!(
                metric_name = %spec.metric_name,
                "no produce rate yet (cold start, or the management API failed): serving lag / \
                 drainSeconds alone"
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
                    Ok(observation) => {
                        let points = observation
                            .partition_offsets(&query)?
                            .into_iter()
                            .map(|(partition, high, committed)| PartitionPoint {
                                partition,
                                high,
                                committed,
                            })
                            .collect();
                        Some(Timed {
                            at: observation.read_at()?,
                            value: points,
                        })
                    }
                    Err(error) => {
                        tracing::warn!(%error, "offset sample failed");
                        None
                    }
                }
            })
        })
    }
}
