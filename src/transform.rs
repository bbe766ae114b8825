//! Lag → served metric, and lag threshold → metric target.
//!
//! `none` serves the lag itself. `log2` serves clamp_min(k·log2(lag), 0) (lag 0 → 0) against a
//! target of k·log2(lagThreshold), the smooth-scaling policy for `metricType: Value`
//! (see README "Choosing a transform"). A [`Transform`] that exists is valid: k is finite and > 0.

/// How lag becomes the metric served to KEDA.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transform {
    /// Serve lag as is.
    None,
    /// Serve k·log2(lag), never below 0.
    Log2 { multiplier: Multiplier },
}

/// The log2 multiplier k: finite and strictly positive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Multiplier(f64);

impl Multiplier {
    /// The default k (1): the metric is log2(lag) itself.
    pub const ONE: Multiplier = Multiplier(1.0);

    /// Accepts k when it is finite and > 0.
    pub fn new(k: f64) -> Option<Multiplier> {
        (k.is_finite() && k > 0.0).then_some(Multiplier(k))
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl Transform {
    /// The metric for a lag, in the transform's units. Never negative, NaN or infinite.
    pub fn metric(self, lag: u64) -> f64 {
        match self {
            Transform::None => lag as f64,
            Transform::Log2 { multiplier } => {
                if lag == 0 {
                    0.0
                } else {
                    (multiplier.get() * (lag as f64).log2()).max(0.0)
                }
            }
        }
    }

    /// The target for a lag threshold (messages per replica), in the metric's units.
    ///
    /// The trigger parser guarantees threshold > 0, and > 1 for log2, so this is > 0.
    pub fn target(self, lag_threshold: f64) -> f64 {
        match self {
            Transform::None => lag_threshold,
            Transform::Log2 { multiplier } => multiplier.get() * lag_threshold.log2(),
        }
    }
}

/// The int64 copy KEDA before 2.17 reads: rounded, and for targets never below 1.
pub fn round_metric(value: f64) -> i64 {
    value.round() as i64
}

/// A target rounded for the deprecated int field: at least 1, since a target of 0 is invalid.
pub fn round_target(value: f64) -> i64 {
    round_metric(value).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log2(k: f64) -> Transform {
        Transform::Log2 {
            multiplier: Multiplier::new(k).unwrap(),
        }
    }

    /// The log2 vectors of scaling-math.md, k = 7, to 4 decimals.
    #[test]
    fn log2_vectors_k7() {
        let table = [
            (0, 0.0),
            (1, 0.0),
            (2, 7.0),
            (1_000, 69.7605),
            (5_000, 86.0140),
            (20_000, 100.0140),
            (300_000, 127.3622),
        ];
        for (lag, want) in table {
            let got = log2(7.0).metric(lag);
            assert!(
                (got - want).abs() < 5e-5,
                "lag {lag}: got {got}, want {want}"
            );
        }
    }

    #[test]
    fn none_serves_lag_and_threshold() {
        assert_eq!(Transform::None.metric(0), 0.0);
        assert_eq!(Transform::None.metric(123_456), 123_456.0);
        assert_eq!(Transform::None.target(10.0), 10.0);
    }

    #[test]
    fn log2_target_is_k_log2_threshold() {
        assert!((log2(7.0).target(20_000.0) - 100.0140).abs() < 5e-5);
        assert_eq!(log2(1.0).target(1024.0), 10.0);
    }

    /// HPA `Value`: 50 ready replicas, lag 300,000, acceptable lag 5,000, k = 7 → 75.
    #[test]
    fn value_metric_type_vector() {
        let t = log2(7.0);
        let ratio = t.metric(300_000) / t.target(5_000.0);
        assert!((ratio - 1.48072).abs() < 1e-5, "ratio {ratio}");
        assert_eq!((ratio * 50.0).ceil(), 75.0);
    }

    #[test]
    fn metric_is_never_negative_or_nan() {
        for k in [0.001, 1.0, 7.0, 1e6] {
            for lag in [0, 1, 2, 3, u64::MAX] {
                let m = log2(k).metric(lag);
                assert!(m.is_finite() && m >= 0.0, "k {k} lag {lag}: {m}");
            }
        }
    }

    #[test]
    fn multiplier_rejects_non_positive_and_non_finite() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Multiplier::new(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn rounding_for_old_keda() {
        assert_eq!(round_metric(86.014), 86);
        assert_eq!(round_metric(0.4), 0);
        assert_eq!(round_target(0.4), 1);
        assert_eq!(round_target(100.014), 100);
    }
}
