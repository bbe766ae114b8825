//! The wait between attempts to reach an endpoint that could not be reached: 100 ms, doubling
//! to 2 s while it stays away. During the wait, callers get the last failure at once instead
//! of a new attempt, so a dead broker costs one connect per step however often it is asked,
//! and a broker that comes back is used again within 2 s. Used by the AMQP connections and
//! by the Kafka client's broker links. Times are tokio's, so tests can pause the clock.

use std::time::Duration;

use tokio::time::Instant;

/// The first wait after a failure; it doubles up to [`MAX_WAIT`].
pub const FIRST_WAIT: Duration = Duration::from_millis(100);
pub const MAX_WAIT: Duration = Duration::from_secs(2);

/// The failures of one endpoint since it last answered.
#[derive(Debug)]
pub struct Backoff<E> {
    failures: u32,
    /// The last failure and when the next attempt may be made.
    last: Option<(E, Instant)>,
}

impl<E> Default for Backoff<E> {
    fn default() -> Backoff<E> {
        Backoff {
            failures: 0,
            last: None,
        }
    }
}

impl<E: Clone> Backoff<E> {
    /// The last failure, while the wait after it lasts: answer it instead of trying again.
    pub fn waiting(&self, now: Instant) -> Option<E> {
        self.last
            .as_ref()
            .filter(|(_, retry_at)| now < *retry_at)
            .map(|(error, _)| error.clone())
    }

    /// Records a failed attempt at `now`; returns the wait before the next one.
    pub fn failed(&mut self, error: E, now: Instant) -> Duration {
        let wait = FIRST_WAIT
            .saturating_mul(1 << self.failures.min(5))
            .min(MAX_WAIT);
        self.failures = self.failures.saturating_add(1);
        self.last = Some((error, now + wait));
        wait
    }

    /// The endpoint answered: the next failure waits [`FIRST_WAIT`] again.
    pub fn succeeded(&mut self) {
        *self = Backoff::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_double_to_two_seconds_and_reset_on_success() {
        let mut backoff: Backoff<&str> = Backoff::default();
        let now = Instant::now();
        assert_eq!(backoff.waiting(now), None);
        let waits: Vec<u128> = (0..7)
            .map(|_| backoff.failed("refused", now).as_millis())
            .collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(backoff.waiting(now), Some("refused"));
        assert_eq!(
            backoff.waiting(now + Duration::from_millis(1_999)),
            Some("refused")
        );
        assert_eq!(backoff.waiting(now + MAX_WAIT), None);
        backoff.succeeded();
        assert_eq!(backoff.waiting(now), None);
        assert_eq!(backoff.failed("refused", now), FIRST_WAIT);
    }
}
