//! `lagscale validate FILE...`: lints Kubernetes manifests (multi-document YAML) for KEDA
//! ScaledObjects and ScaledJobs whose external triggers are aimed at lagscale (they have a
//! `source` key), with the same trigger parser the server uses.
//!
//! Errors: bad metadata; a ScaledJob with `metricType: Value` (KEDA then creates no jobs); a
//! ScaledJob with `transform: log2` (jobs are counted from the raw lag). Warnings: log2 with
//! `AverageValue` (replicas then grow with log(lag) in absolute terms, usually not what was
//! meant); an `external-push` trigger on a ScaledJob (KEDA ignores its pushes);
//! `strategy: step` with `metricType: Value`, and `strategy: step` or `replicaAware` on a
//! ScaledJob (errors: the first needs AverageValue, the others a ScaledObject); `metric:
//! throughput` with `metricType: Value` (a warning); with
//! `--connect`, a ScaledObject's `maxReplicaCount` above its Kafka topic's partitions (the
//! only check that asks a broker; see [`partitions`]). Without `--config`, a `cluster:` name
//! is taken to be a profile of the trigger's source, so every other key is still checked.
//! An `xFromEnv` value is an environment variable's name in a manifest: it is checked as one
//! and stood in for before parsing (see [`from_env`]).

mod from_env;
pub mod partitions;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use crate::metadata::keys;
use crate::source::{ClusterProfile, SourceKind};
use crate::transform::Transform;
use crate::trigger::{Metric, Strategy, TriggerSpec};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One thing found in one trigger (or one file).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Finding {
    pub file: String,
    /// 1-based document index within the file.
    pub document: usize,
    /// `ScaledObject` or `ScaledJob` (empty for a file-level problem).
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// 0-based index in `spec.triggers`, as KEDA counts them.
    pub trigger: Option<usize>,
    pub severity: Severity,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: document {}", self.file, self.document)?;
        if !self.kind.is_empty() {
            write!(f, ": {} {}/{}", self.kind, self.namespace, self.name)?;
        }
        if let Some(trigger) = self.trigger {
            write!(f, " trigger {trigger}")?;
        }
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, ": {severity}: {}", self.message)
    }
}

/// What checking one file found, and what is left to ask the brokers.
#[derive(Debug, Default)]
pub struct FileReport {
    pub findings: Vec<Finding>,
    pub partition_checks: Vec<partitions::PartitionCheck>,
}

/// Checks one file. `clusters`: the config's profiles, or `None` to accept any name.
pub fn validate_file(
    path: &Path,
    clusters: Option<&BTreeMap<String, ClusterProfile>>,
) -> FileReport {
    let file = path.display().to_string();
    let mut report = FileReport::default();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            let error = file_error(&file, 0, format!("cannot read the file: {e}"));
            report.findings.push(error);
            return report;
        }
    };
    for (index, document) in serde_yaml::Deserializer::from_str(&text).enumerate() {
        let number = index + 1;
        match serde_yaml::Value::deserialize(document) {
            Ok(value) => validate_document(&file, number, &value, clusters, &mut report),
            Err(e) => {
                let error = file_error(&file, number, format!("not valid YAML: {e}"));
                report.findings.push(error);
                break;
            }
        }
    }
    report
}

fn file_error(file: &str, document: usize, message: String) -> Finding {
    Finding {
        file: file.to_owned(),
        document,
        kind: String::new(),
        namespace: String::new(),
        name: String::new(),
        trigger: None,
        severity: Severity::Error,
        message,
    }
}

fn text<'a>(value: &'a serde_yaml::Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(value, |v, key| v.get(key))?.as_str()
}

fn validate_document(
    file: &str,
    document: usize,
    value: &serde_yaml::Value,
    clusters: Option<&BTreeMap<String, ClusterProfile>>,
    report: &mut FileReport,
) {
    let kind = text(value, &["kind"]).unwrap_or_default();
    let is_keda = text(value, &["apiVersion"]).is_some_and(|v| v.starts_with("keda.sh/"));
    if !is_keda || !matches!(kind, "ScaledObject" | "ScaledJob") {
        return;
    }
    let scaled_job = kind == "ScaledJob";
    let finding = |trigger: usize, severity: Severity, message: String| Finding {
        file: file.to_owned(),
        document,
        kind: kind.to_owned(),
        namespace: text(value, &["metadata", "namespace"])
            .unwrap_or("default")
            .to_owned(),
        name: text(value, &["metadata", "name"])
            .unwrap_or_default()
            .to_owned(),
        trigger: Some(trigger),
        severity,
        message,
    };
    let triggers = value
        .get("spec")
        .and_then(|s| s.get("triggers"))
        .and_then(|t| t.as_sequence())
        .cloned()
        .unwrap_or_default();
    let findings = &mut report.findings;
    for (index, trigger) in triggers.iter().enumerate() {
        let trigger_type = text(trigger, &["type"]).unwrap_or_default();
        if !matches!(trigger_type, "external" | "external-push") {
            continue;
        }
        let Some(metadata) = trigger.get("metadata").and_then(|m| m.as_mapping()) else {
            continue;
        };
        let mut map = HashMap::new();
        let mut not_strings = Vec::new();
        for (key, value) in metadata {
            let key = key.as_str().unwrap_or_default().to_owned();
            match value.as_str() {
                Some(s) => {
                    map.insert(key, s.to_owned());
                }
                None => not_strings.push(key),
            }
        }
        for key in &not_strings {
            findings.push(finding(index, Severity::Error, format!(
                "metadata.{key}: not a string; Kubernetes takes trigger metadata as strings (quote it)"
            )));
        }
        if !map.contains_key(keys::SOURCE) && !not_strings.iter().any(|k| k == keys::SOURCE) {
            continue; // another external scaler's trigger
        }
        let from_env = from_env::stand_in(&mut map);
        for error in &from_env.errors {
            findings.push(finding(index, Severity::Error, error.to_string()));
        }
        let stand_ins;
        let clusters = match clusters {
            Some(clusters) => clusters,
            None => {
                stand_ins = stand_in_profiles(&map);
                &stand_ins
            }
        };
        let spec = match TriggerSpec::parse(&map, clusters) {
            Ok(spec) => spec,
            Err(error) => {
                findings.push(finding(index, Severity::Error, error.to_string()));
                continue;
            }
        };
        let metric_type = text(trigger, &["metricType"]).unwrap_or("AverageValue");
        let log2 = matches!(spec.transform, Transform::Log2 { .. });
        if scaled_job && metric_type == "Value" {
            findings.push(finding(index, Severity::Error,
                "metricType: Value on a ScaledJob: KEDA takes the AverageValue target to count jobs, so it creates none; remove metricType".to_owned()));
        }
        if scaled_job && log2 {
            findings.push(finding(index, Severity::Error,
                "transform: log2 on a ScaledJob: jobs are counted as lag / lagThreshold, so serve the raw lag (transform: none)".to_owned()));
        }
        if !scaled_job && log2 && metric_type == "AverageValue" {
            findings.push(finding(index, Severity::Warning,
                "transform: log2 with metricType AverageValue: replicas grow with log(lag) in absolute terms and stay near 1-2; use metricType: Value".to_owned()));
        }
        let step = matches!(spec.strategy, Strategy::Step(_));
        if scaled_job && spec.strategy.reads_replicas() {
            findings.push(finding(index, Severity::Error,
                "strategy: step and replicaAware read a ScaledObject's replicas; a ScaledJob has none: remove them".to_owned()));
        }
        if !scaled_job && step && metric_type == "Value" {
            findings.push(finding(index, Severity::Error,
                "strategy: step with metricType Value: the metric is the replica count decided and needs AverageValue (remove metricType)".to_owned()));
        }
        let throughput = matches!(spec.metric, Metric::Throughput(_));
        if throughput && metric_type == "Value" {
            findings.push(finding(index, Severity::Warning,
                "metric: throughput with metricType Value: the value is messages per second for the whole group, meant for AverageValue (replicas = value / replicaThroughput); remove metricType".to_owned()));
        }
        if scaled_job && trigger_type == "external-push" {
            findings.push(finding(index, Severity::Warning,
                "external-push on a ScaledJob: KEDA ignores its pushes and only polls; use type: external".to_owned()));
        }
        // With a topic or brokers only known in the cluster, there is nothing to ask.
        if !scaled_job
            && !from_env.unknown
            && let Some(topic) = spec.query().partitioned_topic()
        {
            report.partition_checks.push(partitions::PartitionCheck {
                at: finding(index, Severity::Warning, String::new()),
                query: spec.query().clone(),
                topic: topic.to_owned(),
                max_replicas: max_replica_count(value),
            });
        }
    }
}

/// The ScaledObject's `maxReplicaCount`, or KEDA's default of 100.
fn max_replica_count(object: &serde_yaml::Value) -> u64 {
    object
        .get("spec")
        .and_then(|s| s.get("maxReplicaCount"))
        .and_then(|m| m.as_u64())
        .unwrap_or(100)
}

/// Without a config file: the trigger's `cluster` stands for a profile of its own source.
fn stand_in_profiles(metadata: &HashMap<String, String>) -> BTreeMap<String, ClusterProfile> {
    let Some(name) = metadata.get(keys::CLUSTER) else {
        return BTreeMap::new();
    };
    let profile = metadata
        .get(keys::SOURCE)
        .and_then(|source| SourceKind::parse(source))
        .and_then(ClusterProfile::stand_in);
    profile
        .map(|p| BTreeMap::from([(name.trim().to_owned(), p)]))
        .unwrap_or_default()
}
