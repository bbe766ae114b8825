//! Lag sources: the closed set of brokers lagscale reads lag from.
//!
//! A source is a variant of [`SourceKind`] and [`SourceQuery`], one module, and one arm in
//! each `match` here. [`Sources`] holds the long-lived broker clients (one connection per
//! connection profile, shared by every trigger) and counts the broker queries it sends.

pub mod backoff;
mod events;
pub mod kafka;
mod keys;
mod modelled;
mod partitions;
mod pool;
mod profile;
pub mod rabbitmq;
mod rates;
pub mod secrets;

pub use events::{BrokerEvents, Events, NoEvents};
pub use keys::{KEYS, Key, readme_tables};
pub use modelled::MODELLED_TRIGGER;
pub use profile::ClusterProfile;
pub use rates::{BrokerRates, PartitionOffsets, RateSource};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::collections::BTreeMap;

use crate::metadata::{Metadata, MetricName, TriggerError};

/// A broker query's metric label values: the source, the profile (`None`: inline), the
/// queue or consumer group, and the topic if any.
pub struct QueryLabels<'q> {
    pub source: &'static str,
    pub cluster: Option<&'q str>,
    pub name: &'q str,
    pub topic: Option<&'q str>,
}

/// Which broker a trigger reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Rabbitmq,
    Kafka,
}

impl SourceKind {
    /// What `source:` accepts, for error messages.
    pub const EXPECTED: &'static str = "one of: rabbitmq, kafka";

    pub fn parse(value: &str) -> Option<SourceKind> {
        match value {
            "rabbitmq" => Some(SourceKind::Rabbitmq),
            "kafka" => Some(SourceKind::Kafka),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Rabbitmq => "rabbitmq",
            SourceKind::Kafka => "kafka",
        }
    }
}

/// One question to a broker. Triggers that ask the same question share one evaluation: this
/// is the cache key, so it holds what the broker is asked and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SourceQuery {
    Rabbitmq(rabbitmq::QueueQuery),
    Kafka(kafka::GroupQuery),
}

impl SourceQuery {
    pub fn kind(&self) -> SourceKind {
        match self {
            SourceQuery::Rabbitmq(_) => SourceKind::Rabbitmq,
            SourceQuery::Kafka(_) => SourceKind::Kafka,
        }
    }

    /// The brokers the trigger named inline (`host`, `bootstrapServers`) rather than through
    /// a connection profile: the key it used, for errors, and their `host:port`s.
    pub fn inline_endpoints(&self) -> Option<(&'static str, Vec<(String, u16)>)> {
        match self {
            SourceQuery::Rabbitmq(q) => q.endpoint.cluster.is_none().then(|| {
                let authority = q.endpoint.uri.to_lapin(None).authority;
                ("host", vec![(authority.host, authority.port)])
            }),
            SourceQuery::Kafka(q) => q.endpoint.cluster.is_none().then(|| {
                let brokers = q.endpoint.profile.bootstrap_addresses().unwrap_or_default();
                ("bootstrapServers", brokers)
            }),
        }
    }

    /// The values of its metric labels: bounded (no ScaledObject among them).
    pub fn labels(&self) -> QueryLabels<'_> {
        match self {
            SourceQuery::Rabbitmq(q) => QueryLabels {
                source: "rabbitmq",
                cluster: q.endpoint.cluster.as_deref(),
                name: &q.queue,
                topic: None,
            },
            SourceQuery::Kafka(q) => QueryLabels {
                source: "kafka",
                cluster: q.endpoint.cluster.as_deref(),
                name: &q.group,
                topic: q.topic.as_deref(),
            },
        }
    }

    /// Reads the source's own keys of a trigger (`source:` said which): what to ask the
    /// broker, and how to read lag from its answer.
    pub fn parse(
        kind: SourceKind,
        md: &mut Metadata<'_>,
        clusters: &BTreeMap<String, ClusterProfile>,
    ) -> Result<(SourceQuery, LagRule), TriggerError> {
        Ok(match kind {
            SourceKind::Rabbitmq => (
                SourceQuery::Rabbitmq(rabbitmq::parse_query(md, clusters)?),
                LagRule::QueueDepth,
            ),
            SourceKind::Kafka => {
                let (query, options) = kafka::parse(md, clusters)?;
                (SourceQuery::Kafka(query), LagRule::Kafka(options))
            }
        })
    }

    /// The metric name used when the trigger sets no `metricName`.
    pub fn default_metric_name(&self) -> MetricName {
        match self {
            SourceQuery::Rabbitmq(q) => q.default_metric_name(),
            SourceQuery::Kafka(q) => q.default_metric_name(),
        }
    }
}

/// A broker's answer to a [`SourceQuery`], shared by every trigger that asked it.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// Ready messages in a queue.
    QueueDepth(u64),
    /// The offsets of a consumer group's partitions.
    Kafka(Arc<kafka::GroupSnapshot>),
}

/// How one trigger reads its lag from an [`Observation`]: the per-trigger options of its source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LagRule {
    /// The queue depth is the lag.
    QueueDepth,
    /// Kafka options (reset policy, persistent lag, partitions, cap, aggregate).
    Kafka(kafka::lag::LagOptions),
}

/// One trigger's lag at one refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lag {
    /// In messages (for Kafka, after the `allowIdleConsumers: false` cap).
    pub messages: u64,
    /// Kafka: the partitions consumers can use (see [`kafka::lag::GroupLag`]).
    pub partitions: Option<u64>,
}

impl LagRule {
    /// The lag, for a trigger with `lag_threshold` (the Kafka cap needs it; pass infinity for
    /// no cap).
    pub fn lag(
        &self,
        query: &SourceQuery,
        observation: &Observation,
        lag_threshold: f64,
    ) -> Result<Lag, SourceError> {
        match (self, query, observation) {
            (LagRule::QueueDepth, _, Observation::QueueDepth(depth)) => Ok(Lag {
                messages: *depth,
                partitions: None,
            }),
            (LagRule::Kafka(options), SourceQuery::Kafka(query), Observation::Kafka(snapshot)) => {
                let lag = kafka::lag(snapshot, query, options, lag_threshold)?;
                Ok(Lag {
                    messages: lag.messages,
                    partitions: Some(lag.partitions),
                })
            }
            _ => Err(SourceError::Broker {
                endpoint: "lagscale".to_owned(),
                operation: "reading lag",
                reason: "the answer does not belong to this kind of query".to_owned(),
            }),
        }
    }
}

/// Timeouts for broker I/O.
#[derive(Debug, Clone, Copy)]
pub struct BrokerTimeouts {
    /// Establishing a connection (TCP, TLS, AMQP handshake).
    pub connect: Duration,
    /// One query on an established connection.
    pub query: Duration,
}

/// The broker clients, shared by all triggers.
pub struct Sources {
    timeouts: BrokerTimeouts,
    rabbitmq: rabbitmq::Connections,
    management: rates::ManagementRates,
    kafka: kafka::Clients,
    idle_ttl: Duration,
    queries_sent: AtomicU64,
}

impl Sources {
    /// `refresh`: how long a broker answer is reused (the cache TTL); `idle_ttl`: how long a
    /// client no query uses is kept (`idle_client_ttl_ms`).
    pub fn new(timeouts: BrokerTimeouts, refresh: Duration, idle_ttl: Duration) -> Sources {
        Sources::reporting(timeouts, refresh, idle_ttl, Arc::new(NoEvents))
    }

    /// [`Sources::new`], with the clients' events reported to `events`.
    pub fn reporting(
        timeouts: BrokerTimeouts,
        refresh: Duration,
        idle_ttl: Duration,
        events: Events,
    ) -> Sources {
        Sources {
            timeouts,
            rabbitmq: rabbitmq::Connections::new(timeouts, idle_ttl, events.clone()),
            management: rates::ManagementRates::new(refresh),
            kafka: kafka::Clients::new(timeouts, refresh, idle_ttl, events),
            idle_ttl,
            queries_sent: AtomicU64::new(0),
        }
    }

    /// Closes the clients and connections no query used for the idle TTL; returns how many.
    pub fn close_idle(&self) -> usize {
        self.rabbitmq.close_idle() + self.kafka.close_idle()
    }

    /// Runs [`Sources::close_idle`] for as long as the returned future is polled: every tenth
    /// of the idle TTL (at least every 100 ms, at most every minute), so an idle client is
    /// closed within 1.1 × `idle_client_ttl_ms`.
    pub async fn close_idle_forever(&self) {
        let every = (self.idle_ttl / 10).clamp(Duration::from_millis(100), Duration::from_secs(60));
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.close_idle();
        }
    }

    /// How many broker clients are kept, by source: AMQP connections (by endpoint and
    /// vhost), Kafka clients (by endpoint).
    pub fn clients(&self, source: SourceKind) -> usize {
        match source {
            SourceKind::Rabbitmq => self.rabbitmq.count(),
            SourceKind::Kafka => self.kafka.count(),
        }
    }

    /// Asks the broker.
    pub async fn observe(&self, query: &SourceQuery) -> Result<Observation, SourceError> {
        self.queries_sent.fetch_add(1, Ordering::Relaxed);
        match query {
            SourceQuery::Rabbitmq(q) => self
                .rabbitmq
                .queue_depth(q)
                .await
                .map(Observation::QueueDepth),
            // Boxed: the Kafka client's futures nest deeply, and every caller's future would
            // otherwise embed them (the compiler's layout queries hit their depth limit).
            SourceQuery::Kafka(q) => Box::pin(self.kafka.snapshot(q))
                .await
                .map(|s| Observation::Kafka(Arc::new(s))),
        }
    }

    /// How many Kafka broker connections are open right now (at most one per broker and
    /// cluster).
    pub fn kafka_connections(&self) -> usize {
        self.kafka.open_connections()
    }

    /// How many Kafka requests of one API were sent since start (by lagscale's own client).
    pub fn kafka_requests(&self, api: kafka_protocol::messages::ApiKey) -> u64 {
        self.kafka.requests_sent(api)
    }

    /// How many AMQP connections are open right now (one per profile and vhost in use).
    pub async fn rabbitmq_connections(&self) -> usize {
        self.rabbitmq.open_connections().await
    }

    /// How many broker queries were sent since start.
    pub fn queries_sent(&self) -> u64 {
        self.queries_sent.load(Ordering::Relaxed)
    }
}

/// How a connection to a broker failed, in the words a caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionFailure {
    /// It could not be opened: refused, reset, a TLS or protocol handshake that failed.
    Connect,
    /// It was not open within the connect timeout.
    ConnectTimeout { after_ms: u128 },
    /// It was open, and broke.
    Lost,
}

impl std::fmt::Display for ConnectionFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectionFailure::Connect => f.write_str("the connection could not be opened"),
            ConnectionFailure::ConnectTimeout { after_ms } => {
                write!(f, "connect timed out after {after_ms} ms")
            }
            ConnectionFailure::Lost => f.write_str("the connection was lost"),
        }
    }
}

impl SourceError {
    /// What the operating system or the handshake said about a connection failure: for the
    /// log, never for the caller.
    pub fn detail(&self) -> Option<&str> {
        match self {
            SourceError::Connection { detail, .. } => Some(detail),
            _ => None,
        }
    }

    /// A short, bounded name for the kind of failure (a metrics label).
    pub fn kind(&self) -> &'static str {
        match self {
            SourceError::NotFound { .. } => "not_found",
            SourceError::Connection { .. } | SourceError::Unavailable { .. } => "unreachable",
            SourceError::AccessRefused { .. } => "access_refused",
            SourceError::Timeout { .. } => "timeout",
            SourceError::Broker { .. } => "broker",
        }
    }
}

/// A broker query that failed. Clone, because one failed evaluation answers every caller that
/// was waiting on it. Messages name the endpoint with its password redacted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    #[error("{what} not found on {endpoint}")]
    NotFound { endpoint: String, what: String },
    /// No connection to the broker, or it was lost. What the operating system said (refused,
    /// reset, a TLS or protocol failure) is `detail`, which goes to the log only: a caller
    /// must not learn from the answer whether something listens at an address it named.
    #[error("cannot reach the broker {endpoint}: {failure} (the cause is in lagscale's log)")]
    Connection {
        endpoint: String,
        failure: ConnectionFailure,
        detail: String,
    },
    /// The broker answered, and cannot serve the query now (no coordinator, no leader).
    #[error("{endpoint} is unavailable: {reason}")]
    Unavailable { endpoint: String, reason: String },
    #[error("{endpoint} refused access: {reason}")]
    AccessRefused { endpoint: String, reason: String },
    #[error("{endpoint} did not answer {operation} within {after_ms} ms")]
    Timeout {
        endpoint: String,
        operation: &'static str,
        after_ms: u128,
    },
    #[error("{endpoint} failed {operation}: {reason}")]
    Broker {
        endpoint: String,
        operation: &'static str,
        reason: String,
    },
}
