//! The Kafka trigger examples of KEDA's docs (keda-docs 2.21,
//! `content/docs/2.21/scalers/apache-kafka.md`, "Example") whose TriggerAuthentication carries
//! SASL or TLS, moved as the README's "Moving a trigger from KEDA" says: `type: external`,
//! `scalerAddress` and `source: kafka` added, `authenticationRef` gone, and what the
//! TriggerAuthentication gave (`sasl`, `username`, `password`, `tls`, `ca`, `cert`, `key`, the
//! OAuth keys) moved into a `cluster` profile of the config file, which also takes over
//! `bootstrapServers`. Each is served through the real gRPC server with KEDA's semantics, over
//! a real mutual-TLS and SASL handshake: `support::secure_kafka`'s front before librdkafka's
//! single-broker mock cluster.
//!
//! - "SASL/TLS auth", methods 1 (all in the TriggerAuthentication) and 2 (`tls: enable`,
//!   `sasl: plaintext` in the metadata): SASL/PLAIN admin/admin over mutual TLS; a wrong
//!   password and a missing client certificate are errors, not values.
//! - "SASL OAuthbearer/TLS auth", methods 1 and 2 (`sasl: oauthbearer`): the client-credentials
//!   flow against `support::token_server`, the token and the extensions checked by the front.
//! - "SASL/GSSAPI auth without TLS": its metadata has no key lagscale refuses (the Kerberos
//!   settings are all in the TriggerAuthentication), so the profile is where Kerberos is refused:
//!   `sasl.mechanism: GSSAPI` stops the config from loading.
//! - "AWS MSK has IAM auth": its metadata's `awsRegion` is refused, naming the key and what to do.
//!
//! KEDA's lag for all of them (`pkg/scalers/kafka_scaler.go`, `getLagForPartition`): see
//! [`examples_cluster`].

use std::path::Path;

use kafka_protocol::messages::ApiKey;
use lagscale::config::Config;
use lagscale::proto::external_scaler_client::ExternalScalerClient;
use tonic::transport::Channel;

use crate::support::kafka::Kafka;
use crate::support::secure_kafka::{Front, Mechanism, Pki};
use crate::support::token_server::TokenServer;
use crate::support::{TestServer, config, metrics_request, so};

const ADDRESS: (&str, &str) = ("scalerAddress", "lagscale.keda.svc.cluster.local:6000");
/// The examples' lag on [`examples_cluster`].
const LAG: f64 = 51.0;

/// The examples' `test-topic` on a fresh single-broker mock: partitions 0–2 hold 40 messages,
/// on which `my-group` committed 10, 20 and 40; partition 3 holds 5 and has no commit, which
/// `offsetResetPolicy: latest` counts as 1. Lag 30 + 20 + 0 + 1 = 51, under the cap of
/// 4 partitions × `lagThreshold` 50, and above the activation threshold 0.
fn examples_cluster() -> Kafka {
    let kafka = Kafka::with_brokers(1);
    kafka.brokers.create_topic("test-topic", 4, 1).unwrap();
    kafka.produce("test-topic", &[0, 1, 2], 40);
    kafka.produce("test-topic", &[3], 5);
    kafka.commit("my-group", "test-topic", &[(0, 10), (1, 20), (2, 40)]);
    kafka
}

/// The test config with the `clusters` of a config file's text (parsed and validated as
/// `serve --config` does).
fn with_profiles(yaml: &str) -> Config {
    let file = Config::parse(yaml, Path::new("lagscale.yaml")).unwrap();
    Config {
        clusters: file.clusters,
        ..config()
    }
}

/// The examples' trigger metadata, moved: `cluster` instead of `bootstrapServers`, plus `extra`.
fn trigger(cluster: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let base = [
        ADDRESS,
        ("source", "kafka"),
        ("cluster", cluster),
        ("consumerGroup", "my-group"),
        ("topic", "test-topic"),
        ("lagThreshold", "50"),
        ("offsetResetPolicy", "latest"),
    ];
    [&base[..], extra]
        .concat()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// GetMetricSpec's target, GetMetrics' value and IsActive's answer.
async fn ask(
    client: &ExternalScalerClient<Channel>,
    pairs: &[(String, String)],
) -> (f64, f64, bool) {
    let mut client = client.clone();
    let spec = client.get_metric_spec(so("docs", pairs)).await.unwrap();
    let target = spec.into_inner().metric_specs[0].target_size_float;
    let metrics = client.get_metrics(metrics_request(so("docs", pairs), ""));
    let value = metrics.await.unwrap().into_inner().metric_values[0].metric_value_float;
    let active = client.is_active(so("docs", pairs)).await.unwrap();
    (target, value, active.into_inner().result)
}

/// GetMetrics' error (fails the test on a value).
async fn refusal(
    client: &ExternalScalerClient<Channel>,
    pairs: &[(String, String)],
) -> tonic::Status {
    let mut client = client.clone();
    match client
        .get_metrics(metrics_request(so("docs", pairs), ""))
        .await
    {
        Ok(value) => panic!("a value, not an error: {:?}", value.into_inner()),
        Err(status) => status,
    }
}

/// A profile's YAML: the front as its brokers, TLS with the test CA (mutual unless
/// `certificate` is false: the example's `ca`, `cert` and `key`), and `sasl`'s lines.
fn profile(name: &str, front: &Front, pki: &Pki, certificate: bool, sasl: &str) -> String {
    let mut text = format!(
        "  {name}:\n    kafka:\n      bootstrap_servers: {}\n      properties:\n        \
         security.protocol: sasl_ssl\n        ssl.ca.location: {}\n",
        front.bootstrap(),
        pki.path("ca.pem"),
    );
    if certificate {
        text.push_str(&format!(
            "        ssl.certificate.location: {}\n        ssl.key.location: {}\n",
            pki.path("client.pem"),
            pki.path("client-key.pem"),
        ));
    }
    text + sasl
}

#[tokio::test(flavor = "multi_thread")]
async fn sasl_plain_over_tls_examples_are_served_through_a_real_handshake() {
    let kafka = examples_cluster();
    let pki = Pki::new("plain");
    let (user, password) = ("admin".to_owned(), "admin".to_owned());
    let front = Front::start(
        &kafka.bootstrap(),
        &pki,
        Mechanism::Plain { user, password },
    )
    .await;
    let plain = |password: &str| {
        format!(
            "        sasl.mechanism: PLAIN\n        sasl.username: admin\n        \
             sasl.password: {password}\n"
        )
    };
    let yaml = format!(
        "clusters:\n{}{}{}",
        profile("keda-kafka", &front, &pki, true, &plain("admin")),
        profile("wrong-password", &front, &pki, true, &plain("not-admin")),
        profile(
            "no-client-certificate",
            &front,
            &pki,
            false,
            &plain("admin")
        ),
    );
    let server = TestServer::start(with_profiles(&yaml)).await;
    let client = server.client().await;

    let method_1 = trigger("keda-kafka", &[]);
    assert_eq!(ask(&client, &method_1).await, (50.0, LAG, true));
    let method_2 = trigger("keda-kafka", &[("tls", "enable"), ("sasl", "plaintext")]);
    assert_eq!(ask(&client, &method_2).await, (50.0, LAG, true));
    // Everything went through the front, authenticated: the rewritten Metadata and
    // FindCoordinator answers never sent the client to the mock broker itself.
    assert!(front.authenticated() >= 1);
    assert_eq!(front.refused(), 0);
    for api in [
        ApiKey::Metadata,
        ApiKey::FindCoordinator,
        ApiKey::OffsetFetch,
        ApiKey::ListOffsets,
    ] {
        assert!(front.relayed(api) >= 1, "{api:?} was not relayed");
    }

    let status = refusal(&client, &trigger("wrong-password", &[])).await;
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    let refused = "cluster \"wrong-password\" refused access: ";
    assert!(status.message().starts_with(refused), "{status:?}");
    let failed =
        "SaslAuthenticationFailed (58) (Authentication failed: Invalid username or password)";
    assert!(status.message().ends_with(failed), "{status:?}");
    assert!(!status.message().contains("not-admin"), "{status:?}");
    assert!(front.refused() >= 1);
    // The example's `cert` and `key` matter: without them the front's mutual TLS refuses.
    let status = refusal(&client, &trigger("no-client-certificate", &[])).await;
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    let unreachable = "cannot reach the broker cluster \"no-client-certificate\": the connection \
        could not be opened (the cause is in lagscale's log)";
    assert_eq!(status.message(), unreachable);
}

/// The OAuth keys of the examples' Secret as a profile's `oidc` properties: `username` and
/// `password` are the client id and secret (KEDA's `OAuthBearerTokenProvider` passes them to
/// the client-credentials flow), `scopes` the scope, `oauthExtensions` the extensions.
fn oauth(endpoint: &str, secret: &str, extensions: &str) -> String {
    format!(
        "        sasl.mechanism: OAUTHBEARER\n        sasl.oauthbearer.method: oidc\n        \
         sasl.oauthbearer.client.id: admin\n        sasl.oauthbearer.client.secret: {secret}\n        \
         sasl.oauthbearer.token.endpoint.url: {endpoint}\n        \
         sasl.oauthbearer.scope: default\n        sasl.oauthbearer.extensions: {extensions}\n"
    )
}

/// The token endpoint is plain HTTP: an `https://` one is verified with the system's roots
/// only (no profile property names a CA for it), which the test CA is not among.
#[tokio::test(flavor = "multi_thread")]
async fn sasl_oauthbearer_over_tls_examples_are_served_with_a_token_from_the_endpoint() {
    let kafka = examples_cluster();
    let pki = Pki::new("oauth");
    let tokens = TokenServer::start("admin", "admin", "default").await;
    let extensions = [("logicalCluster", "1"), ("identityPoolId", "2")];
    let mechanism = Mechanism::OAuthBearer {
        issued: tokens.issued(),
        extensions: extensions
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    let front = Front::start(&kafka.bootstrap(), &pki, mechanism).await;
    // KEDA's `extension_logicalCluster=1,...` is sent by Sarama with the `extension_` names
    // as written; RFC 7628 names are letters only, so the profile names them without it.
    let named = "logicalCluster=1,identityPoolId=2";
    let yaml = format!(
        "clusters:\n{}{}",
        profile(
            "keda-kafka",
            &front,
            &pki,
            true,
            &oauth(&tokens.url, "admin", named)
        ),
        profile(
            "wrong-secret",
            &front,
            &pki,
            true,
            &oauth(&tokens.url, "x", named)
        ),
    );
    let server = TestServer::start(with_profiles(&yaml)).await;
    let client = server.client().await;

    let method_1 = trigger("keda-kafka", &[]);
    assert_eq!(ask(&client, &method_1).await, (50.0, LAG, true));
    let method_2 = trigger("keda-kafka", &[("tls", "enable"), ("sasl", "oauthbearer")]);
    assert_eq!(ask(&client, &method_2).await, (50.0, LAG, true));
    assert!(!tokens.issued().lock().unwrap().is_empty());
    assert!(front.authenticated() >= 1);
    assert_eq!((front.refused(), tokens.refused()), (0, 0));
    assert!(front.relayed(ApiKey::OffsetFetch) >= 1);

    let status = refusal(&client, &trigger("wrong-secret", &[])).await;
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(
        status
            .message()
            .contains("HTTP 401 Unauthorized (invalid_client)"),
        "{status:?}"
    );
    assert!(tokens.refused() >= 1);

    // The Secret's value verbatim stops the config from loading, naming the property.
    let verbatim = "extension_logicalCluster=1,extension_identityPoolId=2";
    let yaml = format!(
        "clusters:\n{}",
        profile(
            "keda-kafka",
            &front,
            &pki,
            true,
            &oauth(&tokens.url, "admin", verbatim)
        )
    );
    let error = Config::parse(&yaml, Path::new("lagscale.yaml")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "config file lagscale.yaml: clusters.keda-kafka.kafka.properties.sasl.oauthbearer.extensions: \
         extension_logicalCluster=1,extension_identityPoolId=2 is not valid; expected extension \
         names of letters only, other than auth (RFC 7628); got \"extension_logicalCluster\""
    );
}

/// "SASL/GSSAPI auth without TLS": the trigger's metadata is the no-auth one (every Kerberos
/// setting, `sasl: gssapi` and `tls: disable` included, is in the TriggerAuthentication), and
/// nothing in it is refused: served inline against the plaintext mock, it is KEDA's lag. Moved
/// to a profile, Kerberos is refused where it would be configured: `sasl.mechanism: GSSAPI`
/// stops the config from loading (so `serve` does not start). Left in the metadata, as KEDA's
/// scaler also reads it there, `sasl: gssapi` is refused naming the key.
#[tokio::test(flavor = "multi_thread")]
async fn the_gssapi_example_is_refused_where_kerberos_is_configured() {
    let kafka = examples_cluster();
    let yaml = "clusters:\n  keda-kafka:\n    kafka:\n      bootstrap_servers: localhost:9092\n      \
        properties:\n        security.protocol: sasl_plaintext\n        sasl.mechanism: GSSAPI\n        \
        sasl.username: admin\n";
    let error = Config::parse(yaml, Path::new("lagscale.yaml")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "config file lagscale.yaml: clusters.keda-kafka.kafka.properties.sasl.mechanism: GSSAPI is \
         not valid; expected PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER; Kerberos (GSSAPI) \
         is not supported"
    );

    let server = TestServer::start(config()).await;
    let client = server.client().await;
    let bootstrap = kafka.bootstrap();
    let mut example = trigger("", &[("bootstrapServers", bootstrap.as_str())]);
    example.retain(|(k, _)| k != "cluster");
    assert_eq!(ask(&client, &example).await, (50.0, LAG, true));

    example.push(("sasl".to_owned(), "gssapi".to_owned()));
    let status = refusal(&client, &example).await;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert_eq!(
        status.message(),
        "invalid trigger metadata: sasl: \"gssapi\" is not valid; expected `none` or no `sasl`: \
         KEDA does not forward TriggerAuthentication to an external scaler, so use a `cluster` \
         connection profile with `security.protocol: sasl_ssl` (or `sasl_plaintext`), \
         `sasl.mechanism` (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`), \
         `sasl.username` and `sasl.password`; with `cluster`, a value that agrees with the \
         profile (`plaintext` for `PLAIN`, `scram_sha256`, `scram_sha512`, `oauthbearer`) is \
         accepted, and `cluster: NAME` here; see the README section \"Config file\""
    );
}

/// "AWS MSK has IAM auth" (`type: apache-kafka`): the metadata's `awsRegion` asks for IAM,
/// which lagscale does not support. GetMetricSpec still answers (KEDA hides its errors), with
/// the placeholder spec; GetMetrics and IsActive are InvalidArgument naming the key, its value
/// and what to do, before any broker is asked.
#[tokio::test(flavor = "multi_thread")]
async fn the_msk_iam_example_is_refused_naming_aws_region() {
    let server = TestServer::start(config()).await;
    let mut client = server.client().await;
    let mut example = trigger(
        "",
        &[
            ("bootstrapServers", "localhost:9092"),
            ("awsRegion", "us-east-1"),
        ],
    );
    example.retain(|(k, _)| k != "cluster");

    let spec = client.get_metric_spec(so("docs", &example)).await.unwrap();
    let specs = spec.into_inner().metric_specs;
    assert_eq!(specs.len(), 1);
    assert!(
        specs[0].metric_name.starts_with("invalid-trigger-"),
        "{specs:?}"
    );
    assert_eq!(specs[0].target_size_float, 1.0);
    let expected = "invalid trigger metadata: awsRegion: \"us-east-1\" is not valid; expected no \
        `awsRegion`: lagscale does not support AWS MSK IAM; use a `cluster` connection profile \
        with SASL/SCRAM or mutual TLS, and `cluster: NAME` here; see the README section \
        \"Config file\"";
    let status = refusal(&client, &example).await;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert_eq!(status.message(), expected);
    let status = client.is_active(so("docs", &example)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert_eq!(status.message(), expected);
    assert_eq!(server.queries_sent(), 0);
}
