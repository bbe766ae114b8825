//! Bad metadata, missing queues and unreachable brokers: clear statuses, never hangs.

use std::time::{Duration, Instant};

use lagscale::config::Config;
use lagscale::proto::ScaledObjectRef;
use lagscale::proto::external_scaler_client::ExternalScalerClient;
use lagscale::source::SourceKind;
use tonic::Code;
use tonic::transport::Channel;

use crate::support::rabbit::{TestQueue, uri};
use crate::support::{TestServer, config, metrics_request, so};

/// Metadata that does not parse: GetMetricSpec and StreamMetricSpec still answer (a
/// placeholder spec, so KEDA keeps the trigger in the HPA), and GetMetrics, IsActive and
/// StreamIsActive fail with InvalidArgument naming the key: KEDA records those errors as
/// events on the ScaledObject, where `kubectl describe` shows them.
#[tokio::test]
async fn bad_metadata_is_invalid_argument_naming_the_key() {
    let server = TestServer::start(config()).await;
    let mut client = server.client().await;
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[
                ("source", "rabbitmq"),
                ("host", "amqp://127.0.0.1"),
                ("queueName", "q"),
                ("lagTreshold", "5"),
            ],
            "did you mean `lagThreshold`",
        ),
        (
            &[("source", "rabbitmq"), ("host", "amqp://127.0.0.1")],
            "queueName: missing",
        ),
        (
            &[
                ("source", "rabbitmq"),
                ("host", "amqp://127.0.0.1"),
                ("queueName", "q"),
                ("lagThreshold", "ten"),
            ],
            "lagThreshold: \"ten\"",
        ),
        (
            &[("source", "nats"), ("queueName", "q")],
            "source: \"nats\"",
        ),
    ];
    for (metadata, words) in cases {
        let so = so("bad", metadata);
        let spec = client.get_metric_spec(so.clone()).await.unwrap();
        let spec = spec.into_inner().metric_specs;
        assert_eq!(spec.len(), 1);
        assert!(
            spec[0].metric_name.starts_with("invalid-trigger-"),
            "{spec:?}"
        );
        let mut stream = client.stream_metric_spec(so.clone()).await.unwrap();
        let streamed = stream.get_mut().message().await.unwrap().unwrap();
        assert_eq!(streamed.metric_specs, spec, "the same placeholder");
        let statuses = [
            client.is_active(so.clone()).await.unwrap_err(),
            client
                .get_metrics(metrics_request(so.clone(), &spec[0].metric_name))
                .await
                .unwrap_err(),
            client.stream_is_active(so.clone()).await.unwrap_err(),
        ];
        for status in statuses {
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
            assert!(
                status.message().contains(words),
                "{status:?} should contain {words:?}"
            );
        }
    }
    assert_eq!(
        server.queries_sent(),
        0,
        "bad metadata never reaches a broker"
    );
}

#[tokio::test]
async fn missing_queue_is_not_found_and_the_connection_survives() {
    let queue = TestQueue::new("exists").await;
    queue.publish(4).await;
    let server = TestServer::start(config()).await;
    let mut client = server.client().await;
    let missing = so(
        "missing",
        &[
            ("source", "rabbitmq"),
            ("host", uri().as_str()),
            ("queueName", "lagscale-no-such-queue"),
        ],
    );
    let present = so("present", &queue.metadata(&[]));

    for _ in 0..3 {
        let status = client
            .get_metrics(metrics_request(missing.clone(), ""))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        assert!(
            status.message().contains("lagscale-no-such-queue"),
            "{status:?}"
        );
        assert!(!status.message().contains("guest:guest"), "{status:?}");
        // The broker closed the channel; the next query on the same connection still works.
        let value = client
            .get_metrics(metrics_request(present.clone(), ""))
            .await
            .unwrap();
        assert_eq!(value.into_inner().metric_values[0].metric_value_float, 4.0);
    }
    assert_eq!(server.scaler.sources().rabbitmq_connections().await, 1);
    queue.delete().await;
}

/// A profile pointing at a closed port: Unavailable well inside KEDA's 3 s, while
/// GetMetricSpec (metadata only) keeps answering so that KEDA's fallback can fire.
#[tokio::test]
async fn unreachable_broker_is_unavailable_and_spec_still_answers() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = Config {
        clusters: crate::support::clusters(&[(
            "down",
            &format!("amqp://guest:guest@127.0.0.1:{closed_port}/%2f"),
        )]),
        ..config()
    };
    let server = TestServer::start(config).await;
    let mut client = server.client().await;
    let so = so(
        "orders",
        &[
            ("source", "rabbitmq"),
            ("cluster", "down"),
            ("queueName", "jobs"),
        ],
    );

    let status = failed_get_metrics_within_keda_budget(&mut client, so.clone()).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("cluster \"down\""), "{status:?}");
    assert!(!status.message().contains("guest:guest"), "{status:?}");

    let status = client.is_active(so.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);

    let spec = client.get_metric_spec(so).await.unwrap().into_inner();
    assert_eq!(spec.metric_specs[0].metric_name, "rabbitmq-down-jobs");
    assert_eq!(spec.metric_specs[0].target_size_float, 20.0); // KEDA's RabbitMQ default value
}

/// A broker that accepts TCP but never answers: the connect timeout bounds the call.
#[tokio::test]
async fn silent_broker_is_unavailable_after_the_connect_timeout() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let config = Config {
        broker_connect_timeout_ms: 300,
        ..config()
    };
    let server = TestServer::start(config).await;
    let mut client = server.client().await;
    let host = format!("amqp://127.0.0.1:{port}/%2f");
    let so = so(
        "orders",
        &[
            ("source", "rabbitmq"),
            ("host", host.as_str()),
            ("queueName", "jobs"),
        ],
    );
    let status = failed_get_metrics_within_keda_budget(&mut client, so).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("timed out after 300 ms"),
        "{status:?}"
    );
    drop(silent);
}

/// A GetMetrics call that must fail inside the 3 s KEDA's HPA path allows for a whole poll.
async fn failed_get_metrics_within_keda_budget(
    client: &mut ExternalScalerClient<Channel>,
    so: ScaledObjectRef,
) -> tonic::Status {
    let started = Instant::now();
    let status = client
        .get_metrics(metrics_request(so, ""))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    status
}

/// Oversized and hostile values through the real server: InvalidArgument with a short message
/// for each, the server unharmed, and `partitionLimitation` over every partition number
/// answered at once (it is kept as one range).
#[tokio::test]
async fn oversized_values_get_short_invalid_argument_errors() {
    let server = TestServer::start(config()).await;
    let mut client = server.client().await;
    let huge = "x".repeat(100_000);
    let long_queue = "q".repeat(300);
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[
                ("source", "rabbitmq"),
                ("host", "amqp://127.0.0.1"),
                ("queueName", &huge),
            ],
            "the value of queueName is too large: 100000 bytes",
        ),
        (
            &[
                ("source", "rabbitmq"),
                ("host", "amqp://127.0.0.1"),
                ("queueName", &long_queue),
            ],
            "queueName",
        ),
        (
            &[
                ("source", "kafka"),
                ("bootstrapServers", "127.0.0.1:9"),
                ("consumerGroup", "g"),
                ("topic", "no\0nul"),
            ],
            "a Kafka topic name",
        ),
        (
            &[("scalerAddress", &huge), ("source", "rabbitmq")],
            "scalerAddress",
        ),
    ];
    for (metadata, words) in cases {
        let status = client
            .get_metrics(metrics_request(so("big", metadata), ""))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(words), "{status:?}");
        assert!(
            status.message().len() < 1024,
            "{} bytes",
            status.message().len()
        );
    }
    let all_partitions = [
        ("source", "kafka"),
        ("bootstrapServers", "127.0.0.1:9"),
        ("consumerGroup", "g"),
        ("topic", "t"),
        ("partitionLimitation", "0-2147483647"),
    ];
    let spec = client.get_metric_spec(so("wide", &all_partitions)).await;
    assert!(spec.is_ok(), "{spec:?}");
}

/// `inline_endpoints: deny`: a trigger that names its broker inline is refused before any
/// connection is made; one that names a connection profile is served.
#[tokio::test]
async fn denied_inline_endpoints_open_no_connection() {
    let queue = TestQueue::new("policy").await;
    queue.publish(2).await;
    let server = TestServer::start(Config {
        inline_endpoints: lagscale::config::InlineEndpoints::Deny,
        clusters: crate::support::clusters(&[("main", &uri())]),
        ..config()
    })
    .await;
    let mut client = server.client().await;
    let inline_rabbit = [
        ("source", "rabbitmq"),
        ("host", "amqp://127.0.0.1:5672"),
        ("queueName", queue.name.as_str()),
    ];
    let inline_kafka = [
        ("source", "kafka"),
        ("bootstrapServers", "127.0.0.1:9092"),
        ("consumerGroup", "g"),
    ];
    for (metadata, key) in [
        (&inline_rabbit[..], "host"),
        (&inline_kafka[..], "bootstrapServers"),
    ] {
        let status = client
            .get_metrics(metrics_request(so("inline", metadata), ""))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains(key) && status.message().contains("inline_endpoints: deny"),
            "{status:?}"
        );
    }
    assert_eq!(server.queries_sent(), 0, "no broker was asked");
    assert_eq!(server.scaler.sources().clients(SourceKind::Kafka), 0);
    assert_eq!(server.scaler.sources().rabbitmq_connections().await, 0);

    let profile = [
        ("source", "rabbitmq"),
        ("cluster", "main"),
        ("queueName", queue.name.as_str()),
    ];
    let served = client
        .get_metrics(metrics_request(so("profile", &profile), ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(served.metric_values[0].metric_value_float, 2.0);
    queue.delete().await;
}

/// Connection errors are no port-scan oracle: a closed port, a port that closes at once and a
/// port that answers garbage give a caller the same words, "cannot reach the broker", the
/// endpoint and a stable kind, for AMQP and Kafka alike; the operating system's detail
/// (refused, reset, parse failure) is left to the log.
#[tokio::test]
async fn connection_errors_say_cannot_reach_the_broker_and_nothing_more() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let hangs_up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hangs_up_port = hangs_up.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = hangs_up.accept().await {
            drop(socket);
        }
    });
    let garbage = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let garbage_port = garbage.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut socket, _)) = garbage.accept().await {
            let _ = socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n\xff\xff\xff\xff")
                .await;
        }
    });
    let server = TestServer::start(config()).await;
    let mut client = server.client().await;
    let mut messages = Vec::new();
    for port in [closed, hangs_up_port, garbage_port] {
        let amqp = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
        let kafka = format!("127.0.0.1:{port}");
        let triggers = [
            [
                ("source", "rabbitmq"),
                ("host", amqp.as_str()),
                ("queueName", "jobs"),
            ],
            [
                ("source", "kafka"),
                ("bootstrapServers", kafka.as_str()),
                ("consumerGroup", "g"),
            ],
        ];
        for metadata in triggers {
            let status =
                failed_get_metrics_within_keda_budget(&mut client, so("scan", &metadata)).await;
            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
            let message = status.message().to_owned();
            assert!(message.contains("cannot reach the broker"), "{message}");
            assert!(
                message.contains(&port.to_string()),
                "names the endpoint: {message}"
            );
            for detail in [
                "refused", "reset", "parse", "os error", "invalid", "eof", "closed",
            ] {
                assert!(
                    !message.to_lowercase().contains(detail),
                    "{detail:?} leaks: {message}"
                );
            }
            messages.push(message.replace(&port.to_string(), "PORT"));
        }
    }
    // The same two messages (one per source) for the three kinds of port.
    messages.sort();
    messages.dedup();
    assert_eq!(messages.len(), 2, "{messages:#?}");
}

/// `inline_endpoint_allowlist`: an inline broker that matches a pattern is served; one that
/// matches none (or a bootstrap list with one such broker) is InvalidArgument naming the key
/// and the address, and no connection is made for it.
#[tokio::test]
async fn inline_endpoints_outside_the_allowlist_open_no_connection() {
    let queue = TestQueue::new("allowlist").await;
    queue.publish(3).await;
    let allowlist = ["127.0.0.1:5672", "*.kafka.example:9092"]
        .map(|p| lagscale::config::EndpointPattern::try_from(p.to_owned()).unwrap());
    let server = TestServer::start(Config {
        inline_endpoint_allowlist: allowlist.to_vec(),
        ..config()
    })
    .await;
    let mut client = server.client().await;
    let refused = [
        (
            vec![
                ("source", "rabbitmq"),
                ("host", "amqp://guest:guest@localhost:5672/%2f"),
                ("queueName", queue.name.as_str()),
            ],
            "host",
            "localhost:5672",
        ),
        (
            vec![
                ("source", "kafka"),
                ("bootstrapServers", "a.kafka.example:9092,127.0.0.1:9092"),
                ("consumerGroup", "g"),
            ],
            "bootstrapServers",
            "127.0.0.1:9092",
        ),
    ];
    for (metadata, key, broker) in refused {
        let status = client
            .get_metrics(metrics_request(so("inline", &metadata), ""))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        let message = status.message();
        assert!(
            message.contains(key)
                && message.contains(broker)
                && message.contains("inline_endpoint_allowlist"),
            "{status:?}"
        );
    }
    assert_eq!(server.queries_sent(), 0, "no broker was asked");
    assert_eq!(server.scaler.sources().clients(SourceKind::Kafka), 0);
    assert_eq!(server.scaler.sources().clients(SourceKind::Rabbitmq), 0);

    let allowed = [
        ("source", "rabbitmq"),
        ("host", "amqp://guest:guest@127.0.0.1:5672/%2f"),
        ("queueName", queue.name.as_str()),
    ];
    let served = client
        .get_metrics(metrics_request(so("allowed", &allowed), ""))
        .await
        .unwrap();
    assert_eq!(served.into_inner().metric_values[0].metric_value_float, 3.0);
    queue.delete().await;
}
