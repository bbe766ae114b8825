//! Writes the test PKI that RabbitMQ's TLS listeners use in the tests (run by
//! `scripts/test.sh`, then `scripts/ensure-rabbitmq-tls.sh` configures RabbitMQ with it):
//! a CA made by rcgen, a server certificate for `localhost` and `127.0.0.1`, and a client
//! certificate whose common name is the RabbitMQ user of SASL EXTERNAL.
//!
//! `cargo run --example test_pki -- DIR` writes `ca.pem`, `server.pem`, `server-key.pem`,
//! `client.pem` and `client-key.pem` into DIR, and `other-ca.pem`, a CA that signed nothing.
//! Files already there are kept, so repeated runs agree with a configured broker.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// The client certificate's common name: the user RabbitMQ maps it to.
const CLIENT_USER: &str = "lagscale-tls";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: test_pki DIR")?);
    if dir.join("client-key.pem").exists() {
        println!("test PKI: kept in {}", dir.display());
        return Ok(());
    }
    std::fs::create_dir_all(&dir)?;
    let ca = authority("lagscale test CA")?;
    let (server, server_key) = leaf(&["localhost", "127.0.0.1"], "localhost", true, &ca)?;
    let (client, client_key) = leaf(&[], CLIENT_USER, false, &ca)?;
    let other = authority("some other CA")?;
    for (file, pem) in [
        ("ca.pem", ca.pem()),
        ("other-ca.pem", other.pem()),
        ("server.pem", server),
        ("server-key.pem", server_key),
        ("client.pem", client),
        ("client-key.pem", client_key),
    ] {
        std::fs::write(dir.join(file), pem)?;
    }
    println!("test PKI: written to {}", dir.display());
    Ok(())
}

fn authority(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate()?)
}

/// A certificate (PEM) and its key (PEM) signed by `ca`.
fn leaf(
    names: &[&str],
    common_name: &str,
    server: bool,
    ca: &CertifiedIssuer<'static, KeyPair>,
) -> Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![match server {
        true => ExtendedKeyUsagePurpose::ServerAuth,
        false => ExtendedKeyUsagePurpose::ClientAuth,
    }];
    let cert = params.signed_by(&key, &**ca)?;
    Ok((cert.pem(), key.serialize_pem()))
}
