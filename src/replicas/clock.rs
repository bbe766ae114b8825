//! The HPA's `status.lastScaleTime` is wall-clock time: the controller manager's `time.Now()`
//! when it rescaled (kubernetes/kubernetes, pkg/controller/podautoscaler/horizontal.go,
//! `setStatus`), written in whole seconds (metav1.Time marshals RFC 3339 without fractions).
//! The step decision and its lag samples run on tokio's clock. [`WallClock`] relates the two
//! once, when the replica source is made, so the same `lastScaleTime` is the same instant on
//! every read, cached or fresh, and on tokio's paused clock too.
//!
//! Relating them again on every read (the instant now, less the wall-clock age now) made a
//! fresh read's instant depend on when the read happened: wherever the two clocks do not
//! advance together (the paused clock; a wall clock stepped or slewed apart from the
//! monotonic one), each cache miss moved the last scale, and with it the window of samples
//! after it, so a decision flickered. A `lastScaleTime` ahead of this clock (the controller
//! manager's clock is ahead of this node's) became the time of the read, a new one each time.
//! With one relation it is a later instant, and the decision holds until it passes.
//!
//! The cost: a wall clock stepped after start (not slewed: the monotonic clock follows a
//! slew) shifts every `lastScaleTime` by the step, the same for every read, until restart.

use std::time::SystemTime;

use tokio::time::Instant;

/// Wall-clock times on tokio's clock, by one fixed relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock {
    wall: SystemTime,
    instant: Instant,
}

impl WallClock {
    /// Both clocks, read together now.
    pub fn now() -> WallClock {
        WallClock {
            wall: SystemTime::now(),
            instant: Instant::now(),
        }
    }

    /// The instant of wall-clock time `at`; `None` only out of the instant's range (billions
    /// of years away).
    pub fn instant(&self, at: SystemTime) -> Option<Instant> {
        match at.duration_since(self.wall) {
            Ok(after) => self.instant.checked_add(after),
            Err(before) => self.instant.checked_sub(before.duration()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The same wall time is the same instant however much later it is read, on the paused
    /// clock (which the wall clock does not follow) too; a time ahead of the wall clock is a
    /// later instant, not the time of the read.
    #[tokio::test(start_paused = true)]
    async fn a_wall_time_is_one_instant_whenever_it_is_read() {
        let clock = WallClock::now();
        let start = Instant::now();
        let scaled = SystemTime::now() - Duration::from_secs(590);
        let ahead = SystemTime::now() + Duration::from_secs(5);
        let first = (clock.instant(scaled), clock.instant(ahead));
        tokio::time::advance(Duration::from_secs(15)).await;
        assert_eq!((clock.instant(scaled), clock.instant(ahead)), first);
        let (scaled, ahead) = (first.0.unwrap(), first.1.unwrap());
        // Within the real time this test took to read the clocks.
        let near = |at: Instant, expected: Instant| at.max(expected) - at.min(expected);
        assert!(near(scaled, start - Duration::from_secs(590)) < Duration::from_secs(1));
        assert!(near(ahead, start + Duration::from_secs(5)) < Duration::from_secs(1));
        assert_eq!(
            Instant::now().duration_since(start),
            Duration::from_secs(15)
        );
    }
}
