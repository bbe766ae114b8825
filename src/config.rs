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

use serde::{Deserialize, Deserializer};

pub use endpoints::{EndpointPattern, EndpointPolicy, InlineEndpoints, Refusal};

mod endpoints;

use crate::source::BrokerTimeouts;
use crate::source::rabbitmq::AmqpUri;
use crate::source::rabbitmq::management::ManagementUrl;

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
    /// empty: any (see [`endpoints`]).
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

/// One named connection to a broker: a map with exactly one key, the source
/// (`rabbitmq: {uri: ...}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "ProfileFields")]
pub enum ClusterProfile {
    Rabbitmq(RabbitmqProfile),
    Kafka(KafkaProfile),
}

impl ClusterProfile {
    /// The source this profile connects to, as `source:` names it.
    pub fn source_name(&self) -> &'static str {
        match self {
            ClusterProfile::Rabbitmq(_) => "rabbitmq",
            ClusterProfile::Kafka(_) => "kafka",
        }
    }
}

/// The YAML shape of a profile, before checking that exactly one source is set.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFields {
    rabbitmq: Option<RabbitmqProfile>,
    kafka: Option<KafkaProfile>,
}

impl TryFrom<ProfileFields> for ClusterProfile {
    type Error = &'static str;

    fn try_from(fields: ProfileFields) -> Result<ClusterProfile, Self::Error> {
        match (fields.rabbitmq, fields.kafka) {
            (Some(profile), None) => Ok(ClusterProfile::Rabbitmq(profile)),
            (None, Some(profile)) => Ok(ClusterProfile::Kafka(profile)),
            _ => Err(
                "a connection profile needs exactly one source key; expected `rabbitmq` or `kafka`",
            ),
        }
    }
}

/// A RabbitMQ connection profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RabbitmqFields")]
pub struct RabbitmqProfile {
    /// `amqp://` or `amqps://` URI.
    pub uri: AmqpUri,
    /// The management HTTP API (`http(s)://user:password@host:15672`), for the publish rate
    /// `metric: throughput` needs.
    pub management: Option<ManagementUrl>,
}

/// The YAML shape of a RabbitMQ profile: the URI inline (`${ENV}` replaced) or in a file (a
/// mounted Kubernetes Secret), exactly one of them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RabbitmqFields {
    uri: Option<String>,
    uri_file: Option<PathBuf>,
    management_url: Option<String>,
    management_url_file: Option<PathBuf>,
}

impl TryFrom<RabbitmqFields> for RabbitmqProfile {
    type Error = String;

    fn try_from(fields: RabbitmqFields) -> Result<RabbitmqProfile, String> {
        let uri = match (fields.uri, fields.uri_file) {
            (Some(uri), None) => interpolate(&uri, |name| std::env::var(name).ok())
                .map_err(|e| format!("uri: {e}"))?,
            (None, Some(path)) => read_secret(&path).map_err(|e| format!("uri_file: {e}"))?,
            _ => return Err("a rabbitmq profile needs exactly one of `uri`, `uri_file`".to_owned()),
        };
        let uri = AmqpUri::parse(&uri).map_err(|reason| {
            format!(
                "uri: {} is not a valid AMQP URI: {reason}",
                AmqpUri::redact(&uri)
            )
        })?;
        let management = match (fields.management_url, fields.management_url_file) {
            (None, None) => None,
            (Some(url), None) => Some(
                interpolate(&url, |name| std::env::var(name).ok())
                    .map_err(|e| format!("management_url: {e}"))?,
            ),
            (None, Some(path)) => {
                Some(read_secret(&path).map_err(|e| format!("management_url_file: {e}"))?)
            }
            (Some(_), Some(_)) => {
                return Err(
                    "management_url and management_url_file are both set; set only one of them"
                        .to_owned(),
                );
            }
        };
        let management = management
            .map(|url| {
                ManagementUrl::parse(&url).map_err(|reason| {
                    format!(
                        "management_url: {} is not a valid URL: {reason}",
                        crate::redact::redact_uri(&url)
                    )
                })
            })
            .transpose()?;
        Ok(RabbitmqProfile { uri, management })
    }
}

/// A secret from a file, without the trailing newline editors and `echo` add. Errors name the
/// file, never its contents.
pub fn read_secret(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// A Kafka connection profile.
#[derive(Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaProfile {
    /// `host:port,host:port`; `${ENV}` is replaced.
    #[serde(deserialize_with = "interpolated")]
    pub bootstrap_servers: String,
    /// Client properties, named as librdkafka names them (`security.protocol`,
    /// `sasl.mechanism`, `sasl.username`, `sasl.password: ${KAFKA_PASSWORD}`, `ssl.ca.location`,
    /// ...); `${ENV}` is replaced in values. Which are supported, and what an unknown one
    /// gives, is `source::kafka::wire::security`'s to say.
    #[serde(default, deserialize_with = "interpolated_map")]
    pub properties: BTreeMap<String, String>,
}

impl KafkaProfile {
    /// A profile from inline `bootstrapServers`; `Err` says what was expected.
    pub fn inline(servers: &str) -> Result<KafkaProfile, &'static str> {
        let valid = servers.split(',').all(|s| {
            let s = s.trim();
            s.rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
        });
        if !valid {
            return Err("a comma-separated list of host:port");
        }
        Ok(KafkaProfile {
            bootstrap_servers: servers.to_owned(),
            properties: BTreeMap::new(),
        })
    }

    /// The bootstrap servers as (host, port); `Err` says what was expected.
    pub fn bootstrap_addresses(&self) -> Result<Vec<(String, u16)>, &'static str> {
        const EXPECTED: &str = "a comma-separated list of host:port";
        self.bootstrap_servers
            .split(',')
            .map(|s| {
                let (host, port) = s.trim().rsplit_once(':').ok_or(EXPECTED)?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                match port.parse::<u16>() {
                    Ok(port) if !host.is_empty() => Ok((host.to_owned(), port)),
                    _ => Err(EXPECTED),
                }
            })
            .collect()
    }
}

/// Property names whose values are secrets: never printed.
fn is_secret_property(name: &str) -> bool {
    ["password", "secret", "jaas", "key"]
        .iter()
        .any(|word| name.contains(word))
}

impl std::fmt::Debug for KafkaProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let properties: BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    if is_secret_property(k) {
                        "***"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("KafkaProfile")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("properties", &properties)
            .finish()
    }
}

fn interpolated<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let raw = String::deserialize(deserializer)?;
    interpolate(&raw, |name| std::env::var(name).ok()).map_err(serde::de::Error::custom)
}

fn interpolated_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, String>::deserialize(deserializer)?;
    raw.into_iter()
        .map(|(k, v)| {
            let value = interpolate(&v, |name| std::env::var(name).ok());
            // `sasl.password_file: /path` sets `sasl.password` from the file.
            let (key, value) = match k.strip_suffix("_file") {
                Some(key) => (
                    key.to_owned(),
                    value.and_then(|path| read_secret(Path::new(&path))),
                ),
                None => (k.clone(), value),
            };
            value
                .map(|v| (key, v))
                .map_err(|e| serde::de::Error::custom(format!("properties.{k}: {e}")))
        })
        .collect()
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
        // Kafka client properties are read (and their files loaded) now, so a typo or a
        // missing certificate stops `serve` at start, not at the first query.
        for (name, profile) in &self.clusters {
            if let ClusterProfile::Kafka(kafka) = profile {
                crate::source::kafka::wire::Security::from_properties(&kafka.properties).map_err(
                    |e| ConfigError::Parse {
                        path: path.to_owned(),
                        message: format!("clusters.{name}.kafka.{e}"),
                    },
                )?;
            }
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

/// Replaces `${NAME}` with the value `lookup` gives for NAME, and `$$` with `$`.
pub fn interpolate(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let end = tail
                .find('}')
                .ok_or_else(|| "`${` without a closing `}`".to_owned())?;
            let name = &tail[..end];
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "${{{name}}} is not a valid environment variable reference; expected ${{NAME}} with letters, digits and _"
                ));
            }
            let value =
                lookup(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
            out.push_str(&value);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests;
