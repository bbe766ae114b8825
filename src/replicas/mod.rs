//! How many replicas a scaled workload has, and between which bounds it may move: what KEDA
//! never tells a scaler. Read from Kubernetes ([`kubernetes::KubeReplicas`]) only for triggers
//! that ask for it (`strategy: step`, `replicaAware: "true"`); every other trigger works with no
//! cluster access at all.
//!
//! [`ReplicaSource`] is the seam: the server uses Kubernetes, the step strategy's tests use an
//! in-memory fake that behaves like the HPA.

pub mod clock;
pub mod kubernetes;

use std::pin::Pin;

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
    /// When the HPA last changed the replica count (`status.lastScaleTime`), on tokio's clock;
    /// `None` when it never did. An instant, not an age: a state read from the cache a second
    /// later must give the same decision as one read now (an age would be a second stale). The
    /// same `lastScaleTime` is the same instant on every read ([`clock::WallClock`]).
    pub last_scale: Option<tokio::time::Instant>,
}

impl TargetState {
    /// How long ago the HPA last changed the replica count, at `now`: the same for a state
    /// read now and one read from the cache earlier.
    pub fn since_last_scale(&self, now: tokio::time::Instant) -> Option<std::time::Duration> {
        self.last_scale.map(|at| now.saturating_duration_since(at))
    }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::TargetState;

    /// A state kept in the cache for a while answers for the time of the question, not of the
    /// read: 590 s after a scale it is 590 s, 15 s later 605 s (an age stored at read time
    /// would still say 590 s, and a step decision would hold when it should not).
    #[tokio::test(start_paused = true)]
    async fn the_time_since_the_last_scale_does_not_depend_on_the_cache() {
        let read_at = Instant::now();
        let state = TargetState {
            target: "Deployment shop/orders".to_owned(),
            current: 4,
            min: 1,
            max: 10,
            last_scale: read_at.checked_sub(Duration::from_secs(590)),
        };
        assert_eq!(
            state.since_last_scale(Instant::now()),
            Some(Duration::from_secs(590))
        );
        tokio::time::advance(Duration::from_secs(15)).await;
        assert_eq!(
            state.since_last_scale(Instant::now()),
            Some(Duration::from_secs(605))
        );
        let never = TargetState {
            last_scale: None,
            ..state
        };
        assert_eq!(never.since_last_scale(Instant::now()), None);
    }
}
