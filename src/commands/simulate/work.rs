//! What `replicaThroughput: auto` learns from in the model, as lagscale reads it from a real
//! group: each partition's log-end and committed offsets (ListOffsets, OffsetFetch), and the
//! members with their partitions (DescribeGroups). Kept only when a policy learns.

use std::collections::VecDeque;
use std::sync::Arc;

use super::assignment::Assignment;
use crate::strategy::rate::PartitionPoint;
use crate::strategy::replica_rate::{Consumers, Member, Work};

/// Each partition's committed offset: each member commits every `interval` seconds at a phase
/// of its own, so a partition's committed offset is, on average, the mean of what was
/// consumed of it over the last interval (as the group total in `model::Commits`).
pub struct GroupWork {
    consumed: VecDeque<Vec<f64>>,
    interval: usize,
}

impl GroupWork {
    pub fn new(commit_interval_secs: u64) -> GroupWork {
        GroupWork {
            consumed: VecDeque::new(),
            interval: commit_interval_secs.max(1) as usize,
        }
    }

    /// Records a second that ended with `group`'s partitions consumed as they are.
    pub fn second(&mut self, group: &Assignment) {
        let mut oldest = match self.consumed.len() >= self.interval {
            true => self.consumed.pop_front().unwrap_or_default(),
            false => Vec::new(),
        };
        oldest.clear();
        oldest.extend_from_slice(group.consumed());
        self.consumed.push_back(oldest);
    }

    /// The work now: `produced` messages spread evenly over `group`'s partitions, their
    /// commits, and `members` working members (`None`: the group is rebalancing).
    pub fn work(&self, group: &Assignment, produced: f64, members: Option<usize>) -> Work {
        let partitions = group.consumed().len();
        let high = (produced / partitions as f64) as i64;
        let seconds = self.consumed.len().max(1) as f64;
        let points: Arc<[PartitionPoint]> = (0..partitions)
            .map(|p| {
                let committed = self.consumed.iter().map(|c| c[p]).sum::<f64>() / seconds;
                PartitionPoint {
                    partition: p as i32,
                    high,
                    committed: Some(committed as i64),
                }
            })
            .collect();
        let consumers = match members {
            None => Consumers::Rebalancing,
            Some(members) => Consumers::Members(
                group
                    .ranges(members)
                    .into_iter()
                    .enumerate()
                    .map(|(i, partitions)| Member {
                        id: format!("member-{i}"),
                        partitions: Some(partitions),
                    })
                    .collect(),
            ),
        };
        Work {
            partitions: points,
            consumers: Some(consumers),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_trail_each_partition_and_members_hold_their_ranges() {
        let mut group = Assignment::new(4);
        let mut work = GroupWork::new(2);
        for _ in 0..3 {
            group.arrive(400.0);
            group.consume(2, 100.0);
            work.second(&group);
        }
        // 50 per partition per second; committed is the mean of the last two seconds.
        let now = work.work(&group, 1_200.0, Some(2));
        let committed: Vec<Option<i64>> = now.partitions.iter().map(|p| p.committed).collect();
        assert_eq!(committed, [Some(125); 4]);
        assert!(now.partitions.iter().all(|p| p.high == 300));
        let Some(Consumers::Members(members)) = now.consumers else {
            panic!("members")
        };
        assert_eq!(members[1].partitions, Some(vec![2, 3]));
        let rebalancing = work.work(&group, 1_200.0, None);
        assert_eq!(rebalancing.consumers, Some(Consumers::Rebalancing));
    }
}
