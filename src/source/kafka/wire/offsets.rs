//! Partition watermarks: one ListOffsets per leader broker for all the partitions it leads,
//! sent to the leaders at once. A partition whose leader moved (`NOT_LEADER_OR_FOLLOWER` and
//! the like) makes the topic's metadata be read again and the partition asked once more.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::cluster::Cluster;
use super::connection::error_name;
use super::decode;
use crate::source::SourceError;

/// ListOffsets v1 is the first with one offset per partition; v5 the last before the flexible
/// encoding (see [`super::decode`]).
const LIST_OFFSETS: VersionRange = VersionRange { min: 1, max: 5 };

/// Which end of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watermark {
    /// The log-end offset (high watermark).
    High,
    /// The log-start offset.
    Low,
}

impl Watermark {
    fn timestamp(self) -> i64 {
        match self {
            Watermark::High => -1,
            Watermark::Low => -2,
        }
    }
}

/// Offsets by (topic, partition).
pub type Offsets = HashMap<(String, i32), i64>;

/// Errors after which the partition's leader is looked up again.
const STALE_LEADER: [i16; 5] = [
    3,  // UNKNOWN_TOPIC_OR_PARTITION
    5,  // LEADER_NOT_AVAILABLE
    6,  // NOT_LEADER_OR_FOLLOWER
    74, // FENCED_LEADER_EPOCH
    75, // UNKNOWN_LEADER_EPOCH
];

impl Cluster {
    /// The watermark of each partition, asked of each partition's leader.
    pub async fn watermarks(
        self: &Arc<Self>,
        partitions: &[(String, i32)],
        which: Watermark,
    ) -> Result<Offsets, SourceError> {
        let mut offsets = Offsets::new();
        let mut left: Vec<(String, i32)> = partitions.to_vec();
        for attempt in 0..2 {
            let (found, stale) = self.ask_leaders(&left, which).await?;
            offsets.extend(found);
            if stale.is_empty() {
                return Ok(offsets);
            }
            for (topic, _, _) in &stale {
                self.forget_topic(topic);
            }
            if attempt == 1 {
                let (topic, partition, code) = &stale[0];
                return Err(SourceError::Unavailable {
                    endpoint: self.label.clone(),
                    reason: format!(
                        "ListOffsets of topic {topic:?} partition {partition}: {}",
                        error_name(*code)
                    ),
                });
            }
            left = stale.into_iter().map(|(t, p, _)| (t, p)).collect();
        }
        Ok(offsets)
    }

    /// One round: the offsets found, and the partitions whose leader must be looked up again.
    async fn ask_leaders(
        self: &Arc<Self>,
        partitions: &[(String, i32)],
        which: Watermark,
    ) -> Result<(Offsets, Vec<(String, i32, i16)>), SourceError> {
        let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
        let mut stale = Vec::new();
        for (topic, partition) in partitions {
            let meta = self.topic(topic).await?;
            let leader = meta
                .partitions
                .iter()
                .find(|(p, _)| p == partition)
                .map(|(_, leader)| *leader);
            match leader {
                Some(Some(leader)) => by_leader
                    .entry(leader)
                    .or_default()
                    .push((topic.clone(), *partition)),
                // No leader right now, or a partition the metadata does not have yet.
                Some(None) => stale.push((topic.clone(), *partition, 5)),
                None => stale.push((topic.clone(), *partition, 3)),
            }
        }
        let mut asks = tokio::task::JoinSet::new();
        for (leader, partitions) in by_leader {
            let cluster = self.clone();
            asks.spawn(async move { cluster.ask_leader(leader, partitions, which).await });
        }
        let mut offsets = Offsets::new();
        while let Some(done) = asks.join_next().await {
            let (found, moved) = done.map_err(|e| SourceError::Broker {
                endpoint: self.label.clone(),
                operation: "ListOffsets",
                reason: format!("the request task failed: {e}"),
            })??;
            offsets.extend(found);
            stale.extend(moved);
        }
        Ok((offsets, stale))
    }

    async fn ask_leader(
        &self,
        leader: i32,
        partitions: Vec<(String, i32)>,
        which: Watermark,
    ) -> Result<(Offsets, Vec<(String, i32, i16)>), SourceError> {
        let connection = self.broker(leader).await?;
        let (answer, _) = self
            .call(
                &connection,
                ApiKey::ListOffsets,
                LIST_OFFSETS,
                |_| {
                    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
                    for (topic, partition) in &partitions {
                        by_topic.entry(topic).or_default().push(*partition);
                    }
                    let mut request = ListOffsetsRequest::default();
                    // A consumer's request (not a follower's), at READ_UNCOMMITTED: the high
                    // watermark itself, not the last stable offset of transactional topics.
                    request.replica_id = BrokerId(-1);
                    request.isolation_level = 0;
                    request.topics = by_topic
                        .into_iter()
                        .map(|(name, partitions)| {
                            let mut topic = ListOffsetsTopic::default();
                            topic.name = TopicName(StrBytes::from_string(name.to_owned()));
                            topic.partitions = partitions
                                .into_iter()
                                .map(|index| {
                                    let mut partition = ListOffsetsPartition::default();
                                    partition.partition_index = index;
                                    partition.current_leader_epoch = -1;
                                    partition.timestamp = which.timestamp();
                                    partition
                                })
                                .collect();
                            topic
                        })
                        .collect();
                    request
                },
                decode::list_offsets,
            )
            .await?;
        let mut offsets = Offsets::new();
        let mut stale = Vec::new();
        for (topic, partition, error_code, offset) in answer {
            {
                let key = (topic, partition);
                match error_code {
                    0 => {
                        offsets.insert(key, offset);
                    }
                    code if STALE_LEADER.contains(&code) => stale.push((key.0, key.1, code)),
                    code => {
                        return Err(SourceError::Broker {
                            endpoint: self.label.clone(),
                            operation: "ListOffsets",
                            reason: format!(
                                "topic {:?} partition {}: {}",
                                key.0,
                                key.1,
                                error_name(code)
                            ),
                        });
                    }
                }
            }
        }
        for (topic, partition) in partitions {
            let key = (topic, partition);
            if !offsets.contains_key(&key)
                && !stale.iter().any(|(t, p, _)| (t, p) == (&key.0, &key.1))
            {
                return Err(SourceError::Broker {
                    endpoint: self.label.clone(),
                    operation: "ListOffsets",
                    reason: format!("topic {:?} partition {}: not in the answer", key.0, key.1),
                });
            }
        }
        Ok((offsets, stale))
    }
}
