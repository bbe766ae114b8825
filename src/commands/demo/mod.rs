//! `lagscale demo`: everything in one process, to see lagscale work with one command.
//!
//! Starts librdkafka's in-process mock Kafka cluster ([`mock_kafka`], which the tests and
//! benches use too, as `lagscale::mock_kafka`; a real protocol implementation on 127.0.0.1),
//! a producer whose rate goes burst → decay → quiet, a consumer-group member that
//! processes at a fixed rate and commits as it goes, and the gRPC server. Once a second it asks
//! its own server, over gRPC like KEDA, for three triggers on that group — raw lag, log2 and
//! `metric: throughput` — and prints lag, the three metrics, the time lag (how long the backlog
//! takes to drain at the measured consumption rate) and activity, after printing the grpcurl
//! and `lagscale check` commands that query the same things from outside.

#[allow(unsafe_code)] // the crate's one exception (see the module)
pub mod mock_kafka;
mod traffic;

use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tonic::transport::Channel;

use self::mock_kafka::MockBrokers;
use crate::config::Config;
use crate::proto::external_scaler_client::ExternalScalerClient;
use crate::proto::{GetMetricsRequest, ScaledObjectRef};
use crate::scaler::Scaler;
use crate::strategy::rate::time_lag;

const TOPIC: &str = "orders";
const GROUP: &str = "orders-worker";
const PARTITIONS: i32 = 6;
/// Messages per second: producer when quiet and in a burst, and the consumer's fixed rate.
const QUIET: f64 = 20.0;
const BURST: f64 = 400.0;
const CONSUME: f64 = 150.0;

/// Why the demo stopped early.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo set-up: {0}")]
    Setup(String),
    #[error("cannot listen on {addr}: {error}")]
    Listen { addr: SocketAddr, error: io::Error },
    #[error("cannot print: {0}")]
    Output(#[from] io::Error),
}

/// The demo triggers: raw lag for AverageValue, log2 for Value, throughput for AverageValue.
fn triggers(bootstrap: &str) -> [(&'static str, Vec<(&'static str, String)>); 3] {
    let common = |extra: &[(&'static str, &str)]| {
        let mut pairs = vec![
            ("source", "kafka".to_owned()),
            ("bootstrapServers", bootstrap.to_owned()),
            ("consumerGroup", GROUP.to_owned()),
            ("topic", TOPIC.to_owned()),
        ];
        pairs.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        pairs
    };
    [
        ("orders-raw", common(&[("lagThreshold", "100")])),
        (
            "orders-log2",
            common(&[
                ("lagThreshold", "1000"),
                ("transform", "log2"),
                ("log2Multiplier", "7"),
            ]),
        ),
        (
            "orders-throughput",
            common(&[
                ("metric", "throughput"),
                ("replicaThroughput", "150"),
                ("drainSeconds", "60"),
                ("rateWindowSecs", "10"),
            ]),
        ),
    ]
}

/// Runs until `duration` has passed (if given) or `shutdown` completes.
pub async fn run(
    listen: SocketAddr,
    duration: Option<Duration>,
    shutdown: impl Future<Output = ()>,
    out: &mut impl Write,
) -> Result<(), DemoError> {
    let brokers = MockBrokers::start(3).map_err(DemoError::Setup)?;
    brokers
        .create_topic(TOPIC, PARTITIONS, 1)
        .map_err(DemoError::Setup)?;
    let bootstrap = brokers.bootstrap_servers();

    let listener = TcpListener::bind(listen)
        .await
        .map_err(|error| DemoError::Listen {
            addr: listen,
            error,
        })?;
    let addr = listener.local_addr()?;
    let config = Config {
        listen_addr: addr,
        metrics_addr: None,
        cache_ttl_ms: 1_000,
        ..Config::default()
    };
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let scaler = Scaler::new(config);
    let server = tokio::spawn(crate::server::serve(
        listener,
        None,
        scaler.clone(),
        async {
            let _ = server_stopped.await;
        },
    ));

    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(traffic::Counters::default());
    let threads = [
        traffic::spawn_producer(
            bootstrap.clone(),
            TOPIC.to_owned(),
            (QUIET, BURST),
            counters.clone(),
            stop.clone(),
        ),
        traffic::spawn_consumer(
            bootstrap.clone(),
            TOPIC.to_owned(),
            GROUP.to_owned(),
            CONSUME,
            counters.clone(),
            stop.clone(),
        ),
    ];

    let triggers = triggers(&bootstrap);
    print_intro(out, addr, &bootstrap, &triggers)?;
    let result = report(out, addr, &scaler, &triggers, &counters, duration, shutdown).await;

    stop.store(true, Ordering::Relaxed);
    for thread in threads.into_iter().flatten() {
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
    let _ = stop_server.send(());
    let _ = server.await;
    drop(brokers);
    result
}

fn print_intro(
    out: &mut impl Write,
    addr: SocketAddr,
    bootstrap: &str,
    triggers: &[(&str, Vec<(&str, String)>)],
) -> io::Result<()> {
    writeln!(out, "lagscale demo")?;
    writeln!(
        out,
        "  mock Kafka cluster (3 brokers): {bootstrap}, topic {TOPIC:?} with {PARTITIONS} partitions"
    )?;
    writeln!(
        out,
        "  producer: {BURST}/s for 15 s, decaying to {QUIET}/s, quiet for 20 s, repeating"
    )?;
    writeln!(
        out,
        "  consumer group {GROUP:?}: one member processing {CONSUME}/s, committing every 500 ms"
    )?;
    writeln!(
        out,
        "  gRPC external scaler: {addr} (health and reflection on)"
    )?;
    writeln!(out)?;
    writeln!(out, "Query it as KEDA would:")?;
    for (name, metadata) in triggers {
        let json_metadata: Vec<String> = metadata
            .iter()
            .map(|(k, v)| format!("\"{k}\":\"{v}\""))
            .collect();
        writeln!(
            out,
            "  grpcurl -plaintext -d '{{\"scaledObjectRef\":{{\"name\":\"{name}\",\"namespace\":\"demo\",\"scalerMetadata\":{{{}}}}}}}' {addr} externalscaler.ExternalScaler/GetMetrics",
            json_metadata.join(",")
        )?;
    }
    writeln!(out, "Or without the server:")?;
    // The path of this very binary, so the command works without `lagscale` on PATH.
    let program = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "lagscale".to_owned());
    for (_, metadata) in triggers {
        let sets: Vec<String> = metadata
            .iter()
            .map(|(k, v)| format!("--set {k}={v}"))
            .collect();
        writeln!(out, "  {program} check {}", sets.join(" "))?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "  time   produced/s consumed/s    lag | raw (target 100, AverageValue) | log2 (target {:.1}, Value) | throughput (target 150/s, AverageValue), time lag | active",
        7.0 * 1000f64.log2()
    )?;
    out.flush()
}

/// Prints one status line a second, from the server's own answers over gRPC.
async fn report(
    out: &mut impl Write,
    addr: SocketAddr,
    scaler: &Arc<Scaler>,
    triggers: &[(&str, Vec<(&str, String)>); 3],
    counters: &traffic::Counters,
    duration: Option<Duration>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DemoError> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .map_err(|e| DemoError::Setup(e.to_string()))?
        .connect()
        .await
        .map_err(|e| DemoError::Setup(format!("cannot reach the demo server: {e}")))?;
    let mut client = ExternalScalerClient::new(channel);
    let start = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut last = (0, 0);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = ticker.tick() => {}
        }
        let elapsed = start.elapsed();
        if duration.is_some_and(|d| elapsed > d) {
            break;
        }
        let now = (
            counters.produced.load(Ordering::Relaxed),
            counters.consumed.load(Ordering::Relaxed),
        );
        let (produced, consumed) = (now.0 - last.0, now.1 - last.1);
        last = now;
        let raw = metric(&mut client, triggers[0].0, &triggers[0].1).await;
        let log2 = metric(&mut client, triggers[1].0, &triggers[1].1).await;
        let throughput = metric(&mut client, triggers[2].0, &triggers[2].1).await;
        let active = client
            .is_active(scaled_object(triggers[0].0, &triggers[0].1))
            .await
            .map(|r| r.into_inner().result.to_string())
            .unwrap_or_else(|s| s.message().to_owned());
        let raw_text = match raw {
            Ok(v) => format!("{v:>8.1} → {:>3} replicas", (v / 100.0).ceil()),
            Err(e) => e,
        };
        let log2_text = match log2 {
            Ok(v) => format!("{v:>6.1} → replicas × {:.2}", v / (7.0 * 1000f64.log2())),
            Err(e) => e,
        };
        let throughput_text = match throughput {
            Ok(v) => format!(
                "{v:>7.1}/s → {:>3} replicas, {}",
                (v / 150.0).ceil(),
                burndown(scaler, &triggers[2].1).await
            ),
            Err(e) => e,
        };
        writeln!(
            out,
            "{:>5}s {produced:>11} {consumed:>10} {:>6} | {raw_text:>30} | {log2_text:>25} | {throughput_text:>40} | {active}",
            elapsed.as_secs(),
            now.0.saturating_sub(now.1),
        )?;
        out.flush()?;
    }
    Ok(())
}

/// The throughput trigger's time lag, from the rates the server measures.
async fn burndown(scaler: &Arc<Scaler>, metadata: &[(&str, String)]) -> String {
    let map = metadata
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let rates = async {
        let spec = scaler.trigger(&map).ok()?;
        let evaluation = scaler.evaluate(&spec).await.ok()?;
        let served = scaler.metric(&spec, &evaluation, None).await.ok()?;
        Some((evaluation.lag, served.rates?))
    };
    match rates.await {
        Some((lag, rates)) if rates.consume.is_some() => match time_lag(lag, &rates) {
            Some(secs) => format!("time lag {secs:>4.0} s"),
            None => "time lag never".to_owned(),
        },
        _ => "time lag (measuring)".to_owned(),
    }
}

fn scaled_object(name: &str, metadata: &[(&str, String)]) -> ScaledObjectRef {
    ScaledObjectRef {
        name: name.to_owned(),
        namespace: "demo".to_owned(),
        scaler_metadata: metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    }
}

async fn metric(
    client: &mut ExternalScalerClient<Channel>,
    name: &str,
    metadata: &[(&str, String)],
) -> Result<f64, String> {
    let request = GetMetricsRequest {
        scaled_object_ref: Some(scaled_object(name, metadata)),
        metric_name: String::new(),
    };
    match client.get_metrics(request).await {
        Ok(response) => Ok(response
            .into_inner()
            .metric_values
            .first()
            .map_or(0.0, |v| v.metric_value_float)),
        Err(status) => Err(format!("{:?}: {}", status.code(), status.message())),
    }
}
