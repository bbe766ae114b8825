//! The `lagscale simulate` input file: traffic, consumers, KEDA, an SLO, and named policies,
//! each a trigger's metadata (the same keys as a real trigger) with its metricType and HPA
//! behaviour. Unknown fields are errors that name the field and its line.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::arrivals::Arrivals;
use super::hpa::Behavior;

/// A whole simulation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Simulation {
    /// Simulated time, in seconds (default one day).
    #[serde(default = "one_day")]
    pub duration_secs: u64,
    /// Seed of the arrivals' noise: the same seed, the same run.
    #[serde(default = "default_seed")]
    pub seed: u64,
    pub arrivals: Arrivals,
    pub consumers: Consumers,
    #[serde(default)]
    pub keda: Keda,
    /// Lag above which the SLO counts as missed, in messages.
    pub slo_lag: f64,
    /// Policies to compare, by name (run in name order).
    pub policies: BTreeMap<String, Policy>,
}

fn one_day() -> u64 {
    86_400
}

fn default_seed() -> u64 {
    1
}

/// The workload's consumers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consumers {
    /// Messages per second one ready replica processes.
    pub messages_per_sec_per_replica: f64,
    /// Partitions (Kafka): replicas beyond them get none and sit idle. Also the number of
    /// partitions lagscale's Kafka cap sees.
    #[serde(default = "default_partitions")]
    pub partitions: u32,
    /// Seconds from a pod's creation until it consumes.
    #[serde(default = "default_startup")]
    pub startup_secs: u64,
    /// Seconds the whole group consumes nothing after each change of its members (a
    /// rebalance); 0 for queues without rebalances.
    #[serde(default = "default_rebalance")]
    pub rebalance_pause_secs: u64,
    /// Seconds between a consumer's offset commits (Kafka's `auto.commit.interval.ms`, 5 s);
    /// lagscale reads committed offsets, so it sees the lag plus what was processed since the
    /// last commits. 0: every message is committed as it is processed.
    #[serde(default = "default_commit_interval")]
    pub commit_interval_secs: u64,
    /// CPU a ready replica uses with nothing to do, in percent of its request (for `cpu`
    /// triggers): a replica's utilization is this plus 100 × the messages it processed ÷ its
    /// rate.
    #[serde(default = "default_idle_cpu")]
    pub idle_cpu_percent: f64,
    /// Changes of `messages_per_sec_per_replica` during the run (a new release, heavier
    /// payloads): from `at_secs` on, each replica processes the new rate.
    #[serde(default)]
    pub rate_changes: Vec<RateChange>,
}

/// From `at_secs` on, one replica processes `messages_per_sec_per_replica`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateChange {
    pub at_secs: u64,
    pub messages_per_sec_per_replica: f64,
}

impl Consumers {
    /// Messages per second one ready replica processes at second `t`: the latest change at or
    /// before `t`, or the starting rate.
    pub fn rate_at(&self, t: u64) -> f64 {
        self.rate_changes
            .iter()
            .filter(|c| c.at_secs <= t)
            .max_by_key(|c| c.at_secs)
            .map_or(self.messages_per_sec_per_replica, |c| {
                c.messages_per_sec_per_replica
            })
    }
}

fn default_idle_cpu() -> f64 {
    10.0
}

fn default_partitions() -> u32 {
    64
}

fn default_startup() -> u64 {
    30
}

fn default_rebalance() -> u64 {
    10
}

fn default_commit_interval() -> u64 {
    5
}

/// KEDA's settings (defaults KEDA's).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keda {
    #[serde(default = "default_polling")]
    pub polling_interval_secs: u64,
    #[serde(default = "default_cooldown")]
    pub cooldown_period_secs: u64,
    #[serde(default)]
    pub min_replica_count: u32,
    #[serde(default = "default_max")]
    pub max_replica_count: u32,
}

impl Default for Keda {
    fn default() -> Keda {
        Keda {
            polling_interval_secs: default_polling(),
            cooldown_period_secs: default_cooldown(),
            min_replica_count: 0,
            max_replica_count: default_max(),
        }
    }
}

fn default_polling() -> u64 {
    30
}

fn default_cooldown() -> u64 {
    300
}

fn default_max() -> u32 {
    100
}

/// One policy: a trigger and how the HPA uses it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Policy {
    /// `AverageValue` (default) or `Value`.
    #[serde(default = "default_metric_type")]
    pub metric_type: MetricType,
    /// Trigger metadata, as in a ScaledObject. `source` and the connection keys may be left
    /// out: the simulated source is a Kafka group on `consumers.partitions` partitions.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// The HPA's `behavior`, as in `advanced.horizontalPodAutoscalerConfig.behavior`.
    #[serde(default)]
    pub behavior: Behavior,
    /// Several triggers, as in a ScaledObject with several: the HPA takes the highest count
    /// any of them asks for. Instead of `metricType` and `metadata`, which are one lag trigger.
    #[serde(default)]
    pub triggers: Vec<Trigger>,
}

/// One trigger of a policy with several.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Trigger {
    /// `lag` (default: a lagscale trigger) or `cpu` (KEDA's cpu trigger, `metricType:
    /// Utilization`).
    #[serde(rename = "type", default)]
    pub kind: TriggerKind,
    /// For `lag`: `AverageValue` (default) or `Value`.
    #[serde(default = "default_metric_type")]
    pub metric_type: MetricType,
    /// For `lag`: the trigger's metadata, as a policy's `metadata`.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// For `cpu`: the target average utilization, in percent of the pods' CPU request.
    pub target_utilization: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerKind {
    #[default]
    Lag,
    Cpu,
}

impl Policy {
    /// The policy's triggers: its `triggers`, or the one lag trigger of `metricType` and
    /// `metadata`.
    pub fn trigger_list(&self) -> Vec<Trigger> {
        if !self.triggers.is_empty() {
            return self.triggers.clone();
        }
        vec![Trigger {
            kind: TriggerKind::Lag,
            metric_type: self.metric_type,
            metadata: self.metadata.clone(),
            target_utilization: None,
        }]
    }

    fn check(&self, name: &str, min_replica_count: u32) -> Result<(), String> {
        if self.triggers.is_empty() {
            return Ok(());
        }
        if !self.metadata.is_empty() {
            return Err(format!(
                "policies.{name}: both `metadata` and `triggers`; expected one: `metadata` is \
                 a single lag trigger, `triggers` lists several"
            ));
        }
        for (i, trigger) in self.triggers.iter().enumerate() {
            let at = format!("policies.{name}.triggers[{i}]");
            match (trigger.kind, trigger.target_utilization) {
                (TriggerKind::Cpu, None) => {
                    return Err(format!(
                        "{at}: a cpu trigger without targetUtilization; expected a percentage \
                         of the CPU request, such as 70"
                    ));
                }
                (TriggerKind::Cpu, Some(target)) if !(target > 0.0 && target.is_finite()) => {
                    return Err(format!(
                        "{at}.targetUtilization: {target} is not a percentage > 0"
                    ));
                }
                (TriggerKind::Cpu, Some(_)) if !trigger.metadata.is_empty() => {
                    return Err(format!(
                        "{at}.metadata: a cpu trigger takes targetUtilization only"
                    ));
                }
                (TriggerKind::Lag, Some(_)) => {
                    return Err(format!(
                        "{at}.targetUtilization: only a cpu trigger has one (this one is `lag`)"
                    ));
                }
                _ => {}
            }
        }
        // KEDA's admission webhook refuses it: a CPU metric never wakes a workload at 0
        // (apis/keda/v1alpha1/scaledobject_webhook.go, "scaledobject has only cpu/memory
        // triggers AND minReplica is 0").
        if min_replica_count == 0 && self.triggers.iter().all(|t| t.kind == TriggerKind::Cpu) {
            return Err(format!(
                "policies.{name}.triggers: only cpu triggers with keda.min_replica_count 0; \
                 expected min_replica_count of at least 1, or a lag trigger (KEDA refuses \
                 such a ScaledObject: it could never scale up from zero)"
            ));
        }
        Ok(())
    }
}

fn default_metric_type() -> MetricType {
    MetricType::AverageValue
}

/// The HPA's external metric target type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum MetricType {
    AverageValue,
    Value,
}

/// Why the file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SimulationError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Simulation {
    /// Reads and checks a simulation file; traces are read relative to it.
    pub fn load(path: &Path) -> Result<Simulation, SimulationError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SimulationError::Read {
            path: name.clone(),
            source,
        })?;
        Simulation::parse(&text, &name, path.parent().unwrap_or(Path::new(".")))
    }

    /// Parses and checks the text of a simulation file called `name`, whose traces are read
    /// relative to `base`.
    pub fn parse(text: &str, name: &str, base: &Path) -> Result<Simulation, SimulationError> {
        let invalid = |message: String| SimulationError::Invalid {
            path: name.to_owned(),
            message,
        };
        if super::jobs::JobSimulation::is_jobs_file(text) {
            return Err(invalid(
                "a ScaledJob file (it has `jobs`): `lagscale simulate` runs it; this needs a \
                 ScaledObject scenario (`consumers` and policies of triggers)"
                    .to_owned(),
            ));
        }
        let mut simulation: Simulation =
            serde_yaml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        simulation.arrivals.load_trace(base).map_err(invalid)?;
        simulation.check().map_err(invalid)?;
        Ok(simulation)
    }

    /// What every simulation file, ScaledObject or ScaledJob, must satisfy.
    pub(super) fn check_shared(
        duration_secs: u64,
        polling_interval_secs: u64,
        policies: usize,
        arrivals: &Arrivals,
    ) -> Result<(), String> {
        if polling_interval_secs == 0 {
            return Err("keda.polling_interval_secs: 0; expected at least 1".to_owned());
        }
        if duration_secs == 0 || duration_secs > 400 * 86_400 {
            return Err(format!(
                "duration_secs: {duration_secs} is not between 1 and 400 days of seconds"
            ));
        }
        if policies == 0 {
            return Err("policies: none; expected at least one named policy".to_owned());
        }
        arrivals.check()
    }

    fn check(&self) -> Result<(), String> {
        let c = &self.consumers;
        if !c.messages_per_sec_per_replica.is_finite() || c.messages_per_sec_per_replica <= 0.0 {
            return Err(format!(
                "consumers.messages_per_sec_per_replica: {} is not a rate > 0",
                c.messages_per_sec_per_replica
            ));
        }
        if c.partitions == 0 {
            return Err("consumers.partitions: 0; expected at least 1".to_owned());
        }
        for (i, change) in c.rate_changes.iter().enumerate() {
            let rate = change.messages_per_sec_per_replica;
            if !rate.is_finite() || rate <= 0.0 {
                return Err(format!(
                    "consumers.rate_changes[{i}].messages_per_sec_per_replica: {rate} is not a \
                     rate > 0"
                ));
            }
        }
        let k = &self.keda;
        if k.max_replica_count == 0 || k.max_replica_count < k.min_replica_count {
            return Err(format!(
                "keda.max_replica_count: {} must be at least 1 and at least min_replica_count ({})",
                k.max_replica_count, k.min_replica_count
            ));
        }
        for (name, policy) in &self.policies {
            policy.check(name, k.min_replica_count)?;
        }
        if !(0.0..=100.0).contains(&c.idle_cpu_percent) {
            return Err(format!(
                "consumers.idle_cpu_percent: {} is not a percentage between 0 and 100",
                c.idle_cpu_percent
            ));
        }
        if self.slo_lag.is_nan() || self.slo_lag < 0.0 {
            return Err(format!("slo_lag: {} is not a lag >= 0", self.slo_lag));
        }
        Simulation::check_shared(
            self.duration_secs,
            k.polling_interval_secs,
            self.policies.len(),
            &self.arrivals,
        )
    }
}
