//! The closed loop's workload on the mock cluster, on threads of their own (pacing sleeps are
//! the workload's clock): a producer that follows the scenario's arrivals, and consumer-group
//! members, real rdkafka consumers in the group protocol, each processing at a set rate.
//!
//! Counts are records; at speed N a record stands for N messages
//! ([`Compression`](crate::compression::Compression)), so a producer writing the scenario's
//! messages per second as records per wall second writes exactly the scenario.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, ClientContext, Message, Offset, TopicPartitionList};

use crate::commands::simulate::arrivals::Noise;
use crate::commands::simulate::config::Simulation;
use crate::compression::Compression;

/// Records produced so far, and the arrival rate of the current scenario second.
#[derive(Default)]
pub struct Produced {
    pub records: AtomicU64,
    /// Messages per scenario second (f64 bits).
    rate_bits: AtomicU64,
}

impl Produced {
    pub fn rate(&self) -> f64 {
        f64::from_bits(self.rate_bits.load(Ordering::Relaxed))
    }
}

/// Produces `topic` at the scenario's arrival rate (its noise included, drawn once per
/// scenario second as `simulate` draws it) until `stop`.
pub fn spawn_producer(
    bootstrap: &str,
    topic: String,
    scenario: &Simulation,
    compression: Compression,
    produced: Arc<Produced>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, String> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .map_err(|e| format!("demo producer: {e}"))?;
    let arrivals = scenario.arrivals.clone();
    let mut noise = Noise::new(scenario.seed, arrivals.noise());
    let payload = "o".repeat(PAYLOAD_BYTES);
    Ok(std::thread::spawn(move || {
        let tick = Duration::from_millis(5);
        let (mut second, mut rate, mut owed) = (None, 0.0, 0.0);
        let mut last = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let now_second = compression.elapsed().as_secs();
            // Every scenario second gets its own draw, in order, as in `simulate`.
            while second.is_none_or(|s| s < now_second) {
                let s = second.map_or(0, |s| s + 1);
                rate = noise.apply(arrivals.rate(s as f64));
                second = Some(s);
            }
            produced.rate_bits.store(rate.to_bits(), Ordering::Relaxed);
            // Records per wall second = messages per scenario second.
            let now = Instant::now();
            owed += rate * now.duration_since(last).as_secs_f64();
            last = now;
            while owed >= 1.0 {
                let record = BaseRecord::<(), str>::to(&topic).payload(payload.as_str());
                if producer.send(record).is_ok() {
                    produced.records.fetch_add(1, Ordering::Relaxed);
                }
                owed -= 1.0;
            }
            producer.poll(Duration::ZERO);
            std::thread::sleep(tick);
        }
        let _ = producer.flush(Duration::from_secs(5));
    }))
}

/// Bytes per record. The mock keeps at most 5 MB or 100,000 message sets per partition and
/// walks that list from its start on every fetch (librdkafka `src/rdkafka_mock.c`,
/// `rd_kafka_mock_partition_init` and `rd_kafka_mock_msgset_find`); the lab writes about one
/// set per record, so 1 KB records hold the walk to about 4,800 sets where 5-byte ones let it
/// grow to 100,000, slowing every fetch as a run goes on. A partition still holds 4,800
/// records (at `--speed 24`, 115,000 messages) before the mock drops the oldest.
const PAYLOAD_BYTES: usize = 1024;

/// What a group's members did: records processed (redeliveries after a rebalance included),
/// how far each partition has been processed, and which members received an assignment
/// (joined the group).
pub struct GroupCounters {
    pub processed: AtomicU64,
    /// Fetch positions librdkafka reset because the mock answered "offset out of range".
    pub resets: AtomicU64,
    /// Records never processed: gaps a member jumped over (after a reset to the end).
    pub skipped: AtomicU64,
    /// Per partition, the offset after the last record processed.
    frontier: Vec<AtomicI64>,
    /// Members that received an assignment, with the wall time from their start to it.
    joined: Mutex<Vec<(usize, Duration)>>,
}

impl GroupCounters {
    pub fn new(partitions: u32) -> GroupCounters {
        GroupCounters {
            processed: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            frontier: (0..partitions).map(|_| AtomicI64::new(0)).collect(),
            joined: Mutex::new(Vec::new()),
        }
    }

    /// Distinct records processed: the sum of the partitions' frontiers (a record processed
    /// again after a rebalance counts once).
    pub fn done(&self) -> i64 {
        self.frontier
            .iter()
            .map(|f| f.load(Ordering::Relaxed))
            .sum()
    }

    fn processed(&self, partition: i32, offset: i64) {
        self.processed.fetch_add(1, Ordering::Relaxed);
        if let Some(frontier) = usize::try_from(partition)
            .ok()
            .and_then(|p| self.frontier.get(p))
        {
            let before = frontier.fetch_max(offset + 1, Ordering::Relaxed);
            if offset > before {
                let gap = u64::try_from(offset - before).unwrap_or(0);
                self.skipped.fetch_add(gap, Ordering::Relaxed);
            }
        }
    }

    /// Each member that joined, with the wall time from its start to its first assignment.
    pub fn joins(&self) -> Vec<(usize, Duration)> {
        self.joined
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Records each member's assignments in its group's counters.
struct MemberContext {
    member: usize,
    started: Instant,
    counters: Arc<GroupCounters>,
}

impl ClientContext for MemberContext {
    /// librdkafka's log lines, to the log as rdkafka's default does, counting offset resets.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        if fac == "OFFSET" && message.contains("offset reset") {
            self.counters.resets.fetch_add(1, Ordering::Relaxed);
        }
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", "{fac} {message}"),
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", "{fac} {message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", "{fac} {message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", "{fac} {message}"),
        }
    }
}

impl ConsumerContext for MemberContext {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(_) = rebalance {
            let mut joined = self
                .counters
                .joined
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !joined.iter().any(|(member, _)| *member == self.member) {
                joined.push((self.member, self.started.elapsed()));
            }
        }
    }
}

/// The group protocol's timings, scaled like the rest of the scenario: Kafka's consumer
/// defaults (heartbeats every 3 s, commits every 5 s) divided by the speed; and the session
/// timeout, which sets how long the mock coordinator gathers members at a rebalance:
/// `session.timeout.ms` − 1 s (librdkafka `src/rdkafka_mock_cgrp.c`,
/// `rd_kafka_mock_cgrp_classic_rebalance`), where a real broker answers once every member has
/// rejoined. It is chosen so that this wait is the scenario's `rebalance_pause_secs`, scaled
/// (at least 30 ms).
fn member_config(
    bootstrap: &str,
    group: &str,
    compression: &Compression,
    rebalance_pause: Duration,
) -> ClientConfig {
    let millis = |d: Duration, floor: u64| compression.wall(d).as_millis().max(floor.into());
    // The mock elects a leader when that wait ends, with the members that rejoined by then:
    // every member must hear of the rebalance (at its next heartbeat) well within it, or it
    // misses the generation and forces another rebalance. Heartbeats therefore come at least
    // three times per wait.
    let gather = millis(rebalance_pause, 30);
    let session = 1_000 + gather;
    let heartbeat = millis(Duration::from_secs(3), 10).min(gather / 3).max(10);
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        // The groups start with offset 0 committed on every partition (`commit_start`), so this
        // only applies when a fetch is refused as out of range. The mock refuses some fetches
        // just after a reassignment at an offset beyond what it reports as the log end; the
        // end is where the partition goes on ("earliest" would process it all again).
        .set("auto.offset.reset", "latest")
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.commit.interval.ms",
            millis(Duration::from_secs(5), 10).to_string(),
        )
        .set("heartbeat.interval.ms", heartbeat.to_string())
        // The mock holds an empty fetch for the whole wait even when records arrive meanwhile
        // (`rd_kafka_mock_handle_Fetch`), where a broker answers as soon as there are some: a
        // short wait keeps a caught-up member's delay near a broker's.
        .set("fetch.wait.max.ms", "20")
        .set("session.timeout.ms", session.to_string());
    config
}

/// Commits offset 0 on every partition for `group`, before its first member joins: its
/// members then start at the beginning of the topic through the committed offsets.
pub fn commit_start(
    bootstrap: &str,
    group: &str,
    topic: &str,
    partitions: u32,
) -> Result<(), String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .map_err(|e| format!("demo group {group}: {e}"))?;
    let mut start = TopicPartitionList::new();
    for partition in 0..partitions {
        let partition = i32::try_from(partition).unwrap_or(i32::MAX);
        start
            .add_partition_offset(topic, partition, Offset::Offset(0))
            .map_err(|e| format!("demo group {group}: {e}"))?;
    }
    consumer
        .commit(&start, CommitMode::Sync)
        .map_err(|e| format!("demo group {group}: cannot commit its start: {e}"))
}

/// One running member: a consumer of `topic` in its group, processing `rate` records per
/// second, storing each offset after processing it (committed by librdkafka).
pub struct Member {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Member {
    pub fn start(
        (bootstrap, topic, group): (&str, &str, &str),
        member: usize,
        (rate, rebalance_pause): (f64, Duration),
        compression: &Compression,
        counters: Arc<GroupCounters>,
    ) -> Result<Member, String> {
        let context = MemberContext {
            member,
            started: Instant::now(),
            counters: counters.clone(),
        };
        let config = member_config(bootstrap, group, compression, rebalance_pause);
        let consumer: BaseConsumer<MemberContext> = config
            .create_with_context(context)
            .map_err(|e| format!("demo consumer {group}/{member}: {e}"))?;
        consumer
            .subscribe(&[topic])
            .map_err(|e| format!("demo consumer {group}/{member}: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let per_record = Duration::from_secs_f64(1.0 / rate);
            let mut next = Instant::now();
            while !stopping.load(Ordering::Relaxed) {
                // Poll errors are transient on the mock (during a rebalance): poll again.
                if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                    // The work: `rate` records a second, whatever the batch sizes, sleeping
                    // in slices of at least 10 ms (fewer wake-ups with many members).
                    next = next.max(Instant::now() - per_record) + per_record;
                    if let Some(wait) = next.checked_duration_since(Instant::now())
                        && wait >= Duration::from_millis(10)
                    {
                        std::thread::sleep(wait);
                    }
                    let (topic, partition) = (message.topic(), message.partition());
                    let _ = consumer.store_offset(topic, partition, message.offset() + 1);
                    counters.processed(partition, message.offset());
                }
            }
            // Dropping the consumer commits the stored offsets and leaves the group.
            drop(consumer);
        });
        Ok(Member { stop, thread })
    }

    /// Asks the member to leave the group; returns its thread to join.
    pub fn stop(self) -> JoinHandle<()> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
    }
}
