//! What `metric: throughput` triggers serve: produce rate + lag / drainSeconds from offsets
//! sampled in the background, and the time-lag gauge from the same samples.

use std::sync::{Arc, Weak};

use super::{Evaluation, Scaler, Served};
use crate::error::ScalerError;
use crate::metrics;
use std::time::Duration;

use crate::source::rabbitmq::QueueQuery;
use crate::source::rabbitmq::management::Management;
use crate::source::{LagRule, Observation, SourceQuery};
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
        let rates = match &spec.query {
            SourceQuery::Kafka(_) => {
                let key = (spec.query.clone(), policy.rate_window);
                let probe = self.offsets_probe(&spec.query);
                let interval = policy.sample_interval();
                let samples =
                    self.offset_samplers
                        .samples(&key, probe, interval, policy.rate_window);
                rate::rates(&samples, policy.rate_window)
            }
            SourceQuery::Rabbitmq(query) => self.queue_rates(query, policy.rate_window).await,
        };
        let max_partitions = match &spec.lag_rule {
            LagRule::Kafka(options) if !options.allow_idle_consumers => evaluation.partitions,
            _ => None,
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

    /// A RabbitMQ queue's rates from the management API (cached like broker answers); `None`,
    /// logged, when the API fails: the value then falls back to the lag term.
    async fn queue_rates(&self, query: &QueueQuery, window: Duration) -> Option<Rates> {
        let url = query.endpoint.management.as_ref()?;
        let management = self
            .management
            .get_or_init(|| Management::new(self.config.broker_timeouts().query))
            .as_ref()
            .map_err(|error| tracing::warn!(%error, "no management API client"))
            .ok()?;
        let vhost = query
            .vhost
            .clone()
            .unwrap_or_else(|| query.endpoint.uri.to_lapin(None).vhost);
        let key = (url.clone(), vhost.clone(), query.queue.clone(), window);
        let fetch = || management.queue_rates(url, &vhost, &query.queue, window);
        let (rates, _) = self.queue_rates.get_or_fetch(&key, fetch).await;
        match rates {
            Ok(rates) => Some(Rates {
                produce: rates.publish,
                consume: rates.consume,
                span: window,
            }),
            Err(error) => {
                tracing::warn!(%error, queue = %query.queue, "management API failed");
                None
            }
        }
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
