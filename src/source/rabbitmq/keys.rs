//! The RabbitMQ trigger keys: every key of KEDA's RabbitMQ scaler (`pkg/scalers/rabbitmq_scaler.go`,
//! struct `rabbitMQMetadata`, main), each with its row of the README's RabbitMQ table: this
//! table is the one owner of that text, and tests/e2e/readme.rs checks that the README has it
//! verbatim. `value` and `activationValue` are common keys (`metadata::keys`) and `unsafeSsl`
//! is KEDA's own (ignored by the reader); their rows here say how a RabbitMQ trigger reads
//! them. KEDA reads the credential keys ([`AUTH`]) from TriggerAuthentication, which it does not
//! forward to an external scaler: they are errors that say where credentials go instead.

use crate::source::keys::{self as source_keys, Key};

pub const HOST: &str = "host";
pub const HOST_FROM_ENV: &str = "hostFromEnv";
pub const PROTOCOL: &str = "protocol";
pub const QUEUE_NAME: &str = "queueName";
pub const VHOST_NAME: &str = "vhostName";
pub const MODE: &str = "mode";
pub const QUEUE_LENGTH: &str = "queueLength";
pub const EXCLUDE_UNACKNOWLEDGED: &str = "excludeUnacknowledged";
pub const USE_REGEX: &str = "useRegex";
pub const OPERATION: &str = "operation";
pub const PAGE_SIZE: &str = "pageSize";
pub const TIMEOUT: &str = "timeout";
pub const USERNAME_FROM_ENV: &str = "usernameFromEnv";
pub const PASSWORD_FROM_ENV: &str = "passwordFromEnv";

/// KEDA reads these from TriggerAuthentication, which it does not forward to an external
/// scaler, so they are errors: each with what to use instead (the URI's user info, or a
/// `cluster` profile). Their README rows are built from the same text.
macro_rules! auth_keys {
    ($(($name:literal, $instead:literal),)*) => {
        pub const AUTH: [(&str, &str); [$($name),*].len()] = [$(($name, $instead)),*];
        const AUTH_ROWS: [Key; AUTH.len()] = [$(Key {
            name: $name,
            required: "",
            default: "",
            meaning: concat!(
                "an error (KEDA reads it from TriggerAuthentication, which it does not forward ",
                "to an external scaler): use ",
                $instead,
            ),
        }),*];
    };
}

auth_keys! {
    ("username", "the user info of the `host` URI, or a `cluster` profile"),
    ("password", "the user info of the `hostFromEnv` URI (a Secret in the workload's environment), or a `cluster` profile"),
    ("ca", "a `cluster` profile with `tls.ca_file` (see \"Config file\")"),
    ("cert", "a `cluster` profile with `tls.cert_file` and `tls.key_file`; with no password in its `uri`, SASL EXTERNAL"),
    ("key", "a `cluster` profile with `tls.cert_file` and `tls.key_file`"),
    ("keyPassword", "a `cluster` profile whose `tls.key_file` is unencrypted (encrypted keys are not supported)"),
    ("tls", "an `amqps://` or `https://` URI; a CA or client certificate of its own in a `cluster` profile's `tls`"),
    ("workloadIdentityResource", "basic auth in the URI (Azure workload identity is not supported), or a `cluster` profile"),
    ("oauthTokenURI", "basic auth in the URI (OAuth2 is not supported), or a `cluster` profile"),
    ("scopes", "basic auth in the URI (OAuth2 is not supported), or a `cluster` profile"),
    ("scope", "basic auth in the URI (OAuth2 is not supported), or a `cluster` profile"),
    ("clientID", "basic auth in the URI (OAuth2 is not supported), or a `cluster` profile"),
    ("clientSecret", "basic auth in the URI (OAuth2 is not supported), or a `cluster` profile"),
    ("endpointParams", "basic auth in the URI (OAuth2 is not supported), or a `cluster` profile"),
}

/// The keys KEDA reads from trigger metadata, in the README's order: its name, when it is required, its
/// default and what it means (Markdown, as the README's cells).
const OWN_ROWS: [Key; 17] = [
    Key {
        name: HOST,
        required: "unless `cluster`",
        default: "",
        meaning: "the broker inline, as KEDA's `host`: an AMQP URI `amqp://user:password@host:5672/vhost` (or `amqps://`), or a management API URL `http://user:password@host:15672/vhost` (or `https://`), whose last path segment is the vhost (none: `/`) and earlier segments a path prefix, as KEDA's `getVhostAndPathFromURL`",
    },
    Key {
        name: HOST_FROM_ENV,
        required: "",
        default: "",
        meaning: "same as `host`, filled by KEDA from the workload's environment variable of that name",
    },
    Key {
        name: PROTOCOL,
        required: "",
        default: "`auto`",
        meaning: "`amqp`, `http`, or `auto`: the `host`'s scheme (`amqp(s)` → `amqp`, `http(s)` → `http`); with `cluster`, `auto` is `amqp` and `http` reads the profile's `management_url`",
    },
    Key {
        name: QUEUE_NAME,
        required: "yes",
        default: "",
        meaning: "the queue to measure; with `useRegex`, a regex its name must match",
    },
    Key {
        name: VHOST_NAME,
        required: "",
        default: "the `host`'s vhost",
        meaning: "vhost to read, replacing the `host`'s (with `cluster` and `protocol: http`, the profile URI's)",
    },
    Key {
        name: MODE,
        required: "with `value`",
        default: "`QueueLength`",
        meaning: "what is served, as KEDA's: `QueueLength` (messages), `MessageRate` (publish rate), `DeliverGetRate`, `PublishedToDeliveredRatio`, `ExpectedQueueConsumptionTime` (seconds); all but `QueueLength` need `protocol: http` (formulas under this table)",
    },
    Key {
        name: "value",
        required: "with `mode`",
        default: "`20`",
        meaning: "the target per replica, in the mode's unit, > 0; with `QueueLength` (or no `mode`) an alias of `lagThreshold`, and without `mode` it means `QueueLength` (KEDA would ask for a mode); a rate mode takes `value`, not `lagThreshold`",
    },
    Key {
        name: "activationValue",
        required: "",
        default: "`0`",
        meaning: "active when the mode's value is greater than this (the mode's unit; KEDA's rules under this table); with `QueueLength` an alias of `activationLagThreshold`",
    },
    Key {
        name: QUEUE_LENGTH,
        required: "",
        default: "",
        meaning: "KEDA's deprecated target: alone it means `mode: QueueLength` with this `value`; with `mode`, `value` or `lagThreshold` an error (KEDA: \"queueLength is deprecated; use mode and value\")",
    },
    Key {
        name: EXCLUDE_UNACKNOWLEDGED,
        required: "",
        default: "`false`",
        meaning: "`true`: count `messages_ready` instead of `messages` (ready + unacknowledged); only with `protocol: http`",
    },
    Key {
        name: USE_REGEX,
        required: "",
        default: "`false`",
        meaning: "`true`: `queueName` is a regex over the vhost's queues, combined by `operation`; only with `protocol: http`; an error when the matches fill more than one page of `pageSize` (KEDA: \"regex matches more queues than can be recovered at once\")",
    },
    Key {
        name: OPERATION,
        required: "",
        default: "`sum`",
        meaning: "`sum`, `avg` (counts in integers, as KEDA's) or `max` of each figure over a regex's queues; ignored without `useRegex`",
    },
    Key {
        name: PAGE_SIZE,
        required: "",
        default: "`100`",
        meaning: "how many matching queues one request may return, a whole number ≥ 1; with `useRegex`",
    },
    Key {
        name: TIMEOUT,
        required: "",
        default: "the query timeout",
        meaning: "the management API's request timeout: a Go duration (`500ms`, `2s`) or bare milliseconds; with `protocol: amqp` an error once `mode` is set, as KEDA's, and ignored otherwise",
    },
    Key {
        name: "unsafeSsl",
        required: "",
        default: "",
        meaning: "accepted and ignored: in an external trigger KEDA reads it for its gRPC channel to lagscale; for the broker, set a profile's `tls.insecure_skip_verify`",
    },
    Key {
        name: USERNAME_FROM_ENV,
        required: "",
        default: "",
        meaning: "with `passwordFromEnv`: the user, which KEDA reads from the workload's environment and forwards; the two replace the user info of `host` / `hostFromEnv`, as KEDA's `username` and `password` do; one without the other is an error, and so is either with `cluster` (the profile's URI carries the user)",
    },
    Key {
        name: PASSWORD_FROM_ENV,
        required: "",
        default: "",
        meaning: "with `usernameFromEnv`: the password, read by KEDA from the workload's environment (a Secret) and forwarded, never written in the ScaledObject",
    },
];

/// Every RabbitMQ key of KEDA's, in the README's order: its name, when it is required, its
/// default and what it means (Markdown, as the README's cells).
pub const TABLE: [Key; OWN_ROWS.len() + AUTH_ROWS.len()] = {
    let mut all = [AUTH_ROWS[0]; OWN_ROWS.len() + AUTH_ROWS.len()];
    let mut i = 0;
    while i < all.len() {
        all[i] = if i < OWN_ROWS.len() {
            OWN_ROWS[i]
        } else {
            AUTH_ROWS[i - OWN_ROWS.len()]
        };
        i += 1;
    }
    all
};

/// The keys this source owns (not `value`, `activationValue`, `unsafeSsl`): [`TABLE`]'s
/// own rows, then [`AUTH`].
pub const NAMES: [&str; 28] = [
    HOST,
    HOST_FROM_ENV,
    PROTOCOL,
    QUEUE_NAME,
    VHOST_NAME,
    MODE,
    QUEUE_LENGTH,
    EXCLUDE_UNACKNOWLEDGED,
    USE_REGEX,
    OPERATION,
    PAGE_SIZE,
    TIMEOUT,
    USERNAME_FROM_ENV,
    PASSWORD_FROM_ENV,
    "username",
    "password",
    "ca",
    "cert",
    "key",
    "keyPassword",
    "tls",
    "workloadIdentityResource",
    "oauthTokenURI",
    "scopes",
    "scope",
    "clientID",
    "clientSecret",
    "endpointParams",
];

/// [`TABLE`] as the README's "Trigger metadata" section has it: header and rows.
pub fn readme_table() -> String {
    source_keys::readme_table(&TABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_owned_key_has_its_row() {
        for name in NAMES {
            assert!(TABLE.iter().any(|k| k.name == name), "{name} has no row");
        }
        let rows_only: Vec<_> = TABLE
            .iter()
            .map(|k| k.name)
            .filter(|n| !NAMES.contains(n))
            .collect();
        assert_eq!(rows_only, ["value", "activationValue", "unsafeSsl"]);
    }
}
