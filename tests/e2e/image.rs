//! The container image as users run it (scripts/build-image.sh builds it; the test command
//! names it in `LAGSCALE_IMAGE` when podman works here, else these tests say they are skipped):
//! lagscale is PID 1 (no `--init`), runs as user 65532 on a read-only root filesystem, serves
//! health, KEDA's calls and `/metrics`, reads the host's RabbitMQ, and on `podman stop`
//! (SIGTERM) ends its open streams with status OK and exits 0 by itself.

use std::process::{Command, Output};
use std::time::Duration;

use lagscale::config::Config;
use lagscale::proto::external_scaler_client::ExternalScalerClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::support::rabbit::TestQueue;
use crate::support::{metrics_request, so};

fn image() -> Option<String> {
    std::env::var("LAGSCALE_IMAGE").ok()
}

fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .args(args)
        .output()
        .expect("podman runs")
}

/// `podman args`, which must succeed; its stdout, trimmed.
fn podman_ok(args: &[&str]) -> String {
    let output = podman(args);
    assert!(
        output.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// A container started by a test, removed when dropped (a failed test leaves none behind).
struct Container {
    name: String,
}

impl Container {
    /// `podman run -d --read-only` of the image with `options` before it and `args` after it.
    fn run(label: &str, image: &str, options: &[&str], args: &[&str]) -> Container {
        let name = format!("lagscale-test-{label}-{}", std::process::id());
        let _ = podman(&["rm", "--force", &name]);
        let mut run = vec!["run", "--detach", "--read-only", "--name", &name];
        run.extend(options);
        run.push(image);
        run.extend(args);
        podman_ok(&run);
        Container { name }
    }

    fn inspect(&self, format: &str) -> String {
        podman_ok(&["inspect", "--format", format, &self.name])
    }

    /// The host address a container port is published on (`-p 127.0.0.1::PORT`).
    fn published(&self, port: u16) -> String {
        podman_ok(&["port", &self.name, &format!("{port}/tcp")])
    }

    fn logs(&self) -> String {
        let output = podman(&["logs", &self.name]);
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    /// `podman stop` (SIGTERM, SIGKILL after the grace period), then the exit code. A process
    /// that ignored SIGTERM would be killed at the end of the grace period: exit code 137.
    fn stop(&self) -> i64 {
        let grace = Config::default().shutdown_timeout().as_secs() + 5;
        podman_ok(&["stop", "--time", &grace.to_string(), &self.name]);
        self.inspect("{{.State.ExitCode}}").parse().unwrap()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman(&["rm", "--force", &self.name]);
    }
}

/// A gRPC channel to `addr` once lagscale reports SERVING there (fails the test, with the
/// container's logs, after 30 s).
async fn serving(addr: &str, container: &Container) -> Channel {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(channel) = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
        {
            let request = HealthCheckRequest {
                service: String::new(),
            };
            if let Ok(response) = HealthClient::new(channel.clone()).check(request).await
                && response.into_inner().status() == ServingStatus::Serving
            {
                return channel;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no SERVING health on {addr} within 30 s; logs:\n{}",
            container.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn scrape(addr: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: lagscale\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

/// As the chart runs it: the image's own command (`serve` on 0.0.0.0:6000 and :9464), ports
/// published on the host's loopback, no `--init`, a read-only root filesystem.
#[tokio::test(flavor = "multi_thread")]
async fn the_image_serves_as_pid_1_as_user_65532_on_a_read_only_root() {
    let Some(image) = image() else {
        eprintln!("image: LAGSCALE_IMAGE unset (podman unavailable); image smoke test skipped");
        return;
    };
    let container = Container::run(
        "defaults",
        &image,
        &[
            "--publish",
            "127.0.0.1::6000",
            "--publish",
            "127.0.0.1::9464",
        ],
        &[],
    );
    let channel = serving(&container.published(6000), &container).await;

    assert_eq!(
        container.inspect("{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}"),
        "65532:65532 true"
    );
    // Inside the container: lagscale is PID 1, running as the image's `nonroot` (65532).
    let top = podman_ok(&["top", &container.name, "pid", "user", "args"]);
    let process = top.lines().nth(1).unwrap_or_default();
    let fields: Vec<&str> = process.split_whitespace().collect();
    assert_eq!(
        fields[..3],
        ["1", "nonroot", "/usr/local/bin/lagscale"],
        "{top}"
    );

    let mut client = ExternalScalerClient::new(channel);
    let trigger = so(
        "orders",
        &[
            ("source", "rabbitmq"),
            ("host", "amqp://127.0.0.1:5672/%2f"),
            ("queueName", "jobs"),
            ("transform", "log2"),
            ("lagThreshold", "1024"),
        ],
    );
    let spec = client.get_metric_spec(trigger).await.unwrap().into_inner();
    assert_eq!(spec.metric_specs[0].metric_name, "rabbitmq-jobs");
    assert_eq!(spec.metric_specs[0].target_size_float, 10.0);

    let metrics = scrape(&container.published(9464)).await;
    assert!(
        metrics.starts_with("HTTP/1.1 200") && metrics.contains("lagscale_"),
        "{metrics}"
    );

    assert_eq!(container.stop(), 0, "{}", container.logs());
}

/// On the host's network, against the host's RabbitMQ: a GetMetrics answer from the broker,
/// then `podman stop` with open StreamIsActive streams.
#[tokio::test(flavor = "multi_thread")]
async fn the_image_reads_the_host_broker_and_ends_streams_on_podman_stop() {
    let Some(image) = image() else {
        eprintln!("image: LAGSCALE_IMAGE unset (podman unavailable); image smoke test skipped");
        return;
    };
    let queue = TestQueue::new("image").await;
    queue.publish(7).await;
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    };
    let (grpc, metrics) = (free().to_string(), free().to_string());
    let container = Container::run(
        "host",
        &image,
        &["--network", "host"],
        &["serve", "--listen", &grpc, "--metrics-listen", &metrics],
    );
    let mut client = ExternalScalerClient::new(serving(&grpc, &container).await);

    let trigger = so("orders", &queue.metadata(&[]));
    let values = client
        .get_metrics(metrics_request(trigger.clone(), ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(values.metric_values[0].metric_value_float, 7.0);

    let mut streams = Vec::new();
    for _ in 0..2 {
        let mut stream = client
            .stream_is_active(trigger.clone())
            .await
            .unwrap()
            .into_inner();
        // The queue has work: each stream's first message is `true`.
        assert!(stream.message().await.unwrap().unwrap().result);
        streams.push(stream);
    }
    let scraped = scrape(&metrics).await;
    let open = format!(
        "{}{{method=\"StreamIsActive\"}} 2",
        lagscale::metrics::OPEN_STREAMS
    );
    assert!(scraped.contains(&open), "{open} in {scraped}");

    let stopped = tokio::task::spawn_blocking(move || (container.stop(), container));
    for stream in &mut streams {
        assert_eq!(
            stream.message().await.unwrap(),
            None,
            "StreamIsActive ends with status OK"
        );
    }
    let (code, container) = stopped.await.unwrap();
    assert_eq!(code, 0, "{}", container.logs());
    queue.delete().await;
}
