//! Produce and consume rates from offsets sampled over time, for `metric: throughput` and the
//! time-lag gauge. Rates come from the actual timestamps of the oldest and newest samples in
//! the window (a missed or late sample only widens the span), summed over the partitions both
//! samples have: a partition added since the older sample is left out until the window has
//! seen it twice, and a partition whose offset went backwards (a re-created topic) counts 0,
//! so a rate is never negative.

use std::sync::Arc;
use std::time::Duration;

use super::sampler::Timed;

/// One partition's offsets in a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionPoint {
    pub partition: i32,
    /// Log-end offset (high watermark).
    pub high: i64,
    /// The group's committed offset, if any.
    pub committed: Option<i64>,
}

/// A topic's (and its group's) offsets at one moment.
pub type OffsetsSample = Timed<Arc<[PartitionPoint]>>;

/// Messages per second over the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Messages appended to the topic per second.
    pub produce: f64,
    /// Messages the group committed per second; `None` when no partition has a commit in both
    /// samples.
    pub consume: Option<f64>,
    /// The time between the two samples the rates come from.
    pub span: Duration,
}

/// The shortest span a rate is computed over: less is noise.
pub const MIN_SPAN: Duration = Duration::from_secs(1);

/// Rates over the last `window` of `samples` (oldest first), or `None` before two samples at
/// least [`MIN_SPAN`] apart exist in it (a cold start).
pub fn rates(samples: &[OffsetsSample], window: Duration) -> Option<Rates> {
    let newest = samples.last()?;
    let oldest = samples
        .iter()
        .find(|s| newest.at.duration_since(s.at) <= window)?;
    let span = newest.at.duration_since(oldest.at);
    if span < MIN_SPAN {
        return None;
    }
    let mut produced = 0i64;
    for new in newest.value.iter() {
        if let Some(old) = oldest.value.iter().find(|p| p.partition == new.partition) {
            produced += (new.high - old.high).max(0);
        }
    }
    let in_window: Vec<&OffsetsSample> = samples
        .iter()
        .filter(|s| newest.at.duration_since(s.at) <= window)
        .collect();
    Some(Rates {
        produce: produced as f64 / span.as_secs_f64(),
        consume: consume_rate(&in_window, newest),
        span,
    })
}

/// Committed messages per second, from the oldest sample of the window in which the group
/// had committed on a partition it still has commits on (a group's first commits come after
/// its first samples); `None` without two such samples [`MIN_SPAN`] apart.
fn consume_rate(window: &[&OffsetsSample], newest: &OffsetsSample) -> Option<f64> {
    let committed = |s: &OffsetsSample, partition: i32| {
        s.value
            .iter()
            .find(|p| p.partition == partition)
            .and_then(|p| p.committed)
    };
    let oldest = window.iter().find(|s| {
        newest
            .value
            .iter()
            .any(|p| p.committed.is_some() && committed(s, p.partition).is_some())
    })?;
    let span = newest.at.duration_since(oldest.at);
    if span < MIN_SPAN {
        return None;
    }
    let consumed: i64 = newest
        .value
        .iter()
        .filter_map(|p| Some((p.committed? - committed(oldest, p.partition)?).max(0)))
        .sum();
    Some(consumed as f64 / span.as_secs_f64())
}

/// Seconds until `lag` drains at the consume rate: the "burndown". `None` when nothing is
/// being consumed (it never drains at this rate); 0 without lag.
pub fn time_lag(lag: u64, rates: &Rates) -> Option<f64> {
    if lag == 0 {
        return Some(0.0);
    }
    rates
        .consume
        .filter(|rate| *rate > 0.0)
        .map(|rate| lag as f64 / rate)
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;

    fn sample(start: Instant, secs: f64, partitions: &[(i32, i64, Option<i64>)]) -> OffsetsSample {
        OffsetsSample {
            at: start + Duration::from_secs_f64(secs),
            value: partitions
                .iter()
                .map(|&(partition, high, committed)| PartitionPoint {
                    partition,
                    high,
                    committed,
                })
                .collect(),
        }
    }

    const WINDOW: Duration = Duration::from_secs(60);

    #[test]
    fn table() {
        let t0 = Instant::now();
        type Case = (&'static str, Vec<OffsetsSample>, Option<(f64, Option<f64>)>);
        let cases: Vec<Case> = vec![
            ("no samples", vec![], None),
            (
                "one sample: cold start",
                vec![sample(t0, 0.0, &[(0, 100, Some(0))])],
                None,
            ),
            (
                "steady: 2 partitions × 10/s, consumer at 15/s",
                vec![
                    sample(t0, 0.0, &[(0, 0, Some(0)), (1, 0, Some(0))]),
                    sample(t0, 5.0, &[(0, 50, Some(40)), (1, 50, Some(35))]),
                    sample(t0, 10.0, &[(0, 100, Some(80)), (1, 100, Some(70))]),
                ],
                Some((20.0, Some(15.0))),
            ),
            (
                "ramp: the window's ends decide (0 → 300 over 10 s)",
                vec![
                    sample(t0, 0.0, &[(0, 0, None)]),
                    sample(t0, 5.0, &[(0, 50, None)]),
                    sample(t0, 10.0, &[(0, 300, None)]),
                ],
                Some((30.0, None)),
            ),
            (
                "a missed sample: the actual timestamps (0 s and 12 s), not an assumed 5 s",
                vec![
                    sample(t0, 0.0, &[(0, 0, None)]),
                    sample(t0, 12.0, &[(0, 120, None)]),
                ],
                Some((10.0, None)),
            ),
            (
                "a partition added: left out until both ends have it",
                vec![
                    sample(t0, 0.0, &[(0, 0, None)]),
                    sample(t0, 10.0, &[(0, 100, None), (1, 5_000, None)]),
                ],
                Some((10.0, None)),
            ),
            (
                "topic re-created: offsets went backwards, no negative rate",
                vec![
                    sample(t0, 0.0, &[(0, 1_000, Some(900)), (1, 500, Some(500))]),
                    sample(t0, 10.0, &[(0, 20, Some(10)), (1, 600, Some(550))]),
                ],
                Some((10.0, Some(5.0))),
            ),
            (
                "the group's first commit after the first sample: consume from there",
                vec![
                    sample(t0, 0.0, &[(0, 0, None)]),
                    sample(t0, 5.0, &[(0, 50, Some(10))]),
                    sample(t0, 10.0, &[(0, 100, Some(60))]),
                ],
                Some((10.0, Some(10.0))),
            ),
            (
                "old samples leave the window",
                vec![
                    sample(t0, 0.0, &[(0, 0, None)]),
                    sample(t0, 100.0, &[(0, 5_000, None)]),
                    sample(t0, 120.0, &[(0, 5_400, None)]),
                ],
                Some((20.0, None)),
            ),
            (
                "samples closer than 1 s: no rate yet",
                vec![
                    sample(t0, 0.0, &[(0, 0, None)]),
                    sample(t0, 0.5, &[(0, 10, None)]),
                ],
                None,
            ),
        ];
        for (what, samples, expected) in cases {
            let got = rates(&samples, WINDOW).map(|r| (r.produce, r.consume));
            assert_eq!(got, expected, "{what}");
        }
    }

    #[test]
    fn burndown() {
        let r = |consume| Rates {
            produce: 0.0,
            consume,
            span: WINDOW,
        };
        assert_eq!(time_lag(1_000, &r(Some(50.0))), Some(20.0));
        assert_eq!(time_lag(0, &r(None)), Some(0.0));
        assert_eq!(time_lag(10, &r(Some(0.0))), None, "not draining");
        assert_eq!(time_lag(10, &r(None)), None);
    }
}
