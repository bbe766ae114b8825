use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("test.yaml"))
}

#[test]
fn empty_file_means_defaults() {
    for text in ["", "# nothing\n", "---\n"] {
        let config = parse(text).unwrap();
        assert_eq!(config.listen_addr.to_string(), "0.0.0.0:6000");
        assert_eq!(config.cache_ttl_ms, 2_000);
        assert!(config.clusters.is_empty());
    }
}

#[test]
fn full_file() {
    let text = "
listen_addr: 127.0.0.1:7000
cache_ttl_ms: 500
stream_check_interval_ms: 1000
broker_connect_timeout_ms: 300
broker_query_timeout_ms: 400
clusters:
  main:
    rabbitmq:
      uri: amqp://guest:guest@127.0.0.1:5672/%2f
";
    let config = parse(text).unwrap();
    assert_eq!(config.listen_addr.to_string(), "127.0.0.1:7000");
    assert_eq!(config.cache_ttl(), Duration::from_millis(500));
    assert_eq!(config.stream_check_interval(), Duration::from_millis(1000));
    assert_eq!(config.broker_timeouts().connect, Duration::from_millis(300));
    assert_eq!(config.broker_timeouts().query, Duration::from_millis(400));
    let ClusterProfile::Rabbitmq(profile) = &config.clusters["main"] else {
        panic!("main is a rabbitmq profile");
    };
    assert_eq!(
        profile.uri.redacted(),
        "amqp://guest:***@127.0.0.1:5672/%2f"
    );
    assert!(!format!("{config:?}").contains("guest@"));
}

#[test]
fn unknown_fields_name_the_field_and_line() {
    let error = parse("cache_ttl_ms: 5\ncache_tll_ms: 5\n")
        .unwrap_err()
        .to_string();
    assert!(error.contains("unknown field `cache_tll_ms`"), "{error}");
    assert!(error.contains("line 2"), "{error}");
    let error = parse("clusters:\n  a:\n    rabbitmq:\n      url: amqp://h\n")
        .unwrap_err()
        .to_string();
    assert!(error.contains("unknown field `url`"), "{error}");
    assert!(error.contains("line 4"), "{error}");
    let error = parse("clusters:\n  a:\n    nats: {}\n")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("unknown field `nats`, expected `rabbitmq` or `kafka`"),
        "{error}"
    );
    let error = parse("clusters:\n  a: {}\n").unwrap_err().to_string();
    assert!(error.contains("expected `rabbitmq`"), "{error}");
}

#[test]
fn invalid_values_are_named() {
    let error = parse("cache_ttl_ms: 0\n").unwrap_err().to_string();
    assert!(error.contains("cache_ttl_ms: 0 is not valid"), "{error}");
    let error = parse("listen_addr: nowhere\n").unwrap_err().to_string();
    assert!(error.contains("listen_addr"), "{error}");
    let error = parse("clusters:\n  a:\n    rabbitmq:\n      uri: http://u:topsecret@h\n")
        .unwrap_err()
        .to_string();
    assert!(error.contains("not a valid AMQP URI"), "{error}");
    assert!(!error.contains("topsecret"), "{error}");
}

#[test]
fn missing_environment_variable_in_file_names_it() {
    let text = "clusters:\n  a:\n    rabbitmq:\n      uri: amqp://u:${LAGSCALE_TEST_UNSET_VAR}@h\n";
    let error = parse(text).unwrap_err().to_string();
    assert!(
        error.contains("LAGSCALE_TEST_UNSET_VAR is not set"),
        "{error}"
    );
    // The profile's line: its URI is checked once the whole profile is read.
    assert!(
        error.contains("uri: ") && error.contains("line 3"),
        "{error}"
    );
}

#[test]
fn kafka_profiles_take_properties_with_secrets_from_the_environment() {
    let text = "clusters:\n  events:\n    kafka:\n      bootstrap_servers: k1:9092,k2:9092\n      properties:\n        security.protocol: SASL_SSL\n        sasl.mechanism: PLAIN\n        sasl.username: lagscale\n        sasl.password: ${HOME}\n";
    let config = parse(text).unwrap();
    let ClusterProfile::Kafka(profile) = &config.clusters["events"] else {
        panic!("events is a kafka profile");
    };
    assert_eq!(profile.bootstrap_servers, "k1:9092,k2:9092");
    assert_eq!(profile.properties["security.protocol"], "SASL_SSL");
    assert_eq!(
        profile.properties["sasl.password"],
        std::env::var("HOME").unwrap()
    );
    let debug = format!("{config:?}");
    assert!(
        debug.contains("SASL_SSL") && debug.contains("\"sasl.password\": \"***\""),
        "{debug}"
    );
    let error = parse("clusters:\n  e:\n    kafka:\n      bootstrap_servers: k:1\n      properties:\n        sasl.password: ${LAGSCALE_TEST_UNSET_VAR}\n")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("properties.sasl.password")
            && error.contains("LAGSCALE_TEST_UNSET_VAR is not set"),
        "{error}"
    );
    let error = parse(
        "clusters:\n  e:\n    rabbitmq: {uri: amqp://h}\n    kafka: {bootstrap_servers: k:1}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("exactly one source key"), "{error}");
}

#[test]
fn secrets_can_come_from_mounted_files() {
    let dir = std::env::temp_dir().join(format!("lagscale-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let uri_file = dir.join("uri");
    std::fs::write(&uri_file, "amqp://user:fr0m-f1le@rabbit:5672/%2f\n").unwrap();
    let password_file = dir.join("password");
    std::fs::write(&password_file, "kafka-s3cret\n").unwrap();
    let text = format!(
        "clusters:\n  jobs:\n    rabbitmq:\n      uri_file: {}\n  events:\n    kafka:\n      bootstrap_servers: k:9092\n      properties:\n        security.protocol: SASL_PLAINTEXT\n        sasl.mechanism: SCRAM-SHA-512\n        sasl.username: lagscale\n        sasl.password_file: {}\n",
        uri_file.display(),
        password_file.display()
    );
    let config = parse(&text).unwrap();
    let ClusterProfile::Rabbitmq(rabbit) = &config.clusters["jobs"] else {
        panic!("jobs is rabbitmq");
    };
    assert_eq!(rabbit.uri.redacted(), "amqp://user:***@rabbit:5672/%2f");
    let ClusterProfile::Kafka(kafka) = &config.clusters["events"] else {
        panic!("events is kafka");
    };
    assert_eq!(kafka.properties["sasl.password"], "kafka-s3cret");
    assert!(!kafka.properties.contains_key("sasl.password_file"));
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("fr0m-f1le") && !debug.contains("kafka-s3cret"),
        "{debug}"
    );

    let missing = format!(
        "clusters:\n  j:\n    rabbitmq:\n      uri_file: {}/nope\n",
        dir.display()
    );
    let error = parse(&missing).unwrap_err().to_string();
    assert!(
        error.contains("uri_file: cannot read") && error.contains("nope"),
        "{error}"
    );
    let both = format!(
        "clusters:\n  j:\n    rabbitmq:\n      uri: amqp://h\n      uri_file: {}\n",
        uri_file.display()
    );
    let error = parse(&both).unwrap_err().to_string();
    assert!(
        error.contains("exactly one of `uri`, `uri_file`"),
        "{error}"
    );
    std::fs::write(&uri_file, "http://user:fr0m-f1le@rabbit\n").unwrap();
    let error = parse(&format!(
        "clusters:\n  j:\n    rabbitmq:\n      uri_file: {}\n",
        uri_file.display()
    ))
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("not a valid AMQP URI") && !error.contains("fr0m-f1le"),
        "{error}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Malformed files: every error names the field (or the line, for broken YAML).
#[test]
fn malformed_files_name_what_is_wrong() {
    let table = [
        ("cache_ttl_ms: abc\n", &["cache_ttl_ms", "invalid type"][..]),
        ("cache_ttl_ms: -5\n", &["cache_ttl_ms"]),
        (
            "max_concurrent_requests: 0\n",
            &["max_concurrent_requests: 0 is not valid"],
        ),
        (
            "request_timeout_ms: 0\n",
            &["request_timeout_ms: 0 is not valid"],
        ),
        ("metrics_addr: here\n", &["metrics_addr"]),
        ("clusters: [a, b]\n", &["clusters", "invalid type"]),
        (
            "clusters:\n  a:\n    rabbitmq: {}\n",
            &["exactly one of `uri`, `uri_file`"],
        ),
        ("clusters:\n  a:\n    kafka: {}\n", &["bootstrap_servers"]),
        ("tls:\n  cert_file: a.pem\n", &["tls", "key_file"]),
        ("listen_addr: [1\n", &["line 1"]),
        ("\tlisten_addr: x\n", &["line 1"]),
    ];
    for (text, words) in table {
        let error = parse(text).expect_err(text).to_string();
        for word in words {
            assert!(
                error.contains(word),
                "{text:?}: {error:?} should contain {word:?}"
            );
        }
    }
}

#[test]
fn rabbitmq_management_urls() {
    let config = parse(
        "clusters:\n  main:\n    rabbitmq:\n      uri: amqp://u:p@h/%2f\n      \
         management_url: http://mon:hunter2@h:15672\n",
    )
    .unwrap();
    let ClusterProfile::Rabbitmq(profile) = &config.clusters["main"] else {
        panic!("not rabbitmq");
    };
    let management = profile.management.as_ref().unwrap();
    assert_eq!(management.redacted(), "http://mon:***@h:15672");
    assert!(!format!("{config:?}").contains("hunter2"));
    for (text, expected) in [
        (
            "      management_url: ftp://mon:hunter2@h\n",
            "management_url: ftp://mon:***@h is not a valid URL: the scheme must be http:// or https://",
        ),
        (
            "      management_url: http://h\n      management_url_file: /x\n",
            "management_url and management_url_file are both set",
        ),
    ] {
        let text = format!("clusters:\n  main:\n    rabbitmq:\n      uri: amqp://h\n{text}");
        let error = parse(&text).unwrap_err().to_string();
        assert!(
            error.contains(expected) && !error.contains("hunter2"),
            "{error}"
        );
    }
}

#[test]
fn kafka_properties_are_checked_when_the_file_is_read() {
    let error = parse("clusters:\n  events:\n    kafka:\n      bootstrap_servers: k:9092\n      properties:\n        socket.timeout.ms: \"10000\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("clusters.events.kafka.properties.socket.timeout.ms")
            && error.contains("10000")
            && error.contains("security.protocol"),
        "names the profile, the key, the value and what is supported: {error}"
    );
    let error = parse("clusters:\n  events:\n    kafka:\n      bootstrap_servers: k:9092\n      properties:\n        security.protocol: SASL_SSL\n        sasl.mechanism: PLAIN\n        sasl.password: hunter2\n")
        .unwrap_err()
        .to_string();
    assert!(error.contains("sasl.username"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
}

#[test]
fn inline_endpoints_is_allow_or_deny() {
    assert_eq!(parse("").unwrap().inline_endpoints, InlineEndpoints::Allow);
    let config = parse("inline_endpoints: deny\n").unwrap();
    assert_eq!(config.inline_endpoints, InlineEndpoints::Deny);
    let error = parse("inline_endpoints: sometimes\n")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("inline_endpoints") && error.contains("sometimes") && error.contains("deny"),
        "{error}"
    );
}

#[test]
fn the_inline_allowlist_takes_patterns_and_needs_allow() {
    let config = parse("inline_endpoint_allowlist: ['*.kafka.svc:9092', 'rabbit:*']\n").unwrap();
    assert_eq!(config.inline_endpoint_allowlist.len(), 2);
    let error = parse("inline_endpoint_allowlist: ['kafka.svc']\n")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("inline_endpoint_allowlist")
            && error.contains("\"kafka.svc\"")
            && error.contains("HOST:PORT"),
        "{error}"
    );
    let error = parse("inline_endpoints: deny\ninline_endpoint_allowlist: ['a:1']\n")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("inline_endpoint_allowlist") && error.contains("inline_endpoints: allow"),
        "{error}"
    );
}
