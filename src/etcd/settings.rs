//! How to reach a cluster (`[[clusters]]`): endpoints, TLS, auth, tags. Loaded
//! and checked by [`crate::config`]; used by every connection.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    pub name: String,
    pub endpoints: Vec<String>,
    #[serde(default)]
    pub metrics_urls: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Scheduled benchmarks may load this cluster (never by default).
    #[serde(default)]
    pub allow_benchmark: bool,
    /// The key browser may show values (to operators and admins); `false` hides
    /// them from everyone (an etcd behind Kubernetes holds its Secrets).
    #[serde(default = "browse_values_default")]
    pub browse_values: bool,
    /// This cluster's probe interval; unset: `collect.interval`.
    #[serde(
        default,
        with = "crate::time::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
    /// This cluster's deadline for one request to a member; unset:
    /// `collect.request_timeout` (either way at most the interval).
    #[serde(
        default,
        with = "crate::time::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_timeout: Option<Duration>,
}

fn browse_values_default() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// Credentials for etcd's auth. The password itself never sits in the config:
/// it is read from an environment variable or a file when a client connects.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub user: String,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
}

impl AuthConfig {
    /// Reads the password from where the config says it lives.
    pub fn password(&self) -> Result<String, String> {
        crate::secrets::read(
            "auth.password",
            self.password_env.as_deref(),
            self.password_file.as_deref(),
        )?
        .ok_or_else(|| "auth needs password_env or password_file".into())
    }
}

impl ClusterConfig {
    /// A cluster with only a name and endpoints (no TLS, auth or tags).
    pub fn plain(name: &str, endpoints: Vec<String>) -> Self {
        ClusterConfig {
            name: name.to_string(),
            endpoints,
            metrics_urls: Vec::new(),
            tags: Vec::new(),
            tls: None,
            auth: None,
            allow_benchmark: false,
            browse_values: true,
            interval: None,
            request_timeout: None,
        }
    }
}

/// Splits `a,b c` as etcdctl does for `--endpoints` and `ETCDCTL_ENDPOINTS`.
pub fn split_endpoints(list: &str) -> Vec<String> {
    list.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(normalize_endpoint)
        .collect()
}

/// `127.0.0.1:2379` -> `http://127.0.0.1:2379` (etcdctl accepts both); trailing `/` dropped.
pub fn normalize_endpoint(e: &str) -> String {
    let e = e.trim().trim_end_matches('/');
    if e.contains("://") {
        e.to_string()
    } else {
        format!("http://{e}")
    }
}
