//! Lag sources: the closed set of brokers lagscale reads lag from.
//!
//! A source is a variant of [`SourceKind`] and [`SourceQuery`], one module, and one arm in
//! each `match` here. [`Sources`] holds the long-lived broker clients (one connection per
//! connection profile, shared by every trigger) and counts the broker queries it sends.

pub mod rabbitmq;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::trigger::MetricName;

/// Which broker a trigger reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Rabbitmq,
}

impl SourceKind {
    /// What `source:` accepts, for error messages.
    pub const EXPECTED: &'static str = "one of: rabbitmq";

    pub fn parse(value: &str) -> Option<SourceKind> {
        match value {
            "rabbitmq" => Some(SourceKind::Rabbitmq),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Rabbitmq => "rabbitmq",
        }
    }
}

/// One question to a broker. Triggers that ask the same question share one evaluation: this
/// is the cache key, so it holds what the broker is asked and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SourceQuery {
    Rabbitmq(rabbitmq::QueueQuery),
}

impl SourceQuery {
    pub fn kind(&self) -> SourceKind {
        match self {
            SourceQuery::Rabbitmq(_) => SourceKind::Rabbitmq,
        }
    }

    /// The metric name used when the trigger sets no `metricName`.
    pub fn default_metric_name(&self) -> MetricName {
        match self {
            SourceQuery::Rabbitmq(q) => q.default_metric_name(),
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
    rabbitmq: rabbitmq::Connections,
    queries_sent: AtomicU64,
}

impl Sources {
    pub fn new(timeouts: BrokerTimeouts) -> Sources {
        Sources {
            rabbitmq: rabbitmq::Connections::new(timeouts),
            queries_sent: AtomicU64::new(0),
        }
    }

    /// Asks the broker for the current lag, in messages.
    pub async fn lag(&self, query: &SourceQuery) -> Result<u64, SourceError> {
        self.queries_sent.fetch_add(1, Ordering::Relaxed);
        match query {
            SourceQuery::Rabbitmq(q) => self.rabbitmq.queue_depth(q).await,
        }
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

/// A broker query that failed. Clone, because one failed evaluation answers every caller that
/// was waiting on it. Messages name the endpoint with its password redacted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    #[error("{what} not found on {endpoint}")]
    NotFound { endpoint: String, what: String },
    #[error("cannot reach {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
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
