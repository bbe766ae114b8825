//! One Kafka cluster: its brokers (learned from Metadata), one connection per broker, and the
//! plumbing every request goes through; `topics` reads and caches topic metadata.
//!
//! Every request is sent by [`Cluster::call`], which picks the version, bounds the wait by the
//! query timeout, counts the request by API, and drops a connection that timed out or broke so
//! that the next request opens a new one. Connections are opened at most once per backoff step
//! per broker (100 ms doubling to 2 s while a broker stays away), and a broker that comes back
//! is used again on the next request, without a restart.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Encodable, VersionRange};
use tokio::time::Instant;

use super::batch::Batcher;
use super::connection::{Connection, WireError, api_name};
use super::decode::{self, Reader};
use super::groups::{CoordinatorLookup, GroupFetch, GroupOffsets, Retry};
use super::security::Security;
use crate::single_flight::SingleFlight;
use crate::source::backoff::Backoff;
use crate::source::{BrokerTimeouts, ConnectionFailure, Events, SourceError};

#[path = "topics.rs"]
mod topics;

pub use topics::METADATA_MAX_AGE;
use topics::TopicMeta;

/// `host:port`.
pub type Address = (String, u16);

pub struct Cluster {
    /// How errors name the cluster (`cluster "events"` or `kafka host:port`).
    pub label: String,
    /// The profile's name, or `inline`: the `cluster` label of metrics.
    metrics_name: String,
    events: Events,
    bootstrap: Vec<Address>,
    pub(super) security: Security,
    pub(super) timeouts: BrokerTimeouts,
    links: Mutex<HashMap<Address, Arc<Link>>>,
    brokers: Mutex<HashMap<i32, Address>>,
    /// Topic metadata for [`METADATA_MAX_AGE`]: concurrent readers of a topic share one
    /// Metadata request and are all answered at once. Failures are not kept.
    topics: SingleFlight<String, Result<TopicMeta, SourceError>>,
    pub(super) coordinators: Mutex<HashMap<String, i32>>,
    pub(super) coordinator_batches: Batcher<String, CoordinatorLookup>,
    pub(super) offset_batches: Batcher<GroupFetch, Result<GroupOffsets, Retry>>,
    sent: RequestCounts,
}

/// One broker address: its connection, and the backoff after failures to open one.
#[derive(Default)]
struct Link {
    connection: Mutex<Option<Arc<Connection>>>,
    /// Held while a connection is being opened: concurrent callers wait for that one.
    opening: tokio::sync::Mutex<Backoff<WireError>>,
}

impl Link {
    /// The connection, while it is open.
    fn open(&self) -> Option<Arc<Connection>> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .filter(|c| c.is_open())
    }
}

/// Requests sent, by API key.
#[derive(Default)]
struct RequestCounts(Mutex<HashMap<i16, Arc<AtomicU64>>>);

impl RequestCounts {
    fn add(&self, key: ApiKey) {
        let counter = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key as i16)
            .or_default()
            .clone();
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self, key: ApiKey) -> u64 {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(key as i16))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

impl Cluster {
    /// `profile`: the connection profile's name (`None` for inline bootstrap servers).
    pub fn new(
        label: String,
        profile: Option<&str>,
        bootstrap: Vec<Address>,
        security: Security,
        timeouts: BrokerTimeouts,
        events: Events,
    ) -> Cluster {
        Cluster {
            label,
            metrics_name: profile.unwrap_or("inline").to_owned(),
            events,
            bootstrap,
            security,
            timeouts,
            links: Mutex::default(),
            brokers: Mutex::default(),
            topics: SingleFlight::new(METADATA_MAX_AGE),
            coordinators: Mutex::default(),
            coordinator_batches: Batcher::default(),
            offset_batches: Batcher::default(),
            sent: RequestCounts::default(),
        }
    }

    /// How many requests of this API were sent.
    pub fn requests_sent(&self, key: ApiKey) -> u64 {
        self.sent.get(key)
    }

    /// How many broker connections are open now.
    pub fn open_connections(&self) -> usize {
        self.links().iter().filter(|l| l.open().is_some()).count()
    }

    /// Every broker address's link (a copy of the list, so no lock is held while using them).
    fn links(&self) -> Vec<Arc<Link>> {
        self.links
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// The connection to a broker by id (learned from Metadata or FindCoordinator).
    pub async fn broker(&self, id: i32) -> Result<Arc<Connection>, SourceError> {
        let address = self
            .brokers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned();
        let Some(address) = address else {
            return Err(SourceError::Unavailable {
                endpoint: self.label.clone(),
                reason: format!("broker {id} is not in the cluster's metadata"),
            });
        };
        self.connect(&address).await.map_err(|e| self.error(e))
    }

    /// Any broker that answers: an open connection if there is one, else the bootstrap
    /// servers and the known brokers in turn.
    pub async fn any_broker(&self) -> Result<Arc<Connection>, SourceError> {
        let open = self.links().iter().find_map(|l| l.open());
        if let Some(connection) = open {
            return Ok(connection);
        }
        let mut candidates = self.bootstrap.clone();
        let known: Vec<Address> = self
            .brokers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        candidates.extend(known.into_iter().filter(|a| !self.bootstrap.contains(a)));
        let mut last = None;
        for address in &candidates {
            match self.connect(address).await {
                Ok(connection) => return Ok(connection),
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => self.error(e),
            None => SourceError::Unavailable {
                endpoint: self.label.clone(),
                reason: "no bootstrap servers".to_owned(),
            },
        })
    }

    /// Remembers a broker's address (from a FindCoordinator answer).
    pub fn learn_broker(&self, id: i32, host: &str, port: i32) {
        if let Ok(port) = u16::try_from(port) {
            self.brokers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id, (host.to_owned(), port));
        }
    }

    async fn connect(&self, address: &Address) -> Result<Arc<Connection>, WireError> {
        let link = self
            .links
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(address.clone())
            .or_default()
            .clone();
        if let Some(connection) = link.open() {
            return Ok(connection);
        }
        let mut backoff = link.opening.lock().await;
        if let Some(connection) = link.open() {
            return Ok(connection);
        }
        if let Some(error) = backoff.waiting(Instant::now()) {
            return Err(error);
        }
        let (host, port) = address;
        match Connection::open(host, *port, &self.security, self.timeouts.connect).await {
            Ok(connection) => {
                tracing::debug!(endpoint = %self.label, broker = %connection.addr(), "Kafka broker connected");
                let connection = Arc::new(connection);
                *link
                    .connection
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(connection.clone());
                backoff.succeeded();
                Ok(connection)
            }
            Err(error) => {
                // A broker that closed or sent garbage before the connection was up is a
                // connect that failed, like a refused one: callers are told no more.
                let error = match error {
                    WireError::Closed { addr, reason } | WireError::Protocol { addr, reason } => {
                        WireError::Connect { addr, reason }
                    }
                    other => other,
                };
                let wait = backoff.failed(error.clone(), Instant::now());
                tracing::warn!(endpoint = %self.label, %error, retry_in_ms = wait.as_millis() as u64, "Kafka broker unreachable");
                Err(error)
            }
        }
    }

    /// Sends one request on `connection` in the highest version both sides speak within
    /// `ours`, bounded by the query timeout, and reads the answer with `read`. A connection
    /// that timed out, broke or sent an unreadable answer is dropped.
    pub async fn call<R: Encodable, T>(
        &self,
        connection: &Arc<Connection>,
        key: ApiKey,
        ours: VersionRange,
        build: impl FnOnce(i16) -> R,
        read: impl FnOnce(&mut Reader, i16) -> Result<T, String>,
    ) -> Result<(T, i16), SourceError> {
        let version = connection.version(key, ours).map_err(|e| self.error(e))?;
        let request = build(version);
        self.sent.add(key);
        self.events.kafka_request(&self.metrics_name, api_name(key));
        let timeout = self.timeouts.query;
        let call = connection.call(key, version, &request);
        let answer = match tokio::time::timeout(timeout, call).await {
            Ok(frame) => frame.and_then(|frame| {
                decode::answer(&frame, key, version, read).map_err(|reason| WireError::Protocol {
                    addr: connection.addr().to_owned(),
                    reason: format!("{} v{version}: {reason}", api_name(key)),
                })
            }),
            Err(_) => Err(WireError::Timeout {
                addr: connection.addr().to_owned(),
                operation: api_name(key),
                after_ms: timeout.as_millis(),
            }),
        };
        match answer {
            Ok(answer) => Ok((answer, version)),
            Err(error) => {
                if matches!(
                    error,
                    WireError::Timeout { .. }
                        | WireError::Closed { .. }
                        | WireError::Protocol { .. }
                ) {
                    self.discard(connection);
                }
                Err(self.error(error))
            }
        }
    }

    /// Forgets a connection so the next request to that broker opens a new one.
    fn discard(&self, connection: &Arc<Connection>) {
        for link in self.links() {
            let mut slot = link
                .connection
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, connection)) {
                *slot = None;
            }
        }
    }

    /// A wire error as the source error the rest of lagscale reports.
    pub fn error(&self, error: WireError) -> SourceError {
        let endpoint = self.label.clone();
        match error {
            WireError::Connect { .. } => SourceError::Connection {
                endpoint,
                failure: ConnectionFailure::Connect,
                detail: error.to_string(),
            },
            WireError::Closed { .. } => SourceError::Connection {
                endpoint,
                failure: ConnectionFailure::Lost,
                detail: error.to_string(),
            },
            WireError::Timeout {
                operation,
                after_ms,
                ..
            } => SourceError::Timeout {
                endpoint,
                operation,
                after_ms,
            },
            WireError::Auth { .. } => SourceError::AccessRefused {
                endpoint,
                reason: error.to_string(),
            },
            WireError::Protocol { .. } | WireError::Unsupported { .. } => SourceError::Broker {
                endpoint,
                operation: "a Kafka request",
                reason: error.to_string(),
            },
        }
    }
}
