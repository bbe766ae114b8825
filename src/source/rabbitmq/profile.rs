//! A RabbitMQ connection profile: its YAML shape, secrets from `${ENV}` or files, its TLS
//! setup (`tls.rs`), and validation of its URIs (errors show them redacted).

use std::path::PathBuf;

use serde::Deserialize;

use super::AmqpUri;
use super::management::ManagementUrl;
use super::tls::{RabbitTls, TlsFields};
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
    /// TLS for `amqps://` and an `https://` management API (default: the system's CAs).
    pub tls: RabbitTls,
}

impl RabbitmqProfile {
    /// A profile with the default TLS setup.
    pub fn new(uri: AmqpUri, management: Option<ManagementUrl>) -> RabbitmqProfile {
        RabbitmqProfile {
            uri,
            management,
            tls: RabbitTls::default(),
        }
    }
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
    tls: Option<TlsFields>,
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
        let Some(fields) = fields.tls else {
            return Ok(RabbitmqProfile::new(uri, management));
        };
        let https = management.as_ref().is_some_and(ManagementUrl::is_https);
        if !uri.is_tls() && !https {
            return Err(
                "tls: set, but neither uri (amqp://) nor management_url uses TLS; expected an \
                 amqps:// uri or an https:// management_url"
                    .to_owned(),
            );
        }
        let tls = RabbitTls::from_fields(fields)?;
        let mut uri = uri;
        // KEDA's buildAMQPConfig: a client certificate and no password mean SASL EXTERNAL.
        if uri.is_tls() && tls.has_client_certificate() && !uri.has_password() {
            uri.authenticate_externally();
        }
        Ok(RabbitmqProfile {
            uri,
            management,
            tls,
        })
    }
}
