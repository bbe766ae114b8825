//! The Kafka trigger keys (named and defaulted as in KEDA's Kafka scaler), each with its row
//! of the README's Kafka table: this table is the one owner of that text, and
//! tests/e2e/readme.rs checks that the README has it verbatim.

use crate::source::keys::{self as source_keys, Key, names};

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

/// Every Kafka key, in the README's order: its name, when it is required, its default and
/// what it means (Markdown, as the README's cells).
pub const TABLE: [Key; 11] = [
    Key {
        name: BOOTSTRAP_SERVERS,
        required: "unless `cluster`",
        default: "",
        meaning: "`host:port,host:port` inline (no credentials: use a profile for SASL)",
    },
    Key {
        name: BOOTSTRAP_SERVERS_FROM_ENV,
        required: "",
        default: "",
        meaning: "same as `bootstrapServers`, filled by KEDA from the workload's environment variable",
    },
    Key {
        name: CONSUMER_GROUP,
        required: "yes",
        default: "",
        meaning: "the consumer group whose lag is measured",
    },
    Key {
        name: TOPIC,
        required: "",
        default: "all topics the group committed offsets for",
        meaning: "the topic to measure",
    },
    Key {
        name: OFFSET_RESET_POLICY,
        required: "",
        default: "`latest`",
        meaning: "what a partition with no committed offset counts as: `latest` → 1, `earliest` → **the messages still in the log (high − low watermark), not those deleted by retention**",
    },
    Key {
        name: ALLOW_IDLE_CONSUMERS,
        required: "",
        default: "`false`",
        meaning: "`false`: lag is capped at partitions × lagThreshold, so replicas never exceed partitions; **the cap applies to the raw lag, before any transform**; activation reads the lag before the cap, as KEDA's",
    },
    Key {
        name: EXCLUDE_PERSISTENT_LAG,
        required: "",
        default: "`false`",
        meaning: "a partition whose committed offset did not move since the previous refresh counts 0 in the metric; **also partitions that have no commit**; activation still counts them, as KEDA's, so a workload at zero wakes on its backlog",
    },
    Key {
        name: SCALE_TO_ZERO_ON_INVALID_OFFSET,
        required: "",
        default: "`false`",
        meaning: "a partition with no committed offset counts 0",
    },
    Key {
        name: LIMIT_TO_PARTITIONS_WITH_LAG,
        required: "",
        default: "`false`",
        meaning: "the cap counts only partitions with lag; **an error together with `allowIdleConsumers: true`**",
    },
    Key {
        name: PARTITION_LIMITATION,
        required: "",
        default: "all",
        meaning: "only these partitions count: `1,2,10-20`; **needs `topic`; a partition the topic lacks is NotFound**",
    },
    Key {
        name: LAG_AGGREGATE,
        required: "",
        default: "`sum`",
        meaning: "**new:** `sum` of partition lags, or `max`, the most-lagging partition",
    },
];

/// The names of [`TABLE`]'s keys, in its order.
pub const NAMES: [&str; TABLE.len()] = names(&TABLE);

/// [`TABLE`] as the README's "Trigger metadata" section has it: header and rows.
pub fn readme_table() -> String {
    source_keys::readme_table(&TABLE)
}
