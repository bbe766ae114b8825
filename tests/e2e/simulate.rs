//! `lagscale simulate`: the example file's comparison (properties, not numbers), determinism,
//! the command's outputs, and errors that name the field.

use std::path::PathBuf;
use std::process::Command;

use lagscale::commands::simulate::{self, Outcome, Simulation};

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("keda-examples/simulate/diurnal.yaml")
}

fn by_name<'a>(outcomes: &'a [Outcome], name: &str) -> &'a Outcome {
    outcomes.iter().find(|o| o.name == name).unwrap()
}

#[test]
fn on_diurnal_traffic_the_step_strategy_changes_least_and_log2_saws() {
    let simulation = Simulation::load(&example()).unwrap();
    let outcomes = simulate::run(&simulation, false).unwrap();
    let (raw, log2, step) = (
        by_name(&outcomes, "raw-lag"),
        by_name(&outcomes, "log2"),
        by_name(&outcomes, "step"),
    );
    // No policy serves a day of arrivals with fewer replica-hours than the arrivals need:
    // mean (200 + 2,000) / 2 messages/s at 125 per replica is 211 replica-hours.
    for o in &outcomes {
        assert!(o.replica_hours > 0.9 * 211.2, "{o:?}");
        assert!(
            o.rebalances >= o.replica_changes.saturating_sub(2),
            "{}",
            o.name
        );
    }
    // Few, deliberate changes: the step strategy changes a fraction as often.
    assert!(
        step.replica_changes * 3 < raw.replica_changes,
        "{}",
        table(&outcomes)
    );
    assert!(
        step.replica_changes * 3 < log2.replica_changes,
        "{}",
        table(&outcomes)
    );
    // log2 with Value and min 1 on a 10× daily swing: its ratio barely moves between lag
    // 7,400 and 54,000, so it climbs late, overshoots while the backlog is large and falls
    // back once it drains: bigger teeth than raw lag's, with a higher peak lag and more
    // replica-hours.
    assert!(log2.peak_lag > raw.peak_lag, "{}", table(&outcomes));
    assert!(
        log2.replica_hours > raw.replica_hours,
        "{}",
        table(&outcomes)
    );

    // Inflow plus backlog: fewer changes than either lag policy, at no more p95 lag.
    let throughput = by_name(&outcomes, "throughput");
    assert_throughput_beats_lag_policies(&outcomes);
    assert!(
        throughput.replica_hours < raw.replica_hours,
        "{}",
        table(&outcomes)
    );

    let again = simulate::run(&simulation, false).unwrap();
    assert_eq!(
        format!("{outcomes:?}"),
        format!("{again:?}"),
        "same file, same run"
    );
    let mut reseeded = simulation.clone();
    reseeded.seed += 1;
    let other = simulate::run(&reseeded, false).unwrap();
    assert_ne!(
        format!("{outcomes:?}"),
        format!("{other:?}"),
        "the seed drives the noise"
    );
}

fn assert_throughput_beats_lag_policies(outcomes: &[Outcome]) {
    let throughput = by_name(outcomes, "throughput");
    for lag_policy in ["raw-lag", "log2"] {
        let other = by_name(outcomes, lag_policy);
        assert!(
            throughput.replica_changes < other.replica_changes,
            "{lag_policy}: {}",
            table(outcomes)
        );
        assert!(
            throughput.p95_lag <= other.p95_lag,
            "{lag_policy}: {}",
            table(outcomes)
        );
    }
}

/// The outcomes as `simulate` prints them, for assertion messages.
fn table(outcomes: &[Outcome]) -> String {
    let mut out = Vec::new();
    simulate::report::table(outcomes, &mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// `replicaThroughput: auto` needs no rate: on diurnal.yaml it costs what the true rate
/// costs; when the true rate drops by 30 % at noon, it learns the new rate and keeps the
/// SLO, where the configured rate, now wrong, does not.
#[test]
fn a_learned_replica_rate_matches_the_true_one_and_follows_a_drop() {
    let simulation = Simulation::load(&example()).unwrap();
    let outcomes = simulate::run(&simulation, false).unwrap();
    let (configured, auto) = (
        by_name(&outcomes, "throughput"),
        by_name(&outcomes, "throughput-auto"),
    );
    assert!(
        (auto.replica_hours - configured.replica_hours).abs() <= 0.05 * configured.replica_hours,
        "{}",
        table(&outcomes)
    );
    assert!(auto.p95_lag < simulation.slo_lag, "{}", table(&outcomes));

    let drop = Simulation::load(&example().with_file_name("rate-drop.yaml")).unwrap();
    let outcomes = simulate::run(&drop, false).unwrap();
    let (configured, auto) = (
        by_name(&outcomes, "throughput"),
        by_name(&outcomes, "throughput-auto"),
    );
    assert!(auto.p95_lag < drop.slo_lag, "{}", table(&outcomes));
    assert!(configured.p95_lag > drop.slo_lag, "{}", table(&outcomes));
}

#[test]
fn on_a_spike_throughput_changes_least_and_costs_least_among_lag_policies() {
    let spike = example().with_file_name("spike.yaml");
    let outcomes = simulate::run(&Simulation::load(&spike).unwrap(), false).unwrap();
    let (throughput, raw) = (
        by_name(&outcomes, "throughput"),
        by_name(&outcomes, "raw-lag"),
    );
    for lag_policy in ["raw-lag", "log2"] {
        let other = by_name(&outcomes, lag_policy);
        assert!(
            throughput.replica_changes < other.replica_changes,
            "{lag_policy}: {}",
            table(&outcomes)
        );
        assert!(
            throughput.replica_hours < other.replica_hours,
            "{lag_policy}: {}",
            table(&outcomes)
        );
    }
    // During the spike throughput and raw lag hold the same backlog, on the partitions of
    // the replicas that hold two (log2 buys less lag with far more replica-hours).
    assert!(
        throughput.p95_lag <= 1.05 * raw.p95_lag,
        "{}",
        table(&outcomes)
    );
}

#[test]
fn the_command_prints_the_table_and_writes_csv_and_svg() {
    let dir = std::env::temp_dir().join(format!("lagscale-simulate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (csv, svg) = (dir.join("t.csv"), dir.join("t.svg"));
    let output = Command::new(env!("CARGO_BIN_EXE_lagscale"))
        .arg("simulate")
        .arg(example())
        .arg("--csv")
        .arg(&csv)
        .arg("--svg")
        .arg(&svg)
        .env_remove("LAGSCALE_CONFIG")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("policy") && lines[0].contains("replica-hours"));
    for (line, name) in lines[1..]
        .iter()
        .zip(["log2", "raw-lag", "step", "throughput"])
    {
        assert!(line.starts_with(name), "{out}");
    }
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert!(csv.starts_with("policy,t_secs,arrivals_per_sec,lag,replicas\n"));
    let rows = csv.lines().count() - 1;
    assert!(rows > 4 * 1_000, "{rows}");
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("step: "),
        "{}",
        &svg[..200]
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn errors_name_the_field() {
    let dir = std::env::temp_dir().join(format!("lagscale-simulate-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = "arrivals: {shape: spike, low: 1, high: 10, at_secs: 10, length_secs: 10}\n\
                slo_lag: 100\npolicies: {raw: {}}\n";
    let cases = [
        (
            format!("{base}consumers: {{messages_per_sec_per_replica: 0}}\n"),
            "consumers.messages_per_sec_per_replica: 0 is not a rate > 0",
        ),
        (
            format!("{base}consumers: {{messages_per_sec_per_replica: 5, partition: 3}}\n"),
            "unknown field `partition`",
        ),
        (
            "arrivals: {shape: trace, file: missing.csv}\nslo_lag: 1\npolicies: {raw: {}}\n\
             consumers: {messages_per_sec_per_replica: 5}\n"
                .to_owned(),
            "arrivals.file: cannot read",
        ),
        (
            base.replace("raw: {}", "raw: {metadata: {lagTreshold: \"5\"}}")
                + "consumers: {messages_per_sec_per_replica: 5}\n",
            "policies.raw.metadata: unknown key \"lagTreshold\"; did you mean `lagThreshold`?",
        ),
        (
            base.replace(
                "raw: {}",
                "raw: {metadata: {lagThreshold: \"5\"}, triggers: [{type: cpu}]}",
            ) + "consumers: {messages_per_sec_per_replica: 5}\n",
            "policies.raw: both `metadata` and `triggers`; expected one",
        ),
        (
            base.replace("raw: {}", "raw: {triggers: [{}, {type: cpu}]}")
                + "consumers: {messages_per_sec_per_replica: 5}\n",
            "policies.raw.triggers[1]: a cpu trigger without targetUtilization",
        ),
        (
            base.replace(
                "raw: {}",
                "raw: {triggers: [{type: cpu, targetUtilization: 70}]}",
            ) + "consumers: {messages_per_sec_per_replica: 5}\n",
            "policies.raw.triggers: only cpu triggers with keda.min_replica_count 0",
        ),
        (
            base.replace("raw: {}", "raw: {triggers: [{type: memory}]}")
                + "consumers: {messages_per_sec_per_replica: 5}\n",
            "unknown variant `memory`, expected `lag` or `cpu`",
        ),
        (
            format!(
                "{base}consumers: {{messages_per_sec_per_replica: 5, rate_changes: \
                 [{{at_secs: 60, messages_per_sec_per_replica: -1}}]}}\n"
            ),
            "consumers.rate_changes[0].messages_per_sec_per_replica: -1 is not a rate > 0",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let file = dir.join(format!("case{i}.yaml"));
        std::fs::write(&file, text).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_lagscale"))
            .arg("simulate")
            .arg(&file)
            .env_remove("LAGSCALE_CONFIG")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{err}");
        assert!(
            err.contains(expected),
            "{err:?} should contain {expected:?}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_readme_tables_and_charts_are_what_the_examples_give() {
    let dir = std::env::temp_dir().join(format!("lagscale-simulate-doc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    // farfetch.yaml and jobs.yaml have a table in the README, no chart.
    let examples = [
        ("diurnal", true),
        ("spike", true),
        ("farfetch", false),
        ("jobs", false),
        ("rate-drop", false),
    ];
    for (name, chart) in examples {
        let file = example().with_file_name(format!("{name}.yaml"));
        let svg = dir.join(format!("{name}.svg"));
        let mut table = Vec::new();
        simulate::command(&file, None, chart.then_some(svg.as_path()), &mut table).unwrap();
        let table = String::from_utf8(table).unwrap();
        let regenerate = format!(
            "regenerate with: cargo run --release -- simulate keda-examples/simulate/{name}.yaml \
             --svg keda-examples/simulate/{name}.svg"
        );
        assert!(
            readme.contains(&format!(
                "<!-- simulate-table {name} -->\n```text\n{table}```"
            )),
            "the README's {name} table is not the example's output:\n{table}\n{regenerate}"
        );
        if !chart {
            continue;
        }
        let committed = file.with_extension("svg");
        assert!(
            std::fs::read(&committed).ok() == Some(std::fs::read(&svg).unwrap()),
            "{} is not the example's chart; {regenerate}",
            committed.display()
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_cpu_trigger_sets_a_floor_and_the_highest_trigger_wins() {
    let farfetch = example().with_file_name("farfetch.yaml");
    let simulation = Simulation::load(&farfetch).unwrap();
    let outcomes = simulate::run(&simulation, false).unwrap();
    let get = |name| by_name(&outcomes, name);
    // log2 beside CPU at 80 % costs less than CPU alone at 50 %, at a small lag.
    assert!(
        get("log2+cpu").replica_hours < get("cpu").replica_hours,
        "{}",
        table(&outcomes)
    );
    assert!(get("log2+cpu").p95_lag < 5_000.0, "{}", table(&outcomes));
    // The CPU trigger only ever adds replicas: with it, throughput costs more and lags less.
    let (alone, with_cpu) = (get("throughput"), get("throughput+cpu"));
    assert!(
        with_cpu.replica_hours > alone.replica_hours && with_cpu.p95_lag < alone.p95_lag / 4.0,
        "{}",
        table(&outcomes)
    );

    // A policy of one trigger in the `triggers` form runs exactly as the short form.
    let mut simulation = Simulation::load(&example()).unwrap();
    let short = simulation.policies["log2"].clone();
    let mut listed = short.clone();
    listed.triggers = short.trigger_list();
    listed.metadata.clear();
    simulation.policies = [
        ("log2".to_owned(), short),
        ("log2-listed".to_owned(), listed),
    ]
    .into_iter()
    .collect();
    let outcomes = simulate::run(&simulation, false).unwrap();
    let (a, b) = (&outcomes[0], &outcomes[1]);
    assert_eq!(
        (a.replica_hours, a.p95_lag, a.replica_changes),
        (b.replica_hours, b.p95_lag, b.replica_changes)
    );
}

#[test]
fn scaled_jobs_default_starts_fewest_jobs_for_idle_exit_workers() {
    let file = example().with_file_name("jobs.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let simulation =
        simulate::JobSimulation::parse(&text, "jobs.yaml", file.parent().unwrap()).unwrap();
    let outcomes = simulate::jobs::run_all(&simulation).unwrap();
    let get = |name: &str| outcomes.iter().find(|o| o.name == name).unwrap();
    let (default, accurate, eager) = (get("default"), get("accurate"), get("eager"));
    // Workers that stay until the queue is quiet: the default counts them and starts fewer
    // jobs, for fewer job-hours; accurate and eager start jobs on every poll of a backlog and
    // reach the maximum.
    for other in [accurate, eager] {
        assert!(
            default.jobs_started < other.jobs_started && default.job_hours < other.job_hours,
            "{outcomes:?}"
        );
        assert_eq!(other.peak_jobs, 20, "{outcomes:?}");
    }
    // Every burst (one per 15 minutes) drains before the next, with each strategy.
    for o in &outcomes {
        assert!(o.drain_secs.len() >= 47, "{o:?}");
        assert!(o.drain_secs.iter().all(|&d| d < 900), "{o:?}");
    }
    // It is not a ScaledObject scenario (the demo's).
    let error = Simulation::load(&file).unwrap_err().to_string();
    assert!(
        error.contains("a ScaledJob file (it has `jobs`)"),
        "{error}"
    );
    // A ScaledJob file has no timeline to draw.
    let error = simulate::command(
        &file,
        None,
        Some(std::path::Path::new("x.svg")),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(error.contains("this is a ScaledJob file"), "{error}");
}
