//! Test certificates made by rcgen: a CA, a server and a client certificate signed by it, an
//! unrelated CA and a stray key, as PEM files in a directory removed on drop. Shared by the
//! TLS tests of both sources.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A CA, a server certificate signed by it, a client certificate signed by it, and an unrelated
/// CA; PEM files in a directory removed on drop.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: String,
    pub other_ca: String,
    pub server_chain: String,
    pub server_key: String,
    pub client: String,
    pub client_key: String,
    pub other_key: String,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    ca: &CertifiedIssuer<'static, KeyPair>,
) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, &**ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    pub fn new(test: &str, server_names: &[&str]) -> Pki {
        let dir = std::env::temp_dir().join(format!("lagscale-tls-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let authority = ca("lagscale test CA");
        let (server_chain, server_key) = leaf(
            server_names,
            ExtendedKeyUsagePurpose::ServerAuth,
            &authority,
        );
        let (client, client_key) = leaf(
            &["lagscale-client"],
            ExtendedKeyUsagePurpose::ClientAuth,
            &authority,
        );
        let pki = Pki {
            dir,
            ca: authority.pem(),
            other_ca: ca("some other CA").pem(),
            server_chain,
            server_key,
            client,
            client_key,
            other_key: KeyPair::generate().unwrap().serialize_pem(),
        };
        for (file, pem) in [
            ("ca.pem", &pki.ca),
            ("other-ca.pem", &pki.other_ca),
            ("client.pem", &pki.client),
            ("client-key.pem", &pki.client_key),
            ("other-key.pem", &pki.other_key),
        ] {
            std::fs::write(pki.dir.join(file), pem).unwrap();
        }
        pki
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).to_str().unwrap().to_owned()
    }
}
