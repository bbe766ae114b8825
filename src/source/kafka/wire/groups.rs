//! Consumer groups: the offsets a group committed (OffsetFetch), read from the broker that
//! coordinates the group (found by `coordinators`, FindCoordinator).
//!
//! Both are batched across groups where the broker allows it ([`super::batch`]): FindCoordinator
//! v4+ (Kafka 2.8+) resolves many groups in one request, OffsetFetch v8+ (Kafka 3.0+, KIP-709)
//! reads many groups in one request to their coordinator. Older brokers (and librdkafka's mock
//! cluster, which speaks OffsetFetch up to v6) get one request per group, as before.
//!
//! A coordinator is cached until the broker says it moved (`NOT_COORDINATOR`,
//! `COORDINATOR_NOT_AVAILABLE`) or its connection fails; then it is looked up again and the
//! request retried once.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{ApiKey, GroupId, OffsetFetchRequest, TopicName};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::cluster::Cluster;
use super::connection::error_name;
use super::decode;
use crate::source::SourceError;

#[path = "coordinators.rs"]
mod coordinators;

pub(super) use coordinators::CoordinatorLookup;

/// The OffsetFetch versions lagscale speaks (see [`super::decode`]): one group per request in
/// the versions before the flexible encoding, many groups in the batched versions. v1 cannot
/// ask for "every topic"; v10 names topics by id.
const OFFSET_FETCH: VersionRange = VersionRange { min: 1, max: 5 };
const BATCHED_OFFSET_FETCH: VersionRange = VersionRange { min: 8, max: 9 };
/// Groups in one batched request, at most (bounds the request size).
const MAX_GROUPS_PER_REQUEST: usize = 500;

/// Kafka error codes this module acts on.
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
const GROUP_ID_NOT_FOUND: i16 = 69;

/// One group's committed offsets to read: every partition of the named topics, or (`None`)
/// everything the group committed.
#[derive(Debug, Clone)]
pub struct GroupFetch {
    pub group: String,
    pub topics: Option<Vec<(String, Vec<i32>)>>,
}

/// (topic, partition, committed offset; `None` where the group committed nothing).
pub type GroupOffsets = Vec<(String, i32, Option<i64>)>;

impl Cluster {
    /// The group's committed offsets, from its coordinator.
    pub async fn committed(
        self: &Arc<Self>,
        fetch: GroupFetch,
    ) -> Result<GroupOffsets, SourceError> {
        let mut attempt = 0;
        loop {
            let coordinator = self.coordinator(&fetch.group).await?;
            let answer = self.fetch_from(coordinator, fetch.clone()).await;
            match answer {
                Err(Retry::Coordinator(reason)) if attempt < 2 => {
                    tracing::debug!(endpoint = %self.label, group = %fetch.group, %reason, "looking up the group coordinator again");
                    self.forget_coordinator(&fetch.group);
                    attempt += 1;
                    if attempt == 2 {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                Err(Retry::Coordinator(reason)) => {
                    return Err(SourceError::Unavailable {
                        endpoint: self.label.clone(),
                        reason: format!("committed offsets of group {:?}: {reason}", fetch.group),
                    });
                }
                Err(Retry::Failed(error)) => return Err(error),
                Ok(offsets) => return Ok(offsets),
            }
        }
    }

    async fn fetch_from(
        self: &Arc<Self>,
        coordinator: i32,
        fetch: GroupFetch,
    ) -> Result<GroupOffsets, Retry> {
        let connection = match self.broker(coordinator).await {
            Ok(connection) => connection,
            Err(error) => {
                self.forget_coordinator(&fetch.group);
                return Err(Retry::Failed(error));
            }
        };
        let batched = connection
            .versions()
            .pick(ApiKey::OffsetFetch, BATCHED_OFFSET_FETCH)
            .is_some();
        if !batched {
            return self.fetch_one(coordinator, &fetch).await;
        }
        let cluster = self.clone();
        let group = fetch.group.clone();
        self.offset_batches
            .submit(coordinator, fetch, move |batch| async move {
                cluster.fetch_batch(coordinator, batch).await
            })
            .await
            .unwrap_or_else(|| {
                Err(Retry::Failed(SourceError::Broker {
                    endpoint: self.label.clone(),
                    operation: "OffsetFetch",
                    reason: format!("no answer for group {group:?} in its batch"),
                }))
            })
    }

    /// One OffsetFetch (v1-7) for one group.
    async fn fetch_one(&self, coordinator: i32, fetch: &GroupFetch) -> Result<GroupOffsets, Retry> {
        let connection = self.broker(coordinator).await.map_err(Retry::Failed)?;
        let ours = VersionRange {
            min: if fetch.topics.is_none() { 2 } else { 1 },
            max: OFFSET_FETCH.max,
        };
        let (answer, _) = self
            .call(
                &connection,
                ApiKey::OffsetFetch,
                ours,
                |_| {
                    let mut request = OffsetFetchRequest::default();
                    request.group_id = GroupId(StrBytes::from_string(fetch.group.clone()));
                    request.topics = fetch.topics.as_ref().map(|topics| {
                        topics
                            .iter()
                            .map(|(name, partitions)| {
                                let mut topic = OffsetFetchRequestTopic::default();
                                topic.name = TopicName(StrBytes::from_string(name.clone()));
                                topic.partition_indexes = partitions.clone();
                                topic
                            })
                            .collect()
                    });
                    request
                },
                decode::offset_fetch,
            )
            .await
            .map_err(Retry::Failed)?;
        let Some(group) = answer.into_iter().next() else {
            return Err(Retry::Failed(SourceError::Broker {
                endpoint: self.label.clone(),
                operation: "OffsetFetch",
                reason: format!("the answer has no group {:?}", fetch.group),
            }));
        };
        self.read_group(&fetch.group, group.error_code, group.partitions)
    }

    /// One OffsetFetch (v8+) for every group of the batch; groups named twice (two queries of
    /// one group) go in further requests, since answers are matched by group id.
    async fn fetch_batch(
        &self,
        coordinator: i32,
        batch: Vec<GroupFetch>,
    ) -> Vec<Result<GroupOffsets, Retry>> {
        let mut answers: Vec<Option<Result<GroupOffsets, Retry>>> = vec![None; batch.len()];
        let mut left: Vec<usize> = (0..batch.len()).collect();
        while !left.is_empty() {
            let mut round = Vec::new();
            let mut later = Vec::new();
            for index in left {
                let named = round
                    .iter()
                    .any(|&i: &usize| batch[i].group == batch[index].group);
                if named || round.len() == MAX_GROUPS_PER_REQUEST {
                    later.push(index);
                } else {
                    round.push(index);
                }
            }
            let results = self.fetch_round(coordinator, &batch, &round).await;
            for (index, result) in round.into_iter().zip(results) {
                answers[index] = Some(result);
            }
            left = later;
        }
        answers.into_iter().flatten().collect()
    }

    async fn fetch_round(
        &self,
        coordinator: i32,
        batch: &[GroupFetch],
        round: &[usize],
    ) -> Vec<Result<GroupOffsets, Retry>> {
        let sent = async {
            let connection = self.broker(coordinator).await?;
            self.call(
                &connection,
                ApiKey::OffsetFetch,
                BATCHED_OFFSET_FETCH,
                |_| {
                    let mut request = OffsetFetchRequest::default();
                    request.groups = round
                        .iter()
                        .map(|&i| {
                            let mut group = OffsetFetchRequestGroup::default();
                            group.group_id = GroupId(StrBytes::from_string(batch[i].group.clone()));
                            group.topics = batch[i].topics.as_ref().map(|topics| {
                                topics
                                    .iter()
                                    .map(|(name, partitions)| {
                                        let mut topic = OffsetFetchRequestTopics::default();
                                        topic.name = TopicName(StrBytes::from_string(name.clone()));
                                        topic.partition_indexes = partitions.clone();
                                        topic
                                    })
                                    .collect()
                            });
                            group
                        })
                        .collect();
                    request
                },
                decode::offset_fetch,
            )
            .await
        };
        let answer = match sent.await {
            Ok((answer, _)) => answer,
            Err(error) => {
                return round
                    .iter()
                    .map(|_| Err(Retry::Failed(error.clone())))
                    .collect();
            }
        };
        round
            .iter()
            .map(|&i| {
                let group = &batch[i].group;
                let Some(found) = answer.iter().find(|g| &g.group == group) else {
                    return Err(Retry::Failed(SourceError::Broker {
                        endpoint: self.label.clone(),
                        operation: "OffsetFetch",
                        reason: format!("the answer has no group {group:?}"),
                    }));
                };
                self.read_group(group, found.error_code, found.partitions.clone())
            })
            .collect()
    }

    /// A group's answer: its error code, then (topic, partition, offset, error) per partition.
    fn read_group(
        &self,
        group: &str,
        error_code: i16,
        partitions: Vec<(String, i32, i64, i16)>,
    ) -> Result<GroupOffsets, Retry> {
        match error_code {
            0 | GROUP_ID_NOT_FOUND => {}
            COORDINATOR_LOAD_IN_PROGRESS | COORDINATOR_NOT_AVAILABLE | NOT_COORDINATOR => {
                return Err(Retry::Coordinator(error_name(error_code)));
            }
            GROUP_AUTHORIZATION_FAILED => {
                return Err(Retry::Failed(SourceError::AccessRefused {
                    endpoint: self.label.clone(),
                    reason: format!("OffsetFetch of group {group:?}: {}", error_name(error_code)),
                }));
            }
            code => {
                return Err(Retry::Failed(SourceError::Broker {
                    endpoint: self.label.clone(),
                    operation: "OffsetFetch",
                    reason: format!("group {group:?}: {}", error_name(code)),
                }));
            }
        }
        let mut offsets = Vec::with_capacity(partitions.len());
        for (topic, partition, offset, error) in partitions {
            if error != 0 {
                return Err(Retry::Failed(SourceError::Broker {
                    endpoint: self.label.clone(),
                    operation: "OffsetFetch",
                    reason: format!(
                        "topic {topic:?} partition {partition}: {}",
                        error_name(error)
                    ),
                }));
            }
            offsets.push((topic, partition, (offset >= 0).then_some(offset)));
        }
        Ok(offsets)
    }
}

/// Why a fetch from a coordinator did not give offsets.
#[derive(Debug, Clone)]
pub enum Retry {
    /// The coordinator moved or is loading: look it up again and retry.
    Coordinator(String),
    Failed(SourceError),
}
