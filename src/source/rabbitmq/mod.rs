//! RabbitMQ queues, over AMQP 0-9-1 or the management HTTP API, as KEDA's RabbitMQ scaler
//! reads them (`pkg/scalers/rabbitmq_scaler.go`; its keys in `keys.rs`, read in `parse.rs`).
//!
//! Over AMQP (`protocol: amqp`, [`QueueQuery`]) the lag is the queue's count of ready
//! messages, from a passive `queue.declare` (one round trip; messages delivered but not yet
//! acknowledged are not counted, as in KEDA's AMQP mode). Over HTTP (`protocol: http`,
//! [`HttpQuery`], `http.rs`) it is `messages` (ready + unacknowledged) or `messages_ready`,
//! and the trigger's `mode` may serve a rate, a ratio or a time instead (`mode.rs`).

mod connections;
mod credentials;
mod duration;
pub mod http;
pub mod keys;
pub mod management;
pub mod mode;
mod parse;
mod profile;
mod socket;
pub mod tls;
mod uri;

pub use connections::Connections;
pub use duration::go_duration;
pub use http::{HttpQuery, QueueInfo};
pub use mode::{Mode, Rule};
pub use parse::{DEFAULT_VALUE, Query, Target, parse};
pub use profile::RabbitmqProfile;
pub use uri::AmqpUri;

use crate::metadata::MetricName;

/// The longest queue or vhost name AMQP can carry (a short string).
pub const MAX_NAME_BYTES: usize = 255;

/// Where to connect: a profile of the config file, or a URI given inline in the trigger.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The profile's name, or `None` for an inline `host`.
    pub cluster: Option<String>,
    pub uri: AmqpUri,
    /// The profile's management API, if it names one (never for an inline `host`).
    pub management: Option<management::ManagementUrl>,
    /// TLS for `amqps://` and `https://` (the profile's, or the system default).
    pub tls: tls::RabbitTls,
}

impl Endpoint {
    /// How logs and errors name this endpoint: the profile name, or the redacted URI.
    pub fn label(&self) -> String {
        match &self.cluster {
            Some(name) => format!("cluster {name:?}"),
            None => self.uri.redacted(),
        }
    }
}

/// One queue to measure.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueQuery {
    pub endpoint: Endpoint,
    /// `vhostName`: replaces the URI's vhost (so the connection is to this vhost).
    pub vhost: Option<String>,
    pub queue: String,
}

impl QueueQuery {
    pub fn default_metric_name(&self) -> MetricName {
        let mut parts = vec!["rabbitmq"];
        parts.extend(self.endpoint.cluster.as_deref());
        parts.extend(self.vhost.as_deref());
        parts.push(&self.queue);
        MetricName::derive(&parts)
    }
}
