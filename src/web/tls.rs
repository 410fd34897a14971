//! HTTPS for the dashboard and API: rustls (with ring, as reqwest and lettre use
//! already) over the same connection handling as plain HTTP. The certificate and
//! key files are read again when they change (a renewal by certbot, cert-manager or
//! a script), at most once a second and only when a client connects: a renewed
//! certificate is served without a restart, and one that does not load leaves the
//! previous one in service with a warning.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::ServerConfig;

/// How often the files' metadata is looked at (when clients connect).
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The TLS side of the listener.
pub fn acceptor(cert: &Path, key: &Path) -> std::io::Result<tokio_rustls::TlsAcceptor> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let resolver = ReloadingCert::new(cert.to_path_buf(), key.to_path_buf(), provider.clone())?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    // Connections are served as HTTP/1.1 (see `serve_connection`).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// What tells a file changed: inode (a renewal that renames a new file in),
/// modification time and size.
type Stamp = [(u64, i64, i64, u64); 2];

fn stamp(cert: &Path, key: &Path) -> Option<Stamp> {
    let one = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.ino(), m.mtime(), m.mtime_nsec(), m.len()))
    };
    Some([one(cert)?, one(key)?])
}

/// Reads the certificate chain and key, and checks that they belong together.
fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("server.tls.cert_file {}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("server.tls.cert_file {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "server.tls.cert_file {}: no PEM certificate in it",
            cert.display()
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("server.tls.key_file {}: {e}", key.display()))?;
    CertifiedKey::from_der(chain, private, provider).map_err(|e| {
        format!(
            "server.tls.cert_file {} and key_file {}: {e}",
            cert.display(),
            key.display()
        )
    })
}

#[derive(Debug)]
struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Mutex<Current>,
}

#[derive(Debug)]
struct Current {
    checked: Instant,
    stamp: Option<Stamp>,
    key: Arc<CertifiedKey>,
}

impl ReloadingCert {
    /// Loads the files now: a monitor whose certificate does not load does not start.
    fn new(cert: PathBuf, key: PathBuf, provider: Arc<CryptoProvider>) -> std::io::Result<Self> {
        let stamp = stamp(&cert, &key);
        let loaded = load(&cert, &key, &provider).map_err(std::io::Error::other)?;
        Ok(ReloadingCert {
            current: Mutex::new(Current {
                checked: Instant::now(),
                stamp,
                key: Arc::new(loaded),
            }),
            cert,
            key,
            provider,
        })
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // Nothing below panics with the lock held; a poisoned lock is still good.
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.checked.elapsed() >= CHECK_EVERY {
            current.checked = Instant::now();
            let now = stamp(&self.cert, &self.key);
            if now.is_some() && now != current.stamp {
                match load(&self.cert, &self.key, &self.provider) {
                    Ok(key) => {
                        tracing::info!(
                            "dashboard: serving the renewed certificate {}",
                            self.cert.display()
                        );
                        current.key = Arc::new(key);
                        current.stamp = now;
                    }
                    // Half-written (the key before the certificate): tried again at
                    // the next check, as the stamp stays the old one.
                    Err(e) => tracing::warn!(
                        "dashboard: the changed certificate does not load, the previous one is still served: {e}"
                    ),
                }
            }
        }
        Some(current.key.clone())
    }
}
