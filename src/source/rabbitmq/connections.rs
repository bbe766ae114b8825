//! One long-lived AMQP connection per (endpoint, vhost), shared by every trigger that uses it.
//!
//! Each connection keeps one channel for passive declares. A channel the broker closes (a
//! missing queue answers 404 and closes the channel) is reopened on the next query without
//! touching the connection; a connection that was lost, or a query that timed out (its channel
//! is then in an unknown state), is dropped and re-established on the next query. Queries on one
//! connection are serialized: a 404 on a shared channel would otherwise fail its neighbours.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use lapin::options::QueueDeclareOptions;
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::FieldTable;
use lapin::{Channel, ConnectionProperties, ErrorKind};
use tokio::time::timeout;

use super::socket::Socket;
use super::{AmqpUri, QueueQuery};
use crate::source::{BrokerTimeouts, SourceError};

/// All AMQP connections, by endpoint and vhost.
pub struct Connections {
    timeouts: BrokerTimeouts,
    by_key: Mutex<HashMap<ConnectionKey, Arc<SharedConnection>>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct ConnectionKey {
    uri: AmqpUri,
    vhost: Option<String>,
}

struct SharedConnection {
    /// How errors name this connection (profile name or redacted URI).
    label: String,
    /// The profile's name, or `None` for an inline URI (a metrics label).
    cluster: Option<String>,
    uri: AmqpUri,
    vhost: Option<String>,
    live: tokio::sync::Mutex<Option<Live>>,
}

struct Live {
    connection: lapin::Connection,
    channel: Option<Channel>,
    /// Ends the socket (and lapin's I/O thread) when this connection is dropped.
    socket: Socket,
}

impl Connections {
    pub fn new(timeouts: BrokerTimeouts) -> Connections {
        Connections {
            timeouts,
            by_key: Mutex::new(HashMap::new()),
        }
    }

    /// The number of ready messages in the queue.
    pub async fn queue_depth(&self, query: &QueueQuery) -> Result<u64, SourceError> {
        let shared = self.connection_for(query);
        shared.queue_depth(&query.queue, self.timeouts).await
    }

    /// How many AMQP connections are open right now.
    pub async fn open_connections(&self) -> usize {
        let all: Vec<Arc<SharedConnection>> = self
            .by_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let mut open = 0;
        for shared in all {
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
        };
        let mut by_key = self.by_key.lock().unwrap_or_else(PoisonError::into_inner);
        by_key
            .entry(key)
            .or_insert_with(|| {
                Arc::new(SharedConnection {
                    label: query.endpoint.label(),
                    cluster: query.endpoint.cluster.clone(),
                    uri: query.endpoint.uri.clone(),
                    vhost: query.vhost.clone(),
                    live: tokio::sync::Mutex::new(None),
                })
            })
            .clone()
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
                self.reset(&mut live);
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
            self.reset(live);
        }
        if live.is_none() {
            let properties =
                ConnectionProperties::default().with_connection_name("lagscale".into());
            let uri = self.uri.to_lapin(self.vhost.as_deref());
            // On a timeout or an error, `socket` is dropped here, and with it the half-open
            // connection and lapin's thread.
            let socket = Socket::default();
            let connection = timeout(timeouts.connect, socket.connect(uri, properties))
                .await
                .map_err(|_| {
                    self.unreachable(format!(
                        "connect timed out after {} ms",
                        timeouts.connect.as_millis()
                    ))
                })?
                .map_err(|e| self.connect_failed(e))?;
            tracing::info!(endpoint = %self.label, vhost = ?self.vhost, "AMQP connection opened");
            crate::metrics::broker_connection("rabbitmq", self.cluster.as_deref(), 1.0);
            *live = Some(Live {
                connection,
                channel: None,
                socket,
            });
        }
        let Some(l) = live.as_mut() else {
            return Err(self.unreachable("connection lost while opening".to_owned()));
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
                self.reset(live);
                Err(self.unreachable(format!("could not open a channel: {e}")))
            }
            Err(_) => {
                self.reset(live);
                Err(self.unreachable(format!(
                    "opening a channel timed out after {} ms",
                    timeouts.query.as_millis()
                )))
            }
        }
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
            self.reset(live);
            return self.unreachable(error.to_string());
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
            self.unreachable(error.to_string())
        }
    }

    /// Drops the connection: it is closed politely in the background, and its socket shut
    /// down after at most a second whether the broker answered or not.
    fn reset(&self, live: &mut Option<Live>) {
        if let Some(old) = live.take() {
            crate::metrics::broker_connection("rabbitmq", self.cluster.as_deref(), -1.0);
            tokio::spawn(async move {
                let closing = old.connection.close(200, "lagscale reconnects".into());
                let _ = timeout(std::time::Duration::from_secs(1), closing).await;
                old.socket.shut_down();
            });
        }
    }

    fn unreachable(&self, reason: String) -> SourceError {
        SourceError::Unreachable {
            endpoint: self.label.clone(),
            reason,
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
