//! The `lagscale` binary as a user runs it: `check` and `serve` (with SIGTERM).

use std::process::{Command, Output};

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
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["check", "--help"],
        &["demo", "--help"],
        &["validate", "--help"],
    ] {
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
    assert!(out.contains("target:      20"), "{out}");
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

/// A Kafka profile with SASL over TLS: lagscale's Kafka client accepts it (TLS and SCRAM are
/// built in), the broker here speaks neither so the check fails, and the SASL password
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
        "the client accepted SASL_SSL: {out}"
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
