//! The discrete-time model, one second per step: arrivals fill the partitions' backlogs; ready
//! consumers (pods older than the start-up delay) drain them, each its own partitions as the
//! range assignor shares them (`assignment.rs`), except during the rebalance pause that follows
//! every change of the group's members; KEDA polls for activity (0 ↔ 1, cooldown) and the HPA
//! syncs every 15 s from the policy's metric.

use super::arrivals::Noise;
use super::assignment::Assignment;
use super::config::{Policy, Simulation};
use super::hpa::{Hpa, SYNC_SECS};
use super::outcome::{Outcome, Tally};
use super::replica_calculator;
use super::triggers::{PolicyTriggers, Utilization, Workload};
use super::work::GroupWork;
use crate::strategy::replica_rate::Work;
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
    let mut triggers = PolicyTriggers::new(name, policy, consumers.partitions)?;
    let hpa_min = keda.min_replica_count.max(1);
    let mut hpa = Hpa::new(&policy.behavior, hpa_min, keda.max_replica_count);
    let mut noise = Noise::new(sim.seed, sim.arrivals.noise());

    // Pods by creation time; the newest are removed first.
    let mut pods: Vec<u64> = vec![0; keda.min_replica_count as usize];
    let mut group = Assignment::new(consumers.partitions);
    let mut commits = Commits::new(consumers.commit_interval_secs);
    let (mut pause_until, mut ready_before) = (0u64, pods.len());
    // Log-end and committed offsets of the simulated group, for rates.
    let (mut produced, mut consumed) = (0.0f64, 0.0f64);
    let (mut last_active, mut last_scale) = (0u64, None::<u64>);
    let mut cpu = Utilization::new(consumers.idle_cpu_percent);
    let per_replica = consumers.messages_per_sec_per_replica;
    let mut tally = Tally::new(name, sim.duration_secs, sim.slo_lag, per_replica);
    // Only a policy that learns one replica's rate reads the partitions and members.
    let mut work = triggers
        .learns()
        .then(|| GroupWork::new(consumers.commit_interval_secs));
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
        let per_replica = consumers.rate_at(t);
        let processed = if t >= pause_until {
            group.consume(ready, per_replica)
        } else {
            0.0
        };
        consumed += processed;
        cpu.second(processed, ready as u32, per_replica);
        if let Some(work) = &mut work {
            work.second(&group);
        }
        let backlog = group.total();
        // What lagscale reads: the lag to the committed offsets.
        let committed = commits.committed(consumed);
        let seen = (produced - committed).max(0.0);

        let members = (t >= pause_until).then_some(ready);
        let read_work = || match &work {
            Some(work) => work.work(&group, produced, members),
            None => Work::default(),
        };
        triggers.sample(t, seen, (produced, committed), &read_work);
        if t.is_multiple_of(keda.polling_interval_secs) {
            if triggers.is_active(seen) {
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
            let workload = Workload {
                current,
                ready: ready as u32,
                bounds: Bounds {
                    min: hpa_min,
                    max: keda.max_replica_count,
                },
                last_scale,
                utilization: cpu.percent(),
            };
            let proposals = triggers.proposals(t, seen, &workload);
            // No valid count (see `over_metrics`): the HPA skips this sync.
            let next = replica_calculator::over_metrics(&proposals, current)
                .map_or(current, |wanted| hpa.sync(t, current, wanted));
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

/// The group's committed offsets: each member commits every `interval` seconds at a phase of
/// its own, so the group's committed total is, on average, what was consumed over the last
/// interval (the mean of its last `interval` seconds).
struct Commits {
    consumed: std::collections::VecDeque<f64>,
    interval: usize,
}

impl Commits {
    fn new(interval_secs: u64) -> Commits {
        Commits {
            consumed: std::collections::VecDeque::new(),
            interval: interval_secs as usize,
        }
    }

    /// The committed total after a second that ended with `consumed` consumed in all.
    fn committed(&mut self, consumed: f64) -> f64 {
        if self.interval == 0 {
            return consumed;
        }
        self.consumed.push_back(consumed);
        if self.consumed.len() > self.interval {
            self.consumed.pop_front();
        }
        self.consumed.iter().sum::<f64>() / self.consumed.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::Commits;

    #[test]
    fn commits_trail_the_work_by_half_an_interval_on_average() {
        // Every message committed as processed.
        let mut now = Commits::new(0);
        assert_eq!(now.committed(100.0), 100.0);

        // 100 messages a second, commits every 5 s: once the window is full the committed
        // total is the mean of the last five seconds' totals, 200 behind the work.
        let mut every5 = Commits::new(5);
        let committed: Vec<f64> = (1..=8)
            .map(|s| every5.committed(100.0 * s as f64))
            .collect();
        assert_eq!(committed[0], 100.0);
        assert_eq!(committed[4], 300.0);
        assert_eq!(committed[7], 600.0);
        assert_eq!(800.0 - committed[7], 200.0);
    }
}
