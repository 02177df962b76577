// SPDX-License-Identifier: Apache-2.0
//! TLS for the sync client: rustls with the `ring` crypto provider, always verifying the
//! service's certificate chain and host name.
//!
//! Trust store (the same on every platform, no platform initialisation needed, so it works on
//! Android without JNI and on iOS):
//!
//! - the Mozilla root program's certificates (`webpki-root-certs`, compiled in);
//! - the operating system's certificates where they can be loaded (`rustls-native-certs`:
//!   the system bundle on Linux, the keychain's trust settings on macOS, the system store on
//!   Windows; on Android the system CA directory is read directly), so CAs an administrator
//!   installed are trusted;
//! - the PEM certificates passed in [`SyncOptions::extra_root_certificates_pem`] (for a
//!   private CA, e.g. a self-hosted service, or iOS where the system store cannot be read).
//!
//! The first two are loaded once per process and cached. Certificate verification cannot be
//! switched off.
//!
//! The crypto provider is passed explicitly to the client configuration, so nothing depends on
//! a process-wide default provider being installed (or not) by someone else.
//!
//! [`SyncOptions::extra_root_certificates_pem`]: super::SyncOptions::extra_root_certificates_pem

use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{CertificateError, ClientConfig, RootCertStore};

use crate::{Error, Result};

/// Mozilla's roots plus the loadable native certificates, built once per process.
fn base_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
        // Unreadable or unparsable native certificates are skipped: the Mozilla roots remain.
        roots.add_parsable_certificates(native_certificates());
        roots
    })
}

#[cfg(not(target_os = "android"))]
fn native_certificates() -> Vec<CertificateDer<'static>> {
    rustls_native_certs::load_native_certs().certs
}

/// Android keeps its CA certificates as one PEM file per certificate in these directories
/// (`/apex/...` since Android 14); `rustls-native-certs` does not look there.
#[cfg(target_os = "android")]
fn native_certificates() -> Vec<CertificateDer<'static>> {
    let mut certs = rustls_native_certs::load_native_certs().certs;
    for dir in [
        "/apex/com.android.conscrypt/cacerts",
        "/system/etc/security/cacerts",
    ] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if let Ok(bytes) = std::fs::read(entry.path()) {
                certs.extend(CertificateDer::pem_slice_iter(&bytes).flatten());
            }
        }
    }
    certs
}

/// Adds the extra roots: each string holds one or more PEM certificates.
fn add_extra_roots(roots: &mut RootCertStore, pems: &[String]) -> Result<()> {
    for (index, pem) in pems.iter().enumerate() {
        let invalid = |what: &str| {
            Error::invalid_argument(format!("extra_root_certificates_pem[{index}] {what}"))
        };
        let mut found = false;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|_| invalid("is not valid PEM"))?;
            roots
                .add(cert)
                .map_err(|_| invalid("is not a usable CA certificate"))?;
            found = true;
        }
        if !found {
            return Err(invalid("contains no PEM certificate"));
        }
    }
    Ok(())
}

/// The TLS configuration the sync client uses (rustls 0.23 with the `ring` provider): the
/// built-in roots (Mozilla's plus the system's) plus `extra_root_certificates_pem` (PEM, as in
/// [`SyncOptions::extra_root_certificates_pem`]).
///
/// For connectors that talk to their own backend with reqwest 0.13 and want the same trust
/// store: `reqwest::Client::builder().tls_backend_preconfigured(tls_client_config(&[])?)`.
/// (In a build that contains this crate, reqwest's rustls backend has no default crypto
/// provider, so a plain `reqwest::Client::new()` needs either this or an installed
/// process-wide provider.)
///
/// [`SyncOptions::extra_root_certificates_pem`]: super::SyncOptions::extra_root_certificates_pem
pub fn tls_client_config(extra_root_certificates_pem: &[String]) -> Result<ClientConfig> {
    client_config(extra_root_certificates_pem)
}

/// The rustls configuration for one `connect()`: the cached base roots plus `extra_pems`.
pub(crate) fn client_config(extra_pems: &[String]) -> Result<ClientConfig> {
    let mut roots = base_roots().clone();
    add_extra_roots(&mut roots, extra_pems)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| Error::state("TLS is not available"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// The TLS error behind a failed request, if it was one. Walks the source chain, looking
/// inside `io::Error`s too (their `source()` skips the wrapped error).
pub(crate) fn tls_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut current: Option<&'a (dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            current = Some(inner);
            continue;
        }
        current = e.source();
    }
    None
}

/// A short description of a TLS failure; never includes certificate contents or names.
pub(crate) fn describe(error: &rustls::Error) -> &'static str {
    match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => {
                "TLS certificate verification failed: unknown issuer (not signed by a trusted CA)"
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "TLS certificate verification failed: the certificate is not valid for this host"
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => {
                "TLS certificate verification failed: the certificate is expired or not yet valid"
            }
            CertificateError::Revoked => {
                "TLS certificate verification failed: the certificate is revoked"
            }
            _ => "TLS certificate verification failed",
        },
        _ => "TLS handshake failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_roots_are_not_empty() {
        assert!(base_roots().len() > 100);
        assert!(client_config(&[]).is_ok());
    }

    #[test]
    fn extra_roots_must_be_pem_certificates() {
        let error = client_config(&["not a certificate".to_owned()])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("extra_root_certificates_pem[0]"), "{error}");
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(client_config(&[garbage.to_owned()]).is_err());
    }

    #[test]
    fn tls_errors_are_found_inside_io_errors() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        let found = tls_error(&io).map(describe).unwrap_or_default();
        assert!(found.contains("unknown issuer"), "{found}");
    }
}
