//! Group coordinators: which broker coordinates each group, looked up with FindCoordinator
//! (batched across groups on v4+, one request per group before) and cached until the broker
//! says the coordinator moved.

use std::sync::{Arc, PoisonError};

use kafka_protocol::messages::{ApiKey, FindCoordinatorRequest};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::super::cluster::Cluster;
use super::super::connection::error_name;
use super::super::decode::{self, Coordinator};
use super::{GROUP_AUTHORIZATION_FAILED, MAX_GROUPS_PER_REQUEST};
use crate::source::SourceError;

/// The FindCoordinator versions lagscale speaks (see [`decode`]): one group per request before
/// the flexible encoding, many groups in the batched versions. v0 was removed in Kafka 4.
const FIND_COORDINATOR: VersionRange = VersionRange { min: 1, max: 2 };
const BATCHED_FIND_COORDINATOR: VersionRange = VersionRange { min: 4, max: 6 };
/// Batches of FindCoordinator are keyed by this, not by a broker: any broker answers them.
const ANY_BROKER: i32 = -1;

/// The answer to one group's coordinator lookup: the broker id, or the error.
pub type CoordinatorLookup = Result<i32, SourceError>;

impl Cluster {
    /// The broker coordinating `group`: cached, else looked up (batched with other lookups).
    pub async fn coordinator(self: &Arc<Self>, group: &str) -> Result<i32, SourceError> {
        let cached = self
            .coordinators
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(group)
            .copied();
        if let Some(id) = cached {
            return Ok(id);
        }
        let cluster = self.clone();
        let id = self
            .coordinator_batches
            .submit(ANY_BROKER, group.to_owned(), move |groups| async move {
                cluster.find_coordinators(groups).await
            })
            .await
            .unwrap_or_else(|| {
                Err(SourceError::Broker {
                    endpoint: self.label.clone(),
                    operation: "FindCoordinator",
                    reason: format!("no answer for group {group:?} in its batch"),
                })
            })?;
        self.coordinators
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(group.to_owned(), id);
        Ok(id)
    }

    pub(in crate::source::kafka::wire) fn forget_coordinator(&self, group: &str) {
        self.coordinators
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(group);
    }

    /// One FindCoordinator (v4+) for all the groups, or one per group on older brokers.
    async fn find_coordinators(&self, groups: Vec<String>) -> Vec<CoordinatorLookup> {
        let connection = match self.any_broker().await {
            Ok(connection) => connection,
            Err(error) => return groups.iter().map(|_| Err(error.clone())).collect(),
        };
        let batched = connection
            .versions()
            .pick(ApiKey::FindCoordinator, BATCHED_FIND_COORDINATOR)
            .is_some();
        let mut answers = Vec::with_capacity(groups.len());
        if batched {
            for chunk in groups.chunks(MAX_GROUPS_PER_REQUEST) {
                let asked = self
                    .call(
                        &connection,
                        ApiKey::FindCoordinator,
                        BATCHED_FIND_COORDINATOR,
                        |_| {
                            let mut request = FindCoordinatorRequest::default();
                            request.coordinator_keys = chunk
                                .iter()
                                .map(|g| StrBytes::from_string(g.clone()))
                                .collect();
                            request
                        },
                        decode::find_coordinator,
                    )
                    .await;
                for group in chunk {
                    answers.push(
                        asked
                            .as_ref()
                            .map_err(Clone::clone)
                            .and_then(|(answer, _)| {
                                let found = answer.iter().find(|c| &c.key == group);
                                match found {
                                    Some(c) => self.coordinator_answer(group, c),
                                    None => Err(SourceError::Broker {
                                        endpoint: self.label.clone(),
                                        operation: "FindCoordinator",
                                        reason: format!("the answer has no group {group:?}"),
                                    }),
                                }
                            }),
                    );
                }
            }
        } else {
            // One request per group, sent at once (the connection pipelines them).
            let connection = &connection;
            let asks = groups.iter().map(|group| async move {
                let asked = self
                    .call(
                        connection,
                        ApiKey::FindCoordinator,
                        FIND_COORDINATOR,
                        |_| {
                            let mut request = FindCoordinatorRequest::default();
                            request.key = StrBytes::from_string(group.clone());
                            request
                        },
                        decode::find_coordinator,
                    )
                    .await;
                asked.and_then(|(answer, _)| match answer.first() {
                    Some(c) => self.coordinator_answer(group, c),
                    None => Err(SourceError::Broker {
                        endpoint: self.label.clone(),
                        operation: "FindCoordinator",
                        reason: format!("no coordinator in the answer for group {group:?}"),
                    }),
                })
            });
            answers.extend(join_all(asks).await);
        }
        answers
    }

    fn coordinator_answer(&self, group: &str, found: &Coordinator) -> CoordinatorLookup {
        match found.error_code {
            0 => {
                self.learn_broker(found.node, &found.host, found.port);
                Ok(found.node)
            }
            GROUP_AUTHORIZATION_FAILED => Err(SourceError::AccessRefused {
                endpoint: self.label.clone(),
                reason: format!(
                    "FindCoordinator of group {group:?}: {}",
                    error_name(found.error_code)
                ),
            }),
            code => Err(SourceError::Unavailable {
                endpoint: self.label.clone(),
                reason: format!("no coordinator for group {group:?}: {}", error_name(code)),
            }),
        }
    }
}

/// Runs futures at once and gives their outputs in order (no extra crate for it).
async fn join_all<T>(
    futures: impl Iterator<Item = impl std::future::Future<Output = T>>,
) -> Vec<T> {
    let mut futures: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
