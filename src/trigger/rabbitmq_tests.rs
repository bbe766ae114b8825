//! RabbitMQ triggers as KEDA's RabbitMQ scaler reads them: protocol, mode and value, the HTTP
//! keys, and the combinations that are errors.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::*;
use crate::source::rabbitmq::management::ManagementUrl;
use crate::source::rabbitmq::mode::Operation;
use crate::source::rabbitmq::{AmqpUri, HttpQuery, Mode, RabbitmqProfile};
use crate::source::{ClusterProfile, LagRule};

const HTTP_HOST: &str = "http://mon:s3cret@127.0.0.1:15672/orders";

fn clusters() -> BTreeMap<String, ClusterProfile> {
    let profile = |management: Option<&str>| {
        ClusterProfile::Rabbitmq(RabbitmqProfile::new(
            AmqpUri::parse("amqp://guest:guest@127.0.0.1:5672/prod").unwrap(),
            management.map(|m| ManagementUrl::parse(m).unwrap()),
        ))
    };
    BTreeMap::from([
        ("main".to_owned(), profile(None)),
        (
            "managed".to_owned(),
            profile(Some("http://mon:pw@127.0.0.1:15672")),
        ),
    ])
}

fn parse(pairs: &[(&str, &str)]) -> Result<TriggerSpec, TriggerError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    TriggerSpec::parse(&map, &clusters())
}

/// An inline HTTP trigger on queue `jobs`, plus `extra`.
fn http(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut pairs = vec![
        ("source", "rabbitmq"),
        ("host", HTTP_HOST),
        ("queueName", "jobs"),
    ];
    pairs.extend_from_slice(extra);
    pairs
}

fn amqp(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut pairs = vec![
        ("source", "rabbitmq"),
        ("cluster", "main"),
        ("queueName", "jobs"),
    ];
    pairs.extend_from_slice(extra);
    pairs
}

fn http_query(spec: &TriggerSpec) -> &HttpQuery {
    match spec.query() {
        SourceQuery::RabbitmqHttp(q) => q,
        other => panic!("not an HTTP query: {other:?}"),
    }
}

fn rule(spec: &TriggerSpec) -> crate::source::rabbitmq::Rule {
    match spec.source.rule() {
        LagRule::Management(rule) => *rule,
        other => panic!("not a management rule: {other:?}"),
    }
}

fn error(pairs: &[(&str, &str)]) -> String {
    parse(pairs).unwrap_err().to_string()
}

#[test]
fn neither_mode_nor_value_is_queue_length_20_as_keda() {
    let spec = parse(&amqp(&[])).unwrap();
    assert_eq!(spec.lag_threshold, 20.0);
    assert_eq!(*spec.source.rule(), LagRule::QueueDepth);
    let spec = parse(&http(&[])).unwrap();
    assert_eq!(
        (spec.lag_threshold, rule(&spec).mode),
        (20.0, Mode::QueueLength)
    );
    // lagscale's aliases keep working for QueueLength, with or without mode.
    for extra in [
        [("value", "5"), ("activationValue", "2")],
        [("lagThreshold", "5"), ("activationLagThreshold", "2")],
    ] {
        for mode in [None, Some(("mode", "QueueLength"))] {
            let mut pairs = amqp(&extra);
            pairs.extend(mode);
            let spec = parse(&pairs).unwrap();
            assert_eq!(
                (spec.lag_threshold, spec.activation_lag_threshold),
                (5.0, 2.0)
            );
        }
    }
}

#[test]
fn legacy_queue_length() {
    let spec = parse(&amqp(&[("queueLength", "7")])).unwrap();
    assert_eq!(spec.lag_threshold, 7.0);
    for extra in [
        ("mode", "QueueLength"),
        ("value", "7"),
        ("lagThreshold", "7"),
    ] {
        let e = error(&amqp(&[("queueLength", "7"), extra]));
        assert!(
            e.contains("queueLength is deprecated; use mode and value"),
            "{e}"
        );
    }
}

#[test]
fn mode_and_value_together() {
    let e = error(&http(&[("mode", "MessageRate")]));
    assert!(
        e.starts_with("value: missing") && e.contains("mode and value together"),
        "{e}"
    );
    let e = error(&http(&[("mode", "messageRate"), ("value", "1")]));
    assert!(
        e.contains("mode: \"messageRate\" is not valid") && e.contains("MessageRate"),
        "{e}"
    );
    let spec = parse(&http(&[
        ("mode", "DeliverGetRate"),
        ("value", "2.5"),
        ("activationValue", "0.5"),
    ]))
    .unwrap();
    assert_eq!((spec.lag_threshold, spec.target()), (2.5, 2.5));
    assert_eq!(rule(&spec).activation.0, 0.5);
    // A rate mode's target and activation are `value` and `activationValue`.
    for key in ["lagThreshold", "activationLagThreshold"] {
        let e = error(&http(&[
            ("mode", "MessageRate"),
            ("value", "1"),
            (key, "3"),
        ]));
        assert!(
            e.starts_with(&format!("{key}: not used with mode: MessageRate")),
            "{e}"
        );
    }
}

#[test]
fn rate_modes_serve_their_value_and_activity() {
    use crate::source::{Lag, SourceDecision};

    let reading = |messages, decided| Lag {
        messages,
        partitions: None,
        activation: messages,
        decided,
    };
    let spec = parse(&http(&[("mode", "MessageRate"), ("value", "10")])).unwrap();
    let decided = SourceDecision {
        metric: 2.3456,
        active: true,
    };
    // The mode's decision is served as it is, whatever the count.
    assert_eq!(spec.read(&reading(0, Some(decided))), (2.3456, true));
    let idle = SourceDecision {
        metric: 0.0,
        active: false,
    };
    assert_eq!(spec.read(&reading(8, Some(idle))), (0.0, false));
    let spec = parse(&http(&[("mode", "QueueLength"), ("value", "10")])).unwrap();
    assert_eq!(spec.read(&reading(8, None)), (8.0, true));
    assert_eq!(spec.read(&reading(0, None)), (0.0, false));
}

#[test]
fn protocol_follows_the_host_or_says_what_is_wrong() {
    let spec = parse(&http(&[])).unwrap();
    let q = http_query(&spec);
    assert_eq!((q.vhost.as_str(), q.cluster.as_deref()), ("orders", None));
    assert_eq!(q.regex_page_size, None);
    assert!(!format!("{spec:?}").contains("s3cret"));
    assert_eq!(
        spec.query().inline_endpoints(),
        Some(("host", vec![("127.0.0.1".to_owned(), 15672)]))
    );
    let spec = parse(&http(&[("vhostName", "other"), ("protocol", "http")])).unwrap();
    assert_eq!(http_query(&spec).vhost, "other");
    let spec = parse(&[
        ("source", "rabbitmq"),
        ("host", "http://127.0.0.1:15672"),
        ("queueName", "jobs"),
    ])
    .unwrap();
    assert_eq!(http_query(&spec).vhost, "/");
    assert_eq!(spec.metric_name.as_str(), "rabbitmq-jobs");

    let e = error(&http(&[("protocol", "ftp")]));
    assert!(
        e.contains("protocol: \"ftp\" is not valid; expected one of: amqp, http, auto"),
        "{e}"
    );
    let e = error(&http(&[("protocol", "amqp")]));
    assert!(
        e.contains("host: \"http://mon:***@") && e.contains("AMQP URI"),
        "{e}"
    );
    let e = error(&[
        ("source", "rabbitmq"),
        ("host", "amqp://u:s3cret@h"),
        ("queueName", "q"),
        ("protocol", "http"),
    ]);
    assert!(
        e.contains("management API URL") && !e.contains("s3cret"),
        "{e}"
    );
}

#[test]
fn cluster_profiles_over_http() {
    let pairs = [
        ("source", "rabbitmq"),
        ("cluster", "managed"),
        ("queueName", "jobs"),
    ];
    let spec = parse(&pairs).unwrap();
    assert!(
        matches!(spec.query(), SourceQuery::Rabbitmq(_)),
        "auto is amqp with a profile"
    );
    let mut with_http = pairs.to_vec();
    with_http.push(("protocol", "http"));
    let spec = parse(&with_http).unwrap();
    let q = http_query(&spec);
    assert_eq!(
        (q.vhost.as_str(), q.cluster.as_deref()),
        ("prod", Some("managed"))
    );
    assert_eq!(spec.query().inline_endpoints(), None);
    let e = error(&amqp(&[("protocol", "http")]));
    assert!(
        e.contains("cluster \"main\"'s profile sets no management_url"),
        "{e}"
    );
}

#[test]
fn http_only_keys_over_amqp_are_errors() {
    for (extra, key) in [
        (("mode", "MessageRate"), "mode"),
        (("mode", "ExpectedQueueConsumptionTime"), "mode"),
        (("useRegex", "true"), "useRegex"),
        (("excludeUnacknowledged", "true"), "excludeUnacknowledged"),
    ] {
        let e = error(&amqp(&[extra, ("value", "1")]));
        assert!(
            e.starts_with(&format!("{key}: ")) && e.contains("protocol: http"),
            "{e}"
        );
    }
    assert!(
        parse(&amqp(&[
            ("useRegex", "false"),
            ("excludeUnacknowledged", "0")
        ]))
        .is_ok()
    );
}

#[test]
fn timeouts() {
    let e = error(&amqp(&[
        ("mode", "QueueLength"),
        ("value", "5"),
        ("timeout", "2s"),
    ]));
    assert!(
        e.contains("AMQP protocol doesn't support custom timeouts"),
        "{e}"
    );
    // Where KEDA does not check (no mode, queueLength), AMQP ignores it.
    assert!(parse(&amqp(&[("timeout", "2s")])).is_ok());
    assert!(parse(&amqp(&[("queueLength", "5"), ("timeout", "2s")])).is_ok());
    assert!(
        parse(&amqp(&[
            ("mode", "QueueLength"),
            ("value", "5"),
            ("timeout", "0")
        ]))
        .is_ok()
    );
    let spec = parse(&http(&[("timeout", "1500")])).unwrap();
    assert_eq!(http_query(&spec).timeout, Some(Duration::from_millis(1500)));
    let e = error(&http(&[("timeout", "-1s")]));
    assert!(
        e.contains("timeout: \"-1s\" is not valid; expected a Go duration"),
        "{e}"
    );
}

#[test]
fn regex_keys() {
    let spec = parse(&http(&[
        ("useRegex", "true"),
        ("operation", "max"),
        ("pageSize", "1"),
    ]))
    .unwrap();
    assert_eq!(http_query(&spec).regex_page_size, Some(1));
    assert_eq!(rule(&spec).operation, Operation::Max);
    let spec = parse(&http(&[("excludeUnacknowledged", "true")])).unwrap();
    assert!(rule(&spec).exclude_unacknowledged);
    for (key, value) in [
        ("pageSize", "0"),
        ("pageSize", "1.5"),
        ("operation", "median"),
    ] {
        let e = error(&http(&[("useRegex", "true"), (key, value)]));
        assert!(
            e.starts_with(&format!("{key}: \"{value}\" is not valid")),
            "{e}"
        );
    }
    // The same regex with another operation asks the broker the same question.
    let sum = parse(&http(&[("useRegex", "true")])).unwrap();
    let max = parse(&http(&[("useRegex", "true"), ("operation", "max")])).unwrap();
    assert_eq!(sum.query(), max.query());
}

#[test]
fn transforms_strategies_and_throughput_by_mode() {
    for (key, value) in [
        ("transform", "log2"),
        ("strategy", "step"),
        ("metric", "throughput"),
    ] {
        let e = error(&http(&[
            ("mode", "MessageRate"),
            ("value", "1"),
            (key, value),
        ]));
        assert!(
            e.starts_with(&format!("{key}: \"{value}\" is not valid; expected "))
                && e.contains("with mode: MessageRate"),
            "{e}"
        );
    }
    let e = error(&http(&[
        ("useRegex", "true"),
        ("metric", "throughput"),
        ("replicaThroughput", "5"),
    ]));
    assert!(e.contains("lag with useRegex: true"), "{e}");
    // QueueLength over HTTP takes all three; throughput's rates come from the same API.
    assert!(parse(&http(&[("transform", "log2"), ("value", "100")])).is_ok());
    assert!(parse(&http(&[("strategy", "step")])).is_ok());
    let spec = parse(&http(&[
        ("metric", "throughput"),
        ("replicaThroughput", "5"),
    ]))
    .unwrap();
    assert!(matches!(spec.metric, Metric::Throughput(_)));
}

#[test]
fn trigger_authentication_keys_say_where_credentials_go() {
    for key in ["username", "password", "tls", "ca", "clientSecret"] {
        let e = error(&http(&[(key, "x")]));
        assert!(
            e.starts_with(&format!("{key}: not used by an external trigger"))
                && e.contains("TriggerAuthentication")
                && e.contains("`cluster`"),
            "{e}"
        );
        assert!(!e.contains("\"x\""), "{e}");
    }
}
