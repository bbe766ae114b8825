//! Load, against the real server and RabbitMQ: many streams opened and dropped, many calls.
//! A test binary of its own, so that the open-streams gauge and the process's memory belong to
//! this test alone. Counts and bounds only, never wall time.

#[allow(dead_code)]
#[path = "../e2e/support/mod.rs"]
mod support;

use std::time::Duration;

use futures_util::StreamExt;
use lagscale::config::Config;
use lagscale::proto::external_scaler_client::ExternalScalerClient;
use support::rabbit::TestQueue;
use support::{TestServer, config, eventually, metrics_request, rss_mib, so};

fn open_streams() -> usize {
    // The gauge, read from the same registry the /metrics endpoint renders.
    let text = lagscale::metrics::render();
    text.lines()
        .find(|l| l.starts_with(lagscale::metrics::OPEN_STREAMS) && l.contains("StreamIsActive"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as usize)
}

async fn open_and_drop(server: &TestServer, queue: &TestQueue, count: usize) {
    let channel = server.channel().await;
    let mut streams = Vec::with_capacity(count);
    for i in 0..count {
        let mut client = ExternalScalerClient::new(channel.clone());
        let so = so(&format!("stream-{i}"), &queue.metadata(&[]));
        streams.push(client.stream_is_active(so).await.unwrap().into_inner());
    }
    // Every stream got its first state.
    let firsts = futures_util::future::join_all(streams.iter_mut().map(|s| s.next())).await;
    assert!(firsts.iter().all(|m| matches!(m, Some(Ok(_)))));
    assert_eq!(open_streams(), count);
    drop(streams);
    drop(channel);
    eventually(Duration::from_secs(30), "every stream closed", || async {
        (open_streams() == 0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_streams_come_and_go_and_ten_thousand_calls_succeed() {
    let queue = TestQueue::new("load").await;
    queue.publish(3).await;
    let server = TestServer::start(Config {
        stream_check_interval_ms: 1_000,
        cache_ttl_ms: 2_000,
        ..config()
    })
    .await;

    open_and_drop(&server, &queue, 100).await; // warm up allocator and connections
    let baseline = rss_mib();
    open_and_drop(&server, &queue, 1_000).await;
    let after = rss_mib();
    println!("RSS: {baseline:.1} MiB before 1,000 streams, {after:.1} MiB after they closed");
    assert!(
        after < baseline + 64.0,
        "memory did not come back: {baseline:.1} → {after:.1} MiB"
    );

    // 10,000 GetMetrics over 100 triggers (10 queues × 10 ScaledObjects), 100 at a time.
    let mut queues = Vec::new();
    for _ in 0..10 {
        let q = TestQueue::new("load-calls").await;
        q.publish(5).await;
        queues.push(q);
    }
    let channel = server.channel().await;
    let requests: Vec<_> = (0..10_000)
        .map(|i| {
            let trigger = i % 100;
            metrics_request(
                so(
                    &format!("so-{trigger}"),
                    &queues[trigger % 10].metadata(&[]),
                ),
                "",
            )
        })
        .collect();
    let results: Vec<_> = futures_util::stream::iter(requests)
        .map(|request| {
            let mut client = ExternalScalerClient::new(channel.clone());
            async move {
                client
                    .get_metrics(request)
                    .await
                    .map(|r| r.into_inner().metric_values[0].metric_value_float)
            }
        })
        .buffer_unordered(100)
        .collect()
        .await;
    let errors: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        errors.first()
    );
    assert!(results.iter().all(|r| *r.as_ref().unwrap() == 5.0));
    let queries = server.queries_sent();
    println!("10,000 calls over 100 triggers on 10 queues: {queries} broker queries");

    for q in queues {
        q.delete().await;
    }
    queue.delete().await;
}
