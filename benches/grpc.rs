//! GetMetrics throughput and latency from many concurrent clients: lagscale with a warm cache
//! (a Kafka trigger on the in-process mock cluster) against a do-nothing server of the same
//! proto, in the same run, on the same runtime. Prints both and the ratio.
//!
//!     cargo bench --bench grpc

#[allow(dead_code)]
#[path = "../tests/e2e/support/mod.rs"]
mod support;

use std::pin::Pin;
use std::time::{Duration, Instant};

use lagscale::proto::external_scaler_client::ExternalScalerClient;
use lagscale::proto::external_scaler_server::{ExternalScaler, ExternalScalerServer};
use lagscale::proto::*;
use tokio_stream::Stream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use support::kafka::{Kafka, unique};
use support::{TestServer, config, metrics_request, so};

const CLIENTS: usize = 64;
const CONNECTIONS: usize = 4;
const RUN: Duration = Duration::from_secs(5);

/// Answers every call at once with a constant.
struct Nothing;

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
        Err(Status::unimplemented("nothing"))
    }
    async fn get_metric_spec(
        &self,
        _: Request<ScaledObjectRef>,
    ) -> Result<Response<GetMetricSpecResponse>, Status> {
        Ok(Response::new(GetMetricSpecResponse::default()))
    }
    async fn get_metrics(
        &self,
        request: Request<GetMetricsRequest>,
    ) -> Result<Response<GetMetricsResponse>, Status> {
        Ok(Response::new(GetMetricsResponse {
            metric_values: vec![MetricValue {
                metric_name: request.into_inner().metric_name,
                metric_value: 42,
                metric_value_float: 42.0,
            }],
        }))
    }
    type StreamMetricSpecStream = Never<GetMetricSpecResponse>;
    async fn stream_metric_spec(
        &self,
        _: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamMetricSpecStream>, Status> {
        Err(Status::unimplemented("nothing"))
    }
}

async fn connect(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Calls per second, p50 and p99 latency in microseconds.
async fn load(addr: std::net::SocketAddr, request: GetMetricsRequest) -> (f64, f64, f64) {
    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS {
        channels.push(connect(addr).await);
    }
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let mut client = ExternalScalerClient::new(channels[i % CONNECTIONS].clone());
            let request = request.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while started.elapsed() < RUN {
                    let at = Instant::now();
                    client.get_metrics(request.clone()).await.unwrap();
                    latencies.push(at.elapsed().as_secs_f64() * 1e6);
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let at = |q: f64| all[((all.len() as f64 - 1.0) * q) as usize];
    (all.len() as f64 / elapsed, at(0.5), at(0.99))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let kafka = Kafka::start();
    let topic = kafka.topic(12);
    let group = unique("bench");
    kafka.produce(&topic, &(0..12).collect::<Vec<_>>(), 10);
    kafka.commit(&group, &topic, &(0..12).map(|p| (p, 5)).collect::<Vec<_>>());
    let server = TestServer::start(lagscale::config::Config {
        cache_ttl_ms: 3_600_000,
        ..config()
    })
    .await;
    let bootstrap = kafka.bootstrap();
    let metadata = [
        ("source", "kafka"),
        ("bootstrapServers", bootstrap.as_str()),
        ("consumerGroup", group.as_str()),
        ("topic", topic.as_str()),
        ("transform", "log2"),
        ("lagThreshold", "100"),
    ];
    let request = metrics_request(so("bench", &metadata), "");
    // Warm the cache.
    server
        .client()
        .await
        .get_metrics(request.clone())
        .await
        .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nothing_addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ExternalScalerServer::new(Nothing))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    println!(
        "GetMetrics, {CLIENTS} concurrent clients over {CONNECTIONS} connections, {} s each, 2 runtime threads shared by clients and server",
        RUN.as_secs()
    );
    let (n_rate, n_p50, n_p99) = load(nothing_addr, request.clone()).await;
    println!("do-nothing server: {n_rate:>9.0} calls/s  p50 {n_p50:>6.0} µs  p99 {n_p99:>6.0} µs");
    let (l_rate, l_p50, l_p99) = load(server.addr, request).await;
    println!("lagscale (warm):   {l_rate:>9.0} calls/s  p50 {l_p50:>6.0} µs  p99 {l_p99:>6.0} µs");
    println!(
        "lagscale / do-nothing throughput: {:.0} %",
        100.0 * l_rate / n_rate
    );
}
