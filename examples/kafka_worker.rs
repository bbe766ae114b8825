//! A Kafka consumer-group member that commits only what it has processed
//! (keda-examples/kafka-log2-scaledobject.yaml scales a Deployment of it).
//!
//! Every change in the number of replicas rebalances the group, and a partition then moves to
//! another member, which starts from the group's last *committed* offset. A consumer that
//! commits before processing loses messages when it dies; one that commits rarely makes every
//! rebalance replay work. So: automatic offset *storing* is off, the offset of a message is
//! stored after it has been processed, and librdkafka commits the stored offsets every
//! `auto.commit.interval.ms` (1 s here), when partitions are revoked in a rebalance, and at
//! close. The lag lagscale reads is exactly the work not yet done.
//!
//! Environment:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `BOOTSTRAP_SERVERS` | `127.0.0.1:9092` | the brokers |
//! | `GROUP_ID` | (required) | the consumer group (the trigger's `consumerGroup`) |
//! | `TOPIC` | (required) | the topic to consume |
//! | `IDLE_EXIT_SECS` | `0` | exit after this long without a message; `0` never exits |
//! | `WORK_MS` | `0` | simulated work per message, in milliseconds |
//!
//! Run it: `GROUP_ID=orders-worker TOPIC=orders cargo run --example kafka_worker`.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

mod common;

struct Settings {
    bootstrap_servers: String,
    group: String,
    topic: String,
    idle_exit: Option<Duration>,
    work: Duration,
}

impl Settings {
    fn from_env() -> Result<Settings, String> {
        Ok(Settings {
            bootstrap_servers: common::env_or("BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            group: common::required("GROUP_ID", "the consumer group's id")?,
            topic: common::required("TOPIC", "the topic to consume")?,
            idle_exit: common::idle_exit("0")?,
            work: common::work()?,
        })
    }
}

async fn run(settings: Settings) -> Result<u64, String> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("group.id", &settings.group)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(|e| format!("cannot create the consumer: {e}"))?;
    consumer
        .subscribe(&[settings.topic.as_str()])
        .map_err(|e| format!("TOPIC {:?}: cannot subscribe: {e}", settings.topic))?;
    println!(
        "consuming {:?} as group {:?}",
        settings.topic, settings.group
    );

    let stop = common::shutdown_signal();
    tokio::pin!(stop);
    let mut processed = 0u64;
    loop {
        let next = common::next_within(settings.idle_exit, consumer.recv());
        let message = tokio::select! {
            _ = &mut stop => {
                println!("signal received");
                break;
            }
            next = next => match next {
                None => {
                    println!("idle for {:?}", settings.idle_exit.unwrap_or_default());
                    break;
                }
                Some(Err(e)) => {
                    // Broker errors are retried by librdkafka; say so and go on.
                    eprintln!("kafka_worker: {e}");
                    continue;
                }
                Some(Ok(message)) => message,
            },
        };
        let payload = rdkafka::Message::payload(&message).unwrap_or_default();
        common::process(payload, settings.work).await;
        consumer
            .store_offset_from_message(&message)
            .map_err(|e| format!("storing the offset: {e}"))?;
        processed += 1;
    }
    // Commit what was processed before leaving the group, so the next owner of these
    // partitions starts right after it.
    // (NoOffset: the automatic commit already took everything.)
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => return Err(format!("the final commit: {e}")),
    }
    Ok(processed)
}

#[tokio::main]
async fn main() {
    let result = match Settings::from_env() {
        Ok(settings) => run(settings).await,
        Err(e) => Err(e),
    };
    common::finish("kafka_worker", result);
}
