//! `replicaThroughput: auto` through the scaler, on the fake broker and tokio's paused clock:
//! the members read with every offsets sample (one DescribeGroups per sample), a rate learned
//! from busy windows, and a clear error where the broker cannot say who consumes.

use std::sync::Arc;
use std::time::Duration;

use super::tests::{FixedReplicas, metadata, scaler_over};
use crate::error::ScalerError;
use crate::source::fake::{Call, FakeBrokers};
use crate::source::kafka::lag::PartitionOffsets;
use crate::source::kafka::{GroupMembers, GroupSnapshot, TopicPartition};
use crate::source::{Observation, SourceError};

/// Two partitions of `orders`, each consumed at `rate` per second for `secs` seconds, with
/// 10,000 waiting on each.
fn busy(secs: u64, rate: i64) -> Result<Observation, SourceError> {
    let partitions = (0..2)
        .map(|partition| {
            let committed = rate * secs as i64;
            TopicPartition {
                topic: "orders".to_owned(),
                offsets: PartitionOffsets {
                    partition,
                    committed: Some(committed),
                    previous_committed: None,
                    high: committed + 10_000,
                    low: Some(0),
                },
            }
        })
        .collect();
    Ok(Observation::Kafka(Arc::new(GroupSnapshot {
        partitions,
        read_at: tokio::time::Instant::now(),
    })))
}

fn two_members() -> GroupMembers {
    let member = |id: &str, partition| {
        let assigned = vec![("orders".to_owned(), vec![partition])];
        (id.to_owned(), Some(assigned))
    };
    GroupMembers {
        state: "Stable".to_owned(),
        members: vec![member("m-1", 0), member("m-2", 1)],
    }
}

/// Uncapped (idle consumers allowed), so the value is the formula's.
fn auto() -> std::collections::HashMap<String, String> {
    metadata(&[
        ("allowIdleConsumers", "true"),
        ("source", "kafka"),
        ("bootstrapServers", "127.0.0.1:9092"),
        ("consumerGroup", "workers"),
        ("topic", "orders"),
        ("metric", "throughput"),
        ("replicaThroughput", "auto"),
    ])
}

#[tokio::test(start_paused = true)]
async fn learns_one_members_rate_from_busy_windows() {
    let fake = Arc::new(FakeBrokers::answering(busy(0, 50)));
    fake.members_are(Some(two_members()));
    let scaler = scaler_over(&fake, FixedReplicas::current(2));
    let spec = scaler.trigger(&auto()).unwrap();
    let started = tokio::time::Instant::now();
    let mut served = None;
    for second in (0..=240).step_by(5) {
        fake.answer_all(busy(second, 50));
        tokio::time::sleep_until(started + Duration::from_secs(second)).await;
        let evaluation = scaler.evaluate(&spec).await.unwrap();
        served = scaler
            .metric(&spec, &evaluation, None)
            .await
            .ok()
            .or(served);
    }
    let served = served.unwrap();
    let learned = served.learned.unwrap();
    assert_eq!(learned.estimate, Some(50.0));
    assert!(learned.windows >= 3, "{learned:?}");
    // No produce rate beyond the consumption (the topic grows as fast as it is consumed):
    // 100/s plus 20,000 over 120 s, over 50/s a replica: 533 %.
    let percent = (100.0 + 20_000.0 / 120.0) / 50.0 * 100.0;
    assert!((served.metric - percent).abs() < 1.0, "{}", served.metric);
    // One DescribeGroups per sample, not per call.
    let describes = fake
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Members(_)))
        .count();
    assert!((45..=50).contains(&describes), "{describes}");
}

#[tokio::test(start_paused = true)]
async fn a_broker_that_cannot_say_who_consumes_is_an_error() {
    let fake = Arc::new(FakeBrokers::answering(busy(0, 50)));
    let scaler = scaler_over(&fake, FixedReplicas::current(2));
    let spec = scaler.trigger(&auto()).unwrap();
    let evaluation = scaler.evaluate(&spec).await.unwrap();
    let first = scaler.metric(&spec, &evaluation, None).await.unwrap_err();
    assert!(matches!(
        first,
        ScalerError::ConsumersUnknown { lasting: false, .. }
    ));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let error = scaler.metric(&spec, &evaluation, None).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::FailedPrecondition);
    let message = error.to_string();
    assert!(
        message.contains("does not say who consumes")
            && message.contains("replicaThroughputInitial"),
        "{message}"
    );
}
