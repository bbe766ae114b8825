//! How many replicas a scaled workload has, and between which bounds it may move: what KEDA
//! never tells a scaler. Read from Kubernetes ([`kubernetes::KubeReplicas`]) only for triggers
//! that ask for it (`strategy: step`, `replicaAware: "true"`); every other trigger works with no
//! cluster access at all.
//!
//! [`ReplicaSource`] is the seam: the server uses Kubernetes, the step strategy's tests use an
//! in-memory fake that behaves like the HPA.

pub mod kubernetes;

use std::pin::Pin;
use std::time::Duration;

/// A ScaledObject, as KEDA names it in a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The scale target of a ScaledObject, now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetState {
    /// `Deployment shop/orders-worker`, for messages.
    pub target: String,
    /// The target's replicas (its scale subresource's `spec.replicas`, what the HPA multiplies).
    pub current: u32,
    /// The ScaledObject's `minReplicaCount` (KEDA's default 0).
    pub min: u32,
    /// The ScaledObject's `maxReplicaCount` (KEDA's default 100).
    pub max: u32,
    /// Time since the HPA last changed the replica count (`status.lastScaleTime`), `None` when
    /// it never did.
    pub since_last_scale: Option<Duration>,
}

/// Why the replicas could not be read. Each names the object, and the permission when one is
/// missing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplicaError {
    #[error("no Kubernetes API access: {reason}; strategy: step and replicaAware need one")]
    NoAccess { reason: String },
    #[error(
        "Kubernetes refused to let lagscale {verb} {resource} {object:?}: {message} \
         (grant it in lagscale's ClusterRole; the chart does with kubernetesAccess: true)"
    )]
    Forbidden {
        verb: &'static str,
        resource: String,
        object: String,
        message: String,
    },
    #[error("{kind} {object:?} not found")]
    NotFound { kind: String, object: String },
    #[error("the Kubernetes API failed on {what}: {reason}")]
    Api { what: String, reason: String },
    #[error("{object}: {problem}")]
    Invalid { object: String, problem: String },
}

/// Where replica counts come from.
pub trait ReplicaSource: Send + Sync {
    /// The scale target of `object` now.
    fn target_state<'a>(
        &'a self,
        object: &'a ObjectRef,
    ) -> Pin<Box<dyn Future<Output = Result<TargetState, ReplicaError>> + Send + 'a>>;
}
