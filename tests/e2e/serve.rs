//! `lagscale serve` as a process: answers, logs as configured, never shows a password, and
//! stops on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use lagscale::proto::external_scaler_client::ExternalScalerClient;
use lagscale::proto::{GetMetricsRequest, ScaledObjectRef};

use crate::support::{metrics_request, so};

const BIN: &str = env!("CARGO_BIN_EXE_lagscale");
const PASSWORD: &str = "s3rve-pa55-never-shown";

/// A running `lagscale serve` on 127.0.0.1:0, its stderr read line by line on a thread.
struct Serve {
    child: Child,
    lines: Receiver<String>,
    /// Every line read so far.
    seen: Vec<String>,
    addr: String,
}

impl Serve {
    /// `global` go before `serve` (e.g. `--log-format json`); `env` is added to the process's.
    fn start(global: &[&str], env: &[(&str, &str)]) -> Serve {
        let mut child = Command::new(BIN)
            .args(global)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .env_remove("LAGSCALE_CONFIG")
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut serve = Serve {
            child,
            lines,
            seen: Vec::new(),
            addr: String::new(),
        };
        let line = serve.line_with("serving gRPC");
        let at = line.find("127.0.0.1:").expect("the address in the line");
        let digits = line[at + 10..]
            .chars()
            .take_while(char::is_ascii_digit)
            .count();
        serve.addr = line[at..at + 10 + digits].to_owned();
        serve
    }

    /// The next log line containing `text` (fails the test after 30 s).
    fn line_with(&mut self, text: &str) -> String {
        loop {
            let Ok(line) = self.lines.recv_timeout(Duration::from_secs(30)) else {
                panic!(
                    "no log line with {text:?} within 30 s; seen: {:#?}",
                    self.seen
                );
            };
            self.seen.push(line.clone());
            if line.contains(text) {
                return line;
            }
        }
    }

    async fn client(&self) -> ExternalScalerClient<tonic::transport::Channel> {
        ExternalScalerClient::connect(format!("http://{}", self.addr))
            .await
            .unwrap()
    }

    /// SIGTERM, then the exit status (fails the test if it takes more than 15 s).
    fn terminate(mut self) -> (ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let (tx, rx) = channel();
        let mut child = self.child;
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(status) => status.unwrap(),
            Err(_) => {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
                panic!("serve did not exit within 15 s of SIGTERM");
            }
        };
        // Every line up to the end of stderr: the reader thread ends at EOF.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            self.seen.push(line);
        }
        (status, self.seen)
    }
}

fn request(name: &str, namespace: &str, metadata: &[(&str, &str)]) -> GetMetricsRequest {
    let so = ScaledObjectRef {
        namespace: namespace.to_owned(),
        ..so(name, metadata)
    };
    metrics_request(so, "")
}

/// SIGTERM with open streams and a call in flight: streams end with status OK, the call gets
/// its answer (here DeadlineExceeded from a silent broker), and the process exits in time.
#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_and_stops_on_sigterm() {
    let queue = crate::support::rabbit::TestQueue::new("sigterm").await;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_host = format!(
        "amqp://127.0.0.1:{}/%2f",
        silent.local_addr().unwrap().port()
    );
    let serve = Serve::start(&[], &[("RUST_LOG", "info")]);
    let mut client = serve.client().await;
    let spec = client
        .get_metric_spec(so(
            "orders",
            &[
                ("source", "rabbitmq"),
                ("host", "amqp://127.0.0.1"),
                ("queueName", "jobs"),
            ],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(spec.metric_specs[0].metric_name, "rabbitmq-jobs");

    let streaming = so("orders", &queue.metadata(&[]));
    let mut active = client
        .stream_is_active(streaming.clone())
        .await
        .unwrap()
        .into_inner();
    let mut specs = client
        .stream_metric_spec(streaming)
        .await
        .unwrap()
        .into_inner();
    // An idle trigger's stream carries nothing until there is work (only `true` is pushed).
    specs.message().await.unwrap().unwrap();
    let in_flight = {
        let mut client = client.clone();
        let request = request(
            "slow",
            "team-a",
            &[
                ("source", "rabbitmq"),
                ("host", &silent_host),
                ("queueName", "q"),
            ],
        );
        tokio::spawn(async move { client.get_metrics(request).await })
    };

    let terminated = tokio::task::spawn_blocking(move || serve.terminate());
    assert_eq!(
        active.message().await.unwrap(),
        None,
        "StreamIsActive ends with status OK"
    );
    assert_eq!(
        specs.message().await.unwrap(),
        None,
        "StreamMetricSpec ends with status OK"
    );
    let answered = in_flight.await.unwrap();
    assert!(
        answered.is_err(),
        "the silent broker cannot answer: {answered:?}"
    );
    drop(client);
    let (status, lines) = terminated.await.unwrap();
    assert!(status.success(), "{status:?}: {lines:#?}");
    queue.delete().await;
}

/// `--log-format json`: every line is a JSON object, and a served error names the method and
/// the ScaledObject's namespace and name; at DEBUG, the call's lines run in the `rpc` span.
#[tokio::test(flavor = "multi_thread")]
async fn json_logs_carry_the_rpc_and_the_scaled_object() {
    let mut serve = Serve::start(&["--log-format", "json"], &[("RUST_LOG", "info")]);
    let mut client = serve.client().await;
    let status = client
        .get_metrics(request(
            "orders",
            "team-a",
            &[("source", "rabbitmq"), ("queueName", "q")],
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let warning: serde_json::Value = serde_json::from_str(&serve.line_with("\"WARN\"")).unwrap();
    assert_eq!(warning["fields"]["rpc"], "GetMetrics", "{warning}");
    assert_eq!(warning["fields"]["namespace"], "team-a", "{warning}");
    assert_eq!(warning["fields"]["name"], "orders", "{warning}");
    // The span is at DEBUG: not created at the default level.
    assert!(warning.get("span").is_none(), "{warning}");
    assert!(
        warning["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("cluster: missing"),
        "{warning}"
    );
    drop(client);
    let (_, lines) = serve.terminate();
    for line in lines {
        serde_json::from_str::<serde_json::Value>(&line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }

    // At DEBUG, the same warning runs in the call's span.
    let mut serve = Serve::start(&["--log-format", "json"], &[("RUST_LOG", "lagscale=debug")]);
    let mut client = serve.client().await;
    let so = request(
        "orders",
        "team-a",
        &[("source", "rabbitmq"), ("queueName", "q")],
    );
    client.get_metrics(so).await.unwrap_err();
    let warning: serde_json::Value = serde_json::from_str(&serve.line_with("\"WARN\"")).unwrap();
    assert_eq!(warning["span"]["name"], "rpc", "{warning}");
    assert_eq!(warning["span"]["method"], "GetMetrics", "{warning}");
    assert_eq!(warning["span"]["namespace"], "team-a", "{warning}");
    assert_eq!(warning["span"]["scaled_object"], "orders", "{warning}");
    drop(client);
    serve.terminate();
}

/// A password from a mounted file and one inline, every call failing, logs at TRACE: the
/// password is in no log line and no error sent to KEDA.
#[tokio::test(flavor = "multi_thread")]
async fn serve_never_shows_a_password() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("lagscale-serve-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("uri"),
        format!("amqp://user:{PASSWORD}@127.0.0.1:{closed}/%2f\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("config.yaml"),
        format!(
            "clusters:\n  main:\n    rabbitmq:\n      uri_file: {}\n",
            dir.join("uri").display()
        ),
    )
    .unwrap();
    let config = dir.join("config.yaml");
    let serve = Serve::start(
        &["--config", config.to_str().unwrap()],
        &[("RUST_LOG", "trace")],
    );
    let mut client = serve.client().await;
    let inline = format!("amqp://user:{PASSWORD}@127.0.0.1:{closed}/%2f");
    let bad_inline = format!("amqp://user:{PASSWORD}@127.0.0.1:notaport");
    let triggers: [Vec<(&str, &str)>; 3] = [
        vec![
            ("source", "rabbitmq"),
            ("cluster", "main"),
            ("queueName", "q"),
        ],
        vec![
            ("source", "rabbitmq"),
            ("host", &inline),
            ("queueName", "q"),
        ],
        vec![
            ("source", "rabbitmq"),
            ("host", &bad_inline),
            ("queueName", "q"),
        ],
    ];
    for metadata in &triggers {
        let status = client
            .get_metrics(request("orders", "team-a", metadata))
            .await
            .unwrap_err();
        let named =
            status.message().contains("cluster \"main\"") || status.message().contains("user:***@");
        assert!(named, "the error names the endpoint: {status:?}");
        assert!(!status.message().contains(PASSWORD), "{status:?}");
    }
    drop(client);
    let (_, lines) = serve.terminate();
    let leaks: Vec<&String> = lines.iter().filter(|l| l.contains(PASSWORD)).collect();
    assert!(leaks.is_empty(), "the password is in the log: {leaks:#?}");
    assert!(
        lines.iter().any(|l| l.contains("user:***@")),
        "the errors were logged (redacted)"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
