//! A TLS and SASL front for librdkafka's mock cluster, which speaks plaintext only: a listener
//! on 127.0.0.1 that terminates mutual TLS (a test CA, a server and a client certificate made
//! by rcgen) and Kafka's SASL exchange (PLAIN, or OAUTHBEARER with tokens from
//! [`super::token_server`]), then relays every other request to one plaintext mock broker.
//! Answers that name brokers (Metadata, FindCoordinator) are rewritten to name the front, so
//! the client never reaches the mock directly; with a single-broker mock one front is enough.
//!
//! As a Kafka broker does (SaslServerAuthenticator), the front advertises SaslHandshake and
//! SaslAuthenticate in its ApiVersions answer, refuses a mechanism it does not enable (error
//! 33), answers a wrong credential with SASL_AUTHENTICATION_FAILED (58, an OAUTHBEARER token
//! first with RFC 7628's error JSON) and closes the connection, and closes it too on any other
//! request before authentication.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, FindCoordinatorResponse, MetadataResponse, ResponseHeader,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig, crypto};

/// The test CA, the front's certificate (for 127.0.0.1) and a client certificate, all PEM; the
/// CA and the client's certificate and key are files (`ca.pem`, `client.pem`,
/// `client-key.pem`) in a directory removed on drop.
pub struct Pki {
    dir: PathBuf,
    acceptor: TlsAcceptor,
}

impl Pki {
    pub fn new(label: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "kafka test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let leaf = |name: &str, usage| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
            params.extended_key_usages = vec![usage];
            (
                params.signed_by(&key, &ca).unwrap().pem(),
                key.serialize_pem(),
            )
        };
        let (server, server_key) = leaf("127.0.0.1", ExtendedKeyUsagePurpose::ServerAuth);
        let (client, client_key) = leaf("lagscale", ExtendedKeyUsagePurpose::ClientAuth);
        let dir = std::env::temp_dir().join(super::kafka::unique(&format!(
            "lagscale-secure-kafka-{}-{label}",
            std::process::id()
        )));
        std::fs::create_dir_all(&dir).unwrap();
        for (file, pem) in [
            ("ca.pem", &ca.pem()),
            ("client.pem", &client),
            ("client-key.pem", &client_key),
        ] {
            std::fs::write(dir.join(file), pem).unwrap();
        }
        // Mutual TLS: only a client certificate from the test CA gets in.
        let provider = Arc::new(crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(
            CertificateDer::pem_slice_iter(ca.pem().as_bytes()).map(Result::unwrap),
        );
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .unwrap();
        let chain = CertificateDer::pem_slice_iter(server.as_bytes())
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_slice(server_key.as_bytes()).unwrap();
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        Pki { dir, acceptor }
    }

    /// The path of `ca.pem`, `client.pem` or `client-key.pem`.
    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).to_str().unwrap().to_owned()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The one SASL mechanism the front enables, and the credential it accepts.
pub enum Mechanism {
    Plain {
        user: String,
        password: String,
    },
    /// A token the token server issued, with exactly these RFC 7628 extensions.
    OAuthBearer {
        issued: Arc<Mutex<Vec<String>>>,
        extensions: Vec<(String, String)>,
    },
}

impl Mechanism {
    fn name(&self) -> &'static str {
        match self {
            Mechanism::Plain { .. } => "PLAIN",
            Mechanism::OAuthBearer { .. } => "OAUTHBEARER",
        }
    }

    /// Whether the first SaslAuthenticate's bytes carry the accepted credential.
    fn accepts(&self, bytes: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return false;
        };
        match self {
            // RFC 4616: authzid NUL authcid NUL passwd, authzid empty or the user.
            Mechanism::Plain { user, password } => match text.split('\0').collect::<Vec<_>>()[..] {
                [authzid, who, pass] => {
                    (authzid.is_empty() || authzid == user) && who == user && pass == password
                }
                _ => false,
            },
            // RFC 7628: gs2-header ^A auth=Bearer TOKEN ^A (key=value ^A)* ^A.
            Mechanism::OAuthBearer { issued, extensions } => {
                let Some(rest) = text.strip_prefix("n,,\x01") else {
                    return false;
                };
                let Some(pairs) = rest.strip_suffix("\x01\x01") else {
                    return false;
                };
                let mut token = None;
                let mut sent = Vec::new();
                for pair in pairs.split('\x01') {
                    match pair.split_once('=') {
                        Some(("auth", value)) => token = value.strip_prefix("Bearer "),
                        Some((key, value)) => sent.push((key.to_owned(), value.to_owned())),
                        None => return false,
                    }
                }
                let known = token.is_some_and(|t| issued.lock().unwrap().iter().any(|i| i == t));
                sent.sort();
                let mut wanted = extensions.clone();
                wanted.sort();
                known && sent == wanted
            }
        }
    }
}

/// What the front saw: connections authenticated and refused, requests relayed by API.
#[derive(Default)]
struct Stats {
    authenticated: AtomicUsize,
    refused: AtomicUsize,
    relayed: Mutex<HashMap<i16, usize>>,
}

/// A running front on 127.0.0.1.
pub struct Front {
    pub addr: SocketAddr,
    stats: Arc<Stats>,
}

struct Shared {
    upstream: String,
    port: i32,
    mechanism: Mechanism,
    stats: Arc<Stats>,
}

impl Front {
    /// A front for the plaintext broker at `upstream` (`host:port`).
    pub async fn start(upstream: &str, pki: &Pki, mechanism: Mechanism) -> Front {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(Stats::default());
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            port: i32::from(addr.port()),
            mechanism,
            stats: stats.clone(),
        });
        let acceptor = pki.acceptor.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, shared) = (acceptor.clone(), shared.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        serve(tls, &shared).await;
                    }
                });
            }
        });
        Front { addr, stats }
    }

    /// `host:port` for a profile's `bootstrap_servers`.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// Connections that authenticated.
    pub fn authenticated(&self) -> usize {
        self.stats.authenticated.load(Ordering::SeqCst)
    }

    /// Connections whose credential was refused.
    pub fn refused(&self) -> usize {
        self.stats.refused.load(Ordering::SeqCst)
    }

    /// Requests of `key` relayed to the mock broker, after authentication.
    pub fn relayed(&self, key: ApiKey) -> usize {
        let relayed = self.stats.relayed.lock().unwrap();
        relayed.get(&(key as i16)).copied().unwrap_or(0)
    }
}

/// One client connection, one request at a time (Kafka answers in order anyway).
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut client: S, front: &Shared) -> Option<()> {
    let mut broker = TcpStream::connect(&front.upstream).await.ok()?;
    let (mut authenticated, mut challenged) = (false, false);
    loop {
        let frame = read_frame(&mut client).await?;
        let mut body = frame.clone();
        let header = kafka_protocol::protocol::decode_request_header_from_buffer(&mut body).ok()?;
        let key = ApiKey::try_from(header.request_api_key).ok()?;
        let (version, correlation) = (header.request_api_version, header.correlation_id);
        let reply = match key {
            ApiKey::ApiVersions => {
                let answer = relay(&mut broker, &frame).await?;
                let (header, mut versions) = decode::<ApiVersionsResponse>(answer, key, version)?;
                let sasl = [
                    ApiKey::SaslHandshake as i16,
                    ApiKey::SaslAuthenticate as i16,
                ];
                versions.api_keys.retain(|v| !sasl.contains(&v.api_key));
                versions.api_keys.push(offered(ApiKey::SaslHandshake, 0, 1));
                versions
                    .api_keys
                    .push(offered(ApiKey::SaslAuthenticate, 0, 2));
                encode(header, &versions, key, version)
            }
            ApiKey::SaslHandshake => {
                let asked = SaslHandshakeRequest::decode(&mut body, version).ok()?;
                let mut reply = SaslHandshakeResponse::default();
                reply.mechanisms = vec![StrBytes::from_static_str(front.mechanism.name())];
                if asked.mechanism.as_str() != front.mechanism.name() {
                    reply.error_code = 33; // UNSUPPORTED_SASL_MECHANISM
                }
                encode(header_for(correlation), &reply, key, version)
            }
            ApiKey::SaslAuthenticate => {
                let asked = SaslAuthenticateRequest::decode(&mut body, version).ok()?;
                let mut reply = SaslAuthenticateResponse::default();
                let oauth = matches!(front.mechanism, Mechanism::OAuthBearer { .. });
                if !challenged && front.mechanism.accepts(&asked.auth_bytes) {
                    authenticated = true;
                    front.stats.authenticated.fetch_add(1, Ordering::SeqCst);
                } else if oauth && !challenged {
                    challenged = true;
                    reply.auth_bytes = Bytes::from_static(br#"{"status":"invalid_token"}"#);
                    front.stats.refused.fetch_add(1, Ordering::SeqCst);
                } else {
                    reply.error_code = 58; // SASL_AUTHENTICATION_FAILED
                    let message = "Authentication failed: Invalid username or password";
                    reply.error_message = Some(StrBytes::from_static_str(message));
                    if !oauth {
                        front.stats.refused.fetch_add(1, Ordering::SeqCst);
                    }
                    let reply = encode(header_for(correlation), &reply, key, version)?;
                    write_frame(&mut client, &reply).await?;
                    return None;
                }
                encode(header_for(correlation), &reply, key, version)
            }
            _ if !authenticated => return None,
            _ => {
                *front
                    .stats
                    .relayed
                    .lock()
                    .unwrap()
                    .entry(key as i16)
                    .or_default() += 1;
                let answer = relay(&mut broker, &frame).await?;
                rewrite(answer, key, version, front.port)
            }
        };
        write_frame(&mut client, &reply?).await?;
    }
}

/// The broker's answer, with every broker it names pointing at the front.
fn rewrite(answer: Bytes, key: ApiKey, version: i16, port: i32) -> Option<Bytes> {
    let host = || StrBytes::from_static_str("127.0.0.1");
    match key {
        ApiKey::Metadata => {
            let (header, mut metadata) = decode::<MetadataResponse>(answer, key, version)?;
            for broker in &mut metadata.brokers {
                (broker.host, broker.port) = (host(), port);
            }
            encode(header, &metadata, key, version)
        }
        ApiKey::FindCoordinator => {
            let (header, mut found) = decode::<FindCoordinatorResponse>(answer, key, version)?;
            if version < 4 {
                (found.host, found.port) = (host(), port);
            }
            for coordinator in &mut found.coordinators {
                (coordinator.host, coordinator.port) = (host(), port);
            }
            encode(header, &found, key, version)
        }
        _ => Some(answer),
    }
}

fn offered(key: ApiKey, min: i16, max: i16) -> ApiVersion {
    let mut version = ApiVersion::default();
    version.api_key = key as i16;
    version.min_version = min;
    version.max_version = max;
    version
}

fn header_for(correlation: i32) -> ResponseHeader {
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation;
    header
}

fn decode<M: Decodable>(
    mut answer: Bytes,
    key: ApiKey,
    version: i16,
) -> Option<(ResponseHeader, M)> {
    let header = ResponseHeader::decode(&mut answer, key.response_header_version(version)).ok()?;
    Some((header, M::decode(&mut answer, version).ok()?))
}

fn encode<M: Encodable>(
    header: ResponseHeader,
    message: &M,
    key: ApiKey,
    version: i16,
) -> Option<Bytes> {
    let mut body = BytesMut::new();
    header
        .encode(&mut body, key.response_header_version(version))
        .ok()?;
    message.encode(&mut body, version).ok()?;
    Some(body.freeze())
}

async fn relay(broker: &mut TcpStream, frame: &Bytes) -> Option<Bytes> {
    write_frame(broker, frame).await?;
    read_frame(broker).await
}

async fn read_frame<S: AsyncRead + Unpin>(socket: &mut S) -> Option<Bytes> {
    let size = socket.read_i32().await.ok()?;
    let mut frame = vec![0; usize::try_from(size).ok()?];
    socket.read_exact(&mut frame).await.ok()?;
    Some(Bytes::from(frame))
}

async fn write_frame<S: AsyncWrite + Unpin>(socket: &mut S, body: &[u8]) -> Option<()> {
    let mut frame = BytesMut::with_capacity(4 + body.len());
    frame.put_i32(i32::try_from(body.len()).ok()?);
    frame.put_slice(body);
    socket.write_all(&frame).await.ok()?;
    socket.flush().await.ok()
}
