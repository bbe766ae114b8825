//! `metric: throughput` end to end on the mock Kafka cluster: a producer at a known rate, and
//! GetMetrics converging to produce rate + lag / drainSeconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::support::kafka::{Kafka, unique};
use crate::support::{TestServer, config, eventually, metrics_request, run_check, so};

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
            let mut client = client.clone();
            let scaler = server.scaler.clone();
            let spec = spec.clone();
            let request = metrics_request(so("t", &metadata), "");
            async move {
                let served = client
                    .get_metrics(request)
                    .await
                    .unwrap()
                    .into_inner()
                    .metric_values[0]
                    .metric_value_float;
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
