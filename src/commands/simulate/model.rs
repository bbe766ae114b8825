//! The discrete-time model, one second per step: arrivals fill the partitions' backlogs; ready
//! consumers (pods older than the start-up delay) drain them, each its own partitions as the
//! range assignor shares them (`assignment.rs`), except during the rebalance pause that follows
//! every change of the group's members; KEDA polls for activity (0 ↔ 1, cooldown) and the HPA
//! syncs every 15 s from the policy's metric.

use super::arrivals::Noise;
use super::assignment::Assignment;
use super::config::{Policy, Simulation};
use super::hpa::{self, Hpa, SYNC_SECS};
use super::outcome::{Outcome, Tally};
use super::policy::PolicyMetric;
use crate::strategy::step::Bounds;

/// Runs one policy; `progress` is told the fraction done now and then.
pub fn run(
    sim: &Simulation,
    name: &str,
    policy: &Policy,
    progress: &mut dyn FnMut(f64),
) -> Result<Outcome, String> {
    let consumers = &sim.consumers;
    let keda = &sim.keda;
    let mut metric = PolicyMetric::new(name, policy, consumers.partitions)?;
    let hpa_min = keda.min_replica_count.max(1);
    let mut hpa = Hpa::new(&policy.behavior, hpa_min, keda.max_replica_count);
    let mut noise = Noise::new(sim.seed, sim.arrivals.noise());

    // Pods by creation time; the newest are removed first.
    let mut pods: Vec<u64> = vec![0; keda.min_replica_count as usize];
    let mut group = Assignment::new(consumers.partitions);
    let (mut pause_until, mut ready_before) = (0u64, pods.len());
    // Log-end and committed offsets of the simulated group, for rates.
    let (mut produced, mut consumed) = (0.0f64, 0.0f64);
    let (mut last_active, mut last_scale) = (0u64, None::<u64>);
    let per_replica = consumers.messages_per_sec_per_replica;
    let mut tally = Tally::new(name, sim.duration_secs, sim.slo_lag, per_replica);
    let (mut changes, mut rebalances) = (0u64, 0u64);
    let resize = |pods: &mut Vec<u64>, to: u32, t: u64, changes: &mut u64| {
        let to = to as usize;
        if to != pods.len() {
            *changes += 1;
            pods.truncate(to);
            pods.resize(to, t);
        }
    };
    for t in 0..sim.duration_secs {
        if t.is_multiple_of((sim.duration_secs / 20).max(1)) {
            progress(t as f64 / sim.duration_secs as f64);
        }
        let arrivals = noise.apply(sim.arrivals.rate(t as f64));
        group.arrive(arrivals);
        produced += arrivals;

        let ready = pods
            .iter()
            .filter(|&&c| t >= c + consumers.startup_secs)
            .count();
        if ready != ready_before {
            rebalances += 1;
            pause_until = t + consumers.rebalance_pause_secs;
            ready_before = ready;
        }
        if t >= pause_until {
            consumed += group.consume(ready, consumers.messages_per_sec_per_replica);
        }
        let backlog = group.total();

        metric.sample(t, backlog, produced, consumed);
        if t.is_multiple_of(keda.polling_interval_secs) {
            if metric.is_active(backlog) {
                last_active = t;
                if pods.is_empty() {
                    resize(&mut pods, hpa_min, t, &mut changes);
                    last_scale = Some(t);
                }
            } else if keda.min_replica_count == 0
                && !pods.is_empty()
                && t - last_active >= keda.cooldown_period_secs
            {
                resize(&mut pods, 0, t, &mut changes);
            }
        }
        if t.is_multiple_of(SYNC_SECS) && !pods.is_empty() {
            let current = pods.len() as u32;
            let bounds = Bounds {
                min: hpa_min,
                max: keda.max_replica_count,
            };
            let reading = metric.read(t, backlog, current, bounds, last_scale);
            let wanted = hpa::desired(
                policy.metric_type,
                reading.metric,
                reading.target,
                current,
                ready as u32,
            );
            let next = hpa.sync(t, current, wanted);
            if next != current {
                resize(&mut pods, next, t, &mut changes);
                last_scale = Some(t);
            }
        }

        tally.second(t, arrivals, backlog, pods.len() as u32);
    }
    progress(1.0);
    Ok(tally.finish(changes, rebalances))
}
