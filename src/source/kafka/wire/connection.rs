//! One connection to one broker: TCP (and TLS when the profile asks), the ApiVersions and SASL
//! handshakes, then pipelined requests matched to their answers by correlation id.
//!
//! Two tasks own the socket: a writer that sends queued requests in order, and a reader that
//! hands each answer to the request waiting for it. Any read or write error, an answer nobody
//! asked for, or a frame over [`MAX_FRAME_BYTES`] closes the connection and fails every request
//! still waiting, so nothing waits past its own timeout for a broker that went away. Dropping
//! the [`Connection`] ends both tasks and closes the socket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, RequestHeader, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Encodable, StrBytes, VersionRange};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use super::decode::{self, Reader};
use super::security::Security;

/// The largest answer accepted. Lag requests are small; a bigger frame is garbage or hostile.
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// Requests sent on one connection and not yet answered, at most.
pub const MAX_IN_FLIGHT: usize = 64;

/// The ApiVersions version sent first: v2 is understood by every broker since Kafka 2.0 and
/// needs no flexible encoding, so any broker can answer it.
const API_VERSIONS_VERSION: i16 = 2;

/// Why a request on a connection failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WireError {
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("connection to {addr} lost: {reason}")]
    Closed { addr: String, reason: String },
    #[error("{addr} did not answer {operation} within {after_ms} ms")]
    Timeout {
        addr: String,
        operation: &'static str,
        after_ms: u128,
    },
    #[error("{addr} sent an answer that cannot be read: {reason}")]
    Protocol { addr: String, reason: String },
    #[error("{addr} does not support {api} in a version lagscale speaks (it offers {offered})")]
    Unsupported {
        addr: String,
        api: &'static str,
        offered: String,
    },
    #[error("{addr} refused authentication: {reason}")]
    Auth { addr: String, reason: String },
}

/// The versions of each API the broker supports, from its ApiVersions answer.
#[derive(Debug, Clone, Default)]
pub struct ApiVersions(HashMap<i16, (i16, i16)>);

impl ApiVersions {
    /// The highest version both sides speak, within `ours`.
    pub fn pick(&self, key: ApiKey, ours: VersionRange) -> Option<i16> {
        let (min, max) = *self.0.get(&(key as i16))?;
        let version = max.min(ours.max);
        (version >= min.max(ours.min)).then_some(version)
    }

    fn describe(&self, key: ApiKey) -> String {
        match self.0.get(&(key as i16)) {
            Some((min, max)) => format!("v{min}-v{max}"),
            None => "none".to_owned(),
        }
    }
}

/// An open, authenticated connection to one broker.
pub struct Connection {
    addr: String,
    versions: ApiVersions,
    client_id: StrBytes,
    next_correlation: AtomicI32,
    queue: mpsc::Sender<Outgoing>,
    in_flight: Arc<Semaphore>,
    shared: Arc<Shared>,
    reader: tokio::task::AbortHandle,
}

/// What the reader and the request side both see.
struct Shared {
    addr: String,
    waiting: Mutex<HashMap<i32, Waiter>>,
    closed: AtomicBool,
    /// Why the connection closed, for requests that arrive after.
    reason: Mutex<Option<String>>,
}

struct Waiter {
    reply: oneshot::Sender<Result<Bytes, WireError>>,
    _permit: OwnedSemaphorePermit,
}

struct Outgoing {
    frame: Bytes,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Connection {
    /// Connects to `host:port`, negotiates versions and authenticates, within `timeout`.
    pub async fn open(
        host: &str,
        port: u16,
        security: &Security,
        timeout: Duration,
    ) -> Result<Connection, WireError> {
        let addr = format!("{host}:{port}");
        let opening = Connection::handshake(host, port, &addr, security);
        match tokio::time::timeout(timeout, opening).await {
            Ok(result) => result,
            Err(_) => Err(WireError::Timeout {
                addr,
                operation: "connecting",
                after_ms: timeout.as_millis(),
            }),
        }
    }

    async fn handshake(
        host: &str,
        port: u16,
        addr: &str,
        security: &Security,
    ) -> Result<Connection, WireError> {
        let connect_error = |reason: String| WireError::Connect {
            addr: addr.to_owned(),
            reason,
        };
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let client_id = StrBytes::from_string(security.client_id.clone());
        match &security.tls {
            None => Connection::start(tcp, addr, client_id, security).await,
            Some(tls) => {
                let name = tls.server_name(host).map_err(connect_error)?;
                let connector = tokio_rustls::TlsConnector::from(tls.client_config());
                let stream = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| connect_error(format!("TLS handshake: {e}")))?;
                Connection::start(stream, addr, client_id, security).await
            }
        }
    }

    async fn start<S>(
        mut stream: S,
        addr: &str,
        client_id: StrBytes,
        security: &Security,
    ) -> Result<Connection, WireError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let mut setup = Setup {
            stream: &mut stream,
            addr,
            client_id: &client_id,
            correlation: 0,
        };
        let (error, keys) = setup
            .call(
                ApiKey::ApiVersions,
                ApiVersionsRequest::default(),
                API_VERSIONS_VERSION,
                |r, _| decode::api_versions(r),
            )
            .await?;
        if error != 0 {
            return Err(WireError::Protocol {
                addr: addr.to_owned(),
                reason: format!("ApiVersions answered error {}", error_name(error)),
            });
        }
        let versions = ApiVersions(
            keys.into_iter()
                .map(|(key, min, max)| (key, (min, max)))
                .collect(),
        );
        if let Some(sasl) = &security.sasl {
            setup.authenticate(sasl, &versions).await?;
        }
        let next = setup.correlation;
        let (read, write) = tokio::io::split(stream);
        let (queue, outgoing) = mpsc::channel(MAX_IN_FLIGHT);
        let shared = Arc::new(Shared {
            addr: addr.to_owned(),
            waiting: Mutex::default(),
            closed: AtomicBool::new(false),
            reason: Mutex::default(),
        });
        tokio::spawn(write_frames(write, outgoing, shared.clone()));
        let reader = tokio::spawn(read_frames(read, shared.clone())).abort_handle();
        Ok(Connection {
            addr: addr.to_owned(),
            versions,
            client_id,
            next_correlation: AtomicI32::new(next),
            queue,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            shared,
            reader,
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn versions(&self) -> &ApiVersions {
        &self.versions
    }

    /// False once the socket failed or the broker closed it: open a new connection.
    pub fn is_open(&self) -> bool {
        !self.shared.closed.load(Ordering::SeqCst) && !self.queue.is_closed()
    }

    /// The version of `R` to use with this broker, or why there is none.
    pub fn version(&self, key: ApiKey, ours: VersionRange) -> Result<i16, WireError> {
        self.versions
            .pick(key, ours)
            .ok_or_else(|| WireError::Unsupported {
                addr: self.addr.clone(),
                api: api_name(key),
                offered: self.versions.describe(key),
            })
    }

    /// Sends one request and waits for its answer frame (see [`decode::answer`]). The caller
    /// bounds the wait; a request whose caller gave up is still answered and the answer dropped.
    pub async fn call<R: Encodable>(
        &self,
        key: ApiKey,
        version: i16,
        request: &R,
    ) -> Result<Bytes, WireError> {
        let closed = || WireError::Closed {
            addr: self.addr.clone(),
            reason: self
                .shared
                .reason
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
                .unwrap_or_else(|| "closed".to_owned()),
        };
        if !self.is_open() {
            return Err(closed());
        }
        // At most MAX_IN_FLIGHT requests wait for answers; more wait here for a place, within
        // the caller's timeout.
        let permit = self
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| closed())?;
        let correlation = self.next_correlation.fetch_add(1, Ordering::Relaxed);
        let frame =
            encode(key, request, version, correlation, &self.client_id).map_err(|reason| {
                WireError::Protocol {
                    addr: self.addr.clone(),
                    reason,
                }
            })?;
        let (reply, answer) = oneshot::channel();
        self.shared
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                correlation,
                Waiter {
                    reply,
                    _permit: permit,
                },
            );
        if self.queue.send(Outgoing { frame }).await.is_err() {
            return Err(closed());
        }
        answer.await.map_err(|_| closed())?
    }
}

#[path = "frames.rs"]
mod frames;
#[path = "setup.rs"]
mod setup;

use frames::{correlation_of, encode, read_frames, write_frames};
use setup::Setup;

/// The protocol's name of an API, for errors.
pub fn api_name(key: ApiKey) -> &'static str {
    match key {
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::Metadata => "Metadata",
        ApiKey::FindCoordinator => "FindCoordinator",
        ApiKey::OffsetFetch => "OffsetFetch",
        ApiKey::ListOffsets => "ListOffsets",
        ApiKey::DescribeGroups => "DescribeGroups",
        ApiKey::SaslHandshake => "SaslHandshake",
        ApiKey::SaslAuthenticate => "SaslAuthenticate",
        _ => "another API",
    }
}

/// A Kafka error code's name (`NOT_COORDINATOR`-style names come from kafka-protocol).
pub fn error_name(code: i16) -> String {
    match kafka_protocol::ResponseError::try_from_code(code) {
        Some(error) => format!("{error} ({code})"),
        None => "no error".to_owned(),
    }
}
