//! The metric name a trigger serves: a valid path segment, stable for the same metadata.
//!
//! KEDA prefixes it with `s<index>-` for the HPA and strips the prefix again before GetMetrics,
//! and Kubernetes requires a valid path segment (no `/`, no `%`, not `.` or `..`).

use std::collections::HashMap;
use std::fmt;

use super::{MAX_KEY_BYTES, MAX_KEYS, MAX_VALUE_BYTES, keys};

/// Longest metric name accepted or derived.
const MAX_LEN: usize = 200;

/// A metric name that is a valid path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricName(String);

impl MetricName {
    /// A user-given name, checked. `Err` says what is wrong with it.
    pub fn parse(name: &str) -> Result<MetricName, &'static str> {
        if name == "." || name == ".." {
            return Err("a path segment other than `.` or `..`");
        }
        if name.chars().count() > MAX_LEN {
            return Err("at most 200 characters");
        }
        if name
            .chars()
            .any(|c| c == '/' || c == '%' || c.is_whitespace() || c.is_control())
        {
            return Err("a name without `/`, `%`, spaces or control characters");
        }
        Ok(MetricName(name.to_owned()))
    }

    /// The default name for a query, from its parts (e.g. `["rabbitmq", "jobs"]`): the parts
    /// joined by `-`, lowercased, with anything outside `[a-z0-9.-]` replaced by `-`. When that
    /// changed or shortened anything, a hash of the original parts is appended so that two
    /// different queries never share a name.
    pub fn derive(parts: &[&str]) -> MetricName {
        let joined = parts.join("-");
        let mut name: String = joined
            .chars()
            .map(|c| match c.to_ascii_lowercase() {
                lower @ ('a'..='z' | '0'..='9' | '.' | '-') => lower,
                _ => '-',
            })
            .collect();
        if name != joined || name.len() > MAX_LEN {
            name.truncate(MAX_LEN - 9);
            name = format!("{name}-{:08x}", fnv1a(&joined));
        }
        MetricName(name)
    }

    /// The name served for metadata that does not parse (so that GetMetricSpec still answers
    /// and KEDA shows the parser's error from GetMetrics and IsActive): its `metricName` when
    /// that is valid, else `invalid-trigger-` and a hash of the metadata, the same in every
    /// process. Bounded work whatever arrives: at most `MAX_KEYS + 1` keys, in sorted order,
    /// each key and value cut to its bound.
    pub fn for_invalid(map: &HashMap<String, String>) -> MetricName {
        if let Some(name) = map.get(keys::METRIC_NAME)
            && let Ok(name) = MetricName::parse(name)
        {
            return name;
        }
        let mut pairs: Vec<(&String, &String)> = map.iter().collect();
        pairs.sort_unstable();
        let hash = pairs
            .iter()
            .take(MAX_KEYS + 1)
            .fold(FNV_OFFSET, |hash, (key, value)| {
                let key = &key.as_bytes()[..key.len().min(MAX_KEY_BYTES)];
                let value = &value.as_bytes()[..value.len().min(MAX_VALUE_BYTES)];
                [key, b"=", value, b"\n"]
                    .iter()
                    .fold(hash, |h, part| fnv1a_on(h, part))
            });
        MetricName(format!("invalid-trigger-{hash:08x}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// KEDA may send the name lowercased (≤ 2.11): compare without case.
    pub fn matches(&self, requested: &str) -> bool {
        self.0.to_lowercase() == requested.to_lowercase()
    }
}

impl fmt::Display for MetricName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const FNV_OFFSET: u32 = 0x811c_9dc5;

/// 32-bit FNV-1a: a hash that is the same in every build (std's hasher is not guaranteed to be).
fn fnv1a(s: &str) -> u32 {
    fnv1a_on(FNV_OFFSET, s.as_bytes())
}

/// FNV-1a of `bytes`, continuing from `hash`.
fn fnv1a_on(hash: u32, bytes: &[u8]) -> u32 {
    bytes.iter().fold(hash, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names() {
        assert_eq!(
            MetricName::derive(&["rabbitmq", "jobs"]).as_str(),
            "rabbitmq-jobs"
        );
        let odd = MetricName::derive(&["rabbitmq", "Orders/EU %1"]);
        assert!(odd.as_str().starts_with("rabbitmq-orders-eu--1-"), "{odd}");
        assert!(MetricName::parse(odd.as_str()).is_ok());
        // Stable, and distinct where sanitising alone would collide.
        assert_eq!(odd, MetricName::derive(&["rabbitmq", "Orders/EU %1"]));
        assert_ne!(
            MetricName::derive(&["rabbitmq", "a/b"]),
            MetricName::derive(&["rabbitmq", "a%b"])
        );
        let long = "q".repeat(500);
        let name = MetricName::derive(&["rabbitmq", &long]);
        assert_eq!(name.as_str().len(), MAX_LEN);
        assert!(MetricName::parse(name.as_str()).is_ok());
    }

    #[test]
    fn invalid_metadata_gets_a_stable_name() {
        let map = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let typo = map(&[("source", "rabbitmq"), ("lagTreshold", "5")]);
        let name = MetricName::for_invalid(&typo);
        assert_eq!(name, MetricName::for_invalid(&typo.clone()));
        assert!(name.as_str().starts_with("invalid-trigger-"), "{name}");
        assert!(MetricName::parse(name.as_str()).is_ok());
        let other = map(&[("source", "rabbitmq"), ("lagTreshold", "6")]);
        assert_ne!(name, MetricName::for_invalid(&other));
        // A valid metricName is kept, an invalid one is not.
        let named = map(&[("metricName", "orders"), ("bogus", "1")]);
        assert_eq!(MetricName::for_invalid(&named).as_str(), "orders");
        let bad_name = map(&[("metricName", "a/b")]);
        assert!(
            MetricName::for_invalid(&bad_name)
                .as_str()
                .starts_with("invalid-trigger-")
        );
        // Huge metadata costs no more than its bounds.
        let huge = map(&[("source", &"x".repeat(1_000_000))]);
        assert!(
            MetricName::for_invalid(&huge)
                .as_str()
                .starts_with("invalid-trigger-")
        );
    }

    #[test]
    fn fnv_is_the_reference_function() {
        assert_eq!(fnv1a(""), 0x811c_9dc5);
        assert_eq!(fnv1a("a"), 0xe40c_292c);
    }

    #[test]
    fn user_names_are_checked() {
        for good in ["jobs", "s0-queue", "Mixed.Case_1"] {
            assert!(MetricName::parse(good).is_ok(), "{good}");
        }
        for bad in [".", "..", "a/b", "a%2f", "a b", &"x".repeat(201)] {
            assert!(MetricName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching_ignores_case() {
        let name = MetricName::parse("RabbitMQ-Jobs").unwrap();
        assert!(name.matches("rabbitmq-jobs"));
        assert!(!name.matches("rabbitmq-job"));
    }
}
