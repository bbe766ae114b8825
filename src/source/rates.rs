//! Produce and consume rates where a broker measures them itself: RabbitMQ's management API.
//! Kafka has no such API; its rates come from offsets sampled over time (`strategy::rate`),
//! read from [`Observation::partition_offsets`]. The management client is made on first
//! use, and its answers are cached like broker answers (for the cache TTL).

use std::time::Duration;

use super::rabbitmq::management::{ManagementUrl, QueueRates};
use super::{Observation, SourceError, SourceQuery, Sources};
use crate::single_flight::SingleFlight;

/// A queue's rates from a management API: URL, vhost, queue, window.
type QueueRatesKey = (ManagementUrl, String, String, Duration);

/// The management API's cached answers.
pub(super) struct ManagementRates {
    answers: SingleFlight<QueueRatesKey, Result<QueueRates, SourceError>>,
}

impl ManagementRates {
    pub(super) fn new(refresh: Duration) -> ManagementRates {
        ManagementRates {
            answers: SingleFlight::new(refresh),
        }
    }
}

/// What the broker says of a query's rates.
#[derive(Debug, Clone, PartialEq)]
pub enum BrokerRates {
    /// It measures none: sample its offsets instead (Kafka).
    Sampled,
    /// Messages per second published, and consumed (when known), over the window.
    Measured { publish: f64, consume: Option<f64> },
    /// None known now: no management API in the profile, or it failed (logged).
    Unknown,
}

impl Sources {
    /// The broker's own measure of `query`'s rates over `window`.
    pub async fn rates(&self, query: &SourceQuery, window: Duration) -> BrokerRates {
        match self.queue_stats(query, window).await {
            None if matches!(query, SourceQuery::Kafka(_)) => BrokerRates::Sampled,
            None | Some(Err(_)) => BrokerRates::Unknown,
            Some(Ok(rates)) => BrokerRates::Measured {
                publish: rates.publish,
                consume: rates.consume,
            },
        }
    }

    /// A RabbitMQ queue's statistics from its management API over `window` (cached for the
    /// TTL; a failure is logged); `None` for Kafka, and for an endpoint without a management
    /// API.
    pub async fn queue_stats(
        &self,
        query: &SourceQuery,
        window: Duration,
    ) -> Option<Result<QueueRates, SourceError>> {
        let (url, tls, vhost, queue) = match query {
            SourceQuery::Kafka(_) => return None,
            SourceQuery::Rabbitmq(q) => {
                let url = q.endpoint.management.as_ref()?;
                let vhost = q
                    .vhost
                    .clone()
                    .unwrap_or_else(|| q.endpoint.uri.to_lapin(None).vhost);
                (url, &q.endpoint.tls, vhost, &q.queue)
            }
            // One queue's (a regex's throughput is refused when parsing).
            SourceQuery::RabbitmqHttp(q) => (&q.url, &q.tls, q.vhost.clone(), &q.queue),
        };
        let key = (url.clone(), vhost.clone(), queue.clone(), window);
        let fetch = || self.queue_rates(query, (url, tls), &vhost, queue, window);
        let answer = self.management.answers.get_or_fetch(&key, fetch).await.0;
        if let Err(error) = &answer {
            tracing::warn!(%error, %queue, "management API failed");
        }
        Some(answer)
    }
}

/// One partition's offsets at one read: (partition, high watermark, committed offset).
pub type PartitionOffsets = (i32, i64, Option<i64>);

impl Observation {
    /// The offsets of every partition `query` reads (its topic's, when it names one), for
    /// rate sampling; `None` for a source without offsets.
    pub fn partition_offsets(&self, query: &SourceQuery) -> Option<Vec<PartitionOffsets>> {
        let (Observation::Kafka(snapshot), SourceQuery::Kafka(q)) = (self, query) else {
            return None;
        };
        let offsets = snapshot
            .partitions
            .iter()
            .filter(|p| q.topic.as_ref().is_none_or(|t| *t == p.topic))
            .map(|p| (p.offsets.partition, p.offsets.high, p.offsets.committed))
            .collect();
        Some(offsets)
    }

    /// When the broker answered, for sources whose answers are timed (Kafka snapshots).
    pub fn read_at(&self) -> Option<tokio::time::Instant> {
        match self {
            Observation::Kafka(snapshot) => Some(snapshot.read_at),
            Observation::QueueDepth(_) | Observation::Management(_) => None,
        }
    }
}

/// Where `metric: throughput` gets a query's rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateSource {
    /// From offsets read over time (Kafka): a fresh process needs a while to know them.
    SampledOffsets,
    /// From the broker's own API, at once (RabbitMQ's management API).
    BrokerApi,
    /// Nowhere: a RabbitMQ endpoint without a management API.
    Missing,
}

impl SourceQuery {
    /// Where this query's rates come from.
    pub fn rate_source(&self) -> RateSource {
        match self {
            SourceQuery::Kafka(_) => RateSource::SampledOffsets,
            SourceQuery::Rabbitmq(q) if q.endpoint.management.is_some() => RateSource::BrokerApi,
            SourceQuery::Rabbitmq(_) => RateSource::Missing,
            SourceQuery::RabbitmqHttp(_) => RateSource::BrokerApi,
        }
    }
}
