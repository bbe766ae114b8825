//! Broker outages, slowness and recovery: errors KEDA's fallback can count, within KEDA's 3 s,
//! while GetMetricSpec keeps answering; then correct answers again with no restart, and one
//! connection per profile (no leak, no reconnect storm).

use std::time::{Duration, Instant};

use lagscale::config::Config;
use lagscale::proto::ScaledObjectRef;
use lagscale::source::SourceKind;
use tonic::Code;

use crate::support::kafka::{Kafka, unique};
use crate::support::proxy::Proxy;
use crate::support::rabbit::TestQueue;
use crate::support::{TestServer, clusters, config, eventually, metrics_request, so};

/// GetMetrics' value, or its status code; each call must end inside KEDA's 3 s.
pub(crate) async fn metric(server: &TestServer, so: &ScaledObjectRef) -> Result<f64, Code> {
    let mut client = server.client().await;
    let started = Instant::now();
    let result = client.get_metrics(metrics_request(so.clone(), "")).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    result
        .map(|r| r.into_inner().metric_values[0].metric_value_float)
        .map_err(|s| s.code())
}

async fn spec_answers(server: &TestServer, so: &ScaledObjectRef) {
    server
        .client()
        .await
        .get_metric_spec(so.clone())
        .await
        .unwrap();
}

/// GetMetrics soon fails with a status KEDA's fallback counts, while GetMetricSpec answers.
pub(crate) async fn assert_failing(server: &TestServer, so: &ScaledObjectRef) {
    let code = eventually(
        Duration::from_secs(10),
        "an error while the brokers fail",
        || async { metric(server, so).await.err() },
    )
    .await;
    assert!(
        matches!(code, Code::Unavailable | Code::DeadlineExceeded),
        "{code:?}"
    );
    spec_answers(server, so).await;
}

/// GetMetrics soon answers `want` again, with no restart.
pub(crate) async fn assert_recovers(server: &TestServer, so: &ScaledObjectRef, want: f64) {
    let back = eventually(
        Duration::from_secs(30),
        "answers after the outage",
        || async { metric(server, so).await.ok() },
    )
    .await;
    assert_eq!(back, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn rabbitmq_down_slow_and_back() {
    let queue = TestQueue::new("outage").await;
    queue.publish(3).await;
    let proxy = Proxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let uri = format!("amqp://guest:guest@{}/%2f", proxy.addr);
    let server = TestServer::start(Config {
        clusters: clusters(&[("main", &uri)]),
        broker_connect_timeout_ms: 500,
        broker_query_timeout_ms: 300,
        ..config()
    })
    .await;
    let so = so(
        "orders",
        &[
            ("source", "rabbitmq"),
            ("cluster", "main"),
            ("queueName", queue.name.as_str()),
        ],
    );
    assert_eq!(metric(&server, &so).await, Ok(3.0));

    // Down: Unavailable, every time, while the spec still answers.
    proxy.set_down(true);
    for _ in 0..5 {
        assert_eq!(metric(&server, &so).await, Err(Code::Unavailable));
        spec_answers(&server, &so).await;
    }

    // Back up: correct answers again without a restart.
    proxy.set_down(false);
    assert_recovers(&server, &so, 3.0).await;

    // Slow: a query that does not answer within broker_query_timeout_ms is DeadlineExceeded.
    proxy.set_delay(Duration::from_secs(2));
    assert_eq!(metric(&server, &so).await, Err(Code::DeadlineExceeded));
    spec_answers(&server, &so).await;
    proxy.set_delay(Duration::ZERO);
    assert_recovers(&server, &so, 3.0).await;

    assert_eq!(
        server.scaler.sources().rabbitmq_connections().await,
        1,
        "one connection per profile"
    );
    eventually(
        Duration::from_secs(10),
        "one connection through the proxy",
        || async { (proxy.open() == 1).then_some(()) },
    )
    .await;
    // The first connection, one attempt per failed query while down, and the reconnections.
    assert!(
        proxy.accepted() <= 1 + 5 + 3,
        "reconnect storm: {} connections",
        proxy.accepted()
    );
    queue.delete().await;
}

/// Brokers that fail, then stop answering in time: errors within KEDA's budget, then correct
/// answers again once they are well, with the same single client.
#[tokio::test(flavor = "multi_thread")]
async fn kafka_brokers_failing_slow_and_back() {
    let kafka = Kafka::start();
    let topic = kafka.topic(2);
    kafka.produce(&topic, &[0, 1], 5);
    let group = unique("outage-group");
    kafka.commit(&group, &topic, &[(0, 2), (1, 2)]);
    let server = TestServer::start(Config {
        broker_connect_timeout_ms: 300,
        broker_query_timeout_ms: 300,
        ..config()
    })
    .await;
    let bootstrap = kafka.bootstrap();
    let so = so(
        "billing",
        &[
            ("source", "kafka"),
            ("bootstrapServers", bootstrap.as_str()),
            ("consumerGroup", group.as_str()),
            ("topic", topic.as_str()),
        ],
    );
    assert_eq!(metric(&server, &so).await, Ok(6.0));

    // Cut: the brokers answer offset requests with BROKER_NOT_AVAILABLE.
    use lagscale::mock_kafka::api_key::{LIST_OFFSETS, OFFSET_FETCH};
    let fail = |count| {
        kafka.brokers.fail_requests(OFFSET_FETCH, count);
        kafka.brokers.fail_requests(LIST_OFFSETS, count);
    };
    fail(1_000);
    assert_failing(&server, &so).await;
    fail(0);
    assert_recovers(&server, &so, 6.0).await;

    // Slow: every answer takes 2 s, beyond the 600 ms budget.
    let rtt = |rtt| {
        for broker in 1..=3 {
            kafka.brokers.set_broker_rtt(broker, rtt).unwrap();
        }
    };
    rtt(Duration::from_secs(2));
    assert_failing(&server, &so).await;
    rtt(Duration::ZERO);
    assert_recovers(&server, &so, 6.0).await;
    assert_eq!(
        server.scaler.sources().clients(SourceKind::Kafka),
        1,
        "one client per cluster, no leak"
    );
}

/// `rounds` times: the brokers go away (`set_down(true)`), GetMetrics soon fails; they come
/// back (`set_down(false)`), GetMetrics soon answers `want` again.
pub(crate) async fn down_and_back(
    server: &TestServer,
    so: &ScaledObjectRef,
    want: f64,
    rounds: usize,
    mut set_down: impl FnMut(bool),
) {
    for _ in 0..rounds {
        set_down(true);
        assert_failing(server, so).await;
        set_down(false);
        assert_recovers(server, so, want).await;
    }
}

/// Every broker of the cluster taken down (connections closed, new ones refused) and brought
/// back, 20 times, while GetMetrics keeps being called: errors while they are down, the right
/// value each time they are back, no restart, and no more than one connection per broker.
/// (librdkafka's admin client aborted the process on this path: confluentinc/librdkafka#4605.)
#[tokio::test(flavor = "multi_thread")]
async fn kafka_brokers_killed_and_restarted_twenty_times() {
    let kafka = Kafka::start();
    let topic = kafka.topic(3);
    kafka.produce(&topic, &[0, 1, 2], 4);
    let group = unique("restart-group");
    kafka.commit(&group, &topic, &[(0, 1), (1, 1), (2, 1)]);
    let server = TestServer::start(Config {
        broker_connect_timeout_ms: 300,
        broker_query_timeout_ms: 300,
        cache_ttl_ms: 100,
        ..config()
    })
    .await;
    let bootstrap = kafka.bootstrap();
    let so = so(
        "restarts",
        &[
            ("source", "kafka"),
            ("bootstrapServers", bootstrap.as_str()),
            ("consumerGroup", group.as_str()),
            ("topic", topic.as_str()),
        ],
    );
    assert_eq!(metric(&server, &so).await, Ok(9.0));
    down_and_back(&server, &so, 9.0, 20, |down| {
        for broker in 1..=3 {
            kafka.brokers.set_broker_down(broker, down).unwrap();
        }
    })
    .await;
    let sources = server.scaler.sources();
    assert_eq!(
        sources.clients(SourceKind::Kafka),
        1,
        "one client per cluster"
    );
    assert!(
        sources.kafka_connections() <= 3,
        "{} connections to 3 brokers",
        sources.kafka_connections()
    );
}

/// Partition leaders that move (a leader election): the old leader answers ListOffsets with
/// NOT_LEADER_OR_FOLLOWER, lagscale reads the topic's metadata again and asks the new leaders,
/// and the caller gets the right value, not an error.
#[tokio::test(flavor = "multi_thread")]
async fn kafka_leaders_that_move_are_followed() {
    let kafka = Kafka::start();
    let topic = kafka.topic(3);
    kafka.produce(&topic, &[0, 1, 2], 4);
    let group = unique("moving-group");
    kafka.commit(&group, &topic, &[(0, 1), (1, 2), (2, 3)]);
    let server = TestServer::start(Config {
        cache_ttl_ms: 1,
        ..config()
    })
    .await;
    let bootstrap = kafka.bootstrap();
    let so = so(
        "moves",
        &[
            ("source", "kafka"),
            ("bootstrapServers", bootstrap.as_str()),
            ("consumerGroup", group.as_str()),
            ("topic", topic.as_str()),
        ],
    );
    assert_eq!(metric(&server, &so).await, Ok(6.0));
    use kafka_protocol::messages::ApiKey;
    let metadata_before = server.scaler.sources().kafka_requests(ApiKey::Metadata);
    for round in 0..3 {
        // Every partition moves to the next broker (brokers are numbered 1 to 3).
        for partition in 0..3 {
            let leader = (partition + round + 1) % 3 + 1;
            kafka
                .brokers
                .set_partition_leader(&topic, partition, leader)
                .unwrap();
        }
        // The first answer that comes from the brokers rather than the 1 ms cache.
        let sent = server.queries_sent();
        let value = eventually(Duration::from_secs(5), "a broker query", || async {
            let value = metric(&server, &so).await;
            (server.queries_sent() > sent).then_some(value)
        })
        .await;
        assert_eq!(
            value,
            Ok(6.0),
            "round {round}: answered through the new leaders"
        );
    }
    let metadata_after = server.scaler.sources().kafka_requests(ApiKey::Metadata);
    assert!(
        metadata_after > metadata_before,
        "the moves made lagscale read metadata again ({metadata_before} → {metadata_after})"
    );
}
