//! Scenario time for `lagscale demo`'s closed loop: a scenario replayed `speed` times faster
//! than it is written, as lagscale's policies see it. In `serve` (and everywhere else) the
//! speed is 1 and [`Compression`] changes nothing.
//!
//! A run at speed N compresses both time and volume by N, so that one wall second carries N
//! scenario seconds and the machine carries no more records per second than the scenario has
//! messages per second:
//! - time: a wall second is N scenario seconds. What the policies measure in time (offset
//!   sample instants, hence rates; the sampling intervals; the step strategy's windows and
//!   its "since the last scale") is read on the scenario clock, [`Compression::now`], so rate
//!   windows, `drainSeconds`, `minScaleActionIntervalSecs` and every other duration in a
//!   trigger keep the meaning they have in production;
//! - volume: each Kafka record stands for N messages ([`Compression::messages`]): the lag
//!   and the offsets rates come from are N times the records. Trigger thresholds (in
//!   messages), the log2 transform and rates (messages per scenario second) then apply
//!   unchanged.
//!
//! Broker I/O (timeouts, reconnection backoff) and the answer cache stay on the wall clock:
//! they are about the machine, not the scenario (the demo shortens the cache TTL itself).

use std::time::Duration;

use tokio::time::Instant;

/// How a run maps wall time and records onto the scenario.
#[derive(Debug, Clone, Copy)]
pub struct Compression {
    speed: u32,
    /// The wall instant at which both clocks agree.
    origin: Instant,
}

impl Default for Compression {
    fn default() -> Compression {
        Compression::new(1)
    }
}

impl Compression {
    /// Compression by `speed` (at least 1), the clocks agreeing now.
    pub fn new(speed: u32) -> Compression {
        Compression {
            speed: speed.max(1),
            origin: Instant::now(),
        }
    }

    pub fn speed(&self) -> u32 {
        self.speed
    }

    /// Whether this is production's identity (speed 1).
    pub fn is_none(&self) -> bool {
        self.speed == 1
    }

    /// The scenario instant of the wall instant `wall`.
    pub fn scenario(&self, wall: Instant) -> Instant {
        match self.speed {
            1 => wall,
            n => self.origin + wall.saturating_duration_since(self.origin) * n,
        }
    }

    /// The scenario clock now.
    pub fn now(&self) -> Instant {
        self.scenario(Instant::now())
    }

    /// Scenario time elapsed since the clocks agreed.
    pub fn elapsed(&self) -> Duration {
        self.now().saturating_duration_since(self.origin)
    }

    /// The wall time a scenario duration takes.
    pub fn wall(&self, scenario: Duration) -> Duration {
        scenario / self.speed
    }

    /// Messages that `records` records stand for (an offset, a lag).
    pub fn messages(&self, records: i64) -> i64 {
        records.saturating_mul(i64::from(self.speed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn speed_one_is_the_identity() {
        let c = Compression::default();
        let before = Instant::now();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(c.now(), Instant::now());
        assert_eq!(c.scenario(before), before);
        assert_eq!(c.wall(Duration::from_secs(30)), Duration::from_secs(30));
        assert_eq!(c.messages(42), 42);
        assert!(c.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn speed_n_runs_the_scenario_clock_n_times_faster_and_counts_n_messages_a_record() {
        let c = Compression::new(60);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(c.elapsed(), Duration::from_secs(120));
        assert_eq!(c.wall(Duration::from_secs(30)), Duration::from_millis(500));
        assert_eq!(c.messages(10), 600);
        assert_eq!(c.messages(-1), -60);
        // An instant from before the clocks agreed is their common origin.
        let early = Instant::now() - Duration::from_secs(10);
        assert_eq!(c.scenario(early), c.now() - Duration::from_secs(120));
        assert_eq!(Compression::new(0).speed(), 1);
    }
}
