//! Kubernetes: the `EtcdCluster` and `EtcdInspection` resources through which a
//! cluster's operators declare what is monitored and read the results with
//! `kubectl` (`resources`), their CustomResourceDefinitions as YAML, and the
//! monitor's own checks of their specs (`spec`), and the statuses it writes
//! into them (`status`).
//!
//! The types are the single source of the CRDs: `etcd-monitor k8s crds` prints
//! what [`crds_yaml`] makes of them, and packaging/kubernetes/crds.yaml is that
//! output (a test keeps the two equal).
//!
//! The operator mode (`[kubernetes] enabled`, in `serve`) watches the resources
//! (`operator`), finds the members and reads the Secrets they name
//! (`discover`), and writes status, Events and inspection results while it
//! holds a Lease (`lease`).

pub mod discover;
pub mod kubeadm;
pub mod lease;
pub mod operator;
pub mod resources;
pub mod settings;
pub mod spec;
pub mod status;

use std::future::Future;
use std::time::Duration;

use kube::CustomResourceExt;

pub use resources::{EtcdCluster, EtcdInspection};
pub use settings::KubernetesSettings;

/// Every call to the Kubernetes API but a watch ends within this.
pub const CALL_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("no answer from the Kubernetes API within {0:?}")]
    Timeout(Duration),
    #[error("kubeconfig: {0}")]
    Config(String),
    #[error("{0}")]
    Secret(String),
    #[error("{0}")]
    NoMembers(String),
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    #[error(transparent)]
    Fleet(#[from] crate::fleet::FleetError),
}

/// `call` within [`CALL_DEADLINE`].
pub async fn deadline<T>(
    call: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, OperatorError> {
    match tokio::time::timeout(CALL_DEADLINE, call).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(OperatorError::Timeout(CALL_DEADLINE)),
    }
}

/// [`deadline`] for callers that keep kube's error: a timeout is a
/// `kube::Error::Service` naming it.
pub async fn deadline_kube<T>(
    call: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, kube::Error> {
    match tokio::time::timeout(CALL_DEADLINE, call).await {
        Ok(r) => r,
        Err(_) => Err(kube::Error::Service(
            format!("no answer within {CALL_DEADLINE:?}").into(),
        )),
    }
}

/// Both CRDs as one YAML stream, `---` between them, in a fixed order.
pub fn crds_yaml() -> Result<String, serde_saphyr::ser::Error> {
    let mut out =
        String::from("# The CRDs of etcd-monitor's resources, made by `etcd-monitor k8s crds`.\n");
    for crd in [EtcdCluster::crd(), EtcdInspection::crd()] {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&crd)?);
    }
    Ok(out)
}
