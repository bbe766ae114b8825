//! Triggers copied from KEDA's Kafka scaler, through the gRPC server on librdkafka's mock
//! cluster: `ensureEvenDistributionOfPartitions`, the `FromEnv` keys as KEDA sends them (the
//! resolved value under the `xFromEnv` name; the plain key wins), and KEDA's client keys.

use tonic::Code;

use crate::support::kafka::{Kafka, unique};
use crate::support::{TestServer, config, metrics_request, served_value, so};

/// Messages per partition of the 12-partition topic.
const PER_PARTITION: i64 = 20;

/// A mock cluster with a 12-partition topic of 20 messages each, and a group per wanted total
/// lag: each group's commits leave exactly that lag, partition by partition.
struct Setup {
    kafka: Kafka,
    server: TestServer,
    topic: String,
}

impl Setup {
    async fn new() -> Setup {
        let kafka = Kafka::start();
        let topic = kafka.topic(12);
        kafka.produce(&topic, &(0..12).collect::<Vec<_>>(), PER_PARTITION as usize);
        let server = TestServer::start(config()).await;
        Setup {
            kafka,
            server,
            topic,
        }
    }

    /// A new group whose total lag on the topic is `lag`.
    fn group_with_lag(&self, lag: i64) -> String {
        let group = unique("group");
        let mut left = lag;
        let commits: Vec<(i32, i64)> = (0..12)
            .map(|p| {
                let here = left.min(PER_PARTITION);
                left -= here;
                (p, PER_PARTITION - here)
            })
            .collect();
        assert_eq!(left, 0, "at most 12 × {PER_PARTITION}");
        self.kafka.commit(&group, &self.topic, &commits);
        group
    }
}

/// KEDA's `getNextFactorThatBalancesConsumersToTopicPartitions`: 12 partitions, lagThreshold
/// 10; the lag is rounded up to the next divisor of 12 times 10. Activation reads the lag
/// itself.
#[tokio::test(flavor = "multi_thread")]
async fn even_distribution_serves_a_divisor_of_the_partitions() {
    let s = Setup::new().await;
    let bootstrap = s.kafka.bootstrap();
    let client = s.server.client().await;
    let cases = [(35, 40.0), (61, 120.0), (130, 120.0), (0, 10.0), (20, 20.0)];
    for (lag, served) in cases {
        let group = s.group_with_lag(lag);
        let metadata = |even: &'static str| {
            vec![
                ("source", "kafka"),
                ("bootstrapServers", bootstrap.as_str()),
                ("consumerGroup", group.as_str()),
                ("topic", s.topic.as_str()),
                ("lagThreshold", "10"),
                ("ensureEvenDistributionOfPartitions", even),
            ]
        };
        let even = served_value(client.clone(), "even", &metadata("true")).await;
        assert_eq!(even, served, "lag {lag}");
        let plain = served_value(client.clone(), "plain", &metadata("false")).await;
        assert_eq!(
            plain,
            (lag as f64).min(120.0),
            "lag {lag} without the option"
        );
    }

    // 35 is served as 40, but activation compares 35.
    let group = s.group_with_lag(35);
    let active = |threshold: &'static str| {
        let metadata = [
            ("source", "kafka"),
            ("bootstrapServers", bootstrap.as_str()),
            ("consumerGroup", group.as_str()),
            ("topic", s.topic.as_str()),
            ("ensureEvenDistributionOfPartitions", "true"),
            ("activationLagThreshold", threshold),
        ];
        let mut client = client.clone();
        async move {
            client
                .is_active(so("even", &metadata))
                .await
                .unwrap()
                .into_inner()
                .result
        }
    };
    assert!(active("34").await);
    assert!(!active("35").await, "35 is not > 35, though 40 is served");
}

/// KEDA sends `bootstrapServersFromEnv`, `consumerGroupFromEnv` and `topicFromEnv` under
/// those names with the environment variables' values; where the plain key is set too it
/// wins, and the other is no error.
#[tokio::test(flavor = "multi_thread")]
async fn from_env_keys_as_keda_sends_them() {
    let s = Setup::new().await;
    let bootstrap = s.kafka.bootstrap();
    let group = s.group_with_lag(17);
    let client = s.server.client().await;
    let resolved = [
        ("source", "kafka"),
        ("bootstrapServersFromEnv", bootstrap.as_str()),
        ("consumerGroupFromEnv", group.as_str()),
        ("topicFromEnv", s.topic.as_str()),
        ("allowIdleConsumers", "true"),
    ];
    assert_eq!(served_value(client.clone(), "env", &resolved).await, 17.0);

    let other = s.group_with_lag(100);
    let both = [
        ("source", "kafka"),
        ("bootstrapServers", bootstrap.as_str()),
        ("bootstrapServersFromEnv", "nowhere.invalid:1"),
        ("consumerGroup", group.as_str()),
        ("consumerGroupFromEnv", other.as_str()),
        ("topic", s.topic.as_str()),
        ("topicFromEnv", "no-such-topic"),
        ("allowIdleConsumers", "true"),
    ];
    assert_eq!(served_value(client.clone(), "both", &both).await, 17.0);
    let only_group_from_env = [
        ("source", "kafka"),
        ("bootstrapServers", bootstrap.as_str()),
        ("consumerGroupFromEnv", other.as_str()),
        ("topic", s.topic.as_str()),
        ("allowIdleConsumers", "true"),
    ];
    assert_eq!(
        served_value(client, "group", &only_group_from_env).await,
        100.0
    );
}

/// KEDA's client keys that ask for nothing are accepted, as are KEDA's external-scaler keys;
/// credentials are InvalidArgument naming the key, the value and what to do.
#[tokio::test(flavor = "multi_thread")]
async fn keda_client_keys_accepted_or_refused() {
    let s = Setup::new().await;
    let bootstrap = s.kafka.bootstrap();
    let group = s.group_with_lag(5);
    let mut client = s.server.client().await;
    let trigger = |extra: &[(&'static str, &'static str)]| {
        let mut metadata = vec![
            ("source", "kafka"),
            ("bootstrapServers", bootstrap.as_str()),
            ("consumerGroup", group.as_str()),
            ("topic", s.topic.as_str()),
        ];
        metadata.extend_from_slice(extra);
        metrics_request(so("copied", &metadata), "")
    };
    let copied = trigger(&[
        ("scalerAddress", "lagscale:6000"),
        ("enableTLS", "false"),
        ("unsafeSsl", "true"),
        ("caCert", "-----BEGIN CERTIFICATE-----"),
        ("tls", "disable"),
        ("sasl", "none"),
        ("version", "1.0.0"),
        ("fullMetadata", "true"),
        ("partitionLimitation", "0-3"),
    ]);
    let served = client.get_metrics(copied).await.unwrap().into_inner();
    assert_eq!(served.metric_values[0].metric_value_float, 5.0);

    let refused = [
        (
            ("sasl", "scram_sha512"),
            "sasl: \"scram_sha512\" is not valid",
        ),
        (
            ("password", "hunter2"),
            "password: a value (not shown, 7 bytes)",
        ),
        (("tls", "enable"), "tls: \"enable\" is not valid"),
    ];
    for ((key, value), says) in refused {
        let status = client
            .get_metrics(trigger(&[(key, value)]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        let message = status.message();
        assert!(message.contains(says), "{message}");
        assert!(
            message.contains("`cluster` connection profile")
                && message.contains("README section \"Config file\"")
                && !message.contains("hunter2"),
            "{message}"
        );
    }
}
