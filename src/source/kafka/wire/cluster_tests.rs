//! The cluster against fake brokers on 127.0.0.1: a group coordinator that moves (the first
//! OffsetFetch answers NOT_COORDINATOR, as a broker does after the group's coordinator moved;
//! the cluster looks the coordinator up again and asks once more), and a broker that drops
//! every connection (reconnections are spaced by the backoff, not one per query).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, FindCoordinatorResponse, MetadataResponse,
    OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::net::TcpListener;

use super::cluster::Cluster;
use super::groups::GroupFetch;
use super::handshake_tests::{answer, offered, read_request};
use super::security::Security;
use crate::source::BrokerTimeouts;

/// A one-broker cluster (node 1) whose first `refusals` OffsetFetch answers say
/// NOT_COORDINATOR.
async fn broker(refusals: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let refused = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let refused = refused.clone();
            tokio::spawn(async move {
                while let Some((key, version, correlation, _)) = read_request(&mut socket).await {
                    let key = ApiKey::try_from(key).unwrap();
                    match key {
                        ApiKey::ApiVersions => {
                            let mut reply = ApiVersionsResponse::default();
                            reply.api_keys = vec![
                                offered(ApiKey::Metadata, 4, 8),
                                offered(ApiKey::FindCoordinator, 0, 2),
                                offered(ApiKey::OffsetFetch, 1, 5),
                            ];
                            answer(&mut socket, key, version, correlation, &reply).await;
                        }
                        ApiKey::Metadata => {
                            let mut reply = MetadataResponse::default();
                            let mut me = MetadataResponseBroker::default();
                            me.node_id = BrokerId(1);
                            me.host = StrBytes::from_static_str("127.0.0.1");
                            me.port = i32::from(port);
                            reply.brokers = vec![me];
                            let mut partition = MetadataResponsePartition::default();
                            partition.leader_id = BrokerId(1);
                            let mut topic = MetadataResponseTopic::default();
                            topic.name = Some(TopicName(StrBytes::from_static_str("t")));
                            topic.partitions = vec![partition];
                            reply.topics = vec![topic];
                            answer(&mut socket, key, version, correlation, &reply).await;
                        }
                        ApiKey::FindCoordinator => {
                            let mut reply = FindCoordinatorResponse::default();
                            reply.node_id = BrokerId(1);
                            reply.host = StrBytes::from_static_str("127.0.0.1");
                            reply.port = i32::from(port);
                            answer(&mut socket, key, version, correlation, &reply).await;
                        }
                        ApiKey::OffsetFetch => {
                            let mut reply = OffsetFetchResponse::default();
                            if refused.fetch_add(1, Ordering::SeqCst) < refusals {
                                reply.error_code = 16; // NOT_COORDINATOR
                            } else {
                                let mut partition = OffsetFetchResponsePartition::default();
                                partition.committed_offset = 42;
                                let mut topic = OffsetFetchResponseTopic::default();
                                topic.name = TopicName(StrBytes::from_static_str("t"));
                                topic.partitions = vec![partition];
                                reply.topics = vec![topic];
                            }
                            answer(&mut socket, key, version, correlation, &reply).await;
                        }
                        _ => return,
                    }
                }
            });
        }
    });
    port
}

fn cluster(port: u16) -> Arc<Cluster> {
    let security = Security::from_properties(&Default::default()).unwrap();
    let timeouts = BrokerTimeouts {
        connect: Duration::from_secs(5),
        query: Duration::from_secs(5),
    };
    let bootstrap = vec![("127.0.0.1".to_owned(), port)];
    Arc::new(Cluster::new(
        "test".to_owned(),
        None,
        bootstrap,
        security,
        timeouts,
        Arc::new(crate::source::NoEvents),
    ))
}

fn fetch() -> GroupFetch {
    GroupFetch {
        group: "g".to_owned(),
        topics: Some(vec![("t".to_owned(), vec![0])]),
    }
}

#[tokio::test]
async fn a_coordinator_that_moved_is_looked_up_again() {
    let cluster = cluster(broker(1).await);
    let offsets = cluster.committed(fetch()).await.unwrap();
    assert_eq!(offsets, vec![("t".to_owned(), 0, Some(42))]);
    assert_eq!(
        cluster.requests_sent(ApiKey::FindCoordinator),
        2,
        "looked up again"
    );
    assert_eq!(
        cluster.requests_sent(ApiKey::OffsetFetch),
        2,
        "asked once more"
    );
}

#[tokio::test]
async fn a_coordinator_that_keeps_moving_is_an_error_naming_the_group() {
    let cluster = cluster(broker(usize::MAX).await);
    let error = cluster.committed(fetch()).await.unwrap_err().to_string();
    assert!(
        error.contains("\"g\"") && error.contains("NotCoordinator"),
        "{error}"
    );
    assert_eq!(
        cluster.requests_sent(ApiKey::OffsetFetch),
        3,
        "bounded retries"
    );
}

/// A broker that accepts connections and closes them at once: queries fail, and reconnections
/// are spaced by the backoff (100 ms, doubling), not one per query.
#[tokio::test]
async fn a_failing_broker_is_not_reconnected_to_on_every_query() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    let cluster = cluster(port);
    for _ in 0..50 {
        assert!(cluster.topic("t").await.is_err());
    }
    let accepted = accepted.load(Ordering::SeqCst);
    assert!(
        (1..=3).contains(&accepted),
        "50 failed queries within the first backoff opened {accepted} connections"
    );
}
