//! What replica-aware triggers serve: the step strategy's decision (the partition cap is
//! inline in `Scaler::metric`), with the replicas read from the [`ReplicaSource`].

use std::sync::{Arc, Weak};

use super::{Evaluation, ReplicaView, Scaler, Served};
use crate::error::ScalerError;
use crate::metrics;
use crate::replicas::{ObjectRef, TargetState};
use crate::strategy::sampler::{Probe, Timed};
use crate::strategy::step::{Decision, Sample, StepPolicy, metric_for};
use crate::trigger::TriggerSpec;

impl Scaler {
    pub(super) async fn target_state(
        &self,
        object: Option<&ObjectRef>,
    ) -> Result<TargetState, ScalerError> {
        let object = object.ok_or(ScalerError::NoScaledObject)?;
        Ok(self.replicas.target_state(object).await?)
    }

    /// `strategy: step`: the replica count decided from the sampled lag, served against a
    /// target of 1 so that an `AverageValue` HPA lands on exactly that count.
    pub(super) async fn step(
        self: &Arc<Self>,
        spec: &TriggerSpec,
        policy: &StepPolicy,
        evaluation: &Evaluation,
        object: Option<&ObjectRef>,
    ) -> Result<Served, ScalerError> {
        let key = (
            spec.query.clone(),
            spec.lag_rule.clone(),
            policy.lag_collection_interval,
            policy.lag_collection_range,
        );
        let probe = self.probe(spec);
        let samples: Vec<Sample> = self
            .samplers
            .samples(
                &key,
                probe,
                policy.lag_collection_interval,
                policy.lag_collection_range,
            )
            .iter()
            .map(|s| Sample {
                at: s.at,
                lag: s.value,
            })
            .collect();
        let state = self.target_state(object).await?;
        let now = tokio::time::Instant::now();
        let (bounds, decision) = policy.decide_for(&samples, &state, evaluation.partitions, now);
        metrics::replica_decision("step", decision.kind(), decision.reason());
        if !matches!(decision, Decision::Hold { .. }) {
            tracing::info!(
                scaled_object = %object.map(ToString::to_string).unwrap_or_default(),
                target = %state.target,
                decision = decision.kind(),
                replicas = decision.replicas(),
                reason = decision.reason(),
                samples = samples.len(),
                "step strategy decided",
            );
        }
        Ok(Served {
            metric: metric_for(state.current, decision.replicas().max(1)),
            replicas: Some(ReplicaView::Step {
                state,
                bounds,
                samples: samples.len(),
                decision,
            }),
            rates: None,
        })
    }

    /// Reads `spec`'s lag for the sampler, through the shared cache. Holds the scaler weakly:
    /// a sampler never keeps a stopped server alive.
    fn probe(self: &Arc<Self>, spec: &TriggerSpec) -> Probe<u64> {
        let scaler: Weak<Scaler> = Arc::downgrade(self);
        let spec = spec.clone();
        Arc::new(move || {
            let scaler = scaler.clone();
            let spec = spec.clone();
            Box::pin(async move {
                let scaler = scaler.upgrade()?;
                match scaler.evaluate(&spec).await {
                    Ok(evaluation) => Some(Timed {
                        at: tokio::time::Instant::now(),
                        value: evaluation.lag,
                    }),
                    Err(error) => {
                        tracing::warn!(metric_name = %spec.metric_name, %error, "lag sample failed");
                        None
                    }
                }
            })
        })
    }
}
