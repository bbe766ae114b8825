//! A policy's triggers at each step of the model: the lag triggers (lagscale's own code, through
//! [`PolicyMetric`]) and the CPU triggers (the consumers' modelled utilization), each proposing
//! a count at an HPA sync; and KEDA's activation over them.

use std::collections::VecDeque;

use super::config::{MetricType, Policy, TriggerKind};
use super::hpa;
use super::policy::PolicyMetric;
use super::replica_calculator::{self, Proposal};
use crate::strategy::replica_rate::Work;
use crate::strategy::step::Bounds;

/// Seconds of work the CPU utilization averages over before each sync: metrics-server's
/// default `--metric-resolution`.
pub const CPU_WINDOW_SECS: usize = 15;

/// The triggers of one policy.
pub struct PolicyTriggers {
    lag: Vec<(MetricType, PolicyMetric)>,
    /// Target utilizations of the CPU triggers, in percent.
    cpu: Vec<f64>,
}

/// The workload as the HPA sees it at a sync.
pub struct Workload {
    pub current: u32,
    pub ready: u32,
    pub bounds: Bounds,
    pub last_scale: Option<u64>,
    /// The ready pods' average CPU utilization, in percent of their request.
    pub utilization: Option<f64>,
}

impl PolicyTriggers {
    pub fn new(name: &str, policy: &Policy, partitions: u32) -> Result<PolicyTriggers, String> {
        let (mut lag, mut cpu) = (Vec::new(), Vec::new());
        for trigger in policy.trigger_list() {
            match trigger.kind {
                TriggerKind::Lag => {
                    let one = Policy {
                        metric_type: trigger.metric_type,
                        metadata: trigger.metadata,
                        behavior: Default::default(),
                        triggers: Vec::new(),
                    };
                    lag.push((
                        trigger.metric_type,
                        PolicyMetric::new(name, &one, partitions)?,
                    ));
                }
                TriggerKind::Cpu => cpu.push(trigger.target_utilization.unwrap_or(100.0)),
            }
        }
        Ok(PolicyTriggers { lag, cpu })
    }

    /// Takes the samples the lag triggers' strategies need (see [`PolicyMetric::sample`]).
    pub fn sample(&mut self, t: u64, lag: f64, offsets: (f64, f64), work: &dyn Fn() -> Work) {
        for (_, metric) in &mut self.lag {
            metric.sample(t, lag, offsets, work);
        }
    }

    /// Whether a trigger learns from the group's work.
    pub fn learns(&self) -> bool {
        self.lag.iter().any(|(_, m)| m.learns())
    }

    /// KEDA's activity: any lag trigger active; a ScaledObject with CPU triggers alone is
    /// always active (`pkg/scaling/scale_handler.go`, `getScaledObjectState`: "If all the
    /// triggers are only cpu/memory, we enforce the IsActive"), and CPU triggers do not count
    /// otherwise (their GetMetricsAndActivity is skipped, having no external metric).
    pub fn is_active(&self, lag: f64) -> bool {
        self.lag.is_empty() || self.lag.iter().any(|(_, m)| m.is_active(lag))
    }

    /// Each trigger's proposal at `t`.
    pub fn proposals(&self, t: u64, lag: f64, workload: &Workload) -> Vec<Proposal> {
        let Workload {
            current,
            ready,
            bounds,
            last_scale,
            utilization,
        } = *workload;
        let mut proposals: Vec<Proposal> = self
            .lag
            .iter()
            .map(|(metric_type, metric)| {
                let reading = metric.read(t, lag, current, bounds, last_scale);
                Some(hpa::desired(
                    *metric_type,
                    reading.metric,
                    reading.target,
                    current,
                    ready,
                ))
            })
            .collect();
        let starting = current.saturating_sub(ready);
        for &target in &self.cpu {
            proposals.push(
                utilization.and_then(|u| {
                    replica_calculator::resource(u, target, current, ready, starting)
                }),
            );
        }
        proposals
    }
}

/// The ready consumers' CPU utilization: `idle` percent plus 100 × what they processed ÷ what
/// they could have processed, over the last [`CPU_WINDOW_SECS`].
pub struct Utilization {
    idle: f64,
    /// Per second: messages processed, and what the ready replicas could have processed.
    window: VecDeque<(f64, f64)>,
}

impl Utilization {
    pub fn new(idle: f64) -> Utilization {
        Utilization {
            idle,
            window: VecDeque::with_capacity(CPU_WINDOW_SECS + 1),
        }
    }

    /// One second in which `ready` replicas of `per_replica` messages per second processed
    /// `processed` messages.
    pub fn second(&mut self, processed: f64, ready: u32, per_replica: f64) {
        self.window
            .push_back((processed, f64::from(ready) * per_replica));
        if self.window.len() > CPU_WINDOW_SECS {
            self.window.pop_front();
        }
    }

    /// The average over the window, or `None` when no replica was ready in it.
    pub fn percent(&self) -> Option<f64> {
        let processed: f64 = self.window.iter().map(|&(p, _)| p).sum();
        let capacity: f64 = self.window.iter().map(|&(_, c)| c).sum();
        (capacity > 0.0).then(|| self.idle + 100.0 * processed / capacity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utilization_is_the_idle_floor_plus_the_work_done() {
        let mut cpu = Utilization::new(10.0);
        assert_eq!(cpu.percent(), None);
        cpu.second(0.0, 0, 100.0);
        assert_eq!(cpu.percent(), None, "no ready replica, no metric");
        // 4 replicas at 100/s processing 200/s: half busy.
        for _ in 0..CPU_WINDOW_SECS {
            cpu.second(200.0, 4, 100.0);
        }
        assert_eq!(cpu.percent(), Some(60.0));
        // A rebalance pause: nothing processed for 3 of the 15 s.
        for _ in 0..3 {
            cpu.second(0.0, 4, 100.0);
        }
        assert_eq!(cpu.percent(), Some(10.0 + 50.0 * 12.0 / 15.0));
    }
}
