//! TLS material from PEM files: the REST API's server configuration (`alto serve --tls-cert
//! FILE --tls-key FILE`) and extra trust roots (`--ca-cert`, `--amqp-ca-cert`).
//!
//! Every failure names the file and what is wrong with it, so that a bad deployment stops at
//! startup with one line instead of a panic or a handshake error at the first client.

use rustls::crypto::ring::default_provider;
use rustls::ServerConfig;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The largest PEM file read (a certificate chain or a key is a few KB; this bounds what a
/// wrong path, e.g. a log file, can make us allocate).
pub const MAX_PEM_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{flag} {}: cannot read: {source}", path.display())]
    Read {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{flag} {}: larger than {MAX_PEM_BYTES} bytes: not a PEM file", path.display())]
    TooLarge { flag: &'static str, path: PathBuf },
    #[error("{flag} {}: {what}", path.display())]
    Invalid {
        flag: &'static str,
        path: PathBuf,
        what: String,
    },
    #[error("--tls-cert {} and --tls-key {}: {what}", cert.display(), key.display())]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        what: String,
    },
}

fn read_pem(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|source| TlsError::Read {
        flag,
        path: path.to_path_buf(),
        source,
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| TlsError::Read {
            flag,
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(TlsError::TooLarge {
            flag,
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// Every certificate of a PEM file (at least one).
pub fn certificates(
    flag: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_pem(flag, path)?;
    let invalid = |what: String| TlsError::Invalid {
        flag,
        path: path.to_path_buf(),
        what,
    };
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|e| invalid(format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(
            "no certificate in it (expected -----BEGIN CERTIFICATE-----)".to_string(),
        ));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(flag: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read_pem(flag, path)?;
    // The error never quotes the file: it is a secret.
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Invalid {
        flag,
        path: path.to_path_buf(),
        what: match e {
            pem::Error::NoItemsFound => {
                "no PEM private key in it (PKCS#8, PKCS#1 or SEC1)".to_string()
            }
            other => format!("not a PEM private key: {other}"),
        },
    })
}

/// The REST API's TLS configuration: the chain of `cert` (leaf first) with the key of `key`,
/// TLS 1.2 and 1.3, HTTP/1.1 (ALPN).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates("--tls-cert", cert)?;
    let private = private_key("--tls-key", key)?;
    let mismatch = |what: String| TlsError::Mismatch {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        what,
    };
    let mut config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| mismatch(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| mismatch(format!("unusable certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The PEM text of a CA file (checked to hold at least one certificate), for clients that
/// take trust roots as PEM (reqwest, lapin).
pub fn ca_pem(flag: &'static str, path: &Path) -> Result<String, TlsError> {
    certificates(flag, path)?;
    let bytes = read_pem(flag, path)?;
    String::from_utf8(bytes).map_err(|_| TlsError::Invalid {
        flag,
        path: path.to_path_buf(),
        what: "not UTF-8 text: not a PEM file".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, contents: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("alto-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn missing_and_wrong_files_are_named_with_the_problem() {
        let missing = Path::new("/definitely/not/here.pem");
        let e = server_config(missing, missing).unwrap_err().to_string();
        assert!(
            e.starts_with("--tls-cert /definitely/not/here.pem: cannot read"),
            "{e}"
        );
        let garbage = temp("garbage.pem", b"hello, not a certificate\n");
        let e = certificates("--tls-cert", &garbage)
            .unwrap_err()
            .to_string();
        assert!(e.contains("garbage.pem: no certificate in it"), "{e}");
        let e = private_key("--tls-key", &garbage).unwrap_err().to_string();
        assert!(
            e.contains("--tls-key") && e.contains("no PEM private key"),
            "{e}"
        );
        let broken = temp(
            "broken.pem",
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        );
        let e = certificates("--ca-cert", &broken).unwrap_err().to_string();
        assert!(e.contains("--ca-cert") && e.contains("broken.pem"), "{e}");
        let e = ca_pem("--ca-cert", &garbage).unwrap_err().to_string();
        assert!(e.contains("no certificate"), "{e}");
    }

    #[test]
    fn a_huge_file_is_refused_before_it_is_parsed() {
        let big = temp("big.pem", &vec![b'a'; MAX_PEM_BYTES as usize + 10]);
        let e = certificates("--tls-cert", &big).unwrap_err().to_string();
        assert!(e.contains("larger than"), "{e}");
    }
}
