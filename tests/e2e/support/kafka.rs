//! librdkafka's in-process mock Kafka cluster, with a producer and a committer, so tests can
//! set up exact log-end and committed offsets.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use lagscale::mock_kafka::MockBrokers;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

pub struct Kafka {
    pub brokers: MockBrokers,
    producer: BaseProducer,
}

/// A name of its own for a topic or group.
pub fn unique(label: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{label}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

impl Kafka {
    /// A 3-broker mock cluster.
    pub fn start() -> Kafka {
        Kafka::with_brokers(3)
    }

    /// A mock cluster of `count` brokers (one, behind a single TLS/SASL front: `secure_kafka`).
    pub fn with_brokers(count: i32) -> Kafka {
        let brokers = MockBrokers::start(count).unwrap();
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", brokers.bootstrap_servers())
            .set("linger.ms", "0")
            .create()
            .unwrap();
        Kafka { brokers, producer }
    }

    pub fn bootstrap(&self) -> String {
        self.brokers.bootstrap_servers()
    }

    /// A topic with `partitions` partitions, leaders spread over the brokers.
    pub fn topic(&self, partitions: i32) -> String {
        let name = unique("topic");
        self.brokers.create_topic(&name, partitions, 1).unwrap();
        name
    }

    /// Appends `count` messages to each of `partitions` and waits until all are acknowledged.
    pub fn produce(&self, topic: &str, partitions: &[i32], count: usize) {
        for &partition in partitions {
            for i in 0..count {
                let payload = format!("message {i}");
                self.producer
                    .send(
                        BaseRecord::<(), _>::to(topic)
                            .partition(partition)
                            .payload(&payload),
                    )
                    .unwrap();
            }
        }
        self.producer.flush(Duration::from_secs(10)).unwrap();
    }

    /// Commits `offset` for `group` on each partition (no subscription, no rebalance).
    pub fn commit(&self, group: &str, topic: &str, offsets: &[(i32, i64)]) {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for &(partition, offset) in offsets {
            tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
                .unwrap();
        }
        consumer.commit(&tpl, CommitMode::Sync).unwrap();
    }
}
