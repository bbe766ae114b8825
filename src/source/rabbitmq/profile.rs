//! A RabbitMQ connection profile: its YAML shape, secrets from `${ENV}` or files, and
//! validation of its URIs (errors show them redacted).

use std::path::PathBuf;

use serde::Deserialize;

use super::AmqpUri;
use super::management::ManagementUrl;
use crate::source::secrets::{interpolate, read_secret};

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
