//! Topic metadata: a topic's partitions and their leaders, read with Metadata and cached for
//! [`METADATA_MAX_AGE`] (concurrent readers share one request).

use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, TopicName};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::super::connection::error_name;
use super::super::decode;
use super::Cluster;
use crate::source::SourceError;

/// How long topic metadata (partitions and leaders) is used before it is read again.
pub const METADATA_MAX_AGE: Duration = Duration::from_secs(30);

/// Metadata v4-v8: what every broker from Kafka 2.3 to 4.x speaks, without the flexible
/// encoding (see [`decode`]).
const METADATA: VersionRange = VersionRange { min: 4, max: 8 };

/// A topic's partitions and their leaders, at one Metadata answer.
#[derive(Debug, Clone)]
pub struct TopicMeta {
    /// (partition, leader broker id; `None` while it has no leader), by partition.
    pub partitions: Vec<(i32, Option<i32>)>,
}

impl Cluster {
    /// A topic's partitions and leaders: cached, read again once older than
    /// [`METADATA_MAX_AGE`] or after [`Cluster::forget_topic`].
    pub async fn topic(&self, topic: &str) -> Result<TopicMeta, SourceError> {
        let key = topic.to_owned();
        let (meta, _) = self
            .topics
            .get_or_fetch(&key, || self.read_topic(topic))
            .await;
        if meta.is_err() {
            self.topics.forget(&key);
        }
        meta
    }

    async fn read_topic(&self, topic: &str) -> Result<TopicMeta, SourceError> {
        let connection = self.any_broker().await?;
        let (answer, _) = self
            .call(
                &connection,
                ApiKey::Metadata,
                METADATA,
                |_| {
                    let mut request = MetadataRequest::default();
                    let mut wanted = MetadataRequestTopic::default();
                    wanted.name = Some(TopicName(StrBytes::from_string(topic.to_owned())));
                    request.topics = Some(vec![wanted]);
                    request.allow_auto_topic_creation = false;
                    request
                },
                decode::metadata,
            )
            .await?;
        for (id, host, port) in &answer.brokers {
            self.learn_broker(*id, host, *port);
        }
        let found = answer.topics.iter().find(|t| t.name == topic);
        let not_found = || SourceError::NotFound {
            endpoint: self.label.clone(),
            what: format!("topic {topic:?}"),
        };
        let Some(found) = found else {
            return Err(not_found());
        };
        match found.error_code {
            0 if found.partitions.is_empty() => return Err(not_found()),
            0 => {}
            3 => return Err(not_found()),
            29 => {
                return Err(SourceError::AccessRefused {
                    endpoint: self.label.clone(),
                    reason: format!("Metadata of topic {topic:?}: {}", error_name(29)),
                });
            }
            code => {
                return Err(SourceError::Unavailable {
                    endpoint: self.label.clone(),
                    reason: format!("Metadata of topic {topic:?}: {}", error_name(code)),
                });
            }
        }
        let mut partitions: Vec<(i32, Option<i32>)> = found
            .partitions
            .iter()
            .map(|&(_, index, leader)| (index, (leader >= 0).then_some(leader)))
            .collect();
        partitions.sort_unstable();
        Ok(TopicMeta { partitions })
    }

    /// Drops a topic's metadata (a leader moved, or the topic was re-created).
    pub fn forget_topic(&self, topic: &str) {
        self.topics.forget(&topic.to_owned());
    }
}
