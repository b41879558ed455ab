//! The receiver's TLS. OpenSSL, not rustls: the Stratos 4.1 agent's bundled Thrift
//! (`TSSLSocket`) pins `ssl.PROTOCOL_TLSv1`, so its client speaks TLS 1.0 only, which rustls
//! does not implement. The acceptor therefore allows TLS 1.0 and up (at OpenSSL security
//! level 0, which TLS 1.0's SHA-1 handshake needs); newer clients negotiate TLS 1.2/1.3 as
//! usual. Without a configured certificate a self-signed one is made at startup (the agent
//! does not verify certificates).

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod, SslVersion};
use openssl::x509::{X509NameBuilder, X509};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("thrift receiver TLS: {what}: {source}")]
    OpenSsl {
        what: &'static str,
        #[source]
        source: openssl::error::ErrorStack,
    },
}

fn ctx(what: &'static str) -> impl FnOnce(openssl::error::ErrorStack) -> TlsError {
    move |source| TlsError::OpenSsl { what, source }
}

/// A self-signed certificate for `CN=alto-thrift-receiver`, valid for a year.
pub fn self_signed() -> Result<(X509, PKey<Private>), TlsError> {
    let rsa = Rsa::generate(2048).map_err(ctx("generating the key"))?;
    let key = PKey::from_rsa(rsa).map_err(ctx("generating the key"))?;
    let mut name = X509NameBuilder::new().map_err(ctx("building the name"))?;
    name.append_entry_by_text("CN", "alto-thrift-receiver")
        .map_err(ctx("building the name"))?;
    let name = name.build();
    let mut serial = BigNum::new().map_err(ctx("making a serial"))?;
    serial
        .rand(127, MsbOption::MAYBE_ZERO, false)
        .map_err(ctx("making a serial"))?;
    let serial = serial.to_asn1_integer().map_err(ctx("making a serial"))?;
    let mut cert = X509::builder().map_err(ctx("building the certificate"))?;
    let build = |cert: &mut openssl::x509::X509Builder| -> Result<(), openssl::error::ErrorStack> {
        cert.set_version(2)?;
        cert.set_serial_number(&serial)?;
        cert.set_subject_name(&name)?;
        cert.set_issuer_name(&name)?;
        cert.set_pubkey(&key)?;
        cert.set_not_before(Asn1Time::days_from_now(0)?.as_ref())?;
        cert.set_not_after(Asn1Time::days_from_now(365)?.as_ref())?;
        cert.sign(&key, MessageDigest::sha256())
    };
    build(&mut cert).map_err(ctx("building the certificate"))?;
    Ok((cert.build(), key))
}

/// Where the certificate comes from.
pub enum Identity<'a> {
    SelfSigned,
    Files { cert: &'a Path, key: &'a Path },
}

pub fn acceptor(identity: Identity<'_>) -> Result<SslAcceptor, TlsError> {
    let mut builder = SslAcceptor::mozilla_intermediate(SslMethod::tls())
        .map_err(ctx("creating the acceptor"))?;
    builder.set_security_level(0);
    builder
        .set_min_proto_version(Some(SslVersion::TLS1))
        .map_err(ctx("allowing TLS 1.0"))?;
    builder
        .set_cipher_list("HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES@SECLEVEL=0")
        .map_err(ctx("setting the ciphers"))?;
    match identity {
        Identity::SelfSigned => {
            let (cert, key) = self_signed()?;
            builder
                .set_certificate(&cert)
                .map_err(ctx("using the certificate"))?;
            builder
                .set_private_key(&key)
                .map_err(ctx("using the key"))?;
        }
        Identity::Files { cert, key } => {
            builder
                .set_certificate_chain_file(cert)
                .map_err(ctx("reading --thrift-cert"))?;
            builder
                .set_private_key_file(key, SslFiletype::PEM)
                .map_err(ctx("reading --thrift-key"))?;
        }
    }
    builder
        .check_private_key()
        .map_err(ctx("matching the key to the certificate"))?;
    Ok(builder.build())
}
