//! The evaluation shared by every RPC and by `lagscale check`: metadata → [`TriggerSpec`] →
//! lag (through the single-flight cache) → activity, and → the metric served, which for
//! replica-aware triggers also reads the workload's replicas (see `strategy`).

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::cache::{Lookup, SingleFlight};
use crate::config::Config;
use crate::error::ScalerError;
use crate::metrics;
use crate::replicas::{ObjectRef, ReplicaSource, TargetState, kubernetes::KubeReplicas};
use crate::source::{LagRule, Observation, SourceError, SourceQuery, Sources};
use crate::spec_cache::SpecCache;
use crate::strategy::sampler::{Probe, Samplers};
use crate::strategy::step::{Bounds, Decision, metric_for};
use crate::strategy::{partition_cap, step::StepPolicy};
use crate::trigger::{Strategy, TriggerSpec};

/// One trigger's lag and activity at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Lag in messages, as read from the broker (Kafka: after the idle-consumer cap).
    pub lag: u64,
    /// Kafka: the partitions consumers can use.
    pub partitions: Option<u64>,
    /// The metric of the lag alone: the transform's (see [`Scaler::metric`] for what is served).
    pub metric: f64,
    /// Whether the workload should be active.
    pub active: bool,
    /// Whether the lag came from the cache.
    pub lookup: Lookup,
}

/// The metric served to KEDA, and what replicas it was chosen from.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub metric: f64,
    pub replicas: Option<ReplicaView>,
}

/// What a replica-aware trigger saw and decided.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplicaView {
    /// `replicaAware`: the log2 metric against the partitions.
    PartitionCap {
        state: TargetState,
        partitions: u64,
        capped: bool,
    },
    /// `strategy: step`.
    Step {
        state: TargetState,
        bounds: Bounds,
        samples: usize,
        decision: Decision,
    },
}

/// What a step trigger's lag samples are shared by.
type SamplerKey = (SourceQuery, LagRule, Duration, Duration);

/// Everything needed to answer KEDA: config, broker clients, the shared cache, and for
/// replica-aware triggers the replica source and the lag samplers.
pub struct Scaler {
    config: Config,
    sources: Sources,
    cache: SingleFlight<SourceQuery, Result<Observation, SourceError>>,
    replicas: Arc<dyn ReplicaSource>,
    samplers: Samplers<SamplerKey>,
    specs: SpecCache,
}

impl Scaler {
    /// Replicas come from Kubernetes, looked up only when a trigger needs them.
    pub fn new(config: Config) -> Arc<Scaler> {
        let replicas = KubeReplicas::new(config.broker_timeouts().query, config.cache_ttl());
        Scaler::with_replicas(config, Arc::new(replicas))
    }

    pub fn with_replicas(config: Config, replicas: Arc<dyn ReplicaSource>) -> Arc<Scaler> {
        Arc::new(Scaler {
            sources: Sources::new(config.broker_timeouts(), config.cache_ttl()),
            cache: SingleFlight::new(config.cache_ttl()),
            replicas,
            samplers: Samplers::default(),
            specs: SpecCache::default(),
            config,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// Parses a trigger's metadata against this server's connection profiles (once per
    /// distinct metadata: see [`SpecCache`]).
    pub fn trigger(
        &self,
        metadata: &HashMap<String, String>,
    ) -> Result<Arc<TriggerSpec>, ScalerError> {
        let parse = || TriggerSpec::parse(metadata, &self.config.clusters);
        Ok(self.specs.get_or_parse(metadata, parse)?)
    }

    /// Evaluates a parsed trigger's lag; concurrent and recent callers with the same broker
    /// query share one broker round trip.
    pub async fn evaluate(&self, spec: &TriggerSpec) -> Result<Evaluation, ScalerError> {
        let fetch = || async {
            let started = tokio::time::Instant::now();
            let observation = self.sources.observe(&spec.query).await;
            metrics::broker_query(&spec.query, started.elapsed(), observation.as_ref().err());
            observation
        };
        let (observation, lookup) = self.cache.get_or_fetch(&spec.query, fetch).await;
        metrics::cache_lookup(lookup);
        let lag = spec
            .lag_rule
            .lag(&spec.query, &observation?, spec.lag_cap_threshold())?;
        if lookup == Lookup::Miss {
            metrics::lag_read(&spec.query, lag.messages);
        }
        Ok(Evaluation {
            lag: lag.messages,
            partitions: lag.partitions,
            metric: spec.metric(lag.messages),
            active: spec.is_active(lag.messages),
            lookup,
        })
    }

    /// The metric to serve for `evaluation`. Plain triggers serve the transformed lag with no
    /// further I/O; replica-aware ones read `object`'s replicas (KEDA names the ScaledObject in
    /// every request).
    pub async fn metric(
        self: &Arc<Self>,
        spec: &TriggerSpec,
        evaluation: &Evaluation,
        object: Option<&ObjectRef>,
    ) -> Result<Served, ScalerError> {
        let served = match &spec.strategy {
            Strategy::Direct {
                replica_aware: false,
            } => Served {
                metric: evaluation.metric,
                replicas: None,
            },
            Strategy::Direct {
                replica_aware: true,
            } => {
                let state = self.target_state(object).await?;
                let partitions = evaluation.partitions.unwrap_or(0);
                let target = spec.target();
                let metric = partition_cap(evaluation.metric, target, state.current, partitions);
                let capped = metric < evaluation.metric;
                let decision = if capped { "capped" } else { "uncapped" };
                metrics::replica_decision("partition_cap", decision, "");
                Served {
                    metric,
                    replicas: Some(ReplicaView::PartitionCap {
                        state,
                        partitions,
                        capped,
                    }),
                }
            }
            Strategy::Step(policy) => self.step(spec, policy, evaluation, object).await?,
        };
        // Like the lag, recorded when the broker was asked: KEDA's calls are seconds apart,
        // so that is nearly every call, and bursts of cached calls stay allocation-free.
        if evaluation.lookup == Lookup::Miss {
            metrics::metric_served(&spec.query, spec.metric_kind(), served.metric);
        }
        Ok(served)
    }

    async fn target_state(&self, object: Option<&ObjectRef>) -> Result<TargetState, ScalerError> {
        let object = object.ok_or(ScalerError::NoScaledObject)?;
        Ok(self.replicas.target_state(object).await?)
    }

    /// `strategy: step`: the replica count decided from the sampled lag, served against a
    /// target of 1 so that an `AverageValue` HPA lands on exactly that count.
    async fn step(
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
        let samples = self.samplers.samples(
            &key,
            probe,
            policy.lag_collection_interval,
            policy.lag_collection_range,
        );
        let state = self.target_state(object).await?;
        let min = state.min.max(1);
        let max = match evaluation.partitions {
            Some(partitions) => u64::from(state.max).min(partitions) as u32,
            None => state.max,
        };
        let bounds = Bounds {
            min,
            max: max.max(min),
        };
        let now = tokio::time::Instant::now();
        let decision = policy.decide(&samples, now, state.current, state.since_last_scale, bounds);
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
        })
    }

    /// Reads `spec`'s lag for the sampler, through the shared cache. Holds the scaler weakly:
    /// a sampler never keeps a stopped server alive.
    fn probe(self: &Arc<Self>, spec: &TriggerSpec) -> Probe {
        let scaler: Weak<Scaler> = Arc::downgrade(self);
        let spec = spec.clone();
        Arc::new(move || {
            let scaler = scaler.clone();
            let spec = spec.clone();
            Box::pin(async move {
                let scaler = scaler.upgrade()?;
                match scaler.evaluate(&spec).await {
                    Ok(evaluation) => Some(evaluation.lag),
                    Err(error) => {
                        tracing::warn!(metric_name = %spec.metric_name, %error, "lag sample failed");
                        None
                    }
                }
            })
        })
    }
}
