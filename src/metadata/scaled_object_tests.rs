//! The hand-written message against the one prost generates from the same fields: the same
//! bytes decode to the same values, each encodes what the other decodes, and what one refuses
//! the other refuses (ours when decoding the message, or its pairs).

use std::collections::HashMap;

use prost::Message;
use prost::bytes::Buf;

use super::*;

/// What prost-build generates for `ScaledObjectRef`.
#[derive(Clone, PartialEq, prost::Message)]
struct Generated {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    namespace: String,
    #[prost(map = "string, string", tag = "3")]
    scaler_metadata: HashMap<String, String>,
}

fn generated() -> Generated {
    Generated {
        name: "orders".to_owned(),
        namespace: "shop".to_owned(),
        scaler_metadata: [
            ("source", "rabbitmq"),
            ("host", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            ("queueName", "orders"),
            ("empty", ""),
            ("", "no key"),
            ("ünïcode", "välue"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into(),
    }
}

fn same(ours: &ScaledObjectRef, theirs: &Generated) -> bool {
    ours.name == theirs.name
        && ours.namespace == theirs.namespace
        && ours.scaler_metadata.pairs().map(|p| p.to_map()) == Ok(theirs.scaler_metadata.clone())
}

#[test]
fn decodes_what_prost_encodes_and_encodes_what_prost_decodes() {
    let theirs = generated();
    let ours = ScaledObjectRef::decode(theirs.encode_to_vec().as_slice()).unwrap();
    assert!(same(&ours, &theirs), "{ours:?}");
    let pairs = ours.scaler_metadata.pairs().unwrap();
    assert_eq!(pairs.get("empty"), Some(""));
    assert_eq!(pairs.get("missing"), None);
    let bytes = ours.encode_to_vec();
    assert_eq!(bytes.len(), ours.encoded_len());
    assert_eq!(Generated::decode(bytes.as_slice()).unwrap(), theirs);
    assert_eq!(
        ScaledObjectRef::decode(&[][..]).unwrap(),
        ScaledObjectRef::default()
    );
}

/// A key sent twice keeps its last value (protobuf's rule for maps, and prost's), so two maps
/// with the same pairs are equal whatever their order; unknown fields are skipped.
#[test]
fn a_repeated_key_keeps_its_last_value_and_unknown_fields_are_skipped() {
    let entry = |key: &str, value: &str| {
        let mut m = Generated::default();
        m.scaler_metadata.insert(key.to_owned(), value.to_owned());
        m.encode_to_vec()
    };
    let mut bytes = entry("lagThreshold", "5");
    bytes.extend(entry("queueName", "q"));
    bytes.extend(entry("lagThreshold", "7"));
    // Field 9 (a varint) at the top level, and field 5 (a string) inside an entry.
    bytes.extend([9 << 3, 1]);
    bytes.extend([3 << 3 | 2, 6, 5 << 3 | 2, 1, b'x', 1 << 3 | 2, 1, b'k']);
    let ours = ScaledObjectRef::decode(bytes.as_slice()).unwrap();
    let theirs = Generated::decode(bytes.as_slice()).unwrap();
    assert!(same(&ours, &theirs), "{ours:?} {theirs:?}");
    let pairs = ours.scaler_metadata.pairs().unwrap();
    assert_eq!(pairs.len(), 3);
    assert_eq!(pairs.get("lagThreshold"), Some("7"));
    assert_eq!(pairs.get("k"), Some(""));
    let reordered: ScalerMetadata = [("queueName", "q"), ("k", ""), ("lagThreshold", "7")]
        .into_iter()
        .collect();
    assert_eq!(ours.scaler_metadata, reordered);
}

/// A message that arrives in two pieces (split anywhere, an entry's strings included) decodes
/// as when it arrives in one.
#[test]
fn decodes_a_message_in_pieces_as_in_one() {
    let bytes = generated().encode_to_vec();
    let whole = ScaledObjectRef::decode(bytes.as_slice()).unwrap();
    for at in 0..=bytes.len() {
        let (front, back) = bytes.split_at(at);
        let pieces = ScaledObjectRef::decode(front.chain(back)).unwrap();
        assert_eq!(pieces, whole, "split at {at}");
        assert!(same(&pieces, &generated()));
    }
}

/// The message, refused as prost refuses it: when it is decoded, or when its pairs are read.
fn decode_all(bytes: impl Buf) -> Result<ScaledObjectRef, DecodeError> {
    let message = ScaledObjectRef::decode(bytes)?;
    let pairs = message.scaler_metadata.pairs().map(|_| ());
    pairs.map(|()| message)
}

/// Every truncation and every single-byte change of a message: both decoders agree on what is
/// refused (invalid UTF-8 included), and what both accept decodes alike. Nothing panics.
#[test]
fn refuses_what_prost_refuses() {
    let bytes = generated().encode_to_vec();
    let check = |bytes: &[u8]| {
        let ours = decode_all(bytes);
        let theirs = Generated::decode(bytes);
        let (front, back) = bytes.split_at(bytes.len() / 2);
        let in_pieces = decode_all(front.chain(back));
        assert_eq!(in_pieces.as_ref().ok(), ours.as_ref().ok(), "{bytes:?}");
        match (&ours, &theirs) {
            (Ok(ours), Ok(theirs)) => assert!(same(ours, theirs), "{bytes:?}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{bytes:?}: ours {ours:?}, prost's {theirs:?}"),
        }
    };
    for end in 0..bytes.len() {
        check(&bytes[..end]);
    }
    for at in 0..bytes.len() {
        for byte in [0x00, 0x7f, 0x80, 0xc3, 0xff] {
            let mut changed = bytes.clone();
            changed[at] = byte;
            check(&changed);
        }
    }
    let mut invalid = Generated::default().encode_to_vec();
    invalid.extend([3 << 3 | 2, 4, 1 << 3 | 2, 2, 0xc3, 0x28]);
    // Kept as received: a warm call does not read its pairs (the trigger memo knows them).
    let message = ScaledObjectRef::decode(invalid.as_slice()).unwrap();
    assert_eq!(message.encode_to_vec(), invalid);
    let error = message.scaler_metadata.pairs().unwrap_err().to_string();
    assert!(error.contains("UTF-8"), "{error}");
    assert!(error.contains("ScaledObjectRef.scaler_metadata"), "{error}");
}

/// Debug output shows the pairs, never a password: not under a secret-looking key, not in a
/// URI.
#[test]
fn debug_hides_secrets() {
    let metadata: ScalerMetadata = [
        ("host", "amqp://user:hunter2@rabbit:5672/%2f"),
        ("saslPassword", "hunter2"),
        ("queueName", "orders"),
    ]
    .into_iter()
    .collect();
    let shown = format!("{metadata:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        shown.contains("amqp://user:***@rabbit") && shown.contains("orders"),
        "{shown}"
    );
}
