//! Broker cost on librdkafka's mock cluster (3 brokers): the requests one refresh of N = 10,
//! 100 and 1,000 triggers over 10 consumer groups sends, next to what one client per trigger
//! (KEDA's Kafka scaler) sends, 2 + brokers requests each; and the time of one lag evaluation
//! on a topic with 1,000 partitions.
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
    println!("(\"other\": librdkafka's ApiVersions and the like when it opens connections)");

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
