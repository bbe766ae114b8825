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

/// All of the above.
pub const ALL: &[&str] = &[
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
];
