//! The outcome as text (a table per policy) and as a CSV timeline.

use std::io::{self, Write};

use super::outcome::Outcome;

/// `1234567.8` → `1,234,568`.
pub fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn duration(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{:.1} min", s as f64 / 60.0),
        s => format!("{:.1} h", s as f64 / 3600.0),
    }
}

/// The summary table.
pub fn table(outcomes: &[Outcome], out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "{:<16} {:>13} {:>12} {:>12} {:>10} {:>17} {:>8} {:>10}",
        "policy",
        "replica-hours",
        "peak lag",
        "p95 lag",
        "above SLO",
        "drain after peak",
        "changes",
        "rebalances"
    )?;
    for o in outcomes {
        writeln!(
            out,
            "{:<16} {:>13.1} {:>12} {:>12} {:>10} {:>17} {:>8} {:>10}",
            o.name,
            o.replica_hours,
            thousands(o.peak_lag),
            thousands(o.p95_lag),
            duration(o.secs_above_slo),
            o.drain_secs.map_or("never".to_owned(), duration),
            o.replica_changes,
            o.rebalances
        )?;
    }
    Ok(())
}

/// One row per timeline point and policy: `policy,t_secs,arrivals_per_sec,lag,replicas`.
pub fn csv(outcomes: &[Outcome], out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "policy,t_secs,arrivals_per_sec,lag,replicas")?;
    for o in outcomes {
        for p in &o.timeline {
            writeln!(
                out,
                "{},{},{:.3},{:.0},{}",
                o.name, p.t, p.arrivals, p.lag, p.replicas
            )?;
        }
    }
    Ok(())
}
