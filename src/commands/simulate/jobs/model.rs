//! The ScaledJob model, one second per step: arrivals fill a queue; a job's worker starts
//! `startup_secs` after KEDA creates it, takes up to `prefetch` messages at a time (delivered
//! and not yet acknowledged, so no longer ready), processes `messages_per_sec_per_job`, and
//! exits after `idle_exit_secs` without a message. KEDA polls every `polling_interval_secs`,
//! reads the queue through lagscale's trigger code (ready messages, as a passive
//! `queue.declare` reports them) and creates jobs as [`super::keda::jobs_to_create`] says.

use std::collections::BTreeMap;

use super::super::arrivals::Noise;
use super::super::config::{MetricType, Policy};
use super::super::policy::PolicyMetric;
use super::config::{JobPolicy, JobSimulation};
use super::keda::{self, Poll};
use crate::strategy::step::Bounds;

/// One policy's run.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    pub name: String,
    pub job_hours: f64,
    pub jobs_started: u64,
    pub peak_jobs: u64,
    /// Messages not yet processed (ready and delivered), each second: 95th percentile, peak.
    pub p95_depth: f64,
    pub peak_depth: f64,
    /// Each busy period's length, from the first message waiting to an empty queue.
    pub drain_secs: Vec<u64>,
}

struct Worker {
    created: u64,
    /// Delivered, not yet processed.
    held: f64,
    /// The last second it processed a message (or started).
    last_message: u64,
}

/// Below this many messages the queue counts as empty.
const EMPTY: f64 = 0.5;

pub fn run(sim: &JobSimulation, name: &str, policy: &JobPolicy) -> Result<JobOutcome, String> {
    let jobs = &sim.jobs;
    let keda_settings = &sim.keda;
    let trigger = Policy {
        metric_type: MetricType::AverageValue,
        metadata: policy.metadata.clone(),
        behavior: Default::default(),
        triggers: Vec::new(),
    };
    let metric = PolicyMetric::new(name, &trigger, keda_settings.max_replica_count.max(1))?;
    let mut noise = Noise::new(sim.seed, sim.arrivals.noise());
    let (rate, prefetch) = (jobs.messages_per_sec_per_job, f64::from(jobs.prefetch));
    let bounds = Bounds {
        min: keda_settings.min_replica_count,
        max: keda_settings.max_replica_count,
    };

    let mut ready = 0.0f64;
    let mut workers: Vec<Worker> = Vec::new();
    let (mut job_secs, mut started, mut peak_jobs) = (0u64, 0u64, 0u64);
    let mut depths = Vec::with_capacity(sim.duration_secs as usize);
    let (mut busy_since, mut drains) = (None::<u64>, Vec::new());
    for t in 0..sim.duration_secs {
        ready += noise.apply(sim.arrivals.rate(t as f64));

        for worker in workers.iter_mut() {
            if t < worker.created + jobs.startup_secs {
                continue;
            }
            if t == worker.created + jobs.startup_secs {
                worker.last_message = t;
            }
            // Process from what it holds, then from the queue; then fill up to the prefetch.
            let from_held = worker.held.min(rate);
            let from_queue = ready.min(rate - from_held);
            ready -= from_queue;
            worker.held -= from_held;
            let refill = ready.min(prefetch - worker.held).max(0.0);
            ready -= refill;
            worker.held += refill;
            if from_held + from_queue > 0.0 {
                worker.last_message = t;
            }
        }
        workers.retain(|w| {
            let running = t >= w.created + jobs.startup_secs;
            !(running && w.held < EMPTY && t - w.last_message >= jobs.idle_exit_secs)
        });

        if t.is_multiple_of(keda_settings.polling_interval_secs) {
            let reading = metric.read(t, ready, workers.len() as u32, bounds, None);
            let pending = workers
                .iter()
                .filter(|w| t < w.created + jobs.startup_secs)
                .count();
            let poll = Poll {
                queue_length: reading.metric,
                target: reading.target,
                active: metric.is_active(ready),
                running: workers.len() as i64,
                pending: pending as i64,
                min: i64::from(keda_settings.min_replica_count),
                max: i64::from(keda_settings.max_replica_count),
            };
            let create = keda::jobs_to_create(&policy.scaling_strategy, poll);
            for _ in 0..create.max(0) {
                workers.push(Worker {
                    created: t,
                    held: 0.0,
                    last_message: t,
                });
            }
            started += create.max(0) as u64;
        }

        job_secs += workers.len() as u64;
        peak_jobs = peak_jobs.max(workers.len() as u64);
        let depth = ready + workers.iter().map(|w| w.held).sum::<f64>();
        depths.push(depth);
        match (busy_since, depth >= EMPTY) {
            (None, true) => busy_since = Some(t),
            (Some(since), false) => {
                drains.push(t - since);
                busy_since = None;
            }
            _ => {}
        }
    }
    let peak_depth = depths.iter().copied().fold(0.0, f64::max);
    depths.sort_by(f64::total_cmp);
    let p95_depth = depths
        .get((depths.len() * 95 / 100).min(depths.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0);
    Ok(JobOutcome {
        name: name.to_owned(),
        job_hours: job_secs as f64 / 3600.0,
        jobs_started: started,
        peak_jobs,
        p95_depth,
        peak_depth,
        drain_secs: drains,
    })
}

/// Every policy, in name order.
pub fn run_all(sim: &JobSimulation) -> Result<Vec<JobOutcome>, String> {
    let policies: &BTreeMap<String, JobPolicy> = &sim.policies;
    policies
        .iter()
        .map(|(name, policy)| run(sim, name, policy))
        .collect()
}
