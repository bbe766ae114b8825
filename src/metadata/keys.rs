//! Every trigger metadata key lagscale reads. A key not listed here (nor one of KEDA's own) is
//! an unknown key. The README's metadata table lists the same keys.

pub const SOURCE: &str = "source";
pub const CLUSTER: &str = "cluster";
pub const LAG_THRESHOLD: &str = "lagThreshold";
pub const VALUE: &str = "value";
pub const ACTIVATION_LAG_THRESHOLD: &str = "activationLagThreshold";
pub const ACTIVATION_VALUE: &str = "activationValue";
pub const TRANSFORM: &str = "transform";
pub const LOG2_MULTIPLIER: &str = "log2Multiplier";
pub const METRIC_NAME: &str = "metricName";

// RabbitMQ
pub const HOST: &str = "host";
pub const HOST_FROM_ENV: &str = "hostFromEnv";
pub const QUEUE_NAME: &str = "queueName";
pub const VHOST_NAME: &str = "vhostName";

// Kafka
pub const BOOTSTRAP_SERVERS: &str = "bootstrapServers";
pub const BOOTSTRAP_SERVERS_FROM_ENV: &str = "bootstrapServersFromEnv";
pub const CONSUMER_GROUP: &str = "consumerGroup";
pub const TOPIC: &str = "topic";
pub const OFFSET_RESET_POLICY: &str = "offsetResetPolicy";
pub const ALLOW_IDLE_CONSUMERS: &str = "allowIdleConsumers";
pub const EXCLUDE_PERSISTENT_LAG: &str = "excludePersistentLag";
pub const SCALE_TO_ZERO_ON_INVALID_OFFSET: &str = "scaleToZeroOnInvalidOffset";
pub const LIMIT_TO_PARTITIONS_WITH_LAG: &str = "limitToPartitionsWithLag";
pub const PARTITION_LIMITATION: &str = "partitionLimitation";
pub const LAG_AGGREGATE: &str = "lagAggregate";

// Replica awareness and the step strategy (names after Apache Druid's lagBased autoscaler)
pub const REPLICA_AWARE: &str = "replicaAware";
pub const METRIC: &str = "metric";
pub const REPLICA_THROUGHPUT: &str = "replicaThroughput";
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

/// Every key but the step keys.
const BASE: [&str; 30] = [
    SOURCE,
    CLUSTER,
    LAG_THRESHOLD,
    VALUE,
    ACTIVATION_LAG_THRESHOLD,
    ACTIVATION_VALUE,
    TRANSFORM,
    LOG2_MULTIPLIER,
    METRIC_NAME,
    HOST,
    HOST_FROM_ENV,
    QUEUE_NAME,
    VHOST_NAME,
    BOOTSTRAP_SERVERS,
    BOOTSTRAP_SERVERS_FROM_ENV,
    CONSUMER_GROUP,
    TOPIC,
    OFFSET_RESET_POLICY,
    ALLOW_IDLE_CONSUMERS,
    EXCLUDE_PERSISTENT_LAG,
    SCALE_TO_ZERO_ON_INVALID_OFFSET,
    LIMIT_TO_PARTITIONS_WITH_LAG,
    PARTITION_LIMITATION,
    LAG_AGGREGATE,
    REPLICA_AWARE,
    STRATEGY,
    METRIC,
    REPLICA_THROUGHPUT,
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

/// All of the above.
pub const ALL: [&str; 39] = concat(BASE, STEP);

/// `a` then `b`; `N` must be their total length (checked when compiling).
const fn concat<const A: usize, const B: usize, const N: usize>(
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
