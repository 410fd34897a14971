//! kubeadm's etcd: the static pods labelled `component=etcd` in `kube-system`,
//! each with its client URLs in kubeadm's annotation, and the EtcdCluster that
//! declares them (`etcd-monitor k8s kubeadm`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::{Api, Client};

use super::discover::KUBEADM_CLIENT_URLS;
use super::resources::{EtcdCluster, EtcdClusterSpec, PodSelector, Scheme, TlsSecret};
use super::{deadline, OperatorError};

pub const NAMESPACE: &str = "kube-system";
pub const LABEL: (&str, &str) = ("component", "etcd");

/// One of kubeadm's etcd pods.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub pod: String,
    pub node: Option<String>,
    /// From kubeadm's annotation; empty when the pod has none.
    pub client_urls: Vec<String>,
}

/// kubeadm's etcd pods, by name.
pub async fn find(client: &Client) -> Result<Vec<Member>, OperatorError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let list =
        deadline(pods.list(&ListParams::default().labels(&format!("{}={}", LABEL.0, LABEL.1))))
            .await?;
    let mut members: Vec<Member> = list
        .items
        .into_iter()
        .map(|p| Member {
            pod: p.metadata.name.clone().unwrap_or_default(),
            node: p.spec.as_ref().and_then(|s| s.node_name.clone()),
            client_urls: p
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(KUBEADM_CLIENT_URLS))
                .map(|u| {
                    u.split(',')
                        .map(str::trim)
                        .filter(|u| !u.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    members.sort_by(|a, b| a.pod.cmp(&b.pod));
    Ok(members)
}

/// The EtcdCluster for kubeadm's etcd: its pods by label on the client port,
/// over TLS with the client certificate in `tls_secret` (keys `ca.crt`,
/// `tls.crt`, `tls.key`).
pub fn etcd_cluster(name: &str, tls_secret: &str) -> EtcdCluster {
    EtcdCluster {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(NAMESPACE.to_string()),
            ..ObjectMeta::default()
        },
        spec: EtcdClusterSpec {
            pod_selector: Some(PodSelector {
                match_labels: BTreeMap::from([(LABEL.0.to_string(), LABEL.1.to_string())]),
                port: 2379,
                scheme: Scheme::Https,
            }),
            tls: Some(TlsSecret {
                secret_name: tls_secret.to_string(),
                ca_key: Some("ca.crt".into()),
                cert_key: Some("tls.crt".into()),
                key_key: Some("tls.key".into()),
            }),
            tags: vec!["control-plane".into()],
            ..EtcdClusterSpec::default()
        },
        status: None,
    }
}

/// Creates `ec`; refused (409) when one of that name exists.
pub async fn create(client: &Client, ec: &EtcdCluster) -> Result<EtcdCluster, OperatorError> {
    let api: Api<EtcdCluster> = Api::namespaced(client.clone(), NAMESPACE);
    deadline(api.create(&PostParams::default(), ec)).await
}
