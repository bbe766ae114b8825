//! GetMetricSpec and GetMetrics against real queues.

use lagscale::config::Config;
use lagscale::proto::ScaledObjectRef;

use crate::support::rabbit::TestQueue;
use crate::support::{TestServer, config, metrics_request, so};

#[tokio::test]
async fn raw_lag_is_served_exactly() {
    let queue = TestQueue::new("raw").await;
    queue.publish(42).await;
    let server = TestServer::start(config()).await;
    let mut client = server.client().await;
    let so = so("orders", &queue.metadata(&[("lagThreshold", "5")]));

    let spec = client
        .get_metric_spec(so.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(spec.metric_specs.len(), 1);
    let metric = &spec.metric_specs[0];
    assert_eq!(metric.target_size_float, 5.0);
    assert_eq!(metric.target_size, 5);

    let values = client
        .get_metrics(metrics_request(so, &metric.metric_name))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        values.metric_values.len(),
        1,
        "exactly one value: the HPA sums them"
    );
    assert_eq!(values.metric_values[0].metric_value_float, 42.0);
    assert_eq!(values.metric_values[0].metric_value, 42);
    assert_eq!(values.metric_values[0].metric_name, metric.metric_name);
    queue.delete().await;
}

#[tokio::test]
async fn log2_lag_is_k_log2_n() {
    let queue = TestQueue::new("log2").await;
    queue.publish(100).await;
    let server = TestServer::start(config()).await;
    let mut client = server.client().await;
    let so = so(
        "orders",
        &queue.metadata(&[
            ("transform", "log2"),
            ("log2Multiplier", "7"),
            ("lagThreshold", "20000"),
        ]),
    );

    let spec = client
        .get_metric_spec(so.clone())
        .await
        .unwrap()
        .into_inner();
    let target = &spec.metric_specs[0];
    assert!((target.target_size_float - 7.0 * 20_000f64.log2()).abs() < 1e-9);
    assert_eq!(target.target_size, 100);

    let value = &client
        .get_metrics(metrics_request(so, &target.metric_name))
        .await
        .unwrap()
        .into_inner()
        .metric_values[0];
    let want = 7.0 * 100f64.log2();
    assert!((value.metric_value_float - want).abs() < 1e-9, "{value:?}");
    assert_eq!(value.metric_value, want.round() as i64);
    queue.delete().await;
}

#[tokio::test]
async fn empty_queue_serves_zero_with_log2() {
    let queue = TestQueue::new("empty").await;
    let server = TestServer::start(config()).await;
    let mut client = server.client().await;
    let so = so("orders", &queue.metadata(&[("transform", "log2")]));
    let value = &client
        .get_metrics(metrics_request(so, ""))
        .await
        .unwrap()
        .into_inner()
        .metric_values[0];
    assert_eq!((value.metric_value_float, value.metric_value), (0.0, 0));
    queue.delete().await;
}

#[tokio::test]
async fn metric_name_is_matched_without_case() {
    let queue = TestQueue::new("case").await;
    queue.publish(3).await;
    let server = TestServer::start(config()).await;
    let mut client = server.client().await;
    let so = so("orders", &queue.metadata(&[("metricName", "Orders-Lag")]));
    for name in ["Orders-Lag", "orders-lag", "ORDERS-LAG"] {
        let values = client
            .get_metrics(metrics_request(so.clone(), name))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(values.metric_values[0].metric_value_float, 3.0);
    }
    let status = client
        .get_metrics(metrics_request(so, "something-else"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("something-else"), "{status:?}");
    queue.delete().await;
}

/// 200 ScaledObjects asking about one queue at once cost one broker query between them.
#[tokio::test]
async fn concurrent_calls_on_one_queue_share_one_broker_query() {
    let queue = TestQueue::new("shared").await;
    queue.publish(7).await;
    let server = TestServer::start(Config {
        cache_ttl_ms: 60_000,
        ..config()
    })
    .await;
    let channel = server.channel().await;
    let before = server.queries_sent();
    let calls = (0..200).map(|i| {
        let mut client =
            lagscale::proto::external_scaler_client::ExternalScalerClient::new(channel.clone());
        // Different ScaledObjects (and metric names): the cache is keyed by the broker query.
        let name = format!("so-{i}");
        let metric_name = format!("metric-{i}");
        let so: ScaledObjectRef = so(
            &name,
            &queue.metadata(&[("metricName", metric_name.as_str())]),
        );
        async move {
            client
                .get_metrics(metrics_request(so, &metric_name))
                .await
                .unwrap()
                .into_inner()
                .metric_values[0]
                .metric_value_float
        }
    });
    let values = futures_util::future::join_all(calls).await;
    assert!(values.iter().all(|v| *v == 7.0), "{values:?}");
    assert_eq!(server.queries_sent() - before, 1);

    // IsActive right after GetMetrics (KEDA's order) is answered by the same evaluation.
    let mut client = server.client().await;
    let active = client
        .is_active(so("so-0", &queue.metadata(&[])))
        .await
        .unwrap()
        .into_inner();
    assert!(active.result);
    assert_eq!(server.queries_sent() - before, 1);
    queue.delete().await;
}
