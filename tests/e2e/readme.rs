//! The README is the truth: its tables list every trigger key and config field, and its config
//! example parses. Each source's table is that source's own text (`source::*::keys`), verbatim.

use std::path::Path;

use lagscale::config::Config;
use lagscale::source;
use lagscale::trigger::KNOWN_KEYS;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

#[test]
fn every_trigger_key_is_in_the_metadata_table() {
    let readme = readme();
    for key in KNOWN_KEYS {
        assert!(
            readme
                .lines()
                .any(|l| l.starts_with(&format!("| `{key}`"))
                    || l.contains(&format!("(alias `{key}`)"))),
            "README's metadata table lacks `{key}`"
        );
    }
}

#[test]
fn every_source_table_is_in_the_readme_verbatim() {
    let readme = readme();
    for (source, table) in source::readme_tables() {
        assert!(
            readme.contains(&table),
            "README lacks the {} table as the source renders it:\n{table}",
            source.name()
        );
    }
}

#[test]
fn the_config_example_parses_and_every_field_is_in_the_table() {
    let readme = readme();
    let after = readme
        .split("<!-- config-example -->")
        .nth(1)
        .expect("config example marker");
    let block = after
        .split("```yaml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    // The example takes its password from the environment; stand in a value for the test.
    let block = block.replace("${RABBITMQ_PASSWORD}", "example");
    let config = Config::parse(&block, Path::new("README.md")).unwrap();
    assert!(config.clusters.contains_key("main"));
    for field in [
        "listen_addr",
        "metrics_addr",
        "tls",
        "cache_ttl_ms",
        "stream_check_interval_ms",
        "request_timeout_ms",
        "max_concurrent_requests",
        "shutdown_timeout_ms",
        "broker_connect_timeout_ms",
        "broker_query_timeout_ms",
        "clusters",
    ] {
        assert!(
            readme.contains(&format!("| `{field}` |")),
            "README's config table lacks `{field}`"
        );
    }
}

#[test]
fn every_metric_is_in_the_operations_table() {
    let readme = readme();
    for (name, _) in lagscale::metrics::ALL {
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "README's metrics table lacks `{name}`"
        );
    }
}

#[test]
fn every_file_the_readme_links_to_exists() {
    let readme = readme();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut links = 0;
    for (at, _) in readme.match_indices("](") {
        let rest = &readme[at + 2..];
        let target = &rest[..rest.find(')').unwrap()];
        if target.starts_with("http") || target.starts_with('#') {
            continue;
        }
        assert!(
            root.join(target).exists(),
            "README links to {target}, which does not exist"
        );
        links += 1;
    }
    assert!(links >= 7, "{links}");
}
