//! Parsed triggers by their metadata. KEDA sends the same `scalerMetadata` on every call of a
//! trigger; parsing it once, instead of on every call, keeps the allocations of the parser
//! (keys, profiles, metric names) off the hot path. Only valid triggers are kept; the cache
//! is emptied when it reaches [`MAX_ENTRIES`] or [`MAX_BYTES`] of metadata, so it stays
//! bounded whatever clients send (one map is itself bounded by the trigger parser's limits).
//!
//! A lookup is on every call's path, so it hashes each key and value once, with foldhash
//! (seeded per process), orders the pairs by those hashes, and compares them pair by pair with
//! the kept map's pairs in the same order: no allocation and no second hashing.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use foldhash::fast::RandomState;

use crate::trigger::TriggerSpec;

/// Distinct metadata maps kept at most.
pub const MAX_ENTRIES: usize = 10_000;
/// Bytes of metadata keys and values kept at most.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;

/// A map's pairs with their hashes, in [`by_hash`] order.
type Pairs<'a> = [(u64, &'a str, &'a str)];

/// A kept map's pairs with their hashes, in [`by_hash`] order.
type Kept = Box<[(u64, String, String)]>;

/// The specs whose metadata hash to one key (almost always one).
type Bucket = Vec<(Kept, Arc<TriggerSpec>)>;

/// Pairs of a lookup kept on the stack (a map of more takes one allocation).
const STACK_PAIRS: usize = 32;

#[derive(Default)]
pub struct TriggerMemo {
    entries: Mutex<HashMap<u64, Bucket, RandomState>>,
    /// Hashes the pairs of a map.
    hasher: RandomState,
    /// Maps kept, and the bytes of their keys and values.
    count: AtomicUsize,
    bytes: AtomicUsize,
}

/// By hash, then by key (keys are unique in a map, so the order is total).
fn by_hash(a: &(u64, &str, &str), b: &(u64, &str, &str)) -> Ordering {
    a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1))
}

/// Whether `pairs` are exactly the pairs of `kept`.
fn same(kept: &Kept, pairs: &Pairs) -> bool {
    kept.len() == pairs.len()
        && kept
            .iter()
            .zip(pairs)
            .all(|((h, k, v), (hash, key, value))| h == hash && k == key && v == value)
}

impl TriggerMemo {
    /// The spec parsed from the metadata of these pairs (keys unique), parsing it with `parse`
    /// the first time.
    pub fn get_or_parse<'a, E>(
        &self,
        metadata: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
        parse: impl FnOnce() -> Result<TriggerSpec, E>,
    ) -> Result<Arc<TriggerSpec>, E> {
        let mut stack = [(0, "", ""); STACK_PAIRS];
        let mut heap = Vec::new();
        let pairs: &mut Pairs = match metadata.len() {
            n if n <= STACK_PAIRS => &mut stack[..n],
            n => {
                heap.resize(n, (0, "", ""));
                &mut heap
            }
        };
        for (pair, (key, value)) in pairs.iter_mut().zip(metadata) {
            *pair = (self.hasher.hash_one((key, value)), key, value);
        }
        pairs.sort_unstable_by(by_hash);
        let key = pairs
            .iter()
            .fold(pairs.len() as u64, |acc, p| acc.wrapping_add(p.0));
        let lock = || self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(spec) = lock()
            .get(&key)
            .and_then(|bucket| bucket.iter().find(|(kept, _)| same(kept, pairs)))
            .map(|(_, spec)| spec.clone())
        {
            return Ok(spec);
        }
        let spec = Arc::new(parse()?);
        let mut entries = lock();
        let adding: usize = pairs.iter().map(|(_, k, v)| k.len() + v.len()).sum();
        if self.count.load(Relaxed) >= MAX_ENTRIES || self.bytes.load(Relaxed) + adding > MAX_BYTES
        {
            entries.clear();
            self.count.store(0, Relaxed);
            self.bytes.store(0, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.bytes.fetch_add(adding, Relaxed);
        let kept = pairs
            .iter()
            .map(|&(hash, k, v)| (hash, k.to_owned(), v.to_owned()))
            .collect();
        entries.entry(key).or_default().push((kept, spec.clone()));
        Ok(spec)
    }

    pub fn len(&self) -> usize {
        self.count.load(Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of metadata kept.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    type Metadata = HashMap<String, String>;

    fn pairs(m: &Metadata) -> impl ExactSizeIterator<Item = (&str, &str)> {
        m.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn metadata(queue: &str) -> Metadata {
        [
            ("source", "rabbitmq"),
            ("host", "amqp://h"),
            ("queueName", queue),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into_iter()
        .collect()
    }

    fn parse(m: &Metadata) -> Result<TriggerSpec, crate::metadata::TriggerError> {
        TriggerSpec::parse(m, &BTreeMap::new())
    }

    #[test]
    fn parses_once_per_metadata_and_stays_bounded() {
        let cache = TriggerMemo::default();
        let mut parses = 0;
        for _ in 0..3 {
            let m = metadata("a");
            cache
                .get_or_parse(pairs(&m), || {
                    parses += 1;
                    parse(&m)
                })
                .unwrap();
        }
        assert_eq!(parses, 1);
        let b = cache
            .get_or_parse(pairs(&metadata("b")), || parse(&metadata("b")))
            .unwrap();
        assert_eq!(b.metric_name.as_str(), "rabbitmq-b");
        assert_eq!(cache.len(), 2);
        // Errors are not kept: a bad trigger is parsed (and reported) every time.
        let mut bad = metadata("c");
        bad.insert("lagTreshold".to_owned(), "1".to_owned());
        assert!(cache.get_or_parse(pairs(&bad), || parse(&bad)).is_err());
        assert_eq!(cache.len(), 2);
        for i in 0..MAX_ENTRIES {
            let m = metadata(&format!("q{i}"));
            cache.get_or_parse(pairs(&m), || parse(&m)).unwrap();
        }
        assert!(cache.len() <= MAX_ENTRIES);
    }

    #[test]
    fn a_map_is_found_in_any_order_and_only_when_every_pair_matches() {
        let cache = TriggerMemo::default();
        let m = metadata("a");
        let first = cache.get_or_parse(pairs(&m), || parse(&m)).unwrap();
        // Built in reverse: another map, another iteration order.
        let mut reversed: Vec<_> = m.clone().into_iter().collect();
        reversed.reverse();
        let reordered: Metadata = reversed.into_iter().collect();
        let again = cache
            .get_or_parse(
                pairs(&reordered),
                || -> Result<TriggerSpec, crate::metadata::TriggerError> { panic!("parsed again") },
            )
            .unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let mut other_value = m.clone();
        other_value.insert("host".to_owned(), "amqp://g".to_owned());
        let mut one_more = m.clone();
        one_more.insert("lagThreshold".to_owned(), "5".to_owned());
        let mut one_less = m.clone();
        one_less.remove("host");
        one_less.insert("hostFromEnv".to_owned(), "HOST".to_owned());
        for other in [other_value, one_more, one_less] {
            let mut parsed = false;
            let _ = cache.get_or_parse(pairs(&other), || {
                parsed = true;
                parse(&other)
            });
            assert!(parsed, "{other:?} is not {m:?}");
        }
    }

    #[test]
    fn stays_bounded_by_bytes_too() {
        let cache = TriggerMemo::default();
        // Valid triggers with the largest scalerAddress the parser takes (KEDA's key, ignored
        // by lagscale): about 4 KiB each, so the byte bound is reached long before the count.
        let address = "x".repeat(4000);
        for i in 0..(MAX_BYTES / 4000) + 10 {
            let mut m = metadata(&format!("q{i}"));
            m.insert("scalerAddress".to_owned(), address.clone());
            cache.get_or_parse(pairs(&m), || parse(&m)).unwrap();
            assert!(cache.bytes() <= MAX_BYTES, "{} bytes kept", cache.bytes());
        }
        assert!(cache.len() <= MAX_BYTES / 4000, "{} kept", cache.len());
    }
}
