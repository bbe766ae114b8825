//! `lagscale validate` on fixtures: a clean file, and one fixture per deliberate mistake.

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_lagscale");

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/validate")
        .join(name)
}

fn validate(args: &[&str], files: &[&str]) -> Output {
    Command::new(BIN)
        .arg("validate")
        .args(args)
        .args(files.iter().map(|f| fixture(f)))
        .env_remove("LAGSCALE_CONFIG")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_correct_file_has_nothing_to_report() {
    let output = validate(&[], &["good.yaml"]);
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout(&output), "");
}

/// `bootstrapServersFromEnv`, `consumerGroupFromEnv`, `topicFromEnv` and `hostFromEnv` name
/// environment variables in a manifest: accepted as names, never parsed as addresses.
#[test]
fn from_env_keys_name_environment_variables() {
    let output = validate(&[], &["from-env.yaml"]);
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout(&output), "");
}

#[test]
fn each_mistake_is_reported_with_file_document_and_trigger() {
    let table: [(&str, bool, &[&str]); 10] = [
        (
            "from-env-address.yaml",
            false,
            &[
                "ScaledObject default/orders-worker trigger 0: error: bootstrapServersFromEnv: \"kafka-0.kafka:9092\" is not valid",
                "the name of an environment variable",
            ],
        ),
        (
            "keda-sasl.yaml",
            false,
            &[
                "ScaledObject default/payments trigger 0: error: sasl: \"scram_sha512\" is not valid",
                "`cluster` connection profile",
                "README section \"Config file\"",
            ],
        ),
        (
            "throughput-value.yaml",
            true,
            &[
                "ScaledObject default/clicks trigger 0: warning: metric: throughput with metricType Value",
            ],
        ),
        (
            "step-value.yaml",
            false,
            &[
                "ScaledObject default/ingest trigger 0: error: strategy: step with metricType Value",
                "ScaledJob default/reindex trigger 0: error: strategy: step and replicaAware read a ScaledObject's replicas",
            ],
        ),
        (
            "bad-metadata.yaml",
            false,
            &[
                "document 1: ScaledObject default/orders-worker trigger 1: error",
                "did you mean `lagThreshold`",
            ],
        ),
        (
            "scaledjob-value.yaml",
            false,
            &[
                "ScaledJob default/resize-images trigger 0: error",
                "metricType: Value on a ScaledJob",
            ],
        ),
        (
            "scaledjob-log2.yaml",
            false,
            &["error", "transform: log2 on a ScaledJob"],
        ),
        (
            "unquoted-number.yaml",
            false,
            &["error", "metadata.lagThreshold: not a string"],
        ),
        (
            "log2-averagevalue.yaml",
            true,
            &["warning", "log2 with metricType AverageValue"],
        ),
        (
            "scaledjob-push.yaml",
            true,
            &["warning", "external-push on a ScaledJob"],
        ),
    ];
    for (file, succeeds, words) in table {
        let output = validate(&[], &[file]);
        let out = stdout(&output);
        assert_eq!(output.status.success(), succeeds, "{file}: {out}");
        assert!(out.contains(file), "{file}: {out}");
        for word in words {
            assert!(
                out.contains(word),
                "{file}: {out:?} should contain {word:?}"
            );
        }
    }
}

#[test]
fn json_output_for_ci() {
    let output = validate(
        &["--format", "json"],
        &[
            "good.yaml",
            "scaledjob-value.yaml",
            "log2-averagevalue.yaml",
        ],
    );
    assert!(!output.status.success());
    let findings: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let findings = findings.as_array().unwrap();
    assert_eq!(findings.len(), 2, "{findings:?}");
    assert_eq!(findings[0]["severity"], "error");
    assert_eq!(findings[0]["kind"], "ScaledJob");
    assert_eq!(findings[0]["document"], 1);
    assert_eq!(findings[0]["trigger"], 0);
    assert_eq!(findings[1]["severity"], "warning");
}

#[test]
fn with_a_config_file_cluster_names_are_checked() {
    let dir = std::env::temp_dir().join(format!("lagscale-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        "clusters:\n  main:\n    rabbitmq:\n      uri: amqp://h\n",
    )
    .unwrap();
    let output = validate(&["--config", config.to_str().unwrap()], &["good.yaml"]);
    let out = stdout(&output);
    assert!(!output.status.success(), "{out}");
    assert!(
        out.contains("cluster: \"events\" is not valid") && out.contains("known: main"),
        "{out}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn connect_warns_when_max_replicas_exceed_the_topics_partitions() {
    let kafka = crate::support::kafka::Kafka::start();
    let topic = kafka.topic(4);
    let dir = std::env::temp_dir().join(format!("lagscale-connect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "clusters:\n  events:\n    kafka:\n      bootstrap_servers: {}\n",
            kafka.bootstrap()
        ),
    )
    .unwrap();
    let object = |name: &str, max: u32, topic: &str| {
        format!(
            "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata:\n  name: {name}\n\
             spec:\n  scaleTargetRef:\n    name: {name}\n  maxReplicaCount: {max}\n  triggers:\n\
             \x20   - type: external\n      metricType: Value\n      metadata:\n\
             \x20       scalerAddress: lagscale:6000\n        source: kafka\n\
             \x20       cluster: events\n        consumerGroup: {name}\n        topic: {topic}\n\
             \x20       transform: log2\n        lagThreshold: \"1000\"\n"
        )
    };
    let manifest = dir.join("objects.yaml");
    std::fs::write(
        &manifest,
        [
            object("fits", 4, &topic),
            object("too-many", 10, &topic),
            object("no-topic", 2, "no-such-topic"),
        ]
        .join("---\n"),
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("validate")
            .args(args)
            .arg(&manifest)
            .env_remove("LAGSCALE_CONFIG")
            .output()
            .unwrap()
    };

    let offline = run(&["--config", config.to_str().unwrap()]);
    assert!(offline.status.success());
    assert_eq!(stdout(&offline), "", "offline, no broker is asked");

    let output = run(&["--config", config.to_str().unwrap(), "--connect"]);
    let out = stdout(&output);
    assert!(output.status.success(), "warnings only: {out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].contains("ScaledObject default/too-many trigger 0: warning: maxReplicaCount 10 is above the 4 partitions of topic"),
        "{out}"
    );
    assert!(
        lines[1].contains("default/no-topic trigger 0: warning: maxReplicaCount not checked against topic \"no-such-topic\"")
            && lines[1].contains("not found"),
        "{out}"
    );

    let without_config = run(&["--connect"]);
    assert!(!without_config.status.success());
    assert!(
        String::from_utf8_lossy(&without_config.stderr).contains("--connect needs --config"),
        "{:?}",
        without_config
    );
    std::fs::remove_dir_all(dir).unwrap();
}
