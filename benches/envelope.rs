//! The scale envelope of one `lagscale serve` process (issue 20, part 3). Full load: 100 Kafka
//! clusters (librdkafka mock clusters of 3 brokers, in this process, each a config-file
//! profile), 10 consumer groups each with committed offsets (1,000), 10 triggers per group
//! (10,000: distinct ScaledObjects and `lagThreshold`s), 100 RabbitMQ queues on the local
//! RabbitMQ (one trigger each), and 2,000 open StreamIsActive streams (2 triggers per group).
//! At 10 %, 50 % and 100 % of it (everything scaled together, a new server each) it prints
//! the server's RSS, threads and file descriptors, the broker requests of one refresh (asking
//! one trigger per group and queue, then all triggers), and the wall time of a full refresh
//! (every trigger's GetMetrics once, after the cache expired), as a table and as
//! `benches/envelope.svg`. RabbitMQ must run: `bash scripts/ensure-rabbitmq.sh`.
//!
//!     cargo bench --bench envelope

#[path = "envelope/brokers.rs"]
mod brokers;
#[path = "envelope/chart.rs"]
mod chart;
#[path = "envelope/report.rs"]
mod report;
#[path = "envelope/server.rs"]
mod server;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lagscale::proto::external_scaler_client::ExternalScalerClient;
use lagscale::proto::{GetMetricsRequest, ScaledObjectRef};
use tonic::transport::Channel;

use brokers::{Cluster, GROUPS_PER_CLUSTER, Queues};
use report::{Level, Work, print_level, print_table};
use server::{Server, label, proc_stats, sum};

const CLUSTERS: usize = 100;
const QUEUES: usize = 100;
const THRESHOLDS: usize = 10;
/// Of a group's triggers, these hold a StreamIsActive stream open (2 per group: 2,000).
const STREAMING: [usize; 2] = [0, 5];
/// The server's cache TTL (its default). A measured refresh starts once this has passed since
/// the previous one ended: waiting out the server's TTL is the workload's clock.
const CACHE_TTL_MS: u64 = 2_000;
/// GetMetrics calls in flight during a refresh, over `CONNECTIONS` HTTP/2 connections.
const CONCURRENCY: usize = 128;
const CONNECTIONS: usize = 4;
/// Streams are held on connections of their own, 125 each at full load.
const STREAM_CONNECTIONS: usize = 16;
const REFRESHES: usize = 3;

/// One trigger: its ScaledObject, and whether it is the first of its group (or a queue's).
struct Trigger {
    object: ScaledObjectRef,
    first: bool,
    stream: bool,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let started = Instant::now();
    let queues = Queues::declare(QUEUES).await;
    let mut clusters = Vec::new();
    brokers::grow(&mut clusters, CLUSTERS);
    println!(
        "set up {CLUSTERS} mock Kafka clusters ({} brokers, {} partitions, {GROUPS_PER_CLUSTER} groups each) and {QUEUES} RabbitMQ queues in {:.0} s",
        brokers::BROKERS,
        brokers::PARTITIONS,
        started.elapsed().as_secs_f64()
    );
    // Two cores or more: the server alone on core 0, this process (client and mock clusters)
    // on core 1.
    let pin = std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
        && server::pin_self_to_core_1();
    println!(
        "{}",
        if pin {
            "lagscale serve on core 0; this process (gRPC client, mock clusters) on core 1"
        } else {
            "not pinned"
        }
    );
    let mut levels = Vec::new();
    for percent in [10, 50, 100] {
        let level = measure(percent, &clusters, &queues.names, pin).await;
        print_level(&level);
        levels.push(level);
    }
    print_table(&levels);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/envelope.svg");
    chart::draw(&path, &levels);
    println!("chart: {}", path.display());
    queues.delete().await;
    println!("bench took {:.0} s", started.elapsed().as_secs_f64());
}

async fn measure(percent: usize, all: &[Cluster], queues: &[String], pin: bool) -> Level {
    let clusters = &all[..CLUSTERS * percent / 100];
    let queues = &queues[..QUEUES * percent / 100];
    let server = Server::start(&config(clusters), pin);
    let triggers = triggers(clusters, queues);
    let everything: Arc<Vec<ScaledObjectRef>> =
        Arc::new(triggers.iter().map(|t| t.object.clone()).collect());
    let firsts: Arc<Vec<ScaledObjectRef>> = Arc::new(
        triggers
            .iter()
            .filter(|t| t.first)
            .map(|t| t.object.clone())
            .collect(),
    );
    let idle = server.stats();
    let channels = connect(&server, CONNECTIONS).await;

    // Cold: triggers parsed, clients connected, coordinators found.
    let cold = refresh(&channels, &everything).await;
    let warm = server.stats();
    let streams = open_streams(&server, &triggers).await;
    let streaming = server.stats();

    wait_out_ttl().await;
    let one = measured(&server, &channels, &firsts).await;
    let mut rss_after = vec![one.rss_mib];
    let one = one.work;
    let mut full = Vec::new();
    for _ in 0..REFRESHES {
        wait_out_ttl().await;
        full.push(measured(&server, &channels, &everything).await);
        rss_after.push(full[full.len() - 1].rss_mib);
    }
    let stats = server.stats();
    let thread_names = server.thread_names();
    let warnings = server.warnings();
    if !warnings.is_empty() {
        println!(
            "server warnings ({}), first: {}",
            warnings.len(),
            warnings[0]
        );
    }
    drop(streams);
    Level {
        percent,
        clusters: clusters.len(),
        groups: clusters.len() * GROUPS_PER_CLUSTER,
        triggers: everything.len(),
        streams: triggers.iter().filter(|t| t.stream).count(),
        queues: queues.len(),
        idle,
        warm,
        streaming,
        stats,
        thread_names,
        cold_ms: cold.as_secs_f64() * 1e3,
        one,
        all: full.iter().map(|m| m.work.clone()).collect(),
        times_ms: full.iter().map(|m| m.wall_ms).collect(),
        cpu_ms: full.iter().map(|m| m.server_cpu_ms).collect(),
        client_cpu_ms: full.iter().map(|m| m.client_cpu_ms).collect(),
        rss_after,
    }
}

/// Waits until every answer cached by the previous refresh has expired in the server.
async fn wait_out_ttl() {
    tokio::time::sleep(Duration::from_millis(CACHE_TTL_MS + 100)).await;
}

/// The server's config: a Kafka profile per cluster, one RabbitMQ profile, no inline brokers.
fn config(clusters: &[Cluster]) -> String {
    let mut yaml = format!(
        "cache_ttl_ms: {CACHE_TTL_MS}\n\
         # Streams answer once when opened; their re-checks stay out of the refreshes counted.\n\
         stream_check_interval_ms: 3600000\n\
         inline_endpoints: deny\n\
         clusters:\n  rabbit:\n    rabbitmq:\n      uri: {}\n",
        brokers::amqp_uri()
    );
    for (i, cluster) in clusters.iter().enumerate() {
        yaml += &format!(
            "  kafka-{i:03}:\n    kafka:\n      bootstrap_servers: {}\n",
            cluster.brokers.bootstrap_servers()
        );
    }
    yaml
}

/// Every trigger, in a fixed shuffled order (KEDA polls each ScaledObject on its own clock).
fn triggers(clusters: &[Cluster], queues: &[String]) -> Vec<Trigger> {
    let object = |name: String, metadata: Vec<(&str, String)>| ScaledObjectRef {
        name,
        namespace: "envelope".to_owned(),
        scaler_metadata: metadata.into_iter().collect(),
    };
    let mut all = Vec::new();
    for (c, cluster) in clusters.iter().enumerate() {
        for (g, group) in cluster.groups.iter().enumerate() {
            for t in 0..THRESHOLDS {
                let metadata = vec![
                    ("source", "kafka".to_owned()),
                    ("cluster", format!("kafka-{c:03}")),
                    ("consumerGroup", group.clone()),
                    ("topic", cluster.topic.clone()),
                    ("lagThreshold", (10 + t).to_string()),
                ];
                all.push(Trigger {
                    object: object(format!("kafka-{c}-{g}-{t}"), metadata),
                    first: t == 0,
                    stream: STREAMING.contains(&t),
                });
            }
        }
    }
    for (q, queue) in queues.iter().enumerate() {
        let metadata = vec![
            ("source", "rabbitmq".to_owned()),
            ("cluster", "rabbit".to_owned()),
            ("queueName", queue.clone()),
        ];
        all.push(Trigger {
            object: object(format!("rabbit-{q}"), metadata),
            first: true,
            stream: false,
        });
    }
    // Fisher-Yates with a fixed xorshift: the same order every run.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for i in (1..all.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        all.swap(i, (state % (i as u64 + 1)) as usize);
    }
    all
}

async fn connect(server: &Server, count: usize) -> Vec<Channel> {
    let mut channels = Vec::new();
    for _ in 0..count {
        let channel = Channel::from_shared(format!("http://{}", server.grpc))
            .unwrap()
            .connect()
            .await
            .expect("a connection to lagscale serve");
        channels.push(channel);
    }
    channels
}

/// Every trigger's GetMetrics once, `CONCURRENCY` in flight; the time from the first call to
/// the last answer. Panics when a call fails or serves no positive value.
async fn refresh(channels: &[Channel], calls: &Arc<Vec<ScaledObjectRef>>) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..CONCURRENCY {
        let mut client = ExternalScalerClient::new(channels[w % channels.len()].clone());
        let (calls, next) = (calls.clone(), next.clone());
        tasks.spawn(async move {
            while let Some(object) = calls.get(next.fetch_add(1, Ordering::Relaxed)) {
                let request = GetMetricsRequest {
                    scaled_object_ref: Some(object.clone()),
                    metric_name: String::new(),
                };
                let answer = match client.get_metrics(request).await {
                    Ok(answer) => answer.into_inner(),
                    Err(status) => panic!("GetMetrics for {} failed: {status:?}", object.name),
                };
                let value = answer.metric_values.first().map(|v| v.metric_value_float);
                assert!(
                    value.is_some_and(|v| v > 0.0),
                    "GetMetrics for {} served {value:?}, expected a positive lag",
                    object.name
                );
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    start.elapsed()
}

/// What one refresh cost.
struct Measured {
    work: Work,
    wall_ms: f64,
    server_cpu_ms: f64,
    client_cpu_ms: f64,
    /// The server's RSS after it, MiB.
    rss_mib: f64,
}

/// One refresh of `calls`: the broker work it caused (the server's counters before and after),
/// its wall time, and the CPU time of the server and of this process.
async fn measured(
    server: &Server,
    channels: &[Channel],
    calls: &Arc<Vec<ScaledObjectRef>>,
) -> Measured {
    let cpu = || (server.stats().cpu_s, proc_stats(std::process::id()).cpu_s);
    let (before, cpu_before) = (server.scrape().await, cpu());
    let time = refresh(channels, calls).await;
    let (cpu_after, after) = (cpu(), server.scrape().await);
    let delta =
        |name: &str, labels: &[&str]| sum(&after, name, labels) - sum(&before, name, labels);
    let requests = "lagscale_kafka_requests_total";
    let queries = "lagscale_broker_query_duration_seconds_count";
    let mut kafka_by_api = BTreeMap::new();
    for series in after.keys().filter(|s| s.starts_with(requests)) {
        let api = label(series, "api").unwrap_or("?").to_owned();
        let n = after[series] - before.get(series).copied().unwrap_or(0.0);
        *kafka_by_api.entry(api).or_insert(0.0) += n;
    }
    kafka_by_api.retain(|_, n| *n > 0.0);
    let work = Work {
        kafka_requests: delta(requests, &[]),
        kafka_by_api,
        kafka_queries: delta(queries, &["source=\"kafka\""]),
        rabbitmq_queries: delta(queries, &["source=\"rabbitmq\""]),
        misses: delta("lagscale_cache_lookups_total", &["result=\"miss\""]),
    };
    Measured {
        work,
        wall_ms: time.as_secs_f64() * 1e3,
        server_cpu_ms: (cpu_after.0 - cpu_before.0) * 1e3,
        client_cpu_ms: (cpu_after.1 - cpu_before.1) * 1e3,
        rss_mib: server.stats().rss_mib,
    }
}

/// A StreamIsActive stream on every streaming trigger, each read up to its first answer.
async fn open_streams(
    server: &Server,
    triggers: &[Trigger],
) -> Vec<tonic::Streaming<lagscale::proto::IsActiveResponse>> {
    let channels = connect(server, STREAM_CONNECTIONS).await;
    let mut opening = tokio::task::JoinSet::new();
    let streaming: Vec<_> = triggers.iter().filter(|t| t.stream).collect();
    let mut streams = Vec::new();
    for (i, trigger) in streaming.iter().enumerate() {
        let mut client = ExternalScalerClient::new(channels[i % channels.len()].clone());
        let object = trigger.object.clone();
        opening.spawn(async move {
            let mut stream = client
                .stream_is_active(object.clone())
                .await
                .unwrap_or_else(|s| panic!("StreamIsActive for {}: {s:?}", object.name))
                .into_inner();
            let first = stream.message().await;
            assert!(
                matches!(first, Ok(Some(_))),
                "StreamIsActive for {} answered {first:?}",
                object.name
            );
            stream
        });
        if opening.len() >= CONCURRENCY {
            streams.push(opening.join_next().await.unwrap().unwrap());
        }
    }
    while let Some(stream) = opening.join_next().await {
        streams.push(stream.unwrap());
    }
    streams
}
