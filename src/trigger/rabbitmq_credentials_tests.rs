//! `usernameFromEnv` and `passwordFromEnv`: KEDA forwards their resolved values, and together
//! they replace the inline host's user info, as KEDA's `username` and `password` do.

use std::collections::{BTreeMap, HashMap};

use crate::source::ClusterProfile;
use crate::source::SourceQuery;
use crate::source::rabbitmq::{AmqpUri, RabbitmqProfile};
use crate::trigger::TriggerSpec;

fn parse(pairs: &[(&str, &str)]) -> Result<TriggerSpec, String> {
    let profile = RabbitmqProfile::new(
        AmqpUri::parse("amqp://lagscale:secret@rabbitmq:5672/%2f").unwrap(),
        None,
    );
    let clusters = BTreeMap::from([("main".to_owned(), ClusterProfile::Rabbitmq(profile))]);
    let mut md: HashMap<String, String> = [("source", "rabbitmq"), ("queueName", "orders")]
        .iter()
        .chain(pairs)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    md.retain(|_, v| !v.is_empty());
    TriggerSpec::parse(&md, &clusters).map_err(|e| e.to_string())
}

#[test]
fn credentials_from_the_environment_replace_the_hosts() {
    let spec = parse(&[
        ("hostFromEnv", "amqp://rabbitmq:5672/%2f"),
        ("usernameFromEnv", "orders"),
        ("passwordFromEnv", "s3cr/t@"),
    ])
    .unwrap();
    let SourceQuery::Rabbitmq(query) = spec.query() else {
        panic!("{:?}", spec.query())
    };
    let lapin = query.endpoint.uri.to_lapin(None);
    assert_eq!(lapin.authority.userinfo.username, "orders");
    assert_eq!(lapin.authority.userinfo.password, "s3cr/t@");
    assert!(
        !format!("{spec:?}").contains("s3cr"),
        "Debug shows no password"
    );
    // Over HTTP too: the management API is asked with them.
    let spec = parse(&[
        ("host", "http://old:gone@rabbitmq:15672/%2F"),
        ("usernameFromEnv", "orders"),
        ("passwordFromEnv", "s3cr/t@"),
    ]);
    assert!(spec.is_ok(), "{spec:?}");
}

#[test]
fn credentials_come_together_and_not_with_a_profile() {
    let error = parse(&[
        ("host", "amqp://rabbitmq:5672/%2f"),
        ("usernameFromEnv", "orders"),
    ])
    .unwrap_err();
    assert!(
        error.contains("passwordFromEnv") && error.contains("together"),
        "{error}"
    );
    let error = parse(&[
        ("cluster", "main"),
        ("usernameFromEnv", "orders"),
        ("passwordFromEnv", "hunter2"),
    ])
    .unwrap_err();
    assert!(
        error.contains("usernameFromEnv") && error.contains("cluster"),
        "{error}"
    );
    assert!(!error.contains("hunter2"), "{error}");
}
