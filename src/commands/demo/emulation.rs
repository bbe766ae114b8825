//! KEDA and the HPA for one policy's workload, emulated on the scenario clock, asking lagscale
//! over gRPC exactly as KEDA does, and setting the workload's pods as they would:
//!
//! - KEDA's scale loop, every `pollingInterval`: GetMetricSpec, GetMetrics, IsActive
//!   (kedacore/keda `pkg/scaling/scale_handler.go`, `startScaleLoop` → `checkScalers` →
//!   `getScalerState`; `pkg/scalers/external_scaler.go`, `GetMetricsAndActivity` calls GetMetrics
//!   then IsActive). Activation (`pkg/scaling/executor/scale_scaledobjects.go`, `RequestScale`):
//!   active at 0 replicas → `scaleFromZeroOrIdle` to max(minReplicaCount, 1); active above 0 →
//!   only the last active time is stamped; inactive with `minReplicaCount: 0` →
//!   `scaleToZeroOrIdle` once the last active time is `cooldownPeriod` old.
//! - The HPA, every 15 s while replicas > 0 (`--horizontal-pod-autoscaler-sync-period`,
//!   kubernetes `pkg/controller/podautoscaler/config/v1alpha1/defaults.go`), asking through
//!   KEDA's metrics adapter, which calls GetMetricSpec, then GetMetrics and IsActive
//!   (`scale_handler.go`, `GetScaledObjectMetrics`); its minReplicas is max(minReplicaCount, 1)
//!   (`apis/keda/v1alpha1/scaledobject_types.go`, `GetHPAMinReplicas`). The desired count, the
//!   tolerance, stabilization and policies are the simulator's HPA code ([`hpa`]), the same
//!   functions `lagscale simulate` runs.
//!
//! Every sync is recorded with its inputs ([`HpaSync`]), so a test can replay the HPA function
//! on them. The workload's replica state is published for `strategy: step`
//! ([`LabReplicas`]), as the Kubernetes API would give it.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use tonic::transport::Channel;

use super::workload::Workload;
use crate::commands::simulate::config::{Keda, MetricType, Policy};
use crate::commands::simulate::hpa::{self, Hpa, SYNC_SECS};
use crate::compression::Compression;
use crate::proto::external_scaler_client::ExternalScalerClient;
use crate::proto::{GetMetricsRequest, ScaledObjectRef};
use crate::replicas::{ObjectRef, ReplicaError, ReplicaSource, TargetState};

/// The namespace of the demo's ScaledObjects.
pub const NAMESPACE: &str = "demo";

/// What lagscale answered to one round of KEDA's calls (a poll or an HPA query).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Scenario second.
    pub t: u64,
    /// GetMetricSpec's target.
    pub target: f64,
    /// GetMetrics' value.
    pub metric: f64,
    /// IsActive's answer.
    pub active: bool,
}

/// One HPA sync: what lagscale served and what the HPA made of it.
#[derive(Debug, Clone, PartialEq)]
pub struct HpaSync {
    /// Scenario second.
    pub t: u64,
    /// The answer it used, by its place in [`Emulation::answers`].
    pub answer: usize,
    pub metric: f64,
    pub target: f64,
    pub metric_type: MetricType,
    pub current: u32,
    pub ready: u32,
    /// `hpa::desired` of the above.
    pub desired: u32,
    /// The replicas set.
    pub next: u32,
}

/// The scale targets' states, for triggers that read replicas (`strategy: step`): what the
/// Kubernetes API would answer for each demo ScaledObject.
#[derive(Default)]
pub struct LabReplicas {
    states: Mutex<HashMap<String, TargetState>>,
}

impl LabReplicas {
    fn set(&self, name: &str, state: TargetState) {
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        states.insert(name.to_owned(), state);
    }
}

impl ReplicaSource for LabReplicas {
    fn target_state<'a>(
        &'a self,
        object: &'a ObjectRef,
    ) -> Pin<Box<dyn Future<Output = Result<TargetState, ReplicaError>> + Send + 'a>> {
        let states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        let state = states
            .get(&object.name)
            .cloned()
            .ok_or_else(|| ReplicaError::NotFound {
                kind: "ScaledObject".to_owned(),
                object: object.to_string(),
            });
        Box::pin(async move { state })
    }
}

/// KEDA and the HPA of one policy.
pub struct Emulation {
    pub name: String,
    object: ScaledObjectRef,
    metric_type: MetricType,
    keda: Keda,
    hpa: Hpa,
    hpa_min: u32,
    pub workload: Workload,
    replicas: Arc<LabReplicas>,
    compression: Compression,
    last_active: u64,
    /// When the replicas last changed, on the scenario clock.
    last_scale: Option<tokio::time::Instant>,
    next_poll: u64,
    next_sync: u64,
    /// lagscale's answers, in order.
    pub answers: Vec<Answer>,
    /// The HPA's syncs, in order.
    pub syncs: Vec<HpaSync>,
    /// Calls that failed, with the scenario second (KEDA logs them and retries next time).
    pub errors: Vec<(u64, String)>,
    /// The last metric lagscale served, for the status line.
    pub served: Option<f64>,
    pub replica_changes: u64,
}

impl Emulation {
    pub fn new(
        name: &str,
        policy: &Policy,
        metadata: HashMap<String, String>,
        keda: &Keda,
        workload: Workload,
        (replicas, compression): (Arc<LabReplicas>, Compression),
    ) -> Emulation {
        let hpa_min = keda.min_replica_count.max(1);
        let mut emulation = Emulation {
            name: name.to_owned(),
            object: ScaledObjectRef {
                name: name.to_owned(),
                namespace: NAMESPACE.to_owned(),
                scaler_metadata: metadata.into(),
            },
            metric_type: policy.metric_type,
            keda: keda.clone(),
            hpa: Hpa::new(&policy.behavior, hpa_min, keda.max_replica_count),
            hpa_min,
            workload,
            replicas,
            compression,
            last_active: 0,
            last_scale: None,
            next_poll: 0,
            next_sync: 0,
            answers: Vec::new(),
            syncs: Vec::new(),
            errors: Vec::new(),
            served: None,
            replica_changes: 0,
        };
        emulation.workload.resize(keda.min_replica_count, 0);
        emulation.publish();
        emulation
    }

    /// Runs what KEDA and the HPA do by scenario second `t`: members whose pods have started
    /// join, then the poll and the sync that are due.
    pub async fn advance(
        &mut self,
        client: &mut ExternalScalerClient<Channel>,
        t: u64,
    ) -> Result<(), String> {
        self.workload.tick(t)?;
        if t >= self.next_poll {
            self.next_poll =
                t - t % self.keda.polling_interval_secs + self.keda.polling_interval_secs;
            self.poll(client, t).await;
        }
        if t >= self.next_sync {
            self.next_sync = t - t % SYNC_SECS + SYNC_SECS;
            if self.workload.replicas() > 0 {
                self.sync(client, t).await;
            }
        }
        Ok(())
    }

    /// GetMetricSpec, GetMetrics, IsActive: the calls of one KEDA poll or HPA query, at
    /// scenario second `t`.
    async fn ask(
        &mut self,
        client: &mut ExternalScalerClient<Channel>,
        t: u64,
    ) -> Result<Answer, String> {
        let spec = client
            .get_metric_spec(self.object.clone())
            .await
            .map_err(|s| format!("GetMetricSpec: {:?}: {}", s.code(), s.message()))?
            .into_inner();
        let spec = spec
            .metric_specs
            .first()
            .ok_or("GetMetricSpec: no metric spec")?;
        let request = GetMetricsRequest {
            scaled_object_ref: Some(self.object.clone()),
            metric_name: spec.metric_name.clone(),
        };
        let metrics = client
            .get_metrics(request)
            .await
            .map_err(|s| format!("GetMetrics: {:?}: {}", s.code(), s.message()))?
            .into_inner();
        let metric = metrics
            .metric_values
            .first()
            .map_or(0.0, |v| v.metric_value_float);
        let active = client
            .is_active(self.object.clone())
            .await
            .map_err(|s| format!("IsActive: {:?}: {}", s.code(), s.message()))?
            .into_inner()
            .result;
        self.served = Some(metric);
        let answer = Answer {
            t,
            target: spec.target_size_float,
            metric,
            active,
        };
        self.answers.push(answer.clone());
        Ok(answer)
    }

    /// KEDA's poll: activation and scale to zero.
    async fn poll(&mut self, client: &mut ExternalScalerClient<Channel>, t: u64) {
        let active = match self.ask(client, t).await {
            Ok(answer) => answer.active,
            Err(error) => return self.failed(t, error),
        };
        let replicas = self.workload.replicas();
        if active {
            self.last_active = t;
            if replicas == 0 {
                self.scale(self.hpa_min, t);
            }
        } else if self.keda.min_replica_count == 0
            && replicas > 0
            && t - self.last_active >= self.keda.cooldown_period_secs
        {
            self.scale(0, t);
        }
    }

    /// The HPA's sync.
    async fn sync(&mut self, client: &mut ExternalScalerClient<Channel>, t: u64) {
        let (metric, target) = match self.ask(client, t).await {
            Ok(answer) => (answer.metric, answer.target),
            Err(error) => return self.failed(t, error),
        };
        let current = self.workload.replicas();
        let ready = self.workload.ready(t);
        let desired = hpa::desired(self.metric_type, metric, target, current, ready);
        let next = self.hpa.sync(t, current, desired);
        self.syncs.push(HpaSync {
            t,
            answer: self.answers.len() - 1,
            metric,
            target,
            metric_type: self.metric_type,
            current,
            ready,
            desired,
            next,
        });
        if next != current {
            self.scale(next, t);
        }
    }

    fn failed(&mut self, t: u64, error: String) {
        tracing::warn!(policy = %self.name, t, %error, "demo: a call to lagscale failed");
        if self.errors.len() < 100 {
            self.errors.push((t, error));
        }
    }

    /// Changes the pods to `to` at scenario second `t` (the scale target's last scale).
    fn scale(&mut self, to: u32, t: u64) {
        self.workload.resize(to, t);
        self.replica_changes += 1;
        self.last_scale = Some(self.compression.now());
        self.publish();
    }

    /// The scale target's state, as the Kubernetes API would now answer it.
    fn publish(&self) {
        self.replicas.set(
            &self.name,
            TargetState {
                target: format!("Deployment {NAMESPACE}/{}", self.name),
                current: self.workload.replicas(),
                min: self.keda.min_replica_count,
                max: self.keda.max_replica_count,
                last_scale: self.last_scale,
            },
        );
    }
}
