//! The `lagscale` binary as a user runs it: `check` and `serve` (with SIGTERM).

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::rabbit;

const BIN: &str = env!("CARGO_BIN_EXE_lagscale");
const PASSWORD: &str = "pa55-w0rd-never-shown";

fn lagscale(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "trace")
        .env_remove("LAGSCALE_CONFIG")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn help_for_every_command() {
    for args in [&["--help"][..], &["serve", "--help"], &["check", "--help"]] {
        let output = lagscale(args);
        assert!(output.status.success(), "{args:?}: {}", text(&output));
        assert!(text(&output).contains("Usage"), "{args:?}");
    }
}

#[tokio::test]
async fn check_prints_spec_lag_metric_and_activity() {
    let queue = rabbit::TestQueue::new("cli").await;
    queue.publish(8).await;
    let queue_name = format!("queueName={}", queue.name);
    let host = format!("host={}", rabbit::uri());
    let output = lagscale(&[
        "check",
        "--set",
        "source=rabbitmq",
        "--set",
        &host,
        "--set",
        &queue_name,
        "--set",
        "transform=log2",
        "--set",
        "lagThreshold=64",
        "--set",
        "activationLagThreshold=7",
    ]);
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(
        out.contains("target:      6 (targetSizeFloat; targetSize 6)"),
        "{out}"
    );
    assert!(out.contains("lag:         8 messages"), "{out}");
    assert!(
        out.contains("metric:      3 (metricValueFloat; metricValue 3)"),
        "{out}"
    );
    assert!(out.contains("active:      true"), "{out}");
    assert!(!out.contains("guest:guest"), "{out}");
    queue.delete().await;
}

#[test]
fn check_reports_a_missing_queue_as_not_found() {
    let output = lagscale(&[
        "check",
        "--set",
        "source=rabbitmq",
        "--set",
        "host=amqp://guest:guest@127.0.0.1:5672/%2f",
        "--set",
        "queueName=lagscale-cli-no-such-queue",
    ]);
    assert!(!output.status.success());
    let out = text(&output);
    // The spec is printed before the broker is asked.
    assert!(
        out.contains("metric name: rabbitmq-lagscale-cli-no-such-queue"),
        "{out}"
    );
    assert!(out.contains("target:      10"), "{out}");
    assert!(
        out.contains(r#"queue "lagscale-cli-no-such-queue" in vhost "/" not found"#),
        "{out}"
    );
    assert!(out.contains("NotFound"), "{out}");
    assert!(!out.contains("guest:guest"), "{out}");
}

#[test]
fn check_reports_bad_metadata_with_the_key() {
    let output = lagscale(&[
        "check",
        "--set",
        "source=rabbitmq",
        "--set",
        "host=amqp://h",
        "--set",
        "queueName=q",
        "--set",
        "lagTreshold=5",
    ]);
    assert!(!output.status.success());
    let out = text(&output);
    assert!(out.contains("did you mean `lagThreshold`"), "{out}");
    assert!(out.contains("InvalidArgument"), "{out}");
    let output = lagscale(&["check", "--set", "noequals"]);
    assert!(!output.status.success());
    assert!(text(&output).contains("KEY=VALUE"));
}

#[test]
fn passwords_never_reach_output_or_logs() {
    let port = closed_port();
    let dir = std::env::temp_dir().join(format!("lagscale-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!("clusters:\n  main:\n    rabbitmq:\n      uri: amqp://user:${{LAGSCALE_TEST_PW}}@127.0.0.1:{port}/%2f\n"),
    )
    .unwrap();
    let endpoints = [
        "cluster=main".to_owned(),
        format!("host=amqp://user:{PASSWORD}@127.0.0.1:{port}/%2f"),
        format!("host=amqp://user:{PASSWORD}@127.0.0.1:notaport"),
    ];
    let runs = endpoints.map(|endpoint| {
        [
            "check",
            "--set",
            "source=rabbitmq",
            "--set",
            &endpoint,
            "--set",
            "queueName=q",
        ]
        .map(str::to_owned)
    });
    for args in runs {
        let output = Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .args(&args)
            .env("RUST_LOG", "trace")
            .env("LAGSCALE_TEST_PW", PASSWORD)
            .output()
            .unwrap();
        let out = text(&output);
        assert!(!output.status.success(), "{args:?}: {out}");
        assert!(out.contains("user:***@"), "{args:?}: {out}");
        assert!(
            !out.contains(PASSWORD),
            "{args:?} leaked the password: {out}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// At TRACE the AMQP client logs the frames it sends, the login frame included: lagscale's log
/// filter must keep those out even when RUST_LOG asks for everything.
#[test]
fn a_real_login_at_trace_level_logs_no_credentials() {
    let output = lagscale(&[
        "check",
        "--set",
        "source=rabbitmq",
        "--set",
        "host=amqp://guest:guest@127.0.0.1:5672/%2f",
        "--set",
        "queueName=lagscale-cli-no-such-queue",
    ]);
    let out = text(&output);
    assert!(
        out.contains("AMQP connection opened"),
        "the login happened: {out}"
    );
    assert!(!out.contains("guest:guest"), "{out}");
    // "guest" as the byte list lapin prints inside the SASL PLAIN response.
    assert!(!out.contains("103, 117, 101, 115, 116"), "{out}");
}

/// A Kafka profile with SASL over TLS: this build's librdkafka accepts it (TLS and SCRAM are
/// compiled in), the broker here speaks neither so the check fails, and the SASL password
/// appears nowhere, even at TRACE.
#[test]
fn kafka_sasl_ssl_profiles_are_accepted_and_their_password_never_shown() {
    let kafka = crate::support::kafka::Kafka::start();
    let dir = std::env::temp_dir().join(format!("lagscale-sasl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.yaml");
    let profile = format!(
        "broker_connect_timeout_ms: 300\nbroker_query_timeout_ms: 300\nclusters:\n  secure:\n    kafka:\n      bootstrap_servers: {}\n      properties:\n        security.protocol: SASL_SSL\n        sasl.mechanism: SCRAM-SHA-512\n        sasl.username: lagscale\n        sasl.password: ${{LAGSCALE_TEST_PW}}\n",
        kafka.bootstrap()
    );
    std::fs::write(&config, profile).unwrap();
    let output = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args([
            "check",
            "--set",
            "source=kafka",
            "--set",
            "cluster=secure",
            "--set",
            "consumerGroup=g",
            "--set",
            "topic=t",
        ])
        .env("RUST_LOG", "trace")
        .env("LAGSCALE_TEST_PW", PASSWORD)
        .output()
        .unwrap();
    let out = text(&output);
    assert!(
        !output.status.success(),
        "a plaintext broker cannot answer: {out}"
    );
    assert!(
        out.contains("Kafka client created"),
        "librdkafka accepted SASL_SSL: {out}"
    );
    assert!(!out.contains("creating the Kafka client"), "{out}");
    assert!(!out.contains(PASSWORD), "leaked the SASL password: {out}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn config_errors_name_field_and_line() {
    let dir = std::env::temp_dir().join(format!("lagscale-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(&config, "cache_ttl_ms: 100\nlisten: 0.0.0.0:1\n").unwrap();
    let output = lagscale(&["--config", config.to_str().unwrap(), "serve"]);
    assert!(!output.status.success());
    let out = text(&output);
    assert!(
        out.contains("unknown field `listen`") && out.contains("line 2"),
        "{out}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// `lagscale serve` answers on its port and exits cleanly on SIGTERM.
#[test]
fn serve_answers_and_stops_on_sigterm() {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "info")
        .env_remove("LAGSCALE_CONFIG")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Read the log on a thread, so that a server that never logs its address fails the test
    // instead of hanging it.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // The gRPC address, not the metrics endpoint's, which is logged too.
            if let Some(at) = line.find("addr=").filter(|_| line.contains("serving gRPC")) {
                let _ = tx.send(
                    line[at + 5..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_owned(),
                );
            }
        }
    });
    let addr = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(addr) => addr,
        Err(_) => {
            let _ = child.kill();
            panic!("serve did not log its address within 30 s");
        }
    };

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use lagscale::proto::ScaledObjectRef;
        use lagscale::proto::external_scaler_client::ExternalScalerClient;
        let mut client = ExternalScalerClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let request = ScaledObjectRef {
            name: "orders".into(),
            namespace: "default".into(),
            scaler_metadata: [
                ("source", "rabbitmq"),
                ("host", "amqp://127.0.0.1"),
                ("queueName", "jobs"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        };
        let spec = client.get_metric_spec(request).await.unwrap().into_inner();
        assert_eq!(spec.metric_specs[0].metric_name, "rabbitmq-jobs");
    });

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Wait for the exit on a thread, so that a server that ignores SIGTERM fails the test.
    let pid = child.id().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
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
    assert!(status.success(), "{status:?}");
}

/// `--log-format json`: every line is a JSON object, and a served error carries the rpc span
/// with the method and the ScaledObject's namespace and name.
#[test]
fn json_logs_carry_the_rpc_and_the_scaled_object() {
    let mut child = Command::new(BIN)
        .args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "info")
        .env_remove("LAGSCALE_CONFIG")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next_json = || -> serde_json::Value {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a log line within 30 s");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    };
    let addr = loop {
        let line = next_json();
        if line["fields"]["message"] == "serving gRPC" {
            break line["fields"]["addr"].as_str().unwrap().to_owned();
        }
    };

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use lagscale::proto::external_scaler_client::ExternalScalerClient;
        let mut client = ExternalScalerClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let so = crate::support::so("orders", &[("source", "rabbitmq"), ("queueName", "q")]);
        let so = lagscale::proto::ScaledObjectRef {
            namespace: "team-a".to_owned(),
            ..so
        };
        let status = client
            .get_metrics(crate::support::metrics_request(so, ""))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    });
    let warning = loop {
        let line = next_json();
        if line["level"] == "WARN" {
            break line;
        }
    };
    assert_eq!(warning["span"]["name"], "rpc", "{warning}");
    assert_eq!(warning["span"]["method"], "GetMetrics", "{warning}");
    assert_eq!(warning["span"]["namespace"], "team-a", "{warning}");
    assert_eq!(warning["span"]["scaled_object"], "orders", "{warning}");
    assert!(
        warning["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("cluster: missing"),
        "{warning}"
    );
    let _ = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
