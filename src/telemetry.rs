//! Logging setup: tracing to stderr, level from `RUST_LOG` (default `info`), colours only when
//! stderr is a terminal.
//!
//! Whatever `RUST_LOG` says, TRACE events of the AMQP client (lapin) are never written: at that
//! level lapin logs every frame it sends, and the connection's `start-ok` frame carries the
//! password (as bytes of the SASL PLAIN response).

use std::io::IsTerminal;

use tracing::Metadata;
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// Installs the global subscriber. Call once, from `main`.
pub fn init() {
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let layer = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(env.and(filter_fn(may_log)));
    tracing_subscriber::registry().with(layer).init();
}

/// False for events that may carry secrets whatever the level asked for.
pub fn may_log(metadata: &Metadata<'_>) -> bool {
    let from_amqp_client =
        metadata.target().starts_with("lapin") || metadata.target().starts_with("amq_protocol");
    !(from_amqp_client && *metadata.level() == tracing::Level::TRACE)
}
