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
    encoded_len_varint, key_len, merge_loop, skip_field, string,
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
    /// The keys' and values' bytes, each checked to be UTF-8 when decoded.
    text: Vec<u8>,
    /// Where each pair's key and value are in `text`, keys unique.
    pairs: Vec<(Range<usize>, Range<usize>)>,
}

impl ScalerMetadata {
    /// The pairs, in the order received (a repeated key where its last value was).
    pub fn pairs(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.pairs
            .iter()
            .map(|(key, value)| (self.str(key), self.str(value)))
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

    fn str(&self, range: &Range<usize>) -> &str {
        // Every range was checked to be UTF-8 when it was decoded or inserted.
        std::str::from_utf8(&self.text[range.clone()]).unwrap_or_default()
    }

    /// Adds a pair; a key already there takes the new value.
    pub fn insert(&mut self, key: &str, value: &str) {
        let key = self.push(key.as_bytes());
        let value = self.push(value.as_bytes());
        self.keep(key, value);
    }

    fn push(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.text.len();
        self.text.extend_from_slice(bytes);
        start..self.text.len()
    }

    /// Records a pair whose bytes are in `text`, replacing an earlier value of its key.
    fn keep(&mut self, key: Range<usize>, value: Range<usize>) {
        let same_key = |(k, _): &&mut (Range<usize>, Range<usize>)| {
            k.len() == key.len() && self.text[k.clone()] == self.text[key.clone()]
        };
        match self.pairs.iter_mut().find(same_key) {
            Some(pair) => pair.1 = value,
            None => self.pairs.push((key, value)),
        }
    }

    /// Appends one length-delimited string from `buf` to `text`, checked to be UTF-8.
    fn read_str(
        &mut self,
        wire_type: WireType,
        buf: &mut impl Buf,
    ) -> Result<Range<usize>, DecodeError> {
        check_wire_type(WireType::LengthDelimited, wire_type)?;
        let len = decode_varint(buf)?;
        if len > buf.remaining() as u64 {
            return Err(decode_error("buffer underflow"));
        }
        let start = self.text.len();
        let mut left = len as usize;
        while left > 0 {
            let chunk = buf.chunk();
            let n = chunk.len().min(left);
            self.text.extend_from_slice(&chunk[..n]);
            buf.advance(n);
            left -= n;
        }
        if std::str::from_utf8(&self.text[start..]).is_err() {
            self.text.truncate(start);
            return Err(decode_error(
                "invalid string value: data is not UTF-8 encoded",
            ));
        }
        Ok(start..self.text.len())
    }

    /// Decodes one map entry (field 3).
    fn merge_entry(
        &mut self,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        check_wire_type(WireType::LengthDelimited, wire_type)?;
        if self.text.capacity() == 0 {
            // One allocation for every pair of the message, most of the time.
            self.text.reserve(buf.remaining());
            self.pairs.reserve(8);
        }
        let empty = self.text.len()..self.text.len();
        let mut entry = (empty.clone(), empty);
        merge_loop(&mut entry, buf, ctx, |entry, buf, ctx| {
            let (tag, wire_type) = decode_key(buf)?;
            match tag {
                1 => entry.0 = self.read_str(wire_type, buf)?,
                2 => entry.1 = self.read_str(wire_type, buf)?,
                _ => skip_field(wire_type, tag, buf, ctx)?,
            }
            Ok(())
        })?;
        self.keep(entry.0, entry.1);
        Ok(())
    }
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
