//! Parsed triggers by their metadata. KEDA sends the same `scalerMetadata` on every call of a
//! trigger; parsing it once, instead of on every call, keeps the allocations of the parser
//! (keys, profiles, metric names) off the hot path. Only valid triggers are kept; the memo
//! is emptied when it reaches [`MAX_ENTRIES`] maps or [`MAX_BYTES`] of metadata (its received
//! orders alone at [`MAX_ORDERS`] or [`MAX_BYTES`]), so it stays bounded whatever clients send
//! (one map is itself bounded by the trigger parser's limits).
//!
//! A lookup is on every call's path, and needs nothing but the map's bytes as received: one
//! hash of them, one comparison, no decoding (`src/metadata/scaled_object.rs`). KEDA sends a
//! trigger's map in few orders: grpc-go marshals it with protobuf-go, which ranges over the Go
//! map (`appendMap` in protobuf-go's `internal/impl/codec_map.go`), and Go starts the range of
//! a map of up to 8 entries, one group, at a random slot and wraps around (`Iter.Init` in Go's
//! `internal/runtime/maps/table.go`): at most 8 orders per map and KEDA process. An order not
//! seen yet is decoded and looked up by its set of pairs: each pair hashed once, the pairs
//! ordered by those hashes and compared one by one with a kept map's. Only a set not seen yet
//! is parsed. Hashes are foldhash's, seeded per process.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use foldhash::fast::RandomState;

use prost::DecodeError;

use crate::metadata::scaled_object::{Pairs, ScalerMetadata};
use crate::trigger::TriggerSpec;

/// Distinct metadata maps kept at most: twice the envelope's 10,100 triggers (BENCHMARKS.md),
/// so that a server with that many does not empty its memo on every round of calls.
pub const MAX_ENTRIES: usize = 20_000;
/// Received orders of them kept at most: 8 per map.
pub const MAX_ORDERS: usize = 8 * MAX_ENTRIES;
/// Bytes kept at most, by sets (their keys and values) and by received maps (their text, and
/// [`ORDER_OVERHEAD`] each) each.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;
/// What a received map costs beyond its bytes, counted against [`MAX_BYTES`]: its allocation
/// and its place in the map, about.
const ORDER_OVERHEAD: usize = 128;

/// A pair to look up: its hash, its key, its value.
type Lookup<'a> = (u64, &'a str, &'a str);

/// A kept map's pairs, in hash order: each pair's hash, its key and value as one string, and
/// the key's length.
type Kept = Box<[(u64, Box<str>, usize)]>;

/// A kept map's bytes as received ([`ScalerMetadata::as_received`]).
type Received = Box<[u8]>;

/// The kept specs, by two keys (almost always one spec per key).
#[derive(Default)]
struct Maps {
    /// By the hash of the set of pairs.
    sets: HashMap<u64, Vec<(Kept, Arc<TriggerSpec>)>, RandomState>,
    /// By the hash of the map as received, order included.
    received: HashMap<u64, Vec<(Received, Arc<TriggerSpec>)>, RandomState>,
    /// How many sets are kept, and their keys' and values' bytes.
    sets_kept: usize,
    set_bytes: usize,
    /// How many received maps are kept, and their bytes.
    orders_kept: usize,
    order_bytes: usize,
}

impl Maps {
    /// Makes room for one more set of `bytes`: empties everything if it would go beyond a
    /// bound.
    fn add_set(&mut self, bytes: usize) {
        if self.sets_kept >= MAX_ENTRIES || self.set_bytes + bytes > MAX_BYTES {
            *self = Maps::default();
        }
        self.sets_kept += 1;
        self.set_bytes += bytes;
    }

    /// Makes room for one more received map of `bytes`: empties the received maps (not the
    /// sets) if it would go beyond a bound.
    fn add_order(&mut self, bytes: usize) {
        if self.orders_kept >= MAX_ORDERS || self.order_bytes + bytes > MAX_BYTES {
            self.received.clear();
            self.orders_kept = 0;
            self.order_bytes = 0;
        }
        self.orders_kept += 1;
        self.order_bytes += bytes;
    }
}

#[derive(Default)]
pub struct TriggerMemo {
    maps: Mutex<Maps>,
    hasher: RandomState,
}

/// Whether `pairs` are exactly the pairs of `kept`.
fn same(kept: &Kept, pairs: &[Lookup]) -> bool {
    kept.len() == pairs.len()
        && kept
            .iter()
            .zip(pairs)
            .all(|((h, s, k), (hash, key, value))| {
                h == hash && s.split_at_checked(*k) == Some((key, value))
            })
}

impl TriggerMemo {
    /// The spec parsed from `metadata`, parsing its pairs with `parse` the first time (a map
    /// whose pairs do not decode fails with that error).
    pub fn get_or_parse<E: From<DecodeError>>(
        &self,
        metadata: &ScalerMetadata,
        parse: impl FnOnce(&Pairs) -> Result<TriggerSpec, E>,
    ) -> Result<Arc<TriggerSpec>, E> {
        let wire = metadata.as_received();
        let received = self.hasher.hash_one(wire);
        if let Some(spec) = self
            .lock()
            .received
            .get(&received)
            .and_then(|bucket| bucket.iter().find(|(kept, _)| **kept == *wire))
            .map(|(_, spec)| spec.clone())
        {
            return Ok(spec);
        }
        let spec = self.by_set(&metadata.pairs()?, parse)?;
        let mut maps = self.lock();
        maps.add_order(wire.len() + ORDER_OVERHEAD);
        let kept = (Box::from(wire), spec.clone());
        maps.received.entry(received).or_default().push(kept);
        Ok(spec)
    }

    /// The spec of the set `pairs`, parsed with `parse` the first time.
    fn by_set<E>(
        &self,
        pairs: &Pairs,
        parse: impl FnOnce(&Pairs) -> Result<TriggerSpec, E>,
    ) -> Result<Arc<TriggerSpec>, E> {
        let mut lookup: Vec<Lookup> = pairs
            .iter()
            .map(|(key, value)| {
                let mut hasher = self.hasher.build_hasher();
                hasher.write(key.as_bytes());
                hasher.write(value.as_bytes());
                hasher.write_usize(key.len());
                (hasher.finish(), key, value)
            })
            .collect();
        // Two pairs equal in this order would be the same key twice, which a map cannot hold.
        lookup.sort_unstable();
        let key = lookup
            .iter()
            .fold(lookup.len() as u64, |acc, p| acc.wrapping_add(p.0));
        if let Some(spec) = self
            .lock()
            .sets
            .get(&key)
            .and_then(|bucket| bucket.iter().find(|(kept, _)| same(kept, &lookup)))
            .map(|(_, spec)| spec.clone())
        {
            return Ok(spec);
        }
        let spec = Arc::new(parse(pairs)?);
        let mut maps = self.lock();
        maps.add_set(lookup.iter().map(|(_, k, v)| k.len() + v.len()).sum());
        let kept = lookup
            .iter()
            .map(|&(hash, k, v)| (hash, Box::from([k, v].concat()), k.len()))
            .collect();
        maps.sets.entry(key).or_default().push((kept, spec.clone()));
        Ok(spec)
    }

    fn lock(&self) -> MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Distinct sets of pairs kept.
    pub fn len(&self) -> usize {
        self.lock().sets_kept
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of metadata kept, by set and as received.
    pub fn bytes(&self) -> usize {
        let maps = self.lock();
        maps.set_bytes + maps.order_bytes
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    type Metadata = HashMap<String, String>;

    fn pairs(m: &Metadata) -> ScalerMetadata {
        ScalerMetadata::from(m)
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

    use crate::error::ScalerError;

    fn parse(m: &Metadata) -> Result<TriggerSpec, ScalerError> {
        Ok(TriggerSpec::parse(m, &BTreeMap::new())?)
    }

    #[test]
    fn parses_once_per_metadata_and_stays_bounded() {
        let cache = TriggerMemo::default();
        let mut parses = 0;
        for _ in 0..3 {
            let m = metadata("a");
            cache
                .get_or_parse(&pairs(&m), |_| {
                    parses += 1;
                    parse(&m)
                })
                .unwrap();
        }
        assert_eq!(parses, 1);
        let b = cache
            .get_or_parse(&pairs(&metadata("b")), |_| parse(&metadata("b")))
            .unwrap();
        assert_eq!(b.metric_name.as_str(), "rabbitmq-b");
        assert_eq!(cache.len(), 2);
        // Errors are not kept: a bad trigger is parsed (and reported) every time.
        let mut bad = metadata("c");
        bad.insert("lagTreshold".to_owned(), "1".to_owned());
        assert!(cache.get_or_parse(&pairs(&bad), |_| parse(&bad)).is_err());
        assert_eq!(cache.len(), 2);
        for i in 0..MAX_ENTRIES {
            let m = metadata(&format!("q{i}"));
            cache.get_or_parse(&pairs(&m), |_| parse(&m)).unwrap();
        }
        assert!(cache.len() <= MAX_ENTRIES);
    }

    #[test]
    fn a_map_is_found_in_any_order_and_only_when_every_pair_matches() {
        let cache = TriggerMemo::default();
        let m = metadata("a");
        let first = cache.get_or_parse(&pairs(&m), |_| parse(&m)).unwrap();
        // Built in reverse: another map, another iteration order.
        let mut reversed: Vec<_> = m.clone().into_iter().collect();
        reversed.reverse();
        let reordered: Metadata = reversed.into_iter().collect();
        let again = cache
            .get_or_parse(
                &pairs(&reordered),
                |_| -> Result<TriggerSpec, ScalerError> { panic!("parsed again") },
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
        // The same string, the key ending one byte earlier: `queueNam` = `ea` for `queueName` = `a`.
        let mut shifted = m.clone();
        shifted.remove("queueName");
        shifted.insert("queueNam".to_owned(), "ea".to_owned());
        for other in [other_value, one_more, one_less, shifted] {
            let mut parsed = false;
            let _ = cache.get_or_parse(&pairs(&other), |_| {
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
            cache.get_or_parse(&pairs(&m), |_| parse(&m)).unwrap();
            // The sets, and the maps as received.
            assert!(
                cache.bytes() <= 2 * MAX_BYTES,
                "{} bytes kept",
                cache.bytes()
            );
        }
        assert!(cache.len() <= MAX_BYTES / 4000, "{} kept", cache.len());
    }

    /// The pairs of `pairs` in the order of `order`.
    fn in_order(pairs: &[(&str, &str)], order: &[usize]) -> ScalerMetadata {
        order.iter().map(|&i| pairs[i]).collect()
    }

    /// The next permutation of `order` in lexicographic order; false after the last.
    fn next_permutation(order: &mut [usize]) -> bool {
        let Some(i) = (1..order.len()).rev().find(|&i| order[i - 1] < order[i]) else {
            return false;
        };
        let j = (i..order.len())
            .rev()
            .find(|&j| order[j] > order[i - 1])
            .unwrap();
        order.swap(i - 1, j);
        order[i..].reverse();
        true
    }

    /// A map is parsed once whatever its order, each order is kept as received, and the orders
    /// kept stay bounded without losing the parsed map.
    #[test]
    fn each_order_is_kept_once_and_the_orders_stay_bounded() {
        let pairs = [
            ("source", "rabbitmq"),
            ("host", "amqp://h"),
            ("queueName", "q"),
            ("lagThreshold", "5"),
            ("activationLagThreshold", "1"),
            ("transform", "log2"),
            ("log2Multiplier", "2"),
            ("metricName", "m"),
            ("scalerAddress", "lagscale:6000"),
        ];
        let map: Metadata = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let cache = TriggerMemo::default();
        let mut parses = 0;
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        let first = cache
            .get_or_parse(&in_order(&pairs, &order), |_| {
                parses += 1;
                parse(&map)
            })
            .unwrap();
        let mut orders = 1;
        while orders < MAX_ORDERS + 10 && next_permutation(&mut order) {
            let metadata = in_order(&pairs, &order);
            let spec = cache.get_or_parse(&metadata, |_| -> Result<_, ScalerError> {
                panic!("parsed again")
            });
            assert!(Arc::ptr_eq(&first, &spec.unwrap()));
            orders += 1;
            let maps = cache.lock();
            assert!(maps.orders_kept <= MAX_ORDERS);
            let received = cache.hasher.hash_one(metadata.as_received());
            assert!(maps.received.contains_key(&received));
        }
        assert_eq!(orders, MAX_ORDERS + 10);
        assert_eq!((parses, cache.len()), (1, 1));
    }
}
