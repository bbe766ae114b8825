//! `replicaThroughput: auto` against real brokers: consumers working at a known rate through a
//! backlog, and the rate one of them processes learned from the broker's own answers (the
//! RabbitMQ management API's acknowledged count and consumer count; a Kafka group's members
//! from DescribeGroups on tansu, and their committed offsets). librdkafka's mock cluster does
//! not answer DescribeGroups: there the trigger says so.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lagscale::scaler::Scaler;
use lagscale::strategy::replica_rate::{Learned, Skipped};
use lagscale::trigger::TriggerSpec;

use crate::support::kafka::{Kafka, unique};
use crate::support::{TestServer, config, eventually, metrics_request, so};

fn map(pairs: &[(&str, String)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// What the scaler has learned for `spec` now (the call also feeds the learner).
async fn learned(scaler: &Arc<Scaler>, spec: &TriggerSpec) -> Option<Learned> {
    let evaluation = scaler.evaluate(spec).await.ok()?;
    scaler.metric(spec, &evaluation, None).await.ok()?.learned
}

/// Polls until `windows` busy windows are learned; returns what was learned then.
async fn learn(
    scaler: &Arc<Scaler>,
    spec: &TriggerSpec,
    windows: usize,
    within: Duration,
) -> Learned {
    eventually(within, "busy windows to be learned", || async {
        learned(scaler, spec)
            .await
            .filter(|l| l.windows >= windows && l.estimate.is_some())
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn rabbitmq_consumers_at_a_known_rate() {
    use lagscale::config::Config;
    use lagscale::source::ClusterProfile;
    use lagscale::source::rabbitmq::management::ManagementUrl;
    use lagscale::source::rabbitmq::{AmqpUri, RabbitmqProfile};

    use crate::support::rabbit::{TestQueue, management_url, uri};

    let queue = TestQueue::new("auto").await;
    queue.publish(9_000).await;
    // Three consumers at 20 messages/s each: the truth is 20.
    let mut consumers = Vec::new();
    for _ in 0..3 {
        consumers.push(queue.consume_at(20.0).await);
    }
    let profile = RabbitmqProfile::new(
        AmqpUri::parse(&uri()).unwrap(),
        Some(ManagementUrl::parse(&management_url()).unwrap()),
    );
    let config = Config {
        clusters: [("main".to_owned(), ClusterProfile::Rabbitmq(profile))].into(),
        ..config()
    };
    let server = TestServer::start(config).await;
    let metadata = map(&[
        ("source", "rabbitmq".to_owned()),
        ("cluster", "main".to_owned()),
        ("queueName", queue.name.clone()),
        ("metric", "throughput".to_owned()),
        ("replicaThroughput", "auto".to_owned()),
        ("rateWindowSecs", "40".to_owned()),
    ]);
    let spec = server.scaler.trigger(&metadata).unwrap();
    // Windows of 40 s, one per 40 s, the first after 20 s: three in about 100 s. The
    // management plugin refreshes its counts every 5 s, so a window is off by up to 5 s of
    // work at each end; the median of three is within 12.5 %.
    let learned = learn(&server.scaler, &spec, 3, Duration::from_secs(180)).await;
    let rate = learned.estimate.unwrap();
    println!("learned {rate:.2}/s per consumer for 20/s: {learned:?}");
    assert!((rate - 20.0).abs() <= 0.15 * 20.0, "{learned:?}");
    assert_eq!(learned.consumers, Some(3));

    // `lagscale check` watches the consumers for a window (10 s here) and says what it knows:
    // a window or two, still learning, and who consumes.
    let http = format!("{}/%2F", management_url());
    let check = [
        ("source", "rabbitmq"),
        ("protocol", "http"),
        ("host", http.as_str()),
        ("queueName", queue.name.as_str()),
        ("metric", "throughput"),
        ("replicaThroughput", "auto"),
        ("rateWindowSecs", "10"),
    ];
    let out = crate::support::run_check(&[], &[], &check).await;
    assert!(
        out.contains("replica:     learning (")
            && out.contains("of 3 busy windows); until then")
            && out.contains("; 3 consumers"),
        "{out}"
    );
    for consumer in consumers {
        consumer.abort();
    }
    queue.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mock_kafka_cannot_say_who_consumes() {
    let kafka = Kafka::start();
    let topic = kafka.topic(2);
    let group = unique("auto");
    kafka.produce(&topic, &[0, 1], 50);
    kafka.commit(&group, &topic, &[(0, 10), (1, 10)]);
    let server = TestServer::start(config()).await;
    let client = server.client().await;
    let bootstrap = kafka.bootstrap();
    let metadata = [
        ("source", "kafka"),
        ("bootstrapServers", bootstrap.as_str()),
        ("consumerGroup", group.as_str()),
        ("topic", topic.as_str()),
        ("metric", "throughput"),
        ("replicaThroughput", "auto"),
    ];
    let error = eventually(Duration::from_secs(20), "the lasting error", || {
        let mut client = client.clone();
        let request = metrics_request(so("auto", &metadata), "");
        async move {
            let error = client.get_metrics(request).await.err()?;
            (error.code() == tonic::Code::FailedPrecondition).then_some(error)
        }
    })
    .await;
    assert!(
        error.message().contains("does not say who consumes")
            && error.message().contains("replicaThroughputInitial"),
        "{}",
        error.message()
    );
    // With a starting rate it serves, in percent of that rate: 80 waiting over 120 s, at 10/s
    // a replica.
    let mut with_initial = metadata.to_vec();
    with_initial.push(("replicaThroughputInitial", "10"));
    let value = crate::support::served_value(client.clone(), "auto", &with_initial).await;
    assert!(
        (value - 80.0 / 120.0 / 10.0 * 100.0).abs() < 0.01,
        "{value}"
    );
}

/// A group member on `topic` that processes one message every `1 / rate` seconds (never
/// catching up after a pause), committing every second, until `stop`. The pacing sleeps are
/// the member's work, not a wait for the test.
fn member(
    bootstrap: String,
    group: String,
    topic: String,
    rate: f64,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    use rdkafka::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use std::sync::atomic::Ordering;
    use std::time::Instant;
    std::thread::spawn(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", &group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("max.partition.fetch.bytes", "4096")
            .create()
            .unwrap();
        consumer.subscribe(&[&topic]).unwrap();
        let period = Duration::from_secs_f64(1.0 / rate);
        let mut due = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
                due = (due + period).max(Instant::now());
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
        }
    })
}

/// On tansu, a real Kafka implementation that answers DescribeGroups (with the members, not
/// their assignments): two members at 20 messages/s on two partitions with a backlog; the rate
/// is learned; a third member joins (a rebalance; it gets no partition) and the estimate does
/// not jump; a group that keeps up teaches nothing.
#[tokio::test(flavor = "multi_thread")]
async fn tansu_members_at_a_known_rate() {
    use std::sync::atomic::{AtomicBool, Ordering};

    if std::env::var_os("LAGSCALE_TANSU").is_none() {
        eprintln!("tansu: skipped (LAGSCALE_TANSU not set)");
        return;
    }
    let tansu = crate::support::tansu::Tansu::start_with("memory://tansu/").unwrap();
    let (busy_topic, idle_topic) = (unique("auto-busy"), unique("auto-idle"));
    tansu.create_topic(&busy_topic, 2).await;
    tansu.create_topic(&idle_topic, 1).await;
    for partition in 0..2 {
        tansu.produce(&busy_topic, partition, 3_000);
    }
    tansu.produce(&idle_topic, 0, 10);
    let bootstrap = tansu.bootstrap_servers();
    let (group, idle_group) = (unique("auto-members"), unique("auto-idle"));
    let stop = Arc::new(AtomicBool::new(false));
    let start = |group: &str, topic: &str| {
        member(
            bootstrap.clone(),
            group.to_owned(),
            topic.to_owned(),
            20.0,
            stop.clone(),
        )
    };
    let mut members = vec![start(&group, &busy_topic), start(&group, &busy_topic)];
    members.push(start(&idle_group, &idle_topic));

    let server = TestServer::start(config()).await;
    let trigger = |group: &str, topic: &str| {
        map(&[
            ("source", "kafka".to_owned()),
            ("bootstrapServers", bootstrap.clone()),
            ("consumerGroup", group.to_owned()),
            ("topic", topic.to_owned()),
            ("metric", "throughput".to_owned()),
            ("replicaThroughput", "auto".to_owned()),
            ("rateWindowSecs", "20".to_owned()),
        ])
    };
    let spec = server
        .scaler
        .trigger(&trigger(&group, &busy_topic))
        .unwrap();
    let idle = server
        .scaler
        .trigger(&trigger(&idle_group, &idle_topic))
        .unwrap();
    let first = learn(&server.scaler, &spec, 3, Duration::from_secs(120)).await;
    let rate = first.estimate.unwrap();
    println!("learned {rate:.2}/s per member for 20/s: {first:?}");
    assert!((rate - 20.0).abs() <= 0.10 * 20.0, "{first:?}");
    assert_eq!(first.consumers, Some(2));

    // A third member: the group rebalances; the windows around it are discarded, and the
    // member without a partition does not dilute the rate.
    members.push(start(&group, &busy_topic));
    let mut estimates = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let after = loop {
        if let Some(now) = learned(&server.scaler, &spec).await {
            estimates.extend(now.estimate);
            if now.windows >= first.windows + 3 {
                break now;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "three more windows within 120 s: {estimates:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("after the join: {after:?}");
    let group_now = server.scaler.sources().members(spec.query()).await.unwrap();
    assert_eq!(
        group_now.map(|g| g.members.len()),
        Some(3),
        "the third member joined"
    );
    assert!(
        estimates.iter().all(|e| (e - 20.0).abs() <= 0.10 * 20.0),
        "{estimates:?}"
    );
    let idle = eventually(Duration::from_secs(30), "the idle group's windows", || {
        let (scaler, idle) = (server.scaler.clone(), idle.clone());
        async move {
            learned(&scaler, &idle)
                .await
                .filter(|l| l.windows > 0 || l.last_skip == Some(Skipped::Idle))
        }
    })
    .await;
    assert_eq!(
        (idle.windows, idle.estimate, idle.last_skip),
        (0, None, Some(Skipped::Idle)),
        "{idle:?}"
    );
    stop.store(true, Ordering::Relaxed);
    for member in members {
        member.join().unwrap();
    }
}
