//! The step decision is a function of its inputs (issue 13, item 6): with the same lag,
//! replicas, bounds and HPA `lastScaleTime`, every evaluation serves the same value, whether
//! the replica state came from the cache or from a fresh read.
//!
//! On tokio's paused clock: the real [`KubeReplicas`] (its cache, its reading of
//! `lastScaleTime`) over a Kubernetes API answered in process (no socket, so the paused clock
//! never jumps while a request is in flight), the real sampler, and the decision as
//! `Scaler::step` makes it. KEDA polls every 250 ms and the replica cache lives 1 s, so every
//! fourth poll reads Kubernetes again. `lastScaleTime` is wall-clock time, which the paused
//! clock does not move: the HPA's "2 s ago" stays 2 s before the wall time the test started at.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::http::{StatusCode, Uri, header};
use serde_json::json;

use super::*;
use crate::replicas::kubernetes::KubeReplicas;
use crate::replicas::{ObjectRef, ReplicaSource};
use crate::strategy::sampler::{Probe, Samplers, Timed};

const SO: &str = "/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/orders-worker";
const SCALE: &str = "/apis/apps/v1/namespaces/shop/deployments/orders/scale";
const HPA: &str =
    "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/keda-hpa-orders-worker";

/// Deployment shop/orders at 4 replicas, between 1 and 10, and KEDA's HPA for it, whose
/// `status.lastScaleTime` the test moves; counts the HPA reads.
#[derive(Clone)]
struct Api {
    last_scale: Arc<Mutex<String>>,
    hpa_reads: Arc<AtomicUsize>,
}

/// Wall-clock time `secs` ago, as the HPA writes it.
fn wall_ago(secs: u64) -> String {
    let at = SystemTime::now() - Duration::from_secs(secs);
    jiff::Timestamp::try_from(at).unwrap().to_string()
}

impl Api {
    fn new(last_scale: String) -> Api {
        Api {
            last_scale: Arc::new(Mutex::new(last_scale)),
            hpa_reads: Arc::default(),
        }
    }

    fn answer(&self, path: &str) -> (StatusCode, String) {
        let body = match path {
            SO => json!({"spec": {"scaleTargetRef": {"name": "orders"},
                                  "minReplicaCount": 1, "maxReplicaCount": 10}}),
            SCALE => json!({"spec": {"replicas": 4}}),
            HPA => {
                self.hpa_reads.fetch_add(1, Ordering::SeqCst);
                let last_scale = self.last_scale.lock().unwrap().clone();
                json!({"status": {"lastScaleTime": last_scale, "currentReplicas": 4}})
            }
            _ => {
                let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                    "status": "Failure", "reason": "NotFound", "code": 404, "message": path});
                return (StatusCode::NOT_FOUND, status.to_string());
            }
        };
        (StatusCode::OK, body.to_string())
    }

    fn client(&self) -> kube::Client {
        let api = self.clone();
        let router = axum::Router::new().fallback(move |uri: Uri| {
            let (code, body) = api.answer(uri.path());
            async move { (code, [(header::CONTENT_TYPE, "application/json")], body) }
        });
        kube::Client::new(router, "shop")
    }
}

/// Half of a 4 s window at 1 s is 3 samples; no change within 2.5 s of the last.
fn policy() -> StepPolicy {
    StepPolicy {
        scale_out_threshold: 10.0,
        scale_in_threshold: 1.0,
        lag_collection_interval: Duration::from_secs(1),
        lag_collection_range: Duration::from_secs(4),
        min_scale_action_interval: Duration::from_millis(2500),
        ..StepPolicy::default()
    }
}

/// What is served every 250 ms from 4 s to 24 s (milliseconds, value) at a constant `lag`;
/// the HPA last scaled an hour ago until 12 s, when its `lastScaleTime` moves to 2 s ago.
/// Also how many times the HPA was read.
async fn served_across_a_last_scale_change(lag: u64) -> (Vec<(u64, f64)>, usize) {
    let api = Api::new(wall_ago(3600));
    let ttl = Duration::from_secs(1);
    let replicas = KubeReplicas::with_client(api.client(), Duration::from_secs(2), ttl);
    let object = ObjectRef {
        namespace: "shop".to_owned(),
        name: "orders-worker".to_owned(),
    };
    let policy = policy();
    let samplers = Samplers::<&str, u64>::default();
    let probe: Probe<u64> = Arc::new(move || {
        let at = Instant::now();
        Box::pin(async move { Some(Timed { at, value: lag }) })
    });
    let mut served = Vec::new();
    for poll in 0..=96u64 {
        if poll == 48 {
            *api.last_scale.lock().unwrap() = wall_ago(2);
        }
        let interval = policy.lag_collection_interval;
        let range = policy.lag_collection_range;
        let samples: Vec<Sample> = samplers
            .samples(&"orders", probe.clone(), interval, range)
            .iter()
            .map(Sample::from)
            .collect();
        let state = replicas.target_state(&object).await.unwrap();
        let (_, decision) = policy.decide_for(&samples, &state, None, Instant::now());
        if poll >= 16 {
            let metric = metric_for(state.current, decision.replicas().max(1));
            served.push((poll * 250, metric));
        }
        tokio::time::advance(Duration::from_millis(250)).await;
    }
    (served, api.hpa_reads.load(Ordering::SeqCst))
}

fn distinct(served: &[(u64, f64)]) -> Vec<f64> {
    let mut values: Vec<f64> = served.iter().map(|&(_, v)| v).collect();
    values.dedup();
    values
}

#[tokio::test(start_paused = true)]
async fn scale_in_is_served_on_every_poll_across_a_last_scale_change() {
    let (served, hpa_reads) = served_across_a_last_scale_change(0).await;
    // 4 → 3: 3 is already below the HPA's tolerance band.
    assert_eq!(distinct(&served), [3.0], "(ms, served): {served:?}");
    assert_eq!(hpa_reads, 25, "a fresh read every second, 0 s to 24 s");
}

#[tokio::test(start_paused = true)]
async fn scale_out_is_served_on_every_poll_across_a_last_scale_change() {
    let (served, hpa_reads) = served_across_a_last_scale_change(50).await;
    assert_eq!(distinct(&served), [6.0], "(ms, served): {served:?}");
    assert_eq!(hpa_reads, 25, "a fresh read every second, 0 s to 24 s");
}
