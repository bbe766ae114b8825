//! One Kafka client per cluster profile, shared by every trigger, and the offsets snapshot of a
//! group query.
//!
//! Per refresh of one query: one OffsetFetch for the group (through [`super::ffi`]), one
//! ListOffsets per leader broker for the high watermarks of all partitions concerned
//! (`offsets_for_times` at `Offset::End`), and — only when some partitions have no committed
//! offset — one more ListOffsets per leader broker for their low watermarks. Topic metadata
//! (the partition list) is cached and refreshed in the background once it is older than
//! [`METADATA_MAX_AGE`]; never a per-partition watermark loop.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::ffi::{self, GroupOffsetsError};
use super::lag::PartitionOffsets;
use super::{Endpoint, GroupQuery};
use crate::cache::SingleFlight;
use crate::source::{BrokerTimeouts, SourceError};

/// How long topic metadata is used before a background refresh.
pub const METADATA_MAX_AGE: Duration = Duration::from_secs(30);

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
    by_endpoint: Mutex<HashMap<Endpoint, Arc<KafkaClient>>>,
    /// High watermarks by (endpoint, topic), shared by every group reading that topic within
    /// one refresh: N groups on one topic cost one ListOffsets per broker, not N.
    high_watermarks: SingleFlight<(Endpoint, String), Result<Arc<Watermarks>, SourceError>>,
}

/// Offsets by (topic, partition).
type Watermarks = HashMap<(String, i32), i64>;

/// (topic, partition, committed offset if any).
type Committed = Vec<(String, i32, Option<i64>)>;

impl Clients {
    /// `refresh` is how long a topic's high watermarks are reused (the cache TTL).
    pub fn new(timeouts: BrokerTimeouts, refresh: Duration) -> Clients {
        Clients {
            timeouts,
            by_endpoint: Mutex::new(HashMap::new()),
            high_watermarks: SingleFlight::new(refresh),
        }
    }

    /// How many Kafka clients exist (one per endpoint in use).
    pub fn count(&self) -> usize {
        self.by_endpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Reads the offsets snapshot of a query, within the connect + query timeouts.
    pub async fn snapshot(&self, query: &GroupQuery) -> Result<GroupSnapshot, SourceError> {
        let budget = self.timeouts.connect + self.timeouts.query;
        let deadline = Instant::now() + budget;
        let client = self.client(&query.endpoint)?;
        let label = client.label.clone();
        let snapshot = tokio::time::timeout(budget, self.read(client, query, deadline));
        snapshot.await.unwrap_or(Err(SourceError::Timeout {
            endpoint: label,
            operation: "reading consumer group offsets",
            after_ms: budget.as_millis(),
        }))
    }

    async fn read(
        &self,
        client: Arc<KafkaClient>,
        query: &GroupQuery,
        deadline: Instant,
    ) -> Result<GroupSnapshot, SourceError> {
        let label = client.label.clone();
        let committed = {
            let (client, query) = (client.clone(), query.clone());
            blocking(&label, move || client.committed(&query, deadline)).await?
        };
        let mut highs = Watermarks::new();
        let topics: BTreeSet<&str> = committed.iter().map(|(t, _, _)| t.as_str()).collect();
        for topic in topics {
            let key = (query.endpoint.clone(), topic.to_owned());
            let fetch = || {
                let (client, topic, label) = (client.clone(), topic.to_owned(), label.clone());
                async move {
                    let read = move || client.topic_high_watermarks(&topic, deadline);
                    blocking(&label, read).await.map(Arc::new)
                }
            };
            let (topic_highs, _) = self.high_watermarks.get_or_fetch(&key, fetch).await;
            highs.extend(topic_highs?.iter().map(|(k, v)| (k.clone(), *v)));
        }
        let uncommitted: Vec<(String, i32)> = committed
            .iter()
            .filter(|(_, _, c)| c.is_none())
            .map(|(t, p, _)| (t.clone(), *p))
            .collect();
        let lows = if uncommitted.is_empty() {
            Watermarks::new()
        } else {
            let reader = client.clone();
            blocking(&label, move || {
                let partitions = uncommitted.iter().map(|(t, p)| (t.as_str(), *p));
                reader.watermarks(partitions, Offset::Beginning, left(deadline))
            })
            .await?
        };
        Ok(client.assemble(&query.group, committed, &highs, &lows))
    }

    fn client(&self, endpoint: &Endpoint) -> Result<Arc<KafkaClient>, SourceError> {
        let mut by_endpoint = self
            .by_endpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = by_endpoint.get(endpoint) {
            return Ok(client.clone());
        }
        let client = Arc::new(KafkaClient::new(endpoint)?);
        by_endpoint.insert(endpoint.clone(), client.clone());
        Ok(client)
    }
}

struct KafkaClient {
    label: String,
    consumer: Arc<BaseConsumer>,
    metadata: Arc<Mutex<HashMap<String, TopicMetadata>>>,
    /// Held while metadata is fetched for a topic not yet known, so that concurrent readers of
    /// a new topic send one Metadata request between them.
    metadata_miss: Mutex<()>,
    /// Committed offsets seen at the previous refresh, by (group, topic, partition).
    previous: Mutex<HashMap<(String, String, i32), Option<i64>>>,
}

#[derive(Clone)]
struct TopicMetadata {
    partitions: Vec<i32>,
    fetched: Instant,
    refreshing: Arc<AtomicBool>,
}

impl KafkaClient {
    fn new(endpoint: &Endpoint) -> Result<KafkaClient, SourceError> {
        let mut config = ClientConfig::new();
        // Defaults a profile may override: `client.id`, and a `group.id` that is never joined
        // nor committed to. librdkafka needs that consumer-group handle, or it dereferences NULL
        // when an OffsetFetch of ListConsumerGroupOffsets fails with a coordinator error (e.g.
        // BROKER_NOT_AVAILABLE during a broker restart).
        config
            .set("client.id", "lagscale")
            .set("group.id", "lagscale-offset-reader");
        for (key, value) in &endpoint.profile.properties {
            config.set(key, value);
        }
        config
            .set("bootstrap.servers", &endpoint.profile.bootstrap_servers)
            .set("enable.auto.commit", "false")
            .set("allow.auto.create.topics", "false");
        let consumer: BaseConsumer = config.create().map_err(|e| SourceError::Broker {
            endpoint: endpoint.label(),
            operation: "creating the Kafka client",
            reason: e.to_string(),
        })?;
        tracing::info!(endpoint = %endpoint.label(), "Kafka client created");
        crate::metrics::broker_connection("kafka", endpoint.cluster.as_deref(), 1.0);
        Ok(KafkaClient {
            label: endpoint.label(),
            consumer: Arc::new(consumer),
            metadata: Arc::default(),
            metadata_miss: Mutex::default(),
            previous: Mutex::default(),
        })
    }

    /// The group's committed offsets for the query's topic (all its partitions), or for every
    /// partition the group committed when no topic is given.
    fn committed(&self, query: &GroupQuery, deadline: Instant) -> Result<Committed, SourceError> {
        self.drain_events();
        let mut asked = TopicPartitionList::new();
        if let Some(topic) = &query.topic {
            for partition in self.partitions(topic, left(deadline))? {
                asked.add_partition(topic, partition);
            }
        }
        let scope = query.topic.as_ref().map(|_| &asked);
        let groups = [(query.group.clone(), scope)];
        let budget = left(deadline);
        let committed = ffi::list_group_offsets(self.consumer.client(), &groups, budget)
            .pop()
            .unwrap_or(Err(GroupOffsetsError::Timeout))
            .map_err(|e| self.group_error(&query.group, e, budget))?;
        let mut partitions = Vec::with_capacity(committed.len());
        for c in committed {
            if let Some(code) = c.error {
                let reason = code.to_string();
                return Err(self.partition_error(&c.topic, c.partition, "OffsetFetch", &reason));
            }
            partitions.push((c.topic, c.partition, (c.offset >= 0).then_some(c.offset)));
        }
        Ok(partitions)
    }

    /// The client never subscribes, so its queue only collects events such as broker errors;
    /// empty it so that a long outage does not pile them up. They are logged by librdkafka.
    fn drain_events(&self) {
        for _ in 0..1_000 {
            if self.consumer.poll(Duration::ZERO).is_none() {
                break;
            }
        }
    }

    /// The high watermarks of every partition of a topic: one ListOffsets per leader broker.
    fn topic_high_watermarks(
        &self,
        topic: &str,
        deadline: Instant,
    ) -> Result<Watermarks, SourceError> {
        let partitions = self.partitions(topic, left(deadline))?;
        self.watermarks(
            partitions.into_iter().map(|p| (topic, p)),
            Offset::End,
            left(deadline),
        )
    }

    /// The snapshot from its parts; remembers the committed offsets for the next refresh.
    fn assemble(
        &self,
        group: &str,
        committed: Committed,
        highs: &Watermarks,
        lows: &Watermarks,
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

    /// The partitions of a topic, from cached metadata (refreshed in the background when old).
    fn partitions(&self, topic: &str, timeout: Duration) -> Result<Vec<i32>, SourceError> {
        let mut cached = lookup_metadata(&self.metadata, topic);
        let _miss = if cached.is_none() {
            let guard = self
                .metadata_miss
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            cached = lookup_metadata(&self.metadata, topic);
            Some(guard)
        } else {
            None
        };
        match cached {
            Some(meta) => {
                if meta.fetched.elapsed() > METADATA_MAX_AGE
                    && !meta.refreshing.swap(true, Ordering::SeqCst)
                {
                    let (consumer, cache, topic) = (
                        self.consumer.clone(),
                        self.metadata.clone(),
                        topic.to_owned(),
                    );
                    std::thread::spawn(move || {
                        match fetch_partitions(&consumer, &topic, METADATA_MAX_AGE) {
                            Ok(partitions) => store(&cache, &topic, partitions),
                            Err(_) => meta.refreshing.store(false, Ordering::SeqCst),
                        }
                    });
                }
                Ok(meta.partitions)
            }
            None => {
                let partitions =
                    fetch_partitions(&self.consumer, topic, timeout).map_err(|e| match e {
                        MetadataError::UnknownTopic => SourceError::NotFound {
                            endpoint: self.label.clone(),
                            what: format!("topic {topic:?}"),
                        },
                        MetadataError::Kafka(reason) => SourceError::Unreachable {
                            endpoint: self.label.clone(),
                            reason: format!("metadata of topic {topic:?}: {reason}"),
                        },
                    })?;
                store(&self.metadata, topic, partitions.clone());
                Ok(partitions)
            }
        }
    }

    /// One `offsets_for_times` call for all partitions: one ListOffsets per leader broker.
    fn watermarks<'a>(
        &self,
        partitions: impl Iterator<Item = (&'a str, i32)>,
        at: Offset,
        timeout: Duration,
    ) -> Result<Watermarks, SourceError> {
        let mut tpl = TopicPartitionList::new();
        for (topic, partition) in partitions {
            tpl.add_partition_offset(topic, partition, at)
                .map_err(|e| {
                    self.partition_error(topic, partition, "ListOffsets", &e.to_string())
                })?;
        }
        if tpl.count() == 0 {
            return Ok(HashMap::new());
        }
        let answered = self.consumer.offsets_for_times(tpl, timeout).map_err(|e| {
            SourceError::Unreachable {
                endpoint: self.label.clone(),
                reason: format!("ListOffsets: {e}"),
            }
        })?;
        let mut offsets = HashMap::new();
        for element in answered.elements() {
            if let Err(e) = element.error() {
                return Err(self.partition_error(
                    element.topic(),
                    element.partition(),
                    "ListOffsets",
                    &e.to_string(),
                ));
            }
            let offset = match element.offset() {
                Offset::Offset(o) => o,
                other => {
                    return Err(self.partition_error(
                        element.topic(),
                        element.partition(),
                        "ListOffsets",
                        &format!("no offset in the answer ({other:?})"),
                    ));
                }
            };
            offsets.insert((element.topic().to_owned(), element.partition()), offset);
        }
        Ok(offsets)
    }

    fn group_error(&self, group: &str, error: GroupOffsetsError, budget: Duration) -> SourceError {
        match error {
            GroupOffsetsError::Timeout => SourceError::Timeout {
                endpoint: self.label.clone(),
                operation: "OffsetFetch",
                after_ms: budget.as_millis(),
            },
            GroupOffsetsError::Kafka { code, message } => SourceError::Unreachable {
                endpoint: self.label.clone(),
                reason: format!("committed offsets of group {group:?}: {code} ({message})"),
            },
        }
    }

    fn partition_error(
        &self,
        topic: &str,
        partition: i32,
        operation: &'static str,
        reason: &str,
    ) -> SourceError {
        SourceError::Broker {
            endpoint: self.label.clone(),
            operation,
            reason: format!("topic {topic:?} partition {partition}: {reason}"),
        }
    }
}

fn lookup_metadata(
    cache: &Mutex<HashMap<String, TopicMetadata>>,
    topic: &str,
) -> Option<TopicMetadata> {
    cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(topic)
        .cloned()
}

fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Runs a blocking librdkafka call on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    label: &str,
    call: impl FnOnce() -> Result<T, SourceError> + Send + 'static,
) -> Result<T, SourceError> {
    tokio::task::spawn_blocking(call).await.unwrap_or_else(|e| {
        Err(SourceError::Broker {
            endpoint: label.to_owned(),
            operation: "a Kafka client call",
            reason: format!("the calling thread failed: {e}"),
        })
    })
}

enum MetadataError {
    UnknownTopic,
    Kafka(String),
}

fn fetch_partitions(
    consumer: &BaseConsumer,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i32>, MetadataError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| MetadataError::Kafka(e.to_string()))?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Err(MetadataError::UnknownTopic);
    };
    match found.error() {
        Some(rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => {
            return Err(MetadataError::UnknownTopic);
        }
        Some(code) => {
            return Err(MetadataError::Kafka(
                rdkafka::types::RDKafkaErrorCode::from(code).to_string(),
            ));
        }
        None if found.partitions().is_empty() => return Err(MetadataError::UnknownTopic),
        None => {}
    }
    let mut partitions: Vec<i32> = found.partitions().iter().map(|p| p.id()).collect();
    partitions.sort_unstable();
    Ok(partitions)
}

fn store(cache: &Mutex<HashMap<String, TopicMetadata>>, topic: &str, partitions: Vec<i32>) {
    cache.lock().unwrap_or_else(PoisonError::into_inner).insert(
        topic.to_owned(),
        TopicMetadata {
            partitions,
            fetched: Instant::now(),
            refreshing: Arc::new(AtomicBool::new(false)),
        },
    );
}
