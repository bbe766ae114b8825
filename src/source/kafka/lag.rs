//! Consumer-group lag from an offsets snapshot, under one trigger's options.
//!
//! Pure arithmetic, no I/O: the snapshot is fetched once per refresh and shared by every trigger
//! on the same group and topic; each trigger applies its own options here.
//!
//! Where this differs from KEDA's Kafka scaler (on purpose):
//! - per-partition lag is never negative (the two broker reads race);
//! - `earliest` with no commit counts the messages still in the log (high − low watermark), not
//!   those already deleted by retention;
//! - `excludePersistentLag` also covers partitions with no commit;
//! - the `allowIdleConsumers: false` cap applies to the raw lag, before any transform.

use std::collections::BTreeSet;

/// Offsets of one partition at one refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    pub partition: i32,
    /// The group's committed offset; `None` when the group has committed nothing here.
    pub committed: Option<i64>,
    /// The committed offset seen at the previous refresh (`Some(None)`: seen, no commit then).
    pub previous_committed: Option<Option<i64>>,
    /// Log-end offset (high watermark).
    pub high: i64,
    /// Log-start offset (low watermark); only read for partitions without a commit.
    pub low: Option<i64>,
}

/// What a partition with no committed offset counts as (`offsetResetPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OffsetResetPolicy {
    /// The consumer will start at the end: lag 1, so the workload can be activated.
    Latest,
    /// The consumer will start at the beginning: every message still in the log.
    Earliest,
}

/// How partition lags are combined (`lagAggregate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LagAggregate {
    Sum,
    Max,
}

/// Which partitions count (`partitionLimitation`): all, or an explicit set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Partitions {
    All,
    Only(PartitionSet),
}

impl Partitions {
    pub fn includes(&self, partition: i32) -> bool {
        match self {
            Partitions::All => true,
            Partitions::Only(set) => set.contains(partition),
        }
    }
}

/// Partition numbers as sorted, disjoint, non-adjacent inclusive ranges: `0-2147483647` is one
/// range, never two billion numbers, so no trigger can make lagscale allocate or loop per
/// partition it names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionSet(Vec<(i32, i32)>);

impl PartitionSet {
    /// The union of inclusive ranges (each `from <= to`).
    pub fn from_ranges(mut ranges: Vec<(i32, i32)>) -> PartitionSet {
        ranges.sort_unstable();
        let mut merged: Vec<(i32, i32)> = Vec::with_capacity(ranges.len());
        for (from, to) in ranges {
            match merged.last_mut() {
                Some(last) if i64::from(from) <= i64::from(last.1) + 1 => last.1 = last.1.max(to),
                _ => merged.push((from, to)),
            }
        }
        PartitionSet(merged)
    }

    pub fn contains(&self, partition: i32) -> bool {
        let at = self.0.partition_point(|&(_, to)| to < partition);
        self.0.get(at).is_some_and(|&(from, _)| from <= partition)
    }

    /// The first partition of the set that `present` lacks, if any; work bounded by the ranges
    /// and `present`, never by the size of a range.
    pub fn first_missing(&self, present: &BTreeSet<i32>) -> Option<i32> {
        for &(from, to) in &self.0 {
            let mut next = i64::from(from);
            for &p in present.range(from..=to) {
                if i64::from(p) != next {
                    break;
                }
                next += 1;
            }
            if next <= i64::from(to) {
                return i32::try_from(next).ok();
            }
        }
        None
    }
}

impl<const N: usize> From<[i32; N]> for PartitionSet {
    fn from(partitions: [i32; N]) -> PartitionSet {
        PartitionSet::from_ranges(partitions.iter().map(|&p| (p, p)).collect())
    }
}

/// One trigger's Kafka options, with KEDA's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LagOptions {
    pub offset_reset_policy: OffsetResetPolicy,
    pub allow_idle_consumers: bool,
    pub exclude_persistent_lag: bool,
    pub scale_to_zero_on_invalid_offset: bool,
    pub limit_to_partitions_with_lag: bool,
    pub partitions: Partitions,
    pub aggregate: LagAggregate,
}

impl Default for LagOptions {
    fn default() -> LagOptions {
        LagOptions {
            offset_reset_policy: OffsetResetPolicy::Latest,
            allow_idle_consumers: false,
            exclude_persistent_lag: false,
            scale_to_zero_on_invalid_offset: false,
            limit_to_partitions_with_lag: false,
            partitions: Partitions::All,
            aggregate: LagAggregate::Sum,
        }
    }
}

/// The lag of one partition under `options`; never negative.
pub fn partition_lag(p: &PartitionOffsets, options: &LagOptions) -> u64 {
    let persistent = options.exclude_persistent_lag && p.previous_committed == Some(p.committed);
    let lag = match p.committed {
        Some(committed) => p.high.saturating_sub(committed),
        None if options.scale_to_zero_on_invalid_offset => 0,
        None => match options.offset_reset_policy {
            OffsetResetPolicy::Latest => 1,
            OffsetResetPolicy::Earliest => p.high.saturating_sub(p.low.unwrap_or(0)),
        },
    };
    if persistent || lag <= 0 {
        0
    } else {
        lag as u64
    }
}

/// The trigger's lag, and the partitions its consumers can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLag {
    /// Messages, capped at `partitions` × lagThreshold unless idle consumers are allowed.
    pub messages: u64,
    /// The partitions the cap counts: those the trigger counts, or only those with lag
    /// (`limitToPartitionsWithLag`). More consumers than this would sit idle.
    pub partitions: u64,
}

/// The trigger's lag over the partitions it counts, capped at partitions × lagThreshold unless
/// idle consumers are allowed. `partitions` are those of the topic(s) in the snapshot.
pub fn total_lag(
    partitions: &[PartitionOffsets],
    options: &LagOptions,
    lag_threshold: f64,
) -> GroupLag {
    let lags: Vec<u64> = partitions
        .iter()
        .filter(|p| options.partitions.includes(p.partition))
        .map(|p| partition_lag(p, options))
        .collect();
    let lag = match options.aggregate {
        LagAggregate::Sum => lags.iter().fold(0u64, |sum, l| sum.saturating_add(*l)),
        LagAggregate::Max => lags.iter().copied().max().unwrap_or(0),
    };
    let counted = if options.limit_to_partitions_with_lag {
        lags.iter().filter(|l| **l > 0).count()
    } else {
        lags.len()
    } as u64;
    let cap = (counted as f64 * lag_threshold).floor();
    let messages = if !options.allow_idle_consumers && (lag as f64) > cap {
        cap as u64
    } else {
        lag
    };
    GroupLag {
        messages,
        partitions: counted,
    }
}

#[cfg(test)]
mod tests {
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

    /// The KEDA vector: 4 partitions, lagThreshold 10, total lag 1,000 → 40.
    #[test]
    fn cap_at_partitions_times_threshold() {
        let parts: Vec<_> = (0..4).map(|i| p(i, Some(0), 250)).collect();
        let capped = total_lag(&parts, &LagOptions::default(), 10.0);
        assert_eq!(
            capped,
            GroupLag {
                messages: 40,
                partitions: 4
            }
        );
        assert_eq!(total_lag(&parts, &idle_ok(), 10.0).messages, 1_000);
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
                partitions: 1
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
}
