//! The example workers (examples/), run as the processes a Job or a Deployment would start:
//! the RabbitMQ worker against the real broker, the Kafka worker against the mock cluster.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::support::kafka::{Kafka, unique};
use crate::support::rabbit::{TestQueue, uri};

/// `cargo test` builds the examples next to the binaries it tests (`cargo test --test e2e`
/// alone does not: run `cargo build --examples` first).
fn example(name: &str) -> Command {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_lagscale"));
    let path = bin.parent().unwrap().join("examples").join(name);
    assert!(
        path.exists(),
        "{} was not built: run `cargo test` or `cargo build --examples`",
        path.display()
    );
    let mut command = Command::new(path);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

/// Waits for the worker to exit by itself; kills it and fails after `within`.
async fn exits_within(mut child: Child, within: Duration, what: &str) -> Output {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "{what} did not exit within {within:?}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn rabbitmq_worker_drains_the_queue_then_exits_when_idle() {
    let queue = TestQueue::new("worker").await;
    queue.publish(25).await;
    let child = example("rabbitmq_worker")
        .env("AMQP_URI", uri())
        .env("QUEUE", &queue.name)
        .env("PREFETCH", "4")
        .env("IDLE_EXIT_SECS", "0.5")
        .spawn()
        .unwrap();
    let output = exits_within(child, Duration::from_secs(30), "rabbitmq_worker").await;
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("processed 25 messages"), "{out}");
    assert_eq!(queue.ready().await, 0, "every message acknowledged");

    // A Job started for a burst that other workers already took exits with nothing to do.
    let child = example("rabbitmq_worker")
        .env("AMQP_URI", uri())
        .env("QUEUE", &queue.name)
        .env("IDLE_EXIT_SECS", "0.2")
        .spawn()
        .unwrap();
    let output = exits_within(child, Duration::from_secs(30), "rabbitmq_worker").await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("processed 0 messages"));
    queue.delete().await;
}

#[tokio::test]
async fn rabbitmq_worker_names_a_bad_setting() {
    let cases = [
        (vec![("IDLE_EXIT_SECS", "1")], "QUEUE: not set"),
        (
            vec![("QUEUE", "q"), ("IDLE_EXIT_SECS", "soon")],
            "IDLE_EXIT_SECS: \"soon\" is not a number of seconds >= 0",
        ),
        (
            vec![("QUEUE", "q"), ("PREFETCH", "-1")],
            "PREFETCH: \"-1\" is not a whole number",
        ),
    ];
    for (env, expected) in cases {
        let mut command = example("rabbitmq_worker");
        command.env_remove("QUEUE").envs(env.iter().copied());
        let output =
            exits_within(command.spawn().unwrap(), Duration::from_secs(30), "worker").await;
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        assert!(text(&output).contains(expected), "{}", text(&output));
    }
}

#[tokio::test]
async fn kafka_worker_commits_what_it_processed() {
    let kafka = Kafka::start();
    let topic = kafka.topic(3);
    let group = unique("worker-group");
    kafka.produce(&topic, &[0, 1, 2], 10);
    let child = example("kafka_worker")
        .env("BOOTSTRAP_SERVERS", kafka.bootstrap())
        .env("GROUP_ID", &group)
        .env("TOPIC", &topic)
        .env("IDLE_EXIT_SECS", "5")
        .spawn()
        .unwrap();
    let output = exits_within(child, Duration::from_secs(60), "kafka_worker").await;
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("processed 30 messages"), "{out}");

    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap())
        .set("group.id", &group)
        .create()
        .unwrap();
    let mut partitions = TopicPartitionList::new();
    for p in 0..3 {
        partitions.add_partition(&topic, p);
    }
    let committed = reader
        .committed_offsets(partitions, Duration::from_secs(10))
        .unwrap();
    for element in committed.elements() {
        assert_eq!(
            element.offset(),
            Offset::Offset(10),
            "partition {}: {out}",
            element.partition()
        );
    }
}
