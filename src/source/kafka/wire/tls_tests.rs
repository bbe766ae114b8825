//! TLS against a real tokio-rustls server on 127.0.0.1, with certificates made by rcgen.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{RootCertStore, crypto};

use super::tests::{build, no_system_roots, props};
use super::*;
use crate::source::test_pki::Pki;

impl Pki {
    /// A server that answers "ok" on each connection; with `client_ca`, only to clients with a
    /// certificate from the test CA.
    async fn serve(&self, client_ca: bool) -> SocketAddr {
        let provider = Arc::new(crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if client_ca {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(
                CertificateDer::pem_slice_iter(self.ca.as_bytes()).map(Result::unwrap),
            );
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let chain = CertificateDer::pem_slice_iter(self.server_chain.as_bytes())
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_slice(self.server_key.as_bytes()).unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(builder.with_single_cert(chain, key).unwrap()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut stream) = acceptor.accept(tcp).await {
                        let _ = stream.write_all(b"ok").await;
                        let _ = stream.shutdown().await;
                    }
                });
            }
        });
        addr
    }
}

/// Connects as the lead's connection layer will, and reads the server's whole answer.
async fn talk(tls: &Tls, addr: SocketAddr, host: &str) -> Result<Vec<u8>, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let connector = TlsConnector::from(tls.client_config());
    let mut stream = connector
        .connect(tls.server_name(host)?, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    Ok(answer)
}

fn tls(pairs: &[(&str, &str)]) -> Tls {
    let mut all = vec![("security.protocol", "ssl")];
    all.extend_from_slice(pairs);
    build(&all).unwrap_or_else(|e| panic!("{e}")).tls.unwrap()
}

#[tokio::test]
async fn the_server_certificate_is_verified_against_the_ca() {
    let pki = Pki::new("verify", &["localhost", "127.0.0.1"]);
    let addr = pki.serve(false).await;
    let (ca, other) = (pki.path("ca.pem"), pki.path("other-ca.pem"));

    let trusted = tls(&[("ssl.ca.location", &ca)]);
    assert_eq!(talk(&trusted, addr, "127.0.0.1").await.unwrap(), b"ok");
    assert_eq!(talk(&trusted, addr, "localhost").await.unwrap(), b"ok");
    let inline = tls(&[("ssl.ca.pem", &pki.ca)]);
    assert_eq!(talk(&inline, addr, "localhost").await.unwrap(), b"ok");

    let wrong = tls(&[("ssl.ca.location", &other)]);
    let error = talk(&wrong, addr, "127.0.0.1").await.unwrap_err();
    assert!(error.contains("invalid peer certificate"), "{error}");

    let unverified = tls(&[
        ("ssl.ca.location", &other),
        ("enable.ssl.certificate.verification", "false"),
    ]);
    assert_eq!(talk(&unverified, addr, "127.0.0.1").await.unwrap(), b"ok");
    let debug = format!("{unverified:?}");
    assert!(
        debug.contains("any server certificate is accepted"),
        "{debug}"
    );
}

#[tokio::test]
async fn host_name_verification_can_be_turned_off_but_not_the_chain() {
    let pki = Pki::new("hostname", &["broker.example"]);
    let addr = pki.serve(false).await;
    let (ca, other) = (pki.path("ca.pem"), pki.path("other-ca.pem"));

    let strict = tls(&[("ssl.ca.location", &ca)]);
    let error = talk(&strict, addr, "127.0.0.1").await.unwrap_err();
    assert!(error.contains("not valid for name"), "{error}");

    let chain_only = tls(&[
        ("ssl.ca.location", &ca),
        ("ssl.endpoint.identification.algorithm", "none"),
    ]);
    assert_eq!(talk(&chain_only, addr, "127.0.0.1").await.unwrap(), b"ok");

    let wrong_chain = tls(&[
        ("ssl.ca.location", &other),
        ("ssl.endpoint.identification.algorithm", "none"),
    ]);
    assert!(talk(&wrong_chain, addr, "127.0.0.1").await.is_err());
}

#[tokio::test]
async fn a_client_certificate_is_presented_for_mutual_tls() {
    let pki = Pki::new("mtls", &["localhost"]);
    let addr = pki.serve(true).await;
    let ca = pki.path("ca.pem");

    let files = tls(&[
        ("ssl.ca.location", &ca),
        ("ssl.certificate.location", &pki.path("client.pem")),
        ("ssl.key.location", &pki.path("client-key.pem")),
    ]);
    assert_eq!(talk(&files, addr, "localhost").await.unwrap(), b"ok");
    let debug = format!("{files:?}");
    assert!(
        debug.contains("client_certificate: Some(\"ssl.certificate.location\")")
            && !debug.contains("PRIVATE"),
        "{debug}"
    );

    let inline = tls(&[
        ("ssl.ca.pem", &pki.ca),
        ("ssl.certificate.pem", &pki.client),
        ("ssl.key.pem", &pki.client_key),
    ]);
    assert_eq!(talk(&inline, addr, "localhost").await.unwrap(), b"ok");

    // The server refuses a client without a certificate (after the handshake, in TLS 1.3).
    let anonymous = tls(&[("ssl.ca.location", &ca)]);
    assert!(talk(&anonymous, addr, "localhost").await.is_err());
}

#[test]
fn client_keys_must_match_and_be_unencrypted() {
    let pki = Pki::new("keys", &["localhost"]);
    let client = pki.path("client.pem");
    let base = [
        ("security.protocol", "ssl"),
        ("ssl.certificate.location", client.as_str()),
    ];

    let other_key = pki.path("other-key.pem");
    let mismatched = [&base[..], &[("ssl.key.location", other_key.as_str())]].concat();
    let error = build(&mismatched).unwrap_err();
    assert_eq!(
        (error.key.as_str(), error.value.as_str()),
        ("ssl.key.location", "***")
    );
    assert!(
        error
            .expected
            .contains("the private key of ssl.certificate.location"),
        "{error}"
    );

    let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let error = build(&[&base[..], &[("ssl.key.pem", encrypted)]].concat()).unwrap_err();
    assert!(
        error
            .expected
            .contains("encrypted keys and their passwords are not supported"),
        "{error}"
    );
    assert!(!error.to_string().contains("MIIF"), "{error}");

    let error = build(&[&base[..], &[("ssl.key.pem", "not a key")]].concat()).unwrap_err();
    assert!(error.expected.contains("a PEM private key"), "{error}");
}

#[tokio::test]
async fn without_any_ca_the_handshake_fails_saying_what_to_set() {
    let pki = Pki::new("noroots", &["localhost"]);
    let addr = pki.serve(false).await;
    let security =
        Security::build(&props(&[("security.protocol", "ssl")]), no_system_roots).unwrap();
    let tls = security.tls.unwrap();
    assert!(format!("{tls:?}").contains("system (0 certificates)"));
    let error = talk(&tls, addr, "localhost").await.unwrap_err();
    assert!(
        error.contains("set ssl.ca.location or ssl.ca.pem"),
        "{error}"
    );
}

#[test]
fn server_names_are_dns_names_or_ip_addresses() {
    let tls = tls(&[]);
    assert_eq!(
        tls.server_name("broker-1.kafka.svc").unwrap(),
        ServerName::try_from("broker-1.kafka.svc").unwrap()
    );
    assert!(matches!(
        tls.server_name("10.0.0.7").unwrap(),
        ServerName::IpAddress(_)
    ));
    assert!(matches!(
        tls.server_name("[::1]").unwrap(),
        ServerName::IpAddress(_)
    ));
    assert_eq!(
        tls.server_name("bad host!").unwrap_err(),
        "broker host \"bad host!\" is not a valid DNS name or IP address"
    );
}
