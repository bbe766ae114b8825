//! Table tests for the keys of KEDA's Kafka scaler beyond the lag options: the `FromEnv`
//! keys, `ensureEvenDistributionOfPartitions`, `partitionLimitation` without a topic, and
//! KEDA's client settings and credentials (accepted and ignored, or refused).

use super::kafka_tests::{options, parse};
use crate::source::SourceQuery;
use crate::source::kafka::keys::{Accepts, KEDA_TABLE};
use crate::source::kafka::lag::Partitions;
use crate::trigger::tests::{ErrorCase, assert_error_table};

fn group_and_topic(pairs: &[(&str, &str)]) -> (String, Option<String>) {
    let spec = parse(pairs).unwrap();
    let SourceQuery::Kafka(query) = spec.query() else {
        panic!()
    };
    (query.group.clone(), query.topic.clone())
}

/// KEDA sends `xFromEnv` under its own name with the resolved value; the plain key wins.
#[test]
fn from_env_keys_and_the_plain_key_wins() {
    type Pairs<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Pairs, (&str, Option<&str>)); 5] = [
        (
            &[("consumerGroup", ""), ("consumerGroupFromEnv", "from-env")],
            ("from-env", None),
        ),
        (&[("consumerGroupFromEnv", "from-env")], ("billing", None)),
        (&[("topicFromEnv", "orders")], ("billing", Some("orders"))),
        (
            &[("topic", "plain"), ("topicFromEnv", "orders")],
            ("billing", Some("plain")),
        ),
        (
            &[("topic", " "), ("topicFromEnv", "orders")],
            ("billing", Some("orders")),
        ),
    ];
    for (pairs, (group, topic)) in cases {
        let got = group_and_topic(pairs);
        assert_eq!(
            got,
            (group.to_owned(), topic.map(str::to_owned)),
            "{pairs:?}"
        );
    }
    let both = parse(&[
        ("cluster", ""),
        ("bootstrapServers", "a:9092"),
        ("bootstrapServersFromEnv", "b:9092"),
    ])
    .unwrap();
    let SourceQuery::Kafka(query) = both.query() else {
        panic!()
    };
    assert_eq!(query.endpoint.profile.bootstrap_servers, "a:9092");
    let spec = parse(&[("topicFromEnv", "orders")]).unwrap();
    assert_eq!(spec.metric_name.as_str(), "kafka-events-billing-orders");
}

#[test]
fn ensure_even_distribution_is_read() {
    let spec = parse(&[
        ("topic", "orders"),
        ("ensureEvenDistributionOfPartitions", "true"),
        ("allowIdleConsumers", "true"),
    ])
    .unwrap();
    assert!(options(&spec).ensure_even_distribution);
    assert!(!options(&parse(&[]).unwrap()).ensure_even_distribution);
}

/// KEDA ignores `partitionLimitation` without `topic`, after checking its syntax.
#[test]
fn partition_limitation_without_topic_is_ignored() {
    let spec = parse(&[("partitionLimitation", "1,2,5-7")]).unwrap();
    assert_eq!(options(&spec).partitions, Partitions::All);
}

/// The values of KEDA's client keys that ask nothing of lagscale, and the ignored keys.
#[test]
fn keda_client_keys_accepted() {
    let accepted: [(&str, &str); 9] = [
        ("tls", "disable"),
        ("sasl", "none"),
        ("saslTokenProvider", "bearer"),
        ("kerberosDisableFAST", "false"),
        ("version", "2.8.1"),
        ("version", "0.10.2.0"),
        ("fullMetadata", "false"),
        ("unsafeSsl", "true"),
        ("tlsCertFile", "/x"),
    ];
    for pair in accepted {
        let spec = parse(&[pair]).unwrap_or_else(|e| panic!("{pair:?}: {e}"));
        assert_eq!(spec, parse(&[]).unwrap(), "{pair:?} changes nothing");
    }
    // Every external-scaler key of KEDA together.
    let keda = [
        ("scalerAddress", "lagscale:6000"),
        ("enableTLS", "true"),
        ("caCert", "pem"),
        ("tlsClientCert", "pem"),
        ("tlsClientKey", "pem"),
    ];
    assert!(parse(&keda).is_ok());
}

#[test]
fn keda_keys_refused_name_key_value_and_what_to_do() {
    const PROFILE: &str = "use a `cluster` connection profile with";
    const SEE: &str = "see the README section \"Config file\"";
    let cases: Vec<ErrorCase> = vec![
        (
            vec![("tls", "enable")],
            &[
                "tls: \"enable\" is not valid",
                "expected `disable` or no `tls`",
                PROFILE,
                "`security.protocol: ssl`",
                SEE,
            ],
        ),
        (
            vec![("sasl", "scram_sha512")],
            &[
                "sasl: \"scram_sha512\"",
                "`none` or no `sasl`",
                "`sasl.mechanism`",
                "`sasl.username`",
                SEE,
            ],
        ),
        (vec![("sasl", "gssapi")], &["sasl: \"gssapi\"", "`none`"]),
        (
            vec![("saslTokenProvider", "aws_msk_iam")],
            &[
                "saslTokenProvider: \"aws_msk_iam\"",
                "`bearer`",
                "AWS MSK IAM is not supported",
            ],
        ),
        (
            vec![("username", "alice")],
            &[
                "username: \"alice\"",
                "expected no `username`",
                "`sasl.username`",
            ],
        ),
        (
            vec![("password", "hunter2")],
            &["password: a value (not shown, 7 bytes)", "`sasl.password`"],
        ),
        (
            vec![("ca", "/ca.pem")],
            &["ca: \"/ca.pem\"", "`ssl.ca.location`"],
        ),
        (
            vec![("cert", "PEM")],
            &["cert: \"PEM\"", "`ssl.certificate.location`"],
        ),
        (
            vec![("key", "PEM")],
            &["key: a value (not shown", "`ssl.key.location`"],
        ),
        (
            vec![("keyPassword", "k")],
            &["keyPassword: a value", "decrypted key"],
        ),
        (
            vec![("scopes", "a,b")],
            &["scopes: \"a,b\"", "`sasl.oauthbearer.scope`"],
        ),
        (
            vec![("oauthTokenEndpointUri", "https://t")],
            &[
                "oauthTokenEndpointUri",
                "`sasl.oauthbearer.token.endpoint.url`",
            ],
        ),
        (
            vec![("oauthExtensions", "a=b")],
            &["oauthExtensions: a value", "extensions"],
        ),
        (
            vec![("keytab", "x")],
            &["keytab: a value", "Kerberos (GSSAPI)"],
        ),
        (vec![("realm", "R")], &["realm: \"R\"", "Kerberos"]),
        (
            vec![("kerberosConfig", "c")],
            &["kerberosConfig", "Kerberos"],
        ),
        (
            vec![("kerberosServiceName", "kafka")],
            &["kerberosServiceName", "Kerberos"],
        ),
        (
            vec![("kerberosDisableFAST", "true")],
            &[
                "kerberosDisableFAST: \"true\"",
                "`false` or no `kerberosDisableFAST`",
            ],
        ),
        (
            vec![("awsRegion", "eu-west-1")],
            &["awsRegion: \"eu-west-1\"", "AWS MSK IAM"],
        ),
        (
            vec![("awsSecretAccessKey", "s3cr3t")],
            &["awsSecretAccessKey: a value", "AWS MSK IAM"],
        ),
        (
            vec![("version", "2.8")],
            &["version: \"2.8\"", "a Kafka version such as 2.8.1"],
        ),
        (vec![("version", "0.10.2")], &["version: \"0.10.2\""]),
        (vec![("version", "v2.8.1")], &["version"]),
        (
            vec![("fullMetadata", "no")],
            &["fullMetadata: \"no\"", "true or false"],
        ),
        (
            vec![("ensureEvenDistributionOfPartitions", "true")],
            &[
                "ensureEvenDistributionOfPartitions: \"true\"",
                "without `topic`",
            ],
        ),
        (
            vec![("limitToPartitionsWithLag", "true")],
            &[
                "limitToPartitionsWithLag: \"true\"",
                "without `topic` (KEDA: topic must be specified when using limitToPartitionsWithLag)",
            ],
        ),
        (
            vec![
                ("topic", "t"),
                ("ensureEvenDistributionOfPartitions", "true"),
                ("limitToPartitionsWithLag", "true"),
            ],
            &[
                "ensureEvenDistributionOfPartitions",
                "limitToPartitionsWithLag is true",
            ],
        ),
        (
            vec![("ensureEvenDistributionOfPartitions", "yes")],
            &[
                "ensureEvenDistributionOfPartitions: \"yes\"",
                "true or false",
            ],
        ),
        (
            vec![("partitionLimitation", "3-1")],
            &["partitionLimitation", "cannot read \"3-1\""],
        ),
        (
            vec![("consumerGroup", ""), ("consumerGroupFromEnv", "")],
            &["consumerGroup: missing", "consumerGroupFromEnv"],
        ),
        (
            vec![("topicFromEnv", "a b")],
            &["topicFromEnv: \"a b\"", "a Kafka topic name"],
        ),
        (
            vec![("topicFromEnvv", "a")],
            &[
                "unknown key \"topicFromEnvv\"",
                "did you mean `topicFromEnv`",
            ],
        ),
        (
            vec![("ensureEvenDistributionOfPartition", "true")],
            &["did you mean `ensureEvenDistributionOfPartitions`"],
        ),
    ];
    assert_error_table(cases, parse);
}

/// A secret's value never appears in an error, whatever its key.
#[test]
fn refused_secrets_are_never_quoted() {
    for key in KEDA_TABLE.iter().filter(|k| k.secret) {
        let error = parse(&[(key.name, "hunter2-secret")])
            .unwrap_err()
            .to_string();
        assert!(!error.contains("hunter2"), "{}: {error}", key.name);
        assert!(error.contains(key.name), "{error}");
    }
    for key in KEDA_TABLE.iter().filter(|k| k.accepts == Accepts::Nothing) {
        assert!(
            parse(&[(key.name, "x")]).is_err(),
            "{} must be refused",
            key.name
        );
    }
}

/// A trigger copied from KEDA keeps its `tls` and `sasl` when its credentials move to a
/// `cluster` profile: a value that agrees with the profile is accepted, one that does not is
/// an error naming the profile's setting.
#[test]
fn tls_and_sasl_that_agree_with_the_profile_are_accepted() {
    use std::collections::{BTreeMap, HashMap};

    use crate::source::ClusterProfile;
    use crate::source::kafka::KafkaProfile;
    use crate::trigger::TriggerSpec;

    let secure = KafkaProfile {
        bootstrap_servers: "k1:9093".to_owned(),
        properties: BTreeMap::from([
            ("security.protocol".to_owned(), "SASL_SSL".to_owned()),
            ("sasl.mechanism".to_owned(), "PLAIN".to_owned()),
            ("sasl.username".to_owned(), "admin".to_owned()),
            ("sasl.password".to_owned(), "hunter2".to_owned()),
        ]),
    };
    let clusters = BTreeMap::from([("secure".to_owned(), ClusterProfile::Kafka(secure))]);
    let parse = |pairs: &[(&str, &str)]| {
        let mut md: HashMap<String, String> = [
            ("source", "kafka"),
            ("cluster", "secure"),
            ("consumerGroup", "my-group"),
            ("topic", "test-topic"),
        ]
        .iter()
        .chain(pairs)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        md.retain(|_, v| !v.is_empty());
        TriggerSpec::parse(&md, &clusters)
    };
    assert!(parse(&[("tls", "enable"), ("sasl", "plaintext")]).is_ok());
    let error = parse(&[("sasl", "scram_sha512")]).unwrap_err().to_string();
    for words in ["sasl", "scram_sha512", "`secure`", "sasl.mechanism: PLAIN"] {
        assert!(error.contains(words), "{error}");
    }
    let error = parse(&[("tls", "disable")]).unwrap_err().to_string();
    assert!(error.contains("security.protocol: SASL_SSL"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
}
