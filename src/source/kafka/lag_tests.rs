//! The lag arithmetic's tables: per partition, the cap, activation, and KEDA's vectors.

use super::*;

fn p(partition: i32, committed: Option<i64>, high: i64) -> PartitionOffsets {
    PartitionOffsets {
        partition,
        committed,
        previous_committed: None,
        high,
        low: Some(0),
    }
}

fn idle_ok() -> LagOptions {
    LagOptions {
        allow_idle_consumers: true,
        ..LagOptions::default()
    }
}

#[test]
fn committed_partitions_count_high_minus_committed_never_negative() {
    let o = idle_ok();
    assert_eq!(partition_lag(&p(0, Some(40), 100), &o), 60);
    assert_eq!(partition_lag(&p(0, Some(100), 100), &o), 0);
    // The committed offset was read after the high watermark: no negative lag.
    assert_eq!(partition_lag(&p(0, Some(105), 100), &o), 0);
}

#[test]
fn uncommitted_partitions_follow_the_reset_policy() {
    let latest = idle_ok();
    let earliest = LagOptions {
        offset_reset_policy: OffsetResetPolicy::Earliest,
        ..idle_ok()
    };
    let zero = LagOptions {
        scale_to_zero_on_invalid_offset: true,
        ..earliest.clone()
    };
    let mut retained = p(0, None, 1_000);
    retained.low = Some(900); // 900 messages already deleted by retention
    assert_eq!(partition_lag(&retained, &latest), 1);
    assert_eq!(partition_lag(&retained, &earliest), 100);
    assert_eq!(partition_lag(&retained, &zero), 0);
    let empty = p(0, None, 0);
    assert_eq!(partition_lag(&empty, &latest), 1);
    assert_eq!(partition_lag(&empty, &earliest), 0);
}

#[test]
fn persistent_lag_is_excluded_also_without_commits() {
    let o = LagOptions {
        exclude_persistent_lag: true,
        ..idle_ok()
    };
    let mut stuck = p(0, Some(10), 50);
    stuck.previous_committed = Some(Some(10));
    assert_eq!(partition_lag(&stuck, &o), 0);
    let mut moving = p(0, Some(20), 50);
    moving.previous_committed = Some(Some(10));
    assert_eq!(partition_lag(&moving, &o), 30);
    let mut first_seen = p(0, Some(10), 50);
    first_seen.previous_committed = None;
    assert_eq!(partition_lag(&first_seen, &o), 40);
    let mut never_committed = p(0, None, 50);
    never_committed.previous_committed = Some(None);
    assert_eq!(partition_lag(&never_committed, &o), 0);
    // Without the option a stuck partition counts.
    assert_eq!(partition_lag(&stuck, &idle_ok()), 40);
}

/// Activation reads the lag before the cap, as KEDA's: 4 partitions × lagThreshold 10 cap
/// the metric at 40, and a lag of 70 is still above an activationLagThreshold of 50.
#[test]
fn activation_reads_the_uncapped_lag() {
    let parts: Vec<_> = [20, 20, 15, 15]
        .iter()
        .enumerate()
        .map(|(i, l)| p(i as i32, Some(0), *l))
        .collect();
    let lag = total_lag(&parts, &LagOptions::default(), 10.0);
    assert_eq!((lag.messages, lag.activation), (40, 70));
    let max = LagOptions {
        aggregate: LagAggregate::Max,
        ..LagOptions::default()
    };
    assert_eq!(total_lag(&parts, &max, 10.0).activation, 20);
    let only = LagOptions {
        partitions: Partitions::Only(PartitionSet::from([0, 1])),
        ..LagOptions::default()
    };
    assert_eq!(total_lag(&parts, &only, 10.0).activation, 40);
}

/// With `excludePersistentLag`, a group that commits nothing (its workload is at zero)
/// has only persistent partitions: the metric is 0, but activation counts their lag, so
/// the workload wakes.
#[test]
fn persistent_lag_still_activates() {
    let o = LagOptions {
        exclude_persistent_lag: true,
        offset_reset_policy: OffsetResetPolicy::Earliest,
        ..LagOptions::default()
    };
    let parts: Vec<_> = (0..3)
        .map(|i| {
            let mut never = p(i, None, 100);
            never.previous_committed = Some(None);
            never
        })
        .collect();
    let lag = total_lag(&parts, &o, 1_000.0);
    assert_eq!((lag.messages, lag.activation), (0, 300));
}

/// The KEDA vector: 4 partitions, lagThreshold 10, total lag 1,000 → 40.
#[test]
fn cap_at_partitions_times_threshold() {
    let parts: Vec<_> = (0..4).map(|i| p(i, Some(0), 250)).collect();
    let capped = total_lag(&parts, &LagOptions::default(), 10.0);
    assert_eq!(
        capped,
        GroupLag {
            messages: 40,
            partitions: 4,
            activation: 1_000,
        }
    );
    assert_eq!(total_lag(&parts, &idle_ok(), 10.0).messages, 1_000);
    // Where lagscale differs on purpose (README): KEDA's `getTotalLag` compares 39 / 10 = 3
    // in integers, finds it not over 3 partitions, and serves 39 (4 replicas for 3
    // partitions); lagscale caps every lag over partitions × lagThreshold.
    let parts = [p(0, Some(0), 13), p(1, Some(0), 13), p(2, Some(0), 13)];
    assert_eq!(total_lag(&parts, &LagOptions::default(), 10.0).messages, 30);
}

#[test]
fn cap_with_partitions_that_have_lag() {
    let parts = [p(0, Some(0), 500), p(1, Some(10), 10), p(2, Some(5), 5)];
    let o = LagOptions {
        limit_to_partitions_with_lag: true,
        ..LagOptions::default()
    };
    assert_eq!(
        total_lag(&parts, &o, 10.0),
        GroupLag {
            messages: 10,
            partitions: 1,
            activation: 500,
        }
    );
    assert_eq!(total_lag(&parts, &LagOptions::default(), 10.0).messages, 30);
}

#[test]
fn partition_limitation_and_aggregates() {
    let parts = [p(0, Some(0), 5), p(1, Some(0), 70), p(2, Some(0), 25)];
    let only = LagOptions {
        partitions: Partitions::Only([0, 2].into()),
        ..idle_ok()
    };
    assert_eq!(total_lag(&parts, &only, 10.0).messages, 30);
    let max = LagOptions {
        aggregate: LagAggregate::Max,
        ..idle_ok()
    };
    assert_eq!(total_lag(&parts, &max, 10.0).messages, 70);
    assert_eq!(total_lag(&parts, &idle_ok(), 10.0).messages, 100);
    assert_eq!(total_lag(&[], &LagOptions::default(), 10.0).messages, 0);
}

#[test]
fn partition_sets_are_ranges_never_materialized() {
    let set = PartitionSet::from_ranges(vec![(5, 7), (0, 0), (2, 2), (8, 9), (1, 1)]);
    assert_eq!(set, PartitionSet(vec![(0, 2), (5, 9)]), "sorted and merged");
    let checks = [
        (0, true),
        (2, true),
        (3, false),
        (4, false),
        (5, true),
        (9, true),
    ];
    for (partition, inside) in checks {
        assert_eq!(set.contains(partition), inside, "{partition}");
    }
    assert!(!set.contains(10) && !set.contains(-1));

    let present: BTreeSet<i32> = (0..4).collect();
    assert_eq!(PartitionSet::from([0, 3]).first_missing(&present), None);
    assert_eq!(set.first_missing(&present), Some(5));
    // The whole i32 range: one range, answered without a loop over it.
    let all = PartitionSet::from_ranges(vec![(0, i32::MAX)]);
    assert!(all.contains(i32::MAX) && all.contains(0));
    assert_eq!(all.first_missing(&present), Some(4));
    assert_eq!(all.first_missing(&BTreeSet::new()), Some(0));
    let overlapping =
        PartitionSet::from_ranges(vec![(0, i32::MAX), (3, i32::MAX), (i32::MAX, i32::MAX)]);
    assert_eq!(overlapping, all);
}

/// KEDA's vectors (`kafka_scaler.go` `getNextFactorThatBalancesConsumersToTopicPartitions`;
/// `TestGetNextFactor`: 100 partitions, threshold 10), and the 12-partition table.
#[test]
fn even_distribution_snaps_to_a_divisor_of_the_partitions() {
    let cases: [(u64, u64, u64); 11] = [
        (100, 10, 10),
        (100, 20, 20),
        (100, 40, 40),
        (100, 50, 50),
        (100, 99, 100),
        (100, 100, 100),
        (100, 101, 200),
        (12, 35, 40),
        (12, 61, 120),
        (12, 130, 120),
        (12, 0, 10),
    ];
    for (partitions, lag, served) in cases {
        assert_eq!(
            even_distribution(lag, partitions, 10.0),
            served,
            "{partitions} partitions, lag {lag}"
        );
    }
    assert_eq!(even_distribution(7, 0, 10.0), 7, "no partitions: unchanged");
    assert_eq!(
        even_distribution(11, 7, 10.0),
        70,
        "a prime count: 1 or all"
    );
}

#[test]
fn even_distribution_in_the_total_and_not_in_activation() {
    let parts: Vec<_> = (0..12)
        .map(|i| p(i, Some(0), if i < 5 { 7 } else { 0 }))
        .collect();
    let even = LagOptions {
        ensure_even_distribution: true,
        ..LagOptions::default()
    };
    let lag = total_lag(&parts, &even, 10.0);
    assert_eq!((lag.messages, lag.activation), (40, 35));
    assert_eq!(total_lag(&parts, &LagOptions::default(), 10.0).messages, 35);
    // With idle consumers allowed KEDA still snaps (its cap runs for the option), and never
    // beyond all partitions.
    let idle = LagOptions {
        allow_idle_consumers: true,
        ..even.clone()
    };
    let flooded: Vec<_> = (0..12).map(|i| p(i, Some(0), 100)).collect();
    assert_eq!(total_lag(&flooded, &idle, 10.0).messages, 120);
    // partitionLimitation counts only the partitions left: 4 of them, lag 15 → 2 × 10.
    let limited = LagOptions {
        partitions: Partitions::Only(PartitionSet::from([0, 1, 2, 3])),
        ..even
    };
    let few: Vec<_> = (0..12).map(|i| p(i, Some(0), 5)).collect();
    assert_eq!(total_lag(&few[..], &limited, 10.0).messages, 20);
}
