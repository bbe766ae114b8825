//! Parsed triggers by their metadata. KEDA sends the same `scalerMetadata` on every call of a
//! trigger; parsing it once, instead of on every call, keeps the allocations of the parser
//! (keys, profiles, metric names) off the hot path. Only valid triggers are kept; the cache
//! is emptied when it reaches [`MAX_ENTRIES`] or [`MAX_BYTES`] of metadata, so it stays
//! bounded whatever clients send (one map is itself bounded by the trigger parser's limits).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use crate::trigger::TriggerSpec;

/// Distinct metadata maps kept at most.
pub const MAX_ENTRIES: usize = 10_000;
/// Bytes of metadata keys and values kept at most.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;

type Metadata = HashMap<String, String>;

/// The specs whose metadata hash to one key (almost always one).
type Bucket = Vec<(Metadata, Arc<TriggerSpec>)>;

#[derive(Default)]
pub struct TriggerMemo {
    entries: Mutex<HashMap<u64, Bucket>>,
    /// Bytes of the keys and values in `entries`.
    bytes: std::sync::atomic::AtomicUsize,
}

/// The bytes of a map's keys and values.
fn size(metadata: &Metadata) -> usize {
    metadata.iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// A hash of the map that does not depend on its iteration order.
fn key(metadata: &Metadata) -> u64 {
    metadata.iter().fold(metadata.len() as u64, |acc, pair| {
        let mut hasher = DefaultHasher::new();
        pair.hash(&mut hasher);
        acc ^ hasher.finish()
    })
}

impl TriggerMemo {
    /// The spec parsed from `metadata`, parsing it with `parse` the first time.
    pub fn get_or_parse<E>(
        &self,
        metadata: &Metadata,
        parse: impl FnOnce() -> Result<TriggerSpec, E>,
    ) -> Result<Arc<TriggerSpec>, E> {
        let key = key(metadata);
        let lock = || self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(spec) = lock()
            .get(&key)
            .and_then(|same| same.iter().find(|(m, _)| m == metadata))
            .map(|(_, spec)| spec.clone())
        {
            return Ok(spec);
        }
        let spec = Arc::new(parse()?);
        let mut entries = lock();
        use std::sync::atomic::Ordering::Relaxed;
        let adding = size(metadata);
        if entries.values().map(Vec::len).sum::<usize>() >= MAX_ENTRIES
            || self.bytes.load(Relaxed) + adding > MAX_BYTES
        {
            entries.clear();
            self.bytes.store(0, Relaxed);
        }
        self.bytes.fetch_add(adding, Relaxed);
        entries
            .entry(key)
            .or_default()
            .push((metadata.clone(), spec.clone()));
        Ok(spec)
    }

    pub fn len(&self) -> usize {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of metadata kept.
    pub fn bytes(&self) -> usize {
        self.bytes.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

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
                .get_or_parse(&m, || {
                    parses += 1;
                    parse(&m)
                })
                .unwrap();
        }
        assert_eq!(parses, 1);
        let b = cache
            .get_or_parse(&metadata("b"), || parse(&metadata("b")))
            .unwrap();
        assert_eq!(b.metric_name.as_str(), "rabbitmq-b");
        assert_eq!(cache.len(), 2);
        // Errors are not kept: a bad trigger is parsed (and reported) every time.
        let mut bad = metadata("c");
        bad.insert("lagTreshold".to_owned(), "1".to_owned());
        assert!(cache.get_or_parse(&bad, || parse(&bad)).is_err());
        assert_eq!(cache.len(), 2);
        for i in 0..MAX_ENTRIES {
            let m = metadata(&format!("q{i}"));
            cache.get_or_parse(&m, || parse(&m)).unwrap();
        }
        assert!(cache.len() <= MAX_ENTRIES);
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
            cache.get_or_parse(&m, || parse(&m)).unwrap();
            assert!(cache.bytes() <= MAX_BYTES, "{} bytes kept", cache.bytes());
        }
        assert!(cache.len() <= MAX_BYTES / 4000, "{} kept", cache.len());
    }
}
