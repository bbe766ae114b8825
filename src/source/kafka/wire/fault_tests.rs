//! Brokers that misbehave, on 127.0.0.1: one that accepts and never answers, one that answers
//! garbage, one that cuts a connection in the middle of an answer, one that answers a request
//! nobody sent, one that announces a huge frame. Each gives an error within its timeout and
//! nothing hangs. Then the decoder is fed random and mutated bytes: errors, never a panic.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, FindCoordinatorResponse, GroupId, ListOffsetsResponse,
    MetadataRequest, MetadataResponse, OffsetFetchResponse, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes, decode_request_header_from_buffer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::connection::{Connection, WireError};
use super::decode::{self, Reader, answer};
use super::security::Security;

const TIMEOUT: Duration = Duration::from_millis(500);

fn plaintext() -> Security {
    Security::from_properties(&Default::default()).unwrap()
}

/// What the fake broker does after answering ApiVersions.
#[derive(Clone, Copy)]
enum After {
    /// Reads requests and never answers.
    Silence,
    /// Sends half of a frame, then closes.
    CutMidAnswer,
    /// Answers with a correlation id that was never used.
    StrangerAnswer,
    /// Announces a frame larger than any lagscale accepts.
    HugeFrame,
}

/// A broker on 127.0.0.1 that answers ApiVersions (or not, for `None`) and then does `after`.
async fn fake_broker(api_versions: Option<Bytes>, after: After) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let api_versions = api_versions.clone();
            tokio::spawn(async move {
                let Some((correlation, _)) = read_request(&mut socket).await else {
                    return;
                };
                let Some(body) = api_versions else {
                    // Never answers, keeps the connection open.
                    let _ = socket.read(&mut [0; 1]).await;
                    return;
                };
                send(&mut socket, correlation, &body).await;
                while let Some((correlation, _)) = read_request(&mut socket).await {
                    match after {
                        After::Silence => {}
                        After::CutMidAnswer => {
                            let mut frame = BytesMut::new();
                            frame.put_i32(100);
                            frame.put_i32(correlation);
                            frame.put_slice(&[0; 10]);
                            let _ = socket.write_all(&frame).await;
                            return;
                        }
                        After::StrangerAnswer => send(&mut socket, correlation + 1000, &[]).await,
                        After::HugeFrame => {
                            let _ = socket.write_all(&i32::MAX.to_be_bytes()).await;
                        }
                    }
                }
            });
        }
    });
    port
}

async fn read_request(socket: &mut TcpStream) -> Option<(i32, i16)> {
    let size = socket.read_i32().await.ok()?;
    let mut frame = vec![0; usize::try_from(size).ok()?];
    socket.read_exact(&mut frame).await.ok()?;
    let mut frame = Bytes::from(frame);
    let header = decode_request_header_from_buffer(&mut frame).ok()?;
    Some((header.correlation_id, header.request_api_key))
}

async fn send(socket: &mut TcpStream, correlation: i32, body: &[u8]) {
    let mut frame = BytesMut::new();
    frame.put_i32((4 + body.len()) as i32);
    frame.put_i32(correlation);
    frame.put_slice(body);
    let _ = socket.write_all(&frame).await;
}

/// A real ApiVersions v2 answer offering Metadata v1-12.
fn api_versions_body() -> Bytes {
    let mut answer = ApiVersionsResponse::default();
    let mut metadata = ApiVersion::default();
    metadata.api_key = ApiKey::Metadata as i16;
    metadata.min_version = 1;
    metadata.max_version = 12;
    answer.api_keys = vec![metadata];
    let mut body = BytesMut::new();
    answer.encode(&mut body, 2).unwrap();
    body.freeze()
}

async fn metadata_call(port: u16) -> Result<(), WireError> {
    let connection = Connection::open("127.0.0.1", port, &plaintext(), TIMEOUT).await?;
    let ours = kafka_protocol::protocol::VersionRange { min: 4, max: 8 };
    let version = connection.version(ApiKey::Metadata, ours).unwrap();
    let request = MetadataRequest::default();
    let call = connection.call(ApiKey::Metadata, version, &request);
    match tokio::time::timeout(TIMEOUT, call).await {
        Ok(answer) => answer.map(|_| ()),
        Err(_) => Err(WireError::Timeout {
            addr: connection.addr().to_owned(),
            operation: "Metadata",
            after_ms: TIMEOUT.as_millis(),
        }),
    }
}

#[tokio::test]
async fn a_broker_that_never_answers_times_out_while_connecting() {
    let port = fake_broker(None, After::Silence).await;
    let error = Connection::open("127.0.0.1", port, &plaintext(), TIMEOUT)
        .await
        .err()
        .unwrap();
    assert!(matches!(error, WireError::Timeout { .. }), "{error}");
}

#[tokio::test]
async fn a_request_that_is_never_answered_times_out() {
    let port = fake_broker(Some(api_versions_body()), After::Silence).await;
    let error = metadata_call(port).await.unwrap_err();
    assert!(matches!(error, WireError::Timeout { .. }), "{error}");
}

#[tokio::test]
async fn a_connection_cut_mid_answer_fails_the_request_at_once() {
    let port = fake_broker(Some(api_versions_body()), After::CutMidAnswer).await;
    let error = metadata_call(port).await.unwrap_err();
    assert!(matches!(error, WireError::Closed { .. }), "{error}");
}

#[tokio::test]
async fn an_answer_to_a_request_never_sent_closes_the_connection() {
    let port = fake_broker(Some(api_versions_body()), After::StrangerAnswer).await;
    let error = metadata_call(port).await.unwrap_err();
    assert!(
        matches!(&error, WireError::Closed { reason, .. } if reason.contains("never sent")),
        "{error}"
    );
}

#[tokio::test]
async fn a_huge_frame_is_refused_without_reading_it() {
    let port = fake_broker(Some(api_versions_body()), After::HugeFrame).await;
    let error = metadata_call(port).await.unwrap_err();
    assert!(
        matches!(&error, WireError::Closed { reason, .. } if reason.contains("frame of")),
        "{error}"
    );
}

#[tokio::test]
async fn garbage_instead_of_api_versions_is_a_protocol_error() {
    let garbage = Bytes::from_static(&[0xff; 7]);
    let port = fake_broker(Some(garbage), After::Silence).await;
    let error = Connection::open("127.0.0.1", port, &plaintext(), TIMEOUT)
        .await
        .err()
        .unwrap();
    assert!(matches!(error, WireError::Protocol { .. }), "{error}");
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let error = Connection::open("127.0.0.1", port, &plaintext(), TIMEOUT)
        .await
        .err()
        .unwrap();
    assert!(matches!(error, WireError::Connect { .. }), "{error}");
}

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Feeds a valid answer of `key` in `version` (and random mutations and truncations of it, and
/// random bytes) to lagscale's decoder of that answer: each is an answer or an error.
fn never_panics<T>(
    key: ApiKey,
    version: i16,
    valid: &[u8],
    read: fn(&mut Reader, i16) -> Result<T, String>,
    noise: &mut Noise,
) {
    assert!(
        answer(valid, key, version, read).is_ok(),
        "the valid {key:?} v{version} answer decodes"
    );
    for _ in 0..2_000 {
        let mut mutated = valid.to_vec();
        if noise.next().is_multiple_of(4) {
            let len = (noise.next() % 96) as usize;
            mutated = noise.bytes(len);
        } else {
            for _ in 0..=(noise.next() % 4) {
                let at = (noise.next() as usize) % mutated.len();
                mutated[at] = noise.next() as u8;
            }
            if noise.next().is_multiple_of(3) {
                mutated.truncate((noise.next() as usize) % mutated.len());
            }
        }
        let _ = answer(&mutated, key, version, read);
    }
}

/// An answer frame (header and body) as a broker encodes it (kafka-protocol's broker side).
fn frame<M: Encodable>(key: ApiKey, version: i16, message: &M) -> Vec<u8> {
    let mut frame = BytesMut::new();
    let mut header = ResponseHeader::default();
    header.correlation_id = 7;
    header
        .encode(&mut frame, key.response_header_version(version))
        .unwrap();
    message.encode(&mut frame, version).unwrap();
    frame.to_vec()
}

fn rich_metadata() -> MetadataResponse {
    let mut answer = MetadataResponse::default();
    let mut broker = MetadataResponseBroker::default();
    broker.node_id = BrokerId(1);
    broker.host = StrBytes::from_static_str("127.0.0.1");
    broker.port = 9092;
    answer.brokers = vec![broker.clone(), broker];
    let mut topic = MetadataResponseTopic::default();
    topic.name = Some(TopicName(StrBytes::from_static_str("orders")));
    let mut partition = MetadataResponsePartition::default();
    partition.leader_id = BrokerId(1);
    partition.replica_nodes = vec![BrokerId(1), BrokerId(2)];
    partition.isr_nodes = vec![BrokerId(1)];
    topic.partitions = vec![partition.clone(), partition];
    answer.topics = vec![topic];
    answer
}

fn rich_offset_fetch(version: i16) -> OffsetFetchResponse {
    let mut partition = OffsetFetchResponsePartitions::default();
    partition.committed_offset = 42;
    let mut topic = OffsetFetchResponseTopics::default();
    topic.name = TopicName(StrBytes::from_static_str("orders"));
    topic.partitions = vec![partition.clone(), partition];
    let mut group = OffsetFetchResponseGroup::default();
    group.group_id = GroupId(StrBytes::from_static_str("g"));
    group.topics = vec![topic];
    let mut answer = OffsetFetchResponse::default();
    if version >= 8 {
        answer.groups = vec![group.clone(), group];
    } else {
        let mut partition = OffsetFetchResponsePartition::default();
        partition.committed_offset = 42;
        let mut topic = OffsetFetchResponseTopic::default();
        topic.name = TopicName(StrBytes::from_static_str("orders"));
        topic.partitions = vec![partition.clone(), partition];
        answer.topics = vec![topic];
    }
    answer
}

fn rich_list_offsets() -> ListOffsetsResponse {
    let mut partition = ListOffsetsPartitionResponse::default();
    partition.offset = 99;
    let mut topic = ListOffsetsTopicResponse::default();
    topic.name = TopicName(StrBytes::from_static_str("orders"));
    topic.partitions = vec![partition.clone(), partition];
    let mut answer = ListOffsetsResponse::default();
    answer.topics = vec![topic];
    answer
}

fn rich_find_coordinator(version: i16) -> FindCoordinatorResponse {
    let mut answer = FindCoordinatorResponse::default();
    if version >= 4 {
        let mut c = Coordinator::default();
        c.key = StrBytes::from_static_str("g");
        c.host = StrBytes::from_static_str("127.0.0.1");
        answer.coordinators = vec![c.clone(), c];
    } else {
        answer.host = StrBytes::from_static_str("127.0.0.1");
    }
    answer
}

#[test]
fn the_decoder_survives_random_and_mutated_answers() {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    for version in 4..=8 {
        let valid = frame(ApiKey::Metadata, version, &rich_metadata());
        never_panics(
            ApiKey::Metadata,
            version,
            &valid,
            decode::metadata,
            &mut noise,
        );
    }
    for version in [1, 2, 3, 4, 5, 8, 9] {
        let valid = frame(ApiKey::OffsetFetch, version, &rich_offset_fetch(version));
        never_panics(
            ApiKey::OffsetFetch,
            version,
            &valid,
            decode::offset_fetch,
            &mut noise,
        );
    }
    for version in [1, 2, 4, 5, 6] {
        let valid = frame(
            ApiKey::FindCoordinator,
            version,
            &rich_find_coordinator(version),
        );
        let read = decode::find_coordinator;
        never_panics(ApiKey::FindCoordinator, version, &valid, read, &mut noise);
    }
    for version in 1..=5 {
        let valid = frame(ApiKey::ListOffsets, version, &rich_list_offsets());
        never_panics(
            ApiKey::ListOffsets,
            version,
            &valid,
            decode::list_offsets,
            &mut noise,
        );
    }
    let valid = frame(ApiKey::ApiVersions, 2, &ApiVersionsResponse::default());
    never_panics(
        ApiKey::ApiVersions,
        2,
        &valid,
        |r, _| decode::api_versions(r),
        &mut noise,
    );
}

/// The decoders read what a broker (kafka-protocol's broker side) encodes, field for field.
#[test]
fn the_decoders_read_what_brokers_encode() {
    for version in 4..=8 {
        let read = answer(
            &frame(ApiKey::Metadata, version, &rich_metadata()),
            ApiKey::Metadata,
            version,
            decode::metadata,
        )
        .unwrap();
        assert_eq!(read.brokers, vec![(1, "127.0.0.1".to_owned(), 9092); 2]);
        assert_eq!(read.topics[0].name, "orders");
        assert_eq!(read.topics[0].partitions, vec![(0, 0, 1); 2]);
    }
    for version in [2, 5, 8, 9] {
        let read = answer(
            &frame(ApiKey::OffsetFetch, version, &rich_offset_fetch(version)),
            ApiKey::OffsetFetch,
            version,
            decode::offset_fetch,
        )
        .unwrap();
        let groups = if version >= 8 { 2 } else { 1 };
        assert_eq!(read.len(), groups, "v{version}");
        assert_eq!(read[0].partitions, vec![("orders".to_owned(), 0, 42, 0); 2]);
    }
    for version in [1, 5] {
        let read = answer(
            &frame(ApiKey::ListOffsets, version, &rich_list_offsets()),
            ApiKey::ListOffsets,
            version,
            decode::list_offsets,
        )
        .unwrap();
        assert_eq!(read, vec![("orders".to_owned(), 0, 0, 99); 2]);
    }
    for version in [2, 4] {
        let read = answer(
            &frame(
                ApiKey::FindCoordinator,
                version,
                &rich_find_coordinator(version),
            ),
            ApiKey::FindCoordinator,
            version,
            decode::find_coordinator,
        )
        .unwrap();
        assert_eq!(read[0].host, "127.0.0.1");
        assert_eq!(read.len(), if version >= 4 { 2 } else { 1 });
    }
}
