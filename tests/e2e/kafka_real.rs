//! Optional: the same lag checks against a real Kafka-compatible broker, named by
//! `LAGSCALE_TEST_KAFKA=host:port` (Apache Kafka, tansu, Redpanda…). Ignored unless asked for:
//! `scripts/test.sh` runs it when the variable is set and says it is skipped otherwise. Topics are created by the test (CreateTopics); every record
//! is its own batch, because some brokers (tansu) miscount batches of several records.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::support::kafka::unique;
use crate::support::{TestServer, config, metrics_request, so};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a real broker: LAGSCALE_TEST_KAFKA=host:port cargo test --test e2e -- --ignored kafka_real"]
async fn lag_against_a_real_broker() {
    let servers = std::env::var("LAGSCALE_TEST_KAFKA")
        .expect("LAGSCALE_TEST_KAFKA=host:port names the broker this test runs against");
    let topic = unique("lagscale-real");
    let group = unique("lagscale-real-group");

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .create()
        .unwrap();
    let new_topic = NewTopic::new(&topic, 2, TopicReplication::Fixed(1));
    let created = admin
        .create_topics(
            [&new_topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");

    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .set("batch.num.messages", "1")
        .create()
        .unwrap();
    for partition in [0, 1] {
        for i in 0..10 {
            let payload = format!("m{i}");
            producer
                .send(
                    BaseRecord::<(), _>::to(&topic)
                        .partition(partition)
                        .payload(&payload),
                )
                .unwrap();
            producer.flush(Duration::from_secs(10)).unwrap();
        }
    }
    let committer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .set("group.id", &group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(4))
        .unwrap();
    committer.commit(&tpl, CommitMode::Sync).unwrap();

    let server = TestServer::start(config()).await;
    let mut client = server.client().await;
    let lag = |extra: Vec<(&'static str, String)>| {
        let mut metadata = vec![
            ("source", "kafka".to_owned()),
            ("bootstrapServers", servers.clone()),
            ("consumerGroup", group.clone()),
            ("allowIdleConsumers", "true".to_owned()),
        ];
        metadata.extend(extra);
        metrics_request(so("real", &metadata), "")
    };
    let value = |r: tonic::Response<lagscale::proto::GetMetricsResponse>| {
        r.into_inner().metric_values[0].metric_value_float
    };

    // Partition 0: 10 − 4; partition 1 has no commit: 1 under `latest`, 10 under `earliest`.
    let with_topic = client
        .get_metrics(lag(vec![("topic", topic.clone())]))
        .await
        .unwrap();
    assert_eq!(value(with_topic), 7.0);
    let earliest = vec![
        ("topic", topic.clone()),
        ("offsetResetPolicy", "earliest".to_owned()),
    ];
    assert_eq!(
        value(client.get_metrics(lag(earliest)).await.unwrap()),
        16.0
    );
    // Without a topic: the partitions the group committed (partition 0 only).
    assert_eq!(value(client.get_metrics(lag(vec![])).await.unwrap()), 6.0);
}
