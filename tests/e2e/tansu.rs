//! Against a real tansu broker (`support::tansu`), an independent Kafka implementation: the
//! harness itself (seeding, reading back, a restart with data intact, the versions tansu
//! advertises), then lagscale's Kafka client: lag through the server, batched OffsetFetch and
//! FindCoordinator for 100 groups, and the broker killed and restarted during GetMetrics. Skipped,
//! with a line saying so, when `LAGSCALE_TANSU` is unset (scripts/ensure-tansu.sh prints it).

use std::net::TcpStream;

use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, FindCoordinatorRequest, GroupId, OffsetFetchRequest, TopicName,
    offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics},
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::Offset;

use std::time::Duration;

use futures_util::future::join_all;
use lagscale::config::Config;
use lagscale::source::kafka::KafkaProfile;
use lagscale::source::kafka::{Endpoint, GroupQuery};
use lagscale::source::{Observation, SourceKind, SourceQuery, Sources};

use crate::outage::{down_and_back, metric};
use crate::support::kafka::unique;
use crate::support::tansu::Tansu;
use crate::support::{TestServer, config, served_value, so};

/// A running broker, or `None` (after saying so) when the test command found no tansu.
fn tansu() -> Option<Tansu> {
    if std::env::var_os("LAGSCALE_TANSU").is_none() {
        eprintln!("tansu: skipped (LAGSCALE_TANSU not set)");
        return None;
    }
    Some(Tansu::start().unwrap_or_else(|e| panic!("{e}")))
}

#[tokio::test(flavor = "multi_thread")]
async fn offsets_survive_a_restart() {
    let Some(mut tansu) = tansu() else { return };
    let topic = unique("tansu");
    tansu.create_topic(&topic, 3).await;
    tansu.produce(&topic, 0, 10);
    tansu.produce(&topic, 1, 5);
    tansu.commit("g1", &topic, &[(0, 4)]);

    let check = |tansu: &Tansu| {
        let watermarks: Vec<_> = (0..3).map(|p| tansu.watermarks(&topic, p)).collect();
        assert_eq!(watermarks, [(0, 10), (0, 5), (0, 0)]);
        assert_eq!(
            tansu.committed("g1", &topic, &[0, 1, 2]),
            [Offset::Offset(4), Offset::Invalid, Offset::Invalid]
        );
    };
    check(&tansu);

    tansu.kill();
    assert!(TcpStream::connect(tansu.bootstrap_servers()).is_err());
    tansu.restart().unwrap();
    TcpStream::connect(tansu.bootstrap_servers()).unwrap();
    check(&tansu);
}

#[tokio::test(flavor = "multi_thread")]
async fn advertised_versions_and_batched_lookups() {
    let Some(tansu) = tansu() else { return };

    let versions = tansu.request(3, &ApiVersionsRequest::default()).unwrap();
    assert_eq!(versions.error_code, 0);
    let max = |key: ApiKey| {
        let found = versions.api_keys.iter().find(|v| v.api_key == key as i16);
        found.map(|v| (v.min_version, v.max_version))
    };
    // The table in support/tansu.rs.
    for (key, expected) in [
        (ApiKey::ApiVersions, 4),
        (ApiKey::Metadata, 12),
        (ApiKey::FindCoordinator, 6),
        (ApiKey::OffsetFetch, 9),
        (ApiKey::ListOffsets, 9),
        (ApiKey::SaslHandshake, 1),
        (ApiKey::SaslAuthenticate, 2),
    ] {
        assert_eq!(max(key), Some((0, expected)), "{key:?}");
    }

    // FindCoordinator v4: several groups in one request, one coordinator each.
    let keys = ["g1", "g2"].map(StrBytes::from_static_str).to_vec();
    let request = FindCoordinatorRequest::default().with_coordinator_keys(keys);
    let found = tansu.request(4, &request).unwrap();
    let coordinators: Vec<_> = found
        .coordinators
        .iter()
        .map(|c| (c.key.as_str(), c.error_code, c.port))
        .collect();
    let port = i32::from(tansu.port());
    assert_eq!(coordinators, [("g1", 0, port), ("g2", 0, port)]);

    // OffsetFetch v8: two groups in one request, one answer each; a partition without a
    // commit answers -1.
    let topic = unique("tansu");
    tansu.create_topic(&topic, 2).await;
    tansu.produce(&topic, 0, 3);
    tansu.commit("g1", &topic, &[(0, 2)]);
    tansu.commit("g2", &topic, &[(0, 1), (1, 0)]);
    let group = |id: &'static str| {
        let topics = OffsetFetchRequestTopics::default()
            .with_name(TopicName(StrBytes::from_string(topic.clone())))
            .with_partition_indexes(vec![0, 1]);
        OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(StrBytes::from_static_str(id)))
            .with_topics(Some(vec![topics]))
    };
    let request = OffsetFetchRequest::default().with_groups(vec![group("g1"), group("g2")]);
    let fetched = tansu.request(8, &request).unwrap();
    let offsets: Vec<_> = fetched
        .groups
        .iter()
        .map(|g| {
            let partitions = g.topics.iter().flat_map(|t| &t.partitions);
            let offsets: Vec<_> = partitions
                .map(|p| (p.partition_index, p.committed_offset, p.error_code))
                .collect();
            (g.group_id.as_str(), g.error_code, offsets)
        })
        .collect();
    assert_eq!(
        offsets,
        [
            ("g1", 0, vec![(0, 2, 0), (1, -1, 0)]),
            ("g2", 0, vec![(0, 1, 0), (1, 0, 0)]),
        ]
    );
}

/// Lag through the gRPC server, from a broker that is not librdkafka's: with a topic, and
/// without one (every topic the group committed, which the mock cannot answer).
#[tokio::test(flavor = "multi_thread")]
async fn lag_through_the_server() {
    let Some(tansu) = tansu() else { return };
    let topic = unique("tansu-lag");
    tansu.create_topic(&topic, 3).await;
    tansu.produce(&topic, 0, 10);
    tansu.produce(&topic, 1, 5);
    let group = unique("tansu-group");
    tansu.commit(&group, &topic, &[(0, 4), (1, 5), (2, 0)]);
    let server = TestServer::start(config()).await;
    let bootstrap = tansu.bootstrap_servers();
    let mut metadata = vec![
        ("source", "kafka"),
        ("bootstrapServers", bootstrap.as_str()),
        ("consumerGroup", group.as_str()),
    ];
    let without_topic = served_value(server.client().await, "all-topics", &metadata).await;
    metadata.push(("topic", topic.as_str()));
    let with_topic = served_value(server.client().await, "one-topic", &metadata).await;
    assert_eq!(with_topic, 6.0, "10 − 4 on partition 0");
    assert_eq!(without_topic, 6.0, "the same from the group's own commits");
}

/// A refresh of 100 groups at once on a broker with OffsetFetch v8 and FindCoordinator v4:
/// one request of each to its single broker (the mock, which lacks both, sends 100 of each).
/// On one thread, so that "at once" is exact: every refresh reaches the client before the
/// batch is sent. (On several threads, refreshes that arrive a few scheduler turns apart go in
/// separate batches: 4 requests instead of 1 were seen for the same 100 groups.)
#[tokio::test(flavor = "current_thread")]
async fn a_refresh_of_100_groups_sends_one_offset_fetch_per_coordinator() {
    let Some(tansu) = tansu() else { return };
    let topic = unique("tansu-batch");
    tansu.create_topic(&topic, 2).await;
    tansu.produce(&topic, 0, 3);
    let groups: Vec<String> = (0..100).map(|_| unique("batched")).collect();
    for (i, group) in groups.iter().enumerate() {
        tansu.commit(group, &topic, &[(0, (i % 3) as i64), (1, 0)]);
    }
    let sources = Sources::new(
        config().broker_timeouts(),
        Duration::from_secs(60),
        config().idle_client_ttl(),
    );
    let endpoint = Endpoint {
        cluster: None,
        profile: KafkaProfile::inline(&tansu.bootstrap_servers()).unwrap(),
    };
    let queries: Vec<SourceQuery> = groups
        .iter()
        .map(|group| {
            SourceQuery::Kafka(GroupQuery {
                endpoint: endpoint.clone(),
                group: group.clone(),
                topic: Some(topic.clone()),
            })
        })
        .collect();
    let answers = join_all(queries.iter().map(|q| sources.observe(q))).await;
    for (i, answer) in answers.into_iter().enumerate() {
        let Observation::Kafka(snapshot) = answer.unwrap() else {
            panic!("a Kafka snapshot")
        };
        let committed: Vec<Option<i64>> = snapshot
            .partitions
            .iter()
            .map(|p| p.offsets.committed)
            .collect();
        assert_eq!(committed, [Some((i % 3) as i64), Some(0)], "group {i}");
    }
    assert_eq!(sources.kafka_requests(ApiKey::OffsetFetch), 1);
    assert_eq!(sources.kafka_requests(ApiKey::FindCoordinator), 1);
    assert_eq!(
        sources.kafka_requests(ApiKey::ListOffsets),
        1,
        "one broker, one topic"
    );
}

/// tansu killed (SIGKILL) and started again on the same port, 20 times, while GetMetrics keeps
/// being called: errors while it is away, the right value each time it is back, no restart of
/// lagscale. (librdkafka's admin client aborted lagscale here: confluentinc/librdkafka#4605.)
#[tokio::test(flavor = "multi_thread")]
async fn killed_and_restarted_twenty_times() {
    let Some(mut tansu) = tansu() else { return };
    let topic = unique("tansu-restart");
    tansu.create_topic(&topic, 2).await;
    tansu.produce(&topic, 0, 7);
    let group = unique("tansu-restart-group");
    tansu.commit(&group, &topic, &[(0, 2), (1, 0)]);
    let server = TestServer::start(Config {
        broker_connect_timeout_ms: 300,
        broker_query_timeout_ms: 300,
        cache_ttl_ms: 100,
        ..config()
    })
    .await;
    let bootstrap = tansu.bootstrap_servers();
    let so = so(
        "tansu-restarts",
        &[
            ("source", "kafka"),
            ("bootstrapServers", bootstrap.as_str()),
            ("consumerGroup", group.as_str()),
            ("topic", topic.as_str()),
        ],
    );
    assert_eq!(metric(&server, &so).await, Ok(5.0));
    down_and_back(&server, &so, 5.0, 20, |down| match down {
        true => tansu.kill(),
        false => tansu.restart().unwrap(),
    })
    .await;
    let sources = server.scaler.sources();
    assert_eq!(sources.clients(SourceKind::Kafka), 1);
    assert!(
        sources.kafka_connections() <= 1,
        "one broker, one connection"
    );
}
