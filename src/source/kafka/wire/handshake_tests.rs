//! A connection's handshakes against a fake broker on 127.0.0.1 that speaks TLS (rustls, a
//! certificate made by rcgen) and SASL PLAIN the way Kafka does: ApiVersions, SaslHandshake,
//! SaslAuthenticate, then a Metadata request on the authenticated connection.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, MetadataRequest, MetadataResponse, ResponseHeader,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes, VersionRange};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::connection::{Connection, WireError};
use super::security::Security;

const TIMEOUT: Duration = Duration::from_secs(5);
const PASSWORD: &str = "s3cret-kafka-pw";

/// The fake broker's TLS identity, and the CA file (PEM) a client needs to trust it.
struct Identity {
    acceptor: TlsAcceptor,
    ca_file: std::path::PathBuf,
}

fn identity(test: &str) -> Identity {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let ca_file = std::env::temp_dir().join(format!(
        "lagscale-handshake-{}-{test}.pem",
        std::process::id()
    ));
    std::fs::write(&ca_file, cert.pem()).unwrap();
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    Identity {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_file,
    }
}

pub(super) async fn read_request<S: AsyncRead + Unpin>(
    socket: &mut S,
) -> Option<(i16, i16, i32, Bytes)> {
    let size = socket.read_i32().await.ok()?;
    let mut frame = vec![0; usize::try_from(size).ok()?];
    socket.read_exact(&mut frame).await.ok()?;
    let mut frame = Bytes::from(frame);
    let header = kafka_protocol::protocol::decode_request_header_from_buffer(&mut frame).ok()?;
    Some((
        header.request_api_key,
        header.request_api_version,
        header.correlation_id,
        frame,
    ))
}

pub(super) async fn answer<S: AsyncWrite + Unpin, M: Encodable>(
    socket: &mut S,
    key: ApiKey,
    version: i16,
    correlation: i32,
    message: &M,
) {
    let mut body = BytesMut::new();
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation;
    header
        .encode(&mut body, key.response_header_version(version))
        .unwrap();
    message.encode(&mut body, version).unwrap();
    let mut frame = BytesMut::new();
    frame.put_i32(body.len() as i32);
    frame.put_slice(&body);
    socket.write_all(&frame).await.unwrap();
}

pub(super) fn offered(key: ApiKey, min: i16, max: i16) -> ApiVersion {
    let mut version = ApiVersion::default();
    version.api_key = key as i16;
    version.min_version = min;
    version.max_version = max;
    version
}

/// Serves one connection: Kafka's SASL PLAIN flow for `user`/[`PASSWORD`], then Metadata.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut socket: S) {
    while let Some((key, version, correlation, mut body)) = read_request(&mut socket).await {
        match ApiKey::try_from(key).unwrap() {
            ApiKey::ApiVersions => {
                let mut versions = ApiVersionsResponse::default();
                versions.api_keys = vec![
                    offered(ApiKey::Metadata, 4, 8),
                    offered(ApiKey::SaslHandshake, 0, 1),
                    offered(ApiKey::SaslAuthenticate, 0, 2),
                ];
                answer(
                    &mut socket,
                    ApiKey::ApiVersions,
                    version,
                    correlation,
                    &versions,
                )
                .await;
            }
            ApiKey::SaslHandshake => {
                let asked = SaslHandshakeRequest::decode(&mut body, version).unwrap();
                let mut reply = SaslHandshakeResponse::default();
                reply.mechanisms = vec![StrBytes::from_static_str("PLAIN")];
                if asked.mechanism.as_str() != "PLAIN" {
                    reply.error_code = 33; // UNSUPPORTED_SASL_MECHANISM
                }
                answer(
                    &mut socket,
                    ApiKey::SaslHandshake,
                    version,
                    correlation,
                    &reply,
                )
                .await;
            }
            ApiKey::SaslAuthenticate => {
                let asked = SaslAuthenticateRequest::decode(&mut body, version).unwrap();
                let mut reply = SaslAuthenticateResponse::default();
                if asked.auth_bytes[..] != *format!("\0user\0{PASSWORD}").as_bytes() {
                    reply.error_code = 58; // SASL_AUTHENTICATION_FAILED
                    reply.error_message = Some(StrBytes::from_static_str(
                        "Authentication failed: Invalid username or password",
                    ));
                }
                answer(
                    &mut socket,
                    ApiKey::SaslAuthenticate,
                    version,
                    correlation,
                    &reply,
                )
                .await;
            }
            ApiKey::Metadata => {
                let mut reply = MetadataResponse::default();
                reply.cluster_id = Some(StrBytes::from_static_str("fake"));
                answer(&mut socket, ApiKey::Metadata, version, correlation, &reply).await;
            }
            _ => return,
        }
    }
}

/// A fake broker on 127.0.0.1: over TLS when given an identity.
async fn broker(tls: Option<TlsAcceptor>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(socket).await {
                            serve(stream).await;
                        }
                    }
                    None => serve(socket).await,
                }
            });
        }
    });
    port
}

fn security(pairs: &[(&str, &str)]) -> Security {
    let properties: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Security::from_properties(&properties).unwrap()
}

async fn metadata(connection: &Connection) -> Result<(), WireError> {
    let version = connection.version(ApiKey::Metadata, VersionRange { min: 4, max: 8 })?;
    connection
        .call(ApiKey::Metadata, version, &MetadataRequest::default())
        .await
        .map(|_| ())
}

#[tokio::test]
async fn sasl_ssl_plain_authenticates_then_serves_requests() {
    let identity = identity("plain");
    let port = broker(Some(identity.acceptor.clone())).await;
    let ca = identity.ca_file.to_str().unwrap().to_owned();
    let security = security(&[
        ("security.protocol", "SASL_SSL"),
        ("ssl.ca.location", &ca),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "user"),
        ("sasl.password", PASSWORD),
    ]);
    let connection = Connection::open("127.0.0.1", port, &security, TIMEOUT)
        .await
        .unwrap();
    metadata(&connection).await.unwrap();
    let _ = std::fs::remove_file(identity.ca_file);
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_never_shown() {
    let identity = identity("wrong");
    let port = broker(Some(identity.acceptor.clone())).await;
    let ca = identity.ca_file.to_str().unwrap().to_owned();
    let security = security(&[
        ("security.protocol", "SASL_SSL"),
        ("ssl.ca.location", &ca),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "user"),
        ("sasl.password", "not-the-password"),
    ]);
    let error = Connection::open("127.0.0.1", port, &security, TIMEOUT)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&error, WireError::Auth { reason, .. } if reason.contains("Invalid username")),
        "{error}"
    );
    assert!(!error.to_string().contains("not-the-password"), "{error}");
    let _ = std::fs::remove_file(identity.ca_file);
}

#[tokio::test]
async fn a_mechanism_the_broker_does_not_enable_is_named() {
    let port = broker(None).await;
    let security = security(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", "user"),
        ("sasl.password", PASSWORD),
    ]);
    let error = Connection::open("127.0.0.1", port, &security, TIMEOUT)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&error, WireError::Auth { reason, .. }
            if reason.contains("SCRAM-SHA-512") && reason.contains("PLAIN")),
        "{error}"
    );
}

#[tokio::test]
async fn a_broker_certificate_from_another_ca_is_refused() {
    let identity = identity("other-ca");
    let port = broker(Some(identity.acceptor.clone())).await;
    let stranger = self::identity("stranger");
    let ca = stranger.ca_file.to_str().unwrap().to_owned();
    let security = security(&[("security.protocol", "SSL"), ("ssl.ca.location", &ca)]);
    let error = Connection::open("127.0.0.1", port, &security, TIMEOUT)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&error, WireError::Connect { reason, .. } if reason.contains("TLS")),
        "{error}"
    );
    let _ = std::fs::remove_file(identity.ca_file);
    let _ = std::fs::remove_file(stranger.ca_file);
}
