//! Prometheus metrics: every metric name, its help text, and the one function that records it.
//! Nothing else in lagscale names a metric.
//!
//! The per-call series are this module's own, rendered after the recorder's text: the two
//! counters (`lagscale_grpc_requests_total`, `lagscale_cache_lookups_total`) are tables of
//! atomics indexed by their label values ([`counter`]), and the two durations fixed-bucket
//! histograms ([`histogram`]).
//!
//! Labels are bounded: source, cluster (profile name, or `inline`), name (queue or consumer
//! group), topic, transform, RPC method, gRPC code, error kind, replica decision and its
//! reason — never a ScaledObject.

mod counter;
mod histogram;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::single_flight::Lookup;
use crate::source::{SourceError, SourceQuery};
use counter::Table;
use histogram::Family;

pub const LAG: &str = "lagscale_lag_messages";
pub const METRIC_VALUE: &str = "lagscale_metric_value";
pub const BROKER_QUERY_SECONDS: &str = "lagscale_broker_query_duration_seconds";
pub const BROKER_ERRORS: &str = "lagscale_broker_errors_total";
pub const CACHE_LOOKUPS: &str = "lagscale_cache_lookups_total";
pub const GRPC_REQUESTS: &str = "lagscale_grpc_requests_total";
pub const GRPC_SECONDS: &str = "lagscale_grpc_request_duration_seconds";
pub const OPEN_STREAMS: &str = "lagscale_open_streams";
pub const BROKER_CONNECTIONS: &str = "lagscale_broker_connections";
pub const REPLICA_DECISIONS: &str = "lagscale_replica_decisions_total";
pub const TIME_LAG: &str = "lagscale_time_lag_seconds";
pub const THROUGHPUT_WITHOUT_RATE: &str = "lagscale_throughput_without_rate_total";
pub const KAFKA_REQUESTS: &str = "lagscale_kafka_requests_total";
pub const REPLICA_THROUGHPUT: &str = "lagscale_replica_throughput";

const BROKER_QUERY_SECONDS_HELP: &str =
    "Duration of broker queries (one per cache refresh), by source and cluster.";
const GRPC_SECONDS_HELP: &str = "Duration of unary gRPC calls, by method.";
const CACHE_LOOKUPS_HELP: &str =
    "Evaluations answered from the cache (hit) or by a broker query (miss).";
const GRPC_REQUESTS_HELP: &str = "gRPC calls, by method and status code.";

static BROKER_DURATIONS: Family = Family::new(BROKER_QUERY_SECONDS, BROKER_QUERY_SECONDS_HELP);
static GRPC_DURATIONS: Family = Family::new(GRPC_SECONDS, GRPC_SECONDS_HELP);

/// The methods of the ExternalScaler service.
const METHODS: [&str; 5] = [
    "IsActive",
    "GetMetricSpec",
    "GetMetrics",
    "StreamIsActive",
    "StreamMetricSpec",
];
/// gRPC's codes, 0 to 16.
const CODES: usize = tonic::Code::Unauthenticated as usize + 1;
const LOOKUPS: [&str; 2] = ["hit", "miss"];

static GRPC_REQUEST_COUNTS: Table<{ METHODS.len() }, CODES> =
    Table::new(GRPC_REQUESTS, GRPC_REQUESTS_HELP, |method, code| {
        let method = METHODS.get(method).copied().unwrap_or_default();
        let code = code_label(tonic::Code::from_i32(code as i32));
        format!("method=\"{method}\",code=\"{code}\"")
    });
static CACHE_LOOKUP_COUNTS: Table<1, { LOOKUPS.len() }> =
    Table::new(CACHE_LOOKUPS, CACHE_LOOKUPS_HELP, |_, lookup| {
        let result = LOOKUPS.get(lookup).copied().unwrap_or_default();
        format!("result=\"{result}\"")
    });

/// Every metric with its help text (the README lists the same).
pub const ALL: [(&str, &str); 14] = [
    (
        LAG,
        "Lag in messages at the last broker query, by source, cluster, queue or group, and topic.",
    ),
    (
        METRIC_VALUE,
        "Metric value served to KEDA at the last broker query, by query and transform.",
    ),
    (BROKER_QUERY_SECONDS, BROKER_QUERY_SECONDS_HELP),
    (
        BROKER_ERRORS,
        "Failed broker queries, by source, cluster and kind (not_found, unreachable, access_refused, timeout, broker, internal).",
    ),
    (CACHE_LOOKUPS, CACHE_LOOKUPS_HELP),
    (GRPC_REQUESTS, GRPC_REQUESTS_HELP),
    (
        REPLICA_THROUGHPUT,
        "replicaThroughput: auto: messages per second one replica is sized with (learned, or replicaThroughputInitial while learning), by metric name.",
    ),
    (GRPC_SECONDS, GRPC_SECONDS_HELP),
    (
        OPEN_STREAMS,
        "Open StreamIsActive and StreamMetricSpec streams, by method.",
    ),
    (
        BROKER_CONNECTIONS,
        "Open broker connections (AMQP connections, Kafka clients), by source and cluster.",
    ),
    (
        REPLICA_DECISIONS,
        "Metrics served by replica-aware triggers, by strategy (step, partition_cap), decision and reason.",
    ),
    (
        TIME_LAG,
        "Seconds until the lag drains at the consumption rate over the rate window (+Inf when nothing is consumed), for metric: throughput triggers, by query.",
    ),
    (
        KAFKA_REQUESTS,
        "Requests sent to Kafka brokers by lagscale's client, by cluster and API (one OffsetFetch can carry many groups).",
    ),
    (
        THROUGHPUT_WITHOUT_RATE,
        "metric: throughput values served without a produce rate yet (cold start: lag / drainSeconds alone), by query.",
    ),
];

/// The recorder's handle, once [`handle`] installed it.
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once and returns the handle that renders it.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; then this handle renders
            // nothing, which the metrics endpoint test would show.
            let _ = metrics::set_global_recorder(recorder);
            for (name, help) in ALL {
                match name {
                    // This module's own, described when rendered.
                    BROKER_QUERY_SECONDS | GRPC_SECONDS | CACHE_LOOKUPS | GRPC_REQUESTS => {}
                    BROKER_ERRORS => describe_counter!(name, help),
                    _ => describe_gauge!(name, help),
                }
            }
            handle
        })
        .clone()
}

/// Every metric in Prometheus' text format: the recorder's, then this module's own.
pub fn render() -> String {
    let mut text = handle().render();
    GRPC_REQUEST_COUNTS.render(&mut text);
    CACHE_LOOKUP_COUNTS.render(&mut text);
    GRPC_DURATIONS.render(&mut text);
    BROKER_DURATIONS.render(&mut text);
    text
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    handle();
    let app = axum::Router::new().route("/metrics", axum::routing::get(async || render()));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving Prometheus metrics on /metrics");
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The bounded labels of a broker query (the source says their values).
fn query_labels(query: &SourceQuery) -> [(&'static str, String); 4] {
    let labels = query.labels();
    [
        ("source", labels.source.to_owned()),
        ("cluster", labels.cluster.unwrap_or("inline").to_owned()),
        ("name", labels.name.to_owned()),
        ("topic", labels.topic.unwrap_or_default().to_owned()),
    ]
}

/// A broker request finished: an answer (one per cache refresh) or a management API's rates.
fn broker_query(query: &SourceQuery, elapsed: Duration, error: Option<&SourceError>) {
    let [source, cluster, ..] = query_labels(query);
    BROKER_DURATIONS
        .series(&[(source.0, &source.1), (cluster.0, &cluster.1)])
        .record(elapsed);
    if let Some(error) = error {
        counter!(
            BROKER_ERRORS,
            &[source, cluster, ("kind", error.kind().to_owned())]
        )
        .increment(1);
    }
}

/// An evaluation was answered from the cache or not.
pub fn cache_lookup(lookup: Lookup) {
    let index = match lookup {
        Lookup::Hit => 0,
        Lookup::Miss => 1,
    };
    CACHE_LOOKUP_COUNTS.increment(0, index);
}

/// A trigger's lag was read.
pub fn lag_read(query: &SourceQuery, lag: u64) {
    gauge!(LAG, &query_labels(query)).set(lag as f64);
}

/// A metric was served; `kind` is the transform, or `step`.
pub fn metric_served(query: &SourceQuery, kind: &'static str, metric: f64) {
    let mut labels = query_labels(query).to_vec();
    labels.push(("transform", kind.to_owned()));
    gauge!(METRIC_VALUE, &labels).set(metric);
}

/// A replica-aware trigger chose its metric: `strategy` is `step` or `partition_cap`.
pub fn replica_decision(strategy: &'static str, decision: &'static str, reason: &'static str) {
    counter!(REPLICA_DECISIONS, "strategy" => strategy, "decision" => decision, "reason" => reason)
        .increment(1);
}

/// The "burndown": seconds until the lag drains at the consume rate (`None`: never).
pub fn time_lag(query: &SourceQuery, seconds: Option<f64>) {
    gauge!(TIME_LAG, &query_labels(query)).set(seconds.unwrap_or(f64::INFINITY));
}

/// The rate `replicaThroughput: auto` sizes the trigger of `metric_name` with.
pub fn replica_throughput(metric_name: &str, per_replica: f64) {
    gauge!(REPLICA_THROUGHPUT, "metric_name" => metric_name.to_owned()).set(per_replica);
}

/// A throughput value had to be served without a produce rate.
pub fn throughput_without_rate(query: &SourceQuery) {
    counter!(THROUGHPUT_WITHOUT_RATE, &query_labels(query)).increment(1);
}

/// A gRPC call ended with `code` (unary calls also record their duration).
pub fn grpc_request(method: &'static str, code: tonic::Code, elapsed: Option<Duration>) {
    static DURATIONS: [OnceLock<Arc<histogram::Histogram>>; METHODS.len()] =
        [const { OnceLock::new() }; METHODS.len()];
    let Some(index) = METHODS.iter().position(|&m| m == method) else {
        debug_assert!(false, "{method} is not in METHODS");
        return;
    };
    GRPC_REQUEST_COUNTS.increment(index, code as usize);
    if let Some(elapsed) = elapsed {
        DURATIONS[index]
            .get_or_init(|| GRPC_DURATIONS.series(&[("method", method)]))
            .record(elapsed);
    }
}

/// The code's name, as in the gRPC spec's enum (without allocating on every call).
fn code_label(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "Ok",
        Cancelled => "Cancelled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

/// Counts an open stream for as long as it lives.
pub struct OpenStream(&'static str);

impl OpenStream {
    pub fn new(method: &'static str) -> OpenStream {
        gauge!(OPEN_STREAMS, "method" => method).increment(1.0);
        OpenStream(method)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        gauge!(OPEN_STREAMS, "method" => self.0).decrement(1.0);
    }
}

/// The broker clients' events, recorded as `lagscale_broker_connections` and
/// `lagscale_kafka_requests_total`.
pub struct BrokerMetrics;

impl crate::source::BrokerEvents for BrokerMetrics {
    fn query(&self, query: &SourceQuery, elapsed: Duration, error: Option<&SourceError>) {
        broker_query(query, elapsed, error);
    }

    fn connection(&self, source: &'static str, cluster: Option<&str>, change: f64) {
        let cluster = cluster.unwrap_or("inline").to_owned();
        gauge!(BROKER_CONNECTIONS, "source" => source, "cluster" => cluster).increment(change);
    }

    fn kafka_request(&self, cluster: &str, api: &'static str) {
        counter!(KAFKA_REQUESTS, "cluster" => cluster.to_owned(), "api" => api).increment(1);
    }
}

/// Where to serve metrics; `None` in the config disables them.
pub type MetricsAddr = Option<SocketAddr>;
