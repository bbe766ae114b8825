//! What the broker clients report as they work (requests, connections, Kafka requests),
//! through a seam the metrics layer implements: no source names a metric.

use std::sync::Arc;
use std::time::Duration;

use super::{SourceError, SourceQuery};

/// What the broker clients report as they work, for the metrics layer to record
/// (`metrics::BrokerMetrics`): no source names a metric or imports `metrics`.
pub trait BrokerEvents: Send + Sync {
    /// A request for `query` (its answer, or a management API's rates) took `elapsed`, and
    /// failed with `error` if any.
    fn query(&self, query: &SourceQuery, elapsed: Duration, error: Option<&SourceError>);
    /// A connection (AMQP) or client (Kafka) of `source` opened (`+1`) or closed (`-1`);
    /// `cluster` is the profile's name, `None` for an inline endpoint.
    fn connection(&self, source: &'static str, cluster: Option<&str>, change: f64);
    /// A Kafka request of `api` (its protocol name) was sent for `cluster` (`inline` for an
    /// inline endpoint).
    fn kafka_request(&self, cluster: &str, api: &'static str);
}

/// Reports nothing: for tools and tests that record no metrics.
pub struct NoEvents;

impl BrokerEvents for NoEvents {
    fn query(&self, _: &SourceQuery, _: Duration, _: Option<&SourceError>) {}
    fn connection(&self, _: &'static str, _: Option<&str>, _: f64) {}
    fn kafka_request(&self, _: &str, _: &'static str) {}
}

/// The receiver of every client's [`BrokerEvents`].
pub type Events = Arc<dyn BrokerEvents>;
