//! Broker faults leave nothing behind: after 10 cycles of each fault (a broker that accepts and
//! never answers, live connections cut, a broker down and back), this process has no more
//! threads and file descriptors than before, the proxy sees at most one connection per
//! endpoint, and refused connects keep no memory. A test binary of its own, with one test, so
//! that the threads, descriptors and memory counted from /proc/self belong to this test alone.

#[allow(dead_code)]
#[path = "../e2e/support/mod.rs"]
mod support;

use std::time::Duration;

use lagscale::config::Config;
use lagscale::proto::ScaledObjectRef;
use lagscale::proto::external_scaler_client::ExternalScalerClient;
use lagscale::source::SourceKind;
use support::kafka::{Kafka, unique};
use support::proxy::{Mode, Proxy};
use support::rabbit::TestQueue;
use support::{TestServer, clusters, config, eventually, metrics_request, rss_mib, so};
use tonic::Code;
use tonic::transport::Channel;

const CYCLES: usize = 10;

/// What this process holds, from /proc/self.
#[derive(Debug, Clone)]
struct Held {
    threads: usize,
    lapin_threads: usize,
    /// What each open descriptor is: a TCP socket as its /proc/net/tcp line, else the link.
    descriptors: Vec<String>,
}

impl Held {
    fn now() -> Held {
        let threads: Vec<String> = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .collect();
        let tcp = std::fs::read_to_string("/proc/self/net/tcp").unwrap_or_default();
        let describe = |target: String| {
            let inode = target.strip_prefix("socket:[")?.strip_suffix(']')?;
            let line = tcp
                .lines()
                .find(|l| l.split_whitespace().nth(9) == Some(inode))?;
            Some(
                line.split_whitespace()
                    .skip(1)
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        };
        let descriptors = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .map(|target| target.display().to_string())
            .map(|target| describe(target.clone()).unwrap_or(target))
            .collect();
        Held {
            lapin_threads: threads
                .iter()
                .filter(|t| t.trim() == "lapin-io-loop")
                .count(),
            threads: threads.len(),
            descriptors,
        }
    }

    fn within(&self, before: &Held) -> bool {
        self.threads <= before.threads
            && self.lapin_threads <= before.lapin_threads
            && self.descriptors.len() <= before.descriptors.len()
    }
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Waits until this process holds no more threads, lapin I/O threads and descriptors than
/// `before` (threads of tokio's blocking pool and sockets being closed go away shortly after
/// their work ends), or fails the test, naming the descriptors that were not there before.
async fn back_to(before: &Held, after: &str) {
    let mut now = Held::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !now.within(before) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        now = Held::now();
    }
    let new: Vec<&String> = now
        .descriptors
        .iter()
        .filter(|d| !before.descriptors.contains(d))
        .collect();
    assert!(
        now.within(before),
        "after {after}: {} threads ({} lapin I/O), {} descriptors; before: {} ({}), {}; \
         new descriptors: {new:?}",
        now.threads,
        now.lapin_threads,
        now.descriptors.len(),
        before.threads,
        before.lapin_threads,
        before.descriptors.len(),
    );
}

async fn metric(
    client: &mut ExternalScalerClient<Channel>,
    so: &ScaledObjectRef,
) -> Result<f64, Code> {
    client
        .get_metrics(metrics_request(so.clone(), ""))
        .await
        .map(|r| r.into_inner().metric_values[0].metric_value_float)
        .map_err(|s| s.code())
}

async fn failing(client: &mut ExternalScalerClient<Channel>, so: &ScaledObjectRef) {
    let code = eventually(Duration::from_secs(10), "an error during the fault", || {
        let mut client = client.clone();
        async move { metric(&mut client, so).await.err() }
    })
    .await;
    assert!(
        matches!(code, Code::Unavailable | Code::DeadlineExceeded),
        "{code:?}"
    );
}

async fn answers(client: &mut ExternalScalerClient<Channel>, so: &ScaledObjectRef, want: f64) {
    let value = eventually(Duration::from_secs(30), "an answer after the fault", || {
        let mut client = client.clone();
        async move { metric(&mut client, so).await.ok() }
    })
    .await;
    assert_eq!(value, want);
}

/// One server reading `queue` through `proxy` (a profile, as in production).
async fn rabbit_server(proxy: &Proxy, queue: &TestQueue) -> (TestServer, ScaledObjectRef) {
    let uri = format!("amqp://guest:guest@{}/%2f", proxy.addr);
    let server = TestServer::start(Config {
        clusters: clusters(&[("main", &uri)]),
        broker_connect_timeout_ms: 300,
        broker_query_timeout_ms: 300,
        ..config()
    })
    .await;
    let so = so(
        "orders",
        &[
            ("source", "rabbitmq"),
            ("cluster", "main"),
            ("queueName", queue.name.as_str()),
        ],
    );
    (server, so)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_faults_leave_nothing_behind() {
    let queue = TestQueue::new("leaks").await;
    queue.publish(3).await;
    amqp_blackhole(&queue).await;
    amqp_cut_down_and_blackhole_cycles(&queue).await;
    amqp_refused_connects_keep_no_memory().await;
    kafka_blackhole().await;
    queue.delete().await;
}

/// Connects the broker swallows: each is torn down (socket, lapin's I/O thread) when the
/// connect timeout ends it.
async fn amqp_blackhole(queue: &TestQueue) {
    let proxy = Proxy::start("127.0.0.1:5672".parse().unwrap()).await;
    proxy.set_mode(Mode::Blackhole);
    let (server, so) = rabbit_server(&proxy, queue).await;
    let mut client = server.client().await;
    // The first connect sets up what lives as long as the process.
    swallowed_connect(&proxy, &mut client, &so).await;
    let before = Held::now();
    for _ in 0..CYCLES {
        swallowed_connect(&proxy, &mut client, &so).await;
    }
    back_to(&before, "connects to a blackhole").await;
    assert_eq!(proxy.open(), 0, "connections left open in the blackhole");
}

/// Calls until one more connect has reached the blackhole (between connects, the backoff
/// answers the last error), then until a call fails after it.
async fn swallowed_connect(
    proxy: &Proxy,
    client: &mut ExternalScalerClient<Channel>,
    so: &ScaledObjectRef,
) {
    let accepted = proxy.accepted();
    eventually(
        Duration::from_secs(10),
        "a connect into the blackhole",
        || {
            let mut client = client.clone();
            async move {
                let failed = metric(&mut client, so).await.is_err();
                (failed && proxy.accepted() > accepted).then_some(())
            }
        },
    )
    .await;
    failing(client, so).await;
}

/// A working connection, then 10 cycles each of: live connections cut; the broker down (new
/// connections closed at once) and back; the broker swallowing connects and back. After each
/// kind, one connection through the proxy, and no more threads and descriptors than after its
/// first cycle (which sets up what lives as long as the process: async-compat's fallback
/// runtime, created when lapin's thread drops its socket).
async fn amqp_cut_down_and_blackhole_cycles(queue: &TestQueue) {
    let proxy = Proxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let (server, so) = rabbit_server(&proxy, queue).await;
    let mut client = server.client().await;
    answers(&mut client, &so, 3.0).await;
    let faults: [(&str, Mode); 3] = [
        ("cut", Mode::Pass),
        ("down and back", Mode::Down),
        ("blackhole and back", Mode::Blackhole),
    ];
    for (fault, mode) in faults {
        let mut before = None;
        for _ in 0..=CYCLES {
            if mode == Mode::Pass {
                proxy.sever();
            } else {
                proxy.set_mode(mode);
                failing(&mut client, &so).await;
                proxy.set_mode(Mode::Pass);
            }
            answers(&mut client, &so, 3.0).await;
            before.get_or_insert_with(Held::now);
        }
        back_to(&before.unwrap(), fault).await;
        eventually(Duration::from_secs(30), "one connection", || async {
            (proxy.open() == 1).then_some(())
        })
        .await;
        assert_eq!(server.scaler.sources().rabbitmq_connections().await, 1);
    }
}

/// Thousands of connects the broker refuses keep no memory. 2,000 triggers on one closed port,
/// each with a vhost of its own (so each has a connection of its own, with its own backoff,
/// and each call is a connect the broker refuses), are called twice over, their connections
/// closed as idle after each round. The second round keeps less than 2 MiB and no task more
/// than the first left (which filled the parsed-trigger memo).
async fn amqp_refused_connects_keep_no_memory() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let uri = format!("amqp://guest:guest@{closed}/%2f");
    let server = TestServer::start(Config {
        clusters: clusters(&[("main", &uri)]),
        idle_client_ttl_ms: 1,
        ..config()
    })
    .await;
    let triggers: Vec<ScaledObjectRef> = (0..2_000)
        .map(|i| {
            let vhost = format!("v{i}");
            so(
                "orders",
                &[
                    ("source", "rabbitmq"),
                    ("cluster", "main"),
                    ("queueName", "q"),
                    ("vhostName", vhost.as_str()),
                ],
            )
        })
        .collect();
    let client = server.client().await;
    let before = Held::now();
    let round = || {
        let (mut client, triggers) = (client.clone(), &triggers);
        let sources = server.scaler.sources();
        async move {
            for so in triggers {
                assert_eq!(metric(&mut client, so).await, Err(Code::Unavailable));
            }
            eventually(
                Duration::from_secs(30),
                "idle connections closed",
                || async { (sources.clients(SourceKind::Rabbitmq) == 0).then_some(()) },
            )
            .await;
        }
    };
    round().await;
    let (warm, tasks) = (rss_mib(), alive_tasks());
    round().await;
    let grown = rss_mib() - warm;
    assert!(grown < 2.0, "2,000 refused connects kept {grown:.1} MiB");
    assert!(
        alive_tasks() <= tasks + 2,
        "2,000 refused connects left {} tasks running",
        alive_tasks() - tasks
    );
    back_to(&before, "refused connects").await;
}

/// Our Kafka client: a bootstrap broker that swallows connects leaves no socket behind.
async fn kafka_blackhole() {
    let kafka = Kafka::start();
    let proxy = Proxy::start(
        kafka
            .bootstrap()
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap(),
    )
    .await;
    proxy.set_mode(Mode::Blackhole);
    let server = TestServer::start(Config {
        broker_connect_timeout_ms: 300,
        broker_query_timeout_ms: 300,
        ..config()
    })
    .await;
    let (group, topic) = (unique("leaks"), kafka.topic(1));
    let bootstrap = proxy.addr.to_string();
    let so = so(
        "billing",
        &[
            ("source", "kafka"),
            ("bootstrapServers", bootstrap.as_str()),
            ("consumerGroup", group.as_str()),
            ("topic", topic.as_str()),
        ],
    );
    let mut client = server.client().await;
    client.get_metric_spec(so.clone()).await.unwrap();
    let before = Held::now();
    for _ in 0..CYCLES {
        failing(&mut client, &so).await;
    }
    back_to(&before, "Kafka connects to a blackhole").await;
    assert_eq!(
        proxy.open(),
        0,
        "Kafka connections left open in the blackhole"
    );
}
