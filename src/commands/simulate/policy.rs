//! A policy's metric, computed by lagscale's own code: the trigger parser, the lag rule (with
//! the Kafka cap) over a snapshot of the simulated group, and the policy function `serve`
//! calls ([`TriggerSpec::decide`]) with the modelled replicas, samples and rates. What is
//! simulated is what `serve` would answer.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::config::Policy;
use crate::replicas::TargetState;
use crate::source::{Lag, MODELLED_TRIGGER};
use crate::strategy::rate::{self, OffsetsSample, PartitionPoint};
use crate::strategy::replica_rate::{Learner, Work, WorkSample};
use crate::strategy::sampler::Timed;
use crate::strategy::step::{Bounds, Sample};
use crate::strategy::throughput::ReplicaThroughput;
use crate::trigger::{Inputs, Metric, Strategy, TriggerSpec};

/// One policy's trigger, with the memory the step strategy needs.
pub struct PolicyMetric {
    pub spec: TriggerSpec,
    partitions: u32,
    epoch: Instant,
    samples: VecDeque<Sample>,
    offsets: VecDeque<OffsetsSample>,
    /// `replicaThroughput: auto`: the work samples of the last rate window, and the learning.
    work: VecDeque<WorkSample>,
    learner: Learner,
}

/// What the HPA sees at one sync.
pub struct Reading {
    pub metric: f64,
    pub target: f64,
}

impl PolicyMetric {
    /// Parses the policy's metadata with the server's parser.
    pub fn new(name: &str, policy: &Policy, partitions: u32) -> Result<PolicyMetric, String> {
        let mut metadata: HashMap<String, String> = policy.metadata.clone().into_iter().collect();
        if !metadata.contains_key("source") {
            // No source named: the modelled one, with its connection keys.
            for (key, value) in MODELLED_TRIGGER {
                metadata.insert(key.to_owned(), value.to_owned());
            }
        }
        let spec = TriggerSpec::parse(&metadata, &BTreeMap::new())
            .map_err(|e| format!("policies.{name}.metadata: {e}"))?;
        Ok(PolicyMetric {
            spec,
            partitions,
            epoch: Instant::now(),
            samples: VecDeque::new(),
            offsets: VecDeque::new(),
            work: VecDeque::new(),
            learner: Learner::default(),
        })
    }

    fn instant(&self, t: u64) -> Instant {
        self.epoch + Duration::from_secs(t)
    }

    /// The lag as the trigger's rule reads it (the Kafka cap included), from `lag` messages
    /// spread evenly over the partitions; the partitions consumers can use; and the lag
    /// activation reads.
    fn read_lag(&self, lag: f64) -> Lag {
        let observation = self
            .spec
            .query()
            .modelled_observation(lag, self.partitions, self.epoch);
        match self
            .spec
            .source
            .lag(&observation, self.spec.lag_cap_threshold())
        {
            Ok(lag) => lag,
            Err(_) => Lag {
                messages: lag as u64,
                partitions: None,
                activation: lag as u64,
                decided: None,
            },
        }
    }

    /// Whether KEDA activates the workload at this lag.
    pub fn is_active(&self, lag: f64) -> bool {
        self.spec.read(&self.read_lag(lag)).1
    }

    /// Whether this trigger learns one replica's rate (`replicaThroughput: auto`), from the
    /// work [`PolicyMetric::sample`] is given.
    pub fn learns(&self) -> bool {
        matches!(
            &self.spec.metric,
            Metric::Throughput(p) if matches!(p.replica_throughput, ReplicaThroughput::Auto { .. })
        )
    }

    /// Takes the samples the strategy needs at `t`: the lag (step), or the log-end and
    /// committed offsets, `produced` and `consumed` so far (throughput), and the group's work
    /// when it learns.
    pub fn sample(
        &mut self,
        t: u64,
        lag: f64,
        (produced, consumed): (f64, f64),
        work: &dyn Fn() -> Work,
    ) {
        let learns = self.learns();
        if let Metric::Throughput(policy) = &self.spec.metric
            && t.is_multiple_of(policy.sample_interval().as_secs())
        {
            let at = self.instant(t);
            let window = policy.rate_window;
            if learns {
                self.work.push_back(Timed { at, value: work() });
                while self
                    .work
                    .front()
                    .is_some_and(|s| at.duration_since(s.at) > window)
                {
                    self.work.pop_front();
                }
                self.learner.observe(self.work.make_contiguous(), window);
            }
            let point = PartitionPoint {
                partition: 0,
                high: produced as i64,
                committed: Some(consumed as i64),
            };
            self.offsets.push_back(Timed {
                at,
                value: Arc::from([point]),
            });
            while self
                .offsets
                .front()
                .is_some_and(|s| at.duration_since(s.at) > window)
            {
                self.offsets.pop_front();
            }
        }
        if let Strategy::Step(policy) = &self.spec.strategy {
            let (interval, range) = (policy.lag_collection_interval, policy.lag_collection_range);
            if t.is_multiple_of(interval.as_secs()) {
                let at = self.instant(t);
                let lag = self.read_lag(lag).messages;
                self.samples.push_back(Sample { at, lag });
                while self
                    .samples
                    .front()
                    .is_some_and(|s| at.duration_since(s.at) > range)
                {
                    self.samples.pop_front();
                }
            }
        }
    }

    /// The metric served at `t`, for a workload at `current` replicas between `min` and `max`
    /// whose last change was at `last_scale`.
    pub fn read(
        &self,
        t: u64,
        lag: f64,
        current: u32,
        bounds: Bounds,
        last_scale: Option<u64>,
    ) -> Reading {
        let Lag {
            messages,
            partitions,
            decided,
            ..
        } = self.read_lag(lag);
        let state = TargetState {
            target: "the simulated workload".to_owned(),
            current,
            min: bounds.min,
            max: bounds.max,
            last_scale: last_scale.map(|at| self.instant(at)),
        };
        let samples: Vec<Sample> = self.samples.iter().copied().collect();
        let rates = match &self.spec.metric {
            Metric::Throughput(policy) => {
                let offsets: Vec<OffsetsSample> = self.offsets.iter().cloned().collect();
                rate::rates(&offsets, policy.rate_window)
            }
            Metric::Lag => None,
        };
        let inputs = Inputs {
            lag: messages,
            decided: decided.map(|d| d.metric),
            partitions,
            state: Some(&state),
            samples: &samples,
            rates: rates.as_ref(),
            learned: Some(&self.learner.learned()),
            now: self.instant(t),
        };
        let metric = self.spec.decide(&inputs).metric();
        let target = self.spec.target();
        Reading { metric, target }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::simulate::config::MetricType;
    use crate::commands::simulate::hpa::{self, Hpa};
    use crate::strategy::step::metric_for;

    fn policy(metadata: &[(&str, &str)]) -> Policy {
        Policy {
            metric_type: MetricType::AverageValue,
            metadata: metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            behavior: Default::default(),
            triggers: Vec::new(),
        }
    }

    const BOUNDS: Bounds = Bounds { min: 1, max: 100 };

    /// scaling-math's Kafka cap vector, through lagscale's lag rule on the simulated group.
    #[test]
    fn keda_kafka_cap_vector() {
        let capped = PolicyMetric::new("cap", &policy(&[("lagThreshold", "10")]), 4).unwrap();
        assert_eq!(capped.read(0, 1_000.0, 1, BOUNDS, None).metric, 40.0);
        let idle = policy(&[("lagThreshold", "10"), ("allowIdleConsumers", "true")]);
        let idle = PolicyMetric::new("idle", &idle, 4).unwrap();
        assert_eq!(idle.read(0, 1_000.0, 1, BOUNDS, None).metric, 1_000.0);
    }

    #[test]
    fn log2_vectors_and_metadata_errors() {
        let log2 = policy(&[
            ("transform", "log2"),
            ("log2Multiplier", "7"),
            ("lagThreshold", "20000"),
        ]);
        let log2 = PolicyMetric::new("log2", &log2, 1000).unwrap();
        let reading = log2.read(0, 300_000.0, 1, BOUNDS, None);
        assert!(
            (reading.metric - 127.3622).abs() < 5e-4,
            "{}",
            reading.metric
        );
        assert!((reading.target - 100.0140).abs() < 5e-4);
        let error = PolicyMetric::new("typo", &policy(&[("lagTreshold", "5")]), 4)
            .err()
            .unwrap();
        assert!(
            error.contains("policies.typo.metadata")
                && error.contains("did you mean `lagThreshold`")
        );
    }

    /// The step strategy's decisions, served by `metric_for`, land exactly through the
    /// simulator's HPA (stabilization 0, as the README recommends), tolerance included.
    #[test]
    fn step_decisions_land_through_the_hpa() {
        let behavior: hpa::Behavior = serde_yaml::from_str(
            "scaleUp: {stabilizationWindowSeconds: 0}\nscaleDown: {stabilizationWindowSeconds: 0}\n",
        )
        .unwrap();
        // The Druid sequence (1→3, 3→2, 2→1, 1→3, 3→5, 5→6), then 11→10, and 20→19, which
        // no metric can bring through a 10 % tolerance.
        let table = [
            (1, 3, 3),
            (3, 2, 2),
            (2, 1, 1),
            (1, 3, 3),
            (3, 5, 5),
            (5, 6, 6),
            (11, 10, 10),
            (20, 19, 20),
        ];
        for (i, (current, decided, lands)) in table.into_iter().enumerate() {
            let mut hpa = Hpa::new(&behavior, 1, 50);
            let metric = metric_for(current, decided);
            let wanted = hpa::desired(MetricType::AverageValue, metric, 1.0, current, current);
            let next = hpa.sync(15 * i as u64, current, wanted);
            assert_eq!(next, lands, "{current} → {decided}: served {metric}");
        }
    }
}
