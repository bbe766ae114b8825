//! The Prometheus endpoint, scraped over HTTP while the real server answers calls against the
//! real RabbitMQ. A test binary of its own: metrics are process-wide, and the gauges checked
//! here must not see the streams of other tests.

#[allow(dead_code)]
#[path = "../e2e/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use lagscale::config::Config;
use lagscale::metrics;
use lagscale::scaler::Scaler;
use lagscale::source::ClusterProfile;
use lagscale::source::SourceKind;
use lagscale::source::kafka::KafkaProfile;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use support::fake_kube::FakeReplicas;
use support::kafka::{Kafka, unique};
use support::proxy::Proxy;
use support::rabbit::TestQueue;
use support::{TestServer, config, eventually, metrics_request, served_value, so};

async fn scrape(server: &TestServer) -> String {
    let mut stream = tokio::net::TcpStream::connect(server.metrics_addr)
        .await
        .unwrap();
    let request = "GET /metrics HTTP/1.1\r\nHost: lagscale\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// The value of the sample of `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_describe_what_the_server_does() {
    let queue = TestQueue::new("metrics").await;
    queue.publish(5).await;
    let replicas = Arc::new(FakeReplicas::default());
    replicas.set("test", "steady", 2, 1, 6);
    let server = TestServer::with_scaler(Scaler::with_replicas(config(), replicas)).await;
    let mut client = server.client().await;
    let queue_label = format!("name=\"{}\"", queue.name);

    let ok = so("orders", &queue.metadata(&[("transform", "log2")]));
    client.get_metrics(metrics_request(ok, "")).await.unwrap();
    // A step trigger with no window yet holds at its 2 replicas (its own queue, so that its
    // call asks the broker and records the metric).
    let step_queue = TestQueue::new("metrics-step").await;
    let step_label = format!("name=\"{}\"", step_queue.name);
    let step = so("steady", &step_queue.metadata(&[("strategy", "step")]));
    let served = client.get_metrics(metrics_request(step, "")).await.unwrap();
    assert_eq!(served.into_inner().metric_values[0].metric_value_float, 2.0);
    let missing = so(
        "gone",
        &[
            ("source", "rabbitmq"),
            ("host", support::rabbit::uri().as_str()),
            ("queueName", "lagscale-metrics-missing"),
        ],
    );
    client
        .get_metrics(metrics_request(missing, ""))
        .await
        .unwrap_err();

    // 50 open streams count 50, and drop back once their clients leave.
    let mut streams = Vec::new();
    for i in 0..50 {
        let so = so(&format!("s{i}"), &queue.metadata(&[]));
        let mut stream = client.stream_is_active(so).await.unwrap().into_inner();
        stream.message().await.unwrap();
        streams.push(stream);
    }

    // A throughput trigger on the mock Kafka cluster: a cold-start value first, then, once
    // two offset samples exist, a time lag.
    let kafka = Kafka::start();
    let topic = kafka.topic(2);
    let group = unique("metrics");
    kafka.produce(&topic, &[0, 1], 10);
    kafka.commit(&group, &topic, &[(0, 2), (1, 2)]);
    let bootstrap = kafka.bootstrap();
    let throughput = [
        ("source", "kafka"),
        ("bootstrapServers", bootstrap.as_str()),
        ("consumerGroup", group.as_str()),
        ("topic", topic.as_str()),
        ("metric", "throughput"),
        ("replicaThroughput", "10"),
        ("rateWindowSecs", "2"),
    ];
    let text = eventually(Duration::from_secs(20), "a time lag", || {
        let mut client = client.clone();
        let request = metrics_request(so("rates", &throughput), "");
        let server = &server;
        async move {
            client.get_metrics(request).await.unwrap();
            let text = scrape(server).await;
            text.contains(metrics::TIME_LAG).then_some(text)
        }
    })
    .await;
    assert!(
        sample(&text, metrics::THROUGHPUT_WITHOUT_RATE, &[]) >= Some(1.0),
        "{text}"
    );
    // `replicaThroughput: auto` shows the rate it sizes with: the initial one, on a mock
    // cluster that cannot say who consumes.
    let mut auto = throughput.to_vec();
    auto.retain(|(k, _)| *k != "replicaThroughput");
    auto.extend([
        ("replicaThroughput", "auto"),
        ("replicaThroughputInitial", "7.5"),
        ("metricName", "auto-orders"),
    ]);
    client
        .get_metrics(metrics_request(so("auto", &auto), ""))
        .await
        .unwrap();
    assert_eq!(
        sample(&text, metrics::TIME_LAG, &[]),
        Some(f64::INFINITY),
        "nothing consumed: {text}"
    );

    let text = scrape(&server).await;
    assert_eq!(
        sample(
            &text,
            metrics::REPLICA_THROUGHPUT,
            &["metric_name=\"auto-orders\""]
        ),
        Some(7.5),
        "{text}"
    );
    for (name, help) in metrics::ALL {
        assert!(
            text.contains(&format!("# HELP {name} {help}")),
            "{name} is not described:\n{text}"
        );
    }
    assert!(
        sample(&text, metrics::KAFKA_REQUESTS, &["api=\"OffsetFetch\""]) >= Some(1.0),
        "the Kafka client's requests are counted by API: {text}"
    );
    let rabbit = "source=\"rabbitmq\"";
    let hold = ["strategy=\"step\"", "decision=\"hold\""];
    assert_eq!(
        sample(&text, metrics::REPLICA_DECISIONS, &hold),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            metrics::METRIC_VALUE,
            &[&step_label, "transform=\"step\""]
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            metrics::LAG,
            &[rabbit, &queue_label, "cluster=\"inline\""]
        ),
        Some(5.0),
        "{text}"
    );
    let log2 = sample(
        &text,
        metrics::METRIC_VALUE,
        &[&queue_label, "transform=\"log2\""],
    )
    .unwrap();
    assert!((log2 - 5f64.log2()).abs() < 1e-9, "{text}");
    assert!(
        sample(
            &text,
            metrics::GRPC_REQUESTS,
            &["method=\"GetMetrics\"", "code=\"NotFound\""]
        ) >= Some(1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            metrics::BROKER_ERRORS,
            &[rabbit, "kind=\"not_found\""]
        ) >= Some(1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            &format!("{}_count", metrics::BROKER_QUERY_SECONDS),
            &[rabbit]
        ) >= Some(2.0),
        "{text}"
    );
    assert!(
        sample(&text, metrics::CACHE_LOOKUPS, &["result=\"miss\""]) >= Some(2.0),
        "{text}"
    );
    // The call durations: a Prometheus histogram whose buckets add up to its count.
    let grpc = metrics::GRPC_SECONDS;
    assert!(text.contains(&format!("# TYPE {grpc} histogram")), "{text}");
    let get_metrics = "method=\"GetMetrics\"";
    let count = sample(&text, &format!("{grpc}_count"), &[get_metrics]);
    assert!(count >= Some(2.0), "{text}");
    assert_eq!(
        sample(
            &text,
            &format!("{grpc}_bucket"),
            &[get_metrics, "le=\"+Inf\""]
        ),
        count,
        "{text}"
    );
    assert_eq!(
        sample(&text, metrics::OPEN_STREAMS, &["method=\"StreamIsActive\""]),
        Some(50.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            metrics::BROKER_CONNECTIONS,
            &[rabbit, "cluster=\"inline\""]
        ),
        Some(1.0),
        "{text}"
    );

    drop(streams);
    drop(client);
    eventually(
        Duration::from_secs(10),
        "open streams back to 0",
        || async {
            let text = scrape(&server).await;
            (sample(&text, metrics::OPEN_STREAMS, &["method=\"StreamIsActive\""]) == Some(0.0))
                .then_some(())
        },
    )
    .await;
    queue.delete().await;
    step_queue.delete().await;
}

/// A RabbitMQ connection and a Kafka client no trigger uses for `idle_client_ttl_ms` are
/// closed: the broker sees the connection end, the connections gauge of their profiles falls
/// to 0, and the next call opens them again and answers.
#[tokio::test(flavor = "multi_thread")]
async fn idle_clients_are_closed_and_reopened_on_next_use() {
    let queue = TestQueue::new("idle").await;
    queue.publish(4).await;
    let proxy = Proxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let kafka = Kafka::start();
    let topic = kafka.topic(1);
    let group = unique("idle");
    kafka.produce(&topic, &[0], 6);
    kafka.commit(&group, &topic, &[(0, 1)]);
    let mut clusters = support::clusters(&[(
        "idle-rabbit",
        &format!("amqp://guest:guest@{}/%2f", proxy.addr),
    )]);
    let profile = KafkaProfile::inline(&kafka.bootstrap()).unwrap();
    clusters.insert("idle-kafka".to_owned(), ClusterProfile::Kafka(profile));
    let server = TestServer::start(Config {
        clusters,
        idle_client_ttl_ms: 300,
        ..config()
    })
    .await;
    let rabbit = [
        ("source", "rabbitmq"),
        ("cluster", "idle-rabbit"),
        ("queueName", queue.name.as_str()),
    ];
    let kafka_trigger = [
        ("source", "kafka"),
        ("cluster", "idle-kafka"),
        ("consumerGroup", group.as_str()),
        ("topic", topic.as_str()),
    ];
    let gauge = |text: &str, source: &str, cluster: &str| {
        let labels = [
            format!("source=\"{source}\""),
            format!("cluster=\"{cluster}\""),
        ];
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        sample(text, metrics::BROKER_CONNECTIONS, &labels)
    };
    for round in 0..2 {
        let values = (
            served_value(server.client().await, "orders", &rabbit).await,
            served_value(server.client().await, "billing", &kafka_trigger).await,
        );
        assert_eq!(values, (4.0, 5.0), "round {round}");
        let text = scrape(&server).await;
        assert_eq!(gauge(&text, "rabbitmq", "idle-rabbit"), Some(1.0), "{text}");
        assert_eq!(gauge(&text, "kafka", "idle-kafka"), Some(1.0), "{text}");

        let sources = server.scaler.sources();
        eventually(Duration::from_secs(10), "idle clients closed", || async {
            let closed = sources.clients(SourceKind::Rabbitmq) == 0
                && sources.clients(SourceKind::Kafka) == 0
                && sources.kafka_connections() == 0
                && proxy.open() == 0;
            closed.then_some(())
        })
        .await;
        let text = scrape(&server).await;
        assert_eq!(gauge(&text, "rabbitmq", "idle-rabbit"), Some(0.0), "{text}");
        assert_eq!(gauge(&text, "kafka", "idle-kafka"), Some(0.0), "{text}");
    }
    assert_eq!(proxy.accepted(), 2, "one AMQP connection per round");
    queue.delete().await;
}
