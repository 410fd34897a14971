//! When a monitored cluster's client certificate expires: the earliest `notAfter` of
//! the certificates in its PEM file (a chain file expires with its first member).

use std::path::Path;

use x509_parser::pem::Pem;

/// The earliest expiry among the certificates in the PEM file at `path`, as unix ms.
/// The error is a user-facing sentence naming the file.
pub fn earliest_expiry_ms(path: &Path) -> Result<i64, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    earliest_expiry_in_pem(&bytes).map_err(|m| format!("{}: {m}", path.display()))
}

/// As [`earliest_expiry_ms`], for PEM text already read.
pub fn earliest_expiry_in_pem(pem_bytes: &[u8]) -> Result<i64, String> {
    let mut earliest: Option<i64> = None;
    for pem in Pem::iter_from_buffer(pem_bytes) {
        let pem = pem.map_err(|e| format!("not PEM: {e}"))?;
        if pem.label != "CERTIFICATE" {
            continue;
        }
        let cert = pem
            .parse_x509()
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let not_after = cert.validity().not_after.timestamp().saturating_mul(1000);
        earliest = Some(earliest.map_or(not_after, |e| e.min(not_after)));
    }
    earliest.ok_or_else(|| "holds no certificate".to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A self-signed certificate made with `openssl req -x509 -newkey ec -pkeyopt
    /// ec_paramgen_curve:P-256 -nodes -days 3650 -subj /CN=etcd-monitor-test`; its
    /// notAfter (as `openssl x509 -enddate` printed it) is in the file beside it.
    pub const TEST_CERT: &str = include_str!("testdata/client.crt");

    #[test]
    fn reads_not_after() {
        let ms = earliest_expiry_in_pem(TEST_CERT.as_bytes()).unwrap();
        let at = humantime::format_rfc3339(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64),
        )
        .to_string();
        assert_eq!(at, include_str!("testdata/client.crt.not_after").trim());
    }

    #[test]
    fn rejects_what_is_not_a_certificate() {
        assert!(earliest_expiry_in_pem(b"hello").is_err());
        let e = earliest_expiry_ms(Path::new("/nonexistent/cert.pem")).unwrap_err();
        assert!(e.contains("/nonexistent/cert.pem"), "{e}");
    }
}
