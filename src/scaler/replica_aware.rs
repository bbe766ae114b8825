//! The inputs replica-aware triggers decide from: the replicas, read from the
//! [`ReplicaSource`](crate::replicas::ReplicaSource), and the step strategy's lag samples.

use std::sync::{Arc, Weak};

use super::{Scaler, evaluate};
use crate::error::ScalerError;
use crate::replicas::{ObjectRef, TargetState};
use crate::source::Sources;
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
        let probe = self.probe(spec);
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

    /// Reads `spec`'s lag for the sampler, through the shared answers. Holds the sources
    /// weakly: a sampler never keeps a stopped server alive.
    fn probe(&self, spec: &TriggerSpec) -> Probe<u64> {
        let sources: Weak<Sources> = Arc::downgrade(&self.sources);
        let spec = spec.clone();
        let compression = self.compression;
        Arc::new(move || {
            let sources = sources.clone();
            let spec = spec.clone();
            Box::pin(async move {
                let sources = sources.upgrade()?;
                match evaluate(&sources, &spec, &compression).await {
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
        })
    }
}
