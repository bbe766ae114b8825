//! The Kafka trigger keys (named and defaulted as in KEDA's Kafka scaler, `kafka_scaler.go`,
//! struct `kafkaMetadata`), each with its row of the README's Kafka tables: [`TABLE`], the
//! keys lagscale honours, and [`KEDA_TABLE`], the rest of KEDA's keys (its client's settings
//! and credentials), accepted and ignored or refused with what to do instead. These tables are
//! the one owner of that text, and tests/e2e/readme.rs checks that the README has it verbatim.

use crate::metadata::keys::concat;
use crate::source::keys::{self as source_keys, Key, names};

pub const BOOTSTRAP_SERVERS: &str = "bootstrapServers";
pub const BOOTSTRAP_SERVERS_FROM_ENV: &str = "bootstrapServersFromEnv";
pub const CONSUMER_GROUP: &str = "consumerGroup";
pub const CONSUMER_GROUP_FROM_ENV: &str = "consumerGroupFromEnv";
pub const TOPIC: &str = "topic";
pub const TOPIC_FROM_ENV: &str = "topicFromEnv";
pub const OFFSET_RESET_POLICY: &str = "offsetResetPolicy";
pub const ALLOW_IDLE_CONSUMERS: &str = "allowIdleConsumers";
pub const EXCLUDE_PERSISTENT_LAG: &str = "excludePersistentLag";
pub const SCALE_TO_ZERO_ON_INVALID_OFFSET: &str = "scaleToZeroOnInvalidOffset";
pub const LIMIT_TO_PARTITIONS_WITH_LAG: &str = "limitToPartitionsWithLag";
pub const ENSURE_EVEN_DISTRIBUTION_OF_PARTITIONS: &str = "ensureEvenDistributionOfPartitions";
pub const PARTITION_LIMITATION: &str = "partitionLimitation";
pub const LAG_AGGREGATE: &str = "lagAggregate";

/// Every Kafka key, in the README's order: its name, when it is required, its default and
/// what it means (Markdown, as the README's cells).
pub const TABLE: [Key; 14] = [
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
        meaning: "same as `bootstrapServers`, filled by KEDA from the workload's environment variable; `bootstrapServers` wins when both are set",
    },
    Key {
        name: CONSUMER_GROUP,
        required: "unless `consumerGroupFromEnv`",
        default: "",
        meaning: "the consumer group whose lag is measured",
    },
    Key {
        name: CONSUMER_GROUP_FROM_ENV,
        required: "",
        default: "",
        meaning: "same as `consumerGroup`, filled by KEDA from the workload's environment variable; `consumerGroup` wins when both are set",
    },
    Key {
        name: TOPIC,
        required: "",
        default: "all topics the group committed offsets for",
        meaning: "the topic to measure",
    },
    Key {
        name: TOPIC_FROM_ENV,
        required: "",
        default: "",
        meaning: "same as `topic`, filled by KEDA from the workload's environment variable; `topic` wins when both are set",
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
        meaning: "`false`: lag is capped at partitions × lagThreshold, so replicas never exceed partitions; **the cap applies to the raw lag, before any transform**; **any lag over the cap is capped: KEDA compares lag ÷ lagThreshold in integers (`kafka_scaler.go`, `getTotalLag`), so on 3 partitions × 10 it serves 39 and the HPA asks for 4 replicas, where lagscale serves 30**; activation reads the lag before the cap, as KEDA's",
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
        meaning: "the cap counts only partitions with lag; needs `topic` (as KEDA); **an error together with `allowIdleConsumers: true`**",
    },
    Key {
        name: ENSURE_EVEN_DISTRIBUTION_OF_PARTITIONS,
        required: "",
        default: "`false`",
        meaning: "`true`: the lag is rounded up to f × lagThreshold, f the smallest divisor of the partitions counted with f × lagThreshold ≥ lag (all partitions if none), so replicas divide the partitions evenly: 12 partitions, lagThreshold 10, lag 35 → 40 (4 replicas of 3 partitions); a lag of 0 serves one lagThreshold, activation reads the lag itself; needs `topic`, and an error with `limitToPartitionsWithLag: true` (as KEDA's `getNextFactorThatBalancesConsumersToTopicPartitions` and `Validate`)",
    },
    Key {
        name: PARTITION_LIMITATION,
        required: "",
        default: "all",
        meaning: "only these partitions count: `1,2,10-20`; ignored without `topic`, as KEDA (still checked); **a partition the topic lacks is NotFound**",
    },
    Key {
        name: LAG_AGGREGATE,
        required: "",
        default: "`sum`",
        meaning: "**new:** `sum` of partition lags, or `max`, the most-lagging partition",
    },
];

/// A key of KEDA's Kafka scaler that lagscale does not honour: its client's settings and
/// credentials (which KEDA reads from TriggerAuthentication, and does not forward to an
/// external scaler), each with the values accepted and what to do instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KedaKey {
    pub name: &'static str,
    pub accepts: Accepts,
    /// Why it is ignored, or what to do instead (Markdown; the README's cell and the error's
    /// advice).
    pub instead: &'static str,
    /// Its value is a secret: an error never quotes it.
    pub secret: bool,
}

/// The values of a [`KedaKey`] that lagscale accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepts {
    /// Any value (checked as KEDA checks it, where KEDA does), then ignored.
    Ignored,
    /// These values, which ask nothing of lagscale (KEDA's defaults); any other is an error.
    Only(&'static [&'static str]),
    /// No value: any value is an error.
    Nothing,
}

const FALSE: &[&str] = &["false", "False", "FALSE", "f", "F", "0"];
const PROFILE: &str = "KEDA does not forward TriggerAuthentication to an external scaler, so use a `cluster` connection profile with";
const KERBEROS: &str = "lagscale does not support Kerberos (GSSAPI); use a `cluster` connection profile with another `sasl.mechanism`";
const MSK_IAM: &str = "lagscale does not support AWS MSK IAM; use a `cluster` connection profile with SASL/SCRAM or mutual TLS";

const fn refused(name: &'static str, instead: &'static str, secret: bool) -> KedaKey {
    KedaKey {
        name,
        accepts: Accepts::Nothing,
        instead,
        secret,
    }
}

/// Every other key of KEDA's Kafka scaler (main), in the README's order. With a `PROFILE`
/// the advice reads: "..., so use a `cluster` connection profile with <properties>".
pub const KEDA_TABLE: [KedaKey; 29] = [
    KedaKey {
        name: "version",
        accepts: Accepts::Ignored,
        instead: "ignored: lagscale's own client agrees each request's version with the broker (ApiVersions); still checked as KEDA's Sarama reads it (`2.8.1`, `0.10.2.0`)",
        secret: false,
    },
    KedaKey {
        name: "fullMetadata",
        accepts: Accepts::Ignored,
        instead: "ignored: lagscale's own client asks for the metadata of the topics it reads only; still `true` or `false`",
        secret: false,
    },
    KedaKey {
        name: "unsafeSsl",
        accepts: Accepts::Ignored,
        instead: "ignored: in an external trigger KEDA reads it for its gRPC channel to lagscale; for the brokers, a profile's `enable.ssl.certificate.verification: false`",
        secret: false,
    },
    KedaKey {
        name: "sasl",
        accepts: Accepts::Only(&["none"]),
        instead: "`security.protocol: sasl_ssl` (or `sasl_plaintext`), `sasl.mechanism` (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`), `sasl.username` and `sasl.password`; with `cluster`, a value that agrees with the profile (`plaintext` for `PLAIN`, `scram_sha256`, `scram_sha512`, `oauthbearer`) is accepted",
        secret: false,
    },
    KedaKey {
        name: "tls",
        accepts: Accepts::Only(&["disable"]),
        instead: "`security.protocol: ssl` (or `sasl_ssl`) and `ssl.ca.location`; with `cluster`, a value that agrees with the profile (`enable` for `ssl` and `sasl_ssl`) is accepted",
        secret: false,
    },
    KedaKey {
        name: "saslTokenProvider",
        accepts: Accepts::Only(&["bearer"]),
        instead: "`sasl.mechanism: OAUTHBEARER` and `sasl.oauthbearer.method: oidc` (AWS MSK IAM is not supported)",
        secret: false,
    },
    refused("username", "`sasl.username`", false),
    refused(
        "password",
        "`sasl.password` (or `sasl.password_file`)",
        true,
    ),
    refused("ca", "`ssl.ca.location` (or `ssl.ca.pem`)", false),
    refused(
        "cert",
        "`ssl.certificate.location` (or `ssl.certificate.pem`)",
        false,
    ),
    refused("key", "`ssl.key.location` (or `ssl.key.pem`)", true),
    refused(
        "keyPassword",
        "`ssl.key.location` naming a decrypted key (an encrypted key is not supported)",
        true,
    ),
    refused(
        "scopes",
        "`sasl.oauthbearer.method: oidc` and `sasl.oauthbearer.scope`",
        false,
    ),
    refused(
        "oauthTokenEndpointUri",
        "`sasl.oauthbearer.method: oidc` and `sasl.oauthbearer.token.endpoint.url`",
        false,
    ),
    refused(
        "oauthExtensions",
        "`sasl.oauthbearer.method: oidc` and `sasl.oauthbearer.extensions`",
        true,
    ),
    refused("keytab", KERBEROS, true),
    refused("realm", KERBEROS, false),
    refused("kerberosConfig", KERBEROS, false),
    refused("kerberosServiceName", KERBEROS, false),
    KedaKey {
        name: "kerberosDisableFAST",
        accepts: Accepts::Only(FALSE),
        instead: KERBEROS,
        secret: false,
    },
    refused("awsRegion", MSK_IAM, false),
    refused("identityOwner", MSK_IAM, false),
    refused("awsRoleArn", MSK_IAM, false),
    refused("awsAccessKeyID", MSK_IAM, false),
    refused("awsAccessKeyId", MSK_IAM, false),
    refused("awsSecretAccessKey", MSK_IAM, true),
    refused("awsSessionToken", MSK_IAM, true),
    refused("awsAccessKeyIDFromEnv", MSK_IAM, false),
    refused("awsSecretAccessKeyFromEnv", MSK_IAM, true),
];

impl KedaKey {
    /// What to do instead of this key, as a sentence: the profile's properties, or why not.
    pub fn advice(&self) -> String {
        if self.instead.starts_with('`') {
            format!("{PROFILE} {}", self.instead)
        } else {
            self.instead.to_owned()
        }
    }

    /// Its row of the README's table of KEDA's other Kafka keys.
    pub fn readme_row(&self) -> String {
        let accepted = match self.accepts {
            Accepts::Ignored => "any".to_owned(),
            Accepts::Only(values) => format!("`{}`", values[0]),
            Accepts::Nothing => "no value".to_owned(),
        };
        // Shorter than the error's advice: the README says once why a profile is needed.
        let instead = if self.instead.starts_with('`') {
            format!("use a profile's {}", self.instead)
        } else {
            self.instead.to_owned()
        };
        let what = match self.accepts {
            Accepts::Ignored => self.instead.to_owned(),
            Accepts::Only(_) => format!("any other value is an error: {instead}"),
            Accepts::Nothing => format!("an error: {instead}"),
        };
        format!("| `{}` | {accepted} | {what} |", self.name)
    }
}

/// The names of [`TABLE`]'s keys, then [`KEDA_TABLE`]'s, in their order.
pub const NAMES: [&str; TABLE.len() + KEDA_TABLE.len()] = concat(names(&TABLE), keda_names());

const fn keda_names() -> [&'static str; KEDA_TABLE.len()] {
    let mut names = [""; KEDA_TABLE.len()];
    let mut i = 0;
    while i < KEDA_TABLE.len() {
        names[i] = KEDA_TABLE[i].name;
        i += 1;
    }
    names
}

/// [`TABLE`] as the README's "Trigger metadata" section has it: header and rows.
pub fn readme_table() -> String {
    source_keys::readme_table(&TABLE)
}

/// [`KEDA_TABLE`] as the README has it: header and rows.
pub fn keda_readme_table() -> String {
    let mut text = String::from("| KEDA key | accepted | what lagscale does |\n|---|---|---|\n");
    for key in &KEDA_TABLE {
        text.push_str(&key.readme_row());
        text.push('\n');
    }
    text
}
