//! The inputs replica-aware triggers decide from: the replicas, read from the
//! [`ReplicaSource`](crate::replicas::ReplicaSource), and the step strategy's lag samples.

use super::{Scaler, evaluate};
use crate::error::ScalerError;
use crate::replicas::{ObjectRef, TargetState};
use crate::strategy::sampler::{Probe, Timed};
use crate::strategy::step::{Sample, StepPolicy};
use crate::trigger::TriggerSpec;

impl Scaler {
    pub(super) async fn target_state(
        &self,
        object: Option<&ObjectRef>,
    ) -> Result<TargetState, ScalerError> {
        let object = object.ok_or(ScalerError::NoScaledObject)?;
        Ok(self.replicas.target_state(object).await?)
    }

    /// `strategy: step`'s lag samples, from the shared sampler of the trigger's query.
    pub(super) fn step_samples(&self, spec: &TriggerSpec, policy: &StepPolicy) -> Vec<Sample> {
        let key = (
            spec.source.clone(),
            policy.lag_collection_interval,
            policy.lag_collection_range,
        );
        let probe = self.probe_lag(spec);
        self.samplers
            .samples(
                &key,
                probe,
                policy.lag_collection_interval,
                policy.lag_collection_range,
            )
            .iter()
            .map(Sample::from)
            .collect()
    }

    /// Reads `spec`'s lag for the sampler, through the shared answers.
    fn probe_lag(&self, spec: &TriggerSpec) -> Probe<u64> {
        self.probe(spec.clone(), |sources, spec, compression| async move {
            match evaluate(&sources, &spec, &compression, tokio::time::Instant::now()).await {
                Ok(evaluation) => Some(Timed {
                    at: compression.now(),
                    value: evaluation.lag,
                }),
                Err(error) => {
                    tracing::warn!(metric_name = %spec.metric_name, %error, "lag sample failed");
                    None
                }
            }
        })
    }
}
