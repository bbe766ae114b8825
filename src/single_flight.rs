//! One evaluation shared by every caller that asks the same question.
//!
//! [`SingleFlight`] maps a key (the broker query, never the ScaledObject) to the latest result.
//! A result is reused for `ttl` after it arrived; while a fetch is in flight, every other
//! caller of that key waits for it instead of starting its own. Errors are cached like values,
//! so that KEDA's GetMetrics, its IsActive right after, and its immediate retry after an error
//! cost one broker query between them. Expiry uses tokio's clock, so tests can pause time.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use foldhash::fast::RandomState;
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// Whether a lookup was answered from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A fresh result, or one in flight that this caller waited for.
    Hit,
    /// This caller's fetch ran.
    Miss,
}

/// A TTL cache with single-flight fetches.
pub struct SingleFlight<K, V> {
    ttl: Duration,
    /// foldhash: the key is hashed on every call.
    slots: Mutex<HashMap<K, Arc<Slot<V>>, RandomState>>,
}

struct Slot<V> {
    /// The value and when it arrived.
    cell: OnceCell<(V, Instant)>,
}

impl<V> Slot<V> {
    fn is_fresh(&self, ttl: Duration, now: Instant) -> bool {
        match self.cell.get() {
            None => true, // in flight
            Some((_, arrived)) => now.duration_since(*arrived) < ttl,
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> SingleFlight<K, V> {
    pub fn new(ttl: Duration) -> SingleFlight<K, V> {
        SingleFlight {
            ttl,
            slots: Mutex::new(HashMap::default()),
        }
    }

    /// The cached value for `key`, or the result of `fetch` run once for all concurrent callers.
    pub async fn get_or_fetch<F, Fut>(&self, key: &K, fetch: F) -> (V, Lookup)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        self.get_or_fetch_at(key, Instant::now(), fetch).await
    }

    /// [`SingleFlight::get_or_fetch`] for a caller that asked at `now` (a value that arrived
    /// `ttl` before `now` is stale): a gRPC call passes the instant it started, which it reads
    /// anyway, and saves reading the clock again.
    pub async fn get_or_fetch_at<F, Fut>(&self, key: &K, now: Instant, fetch: F) -> (V, Lookup)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        if let Some(value) = self.get_fresh(key, now) {
            return (value, Lookup::Hit);
        }
        // Boxed: waiting on the cell (and a broker query's future, kilobytes) would otherwise
        // be embedded in every caller's future, and moved with it, though only a miss or a
        // caller that arrives during a fetch waits.
        Box::pin(Self::wait_or_fetch(self.slot(key, now), fetch)).await
    }

    /// The value for `key` if one arrived less than `ttl` before `now`: what a caller at `now`
    /// gets without waiting (a hit). `None` when it would wait for a fetch, its own or one in
    /// flight.
    pub fn get_fresh(&self, key: &K, now: Instant) -> Option<V> {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let (value, arrived) = slots.get(key)?.cell.get()?;
        (now.duration_since(*arrived) < self.ttl).then(|| value.clone())
    }

    /// The value `slot` receives: from the fetch in flight, or from `fetch` run now.
    async fn wait_or_fetch<F, Fut>(slot: Arc<Slot<V>>, fetch: F) -> (V, Lookup)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let mut ran = false;
        let (value, _) = slot
            .cell
            .get_or_init(|| async {
                ran = true;
                (fetch().await, Instant::now())
            })
            .await;
        let lookup = if ran { Lookup::Miss } else { Lookup::Hit };
        (value.clone(), lookup)
    }

    /// The current slot for `key`: the fresh or in-flight one, or a new one. Stale slots of
    /// other keys are dropped at the same time, so keys no longer asked for do not pile up.
    fn slot(&self, key: &K, now: Instant) -> Arc<Slot<V>> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get(key).filter(|s| s.is_fresh(self.ttl, now)) {
            return slot.clone();
        }
        slots.retain(|_, s| s.is_fresh(self.ttl, now));
        let slot = Arc::new(Slot {
            cell: OnceCell::new(),
        });
        slots.insert(key.clone(), slot.clone());
        slot
    }

    /// Drops the entry for `key` (a result known to be stale or failed): the next caller
    /// fetches again. Callers already waiting on an in-flight fetch still get its result.
    pub fn forget(&self, key: &K) {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    /// How many keys have a fresh or in-flight entry.
    pub fn len(&self) -> usize {
        let now = Instant::now();
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.values().filter(|s| s.is_fresh(self.ttl, now)).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    async fn counting_fetch(calls: &AtomicUsize, value: u64) -> u64 {
        calls.fetch_add(1, Ordering::SeqCst);
        // A broker round trip; the tests run on tokio's paused clock, so nothing waits.
        tokio::time::sleep(Duration::from_millis(100)).await;
        value
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_fetch() {
        let cache: SingleFlight<&str, u64> = SingleFlight::new(Duration::from_secs(2));
        let calls = AtomicUsize::new(0);
        let lookups = futures_util::future::join_all(
            (0..200).map(|_| cache.get_or_fetch(&"q", || counting_fetch(&calls, 7))),
        )
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(lookups.iter().all(|(v, _)| *v == 7));
        let misses = lookups.iter().filter(|(_, l)| *l == Lookup::Miss).count();
        assert_eq!(misses, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn values_expire_after_ttl() {
        let cache: SingleFlight<&str, u64> = SingleFlight::new(Duration::from_secs(2));
        let calls = AtomicUsize::new(0);
        assert_eq!(
            cache
                .get_or_fetch(&"q", || counting_fetch(&calls, 1))
                .await
                .0,
            1
        );
        tokio::time::advance(Duration::from_millis(1_900)).await;
        let (value, lookup) = cache.get_or_fetch(&"q", || counting_fetch(&calls, 2)).await;
        assert_eq!((value, lookup), (1, Lookup::Hit));
        tokio::time::advance(Duration::from_millis(100)).await;
        let (value, lookup) = cache.get_or_fetch(&"q", || counting_fetch(&calls, 3)).await;
        assert_eq!((value, lookup), (3, Lookup::Miss));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn keys_are_independent_and_stale_keys_are_dropped() {
        let cache: SingleFlight<&str, u64> = SingleFlight::new(Duration::from_secs(2));
        let calls = AtomicUsize::new(0);
        cache.get_or_fetch(&"a", || counting_fetch(&calls, 1)).await;
        cache.get_or_fetch(&"b", || counting_fetch(&calls, 2)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(cache.len(), 2);
        tokio::time::advance(Duration::from_secs(3)).await;
        cache.get_or_fetch(&"c", || counting_fetch(&calls, 3)).await;
        assert_eq!(cache.slots.lock().unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_fetch_is_taken_over_by_a_waiter() {
        let cache: Arc<SingleFlight<&str, u64>> =
            Arc::new(SingleFlight::new(Duration::from_secs(2)));
        let first = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_or_fetch(&"q", || async {
                        std::future::pending::<()>().await;
                        0
                    })
                    .await
            })
        };
        tokio::task::yield_now().await;
        first.abort();
        let calls = AtomicUsize::new(0);
        let (value, _) = cache.get_or_fetch(&"q", || counting_fetch(&calls, 5)).await;
        assert_eq!(value, 5);
    }
}
