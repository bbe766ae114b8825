//! The metric name a trigger serves: a valid path segment, stable for the same metadata.
//!
//! KEDA prefixes it with `s<index>-` for the HPA and strips the prefix again before GetMetrics,
//! and Kubernetes requires a valid path segment (no `/`, no `%`, not `.` or `..`).

use std::fmt;

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

/// 32-bit FNV-1a: a hash that is the same in every build (std's hasher is not guaranteed to be).
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
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
