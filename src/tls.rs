//! The process's one TLS trust configuration: the system's root certificates, read once.
//!
//! Three HTTP clients make TLS connections: the Fauna API client, the download client (presigned
//! URLs) and the AWS SDK's (S3, Secrets Manager). Left to themselves, each read and parsed the
//! whole system store at start (`/etc/ssl/certs`: a bundle plus a directory of hundreds of
//! files), which was most of a cold start (docs/performance.md, "Cold start"). Here the store is
//! read once; the two `reqwest` clients share one rustls [`ClientConfig`] built from it, and the
//! SDK's client is given the same certificates (as PEM, the form its trust store takes).
//!
//! The trust model is unchanged: the system's roots as `rustls-native-certs` finds them
//! (`SSL_CERT_FILE`/`SSL_CERT_DIR` honoured), with rustls over aws-lc-rs as the one TLS stack. A
//! certificate found twice (Debian has the bundle and a directory of the same certificates) is
//! kept once.

use std::sync::{Arc, LazyLock};

use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;

/// The system's root certificates that rustls accepts as trust anchors, and the config built
/// from them.
struct Roots {
    /// The accepted certificates, DER.
    certificates: Vec<CertificateDer<'static>>,
    /// `Err` only if aws-lc-rs lacked the default protocol versions, which it does not.
    config: Result<Arc<ClientConfig>, String>,
}

static ROOTS: LazyLock<Roots> = LazyLock::new(load);

fn load() -> Roots {
    // `SSL_CERT_FILE`/`SSL_CERT_DIR` when set, else the system's bundle and directories.
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "a system root certificate could not be read");
    }
    // `add` parses each certificate once; the ones it accepts are the ones passed on, so every
    // client trusts exactly the same anchors, each once.
    let mut store = rustls::RootCertStore::empty();
    let mut certificates = Vec::with_capacity(found.certs.len());
    let mut seen = std::collections::HashSet::new();
    for cert in found.certs {
        if seen.insert(cert.clone()) && store.add(cert.clone()).is_ok() {
            certificates.push(cert);
        }
    }
    if certificates.is_empty() {
        tracing::warn!(
            "no system root certificates found: TLS connections will fail (set SSL_CERT_FILE)"
        );
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| Arc::new(builder.with_root_certificates(store).with_no_client_auth()))
        .map_err(|e| format!("cannot configure TLS: {e}"));
    Roots {
        certificates,
        config,
    }
}

/// The rustls configuration for `reqwest` clients (`tls_backend_preconfigured`). Each client
/// sets its own ALPN on a copy.
pub(crate) fn client_config() -> Result<ClientConfig, String> {
    ROOTS.config.as_deref().cloned().map_err(Clone::clone)
}

/// The same roots as PEM: the AWS SDK's `TrustStore` takes certificates in that form.
pub(crate) fn root_certificates_pem() -> Vec<u8> {
    let mut pem = Vec::with_capacity(ROOTS.certificates.len() * 2048);
    for cert in &ROOTS.certificates {
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        let base64 = aws_smithy_types::base64::encode(cert.as_ref());
        for line in base64.as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
}

/// How many root certificates are trusted.
#[cfg(test)]
fn root_count() -> usize {
    ROOTS.certificates.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn the_pem_form_holds_exactly_the_accepted_certificates() {
        // The machines this runs on have a system store (curl, pip and the SDK need one).
        assert!(root_count() > 0, "no system root certificates were read");
        assert!(client_config().is_ok());
        let pem = root_certificates_pem();
        let parsed: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .unwrap_or_default();
        assert_eq!(parsed.len(), root_count());
        assert!(parsed.iter().eq(ROOTS.certificates.iter()));
    }
}
