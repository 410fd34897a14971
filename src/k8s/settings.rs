//! `[kubernetes]`: the operator mode's settings.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[kubernetes]`: watch EtcdCluster and EtcdInspection resources, monitor the
/// clusters they declare and write their status (off unless `enabled`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesSettings {
    pub enabled: bool,
    /// The namespace whose resources are watched; unset: all namespaces.
    pub namespace: Option<String>,
    /// A kubeconfig file; unset: the pod's service account when in a cluster,
    /// else `$KUBECONFIG` or `~/.kube/config`, as kubectl finds them.
    pub kubeconfig: Option<PathBuf>,
    /// The `coordination.k8s.io` Lease that elects the one replica that writes
    /// status, emits Events and runs inspections.
    pub lease_name: String,
    /// The Lease's namespace; unset: `namespace`, else `$POD_NAMESPACE`, else
    /// `default`.
    pub lease_namespace: Option<String>,
    /// A holder that has not renewed for this long is replaced (Kubernetes'
    /// own controllers use 15 s); renewed every third of it.
    #[serde(with = "crate::time::duration")]
    pub lease_duration: Duration,
    /// This replica's name in the Lease; unset: `$POD_NAME`, else the host name
    /// and process ID.
    pub identity: Option<String>,
    /// How often a Service's or pod selector's members are looked up again.
    #[serde(with = "crate::time::duration")]
    pub discovery_interval: Duration,
    /// Where the TLS material and passwords read from Secrets are written
    /// (0700, files 0600); unset: `kubernetes-secrets` in the store's
    /// directory. In a pod, a memory-backed emptyDir keeps them off the disk.
    pub secrets_dir: Option<PathBuf>,
}

impl Default for KubernetesSettings {
    fn default() -> Self {
        KubernetesSettings {
            enabled: false,
            namespace: None,
            kubeconfig: None,
            lease_name: "etcd-monitor".into(),
            lease_namespace: None,
            lease_duration: Duration::from_secs(15),
            identity: None,
            discovery_interval: Duration::from_secs(60),
            secrets_dir: None,
        }
    }
}

/// Kubernetes' rule for namespace and Lease names: a DNS-1123 label or subdomain.
pub fn is_dns_name(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name
            .split('.')
            .all(|part| !part.is_empty() && !part.starts_with('-') && !part.ends_with('-'))
}

impl KubernetesSettings {
    /// Checks the values; `Err((field, message))` names the field under `[kubernetes]`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |field: &str, message: String| Err((format!("kubernetes.{field}"), message));
        if let Some(ns) = &self.namespace {
            if !is_dns_name(ns, 63) || ns.contains('.') {
                return bad("namespace", format!("{ns:?} is not a namespace name"));
            }
        }
        if let Some(ns) = &self.lease_namespace {
            if !is_dns_name(ns, 63) || ns.contains('.') {
                return bad("lease_namespace", format!("{ns:?} is not a namespace name"));
            }
        }
        if !is_dns_name(&self.lease_name, 253) {
            return bad(
                "lease_name",
                format!("{:?} is not a Kubernetes object name", self.lease_name),
            );
        }
        if !(Duration::from_secs(2)..=Duration::from_secs(3600)).contains(&self.lease_duration) {
            return bad("lease_duration", "must be between 2s and 1h".to_string());
        }
        if let Some(id) = &self.identity {
            if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
                return bad("identity", "1 to 128 printable characters".to_string());
            }
        }
        if !(Duration::from_secs(5)..=Duration::from_secs(86_400))
            .contains(&self.discovery_interval)
        {
            return bad(
                "discovery_interval",
                "must be between 5s and 1d".to_string(),
            );
        }
        Ok(())
    }

    /// The Lease's namespace as the settings and the environment say.
    pub fn lease_namespace(&self) -> String {
        self.lease_namespace
            .clone()
            .or_else(|| self.namespace.clone())
            .or_else(|| {
                std::env::var("POD_NAMESPACE")
                    .ok()
                    .filter(|n| is_dns_name(n, 63))
            })
            .unwrap_or_else(|| "default".into())
    }

    /// This replica's name in the Lease.
    pub fn identity(&self) -> String {
        if let Some(id) = &self.identity {
            return id.clone();
        }
        if let Some(pod) = std::env::var("POD_NAME").ok().filter(|n| !n.is_empty()) {
            return crate::text::truncate(&pod, 128);
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        format!(
            "{}_{}",
            if host.is_empty() {
                "etcd-monitor"
            } else {
                &host
            },
            std::process::id()
        )
    }
}
