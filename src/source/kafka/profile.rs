//! A Kafka connection profile: bootstrap servers and client properties with librdkafka's
//! names, `${ENV}` and `*_file` secrets, and a Debug that never prints a secret value.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::source::secrets::{interpolated, interpolated_map};

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
    /// A client property as the profile sets it.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(String::as_str)
    }

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

impl std::fmt::Debug for KafkaProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let properties: BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    if crate::redact::is_secret_name(k) {
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
