//! TLS to RabbitMQ: a profile's `tls` block, used by the `amqps://` connection and by an
//! `https://` management API alike.
//!
//! It follows KEDA's RabbitMQ scaler (`pkg/scalers/rabbitmq_scaler.go`, `buildAMQPConfig` and
//! `NewRabbitMQScaler`'s HTTP client, both through `pkg/util/tls_config.go`,
//! `NewTLSConfigWithPassword`): `ca_file` is trusted *in addition to* the system's CAs (KEDA
//! appends `ca` to a clone of the system pool); `cert_file` and `key_file` present a client
//! certificate; `insecure_skip_verify` is KEDA's `unsafeSsl` (no check of the broker's
//! certificate). With a client certificate and an `amqps://` URI that has no password, the
//! AMQP connection authenticates with SASL EXTERNAL, as KEDA's `buildAMQPConfig` does: the
//! broker maps the certificate to a user (`rabbitmq_auth_mechanism_ssl`).
//!
//! Files are read once, when the config is loaded: a renewed certificate takes a restart.
//! Without a `tls` block, TLS uses the system's CAs. What is checked is always the chain and
//! the host name, unless `insecure_skip_verify` is set.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::source::tls::{
    Verifier, client_config, pem_certificates, pem_private_key, system_roots,
};

/// What to do instead when there are no CA certificates at all.
const NO_ROOTS_HINT: &str = "set tls.ca_file in the rabbitmq profile";

/// The YAML shape of a profile's `tls` block; also what tells two TLS setups apart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFields {
    /// PEM CA certificates trusted besides the system's.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain), for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`, unencrypted.
    pub key_file: Option<PathBuf>,
    /// Accept any broker certificate (KEDA's `unsafeSsl`).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// The TLS client setup of one profile (or the system default). Two are equal when their
/// fields are: connections and HTTP clients are shared by that.
#[derive(Clone)]
pub struct RabbitTls(Arc<Setup>);

struct Setup {
    fields: TlsFields,
    config: Arc<ClientConfig>,
}

impl PartialEq for RabbitTls {
    fn eq(&self, other: &RabbitTls) -> bool {
        self.0.fields == other.0.fields
    }
}

impl Eq for RabbitTls {}

impl std::hash::Hash for RabbitTls {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.fields.hash(state);
    }
}

impl std::fmt::Debug for RabbitTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Paths only: no certificate or key material.
        f.debug_tuple("RabbitTls").field(&self.0.fields).finish()
    }
}

impl Default for RabbitTls {
    /// The system's CAs, chain and host name checked, no client certificate (built once).
    fn default() -> RabbitTls {
        static SYSTEM: OnceLock<RabbitTls> = OnceLock::new();
        SYSTEM
            .get_or_init(|| {
                let verifier = Verifier::new(Some(system_roots(NO_ROOTS_HINT)), true);
                let config = client_config(verifier, None)
                    .expect("the ring provider supports TLS 1.2 and 1.3");
                RabbitTls(Arc::new(Setup {
                    fields: TlsFields::default(),
                    config: Arc::new(config),
                }))
            })
            .clone()
    }
}

impl RabbitTls {
    /// Reads the files `fields` names. `Err`: the field (below `tls.`), the value and what
    /// was expected; never any key material.
    pub fn from_fields(fields: TlsFields) -> Result<RabbitTls, String> {
        Self::build(fields, || system_roots(NO_ROOTS_HINT))
    }

    /// As [`Self::from_fields`], with the system's roots from `system` (tests swap it).
    fn build(
        fields: TlsFields,
        system: impl FnOnce() -> Result<RootCertStore, String>,
    ) -> Result<RabbitTls, String> {
        if fields.insecure_skip_verify && fields.ca_file.is_some() {
            return Err(
                "tls.insecure_skip_verify: true with tls.ca_file: no certificate is checked, so \
                 the CA would never be used; expected one of them"
                    .to_owned(),
            );
        }
        let roots = match (&fields.ca_file, fields.insecure_skip_verify) {
            (_, true) => None,
            (None, false) => Some(system()),
            (Some(path), false) => {
                let pem = read("tls.ca_file", path)?;
                let certs = pem_certificates(&pem, "CA certificates")
                    .map_err(|expected| invalid("tls.ca_file", path, &expected))?;
                // KEDA's NewTLSConfigWithPassword: the system pool, plus these.
                let mut roots = system().unwrap_or_else(|_| RootCertStore::empty());
                if roots.add_parsable_certificates(certs).0 == 0 {
                    let expected = "PEM CA certificates (none of them could be parsed)";
                    return Err(invalid("tls.ca_file", path, expected));
                }
                Some(Ok(roots))
            }
        };
        let client = match (&fields.cert_file, &fields.key_file) {
            (None, None) => None,
            (Some(path), None) => {
                let expected = "tls.key_file as well: a client certificate needs its private key";
                return Err(format!(
                    "tls.cert_file: {} is set alone; expected {expected}",
                    path.display()
                ));
            }
            (None, Some(path)) => {
                let expected = "tls.cert_file as well: a private key needs its certificate";
                return Err(format!(
                    "tls.key_file: {} is set alone; expected {expected}",
                    path.display()
                ));
            }
            (Some(cert), Some(key)) => {
                let chain = pem_certificates(&read("tls.cert_file", cert)?, "a certificate")
                    .map_err(|expected| invalid("tls.cert_file", cert, &expected))?;
                let private = pem_private_key(&read("tls.key_file", key)?)
                    .map_err(|expected| invalid("tls.key_file", key, expected))?;
                Some((chain, private))
            }
        };
        let config = client_config(Verifier::new(roots, true), client).map_err(|e| {
            let key = fields.key_file.as_deref().unwrap_or(Path::new(""));
            let expected = format!("the private key of tls.cert_file ({e})");
            invalid("tls.key_file", key, &expected)
        })?;
        Ok(RabbitTls(Arc::new(Setup {
            fields,
            config: Arc::new(config),
        })))
    }

    /// Whether a client certificate is presented.
    pub fn has_client_certificate(&self) -> bool {
        self.0.fields.cert_file.is_some()
    }

    /// The rustls config for a connection (the management client adds its ALPN to a copy).
    pub fn config(&self) -> Arc<ClientConfig> {
        self.0.config.clone()
    }
}

fn read(field: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{field}: cannot read {}: {e}", path.display()))
}

fn invalid(field: &str, path: &Path, expected: &str) -> String {
    format!("{field}: {}: expected {expected}", path.display())
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
