//! Broker cost on librdkafka's mock cluster (3 brokers): the requests one refresh of N = 10,
//! 100 and 1,000 triggers over 10 consumer groups sends, next to what one client per trigger
//! (KEDA's Kafka scaler) sends, 2 + brokers requests each; the requests one refresh of 10, 100
//! and 1,000 groups sends; threads and memory per Kafka cluster client, lagscale's own against
//! a librdkafka client configured as lagscale's was; and the time of one lag evaluation on a
//! topic with 1,000 partitions.
//!
//!     cargo bench --bench brokers

#[allow(dead_code)]
#[path = "../tests/e2e/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use lagscale::config::Config;
use lagscale::mock_kafka::api_key::{FIND_COORDINATOR, LIST_OFFSETS, METADATA, OFFSET_FETCH};
use lagscale::proto::external_scaler_client::ExternalScalerClient;
use lagscale::scaler::Scaler;

use lagscale::source::kafka::GroupQuery;
use lagscale::source::{SourceQuery, Sources};
use support::kafka::{Kafka, unique};
use support::{TestServer, config, metrics_request, so};

const BROKERS: usize = 3;
const GROUPS: usize = 10;

async fn one_refresh(
    kafka: &Kafka,
    topic: &str,
    groups: &[String],
    triggers: usize,
) -> BTreeMap<i16, usize> {
    let server = TestServer::start(Config {
        cache_ttl_ms: 600_000,
        ..config()
    })
    .await;
    let channel = server.channel().await;
    let bootstrap = kafka.bootstrap();
    kafka.brokers.take_requests();
    for chunk in (0..triggers).collect::<Vec<_>>().chunks(100) {
        let calls = chunk.iter().map(|&i| {
            let mut client = ExternalScalerClient::new(channel.clone());
            let threshold = (10 + i).to_string();
            let metadata = [
                ("source", "kafka"),
                ("bootstrapServers", bootstrap.as_str()),
                ("consumerGroup", groups[i % groups.len()].as_str()),
                ("topic", topic),
                ("lagThreshold", threshold.as_str()),
            ];
            let request = metrics_request(so(&format!("so-{i}"), &metadata), "");
            async move { client.get_metrics(request).await.unwrap() }
        });
        join_all(calls).await;
    }
    let mut counts = BTreeMap::new();
    for request in kafka.brokers.take_requests() {
        *counts.entry(request.api_key).or_default() += 1;
    }
    counts
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let kafka = Kafka::start();
    let topic = kafka.topic(12);
    kafka.produce(&topic, &(0..12).collect::<Vec<_>>(), 5);
    let groups: Vec<String> = (0..GROUPS).map(|_| unique("group")).collect();
    for group in &groups {
        kafka.commit(group, &topic, &(0..12).map(|p| (p, 1)).collect::<Vec<_>>());
    }
    kafka.brokers.start_request_tracking();
    println!("one refresh, {GROUPS} groups on one 12-partition topic, {BROKERS} brokers");
    println!(
        "{:>9} {:>10} {:>12} {:>11} {:>9} {:>16} {:>6} {:>26}",
        "triggers",
        "lagscale",
        "OffsetFetch",
        "ListOffsets",
        "Metadata",
        "FindCoordinator",
        "other",
        "one client per trigger"
    );
    for triggers in [10, 100, 1_000] {
        let counts = one_refresh(&kafka, &topic, &groups, triggers).await;
        let count = |key| counts.get(&key).copied().unwrap_or(0);
        let total: usize = counts.values().sum();
        let known =
            count(OFFSET_FETCH) + count(LIST_OFFSETS) + count(METADATA) + count(FIND_COORDINATOR);
        println!(
            "{triggers:>9} {total:>10} {:>12} {:>11} {:>9} {:>16} {:>6} {:>26}",
            count(OFFSET_FETCH),
            count(LIST_OFFSETS),
            count(METADATA),
            count(FIND_COORDINATOR),
            total - known,
            triggers * (2 + BROKERS)
        );
    }
    println!("(\"other\": ApiVersions, once per new connection)");

    groups_refresh(&kafka, &topic).await;
    clients_cost(&kafka).await;

    // One lag evaluation on a 1,000-partition topic: a cache miss each time.
    let wide = kafka.topic(1_000);
    let all: Vec<i32> = (0..1_000).collect();
    kafka.produce(&wide, &all, 2);
    let group = unique("wide");
    kafka.commit(
        &group,
        &wide,
        &all.iter().map(|&p| (p, 1)).collect::<Vec<_>>(),
    );
    let scaler = Scaler::new(Config {
        cache_ttl_ms: 1,
        ..config()
    });
    let bootstrap = kafka.bootstrap();
    let metadata = [
        ("source", "kafka"),
        ("bootstrapServers", bootstrap.as_str()),
        ("consumerGroup", group.as_str()),
        ("topic", wide.as_str()),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into_iter()
    .collect();
    let spec = scaler.trigger(&metadata).unwrap();
    let first = Instant::now();
    let lag = scaler.evaluate(&spec).await.unwrap().lag;
    let first = first.elapsed();
    let mut times = Vec::new();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(5)).await; // let the 1 ms cache entry expire
        let at = Instant::now();
        scaler.evaluate(&spec).await.unwrap();
        times.push(at.elapsed());
    }
    times.sort();
    println!(
        "1,000 partitions: lag {lag}; first evaluation (connect, metadata) {:.1} ms; then median {:.1} ms, max {:.1} ms over 20",
        first.as_secs_f64() * 1e3,
        times[10].as_secs_f64() * 1e3,
        times[19].as_secs_f64() * 1e3
    );
}

/// One refresh of G groups at once (as a sampler tick or a burst of KEDA calls makes it),
/// counted by lagscale's client per API. The mock speaks OffsetFetch up to v6 and
/// FindCoordinator up to v3, so each group costs one of each here; a broker with OffsetFetch v8
/// (Kafka 3.0+) takes them in one request per coordinator (tests/e2e/tansu.rs counts it).
async fn groups_refresh(kafka: &Kafka, topic: &str) {
    use kafka_protocol::messages::ApiKey;
    println!("\none refresh of G groups at once (one trigger each), requests sent by lagscale");
    println!(
        "{:>7} {:>12} {:>16} {:>11} {:>9}",
        "groups", "OffsetFetch", "FindCoordinator", "ListOffsets", "Metadata"
    );
    let endpoint = lagscale::source::kafka::Endpoint {
        cluster: None,
        profile: lagscale::source::kafka::KafkaProfile::inline(&kafka.bootstrap()).unwrap(),
    };
    for groups in [10, 100, 1_000] {
        let sources = Sources::new(
            config().broker_timeouts(),
            Duration::from_secs(600),
            config().idle_client_ttl(),
        );
        let queries: Vec<SourceQuery> = (0..groups)
            .map(|_| {
                SourceQuery::Kafka(GroupQuery {
                    endpoint: endpoint.clone(),
                    group: unique("refresh"),
                    topic: Some(topic.to_owned()),
                })
            })
            .collect();
        let answers = join_all(queries.iter().map(|q| sources.observe(q))).await;
        assert!(answers.iter().all(Result::is_ok), "every group answered");
        let sent = |api| sources.kafka_requests(api);
        println!(
            "{groups:>7} {:>12} {:>16} {:>11} {:>9}",
            sent(ApiKey::OffsetFetch),
            sent(ApiKey::FindCoordinator),
            sent(ApiKey::ListOffsets),
            sent(ApiKey::Metadata)
        );
    }
}

/// Threads and resident memory of the process after opening N cluster clients (N inline
/// endpoints, each its own client, all on the mock cluster): lagscale's own, then librdkafka
/// clients as lagscale configured them before (one consumer handle with a never-joined
/// group.id, connected by a metadata request).
async fn clients_cost(kafka: &Kafka) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    println!("\nper Kafka cluster client (N clients on the mock cluster)");
    println!(
        "{:>28} {:>4} {:>9} {:>12}",
        "client", "N", "threads", "RSS MiB"
    );
    let base = (threads(), support::rss_mib());
    println!(
        "{:>28} {:>4} {:>9} {:>12.1}",
        "none (the process)", 0, base.0, base.1
    );
    let topic = kafka.topic(3);
    let n = 20;
    let sources = Sources::new(
        config().broker_timeouts(),
        Duration::from_secs(600),
        config().idle_client_ttl(),
    );
    let bootstrap = kafka.bootstrap();
    let servers: Vec<&str> = bootstrap.split(',').collect();
    for i in 0..n {
        // The same brokers under distinct bootstrap lists: one client each.
        let list = format!("{},{}", servers[i % servers.len()], bootstrap);
        let query = SourceQuery::Kafka(GroupQuery {
            endpoint: lagscale::source::kafka::Endpoint {
                cluster: None,
                profile: lagscale::source::kafka::KafkaProfile::inline(&list).unwrap(),
            },
            group: unique("cost"),
            topic: Some(topic.clone()),
        });
        sources.observe(&query).await.unwrap();
    }
    let ours = (threads(), support::rss_mib());
    println!(
        "{:>28} {n:>4} {:>9} {:>12.1}",
        "lagscale (tokio tasks)", ours.0, ours.1
    );
    let mut librdkafka = Vec::new();
    for _ in 0..n {
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "lagscale-offset-reader")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .unwrap();
        librdkafka.push(consumer);
    }
    let theirs = (threads(), support::rss_mib());
    println!(
        "{:>28} {n:>4} {:>9} {:>12.1}",
        "+ librdkafka (as before)", theirs.0, theirs.1
    );
    println!(
        "per client: lagscale {:.1} threads, {:.2} MiB; librdkafka {:.1} threads, {:.2} MiB",
        (ours.0 - base.0) as f64 / n as f64,
        (ours.1 - base.1) / n as f64,
        (theirs.0 - ours.0) as f64 / n as f64,
        (theirs.1 - ours.1) / n as f64
    );
}

/// The process's threads, from /proc.
fn threads() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:").map(|n| n.trim().parse().ok()))
                .flatten()
        })
        .unwrap_or(0)
}
