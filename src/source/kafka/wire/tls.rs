//! TLS to the brokers: the rustls client config a profile's `ssl.*` properties describe (CA
//! roots, a client certificate, and how much of the broker's certificate to verify), built once
//! by [`super::security::Security::from_properties`].

use std::sync::Arc;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::security::{PropertyError, Props};
use crate::source::tls::{Verifier, client_config, pem_certificates, pem_private_key};

/// The system's CA certificates, or why there are none (a function, so tests can swap it).
pub(super) type SystemRoots = fn() -> Result<RootCertStore, String>;

pub(super) fn system_roots() -> Result<RootCertStore, String> {
    crate::source::tls::system_roots("set ssl.ca.location or ssl.ca.pem")
}

/// TLS to the brokers. Manual Debug that shows no secret.
#[derive(Clone)]
pub struct Tls {
    config: Arc<ClientConfig>,
    verify_certificate: bool,
    verify_hostname: bool,
    /// Where the CA certificates come from.
    ca: String,
    /// Where the client certificate (mutual TLS) comes from: the key that names it.
    client_certificate: Option<&'static str>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("verify_certificate", &self.verify_certificate)
            .field("verify_hostname", &self.verify_hostname)
            .field("ca", &self.ca)
            .field("client_certificate", &self.client_certificate)
            .finish()
    }
}

impl Tls {
    /// The rustls connector config to use for a broker at `host`.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    /// The name to verify/send as SNI for `host` (an IP address works too). Err names the host.
    pub fn server_name(&self, host: &str) -> Result<ServerName<'static>, String> {
        crate::source::tls::server_name(host)
    }

    pub(super) fn from_props(p: &Props, system: SystemRoots) -> Result<Tls, PropertyError> {
        let verify_certificate = match p
            .choice("enable.ssl.certificate.verification", "true")
            .as_str()
        {
            // librdkafka's booleans.
            "true" | "t" | "1" => true,
            "false" | "f" | "0" => false,
            _ => return Err(p.invalid("enable.ssl.certificate.verification", "true or false")),
        };
        let verify_hostname = match p
            .choice("ssl.endpoint.identification.algorithm", "https")
            .as_str()
        {
            "https" => true,
            "none" => false,
            _ => {
                let expected = "https (check the broker's host name) or none (check the certificate chain only)";
                return Err(p.invalid("ssl.endpoint.identification.algorithm", expected));
            }
        };
        // librdkafka trusts both when both are set.
        let mut roots = RootCertStore::empty();
        let mut ca = Vec::new();
        let inline = p.get("ssl.ca.pem").map(|text| text.as_bytes().to_vec());
        for (key, bytes) in [
            ("ssl.ca.location", p.file("ssl.ca.location")?),
            ("ssl.ca.pem", inline),
        ] {
            let Some(bytes) = bytes else { continue };
            let certs = certificates(p, key, &bytes, "CA certificates")?;
            if roots.add_parsable_certificates(certs).0 == 0 {
                return Err(p.invalid(key, "PEM CA certificates (none of them could be parsed)"));
            }
            ca.push(match key {
                "ssl.ca.location" => format!("file {}", p.get(key).unwrap_or_default()),
                _ => key.to_owned(),
            });
        }
        let roots = match (verify_certificate, ca.is_empty()) {
            (false, _) => {
                ca = vec!["none: any server certificate is accepted".to_owned()];
                None
            }
            (true, false) => Some(Ok(roots)),
            (true, true) => {
                let system = system();
                let count = system.as_ref().map_or(0, |roots| roots.len());
                ca.push(format!("system ({count} certificates)"));
                Some(system)
            }
        };
        let cert = p.pem("ssl.certificate.location", "ssl.certificate.pem")?;
        let key = p.pem("ssl.key.location", "ssl.key.pem")?;
        let client = match (cert, key) {
            (None, None) => None,
            (Some((cert_key, _)), None) => {
                let expected = "ssl.key.location or ssl.key.pem as well: a client certificate needs its private key";
                return Err(p.invalid(cert_key, expected));
            }
            (None, Some((key_key, _))) => {
                let expected = "ssl.certificate.location or ssl.certificate.pem as well: a private key needs its certificate";
                return Err(p.invalid(key_key, expected));
            }
            (Some((cert_key, cert)), Some((key_key, key))) => {
                let chain = certificates(p, cert_key, &cert, "the client certificate (chain)")?;
                Some((cert_key, key_key, chain, private_key(p, key_key, &key)?))
            }
        };
        let client_certificate = client.as_ref().map(|(cert_key, ..)| *cert_key);
        let keys = client.as_ref().map(|(c, k, ..)| (*c, *k));
        let config = client_config(
            Verifier::new(roots, verify_hostname),
            client.map(|(_, _, c, k)| (c, k)),
        )
        .map_err(|e| match keys {
            Some((cert_key, key_key)) => {
                p.invalid(key_key, format!("the private key of {cert_key} ({e})"))
            }
            None => p.invalid("security.protocol", format!("TLS 1.2 or 1.3 ({e})")),
        })?;
        Ok(Tls {
            config: Arc::new(config),
            verify_certificate,
            verify_hostname,
            ca: ca.join(" + "),
            client_certificate,
        })
    }
}

/// The certificates in PEM `bytes`; at least one.
fn certificates(
    p: &Props,
    key: &str,
    bytes: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, PropertyError> {
    pem_certificates(bytes, what).map_err(|expected| p.invalid(key, expected))
}

/// The private key in PEM `bytes`.
fn private_key(
    p: &Props,
    key: &str,
    bytes: &[u8],
) -> Result<PrivateKeyDer<'static>, PropertyError> {
    pem_private_key(bytes).map_err(|expected| p.invalid(key, expected))
}
