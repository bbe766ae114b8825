//! Limits: a per-request deadline, load shedding beyond the concurrency limit, and a bounded
//! graceful shutdown — against a broker that accepts connections and never answers.

use std::time::Duration;

use lagscale::config::Config;
use lagscale::proto::external_scaler_client::ExternalScalerClient;
use tokio::net::TcpListener;
use tonic::Code;

use crate::support::{TestServer, config, metrics_request, so};

/// A broker that accepts TCP and never says a word, and a trigger pointing at it.
async fn silent_broker() -> (TcpListener, Vec<(&'static str, String)>) {
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = format!(
        "amqp://127.0.0.1:{}/%2f",
        silent.local_addr().unwrap().port()
    );
    let metadata = vec![("source", "rabbitmq"), ("queueName", "jobs")]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .chain([("host", host)])
        .collect();
    (silent, metadata)
}

/// Broker timeouts far beyond the request deadline: only the deadline can end the call.
fn patient(config: Config) -> Config {
    Config {
        broker_connect_timeout_ms: 60_000,
        broker_query_timeout_ms: 60_000,
        ..config
    }
}

#[tokio::test]
async fn a_slow_call_ends_with_deadline_exceeded_and_the_spec_still_answers() {
    let (_silent, metadata) = silent_broker().await;
    let server = TestServer::start(patient(Config {
        request_timeout_ms: 300,
        ..config()
    }))
    .await;
    let mut client = server.client().await;
    let status = client
        .get_metrics(metrics_request(so("slow", &metadata), ""))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().contains("request_timeout_ms"),
        "{status:?}"
    );
    client.get_metric_spec(so("slow", &metadata)).await.unwrap();
}

#[tokio::test]
async fn calls_beyond_the_limit_are_refused_at_once() {
    let (_silent, metadata) = silent_broker().await;
    let limited = Config {
        request_timeout_ms: 1_000,
        max_concurrent_requests: 1,
        ..config()
    };
    let server = TestServer::start(patient(limited)).await;
    let channel = server.channel().await;
    let calls = (0..20).map(|i| {
        let mut client = ExternalScalerClient::new(channel.clone());
        let request = metrics_request(so(&format!("so-{i}"), &metadata), "");
        async move { client.get_metrics(request).await.unwrap_err().code() }
    });
    let codes = futures_util::future::join_all(calls).await;
    let shed = codes
        .iter()
        .filter(|c| **c == Code::ResourceExhausted)
        .count();
    let timed_out = codes
        .iter()
        .filter(|c| **c == Code::DeadlineExceeded)
        .count();
    assert!(shed >= 1, "nothing was shed: {codes:?}");
    assert!(
        timed_out >= 1,
        "the admitted call runs to its deadline: {codes:?}"
    );
    assert_eq!(shed + timed_out, codes.len(), "{codes:?}");
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_stuck_call_beyond_its_timeout() {
    let (_silent, metadata) = silent_broker().await;
    let stuck = Config {
        request_timeout_ms: 60_000,
        shutdown_timeout_ms: 300,
        ..config()
    };
    let mut server = TestServer::start(patient(stuck)).await;
    let mut client = server.client().await;
    let call = tokio::spawn(async move {
        client
            .get_metrics(metrics_request(so("stuck", &metadata), ""))
            .await
    });
    // Wait until the call is in flight (its broker connection attempt has begun).
    crate::support::eventually(
        Duration::from_secs(10),
        "the call to reach the broker",
        || async { (server.queries_sent() > 0).then_some(()) },
    )
    .await;
    tokio::time::timeout(Duration::from_secs(10), server.shut_down())
        .await
        .expect("shutdown is bounded by shutdown_timeout_ms")
        .unwrap();
    // In the real process `main` returns now and the stuck call dies with it; here, drop it.
    assert!(!call.is_finished(), "the call was stuck, not answered");
    call.abort();
}
