//! Background lag sampling for `strategy: step`: one task per distinct (query, lag rule,
//! interval, range), shared by every trigger and ScaledObject that asks the same. Samples go
//! through the same single-flight cache as KEDA's calls, so sampling adds at most one broker
//! query per interval and none when KEDA asked within the cache TTL.
//!
//! A task starts on the first request for its key, takes a sample at once and then every
//! interval, keeps the samples of the last range, and stops when nobody has read them for
//! two ranges (the ScaledObject was deleted): memory stays bounded by the live triggers. A
//! probe that fails (broker down) leaves a gap, which the decision sees as fewer samples.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use super::step::Sample;

/// Reads the lag once; `None` when it could not (the probe logs why).
pub type Probe = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Option<u64>> + Send>> + Send + Sync>;

/// The sampling tasks, by key.
pub struct Samplers<K> {
    windows: Arc<Mutex<HashMap<K, Arc<Window>>>>,
}

struct Window {
    samples: Mutex<VecDeque<Sample>>,
    last_read: Mutex<Instant>,
}

impl Window {
    fn lock_samples(&self) -> std::sync::MutexGuard<'_, VecDeque<Sample>> {
        self.samples.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_last_read(&self) -> std::sync::MutexGuard<'_, Instant> {
        self.last_read
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K> Default for Samplers<K> {
    fn default() -> Samplers<K> {
        Samplers {
            windows: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl<K: Eq + Hash + Clone + Send + Sync + 'static> Samplers<K> {
    /// The samples of `key`'s last `range`, oldest first; starts sampling with `probe` every
    /// `interval` when this is the first request for `key`.
    pub fn samples(
        &self,
        key: &K,
        probe: Probe,
        interval: Duration,
        range: Duration,
    ) -> Vec<Sample> {
        let window = {
            let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
            match windows.get(key) {
                Some(window) => window.clone(),
                None => {
                    let window = Arc::new(Window {
                        samples: Mutex::new(VecDeque::new()),
                        last_read: Mutex::new(Instant::now()),
                    });
                    windows.insert(key.clone(), window.clone());
                    let windows = self.windows.clone();
                    let task = run(windows, key.clone(), window.clone(), probe, interval, range);
                    tokio::spawn(task);
                    window
                }
            }
        };
        *window.lock_last_read() = Instant::now();
        window.lock_samples().iter().copied().collect()
    }

    /// Keys being sampled now.
    pub fn active(&self) -> usize {
        self.windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// The task of one key: sample every `interval`, keep `range`, stop after two idle ranges.
async fn run<K: Eq + Hash>(
    windows: Arc<Mutex<HashMap<K, Arc<Window>>>>,
    key: K,
    window: Arc<Window>,
    probe: Probe,
    interval: Duration,
    range: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if Instant::now().duration_since(*window.lock_last_read()) > range * 2 {
            let mut windows = windows.lock().unwrap_or_else(PoisonError::into_inner);
            windows.remove(&key);
            return;
        }
        if let Some(lag) = probe().await {
            let mut samples = window.lock_samples();
            let at = Instant::now();
            samples.push_back(Sample { at, lag });
            while samples
                .front()
                .is_some_and(|s| at.duration_since(s.at) > range)
            {
                samples.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    fn counting_probe(calls: Arc<AtomicU64>) -> Probe {
        Arc::new(move || {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            Box::pin(async move { if n == 2 { None } else { Some(n * 10) } })
        })
    }

    #[tokio::test(start_paused = true)]
    async fn samples_every_interval_keeps_the_range_and_stops_when_unread() {
        let samplers = Samplers::<&str>::default();
        let calls = Arc::new(AtomicU64::new(0));
        let (interval, range) = (Duration::from_secs(30), Duration::from_secs(90));
        let read = || samplers.samples(&"q", counting_probe(calls.clone()), interval, range);
        assert_eq!(read().len(), 0, "the first sample is taken by the task");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(read().iter().map(|s| s.lag).collect::<Vec<_>>(), [0]);

        // 150 s later: probes at 30, 60 (failed: a gap), 90, 120, 150 s; the range keeps 90 s.
        tokio::time::sleep(Duration::from_secs(150)).await;
        let lags: Vec<u64> = read().iter().map(|s| s.lag).collect();
        assert_eq!(lags, [30, 40, 50], "60 s and older have left the window");
        assert_eq!(samplers.active(), 1);

        // A second reader of the same key shares the task.
        read();
        assert_eq!(samplers.active(), 1);

        // Unread for more than two ranges: the task stops and forgets the key.
        let probes_before = calls.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(240)).await;
        assert_eq!(samplers.active(), 0);
        let probes_after = calls.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert_eq!(calls.load(Ordering::Relaxed), probes_after);
        assert!(probes_after > probes_before);
    }
}
