//! IsActive and StreamIsActive against a real queue.

use std::time::Duration;

use futures_util::FutureExt;
use lagscale::proto::IsActiveResponse;
use tonic::Streaming;

use crate::support::rabbit::TestQueue;
use crate::support::{TestServer, config, eventually, so};

#[tokio::test]
async fn is_active_flips_above_the_activation_threshold() {
    let queue = TestQueue::new("activation").await;
    let server = TestServer::start(config()).await;
    let mut client = server.client().await;
    let so = so(
        "orders",
        &queue.metadata(&[("activationLagThreshold", "3")]),
    );
    let mut active = Vec::new();
    for _ in 0..5 {
        active.push(
            client
                .is_active(so.clone())
                .await
                .unwrap()
                .into_inner()
                .result,
        );
        queue.publish(1).await;
    }
    // Lag 0, 1, 2, 3 are not above 3; lag 4 is.
    assert_eq!(active, [false, false, false, false, true]);
    queue.delete().await;
}

async fn next(stream: &mut Streaming<IsActiveResponse>) -> bool {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("a push within 10 s")
        .expect("stream status OK")
        .expect("stream still open")
        .result
}

/// Waits until the server has evaluated the stream's trigger `n` more times.
async fn evaluations(server: &TestServer, n: u64) {
    let start = server.queries_sent();
    eventually(Duration::from_secs(10), "stream evaluations", || async {
        (server.queries_sent() >= start + n).then_some(())
    })
    .await;
}

/// Only `true` is pushed, on each inactive → active edge: a stream opened on an empty queue
/// receives nothing until a message arrives, then `true` once (KEDA 2.17 acts on a pushed
/// `false` with a stale ScaledObject; see `push_activity`).
#[tokio::test]
async fn stream_is_active_pushes_only_inactive_to_active_edges() {
    let queue = TestQueue::new("stream").await;
    let server = TestServer::start(config()).await;
    let mut client = server.client().await;
    let mut stream = client
        .stream_is_active(so("orders", &queue.metadata(&[])))
        .await
        .unwrap()
        .into_inner();

    evaluations(&server, 3).await;
    assert!(
        stream.message().now_or_never().is_none(),
        "nothing is pushed while the queue is empty"
    );

    queue.publish(2).await;
    assert!(next(&mut stream).await, "inactive → active is pushed");

    // Still active through several evaluations: `true` must not be repeated.
    evaluations(&server, 3).await;
    assert!(
        stream.message().now_or_never().is_none(),
        "no repeated true"
    );

    // Active → inactive is not pushed (KEDA ignores false pushes).
    queue.purge().await;
    evaluations(&server, 3).await;
    assert!(
        stream.message().now_or_never().is_none(),
        "no push on active → inactive"
    );

    // The next inactive → active edge is pushed again.
    queue.publish(1).await;
    assert!(next(&mut stream).await);
    queue.delete().await;
}
