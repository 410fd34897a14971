//! Operations on a cluster's data, etcdctl-like, over etcd-client: used by the CLI and the web layer.

pub mod browse;
