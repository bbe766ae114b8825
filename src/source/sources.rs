//! [`Sources`]: the one owner of broker I/O. Every request to a broker goes through it (Kafka
//! admin and offsets, AMQP, RabbitMQ's management API), and [`Sources::request`] counts and
//! times each one, for the broker-query metrics ([`super::BrokerEvents::query`]) and the request
//! counts the tests assert ([`Sources::queries_sent`]). It also keeps the shared answers: one
//! evaluation per broker query per refresh ([`Sources::lookup`]), which the scaler and the
//! rate samplers read.
//!
//! Behind it is either the real brokers ([`Brokers`]: the long-lived clients, one connection per
//! connection profile, shared by every trigger) or, in unit tests, a fake that records calls
//! (`fake.rs`), so the scaler and the service are tested without a broker.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::rabbitmq::management::{Management, ManagementUrl, QueueRates};
use super::rabbitmq::tls::RabbitTls;
use super::rates::ManagementRates;
use super::{Events, NoEvents, Observation, SourceError, SourceKind, SourceQuery};
use super::{kafka, rabbitmq};
use crate::single_flight::{Lookup, SingleFlight};

/// Timeouts for broker I/O.
#[derive(Debug, Clone, Copy)]
pub struct BrokerTimeouts {
    /// Establishing a connection (TCP, TLS, AMQP handshake).
    pub connect: Duration,
    /// One query on an established connection.
    pub query: Duration,
}

/// The broker clients and their shared answers, used by every trigger.
pub struct Sources {
    io: Io,
    events: Events,
    idle_ttl: Duration,
    queries_sent: AtomicU64,
    answers: SingleFlight<SourceQuery, Result<Observation, SourceError>>,
    pub(super) management: ManagementRates,
}

/// What answers the requests: the brokers, or in unit tests the fake.
enum Io {
    Brokers(Box<Brokers>),
    #[cfg(test)]
    Fake(Arc<super::fake::FakeBrokers>),
}

/// The real brokers' clients.
struct Brokers {
    rabbitmq: rabbitmq::Connections,
    /// The management APIs' HTTP clients.
    management: Management,
    kafka: kafka::Clients,
}

impl Brokers {
    async fn queue_rates(
        &self,
        url: &ManagementUrl,
        tls: &RabbitTls,
        vhost: &str,
        queue: &str,
        window: Duration,
    ) -> Result<QueueRates, SourceError> {
        let client = &self.management;
        client.queue_rates(url, tls, vhost, queue, window).await
    }

    async fn queue_status(
        &self,
        query: &rabbitmq::HttpQuery,
    ) -> Result<Vec<rabbitmq::QueueInfo>, SourceError> {
        self.management.queue_status(query).await
    }
}

impl Sources {
    /// `refresh`: how long a broker answer is reused (the cache TTL); `idle_ttl`: how long a
    /// client no query uses is kept (`idle_client_ttl_ms`).
    pub fn new(timeouts: BrokerTimeouts, refresh: Duration, idle_ttl: Duration) -> Sources {
        Sources::reporting(timeouts, refresh, idle_ttl, Arc::new(NoEvents))
    }

    /// [`Sources::new`], with the clients' events and every request reported to `events`.
    pub fn reporting(
        timeouts: BrokerTimeouts,
        refresh: Duration,
        idle_ttl: Duration,
        events: Events,
    ) -> Sources {
        let brokers = Brokers {
            rabbitmq: rabbitmq::Connections::new(timeouts, idle_ttl, events.clone()),
            management: Management::new(timeouts.query),
            kafka: kafka::Clients::new(timeouts, refresh, idle_ttl, events.clone()),
        };
        Sources::over(Io::Brokers(Box::new(brokers)), refresh, idle_ttl, events)
    }

    /// Sources answered by `fake`, for unit tests of what sits above them.
    #[cfg(test)]
    pub fn fake(fake: Arc<super::fake::FakeBrokers>, refresh: Duration, events: Events) -> Sources {
        Sources::over(Io::Fake(fake), refresh, Duration::from_secs(600), events)
    }

    fn over(io: Io, refresh: Duration, idle_ttl: Duration, events: Events) -> Sources {
        Sources {
            io,
            events,
            idle_ttl,
            queries_sent: AtomicU64::new(0),
            answers: SingleFlight::new(refresh),
            management: ManagementRates::new(refresh),
        }
    }

    /// Closes the clients and connections no query used for the idle TTL; returns how many.
    pub fn close_idle(&self) -> usize {
        match &self.io {
            Io::Brokers(b) => b.rabbitmq.close_idle() + b.kafka.close_idle(),
            #[cfg(test)]
            Io::Fake(_) => 0,
        }
    }

    /// Runs [`Sources::close_idle`] for as long as the returned future is polled: every tenth
    /// of the idle TTL (at least every 100 ms, at most every minute), so an idle client is
    /// closed within 1.1 × `idle_client_ttl_ms`.
    pub async fn close_idle_forever(&self) {
        let every = (self.idle_ttl / 10).clamp(Duration::from_millis(100), Duration::from_secs(60));
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.close_idle();
        }
    }

    /// How many broker clients are kept, by source: AMQP connections (by endpoint and
    /// vhost), Kafka clients (by endpoint).
    pub fn clients(&self, source: SourceKind) -> usize {
        match (&self.io, source) {
            (Io::Brokers(b), SourceKind::Rabbitmq) => b.rabbitmq.count(),
            (Io::Brokers(b), SourceKind::Kafka) => b.kafka.count(),
            #[cfg(test)]
            (Io::Fake(_), _) => 0,
        }
    }

    /// The broker's answer to `query`, shared: concurrent callers and those within the refresh
    /// interval of the last answer get the same one (errors included) from one request.
    pub async fn lookup(&self, query: &SourceQuery) -> (Result<Observation, SourceError>, Lookup) {
        self.lookup_at(query, tokio::time::Instant::now()).await
    }

    /// [`Sources::lookup`] for a caller that asked at `now` (see
    /// [`SingleFlight::get_or_fetch_at`]).
    pub async fn lookup_at(
        &self,
        query: &SourceQuery,
        now: tokio::time::Instant,
    ) -> (Result<Observation, SourceError>, Lookup) {
        self.answers
            .get_or_fetch_at(query, now, || self.observe(query))
            .await
    }

    /// The shared answer to `query` if it is fresh at `now`, without waiting (a cache hit, not
    /// counted: see [`SingleFlight::get_fresh`]); `None` when a caller would wait for one.
    pub fn fresh_at(
        &self,
        query: &SourceQuery,
        now: tokio::time::Instant,
    ) -> Option<Result<Observation, SourceError>> {
        self.answers.get_fresh(query, now)
    }

    /// Asks the broker now, bypassing the shared answers.
    pub async fn observe(&self, query: &SourceQuery) -> Result<Observation, SourceError> {
        let request = async {
            match (&self.io, query) {
                (Io::Brokers(b), SourceQuery::Rabbitmq(q)) => {
                    b.rabbitmq.queue_depth(q).await.map(Observation::QueueDepth)
                }
                (Io::Brokers(b), SourceQuery::RabbitmqHttp(q)) => b
                    .queue_status(q)
                    .await
                    .map(|queues| Observation::Management(queues.into())),
                // Boxed: the Kafka client's futures nest deeply, and every caller's future
                // would otherwise embed them (the compiler's layout queries hit their depth
                // limit).
                (Io::Brokers(b), SourceQuery::Kafka(q)) => Box::pin(b.kafka.snapshot(q))
                    .await
                    .map(|s| Observation::Kafka(Arc::new(s))),
                #[cfg(test)]
                (Io::Fake(fake), _) => fake.observe(query).await,
            }
        };
        self.request(query, request).await
    }

    /// The members of `query`'s Kafka group (DescribeGroups, counted as a broker request);
    /// `None` for other sources and for brokers that do not speak DescribeGroups.
    pub async fn members(
        &self,
        query: &SourceQuery,
    ) -> Result<Option<kafka::GroupMembers>, SourceError> {
        let SourceQuery::Kafka(group) = query else {
            return Ok(None);
        };
        let request = async {
            match &self.io {
                Io::Brokers(b) => Box::pin(b.kafka.members(group)).await,
                #[cfg(test)]
                Io::Fake(fake) => fake.members(query).await,
            }
        };
        self.request(query, request).await
    }

    /// Asks a management API for a queue's rates over `window` (for `query`'s metrics).
    pub(super) async fn queue_rates(
        &self,
        query: &SourceQuery,
        (url, tls): (&ManagementUrl, &RabbitTls),
        vhost: &str,
        queue: &str,
        window: Duration,
    ) -> Result<QueueRates, SourceError> {
        let request = async {
            match &self.io {
                Io::Brokers(b) => b.queue_rates(url, tls, vhost, queue, window).await,
                #[cfg(test)]
                Io::Fake(fake) => fake.queue_rates(query, window).await,
            }
        };
        self.request(query, request).await
    }

    /// Sends one request for `query`: counted, timed, and reported with its error.
    async fn request<T>(
        &self,
        query: &SourceQuery,
        request: impl Future<Output = Result<T, SourceError>>,
    ) -> Result<T, SourceError> {
        self.queries_sent.fetch_add(1, Ordering::Relaxed);
        let started = tokio::time::Instant::now();
        let result = request.await;
        self.events
            .query(query, started.elapsed(), result.as_ref().err());
        result
    }

    /// How many Kafka broker connections are open right now (at most one per broker and
    /// cluster).
    pub fn kafka_connections(&self) -> usize {
        match &self.io {
            Io::Brokers(b) => b.kafka.open_connections(),
            #[cfg(test)]
            Io::Fake(_) => 0,
        }
    }

    /// How many Kafka requests of one API were sent since start (by lagscale's own client).
    pub fn kafka_requests(&self, api: kafka_protocol::messages::ApiKey) -> u64 {
        match &self.io {
            Io::Brokers(b) => b.kafka.requests_sent(api),
            #[cfg(test)]
            Io::Fake(_) => 0,
        }
    }

    /// How many AMQP connections are open right now (one per profile and vhost in use).
    pub async fn rabbitmq_connections(&self) -> usize {
        match &self.io {
            Io::Brokers(b) => b.rabbitmq.open_connections().await,
            #[cfg(test)]
            Io::Fake(_) => 0,
        }
    }

    /// How many broker requests were sent since start (the management API's included).
    pub fn queries_sent(&self) -> u64 {
        self.queries_sent.load(Ordering::Relaxed)
    }
}
