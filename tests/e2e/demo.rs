//! `lagscale demo`'s closed loop: real consumers on the mock cluster, scaled by KEDA and the
//! HPA (emulated) from lagscale's answers. Counts and orders, never wall time.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use lagscale::commands::demo::{DemoOptions, PolicyRun};
use lagscale::commands::simulate::Simulation;
use lagscale::commands::simulate::hpa::{self, Hpa};

const BIN: &str = env!("CARGO_BIN_EXE_lagscale");

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/demo/burst.yaml")
}

/// Ten scenario minutes with a three-minute burst, at speed 10: about a minute.
#[tokio::test(flavor = "multi_thread")]
async fn the_closed_loop_scales_real_consumers_up_after_a_burst_and_back_down() {
    let options = DemoOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        duration: None,
        scenario: Some(fixture()),
        speed: 10,
        policy: None,
        log: None,
    };
    let mut out = Vec::new();
    let runs = lagscale::commands::demo::run(&options, std::future::pending(), &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let scenario = Simulation::load(&fixture()).unwrap();
    assert_eq!(runs.len(), 2, "{text}");
    for run in &runs {
        let name = &run.outcome.name;
        assert!(run.errors.is_empty(), "{name}: {:?}\n{text}", run.errors);
        replicas_rise_after_the_burst_and_fall_after_it(run, &scenario);
        every_started_member_joined(run);
        the_hpa_used_lagscales_answers_by_its_own_rules(run, &scenario);
    }
    assert!(
        text.contains("replica-hours") && text.contains("raw-lag"),
        "{text}"
    );
}

fn replicas_rise_after_the_burst_and_fall_after_it(run: &PolicyRun, scenario: &Simulation) {
    let name = &run.outcome.name;
    let timeline = &run.outcome.timeline;
    let (start, end) = (60, 240); // the fixture's burst
    let replicas_at = |from: u64, to: u64| -> Vec<u32> {
        timeline
            .iter()
            .filter(|p| p.t >= from && p.t < to)
            .map(|p| p.replicas)
            .collect()
    };
    let before = replicas_at(0, start);
    let during = replicas_at(start, end + 60);
    let last = replicas_at(scenario.duration_secs - 30, scenario.duration_secs);
    let peak = *during.iter().max().unwrap();
    assert!(
        before.iter().all(|&r| r == 1) && peak >= 4,
        "{name}: before {before:?}, during {during:?}"
    );
    assert!(
        last.iter().all(|&r| r < peak),
        "{name}: peak {peak}, at the end {last:?}"
    );
    assert!(run.outcome.replica_changes >= 2, "{name}: up and down");
}

fn every_started_member_joined(run: &PolicyRun) {
    let mut joined = run.joined.clone();
    joined.sort_unstable();
    let started: Vec<usize> = (0..run.members_started).collect();
    assert_eq!(
        joined, started,
        "{}: every member started got partitions from the group",
        run.outcome.name
    );
    assert!(run.members_started >= 4);
}

/// Each HPA sync took its metric and target from lagscale's answer to that round of calls,
/// and replaying the simulator's HPA functions on the recorded inputs gives the recorded
/// decisions.
fn the_hpa_used_lagscales_answers_by_its_own_rules(run: &PolicyRun, scenario: &Simulation) {
    let name = &run.outcome.name;
    let policy = &scenario.policies[name];
    let keda = &scenario.keda;
    let mut hpa = Hpa::new(
        &policy.behavior,
        keda.min_replica_count.max(1),
        keda.max_replica_count,
    );
    assert!(run.syncs.len() >= 30, "{name}: every 15 s for 10 minutes");
    let mut served = Vec::new();
    for sync in &run.syncs {
        let answer = &run.answers[sync.answer];
        assert_eq!(answer.t, sync.t, "{name}: {sync:?}");
        assert_eq!(
            (answer.metric, answer.target),
            (sync.metric, sync.target),
            "{name}"
        );
        let desired = hpa::desired(
            policy.metric_type,
            sync.metric,
            sync.target,
            sync.current,
            sync.ready,
        );
        assert_eq!(desired, sync.desired, "{name}: {sync:?}");
        assert_eq!(
            hpa.sync(sync.t, sync.current, desired),
            sync.next,
            "{name}: {sync:?}"
        );
        served.push(sync.metric);
    }
    // lagscale's answers follow the burst: they are not one constant.
    let (low, high) = served
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    assert!(high > 2.0 * low.max(1.0), "{name}: served {served:?}");
    // Polls between the syncs asked too: more answers than syncs.
    assert!(run.answers.len() > run.syncs.len(), "{name}");
}

/// The binary as a newcomer runs it: a header, a clean table (logs go to a file), a summary.
#[test]
fn the_demo_command_prints_a_clean_table_and_a_summary() {
    let mut demo = Command::new(BIN)
        .args(["demo", "--listen", "127.0.0.1:0", "--duration", "8"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = demo.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        lines.push(line);
    }
    let output = demo.wait_with_output().unwrap();
    let text = lines.join("\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}\n{stderr}");
    assert!(stderr.trim().is_empty(), "nothing but the table: {stderr}");
    assert!(text.contains("logs: /"), "{text}");
    assert!(
        text.contains("grpcurl -plaintext -d"),
        "how to ask it as KEDA does: {text}"
    );
    let rows: Vec<Vec<&str>> = lines
        .iter()
        .filter(|l| l.trim_start().starts_with("0:") && l.contains('|'))
        .map(|l| l.split('|').map(str::trim).collect())
        .collect();
    assert!(rows.len() >= 5, "one line a second: {text}");
    for row in &rows {
        assert_eq!(row.len(), 4, "time and arrivals, then each policy: {row:?}");
        for cell in &row[1..] {
            let fields: Vec<&str> = cell.split_whitespace().collect();
            assert_eq!(fields.len(), 3, "pods, lag, served: {row:?}");
            assert!(fields[0].parse::<u32>().unwrap() >= 1, "{row:?}");
        }
    }
    assert!(
        text.contains("Stopped before the scenario's end") && text.contains("replica-hours"),
        "a summary on the way out: {text}"
    );
    let log = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("logs: "))
        .unwrap();
    let log = std::fs::read_to_string(log).unwrap();
    assert!(!log.contains(" ERROR "), "{log}");
    assert!(log.contains("serving gRPC"), "{log}");
}
