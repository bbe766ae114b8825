//! One `lagscale serve` process for the envelope: its config file, its addresses, what /proc
//! says about it, and its Prometheus counters. Killed (by its PID) when dropped, so also when
//! the bench panics.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Server {
    child: Child,
    dir: PathBuf,
    pub grpc: String,
    pub metrics: String,
}

/// What /proc says about the process.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcStats {
    pub rss_mib: f64,
    pub peak_rss_mib: f64,
    pub threads: u64,
    pub fds: usize,
    /// User + system CPU time so far, in seconds.
    pub cpu_s: f64,
}

impl Server {
    /// Writes `config` (YAML) to a directory of its own and starts `lagscale serve` with it on
    /// 127.0.0.1 (ports chosen by the kernel, read from its log), on core 0 when `pin`.
    pub fn start(config: &str, pin: bool) -> Server {
        let dir = std::env::temp_dir().join(format!("lagscale-envelope-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config_path = dir.join("lagscale.yaml");
        std::fs::write(&config_path, config).unwrap();
        let log_path = dir.join("serve.log");
        let log = std::fs::File::create(&log_path).unwrap();
        // librdkafka's wakeup pipes (the mock clusters' in this process) are not close-on-exec:
        // lagscale would inherit some 600 of them. bash closes every descriptor above 2, then
        // execs (taskset, which execs) lagscale: the child's PID is lagscale's.
        let close_inherited = r#"for fd in /proc/$$/fd/*; do n=${fd##*/}; if [ "$n" -gt 2 ]; then eval "exec $n>&-"; fi; done; exec "$@""#;
        let mut command = Command::new("bash");
        command.args(["-c", close_inherited, "lagscale-envelope"]);
        if pin {
            command.args(["taskset", "-c", "0"]);
        }
        let child = command
            .arg(env!("CARGO_BIN_EXE_lagscale"))
            .arg("--config")
            .arg(&config_path)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--metrics-listen", "127.0.0.1:0"])
            .env_remove("LAGSCALE_CONFIG")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("lagscale serve starts");
        let mut server = Server {
            child,
            dir,
            grpc: String::new(),
            metrics: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.grpc.is_empty() || server.metrics.is_empty() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "lagscale serve exited ({status}): {}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "lagscale serve did not listen");
            std::thread::sleep(Duration::from_millis(50));
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            server.grpc = address(&text, "serving gRPC").unwrap_or_default();
            server.metrics = address(&text, "serving Prometheus metrics").unwrap_or_default();
        }
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lines of its log at WARN or above (there should be none).
    pub fn warnings(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("serve.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .map(str::to_owned)
            .collect()
    }

    /// Its threads, counted by name (/proc/PID/task/*/comm).
    pub fn thread_names(&self) -> BTreeMap<String, usize> {
        let mut names = BTreeMap::new();
        for task in std::fs::read_dir(format!("/proc/{}/task", self.pid())).unwrap() {
            let comm =
                std::fs::read_to_string(task.unwrap().path().join("comm")).unwrap_or_default();
            *names.entry(comm.trim().to_owned()).or_insert(0) += 1;
        }
        names
    }

    pub fn stats(&self) -> ProcStats {
        proc_stats(self.pid())
    }

    /// Its Prometheus text, series name with labels → value.
    pub async fn scrape(&self) -> BTreeMap<String, f64> {
        let mut stream = tokio::net::TcpStream::connect(&self.metrics).await.unwrap();
        // HTTP/1.0: the body ends with the connection, never chunked.
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).await.unwrap();
        let body = text.split_once("\r\n\r\n").expect("an HTTP answer").1;
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' '))
            .filter_map(|(series, value)| Some((series.to_owned(), value.parse().ok()?)))
            .collect()
    }
}

/// What /proc says about process `pid`.
pub fn proc_stats(pid: u32) -> ProcStats {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After the command name: state is field 0, utime 11 and stime 12 (in clock ticks).
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ProcStats {
        rss_mib: field("VmRSS:") / 1024.0,
        peak_rss_mib: field("VmHWM:") / 1024.0,
        threads: field("Threads:") as u64,
        fds: std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count(),
        cpu_s: ticks / clock_ticks(),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `127.0.0.1:PORT` on the first log line containing `what`.
fn address(log: &str, what: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains(what))?;
    let at = line.find("127.0.0.1:")?;
    let port = line[at + 10..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>();
    (!port.is_empty()).then(|| format!("127.0.0.1:{port}"))
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Pins every thread of this process to core 1 (`taskset -a -p`); threads started later
/// inherit it from the thread that starts them. False when taskset fails.
pub fn pin_self_to_core_1() -> bool {
    Command::new("taskset")
        .args(["-a", "-p", "-c", "1", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The sum of a counter over the series of `name` whose labels contain every one of `labels`
/// (`key="value"`).
pub fn sum(metrics: &BTreeMap<String, f64>, name: &str, labels: &[&str]) -> f64 {
    metrics
        .iter()
        .filter(|(series, _)| {
            series.split('{').next() == Some(name) && labels.iter().all(|l| series.contains(l))
        })
        .map(|(_, v)| v)
        .sum()
}

/// The value of label `key` in a series name.
pub fn label<'a>(series: &'a str, key: &str) -> Option<&'a str> {
    let start = series.find(&format!("{key}=\""))? + key.len() + 2;
    let len = series[start..].find('"')?;
    Some(&series[start..start + len])
}
