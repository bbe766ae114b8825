//! What the closed loop replays: a `lagscale simulate` file (the built-in `demo.yaml`, or the
//! one `--scenario` names) at a speed, and how each of its policies becomes a trigger on the
//! demo's mock cluster and a consumer group of its own.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use super::DemoError;
use crate::commands::simulate::config::{Policy, Simulation};
use crate::compression::Compression;
use crate::config::Config;

/// The scenario `lagscale demo` runs without `--scenario`.
pub const BUILT_IN: &str = include_str!("demo.yaml");

/// The speed without `--speed`: the built-in half hour in three minutes.
pub const DEFAULT_SPEED: u32 = 10;

/// The topic every policy's group consumes.
pub const TOPIC: &str = "orders";

/// Trigger keys the demo sets itself: a policy naming them would not run on the mock cluster.
const CONNECTION_KEYS: [&str; 6] = [
    "source",
    "cluster",
    "bootstrapServers",
    "consumerGroup",
    "topic",
    "host",
];

/// The built-in scenario, or the file at `path`.
pub fn load(path: Option<&Path>) -> Result<Simulation, DemoError> {
    let loaded = match path {
        Some(path) => Simulation::load(path),
        None => Simulation::parse(BUILT_IN, "the built-in demo scenario", Path::new(".")),
    };
    loaded.map_err(|e| DemoError::Scenario(e.to_string()))
}

/// The policies to run: all of them, or the one `--policy` names.
pub fn policies(
    scenario: &Simulation,
    only: Option<&str>,
) -> Result<Vec<(String, Policy)>, DemoError> {
    let all = scenario.policies.iter();
    let chosen: Vec<(String, Policy)> = all
        .filter(|(name, _)| only.is_none_or(|only| only == name.as_str()))
        .filter(|(_, policy)| only.is_some() || !learns(policy))
        .map(|(name, policy)| (name.clone(), policy.clone()))
        .collect();
    // The lab emulates one external metric per HPA; several triggers and CPU are the
    // simulator's (`lagscale simulate`).
    if let Some((name, policy)) = chosen.iter().find(|(_, p)| !p.triggers.is_empty()) {
        return Err(DemoError::Scenario(format!(
            "policies.{name}.triggers: {} triggers; the demo runs policies of one lag trigger \
             (`metricType` and `metadata`): pick another with --policy, or use `lagscale \
             simulate` for this one",
            policy.triggers.len()
        )));
    }
    // The lab's members cannot be counted (librdkafka's mock cluster does not answer
    // DescribeGroups), so `auto` has nothing to learn from: named, it is refused; otherwise it
    // is left out, and the caller says so.
    if let Some((name, _)) = chosen.iter().find(|(_, p)| learns(p)) {
        return Err(DemoError::Scenario(format!(
            "policies.{name}.metadata.replicaThroughput: \"auto\"; the demo's mock Kafka cluster \
             does not answer DescribeGroups, which `auto` counts the members with: pick another \
             with --policy, or use `lagscale simulate` for this one"
        )));
    }
    if !scenario.consumers.rate_changes.is_empty() {
        return Err(DemoError::Scenario(format!(
            "consumers.rate_changes: {} changes; the demo's consumers work at one rate: use \
             `lagscale simulate` for this scenario",
            scenario.consumers.rate_changes.len()
        )));
    }
    if chosen.is_empty() {
        let names: Vec<&str> = scenario.policies.keys().map(String::as_str).collect();
        return Err(DemoError::Scenario(format!(
            "--policy {:?}: no such policy; expected one of: {}",
            only.unwrap_or_default(),
            names.join(", ")
        )));
    }
    Ok(chosen)
}

/// Whether `policy` learns one replica's rate (`replicaThroughput: auto`), which the lab
/// cannot run.
pub fn learns(policy: &Policy) -> bool {
    policy.metadata.get("replicaThroughput").map(String::as_str) == Some("auto")
}

/// The consumer group of policy `name`.
pub fn group(name: &str) -> String {
    format!("demo-{name}")
}

/// Policy `name`'s trigger metadata: its own keys, plus the mock cluster's connection keys.
pub fn trigger(
    name: &str,
    policy: &Policy,
    bootstrap: &str,
) -> Result<HashMap<String, String>, DemoError> {
    if let Some(key) = CONNECTION_KEYS
        .iter()
        .find(|k| policy.metadata.contains_key(**k))
    {
        return Err(DemoError::Scenario(format!(
            "policies.{name}.metadata.{key}: the demo replays the scenario on its own Kafka \
             cluster and sets {key} itself; remove it"
        )));
    }
    let mut metadata: HashMap<String, String> = policy.metadata.clone().into_iter().collect();
    for (key, value) in [
        ("source", "kafka"),
        ("bootstrapServers", bootstrap),
        ("consumerGroup", &group(name)),
        ("topic", TOPIC),
    ] {
        metadata.insert(key.to_owned(), value.to_owned());
    }
    Ok(metadata)
}

/// The demo server's config: production's defaults, but the answer cache, which is about the
/// machine rather than the scenario, is shortened with the scenario (2 s / speed).
pub fn config(compression: &Compression) -> Config {
    let defaults = Config::default();
    let ttl = compression.wall(Duration::from_millis(defaults.cache_ttl_ms));
    Config {
        metrics_addr: None,
        cache_ttl_ms: (ttl.as_millis() as u64).max(1),
        ..defaults
    }
}
