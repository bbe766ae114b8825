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
        let mut simulation: Simulation =
            serde_yaml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        simulation.arrivals.load_trace(base).map_err(invalid)?;
        simulation.check().map_err(invalid)?;
        Ok(simulation)
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
        let k = &self.keda;
        if k.polling_interval_secs == 0 {
            return Err("keda.polling_interval_secs: 0; expected at least 1".to_owned());
        }
        if k.max_replica_count == 0 || k.max_replica_count < k.min_replica_count {
            return Err(format!(
                "keda.max_replica_count: {} must be at least 1 and at least min_replica_count ({})",
                k.max_replica_count, k.min_replica_count
            ));
        }
        if self.duration_secs == 0 || self.duration_secs > 400 * 86_400 {
            return Err(format!(
                "duration_secs: {} is not between 1 and 400 days of seconds",
                self.duration_secs
            ));
        }
        if self.policies.is_empty() {
            return Err("policies: none; expected at least one named policy".to_owned());
        }
        if self.slo_lag.is_nan() || self.slo_lag < 0.0 {
            return Err(format!("slo_lag: {} is not a lag >= 0", self.slo_lag));
        }
        self.arrivals.check()
    }
}
