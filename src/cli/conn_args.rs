//! Connection flags shared by `bench` and `ctl`: etcdctl's names for endpoints, TLS,
//! auth and the dial deadline, turned into a `ClusterConfig` for the `Connector`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::config::{AuthConfig, ClusterConfig, TlsConfig};

/// Where `--user name:password` puts the password for the connector, which reads
/// passwords from the environment or a file only.
const INLINE_PASSWORD_ENV: &str = "ETCD_MONITOR_INLINE_PASSWORD";

/// The endpoint etcdctl uses when none is given.
pub const DEFAULT_ENDPOINT: &str = "127.0.0.1:2379";

#[derive(Debug, Clone, Args)]
pub struct ConnArgs {
    /// gRPC endpoints, comma-separated (default 127.0.0.1:2379).
    #[arg(long, value_delimiter = ',', env = "ETCDCTL_ENDPOINTS", global = true)]
    pub endpoints: Option<Vec<String>>,
    /// CA certificate (PEM) to verify the members' TLS certificates.
    #[arg(long, global = true)]
    pub cacert: Option<PathBuf>,
    /// Client certificate (PEM).
    #[arg(long, global = true, requires = "key")]
    pub cert: Option<PathBuf>,
    /// Client key (PEM).
    #[arg(long, global = true, requires = "cert")]
    pub key: Option<PathBuf>,
    /// User for etcd's auth: `name` or `name:password` (etcd's form).
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// Read the password of --user from this environment variable.
    #[arg(long, global = true)]
    pub password_env: Option<String>,
    /// Read the password of --user from this file.
    #[arg(long, global = true)]
    pub password_file: Option<PathBuf>,
    /// Deadline of a connection attempt.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration, global = true)]
    pub dial_timeout: Duration,
}

impl ConnArgs {
    /// Call before starting a runtime (it sets an environment variable): hands the
    /// password of `--user name:password` to the connector.
    pub fn export_inline_password(&self) {
        if let Some((_, password)) = self.user.as_deref().and_then(|u| u.split_once(':')) {
            std::env::set_var(INLINE_PASSWORD_ENV, password);
        }
    }

    /// Endpoints as given (default 127.0.0.1:2379).
    pub fn endpoint_list(&self) -> Vec<String> {
        match &self.endpoints {
            Some(list) => list
                .iter()
                .flat_map(|e| e.split([',', ' ']))
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(String::from)
                .collect(),
            None => vec![DEFAULT_ENDPOINT.to_string()],
        }
    }

    /// Whether any TLS or auth flag was given (they then replace the config's).
    pub fn has_security(&self) -> bool {
        self.cacert.is_some() || self.cert.is_some() || self.user.is_some()
    }

    pub fn cluster(&self, name: &str) -> ClusterConfig {
        let tls = (self.cacert.is_some() || self.cert.is_some()).then(|| TlsConfig {
            ca_file: self.cacert.clone(),
            cert_file: self.cert.clone(),
            key_file: self.key.clone(),
        });
        let given = self.endpoint_list();
        let endpoints = given
            .iter()
            .map(|e| crate::config::normalize_endpoint(e))
            .map(|e| match (&tls, e.strip_prefix("http://")) {
                // A bare host:port with TLS flags means https, as with etcdctl.
                (Some(_), Some(rest)) if !given.iter().any(|g| g.contains("http://")) => {
                    format!("https://{rest}")
                }
                _ => e,
            })
            .collect();
        let auth = self.user.as_ref().map(|user| {
            let (name, inline) = match user.split_once(':') {
                Some((n, p)) => (n.to_string(), Some(p)),
                None => (user.clone(), None),
            };
            AuthConfig {
                user: name,
                password_env: inline
                    .map(|_| INLINE_PASSWORD_ENV.to_string())
                    .or_else(|| self.password_env.clone()),
                password_file: self.password_file.clone(),
            }
        });
        ClusterConfig {
            tls,
            auth,
            ..ClusterConfig::plain(name, endpoints)
        }
    }
}
