//! The brokers of the envelope: librdkafka mock clusters in this process (3 brokers, one topic,
//! records produced, consumer groups with committed offsets) and queues on the local RabbitMQ.

use std::time::Duration;

use lagscale::mock_kafka::MockBrokers;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

pub const BROKERS: i32 = 3;
pub const PARTITIONS: i32 = 8;
pub const GROUPS_PER_CLUSTER: usize = 10;
/// Records per partition; group `g` of a cluster committed `g + 1` on every partition.
const RECORDS: i64 = 20;

/// One mock Kafka cluster and what it holds.
pub struct Cluster {
    pub brokers: MockBrokers,
    pub topic: String,
    pub groups: Vec<String>,
}

impl Cluster {
    /// Starts cluster `index`: its topic, `RECORDS` records per partition, its groups' commits.
    fn start(index: usize) -> Cluster {
        let brokers = MockBrokers::start(BROKERS).expect("a mock Kafka cluster");
        let topic = format!("envelope-{index}");
        brokers.create_topic(&topic, PARTITIONS, 1).unwrap();
        let bootstrap = brokers.bootstrap_servers();
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("linger.ms", "0")
            .create()
            .unwrap();
        for partition in 0..PARTITIONS {
            for i in 0..RECORDS {
                let payload = format!("record {i}");
                let record = BaseRecord::<(), _>::to(&topic)
                    .partition(partition)
                    .payload(&payload);
                producer.send(record).unwrap();
            }
        }
        producer.flush(Duration::from_secs(30)).unwrap();
        drop(producer);
        let groups = (0..GROUPS_PER_CLUSTER)
            .map(|g| {
                let group = format!("envelope-{index}-group-{g}");
                let consumer: BaseConsumer = ClientConfig::new()
                    .set("bootstrap.servers", &bootstrap)
                    .set("group.id", &group)
                    .set("enable.auto.commit", "false")
                    .create()
                    .unwrap();
                let mut offsets = TopicPartitionList::new();
                for partition in 0..PARTITIONS {
                    offsets
                        .add_partition_offset(&topic, partition, Offset::Offset(g as i64 + 1))
                        .unwrap();
                }
                consumer.commit(&offsets, CommitMode::Sync).unwrap();
                group
            })
            .collect();
        Cluster {
            brokers,
            topic,
            groups,
        }
    }
}

/// Adds clusters to `clusters` until it holds `count`, on a few threads (each cluster's
/// setup is mostly waiting on librdkafka's round trips).
pub fn grow(clusters: &mut Vec<Cluster>, count: usize) {
    let first = clusters.len();
    let mut added: Vec<(usize, Cluster)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|w| {
                scope.spawn(move || {
                    (first + w..count)
                        .step_by(8)
                        .map(|i| (i, Cluster::start(i)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("cluster setup"))
            .collect()
    });
    added.sort_by_key(|(i, _)| *i);
    clusters.extend(added.into_iter().map(|(_, c)| c));
}

/// The local RabbitMQ's AMQP URI; `LAGSCALE_TEST_AMQP` overrides it, as in the tests.
pub fn amqp_uri() -> String {
    std::env::var("LAGSCALE_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// Queues on the local RabbitMQ, deleted by `delete` (and by the broker 30 min after their
/// last use, should the bench die first: `x-expires`).
pub struct Queues {
    pub names: Vec<String>,
    connection: Connection,
}

impl Queues {
    /// Declares `count` queues with `5 + i` messages each.
    pub async fn declare(count: usize) -> Queues {
        let connection = Connection::connect(&amqp_uri(), ConnectionProperties::default())
            .await
            .unwrap_or_else(|e| {
                panic!("RabbitMQ is not reachable: {e}; run `bash scripts/ensure-rabbitmq.sh`")
            });
        let channel = connection.create_channel().await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        let mut arguments = FieldTable::default();
        arguments.insert("x-expires".into(), AMQPValue::LongUInt(1_800_000));
        let mut names = Vec::new();
        for i in 0..count {
            let name = format!("lagscale-envelope-{}-{i}", std::process::id());
            channel
                .queue_declare(
                    name.as_str().into(),
                    QueueDeclareOptions::default(),
                    arguments.clone(),
                )
                .await
                .unwrap();
            let mut confirms = Vec::new();
            for m in 0..5 + i {
                let confirm = channel
                    .basic_publish(
                        "".into(),
                        name.as_str().into(),
                        BasicPublishOptions::default(),
                        format!("message {m}").as_bytes(),
                        BasicProperties::default(),
                    )
                    .await
                    .unwrap();
                confirms.push(confirm);
            }
            for confirm in confirms {
                confirm.await.unwrap();
            }
            names.push(name);
        }
        Queues { names, connection }
    }

    pub async fn delete(self) {
        let channel = self.connection.create_channel().await.unwrap();
        for name in &self.names {
            let _ = channel
                .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let _ = self.connection.close(200, "done".into()).await;
    }
}
