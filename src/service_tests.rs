//! The service's answers with no broker: the fake behind `Sources` answers, fails and counts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic::{Code, Request};

use super::ScalerService;
use crate::proto::external_scaler_server::ExternalScaler;
use crate::proto::{GetMetricsRequest, ScaledObjectRef};
use crate::replicas::ReplicaError;
use crate::scaler::tests::{FixedReplicas, group_snapshot, metadata, queue, scaler_over};
use crate::source::fake::FakeBrokers;
use crate::source::{ConnectionFailure, Observation, SourceError};

fn service(fake: &Arc<FakeBrokers>, replicas: Arc<FixedReplicas>) -> ScalerService {
    ScalerService::new(scaler_over(fake, replicas), CancellationToken::new())
}

fn so(metadata: HashMap<String, String>) -> ScaledObjectRef {
    ScaledObjectRef {
        name: "orders".to_owned(),
        namespace: "shop".to_owned(),
        scaler_metadata: metadata.into(),
    }
}

fn get_metrics(so: ScaledObjectRef) -> Request<GetMetricsRequest> {
    Request::new(GetMetricsRequest {
        scaled_object_ref: Some(so),
        metric_name: String::new(),
    })
}

/// Every broker failure reaches KEDA with the code `src/error.rs` chose for it, from
/// GetMetrics and IsActive alike; a connection failure's OS detail never does.
#[tokio::test(start_paused = true)]
async fn broker_errors_become_their_codes() {
    let endpoint = || "127.0.0.1:5672".to_owned();
    let cases = [
        (
            SourceError::NotFound {
                endpoint: endpoint(),
                what: "queue \"orders\"".to_owned(),
            },
            Code::NotFound,
        ),
        (
            SourceError::Connection {
                endpoint: endpoint(),
                failure: ConnectionFailure::Connect,
                detail: "Connection refused (os error 111)".to_owned(),
            },
            Code::Unavailable,
        ),
        (
            SourceError::Unavailable {
                endpoint: endpoint(),
                reason: "no coordinator".to_owned(),
            },
            Code::Unavailable,
        ),
        (
            SourceError::AccessRefused {
                endpoint: endpoint(),
                reason: "ACCESS_REFUSED".to_owned(),
            },
            Code::PermissionDenied,
        ),
        (
            SourceError::Timeout {
                endpoint: endpoint(),
                operation: "queue.declare",
                after_ms: 1_000,
            },
            Code::DeadlineExceeded,
        ),
    ];
    for (error, code) in cases {
        let fake = Arc::new(FakeBrokers::answering(Err(error.clone())));
        let service = service(&fake, FixedReplicas::current(1));
        let status = service
            .get_metrics(get_metrics(so(queue(&[]))))
            .await
            .unwrap_err();
        assert_eq!(status.code(), code, "{error:?}");
        assert_eq!(status.message(), error.to_string());
        assert!(
            !status.message().contains("os error"),
            "{}",
            status.message()
        );
        let status = service
            .is_active(Request::new(so(queue(&[]))))
            .await
            .unwrap_err();
        assert_eq!(status.code(), code, "{error:?}");
        assert_eq!(
            fake.observed(),
            1,
            "IsActive right after shares the evaluation"
        );
    }
}

/// GetMetricSpec answers from the metadata alone: while the broker fails it still works (so
/// KEDA's fallback can fire), and it asks nothing.
#[tokio::test(start_paused = true)]
async fn get_metric_spec_asks_no_broker() {
    let unreachable = SourceError::Connection {
        endpoint: "127.0.0.1:5672".to_owned(),
        failure: ConnectionFailure::Lost,
        detail: String::new(),
    };
    let fake = Arc::new(FakeBrokers::answering(Err(unreachable)));
    let service = service(&fake, FixedReplicas::current(1));
    let spec = service
        .get_metric_spec(Request::new(so(queue(&[("lagThreshold", "25")]))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(spec.metric_specs[0].target_size_float, 25.0);
    assert!(fake.calls().is_empty());
}

/// Bad metadata is InvalidArgument naming the key, before any broker is asked.
#[tokio::test(start_paused = true)]
async fn bad_metadata_is_invalid_argument_and_asks_nothing() {
    let fake = Arc::new(FakeBrokers::answering(Ok(Observation::QueueDepth(1))));
    let service = service(&fake, FixedReplicas::current(1));
    let status = service
        .get_metrics(get_metrics(so(queue(&[("lagTreshold", "5")]))))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("lagTreshold"),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("lagThreshold"),
        "{}",
        status.message()
    );
    assert!(fake.calls().is_empty());
}

/// A typo'd key: GetMetricSpec answers a placeholder spec (KEDA would drop a trigger whose
/// spec fails, and say only "got empty metric spec"), and GetMetrics and IsActive fail with
/// InvalidArgument naming the key and the suggestion, which KEDA records as events.
#[tokio::test(start_paused = true)]
async fn a_typo_gets_a_spec_and_fails_where_keda_shows_it() {
    let fake = Arc::new(FakeBrokers::answering(Ok(Observation::QueueDepth(1))));
    let service = service(&fake, FixedReplicas::current(1));
    let typo = so(queue(&[("lagTreshold", "5")]));
    let spec = service
        .get_metric_spec(Request::new(typo.clone()))
        .await
        .unwrap()
        .into_inner();
    let name = &spec.metric_specs[0].metric_name;
    assert!(name.starts_with("invalid-trigger-"), "{name}");
    assert_eq!(spec.metric_specs[0].target_size_float, 1.0);
    let again = service.get_metric_spec(Request::new(typo.clone())).await;
    assert_eq!(
        &again.unwrap().into_inner().metric_specs[0].metric_name,
        name
    );
    let request = Request::new(GetMetricsRequest {
        scaled_object_ref: Some(typo.clone()),
        metric_name: name.clone(),
    });
    let statuses = [
        service.get_metrics(request).await.unwrap_err(),
        service.is_active(Request::new(typo)).await.unwrap_err(),
    ];
    for status in statuses {
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().contains("\"lagTreshold\""),
            "{}",
            status.message()
        );
        assert!(
            status.message().contains("did you mean `lagThreshold`"),
            "{}",
            status.message()
        );
    }
    assert!(fake.calls().is_empty());
}

/// A replica-aware trigger reads the ScaledObject KEDA names; when Kubernetes refuses, the
/// call fails with the code for that (and the broker's answer is still shared).
#[tokio::test(start_paused = true)]
async fn replica_aware_calls_read_the_named_scaled_object() {
    let md = metadata(&[
        ("source", "kafka"),
        ("bootstrapServers", "127.0.0.1:9092"),
        ("consumerGroup", "billing"),
        ("strategy", "step"),
        ("lagCollectionIntervalSecs", "1"),
        ("lagCollectionRangeSecs", "10"),
    ]);
    let fake = Arc::new(FakeBrokers::answering(Ok(group_snapshot(&[10, 10]))));
    let replicas = FixedReplicas::current(3);
    let service = service(&fake, replicas.clone());
    let served = service
        .get_metrics(get_metrics(so(md.clone())))
        .await
        .unwrap()
        .into_inner();
    // Few samples yet: the step strategy holds at the current replicas, served as 3 against
    // a target of 1.
    assert_eq!(served.metric_values[0].metric_value_float, 3.0);
    assert_eq!(*replicas.reads.lock().unwrap(), 1);

    let forbidden = Arc::new(FixedReplicas {
        state: Err(ReplicaError::Forbidden {
            verb: "get",
            resource: "scaledobjects".to_owned(),
            object: "shop/orders".to_owned(),
            message: "forbidden".to_owned(),
        }),
        reads: Default::default(),
    });
    let service =
        super::ScalerService::new(scaler_over(&fake, forbidden), CancellationToken::new());
    let status = service.get_metrics(get_metrics(so(md))).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("scaledobjects"),
        "{}",
        status.message()
    );
}

/// A call that outlives `request_timeout_ms` is DeadlineExceeded, not a hang: KEDA's 3 s HPA
/// budget is never spent on one broker.
#[tokio::test(start_paused = true)]
async fn a_slow_broker_is_deadline_exceeded() {
    let fake = Arc::new(
        FakeBrokers::answering(Ok(Observation::QueueDepth(1)))
            .with_latency(Duration::from_secs(60)),
    );
    let service = service(&fake, FixedReplicas::current(1));
    let status = service
        .get_metrics(get_metrics(so(queue(&[]))))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert_eq!(fake.observed(), 1);
}

/// StreamIsActive pushes `true` on each inactive → active edge and nothing else: not the idle
/// state a stream opens on, not a repeated `true`, not active → inactive.
#[tokio::test(start_paused = true)]
async fn stream_is_active_pushes_only_true_edges() {
    use futures_util::FutureExt;
    use tokio_stream::StreamExt;

    let fake = Arc::new(FakeBrokers::answering(Ok(Observation::QueueDepth(0))));
    let service = service(&fake, FixedReplicas::current(1));
    let mut stream = service
        .stream_is_active(Request::new(so(queue(&[]))))
        .await
        .unwrap()
        .into_inner();
    let interval = Duration::from_millis(5_000); // stream_check_interval_ms' default
    let mut pushed = Vec::new();
    for depth in [0, 0, 3, 5, 0, 0, 2, 4] {
        fake.answer_all(Ok(Observation::QueueDepth(depth)));
        tokio::time::advance(interval).await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        while let Some(Some(message)) = stream.next().now_or_never() {
            pushed.push((depth, message.unwrap().result));
        }
    }
    assert_eq!(pushed, vec![(3, true), (2, true)]);
    assert_eq!(
        fake.observed(),
        8,
        "one evaluation per interval (the first at once)"
    );
}
