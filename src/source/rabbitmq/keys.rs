//! The RabbitMQ trigger keys (named as in KEDA's RabbitMQ scaler), each with its row of the
//! README's RabbitMQ table: this table is the one owner of that text, and tests/e2e/readme.rs
//! checks that the README has it verbatim.

use crate::source::keys::{self as source_keys, Key, names};

pub const HOST: &str = "host";
pub const HOST_FROM_ENV: &str = "hostFromEnv";
pub const QUEUE_NAME: &str = "queueName";
pub const VHOST_NAME: &str = "vhostName";

/// Every RabbitMQ key, in the README's order: its name, when it is required, its default
/// and what it means (Markdown, as the README's cells).
pub const TABLE: [Key; 4] = [
    Key {
        name: HOST,
        required: "unless `cluster`",
        default: "",
        meaning: "an AMQP URI inline: `amqp://user:password@host:5672/vhost` (or `amqps://`)",
    },
    Key {
        name: HOST_FROM_ENV,
        required: "",
        default: "",
        meaning: "same as `host`, filled by KEDA from the workload's environment variable of that name",
    },
    Key {
        name: QUEUE_NAME,
        required: "yes",
        default: "",
        meaning: "the queue to measure",
    },
    Key {
        name: VHOST_NAME,
        required: "",
        default: "the URI's vhost",
        meaning: "vhost to connect to, replacing the URI's",
    },
];

/// The names of [`TABLE`]'s keys, in its order.
pub const NAMES: [&str; TABLE.len()] = names(&TABLE);

/// [`TABLE`] as the README's "Trigger metadata" section has it: header and rows.
pub fn readme_table() -> String {
    source_keys::readme_table(&TABLE)
}
