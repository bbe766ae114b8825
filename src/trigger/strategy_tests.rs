//! Table tests for `strategy`, its step keys and `replicaAware`.

use std::collections::{BTreeMap, HashMap};

use super::*;
use crate::strategy::throughput::ThroughputPolicy;
use crate::trigger::TriggerSpec;
use crate::trigger::tests::{ErrorCase, assert_error_table};

const KAFKA: [(&str, &str); 4] = [
    ("source", "kafka"),
    ("bootstrapServers", "127.0.0.1:9092"),
    ("consumerGroup", "orders"),
    ("topic", "orders"),
];

fn parse(pairs: &[(&str, &str)]) -> Result<TriggerSpec, TriggerError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    TriggerSpec::parse(&map, &BTreeMap::new())
}

fn kafka(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut pairs = KAFKA.to_vec();
    pairs.extend_from_slice(extra);
    pairs
}

#[test]
fn direct_is_the_default_and_reads_no_replicas() {
    let spec = parse(&kafka(&[])).unwrap();
    assert_eq!(
        spec.strategy,
        Strategy::Direct {
            replica_aware: false
        }
    );
    assert!(!spec.strategy.reads_replicas());
    assert_eq!(spec.lag_cap_threshold(), spec.lag_threshold);
}

#[test]
fn replica_aware_log2() {
    let spec = parse(&kafka(&[
        ("transform", "log2"),
        ("lagThreshold", "20000"),
        ("replicaAware", "true"),
    ]))
    .unwrap();
    assert_eq!(
        spec.strategy,
        Strategy::Direct {
            replica_aware: true
        }
    );
    assert!(spec.strategy.reads_replicas());
    assert_eq!(spec.metric_kind(), "log2");
}

#[test]
fn step_with_druids_defaults() {
    let spec = parse(&kafka(&[("strategy", "step")])).unwrap();
    assert_eq!(spec.strategy, Strategy::Step(StepPolicy::default()));
    assert_eq!(spec.target(), 1.0, "the metric is a replica count");
    assert_eq!(spec.lag_cap_threshold(), f64::INFINITY, "lag is not capped");
    assert_eq!(spec.metric_kind(), "step");
}

#[test]
fn every_step_key_is_read() {
    let spec = parse(&kafka(&[
        ("strategy", "step"),
        ("scaleOutThreshold", "500"),
        ("scaleInThreshold", "50"),
        ("triggerScaleOutFraction", "0.5"),
        ("triggerScaleInFraction", "1"),
        ("lagCollectionIntervalSecs", "10"),
        ("lagCollectionRangeSecs", "120"),
        ("scaleOutStep", "3"),
        ("scaleInStep", "2"),
        ("minScaleActionIntervalSecs", "0"),
        ("replicaAware", "true"),
    ]))
    .unwrap();
    let expected = StepPolicy {
        scale_out_threshold: 500.0,
        scale_in_threshold: 50.0,
        trigger_scale_out_fraction: 0.5,
        trigger_scale_in_fraction: 1.0,
        lag_collection_interval: Duration::from_secs(10),
        lag_collection_range: Duration::from_secs(120),
        scale_out_step: 3,
        scale_in_step: 2,
        min_scale_action_interval: Duration::ZERO,
    };
    assert_eq!(spec.strategy, Strategy::Step(expected));
    // RabbitMQ triggers can use it too.
    let rabbit = [
        ("source", "rabbitmq"),
        ("host", "amqp://127.0.0.1"),
        ("queueName", "q"),
        ("strategy", "step"),
    ];
    assert!(matches!(
        parse(&rabbit).unwrap().strategy,
        Strategy::Step(_)
    ));
}

#[test]
fn errors_name_key_value_and_expectation() {
    let cases: Vec<ErrorCase> = vec![
        (
            kafka(&[("strategy", "ladder")]),
            &["strategy", "\"ladder\"", "one of: direct, step"],
        ),
        (
            kafka(&[("scaleOutStep", "2")]),
            &["scaleOutStep: not used without strategy: step"],
        ),
        (
            kafka(&[("strategy", "step"), ("scaleOutStep", "1.5")]),
            &["scaleOutStep", "\"1.5\"", "whole number of replicas >= 1"],
        ),
        (
            kafka(&[("strategy", "step"), ("triggerScaleInFraction", "1.2")]),
            &["triggerScaleInFraction", "\"1.2\"", "> 0 and <= 1"],
        ),
        (
            kafka(&[("strategy", "step"), ("scaleInThreshold", "7000000")]),
            &[
                "scaleInThreshold",
                "7000000",
                "below scaleOutThreshold (6000000)",
            ],
        ),
        (
            kafka(&[("strategy", "step"), ("lagCollectionIntervalSecs", "0")]),
            &["lagCollectionIntervalSecs", "\"0\"", "whole seconds from 1"],
        ),
        (
            kafka(&[("strategy", "step"), ("lagCollectionRangeSecs", "20")]),
            &[
                "lagCollectionRangeSecs",
                "at least lagCollectionIntervalSecs (30)",
            ],
        ),
        (
            kafka(&[("strategy", "step"), ("lagThreshold", "100")]),
            &["lagThreshold: not used with strategy: step", "target 1"],
        ),
        (
            kafka(&[("strategy", "step"), ("transform", "log2")]),
            &["transform: not used with strategy: step"],
        ),
        (
            kafka(&[("strategy", "step"), ("replicaAware", "false")]),
            &["replicaAware", "\"false\"", "always reads the replicas"],
        ),
        (
            kafka(&[("replicaAware", "true")]),
            &[
                "replicaAware",
                "\"true\"",
                "only with source: kafka, transform: log2",
            ],
        ),
        (
            kafka(&[
                ("replicaAware", "true"),
                ("transform", "log2"),
                ("allowIdleConsumers", "true"),
            ]),
            &["replicaAware", "allowIdleConsumers: false"],
        ),
        (
            kafka(&[("replicaAware", "maybe")]),
            &["replicaAware", "\"maybe\"", "true or false"],
        ),
    ];
    assert_error_table(cases, parse);
}

#[test]
fn throughput_keys() {
    let spec = parse(&kafka(&[
        ("metric", "throughput"),
        ("replicaThroughput", "125"),
        ("drainSeconds", "300"),
        ("rateWindowSecs", "120"),
    ]))
    .unwrap();
    let expected = ThroughputPolicy {
        replica_throughput: crate::strategy::throughput::ReplicaThroughput::Fixed(125.0),
        drain: Duration::from_secs(300),
        rate_window: Duration::from_secs(120),
    };
    assert_eq!(spec.metric, Metric::Throughput(expected));
    assert_eq!(spec.target(), 125.0);
    assert_eq!(
        spec.lag_cap_threshold(),
        f64::INFINITY,
        "the value is capped, not the lag"
    );
    assert_eq!(spec.metric_kind(), "throughput");
    let defaults = parse(&kafka(&[
        ("metric", "throughput"),
        ("replicaThroughput", "10"),
    ]))
    .unwrap();
    match defaults.metric {
        Metric::Throughput(p) => {
            assert_eq!((p.drain.as_secs(), p.rate_window.as_secs()), (120, 60));
        }
        other => panic!("{other:?}"),
    }
    let auto = parse(&kafka(&[
        ("metric", "throughput"),
        ("replicaThroughput", "auto"),
        ("replicaThroughputInitial", "80"),
    ]))
    .unwrap();
    match &auto.metric {
        Metric::Throughput(p) => assert_eq!(
            p.replica_throughput,
            crate::strategy::throughput::ReplicaThroughput::Auto {
                initial: Some(80.0)
            }
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(auto.target(), 100.0, "auto serves percent of one replica");
    let cases: Vec<ErrorCase> = vec![
        (
            kafka(&[
                ("metric", "throughput"),
                ("replicaThroughput", "125"),
                ("replicaThroughputInitial", "80"),
            ]),
            &[
                "replicaThroughputInitial: not used with replicaThroughput: \"125\"",
                "until `auto`",
            ],
        ),
        (
            kafka(&[
                ("metric", "throughput"),
                ("replicaThroughput", "auto"),
                ("replicaThroughputInitial", "fast"),
            ]),
            &["replicaThroughputInitial", "\"fast\"", "> 0"],
        ),
        (
            kafka(&[("metric", "throughput"), ("replicaThroughput", "Auto")]),
            &["replicaThroughput", "\"Auto\"", "or `auto`"],
        ),
        (
            vec![
                ("source", "kafka"),
                ("bootstrapServers", "127.0.0.1:9092"),
                ("consumerGroup", "orders"),
                ("metric", "throughput"),
                ("replicaThroughput", "auto"),
            ],
            &["replicaThroughput", "\"auto\"", "a `topic`"],
        ),
        (
            kafka(&[("replicaThroughputInitial", "80")]),
            &["replicaThroughputInitial: not used without metric: throughput"],
        ),
        (
            kafka(&[("metric", "rate")]),
            &["metric", "\"rate\"", "one of: lag, throughput"],
        ),
        (
            kafka(&[("metric", "throughput")]),
            &[
                "replicaThroughput: missing",
                "messages per second one replica handles",
            ],
        ),
        (
            kafka(&[("metric", "throughput"), ("replicaThroughput", "0")]),
            &["replicaThroughput", "\"0\"", "> 0"],
        ),
        (
            kafka(&[
                ("metric", "throughput"),
                ("replicaThroughput", "5"),
                ("rateWindowSecs", "1"),
            ]),
            &["rateWindowSecs", "\"1\"", "from 2 to 3600"],
        ),
        (
            kafka(&[
                ("metric", "throughput"),
                ("replicaThroughput", "5"),
                ("lagThreshold", "9"),
            ]),
            &["lagThreshold: not used with metric: throughput"],
        ),
        (
            kafka(&[
                ("metric", "throughput"),
                ("replicaThroughput", "5"),
                ("transform", "log2"),
            ]),
            &["transform: not used with metric: throughput"],
        ),
        (
            kafka(&[
                ("metric", "throughput"),
                ("replicaThroughput", "5"),
                ("strategy", "step"),
            ]),
            &["strategy: not used with metric: throughput"],
        ),
        (
            kafka(&[("drainSeconds", "60")]),
            &["drainSeconds: not used without metric: throughput"],
        ),
        (
            vec![
                ("source", "rabbitmq"),
                ("host", "amqp://h"),
                ("queueName", "q"),
                ("metric", "throughput"),
                ("replicaThroughput", "5"),
            ],
            &[
                "metric",
                "source: rabbitmq",
                "management API",
                "`management_url`",
            ],
        ),
    ];
    assert_error_table(cases, parse);
}
