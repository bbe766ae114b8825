use tokio_rustls::rustls::RootCertStore;

use super::*;

/// Every secret in these tables; none may appear in an error or a Debug output.
const SECRET: &str = "Sup3rS3cret";

type Pairs<'a> = Vec<(&'a str, &'a str)>;

pub(super) fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let owned = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
    owned.collect()
}

/// Tests never depend on the machine's trust store.
pub(super) fn no_system_roots() -> Result<RootCertStore, String> {
    Err("no system roots in tests; set ssl.ca.location or ssl.ca.pem".to_owned())
}

pub(super) fn build(pairs: &[(&str, &str)]) -> Result<Security, PropertyError> {
    Security::build(&props(pairs), no_system_roots)
}

const SASL_PLAIN: [(&str, &str); 4] = [
    ("security.protocol", "sasl_plaintext"),
    ("sasl.mechanism", "PLAIN"),
    ("sasl.username", "alice"),
    ("sasl.password", SECRET),
];
const OAUTH: [(&str, &str); 2] = [
    ("security.protocol", "sasl_ssl"),
    ("sasl.mechanism", "OAUTHBEARER"),
];
const OIDC: [(&str, &str); 4] = [
    ("sasl.oauthbearer.method", "oidc"),
    ("sasl.oauthbearer.client.id", "app"),
    ("sasl.oauthbearer.client.secret", SECRET),
    (
        "sasl.oauthbearer.token.endpoint.url",
        "https://idp.example/oauth2/token",
    ),
];

/// `base` with `extra` added; an extra key replaces the base's.
fn with<'a>(base: &[(&'a str, &'a str)], extra: &[(&'a str, &'a str)]) -> Pairs<'a> {
    let kept = base
        .iter()
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    kept.chain(extra).copied().collect()
}

/// `base` without the keys ending in `suffix`.
fn without<'a>(base: &[(&'a str, &'a str)], suffix: &str) -> Pairs<'a> {
    base.iter()
        .filter(|(k, _)| !k.ends_with(suffix))
        .copied()
        .collect()
}

#[rustfmt::skip]
#[test]
fn accepted_properties() {
    let oidc = with(&with(&OAUTH, &OIDC), &[("sasl.oauthbearer.method", "OIDC"), ("sasl.oauthbearer.scope", "kafka"), ("sasl.oauthbearer.extensions", "logicalCluster=lkc-1")]);
    let unsecured = [("sasl.oauthbearer.method", "default"), ("sasl.oauthbearer.config", "principal=admin scope=a,b lifeSeconds=60"), ("sasl.oauthbearer.extensions", "a=b")];
    // (properties, client id, TLS?, mechanism)
    let table: Vec<(Pairs, &str, bool, Option<&str>)> = vec![
        (vec![], "lagscale", false, None),
        (vec![("client.id", "scaler-1"), ("security.protocol", "PLAINTEXT")], "scaler-1", false, None),
        (vec![("security.protocol", "Ssl")], "lagscale", true, None),
        (vec![("security.protocol", "ssl"), ("enable.ssl.certificate.verification", "false")], "lagscale", true, None),
        (vec![("security.protocol", "ssl"), ("ssl.endpoint.identification.algorithm", "NONE")], "lagscale", true, None),
        (vec![("security.protocol", "ssl"), ("ssl.endpoint.identification.algorithm", "https"), ("enable.ssl.certificate.verification", "T")], "lagscale", true, None),
        (SASL_PLAIN.to_vec(), "lagscale", false, Some("PLAIN")),
        (with(&SASL_PLAIN, &[("sasl.mechanism", "plain"), ("sasl.mechanisms", "PLAIN")]), "lagscale", false, Some("PLAIN")),
        (with(&SASL_PLAIN, &[("security.protocol", "sasl_ssl"), ("sasl.mechanism", "SCRAM-SHA-256")]), "lagscale", true, Some("SCRAM-SHA-256")),
        (vec![("security.protocol", "sasl_plaintext"), ("sasl.mechanisms", "scram-sha-512"), ("sasl.username", "u"), ("sasl.password", SECRET)], "lagscale", false, Some("SCRAM-SHA-512")),
        (with(&OAUTH, &[("sasl.oauthbearer.token", SECRET)]), "lagscale", true, Some("OAUTHBEARER")),
        (with(&OAUTH, &unsecured), "lagscale", true, Some("OAUTHBEARER")),
        (oidc, "lagscale", true, Some("OAUTHBEARER")),
    ];
    for (pairs, client_id, tls, mechanism) in table {
        let security = build(&pairs).unwrap_or_else(|e| panic!("{pairs:?}: {e}"));
        assert_eq!(security.client_id, client_id, "{pairs:?}");
        assert_eq!(security.tls.is_some(), tls, "{pairs:?}");
        assert_eq!(security.sasl.as_ref().map(|s| s.mechanism_name()), mechanism, "{pairs:?}");
        let debug = format!("{security:?}");
        assert!(!debug.contains(SECRET), "{debug}");
    }
}

#[test]
fn settings_can_be_shared_across_connection_tasks() {
    fn shared<T: Send + Sync + Clone + 'static>(_: &T) {}
    fn spawnable<T: Send>(_: &T) {}
    let security = build(&with(&OAUTH, &[("sasl.oauthbearer.token", "t")])).unwrap();
    shared(&security);
    shared(security.tls.as_ref().unwrap());
    let sasl = security.sasl.unwrap();
    shared(&sasl);
    spawnable(&sasl.begin());
}

#[test]
fn the_public_constructor_uses_the_system_roots() {
    // Whatever this machine's trust store holds, building succeeds (an empty store fails at
    // connect time instead).
    let security = Security::from_properties(&props(&[("security.protocol", "ssl")])).unwrap();
    assert!(format!("{:?}", security.tls.unwrap()).contains("system ("));
}

#[rustfmt::skip]
#[test]
fn rejected_properties_name_the_key_the_value_and_what_was_expected() {
    let oidc = with(&OAUTH, &OIDC);
    let pem_cert = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2xpZW50IGNlcnRpZmljYXRlIGZvciB0ZXN0cw==\n-----END CERTIFICATE-----\n";
    let not_pem = std::env::temp_dir().join(format!("lagscale-not-pem-{}.txt", std::process::id()));
    std::fs::write(&not_pem, "hello").unwrap();
    let not_pem = not_pem.to_str().unwrap();
    let ssl = |extra: &[(&'static str, &'static str)]| with(&[("security.protocol", "ssl")], extra);
    // (properties, key, value shown, part of `expected`)
    let table: Vec<(Pairs, &str, &str, &str)> = vec![
        (vec![("socket.timeout.ms", "1000")], "socket.timeout.ms", "1000", "one of the supported keys: client.id, security.protocol, ssl.ca.location"),
        (with(&SASL_PLAIN, &[("sasl.usernme", "alice")]), "sasl.usernme", "alice", "sasl.username, sasl.password"),
        (vec![("sasl.jaas.config", SECRET)], "sasl.jaas.config", "***", "supported keys"),
        (vec![("security.protocol", "tls")], "security.protocol", "tls", "plaintext, ssl, sasl_plaintext or sasl_ssl"),
        (vec![("security.protocol", "sasl_ssl")], "sasl.mechanism", "(not set)", "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (security.protocol sasl_ssl needs one)"),
        (without(&SASL_PLAIN, "username"), "sasl.username", "(not set)", "a user name (sasl.mechanism PLAIN needs one)"),
        (with(&SASL_PLAIN, &[("sasl.username", "")]), "sasl.username", "(empty)", "a user name"),
        (with(&without(&SASL_PLAIN, "password"), &[("sasl.mechanism", "SCRAM-SHA-256")]), "sasl.password", "(not set)", "a password (sasl.mechanism SCRAM-SHA-256 needs one)"),
        (with(&SASL_PLAIN, &[("sasl.username", "a\0b")]), "sasl.username", "a\\0b", "without NUL"),
        (ssl(&[("sasl.mechanism", "PLAIN")]), "sasl.mechanism", "PLAIN", "security.protocol sasl_plaintext or sasl_ssl for SASL settings (it is ssl)"),
        (vec![("sasl.password", SECRET)], "sasl.password", "***", "security.protocol sasl_plaintext or sasl_ssl"),
        (vec![("ssl.ca.location", "/etc/ca.pem")], "ssl.ca.location", "/etc/ca.pem", "security.protocol ssl or sasl_ssl for TLS settings (it is plaintext)"),
        (with(&SASL_PLAIN, &[("ssl.key.pem", SECRET)]), "ssl.key.pem", "***", "TLS settings (it is sasl_plaintext)"),
        (ssl(&[("ssl.certificate.pem", pem_cert)]), "ssl.certificate.pem", "-----BEGIN CERTIFICATE-----\\nMIIBszCCAVmgAwIBAgIUQ2xpZW50IGNl... (115 characters)", "ssl.key.location or ssl.key.pem as well"),
        (ssl(&[("ssl.key.pem", SECRET)]), "ssl.key.pem", "***", "ssl.certificate.location or ssl.certificate.pem as well"),
        (ssl(&[("ssl.key.location", "/nonexistent/key.pem")]), "ssl.key.location", "***", "a readable PEM file (No such file"),
        (ssl(&[("ssl.certificate.location", "/a.pem"), ("ssl.certificate.pem", pem_cert)]), "ssl.certificate.pem", "-----BEGIN", "only one of ssl.certificate.location and ssl.certificate.pem"),
        (ssl(&[("ssl.ca.location", "/nonexistent/ca.pem")]), "ssl.ca.location", "/nonexistent/ca.pem", "a readable PEM file (No such file"),
        (vec![("security.protocol", "ssl"), ("ssl.ca.location", not_pem)], "ssl.ca.location", not_pem, "PEM with CA certificates (it has no CERTIFICATE block)"),
        (ssl(&[("ssl.ca.pem", "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n")]), "ssl.ca.pem", "-----BEGIN", "PEM with CA certificates (base64"),
        (ssl(&[("enable.ssl.certificate.verification", "yes")]), "enable.ssl.certificate.verification", "yes", "true or false"),
        (ssl(&[("ssl.endpoint.identification.algorithm", "http")]), "ssl.endpoint.identification.algorithm", "http", "https (check the broker's host name) or none"),
        (ssl(&[("ssl.key.password", SECRET)]), "ssl.key.password", "***", "encrypted private keys are not supported"),
        (with(&SASL_PLAIN, &[("sasl.mechanism", "GSSAPI")]), "sasl.mechanism", "GSSAPI", "Kerberos (GSSAPI) is not supported"),
        (with(&SASL_PLAIN, &[("sasl.mechanism", "SCRAM-SHA-1")]), "sasl.mechanism", "SCRAM-SHA-1", "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"),
        (with(&SASL_PLAIN, &[("sasl.mechanisms", "gssapi")]), "sasl.mechanisms", "gssapi", "the same mechanism as sasl.mechanism (PLAIN), or only one of the two keys"),
        (with(&SASL_PLAIN, &[("sasl.oauthbearer.token", SECRET)]), "sasl.oauthbearer.token", "***", "sasl.mechanism OAUTHBEARER for OAUTHBEARER settings (it is PLAIN)"),
        (with(&OAUTH, &[("sasl.username", "alice"), ("sasl.oauthbearer.token", SECRET)]), "sasl.username", "alice", "sasl.mechanism PLAIN or SCRAM-* for a user and password"),
        (OAUTH.to_vec(), "sasl.oauthbearer.token", "(not set)", "a token (or sasl.oauthbearer.config for an unsecured JWT"),
        (with(&OAUTH, &[("sasl.oauthbearer.token", SECRET), ("sasl.oauthbearer.config", SECRET)]), "sasl.oauthbearer.config", "***", "only one of sasl.oauthbearer.token and sasl.oauthbearer.config"),
        (with(&OAUTH, &[("sasl.oauthbearer.token", "Sup3rS3cret with spaces")]), "sasl.oauthbearer.token", "***", "printable ASCII without spaces"),
        (with(&OAUTH, &[("sasl.oauthbearer.config", "scope=Sup3rS3cret")]), "sasl.oauthbearer.config", "***", "principal is missing"),
        (with(&OAUTH, &[("sasl.oauthbearer.token", SECRET), ("sasl.oauthbearer.scope", "kafka")]), "sasl.oauthbearer.scope", "kafka", "sasl.oauthbearer.method oidc for client-credentials settings (it is default)"),
        (with(&OAUTH, &[("sasl.oauthbearer.method", "jwt")]), "sasl.oauthbearer.method", "jwt", "default (sasl.oauthbearer.token or sasl.oauthbearer.config) or oidc"),
        (with(&OAUTH, &[("sasl.oauthbearer.token", SECRET), ("sasl.oauthbearer.extensions", "auth=x")]), "sasl.oauthbearer.extensions", "auth=x", "other than auth"),
        (with(&oidc, &[("sasl.oauthbearer.token", SECRET)]), "sasl.oauthbearer.token", "***", "sasl.oauthbearer.method default for a static token"),
        (with(&oidc, &[("sasl.oauthbearer.client.secret", "")]), "sasl.oauthbearer.client.secret", "(empty)", "the OAuth client secret (sasl.oauthbearer.method oidc needs it)"),
        (without(&oidc, "client.id"), "sasl.oauthbearer.client.id", "(not set)", "the OAuth client id"),
        (with(&oidc, &[("sasl.oauthbearer.client.id", "a:b")]), "sasl.oauthbearer.client.id", "a:b", "without `:`"),
        (without(&oidc, "url"), "sasl.oauthbearer.token.endpoint.url", "(not set)", "the token endpoint's http:// or https:// URL"),
        (with(&oidc, &[("sasl.oauthbearer.token.endpoint.url", "ftp://idp/token")]), "sasl.oauthbearer.token.endpoint.url", "ftp://idp/token", "an http:// or https:// URL with a host"),
        (with(&oidc, &[("sasl.oauthbearer.token.endpoint.url", "idp.example")]), "sasl.oauthbearer.token.endpoint.url", "idp.example", "an http:// or https:// URL with a host"),
    ];
    for (pairs, key, value, expected) in table {
        let error = build(&pairs).err().unwrap_or_else(|| panic!("{pairs:?} was accepted"));
        assert_eq!(error.key, key, "{pairs:?}: {error}");
        assert!(error.value.starts_with(value), "{pairs:?}: {error}");
        assert!(error.expected.contains(expected), "{pairs:?}: {error}");
        let text = error.to_string();
        let start = format!("properties.{key}: {} is not valid; expected ", error.value);
        assert!(text.starts_with(&start), "{text}");
        assert!(!text.contains(SECRET) && !format!("{error:?}").contains(SECRET), "{text}");
    }
    let _ = std::fs::remove_file(not_pem);
}

#[test]
fn the_unknown_key_error_lists_every_supported_key() {
    let error = build(&[("fetch.wait.max.ms", "100")]).unwrap_err();
    for key in SUPPORTED.split_whitespace() {
        assert!(
            error.expected.contains(key),
            "{key} missing from {}",
            error.expected
        );
    }
    assert!(!error.expected.contains("ssl.key.password"));
}

#[test]
fn secret_keys_follow_the_config_rule() {
    let secret = [
        "sasl.password",
        "sasl.oauthbearer.client.secret",
        "sasl.jaas.config",
        "ssl.key.pem",
        "ssl.key.location",
        "sasl.oauthbearer.token",
        "sasl.oauthbearer.config",
    ];
    assert!(secret.iter().all(|key| is_secret(key)));
    let public = [
        "sasl.username",
        "ssl.ca.location",
        "sasl.oauthbearer.token.endpoint.url",
        "sasl.oauthbearer.client.id",
    ];
    assert!(!public.iter().any(|key| is_secret(key)));
}
