//! Lag sources: the closed set of brokers lagscale reads lag from, and everything about them.
//!
//! A source is one folder (`rabbitmq/`, `kafka/`) that owns its trigger keys, its connection
//! profile, its clients, its lag arithmetic and its rates, plus one variant of [`SourceKind`],
//! [`SourceQuery`] and [`Observation`], and one arm in each `match` of this module. A trigger's
//! source keys parse into one [`SourceTrigger`]: the query (the cache key) with the rule that
//! reads this trigger's lag from the answer. [`Sources`] (`sources.rs`) owns all broker I/O.

pub mod backoff;
mod error;
mod events;
#[cfg(test)]
pub mod fake;
pub mod kafka;
mod keys;
mod modelled;
mod partitions;
mod pool;
mod profile;
pub mod rabbitmq;
mod rates;
pub mod secrets;
mod sources;
#[cfg(test)]
pub mod test_pki;
pub mod tls;

pub use error::{ConnectionFailure, SourceError};
pub use events::{BrokerEvents, Events, NoEvents};
pub use keys::{KEYS, Key, from_env_stand_in, readme_tables};
pub use modelled::MODELLED_TRIGGER;
pub use profile::ClusterProfile;
pub use rates::{BrokerRates, PartitionOffsets, RateSource};
pub use sources::{BrokerTimeouts, Sources};

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::compression::Compression;
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
    /// A queue over AMQP.
    Rabbitmq(rabbitmq::QueueQuery),
    /// A queue (or a regex's queues) over RabbitMQ's management API (`protocol: http`).
    RabbitmqHttp(rabbitmq::HttpQuery),
    Kafka(kafka::GroupQuery),
}

impl SourceQuery {
    pub fn kind(&self) -> SourceKind {
        match self {
            SourceQuery::Rabbitmq(_) | SourceQuery::RabbitmqHttp(_) => SourceKind::Rabbitmq,
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
            SourceQuery::RabbitmqHttp(q) => q
                .cluster
                .is_none()
                .then(|| ("host", vec![q.url.authority()])),
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
            SourceQuery::RabbitmqHttp(q) => QueryLabels {
                source: "rabbitmq",
                cluster: q.cluster.as_deref(),
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

    /// The metric name used when the trigger sets no `metricName`.
    pub fn default_metric_name(&self) -> MetricName {
        match self {
            SourceQuery::Rabbitmq(q) => q.default_metric_name(),
            SourceQuery::RabbitmqHttp(q) => q.default_metric_name(),
            SourceQuery::Kafka(q) => q.default_metric_name(),
        }
    }
}

/// A broker's answer to a [`SourceQuery`], shared by every trigger that asked it.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// Ready messages in a queue (AMQP).
    QueueDepth(u64),
    /// What the management API says of a queue, or of a regex's queues.
    Management(Arc<[rabbitmq::QueueInfo]>),
    /// The offsets of a consumer group's partitions.
    Kafka(Arc<kafka::GroupSnapshot>),
}

/// A trigger's source keys, parsed as one value: what to ask the broker (the cache key every
/// trigger asking the same shares) and how this trigger reads its lag from the answer. Only
/// [`SourceTrigger::parse`] makes one, so the query and the rule are of the same source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceTrigger {
    query: SourceQuery,
    rule: LagRule,
    /// The target the source's keys set when `lagThreshold` / `value` do not (RabbitMQ:
    /// KEDA's default 20, or `queueLength`).
    target: rabbitmq::Target,
}

/// How one trigger reads its lag from an [`Observation`]: the per-trigger options of its source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LagRule {
    /// The queue depth is the lag.
    QueueDepth,
    /// RabbitMQ's management API: the mode, the count and the regex's operation.
    Management(rabbitmq::Rule),
    /// Kafka options (reset policy, persistent lag, partitions, cap, aggregate).
    Kafka(kafka::lag::LagOptions),
}

/// One trigger's lag at one refresh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lag {
    /// In messages (for Kafka, after the `allowIdleConsumers: false` cap).
    pub messages: u64,
    /// Kafka: the partitions consumers can use (see [`kafka::lag::GroupLag`]).
    pub partitions: Option<u64>,
    /// What activation compares with `activationLagThreshold`, in messages: for Kafka the lag
    /// before the cap and with persistent partitions counted, as KEDA does
    /// ([`kafka::lag::GroupLag::activation`]); otherwise `messages`.
    pub activation: u64,
    /// What the source decided itself, where the transform and the activation threshold do not
    /// apply: a RabbitMQ rate, ratio or time `mode`'s value and activity.
    pub decided: Option<SourceDecision>,
}

/// A metric and an activity a source decides itself (RabbitMQ's rate, ratio and time modes,
/// with KEDA's formulas).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceDecision {
    pub metric: f64,
    pub active: bool,
}

impl SourceTrigger {
    /// Reads the source's own keys of a trigger (`source:` said which).
    pub fn parse(
        kind: SourceKind,
        md: &mut Metadata<'_>,
        clusters: &BTreeMap<String, ClusterProfile>,
    ) -> Result<SourceTrigger, TriggerError> {
        Ok(match kind {
            SourceKind::Rabbitmq => match rabbitmq::parse(md, clusters)? {
                (rabbitmq::Query::Amqp(query), target) => SourceTrigger {
                    query: SourceQuery::Rabbitmq(query),
                    rule: LagRule::QueueDepth,
                    target,
                },
                (rabbitmq::Query::Http(query, rule), target) => SourceTrigger {
                    query: SourceQuery::RabbitmqHttp(query),
                    rule: LagRule::Management(rule),
                    target,
                },
            },
            SourceKind::Kafka => {
                let (query, options) = kafka::parse(md, clusters)?;
                SourceTrigger {
                    query: SourceQuery::Kafka(query),
                    rule: LagRule::Kafka(options),
                    target: None,
                }
            }
        })
    }

    /// What the broker is asked.
    pub fn query(&self) -> &SourceQuery {
        &self.query
    }

    /// How the lag is read from the answer.
    pub fn rule(&self) -> &LagRule {
        &self.rule
    }

    /// The lag, for a trigger with `lag_threshold` (the Kafka cap needs it; pass infinity for
    /// no cap). `observation` is the broker's answer to [`SourceTrigger::query`].
    pub fn lag(&self, observation: &Observation, lag_threshold: f64) -> Result<Lag, SourceError> {
        match (&self.rule, &self.query, observation) {
            (LagRule::QueueDepth, _, Observation::QueueDepth(depth)) => Ok(Lag {
                messages: *depth,
                partitions: None,
                activation: *depth,
                decided: None,
            }),
            (LagRule::Management(rule), _, Observation::Management(queues)) => Ok(rule.lag(queues)),
            (LagRule::Kafka(options), SourceQuery::Kafka(query), Observation::Kafka(snapshot)) => {
                let lag = kafka::lag(snapshot, query, options, lag_threshold)?;
                Ok(Lag {
                    messages: lag.messages,
                    partitions: Some(lag.partitions),
                    activation: lag.activation,
                    decided: None,
                })
            }
            // Only an answer to another query gets here: a bug in the caller, not the broker.
            (_, query, observation) => Err(SourceError::Mismatch {
                query: query.kind().name(),
                answer: observation.kind().name(),
            }),
        }
    }

    /// The target the source's keys set (key and value) when `lagThreshold` / `value` do not.
    pub fn default_target(&self) -> Option<(&'static str, f64)> {
        self.target.map(|(key, value)| (key, value.0))
    }

    /// Whether replicas beyond the partition count would idle, so a served value is capped
    /// at the partitions (Kafka, unless `allowIdleConsumers`).
    pub fn caps_at_partitions(&self) -> bool {
        matches!(&self.rule, LagRule::Kafka(options) if !options.allow_idle_consumers)
    }
}

impl Observation {
    /// The source that answered.
    pub fn kind(&self) -> SourceKind {
        match self {
            Observation::QueueDepth(_) | Observation::Management(_) => SourceKind::Rabbitmq,
            Observation::Kafka(_) => SourceKind::Kafka,
        }
    }

    /// The answer as a compressed scenario sees it ([`Compression`]): a Kafka group's offsets
    /// in messages (each record standing for `speed` of them) and read on the scenario clock.
    /// Other answers, and every answer at speed 1, are returned as they are.
    pub fn compressed(self, compression: &Compression) -> Observation {
        match self {
            Observation::Kafka(snapshot) if !compression.is_none() => {
                let messages = |offset: i64| compression.messages(offset);
                let partitions = snapshot
                    .partitions
                    .iter()
                    .map(|p| {
                        let o = &p.offsets;
                        kafka::TopicPartition {
                            topic: p.topic.clone(),
                            offsets: kafka::lag::PartitionOffsets {
                                partition: o.partition,
                                committed: o.committed.map(messages),
                                previous_committed: o.previous_committed.map(|c| c.map(messages)),
                                high: messages(o.high),
                                low: o.low.map(messages),
                            },
                        }
                    })
                    .collect();
                Observation::Kafka(Arc::new(kafka::GroupSnapshot {
                    partitions,
                    read_at: compression.scenario(snapshot.read_at),
                }))
            }
            other => other,
        }
    }
}
