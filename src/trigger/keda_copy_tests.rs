//! The README's "Moving a trigger from KEDA" examples parse as written: the "after" triggers
//! against the profiles the README shows (less the CA file, which the config loader opens).

use std::collections::HashMap;
use std::path::Path;

use crate::config::Config;
use crate::trigger::TriggerSpec;

const CONFIG: &str = "
clusters:
  main:
    rabbitmq:
      uri: amqp://lagscale:secret@rabbitmq.default.svc:5672/%2f
  secure-events:
    kafka:
      bootstrap_servers: kafka-0.kafka:9093
      properties:
        security.protocol: sasl_ssl
        sasl.mechanism: PLAIN
        sasl.username: lagscale
        sasl.password: secret
";

fn parse(pairs: &[(&str, &str)]) -> TriggerSpec {
    let config = Config::parse(CONFIG, Path::new("readme.yaml")).unwrap();
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    TriggerSpec::parse(&map, &config.clusters).unwrap()
}

#[test]
fn the_readme_kafka_example_parses() {
    let spec = parse(&[
        ("scalerAddress", "lagscale.keda.svc.cluster.local:6000"),
        ("source", "kafka"),
        ("cluster", "secure-events"),
        ("consumerGroup", "my-group"),
        ("topic", "test-topic"),
        ("tls", "enable"),
        ("sasl", "plaintext"),
        ("lagThreshold", "50"),
        ("offsetResetPolicy", "latest"),
    ]);
    assert_eq!(spec.target(), 50.0);
}

#[test]
fn the_readme_rabbitmq_example_parses() {
    let spec = parse(&[
        ("scalerAddress", "lagscale.keda.svc.cluster.local:6000"),
        ("source", "rabbitmq"),
        ("cluster", "main"),
        ("protocol", "amqp"),
        ("queueName", "testqueue"),
        ("mode", "QueueLength"),
        ("value", "20"),
    ]);
    assert_eq!(spec.target(), 20.0);
}
