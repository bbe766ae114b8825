//! A ScaledJob simulation file: arrivals, one-shot workers (`jobs`), KEDA's ScaledJob
//! settings, and named policies, each a `scalingStrategy` and a trigger's metadata. A file
//! with a `jobs` section is one of these; unknown fields are errors that name the field.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::super::arrivals::Arrivals;
use super::super::config::{Simulation, SimulationError};
use super::keda::ScalingStrategy;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSimulation {
    #[serde(default = "one_day")]
    pub duration_secs: u64,
    #[serde(default = "default_seed")]
    pub seed: u64,
    pub arrivals: Arrivals,
    pub jobs: Jobs,
    #[serde(default)]
    pub keda: JobKeda,
    /// Policies to compare, by name (run in name order).
    pub policies: BTreeMap<String, JobPolicy>,
}

fn one_day() -> u64 {
    86_400
}

fn default_seed() -> u64 {
    1
}

/// The one-shot workers a ScaledJob starts (as `examples/rabbitmq_worker.rs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jobs {
    /// Messages per second one job processes.
    pub messages_per_sec_per_job: f64,
    /// Messages delivered to a job before it acknowledges them (the consumer prefetch): they
    /// leave the queue's ready count.
    #[serde(default = "one")]
    pub prefetch: u32,
    /// Seconds from a job's creation until its worker consumes (KEDA counts it pending).
    #[serde(default = "default_startup")]
    pub startup_secs: u64,
    /// Seconds without a message after which a worker exits.
    #[serde(default = "default_idle_exit")]
    pub idle_exit_secs: u64,
}

fn one() -> u32 {
    1
}

fn default_startup() -> u64 {
    10
}

fn default_idle_exit() -> u64 {
    30
}

/// A ScaledJob's polling and bounds (KEDA's defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobKeda {
    #[serde(default = "default_polling")]
    pub polling_interval_secs: u64,
    #[serde(default)]
    pub min_replica_count: u32,
    #[serde(default = "default_max")]
    pub max_replica_count: u32,
}

impl Default for JobKeda {
    fn default() -> JobKeda {
        JobKeda {
            polling_interval_secs: default_polling(),
            min_replica_count: 0,
            max_replica_count: default_max(),
        }
    }
}

fn default_polling() -> u64 {
    30
}

fn default_max() -> u32 {
    100
}

/// One ScaledJob: its scaling strategy and its trigger.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JobPolicy {
    #[serde(default)]
    pub scaling_strategy: ScalingStrategy,
    /// Trigger metadata, as in a ScaledJob (the raw count: no transform). Without `source`,
    /// the modelled source is a Kafka group.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

impl JobSimulation {
    /// Whether the YAML text is a ScaledJob file (it has a top-level `jobs`).
    pub fn is_jobs_file(text: &str) -> bool {
        serde_yaml::from_str::<serde_yaml::Value>(text)
            .ok()
            .and_then(|v| v.get("jobs").map(|_| ()))
            .is_some()
    }

    pub fn parse(text: &str, name: &str, base: &Path) -> Result<JobSimulation, SimulationError> {
        let invalid = |message: String| SimulationError::Invalid {
            path: name.to_owned(),
            message,
        };
        let mut simulation: JobSimulation =
            serde_yaml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        simulation.arrivals.load_trace(base).map_err(invalid)?;
        simulation.check().map_err(invalid)?;
        Ok(simulation)
    }

    fn check(&self) -> Result<(), String> {
        let j = &self.jobs;
        if !j.messages_per_sec_per_job.is_finite() || j.messages_per_sec_per_job <= 0.0 {
            return Err(format!(
                "jobs.messages_per_sec_per_job: {} is not a rate > 0",
                j.messages_per_sec_per_job
            ));
        }
        if j.prefetch == 0 {
            return Err("jobs.prefetch: 0; expected at least 1 message".to_owned());
        }
        let k = &self.keda;
        if k.max_replica_count == 0 {
            return Err("keda.max_replica_count: 0; expected at least 1".to_owned());
        }
        Simulation::check_shared(
            self.duration_secs,
            k.polling_interval_secs,
            self.policies.len(),
            &self.arrivals,
        )
    }
}
