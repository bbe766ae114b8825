//! KEDA's `ScaledObjectRef` message, written by hand instead of generated (`build.rs` points
//! prost at it with `extern_path`) so that its `scalerMetadata` map is kept as received: the
//! keys and values in one buffer, with their offsets. Every unary call carries this message, and
//! decoding it into a `HashMap<String, String>` (two allocations and a SipHash insert per pair,
//! and as many frees) was the largest cost of a warm call after HTTP/2 itself (BENCHMARKS.md).
//! The trigger memo reads the pairs as `&str` ([`ScalerMetadata::pairs`]); only a trigger seen
//! for the first time, or an error, builds the map ([`ScalerMetadata::to_map`]).
//!
//! The wire format is the generated one's: `name` = 1, `namespace` = 2, `scalerMetadata` = 3 as
//! a map entry (key = 1, value = 2), unknown fields skipped, an absent key or value empty, and a
//! key given twice keeping its last value (protobuf's rule for maps), which is applied as the
//! pairs are decoded, so two maps with the same pairs are the same whatever their order.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use prost::bytes::{Buf, BufMut};
use prost::encoding::{
    DecodeContext, WireType, check_wire_type, decode_key, decode_varint, encode_key, encode_varint,
    encoded_len_varint, key_len, skip_field, string,
};
use prost::{DecodeError, Message};

/// The ScaledObject a call is about (`externalscaler.ScaledObjectRef`).
#[derive(Clone, Default, PartialEq)]
pub struct ScaledObjectRef {
    pub name: String,
    pub namespace: String,
    pub scaler_metadata: ScalerMetadata,
}

/// A trigger's metadata as received: keys and values in one buffer.
#[derive(Clone, Default)]
pub struct ScalerMetadata {
    /// Each pair's key then its value, each checked to be UTF-8 once, as it was decoded.
    text: String,
    /// Where each pair is in `text`: its key is `start..middle`, its value `middle..end`. Keys
    /// are unique.
    pairs: Vec<Pair>,
}

/// A pair's offsets in [`ScalerMetadata::text`].
#[derive(Clone, Copy, PartialEq, Eq)]
struct Pair {
    start: u32,
    middle: u32,
    end: u32,
}

impl ScalerMetadata {
    /// The pairs, in the order received (a repeated key where its last value was).
    pub fn pairs(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.pairs.iter().map(|pair| self.pair(pair))
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub fn to_map(&self) -> HashMap<String, String> {
        self.pairs()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// Each pair as one string, its key then its value, with the key's length: what the trigger
    /// memo hashes and compares (one string per pair instead of two).
    pub fn spans(&self) -> impl ExactSizeIterator<Item = (&str, usize)> {
        self.pairs.iter().map(|pair| {
            let span = self.text.get(pair.start as usize..pair.end as usize);
            (
                span.unwrap_or_default(),
                (pair.middle - pair.start) as usize,
            )
        })
    }

    /// Hashes the map as received: its text, pairs in their order (and any bytes a repeated key
    /// left behind), and how many pairs it holds. The offsets are left to
    /// [`ScalerMetadata::same_as_received`]: the same text cut differently is rare. Not a
    /// `Hash` impl: maps with the same pairs in another order are equal.
    pub fn hash_as_received(&self, state: &mut impl std::hash::Hasher) {
        state.write(self.text.as_bytes());
        state.write_usize(self.pairs.len());
    }

    /// Whether `other` was received exactly as this map was, its order included.
    pub fn same_as_received(&self, other: &ScalerMetadata) -> bool {
        self.pairs == other.pairs && self.text == other.text
    }

    /// The bytes this map keeps its keys and values in.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    fn pair(&self, pair: &Pair) -> (&str, &str) {
        let [start, middle, end] = [pair.start, pair.middle, pair.end].map(|i| i as usize);
        // The offsets are those of whole strings pushed onto `text`: `get` cannot fail.
        let str = |range: Range<usize>| self.text.get(range).unwrap_or_default();
        (str(start..middle), str(middle..end))
    }

    /// Adds a pair; a key already there takes the new value.
    pub fn insert(&mut self, key: &str, value: &str) {
        let offset = |len: usize| u32::try_from(len).unwrap_or(u32::MAX);
        let start = offset(self.text.len());
        self.text.push_str(key);
        let middle = offset(self.text.len());
        self.text.push_str(value);
        let end = offset(self.text.len());
        if end == u32::MAX {
            // Beyond 4 GiB of metadata: more than any message tonic accepts (4 MiB by default).
            self.text.truncate(start as usize);
            return;
        }
        let pair = Pair { start, middle, end };
        let same_key = |kept: &&mut Pair| {
            kept.middle - kept.start == middle - start
                && self.text.get(kept.start as usize..kept.middle as usize)
                    == self.text.get(start as usize..middle as usize)
        };
        match self.pairs.iter_mut().find(same_key) {
            Some(kept) => *kept = pair,
            None => self.pairs.push(pair),
        }
    }

    /// Decodes one map entry (field 3). The entry is read from one slice: where it arrived, or
    /// (when the message arrived in pieces) copied from them.
    fn merge_entry(
        &mut self,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        check_wire_type(WireType::LengthDelimited, wire_type)?;
        let len = decode_varint(buf)?;
        let Some(len) = usize::try_from(len).ok().filter(|&n| n <= buf.remaining()) else {
            return Err(decode_error("buffer underflow"));
        };
        if self.text.capacity() == 0 {
            // One allocation for every pair of the message, most of the time.
            self.text.reserve(buf.remaining());
            self.pairs.reserve(8);
        }
        if let Some(entry) = buf.chunk().get(..len) {
            let merged = self.merge_entry_from(entry, ctx);
            buf.advance(len);
            merged
        } else {
            let mut entry = vec![0; len];
            buf.copy_to_slice(&mut entry);
            self.merge_entry_from(&entry, ctx)
        }
    }

    /// Decodes the body of one map entry: key = 1, value = 2, either absent when empty.
    fn merge_entry_from(
        &mut self,
        mut entry: &[u8],
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let (mut key, mut value) = ("", "");
        while !entry.is_empty() {
            let (tag, wire_type) = decode_key(&mut entry)?;
            match tag {
                1 => key = read_str(wire_type, &mut entry)?,
                2 => value = read_str(wire_type, &mut entry)?,
                _ => skip_field(wire_type, tag, &mut entry, ctx.clone())?,
            }
        }
        self.insert(key, value);
        Ok(())
    }
}

/// One length-delimited string from the front of `entry`, checked to be UTF-8.
fn read_str<'a>(wire_type: WireType, entry: &mut &'a [u8]) -> Result<&'a str, DecodeError> {
    check_wire_type(WireType::LengthDelimited, wire_type)?;
    let len = decode_varint(entry)?;
    let Some(len) = usize::try_from(len).ok().filter(|&n| n <= entry.len()) else {
        return Err(decode_error("buffer underflow"));
    };
    let (bytes, rest) = entry.split_at(len);
    *entry = rest;
    std::str::from_utf8(bytes)
        .map_err(|_| decode_error("invalid string value: data is not UTF-8 encoded"))
}

/// A decoding error of this message's own checks (prost's other errors pass through).
#[allow(deprecated)] // prost offers no other way to make a DecodeError with a description.
fn decode_error(description: &'static str) -> DecodeError {
    let mut error = DecodeError::new(description);
    error.push("ScaledObjectRef", "scaler_metadata");
    error
}

impl PartialEq for ScalerMetadata {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.pairs().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl fmt::Debug for ScalerMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.pairs()).finish()
    }
}

impl fmt::Debug for ScaledObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScaledObjectRef")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("scaler_metadata", &self.scaler_metadata)
            .finish()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for ScalerMetadata {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        let mut metadata = ScalerMetadata::default();
        for (key, value) in pairs {
            metadata.insert(key.as_ref(), value.as_ref());
        }
        metadata
    }
}

impl From<HashMap<String, String>> for ScalerMetadata {
    fn from(map: HashMap<String, String>) -> Self {
        map.into_iter().collect()
    }
}

impl From<&HashMap<String, String>> for ScalerMetadata {
    fn from(map: &HashMap<String, String>) -> Self {
        map.iter().collect()
    }
}

/// The length of a map entry's body: the key and the value, each left out when empty.
fn entry_len(key: &str, value: &str) -> usize {
    let field = |s: &str| match s.len() {
        0 => 0,
        n => key_len(1) + encoded_len_varint(n as u64) + n,
    };
    field(key) + field(value)
}

/// A string field, left out when empty (proto3).
fn string_len(tag: u32, value: &str) -> usize {
    match value.len() {
        0 => 0,
        n => key_len(tag) + encoded_len_varint(n as u64) + n,
    }
}

impl Message for ScaledObjectRef {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if !self.name.is_empty() {
            string::encode(1, &self.name, buf);
        }
        if !self.namespace.is_empty() {
            string::encode(2, &self.namespace, buf);
        }
        for (key, value) in self.scaler_metadata.pairs() {
            encode_key(3, WireType::LengthDelimited, buf);
            encode_varint(entry_len(key, value) as u64, buf);
            for (tag, s) in [(1, key), (2, value)] {
                if !s.is_empty() {
                    encode_key(tag, WireType::LengthDelimited, buf);
                    encode_varint(s.len() as u64, buf);
                    buf.put_slice(s.as_bytes());
                }
            }
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let push = |field: &'static str| {
            move |mut error: DecodeError| {
                error.push("ScaledObjectRef", field);
                error
            }
        };
        match tag {
            1 => string::merge(wire_type, &mut self.name, buf, ctx).map_err(push("name")),
            2 => string::merge(wire_type, &mut self.namespace, buf, ctx).map_err(push("namespace")),
            3 => self.scaler_metadata.merge_entry(wire_type, buf, ctx),
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let entries: usize = self
            .scaler_metadata
            .pairs()
            .map(|(key, value)| {
                let len = entry_len(key, value);
                key_len(3) + encoded_len_varint(len as u64) + len
            })
            .sum();
        string_len(1, &self.name) + string_len(2, &self.namespace) + entries
    }

    fn clear(&mut self) {
        *self = ScaledObjectRef::default();
    }
}

#[cfg(test)]
#[path = "scaled_object_tests.rs"]
mod tests;
