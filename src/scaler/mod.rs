//! The evaluation shared by every RPC and by `lagscale check`: metadata → [`TriggerSpec`] →
//! lag (from the broker's answer shared by every trigger asking the same, [`Sources::lookup`])
//! → activity, and → the metric served: the inputs gathered (the workload's replicas and the
//! step strategy's lag samples, `replica_aware.rs`; `metric: throughput`'s rates,
//! `throughput.rs`), then the policy function [`TriggerSpec::decide`], then logged and counted.

mod replica_aware;
mod throughput;

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::compression::Compression;
use crate::config::{Config, Refusal};
use crate::error::ScalerError;
use crate::metadata::TriggerError;
use crate::metadata::scaled_object::ScalerMetadata;
use crate::metrics;
use crate::replicas::{ObjectRef, ReplicaSource, TargetState, kubernetes::KubeReplicas};
use crate::single_flight::Lookup;
use crate::source::{Observation, SourceError, SourceQuery, SourceTrigger, Sources};
use crate::strategy::rate::{self, PartitionPoint, Rates};
use crate::strategy::replica_rate::{Learned, Skipped, Work};
use crate::strategy::sampler::{Probe, Samplers, Timed};
use crate::strategy::step::{Bounds, Decision, Sample};
use crate::strategy::throughput::{RateBasis, Throughput};
use crate::trigger::memo::TriggerMemo;
use crate::trigger::{Decided, Inputs, Metric, Strategy, TriggerSpec};

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
    /// The metric the source decided itself (a RabbitMQ rate, ratio or time `mode`), which is
    /// then served as it is.
    pub decided: Option<f64>,
}

/// The metric served to KEDA, and what replicas or rates it was chosen from.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub metric: f64,
    pub replicas: Option<ReplicaView>,
    /// `metric: throughput`: the rates measured (`None` on a cold start).
    pub rates: Option<Rates>,
    /// `replicaThroughput: auto`: what is learned of one replica's rate.
    pub learned: Option<Learned>,
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

/// What a step trigger's lag samples are shared by: its source keys, the interval and range.
type SamplerKey = (SourceTrigger, Duration, Duration);

/// What a throughput trigger's offset samples are shared by: the query and the window.
type OffsetsKey = (SourceQuery, Duration);

/// Everything needed to answer KEDA: config, the broker clients with their shared answers,
/// and for replica-aware triggers the replica source and the lag samplers.
pub struct Scaler {
    config: Config,
    sources: Arc<Sources>,
    replicas: Arc<dyn ReplicaSource>,
    samplers: Samplers<SamplerKey, u64>,
    offset_samplers: Samplers<OffsetsKey, Arc<[PartitionPoint]>>,
    /// `replicaThroughput: auto`: the consumers' work, and what is learned from it.
    work_samplers: Samplers<throughput::LearnerKey, Work>,
    learners: throughput::Learners,
    specs: TriggerMemo,
    /// The identity, but in `lagscale demo`'s closed loop.
    compression: Compression,
}

impl Scaler {
    /// Replicas come from Kubernetes, looked up only when a trigger needs them.
    pub fn new(config: Config) -> Arc<Scaler> {
        let replicas = KubeReplicas::new(config.broker_timeouts().query, config.cache_ttl());
        Scaler::with_replicas(config, Arc::new(replicas))
    }

    pub fn with_replicas(config: Config, replicas: Arc<dyn ReplicaSource>) -> Arc<Scaler> {
        Scaler::compressed(config, replicas, Compression::default())
    }

    /// A scaler that sees the brokers through `compression`: `lagscale demo`'s closed loop,
    /// which replays a scenario faster than it is written.
    pub fn compressed(
        config: Config,
        replicas: Arc<dyn ReplicaSource>,
        compression: Compression,
    ) -> Arc<Scaler> {
        let sources = Sources::reporting(
            config.broker_timeouts(),
            config.cache_ttl(),
            config.idle_client_ttl(),
            Arc::new(metrics::BrokerMetrics),
        );
        Scaler::over(config, sources, replicas, compression)
    }

    /// A scaler over `sources` (the real brokers, or in unit tests the fake).
    pub(crate) fn over(
        config: Config,
        sources: Sources,
        replicas: Arc<dyn ReplicaSource>,
        compression: Compression,
    ) -> Arc<Scaler> {
        Arc::new(Scaler {
            sources: Arc::new(sources),
            replicas,
            samplers: Samplers::new(compression),
            offset_samplers: Samplers::new(compression),
            work_samplers: Samplers::new(compression),
            learners: throughput::Learners::default(),
            specs: TriggerMemo::default(),
            config,
            compression,
        })
    }

    /// A sampler's probe: `read` of `subject` with the sources, held weakly (a sampler never
    /// keeps a stopped server alive), on this scaler's clock.
    fn probe<S, V, Fut>(
        &self,
        subject: S,
        read: fn(Arc<Sources>, S, Compression) -> Fut,
    ) -> Probe<V>
    where
        S: Clone + Send + Sync + 'static,
        Fut: Future<Output = Option<Timed<V>>> + Send + 'static,
    {
        let sources: Weak<Sources> = Arc::downgrade(&self.sources);
        let compression = self.compression;
        Arc::new(move || {
            let sources = sources.clone();
            let subject = subject.clone();
            Box::pin(async move { read(sources.upgrade()?, subject, compression).await })
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// Parses a trigger's metadata against this server's connection profiles and checks its
    /// inline endpoints against the endpoint policy (once per distinct metadata: see
    /// [`TriggerMemo`]; both depend only on the metadata and this server's config).
    pub fn trigger(
        &self,
        metadata: &HashMap<String, String>,
    ) -> Result<Arc<TriggerSpec>, ScalerError> {
        self.specs
            .get_or_parse(&metadata.into(), |_| self.parse(metadata))
    }

    /// [`Scaler::trigger`] of the metadata as a call carries it: decoded, and its map built,
    /// only the first time (metadata that does not decode is [`ScalerError::Undecodable`]).
    pub fn trigger_of(&self, metadata: &ScalerMetadata) -> Result<Arc<TriggerSpec>, ScalerError> {
        self.specs
            .get_or_parse(metadata, |pairs| self.parse(&pairs.to_map()))
    }

    fn parse(&self, metadata: &HashMap<String, String>) -> Result<TriggerSpec, ScalerError> {
        let spec = TriggerSpec::parse(metadata, &self.config.clusters)?;
        self.allowed(&spec)?;
        Ok(spec)
    }

    /// Whether the endpoint policy lets `spec` name its brokers inline.
    fn allowed(&self, spec: &TriggerSpec) -> Result<(), TriggerError> {
        let Some((key, brokers)) = spec.query().inline_endpoints() else {
            return Ok(());
        };
        match self.config.endpoint_policy().check(&brokers) {
            Ok(()) => Ok(()),
            Err(Refusal::Denied) => Err(TriggerError::InlineDenied { key }),
            Err(Refusal::NotAllowed(broker)) => {
                let broker = crate::metadata::quote(&broker);
                Err(TriggerError::InlineNotAllowed { key, broker })
            }
        }
    }

    /// Evaluates a parsed trigger's lag; concurrent and recent callers with the same broker
    /// query share one broker round trip.
    pub async fn evaluate(&self, spec: &TriggerSpec) -> Result<Evaluation, ScalerError> {
        self.evaluate_at(spec, tokio::time::Instant::now()).await
    }

    /// [`Scaler::evaluate`] for a caller that asked at `now`: a cached answer is fresh if it
    /// arrived within the cache's TTL before `now`.
    pub async fn evaluate_at(
        &self,
        spec: &TriggerSpec,
        now: tokio::time::Instant,
    ) -> Result<Evaluation, ScalerError> {
        evaluate(&self.sources, spec, &self.compression, now).await
    }

    /// The metric to serve for `evaluation`: the inputs the trigger's strategy needs (the
    /// replicas of `object`, which KEDA names in every request; lag samples; rates) gathered,
    /// then [`TriggerSpec::decide`], the policy function `lagscale simulate` calls too.
    pub async fn metric(
        &self,
        spec: &TriggerSpec,
        evaluation: &Evaluation,
        object: Option<&ObjectRef>,
    ) -> Result<Served, ScalerError> {
        let samples = match &spec.strategy {
            Strategy::Step(policy) => self.step_samples(spec, policy),
            Strategy::Direct { .. } => Vec::new(),
        };
        // The replicas and the rates are boxed: their futures are large, and a plain trigger's
        // call (most calls) would otherwise carry and move their space.
        let state = match spec.strategy.reads_replicas() {
            true => Some(Box::pin(self.target_state(object)).await?),
            false => None,
        };
        let (rates, learned) = match &spec.metric {
            Metric::Throughput(policy) => Box::pin(self.throughput_inputs(spec, policy)).await,
            Metric::Lag => (None, None),
        };
        let gathered = Gathered {
            samples,
            state,
            rates,
            learned,
        };
        self.served(spec, evaluation, object, gathered)
    }

    /// [`Scaler::evaluate_at`] without waiting: the evaluation from the shared answer when it
    /// is fresh at `now` (a cache hit), else `None`.
    pub fn evaluate_now(
        &self,
        spec: &TriggerSpec,
        now: tokio::time::Instant,
    ) -> Option<Result<Evaluation, ScalerError>> {
        let observation = self.sources.fresh_at(spec.query(), now)?;
        let observation = seen(observation, Lookup::Hit, &self.compression);
        Some(evaluation(spec, observation, Lookup::Hit))
    }

    /// [`Scaler::evaluate_at`] then [`Scaler::metric`] without waiting, for a trigger whose
    /// metric needs its lag alone (neither replicas nor rates) and whose shared answer is fresh
    /// at `now`: most warm calls. `None` for the others, which await both.
    pub fn answer_now(
        &self,
        spec: &TriggerSpec,
        now: tokio::time::Instant,
    ) -> Option<Result<(Evaluation, Served), ScalerError>> {
        let lag_alone = !spec.strategy.reads_replicas() && matches!(spec.metric, Metric::Lag);
        if !lag_alone {
            return None;
        }
        let answer = self.evaluate_now(spec, now)?.and_then(|evaluation| {
            let served = self.served(spec, &evaluation, None, Gathered::default())?;
            Ok((evaluation, served))
        });
        Some(answer)
    }

    /// The metric decided from `evaluation` and what was `gathered` for it, logged and
    /// counted.
    fn served(
        &self,
        spec: &TriggerSpec,
        evaluation: &Evaluation,
        object: Option<&ObjectRef>,
        gathered: Gathered,
    ) -> Result<Served, ScalerError> {
        let Gathered {
            samples,
            state,
            rates,
            learned,
        } = gathered;
        let inputs = Inputs {
            lag: evaluation.lag,
            decided: evaluation.decided,
            partitions: evaluation.partitions,
            state: state.as_ref(),
            samples: &samples,
            rates: rates.as_ref(),
            learned: learned.as_ref(),
            now: self.compression.now(),
        };
        let decided = spec.decide(&inputs);
        if let Decided::Throughput(Throughput {
            basis: RateBasis::Unknown,
            ..
        }) = decided
        {
            let lasting = learned.and_then(|l| l.last_skip) == Some(Skipped::ConsumersUnknown);
            return Err(ScalerError::ConsumersUnknown {
                reason: match lasting {
                    true => {
                        "the broker does not say who consumes (no DescribeGroups, or no consumer count)"
                    }
                    false => "the consumers have not been read yet",
                },
                lasting,
            });
        }
        let mut served = report(
            spec,
            evaluation,
            object,
            decided,
            state,
            samples.len(),
            rates,
        );
        served.learned = learned;
        // Like the lag, recorded when the broker was asked: KEDA's calls are seconds apart,
        // so that is nearly every call, and bursts of cached calls stay allocation-free.
        if evaluation.lookup == Lookup::Miss {
            metrics::metric_served(spec.query(), spec.metric_kind(), served.metric);
        }
        Ok(served)
    }
}

/// `spec`'s lag and activity, from the shared answer to its query.
async fn evaluate(
    sources: &Sources,
    spec: &TriggerSpec,
    compression: &Compression,
    now: tokio::time::Instant,
) -> Result<Evaluation, ScalerError> {
    let (observation, lookup) = lookup(sources, spec.query(), compression, now).await;
    evaluation(spec, observation, lookup)
}

/// The shared answer to `query` as `compression` sees it, counted as a cache hit or miss.
async fn lookup(
    sources: &Sources,
    query: &SourceQuery,
    compression: &Compression,
    now: tokio::time::Instant,
) -> (Result<Observation, SourceError>, Lookup) {
    let (observation, lookup) = sources.lookup_at(query, now).await;
    (seen(observation, lookup, compression), lookup)
}

/// A shared answer as `compression` sees it, counted as a cache hit or miss.
fn seen(
    observation: Result<Observation, SourceError>,
    lookup: Lookup,
    compression: &Compression,
) -> Result<Observation, SourceError> {
    metrics::cache_lookup(lookup);
    observation.map(|o| o.compressed(compression))
}

/// `spec`'s lag and activity from `observation`, the answer to its query (the lag recorded
/// when the broker was asked).
fn evaluation(
    spec: &TriggerSpec,
    observation: Result<Observation, SourceError>,
    lookup: Lookup,
) -> Result<Evaluation, ScalerError> {
    let lag = spec.source.lag(&observation?, spec.lag_cap_threshold())?;
    let (metric, active) = spec.read(&lag);
    if lookup == Lookup::Miss {
        metrics::lag_read(spec.query(), lag.messages);
    }
    Ok(Evaluation {
        lag: lag.messages,
        partitions: lag.partitions,
        metric,
        active,
        decided: lag.decided.map(|d| d.metric),
        lookup,
    })
}

/// What a trigger's metric is decided from beyond its evaluation, gathered by
/// [`Scaler::metric`]: none of it for a trigger that needs its lag alone.
#[derive(Default)]
struct Gathered {
    /// `strategy: step`'s lag samples.
    samples: Vec<Sample>,
    /// The ScaledObject's replicas, for a replica-aware trigger.
    state: Option<TargetState>,
    /// `metric: throughput`'s rates, and what is learned of one replica's.
    rates: Option<Rates>,
    learned: Option<Learned>,
}

/// What was decided, logged and counted, as the answer and what `check` shows of it.
fn report(
    spec: &TriggerSpec,
    evaluation: &Evaluation,
    object: Option<&ObjectRef>,
    decided: Decided,
    state: Option<TargetState>,
    samples: usize,
    rates: Option<Rates>,
) -> Served {
    let metric = decided.metric();
    let replicas = match (decided, state) {
        (
            Decided::PartitionCap {
                partitions, capped, ..
            },
            Some(state),
        ) => {
            let decision = if capped { "capped" } else { "uncapped" };
            metrics::replica_decision("partition_cap", decision, "");
            Some(ReplicaView::PartitionCap {
                state,
                partitions,
                capped,
            })
        }
        (
            Decided::Step {
                bounds, decision, ..
            },
            Some(state),
        ) => {
            metrics::replica_decision("step", decision.kind(), decision.reason());
            if !matches!(decision, Decision::Hold { .. }) {
                tracing::info!(
                    scaled_object = %object.map(ToString::to_string).unwrap_or_default(),
                    target = %state.target,
                    decision = decision.kind(),
                    replicas = decision.replicas(),
                    reason = decision.reason(),
                    samples,
                    "step strategy decided",
                );
            }
            Some(ReplicaView::Step {
                state,
                bounds,
                samples,
                decision,
            })
        }
        (Decided::Throughput(throughput), _) => {
            if throughput.without_rate {
                tracing::info!(
                    metric_name = %spec.metric_name,
                    "no produce rate yet (cold start, or the management API failed): serving \
                     lag / drainSeconds alone"
                );
                metrics::throughput_without_rate(spec.query());
            }
            if let Some(rates) = &rates {
                metrics::time_lag(spec.query(), rate::time_lag(evaluation.lag, rates));
            }
            None
        }
        _ => None,
    };
    Served {
        metric,
        replicas,
        rates,
        learned: None,
    }
}

#[cfg(test)]
mod auto_tests;
#[cfg(test)]
pub(crate) mod tests;
