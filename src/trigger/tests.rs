//! Table tests for trigger parsing: every key, every error.

use std::collections::{BTreeMap, HashMap};

use super::*;
use crate::source::ClusterProfile;
use crate::source::rabbitmq;
use crate::source::rabbitmq::AmqpUri;
use crate::source::rabbitmq::RabbitmqProfile;

fn clusters() -> BTreeMap<String, ClusterProfile> {
    BTreeMap::from([(
        "main".to_owned(),
        ClusterProfile::Rabbitmq(RabbitmqProfile::new(
            AmqpUri::parse("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap(),
            None,
        )),
    )])
}

fn parse(pairs: &[(&str, &str)]) -> Result<TriggerSpec, TriggerError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    TriggerSpec::parse(&map, &clusters())
}

const BASE: [(&str, &str); 3] = [
    ("source", "rabbitmq"),
    ("cluster", "main"),
    ("queueName", "jobs"),
];

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut pairs = BASE.to_vec();
    pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    pairs.extend_from_slice(extra);
    pairs
}

fn rabbit(spec: &TriggerSpec) -> &rabbitmq::QueueQuery {
    match spec.query() {
        SourceQuery::Rabbitmq(q) => q,
        other => panic!("not a rabbitmq query: {other:?}"),
    }
}

#[test]
fn defaults() {
    let spec = parse(&BASE).unwrap();
    // KEDA's RabbitMQ default: mode QueueLength, value 20.
    assert_eq!(spec.lag_threshold, 20.0);
    assert_eq!(spec.activation_lag_threshold, 0.0);
    assert_eq!(spec.transform, Transform::None);
    assert_eq!(spec.metric_name.as_str(), "rabbitmq-main-jobs");
    assert_eq!(spec.target(), 20.0);
    let q = rabbit(&spec);
    assert_eq!(q.queue, "jobs");
    assert_eq!(q.vhost, None);
    assert_eq!(q.endpoint.cluster.as_deref(), Some("main"));
}

#[test]
fn every_key_is_read() {
    let spec = parse(&with(&[
        ("lagThreshold", "20000"),
        ("activationLagThreshold", "5"),
        ("transform", "log2"),
        ("log2Multiplier", "7"),
        ("metricName", "orders-lag"),
        ("vhostName", "orders"),
    ]))
    .unwrap();
    assert_eq!(spec.lag_threshold, 20_000.0);
    assert_eq!(spec.activation_lag_threshold, 5.0);
    assert!((spec.target() - 100.0140).abs() < 5e-5);
    assert!((spec.metric(20_000) - 100.0140).abs() < 5e-5);
    assert_eq!(spec.metric_name.as_str(), "orders-lag");
    assert_eq!(rabbit(&spec).vhost.as_deref(), Some("orders"));
}

#[test]
fn aliases_value_and_activation_value() {
    let spec = parse(&with(&[("value", "25.5"), ("activationValue", "3")])).unwrap();
    assert_eq!(spec.lag_threshold, 25.5);
    assert_eq!(spec.activation_lag_threshold, 3.0);
}

#[test]
fn inline_host_and_host_from_env() {
    for key in ["host", "hostFromEnv"] {
        let spec = parse(&[
            ("source", "rabbitmq"),
            (key, "amqp://u:secret@127.0.0.1:5672/%2f"),
            ("queueName", "jobs"),
        ])
        .unwrap();
        let q = rabbit(&spec);
        assert_eq!(q.endpoint.cluster, None);
        assert_eq!(q.endpoint.uri.redacted(), "amqp://u:***@127.0.0.1:5672/%2f");
        assert_eq!(spec.metric_name.as_str(), "rabbitmq-jobs");
        assert!(!format!("{spec:?}").contains("secret"));
    }
}

/// As KEDA (v2.20+): `host` wins over `hostFromEnv` when both are set, and that is no error.
#[test]
fn host_wins_over_host_from_env() {
    let spec = parse(&[
        ("source", "rabbitmq"),
        ("host", "amqp://a"),
        ("hostFromEnv", "amqp://b"),
        ("queueName", "q"),
    ])
    .unwrap();
    assert_eq!(rabbit(&spec).endpoint.uri.redacted(), "amqp://a");
}

#[test]
fn activity_is_strictly_greater_than_the_threshold() {
    let spec = parse(&with(&[("activationLagThreshold", "5")])).unwrap();
    assert!(!spec.is_active(5));
    assert!(spec.is_active(6));
    let spec = parse(&BASE).unwrap();
    assert!(!spec.is_active(0));
    assert!(spec.is_active(1));
}

#[test]
fn keda_keys_are_ignored() {
    let spec = parse(&with(&[
        ("scalerAddress", "lagscale.keda:6000"),
        ("enableTLS", "true"),
        ("unsafeSsl", "false"),
    ]));
    assert!(spec.is_ok(), "{spec:?}");
}

#[test]
fn same_metadata_same_spec() {
    assert_eq!(parse(&BASE).unwrap(), parse(&BASE).unwrap());
}

/// Every error, with the words it must contain: the key, the value, what was expected.
#[test]
fn errors_name_key_value_and_expectation() {
    let cases: Vec<ErrorCase> = vec![
        (
            vec![("cluster", "main"), ("queueName", "q")],
            &["source: missing", "rabbitmq"],
        ),
        (
            with(&[("source", "nats")]),
            &["source", "\"nats\"", "one of: rabbitmq, kafka"],
        ),
        (
            with(&[("consumerGroup", "g")]),
            &["consumerGroup", "not used with source: rabbitmq"],
        ),
        (
            with(&[("lagTreshold", "5")]),
            &["unknown key \"lagTreshold\"", "did you mean `lagThreshold`"],
        ),
        (with(&[("foo", "bar")]), &["unknown key \"foo\""]),
        (
            vec![("source", "rabbitmq"), ("queueName", "q")],
            &["cluster: missing", "host"],
        ),
        (
            with(&[("host", "amqp://h")]),
            &["cluster and host are both set"],
        ),
        (
            with(&[("cluster", "nope")]),
            &["cluster", "\"nope\"", "known: main"],
        ),
        (
            vec![
                ("source", "rabbitmq"),
                ("host", "http://u:pw@h"),
                ("queueName", "q"),
                ("protocol", "amqp"),
            ],
            &["host", "http://u:***@h", "AMQP URI"],
        ),
        (
            vec![("source", "rabbitmq"), ("cluster", "main")],
            &["queueName: missing"],
        ),
        (with(&[("queueName", "  ")]), &["queueName: missing"]),
        (
            with(&[("lagThreshold", "abc")]),
            &["lagThreshold", "\"abc\"", "a number > 0"],
        ),
        (
            with(&[("lagThreshold", "0")]),
            &["lagThreshold", "\"0\"", "a number > 0"],
        ),
        (
            with(&[("lagThreshold", "NaN")]),
            &["lagThreshold", "\"NaN\""],
        ),
        (
            with(&[("value", "-1")]),
            &["value", "\"-1\"", "a number > 0"],
        ),
        (
            with(&[("lagThreshold", "5"), ("value", "5")]),
            &["lagThreshold and value are both set"],
        ),
        (
            with(&[("activationLagThreshold", "-1")]),
            &["activationLagThreshold", "\"-1\"", ">= 0"],
        ),
        (
            with(&[("activationValue", "x")]),
            &["activationValue", "\"x\""],
        ),
        (
            with(&[("transform", "log10")]),
            &["transform", "\"log10\"", "one of: none, log2"],
        ),
        (
            with(&[("transform", "log2"), ("lagThreshold", "1")]),
            &["lagThreshold", "\"1\"", "> 1 with transform: log2"],
        ),
        (
            with(&[("transform", "log2"), ("value", "0.5")]),
            &["value", "\"0.5\"", "> 1"],
        ),
        (
            with(&[("transform", "log2"), ("log2Multiplier", "0")]),
            &["log2Multiplier", "\"0\"", "a number > 0"],
        ),
        (
            with(&[("transform", "log2"), ("log2Multiplier", "inf")]),
            &["log2Multiplier", "\"inf\""],
        ),
        (
            with(&[("log2Multiplier", "7")]),
            &["log2Multiplier", "transform: none"],
        ),
        (
            with(&[("metricName", "a/b")]),
            &["metricName", "\"a/b\"", "without `/`"],
        ),
        (with(&[("metricName", "..")]), &["metricName", "\"..\""]),
    ];
    assert_error_table(cases, parse);
}

#[test]
fn errors_never_show_passwords() {
    let cases = [
        vec![
            ("source", "rabbitmq"),
            ("host", "amqp://u:hunter2@h:notaport"),
            ("queueName", "q"),
        ],
        vec![
            ("source", "rabbitmq"),
            ("host", "amqp://u:hunter2@h"),
            ("cluster", "main"),
            ("queueName", "q"),
        ],
        vec![
            ("source", "rabbitmq"),
            ("host", "amqp://u:hunter2@h"),
            ("queueName", "q"),
            ("lagThreshold", "x"),
        ],
    ];
    for pairs in cases {
        let error = parse(&pairs).unwrap_err().to_string();
        assert!(!error.contains("hunter2"), "{error}");
    }
}

/// Trigger metadata that must fail, and the words its error must contain.
pub(crate) type ErrorCase = (Vec<(&'static str, &'static str)>, &'static [&'static str]);

/// Every case fails, with an error that contains every word.
pub(crate) fn assert_error_table(
    cases: Vec<ErrorCase>,
    parse: impl Fn(&[(&str, &str)]) -> Result<TriggerSpec, TriggerError>,
) {
    for (pairs, words) in cases {
        let error = parse(&pairs)
            .expect_err(&format!("{pairs:?} should fail"))
            .to_string();
        for word in words {
            assert!(
                error.contains(word),
                "{pairs:?}: {error:?} should contain {word:?}"
            );
        }
    }
}

/// Metadata too large to be a trigger is refused before anything reads it, with an error that
/// names what was too large, its size and the limit, and stays short whatever the input.
#[test]
fn metadata_is_bounded_before_it_is_read() {
    use crate::metadata::{MAX_KEYS, MAX_METADATA_BYTES, MAX_VALUE_BYTES};
    let base = || -> HashMap<String, String> {
        [
            ("source", "rabbitmq"),
            ("host", "amqp://h"),
            ("queueName", "q"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into_iter()
        .collect()
    };
    let parse = |m: &HashMap<String, String>| TriggerSpec::parse(m, &BTreeMap::new());
    let mut cases: Vec<(HashMap<String, String>, Vec<String>)> = Vec::new();

    let mut many = base();
    many.extend((0..MAX_KEYS).map(|i| (format!("k{i}"), "v".to_owned())));
    cases.push((
        many,
        vec!["scalerMetadata".into(), "67 keys".into(), "64 keys".into()],
    ));

    let mut long_key = base();
    long_key.insert("k".repeat(200), "v".to_owned());
    cases.push((
        long_key,
        vec![
            "the key \"kkkk".into(),
            "(200 bytes)".into(),
            "128 bytes".into(),
        ],
    ));

    let mut long_value = base();
    long_value.insert("scalerAddress".to_owned(), "x".repeat(100_000));
    cases.push((
        long_value,
        vec![
            "scalerAddress".into(),
            "100000 bytes".into(),
            format!("{MAX_VALUE_BYTES} bytes"),
        ],
    ));

    let mut heavy = base();
    heavy.extend((0..9).map(|i| (format!("k{i}"), "v".repeat(MAX_VALUE_BYTES))));
    cases.push((
        heavy,
        vec![
            "scalerMetadata".into(),
            format!("{MAX_METADATA_BYTES} bytes"),
        ],
    ));

    let mut long_queue = base();
    long_queue.insert("queueName".to_owned(), "q".repeat(300));
    cases.push((
        long_queue,
        vec!["queueName".into(), "(300 bytes)".into(), "255 bytes".into()],
    ));

    let mut long_vhost = base();
    long_vhost.insert("vhostName".to_owned(), "v".repeat(256));
    cases.push((long_vhost, vec!["vhostName".into(), "255 bytes".into()]));

    let mut bad_number = base();
    bad_number.insert("lagThreshold".to_owned(), "9".repeat(4000));
    cases.push((
        bad_number,
        vec!["lagThreshold".into(), "(4000 bytes)".into()],
    ));

    for (metadata, words) in cases {
        let error = parse(&metadata).unwrap_err().to_string();
        assert!(error.len() < 400, "{} bytes: {error}", error.len());
        for word in words {
            assert!(error.contains(&word), "{error:?} should contain {word:?}");
        }
    }
}
