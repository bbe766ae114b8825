//! Background sampling: the lag for `strategy: step`, offsets for `metric: throughput`. One
//! task per distinct key (what is sampled, interval, range), shared by every trigger and
//! ScaledObject that asks the same. Probes go through the same single-flight cache as KEDA's
//! calls, so sampling adds at most one broker query per interval and none when KEDA asked
//! within the cache TTL; each sample carries the time its value was read.
//!
//! A task starts on the first request for its key, takes a sample at once and then every
//! interval, keeps the samples of the last range, and stops when nobody has read them for
//! two ranges (the ScaledObject was deleted): memory stays bounded by the live triggers. A
//! probe that fails (broker down) leaves a gap, which the decision sees as fewer samples.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use crate::compression::Compression;

/// A value and when it was read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timed<V> {
    pub at: Instant,
    pub value: V,
}

/// Reads the value once; `None` when it could not (the probe logs why).
pub type Probe<V> =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Option<Timed<V>>> + Send>> + Send + Sync>;

type Windows<K, V> = Arc<Mutex<HashMap<K, Arc<Window<V>>>>>;

/// The sampling tasks, by key, on the scenario clock of a [`Compression`] (tokio's clock
/// but in `lagscale demo`'s closed loop): intervals, ranges and sample instants are scenario
/// time.
pub struct Samplers<K, V> {
    windows: Windows<K, V>,
    clock: Compression,
}

struct Window<V> {
    samples: Mutex<VecDeque<Timed<V>>>,
    last_read: Mutex<Instant>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<K, V> Default for Samplers<K, V> {
    fn default() -> Samplers<K, V> {
        Samplers::new(Compression::default())
    }
}

impl<K, V> Samplers<K, V> {
    pub fn new(clock: Compression) -> Samplers<K, V> {
        Samplers {
            windows: Arc::new(Mutex::new(HashMap::new())),
            clock,
        }
    }
}

impl<K, V> Samplers<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The samples of `key`'s last `range`, oldest first; starts sampling with `probe` every
    /// `interval` when this is the first request for `key`.
    pub fn samples(
        &self,
        key: &K,
        probe: Probe<V>,
        interval: Duration,
        range: Duration,
    ) -> Vec<Timed<V>> {
        let window = {
            let mut windows = lock(&self.windows);
            match windows.get(key) {
                Some(window) => window.clone(),
                None => {
                    let window = Arc::new(Window {
                        samples: Mutex::new(VecDeque::new()),
                        last_read: Mutex::new(self.clock.now()),
                    });
                    windows.insert(key.clone(), window.clone());
                    let windows = self.windows.clone();
                    let task = run(
                        windows,
                        key.clone(),
                        window.clone(),
                        probe,
                        (interval, range),
                        self.clock,
                    );
                    tokio::spawn(task);
                    window
                }
            }
        };
        *lock(&window.last_read) = self.clock.now();
        lock(&window.samples).iter().cloned().collect()
    }

    /// Keys being sampled now.
    pub fn active(&self) -> usize {
        lock(&self.windows).len()
    }

    /// Whether `key` is being sampled now.
    pub fn is_sampled(&self, key: &K) -> bool {
        lock(&self.windows).contains_key(key)
    }
}

/// The task of one key: sample every `interval`, keep `range`, stop after two idle ranges
/// (all scenario time on `clock`).
async fn run<K: Eq + Hash, V>(
    windows: Windows<K, V>,
    key: K,
    window: Arc<Window<V>>,
    probe: Probe<V>,
    (interval, range): (Duration, Duration),
    clock: Compression,
) {
    let mut ticker = tokio::time::interval(clock.wall(interval).max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if clock.now().duration_since(*lock(&window.last_read)) > range * 2 {
            lock(&windows).remove(&key);
            return;
        }
        if let Some(sample) = probe().await {
            let mut samples = lock(&window.samples);
            let at = sample.at;
            // A cached value read no later than the last sample adds nothing.
            if samples.back().is_none_or(|last| at > last.at) {
                samples.push_back(sample);
            }
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

    fn counting_probe(calls: Arc<AtomicU64>) -> Probe<u64> {
        Arc::new(move || {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            let at = Instant::now();
            Box::pin(async move { (n != 2).then_some(Timed { at, value: n * 10 }) })
        })
    }

    #[tokio::test(start_paused = true)]
    async fn samples_every_interval_keeps_the_range_and_stops_when_unread() {
        let samplers = Samplers::<&str, u64>::default();
        let calls = Arc::new(AtomicU64::new(0));
        let (interval, range) = (Duration::from_secs(30), Duration::from_secs(90));
        let read = || samplers.samples(&"q", counting_probe(calls.clone()), interval, range);
        assert_eq!(read().len(), 0, "the first sample is taken by the task");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(read().iter().map(|s| s.value).collect::<Vec<_>>(), [0]);

        // 150 s later: probes at 30, 60 (failed: a gap), 90, 120, 150 s; the range keeps 90 s.
        tokio::time::sleep(Duration::from_secs(150)).await;
        let lags: Vec<u64> = read().iter().map(|s| s.value).collect();
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

    #[tokio::test(start_paused = true)]
    async fn a_value_read_before_the_last_sample_is_not_added_twice() {
        let samplers = Samplers::<&str, u64>::default();
        let fixed = Instant::now();
        let probe: Probe<u64> = Arc::new(move || {
            Box::pin(async move {
                Some(Timed {
                    at: fixed,
                    value: 7,
                })
            })
        });
        let (interval, range) = (Duration::from_secs(1), Duration::from_secs(60));
        samplers.samples(&"cached", probe.clone(), interval, range);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(samplers.samples(&"cached", probe, interval, range).len(), 1);
    }
}
