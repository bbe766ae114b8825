//! TLS to the brokers: the rustls client config a profile's `ssl.*` properties describe (CA
//! roots, a client certificate, and how much of the broker's certificate to verify), built once
//! by [`super::security::Security::from_properties`].

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{self, CryptoProvider};
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::security::{PropertyError, Props};

/// The system's CA certificates, or why there are none (a function, so tests can swap it).
pub(super) type SystemRoots = fn() -> Result<RootCertStore, String>;

pub(super) fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = found.errors.first().map(|e| format!(" ({e})"));
        return Err(format!(
            "no CA certificates to verify the broker with: the system trust store has none{}; \
             set ssl.ca.location or ssl.ca.pem",
            why.unwrap_or_default()
        ));
    }
    Ok(roots)
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
        let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
        ServerName::try_from(bare.unwrap_or(host).to_owned())
            .map_err(|_| format!("broker host {host:?} is not a valid DNS name or IP address"))
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

type ClientAuth = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// TLS 1.2 and 1.3 with the ring provider, `verifier`, and a client certificate if given.
pub(super) fn client_config(
    verifier: Verifier,
    client: Option<ClientAuth>,
) -> Result<ClientConfig, rustls::Error> {
    let builder = ClientConfig::builder_with_provider(verifier.provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    match client {
        None => Ok(builder.with_no_client_auth()),
        Some((chain, key)) => builder.with_client_auth_cert(chain, key),
    }
}

/// The certificates in PEM `bytes`; at least one.
fn certificates(
    p: &Props,
    key: &str,
    bytes: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, PropertyError> {
    let certs = CertificateDer::pem_slice_iter(bytes).collect::<Result<Vec<_>, _>>();
    let certs = certs.map_err(|e| p.invalid(key, format!("PEM with {what} ({e})")))?;
    if certs.is_empty() {
        return Err(p.invalid(
            key,
            format!("PEM with {what} (it has no CERTIFICATE block)"),
        ));
    }
    Ok(certs)
}

/// The private key in PEM `bytes`. Errors never quote the PEM parser, which may echo a line.
fn private_key(
    p: &Props,
    key: &str,
    bytes: &[u8],
) -> Result<PrivateKeyDer<'static>, PropertyError> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|_| {
        let expected = match bytes.windows(9).any(|w| w == b"ENCRYPTED") {
            true => "an unencrypted PEM private key (encrypted keys and ssl.key.password are not supported)",
            false => "a PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
        };
        p.invalid(key, expected)
    })
}

/// How a broker's certificate is checked. Handshake signatures are verified with the
/// provider's algorithms in every case, so the peer must hold the key of the certificate it
/// shows even when the certificate itself is not checked.
#[derive(Debug)]
pub(super) struct Verifier {
    provider: Arc<CryptoProvider>,
    check: Check,
}

#[derive(Debug)]
enum Check {
    /// The chain against CA roots; the host name too unless `names` is false
    /// (`ssl.endpoint.identification.algorithm=none`).
    Chain {
        webpki: Arc<WebPkiServerVerifier>,
        names: bool,
    },
    /// `enable.ssl.certificate.verification=false`.
    Nothing,
    /// No CA certificates at all: every handshake fails with this reason.
    Refuse(String),
}

impl Verifier {
    /// `roots`: None to check nothing; Err (why there are none) to refuse every server.
    pub(super) fn new(roots: Option<Result<RootCertStore, String>>, names: bool) -> Verifier {
        let provider = Arc::new(crypto::ring::default_provider());
        let check = match roots {
            None => Check::Nothing,
            Some(roots) => roots
                .and_then(|roots| {
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| format!("cannot verify broker certificates: {e}"))
                })
                .map_or_else(Check::Refuse, |webpki| Check::Chain { webpki, names }),
        };
        Verifier { provider, check }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let (webpki, names) = match &self.check {
            Check::Nothing => return Ok(ServerCertVerified::assertion()),
            Check::Refuse(reason) => return Err(rustls::Error::General(reason.clone())),
            Check::Chain { webpki, names } => (webpki, *names),
        };
        // webpki checks the chain before the name: a name error means the chain was good.
        match webpki.verify_server_cert(end_entity, intermediates, name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !names => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
