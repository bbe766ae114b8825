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
//!
//! As KEDA does it: `ensureEvenDistributionOfPartitions` serves the lag rounded up to a divisor
//! of the partition count times lagThreshold ([`even_distribution`]; KEDA's `kafka_scaler.go`,
//! `getNextFactorThatBalancesConsumersToTopicPartitions` with `FindFactors`), so that the HPA
//! picks a replica count that divides the partitions evenly. Activation reads the lag *before* the cap and *with* persistent partitions
//! ([`GroupLag::activation`]; KEDA's `kafka_scaler.go`, `getTotalLag` returns
//! `totalLagWithPersistent`, which `GetMetricsAndActivity` compares with
//! `activationLagThreshold`). Only the metric is capped and excludes persistent lag, so a
//! workload scaled to zero, which commits nothing, still wakes on its backlog.

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
    /// `ensureEvenDistributionOfPartitions`: see [`even_distribution`].
    pub ensure_even_distribution: bool,
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
            ensure_even_distribution: false,
            partitions: Partitions::All,
            aggregate: LagAggregate::Sum,
        }
    }
}

/// The lag of one partition under `options`; never negative.
pub fn partition_lag(p: &PartitionOffsets, options: &LagOptions) -> u64 {
    let persistent = options.exclude_persistent_lag && p.previous_committed == Some(p.committed);
    if persistent {
        0
    } else {
        lag_with_persistent(p, options)
    }
}

/// The lag of one partition under `options`, counting it even when it is persistent (what
/// activation reads); never negative.
pub fn lag_with_persistent(p: &PartitionOffsets, options: &LagOptions) -> u64 {
    let lag = match p.committed {
        Some(committed) => p.high.saturating_sub(committed),
        None if options.scale_to_zero_on_invalid_offset => 0,
        None => match options.offset_reset_policy {
            OffsetResetPolicy::Latest => 1,
            OffsetResetPolicy::Earliest => p.high.saturating_sub(p.low.unwrap_or(0)),
        },
    };
    lag.max(0) as u64
}

/// The trigger's lag, and the partitions its consumers can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLag {
    /// Messages, capped at `partitions` × lagThreshold unless idle consumers are allowed.
    pub messages: u64,
    /// The partitions the cap counts: those the trigger counts, or only those with lag
    /// (`limitToPartitionsWithLag`). More consumers than this would sit idle.
    pub partitions: u64,
    /// What activation compares with `activationLagThreshold`: the lag before the cap, with
    /// persistent partitions counted (as KEDA's `totalLagWithPersistent`).
    pub activation: u64,
}

/// The trigger's lag over the partitions it counts, capped at partitions × lagThreshold unless
/// idle consumers are allowed. `partitions` are those of the topic(s) in the snapshot.
pub fn total_lag(
    partitions: &[PartitionOffsets],
    options: &LagOptions,
    lag_threshold: f64,
) -> GroupLag {
    let counted = || {
        partitions
            .iter()
            .filter(|p| options.partitions.includes(p.partition))
    };
    let lags: Vec<u64> = counted().map(|p| partition_lag(p, options)).collect();
    let mut lag = options.aggregate.of(lags.iter().copied());
    if options.ensure_even_distribution {
        lag = even_distribution(lag, lags.len() as u64, lag_threshold);
    }
    let activation = options
        .aggregate
        .of(counted().map(|p| lag_with_persistent(p, options)));
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
        activation,
    }
}

/// `ensureEvenDistributionOfPartitions`, as KEDA's `getNextFactorThatBalancesConsumersToTopicPartitions`:
/// the smallest divisor `f` of `partitions` with `f` × lagThreshold ≥ `lag` (or `partitions`
/// when none is), served as `f` × lagThreshold (rounded down, as the cap is), so that the HPA's
/// ceil(lag / lagThreshold) is `f` replicas and each gets the same number of partitions. 12
/// partitions, lagThreshold 10: lag 35 → 40 (4 replicas), 61 → 120, 130 → 120, and 0 → 10
/// (KEDA's first divisor is 1; activation reads the lag itself, so scaling to zero still works).
pub fn even_distribution(lag: u64, partitions: u64, lag_threshold: f64) -> u64 {
    if partitions == 0 {
        return lag;
    }
    let factor = (1..=partitions)
        .filter(|f| partitions.is_multiple_of(*f))
        .find(|&f| f as f64 * lag_threshold >= lag as f64)
        .unwrap_or(partitions);
    (factor as f64 * lag_threshold).floor() as u64
}

impl LagAggregate {
    /// Partition lags combined: their sum (saturating), or the largest.
    fn of(self, lags: impl Iterator<Item = u64>) -> u64 {
        match self {
            LagAggregate::Sum => lags.fold(0u64, |sum, l| sum.saturating_add(l)),
            LagAggregate::Max => lags.max().unwrap_or(0),
        }
    }
}

#[cfg(test)]
#[path = "lag_tests.rs"]
mod tests;
