//! The HPA's `lastScaleTime` over HTTP (the fake API server, real time): every fresh read of
//! the same `lastScaleTime` gives the same instant, in whole seconds as Kubernetes writes it,
//! and ahead of this machine's clock too (the controller manager's clock runs ahead).

use std::time::Duration;

use lagscale::replicas::ReplicaSource;
use lagscale::replicas::kubernetes::KubeReplicas;
use serde_json::json;

use crate::support::fake_kube::{FakeKube, object};

const HPA_PATH: &str =
    "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/keda-hpa-orders-worker";

#[tokio::test]
async fn every_fresh_read_of_one_last_scale_time_gives_one_instant() {
    let fake = FakeKube::start().await;
    fake.scaled_object("shop", "orders-worker", "orders", 1, 10);
    fake.deployment_scale("shop", "orders", 4);
    let now = jiff::Timestamp::now().as_second();
    // No cache: every read asks Kubernetes.
    let replicas = KubeReplicas::with_client(fake.client(), Duration::from_secs(2), Duration::ZERO);
    for (what, offset) in [("120 s ago", -120), ("3 s ahead", 3)] {
        let scaled = jiff::Timestamp::from_second(now + offset).unwrap();
        fake.set(
            HPA_PATH,
            200,
            json!({"status": {"lastScaleTime": scaled.to_string(), "currentReplicas": 4}}),
        );
        fake.take_requests();
        let mut instants = Vec::new();
        for _ in 0..10 {
            let state = replicas
                .target_state(&object("shop", "orders-worker"))
                .await
                .unwrap();
            instants.push(state.last_scale.unwrap());
        }
        assert_eq!(fake.take_requests().len(), 30, "{what}: 10 fresh reads");
        instants.dedup();
        assert_eq!(instants.len(), 1, "{what}: {instants:?}");
    }
}
