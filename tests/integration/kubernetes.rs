//! packaging/kubernetes/: the manifests a user applies, read as Kubernetes reads
//! them. The Deployment runs the image as scripts/image builds it (user 65532,
//! root filesystem read-only, which the image's own test runs), hardened; the
//! ConfigMap's config is one this version accepts; the ports and paths agree.

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
    for doc in &docs {
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
        one(&docs, "ServiceAccount")["automountServiceAccountToken"],
        false
    );

    let deployment = one(&docs, "Deployment");
    assert_eq!(
        deployment["spec"]["replicas"], 1,
        "one process writes the store"
    );
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
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
        one(&docs, "PersistentVolumeClaim")["metadata"]["name"]
    );
    assert!(volume_of("/tmp")["emptyDir"].is_object());
    assert_eq!(
        volume_of("/etc/etcd-monitor/config.toml")["configMap"]["name"],
        one(&docs, "ConfigMap")["metadata"]["name"]
    );

    // The port the config listens on is the container's and the Service's.
    let config = one(&docs, "ConfigMap")["data"]["config.toml"]
        .as_str()
        .unwrap();
    let listen = config
        .lines()
        .find_map(|l| l.strip_prefix("listen = "))
        .expect("the config sets server.listen");
    assert_eq!(listen, "\"0.0.0.0:9393\"");
    assert_eq!(container["ports"][0]["containerPort"], 9393);
    let service = one(&docs, "Service");
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
#[test]
fn the_configmaps_config_is_one_this_version_accepts() {
    let docs = documents(&Path::new(DIR).join("etcd-monitor.yaml"));
    let config = one(&docs, "ConfigMap")["data"]["config.toml"]
        .as_str()
        .unwrap();
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
