//! The parts the policy function (`trigger::decide`) is made of, beyond the transform: the
//! partition cap of `replicaAware` log2 triggers (here), `strategy: step` ([`step`]), rates
//! and time lag ([`rate`]) and `metric: throughput` ([`throughput`]); and the background
//! sampling of lag and offsets that step and throughput decide from ([`sampler`]). A plain
//! trigger's metric is its transformed lag, decided in `trigger::decide` alone.

pub mod rate;
pub mod replica_rate;
pub mod sampler;
pub mod step;
pub mod throughput;

/// The largest log2 metric that keeps an HPA with `metricType: Value` at or below `partitions`
/// replicas: it computes ceil(current × metric / target), so the metric is capped at
/// target × partitions / current, rounded down to KEDA's precision of 0.001 so that rounding
/// can never add a replica. At or above `partitions` replicas the metric is then at most the
/// target: the HPA does not scale out. With no replicas (KEDA's activation is in charge) the
/// metric is left alone.
pub fn partition_cap(metric: f64, target: f64, current: u32, partitions: u64) -> f64 {
    if current == 0 {
        return metric;
    }
    let cap = (target * partitions as f64 / f64::from(current) * 1000.0).floor() / 1000.0;
    metric.min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hpa_never_lands_above_the_partitions() {
        let target = 7.0 * 20_000f64.log2(); // ≈ 100.014
        let huge = 7.0 * 1e9f64.log2(); // ≈ 209
        // 8 partitions, 8 replicas: at most the target, whatever the lag.
        assert!(partition_cap(huge, target, 8, 8) <= target);
        // 4 replicas: may still double, to 8 and no further.
        let capped = partition_cap(huge, target, 4, 8);
        assert!(capped > target);
        for current in 1..=16u32 {
            let metric = partition_cap(huge, target, current, 8);
            let desired = (f64::from(current) * metric / target).ceil();
            assert!(desired <= 8.0, "{current} replicas → {desired}");
        }
        // Below the cap nothing changes; with no replicas nothing is capped.
        assert_eq!(partition_cap(50.0, target, 4, 8), 50.0);
        assert_eq!(partition_cap(huge, target, 0, 8), huge);
    }
}

#[cfg(test)]
mod sequence_tests;
