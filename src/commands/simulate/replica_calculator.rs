//! The HPA's desired count over several metrics, and for a CPU (resource) metric, as
//! Kubernetes computes them (`kubernetes/kubernetes`, `pkg/controller/podautoscaler`):
//! - `horizontal.go`, `computeReplicasForMetrics`: each metric proposes a count, the HPA takes
//!   the highest valid one; when every metric is invalid, or some are and the highest valid
//!   proposal is below the current count, the sync fails and nothing is scaled;
//! - `replica_calculator.go`, `GetResourceReplicas`: the utilization ratio over the pods that
//!   have metrics, the 10 % tolerance, and on a scale-up the pods that are not ready yet
//!   (pending, or starting) counted at 0 % before the count is taken again over all of them.
//!
//! External metrics (the lag triggers) go through [`super::hpa::desired`].

use super::hpa::TOLERANCE;

/// One metric's proposal at a sync: a count, or none (the metric is invalid: for CPU, no pod
/// has metrics yet).
pub type Proposal = Option<u32>;

/// The count the HPA moves towards, or `None` when it does not scale at this sync
/// (`computeReplicasForMetrics`).
pub fn over_metrics(proposals: &[Proposal], current: u32) -> Option<u32> {
    let valid = proposals.iter().flatten().copied().max();
    let invalid = proposals.iter().filter(|p| p.is_none()).count();
    match valid {
        None => None,
        Some(highest) if invalid > 0 && highest < current => None,
        Some(highest) => Some(highest),
    }
}

/// A CPU trigger's proposal: `ready` pods at `utilization` percent of their request each
/// (the model's pods are alike), `starting` pods without metrics yet, against
/// `target` percent (`GetResourceReplicas`, with no pod missing its metrics).
pub fn resource(
    utilization: f64,
    target: f64,
    current: u32,
    ready: u32,
    starting: u32,
) -> Proposal {
    if ready == 0 {
        // "did not receive metrics for any ready pods": an invalid metric.
        return None;
    }
    let usage_ratio = utilization / target;
    let scale_up_with_unready = starting > 0 && usage_ratio > 1.0;
    if !scale_up_with_unready {
        if (1.0 - usage_ratio).abs() <= TOLERANCE {
            return Some(current);
        }
        return Some(ceil(usage_ratio * f64::from(ready)));
    }
    // On a scale-up the starting pods count at 0 %: the ratio over every pod.
    let counted = ready + starting;
    let new_ratio = utilization * f64::from(ready) / (target * f64::from(counted));
    if (1.0 - new_ratio).abs() <= TOLERANCE || new_ratio < 1.0 {
        // Too small a change, or the direction would flip.
        return Some(current);
    }
    let replicas = ceil(new_ratio * f64::from(counted));
    Some(if replicas < current {
        current
    } else {
        replicas
    })
}

fn ceil(x: f64) -> u32 {
    x.ceil().clamp(0.0, f64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::simulate::config::MetricType;
    use crate::commands::simulate::hpa::desired;

    /// Multi-metric cases: the highest proposal wins, each metric with its own tolerance, and
    /// an invalid metric blocks a scale-down but not a scale-up.
    #[test]
    fn the_hpa_takes_the_highest_valid_proposal() {
        // (proposals, current, what the HPA moves to)
        let table: [(&[Proposal], u32, Option<u32>); 7] = [
            // Max of two.
            (&[Some(6), Some(9)], 5, Some(9)),
            (&[Some(3), Some(2)], 5, Some(3)),
            // One missing: up is allowed, down is not, and all missing is no sync.
            (&[None, Some(9)], 5, Some(9)),
            (&[None, Some(3)], 5, None),
            (&[None, Some(5)], 5, Some(5)),
            (&[None, None], 5, None),
            (&[], 5, None),
        ];
        for (proposals, current, expected) in table {
            assert_eq!(over_metrics(proposals, current), expected, "{proposals:?}");
        }

        // Tolerance per metric: the lag metric within 10 % keeps 10, the CPU at 125 % of
        // its 70 % target asks for more; the highest wins.
        let lag = desired(MetricType::Value, 105.0, 100.0, 10, 10);
        let cpu = resource(87.5, 70.0, 10, 10, 0);
        assert_eq!((lag, cpu), (10, Some(13)));
        assert_eq!(over_metrics(&[Some(lag), cpu], 10), Some(13));
        // And the other way round: CPU within tolerance (73.5 / 70 = 1.05), lag at 1.3.
        let lag = desired(MetricType::Value, 130.0, 100.0, 10, 10);
        let cpu = resource(73.5, 70.0, 10, 10, 0);
        assert_eq!((lag, cpu), (13, Some(10)));
        assert_eq!(over_metrics(&[Some(lag), cpu], 10), Some(13));
    }

    /// `GetResourceReplicas` with pods not ready yet.
    #[test]
    fn cpu_counts_starting_pods_at_zero_on_a_scale_up() {
        // No pod starting: ceil(ratio × ready).
        assert_eq!(resource(140.0, 70.0, 4, 4, 0), Some(8));
        assert_eq!(resource(35.0, 70.0, 4, 4, 0), Some(2));
        // Within the tolerance.
        assert_eq!(resource(75.0, 70.0, 4, 4, 0), Some(4));
        // 4 ready at 140 %, 4 starting: 4 × 140 / (8 × 70) = 1.0: no change.
        assert_eq!(resource(140.0, 70.0, 8, 4, 4), Some(8));
        // 4 ready at 210 %, 2 starting: 4 × 210 / (6 × 70) = 2.0 → 12.
        assert_eq!(resource(210.0, 70.0, 6, 4, 2), Some(12));
        // 2 ready at 91 %, 6 starting: 2 × 91 / (8 × 70) = 0.325: the direction would flip.
        assert_eq!(resource(91.0, 70.0, 8, 2, 6), Some(8));
        // A scale-down ignores starting pods: 4 ready at 35 % → 2.
        assert_eq!(resource(35.0, 70.0, 6, 4, 2), Some(2));
        // No ready pod: invalid.
        assert_eq!(resource(50.0, 70.0, 3, 0, 3), None);
    }
}
