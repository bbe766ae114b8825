//! `lagscale demo`: lagscale scaling real consumers, in one process, with one command.
//!
//! A closed loop per policy of a scenario (a `lagscale simulate` file: the built-in
//! `demo.yaml`, or `--scenario FILE`), all on librdkafka's in-process mock Kafka cluster
//! ([`mock_kafka`], which the tests and benches use too, as `lagscale::mock_kafka`):
//! - one producer writes the scenario's arrivals to one topic (`traffic.rs`);
//! - each policy has its own consumer group on that topic, whose members are real rdkafka
//!   consumers processing at the scenario's rate, started and stopped as pods would be
//!   (`workload.rs`): joins and leaves are real rebalances of the group protocol;
//! - each group has KEDA and the HPA emulated (`emulation.rs`), asking the demo's lagscale
//!   server over gRPC exactly as KEDA does and setting the group's pods with the simulator's
//!   HPA code.
//!
//! `--speed N` replays N scenario seconds per wall second, and each record stands for N
//! messages ([`Compression`]): the load on the machine stays that of the scenario at speed 1
//! while every duration (KEDA's polling and cooldown, the HPA's sync, windows and periods,
//! start-up, lagscale's rate windows and cache) shrinks N times. Rebalances are not scaled:
//! they take what the group protocol takes, with heartbeats scaled like the rest.
//!
//! Once a wall second it prints the arrivals and each policy's pods, lag and served metric;
//! at the end (or on Ctrl-C) `simulate`'s summary table.

mod emulation;
#[allow(unsafe_code)] // the crate's one exception (see the module)
pub mod mock_kafka;
pub mod scenario;
mod table;
mod traffic;
mod workload;

use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::time::MissedTickBehavior;
use tonic::transport::Channel;

pub use self::emulation::{Answer, HpaSync};
use self::emulation::{Emulation, LabReplicas};
use self::mock_kafka::MockBrokers;
use self::workload::{MemberSpec, Workload};
use crate::commands::simulate::outcome::{Outcome, Tally};
use crate::compression::Compression;
use crate::proto::external_scaler_client::ExternalScalerClient;
use crate::scaler::Scaler;

/// What to run.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub listen: SocketAddr,
    /// Stop after this much wall time.
    pub duration: Option<Duration>,
    /// A `lagscale simulate` file; the built-in scenario when `None`.
    pub scenario: Option<PathBuf>,
    /// Scenario seconds per wall second.
    pub speed: u32,
    /// Run this policy only.
    pub policy: Option<String>,
    /// Where the logs go (for the header).
    pub log: Option<PathBuf>,
}

/// What one policy's loop did.
#[derive(Debug, Clone)]
pub struct PolicyRun {
    pub outcome: Outcome,
    /// lagscale's answers to KEDA's calls, in order.
    pub answers: Vec<Answer>,
    /// The HPA's syncs, with what lagscale served.
    pub syncs: Vec<HpaSync>,
    pub members_started: usize,
    /// The members (by start order) the group assigned partitions to.
    pub joined: Vec<usize>,
    /// Scenario seconds from each joined member's start to its first assignment.
    pub join_secs: Vec<f64>,
    /// Fetch positions librdkafka reset after the mock refused a fetch as out of range.
    pub offset_resets: u64,
    /// Messages never processed because a reset jumped over them.
    pub skipped_messages: u64,
    /// Failed calls to lagscale: scenario second and message.
    pub errors: Vec<(u64, String)>,
}

/// Why the demo stopped early.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo set-up: {0}")]
    Setup(String),
    #[error("{0}")]
    Scenario(String),
    #[error("cannot listen on {addr}: {error}")]
    Listen { addr: SocketAddr, error: io::Error },
    #[error("cannot print: {0}")]
    Output(#[from] io::Error),
}

/// Runs the scenario until its end, `options.duration`, or `shutdown`; prints as it goes and
/// returns what each policy did.
pub async fn run(
    options: &DemoOptions,
    shutdown: impl Future<Output = ()>,
    out: &mut impl Write,
) -> Result<Vec<PolicyRun>, DemoError> {
    let sim = scenario::load(options.scenario.as_deref())?;
    let policies = scenario::policies(&sim, options.policy.as_deref())?;
    for name in sim
        .policies
        .iter()
        .filter(|(_, p)| scenario::learns(p))
        .map(|(n, _)| n)
    {
        if options.policy.is_none() {
            writeln!(
                out,
                "policy {name} left out: replicaThroughput: auto counts the group's members with \
                 DescribeGroups, which the mock cluster does not answer"
            )?;
        }
    }
    // One broker: every member then keeps one fetcher, not one per broker (many members on
    // two cores); lagscale's client and the group protocol work the same.
    let brokers = MockBrokers::start(1).map_err(DemoError::Setup)?;
    let partitions = i32::try_from(sim.consumers.partitions).unwrap_or(i32::MAX);
    brokers
        .create_topic(scenario::TOPIC, partitions, 1)
        .map_err(DemoError::Setup)?;
    let bootstrap = brokers.bootstrap_servers();
    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(|error| DemoError::Listen {
            addr: options.listen,
            error,
        })?;
    let addr = listener.local_addr()?;

    let compression = Compression::new(options.speed);
    let replicas = Arc::new(LabReplicas::default());
    let scaler = Scaler::compressed(
        scenario::config(&compression),
        replicas.clone(),
        compression,
    );
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::server::serve(listener, None, scaler, async {
        let _ = server_stopped.await;
    }));
    let mut emulations = Vec::new();
    let mut triggers = Vec::new();
    for (name, policy) in &policies {
        let metadata = scenario::trigger(name, policy, &bootstrap)?;
        triggers.push((name.clone(), policy.clone(), metadata.clone()));
        let members = MemberSpec {
            bootstrap: bootstrap.clone(),
            topic: scenario::TOPIC.to_owned(),
            group: scenario::group(name),
            rate: sim.consumers.messages_per_sec_per_replica,
            startup_secs: sim.consumers.startup_secs,
            rebalance_pause_secs: sim.consumers.rebalance_pause_secs,
            partitions: sim.consumers.partitions,
        };
        let workload = Workload::new(members, compression).map_err(DemoError::Setup)?;
        let lab = (replicas.clone(), compression);
        emulations.push(Emulation::new(
            name, policy, metadata, &sim.keda, workload, lab,
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let produced = Arc::new(traffic::Produced::default());
    let producer = traffic::spawn_producer(
        &bootstrap,
        scenario::TOPIC.to_owned(),
        &sim,
        compression,
        produced.clone(),
        stop.clone(),
    )
    .map_err(DemoError::Setup)?;

    let title = match &options.scenario {
        Some(path) => path.display().to_string(),
        None => "the built-in scenario (src/commands/demo/demo.yaml)".to_owned(),
    };
    table::header(
        out,
        (&title, &sim),
        compression.speed(),
        (addr, options.log.as_deref()),
        &triggers,
    )?;
    let channel = Channel::from_shared(format!("http://{addr}"))
        .map_err(|e| DemoError::Setup(e.to_string()))?
        .connect()
        .await
        .map_err(|e| DemoError::Setup(format!("cannot reach the demo server: {e}")))?;
    let mut client = ExternalScalerClient::new(channel);
    let mut tallies: Vec<Tally> = emulations
        .iter()
        .map(|e| {
            let per_replica = sim.consumers.messages_per_sec_per_replica;
            Tally::new(&e.name, sim.duration_secs, sim.slo_lag, per_replica)
        })
        .collect();
    let looped = drive(
        (&mut emulations, &mut tallies),
        &mut client,
        (&produced, &compression, sim.duration_secs),
        options.duration,
        shutdown,
        out,
    )
    .await;

    // Everything stops in order: the producer, the members (each leaves its group), the
    // server, then the cluster they all talk to.
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || producer.join()).await;
    let mut runs = Vec::new();
    for (emulation, tally) in emulations.into_iter().zip(tallies) {
        let joins = emulation.workload.counters.joins();
        let joined = joins.iter().map(|(member, _)| *member).collect();
        let speed = f64::from(compression.speed());
        let join_secs = joins
            .iter()
            .map(|(_, wall)| wall.as_secs_f64() * speed)
            .collect();
        let members_started = emulation.workload.members_started();
        let changes = emulation.workload.member_changes;
        let outcome = tally.finish(emulation.replica_changes, changes);
        let (answers, syncs, errors) = (emulation.answers, emulation.syncs, emulation.errors);
        let counters = &emulation.workload.counters;
        let offset_resets = counters.resets.load(Ordering::Relaxed);
        let skipped = counters.skipped.load(Ordering::Relaxed) as i64;
        let skipped_messages = compression.messages(skipped).unsigned_abs();
        let workload = emulation.workload;
        let _ = tokio::task::spawn_blocking(move || workload.stop(Duration::from_secs(10))).await;
        runs.push(PolicyRun {
            outcome,
            answers,
            syncs,
            members_started,
            joined,
            join_secs,
            offset_resets,
            skipped_messages,
            errors,
        });
    }
    drop(client);
    let _ = stop_server.send(());
    let _ = server.await;
    drop(brokers);
    table::summary(out, &runs, looped?)?;
    Ok(runs)
}

/// The loop: every scenario second, each emulation does what is due and each policy's second
/// is counted; every wall second, a status line. Returns whether the scenario ran to its end.
async fn drive(
    (emulations, tallies): (&mut [Emulation], &mut [Tally]),
    client: &mut ExternalScalerClient<Channel>,
    (produced, compression, duration_secs): (&traffic::Produced, &Compression, u64),
    limit: Option<Duration>,
    shutdown: impl Future<Output = ()>,
    out: &mut impl Write,
) -> Result<bool, DemoError> {
    let started = Instant::now();
    let mut ticker = tokio::time::interval(compression.wall(Duration::from_secs(1)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let (mut counted, mut printed) = (0u64, 0u64);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(false),
            _ = ticker.tick() => {}
        }
        if limit.is_some_and(|limit| started.elapsed() >= limit) {
            return Ok(false);
        }
        let t = compression.elapsed().as_secs().min(duration_secs);
        let records = produced.records.load(Ordering::Relaxed);
        for (emulation, tally) in emulations.iter_mut().zip(tallies.iter_mut()) {
            emulation
                .advance(client, t)
                .await
                .map_err(DemoError::Setup)?;
            let backlog = (records as i64 - emulation.workload.counters.done()).max(0);
            let lag = compression.messages(backlog) as f64;
            for second in counted..t {
                tally.second(second, produced.rate(), lag, emulation.workload.replicas());
            }
        }
        counted = counted.max(t);
        let wall = started.elapsed().as_secs();
        if wall > printed || t >= duration_secs {
            printed = wall;
            let statuses: Vec<table::Status> = emulations
                .iter()
                .map(|e| {
                    let backlog = (records as i64 - e.workload.counters.done()).max(0);
                    table::Status {
                        replicas: e.workload.replicas(),
                        lag: compression.messages(backlog) as f64,
                        served: e.served,
                    }
                })
                .collect();
            table::line(out, t, produced.rate(), &statuses)?;
        }
        if t >= duration_secs {
            return Ok(true);
        }
    }
}
