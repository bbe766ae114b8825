//! Kafka consumer-group lag.
//!
//! One query (the cache key) is a consumer group and, optionally, a topic on one cluster; its
//! answer is an offsets snapshot of every partition concerned ([`GroupSnapshot`]). Each trigger
//! then applies its own options to that snapshot ([`lag()`]), so triggers with different options
//! on the same group share one broker round trip. Trigger keys follow KEDA's Kafka scaler
//! (`pkg/scalers/kafka_scaler.go`, struct `kafkaMetadata` and its `Validate`): the keys lagscale
//! honours are read here, each `xFromEnv` as KEDA reads it (the plain key wins, see
//! [`Metadata::with_from_env`]); the rest of KEDA's keys, its client's settings and
//! credentials, are accepted and ignored or refused in [`keda`].

mod client;
mod keda;
pub mod keys;
pub mod lag;
mod profile;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet};

pub use client::{Clients, GroupSnapshot, TopicPartition};
use lag::{LagAggregate, LagOptions, OffsetResetPolicy, Partitions};
pub use profile::KafkaProfile;
pub use wire::GroupMembers;

use crate::metadata::{
    Connection, ConnectionKeys, Metadata, MetricName, TriggerError, connection, quote,
};
use crate::source::{ClusterProfile, SourceError};

/// Where to connect: a profile of the config file, or bootstrap servers given inline.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The profile's name, or `None` for inline `bootstrapServers`.
    pub cluster: Option<String>,
    pub profile: KafkaProfile,
}

impl Endpoint {
    /// How logs and errors name this endpoint.
    pub fn label(&self) -> String {
        match &self.cluster {
            Some(name) => format!("cluster {name:?}"),
            None => format!("kafka {}", self.profile.bootstrap_servers),
        }
    }
}

/// One consumer group (and topic) to measure: what the brokers are asked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupQuery {
    pub endpoint: Endpoint,
    pub group: String,
    /// `None`: every topic the group has committed offsets for.
    pub topic: Option<String>,
}

impl GroupQuery {
    pub fn default_metric_name(&self) -> MetricName {
        let mut parts = vec!["kafka"];
        parts.extend(self.endpoint.cluster.as_deref());
        parts.push(&self.group);
        parts.extend(self.topic.as_deref());
        MetricName::derive(&parts)
    }
}

/// The trigger's lag from a snapshot of its query, capped for `lag_threshold`.
/// A partition named in `partitionLimitation` that the topic does not have is NotFound.
pub fn lag(
    snapshot: &GroupSnapshot,
    query: &GroupQuery,
    options: &LagOptions,
    lag_threshold: f64,
) -> Result<lag::GroupLag, SourceError> {
    if let (Partitions::Only(wanted), Some(topic)) = (&options.partitions, &query.topic) {
        let present: BTreeSet<i32> = snapshot
            .partitions
            .iter()
            .map(|p| p.offsets.partition)
            .collect();
        if let Some(missing) = wanted.first_missing(&present) {
            return Err(SourceError::NotFound {
                endpoint: query.endpoint.label(),
                what: format!(
                    "partition {missing} of topic {topic:?} (it has {} partitions)",
                    present.len()
                ),
            });
        }
    }
    let offsets: Vec<lag::PartitionOffsets> =
        snapshot.partitions.iter().map(|p| p.offsets).collect();
    Ok(lag::total_lag(&offsets, options, lag_threshold))
}

/// Reads the Kafka keys of a trigger: the query and the lag options.
pub fn parse(
    md: &mut Metadata<'_>,
    clusters: &BTreeMap<String, ClusterProfile>,
) -> Result<(GroupQuery, LagOptions), TriggerError> {
    // First, so that a trigger copied from KEDA with `sasl: scram_sha512` is told about
    // profiles before anything else.
    let named = md
        .optional(crate::metadata::keys::CLUSTER)
        .and_then(|name| match clusters.get(name) {
            Some(ClusterProfile::Kafka(profile)) => Some((name, profile)),
            _ => None,
        });
    keda::check(md, named)?;
    let keys_of_kafka = ConnectionKeys {
        source: "kafka",
        inline: (keys::BOOTSTRAP_SERVERS, keys::BOOTSTRAP_SERVERS_FROM_ENV),
        missing: "`cluster` (a connection profile) or `bootstrapServers` (host:port,...)",
        pick: |profile| match profile {
            ClusterProfile::Kafka(p) => Some(p),
            _ => None,
        },
        source_of: ClusterProfile::source_name,
    };
    let endpoint = match connection(md, clusters, &keys_of_kafka)? {
        Connection::Profile { name, profile } => Endpoint {
            cluster: Some(name.to_owned()),
            profile: profile.clone(),
        },
        Connection::Inline { key, value } => Endpoint {
            cluster: None,
            profile: KafkaProfile::inline(value)
                .map_err(|expected| TriggerError::invalid(key, value, expected))?,
        },
    };
    let Some((_, group)) = md.with_from_env(keys::CONSUMER_GROUP, keys::CONSUMER_GROUP_FROM_ENV)
    else {
        return Err(TriggerError::Missing {
            key: keys::CONSUMER_GROUP,
            expected: "the consumer group whose lag to measure (or `consumerGroupFromEnv`)",
        });
    };
    let topic = md.with_from_env(keys::TOPIC, keys::TOPIC_FROM_ENV);
    if let Some((key, topic)) = topic {
        check_topic_name(key, topic)?;
    }
    let topic = topic.map(|(_, topic)| topic);

    let offset_reset_policy = match md.optional(keys::OFFSET_RESET_POLICY) {
        None | Some("latest") => OffsetResetPolicy::Latest,
        Some("earliest") => OffsetResetPolicy::Earliest,
        Some(other) => {
            return Err(TriggerError::invalid(
                keys::OFFSET_RESET_POLICY,
                other,
                "one of: latest, earliest",
            ));
        }
    };
    let aggregate = match md.optional(keys::LAG_AGGREGATE) {
        None | Some("sum") => LagAggregate::Sum,
        Some("max") => LagAggregate::Max,
        Some(other) => {
            return Err(TriggerError::invalid(
                keys::LAG_AGGREGATE,
                other,
                "one of: sum, max",
            ));
        }
    };
    // Without a topic KEDA ignores partitionLimitation, after checking it (`Validate`).
    let partitions = match md.optional(keys::PARTITION_LIMITATION) {
        None => Partitions::All,
        Some(value) => match (parse_partitions(value)?, topic) {
            (set, Some(_)) => Partitions::Only(set),
            (_, None) => Partitions::All,
        },
    };
    let options = LagOptions {
        offset_reset_policy,
        allow_idle_consumers: md.boolean(keys::ALLOW_IDLE_CONSUMERS)?,
        exclude_persistent_lag: md.boolean(keys::EXCLUDE_PERSISTENT_LAG)?,
        scale_to_zero_on_invalid_offset: md.boolean(keys::SCALE_TO_ZERO_ON_INVALID_OFFSET)?,
        limit_to_partitions_with_lag: md.boolean(keys::LIMIT_TO_PARTITIONS_WITH_LAG)?,
        ensure_even_distribution: md.boolean(keys::ENSURE_EVEN_DISTRIBUTION_OF_PARTITIONS)?,
        partitions,
        aggregate,
    };
    if options.limit_to_partitions_with_lag && options.allow_idle_consumers {
        return Err(TriggerError::invalid(
            keys::LIMIT_TO_PARTITIONS_WITH_LAG,
            "true",
            "false when allowIdleConsumers is true (there is no cap to limit)",
        ));
    }
    // KEDA's `Validate` (`pkg/scalers/kafka_scaler.go`): "topic must be specified when using
    // limitToPartitionsWithLag".
    if options.limit_to_partitions_with_lag && topic.is_none() {
        return Err(TriggerError::invalid(
            keys::LIMIT_TO_PARTITIONS_WITH_LAG,
            "true",
            "false without `topic` (KEDA: topic must be specified when using limitToPartitionsWithLag)",
        ));
    }
    // KEDA's `Validate`: "limitToPartitionsWithLag and ensureEvenDistributionOfPartitions
    // cannot be set simultaneously", "topic must be specified when using
    // ensureEvenDistributionOfPartitions".
    if options.ensure_even_distribution {
        if options.limit_to_partitions_with_lag {
            return Err(TriggerError::invalid(
                keys::ENSURE_EVEN_DISTRIBUTION_OF_PARTITIONS,
                "true",
                "false when limitToPartitionsWithLag is true (KEDA: they cannot be set simultaneously)",
            ));
        }
        if topic.is_none() {
            return Err(TriggerError::invalid(
                keys::ENSURE_EVEN_DISTRIBUTION_OF_PARTITIONS,
                "true",
                "false without `topic` (KEDA: topic must be specified; the partitions to divide are one topic's)",
            ));
        }
    }
    let query = GroupQuery {
        endpoint,
        group: group.to_owned(),
        topic: topic.map(str::to_owned),
    };
    Ok((query, options))
}

/// The longest topic name Kafka accepts.
pub const MAX_TOPIC_BYTES: usize = 249;

/// Kafka's rule for topic names (`org.apache.kafka.common.internals.Topic.validate`): 1 to
/// 249 characters of ASCII letters, digits, `.`, `_` and `-`, and not `.` or `..`.
fn check_topic_name(key: &'static str, topic: &str) -> Result<(), TriggerError> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let expected = if topic.len() > MAX_TOPIC_BYTES {
        format!(
            "at most {MAX_TOPIC_BYTES} characters (Kafka's limit); it has {}",
            topic.len()
        )
    } else if !topic.chars().all(legal) || topic == "." || topic == ".." {
        "a Kafka topic name: ASCII letters, digits, '.', '_' and '-'".to_owned()
    } else {
        return Ok(());
    };
    Err(TriggerError::invalid(key, topic, expected))
}

/// `partitionLimitation`: comma-separated partition numbers and inclusive ranges (`1,2,10-20`),
/// kept as ranges (see [`lag::PartitionSet`]).
fn parse_partitions(value: &str) -> Result<lag::PartitionSet, TriggerError> {
    const EXPECTED: &str = "partition numbers and ranges such as 1,2,10-20";
    let bad = |piece: &str| {
        TriggerError::invalid(
            keys::PARTITION_LIMITATION,
            value,
            format!("{EXPECTED} (cannot read {})", quote(piece)),
        )
    };
    let mut ranges = Vec::new();
    for piece in value.split(',').map(str::trim) {
        let number = |s: &str| {
            s.trim()
                .parse::<i32>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| bad(piece))
        };
        let range = match piece.split_once('-') {
            Some((from, to)) => (number(from)?, number(to)?),
            None => (number(piece)?, number(piece)?),
        };
        if range.0 > range.1 {
            return Err(bad(piece));
        }
        ranges.push(range);
    }
    Ok(lag::PartitionSet::from_ranges(ranges))
}
