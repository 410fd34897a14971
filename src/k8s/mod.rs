//! Kubernetes: the `EtcdCluster` and `EtcdInspection` resources through which a
//! cluster's operators declare what is monitored and read the results with
//! `kubectl` (`resources`), their CustomResourceDefinitions as YAML, and the
//! monitor's own checks of their specs (`spec`), and the statuses it writes
//! into them (`status`).
//!
//! The types are the single source of the CRDs: `etcd-monitor k8s crds` prints
//! what [`crds_yaml`] makes of them, and packaging/kubernetes/crds.yaml is that
//! output (a test keeps the two equal). No client here yet: the operator mode
//! that watches these resources and writes their status is still to come.

pub mod resources;
pub mod spec;
pub mod status;

use kube::CustomResourceExt;

pub use resources::{EtcdCluster, EtcdInspection};

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
