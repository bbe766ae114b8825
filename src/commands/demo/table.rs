//! What the closed loop prints: the header, one status line a wall second, and the summary
//! (`lagscale simulate`'s table, with times in scenario time).

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;

use super::PolicyRun;
use super::emulation::NAMESPACE;
use crate::commands::simulate::config::{Policy, Simulation};
use crate::commands::simulate::report;

/// One policy's state at a status line.
pub struct Status {
    pub replicas: u32,
    pub lag: f64,
    pub served: Option<f64>,
}

/// Width of one policy's columns.
const COLUMN: usize = 28;

pub fn header(
    out: &mut impl Write,
    scenario: (&str, &Simulation),
    speed: u32,
    (addr, log): (SocketAddr, Option<&Path>),
    policies: &[(String, Policy, HashMap<String, String>)],
) -> io::Result<()> {
    let (name, sim) = scenario;
    writeln!(out, "lagscale demo: {name}")?;
    writeln!(
        out,
        "  {} of scenario time at {speed}x: one line a second, each {speed} s of the scenario; \
         a Kafka record stands for {speed} messages",
        duration(sim.duration_secs)
    )?;
    writeln!(
        out,
        "  mock Kafka broker, topic {:?} with {} partitions; consumers process {} messages/s \
         each, start {} s after their pod is created",
        super::scenario::TOPIC,
        sim.consumers.partitions,
        sim.consumers.messages_per_sec_per_replica,
        sim.consumers.startup_secs
    )?;
    writeln!(
        out,
        "  per policy: its own consumer group, and KEDA + HPA emulated (polling {} s, cooldown \
         {} s, replicas {}..{}) asking lagscale on {addr} over gRPC",
        sim.keda.polling_interval_secs,
        sim.keda.cooldown_period_secs,
        sim.keda.min_replica_count,
        sim.keda.max_replica_count
    )?;
    for (name, policy, _) in policies {
        let keys: Vec<String> = policy
            .metadata
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        writeln!(
            out,
            "    {name}: {:?}, {}",
            policy.metric_type,
            keys.join(" ")
        )?;
    }
    writeln!(out, "  ask it what KEDA asks, from another terminal:")?;
    for (name, _, metadata) in policies {
        let mut pairs: Vec<String> = metadata
            .iter()
            .map(|(k, v)| format!("\"{k}\":\"{v}\""))
            .collect();
        pairs.sort();
        writeln!(
            out,
            "    grpcurl -plaintext -d '{{\"scaledObjectRef\":{{\"name\":\"{name}\",\"namespace\":\"{NAMESPACE}\",\"scalerMetadata\":{{{}}}}}}}' {addr} externalscaler.ExternalScaler/GetMetrics",
            pairs.join(",")
        )?;
    }
    match log {
        Some(path) => writeln!(out, "  logs: {}", path.display())?,
        None => writeln!(out, "  logs: on stderr")?,
    }
    writeln!(out)?;
    write!(out, "{:>8} {:>10}", "time", "arrivals/s")?;
    for (name, _, _) in policies {
        let title = format!("{name}: pods, lag, served");
        write!(out, " | {title:<COLUMN$}")?;
    }
    writeln!(out)?;
    out.flush()
}

/// One status line: scenario time, the arrival rate, and each policy's pods, lag and metric.
pub fn line(out: &mut impl Write, t: u64, arrivals: f64, statuses: &[Status]) -> io::Result<()> {
    write!(out, "{:>8} {arrivals:>10.0}", clock(t))?;
    for status in statuses {
        let served = status.served.map_or("-".to_owned(), |v| format!("{v:.1}"));
        let cell = format!(
            "{:>4} {:>12} {:>9}",
            status.replicas,
            report::thousands(status.lag),
            served
        );
        write!(out, " | {cell:<COLUMN$}")?;
    }
    writeln!(out)?;
    out.flush()
}

/// The summary: `simulate`'s table, then what each group's members did.
pub fn summary(out: &mut impl Write, runs: &[PolicyRun], finished: bool) -> io::Result<()> {
    writeln!(out)?;
    if !finished {
        writeln!(out, "Stopped before the scenario's end; so far:")?;
    }
    let outcomes: Vec<_> = runs.iter().map(|r| r.outcome.clone()).collect();
    report::table(&outcomes, out)?;
    for run in runs {
        let mut joins = run.join_secs.clone();
        joins.sort_by(f64::total_cmp);
        let median = joins.get(joins.len() / 2).copied().unwrap_or(0.0);
        let slowest = joins.last().copied().unwrap_or(0.0);
        writeln!(
            out,
            "  {}: {} replica-seconds, {} members started, {} joined the group (after {median:.0} s, \
             at most {slowest:.0} s, of scenario time){}",
            run.outcome.name,
            report::thousands(run.outcome.replica_hours * 3600.0),
            run.members_started,
            run.joined.len(),
            match run.offset_resets {
                0 => String::new(),
                n => format!(
                    ", {n} fetch positions reset by the mock ({} messages skipped)",
                    report::thousands(run.skipped_messages as f64)
                ),
            } + &match run.errors.len() {
                0 => String::new(),
                n => format!(", {n} failed calls to lagscale (see the log)"),
            }
        )?;
    }
    out.flush()
}

/// `3725` → `1:02:05`.
fn clock(t: u64) -> String {
    format!("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
}

fn duration(secs: u64) -> String {
    match secs {
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{:.1} h", s as f64 / 3600.0),
    }
}
