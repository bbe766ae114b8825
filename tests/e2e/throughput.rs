//! `metric: throughput` end to end: a producer at a known rate, and GetMetrics converging to
//! produce rate + lag / drainSeconds, on the mock Kafka cluster (rates from sampled offsets)
//! and on the real RabbitMQ (rates from its management API).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::support::kafka::{Kafka, unique};
use crate::support::{
    TestServer, config, eventually, metrics_request, run_check, served_value, so,
};

const RATE: f64 = 200.0;

/// Produces about `RATE` messages a second, spread over 4 partitions, until `stop`. The
/// pacing sleeps are the traffic's clock, not a wait for the test.
fn produce_steadily(
    bootstrap: String,
    topic: String,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("linger.ms", "0")
            .create()
            .unwrap();
        let started = std::time::Instant::now();
        let mut sent = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let due = (started.elapsed().as_secs_f64() * RATE) as u64;
            while sent < due {
                let record = BaseRecord::<(), str>::to(&topic)
                    .partition((sent % 4) as i32)
                    .payload("m");
                if producer.send(record).is_ok() {
                    sent += 1;
                }
            }
            producer.poll(Duration::ZERO);
            std::thread::sleep(Duration::from_millis(5));
        }
        producer.flush(Duration::from_secs(5)).unwrap();
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn getmetrics_converges_to_rate_plus_lag_over_drain_seconds() {
    let kafka = Kafka::start();
    let topic = kafka.topic(4);
    let group = unique("throughput");
    kafka.commit(&group, &topic, &[(0, 0), (1, 0), (2, 0), (3, 0)]);
    let stop = Arc::new(AtomicBool::new(false));
    let producer = produce_steadily(kafka.bootstrap(), topic.clone(), stop.clone());

    let server = TestServer::start(config()).await;
    let client = server.client().await;
    let bootstrap = kafka.bootstrap();
    let metadata = [
        ("source", "kafka"),
        ("bootstrapServers", bootstrap.as_str()),
        ("consumerGroup", group.as_str()),
        ("topic", topic.as_str()),
        ("metric", "throughput"),
        ("replicaThroughput", "100"),
        ("drainSeconds", "100"),
        ("rateWindowSecs", "4"),
    ];
    let spec = server
        .scaler
        .trigger(
            &metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .unwrap();
    let target = client
        .clone()
        .get_metric_spec(so("t", &metadata))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(target.metric_specs[0].target_size_float, 100.0);
    // Within 25 % of 200/s + lag / 100, once a rate window has been sampled.
    let (served, expected) = eventually(
        Duration::from_secs(30),
        "the served value to converge",
        || {
            let scaler = server.scaler.clone();
            let spec = spec.clone();
            let served = served_value(client.clone(), "t", &metadata);
            async move {
                let served = served.await;
                let lag = scaler.evaluate(&spec).await.unwrap().lag as f64;
                let expected = RATE + lag / 100.0;
                ((served - expected).abs() <= 0.25 * expected && lag > 400.0)
                    .then_some((served, expected))
            }
        },
    )
    .await;
    println!("served {served:.1}/s, expected {expected:.1}/s");

    // lagscale check watches the offsets for the rate window and shows rates and time lag.
    let out = run_check(&[], &[], &metadata).await;
    assert!(
        out.contains("measuring:   produce and consume rates for 4 s")
            && out.contains("consume 0.0/s")
            && out.contains("time lag (until the lag drains): never at this rate"),
        "{out}"
    );
    let produce: f64 = out
        .split("rates:       produce ")
        .nth(1)
        .and_then(|rest| rest.split("/s").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no produce rate in {out}"));
    assert!((produce - RATE).abs() <= 0.25 * RATE, "{produce}");
    stop.store(true, Ordering::Relaxed);
    producer.join().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn rabbitmq_rates_come_from_the_management_api() {
    use lagscale::config::Config;
    use lagscale::source::ClusterProfile;
    use lagscale::source::rabbitmq::AmqpUri;
    use lagscale::source::rabbitmq::RabbitmqProfile;
    use lagscale::source::rabbitmq::management::ManagementUrl;

    use crate::support::rabbit::{TestQueue, management_url, uri};

    let queue = Arc::new(TestQueue::new("throughput").await);
    let profile = RabbitmqProfile::new(
        AmqpUri::parse(&uri()).unwrap(),
        Some(ManagementUrl::parse(&management_url()).unwrap()),
    );
    let config = Config {
        clusters: [("main".to_owned(), ClusterProfile::Rabbitmq(profile))].into(),
        ..config()
    };
    let server = TestServer::start(config).await;
    let client = server.client().await;
    // 40 messages a second, in tens; the pacing is the traffic's clock.
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (queue, stop) = (queue.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                queue.publish(10).await;
            }
        })
    };
    let metadata = [
        ("source", "rabbitmq"),
        ("cluster", "main"),
        ("queueName", queue.name.as_str()),
        ("metric", "throughput"),
        ("replicaThroughput", "10"),
        ("drainSeconds", "100000"),
        ("rateWindowSecs", "10"),
    ];
    // The management plugin samples every 5 s: allow a few samples, then within 30 % of 40/s.
    let served = eventually(Duration::from_secs(60), "the publish rate", || {
        let served = served_value(client.clone(), "r", &metadata);
        async move {
            let value = served.await;
            ((value - 40.0).abs() <= 12.0).then_some(value)
        }
    })
    .await;
    println!("served {served:.1}/s for 40/s published");
    stop.store(true, Ordering::Relaxed);
    publisher.await.unwrap();

    // Without a management API in the profile, the trigger says what is missing.
    let inline = [
        ("source", "rabbitmq"),
        ("host", uri().as_str()),
        ("queueName", queue.name.as_str()),
        ("metric", "throughput"),
        ("replicaThroughput", "10"),
    ]
    .map(|(k, v)| (k, v.to_owned()));
    let error = client
        .clone()
        .get_metrics(metrics_request(so("r", &inline), ""))
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert!(
        error.message().contains("management_url"),
        "{}",
        error.message()
    );
    Arc::try_unwrap(queue).ok().unwrap().delete().await;
}
