//! Kafka consumer-group lag through the gRPC server, against librdkafka's mock cluster.

use lagscale::proto::GetMetricsRequest;
use tonic::Code;

use crate::support::kafka::{Kafka, unique};
use crate::support::{TestServer, config, metrics_request, so};

/// A server, a mock cluster and a 4-partition topic with 10 messages per partition; the group
/// committed 5 on partitions 0–2 and nothing on partition 3.
struct Setup {
    kafka: Kafka,
    server: TestServer,
    topic: String,
    group: String,
}

impl Setup {
    async fn new() -> Setup {
        let kafka = Kafka::start();
        let topic = kafka.topic(4);
        kafka.produce(&topic, &[0, 1, 2, 3], 10);
        let group = unique("group");
        kafka.commit(&group, &topic, &[(0, 5), (1, 5), (2, 5)]);
        let server = TestServer::start(config()).await;
        Setup {
            kafka,
            server,
            topic,
            group,
        }
    }

    fn request(&self, extra: &[(&str, &str)]) -> GetMetricsRequest {
        let bootstrap = self.kafka.bootstrap();
        let mut metadata = vec![
            ("source", "kafka"),
            ("bootstrapServers", bootstrap.as_str()),
            ("consumerGroup", self.group.as_str()),
            ("topic", self.topic.as_str()),
        ];
        metadata.extend_from_slice(extra);
        metrics_request(so("billing", &metadata), "")
    }

    async fn lag(&self, extra: &[(&str, &str)]) -> f64 {
        let mut client = self.server.client().await;
        let response = client.get_metrics(self.request(extra)).await;
        response.unwrap().into_inner().metric_values[0].metric_value_float
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lag_follows_each_option() {
    let s = Setup::new().await;
    let idle = ("allowIdleConsumers", "true");
    // 3 × (10 − 5) committed, + 1 for the uncommitted partition under `latest`.
    assert_eq!(s.lag(&[idle]).await, 16.0);
    assert_eq!(
        s.lag(&[idle, ("offsetResetPolicy", "earliest")]).await,
        25.0
    );
    assert_eq!(
        s.lag(&[idle, ("scaleToZeroOnInvalidOffset", "true")]).await,
        15.0
    );
    assert_eq!(s.lag(&[idle, ("partitionLimitation", "0,3")]).await, 6.0);
    assert_eq!(s.lag(&[idle, ("lagAggregate", "max")]).await, 5.0);
    // The cap: 4 partitions × lagThreshold 2 = 8, before any transform.
    assert_eq!(s.lag(&[("lagThreshold", "2")]).await, 8.0);
    let log2 = s.lag(&[("lagThreshold", "2"), ("transform", "log2")]).await;
    assert_eq!(log2, 3.0, "log2 of the capped lag 8");
    // With limitToPartitionsWithLag the cap counts partitions with lag: all 4 here.
    s.kafka.commit(&s.group, &s.topic, &[(3, 10)]);
    assert_eq!(
        s.lag(&[("lagThreshold", "2"), ("limitToPartitionsWithLag", "true")])
            .await,
        6.0
    );
    assert_eq!(s.lag(&[idle]).await, 15.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_lag_is_excluded_from_the_second_refresh_on() {
    let s = Setup::new().await;
    let options = [
        ("allowIdleConsumers", "true"),
        ("excludePersistentLag", "true"),
    ];
    // First refresh: nothing seen before, all lag counts.
    assert_eq!(s.lag(&options).await, 16.0);
    // Nothing committed since: every partition is stuck, including the one never committed.
    assert_eq!(s.lag(&options).await, 0.0);
    // Partition 0 moves on: only it counts.
    s.kafka.commit(&s.group, &s.topic, &[(0, 7)]);
    assert_eq!(s.lag(&options).await, 3.0);
}

/// A group that has committed nothing yet (scaling from zero) is not an error: with `latest`
/// each partition counts 1, so the workload is activated and starts consuming.
#[tokio::test(flavor = "multi_thread")]
async fn a_brand_new_group_activates_the_workload() {
    let s = Setup::new().await;
    let bootstrap = s.kafka.bootstrap();
    let new_group = unique("new-group");
    let metadata = [
        ("source", "kafka"),
        ("bootstrapServers", bootstrap.as_str()),
        ("consumerGroup", new_group.as_str()),
        ("topic", s.topic.as_str()),
    ];
    let mut client = s.server.client().await;
    let value = client
        .get_metrics(metrics_request(so("new", &metadata), ""))
        .await
        .unwrap();
    assert_eq!(value.into_inner().metric_values[0].metric_value_float, 4.0);
    assert!(
        client
            .is_active(so("new", &metadata))
            .await
            .unwrap()
            .into_inner()
            .result
    );
}

/// Activation reads the lag before the cap, as KEDA's Kafka scaler (`GetMetricsAndActivity`
/// compares `totalLagWithPersistent`): 4 partitions × lagThreshold 10 cap the metric at 40,
/// and a lag of 70 still activates with activationLagThreshold 50.
#[tokio::test(flavor = "multi_thread")]
async fn activation_compares_the_lag_before_the_cap() {
    let kafka = Kafka::start();
    let topic = kafka.topic(4);
    kafka.produce(&topic, &[0, 1], 20);
    kafka.produce(&topic, &[2, 3], 15);
    let group = unique("group");
    kafka.commit(&group, &topic, &[(0, 0), (1, 0), (2, 0), (3, 0)]);
    let server = TestServer::start(config()).await;
    let bootstrap = kafka.bootstrap();
    let metadata = |activation: &'static str| {
        vec![
            ("source", "kafka"),
            ("bootstrapServers", bootstrap.as_str()),
            ("consumerGroup", group.as_str()),
            ("topic", topic.as_str()),
            ("lagThreshold", "10"),
            ("activationLagThreshold", activation),
        ]
    };
    let mut client = server.client().await;
    let served = client
        .get_metrics(metrics_request(so("capped", &metadata("50")), ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(served.metric_values[0].metric_value_float, 40.0);
    let active = |activation| {
        let mut client = client.clone();
        let so = so("capped", &metadata(activation));
        async move { client.is_active(so).await.unwrap().into_inner().result }
    };
    assert!(active("50").await, "70 > 50, though the metric is 40");
    assert!(!active("70").await, "70 is not > 70");
}

/// With `excludePersistentLag`, a group whose workload is at zero commits nothing, so every
/// partition looks persistent and the metric drops to 0; activation still counts that lag, so
/// the workload wakes (KEDA: `lagWithPersistent`).
#[tokio::test(flavor = "multi_thread")]
async fn a_never_committed_group_with_persistent_lag_excluded_is_active_while_it_has_a_backlog() {
    let kafka = Kafka::start();
    let topic = kafka.topic(2);
    kafka.produce(&topic, &[0, 1], 30);
    let group = unique("asleep");
    let server = TestServer::start(config()).await;
    let bootstrap = kafka.bootstrap();
    let metadata = [
        ("source", "kafka"),
        ("bootstrapServers", bootstrap.as_str()),
        ("consumerGroup", group.as_str()),
        ("topic", topic.as_str()),
        ("offsetResetPolicy", "earliest"),
        ("excludePersistentLag", "true"),
        ("activationLagThreshold", "10"),
    ];
    let mut client = server.client().await;
    let mut values = Vec::new();
    for _ in 0..3 {
        let served = client
            .get_metrics(metrics_request(so("asleep", &metadata), ""))
            .await
            .unwrap()
            .into_inner();
        values.push(served.metric_values[0].metric_value_float);
        let active = client.is_active(so("asleep", &metadata)).await.unwrap();
        assert!(active.into_inner().result, "a backlog of 60 > 10 activates");
    }
    assert_eq!(
        values.first(),
        Some(&20.0),
        "first refresh: capped at 2 × 10"
    );
    assert_eq!(
        values.last(),
        Some(&0.0),
        "then persistent: excluded from the metric"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_topics_and_partitions_are_not_found() {
    let s = Setup::new().await;
    let mut client = s.server.client().await;
    let bootstrap = s.kafka.bootstrap();
    let missing = [
        ("source", "kafka"),
        ("bootstrapServers", bootstrap.as_str()),
        ("consumerGroup", s.group.as_str()),
        ("topic", "no-such-topic"),
    ];
    let status = client
        .get_metrics(metrics_request(so("t", &missing), ""))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(
        status.message().contains("topic \"no-such-topic\""),
        "{status:?}"
    );

    let status = client
        .get_metrics(s.request(&[("partitionLimitation", "2-9")]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(
        status
            .message()
            .contains(&format!("partition 4 of topic \"{}\"", s.topic)),
        "{status:?}"
    );

    // Every partition number there is: one range, checked against the topic's 4 partitions
    // without enumerating two billion numbers.
    let status = client
        .get_metrics(s.request(&[("partitionLimitation", "0-2147483647")]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(
        status.message().contains("partition 4 of topic"),
        "{status:?}"
    );
}

/// Requests the brokers received for one refresh of `triggers` triggers spread over two
/// groups on one topic, by Kafka API key.
async fn requests_for_one_refresh(
    kafka: &Kafka,
    topic: &str,
    groups: &[String; 2],
    triggers: usize,
) -> std::collections::BTreeMap<i16, usize> {
    let server = TestServer::start(lagscale::config::Config {
        cache_ttl_ms: 60_000,
        ..config()
    })
    .await;
    let channel = server.channel().await;
    let bootstrap = kafka.bootstrap();
    kafka.brokers.take_requests();
    let calls = (0..triggers).map(|i| {
        let mut client =
            lagscale::proto::external_scaler_client::ExternalScalerClient::new(channel.clone());
        let threshold = (10 + i).to_string();
        let name = format!("so-{i}");
        let metadata = [
            ("source", "kafka"),
            ("bootstrapServers", bootstrap.as_str()),
            ("consumerGroup", groups[i % 2].as_str()),
            ("topic", topic),
            ("lagThreshold", threshold.as_str()),
        ];
        let request = metrics_request(so(&name, &metadata), "");
        async move { client.get_metrics(request).await.unwrap() }
    });
    futures_util::future::join_all(calls).await;
    let mut counts = std::collections::BTreeMap::new();
    for request in kafka.brokers.take_requests() {
        *counts.entry(request.api_key).or_default() += 1;
    }
    counts
}

/// One client per cluster; per refresh one OffsetFetch per group and one ListOffsets per leader
/// broker, whatever the number of triggers, and nothing else once coordinators and metadata
/// are known.
#[tokio::test(flavor = "multi_thread")]
async fn broker_requests_do_not_grow_with_triggers() {
    use lagscale::mock_kafka::api_key::{FIND_COORDINATOR, LIST_OFFSETS, METADATA, OFFSET_FETCH};
    const API_VERSIONS: i16 = 18;
    let kafka = Kafka::start();
    let topic = kafka.topic(12);
    kafka.produce(&topic, &(0..12).collect::<Vec<_>>(), 3);
    let groups = [unique("group"), unique("group")];
    for group in &groups {
        kafka.commit(group, &topic, &(0..12).map(|p| (p, 1)).collect::<Vec<_>>());
    }
    kafka.brokers.start_request_tracking();

    let few = requests_for_one_refresh(&kafka, &topic, &groups, 10).await;
    let many = requests_for_one_refresh(&kafka, &topic, &groups, 200).await;
    println!("requests by API key, 10 triggers: {few:?}; 200 triggers: {many:?}");
    for counts in [&few, &many] {
        let count = |key: i16| counts.get(&key).copied().unwrap_or(0);
        assert_eq!(
            count(OFFSET_FETCH),
            2,
            "one OffsetFetch per group: {counts:?}"
        );
        // Both groups read one topic: its watermarks are read once, one ListOffsets per broker
        // (the 12 partitions' leaders are spread over the 3 brokers).
        assert_eq!(count(LIST_OFFSETS), 3, "{counts:?}");
        // lagscale's own client: one FindCoordinator per group and one Metadata for the topic,
        // then cached; one ApiVersions per new connection (3 brokers).
        assert_eq!(count(FIND_COORDINATOR), 2, "{counts:?}");
        assert_eq!(count(METADATA), 1, "{counts:?}");
        assert_eq!(count(API_VERSIONS), 3, "{counts:?}");
    }
    assert_eq!(
        few.get(&LIST_OFFSETS),
        many.get(&LIST_OFFSETS),
        "{few:?} vs {many:?}"
    );
    assert_eq!(few, many, "20 times the triggers cost the same requests");
}
