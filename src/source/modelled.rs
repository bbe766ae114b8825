//! A modelled source, for `lagscale simulate`: the trigger keys of a simulated source, and
//! the answer a query's broker would give for a modelled lag, so that the simulation reads
//! lag through the same lag rule as `serve`.

use std::sync::Arc;

use tokio::time::Instant;

use super::kafka::lag::PartitionOffsets;
use super::kafka::{GroupSnapshot, TopicPartition};
use super::rabbitmq::QueueInfo;
use super::{Observation, SourceQuery};

/// The topic of the modelled Kafka group.
const TOPIC: &str = "simulated";

/// The connection keys of the simulated source, for a policy that names no source: a Kafka
/// group on topic `simulated` (the topic [`SourceQuery::modelled_observation`] models).
pub const MODELLED_TRIGGER: [(&str, &str); 4] = [
    ("source", "kafka"),
    ("bootstrapServers", "simulated:9092"),
    ("consumerGroup", "simulated"),
    ("topic", TOPIC),
];

impl SourceQuery {
    /// The broker's answer to this query when `lag` messages wait: a queue that deep; or, for
    /// a Kafka group, `partitions` partitions of topic `simulated`, each with an equal share of
    /// the lag (rounded), nothing committed but offset 0, read at `read_at`.
    pub fn modelled_observation(&self, lag: f64, partitions: u32, read_at: Instant) -> Observation {
        match self {
            SourceQuery::Rabbitmq(_) => Observation::QueueDepth(lag as u64),
            SourceQuery::RabbitmqHttp(q) => Observation::Management(Arc::new([QueueInfo {
                name: q.queue.clone(),
                messages: lag as u64,
                ready: lag as u64,
                publish: 0.0,
                deliver_get: 0.0,
            }])),
            SourceQuery::Kafka(_) => {
                let per = lag / f64::from(partitions);
                let partitions = (0..partitions as i32)
                    .map(|partition| TopicPartition {
                        topic: TOPIC.to_owned(),
                        offsets: PartitionOffsets {
                            partition,
                            committed: Some(0),
                            previous_committed: None,
                            high: per.round() as i64,
                            low: Some(0),
                        },
                    })
                    .collect();
                Observation::Kafka(Arc::new(GroupSnapshot {
                    partitions,
                    read_at,
                }))
            }
        }
    }
}
