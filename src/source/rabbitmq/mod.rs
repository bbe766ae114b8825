//! RabbitMQ queue depth over AMQP 0-9-1.
//!
//! Lag is the queue's count of ready messages, from a passive `queue.declare` (one round trip;
//! messages delivered but not yet acknowledged are not counted, as in KEDA's AMQP mode).
//! Trigger keys follow KEDA's RabbitMQ scaler: `host` (or `hostFromEnv`), `queueName`,
//! `vhostName`; or `cluster`, a connection profile of the config file.

mod connections;
pub mod keys;
pub mod management;
mod profile;
mod socket;
mod uri;

use std::collections::BTreeMap;

pub use connections::Connections;
pub use profile::RabbitmqProfile;
pub use uri::AmqpUri;

use crate::metadata::{Connection, ConnectionKeys, Metadata, MetricName, TriggerError, connection};
use crate::source::ClusterProfile;

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

/// Reads the RabbitMQ keys of a trigger.
pub fn parse_query(
    md: &mut Metadata<'_>,
    clusters: &BTreeMap<String, ClusterProfile>,
) -> Result<QueueQuery, TriggerError> {
    let keys_of_rabbitmq = ConnectionKeys {
        source: "rabbitmq",
        inline: (keys::HOST, keys::HOST_FROM_ENV),
        missing: "`cluster` (a connection profile) or `host` (an AMQP URI)",
        pick: |profile| match profile {
            ClusterProfile::Rabbitmq(p) => Some(p),
            _ => None,
        },
        source_of: ClusterProfile::source_name,
    };
    let endpoint = match connection(md, clusters, &keys_of_rabbitmq)? {
        Connection::Profile { name, profile } => Endpoint {
            cluster: Some(name.to_owned()),
            uri: profile.uri.clone(),
            management: profile.management.clone(),
        },
        Connection::Inline { key, value } => Endpoint {
            cluster: None,
            management: None,
            uri: AmqpUri::parse(value).map_err(|reason| {
                TriggerError::invalid(
                    key,
                    &AmqpUri::redact(value),
                    format!("an AMQP URI like amqp://user@host:5672/vhost ({reason})"),
                )
            })?,
        },
    };
    let queue = md.required(keys::QUEUE_NAME, "the name of the queue to measure")?;
    let vhost = md.optional(keys::VHOST_NAME);
    // AMQP names are short strings: at most 255 bytes on the wire.
    for (key, name) in [(keys::QUEUE_NAME, Some(queue)), (keys::VHOST_NAME, vhost)] {
        if let Some(name) = name.filter(|n| n.len() > MAX_NAME_BYTES) {
            return Err(TriggerError::invalid(
                key,
                name,
                format!(
                    "at most {MAX_NAME_BYTES} bytes (AMQP's limit); it has {}",
                    name.len()
                ),
            ));
        }
    }
    Ok(QueueQuery {
        endpoint,
        vhost: vhost.map(str::to_owned),
        queue: queue.to_owned(),
    })
}
