//! One AMQP connection per profile, shared by all triggers, re-established when lost.

use std::time::Duration;

use lagscale::config::Config;

use crate::support::proxy::Proxy;
use crate::support::rabbit::TestQueue;
use crate::support::{TestServer, clusters, config, eventually, metrics_request, so};

async fn rabbit_through(proxy: &Proxy) -> Config {
    let uri = format!("amqp://guest:guest@{}/%2f", proxy.addr);
    Config {
        clusters: clusters(&[("main", &uri)]),
        ..config()
    }
}

#[tokio::test]
async fn all_triggers_of_a_profile_share_one_connection() {
    let proxy = Proxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let server = TestServer::start(rabbit_through(&proxy).await).await;
    let mut client = server.client().await;
    let mut queues = Vec::new();
    for i in 0..5 {
        let queue = TestQueue::new("profile").await;
        queue.publish(i + 1).await;
        queues.push(queue);
    }
    for round in 0..3 {
        for (i, queue) in queues.iter().enumerate() {
            let so = so(
                &format!("so-{round}-{i}"),
                &[
                    ("source", "rabbitmq"),
                    ("cluster", "main"),
                    ("queueName", queue.name.as_str()),
                ],
            );
            let value = client.get_metrics(metrics_request(so, "")).await.unwrap();
            assert_eq!(
                value.into_inner().metric_values[0].metric_value_float,
                (i + 1) as f64
            );
        }
    }
    assert_eq!(proxy.accepted(), 1, "one TCP connection to the broker");
    assert_eq!(server.scaler.sources().rabbitmq_connections().await, 1);
    for queue in queues {
        queue.delete().await;
    }
}

#[tokio::test]
async fn a_lost_connection_is_re_established_on_a_later_query() {
    let proxy = Proxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let server = TestServer::start(rabbit_through(&proxy).await).await;
    let mut client = server.client().await;
    let queue = TestQueue::new("reconnect").await;
    queue.publish(3).await;
    let so = so(
        "orders",
        &[
            ("source", "rabbitmq"),
            ("cluster", "main"),
            ("queueName", queue.name.as_str()),
        ],
    );
    client
        .get_metrics(metrics_request(so.clone(), ""))
        .await
        .unwrap();
    assert_eq!(proxy.accepted(), 1);

    proxy.sever();

    // The query that meets the dead connection may fail (Unavailable); a later one reconnects.
    let value = eventually(
        Duration::from_secs(10),
        "a successful query after the cut",
        || {
            let mut client = client.clone();
            let so = so.clone();
            async move {
                match client.get_metrics(metrics_request(so, "")).await {
                    Ok(response) => Some(response.into_inner().metric_values[0].metric_value_float),
                    Err(status) => {
                        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                        None
                    }
                }
            }
        },
    )
    .await;
    assert_eq!(value, 3.0);
    assert_eq!(proxy.accepted(), 2, "exactly one new connection");
    assert_eq!(server.scaler.sources().rabbitmq_connections().await, 1);
    queue.delete().await;
}
