//! Gathers the requests that are ready at the same moment into one. OffsetFetch v8+ and
//! FindCoordinator v4+ carry many groups, so when G groups are refreshed together (a sampler
//! tick, a burst of KEDA calls) they cost one request per coordinator broker, not G.
//!
//! The first item queued for a key starts a flush task; the task lets the other tasks that are
//! ready run (`yield_now` until the queue has not grown for [`QUIET_YIELDS`] turns in a row),
//! then takes everything queued for that key and sends it as one batch. The task is spawned, so a caller that gives up (its
//! deadline passed) never strands the others queued behind it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

/// How many times the flush task yields, at most, while the queue keeps growing.
const MAX_GATHER_YIELDS: usize = 256;
/// Turns without a new item after which the batch is sent.
const QUIET_YIELDS: usize = 3;

/// Items for one batch, each with the sender of its answer.
type Queue<T, R> = Vec<(T, oneshot::Sender<R>)>;

pub struct Batcher<T, R> {
    queues: Arc<Mutex<HashMap<i32, Queue<T, R>>>>,
}

impl<T, R> Default for Batcher<T, R> {
    fn default() -> Batcher<T, R> {
        Batcher {
            queues: Arc::default(),
        }
    }
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Queues `item` under `key` (a broker), and returns its answer once its batch is sent.
    /// `flush` sends one batch and answers every item, in order. `None`: the flush failed to
    /// answer this item (it panicked, or answered fewer items than it was given).
    pub async fn submit<F, Fut>(&self, key: i32, item: T, flush: F) -> Option<R>
    where
        F: FnOnce(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let first = {
            let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
            let queue = queues.entry(key).or_default();
            queue.push((item, reply));
            queue.len() == 1
        };
        if first {
            let queues = self.queues.clone();
            tokio::spawn(async move {
                let (mut seen, mut quiet) = (0, 0);
                for _ in 0..MAX_GATHER_YIELDS {
                    tokio::task::yield_now().await;
                    let now = queued(&queues, key);
                    quiet = if now == seen { quiet + 1 } else { 0 };
                    if quiet == QUIET_YIELDS {
                        break;
                    }
                    seen = now;
                }
                let batch = queues
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&key)
                    .unwrap_or_default();
                let (items, replies): (Vec<T>, Vec<_>) = batch.into_iter().unzip();
                let answers = flush(items).await;
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(answer);
                }
            });
        }
        answer.await.ok()
    }
}

fn queued<T, R>(queues: &Mutex<HashMap<i32, Queue<T, R>>>, key: i32) -> usize {
    queues
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
        .map_or(0, Vec::len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn items_ready_together_go_in_one_batch_per_key() {
        let batcher = Arc::new(Batcher::<u32, u32>::default());
        let flushes = Arc::new(AtomicUsize::new(0));
        let calls = (0..100u32).map(|i| {
            let (batcher, flushes) = (batcher.clone(), flushes.clone());
            async move {
                let key = (i % 2) as i32;
                batcher
                    .submit(key, i, move |items| async move {
                        flushes.fetch_add(1, Ordering::SeqCst);
                        items.into_iter().map(|i| i * 10).collect()
                    })
                    .await
            }
        });
        let answers: Vec<Option<u32>> = futures_util::future::join_all(calls).await;
        assert_eq!(answers, (0..100).map(|i| Some(i * 10)).collect::<Vec<_>>());
        assert_eq!(flushes.load(Ordering::SeqCst), 2, "one batch per key");
    }

    #[tokio::test]
    async fn a_flush_that_answers_too_few_gives_none_not_a_hang() {
        let batcher = Batcher::<u32, u32>::default();
        let answer = batcher.submit(0, 1, |_| async { Vec::new() }).await;
        assert_eq!(answer, None);
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_does_not_strand_the_others() {
        let batcher = Arc::new(Batcher::<u32, u32>::default());
        let (release, released) = oneshot::channel::<()>();
        let released = Arc::new(tokio::sync::Mutex::new(Some(released)));
        let first = {
            let batcher = batcher.clone();
            let released = released.clone();
            tokio::spawn(async move {
                batcher
                    .submit(7, 1, move |items| async move {
                        if let Some(r) = released.lock().await.take() {
                            let _ = r.await;
                        }
                        items
                    })
                    .await
            })
        };
        let second = {
            let batcher = batcher.clone();
            tokio::spawn(async move { batcher.submit(7, 2, |items| async move { items }).await })
        };
        tokio::task::yield_now().await;
        first.abort();
        let _ = release.send(());
        assert_eq!(second.await.unwrap(), Some(2));
    }
}
