//! The rates `metric: throughput` triggers decide from: the broker's own (RabbitMQ's
//! management API), or from offsets sampled in the background (Kafka).

use std::sync::{Arc, Weak};

use super::{Scaler, lookup};
use crate::source::{BrokerRates, SourceQuery, Sources};
use crate::strategy::rate::{self, PartitionPoint, Rates};
use crate::strategy::sampler::{Probe, Timed};
use crate::strategy::throughput::ThroughputPolicy;
use crate::trigger::TriggerSpec;

impl Scaler {
    /// `metric: throughput`'s rates: the broker's own, or from the offsets sampled in the
    /// background; `None` while none are known (a cold start).
    pub(super) async fn rates(
        &self,
        spec: &TriggerSpec,
        policy: &ThroughputPolicy,
    ) -> Option<Rates> {
        let window = policy.rate_window;
        match self.sources.rates(spec.query(), window).await {
            BrokerRates::Sampled => {
                let key = (spec.query().clone(), window);
                let probe = self.offsets_probe(spec.query());
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
        }
    }

    /// Reads the query's offsets through the shared answers, stamped with when the broker
    /// answered. Holds the sources weakly.
    fn offsets_probe(&self, query: &SourceQuery) -> Probe<Arc<[PartitionPoint]>> {
        let sources: Weak<Sources> = Arc::downgrade(&self.sources);
        let query = query.clone();
        let compression = self.compression;
        Arc::new(move || {
            let sources = sources.clone();
            let query = query.clone();
            Box::pin(async move {
                let sources = sources.upgrade()?;
                match lookup(&sources, &query, &compression).await.0 {
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
