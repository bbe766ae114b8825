//! One long-lived AMQP connection per (endpoint, vhost), shared by every trigger that uses it.
//!
//! Each connection keeps one channel for passive declares. A channel the broker closes (a
//! missing queue answers 404 and closes the channel) is reopened on the next query without
//! touching the connection; a connection that was lost, or a query that timed out (its channel
//! is then in an unknown state), is dropped and re-established on the next query. Queries on one
//! connection are serialized: a 404 on a shared channel would otherwise fail its neighbours.
//! A connect that failed is not tried again before its [`Backoff`] wait (100 ms doubling to
//! 2 s): meanwhile queries get its error at once. A connection no query used for the idle TTL
//! is closed ([`Pool`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::FieldTable;
use lapin::{Channel, ConnectionProperties, ErrorKind};
use tokio::time::{Instant, timeout};

use super::socket::Socket;
use super::tls::RabbitTls;
use super::{AmqpUri, QueueQuery};
use crate::source::backoff::Backoff;
use crate::source::pool::Pool;
use crate::source::{BrokerTimeouts, ConnectionFailure, Events, SourceError};

/// The reply text of a connection closed to be replaced.
const RECONNECTS: &str = "lagscale reconnects";

/// All AMQP connections, by endpoint and vhost.
pub struct Connections {
    timeouts: BrokerTimeouts,
    events: Events,
    by_key: Pool<ConnectionKey, SharedConnection>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct ConnectionKey {
    uri: AmqpUri,
    vhost: Option<String>,
    tls: RabbitTls,
}

struct SharedConnection {
    /// How errors name this connection (profile name or redacted URI).
    label: String,
    /// The profile's name, or `None` for an inline URI (a metrics label).
    cluster: Option<String>,
    uri: AmqpUri,
    vhost: Option<String>,
    tls: RabbitTls,
    live: tokio::sync::Mutex<Option<Live>>,
    events: Events,
    /// Failed connects; touched only while `live` is locked.
    backoff: Mutex<Backoff<SourceError>>,
}

struct Live {
    connection: lapin::Connection,
    channel: Option<Channel>,
    /// Ends the socket (and lapin's I/O thread) when this connection is dropped.
    socket: Socket,
}

impl Connections {
    /// `idle_ttl`: a connection no query used for this long is closed.
    pub fn new(timeouts: BrokerTimeouts, idle_ttl: Duration, events: Events) -> Connections {
        Connections {
            timeouts,
            events,
            by_key: Pool::new(idle_ttl),
        }
    }

    /// Closes the connections no query used for the idle TTL. Returns how many.
    pub fn close_idle(&self) -> usize {
        let idle = self.by_key.take_idle();
        for shared in &idle {
            // No query holds it (the pool checked), so the lock is free.
            if let Ok(mut live) = shared.live.try_lock() {
                if live.is_some() {
                    tracing::info!(endpoint = %shared.label, vhost = ?shared.vhost, "closing an idle AMQP connection");
                }
                shared.reset(&mut live, "lagscale closes an idle connection");
            }
        }
        idle.len()
    }

    /// How many connections are kept (open, or to be opened by the next query).
    pub fn count(&self) -> usize {
        self.by_key.len()
    }

    /// The number of ready messages in the queue.
    pub async fn queue_depth(&self, query: &QueueQuery) -> Result<u64, SourceError> {
        let shared = self.connection_for(query);
        shared.queue_depth(&query.queue, self.timeouts).await
    }

    /// How many AMQP connections are open right now.
    pub async fn open_connections(&self) -> usize {
        let mut open = 0;
        for shared in self.by_key.clients() {
            if let Some(live) = shared.live.lock().await.as_ref() {
                open += usize::from(live.connection.status().connected());
            }
        }
        open
    }

    fn connection_for(&self, query: &QueueQuery) -> Arc<SharedConnection> {
        let key = ConnectionKey {
            uri: query.endpoint.uri.clone(),
            vhost: query.vhost.clone(),
            tls: query.endpoint.tls.clone(),
        };
        self.by_key.get_or_insert_with(&key, || SharedConnection {
            label: query.endpoint.label(),
            cluster: query.endpoint.cluster.clone(),
            uri: query.endpoint.uri.clone(),
            vhost: query.vhost.clone(),
            tls: query.endpoint.tls.clone(),
            live: tokio::sync::Mutex::new(None),
            events: self.events.clone(),
            backoff: Mutex::default(),
        })
    }
}

impl SharedConnection {
    async fn queue_depth(&self, queue: &str, timeouts: BrokerTimeouts) -> Result<u64, SourceError> {
        let mut live = self.live.lock().await;
        let channel = self.channel(&mut live, timeouts).await?;
        let options = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let declare = channel.queue_declare(queue.into(), options, FieldTable::default());
        match timeout(timeouts.query, declare).await {
            Ok(Ok(declared)) => Ok(u64::from(declared.message_count())),
            Ok(Err(error)) => Err(self.declare_failed(&mut live, queue, error)),
            Err(_) => {
                self.reset(&mut live, RECONNECTS);
                Err(SourceError::Timeout {
                    endpoint: self.label.clone(),
                    operation: "queue.declare",
                    after_ms: timeouts.query.as_millis(),
                })
            }
        }
    }

    /// The open channel, reopening the channel or the whole connection as needed.
    async fn channel(
        &self,
        live: &mut Option<Live>,
        timeouts: BrokerTimeouts,
    ) -> Result<Channel, SourceError> {
        if live
            .as_ref()
            .is_some_and(|l| !l.connection.status().connected())
        {
            self.reset(live, RECONNECTS);
        }
        if live.is_none() {
            *live = Some(self.connect(timeouts).await?);
        }
        let Some(l) = live.as_mut() else {
            return Err(self.lost("connection lost while opening".to_owned()));
        };
        if let Some(channel) = l.channel.as_ref().filter(|c| c.status().connected()) {
            return Ok(channel.clone());
        }
        match timeout(timeouts.query, l.connection.create_channel()).await {
            Ok(Ok(channel)) => {
                l.channel = Some(channel.clone());
                Ok(channel)
            }
            Ok(Err(e)) => {
                self.reset(live, RECONNECTS);
                Err(self.lost(format!("could not open a channel: {e}")))
            }
            Err(_) => {
                self.reset(live, RECONNECTS);
                Err(self.lost(format!(
                    "opening a channel timed out after {} ms",
                    timeouts.query.as_millis()
                )))
            }
        }
    }

    /// A new connection, unless the last connect failed and its backoff wait lasts.
    async fn connect(&self, timeouts: BrokerTimeouts) -> Result<Live, SourceError> {
        if let Some(error) = self.backoff().waiting(Instant::now()) {
            return Err(error);
        }
        let properties = ConnectionProperties::default().with_connection_name("lagscale".into());
        let uri = self.uri.to_lapin(self.vhost.as_deref());
        // On a timeout or an error, `socket` is dropped here, and with it the half-open
        // connection and lapin's thread.
        let socket = Socket::default();
        let connected =
            match timeout(timeouts.connect, socket.connect(uri, &self.tls, properties)).await {
                Ok(Ok(connection)) => Ok(connection),
                Ok(Err(error)) => Err(self.connect_failed(error)),
                Err(_) => Err(SourceError::Connection {
                    endpoint: self.label.clone(),
                    failure: ConnectionFailure::ConnectTimeout {
                        after_ms: timeouts.connect.as_millis(),
                    },
                    detail: "no AMQP handshake within the connect timeout".to_owned(),
                }),
            };
        match connected {
            Ok(connection) => {
                self.backoff().succeeded();
                tracing::info!(endpoint = %self.label, vhost = ?self.vhost, "AMQP connection opened");
                self.events
                    .connection("rabbitmq", self.cluster.as_deref(), 1.0);
                Ok(Live {
                    connection,
                    channel: None,
                    socket,
                })
            }
            Err(error) => {
                let wait = self.backoff().failed(error.clone(), Instant::now());
                tracing::warn!(endpoint = %self.label, %error, cause = error.detail(), retry_in_ms = wait.as_millis() as u64, "AMQP connect failed");
                Err(error)
            }
        }
    }

    fn backoff(&self) -> std::sync::MutexGuard<'_, Backoff<SourceError>> {
        self.backoff.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn declare_failed(
        &self,
        live: &mut Option<Live>,
        queue: &str,
        error: lapin::Error,
    ) -> SourceError {
        if let Some(l) = live.as_mut() {
            l.channel = None;
        }
        match soft_error(&error) {
            Some(AMQPSoftError::NOTFOUND) => {
                let vhost = self.uri.to_lapin(self.vhost.as_deref()).vhost;
                return SourceError::NotFound {
                    endpoint: self.label.clone(),
                    what: format!("queue {queue:?} in vhost {vhost:?}"),
                };
            }
            Some(AMQPSoftError::ACCESSREFUSED) => {
                return SourceError::AccessRefused {
                    endpoint: self.label.clone(),
                    reason: error.to_string(),
                };
            }
            _ => {}
        }
        if error.is_io_error() || error.is_amqp_hard_error() {
            self.reset(live, RECONNECTS);
            return self.lost(error.to_string());
        }
        SourceError::Broker {
            endpoint: self.label.clone(),
            operation: "queue.declare",
            reason: error.to_string(),
        }
    }

    fn connect_failed(&self, error: lapin::Error) -> SourceError {
        let refused = matches!(error.kind(), ErrorKind::ProtocolError(e)
            if e.get_id() == AMQPSoftError::ACCESSREFUSED.get_id());
        if refused {
            SourceError::AccessRefused {
                endpoint: self.label.clone(),
                reason: error.to_string(),
            }
        } else {
            SourceError::Connection {
                endpoint: self.label.clone(),
                failure: ConnectionFailure::Connect,
                detail: error.to_string(),
            }
        }
    }

    /// Drops the connection: it is closed politely in the background, and its socket shut
    /// down after at most a second whether the broker answered or not.
    fn reset(&self, live: &mut Option<Live>, reason: &'static str) {
        if let Some(old) = live.take() {
            self.events
                .connection("rabbitmq", self.cluster.as_deref(), -1.0);
            tokio::spawn(async move {
                let closing = old.connection.close(200, reason.into());
                let _ = timeout(std::time::Duration::from_secs(1), closing).await;
                old.socket.shut_down();
            });
        }
    }

    fn lost(&self, detail: String) -> SourceError {
        SourceError::Connection {
            endpoint: self.label.clone(),
            failure: ConnectionFailure::Lost,
            detail,
        }
    }
}

fn soft_error(error: &lapin::Error) -> Option<AMQPSoftError> {
    match error.kind() {
        ErrorKind::ProtocolError(e) => match e.kind() {
            AMQPErrorKind::Soft(soft) => Some(soft.clone()),
            AMQPErrorKind::Hard(_) => None,
        },
        _ => None,
    }
}
