//! Broker clients by endpoint, each closed once no trigger has used it for the idle TTL.
//!
//! Every distinct endpoint a trigger names gets a client (an AMQP connection, a Kafka client
//! with its broker connections). Without eviction, clients of endpoints nobody asks for any
//! more would stay forever: a ScaledObject deleted, a profile renamed, or 5,000 inline
//! endpoints sent by one caller. A client is "used" each time a query takes it;
//! [`Pool::take_idle`] removes the clients unused for `idle_client_ttl_ms` that no query
//! holds, and their owner closes them. The next query for that endpoint makes a new one.
//! Times are tokio's, so the tests pause the clock.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Clients by key, with when each was last used.
pub struct Pool<K, V> {
    idle_ttl: Duration,
    entries: Mutex<HashMap<K, Entry<V>>>,
}

struct Entry<V> {
    client: Arc<V>,
    last_used: Instant,
}

impl<K: Eq + Hash + Clone, V> Pool<K, V> {
    pub fn new(idle_ttl: Duration) -> Pool<K, V> {
        Pool {
            idle_ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The client for `key`, made by `make` when there is none; marked used now.
    pub fn get_or_try_insert<E>(
        &self,
        key: &K,
        make: impl FnOnce() -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        let now = Instant::now();
        let mut entries = self.lock();
        if let Some(entry) = entries.get_mut(key) {
            entry.last_used = now;
            return Ok(entry.client.clone());
        }
        let client = Arc::new(make()?);
        let entry = Entry {
            client: client.clone(),
            last_used: now,
        };
        entries.insert(key.clone(), entry);
        Ok(client)
    }

    /// [`Pool::get_or_try_insert`] for a `make` that cannot fail.
    pub fn get_or_insert_with(&self, key: &K, make: impl FnOnce() -> V) -> Arc<V> {
        match self.get_or_try_insert(key, || Ok::<V, std::convert::Infallible>(make())) {
            Ok(client) => client,
        }
    }

    /// Removes and returns the clients unused for the idle TTL that no query holds now.
    pub fn take_idle(&self) -> Vec<Arc<V>> {
        let now = Instant::now();
        let mut taken = Vec::new();
        self.lock().retain(|_, entry| {
            let idle = now.duration_since(entry.last_used) >= self.idle_ttl
                && Arc::strong_count(&entry.client) == 1;
            if idle {
                taken.push(entry.client.clone());
            }
            !idle
        });
        taken
    }

    /// Every client, for counting.
    pub fn clients(&self) -> Vec<Arc<V>> {
        self.lock().values().map(|e| e.client.clone()).collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry<V>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Pool<&'static str, String> {
        Pool::new(Duration::from_secs(600))
    }

    fn get(pool: &Pool<&'static str, String>, key: &'static str) -> Arc<String> {
        pool.get_or_try_insert(&key, || Ok::<_, ()>(key.to_owned()))
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_unused_for_the_ttl_is_taken_and_made_again_on_next_use() {
        let pool = pool();
        let first = get(&pool, "a");
        drop(first);
        tokio::time::advance(Duration::from_secs(599)).await;
        assert!(pool.take_idle().is_empty(), "used 599 s ago: kept");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(pool.take_idle().len(), 1, "unused for 600 s: taken");
        assert_eq!(pool.len(), 0);
        assert_eq!(*get(&pool, "a"), "a", "the next use makes a new client");
        assert_eq!(pool.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn every_use_restarts_the_idle_time() {
        let pool = pool();
        for _ in 0..10 {
            drop(get(&pool, "a"));
            tokio::time::advance(Duration::from_secs(300)).await;
            assert!(pool.take_idle().is_empty());
        }
        drop(get(&pool, "b"));
        tokio::time::advance(Duration::from_secs(600)).await;
        let taken: Vec<String> = pool.take_idle().iter().map(|c| c.to_string()).collect();
        assert_eq!(taken.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_a_query_still_holds_is_kept() {
        let pool = pool();
        let held = get(&pool, "a");
        tokio::time::advance(Duration::from_secs(3_600)).await;
        assert!(pool.take_idle().is_empty(), "in use");
        drop(held);
        assert_eq!(pool.take_idle().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_make_stores_nothing() {
        let pool = pool();
        let made = pool.get_or_try_insert(&"a", || Err::<String, _>("bad"));
        assert_eq!(made.unwrap_err(), "bad");
        assert_eq!(pool.len(), 0);
    }
}
