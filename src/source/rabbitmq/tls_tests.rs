//! A profile's `tls` block: what it accepts, and errors that name the field and the file but
//! never show key material. The handshakes themselves are tested against the real RabbitMQ
//! (tests/e2e/rabbit_tls.rs).

use super::*;
use crate::source::rabbitmq::RabbitmqProfile;
use crate::source::test_pki::Pki;

fn no_system_roots() -> Result<RootCertStore, String> {
    Err("no system roots in this test".to_owned())
}

fn fields(pki: &Pki, pairs: &[(&str, &str)]) -> TlsFields {
    let file = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, f)| pki.dir.join(f))
    };
    TlsFields {
        ca_file: file("ca_file"),
        cert_file: file("cert_file"),
        key_file: file("key_file"),
        insecure_skip_verify: pairs.iter().any(|(k, _)| *k == "insecure_skip_verify"),
    }
}

fn error(pki: &Pki, pairs: &[(&str, &str)]) -> String {
    RabbitTls::build(fields(pki, pairs), no_system_roots).unwrap_err()
}

#[test]
fn a_ca_and_a_client_certificate_are_accepted() {
    let pki = Pki::new("rabbit-tls-ok", &["localhost"]);
    let tls = RabbitTls::build(
        fields(
            &pki,
            &[
                ("ca_file", "ca.pem"),
                ("cert_file", "client.pem"),
                ("key_file", "client-key.pem"),
            ],
        ),
        no_system_roots,
    )
    .unwrap();
    assert!(tls.has_client_certificate());
    // Debug names the files, never their contents.
    let debug = format!("{tls:?}");
    assert!(debug.contains("client-key.pem"), "{debug}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
    let insecure = RabbitTls::build(
        fields(&pki, &[("insecure_skip_verify", "")]),
        no_system_roots,
    );
    assert!(!insecure.unwrap().has_client_certificate());
}

#[test]
fn mistakes_name_the_field_and_the_file_and_never_the_key() {
    let pki = Pki::new("rabbit-tls-errors", &["localhost"]);
    let dir = pki.dir.display().to_string();
    let cases: [(&[(&str, &str)], &str); 7] = [
        (
            &[("ca_file", "ca.pem"), ("insecure_skip_verify", "")],
            "tls.insecure_skip_verify: true with tls.ca_file",
        ),
        (
            &[("cert_file", "client.pem")],
            "tls.cert_file: ", // ... is set alone; expected tls.key_file as well
        ),
        (
            &[("key_file", "client-key.pem")],
            "expected tls.cert_file as well",
        ),
        (&[("ca_file", "missing.pem")], "tls.ca_file: cannot read "),
        (
            &[("ca_file", "client-key.pem")],
            "tls.ca_file: {dir}/client-key.pem: expected PEM with CA certificates (it has no CERTIFICATE block)",
        ),
        (
            &[("cert_file", "client.pem"), ("key_file", "ca.pem")],
            "tls.key_file: {dir}/ca.pem: expected a PEM private key",
        ),
        (
            &[("cert_file", "client.pem"), ("key_file", "other-key.pem")],
            "tls.key_file: {dir}/other-key.pem: expected the private key of tls.cert_file",
        ),
    ];
    for (pairs, expected) in cases {
        let error = error(&pki, pairs);
        assert!(
            error.contains(&expected.replace("{dir}", &dir)),
            "{pairs:?}: {error}"
        );
        assert!(!error.contains("BEGIN"), "{pairs:?}: {error}");
    }
    let alone = error(&pki, &[("cert_file", "client.pem")]);
    assert!(alone.ends_with("is set alone; expected tls.key_file as well: a client certificate needs its private key"), "{alone}");
}

#[test]
fn equal_fields_make_equal_setups() {
    let pki = Pki::new("rabbit-tls-eq", &["localhost"]);
    let build = |pairs| RabbitTls::build(fields(&pki, pairs), no_system_roots).unwrap();
    assert_eq!(
        build(&[("ca_file", "ca.pem")]),
        build(&[("ca_file", "ca.pem")])
    );
    assert_ne!(
        build(&[("ca_file", "ca.pem")]),
        build(&[("insecure_skip_verify", "")])
    );
    assert_ne!(build(&[("ca_file", "ca.pem")]), RabbitTls::default());
}

fn profile(yaml: &str) -> Result<RabbitmqProfile, String> {
    serde_yaml::from_str(yaml).map_err(|e| e.to_string())
}

#[test]
fn a_client_certificate_without_a_password_authenticates_externally() {
    let pki = Pki::new("rabbit-tls-external", &["localhost"]);
    let tls = format!(
        "tls: {{ca_file: {0}/ca.pem, cert_file: {0}/client.pem, key_file: {0}/client-key.pem}}",
        pki.dir.display()
    );
    // KEDA's buildAMQPConfig: EXTERNAL with a certificate and no password, PLAIN otherwise.
    for (uri, external) in [
        ("amqps://rabbit:5671/%2f", true),
        ("amqps://just-a-user@rabbit:5671/%2f", true),
        ("amqps://user:secret@rabbit:5671/%2f", false),
        ("amqps://user:@rabbit:5671/%2f", false),
    ] {
        let parsed = profile(&format!("uri: {uri}\n{tls}")).unwrap();
        assert_eq!(parsed.uri.authenticates_externally(), external, "{uri}");
        assert!(parsed.tls.has_client_certificate());
    }
    let plain = profile("uri: amqps://rabbit:5671/%2f").unwrap();
    assert!(!plain.uri.authenticates_externally());
    assert_eq!(plain.tls, RabbitTls::default());
}

#[test]
fn tls_needs_a_tls_url_and_known_fields() {
    let pki = Pki::new("rabbit-tls-profile", &["localhost"]);
    let ca = format!("tls: {{ca_file: {}/ca.pem}}", pki.dir.display());
    let error = profile(&format!(
        "uri: amqp://rabbit\nmanagement_url: http://rabbit:15672\n{ca}"
    ))
    .unwrap_err();
    assert!(
        error.contains("tls: set, but neither uri (amqp://) nor management_url uses TLS"),
        "{error}"
    );
    // Either one over TLS is enough.
    profile(&format!(
        "uri: amqp://rabbit\nmanagement_url: https://rabbit:15671\n{ca}"
    ))
    .unwrap();
    profile(&format!("uri: amqps://rabbit\n{ca}")).unwrap();
    let error = profile("uri: amqps://rabbit\ntls: {ca: /x}").unwrap_err();
    assert!(error.contains("unknown field `ca`"), "{error}");
    assert!(error.contains("ca_file"), "{error}");
}
