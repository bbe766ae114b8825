//! `lagscale simulate FILE`: replays traffic through a model of consumers, KEDA and the HPA,
//! once per policy, with lagscale's own trigger code choosing each metric, and compares the
//! policies: a summary table, a CSV timeline, an SVG chart. Deterministic: the same file and
//! seed give the same numbers.

pub mod arrivals;
mod assignment;
mod chart;
pub mod config;
pub mod hpa;
pub mod jobs;
pub mod model;
pub mod outcome;
mod policy;
pub mod replica_calculator;
pub mod report;
mod triggers;
mod work;

use std::io::{IsTerminal, Write};
use std::path::Path;

pub use config::{Simulation, SimulationError};
pub use jobs::JobSimulation;
pub use outcome::Outcome;
pub use policy::{PolicyMetric, Reading};

/// Runs every policy of `simulation`, in name order.
pub fn run(simulation: &Simulation, show_progress: bool) -> Result<Vec<Outcome>, String> {
    let mut outcomes = Vec::new();
    for (name, policy) in &simulation.policies {
        let mut last = -1i64;
        let mut progress = |done: f64| {
            let percent = (done * 100.0) as i64;
            if show_progress && percent / 10 != last / 10 {
                eprint!("\rsimulating {name}: {percent:>3} %");
                if percent == 100 {
                    eprintln!();
                }
                last = percent;
            }
        };
        outcomes.push(model::run(simulation, name, policy, &mut progress)?);
    }
    Ok(outcomes)
}

/// The command: load, run, print the table, write the CSV and SVG when asked. A progress line
/// goes to stderr when it is a terminal and the run is longer than a day.
pub fn command(
    file: &Path,
    csv: Option<&Path>,
    svg: Option<&Path>,
    out: &mut impl Write,
) -> Result<Vec<Outcome>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
    if JobSimulation::is_jobs_file(&text) {
        return jobs_command(file, &text, csv.or(svg), out).map(|()| Vec::new());
    }
    let simulation = Simulation::load(file).map_err(|e| e.to_string())?;
    let progress = std::io::stderr().is_terminal() && simulation.duration_secs > 86_400;
    let outcomes = run(&simulation, progress)?;
    report::table(&outcomes, out).map_err(|e| e.to_string())?;
    if let Some(path) = csv {
        let mut file =
            std::fs::File::create(path).map_err(|e| format!("--csv {}: {e}", path.display()))?;
        report::csv(&outcomes, &mut file).map_err(|e| format!("--csv {}: {e}", path.display()))?;
    }
    if let Some(path) = svg {
        chart::svg(&outcomes, path)?;
    }
    Ok(outcomes)
}

/// A ScaledJob file: its table (no timeline or chart).
fn jobs_command(
    file: &Path,
    text: &str,
    output: Option<&Path>,
    out: &mut impl Write,
) -> Result<(), String> {
    if let Some(path) = output {
        return Err(format!(
            "{}: --csv and --svg draw ScaledObject timelines; this is a ScaledJob file (it has \
             `jobs`), which prints its table only (asked to write {})",
            file.display(),
            path.display()
        ));
    }
    let base = file.parent().unwrap_or(Path::new("."));
    let simulation =
        JobSimulation::parse(text, &file.display().to_string(), base).map_err(|e| e.to_string())?;
    let outcomes = jobs::run_all(&simulation)?;
    jobs::table(&outcomes, out).map_err(|e| e.to_string())
}
