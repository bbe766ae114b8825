//! Writes the gRPC request bodies `scripts/bench-h2load.sh` sends with h2load (one framed
//! message per file: a 0 flag byte, a 4-byte big-endian length, the protobuf), and declares
//! the RabbitMQ queue they ask about with `MESSAGES` ready messages.
//!
//!     cargo run --release --example grpc_requests -- OUT_DIR QUEUE
//!
//! Files: `health.bin` (grpc.health.v1.HealthCheckRequest, service ""), and for each trigger
//! `plain`, `log2` and `throughput` (RabbitMQ's management API with `protocol: http`, and
//! `replicaThroughput: "10"`): `spec-T.bin` (ScaledObjectRef, for GetMetricSpec and IsActive)
//! and `metrics-T.bin` (GetMetricsRequest).

use std::collections::HashMap;
use std::path::Path;

use lagscale::proto::{GetMetricsRequest, ScaledObjectRef};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use prost::Message;

const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const MANAGEMENT: &str = "http://guest:guest@127.0.0.1:15672/%2F";
const MESSAGES: usize = 1_000;

fn framed(message: &impl Message) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend((body.len() as u32).to_be_bytes());
    frame.extend(body);
    frame
}

fn trigger(queue: &str, extra: &[(&str, &str)]) -> ScaledObjectRef {
    let mut metadata: HashMap<String, String> =
        [("source", "rabbitmq"), ("host", AMQP), ("queueName", queue)]
            .iter()
            .chain(extra)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
    if extra.iter().any(|(k, _)| *k == "protocol") {
        metadata.insert("host".to_owned(), MANAGEMENT.to_owned());
    }
    ScaledObjectRef {
        name: "orders-worker".to_owned(),
        namespace: "shop".to_owned(),
        scaler_metadata: metadata,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, queue] = args.as_slice() else {
        return Err("usage: grpc_requests OUT_DIR QUEUE".into());
    };
    let out = Path::new(out);
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("health.bin"), [0u8, 0, 0, 0, 0])?;
    let triggers = [
        ("plain", trigger(queue, &[("lagThreshold", "100")])),
        (
            "log2",
            trigger(
                queue,
                &[
                    ("transform", "log2"),
                    ("log2Multiplier", "7"),
                    ("lagThreshold", "20000"),
                ],
            ),
        ),
        (
            "throughput",
            trigger(
                queue,
                &[
                    ("protocol", "http"),
                    ("metric", "throughput"),
                    ("replicaThroughput", "10"),
                ],
            ),
        ),
    ];
    for (name, so) in triggers {
        std::fs::write(out.join(format!("spec-{name}.bin")), framed(&so))?;
        let request = GetMetricsRequest {
            scaled_object_ref: Some(so),
            metric_name: String::new(),
        };
        std::fs::write(out.join(format!("metrics-{name}.bin")), framed(&request))?;
    }

    let connection = Connection::connect(AMQP, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await?;
    for _ in 0..MESSAGES {
        channel
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                b"m",
                BasicProperties::default(),
            )
            .await?
            .await?;
    }
    connection.close(200, "done".into()).await?;
    Ok(())
}
