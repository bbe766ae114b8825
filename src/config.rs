//! lagscale's own config file (YAML): where to listen, how long answers are cached, broker
//! timeouts, and the named connection profiles that triggers refer to with `cluster:`.
//!
//! Credentials belong here (or in the environment), not in ScaledObjects: KEDA does not forward
//! TriggerAuthentication secrets to external scalers. String values that hold secrets accept
//! `${ENV_VAR}` (and `$$` for a literal `$`). Unknown fields are errors that name the field and
//! its line. With no file at all, [`Config::default`] applies and inline `host` triggers work.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use endpoints::{EndpointPattern, EndpointPolicy, InlineEndpoints, Refusal};

mod endpoints;

use crate::source::BrokerTimeouts;
use crate::source::ClusterProfile;

/// The whole config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the gRPC server listens on.
    pub listen_addr: SocketAddr,
    /// Address of the Prometheus `/metrics` endpoint; `null` turns it off.
    pub metrics_addr: Option<SocketAddr>,
    /// TLS for the gRPC server; absent: plaintext h2c (KEDA's default).
    pub tls: Option<TlsConfig>,
    /// How long one broker answer is reused for every trigger asking the same question.
    pub cache_ttl_ms: u64,
    /// How often a StreamIsActive stream re-evaluates its trigger.
    pub stream_check_interval_ms: u64,
    /// Deadline of one unary gRPC call (below KEDA's 3 s HPA budget); then DeadlineExceeded.
    pub request_timeout_ms: u64,
    /// Calls handled at once on one connection (KEDA uses one per operator); more are refused
    /// at once with ResourceExhausted instead of queueing.
    pub max_concurrent_requests: usize,
    /// After SIGTERM, how long in-flight calls may take before the process exits anyway.
    pub shutdown_timeout_ms: u64,
    /// Bound on establishing a broker connection.
    pub broker_connect_timeout_ms: u64,
    /// Bound on one broker query on an established connection.
    pub broker_query_timeout_ms: u64,
    /// A broker client (AMQP connection, Kafka client) no trigger used for this long is
    /// closed; the next query for its endpoint opens a new one.
    pub idle_client_ttl_ms: u64,
    /// Whether triggers may name brokers inline (`host`, `bootstrapServers`): `allow`, or
    /// `deny` so that lagscale connects only to the brokers of its connection profiles.
    pub inline_endpoints: InlineEndpoints,
    /// With `inline_endpoints: allow`, the `HOST:PORT` patterns inline brokers must match;
    /// empty: any (see `config/endpoints.rs`).
    pub inline_endpoint_allowlist: Vec<EndpointPattern>,
    /// Connection profiles by name, referred to by triggers with `cluster: NAME`.
    pub clusters: BTreeMap<String, ClusterProfile>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen_addr: SocketAddr::from(([0, 0, 0, 0], 6000)),
            metrics_addr: Some(SocketAddr::from(([0, 0, 0, 0], 9464))),
            tls: None,
            cache_ttl_ms: 2_000,
            stream_check_interval_ms: 5_000,
            request_timeout_ms: 2_500,
            max_concurrent_requests: 1_000,
            shutdown_timeout_ms: 10_000,
            broker_connect_timeout_ms: 1_000,
            broker_query_timeout_ms: 1_000,
            idle_client_ttl_ms: 600_000,
            inline_endpoints: InlineEndpoints::Allow,
            inline_endpoint_allowlist: Vec::new(),
            clusters: BTreeMap::new(),
        }
    }
}

/// TLS for the gRPC server: PEM files, read at start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server's certificate chain (PEM).
    pub cert_file: PathBuf,
    /// The server's private key (PEM).
    pub key_file: PathBuf,
    /// CA certificates (PEM) that client certificates must chain to; when set, a client
    /// without a valid certificate is refused (mutual TLS).
    pub client_ca_file: Option<PathBuf>,
}

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path}: {field}: {value} is not valid; expected {expected}")]
    Invalid {
        path: PathBuf,
        field: &'static str,
        value: String,
        expected: &'static str,
    },
}

impl Config {
    /// Reads the file at `path`, or returns the defaults when there is none.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        Config::parse(&text, path)
    }

    /// Parses YAML text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        // An empty file (or one with only comments) means all defaults.
        let config: Config = if text.trim_start().is_empty() || is_only_comments(text) {
            Config::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                message: with_location(&e),
            })?
        };
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let positive = [
            ("cache_ttl_ms", self.cache_ttl_ms),
            ("stream_check_interval_ms", self.stream_check_interval_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            ("shutdown_timeout_ms", self.shutdown_timeout_ms),
            (
                "max_concurrent_requests",
                self.max_concurrent_requests as u64,
            ),
            ("broker_connect_timeout_ms", self.broker_connect_timeout_ms),
            ("broker_query_timeout_ms", self.broker_query_timeout_ms),
            ("idle_client_ttl_ms", self.idle_client_ttl_ms),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    path: path.to_owned(),
                    field,
                    value: value.to_string(),
                    expected: "a number > 0",
                });
            }
        }
        if self.inline_endpoints == InlineEndpoints::Deny
            && !self.inline_endpoint_allowlist.is_empty()
        {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                field: "inline_endpoint_allowlist",
                value: format!("{} patterns", self.inline_endpoint_allowlist.len()),
                expected: "no patterns while inline_endpoints is deny (set inline_endpoints: allow to use them)",
            });
        }
        for (name, profile) in &self.clusters {
            profile.validate().map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                message: format!("clusters.{name}.{e}"),
            })?;
        }
        Ok(())
    }

    pub fn cache_ttl(&self) -> Duration {
        Duration::from_millis(self.cache_ttl_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }

    pub fn stream_check_interval(&self) -> Duration {
        Duration::from_millis(self.stream_check_interval_ms)
    }

    /// Which brokers triggers may name inline.
    pub fn endpoint_policy(&self) -> EndpointPolicy<'_> {
        EndpointPolicy {
            inline: self.inline_endpoints,
            allowlist: &self.inline_endpoint_allowlist,
        }
    }

    pub fn idle_client_ttl(&self) -> Duration {
        Duration::from_millis(self.idle_client_ttl_ms)
    }

    pub fn broker_timeouts(&self) -> BrokerTimeouts {
        BrokerTimeouts {
            connect: Duration::from_millis(self.broker_connect_timeout_ms),
            query: Duration::from_millis(self.broker_query_timeout_ms),
        }
    }
}

/// serde_yaml's message, with the line and column when the message does not already say them
/// (syntax errors do not).
fn with_location(error: &serde_yaml::Error) -> String {
    let message = error.to_string();
    match error.location() {
        Some(at) if !message.contains(" line ") => {
            format!("{message} at line {} column {}", at.line(), at.column())
        }
        _ => message,
    }
}

fn is_only_comments(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with('#') || l == "---")
}

#[cfg(test)]
mod tests;
