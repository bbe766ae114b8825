//! keda-examples/ cannot rot: every manifest passes `lagscale validate`, with and without the
//! config file that keda-examples/lagscale-values.yaml gives the chart; every trigger points
//! at the chart's default address; every worker a manifest runs is an example in examples/
//! that the Dockerfile builds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_yaml::Value;

const BIN: &str = env!("CARGO_BIN_EXE_lagscale");

/// What the chart installed as release `lagscale` in namespace `keda` serves on.
const SCALER_ADDRESS: &str = "lagscale.keda.svc.cluster.local:6000";

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("keda-examples")
}

pub(crate) fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    files
}

pub(crate) fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect()
}

/// `lagscale validate` on every example, with `config` (a config file's text) when given.
/// `${RABBITMQ_PASSWORD}` is set, and the Kafka password file is written, as the chart would.
pub fn validate_examples(config: Option<&str>) -> Output {
    let dir = std::env::temp_dir().join(format!(
        "lagscale-examples-{}-{}",
        std::process::id(),
        config.map_or(0, str::len)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut command = Command::new(BIN);
    command
        .arg("validate")
        .env("RABBITMQ_PASSWORD", "not-a-real-password");
    if let Some(config) = config {
        std::fs::write(dir.join("kafka-password"), "not-a-real-password\n").unwrap();
        let config = config.replace("/etc/lagscale/secrets", dir.to_str().unwrap());
        std::fs::write(dir.join("config.yaml"), config).unwrap();
        command.arg("--config").arg(dir.join("config.yaml"));
    }
    let output = command.args(manifests()).output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    output
}

pub fn assert_clean(output: &Output) {
    assert!(
        output.status.success() && output.stdout.is_empty(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_example_passes_validate() {
    assert_clean(&validate_examples(None));
    // With the profiles the examples' Helm values define, as a config file.
    let values = documents(&examples_dir().join("lagscale-values.yaml")).remove(0);
    let config = serde_yaml::to_string(&values["config"]).unwrap();
    assert_clean(&validate_examples(Some(&config)));
}

#[test]
fn every_example_has_a_lagscale_trigger_at_the_charts_address() {
    for path in manifests() {
        if path.ends_with("lagscale-values.yaml") {
            continue;
        }
        let mut triggers = 0;
        for doc in documents(&path) {
            let is_scaler = doc["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("keda.sh/"))
                && matches!(doc["kind"].as_str(), Some("ScaledObject" | "ScaledJob"));
            let Some(list) = doc["spec"]["triggers"].as_sequence().filter(|_| is_scaler) else {
                continue;
            };
            for trigger in list.iter().filter(|t| !t["metadata"]["source"].is_null()) {
                assert_eq!(
                    trigger["metadata"]["scalerAddress"],
                    SCALER_ADDRESS,
                    "{}",
                    path.display()
                );
                triggers += 1;
            }
        }
        assert!(triggers > 0, "{}: no lagscale trigger", path.display());
    }
}

#[test]
fn every_worker_an_example_runs_is_built_by_the_dockerfile() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let mut workers = 0;
    for path in manifests() {
        let text = std::fs::read_to_string(&path).unwrap();
        for (at, _) in text.match_indices("/usr/local/bin/") {
            let rest = &text[at + "/usr/local/bin/".len()..];
            let name = &rest[..rest.find('"').unwrap()];
            assert!(
                root.join("examples").join(format!("{name}.rs")).is_file(),
                "{}: runs {name}, which is not in examples/",
                path.display()
            );
            assert!(
                dockerfile.contains(&format!("--example {name}"))
                    && dockerfile.contains(&format!("target/release/examples/{name}")),
                "the Dockerfile does not build {name} or put it in the example-workers image"
            );
            workers += 1;
        }
    }
    assert!(workers >= 4, "{workers}");
}
