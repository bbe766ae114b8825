//! The scaler's decisions with no broker: the fake behind [`Sources`] answers and counts.

use std::collections::HashMap;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Evaluation, ReplicaView, Scaler};
use crate::config::Config;
use crate::error::ScalerError;
use crate::replicas::{ObjectRef, ReplicaError, ReplicaSource, TargetState};
use crate::single_flight::Lookup;
use crate::source::fake::{Call, FakeBrokers};
use crate::source::kafka::lag::PartitionOffsets;
use crate::source::kafka::{GroupSnapshot, TopicPartition};
use crate::source::rabbitmq::management::QueueRates;
use crate::source::{ConnectionFailure, NoEvents, Observation, SourceError, Sources};

const CONFIG: &str = "
cache_ttl_ms: 2000
clusters:
  with-management:
    rabbitmq:
      uri: amqp://guest:guest@127.0.0.1:5672/%2f
      management_url: http://guest:guest@127.0.0.1:15672
";

/// A scaler over `fake`, with replicas from `replicas`.
pub(crate) fn scaler_over(
    fake: &Arc<FakeBrokers>,
    replicas: Arc<dyn ReplicaSource>,
) -> Arc<Scaler> {
    let config = Config::parse(CONFIG, Path::new("test.yaml")).unwrap();
    let sources = Sources::fake(fake.clone(), config.cache_ttl(), Arc::new(NoEvents));
    Scaler::over(config, sources, replicas, Default::default())
}

/// Replicas that are always the same, counting the reads.
pub(crate) struct FixedReplicas {
    pub state: Result<TargetState, ReplicaError>,
    pub reads: Mutex<usize>,
}

impl FixedReplicas {
    pub(crate) fn current(current: u32) -> Arc<FixedReplicas> {
        Arc::new(FixedReplicas {
            state: Ok(TargetState {
                target: "Deployment shop/orders".to_owned(),
                current,
                min: 1,
                max: 100,
                last_scale: None,
            }),
            reads: Mutex::new(0),
        })
    }
}

impl ReplicaSource for FixedReplicas {
    fn target_state<'a>(
        &'a self,
        _: &'a ObjectRef,
    ) -> Pin<Box<dyn Future<Output = Result<TargetState, ReplicaError>> + Send + 'a>> {
        *self.reads.lock().unwrap() += 1;
        let state = self.state.clone();
        Box::pin(async move { state })
    }
}

pub(crate) fn metadata(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub(crate) fn queue(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut md = metadata(&[
        ("source", "rabbitmq"),
        ("host", "amqp://guest:guest@127.0.0.1:5672/%2f"),
        ("queueName", "orders"),
    ]);
    md.extend(metadata(extra));
    md
}

/// A consumer group on `lags.len()` partitions of topic `orders`, each with that lag.
pub(crate) fn group_snapshot(lags: &[i64]) -> Observation {
    let partitions = lags
        .iter()
        .enumerate()
        .map(|(i, lag)| TopicPartition {
            topic: "orders".to_owned(),
            offsets: PartitionOffsets {
                partition: i as i32,
                committed: Some(1_000),
                previous_committed: None,
                high: 1_000 + lag,
                low: Some(0),
            },
        })
        .collect();
    Observation::Kafka(Arc::new(GroupSnapshot {
        partitions,
        read_at: tokio::time::Instant::now(),
    }))
}

fn object() -> ObjectRef {
    ObjectRef {
        namespace: "shop".to_owned(),
        name: "orders".to_owned(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_thousand_triggers_on_one_query_cost_one_fetch_per_ttl() {
    let fake = Arc::new(
        FakeBrokers::answering(Ok(Observation::QueueDepth(42)))
            .with_latency(Duration::from_millis(50)),
    );
    let scaler = scaler_over(&fake, FixedReplicas::current(1));
    // A thousand triggers: each its own metadata (metric name, threshold), one queue.
    let specs: Vec<_> = (0..1_000)
        .map(|i| {
            let name = format!("orders-{i}");
            let threshold = (10 + i % 7).to_string();
            let md = queue(&[
                ("metricName", name.as_str()),
                ("lagThreshold", threshold.as_str()),
            ]);
            scaler.trigger(&md).unwrap()
        })
        .collect();
    let evaluate_all = || futures_util::future::join_all(specs.iter().map(|s| scaler.evaluate(s)));

    let first = evaluate_all().await;
    assert!(first.iter().all(|e| e.as_ref().unwrap().lag == 42));
    let misses = first
        .iter()
        .filter(|e| e.as_ref().unwrap().lookup == Lookup::Miss)
        .count();
    assert_eq!((fake.observed(), misses), (1, 1));

    // Within the TTL: still one; after it: one more, for all thousand again.
    tokio::time::advance(Duration::from_millis(1_000)).await;
    evaluate_all().await;
    assert_eq!(fake.observed(), 1);
    tokio::time::advance(Duration::from_millis(1_000)).await;
    evaluate_all().await;
    assert_eq!(fake.observed(), 2);
    assert_eq!(scaler.sources().queries_sent(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_query_is_shared_like_an_answer() {
    let unreachable = SourceError::Connection {
        endpoint: "127.0.0.1:5672".to_owned(),
        failure: ConnectionFailure::Connect,
        detail: "Connection refused (os error 111)".to_owned(),
    };
    let fake = Arc::new(FakeBrokers::answering(Err(unreachable.clone())));
    let scaler = scaler_over(&fake, FixedReplicas::current(1));
    let spec = scaler.trigger(&queue(&[])).unwrap();
    for _ in 0..3 {
        let error = scaler.evaluate(&spec).await.unwrap_err();
        assert_eq!(error, ScalerError::Source(unreachable.clone()));
    }
    assert_eq!(
        fake.observed(),
        1,
        "KEDA's retry right after an error costs no query"
    );
}

#[tokio::test(start_paused = true)]
async fn triggers_that_ask_different_questions_do_not_share() {
    let fake = Arc::new(FakeBrokers::answering(Ok(Observation::QueueDepth(1))));
    let scaler = scaler_over(&fake, FixedReplicas::current(1));
    let orders = scaler.trigger(&queue(&[])).unwrap();
    let refunds = scaler.trigger(&queue(&[("queueName", "refunds")])).unwrap();
    fake.answer(refunds.query(), Ok(Observation::QueueDepth(9)));
    assert_eq!(scaler.evaluate(&orders).await.unwrap().lag, 1);
    assert_eq!(scaler.evaluate(&refunds).await.unwrap().lag, 9);
    assert_eq!(
        fake.calls(),
        vec![
            Call::Observe(orders.query().clone()),
            Call::Observe(refunds.query().clone())
        ]
    );
}

/// `replicaAware`: the log2 metric is capped so the HPA stays within the partitions, from the
/// replicas read for the ScaledObject in the request.
#[tokio::test(start_paused = true)]
async fn replica_aware_serving_caps_at_the_partitions() {
    let fake = Arc::new(FakeBrokers::answering(Ok(group_snapshot(&[
        1_000_000, 1_000_000, 1_000_000, 1_000_000,
    ]))));
    let replicas = FixedReplicas::current(4);
    let scaler = scaler_over(&fake, replicas.clone());
    let md = metadata(&[
        ("source", "kafka"),
        ("bootstrapServers", "127.0.0.1:9092"),
        ("consumerGroup", "billing"),
        ("topic", "orders"),
        ("transform", "log2"),
        ("lagThreshold", "20000"),
        ("log2Multiplier", "7"),
        ("replicaAware", "true"),
    ]);
    let spec = scaler.trigger(&md).unwrap();
    let evaluation = scaler.evaluate(&spec).await.unwrap();
    // Lag 4,000,000 (the cap of 4 partitions × 20,000 applies to the raw lag: 80,000).
    assert_eq!(evaluation.lag, 80_000);
    let served = scaler
        .metric(&spec, &evaluation, Some(&object()))
        .await
        .unwrap();
    // Four replicas on four partitions: at most the target, so the HPA does not scale out.
    let target = 7.0 * 20_000f64.log2();
    assert!(served.metric <= target, "{} > {target}", served.metric);
    assert!(matches!(
        served.replicas,
        Some(ReplicaView::PartitionCap {
            partitions: 4,
            capped: true,
            ..
        })
    ));
    assert_eq!(*replicas.reads.lock().unwrap(), 1);

    // No ScaledObject named: an error, not a guess.
    let error = scaler.metric(&spec, &evaluation, None).await.unwrap_err();
    assert_eq!(error, ScalerError::NoScaledObject);
}

fn throughput(cluster: bool) -> HashMap<String, String> {
    let mut md = metadata(&[
        ("source", "rabbitmq"),
        ("queueName", "orders"),
        ("metric", "throughput"),
        ("replicaThroughput", "100"),
        ("drainSeconds", "100"),
    ]);
    if cluster {
        md.insert("cluster".to_owned(), "with-management".to_owned());
    }
    md
}

/// `metric: throughput` on RabbitMQ: the management API's publish rate plus the backlog over
/// `drainSeconds`; the API's requests are broker requests (counted, cached for the TTL).
#[tokio::test(start_paused = true)]
async fn throughput_serves_the_measured_rate_plus_the_backlog() {
    let rates = QueueRates {
        publish: 250.0,
        consume: Some(200.0),
        consumed: Some(100_000),
        ready: Some(5_000),
        consumers: Some(2),
    };
    let fake =
        Arc::new(FakeBrokers::answering(Ok(Observation::QueueDepth(5_000))).with_rates(Ok(rates)));
    let scaler = scaler_over(&fake, FixedReplicas::current(1));
    let spec = scaler.trigger(&throughput(true)).unwrap();
    for _ in 0..2 {
        let evaluation = scaler.evaluate(&spec).await.unwrap();
        let served = scaler.metric(&spec, &evaluation, None).await.unwrap();
        assert_eq!(served.metric, 250.0 + 5_000.0 / 100.0);
        assert_eq!(served.rates.unwrap().produce, 250.0);
    }
    let window = Duration::from_secs(60);
    assert_eq!(
        fake.calls(),
        vec![
            Call::Observe(spec.query().clone()),
            Call::Rates(spec.query().clone(), window)
        ]
    );
    assert_eq!(scaler.sources().queries_sent(), 2);
}

/// When the management API fails, throughput falls back to the backlog term alone (as on a cold
/// start) rather than failing the call: the HPA keeps a value, and the failure is logged.
#[tokio::test(start_paused = true)]
async fn throughput_without_rates_serves_the_backlog_alone() {
    let failing = SourceError::Timeout {
        endpoint: "management API http://127.0.0.1:15672".to_owned(),
        operation: "GET /api/queues",
        after_ms: 1_000,
    };
    let fake = Arc::new(
        FakeBrokers::answering(Ok(Observation::QueueDepth(5_000))).with_rates(Err(failing)),
    );
    let scaler = scaler_over(&fake, FixedReplicas::current(1));
    let spec = scaler.trigger(&throughput(true)).unwrap();
    let evaluation = scaler.evaluate(&spec).await.unwrap();
    let served = scaler.metric(&spec, &evaluation, None).await.unwrap();
    assert_eq!(served.metric, 50.0);
    assert_eq!(served.rates, None);
}

/// Kafka's rates come from offsets sampled in the background: a cold start serves the backlog
/// term, and the samples read the same shared answers (no extra query within the TTL).
#[tokio::test(start_paused = true)]
async fn kafka_throughput_starts_cold_and_samples_through_the_shared_answers() {
    let fake = Arc::new(FakeBrokers::answering(Ok(group_snapshot(&[3_000, 2_000]))));
    let scaler = scaler_over(&fake, FixedReplicas::current(1));
    let md = metadata(&[
        ("source", "kafka"),
        ("bootstrapServers", "127.0.0.1:9092"),
        ("consumerGroup", "billing"),
        ("metric", "throughput"),
        ("replicaThroughput", "100"),
        ("drainSeconds", "100"),
    ]);
    let spec = scaler.trigger(&md).unwrap();
    let evaluation = scaler.evaluate(&spec).await.unwrap();
    let served = scaler.metric(&spec, &evaluation, None).await.unwrap();
    assert_eq!(served.metric, 5_000.0 / 100.0);
    assert_eq!(served.rates, None);
    tokio::task::yield_now().await;
    assert!(
        fake.calls()
            .iter()
            .all(|c| matches!(c, Call::Observe(q) if q == spec.query())),
        "no management API for Kafka: {:?}",
        fake.calls()
    );
    assert_eq!(fake.observed(), 1);
}

/// A warm call is answered without waiting: `answer_now` serves what `evaluate` then `metric`
/// serve (counted as a hit), but only from a fresh shared answer, and never for a metric that
/// needs more than the lag (replicas, rates), which the call then awaits. It never fetches.
#[tokio::test(start_paused = true)]
async fn answers_now_only_from_a_fresh_answer_and_for_the_lag_alone() {
    let fake = Arc::new(FakeBrokers::answering(Ok(Observation::QueueDepth(5_000))));
    let scaler = scaler_over(&fake, FixedReplicas::current(1));
    let now = tokio::time::Instant::now;
    let log2 = queue(&[("transform", "log2"), ("log2Multiplier", "7")]);
    let log2 = scaler.trigger(&log2).unwrap();
    assert!(scaler.answer_now(&log2, now()).is_none(), "no answer yet");
    let evaluation = scaler.evaluate(&log2).await.unwrap();
    let served = scaler.metric(&log2, &evaluation, None).await.unwrap();
    let (evaluation_now, served_now) = scaler.answer_now(&log2, now()).unwrap().unwrap();
    assert_eq!(served_now, served);
    let hit = Evaluation {
        lookup: Lookup::Hit,
        ..evaluation
    };
    assert_eq!(evaluation_now, hit);

    let step = scaler.trigger(&queue(&[("strategy", "step")])).unwrap();
    let throughput = scaler.trigger(&throughput(true)).unwrap();
    for spec in [&step, &throughput] {
        scaler.evaluate(spec).await.unwrap();
        assert!(scaler.evaluate_now(spec, now()).is_some());
        assert!(scaler.answer_now(spec, now()).is_none(), "{spec:?}");
    }

    let fetched = fake.observed();
    tokio::time::advance(Duration::from_millis(2_000)).await;
    assert!(
        scaler.answer_now(&log2, now()).is_none(),
        "stale after cache_ttl_ms"
    );
    assert!(scaler.evaluate_now(&log2, now()).is_none());
    assert_eq!(fake.observed(), fetched);
}
