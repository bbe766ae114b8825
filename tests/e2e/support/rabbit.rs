//! The real RabbitMQ the test command starts: queues with known contents.

use std::sync::atomic::{AtomicU32, Ordering};

use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

/// The broker's URI; `LAGSCALE_TEST_AMQP` overrides the local default.
pub fn uri() -> String {
    std::env::var("LAGSCALE_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// The broker's management API; `LAGSCALE_TEST_AMQP_MANAGEMENT` overrides the local default
/// (the test command enables the plugin).
pub fn management_url() -> String {
    std::env::var("LAGSCALE_TEST_AMQP_MANAGEMENT")
        .unwrap_or_else(|_| "http://guest:guest@127.0.0.1:15672".to_owned())
}

/// A queue of its own for one test, deleted on drop (best effort).
pub struct TestQueue {
    pub name: String,
    connection: Connection,
    channel: Channel,
}

impl TestQueue {
    pub async fn new(label: &str) -> TestQueue {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "lagscale-test-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let connection = Connection::connect(&uri(), ConnectionProperties::default())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "RabbitMQ is not reachable at {}: {e}; run the README's test command",
                    uri()
                )
            });
        let channel = connection.create_channel().await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        channel
            .queue_declare(
                name.as_str().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        TestQueue {
            name,
            connection,
            channel,
        }
    }

    /// Publishes `n` messages and waits until the broker has confirmed them all.
    pub async fn publish(&self, n: usize) {
        let mut confirms = Vec::with_capacity(n);
        for i in 0..n {
            let confirm = self
                .channel
                .basic_publish(
                    "".into(),
                    self.name.as_str().into(),
                    BasicPublishOptions::default(),
                    format!("message {i}").as_bytes(),
                    BasicProperties::default(),
                )
                .await
                .unwrap();
            confirms.push(confirm);
        }
        for confirm in confirms {
            confirm.await.unwrap();
        }
    }

    /// Messages ready in the queue (a passive declare, as lagscale counts them).
    pub async fn ready(&self) -> u32 {
        self.channel
            .queue_declare(
                self.name.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap()
            .message_count()
    }

    /// A consumer that takes up to `prefetch` messages and never acknowledges them: they stay
    /// unacknowledged until the returned consumer's channel is closed (dropped).
    pub async fn hold_unacked(&self, prefetch: u16) -> (Channel, lapin::Consumer) {
        let channel = self.connection.create_channel().await.unwrap();
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .unwrap();
        let consumer = channel
            .basic_consume(
                self.name.as_str().into(),
                "lagscale-test-holder".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        (channel, consumer)
    }

    /// A consumer that acknowledges one message every `1 / rate` seconds (prefetch 1) until
    /// the returned task is aborted. The ticks are the consumer's pace, not a wait.
    #[allow(dead_code)]
    pub async fn consume_at(&self, rate: f64) -> tokio::task::JoinHandle<()> {
        use futures_util::StreamExt;
        use lapin::options::BasicAckOptions;
        let channel = self.connection.create_channel().await.unwrap();
        channel
            .basic_qos(1, BasicQosOptions::default())
            .await
            .unwrap();
        let mut consumer = channel
            .basic_consume(
                self.name.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        tokio::spawn(async move {
            let _channel = channel;
            let mut pace = tokio::time::interval(std::time::Duration::from_secs_f64(1.0 / rate));
            while let Some(Ok(delivery)) = consumer.next().await {
                pace.tick().await;
                if delivery.ack(BasicAckOptions::default()).await.is_err() {
                    return;
                }
            }
        })
    }

    pub async fn purge(&self) {
        self.channel
            .queue_purge(self.name.as_str().into(), QueuePurgeOptions::default())
            .await
            .unwrap();
    }

    /// Trigger metadata for this queue with an inline host, plus `extra`.
    pub fn metadata<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, String)> {
        let mut pairs = vec![
            ("source", "rabbitmq".to_owned()),
            ("host", uri()),
            ("queueName", self.name.clone()),
        ];
        pairs.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        pairs
    }

    pub async fn delete(self) {
        let _ = self
            .channel
            .queue_delete(self.name.as_str().into(), QueueDeleteOptions::default())
            .await;
        let _ = self.connection.close(200, "done".into()).await;
    }
}
