//! The trigger metadata keys every source shares: `source`, `cluster`, the threshold,
//! transform and metric-name keys, and the keys of replica awareness, throughput and the step
//! strategy. Each source owns its own keys and their README rows (`source::rabbitmq::keys`,
//! `source::kafka::keys`); the list of every key lagscale knows, which the reader is given to
//! tell an unknown key, is assembled from all of them in `trigger::KNOWN_KEYS`.

pub const SOURCE: &str = "source";
pub const CLUSTER: &str = "cluster";
pub const LAG_THRESHOLD: &str = "lagThreshold";
pub const VALUE: &str = "value";
pub const ACTIVATION_LAG_THRESHOLD: &str = "activationLagThreshold";
pub const ACTIVATION_VALUE: &str = "activationValue";
pub const TRANSFORM: &str = "transform";
pub const LOG2_MULTIPLIER: &str = "log2Multiplier";
pub const METRIC_NAME: &str = "metricName";

// Replica awareness and the step strategy (names after Apache Druid's lagBased autoscaler)
pub const REPLICA_AWARE: &str = "replicaAware";
pub const METRIC: &str = "metric";
pub const REPLICA_THROUGHPUT: &str = "replicaThroughput";
pub const REPLICA_THROUGHPUT_INITIAL: &str = "replicaThroughputInitial";
pub const DRAIN_SECONDS: &str = "drainSeconds";
pub const RATE_WINDOW_SECS: &str = "rateWindowSecs";
pub const STRATEGY: &str = "strategy";
pub const SCALE_OUT_THRESHOLD: &str = "scaleOutThreshold";
pub const SCALE_IN_THRESHOLD: &str = "scaleInThreshold";
pub const TRIGGER_SCALE_OUT_FRACTION: &str = "triggerScaleOutFraction";
pub const TRIGGER_SCALE_IN_FRACTION: &str = "triggerScaleInFraction";
pub const LAG_COLLECTION_INTERVAL_SECS: &str = "lagCollectionIntervalSecs";
pub const LAG_COLLECTION_RANGE_SECS: &str = "lagCollectionRangeSecs";
pub const SCALE_OUT_STEP: &str = "scaleOutStep";
pub const SCALE_IN_STEP: &str = "scaleInStep";
pub const MIN_SCALE_ACTION_INTERVAL_SECS: &str = "minScaleActionIntervalSecs";

/// The keys of every trigger, whatever its source and strategy.
pub const COMMON: [&str; 9] = [
    SOURCE,
    CLUSTER,
    LAG_THRESHOLD,
    VALUE,
    ACTIVATION_LAG_THRESHOLD,
    ACTIVATION_VALUE,
    TRANSFORM,
    LOG2_MULTIPLIER,
    METRIC_NAME,
];

/// The keys that choose what is served (replica awareness, the strategy, the metric) and the
/// keys of `metric: throughput`.
pub const POLICY: [&str; 7] = [
    REPLICA_AWARE,
    STRATEGY,
    METRIC,
    REPLICA_THROUGHPUT,
    REPLICA_THROUGHPUT_INITIAL,
    DRAIN_SECONDS,
    RATE_WINDOW_SECS,
];

/// The keys that only `strategy: step` reads.
pub const STEP: [&str; 9] = [
    SCALE_OUT_THRESHOLD,
    SCALE_IN_THRESHOLD,
    TRIGGER_SCALE_OUT_FRACTION,
    TRIGGER_SCALE_IN_FRACTION,
    LAG_COLLECTION_INTERVAL_SECS,
    LAG_COLLECTION_RANGE_SECS,
    SCALE_OUT_STEP,
    SCALE_IN_STEP,
    MIN_SCALE_ACTION_INTERVAL_SECS,
];

/// `a` then `b`; `N` must be their total length (checked when compiling). For lists of keys
/// assembled in constants.
pub const fn concat<const A: usize, const B: usize, const N: usize>(
    a: [&'static str; A],
    b: [&'static str; B],
) -> [&'static str; N] {
    assert!(A + B == N, "N must be A + B");
    let mut all = [""; N];
    let mut i = 0;
    while i < A {
        all[i] = a[i];
        i += 1;
    }
    while i < N {
        all[i] = b[i - A];
        i += 1;
    }
    all
}
