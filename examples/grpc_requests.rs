//! Writes the gRPC request bodies `scripts/bench-h2load.sh` sends with h2load (one framed
//! message per file: a 0 flag byte, a 4-byte big-endian length, the protobuf), declares the
//! RabbitMQ queue they ask about with `MESSAGES` ready messages, then serves a fake Kubernetes
//! API (the tests' `FakeKube`) with the ScaledObject `shop/orders-worker` scaling a Deployment of
//! 4 replicas, until it is killed. It writes `OUT_DIR/kube/kubeconfig` for it last, when ready.
//!
//!     cargo run --release --example grpc_requests -- OUT_DIR QUEUE
//!
//! Files: `health.bin` (grpc.health.v1.HealthCheckRequest, service ""), and for each trigger
//! `plain`, `log2`, `throughput` (RabbitMQ's management API with `protocol: http`, and
//! `replicaThroughput: "10"`) and `step` (`strategy: step`, which reads the replicas from the
//! fake API): `spec-T.bin` (ScaledObjectRef, for GetMetricSpec and IsActive) and
//! `metrics-T.bin` (GetMetricsRequest).

#[allow(dead_code)]
#[path = "../tests/e2e/support/fake_kube.rs"]
mod fake_kube;

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
        scaler_metadata: metadata.into(),
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
        ("step", trigger(queue, &[("strategy", "step")])),
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

    let kube = fake_kube::FakeKube::start().await;
    kube.scaled_object("shop", "orders-worker", "orders", 1, 10);
    kube.deployment_scale("shop", "orders", 4);
    // Written aside, then renamed: the script sees `kube/kubeconfig` whole or not at all.
    let writing = out.join("kube.tmp");
    std::fs::create_dir_all(&writing)?;
    kube.kubeconfig(&writing);
    std::fs::rename(writing, out.join("kube"))?;
    std::future::pending::<()>().await;
    Ok(())
}
