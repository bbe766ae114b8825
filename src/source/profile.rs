//! Connection profiles: the closed set of sources a profile of the config file can name.
//! Each source owns the shape of its own profile (`rabbitmq::RabbitmqProfile`,
//! `kafka::KafkaProfile`); this enum adds one arm per source.

use serde::Deserialize;

use super::SourceKind;
use super::kafka::KafkaProfile;
use super::rabbitmq::management::ManagementUrl;
use super::rabbitmq::{AmqpUri, RabbitmqProfile};

/// One named connection to a broker: a map with exactly one key, the source
/// (`rabbitmq: {uri: ...}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "ProfileFields")]
pub enum ClusterProfile {
    Rabbitmq(RabbitmqProfile),
    Kafka(KafkaProfile),
}

impl ClusterProfile {
    /// Checks what can be checked before any connection (Kafka: every client property is
    /// known and its files readable), so that a bad profile stops `serve` at start, not at
    /// the first query. `Err`: the property path below the profile and what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            ClusterProfile::Rabbitmq(_) => Ok(()),
            ClusterProfile::Kafka(kafka) => {
                super::kafka::wire::Security::from_properties(&kafka.properties)
                    .map(|_| ())
                    .map_err(|e| format!("kafka.{e}"))
            }
        }
    }

    /// The source this profile connects to, as `source:` names it.
    pub fn source_name(&self) -> &'static str {
        match self {
            ClusterProfile::Rabbitmq(_) => "rabbitmq",
            ClusterProfile::Kafka(_) => "kafka",
        }
    }

    /// A profile of `source` that points nowhere real, for checking a trigger's keys when no
    /// config file says what its `cluster` is (`lagscale validate` without `--config`). The
    /// RabbitMQ one has a management API too, so that `metric: throughput` is checked as well.
    pub fn stand_in(source: SourceKind) -> Option<ClusterProfile> {
        match source {
            SourceKind::Kafka => KafkaProfile::inline("stand-in:9092")
                .ok()
                .map(ClusterProfile::Kafka),
            SourceKind::Rabbitmq => AmqpUri::parse("amqp://stand-in").ok().map(|uri| {
                let management = ManagementUrl::parse("http://stand-in:15672").ok();
                ClusterProfile::Rabbitmq(RabbitmqProfile::new(uri, management))
            }),
        }
    }
}

/// The YAML shape of a profile, before checking that exactly one source is set.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFields {
    rabbitmq: Option<RabbitmqProfile>,
    kafka: Option<KafkaProfile>,
}

impl TryFrom<ProfileFields> for ClusterProfile {
    type Error = &'static str;

    fn try_from(fields: ProfileFields) -> Result<ClusterProfile, Self::Error> {
        match (fields.rabbitmq, fields.kafka) {
            (Some(profile), None) => Ok(ClusterProfile::Rabbitmq(profile)),
            (None, Some(profile)) => Ok(ClusterProfile::Kafka(profile)),
            _ => Err(
                "a connection profile needs exactly one source key; expected `rabbitmq` or `kafka`",
            ),
        }
    }
}
