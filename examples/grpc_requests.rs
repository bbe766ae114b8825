//! Writes the gRPC request bodies `scripts/bench-h2load.sh` sends with h2load (one framed
//! message per file: a 0 flag byte, a 4-byte big-endian length, the protobuf), declares the
//! RabbitMQ queue they ask about with `MESSAGES` ready messages, then serves until it is killed:
//! - a fake Kubernetes API (the tests' `FakeKube`) with the ScaledObject `shop/orders-worker`
//!   scaling a Deployment of 4 replicas; its kubeconfig is `OUT_DIR/ready/kubeconfig`;
//! - the floor: a do-nothing ExternalScaler (and gRPC health) server, built as `lagscale serve`
//!   builds its own (the same tonic layers, allocator, runtime and log subscriber), which decodes
//!   the same request types and answers a constant. Its address is in `OUT_DIR/ready/floor`.
//!
//! The `ready` directory is written aside and renamed: whole or not at all.
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
use std::pin::Pin;

use lagscale::proto::external_scaler_server::{ExternalScaler, ExternalScalerServer};
use lagscale::proto::{
    GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse, MetricSpec,
    MetricValue, ScaledObjectRef,
};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use prost::Message;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// As `lagscale serve`'s (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// The floor: answers every call with a constant, its metric named as lagscale names the
/// queue's (one allocation per answer, as lagscale's).
struct Nothing {
    metric_name: String,
}

type Never<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl ExternalScaler for Nothing {
    async fn is_active(
        &self,
        _: Request<ScaledObjectRef>,
    ) -> Result<Response<IsActiveResponse>, Status> {
        Ok(Response::new(IsActiveResponse { result: true }))
    }
    type StreamIsActiveStream = Never<IsActiveResponse>;
    async fn stream_is_active(
        &self,
        _: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamIsActiveStream>, Status> {
        Err(Status::unimplemented("the floor serves unary calls only"))
    }
    async fn get_metric_spec(
        &self,
        _: Request<ScaledObjectRef>,
    ) -> Result<Response<GetMetricSpecResponse>, Status> {
        Ok(Response::new(GetMetricSpecResponse {
            metric_specs: vec![MetricSpec {
                metric_name: self.metric_name.clone(),
                target_size: 100,
                target_size_float: 100.0,
            }],
        }))
    }
    async fn get_metrics(
        &self,
        _: Request<GetMetricsRequest>,
    ) -> Result<Response<GetMetricsResponse>, Status> {
        Ok(Response::new(GetMetricsResponse {
            metric_values: vec![MetricValue {
                metric_name: self.metric_name.clone(),
                metric_value: MESSAGES as i64,
                metric_value_float: MESSAGES as f64,
            }],
        }))
    }
    type StreamMetricSpecStream = Never<GetMetricSpecResponse>;
    async fn stream_metric_spec(
        &self,
        _: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamMetricSpecStream>, Status> {
        Err(Status::unimplemented("the floor serves unary calls only"))
    }
}

/// Serves the floor on an ephemeral port of 127.0.0.1, with `lagscale serve`'s server layers
/// (`src/server.rs`, `serve`); returns its address.
async fn floor(queue: &str) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (_, health) = tonic_health::server::health_reporter();
    let nothing = Nothing {
        metric_name: format!("rabbitmq-{queue}"),
    };
    let serving = tonic::transport::Server::builder()
        .concurrency_limit_per_connection(
            lagscale::config::Config::default().max_concurrent_requests,
        )
        .load_shed(true)
        .add_service(health)
        .add_service(ExternalScalerServer::new(nothing))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(serving);
    Ok(addr)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // lagscale's subscriber: without one, tracing hands every span of tonic and h2 to `log`,
    // which costs the floor about 0.4 µs a call that lagscale does not pay.
    lagscale::telemetry::init(lagscale::telemetry::LogFormat::Text);
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
    let floor = floor(queue).await?;
    let writing = out.join("ready.tmp");
    std::fs::create_dir_all(&writing)?;
    kube.kubeconfig(&writing);
    std::fs::write(writing.join("floor"), floor.to_string())?;
    std::fs::rename(writing, out.join("ready"))?;
    std::future::pending::<()>().await;
    Ok(())
}
