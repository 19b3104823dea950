//! TLS client settings shared by the outbound connections that are not
//! made by a library with its own (LDAP, Web Push): rustls on ring, the
//! system's CA certificates, plus the PEM certificates of an extra CA file;
//! and the one rule for when a connection may go without TLS
//! ([`is_loopback_host`]).

use std::sync::Arc;

pub use rustls::ClientConfig;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

/// Whether a connection to `host` stays on this machine (`localhost`,
/// `127.0.0.0/8`, `::1`, with or without `[…]`): the only place plain text
/// (SMTP, LDAP) or an unverified certificate (PostgreSQL) is allowed.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// rustls with the system's CA certificates plus `ca_pem`'s.
pub fn client_config(ca_pem: Option<&[u8]>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(certificate);
    }
    if let Some(pem) = ca_pem {
        let mut added = 0;
        for certificate in CertificateDer::pem_slice_iter(pem) {
            let certificate = certificate.map_err(|e| format!("not a PEM certificate: {e}"))?;
            roots
                .add(certificate)
                .map_err(|e| format!("not a usable CA certificate: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err("no PEM certificate in the file".into());
        }
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused() {
        assert!(client_config(None).is_ok());
        assert_eq!(
            client_config(Some(b"not a certificate")).unwrap_err(),
            "no PEM certificate in the file"
        );
    }

    #[test]
    fn only_this_machine_is_loopback() {
        for host in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "[::1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "db.example.com",
            "10.0.0.1",
            "192.0.2.7",
            "[2001:db8::1]",
            "localhost.example.com",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
