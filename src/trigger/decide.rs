//! The one policy function: what a parsed trigger serves, from its inputs. `serve` gathers the
//! inputs from the brokers and Kubernetes (`Scaler::metric`), `lagscale simulate` from its
//! model (`commands::simulate::policy`); both call [`TriggerSpec::decide`], so what is
//! simulated is what is served. Pure: no I/O, and no clock (now is an input).

use tokio::time::Instant;

use super::{Metric, Strategy, TriggerSpec};
use crate::replicas::TargetState;
use crate::strategy::partition_cap;
use crate::strategy::rate::Rates;
use crate::strategy::replica_rate::Learned;
use crate::strategy::step::{Bounds, Decision, Sample, metric_for};
use crate::strategy::throughput::Throughput;

/// What a decision is made from.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The lag, as the trigger's lag rule read it.
    pub lag: u64,
    /// The metric the source decided itself, if it did (a RabbitMQ rate, ratio or time
    /// `mode`: only with the direct strategy); served as it is.
    pub decided: Option<f64>,
    /// The partitions consumers can use (Kafka), when known. The partition cap counts an
    /// unknown number as 0; the step strategy and throughput then cap nothing.
    pub partitions: Option<u64>,
    /// The scale target's replicas and bounds: `replicaAware` and `strategy: step` need them.
    pub state: Option<&'a TargetState>,
    /// Lag samples, oldest first (`strategy: step`).
    pub samples: &'a [Sample],
    /// The rates over the rate window (`metric: throughput`); `None` before any are known.
    pub rates: Option<&'a Rates>,
    /// What `replicaThroughput: auto` has learned of one replica's rate.
    pub learned: Option<&'a Learned>,
    pub now: Instant,
}

/// What was decided, with what a caller reports of it.
#[derive(Debug, Clone, PartialEq)]
pub enum Decided {
    /// The transformed lag.
    Direct { metric: f64 },
    /// `replicaAware`: the log2 metric, capped so the HPA stays within the partitions.
    PartitionCap {
        metric: f64,
        partitions: u64,
        capped: bool,
    },
    /// `strategy: step`: the decided replica count, as a metric against a target of 1.
    Step {
        metric: f64,
        bounds: Bounds,
        decision: Decision,
    },
    /// `metric: throughput`.
    Throughput(Throughput),
}

impl Decided {
    /// The value served to KEDA.
    pub fn metric(&self) -> f64 {
        match self {
            Decided::Direct { metric }
            | Decided::PartitionCap { metric, .. }
            | Decided::Step { metric, .. } => *metric,
            Decided::Throughput(throughput) => throughput.value,
        }
    }
}

impl TriggerSpec {
    /// What this trigger serves for `inputs`. A replica-aware strategy given no replica
    /// state serves the transformed lag (`serve` refuses such a call before: it names no
    /// ScaledObject).
    pub fn decide(&self, inputs: &Inputs<'_>) -> Decided {
        let metric = inputs.decided.unwrap_or_else(|| self.metric(inputs.lag));
        if let Metric::Throughput(policy) = &self.metric {
            let max_partitions = if self.source.caps_at_partitions() {
                inputs.partitions
            } else {
                None
            };
            return Decided::Throughput(policy.value(
                inputs.lag,
                inputs.rates,
                max_partitions,
                inputs.learned,
            ));
        }
        match (&self.strategy, inputs.state) {
            (
                Strategy::Direct {
                    replica_aware: true,
                },
                Some(state),
            ) => {
                let partitions = inputs.partitions.unwrap_or(0);
                let capped = partition_cap(metric, self.target(), state.current, partitions);
                Decided::PartitionCap {
                    metric: capped,
                    partitions,
                    capped: capped < metric,
                }
            }
            (Strategy::Step(policy), Some(state)) => {
                let (bounds, decision) =
                    policy.decide_for(inputs.samples, state, inputs.partitions, inputs.now);
                Decided::Step {
                    metric: metric_for(state.current, decision.replicas().max(1)),
                    bounds,
                    decision,
                }
            }
            _ => Decided::Direct { metric },
        }
    }
}
