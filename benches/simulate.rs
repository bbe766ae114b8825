//! The simulator's speed: 30 simulated days at 1 s resolution, keda-examples/simulate/
//! diurnal.yaml's four policies. Prints simulated seconds per wall second.
//!
//!     cargo bench --bench simulate

use std::path::Path;
use std::time::Instant;

use lagscale::commands::simulate::{self, Simulation};

fn main() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("keda-examples/simulate/diurnal.yaml");
    let mut simulation = Simulation::load(&file).unwrap();
    simulation.duration_secs = 30 * 86_400;
    let started = Instant::now();
    let outcomes = simulate::run(&simulation, false).unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let simulated = (simulation.duration_secs * outcomes.len() as u64) as f64;
    println!(
        "30 days × {} policies at 1 s: {elapsed:.2} s wall, {:.1} million simulated seconds per wall second",
        outcomes.len(),
        simulated / elapsed / 1e6
    );
    simulate::report::table(&outcomes, &mut std::io::stdout()).unwrap();
}
