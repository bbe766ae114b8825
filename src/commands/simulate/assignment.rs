//! The group's partitions, each with its own backlog, shared among the working members as
//! Kafka's range assignor shares them (librdkafka's default, `src/rdkafka_range_assignor.c`,
//! after Kafka's `RangeAssignor`): P partitions over M members give each member P / M
//! contiguous partitions, and the first P mod M members one more.
//!
//! Arrivals spread evenly over the partitions; each member works at its full rate over its own
//! partitions only, shared between those with a backlog (what it does not need on one goes to
//! the others). So with 16 partitions over 11 members, the five members holding two
//! partitions keep up with their inflow and little more, and the backlog of their partitions
//! drains much slower than the group's total rate suggests: `demo --scenario` shows it on real
//! consumers. With M dividing P (or queues, P = 1 per member) this is the even share the
//! model assumed before.

/// Backlog per partition, in messages, and what was consumed of each so far.
pub struct Assignment {
    backlog: Vec<f64>,
    consumed: Vec<f64>,
}

impl Assignment {
    pub fn new(partitions: u32) -> Assignment {
        let partitions = partitions.max(1) as usize;
        Assignment {
            backlog: vec![0.0; partitions],
            consumed: vec![0.0; partitions],
        }
    }

    /// Messages consumed from each partition so far.
    pub fn consumed(&self) -> &[f64] {
        &self.consumed
    }

    /// Each of `members` members' partitions, as [`Assignment::consume`] shares them.
    pub fn ranges(&self, members: usize) -> Vec<Vec<i32>> {
        let partitions = self.backlog.len();
        let working = members.min(partitions);
        let mut start = 0;
        (0..members)
            .map(|member| {
                if member >= working {
                    return Vec::new();
                }
                let count = partitions / working + usize::from(member < partitions % working);
                start += count;
                (start - count..start).map(|p| p as i32).collect()
            })
            .collect()
    }

    /// `messages` arrive, spread evenly over the partitions.
    pub fn arrive(&mut self, messages: f64) {
        let share = messages / self.backlog.len() as f64;
        for backlog in &mut self.backlog {
            *backlog += share;
        }
    }

    /// Messages not yet consumed.
    pub fn total(&self) -> f64 {
        self.backlog.iter().sum()
    }

    /// One second of `members` members (those beyond the partitions get none), each consuming
    /// up to `rate` messages from its own partitions; returns what was consumed.
    pub fn consume(&mut self, members: usize, rate: f64) -> f64 {
        let partitions = self.backlog.len();
        let members = members.min(partitions);
        if members == 0 {
            return 0.0;
        }
        let (each, extra) = (partitions / members, partitions % members);
        let mut start = 0;
        let mut consumed = 0.0;
        for member in 0..members {
            let count = each + usize::from(member < extra);
            let range = start..start + count;
            consumed += share(
                &mut self.backlog[range.clone()],
                &mut self.consumed[range],
                rate,
            );
            start += count;
        }
        consumed
    }
}

/// Consumes up to `rate` from `partitions`, an equal share each, the share a partition does not
/// need going to the others (water-filling), adding each partition's to `done`; returns what
/// was consumed. No allocation: this runs for every member every simulated second.
fn share(partitions: &mut [f64], done: &mut [f64], rate: f64) -> f64 {
    let (mut left, mut consumed) = (rate, 0.0);
    let mut open = partitions.iter().filter(|&&b| b > 0.0).count();
    while open > 0 && left > 0.0 {
        let fair = left / open as f64;
        // Partitions needing no more than the fair share are emptied, and what they leave is
        // shared again; when none is left to empty, the rest take the fair share each.
        let mut emptied = false;
        let open_and_small = partitions.iter_mut().zip(done.iter_mut());
        for (backlog, done) in open_and_small.filter(|(b, _)| **b > 0.0 && **b <= fair) {
            *done += *backlog;
            left -= *backlog;
            consumed += *backlog;
            *backlog = 0.0;
            open -= 1;
            emptied = true;
        }
        if !emptied {
            let open = partitions.iter_mut().zip(done.iter_mut());
            for (backlog, done) in open.filter(|(b, _)| **b > 0.0) {
                *done += fair;
                *backlog -= fair;
                consumed += fair;
            }
            break;
        }
    }
    consumed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_even_assignment_is_the_groups_full_rate() {
        let mut group = Assignment::new(16);
        group.arrive(16_000.0);
        assert_eq!(group.consume(8, 100.0), 800.0);
        assert_eq!(group.total(), 15_200.0);
        // More members than partitions: the extra ones idle.
        assert_eq!(group.consume(40, 100.0), 1_600.0);
    }

    /// 16 partitions over 11 members: five hold two partitions, six hold one (the range
    /// assignor). At 400 messages/s arriving (25 per partition), a member processing 50/s
    /// drains a single partition at 25/s but only keeps up with a pair.
    #[test]
    fn members_holding_more_partitions_keep_the_backlog_of_theirs() {
        let mut group = Assignment::new(16);
        group.arrive(16_000.0);
        for _ in 0..100 {
            group.arrive(400.0);
            group.consume(11, 50.0);
        }
        let (pairs, singles) = group.backlog.split_at(10);
        assert!(
            pairs.iter().all(|&b| (b - 1_000.0).abs() < 1e-6),
            "{pairs:?}"
        );
        assert!(singles.iter().all(|&b| b < 1e-6), "{singles:?}");
        assert!((group.total() - 10_000.0).abs() < 1e-6);
    }

    #[test]
    fn a_member_gives_what_one_partition_does_not_need_to_the_other() {
        let (mut pair, mut done) = ([10.0, 500.0], [0.0, 0.0]);
        assert_eq!(share(&mut pair, &mut done, 100.0), 100.0);
        assert_eq!((pair, done), ([0.0, 410.0], [10.0, 90.0]));
        let mut idle = [3.0, 4.0];
        assert_eq!(share(&mut idle, &mut done, 100.0), 7.0);
    }

    #[test]
    fn ranges_are_the_partitions_members_consume() {
        let group = Assignment::new(5);
        assert_eq!(group.ranges(2), [vec![0, 1, 2], vec![3, 4]]);
        assert_eq!(group.ranges(6)[4..], [vec![4], vec![]]);
        let mut group = Assignment::new(5);
        group.arrive(500.0);
        group.consume(2, 30.0);
        assert_eq!(group.consumed(), [10.0, 10.0, 10.0, 15.0, 15.0]);
    }
}
