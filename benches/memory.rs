//! Resident memory of the server with 10,000 distinct triggers evaluated (1,000 consumer
//! groups × 10 thresholds on the mock cluster: 1,000 cached broker answers) and then 1,000
//! open StreamIsActive streams.
//!
//!     cargo bench --bench memory

#[allow(dead_code)]
#[path = "../tests/e2e/support/mod.rs"]
mod support;

use futures_util::future::join_all;
use lagscale::config::Config;
use lagscale::proto::external_scaler_client::ExternalScalerClient;

use support::kafka::{Kafka, unique};
use support::{TestServer, config, metrics_request, rss_mib, so};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let kafka = Kafka::start();
    let topic = kafka.topic(4);
    kafka.produce(&topic, &[0, 1, 2, 3], 5);
    let groups: Vec<String> = (0..1_000).map(|_| unique("group")).collect();
    for group in &groups {
        kafka.commit(group, &topic, &[(0, 1), (1, 1), (2, 1), (3, 1)]);
    }
    let server = TestServer::start(Config {
        cache_ttl_ms: 3_600_000,
        ..config()
    })
    .await;
    let channel = server.channel().await;
    let bootstrap = kafka.bootstrap();
    let metadata = |i: usize| {
        vec![
            ("source".to_owned(), "kafka".to_owned()),
            ("bootstrapServers".to_owned(), bootstrap.clone()),
            ("consumerGroup".to_owned(), groups[i % 1_000].clone()),
            ("topic".to_owned(), topic.clone()),
            ("lagThreshold".to_owned(), (10 + i / 1_000).to_string()),
        ]
    };
    let before = rss_mib();
    for chunk in (0..10_000).collect::<Vec<usize>>().chunks(200) {
        join_all(chunk.iter().map(|&i| {
            let mut client = ExternalScalerClient::new(channel.clone());
            let request = metrics_request(so(&format!("so-{i}"), &metadata(i)), "");
            async move { client.get_metrics(request).await.unwrap() }
        }))
        .await;
    }
    let triggers = rss_mib();
    let mut streams = Vec::new();
    for i in 0..1_000 {
        let mut client = ExternalScalerClient::new(channel.clone());
        let mut stream = client
            .stream_is_active(so(&format!("so-{i}"), &metadata(i)))
            .await
            .unwrap()
            .into_inner();
        stream.message().await.unwrap();
        streams.push(stream);
    }
    let with_streams = rss_mib();
    println!("resident memory (whole process: mock cluster and clients included)");
    println!("  server started:                                  {before:>7.1} MiB");
    println!("  after 10,000 distinct triggers (1,000 queries):  {triggers:>7.1} MiB");
    println!("  with 1,000 StreamIsActive streams open as well:  {with_streams:>7.1} MiB");
    println!("  broker queries sent: {}", server.queries_sent());
    drop(streams);
}
