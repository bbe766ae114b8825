//! `lagscale demo`, run as a newcomer runs it: it prints working commands and status lines.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_lagscale");

#[test]
fn demo_serves_meaningful_lag_and_its_printed_check_command_works() {
    let mut demo = Command::new(BIN)
        .args(["demo", "--listen", "127.0.0.1:0", "--duration", "6"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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
    let mut checked = None;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        // While the demo runs, its printed `lagscale check` command must work from outside.
        if checked.is_none() && line.contains(" check --set") && line.contains("log2") {
            let mut words = line.split_whitespace();
            let program = words.next().unwrap().to_owned();
            let args: Vec<&str> = words.collect();
            let run = Command::new(program)
                .args(&args)
                .env("RUST_LOG", "warn")
                .output();
            checked = Some(run.unwrap());
        }
        lines.push(line);
    }
    let status = demo.wait().unwrap();
    let text = lines.join("\n");
    assert!(status.success(), "{text}");
    assert!(text.contains("grpcurl -plaintext -d"), "{text}");
    let check = checked.expect("the demo prints a lagscale check command");
    let check_out = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{check_out}");
    assert!(
        check_out.contains("lag:") && check_out.contains("active:"),
        "{check_out}"
    );

    // Status lines: "<t>s produced consumed lag | raw ... | log2 ... | throughput ... | active".
    let rows: Vec<Vec<&str>> = lines
        .iter()
        .filter(|l| {
            l.trim_start()
                .split('s')
                .next()
                .is_some_and(|t| t.parse::<u64>().is_ok())
                && l.contains('|')
        })
        .map(|l| l.split('|').map(str::trim).collect())
        .collect();
    assert!(rows.len() >= 4, "one line a second: {text}");
    for row in &rows {
        assert_eq!(row.len(), 5, "{row:?}");
        assert!(
            row[1].contains("replicas")
                && row[2].contains("replicas")
                && row[3].contains("replicas"),
            "no errors served: {row:?}"
        );
        assert_eq!(
            row[4], "true",
            "the burst keeps the workload active: {row:?}"
        );
    }
    // Once the rates are measured, the throughput column shows a time lag in seconds.
    assert!(
        rows.iter()
            .any(|r| r[3].contains("time lag") && r[3].ends_with(" s")),
        "{text}"
    );
    let lags: Vec<u64> = rows
        .iter()
        .map(|r| r[0].split_whitespace().last().unwrap().parse().unwrap())
        .collect();
    assert!(lags.last() > lags.first(), "the burst builds lag: {lags:?}");
}
