//! A RabbitMQ trigger's keys, read and checked as KEDA's RabbitMQ scaler does
//! (`pkg/scalers/rabbitmq_scaler.go`: `rabbitMQMetadata.Validate` and `validateTrigger`), with
//! lagscale's differences noted where they are made:
//!
//! - `protocol` (`amqp`, `http`, `auto`; `auto` is the `host`'s scheme, `Validate`);
//!   `useRegex`, `excludeUnacknowledged` and every mode but `QueueLength` need `http`.
//! - `mode` and `value` together; neither (nor `queueLength`) is `QueueLength` with 20
//!   (`validateTrigger`'s default); `queueLength` alone is `QueueLength` with its value, and
//!   with `mode` or `value` an error. lagscale also takes `value` (or `lagThreshold`) without
//!   `mode` as `QueueLength`, as it always has (KEDA would say "mode must be specified").
//! - `timeout` with AMQP is an error once `mode` is set (KEDA checks it only after its early
//!   returns for the default and `queueLength`); otherwise AMQP ignores it.
//! - `operation` is checked here, not only at runtime with `useRegex` as KEDA does.

use super::duration::go_duration;
use super::http::HttpQuery;
use super::management::ManagementUrl;
use super::mode::{Mode, Number, Operation, Rule};
use super::tls::RabbitTls;
use super::{AmqpUri, Endpoint, MAX_NAME_BYTES, QueueQuery, keys};
use crate::metadata::keys as common;
use crate::metadata::{Connection, ConnectionKeys, Metadata, TriggerError, connection, number};
use crate::source::ClusterProfile;
use std::collections::BTreeMap;

/// What a RabbitMQ trigger asks, and how.
pub enum Query {
    /// `protocol: amqp`: the ready messages of a passive `queue.declare`.
    Amqp(QueueQuery),
    /// `protocol: http`: the management API, read by the [`Rule`].
    Http(HttpQuery, Rule),
}

/// The target KEDA's default (20) or `queueLength` sets, when neither `value` nor
/// `lagThreshold` does: the key that set it, and its value.
pub type Target = Option<(&'static str, Number)>;

/// KEDA's default `value` when neither mode nor value is given.
pub const DEFAULT_VALUE: f64 = 20.0;

/// Reads the RabbitMQ keys of a trigger.
pub fn parse(
    md: &mut Metadata<'_>,
    clusters: &BTreeMap<String, ClusterProfile>,
) -> Result<(Query, Target), TriggerError> {
    super::credentials::refuse_auth_keys(md)?;
    let keys_of_rabbitmq = ConnectionKeys {
        source: "rabbitmq",
        inline: (keys::HOST, keys::HOST_FROM_ENV),
        missing: "`cluster` (a connection profile) or `host` (an AMQP URI or management API URL)",
        pick: |profile| match profile {
            ClusterProfile::Rabbitmq(p) => Some(p),
            _ => None,
        },
        source_of: ClusterProfile::source_name,
    };
    let connection = connection(md, clusters, &keys_of_rabbitmq)?;
    let credentials = super::credentials::credentials(md, &connection)?;
    // The inline host, with the user info `usernameFromEnv` and `passwordFromEnv` give it.
    let inline = |value: &str| match credentials {
        Some((user, password)) => super::uri::with_credentials(value, user, password),
        None => value.to_owned(),
    };
    let protocol = md.optional(keys::PROTOCOL).unwrap_or("auto");
    if !matches!(protocol, "amqp" | "http" | "auto") {
        return Err(TriggerError::invalid(
            keys::PROTOCOL,
            protocol,
            "one of: amqp, http, auto (auto: the host's scheme)",
        ));
    }
    let queue = md.required(keys::QUEUE_NAME, "the name of the queue to measure")?;
    let vhost_name = md.optional(keys::VHOST_NAME);
    // AMQP names are short strings: at most 255 bytes on the wire.
    for (key, name) in [
        (keys::QUEUE_NAME, Some(queue)),
        (keys::VHOST_NAME, vhost_name),
    ] {
        if let Some(name) = name.filter(|n| n.len() > MAX_NAME_BYTES) {
            return Err(TriggerError::invalid(
                key,
                name,
                format!(
                    "at most {MAX_NAME_BYTES} bytes (AMQP's limit); it has {}",
                    name.len()
                ),
            ));
        }
    }
    let (mode, target, mode_set) = parse_mode(md)?;
    let activation = match md.optional(common::ACTIVATION_VALUE) {
        Some(v) => number(common::ACTIVATION_VALUE, v, "a number >= 0", |n| n >= 0.0)?,
        None => 0.0,
    };
    let use_regex = md.boolean(keys::USE_REGEX)?;
    let exclude_unacknowledged = md.boolean(keys::EXCLUDE_UNACKNOWLEDGED)?;
    let page_size = match md.optional(keys::PAGE_SIZE) {
        None => 100,
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| TriggerError::invalid(keys::PAGE_SIZE, v, "a whole number >= 1"))?,
    };
    let operation = match md.optional(keys::OPERATION) {
        None => Operation::Sum,
        Some(v) => Operation::parse(v)
            .ok_or_else(|| TriggerError::invalid(keys::OPERATION, v, Operation::EXPECTED))?,
    };
    let timeout_value = md.optional(keys::TIMEOUT);
    let timeout = match timeout_value {
        None => None,
        Some(v) => Some(go_duration(v).ok_or_else(|| {
            TriggerError::invalid(
                keys::TIMEOUT,
                v,
                "a Go duration like 500ms or 2s, or whole milliseconds (not negative)",
            )
        })?),
    }
    .filter(|t| !t.is_zero());

    let http = match (&connection, protocol) {
        (Connection::Inline { value, .. }, "auto") => is_http(value),
        (_, p) => p == "http",
    };
    let needs_http = |key: &'static str, value: &str, what: &str| {
        TriggerError::invalid(
            key,
            value,
            format!(
                "{what} with protocol amqp: KEDA reads it only over HTTP, so set protocol: http \
                 with an http(s):// host or a cluster whose profile sets management_url"
            ),
        )
    };
    if !http {
        if mode != Mode::QueueLength {
            return Err(needs_http(keys::MODE, mode.name(), "QueueLength"));
        }
        if use_regex {
            return Err(needs_http(keys::USE_REGEX, "true", "false"));
        }
        if exclude_unacknowledged {
            return Err(needs_http(keys::EXCLUDE_UNACKNOWLEDGED, "true", "false"));
        }
        if let (true, Some(_), Some(value)) = (mode_set, timeout, timeout_value) {
            return Err(TriggerError::invalid(
                keys::TIMEOUT,
                value,
                "unset with protocol amqp (KEDA: AMQP protocol doesn't support custom timeouts)",
            ));
        }
    }
    check_combinations(md, mode, use_regex)?;

    let query = match (connection, http) {
        (Connection::Inline { key, value }, false) => {
            let value = inline(value);
            let uri = AmqpUri::parse(&value).map_err(|reason| {
                TriggerError::invalid(
                    key,
                    &AmqpUri::redact(&value),
                    format!("an AMQP URI like amqp://user@host:5672/vhost ({reason})"),
                )
            })?;
            let endpoint = Endpoint {
                cluster: None,
                uri,
                management: None,
                tls: RabbitTls::default(),
            };
            Query::Amqp(queue_query(endpoint, vhost_name, queue))
        }
        (Connection::Profile { name, profile }, false) => {
            let endpoint = Endpoint {
                cluster: Some(name.to_owned()),
                uri: profile.uri.clone(),
                management: profile.management.clone(),
                tls: profile.tls.clone(),
            };
            Query::Amqp(queue_query(endpoint, vhost_name, queue))
        }
        (connection, true) => {
            let (cluster, url, vhost, tls) = match connection {
                Connection::Inline { key, value } => {
                    let value = inline(value);
                    let url = ManagementUrl::parse(&value).map_err(|reason| {
                        TriggerError::invalid(
                            key,
                            &AmqpUri::redact(&value),
                            format!(
                                "a management API URL like http://user@host:15672/vhost with \
                                 protocol: http ({reason})"
                            ),
                        )
                    })?;
                    let (url, vhost) = url.split_vhost();
                    (None, url, vhost, RabbitTls::default())
                }
                Connection::Profile { name, profile } => {
                    let Some(url) = profile.management.clone() else {
                        return Err(TriggerError::invalid(
                            keys::PROTOCOL,
                            "http",
                            format!("amqp here: cluster {name:?}'s profile sets no management_url"),
                        ));
                    };
                    (
                        Some(name.to_owned()),
                        url,
                        Some(profile.uri.to_lapin(None).vhost),
                        profile.tls.clone(),
                    )
                }
            };
            let vhost = vhost_name
                .map(str::to_owned)
                .or(vhost)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "/".to_owned());
            let query = HttpQuery {
                cluster,
                url,
                vhost,
                queue: queue.to_owned(),
                regex_page_size: use_regex.then_some(page_size),
                timeout,
                tls,
            };
            let rule = Rule {
                mode,
                exclude_unacknowledged,
                operation,
                activation: Number(activation),
            };
            Query::Http(query, rule)
        }
    };
    Ok((query, target))
}

fn queue_query(endpoint: Endpoint, vhost: Option<&str>, queue: &str) -> QueueQuery {
    QueueQuery {
        endpoint,
        vhost: vhost.map(str::to_owned),
        queue: queue.to_owned(),
    }
}

fn is_http(host: &str) -> bool {
    let scheme = host.trim().split_once("://").map(|(s, _)| s);
    matches!(scheme, Some("http" | "https"))
}

/// `mode`, `value`, `lagThreshold`, `queueLength` (`validateTrigger`): the mode, the target
/// when `value` / `lagThreshold` do not give it, and whether `mode` was set.
fn parse_mode(md: &mut Metadata<'_>) -> Result<(Mode, Target, bool), TriggerError> {
    let mode = md.optional(keys::MODE);
    let value = md.optional(common::VALUE);
    let lag_threshold = md.optional(common::LAG_THRESHOLD);
    if let Some(legacy) = md.optional(keys::QUEUE_LENGTH) {
        if mode.is_some() || value.is_some() || lag_threshold.is_some() {
            return Err(TriggerError::invalid(
                keys::QUEUE_LENGTH,
                legacy,
                "unset together with mode, value or lagThreshold (KEDA: queueLength is \
                 deprecated; use mode and value)",
            ));
        }
        let n = number(keys::QUEUE_LENGTH, legacy, "a number > 0", |n| n > 0.0)?;
        return Ok((
            Mode::QueueLength,
            Some((keys::QUEUE_LENGTH, Number(n))),
            false,
        ));
    }
    let Some(name) = mode else {
        let default = (value.is_none() && lag_threshold.is_none())
            .then_some((common::VALUE, Number(DEFAULT_VALUE)));
        return Ok((Mode::QueueLength, default, false));
    };
    let mode =
        Mode::parse(name).ok_or_else(|| TriggerError::invalid(keys::MODE, name, Mode::EXPECTED))?;
    if mode != Mode::QueueLength {
        for key in [common::LAG_THRESHOLD, common::ACTIVATION_LAG_THRESHOLD] {
            if md.optional(key).is_some() {
                return Err(TriggerError::NotApplicable {
                    key: key.to_owned(),
                    context: format!(
                        "with mode: {} (its target is `value` and its activation \
                         `activationValue`, in {})",
                        mode.name(),
                        mode.unit()
                    ),
                });
            }
        }
    }
    if value.is_none() && lag_threshold.is_none() {
        return Err(TriggerError::Missing {
            key: common::VALUE,
            expected: "the target per replica in the mode's unit, with mode (KEDA reads mode \
                       and value together)",
        });
    }
    Ok((mode, None, true))
}

/// The transform, the step strategy and `metric: throughput` read a backlog in messages: with
/// a rate, ratio or time mode they are errors, and throughput (one queue's rates) with a regex.
fn check_combinations(
    md: &mut Metadata<'_>,
    mode: Mode,
    use_regex: bool,
) -> Result<(), TriggerError> {
    let metric = md.optional(common::METRIC);
    if use_regex && metric == Some("throughput") {
        return Err(TriggerError::invalid(
            common::METRIC,
            "throughput",
            "lag with useRegex: true (the management API's rates over a window are read per queue)",
        ));
    }
    if mode == Mode::QueueLength {
        return Ok(());
    }
    let why = format!(
        "with mode: {} (whose value, in {}, is served as KEDA serves it; the transform, the \
         step strategy and throughput read a backlog in messages: use mode: QueueLength)",
        mode.name(),
        mode.unit()
    );
    for (key, value, expected) in [
        (common::TRANSFORM, "log2", "none"),
        (common::STRATEGY, "step", "direct"),
        (common::METRIC, "throughput", "lag"),
    ] {
        if md.optional(key) == Some(value) {
            return Err(TriggerError::invalid(
                key,
                value,
                format!("{expected} {why}"),
            ));
        }
    }
    Ok(())
}
