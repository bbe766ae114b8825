//! The `lagscale` binary: parses the command line and hands over to the library.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lagscale::config::Config;
use lagscale::scaler::Scaler;

/// mimalloc: a gRPC call allocates and frees a few dozen small blocks (the request's metadata
/// map, HTTP/2 frames and headers), which glibc's allocator made about a tenth of the server's
/// CPU time (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A KEDA external scaler that serves queue lag, raw or log2-transformed.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// lagscale's config file (YAML). Without one, built-in defaults apply.
    #[arg(long, global = true, env = "LAGSCALE_CONFIG")]
    config: Option<PathBuf>,
    /// Log line format (level from RUST_LOG, default info).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "LAGSCALE_LOG_FORMAT"
    )]
    log_format: lagscale::telemetry::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// See lagscale scale real consumers: an in-process Kafka, a producer, and per policy a
    /// consumer group whose members KEDA and the HPA (emulated, asking lagscale over gRPC)
    /// start and stop; one status line a second, then a summary. Logs go to a file.
    Demo {
        /// Listen address of the demo's gRPC server.
        #[arg(long, default_value = "127.0.0.1:6000")]
        listen: SocketAddr,
        /// Stop after this many wall seconds (for scripts).
        #[arg(long, value_name = "SECONDS")]
        duration: Option<u64>,
        /// Replay this `lagscale simulate` file instead of the built-in scenario.
        #[arg(long, value_name = "FILE")]
        scenario: Option<PathBuf>,
        /// Scenario seconds per wall second (each Kafka record then stands for this many
        /// messages).
        #[arg(long, default_value_t = lagscale::commands::demo::scenario::DEFAULT_SPEED,
              value_parser = clap::value_parser!(u32).range(1..=1000))]
        speed: u32,
        /// Run only this policy of the scenario.
        #[arg(long, value_name = "NAME")]
        policy: Option<String>,
    },
    /// Run the gRPC external scaler (the main job).
    Serve {
        /// Listen address; overrides the config file's listen_addr (default 0.0.0.0:6000).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Prometheus metrics address; overrides the config file's metrics_addr
        /// (default 0.0.0.0:9464).
        #[arg(long)]
        metrics_listen: Option<SocketAddr>,
    },
    /// Lint Kubernetes manifests: lagscale triggers of ScaledObjects and ScaledJobs.
    /// Exits with 1 when anything is an error.
    Validate {
        /// YAML files (several documents each are fine).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: ValidateFormat,
        /// Also ask the Kafka brokers of the config's profiles (or of inline bootstrapServers)
        /// for each topic's partitions, and warn when a ScaledObject's maxReplicaCount is above
        /// them. Needs --config.
        #[arg(long)]
        connect: bool,
    },
    /// Replay traffic through a model of consumers, KEDA and the HPA, once per policy, and
    /// compare the policies before production.
    ///
    /// FILE (YAML; keda-examples/simulate/diurnal.yaml is a complete one):
    ///   duration_secs   simulated time (default 86400); one step per second
    ///   seed            seed of the arrivals' noise (default 1): same seed, same run
    ///   arrivals        shape: diurnal | spike | steps | sawtooth, with low and high (messages/s),
    ///                   period_secs (diurnal, steps, sawtooth), at_secs and length_secs (spike),
    ///                   steps (steps); or shape: trace with file: a CSV of
    ///                   time_secs,messages_per_sec; noise: relative standard deviation
    ///                   (default 0; 0.15 is realistic)
    ///   consumers       messages_per_sec_per_replica, partitions (64), startup_secs (30),
    ///                   rebalance_pause_secs (10; 0 for queues), commit_interval_secs (5; 0:
    ///                   every message committed as processed), idle_cpu_percent (10: a ready
    ///                   replica's CPU with no work, for cpu triggers)
    ///   keda            polling_interval_secs (30), cooldown_period_secs (300),
    ///                   min_replica_count (0), max_replica_count (100)
    ///   slo_lag         the lag, in messages, above which time counts against the SLO
    ///   policies        name: {metricType: AverageValue | Value, metadata: trigger keys as in
    ///                   a ScaledObject (the source may be left out), behavior: the HPA's};
    ///                   or, for several triggers (the HPA takes the highest count), name:
    ///                   {triggers: [{metricType, metadata} | {type: cpu, targetUtilization:
    ///                   percent of the CPU request}], behavior}
    ///
    /// Prints, per policy: replica-hours, peak and p95 lag, time above slo_lag, time from the
    /// peak until the lag is one replica-second of work, replica changes and rebalances.
    ///
    /// A FILE with a `jobs` section is a ScaledJob (keda-examples/simulate/jobs.yaml):
    ///   jobs            messages_per_sec_per_job, prefetch (1), startup_secs (10),
    ///                   idle_exit_secs (30)
    ///   keda            polling_interval_secs (30), min_replica_count (0), max_replica_count
    ///                   (100)
    ///   policies        name: {scalingStrategy: {strategy: default | custom | accurate |
    ///                   eager, customScalingQueueLengthDeduction,
    ///                   customScalingRunningJobPercentage}, metadata}
    ///   arrivals        also shape: bursts, with messages, every_secs, at_secs (0)
    /// It prints job-hours, jobs started, peak jobs, p95 and peak depth, and burst drain times.
    #[command(verbatim_doc_comment)]
    Simulate {
        /// The simulation file.
        file: PathBuf,
        /// Also write the timeline (policy, time, arrivals, lag, replicas) as CSV here.
        #[arg(long, value_name = "PATH")]
        csv: Option<PathBuf>,
        /// Also draw lag, replicas and the replicas the arrivals need, one panel per policy, as
        /// SVG here.
        #[arg(long, value_name = "PATH")]
        svg: Option<PathBuf>,
    },
    /// Evaluate one trigger once and print spec, lag, metric and activity.
    Check {
        /// A trigger metadata entry, as in the ScaledObject (repeat for each key).
        #[arg(long = "set", value_name = "KEY=VALUE", required = true,
              value_parser = lagscale::commands::check::parse_key_value)]
        set: Vec<(String, String)>,
        /// The ScaledObject, for triggers that read its replicas (strategy: step,
        /// replicaAware). Uses the in-cluster service account or the kubeconfig.
        #[arg(long, value_name = "NAMESPACE/NAME", value_parser = lagscale::commands::check::parse_object)]
        scaled_object: Option<lagscale::replicas::ObjectRef>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ValidateFormat {
    /// One line per finding.
    Text,
    /// A JSON array of findings.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo's table owns the terminal: its logs go to a file (stderr if it cannot be made).
    let demo_log = match matches!(cli.command, Command::Demo { .. }) {
        true => demo_log_file(),
        false => None,
    };
    let demo_log = match demo_log {
        Some((path, file)) => {
            lagscale::telemetry::init_file(cli.log_format, file);
            Some(path)
        }
        None => {
            lagscale::telemetry::init(cli.log_format);
            None
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, demo_log)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", describe(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, demo_log: Option<PathBuf>) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve {
            listen,
            metrics_listen,
        } => {
            if let Some(listen) = listen {
                config.listen_addr = listen;
            }
            if let Some(metrics_listen) = metrics_listen {
                config.metrics_addr = Some(metrics_listen);
            }
            let addr = config.listen_addr;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
            let metrics = match config.metrics_addr {
                Some(addr) => Some(
                    tokio::net::TcpListener::bind(addr)
                        .await
                        .map_err(|e| anyhow::anyhow!("cannot serve metrics on {addr}: {e}"))?,
                ),
                None => None,
            };
            let scaler = Scaler::new(config);
            lagscale::server::serve(listener, metrics, scaler, shutdown_signal()).await?;
            Ok(())
        }
        Command::Demo {
            listen,
            duration,
            scenario,
            speed,
            policy,
        } => {
            let options = lagscale::commands::demo::DemoOptions {
                listen,
                duration: duration.map(std::time::Duration::from_secs),
                scenario,
                speed,
                policy,
                log: demo_log,
            };
            let mut out = std::io::stdout();
            lagscale::commands::demo::run(&options, shutdown_signal(), &mut out).await?;
            Ok(())
        }
        Command::Validate {
            files,
            format,
            connect,
        } => {
            if connect && cli.config.is_none() {
                anyhow::bail!(
                    "validate --connect needs --config: the brokers are those of its profiles"
                );
            }
            let clusters = cli.config.as_ref().map(|_| &config.clusters);
            let mut findings = Vec::new();
            let mut partition_checks = Vec::new();
            for file in &files {
                let report = lagscale::commands::validate::validate_file(file, clusters);
                findings.extend(report.findings);
                partition_checks.extend(report.partition_checks);
            }
            if connect {
                let scaler = Scaler::new(config);
                let checks = &partition_checks;
                findings.extend(
                    lagscale::commands::validate::partitions::check(checks, scaler.sources()).await,
                );
            }
            match format {
                ValidateFormat::Text => {
                    for finding in &findings {
                        println!("{finding}");
                    }
                }
                ValidateFormat::Json => println!("{}", serde_json::to_string_pretty(&findings)?),
            }
            let errors = findings
                .iter()
                .filter(|f| f.severity == lagscale::commands::validate::Severity::Error)
                .count();
            if errors > 0 {
                anyhow::bail!("{errors} error(s) in {} file(s)", files.len());
            }
            Ok(())
        }
        Command::Simulate { file, csv, svg } => {
            let mut out = std::io::stdout();
            lagscale::commands::simulate::command(&file, csv.as_deref(), svg.as_deref(), &mut out)
                .map_err(anyhow::Error::msg)?;
            Ok(())
        }
        Command::Check { set, scaled_object } => {
            let metadata: HashMap<String, String> = set.into_iter().collect();
            let scaler = Scaler::new(config);
            let object = scaled_object.as_ref();
            lagscale::commands::check::check(&scaler, &metadata, object, &mut std::io::stdout())
                .await?;
            Ok(())
        }
    }
}

/// A new log file for `lagscale demo`, in the temporary directory.
fn demo_log_file() -> Option<(PathBuf, std::fs::File)> {
    let path = std::env::temp_dir().join(format!("lagscale-demo-{}.log", std::process::id()));
    let file = std::fs::File::create(&path).ok()?;
    Some((path, file))
}

/// The error and its causes, each cause only where the message does not already include it.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text = format!("{text}: {inner_text}");
        }
        cause = inner.source();
    }
    text
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(e) => {
                    tracing::warn!("cannot listen for SIGTERM: {e}");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
