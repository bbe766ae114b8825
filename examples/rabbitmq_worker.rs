//! A RabbitMQ worker for the Job-per-burst pattern: KEDA starts Jobs when messages wait
//! (keda-examples/rabbitmq-scaledjob.yaml), and each Job takes messages until the queue has
//! been quiet for `IDLE_EXIT_SECS`, then exits 0 so the Job completes. Scale-up is KEDA's,
//! scale-down is the workers' own: nobody kills a worker in the middle of a message.
//!
//! Each message is acknowledged after it is processed, so a worker that dies mid-message hands
//! it back to the queue. `PREFETCH` bounds how many unacknowledged messages one worker holds;
//! lagscale counts only *ready* messages, so those are not counted twice. SIGTERM (or Ctrl-C)
//! stops taking messages, finishes the one in hand and exits.
//!
//! Environment:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `AMQP_URI` | `amqp://guest:guest@127.0.0.1:5672/%2f` | the broker |
//! | `QUEUE` | (required) | the queue to consume |
//! | `IDLE_EXIT_SECS` | `30` | exit after this long without a message; `0` never exits |
//! | `PREFETCH` | `10` | unacknowledged messages held at once |
//! | `WORK_MS` | `0` | simulated work per message, in milliseconds |
//!
//! Run it: `QUEUE=images cargo run --example rabbitmq_worker`.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};

mod common;

struct Settings {
    uri: String,
    queue: String,
    idle_exit: Option<Duration>,
    prefetch: u16,
    work: Duration,
}

impl Settings {
    fn from_env() -> Result<Settings, String> {
        let prefetch = common::env_or("PREFETCH", "10");
        Ok(Settings {
            uri: common::env_or("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            queue: common::required("QUEUE", "the name of the queue to consume")?,
            idle_exit: common::idle_exit("30")?,
            prefetch: prefetch.trim().parse().map_err(|_| {
                format!("PREFETCH: {prefetch:?} is not a whole number from 0 to 65535")
            })?,
            work: common::work()?,
        })
    }
}

async fn run(settings: Settings) -> Result<u64, String> {
    let connection = Connection::connect(&settings.uri, ConnectionProperties::default())
        .await
        .map_err(|e| format!("cannot connect to AMQP_URI: {e}"))?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| format!("cannot open a channel: {e}"))?;
    channel
        .basic_qos(settings.prefetch, BasicQosOptions::default())
        .await
        .map_err(|e| format!("PREFETCH {}: {e}", settings.prefetch))?;
    let mut consumer = channel
        .basic_consume(
            settings.queue.as_str().into(),
            "rabbitmq-worker".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| format!("QUEUE {:?}: cannot consume: {e}", settings.queue))?;
    println!("consuming {:?}", settings.queue);

    let stop = common::shutdown_signal();
    tokio::pin!(stop);
    let mut processed = 0u64;
    loop {
        let next = common::next_within(settings.idle_exit, consumer.next());
        let delivery = tokio::select! {
            _ = &mut stop => {
                println!("signal received");
                break;
            }
            next = next => match next {
                None => {
                    println!("idle for {:?}", settings.idle_exit.unwrap_or_default());
                    break;
                }
                Some(None) => return Err("the broker closed the consumer".to_owned()),
                Some(Some(Err(e))) => return Err(format!("consuming: {e}")),
                Some(Some(Ok(delivery))) => delivery,
            },
        };
        common::process(&delivery.data, settings.work).await;
        delivery
            .ack(BasicAckOptions::default())
            .await
            .map_err(|e| format!("ack: {e}"))?;
        processed += 1;
    }
    // Closing hands any prefetched, unacknowledged messages back to the queue at once.
    let _ = channel.close(200, "done".into()).await;
    let _ = connection.close(200, "done".into()).await;
    Ok(processed)
}

#[tokio::main]
async fn main() {
    let result = match Settings::from_env() {
        Ok(settings) => run(settings).await,
        Err(e) => Err(e),
    };
    common::finish("rabbitmq_worker", result);
}
