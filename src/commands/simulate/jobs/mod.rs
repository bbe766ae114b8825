//! ScaledJobs in `lagscale simulate`: a file with a `jobs` section models one-shot workers
//! that KEDA starts per poll and that exit when the queue is idle, once per `scalingStrategy`.

pub mod config;
pub mod keda;
pub mod model;

use std::io::{self, Write};

pub use config::JobSimulation;
pub use model::{JobOutcome, run_all};

use super::report::{duration, thousands};

/// The summary table of a ScaledJob simulation.
pub fn table(outcomes: &[JobOutcome], out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "{:<16} {:>9} {:>12} {:>9} {:>10} {:>11} {:>13} {:>10}",
        "policy",
        "job-hours",
        "jobs started",
        "peak jobs",
        "p95 depth",
        "peak depth",
        "drain median",
        "drain max"
    )?;
    for o in outcomes {
        let mut drains = o.drain_secs.clone();
        drains.sort_unstable();
        let median = drains.get(drains.len() / 2).copied();
        let show = |d: Option<u64>| d.map_or("-".to_owned(), duration);
        writeln!(
            out,
            "{:<16} {:>9.1} {:>12} {:>9} {:>10} {:>11} {:>13} {:>10}",
            o.name,
            o.job_hours,
            o.jobs_started,
            o.peak_jobs,
            thousands(o.p95_depth),
            thousands(o.peak_depth),
            show(median),
            show(drains.last().copied())
        )?;
    }
    Ok(())
}
