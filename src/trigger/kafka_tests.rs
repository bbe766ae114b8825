//! Table tests for the Kafka trigger keys, through the whole trigger parser (here, not in
//! `source::kafka`: a source does not depend on `trigger`).

use std::collections::{BTreeMap, HashMap};

use crate::metadata::TriggerError;
use crate::source::ClusterProfile;
use crate::source::kafka::KafkaProfile;
use crate::source::kafka::lag::{
    LagAggregate, LagOptions, OffsetResetPolicy, PartitionSet, Partitions,
};
use crate::source::rabbitmq::AmqpUri;
use crate::source::rabbitmq::RabbitmqProfile;
use crate::source::{LagRule, SourceQuery};
use crate::trigger::TriggerSpec;
use crate::trigger::tests::{ErrorCase, assert_error_table};

fn clusters() -> BTreeMap<String, ClusterProfile> {
    let kafka = KafkaProfile {
        bootstrap_servers: "k1:9092,k2:9092".to_owned(),
        properties: BTreeMap::from([("sasl.password".to_owned(), "hunter2".to_owned())]),
    };
    let rabbit = RabbitmqProfile::new(AmqpUri::parse("amqp://127.0.0.1").unwrap(), None);
    BTreeMap::from([
        ("events".to_owned(), ClusterProfile::Kafka(kafka)),
        ("jobs".to_owned(), ClusterProfile::Rabbitmq(rabbit)),
    ])
}

pub(super) fn parse(pairs: &[(&str, &str)]) -> Result<TriggerSpec, TriggerError> {
    let mut map: HashMap<String, String> = HashMap::from([
        ("source".to_owned(), "kafka".to_owned()),
        ("cluster".to_owned(), "events".to_owned()),
        ("consumerGroup".to_owned(), "billing".to_owned()),
    ]);
    for (k, v) in pairs {
        if v.is_empty() {
            map.remove(*k);
        } else {
            map.insert((*k).to_owned(), (*v).to_owned());
        }
    }
    TriggerSpec::parse(&map, &clusters())
}

pub(super) fn options(spec: &TriggerSpec) -> &LagOptions {
    match spec.source.rule() {
        LagRule::Kafka(options) => options,
        other => panic!("not kafka: {other:?}"),
    }
}

#[test]
fn defaults_are_keda_defaults() {
    let spec = parse(&[]).unwrap();
    assert_eq!(options(&spec), &LagOptions::default());
    assert_eq!(spec.lag_threshold, 10.0);
    assert_eq!(spec.metric_name.as_str(), "kafka-events-billing");
    let SourceQuery::Kafka(query) = spec.query() else {
        panic!()
    };
    assert_eq!(query.group, "billing");
    assert_eq!(query.topic, None);
    assert!(!format!("{spec:?}").contains("hunter2"));
}

#[test]
fn every_key_is_read() {
    let spec = parse(&[
        ("topic", "orders"),
        ("offsetResetPolicy", "earliest"),
        ("allowIdleConsumers", "false"),
        ("excludePersistentLag", "true"),
        ("scaleToZeroOnInvalidOffset", "1"),
        ("limitToPartitionsWithLag", "True"),
        ("partitionLimitation", "0, 2,5-7"),
        ("lagAggregate", "max"),
    ])
    .unwrap();
    assert_eq!(
        options(&spec),
        &LagOptions {
            offset_reset_policy: OffsetResetPolicy::Earliest,
            allow_idle_consumers: false,
            exclude_persistent_lag: true,
            scale_to_zero_on_invalid_offset: true,
            limit_to_partitions_with_lag: true,
            ensure_even_distribution: false,
            partitions: Partitions::Only([0, 2, 5, 6, 7].into()),
            aggregate: LagAggregate::Max,
        }
    );
    assert_eq!(spec.metric_name.as_str(), "kafka-events-billing-orders");
}

#[test]
fn a_partition_limitation_over_every_partition_number_is_one_range() {
    let spec = parse(&[
        ("cluster", "events"),
        ("consumerGroup", "g"),
        ("topic", "orders"),
        ("partitionLimitation", "0-2147483647,5"),
    ])
    .unwrap();
    assert_eq!(
        options(&spec).partitions,
        Partitions::Only(PartitionSet::from_ranges(vec![(0, i32::MAX)]))
    );
}

#[test]
fn inline_bootstrap_servers() {
    for key in ["bootstrapServers", "bootstrapServersFromEnv"] {
        let spec = parse(&[("cluster", ""), (key, "127.0.0.1:9092,[::1]:9093")]).unwrap();
        let SourceQuery::Kafka(query) = spec.query() else {
            panic!()
        };
        assert_eq!(query.endpoint.cluster, None);
        assert_eq!(
            query.endpoint.profile.bootstrap_servers,
            "127.0.0.1:9092,[::1]:9093"
        );
        assert_eq!(spec.metric_name.as_str(), "kafka-billing");
    }
}

#[test]
fn errors_name_key_value_and_expectation() {
    let cases: Vec<ErrorCase> = vec![
        (vec![("consumerGroup", "")], &["consumerGroup: missing"]),
        (
            vec![("cluster", "")],
            &["cluster: missing", "bootstrapServers"],
        ),
        (
            vec![("bootstrapServers", "k:9092")],
            &["cluster and bootstrapServers are both set"],
        ),
        (
            vec![("cluster", ""), ("bootstrapServers", "nohostport")],
            &["bootstrapServers", "\"nohostport\"", "host:port"],
        ),
        (
            vec![("cluster", "jobs")],
            &[
                "cluster",
                "\"jobs\"",
                "a kafka connection profile (this one is rabbitmq)",
            ],
        ),
        (
            vec![("cluster", "nope")],
            &["cluster", "\"nope\"", "known: events, jobs"],
        ),
        (
            vec![("offsetResetPolicy", "newest")],
            &["offsetResetPolicy", "\"newest\"", "latest, earliest"],
        ),
        (
            vec![("lagAggregate", "avg")],
            &["lagAggregate", "\"avg\"", "sum, max"],
        ),
        (
            vec![("allowIdleConsumers", "yes")],
            &["allowIdleConsumers", "\"yes\"", "true or false"],
        ),
        (
            vec![("excludePersistentLag", "2")],
            &["excludePersistentLag", "\"2\""],
        ),
        (
            vec![("scaleToZeroOnInvalidOffset", "no")],
            &["scaleToZeroOnInvalidOffset"],
        ),
        (
            vec![("limitToPartitionsWithLag", "x")],
            &["limitToPartitionsWithLag", "\"x\""],
        ),
        (
            vec![
                ("allowIdleConsumers", "true"),
                ("limitToPartitionsWithLag", "true"),
            ],
            &["limitToPartitionsWithLag", "allowIdleConsumers is true"],
        ),
        (
            vec![("partitionLimitation", "1,x")],
            &["partitionLimitation", "\"1,x\"", "cannot read \"x\""],
        ),
        (
            vec![("topic", "t"), ("partitionLimitation", "1,x")],
            &["partitionLimitation", "\"1,x\"", "cannot read \"x\""],
        ),
        (
            vec![("topic", "t"), ("partitionLimitation", "5-2")],
            &["partitionLimitation", "cannot read \"5-2\""],
        ),
        (
            vec![("topic", "t"), ("partitionLimitation", "-1")],
            &["partitionLimitation"],
        ),
        (
            vec![("queueName", "q")],
            &["queueName", "not used with source: kafka"],
        ),
        (
            vec![("topic", "orders and more")],
            &["topic", "\"orders and more\"", "ASCII letters, digits"],
        ),
        (vec![("topic", "..")], &["topic", "a Kafka topic name"]),
        (vec![("topic", "a\0b")], &["topic", "a Kafka topic name"]),
        (
            vec![("consumerGrup", "g")],
            &[
                "unknown key \"consumerGrup\"",
                "did you mean `consumerGroup`",
            ],
        ),
    ];
    assert_error_table(cases, parse);
}
