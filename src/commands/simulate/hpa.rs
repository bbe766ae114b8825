//! The Kubernetes HPA's algorithm for one external metric (see scaling-math in the project's
//! reference and the README): desired replicas from the metric with the 10 % tolerance, then
//! the stabilization windows, then the scale-up and scale-down policies over their periods,
//! then the min/max clamp. Defaults are the HPA's.
//!
//! Sources (`kubernetes/kubernetes`, `pkg/controller/podautoscaler`): [`desired`] is
//! `replica_calculator.go`'s `GetExternalMetricReplicas` (`Value`, through
//! `getUsageRatioReplicaCount`) and `GetExternalPerPodMetricReplicas` (`AverageValue`);
//! [`Hpa::sync`] is `horizontal.go`'s `normalizeDesiredReplicasWithBehaviors`: the windows of
//! `stabilizeRecommendationWithBehaviors`, then `convertDesiredReplicasWithBehaviorRate` with
//! `calculateScaleUpLimitWithScalingRules` and `calculateScaleDownLimitWithBehaviors`. Several
//! metrics and CPU are in `replica_calculator.rs`.

use std::collections::VecDeque;

use serde::Deserialize;

use super::config::MetricType;

/// The HPA's tolerance: no change while |1 − ratio| ≤ 0.1.
pub const TOLERANCE: f64 = 0.1;

/// How often the HPA syncs, in seconds.
pub const SYNC_SECS: u64 = 15;

/// `behavior`, as in a ScaledObject's `advanced.horizontalPodAutoscalerConfig`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Behavior {
    #[serde(default)]
    pub scale_up: Option<Rules>,
    #[serde(default)]
    pub scale_down: Option<Rules>,
}

/// One direction's rules; unset fields take the HPA's defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rules {
    pub stabilization_window_seconds: Option<u64>,
    pub select_policy: Option<SelectPolicy>,
    pub policies: Option<Vec<ScalingPolicy>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SelectPolicy {
    Max,
    Min,
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScalingPolicy {
    #[serde(rename = "type")]
    pub kind: PolicyKind,
    pub value: u32,
    pub period_seconds: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PolicyKind {
    Pods,
    Percent,
}

/// Rules with the defaults filled in.
#[derive(Debug, Clone)]
struct Resolved {
    window: u64,
    select: SelectPolicy,
    policies: Vec<ScalingPolicy>,
}

impl Resolved {
    fn new(rules: Option<&Rules>, up: bool) -> Resolved {
        let rules = rules.cloned().unwrap_or_default();
        let policy = |kind, value| ScalingPolicy {
            kind,
            value,
            period_seconds: 15,
        };
        let default_policies = if up {
            vec![
                policy(PolicyKind::Percent, 100),
                policy(PolicyKind::Pods, 4),
            ]
        } else {
            vec![policy(PolicyKind::Percent, 100)]
        };
        Resolved {
            window: rules
                .stabilization_window_seconds
                .unwrap_or(if up { 0 } else { 300 }),
            select: rules.select_policy.unwrap_or(SelectPolicy::Max),
            policies: rules.policies.unwrap_or(default_policies),
        }
    }
}

/// Desired replicas for one external metric, before behaviour: `AverageValue` compares the
/// metric with target × current replicas and asks for ceil(metric / target); `Value`
/// compares metric / target and asks for ceil(ratio × ready pods). Within the tolerance the
/// answer is `current`.
pub fn desired(metric_type: MetricType, metric: f64, target: f64, current: u32, ready: u32) -> u32 {
    let ratio = match metric_type {
        MetricType::AverageValue => metric / (target * f64::from(current.max(1))),
        MetricType::Value => metric / target,
    };
    if (1.0 - ratio).abs() <= TOLERANCE {
        return current;
    }
    let desired = match metric_type {
        MetricType::AverageValue => (metric / target).ceil(),
        MetricType::Value if current == 0 => ratio.ceil(),
        MetricType::Value => (ratio * f64::from(ready)).ceil(),
    };
    desired.clamp(0.0, f64::from(u32::MAX)) as u32
}

/// One HPA: its behaviour, bounds and memory (recommendations, scale events).
pub struct Hpa {
    up: Resolved,
    down: Resolved,
    min: u32,
    max: u32,
    recommendations: VecDeque<(u64, u32)>,
    events: VecDeque<(u64, i64)>,
}

impl Hpa {
    /// `min` is the HPA's minReplicas (KEDA sets max(minReplicaCount, 1)).
    pub fn new(behavior: &Behavior, min: u32, max: u32) -> Hpa {
        Hpa {
            up: Resolved::new(behavior.scale_up.as_ref(), true),
            down: Resolved::new(behavior.scale_down.as_ref(), false),
            min,
            max,
            recommendations: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The replicas the HPA sets at `now`, from `current` and the metric's `desired`.
    pub fn sync(&mut self, now: u64, current: u32, desired: u32) -> u32 {
        let stabilized = self.stabilize(now, current, desired);
        let limited = self.rate_limit(now, current, stabilized);
        let next = limited.clamp(self.min, self.max);
        if next != current {
            self.events
                .push_back((now, i64::from(next) - i64::from(current)));
        }
        next
    }

    /// Up: the smallest recommendation in the up window; down: the largest in the down
    /// window; the current count moves only as far as both allow.
    fn stabilize(&mut self, now: u64, current: u32, desired: u32) -> u32 {
        let keep = self.up.window.max(self.down.window);
        while self
            .recommendations
            .front()
            .is_some_and(|&(t, _)| now - t > keep)
        {
            self.recommendations.pop_front();
        }
        let (mut up, mut down) = (desired, desired);
        for &(t, r) in &self.recommendations {
            if now - t < self.up.window {
                up = up.min(r);
            }
            if now - t < self.down.window {
                down = down.max(r);
            }
        }
        self.recommendations.push_back((now, desired));
        current.max(up).min(down)
    }

    fn rate_limit(&mut self, now: u64, current: u32, desired: u32) -> u32 {
        let longest = self
            .up
            .policies
            .iter()
            .chain(&self.down.policies)
            .map(|p| p.period_seconds)
            .max()
            .unwrap_or(0);
        while self.events.front().is_some_and(|&(t, _)| now - t > longest) {
            self.events.pop_front();
        }
        let changed_within = |period: u64, up: bool| -> i64 {
            self.events
                .iter()
                .filter(|&&(t, change)| now - t < period && (change > 0) == up)
                .map(|&(_, change)| change.abs())
                .sum()
        };
        let current_i = i64::from(current);
        if desired > current {
            if self.up.select == SelectPolicy::Disabled {
                return current;
            }
            let limits = self.up.policies.iter().map(|p| {
                let start = current_i - changed_within(p.period_seconds, true);
                match p.kind {
                    PolicyKind::Pods => start + i64::from(p.value),
                    PolicyKind::Percent => {
                        (start as f64 * (1.0 + f64::from(p.value) / 100.0)).ceil() as i64
                    }
                }
            });
            let limit = match self.up.select {
                SelectPolicy::Min => limits.min(),
                _ => limits.max(),
            }
            .unwrap_or(current_i)
            .max(current_i);
            desired.min(limit.min(i64::from(u32::MAX)) as u32)
        } else if desired < current {
            if self.down.select == SelectPolicy::Disabled {
                return current;
            }
            let limits = self.down.policies.iter().map(|p| {
                let start = current_i + changed_within(p.period_seconds, false);
                match p.kind {
                    PolicyKind::Pods => start - i64::from(p.value),
                    PolicyKind::Percent => {
                        (start as f64 * (1.0 - f64::from(p.value) / 100.0)) as i64
                    }
                }
            });
            let limit = match self.down.select {
                SelectPolicy::Min => limits.max(),
                _ => limits.min(),
            }
            .unwrap_or(current_i)
            .min(current_i);
            desired.max(limit.max(0) as u32)
        } else {
            desired
        }
    }
}

#[cfg(test)]
#[path = "hpa_tests.rs"]
mod tests;
