//! (temporary: plaintext only until the security module lands)

use std::collections::BTreeMap;
use std::sync::Arc;

use super::sasl;

pub struct Security {
    pub client_id: String,
    pub tls: Option<Tls>,
    pub sasl: Option<sasl::Sasl>,
}

#[derive(Clone)]
pub struct Tls {
    config: Arc<tokio_rustls::rustls::ClientConfig>,
}

impl Tls {
    pub fn client_config(&self) -> Arc<tokio_rustls::rustls::ClientConfig> {
        self.config.clone()
    }
    pub fn server_name(&self, host: &str) -> Result<rustls_pki_types::ServerName<'static>, String> {
        rustls_pki_types::ServerName::try_from(host.to_owned()).map_err(|e| format!("{host}: {e}"))
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("properties.{key}: {value} is not valid; expected {expected}")]
pub struct PropertyError {
    pub key: String,
    pub value: String,
    pub expected: String,
}

impl Security {
    pub fn from_properties(
        properties: &BTreeMap<String, String>,
    ) -> Result<Security, PropertyError> {
        let mut client_id = "lagscale".to_owned();
        for (key, value) in properties {
            match key.as_str() {
                "client.id" => client_id = value.clone(),
                _ => {
                    return Err(PropertyError {
                        key: key.clone(),
                        value: "***".to_owned(),
                        expected: "client.id".to_owned(),
                    });
                }
            }
        }
        Ok(Security {
            client_id,
            tls: None,
            sasl: None,
        })
    }
}
