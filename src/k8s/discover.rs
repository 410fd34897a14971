//! From an EtcdCluster resource to the cluster the monitor probes: its members
//! (listed, a Service's EndpointSlices, or pods by label), and its TLS material
//! and password, read from Secrets and written to files only this process reads
//! (the prober takes files, as it does from the config).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::ListParams;
use kube::{Api, Client};

use super::resources::{EtcdCluster, Scheme, MAX_ENDPOINTS};
use super::OperatorError;
use crate::etcd::settings::{AuthConfig, TlsConfig};
use crate::etcd::ClusterConfig;

/// kubeadm writes each etcd member's client URLs into this annotation of its
/// static pod; it is preferred to the pod IP, which a host-network pod shares
/// with its node.
pub const KUBEADM_CLIENT_URLS: &str = "kubeadm.kubernetes.io/etcd.advertise-client-urls";

/// The monitor's name of the cluster an EtcdCluster declares: `namespace.name`
/// (a namespace has no dot, so the name reads back unambiguously).
pub fn cluster_name(namespace: &str, name: &str) -> String {
    format!("{namespace}.{name}")
}

/// What [`resolve`] made of a resource.
pub struct Resolved {
    pub config: ClusterConfig,
    /// A Secret's contents changed under the same file names: the cluster's
    /// clients must connect again.
    pub secrets_changed: bool,
}

/// The cluster `ec` declares, its Secrets written under `secrets_dir`.
pub async fn resolve(
    client: &Client,
    ec: &EtcdCluster,
    secrets_dir: &Path,
) -> Result<Resolved, OperatorError> {
    let namespace = ec.metadata.namespace.clone().unwrap_or_default();
    let name = ec.metadata.name.clone().unwrap_or_default();
    let spec = &ec.spec;
    let endpoints = if !spec.endpoints.is_empty() {
        spec.endpoints.clone()
    } else if let Some(service) = &spec.service {
        service_endpoints(
            client,
            &namespace,
            &service.name,
            service.port,
            service.scheme,
        )
        .await?
    } else if let Some(pods) = &spec.pod_selector {
        pod_endpoints(
            client,
            &namespace,
            &pods.match_labels,
            pods.port,
            pods.scheme,
        )
        .await?
    } else {
        Vec::new()
    };
    if endpoints.is_empty() {
        return Err(OperatorError::NoMembers(
            "no member found: the Service has no ready endpoints or no pod matches".into(),
        ));
    }
    if endpoints.len() > MAX_ENDPOINTS {
        return Err(OperatorError::NoMembers(format!(
            "{} members found, at most {MAX_ENDPOINTS} are monitored",
            endpoints.len()
        )));
    }
    let cluster = cluster_name(&namespace, &name);
    let dir = secrets_dir.join(&cluster);
    let secrets = Api::<Secret>::namespaced(client.clone(), &namespace);
    let mut files: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut tls = None;
    if let Some(t) = &spec.tls {
        let data = secret_data(&secrets, &t.secret_name).await?;
        let mut config = TlsConfig {
            ca_file: None,
            cert_file: None,
            key_file: None,
        };
        for (key, file, slot) in [
            (&t.ca_key, "ca.crt", &mut config.ca_file),
            (&t.cert_key, "tls.crt", &mut config.cert_file),
            (&t.key_key, "tls.key", &mut config.key_file),
        ] {
            if let Some(key) = key {
                files.push((file, secret_key(&data, &t.secret_name, key)?));
                *slot = Some(dir.join(file));
            }
        }
        tls = Some(config);
    }
    let mut auth = None;
    if let Some(a) = &spec.auth {
        let data = secret_data(&secrets, &a.password_secret.name).await?;
        files.push((
            "password",
            secret_key(&data, &a.password_secret.name, &a.password_secret.key)?,
        ));
        auth = Some(AuthConfig {
            user: a.user.clone(),
            password_env: None,
            password_file: Some(dir.join("password")),
        });
    }
    let secrets_changed = write_private(&dir, &files)?;
    Ok(Resolved {
        config: ClusterConfig {
            name: cluster,
            endpoints,
            metrics_urls: spec.metrics_urls.clone(),
            tags: spec.tags.clone(),
            tls,
            auth,
            allow_benchmark: spec.allow_benchmark,
            browse_values: spec.browse_values,
            interval: seconds(spec.probe.as_ref().and_then(|p| p.interval_seconds)),
            request_timeout: seconds(spec.probe.as_ref().and_then(|p| p.timeout_seconds)),
        },
        secrets_changed,
    })
}

/// A spec's whole seconds (checked positive by `spec::check_cluster`).
fn seconds(value: Option<i32>) -> Option<std::time::Duration> {
    value
        .and_then(|s| u64::try_from(s).ok())
        .map(std::time::Duration::from_secs)
}

/// Removes what [`resolve`] wrote for a cluster.
pub fn forget_secrets(secrets_dir: &Path, cluster: &str) {
    let dir = secrets_dir.join(cluster);
    if dir.exists() {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(cluster, "could not remove {}: {e}", dir.display());
        }
    }
}

async fn secret_data(
    secrets: &Api<Secret>,
    name: &str,
) -> Result<BTreeMap<String, k8s_openapi::ByteString>, OperatorError> {
    match super::deadline(secrets.get_opt(name)).await? {
        Some(s) => Ok(s.data.unwrap_or_default()),
        None => Err(OperatorError::Secret(format!("Secret {name:?} not found"))),
    }
}

fn secret_key(
    data: &BTreeMap<String, k8s_openapi::ByteString>,
    secret: &str,
    key: &str,
) -> Result<Vec<u8>, OperatorError> {
    data.get(key)
        .map(|b| b.0.clone())
        .ok_or_else(|| OperatorError::Secret(format!("Secret {secret:?} has no key {key:?}")))
}

/// Writes `files` into `dir` (created 0700), each 0600, replaced whole by a
/// rename so that a reader never sees half a file. True when any file's
/// contents differ from what was there.
fn write_private(dir: &Path, files: &[(&str, Vec<u8>)]) -> Result<bool, OperatorError> {
    if files.is_empty() {
        return Ok(false);
    }
    let io = |what: &Path, e: std::io::Error| OperatorError::Io(format!("{}: {e}", what.display()));
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io(dir, e))?;
    }
    let mut changed = false;
    for (file, bytes) in files {
        let path: PathBuf = dir.join(file);
        if std::fs::read(&path).ok().as_deref() == Some(bytes.as_slice()) {
            continue;
        }
        changed = true;
        let tmp = dir.join(format!(".{file}.tmp"));
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| io(&tmp, e))?;
            f.write_all(bytes).map_err(|e| io(&tmp, e))?;
            f.sync_all().map_err(|e| io(&tmp, e))?;
        }
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
    }
    Ok(changed)
}

fn scheme_text(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Https => "https",
        Scheme::Http => "http",
    }
}

/// `scheme://address:port`, an IPv6 address in brackets.
fn url(scheme: Scheme, address: &str, port: i32) -> String {
    if address.contains(':') {
        format!("{}://[{address}]:{port}", scheme_text(scheme))
    } else {
        format!("{}://{address}:{port}", scheme_text(scheme))
    }
}

/// The ready endpoints of a Service's EndpointSlices. A slice's port is the one
/// named `client`, else the one numbered `port`, else its only port; a slice
/// without such a port is passed over.
async fn service_endpoints(
    client: &Client,
    namespace: &str,
    service: &str,
    port: i32,
    scheme: Scheme,
) -> Result<Vec<String>, OperatorError> {
    let slices = Api::<EndpointSlice>::namespaced(client.clone(), namespace);
    let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={service}"));
    let list = super::deadline(slices.list(&lp)).await?;
    let mut urls = Vec::new();
    for slice in list.items {
        let ports = slice.ports.unwrap_or_default();
        let chosen = ports
            .iter()
            .find(|p| p.name.as_deref() == Some("client"))
            .or_else(|| ports.iter().find(|p| p.port == Some(port)))
            .or_else(|| (ports.len() == 1).then(|| &ports[0]))
            .and_then(|p| p.port);
        let Some(p) = chosen else { continue };
        for ep in slice.endpoints {
            if ep.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                continue;
            }
            for address in ep.addresses {
                urls.push(url(scheme, &address, p));
            }
        }
    }
    urls.sort();
    urls.dedup();
    Ok(urls)
}

/// The client URLs of the pods the labels select: kubeadm's annotation when a
/// pod has it, else the pod IP and `port`. Pods being deleted are passed over.
async fn pod_endpoints(
    client: &Client,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    port: i32,
    scheme: Scheme,
) -> Result<Vec<String>, OperatorError> {
    let selector: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let pods = Api::<Pod>::namespaced(client.clone(), namespace);
    let list =
        super::deadline(pods.list(&ListParams::default().labels(&selector.join(",")))).await?;
    let mut urls = Vec::new();
    for pod in list.items {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let annotated = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(KUBEADM_CLIENT_URLS))
            .and_then(|urls| urls.split(',').map(str::trim).find(|u| !u.is_empty()));
        if let Some(u) = annotated {
            urls.push(u.to_string());
        } else if let Some(ip) = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref()) {
            urls.push(url(scheme, ip, port));
        }
    }
    urls.sort();
    urls.dedup();
    Ok(urls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_bracket_ipv6_and_names_join_namespace_and_name() {
        assert_eq!(
            url(Scheme::Https, "10.0.0.1", 2379),
            "https://10.0.0.1:2379"
        );
        assert_eq!(url(Scheme::Http, "fd00::1", 2379), "http://[fd00::1]:2379");
        assert_eq!(
            cluster_name("kube-system", "control-plane"),
            "kube-system.control-plane"
        );
    }

    #[test]
    fn secret_files_are_private_and_rewritten_only_when_changed() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = std::env::temp_dir().join(format!("em-k8s-secrets-{}", std::process::id()));
        let dir = tmp.join("ns.c");
        let files = [("ca.crt", b"one".to_vec()), ("password", b"pw".to_vec())];
        assert!(write_private(&dir, &files).unwrap());
        assert!(!write_private(&dir, &files).unwrap());
        assert_eq!(std::fs::read(dir.join("password")).unwrap(), b"pw");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("ca.crt")), 0o600);
        assert!(write_private(&dir, &[("ca.crt", b"two".to_vec())]).unwrap());
        forget_secrets(&tmp, "ns.c");
        assert!(!dir.exists());
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
