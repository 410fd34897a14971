//! `etcd-monitor k8s kubeadm`: kubeadm's etcd, found and declared.

use std::path::PathBuf;

use anyhow::Context;

use crate::k8s::{kubeadm, KubernetesSettings};

/// Lists kubeadm's etcd pods on standard error, then prints the EtcdCluster
/// for them (or creates it). Exit status 1 when none is found.
pub fn kubeadm(
    name: &str,
    tls_secret: &str,
    create: bool,
    kubeconfig: Option<PathBuf>,
) -> anyhow::Result<u8> {
    if !crate::k8s::settings::is_dns_name(name, 253) {
        anyhow::bail!("--name: {name:?} is not a Kubernetes object name");
    }
    if !crate::k8s::settings::is_dns_name(tls_secret, 253) {
        anyhow::bail!("--tls-secret: {tls_secret:?} is not a Kubernetes object name");
    }
    let settings = KubernetesSettings {
        kubeconfig,
        ..KubernetesSettings::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = crate::k8s::operator::client(&settings).await?;
        let members = kubeadm::find(&client)
            .await
            .context("listing the pods labelled component=etcd in kube-system")?;
        if members.is_empty() {
            eprintln!(
                "no kubeadm etcd found: no pod labelled {}={} in {}",
                kubeadm::LABEL.0,
                kubeadm::LABEL.1,
                kubeadm::NAMESPACE
            );
            return Ok(1);
        }
        eprintln!("kubeadm's etcd: {} member(s)", members.len());
        for m in &members {
            eprintln!(
                "  {} on {}: {}",
                m.pod,
                m.node.as_deref().unwrap_or("(no node)"),
                if m.client_urls.is_empty() {
                    "no client URL annotation (the pod IP is used)".to_string()
                } else {
                    m.client_urls.join(", ")
                }
            );
        }
        let ec = kubeadm::etcd_cluster(name, tls_secret);
        eprintln!(
            "The client certificate goes into a Secret first, on a control-plane node:\n  \
             kubectl -n kube-system create secret generic {tls_secret} \\\n    \
             --from-file=ca.crt=/etc/kubernetes/pki/etcd/ca.crt \\\n    \
             --from-file=tls.crt=/etc/kubernetes/pki/etcd/healthcheck-client.crt \\\n    \
             --from-file=tls.key=/etc/kubernetes/pki/etcd/healthcheck-client.key"
        );
        if create {
            kubeadm::create(&client, &ec)
                .await
                .with_context(|| format!("creating EtcdCluster kube-system/{name}"))?;
            eprintln!("created EtcdCluster kube-system/{name}");
        } else {
            crate::cli::output::out!("{}", serde_saphyr::to_string(&ec)?)?;
        }
        Ok(0)
    })
}
