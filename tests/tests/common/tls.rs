//! Certificates made at test time: a CA, a server certificate it signs for `localhost` and
//! 127.0.0.1, and an unrelated CA (the "wrong CA" a client must refuse).

use super::*;

/// PEM files in a directory of one test.
pub struct TestPki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A CA that signed nothing here.
    pub other_ca: PathBuf,
}

fn ca(name: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().expect("CA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    (params.self_signed(&key).expect("self-signed CA"), key)
}

impl TestPki {
    pub fn create(dir: &Path) -> TestPki {
        std::fs::create_dir_all(dir).expect("pki dir");
        let (ca_cert, ca_key) = ca("altostratus test CA");
        let (other, _) = ca("another CA");
        let key = rcgen::KeyPair::generate().expect("server key");
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("server params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let cert = params
            .signed_by(&key, &ca_cert, &ca_key)
            .expect("server certificate");
        let pki = TestPki {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server-key.pem"),
            other_ca: dir.join("other-ca.pem"),
        };
        std::fs::write(&pki.ca, ca_cert.pem()).expect("write ca.pem");
        std::fs::write(&pki.cert, cert.pem()).expect("write server.pem");
        std::fs::write(&pki.key, key.serialize_pem()).expect("write server-key.pem");
        std::fs::write(&pki.other_ca, other.pem()).expect("write other-ca.pem");
        pki
    }

    /// A blocking HTTP client trusting this CA only (besides the system's roots).
    pub fn client(&self) -> reqwest::blocking::Client {
        let pem = std::fs::read(&self.ca).expect("read ca.pem");
        reqwest::blocking::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA certificate"))
            .build()
            .expect("TLS client")
    }
}
