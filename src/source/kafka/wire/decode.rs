//! Decoding broker answers, bounded by the bytes actually received.
//!
//! Requests are encoded with the `kafka-protocol` crate, but its decoders size vectors from the
//! length prefix on the wire (`Vec::with_capacity(n)`): one corrupt array length in an answer
//! asks for tens of gigabytes and aborts the process, as our fuzz test showed. So answers are
//! read here, field by field, for the versions lagscale speaks, and every length is checked
//! against what is left in the frame before anything is allocated. Only the fields lagscale
//! uses are kept; the others are read past.

/// A cursor over one answer frame.
pub struct Reader<'a> {
    bytes: &'a [u8],
    /// Flexible versions (KIP-482): compact arrays and strings, and tagged fields.
    flexible: bool,
}

type Read<T> = Result<T, String>;

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8], flexible: bool) -> Reader<'a> {
        Reader { bytes, flexible }
    }

    fn take(&mut self, n: usize) -> Read<&'a [u8]> {
        if n > self.bytes.len() {
            return Err(format!(
                "the answer ends early ({n} bytes wanted, {} left)",
                self.bytes.len()
            ));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn fixed<const N: usize>(&mut self) -> Read<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn i8(&mut self) -> Read<i8> {
        Ok(i8::from_be_bytes(self.fixed()?))
    }
    pub fn i16(&mut self) -> Read<i16> {
        Ok(i16::from_be_bytes(self.fixed()?))
    }
    pub fn i32(&mut self) -> Read<i32> {
        Ok(i32::from_be_bytes(self.fixed()?))
    }
    pub fn i64(&mut self) -> Read<i64> {
        Ok(i64::from_be_bytes(self.fixed()?))
    }
    pub fn skip(&mut self, n: usize) -> Read<()> {
        self.take(n).map(|_| ())
    }

    /// An unsigned varint (at most 5 bytes for 32 bits).
    fn varint(&mut self) -> Read<u32> {
        let mut value: u32 = 0;
        for shift in (0..35).step_by(7) {
            let [byte] = self.fixed::<1>()?;
            value |= u32::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint longer than 5 bytes".to_owned())
    }

    /// A length prefix: `None` for null. Compact lengths are stored plus one.
    fn length(&mut self, wide: bool) -> Read<Option<usize>> {
        if self.flexible {
            return Ok(match self.varint()? {
                0 => None,
                n => Some(n as usize - 1),
            });
        }
        let n = if wide {
            self.i32()?
        } else {
            i32::from(self.i16()?)
        };
        match n {
            -1 => Ok(None),
            n if n >= 0 => Ok(Some(n as usize)),
            n => Err(format!("a negative length ({n})")),
        }
    }

    pub fn nullable_string(&mut self) -> Read<Option<String>> {
        let Some(n) = self.length(false)? else {
            return Ok(None);
        };
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| "a string that is not UTF-8".to_owned())
    }

    pub fn string(&mut self) -> Read<String> {
        self.nullable_string()?
            .ok_or_else(|| "a null string where one is required".to_owned())
    }

    pub fn bytes(&mut self) -> Read<Vec<u8>> {
        let n = self.length(true)?.unwrap_or(0);
        Ok(self.take(n)?.to_vec())
    }

    /// An array of `item`s. Each item takes at least one byte, so a count above what is left
    /// is refused before any allocation.
    pub fn array<T>(&mut self, mut item: impl FnMut(&mut Reader<'a>) -> Read<T>) -> Read<Vec<T>> {
        let n = self.length(true)?.unwrap_or(0);
        if n > self.bytes.len() {
            return Err(format!(
                "an array of {n} items in {} bytes",
                self.bytes.len()
            ));
        }
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(item(self)?);
        }
        Ok(items)
    }

    /// The tagged fields that end a structure in flexible versions (read past).
    pub fn tags(&mut self) -> Read<()> {
        if !self.flexible {
            return Ok(());
        }
        let count = self.varint()?;
        for _ in 0..count {
            self.varint()?;
            let size = self.varint()? as usize;
            self.skip(size)?;
        }
        Ok(())
    }
}

/// (API key, lowest version, highest version).
pub type ApiRange = (i16, i16, i16);

/// ApiVersions (v2): the error code and the version range of each API.
pub fn api_versions(r: &mut Reader) -> Read<(i16, Vec<ApiRange>)> {
    let error = r.i16()?;
    let keys = r.array(|r| Ok((r.i16()?, r.i16()?, r.i16()?)))?;
    Ok((error, keys))
}

/// SaslHandshake (v1): error code and the mechanisms the broker enables.
pub fn sasl_handshake(r: &mut Reader) -> Read<(i16, Vec<String>)> {
    Ok((r.i16()?, r.array(Reader::string)?))
}

/// SaslAuthenticate (v1): error code, error message, the server's bytes.
pub fn sasl_authenticate(r: &mut Reader) -> Read<(i16, Option<String>, Vec<u8>)> {
    let error = r.i16()?;
    let message = r.nullable_string()?;
    let bytes = r.bytes()?;
    r.i64()?; // session lifetime
    Ok((error, message, bytes))
}

/// A Metadata answer's brokers and topics.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata {
    /// (node id, host, port).
    pub brokers: Vec<(i32, String, i32)>,
    pub topics: Vec<MetadataTopic>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetadataTopic {
    pub error_code: i16,
    pub name: String,
    /// (error code, partition, leader id).
    pub partitions: Vec<(i16, i32, i32)>,
}

/// Metadata v4-v8 (non-flexible).
pub fn metadata(r: &mut Reader, version: i16) -> Read<Metadata> {
    r.i32()?; // throttle
    let brokers = r.array(|r| {
        let node = r.i32()?;
        let host = r.string()?;
        let port = r.i32()?;
        r.nullable_string()?; // rack
        Ok((node, host, port))
    })?;
    r.nullable_string()?; // cluster id
    r.i32()?; // controller id
    let topics = r.array(|r| {
        let error_code = r.i16()?;
        let name = r.string()?;
        r.i8()?; // is internal
        let partitions = r.array(|r| {
            let error = r.i16()?;
            let index = r.i32()?;
            let leader = r.i32()?;
            if version >= 7 {
                r.i32()?; // leader epoch
            }
            r.array(Reader::i32)?; // replicas
            r.array(Reader::i32)?; // in-sync replicas
            if version >= 5 {
                r.array(Reader::i32)?; // offline replicas
            }
            Ok((error, index, leader))
        })?;
        if version >= 8 {
            r.i32()?; // topic authorized operations
        }
        Ok(MetadataTopic {
            error_code,
            name,
            partitions,
        })
    })?;
    if version >= 8 {
        r.i32()?; // cluster authorized operations
    }
    Ok(Metadata { brokers, topics })
}

/// One coordinator of a FindCoordinator answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Coordinator {
    /// The group; empty in single-group versions (the one asked).
    pub key: String,
    pub error_code: i16,
    pub node: i32,
    pub host: String,
    pub port: i32,
}

/// FindCoordinator v1-v2 (one group) or v4-v6 (many, flexible).
pub fn find_coordinator(r: &mut Reader, version: i16) -> Read<Vec<Coordinator>> {
    r.i32()?; // throttle
    if version < 4 {
        let error_code = r.i16()?;
        r.nullable_string()?; // error message
        let node = r.i32()?;
        let host = r.string()?;
        let port = r.i32()?;
        return Ok(vec![Coordinator {
            key: String::new(),
            error_code,
            node,
            host,
            port,
        }]);
    }
    let coordinators = r.array(|r| {
        let key = r.string()?;
        let node = r.i32()?;
        let host = r.string()?;
        let port = r.i32()?;
        let error_code = r.i16()?;
        r.nullable_string()?; // error message
        r.tags()?;
        Ok(Coordinator {
            key,
            error_code,
            node,
            host,
            port,
        })
    })?;
    r.tags()?;
    Ok(coordinators)
}

/// One group of an OffsetFetch answer: its error code and (topic, partition, committed
/// offset, error code) per partition.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupAnswer {
    /// Empty in single-group versions (the one asked).
    pub group: String,
    pub error_code: i16,
    pub partitions: Vec<(String, i32, i64, i16)>,
}

/// OffsetFetch v1-v5 (one group) or v8-v9 (many, flexible).
pub fn offset_fetch(r: &mut Reader, version: i16) -> Read<Vec<GroupAnswer>> {
    if version >= 3 {
        r.i32()?; // throttle
    }
    let topics = |r: &mut Reader| {
        let per_topic = r.array(|r| {
            let topic = r.string()?;
            let partitions = r.array(|r| {
                let index = r.i32()?;
                let offset = r.i64()?;
                if version >= 5 {
                    r.i32()?; // leader epoch
                }
                r.nullable_string()?; // metadata
                let error = r.i16()?;
                r.tags()?;
                Ok((index, offset, error))
            })?;
            r.tags()?;
            Ok((topic, partitions))
        })?;
        Ok::<_, String>(
            per_topic
                .into_iter()
                .flat_map(|(topic, ps)| {
                    ps.into_iter()
                        .map(move |(p, o, e)| (topic.clone(), p, o, e))
                })
                .collect::<Vec<_>>(),
        )
    };
    if version < 8 {
        let partitions = topics(r)?;
        let error_code = if version >= 2 { r.i16()? } else { 0 };
        return Ok(vec![GroupAnswer {
            group: String::new(),
            error_code,
            partitions,
        }]);
    }
    let groups = r.array(|r| {
        let group = r.string()?;
        let partitions = topics(r)?;
        let error_code = r.i16()?;
        r.tags()?;
        Ok(GroupAnswer {
            group,
            error_code,
            partitions,
        })
    })?;
    r.tags()?;
    Ok(groups)
}

/// ListOffsets v1-v5: (topic, partition, error code, offset).
pub fn list_offsets(r: &mut Reader, version: i16) -> Read<Vec<(String, i32, i16, i64)>> {
    if version >= 2 {
        r.i32()?; // throttle
    }
    let topics = r.array(|r| {
        let topic = r.string()?;
        let partitions = r.array(|r| {
            let index = r.i32()?;
            let error = r.i16()?;
            r.i64()?; // timestamp
            let offset = r.i64()?;
            if version >= 4 {
                r.i32()?; // leader epoch
            }
            Ok((index, error, offset))
        })?;
        Ok((topic, partitions))
    })?;
    Ok(topics
        .into_iter()
        .flat_map(|(t, ps)| ps.into_iter().map(move |(p, e, o)| (t.clone(), p, e, o)))
        .collect())
}

/// Whether `version` of `key` uses the flexible encoding (and the v1 response header).
pub fn flexible(key: kafka_protocol::messages::ApiKey, version: i16) -> bool {
    use kafka_protocol::messages::ApiKey;
    let first = match key {
        ApiKey::ApiVersions => 3,
        ApiKey::Metadata => 9,
        ApiKey::FindCoordinator => 3,
        ApiKey::OffsetFetch => 6,
        ApiKey::ListOffsets => 6,
        ApiKey::SaslAuthenticate => 2,
        _ => i16::MAX,
    };
    version >= first
}

/// Reads one answer frame (after its size): the header, then the body with `decode`. Bytes
/// after the body are ignored, as Kafka's Java client ignores them.
pub fn answer<T>(
    frame: &[u8],
    key: kafka_protocol::messages::ApiKey,
    version: i16,
    decode: impl FnOnce(&mut Reader, i16) -> Read<T>,
) -> Read<T> {
    use kafka_protocol::messages::ApiKey;
    let flexible = flexible(key, version);
    let mut r = Reader::new(frame, flexible);
    r.i32()?; // correlation id
    if flexible && key != ApiKey::ApiVersions {
        r.tags()?;
    }
    decode(&mut r, version)
}
