//! TLS client pieces both sources build on: the system's CA roots, how a broker's
//! certificate is checked ([`Verifier`]), the rustls config with an optional client
//! certificate, and PEM reading whose errors never quote the key material. Each source maps
//! its own settings onto these: Kafka's `ssl.*` properties (`kafka/wire/tls.rs`), a RabbitMQ
//! profile's `tls` block (`rabbitmq/tls.rs`).

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

/// The system's CA certificates, or why there are none: `hint` says what to set instead.
pub fn system_roots(hint: &str) -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = found.errors.first().map(|e| format!(" ({e})"));
        return Err(format!(
            "no CA certificates to verify the broker with: the system trust store has none{}; \
             {hint}",
            why.unwrap_or_default()
        ));
    }
    Ok(roots)
}

/// A client certificate (chain) and its private key.
pub type ClientAuth = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// TLS 1.2 and 1.3 with the ring provider, `verifier`, and a client certificate if given.
pub fn client_config(
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

/// The certificates in PEM `bytes`, at least one; `Err`: what was expected, for `what`
/// ("CA certificates", "the client certificate (chain)").
pub fn pem_certificates(bytes: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(bytes).collect::<Result<Vec<_>, _>>();
    let certs = certs.map_err(|e| format!("PEM with {what} ({e})"))?;
    if certs.is_empty() {
        return Err(format!("PEM with {what} (it has no CERTIFICATE block)"));
    }
    Ok(certs)
}

/// The private key in PEM `bytes`; `Err`: what was expected. Never quotes the PEM parser,
/// which may echo a line of the key.
pub fn pem_private_key(bytes: &[u8]) -> Result<PrivateKeyDer<'static>, &'static str> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|_| {
        match bytes.windows(9).any(|w| w == b"ENCRYPTED") {
            true => "an unencrypted PEM private key (encrypted keys and their passwords are not supported)",
            false => "a PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
        }
    })
}

/// The name to verify and send as SNI for `host` (an IP address works too). `Err` names the
/// host.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    ServerName::try_from(bare.unwrap_or(host).to_owned())
        .map_err(|_| format!("broker host {host:?} is not a valid DNS name or IP address"))
}

/// How a broker's certificate is checked. Handshake signatures are verified with the
/// provider's algorithms in every case, so the peer must hold the key of the certificate it
/// shows even when the certificate itself is not checked.
#[derive(Debug)]
pub struct Verifier {
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
    pub fn new(roots: Option<Result<RootCertStore, String>>, names: bool) -> Verifier {
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
