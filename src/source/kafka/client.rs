//! One Kafka client per cluster profile, shared by every trigger, and the offsets snapshot of a
//! group query.
//!
//! The client is lagscale's own ([`super::wire`]): no librdkafka on the serving path. Per
//! refresh of one query: one OffsetFetch for the group (batched with the other groups refreshed
//! at the same moment, on brokers that speak OffsetFetch v8+), one ListOffsets per leader broker
//! for the high watermarks of all partitions concerned, shared by every group reading that
//! topic, and — only when some partitions have no committed offset — one more ListOffsets per
//! leader broker for the topic's low watermarks, shared likewise. Topic metadata (partitions and leaders) is cached
//! for [`super::wire::METADATA_MAX_AGE`]; never a per-partition loop.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kafka_protocol::messages::ApiKey;

use super::lag::PartitionOffsets;
use super::wire::{Cluster, GroupFetch, GroupMembers, Offsets, Security, Watermark};
use super::{Endpoint, GroupQuery};
use crate::single_flight::SingleFlight;
use crate::source::pool::Pool;
use crate::source::{BrokerTimeouts, Events, SourceError};

/// The offsets of every partition of one query at one refresh.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSnapshot {
    pub partitions: Vec<TopicPartition>,
    /// When the offsets were read (tokio's clock): rates are computed from it, not from when a
    /// cached snapshot was looked at.
    pub read_at: tokio::time::Instant,
}

/// One partition's offsets, with its topic.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicPartition {
    pub topic: String,
    pub offsets: PartitionOffsets,
}

/// All Kafka clients, by endpoint.
pub struct Clients {
    timeouts: BrokerTimeouts,
    events: Events,
    by_endpoint: Pool<Endpoint, KafkaClient>,
    /// High watermarks by (endpoint, topic), shared by every group reading that topic within
    /// one refresh: N groups on one topic cost one ListOffsets per broker, not N.
    high_watermarks: SingleFlight<(Endpoint, String), Result<Arc<Offsets>, SourceError>>,
    /// Low watermarks likewise, read only for topics where some group committed nothing.
    low_watermarks: SingleFlight<(Endpoint, String), Result<Arc<Offsets>, SourceError>>,
}

/// (topic, partition, committed offset if any).
type Committed = Vec<(String, i32, Option<i64>)>;

impl Clients {
    /// `refresh` is how long a topic's high watermarks are reused (the cache TTL).
    /// `idle_ttl`: a client no query used for this long is closed (see `source::pool`).
    pub fn new(
        timeouts: BrokerTimeouts,
        refresh: Duration,
        idle_ttl: Duration,
        events: Events,
    ) -> Clients {
        Clients {
            timeouts,
            events,
            by_endpoint: Pool::new(idle_ttl),
            high_watermarks: SingleFlight::new(refresh),
            low_watermarks: SingleFlight::new(refresh),
        }
    }

    /// How many Kafka clients exist (one per endpoint in use).
    pub fn count(&self) -> usize {
        self.by_endpoint.len()
    }

    /// Closes the clients no query used for the idle TTL: their broker connections end when
    /// the client is dropped. Returns how many were closed.
    pub fn close_idle(&self) -> usize {
        let idle = self.by_endpoint.take_idle();
        for client in &idle {
            tracing::info!(endpoint = %client.cluster.label, "closing an idle Kafka client");
        }
        idle.len()
    }

    /// Requests of one API sent to the brokers of every endpoint so far.
    pub fn requests_sent(&self, key: ApiKey) -> u64 {
        self.clients()
            .iter()
            .map(|c| c.cluster.requests_sent(key))
            .sum()
    }

    /// Broker connections open now, over every endpoint.
    pub fn open_connections(&self) -> usize {
        self.clients()
            .iter()
            .map(|c| c.cluster.open_connections())
            .sum()
    }

    fn clients(&self) -> Vec<Arc<KafkaClient>> {
        self.by_endpoint.clients()
    }

    /// Reads the offsets snapshot of a query, within the connect + query timeouts.
    pub async fn snapshot(&self, query: &GroupQuery) -> Result<GroupSnapshot, SourceError> {
        let budget = self.timeouts.connect + self.timeouts.query;
        let client = self.client(&query.endpoint)?;
        let label = client.cluster.label.clone();
        let snapshot = tokio::time::timeout(budget, self.read(client, query));
        snapshot.await.unwrap_or(Err(SourceError::Timeout {
            endpoint: label,
            operation: "reading consumer group offsets",
            after_ms: budget.as_millis(),
        }))
    }

    /// The query's group members (DescribeGroups), within the connect + query timeouts;
    /// `None` when the broker does not speak DescribeGroups.
    pub async fn members(&self, query: &GroupQuery) -> Result<Option<GroupMembers>, SourceError> {
        let budget = self.timeouts.connect + self.timeouts.query;
        let client = self.client(&query.endpoint)?;
        let label = client.cluster.label.clone();
        let members = tokio::time::timeout(budget, client.cluster.members(&query.group));
        members.await.unwrap_or(Err(SourceError::Timeout {
            endpoint: label,
            operation: "describing the consumer group",
            after_ms: budget.as_millis(),
        }))
    }

    async fn read(
        &self,
        client: Arc<KafkaClient>,
        query: &GroupQuery,
    ) -> Result<GroupSnapshot, SourceError> {
        let cluster = &client.cluster;
        let topics = match &query.topic {
            Some(topic) => {
                let meta = cluster.topic(topic).await?;
                let partitions = meta.partitions.iter().map(|(p, _)| *p).collect();
                Some(vec![(topic.clone(), partitions)])
            }
            None => None,
        };
        let fetch = GroupFetch {
            group: query.group.clone(),
            topics,
        };
        let committed = cluster.committed(fetch).await?;
        let topics: BTreeSet<&str> = committed.iter().map(|(t, _, _)| t.as_str()).collect();
        let highs = self
            .topic_watermarks(cluster, &query.endpoint, topics, Watermark::High)
            .await?;
        let uncommitted: BTreeSet<&str> = committed
            .iter()
            .filter(|(_, _, c)| c.is_none())
            .map(|(t, _, _)| t.as_str())
            .collect();
        let lows = self
            .topic_watermarks(cluster, &query.endpoint, uncommitted, Watermark::Low)
            .await?;
        Ok(client.assemble(&query.group, committed, &highs, &lows))
    }

    /// One end of the log of every partition of `topics`: read once per topic and refresh, and
    /// shared by every group reading that topic.
    async fn topic_watermarks(
        &self,
        cluster: &Arc<Cluster>,
        endpoint: &Endpoint,
        topics: BTreeSet<&str>,
        which: Watermark,
    ) -> Result<Offsets, SourceError> {
        let shared = match which {
            Watermark::High => &self.high_watermarks,
            Watermark::Low => &self.low_watermarks,
        };
        let mut offsets = Offsets::new();
        for topic in topics {
            let key = (endpoint.clone(), topic.to_owned());
            let fetch = || {
                let (cluster, topic) = (cluster.clone(), topic.to_owned());
                async move {
                    let meta = cluster.topic(&topic).await?;
                    let partitions: Vec<(String, i32)> = meta
                        .partitions
                        .iter()
                        .map(|(p, _)| (topic.clone(), *p))
                        .collect();
                    cluster.watermarks(&partitions, which).await.map(Arc::new)
                }
            };
            let (found, _) = shared.get_or_fetch(&key, fetch).await;
            offsets.extend(found?.iter().map(|(k, v)| (k.clone(), *v)));
        }
        Ok(offsets)
    }

    fn client(&self, endpoint: &Endpoint) -> Result<Arc<KafkaClient>, SourceError> {
        self.by_endpoint.get_or_try_insert(endpoint, || {
            KafkaClient::new(endpoint, self.timeouts, self.events.clone())
        })
    }
}

struct KafkaClient {
    cluster: Arc<Cluster>,
    /// The profile's name (`None` inline): the `cluster` label of the connections gauge.
    profile: Option<String>,
    events: Events,
    /// Committed offsets seen at the previous refresh, by (group, topic, partition).
    previous: Mutex<HashMap<(String, String, i32), Option<i64>>>,
}

impl KafkaClient {
    fn new(
        endpoint: &Endpoint,
        timeouts: BrokerTimeouts,
        events: Events,
    ) -> Result<KafkaClient, SourceError> {
        let invalid = |reason: String| SourceError::Broker {
            endpoint: endpoint.label(),
            operation: "creating the Kafka client",
            reason,
        };
        let security = Security::from_properties(&endpoint.profile.properties)
            .map_err(|e| invalid(e.to_string()))?;
        let bootstrap = endpoint
            .profile
            .bootstrap_addresses()
            .map_err(|e| invalid(e.to_owned()))?;
        tracing::info!(endpoint = %endpoint.label(), "Kafka client created");
        events.connection("kafka", endpoint.cluster.as_deref(), 1.0);
        Ok(KafkaClient {
            cluster: Arc::new(Cluster::new(
                endpoint.label(),
                endpoint.cluster.as_deref(),
                bootstrap,
                security,
                timeouts,
                events.clone(),
            )),
            events,
            profile: endpoint.cluster.clone(),
            previous: Mutex::default(),
        })
    }

    /// The snapshot from its parts; remembers the committed offsets for the next refresh.
    fn assemble(
        &self,
        group: &str,
        committed: Committed,
        highs: &Offsets,
        lows: &Offsets,
    ) -> GroupSnapshot {
        let mut previous = self.previous.lock().unwrap_or_else(PoisonError::into_inner);
        let partitions = committed
            .into_iter()
            .map(|(topic, partition, committed)| {
                let key = (topic, partition);
                let seen = (group.to_owned(), key.0.clone(), partition);
                let offsets = PartitionOffsets {
                    partition,
                    committed,
                    previous_committed: previous.insert(seen, committed),
                    high: highs.get(&key).copied().unwrap_or(0),
                    low: lows.get(&key).copied(),
                };
                TopicPartition {
                    topic: key.0,
                    offsets,
                }
            })
            .collect();
        GroupSnapshot {
            partitions,
            read_at: tokio::time::Instant::now(),
        }
    }
}

impl Drop for KafkaClient {
    fn drop(&mut self) {
        self.events
            .connection("kafka", self.profile.as_deref(), -1.0);
    }
}
