//! KEDA's `ScaledObjectRef` message, written by hand instead of generated (`build.rs` points
//! prost at it with `extern_path`) so that its `scalerMetadata` map is kept as received: its
//! entries as they came on the wire, one buffer, decoded only when read. Every unary call
//! carries this message, and a warm call needs nothing of the map but its bytes: the trigger
//! memo finds the parsed trigger by them (`src/trigger/memo.rs`). Decoding the map into a
//! `HashMap<String, String>` was the largest cost of a warm call after HTTP/2 itself, and
//! splitting and checking its strings the largest after that (BENCHMARKS.md). A trigger seen
//! for the first time, or an error, decodes the pairs ([`ScalerMetadata::pairs`]).
//!
//! The wire format is the generated one's: `name` = 1, `namespace` = 2, `scalerMetadata` = 3 as
//! a map entry (key = 1, value = 2), unknown fields skipped, an absent key or value empty, and a
//! key given twice keeping its last value (protobuf's rule for maps), so two maps with the same
//! pairs are the same whatever their order. What prost's generated decoder refuses, this one
//! refuses too: the message's own fields when it is decoded, an entry's insides (its fields,
//! and its strings' UTF-8) when the pairs are read, which the service reports as it reports a
//! message that does not decode (`src/error.rs`).

use std::collections::HashMap;
use std::fmt;

use prost::bytes::{Buf, BufMut};
use prost::encoding::{
    DecodeContext, WireType, check_wire_type, decode_key, decode_varint, encode_key, encode_varint,
    encoded_len_varint, key_len, skip_field, string,
};
use prost::{DecodeError, Message};

use crate::redact::{is_secret_name, redact_uri};

/// The ScaledObject a call is about (`externalscaler.ScaledObjectRef`).
#[derive(Clone, Default, PartialEq)]
pub struct ScaledObjectRef {
    pub name: String,
    pub namespace: String,
    pub scaler_metadata: ScalerMetadata,
}

/// A trigger's metadata as received: the map's entries, undecoded.
#[derive(Clone, Default)]
pub struct ScalerMetadata {
    /// The entries in the order received, each as a map entry is on the wire: field 3's key,
    /// the entry's length, its body (unchecked until read).
    wire: Vec<u8>,
}

/// The decoded pairs of a [`ScalerMetadata`]: keys unique, keys and values UTF-8.
#[derive(Default, PartialEq)]
pub struct Pairs<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Pairs<'a> {
    /// The pairs in the order received (a repeated key where it came first, with its last
    /// value).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a str)> + '_ {
        self.0.iter().copied()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub fn to_map(&self) -> HashMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// Adds a pair; a key already there takes the new value.
    fn insert(&mut self, key: &'a str, value: &'a str) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(kept) => kept.1 = value,
            None => self.0.push((key, value)),
        }
    }
}

impl ScalerMetadata {
    /// The entries exactly as received, their order included: what the trigger memo hashes
    /// and compares. Not what equality compares: maps with the same pairs in another order
    /// are equal.
    pub fn as_received(&self) -> &[u8] {
        &self.wire
    }

    /// The pairs, decoded; an entry that is not a map entry of two strings is refused with
    /// prost's description, naming the field.
    pub fn pairs(&self) -> Result<Pairs<'_>, DecodeError> {
        let mut pairs = Pairs::default();
        let mut rest = self.wire.as_slice();
        while !rest.is_empty() {
            // Framing this type wrote itself (see `push_entry`).
            decode_key(&mut rest)?;
            let len = decode_varint(&mut rest)?;
            let Some((entry, tail)) = usize::try_from(len)
                .ok()
                .and_then(|len| rest.split_at_checked(len))
            else {
                return Err(decode_error("buffer underflow"));
            };
            rest = tail;
            let (key, value) = decode_entry(entry).map_err(|mut error| {
                error.push("ScaledObjectRef", "scaler_metadata");
                error
            })?;
            pairs.insert(key, value);
        }
        Ok(pairs)
    }

    /// Adds a pair after those there (a key already there takes this value when read).
    pub fn push(&mut self, key: &str, value: &str) {
        let len = entry_len(key, value);
        let mut body = Vec::with_capacity(len);
        for (tag, s) in [(1, key), (2, value)] {
            if !s.is_empty() {
                encode_key(tag, WireType::LengthDelimited, &mut body);
                encode_varint(s.len() as u64, &mut body);
                body.put_slice(s.as_bytes());
            }
        }
        self.push_entry(&mut body.as_slice(), len);
    }

    /// Appends the next `len` bytes of `buf` as one entry.
    fn push_entry(&mut self, buf: &mut impl Buf, len: usize) {
        encode_key(3, WireType::LengthDelimited, &mut self.wire);
        encode_varint(len as u64, &mut self.wire);
        self.wire.put(buf.take(len));
    }

    /// Takes one map entry (field 3) as it is, checking only that all of it arrived.
    fn merge_entry(&mut self, wire_type: WireType, buf: &mut impl Buf) -> Result<(), DecodeError> {
        check_wire_type(WireType::LengthDelimited, wire_type)?;
        let len = decode_varint(buf)?;
        let Some(len) = usize::try_from(len).ok().filter(|&n| n <= buf.remaining()) else {
            return Err(decode_error("buffer underflow"));
        };
        if self.wire.capacity() == 0 {
            // One allocation for every entry of the message, most of the time.
            self.wire.reserve(buf.remaining() + 8);
        }
        self.push_entry(buf, len);
        Ok(())
    }
}

/// Decodes the body of one map entry: key = 1, value = 2, either absent when empty.
fn decode_entry(mut entry: &[u8]) -> Result<(&str, &str), DecodeError> {
    let (mut key, mut value) = ("", "");
    while !entry.is_empty() {
        let (tag, wire_type) = decode_key(&mut entry)?;
        match tag {
            1 => key = read_str(wire_type, &mut entry)?,
            2 => value = read_str(wire_type, &mut entry)?,
            _ => skip_field(wire_type, tag, &mut entry, DecodeContext::default())?,
        }
    }
    Ok((key, value))
}

/// One length-delimited string from the front of `entry`, checked to be UTF-8.
fn read_str<'a>(wire_type: WireType, entry: &mut &'a [u8]) -> Result<&'a str, DecodeError> {
    check_wire_type(WireType::LengthDelimited, wire_type)?;
    let len = decode_varint(entry)?;
    let Some((bytes, rest)) = usize::try_from(len)
        .ok()
        .and_then(|len| entry.split_at_checked(len))
    else {
        return Err(decode_error("buffer underflow"));
    };
    *entry = rest;
    std::str::from_utf8(bytes)
        .map_err(|_| decode_error("invalid string value: data is not UTF-8 encoded"))
}

/// A decoding error of this message's own checks (prost's other errors pass through).
#[allow(deprecated)] // prost offers no other way to make a DecodeError with a description.
fn decode_error(description: &'static str) -> DecodeError {
    DecodeError::new(description)
}

impl PartialEq for ScalerMetadata {
    /// The same pairs, whatever their order (two maps that do not decode: the same bytes).
    fn eq(&self, other: &Self) -> bool {
        match (self.pairs(), other.pairs()) {
            (Ok(ours), Ok(theirs)) => {
                ours.len() == theirs.len() && ours.iter().all(|(k, v)| theirs.get(k) == Some(v))
            }
            _ => self.wire == other.wire,
        }
    }
}

/// The pairs, each value as a log line would show it: hidden under a secret-looking key, a
/// URI's password hidden (`src/redact.rs`).
impl fmt::Debug for Pairs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(k, v)| match is_secret_name(k) {
                true => (k, "***".to_owned()),
                false => (k, redact_uri(v)),
            }))
            .finish()
    }
}

impl fmt::Debug for ScalerMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pairs() {
            Ok(pairs) => pairs.fmt(f),
            Err(error) => write!(f, "<{error}>"),
        }
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
            metadata.push(key.as_ref(), value.as_ref());
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
    string_len(1, key) + string_len(2, value)
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
        buf.put_slice(self.scaler_metadata.as_received());
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
            3 => (self.scaler_metadata)
                .merge_entry(wire_type, buf)
                .map_err(push("scaler_metadata")),
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let metadata = self.scaler_metadata.as_received().len();
        string_len(1, &self.name) + string_len(2, &self.namespace) + metadata
    }

    fn clear(&mut self) {
        *self = ScaledObjectRef::default();
    }
}

#[cfg(test)]
#[path = "scaled_object_tests.rs"]
mod tests;
