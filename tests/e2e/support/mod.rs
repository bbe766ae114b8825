//! Test support: the real server on 127.0.0.1:0, a generated client, the real RabbitMQ, and a
//! TCP proxy that can cut connections.

pub mod fake_kube;
pub mod kafka;
pub mod proxy;
pub mod rabbit;
pub mod secure_kafka;
pub mod tansu;
pub mod token_server;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lagscale::config::Config;
use lagscale::proto::external_scaler_client::ExternalScalerClient;
use lagscale::proto::{GetMetricsRequest, ScaledObjectRef};
use lagscale::scaler::Scaler;
use lagscale::server::ServeError;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// A running lagscale server.
pub struct TestServer {
    pub addr: SocketAddr,
    /// Where its Prometheus metrics are served.
    pub metrics_addr: SocketAddr,
    pub scaler: Arc<Scaler>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl TestServer {
    /// Starts the server with `config` (its listen_addr is ignored: 127.0.0.1:0 is used).
    pub async fn start(config: Config) -> TestServer {
        TestServer::with_scaler(Scaler::new(config)).await
    }

    /// Starts the server around a scaler built by the test (e.g. with fake replicas).
    pub async fn with_scaler(scaler: Arc<Scaler>) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics_addr = metrics.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let serve = lagscale::server::serve(listener, Some(metrics), scaler.clone(), async {
            let _ = rx.await;
        });
        let task = tokio::spawn(serve);
        TestServer {
            addr,
            metrics_addr,
            scaler,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub async fn client(&self) -> ExternalScalerClient<Channel> {
        ExternalScalerClient::new(self.channel().await)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Starts a graceful shutdown and waits for the server to return.
    pub async fn shut_down(&mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap(),
            None => Ok(()),
        }
    }

    pub fn queries_sent(&self) -> u64 {
        self.scaler.sources().queries_sent()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A config for tests: no caching across calls unless a test asks for it, fast streams.
pub fn config() -> Config {
    Config {
        cache_ttl_ms: 1,
        stream_check_interval_ms: 20,
        ..Config::default()
    }
}

/// A ScaledObjectRef with the given metadata.
pub fn so<K: AsRef<str>, V: AsRef<str>>(name: &str, metadata: &[(K, V)]) -> ScaledObjectRef {
    ScaledObjectRef {
        name: name.to_owned(),
        namespace: "test".to_owned(),
        scaler_metadata: metadata
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect(),
    }
}

pub fn metrics_request(so: ScaledObjectRef, metric_name: &str) -> GetMetricsRequest {
    GetMetricsRequest {
        scaled_object_ref: Some(so),
        metric_name: metric_name.to_owned(),
    }
}

/// The value GetMetrics serves for a trigger (`metricValueFloat`); panics on an error.
#[allow(dead_code)]
pub async fn served_value<K: AsRef<str>, V: AsRef<str>>(
    mut client: ExternalScalerClient<Channel>,
    name: &str,
    metadata: &[(K, V)],
) -> f64 {
    let request = metrics_request(so(name, metadata), "");
    client
        .get_metrics(request)
        .await
        .unwrap()
        .into_inner()
        .metric_values[0]
        .metric_value_float
}

/// Polls `check` until it returns `Some`, or fails the test after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Connection profiles for a config: `(name, amqp uri)`.
pub fn clusters(
    profiles: &[(&str, &str)],
) -> std::collections::BTreeMap<String, lagscale::source::ClusterProfile> {
    profiles
        .iter()
        .map(|(name, uri)| {
            let profile = lagscale::source::rabbitmq::RabbitmqProfile::new(
                lagscale::source::rabbitmq::AmqpUri::parse(uri).unwrap(),
                None,
            );
            (
                (*name).to_owned(),
                lagscale::source::ClusterProfile::Rabbitmq(profile),
            )
        })
        .collect()
}

/// This process's resident memory, in MiB (Linux). For the load test and the memory
/// benchmark, which share this module.
#[allow(dead_code)]
pub fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

/// Runs `lagscale check` with the trigger `metadata` (as `--set` pairs) after `args`, off the
/// runtime's threads (the test's fake servers keep answering), and returns its stdout; fails
/// the test when the command fails.
#[allow(dead_code)]
pub async fn run_check<K: AsRef<str>, V: AsRef<str>>(
    args: &[&str],
    env: &[(&str, &std::path::Path)],
    metadata: &[(K, V)],
) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_lagscale"));
    command
        .arg("check")
        .args(args)
        .env_remove("LAGSCALE_CONFIG");
    for (key, value) in env {
        command.env(key, value);
    }
    for (key, value) in metadata {
        command
            .arg("--set")
            .arg(format!("{}={}", key.as_ref(), value.as_ref()));
    }
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}
