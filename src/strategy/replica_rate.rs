//! `replicaThroughput: auto`: what one replica processes, learned from the consumers' own
//! work, so that `metric: throughput` needs no measured rate.
//!
//! The input is what `metric: throughput` samples anyway, each partition's log-end and
//! committed offsets ([`PartitionPoint`]; a RabbitMQ queue is one "partition" whose committed
//! offset is the messages acknowledged so far and whose lag is the ready messages), plus who
//! consumes ([`Consumers`]): a Kafka group's members (DescribeGroups), with each member's
//! partitions where the broker says, or a queue's consumer count.
//!
//! **A window** is the samples of the last rate window (`rateWindowSecs`). It teaches a rate
//! only when:
//! - it spans at least half the window, and the consumers are the same at every sample of it.
//!   A window containing a rebalance (a member joining or leaving, partitions moving) mixes
//!   two groups' work and their catch-up commits: it is discarded;
//! - the consumers counted were busy throughout: the backlog on their partitions stayed at or
//!   above [`BUSY_SECS`] of their own rate at every sample. A consumer that keeps up works
//!   below its capacity and would dilute the rate; the 10 s stay clear of the backlog that
//!   commit intervals alone leave (Kafka's auto commit: every 5 s). With each member's
//!   partitions known, busy members are counted and idle ones left out; with a count only
//!   (RabbitMQ; a broker that leaves the assignments out, as tansu does), every partition must
//!   be busy, and then every member holding one is.
//!
//! The window's rate is what the busy consumers committed per second, divided by them. The
//! offsets are the group's own commits: other groups reading the same topic change nothing.
//!
//! **The estimate** is the median of the last [`KEPT_WINDOWS`] windows, once there are
//! [`MIN_WINDOWS`]; windows are disjoint (at most one per rate window), so each is a separate
//! look. Why a median:
//! - one window is off by a few percent either way (commits land every few seconds); the
//!   median of nine is steadier than any one of them;
//! - a window slowed by something else (a GC pause, a slow database: the consumers "busy" but
//!   throttled) is low, one where members committed a large batch at once is high; the median
//!   ignores up to four such windows in nine, on either side. A decayed maximum jumps on one
//!   high window and comes down only as fast as it decays; a high quantile needs most of its
//!   windows replaced before it follows a drop, the change that costs the SLO;
//! - a change of the true rate, of any size, is followed after five busy windows (five minutes
//!   with the default 60 s window), well within an hour.
//!
//! **What it cannot learn**: a rate above what the consumers show. Consumers with more
//! replicas than they need are never busy, so a faster release is learned at the next backlog
//! (a burst, a ramp, a restart). Without busy windows an estimate stays as it is.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::rate::PartitionPoint;
use super::sampler::Timed;

/// Seconds of a consumer's own rate its backlog must hold for it to count as busy.
pub const BUSY_SECS: f64 = 10.0;
/// Windows an estimate needs.
pub const MIN_WINDOWS: usize = 3;
/// Windows the median is taken over.
pub const KEPT_WINDOWS: usize = 9;
/// A move of the estimate larger than this fraction is reported (logged).
pub const REPORTED_MOVE: f64 = 0.10;

/// Who consumes, at one sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumers {
    /// A Kafka group's members, sorted by id.
    Members(Arc<[Member]>),
    /// Consumers sharing one queue (RabbitMQ).
    Shared(u32),
    /// A Kafka group between generations (a member joined or left): nobody works.
    Rebalancing,
}

/// One member of a Kafka group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    /// Its partitions of the topic, sorted; `None` when the broker did not say.
    pub partitions: Option<Vec<i32>>,
}

impl Consumers {
    /// The consumers that can work: members beyond the partitions get none.
    pub fn working(&self, partitions: usize) -> u32 {
        match self {
            Consumers::Members(members) => match members.iter().all(|m| m.partitions.is_some()) {
                true => members
                    .iter()
                    .filter(|m| m.partitions.as_ref().is_some_and(|p| !p.is_empty()))
                    .count() as u32,
                false => members.len().min(partitions) as u32,
            },
            Consumers::Shared(n) => *n,
            Consumers::Rebalancing => 0,
        }
    }
}

/// The consumers' work at one moment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Work {
    pub partitions: Arc<[PartitionPoint]>,
    /// `None` when the broker could not say.
    pub consumers: Option<Consumers>,
}

pub type WorkSample = Timed<Work>;

/// Why a window taught nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// Less than half a window of samples yet.
    TooShort,
    /// The broker does not say who consumes.
    ConsumersUnknown,
    /// Consumers joined, left or moved partitions during the window (or are rebalancing).
    ConsumersChanged,
    /// No consumer (or, with a count only, not every partition) had a backlog throughout.
    Idle,
}

impl Skipped {
    pub fn reason(self) -> &'static str {
        match self {
            Skipped::TooShort => "less than half a rate window sampled",
            Skipped::ConsumersUnknown => "the broker does not say who consumes",
            Skipped::ConsumersChanged => "consumers joined, left or moved during the window",
            Skipped::Idle => "the consumers kept up (no backlog of 10 s of their work)",
        }
    }
}

/// What one window says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowRate {
    /// Messages per second one busy consumer committed.
    pub per_consumer: f64,
    /// The busy consumers it is measured over.
    pub busy: u32,
}

/// Partitions consumed together, and by how many consumers.
struct Unit {
    partitions: Vec<i32>,
    consumers: u32,
}

/// The rate the window of `samples` (oldest first) ending at the newest teaches: the longest
/// run of the last `window` with the newest's consumers in which they were busy, of at least
/// half the window.
pub fn window_rate(samples: &[WorkSample], window: Duration) -> Result<WindowRate, Skipped> {
    let newest = samples.last().ok_or(Skipped::TooShort)?;
    let consumers = newest
        .value
        .consumers
        .as_ref()
        .ok_or(Skipped::ConsumersUnknown)?;
    if *consumers == Consumers::Rebalancing {
        return Err(Skipped::ConsumersChanged);
    }
    let min_secs = (window.as_secs_f64() / 2.0).max(1.0);
    let span = |run: &[WorkSample]| newest.at.duration_since(run[0].at).as_secs_f64();
    let outside = samples.iter().rposition(|s| {
        newest.at.duration_since(s.at) > window || s.value.consumers.as_ref() != Some(consumers)
    });
    let same = &samples[outside.map_or(0, |i| i + 1)..];
    if span(same) < min_secs {
        let changed = outside.is_some_and(|i| newest.at.duration_since(samples[i].at) <= window);
        return Err(match changed {
            true => Skipped::ConsumersChanged,
            false => Skipped::TooShort,
        });
    }
    let mut skipped = Skipped::Idle;
    for start in 0..same.len() {
        let run = &same[start..];
        if span(run) < min_secs {
            break;
        }
        match busy_rate(run, consumers) {
            Ok(rate) => return Ok(rate),
            Err(why) => skipped = why,
        }
    }
    Err(skipped)
}

/// What the busy consumers of `run` (one set of consumers, oldest first) did per second each.
fn busy_rate(run: &[WorkSample], consumers: &Consumers) -> Result<WindowRate, Skipped> {
    let (oldest, newest) = (&run[0], &run[run.len() - 1]);
    let secs = newest.at.duration_since(oldest.at).as_secs_f64();
    let in_window = run;
    let all: Vec<i32> = newest
        .value
        .partitions
        .iter()
        .map(|p| p.partition)
        .collect();
    let (units, every_unit_busy) = match consumers {
        Consumers::Members(members) if members.iter().all(|m| m.partitions.is_some()) => {
            let units = members
                .iter()
                .filter_map(|m| m.partitions.clone())
                .filter(|p| !p.is_empty())
                .map(|partitions| Unit {
                    partitions,
                    consumers: 1,
                })
                .collect();
            (units, false)
        }
        // A count only: every partition must be busy; the members holding them are counted
        // at the end.
        Consumers::Members(_) => {
            let units = all
                .iter()
                .map(|&p| Unit {
                    partitions: vec![p],
                    consumers: 0,
                })
                .collect();
            (units, true)
        }
        Consumers::Shared(n) => (
            vec![Unit {
                partitions: all.clone(),
                consumers: *n,
            }],
            true,
        ),
        Consumers::Rebalancing => return Err(Skipped::ConsumersChanged),
    };
    let (mut consumed, mut busy) = (0.0, 0u32);
    for unit in &units {
        let done = committed(&newest.value, &unit.partitions)
            .zip(committed(&oldest.value, &unit.partitions))
            .map(|(new, old)| (new - old).max(0.0));
        let rate = done.map_or(0.0, |d| d / secs);
        let floor = (BUSY_SECS * rate).max(1.0);
        let is_busy = rate > 0.0
            && in_window
                .iter()
                .all(|s| lag(&s.value, &unit.partitions).is_some_and(|l| l >= floor));
        if is_busy {
            consumed += done.unwrap_or(0.0);
            busy += unit.consumers;
        } else if every_unit_busy {
            return Err(Skipped::Idle);
        }
    }
    if every_unit_busy && matches!(consumers, Consumers::Members(_)) {
        busy = consumers.working(all.len());
    }
    if busy == 0 || consumed <= 0.0 {
        return Err(Skipped::Idle);
    }
    Ok(WindowRate {
        per_consumer: consumed / secs / f64::from(busy),
        busy,
    })
}

/// The committed total of `partitions`, when every one has a commit.
fn committed(work: &Work, partitions: &[i32]) -> Option<f64> {
    partitions.iter().try_fold(0.0, |sum, p| {
        let point = work.partitions.iter().find(|x| x.partition == *p)?;
        Some(sum + point.committed? as f64)
    })
}

/// The backlog of `partitions` to their commits, when every one has a commit.
fn lag(work: &Work, partitions: &[i32]) -> Option<f64> {
    partitions.iter().try_fold(0.0, |sum, p| {
        let point = work.partitions.iter().find(|x| x.partition == *p)?;
        Some(sum + (point.high - point.committed?).max(0) as f64)
    })
}

/// A move of the estimate worth a log line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Move {
    /// The estimate last reported; `None` for the first.
    pub from: Option<f64>,
    pub to: f64,
}

/// What is known of one trigger's replica rate now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Learned {
    /// Messages per second one replica processes; `None` while learning.
    pub estimate: Option<f64>,
    /// Windows learned (at most [`KEPT_WINDOWS`] are kept).
    pub windows: usize,
    /// Why the last window looked at taught nothing, if it did not.
    pub last_skip: Option<Skipped>,
    /// The consumers working now, when known.
    pub consumers: Option<u32>,
}

/// One trigger's learning, fed from its samples as they come.
#[derive(Debug, Clone, Default)]
pub struct Learner {
    windows: VecDeque<f64>,
    learned: usize,
    /// The newest sample looked at, and the end of the last window learned.
    seen: Option<Instant>,
    learned_until: Option<Instant>,
    last_skip: Option<Skipped>,
    consumers: Option<u32>,
    reported: Option<f64>,
    shown: Option<f64>,
}

impl Learner {
    /// Looks at the window ending at the newest of `samples` once, when a whole `window` has
    /// passed since the end of the last one learned; returns a move of the estimate worth
    /// reporting ([`REPORTED_MOVE`]).
    pub fn observe(&mut self, samples: &[WorkSample], window: Duration) -> Option<Move> {
        let newest = samples.last()?;
        if self.seen.is_some_and(|seen| newest.at <= seen) {
            return None;
        }
        self.seen = Some(newest.at);
        let partitions = newest.value.partitions.len();
        self.consumers = newest
            .value
            .consumers
            .as_ref()
            .map(|c| c.working(partitions));
        if self
            .learned_until
            .is_some_and(|until| newest.at.duration_since(until) < window)
        {
            return None;
        }
        match window_rate(samples, window) {
            Ok(rate) => {
                self.last_skip = None;
                self.learned_until = Some(newest.at);
                self.learned += 1;
                self.windows.push_back(rate.per_consumer);
                if self.windows.len() > KEPT_WINDOWS {
                    self.windows.pop_front();
                }
            }
            Err(skipped) => self.last_skip = Some(skipped),
        }
        let to = self.estimate()?;
        let moved = self
            .reported
            .is_none_or(|from| (to - from).abs() > REPORTED_MOVE * from);
        moved.then(|| {
            let from = self.reported.replace(to);
            Move { from, to }
        })
    }

    /// The median of the windows kept, once there are [`MIN_WINDOWS`].
    pub fn estimate(&self) -> Option<f64> {
        if self.windows.len() < MIN_WINDOWS {
            return None;
        }
        let mut sorted: Vec<f64> = self.windows.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        Some(match n % 2 {
            1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        })
    }

    /// Whether `rate` differs from the last one this was asked about (for a gauge that
    /// moves only when the rate does).
    pub fn shown(&mut self, rate: f64) -> bool {
        self.shown.replace(rate) != Some(rate)
    }

    pub fn learned(&self) -> Learned {
        Learned {
            estimate: self.estimate(),
            windows: self.learned,
            last_skip: self.last_skip,
            consumers: self.consumers,
        }
    }
}

#[cfg(test)]
#[path = "replica_rate_tests.rs"]
mod tests;
