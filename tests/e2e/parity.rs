//! `lagscale simulate` serves what `serve` serves: the same trigger, lag, partitions and
//! replicas give the same value through the real server (mock Kafka, the real RabbitMQ, fake
//! replicas) and through the simulator's policy, since both call `TriggerSpec::decide`.
//! The table covers a plain and a capped log2 trigger, a trigger with no partitions (a
//! RabbitMQ queue), and a throughput trigger on a cold start (no rate known yet).

use std::sync::Arc;

use lagscale::commands::simulate::PolicyMetric;
use lagscale::commands::simulate::config::Policy;
use lagscale::scaler::Scaler;
use lagscale::strategy::step::Bounds;

use crate::support::fake_kube::FakeReplicas;
use crate::support::kafka::{Kafka, unique};
use crate::support::rabbit::TestQueue;
use crate::support::{TestServer, config, served_value};

const PARTITIONS: u32 = 4;
const LAG: f64 = 400.0;
const CURRENT: u32 = 3;
const BOUNDS: Bounds = Bounds { min: 1, max: 20 };

/// The simulator's value for `metadata`, with the source's connection keys left out.
fn simulated(metadata: &[(&str, &str)], partitions: u32) -> f64 {
    let lines: Vec<String> = metadata
        .iter()
        .map(|(k, v)| format!("  {k}: {}", serde_json::to_string(v).unwrap()))
        .collect();
    let policy: Policy =
        serde_yaml::from_str(&format!("metadata:\n{}\n", lines.join("\n"))).unwrap();
    let simulated = PolicyMetric::new("parity", &policy, partitions).unwrap();
    simulated.read(0, LAG, CURRENT, BOUNDS, None).metric
}

#[tokio::test(flavor = "multi_thread")]
async fn the_simulator_serves_what_the_server_serves() {
    let kafka = Kafka::start();
    let topic = kafka.topic(PARTITIONS as i32);
    let per_partition = (LAG / f64::from(PARTITIONS)) as usize;
    kafka.produce(&topic, &[0, 1, 2, 3], per_partition);
    let group = unique("parity");
    kafka.commit(&group, &topic, &[(0, 0), (1, 0), (2, 0), (3, 0)]);
    let queue = TestQueue::new("parity").await;
    queue.publish(LAG as usize).await;

    let replicas = Arc::new(FakeReplicas::default());
    for name in ["log2", "capped", "throughput", "queue"] {
        replicas.set("test", name, CURRENT, BOUNDS.min, BOUNDS.max);
    }
    let server = TestServer::with_scaler(Scaler::with_replicas(config(), replicas)).await;
    let bootstrap = kafka.bootstrap();
    let kafka_keys = [
        ("source", "kafka"),
        ("bootstrapServers", bootstrap.as_str()),
        ("consumerGroup", group.as_str()),
        ("topic", topic.as_str()),
    ];
    let rows: [(&str, Vec<(&str, &str)>); 3] = [
        ("log2", vec![("transform", "log2"), ("lagThreshold", "20")]),
        (
            "capped",
            vec![
                ("transform", "log2"),
                ("lagThreshold", "2"),
                ("replicaAware", "true"),
            ],
        ),
        (
            "throughput",
            vec![
                ("metric", "throughput"),
                ("replicaThroughput", "10"),
                ("drainSeconds", "20"),
            ],
        ),
    ];
    let mut compared = Vec::new();
    for (name, policy) in &rows {
        let mut metadata = kafka_keys.to_vec();
        metadata.extend(policy.iter().copied());
        let served = served_value(server.client().await, name, &metadata).await;
        compared.push((*name, served, simulated(policy, PARTITIONS)));
    }
    // No partitions: a RabbitMQ queue, log2.
    let queue_policy = [("transform", "log2"), ("lagThreshold", "20")];
    let mut metadata: Vec<(&str, String)> = queue.metadata(&queue_policy);
    metadata.sort();
    let served = served_value(server.client().await, "queue", &metadata).await;
    let host = crate::support::rabbit::uri();
    let mut simulated_keys: Vec<(&str, &str)> = vec![
        ("source", "rabbitmq"),
        ("host", host.as_str()),
        ("queueName", queue.name.as_str()),
    ];
    simulated_keys.extend(queue_policy);
    compared.push(("queue", served, simulated(&simulated_keys, PARTITIONS)));

    for (name, served, simulated) in &compared {
        assert_eq!(
            served, simulated,
            "{name}: served {served}, simulated {simulated}"
        );
    }
    // The rows decide differently: the cap and the cold start are really exercised.
    let value = |name: &str| compared.iter().find(|c| c.0 == name).unwrap().1;
    assert!(value("capped") < 2.0 * LAG.log2(), "capped: {compared:?}");
    assert_eq!(
        value("throughput"),
        LAG / 20.0,
        "cold start: lag / drainSeconds"
    );
    queue.delete().await;
}
