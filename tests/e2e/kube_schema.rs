//! What the chart renders, and every Kubernetes object in keda-examples/, checked against
//! Kubernetes' own OpenAPI schemas: PyPI's kubernetes-validate, strict (a field the API does
//! not know is an error, as `kubectl apply --validate=strict` makes it), for the oldest and the
//! newest Kubernetes the chart supports. Custom resources have no schema there and are left
//! out: KEDA's kinds and the Prometheus Operator's ServiceMonitor; a ScaledJob's
//! `jobTargetRef` is a Job's spec, so it is checked as one.
//!
//! The test command installs the validator (scripts/ensure-kubernetes-validate.sh) and names
//! it in `LAGSCALE_KUBERNETES_VALIDATE`; without it, and without helm for the chart, these
//! tests say they are skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

use crate::chart::{chart, helm, render_chart};
use crate::keda_examples::{documents, manifests};

/// The chart's `kubeVersion` floor and the newest version the validator knows.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.25.0", "1.37.0"];

/// API groups of custom resources, which Kubernetes' schemas do not describe.
const CUSTOM_GROUPS: [&str; 2] = ["keda.sh", "monitoring.coreos.com"];

fn validator() -> Option<PathBuf> {
    std::env::var_os("LAGSCALE_KUBERNETES_VALIDATE").map(PathBuf::from)
}

fn is_custom(object: &Value) -> bool {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    CUSTOM_GROUPS
        .iter()
        .any(|group| api_version.starts_with(&format!("{group}/")))
}

/// Checks every object against the schemas of each of `KUBERNETES_VERSIONS`. Err holds the
/// validator's complaints: an invalid field, or a kind it has no schema for (which it would
/// otherwise pass with a warning).
fn validate(validator: &Path, objects: &[&Value], name: &str) -> Result<(), String> {
    let file = std::env::temp_dir().join(format!(
        "lagscale-schema-{}-{name}.yaml",
        std::process::id()
    ));
    let text: String = objects
        .iter()
        .map(|object| format!("---\n{}", serde_yaml::to_string(object).unwrap()))
        .collect();
    std::fs::write(&file, text).unwrap();
    let mut command = Command::new(validator);
    command.arg("--strict");
    for version in KUBERNETES_VERSIONS {
        command.args(["-k", version]);
    }
    let output = command.arg(&file).output().unwrap();
    std::fs::remove_file(&file).unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let passed = stdout
        .lines()
        .filter(|line| line.starts_with("INFO ") && line.contains(" passed for resource "))
        .count();
    let complaints: Vec<&str> = stdout
        .lines()
        .filter(|line| !line.starts_with("INFO "))
        .collect();
    if !output.status.success() || !complaints.is_empty() {
        return Err(format!(
            "{}{}",
            complaints.join("\n"),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let expected = objects.len() * KUBERNETES_VERSIONS.len();
    if passed != expected {
        return Err(format!(
            "{passed} objects passed where {expected} were checked:\n{stdout}"
        ));
    }
    Ok(())
}

/// The values sets the chart is checked with: the defaults, the examples' profiles, and values
/// that turn on every optional object and field.
const VALUES_SETS: [(&str, &[&str]); 4] = [
    ("defaults", &[]),
    ("examples", &["-f", "keda-examples/lagscale-values.yaml"]),
    (
        "tls",
        &[
            "--set",
            "tls.enabled=true,tls.secretName=lagscale-tls,tls.requireClientCert=true",
            "--set",
            "serviceMonitor.enabled=true,service.headless=true,podDisruptionBudget.enabled=true",
        ],
    ),
    (
        "access",
        &[
            "--set",
            "kubernetesAccess.enabled=true,credentials.existingSecret=brokers,credentials.mountPath=/etc/lagscale/secrets",
            "--set-json",
            r#"extraEnv=[{"name":"HTTPS_PROXY","value":"http://proxy:3128"},{"name":"AMQP_PASSWORD","valueFrom":{"secretKeyRef":{"name":"rabbitmq","key":"password"}}}]"#,
            "--set",
            "priorityClassName=system-cluster-critical,imagePullSecrets[0].name=registry",
        ],
    ),
];

#[test]
fn the_chart_renders_objects_kubernetes_accepts() {
    let (Some(helm), Some(validator)) = (helm(), validator()) else {
        eprintln!(
            "kube_schema: helm or LAGSCALE_KUBERNETES_VALIDATE missing; chart schema validation skipped"
        );
        return;
    };
    for (name, args) in VALUES_SETS {
        let objects = render_chart(&helm, &chart(), args).unwrap();
        let (custom, built_in): (Vec<&Value>, Vec<&Value>) =
            objects.iter().partition(|object| is_custom(object));
        let kinds = |objects: &[&Value]| -> Vec<String> {
            objects
                .iter()
                .map(|o| o["kind"].as_str().unwrap().to_owned())
                .collect()
        };
        // The sets do render what they turn on, and only the ServiceMonitor is left out.
        match name {
            "tls" => assert_eq!(kinds(&custom), ["ServiceMonitor"]),
            "access" => {
                assert!(kinds(&built_in).contains(&"ClusterRole".to_owned()));
                let env = &objects.iter().find(|o| o["kind"] == "Deployment").unwrap()["spec"]["template"]
                    ["spec"]["containers"][0]["env"];
                assert_eq!(env[2]["name"], "AMQP_PASSWORD", "{env:?}");
            }
            _ => assert!(custom.is_empty(), "{:?}", kinds(&custom)),
        }
        assert!(built_in.len() >= 5, "{name}: {:?}", kinds(&built_in));
        if let Err(complaints) = validate(&validator, &built_in, name) {
            panic!(
                "values set `{name}`: the rendered chart is not valid Kubernetes:\n{complaints}"
            );
        }
    }
}

/// Copies the chart into a new directory, one file changed: `from` replaced by `to` once.
fn chart_with_change(file: &str, from: &str, to: &str) -> PathBuf {
    let copy = std::env::temp_dir().join(format!("lagscale-broken-chart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(copy.join("templates")).unwrap();
    for dir in ["", "templates"] {
        for entry in std::fs::read_dir(chart().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, copy.join(dir).join(path.file_name().unwrap())).unwrap();
            }
        }
    }
    let path = copy.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text.matches(from).count(),
        1,
        "{file} has no single {from:?}"
    );
    std::fs::write(&path, text.replace(from, to)).unwrap();
    copy
}

/// The check has teeth: the chart with one deliberate mistake, a port quoted as a string
/// where Kubernetes wants an integer, renders (helm does not mind) and fails validation naming
/// the field.
#[test]
fn a_string_where_kubernetes_wants_an_integer_fails_validation() {
    let (Some(helm), Some(validator)) = (helm(), validator()) else {
        eprintln!(
            "kube_schema: helm or LAGSCALE_KUBERNETES_VALIDATE missing; broken-template check skipped"
        );
        return;
    };
    let broken = chart_with_change(
        "templates/deployment.yaml",
        "containerPort: {{ .Values.ports.grpc }}",
        "containerPort: {{ .Values.ports.grpc | quote }}",
    );
    let objects = render_chart(&helm, &broken, &[]).unwrap();
    std::fs::remove_dir_all(&broken).unwrap();
    let built_in: Vec<&Value> = objects.iter().filter(|o| !is_custom(o)).collect();
    let complaints = validate(&validator, &built_in, "broken").unwrap_err();
    assert!(
        complaints.contains("deployment/lagscale")
            && complaints.contains("spec.template.spec.containers.0.ports.0.containerPort")
            && complaints.contains("'6000' is not of type 'integer'"),
        "{complaints}"
    );
}

/// A ScaledJob's `jobTargetRef` as the Job it describes.
fn job_of(scaled_job: &Value) -> Value {
    let mut job = serde_yaml::Mapping::new();
    job.insert("apiVersion".into(), "batch/v1".into());
    job.insert("kind".into(), "Job".into());
    job.insert("metadata".into(), scaled_job["metadata"].clone());
    job.insert("spec".into(), scaled_job["spec"]["jobTargetRef"].clone());
    Value::Mapping(job)
}

#[test]
fn keda_examples_hold_objects_kubernetes_accepts() {
    let Some(validator) = validator() else {
        eprintln!(
            "kube_schema: LAGSCALE_KUBERNETES_VALIDATE missing; keda-examples schema validation skipped"
        );
        return;
    };
    let mut objects = Vec::new();
    for path in manifests() {
        for object in documents(&path) {
            if object["kind"] == "ScaledJob" {
                objects.push(job_of(&object));
            } else if object.get("kind").is_some() && !is_custom(&object) {
                objects.push(object);
            }
        }
    }
    let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert!(
        kinds.iter().filter(|k| **k == "Deployment").count() >= 4 && kinds.contains(&"Job"),
        "{kinds:?}"
    );
    let objects: Vec<&Value> = objects.iter().collect();
    if let Err(complaints) = validate(&validator, &objects, "examples") {
        panic!("keda-examples/ holds objects Kubernetes refuses:\n{complaints}");
    }
}
