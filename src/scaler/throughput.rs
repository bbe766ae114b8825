//! The rates `metric: throughput` triggers decide from: the broker's own (RabbitMQ's
//! management API), or from offsets sampled in the background (Kafka); and, for
//! `replicaThroughput: auto`, the consumers' work sampled likewise (Kafka: the offsets and the
//! group's members, from DescribeGroups; RabbitMQ: the management API's acknowledged count,
//! ready messages and consumers), from which one replica's rate is learned
//! ([`crate::strategy::replica_rate`]). A learner is kept per query and window, and forgotten
//! with its samples once nobody asks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::{Scaler, lookup};
use crate::compression::Compression;
use crate::metrics;
use crate::source::kafka::GroupMembers;
use crate::source::{BrokerRates, Observation, SourceQuery, Sources};
use crate::strategy::rate::{self, OffsetsSample, PartitionPoint, Rates};
use crate::strategy::replica_rate::{Consumers, Learned, Learner, Member, Work};
use crate::strategy::sampler::{Probe, Timed};
use crate::strategy::throughput::{ReplicaThroughput, ThroughputPolicy};
use crate::trigger::TriggerSpec;

/// What a learner is kept by: the query and the rate window.
pub(super) type LearnerKey = (SourceQuery, Duration);

/// The learners of `replicaThroughput: auto` triggers.
#[derive(Default)]
pub(super) struct Learners {
    by_key: Mutex<HashMap<LearnerKey, Learner>>,
}

impl Scaler {
    /// `metric: throughput`'s rates, and for `replicaThroughput: auto` what is learned.
    pub(super) async fn throughput_inputs(
        &self,
        spec: &TriggerSpec,
        policy: &ThroughputPolicy,
    ) -> (Option<Rates>, Option<Learned>) {
        if !matches!(policy.replica_throughput, ReplicaThroughput::Auto { .. }) {
            return (self.rates(spec, policy).await, None);
        }
        let window = policy.rate_window;
        let key = (spec.query().clone(), window);
        let probe = self.work_probe(spec.query(), window);
        let interval = policy.sample_interval();
        let samples = self.work_samplers.samples(&key, probe, interval, window);
        let rates = match spec.query() {
            SourceQuery::Kafka(_) => {
                let offsets: Vec<OffsetsSample> = samples
                    .iter()
                    .map(|s| Timed {
                        at: s.at,
                        value: s.value.partitions.clone(),
                    })
                    .collect();
                rate::rates(&offsets, window)
            }
            _ => self.rates(spec, policy).await,
        };
        let learned = {
            let mut learners = self
                .learners
                .by_key
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // Forgotten learners go when a new one comes, not on every call.
            if !learners.contains_key(&key) {
                learners.retain(|k, _| self.work_samplers.is_sampled(k));
            }
            let learner = learners.entry(key).or_default();
            if let Some(moved) = learner.observe(&samples, window) {
                tracing::info!(
                    metric_name = %spec.metric_name,
                    from = moved.from,
                    to = moved.to,
                    windows = learner.learned().windows,
                    "replicaThroughput: auto: one replica's rate learned anew",
                );
            }
            let learned = learner.learned();
            // The gauge shows the rate sized with, and moves when it does, not on every call.
            let initial = match policy.replica_throughput {
                ReplicaThroughput::Auto { initial } => initial,
                ReplicaThroughput::Fixed(_) => None,
            };
            if let Some(rate) = learned.estimate.or(initial)
                && learner.shown(rate)
            {
                metrics::replica_throughput(&spec.metric_name.to_string(), rate);
            }
            learned
        };
        (rates, Some(learned))
    }

    /// `metric: throughput`'s rates: the broker's own, or from the offsets sampled in the
    /// background; `None` while none are known (a cold start).
    pub(super) async fn rates(
        &self,
        spec: &TriggerSpec,
        policy: &ThroughputPolicy,
    ) -> Option<Rates> {
        let window = policy.rate_window;
        match self.sources.rates(spec.query(), window).await {
            BrokerRates::Sampled => {
                let key = (spec.query().clone(), window);
                let probe = self.offsets_probe(spec.query());
                let interval = policy.sample_interval();
                let samples = self.offset_samplers.samples(&key, probe, interval, window);
                rate::rates(&samples, window)
            }
            BrokerRates::Measured { publish, consume } => Some(Rates {
                produce: publish,
                consume,
                span: window,
            }),
            BrokerRates::Unknown => None,
        }
    }

    /// Reads the consumers' work (see the module doc); a failed read leaves a gap.
    fn work_probe(&self, query: &SourceQuery, window: Duration) -> Probe<Work> {
        self.probe(
            (query.clone(), window),
            |sources, (query, window), clock| read_work(sources, query, window, clock),
        )
    }

    /// Reads the query's offsets through the shared answers, stamped with when the broker
    /// answered.
    fn offsets_probe(&self, query: &SourceQuery) -> Probe<Arc<[PartitionPoint]>> {
        self.probe(query.clone(), |sources, query, clock| async move {
            match lookup(&sources, &query, &clock, tokio::time::Instant::now())
                .await
                .0
            {
                Ok(observation) => Some(Timed {
                    at: observation.read_at()?,
                    value: offsets(&observation, &query)?,
                }),
                Err(error) => {
                    tracing::warn!(%error, "offset sample failed");
                    None
                }
            }
        })
    }
}

/// One sample of the consumers' work: RabbitMQ's from the management API (the acknowledged
/// total as the committed offset, the ready messages as the lag, the consumer count); Kafka's
/// offsets from the shared answers and the members from DescribeGroups.
async fn read_work(
    sources: Arc<Sources>,
    query: SourceQuery,
    window: Duration,
    clock: Compression,
) -> Option<Timed<Work>> {
    if let Some(stats) = sources.queue_stats(&query, window).await {
        let stats = stats.ok()?;
        let (consumed, ready) = (stats.consumed? as i64, stats.ready? as i64);
        let point = PartitionPoint {
            partition: 0,
            high: consumed + ready,
            committed: Some(consumed),
        };
        return Some(Timed {
            at: clock.now(),
            value: Work {
                partitions: Arc::from([point]),
                consumers: stats.consumers.map(Consumers::Shared),
            },
        });
    }
    let observation = match lookup(&sources, &query, &clock, tokio::time::Instant::now())
        .await
        .0
    {
        Ok(observation) => observation,
        Err(error) => {
            tracing::warn!(%error, "offset sample failed");
            return None;
        }
    };
    let members = match sources.members(&query).await {
        Ok(members) => members,
        Err(error) => {
            tracing::warn!(%error, "consumer group members not read");
            return None;
        }
    };
    let topic = match &query {
        SourceQuery::Kafka(q) => q.topic.as_deref(),
        _ => None,
    };
    Some(Timed {
        at: observation.read_at()?,
        value: Work {
            partitions: offsets(&observation, &query)?,
            consumers: members.map(|m| consumers(m, topic)),
        },
    })
}

/// The offsets of every partition `query` reads, from its answer.
fn offsets(observation: &Observation, query: &SourceQuery) -> Option<Arc<[PartitionPoint]>> {
    let points = observation.partition_offsets(query)?.into_iter();
    Some(
        points
            .map(|(partition, high, committed)| PartitionPoint {
                partition,
                high,
                committed,
            })
            .collect(),
    )
}

/// A group as `replica_rate` sees it: rebalancing, or its members sorted by id with their
/// partitions of `topic` (all partitions of one topic, when the query names none).
fn consumers(group: GroupMembers, topic: Option<&str>) -> Consumers {
    if matches!(
        group.state.as_str(),
        "PreparingRebalance" | "CompletingRebalance"
    ) {
        return Consumers::Rebalancing;
    }
    let mut members: Vec<Member> = group
        .members
        .into_iter()
        .map(|(id, assigned)| Member {
            id,
            partitions: assigned.map(|topics| {
                let mut partitions: Vec<i32> = topics
                    .into_iter()
                    .filter(|(t, _)| topic.is_none_or(|topic| topic == t))
                    .flat_map(|(_, p)| p)
                    .collect();
                partitions.sort_unstable();
                partitions
            }),
        })
        .collect();
    members.sort_by(|a, b| a.id.cmp(&b.id));
    Consumers::Members(members.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_as_the_learner_sees_it() {
        let group = |state: &str| GroupMembers {
            state: state.to_owned(),
            members: vec![
                (
                    "b".to_owned(),
                    Some(vec![
                        ("orders".to_owned(), vec![3, 1]),
                        ("audit".to_owned(), vec![0]),
                    ]),
                ),
                ("a".to_owned(), None),
            ],
        };
        assert_eq!(
            consumers(group("CompletingRebalance"), Some("orders")),
            Consumers::Rebalancing
        );
        let Consumers::Members(members) = consumers(group("Stable"), Some("orders")) else {
            panic!("members")
        };
        assert_eq!(members[0].id, "a");
        assert_eq!(members[0].partitions, None);
        assert_eq!(members[1].partitions, Some(vec![1, 3]));
    }
}
