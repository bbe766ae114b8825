//! The decoders against what brokers send: every answer lagscale reads, encoded by
//! kafka-protocol's broker side, decodes field for field; random and mutated bytes give errors,
//! never a panic.

use bytes::BytesMut;
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
    MetadataResponse, OffsetFetchResponse, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::decode::{self, Reader, answer};

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
