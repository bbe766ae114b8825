//! Replica awareness: the Kubernetes reads against a fake API server (exact requests, errors
//! that name the object and the permission), the binary with a kubeconfig, the partition cap
//! of a log2 trigger on the mock Kafka cluster, and the step strategy over gRPC on the real
//! RabbitMQ.

use std::sync::Arc;
use std::time::Duration;

use lagscale::error::ScalerError;
use lagscale::replicas::kubernetes::KubeReplicas;
use lagscale::replicas::{ReplicaError, ReplicaSource};
use lagscale::scaler::Scaler;
use serde_json::json;
use tonic::Code;

use crate::support::fake_kube::{FakeKube, FakeReplicas, object};
use crate::support::kafka::{Kafka, unique};
use crate::support::rabbit::TestQueue;
use crate::support::{
    TestServer, config, eventually, metrics_request, run_check, served_value, so,
};

const SO_PATH: &str = "/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/orders-worker";
const HPA_PATH: &str =
    "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/keda-hpa-orders-worker";

fn replicas(fake: &FakeKube) -> KubeReplicas {
    KubeReplicas::with_client(
        fake.client(),
        Duration::from_secs(2),
        Duration::from_secs(60),
    )
}

#[tokio::test]
async fn reads_the_scaled_object_its_scale_and_the_hpa_once_per_ttl() {
    let fake = FakeKube::start().await;
    fake.scaled_object("shop", "orders-worker", "orders", 2, 10);
    fake.deployment_scale("shop", "orders", 4);
    let scaled = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(120);
    fake.set(
        HPA_PATH,
        200,
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
               "metadata": {"name": "keda-hpa-orders-worker"},
               "status": {"lastScaleTime": scaled.to_string(), "currentReplicas": 4}}),
    );
    let replicas = replicas(&fake);
    let state = replicas
        .target_state(&object("shop", "orders-worker"))
        .await
        .unwrap();
    assert_eq!(state.target, "Deployment shop/orders");
    assert_eq!((state.current, state.min, state.max), (4, 2, 10));
    let since = state.last_scale.unwrap().elapsed().as_secs();
    assert!((119..=125).contains(&since), "{since}");
    assert_eq!(
        fake.take_requests(),
        [
            format!("GET {SO_PATH}"),
            "GET /apis/apps/v1/namespaces/shop/deployments/orders/scale".to_owned(),
            format!("GET {HPA_PATH}"),
        ]
    );
    // KEDA's GetMetrics, IsActive and retries within the TTL cost nothing more.
    replicas
        .target_state(&object("shop", "orders-worker"))
        .await
        .unwrap();
    assert_eq!(fake.take_requests(), Vec::<String>::new());
}

#[tokio::test]
async fn a_statefulset_with_a_named_hpa_that_never_scaled() {
    let fake = FakeKube::start().await;
    fake.set(
        "/apis/keda.sh/v1alpha1/namespaces/data/scaledobjects/ingest",
        200,
        json!({"spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet",
                                           "name": "ingest-db"},
                        "advanced": {"horizontalPodAutoscalerConfig": {"name": "ingest-hpa"}}}}),
    );
    fake.set(
        "/apis/apps/v1/namespaces/data/statefulsets/ingest-db/scale",
        200,
        json!({"spec": {"replicas": 3}}),
    );
    let state = replicas(&fake)
        .target_state(&object("data", "ingest"))
        .await
        .unwrap();
    assert_eq!(state.target, "StatefulSet data/ingest-db");
    assert_eq!(
        (state.current, state.min, state.max),
        (3, 0, 100),
        "KEDA's defaults"
    );
    assert_eq!(state.last_scale, None, "no HPA yet: never scaled");
    let requests = fake.take_requests();
    assert_eq!(
        requests[2],
        "GET /apis/autoscaling/v2/namespaces/data/horizontalpodautoscalers/ingest-hpa"
    );
}

#[tokio::test]
async fn errors_name_the_object_and_the_missing_permission() {
    let fake = FakeKube::start().await;
    fake.forbid(
        SO_PATH,
        "scaledobjects.keda.sh \"orders-worker\" is forbidden",
    );
    let error = replicas(&fake)
        .target_state(&object("shop", "orders-worker"))
        .await
        .unwrap_err();
    assert!(matches!(error, ReplicaError::Forbidden { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("refused to let lagscale get scaledobjects.keda.sh \"shop/orders-worker\"")
            && text.contains("ClusterRole"),
        "{text}"
    );
    assert_eq!(ScalerError::from(error).code(), Code::PermissionDenied);

    let missing = replicas(&fake)
        .target_state(&object("shop", "nope"))
        .await
        .unwrap_err();
    assert_eq!(missing.to_string(), "ScaledObject \"shop/nope\" not found");
    assert_eq!(ScalerError::from(missing).code(), Code::NotFound);

    fake.scaled_object("shop", "lost", "gone", 1, 5);
    let no_target = replicas(&fake)
        .target_state(&object("shop", "lost"))
        .await
        .unwrap_err();
    assert!(
        no_target.to_string().contains("deployments/scale")
            && no_target.to_string().contains("Deployment shop/gone"),
        "{no_target}"
    );
    assert_eq!(ScalerError::from(no_target).code(), Code::NotFound);

    fake.set(
        "/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/broken",
        200,
        json!({"spec": {"maxReplicaCount": 5}}),
    );
    let invalid = replicas(&fake)
        .target_state(&object("shop", "broken"))
        .await
        .unwrap_err();
    assert!(
        invalid
            .to_string()
            .contains("scaleTargetRef.name is missing"),
        "{invalid}"
    );
    assert_eq!(ScalerError::from(invalid).code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn check_reads_replicas_through_a_kubeconfig() {
    let fake = FakeKube::start().await;
    fake.scaled_object("shop", "orders-worker", "orders", 2, 10);
    fake.deployment_scale("shop", "orders", 4);
    let queue = TestQueue::new("check-step").await;
    let dir = std::env::temp_dir().join(format!("lagscale-kubeconfig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = fake.kubeconfig(&dir);
    let metadata = queue.metadata(&[("strategy", "step")]);
    let args = ["--scaled-object", "shop/orders-worker"];
    let out = run_check(&args, &[("KUBECONFIG", kubeconfig.as_path())], &metadata).await;
    assert!(
        out.contains("replicas:    4 of Deployment shop/orders (between 2 and 10)")
            && out.contains("step decision: hold to 4 (fewer than half a window of samples)")
            && out.contains("metric:      4 "),
        "{out}"
    );
    assert!(fake.take_requests().contains(&format!("GET {SO_PATH}")));
    queue.delete().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn log2_with_replica_awareness_stays_within_the_partitions() {
    let kafka = Kafka::start();
    let topic = kafka.topic(8);
    let group = unique("capped");
    let partitions: Vec<i32> = (0..8).collect();
    kafka.produce(&topic, &partitions, 100);
    let commits: Vec<(i32, i64)> = partitions.iter().map(|&p| (p, 0)).collect();
    kafka.commit(&group, &topic, &commits);
    let fake = Arc::new(FakeReplicas::default());
    let server = TestServer::with_scaler(Scaler::with_replicas(config(), fake.clone())).await;
    let client = server.client().await;
    let bootstrap = kafka.bootstrap();
    let metadata = [
        ("source", "kafka"),
        ("bootstrapServers", bootstrap.as_str()),
        ("consumerGroup", group.as_str()),
        ("topic", topic.as_str()),
        ("transform", "log2"),
        ("lagThreshold", "10"),
        ("replicaAware", "true"),
    ];
    let target = 10f64.log2();
    let metric = || {
        let mut client = client.clone();
        let request = metrics_request(so("orders", &metadata), "");
        async move {
            let response = client.get_metrics(request).await?;
            Ok::<f64, tonic::Status>(response.into_inner().metric_values[0].metric_value_float)
        }
    };
    // 8 replicas on 8 partitions: whatever the lag, no more (log2(80) alone would be 1.9×).
    fake.set("test", "orders", 8, 1, 20);
    let at_partitions = metric().await.unwrap();
    assert!(at_partitions <= target, "{at_partitions} > {target}");
    // 4 replicas: the HPA may double them, to the 8 partitions.
    fake.set("test", "orders", 4, 1, 20);
    let below = metric().await.unwrap();
    assert!(
        below > target && (4.0 * below / target).ceil() <= 8.0,
        "{below}"
    );
    // Without permission: a clear error, and KEDA's fallback applies.
    fake.forbid("test", "orders");
    let error = metric().await.unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
    assert!(
        error.message().contains("scaledobjects.keda.sh"),
        "{}",
        error.message()
    );
}

#[tokio::test]
async fn step_strategy_over_grpc_scales_out_once_enough_lag_is_sampled() {
    let queue = TestQueue::new("step").await;
    queue.publish(50).await;
    let fake = Arc::new(FakeReplicas::default());
    fake.set("test", "ingest", 1, 1, 6);
    let server = TestServer::with_scaler(Scaler::with_replicas(config(), fake.clone())).await;
    let mut client = server.client().await;
    let metadata = queue.metadata(&[
        ("strategy", "step"),
        ("scaleOutThreshold", "10"),
        ("scaleInThreshold", "1"),
        ("lagCollectionIntervalSecs", "1"),
        ("lagCollectionRangeSecs", "4"),
        ("minScaleActionIntervalSecs", "0"),
    ]);
    let spec = client
        .get_metric_spec(so("ingest", &metadata))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        spec.metric_specs[0].target_size_float, 1.0,
        "a replica count"
    );
    // Half of a 4 s window at 1 s: 3 samples, all above 10 messages → 1 + scaleOutStep.
    let served = eventually(Duration::from_secs(20), "a scale-out decision", || {
        let served = served_value(client.clone(), "ingest", &metadata);
        async move {
            let value = served.await;
            (value != 1.0).then_some(value)
        }
    })
    .await;
    assert_eq!(served, 3.0);
    // Activation never needs Kubernetes: with the permission gone, IsActive still answers.
    fake.forbid("test", "ingest");
    let active = client
        .is_active(so("ingest", &metadata))
        .await
        .unwrap()
        .into_inner();
    assert!(active.result);
    let error = client
        .get_metrics(metrics_request(so("ingest", &metadata), ""))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
    queue.delete().await;
}
