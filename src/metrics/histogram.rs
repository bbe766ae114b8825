//! Histograms with fixed buckets, recorded with three relaxed atomic adds: no allocation, no
//! registry lookup, no label hashing, no clock read. metrics-exporter-prometheus keeps every
//! value recorded into its histograms until a scrape drains them (without its upkeep task, a
//! server nobody scrapes would grow by 24 bytes a call), and renders them as summaries; these
//! are rendered after its text, as Prometheus `histogram`s, which sum across pods.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Upper bounds in seconds: from 100 µs (a warm gRPC call) to 10 s (a broker at its timeout).
pub const BOUNDS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// One series: counts per bucket (the last one above every bound) and the sum.
pub struct Histogram {
    buckets: [AtomicU64; BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    pub const fn new() -> Histogram {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; BOUNDS.len() + 1],
            sum_nanos: AtomicU64::new(0),
        }
    }

    pub fn record(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = BOUNDS.partition_point(|&bound| bound < seconds);
        self.buckets[bucket].fetch_add(1, Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Relaxed);
    }

    /// The series' lines; `labels` is empty or ends with a comma (`method="GetMetrics",`).
    fn render(&self, name: &str, labels: &str, out: &mut String) {
        let mut count = 0;
        for (bound, bucket) in BOUNDS.iter().zip(&self.buckets) {
            count += bucket.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {count}");
        }
        count += self.buckets[BOUNDS.len()].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
        let sum = self.sum_nanos.load(Relaxed) as f64 / 1e9;
        let labels = labels.trim_end_matches(',');
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// A histogram's series by their labels, created on first use.
pub struct Family {
    name: &'static str,
    help: &'static str,
    series: Mutex<BTreeMap<String, Arc<Histogram>>>,
}

impl Family {
    pub const fn new(name: &'static str, help: &'static str) -> Family {
        Family {
            name,
            help,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    /// The series with these labels (name, value), values escaped as Prometheus' text format
    /// asks.
    pub fn series(&self, labels: &[(&str, &str)]) -> Arc<Histogram> {
        let mut key = String::new();
        for (name, value) in labels {
            let value = value
                .replace('\\', r"\\")
                .replace('"', "\\\"")
                .replace('\n', r"\n");
            let _ = write!(key, "{name}=\"{value}\",");
        }
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        series.entry(key).or_default().clone()
    }

    /// HELP, TYPE and every series (nothing when none was recorded).
    pub fn render(&self, out: &mut String) {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        if series.is_empty() {
            return;
        }
        let name = self.name;
        let _ = writeln!(out, "# HELP {name} {}", self.help);
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (labels, histogram) in series.iter() {
            histogram.render(name, labels, out);
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, prefix: &str) -> u64 {
        let line = text.lines().find(|l| l.starts_with(prefix)).unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    #[test]
    fn buckets_are_cumulative_and_the_count_includes_the_overflow() {
        let family = Family::new("t_seconds", "A test.");
        let series = family.series(&[("method", "Get\"x")]);
        for micros in [50, 100, 101, 2_000, 20_000_000] {
            series.record(Duration::from_micros(micros));
        }
        let mut text = String::new();
        family.render(&mut text);
        assert!(text.starts_with("# HELP t_seconds A test.\n# TYPE t_seconds histogram\n"));
        let labels = "t_seconds_bucket{method=\"Get\\\"x\",";
        // 100 µs is in the 100 µs bucket (upper bounds are inclusive).
        assert_eq!(sample(&text, &format!("{labels}le=\"0.0001\"}}")), 2);
        assert_eq!(sample(&text, &format!("{labels}le=\"0.00025\"}}")), 3);
        assert_eq!(sample(&text, &format!("{labels}le=\"0.0025\"}}")), 4);
        assert_eq!(sample(&text, &format!("{labels}le=\"10\"}}")), 4);
        assert_eq!(sample(&text, &format!("{labels}le=\"+Inf\"}}")), 5);
        assert_eq!(sample(&text, "t_seconds_count{method=\"Get\\\"x\"}"), 5);
        let sum: f64 = text
            .lines()
            .find(|l| l.starts_with("t_seconds_sum"))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap()
            .parse()
            .unwrap();
        assert!((sum - 20.002251).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn a_family_without_series_renders_nothing() {
        let mut text = String::new();
        Family::new("t_seconds", "A test.").render(&mut text);
        assert!(text.is_empty());
    }
}
