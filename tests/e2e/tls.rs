//! TLS and mutual TLS on the gRPC server, with certificates generated here (rcgen).

use std::path::PathBuf;
use std::sync::Arc;

use lagscale::config::{Config, TlsConfig};
use lagscale::proto::external_scaler_client::ExternalScalerClient;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::support::{TestServer, config, so};

/// A CA and certificates it signed, as PEM.
struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
}

fn new_pki(name: &str) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} test CA"));
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        ca: ca.pem(),
        server: leaf(vec!["localhost".to_owned()]),
        client: leaf(vec!["keda-operator".to_owned()]),
    }
}

fn write(dir: &std::path::Path, name: &str, pem: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

async fn tls_server(pki: &Pki, mutual: bool) -> TestServer {
    let dir = std::env::temp_dir().join(crate::support::kafka::unique(&format!(
        "lagscale-tls-{}",
        std::process::id()
    )));
    std::fs::create_dir_all(&dir).unwrap();
    let tls = TlsConfig {
        cert_file: write(&dir, "tls.crt", &pki.server.0),
        key_file: write(&dir, "tls.key", &pki.server.1),
        client_ca_file: mutual.then(|| write(&dir, "ca.crt", &pki.ca)),
    };
    TestServer::start(Config {
        tls: Some(tls),
        ..config()
    })
    .await
}

/// GetMetricSpec over TLS trusting `ca`, presenting `identity` if given.
async fn call(
    server: &TestServer,
    ca: &str,
    identity: Option<&(String, String)>,
) -> Result<(), String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let channel = Channel::from_shared(format!("https://{}", server.addr))
        .unwrap()
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    let request = so(
        "orders",
        &[
            ("source", "rabbitmq"),
            ("host", "amqp://127.0.0.1"),
            ("queueName", "q"),
        ],
    );
    ExternalScalerClient::new(channel)
        .get_metric_spec(request)
        .await
        .map(|_| ())
        .map_err(|s| format!("call: {s:?}"))
}

#[tokio::test]
async fn mutual_tls_serves_only_clients_with_a_certificate_from_the_ca() {
    let pki = new_pki("ours");
    let other = new_pki("other");
    let server = tls_server(&pki, true).await;
    call(&server, &pki.ca, Some(&pki.client)).await.unwrap();
    assert!(
        call(&server, &pki.ca, None).await.is_err(),
        "no client certificate must be refused"
    );
    assert!(
        call(&server, &pki.ca, Some(&other.client)).await.is_err(),
        "a certificate from another CA must be refused"
    );
}

#[tokio::test]
async fn server_tls_without_client_ca_serves_any_client() {
    let pki = new_pki("server-only");
    let server = tls_server(&pki, false).await;
    call(&server, &pki.ca, None).await.unwrap();
    // A plaintext client gets nothing.
    let plaintext = server
        .client()
        .await
        .get_metric_spec(so("x", &[("source", "rabbitmq")]))
        .await;
    assert!(plaintext.is_err());
}

/// KEDA's grpc-go refuses a TLS server that does not negotiate ALPN `h2`.
#[tokio::test]
async fn alpn_negotiates_h2() {
    let pki = new_pki("alpn");
    let server = tls_server(&pki, false).await;
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    let ca_der = rustls_pem(&pki.ca);
    roots.add(ca_der).unwrap();
    let mut client = tokio_rustls::rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
}

/// The DER certificate inside one PEM block.
fn rustls_pem(pem: &str) -> tokio_rustls::rustls::pki_types::CertificateDer<'static> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    tokio_rustls::rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}
