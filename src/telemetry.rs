//! Logging setup: tracing to stderr, level from `RUST_LOG` (default `info`); human-readable by
//! default (colours only when stderr is a terminal), one JSON object per line with
//! `--log-format json`. At DEBUG, every gRPC call runs in an `rpc` span carrying the method and
//! the ScaledObject's `namespace` and name (`scaled_object`), so every line logged during a call
//! names them; at the default level the span is not created (it would cost every call), and each
//! error served names them itself (`rpc`, `namespace`, `name`).
//!
//! Whatever `RUST_LOG` says, TRACE events of the AMQP client (lapin) are never written: at that
//! level lapin logs every frame it sends, and the connection's `start-ok` frame carries the
//! password (as bytes of the SASL PLAIN response).

use std::io::IsTerminal;

use tracing::Metadata;
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, with the current span's fields.
    Json,
}

/// Installs the global subscriber, writing to stderr. Call once, from `main`.
pub fn init(format: LogFormat) {
    let ansi = std::io::stderr().is_terminal();
    install(format, BoxMakeWriter::new(std::io::stderr), ansi);
}

/// Installs the global subscriber, writing to `file` (`lagscale demo`, whose table owns the
/// terminal). Call once, from `main`.
pub fn init_file(format: LogFormat, file: std::fs::File) {
    install(
        format,
        BoxMakeWriter::new(std::sync::Mutex::new(file)),
        false,
    );
}

fn install(format: LogFormat, writer: BoxMakeWriter, ansi: bool) {
    let filter = || {
        let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
        env.and(filter_fn(may_log))
    };
    let layer = match format {
        LogFormat::Text => fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .with_filter(filter())
            .boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .with_filter(filter())
            .boxed(),
    };
    tracing_subscriber::registry().with(layer).init();
}

/// False for events that may carry secrets whatever the level asked for.
pub fn may_log(metadata: &Metadata<'_>) -> bool {
    let from_amqp_client =
        metadata.target().starts_with("lapin") || metadata.target().starts_with("amq_protocol");
    !(from_amqp_client && *metadata.level() == tracing::Level::TRACE)
}
