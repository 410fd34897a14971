//! `EtcdCluster` (a cluster to monitor, and what the monitor saw of it) and
//! `EtcdInspection` (a check run on a cluster at an interval, and its latest
//! result), group `etcd-monitor.io`, version `v1alpha1`.
//!
//! The inspections are kstone's four: `alarm` (alarms raised, per member),
//! `consistency` (the spread of revision, raft index, applied index and key
//! count between members), `healthy` (each member's health) and `request` (key
//! counts under the given prefixes).
//!
//! Integers are `i32` or `i64` because those are the formats (int32, int64) the
//! Kubernetes API knows. Every list, map and string has a bound in the schema,
//! so that the API server refuses an oversized resource before the monitor
//! reads it; the monitor checks again before it acts on a spec (`super::spec`).

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of both resources.
pub const GROUP: &str = "etcd-monitor.io";
/// Their one version so far.
pub const VERSION: &str = "v1alpha1";

/// Bounds of the specs, in the schema and in the monitor's own checks.
pub const MAX_ENDPOINTS: usize = 64;
pub const MAX_TAGS: usize = 32;
pub const MAX_KEY_PREFIXES: usize = crate::check::inspect::MAX_PREFIXES;
pub const MIN_INTERVAL_SECONDS: i32 = 10;
pub const MAX_INTERVAL_SECONDS: i32 = 86_400;
pub const DEFAULT_INTERVAL_SECONDS: i32 = 300;
pub const MAX_PROBE_INTERVAL_SECONDS: i32 = 3600;
pub const MAX_PROBE_TIMEOUT_SECONDS: i32 = 300;

/// A cluster to monitor: where its members are (endpoints, a Service, or pods
/// found by label), how to authenticate, and how to label it.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "etcd-monitor.io",
    version = "v1alpha1",
    kind = "EtcdCluster",
    doc = "An etcd cluster that etcd-monitor probes, and what its latest probe saw.",
    plural = "etcdclusters",
    shortname = "ec",
    category = "etcd-monitor",
    namespaced,
    status = "EtcdClusterStatus",
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.phase","description":"Healthy, Degraded or Unavailable"}"#,
    printcolumn = r#"{"name":"Leader","type":"string","jsonPath":".status.leader"}"#,
    printcolumn = r#"{"name":"Members","type":"string","jsonPath":".status.membersReady","description":"members up of members listed"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.version"}"#,
    printcolumn = r#"{"name":"DB","type":"string","jsonPath":".status.dbSize","priority":1,"description":"largest member DB size of the quota"}"#,
    printcolumn = r#"{"name":"Last probe","type":"date","jsonPath":".status.lastProbeTime","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("oneOf" = [
    {"required": ["endpoints"]},
    {"required": ["service"]},
    {"required": ["podSelector"]}
]))]
pub struct EtcdClusterSpec {
    /// Client URLs of the members (`https://10.0.0.1:2379`). One of endpoints,
    /// service and podSelector.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1, max = 64), inner(length(min = 1, max = 2048)))]
    pub endpoints: Vec<String>,
    /// A Service in the resource's namespace whose endpoints are the members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceRef>,
    /// Pods in the resource's namespace, by label, that are the members
    /// (kubeadm's static pods: `component: etcd` in kube-system).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<PodSelector>,
    /// The members' `/metrics` URLs when they are not on the client URLs
    /// (etcd's `--listen-metrics-urls`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 2048)))]
    pub metrics_urls: Vec<String>,
    /// Labels for the dashboard's filters (`prod`, `eu-west-1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 63)))]
    pub tags: Vec<String>,
    /// Client TLS from a Secret in the resource's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSecret>,
    /// etcd's user authentication, the password from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSecret>,
    /// Scheduled benchmarks may load this cluster (never by default).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_benchmark: bool,
    /// The key browser may show values. Off unless set: an etcd under
    /// Kubernetes holds the cluster's Secrets.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub browse_values: bool,
    /// How this cluster is probed; unset: the monitor's `[collect]` settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeSettings>,
}

/// A cluster's own probe interval and request deadline.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeSettings {
    /// Seconds between probes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3600))]
    pub interval_seconds: Option<i32>,
    /// Seconds one request to a member may take (at most the interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 300))]
    pub timeout_seconds: Option<i32>,
}

/// A Service whose endpoints are the members' client URLs.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRef {
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// The client port's number.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    #[serde(default)]
    pub scheme: Scheme,
}

/// Pods by label, each a member, reached on the pod IP.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSelector {
    #[schemars(extend("minProperties" = 1, "maxProperties" = 16))]
    pub match_labels: BTreeMap<String, String>,
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    #[serde(default)]
    pub scheme: Scheme,
}

/// How the members' client URLs begin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    #[default]
    Https,
    Http,
}

/// Client TLS material in one Secret (kubeadm's layout by default: `ca.crt`,
/// `tls.crt`, `tls.key`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TlsSecret {
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
    /// The CA bundle's key; none: the system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub ca_key: Option<String>,
    /// The client certificate's key; none: no client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub cert_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub key_key: Option<String>,
}

/// etcd's user and the Secret key that holds the password.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthSecret {
    #[schemars(length(min = 1, max = 256))]
    pub user: String,
    pub password_secret: SecretKeyRef,
}

/// One key of a Secret in the resource's namespace.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// What the monitor saw at its latest probe.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EtcdClusterStatus {
    /// `Healthy`, `Degraded` or `Unavailable` (the printer column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Ready (the monitor probes it), Healthy (every member up, a leader, no
    /// alarm) and Degraded (something is wrong, the reason says what).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub conditions: Vec<Condition>,
    /// The leader's member name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// `up/listed`, e.g. `2/3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members_ready: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub members: Vec<MemberStatus>,
    /// The lowest server version among the members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The largest member DB of the quota, e.g. `12.5 MiB / 2 GiB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_size_bytes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_bytes: Option<i64>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<String>,
    /// The cluster's page on the monitor's dashboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One member as the latest probe saw it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    pub name: String,
    /// The member ID in hex, as etcdctl prints it.
    pub id: String,
    pub endpoint: String,
    /// `up` (healthy), `unhealthy` (answers, but its health check fails) or
    /// `down` (does not answer).
    pub state: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub leader: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_size_bytes: Option<i64>,
    /// Why it is down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A condition as Kubernetes' own objects have them (metav1.Condition).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Healthy` or `Degraded`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase, e.g. `MemberUnreachable`, `NoLeader`, `AlarmRaised`.
    pub reason: String,
    pub message: String,
    /// RFC 3339: when `status` last changed.
    pub last_transition_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// A check run on an EtcdCluster of the same namespace at an interval.
#[derive(CustomResource, Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "etcd-monitor.io",
    version = "v1alpha1",
    kind = "EtcdInspection",
    doc = "A check that etcd-monitor runs on an EtcdCluster at an interval, and its latest result.",
    plural = "etcdinspections",
    shortname = "ei",
    category = "etcd-monitor",
    namespaced,
    status = "EtcdInspectionStatus",
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".spec.cluster"}"#,
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.type"}"#,
    printcolumn = r#"{"name":"Passed","type":"boolean","jsonPath":".status.passed"}"#,
    printcolumn = r#"{"name":"Summary","type":"string","jsonPath":".status.summary","priority":1}"#,
    printcolumn = r#"{"name":"Last run","type":"date","jsonPath":".status.lastRunTime"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct EtcdInspectionSpec {
    /// The EtcdCluster's name.
    #[schemars(length(min = 1, max = 253))]
    pub cluster: String,
    #[serde(rename = "type")]
    pub kind: InspectionKind,
    /// Seconds between runs.
    #[serde(default = "default_interval_seconds")]
    #[schemars(range(min = 10, max = 86400))]
    pub interval_seconds: i32,
    /// `request`: the key prefixes whose keys are counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 1024)))]
    pub key_prefixes: Vec<String>,
    /// `consistency`: the largest spread between members that passes (revision,
    /// raft index, applied index, key count); 0 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1_000_000_000))]
    pub max_spread: Option<i64>,
}

fn default_interval_seconds() -> i32 {
    DEFAULT_INTERVAL_SECONDS
}

/// kstone's four inspections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum InspectionKind {
    /// Alarms raised, per member (NOSPACE, CORRUPT).
    Alarm,
    /// The spread of revision, raft index, applied index and key count.
    Consistency,
    /// Each member's health.
    Healthy,
    /// Key counts under the spec's prefixes.
    Request,
}

/// The latest run's result.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EtcdInspectionStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
    /// One line, e.g. `NOSPACE on 1 of 3 members`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_time: Option<String>,
    /// Per member (or per prefix for `request`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub results: Vec<InspectionResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// What one run found about one member or prefix.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InspectionResult {
    /// The member's name, or the prefix.
    pub subject: String,
    pub passed: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The figures, e.g. `revision`, `raftIndex`, `keys`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, i64>,
}

#[cfg(test)]
mod tests {
    use kube::CustomResourceExt;
    use serde_json::{json, Value};

    use super::*;

    fn schema_of<K: CustomResourceExt>() -> Value {
        let crd = serde_json::to_value(K::crd()).unwrap();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
    }

    #[test]
    fn the_crds_name_group_version_and_status_subresource() {
        for (crd, plural, kind) in [
            (EtcdCluster::crd(), "etcdclusters", "EtcdCluster"),
            (EtcdInspection::crd(), "etcdinspections", "EtcdInspection"),
        ] {
            let crd = serde_json::to_value(crd).unwrap();
            assert_eq!(crd["metadata"]["name"], format!("{plural}.{GROUP}"));
            assert_eq!(crd["spec"]["group"], GROUP);
            assert_eq!(crd["spec"]["names"]["kind"], kind);
            assert_eq!(crd["spec"]["scope"], "Namespaced");
            let version = &crd["spec"]["versions"][0];
            assert_eq!(version["name"], VERSION);
            assert_eq!(version["subresources"]["status"], json!({}));
        }
    }

    #[test]
    fn the_printer_columns_are_status_leader_members_version_and_age() {
        let crd = serde_json::to_value(EtcdCluster::crd()).unwrap();
        let columns = crd["spec"]["versions"][0]["additionalPrinterColumns"]
            .as_array()
            .unwrap();
        let narrow: Vec<&str> = columns
            .iter()
            .filter(|c| c.get("priority").is_none())
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(narrow, ["Status", "Leader", "Members", "Version", "Age"]);
    }

    #[test]
    fn the_schema_bounds_every_list_and_the_interval() {
        let cluster = schema_of::<EtcdCluster>();
        let spec = &cluster["properties"]["spec"];
        assert_eq!(
            spec["properties"]["endpoints"]["maxItems"],
            MAX_ENDPOINTS as u64
        );
        assert_eq!(spec["properties"]["tags"]["maxItems"], MAX_TAGS as u64);
        assert_eq!(spec["oneOf"].as_array().unwrap().len(), 3);
        let labels = &spec["properties"]["podSelector"]["properties"]["matchLabels"];
        assert_eq!(labels["maxProperties"], 16);
        assert_eq!(
            spec["properties"]["service"]["properties"]["port"]["format"],
            "int32"
        );
        let inspection = schema_of::<EtcdInspection>();
        let spec = &inspection["properties"]["spec"]["properties"];
        assert_eq!(
            spec["intervalSeconds"]["minimum"].as_f64(),
            Some(MIN_INTERVAL_SECONDS as f64)
        );
        assert_eq!(
            spec["intervalSeconds"]["maximum"].as_f64(),
            Some(MAX_INTERVAL_SECONDS as f64)
        );
        assert_eq!(spec["keyPrefixes"]["maxItems"], MAX_KEY_PREFIXES as u64);
        assert_eq!(
            spec["type"]["enum"],
            json!(["alarm", "consistency", "healthy", "request"])
        );
    }

    #[test]
    fn a_spec_reads_from_the_yaml_a_user_writes() {
        let yaml = "apiVersion: etcd-monitor.io/v1alpha1\nkind: EtcdInspection\nmetadata:\n  name: keys\n  namespace: etcd\nspec:\n  cluster: main\n  type: request\n  keyPrefixes: [/registry/pods/, /registry/secrets/]\n";
        let inspection: EtcdInspection = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(inspection.spec.kind, InspectionKind::Request);
        assert_eq!(inspection.spec.interval_seconds, DEFAULT_INTERVAL_SECONDS);
        assert_eq!(inspection.spec.key_prefixes.len(), 2);
        let bad = yaml.replace("type: request", "type: requests");
        assert!(serde_saphyr::from_str::<EtcdInspection>(&bad).is_err());
    }
}
