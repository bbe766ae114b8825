//! TLS to the real RabbitMQ, configured by `scripts/ensure-rabbitmq-tls.sh` with the test PKI
//! of `examples/test_pki.rs` (both run by the test command): AMQPS on 5671, the management
//! API over HTTPS on 15671 (both require a client certificate), and SASL EXTERNAL for the
//! client certificate's user. Profiles are read from YAML as a config file has them, and
//! every query goes through the real gRPC server.
//!
//! Also KEDA's docs' `rabbitmq-4` example ("AMQPS protocol with TLS authorization"): its
//! TriggerAuthentication (`host` with a password, `tls: enable`, `ca`, `cert`, `key`) moved to
//! a profile, served with KEDA's semantics (ready messages over AMQP).

use std::path::PathBuf;
use std::time::Duration;

use lagscale::config::Config;
use tonic::Code;

use crate::support::rabbit::TestQueue;
use crate::support::{TestServer, config, eventually, metrics_request, so};

/// The test PKI, checked to be in place with the broker's TLS listeners up.
fn pki() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/rabbitmq-tls");
    let open = |port| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    assert!(
        dir.join("client-key.pem").exists() && open(5671) && open(15671),
        "RabbitMQ's TLS listeners are not set up: run `cargo run --example test_pki -- \
         target/rabbitmq-tls && bash scripts/ensure-rabbitmq-tls.sh target/rabbitmq-tls` \
         (scripts/test.sh does)"
    );
    dir
}

/// A server with the given `clusters:` YAML (`{pki}` replaced by the PKI's directory).
async fn server(clusters: &str) -> TestServer {
    let yaml = clusters.replace("{pki}", &pki().display().to_string());
    let parsed = Config::parse(&format!("clusters:\n{yaml}"), "test.yaml".as_ref()).unwrap();
    TestServer::start(Config {
        clusters: parsed.clusters,
        ..config()
    })
    .await
}

/// GetMetrics for `queue` on `cluster`: the value, or the gRPC code and message.
async fn served(
    server: &TestServer,
    cluster: &str,
    queue: &TestQueue,
    extra: &[(&str, &str)],
) -> Result<f64, (Code, String)> {
    let mut pairs = vec![
        ("scalerAddress", "lagscale:6000"),
        ("source", "rabbitmq"),
        ("cluster", cluster),
        ("queueName", queue.name.as_str()),
    ];
    pairs.extend_from_slice(extra);
    let mut client = server.client().await;
    let answer = client
        .get_metrics(metrics_request(so("tls", &pairs), ""))
        .await;
    answer
        .map(|a| a.into_inner().metric_values[0].metric_value_float)
        .map_err(|status| (status.code(), status.message().to_owned()))
}

/// rabbitmq-4: a password in the `amqps://` host, the CA, and a client certificate.
#[tokio::test(flavor = "multi_thread")]
async fn the_amqps_example_is_served_with_a_ca_and_a_client_certificate() {
    let queue = TestQueue::new("tls").await;
    queue.publish(5).await;
    let server = server(
        "  docs:
    rabbitmq:
      uri: amqps://guest:guest@localhost:5671/%2f
      tls: {ca_file: '{pki}/ca.pem', cert_file: '{pki}/client.pem', key_file: '{pki}/client-key.pem'}
  ip:
    rabbitmq:
      uri: amqps://guest:guest@127.0.0.1:5671/%2f
      tls: {ca_file: '{pki}/ca.pem', cert_file: '{pki}/client.pem', key_file: '{pki}/client-key.pem'}
  other-ca:
    rabbitmq:
      uri: amqps://guest:guest@localhost:5671/%2f
      tls: {ca_file: '{pki}/other-ca.pem', cert_file: '{pki}/client.pem', key_file: '{pki}/client-key.pem'}
  system-only:
    rabbitmq:
      uri: amqps://guest:guest@localhost:5671/%2f
      tls: {cert_file: '{pki}/client.pem', key_file: '{pki}/client-key.pem'}
  no-certificate:
    rabbitmq:
      uri: amqps://guest:guest@localhost:5671/%2f
      tls: {ca_file: '{pki}/ca.pem'}
  insecure:
    rabbitmq:
      uri: amqps://guest:guest@localhost:5671/%2f
      tls: {insecure_skip_verify: true, cert_file: '{pki}/client.pem', key_file: '{pki}/client-key.pem'}
",
    )
    .await;
    let example = [
        ("protocol", "amqp"),
        ("mode", "QueueLength"),
        ("value", "20"),
    ];
    assert_eq!(served(&server, "docs", &queue, &example).await, Ok(5.0));
    // The certificate names 127.0.0.1 too.
    assert_eq!(served(&server, "ip", &queue, &[]).await, Ok(5.0));
    // A broker certificate no trusted CA signed is refused, and so is a client without a
    // certificate (the listener requires one).
    for cluster in ["other-ca", "system-only", "no-certificate"] {
        let (code, message) = served(&server, cluster, &queue, &[]).await.unwrap_err();
        assert_eq!(code, Code::Unavailable, "{cluster}: {message}");
        assert!(
            message.contains(&format!("cluster \"{cluster}\"")),
            "{message}"
        );
        assert!(!message.contains("guest:guest"), "{message}");
    }
    // KEDA's unsafeSsl: no check at all.
    assert_eq!(served(&server, "insecure", &queue, &[]).await, Ok(5.0));
    queue.delete().await;
}

/// A client certificate and no password: SASL EXTERNAL, as the user the certificate's common
/// name names (`lagscale-tls`, which has no password); and the management API over HTTPS,
/// which refuses clients without a certificate.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_certificate_logs_in_over_amqp_and_https() {
    let queue = TestQueue::new("tls-external").await;
    queue.publish(3).await;
    let (_channel, _consumer) = queue.hold_unacked(2).await;
    let server = server(
        "  external:
    rabbitmq:
      uri: amqps://localhost:5671/%2f
      management_url: https://guest:guest@localhost:15671
      tls: {ca_file: '{pki}/ca.pem', cert_file: '{pki}/client.pem', key_file: '{pki}/client-key.pem'}
  no-certificate:
    rabbitmq:
      uri: amqps://localhost:5671/%2f
      management_url: https://guest:guest@localhost:15671
      tls: {ca_file: '{pki}/ca.pem'}
",
    )
    .await;
    // 3 published, 2 held unacknowledged: 1 ready over AMQP.
    assert_eq!(served(&server, "external", &queue, &[]).await, Ok(1.0));
    // RabbitMQ took the user from the certificate.
    eventually(
        Duration::from_secs(30),
        "a connection as lagscale-tls",
        || async {
            connections()
                .await
                .contains("\"user\":\"lagscale-tls\"")
                .then_some(())
        },
    )
    .await;
    // HTTPS (guest's password, and the certificate): ready + unacknowledged; refused by the
    // broker without a certificate.
    let https = [("protocol", "http")];
    eventually(Duration::from_secs(30), "3 over HTTPS", || async {
        (served(&server, "external", &queue, &https).await == Ok(3.0)).then_some(())
    })
    .await;
    let (code, message) = served(&server, "no-certificate", &queue, &https)
        .await
        .unwrap_err();
    assert_eq!(code, Code::Unavailable, "{message}");
    let endpoint = "management API https://guest:***@localhost:15671";
    assert!(message.contains(endpoint), "{message}");
    queue.delete().await;
}

/// The broker's connections, as the management API (plain HTTP, guest) lists them.
async fn connections() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect("127.0.0.1:15672")
        .await
        .unwrap();
    let request = "GET /api/connections HTTP/1.0\r\nAuthorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n\r\n";
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    answer
}
