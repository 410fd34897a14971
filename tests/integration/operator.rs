//! The operator mode against the Kubernetes API stand-in
//! (tests/support/kube_apiserver.py) and real etcd clusters: resources applied
//! with the real kubectl, statuses and Events written by `etcd-monitor serve`
//! with `[kubernetes] enabled`, read back with kubectl; the Lease between two
//! replicas; a watch that loses its resourceVersion.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use etcd_monitor::localetcd::LocalClusterOptions;
use serde_json::{json, Value};

use crate::harness::{start_cluster, wait_for};
use crate::process::{sigterm, wait_exit, KillOnDrop};

const BIN: &str = env!("CARGO_BIN_EXE_etcd-monitor");
const NS: &str = "etcd";
const CRDS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/packaging/kubernetes/crds.yaml"
);

/// The API stand-in on a free loopback port, and a kubeconfig for it per user.
pub struct KubeApi {
    _child: KillOnDrop,
    pub base: String,
    pub dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl KubeApi {
    pub async fn start() -> KubeApi {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let log = std::fs::File::create(dir.path().join("apiserver.log")).unwrap();
        let child = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/kube_apiserver.py"
            ))
            .args(["--port", "0", "--namespace", NS, "--port-file"])
            .arg(&port_file)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("python3 runs the API stand-in");
        let port = wait_for("the API stand-in's port", Duration::from_secs(20), || {
            let port_file = port_file.clone();
            async move {
                std::fs::read_to_string(&port_file)
                    .ok()
                    .and_then(|p| p.trim().parse::<u16>().ok())
                    .ok_or_else(|| "not yet".to_string())
            }
        })
        .await;
        let api = KubeApi {
            _child: KillOnDrop(child),
            base: format!("http://127.0.0.1:{port}"),
            dir,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        };
        for user in ["admin", "replica-a", "replica-b"] {
            std::fs::write(api.kubeconfig(user), api.kubeconfig_text(user)).unwrap();
        }
        api
    }

    fn kubeconfig_text(&self, user: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: stand-in\n  cluster:\n    server: {}\n\
             users:\n- name: {user}\n  user:\n    token: {user}-token\n\
             contexts:\n- name: {user}\n  context:\n    cluster: stand-in\n    user: {user}\n    namespace: {NS}\n\
             current-context: {user}\n",
            self.base
        )
    }

    pub fn kubeconfig(&self, user: &str) -> PathBuf {
        self.dir.path().join(format!("{user}.kubeconfig"))
    }

    /// Runs the real kubectl as the admin user.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(std::env::var("KUBECTL_BIN").unwrap_or_else(|_| "kubectl".into()))
            .env("KUBECONFIG", self.kubeconfig("admin"))
            // kubectl's discovery cache, per server (ports are reused).
            .env("HOME", self.dir.path())
            .env("KUBECACHEDIR", self.dir.path().join("kube-cache"))
            .args(args)
            .output()
            .expect("kubectl (scripts/test installs kubernetes-client)")
    }

    /// kubectl, which must succeed; its standard output.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `kubectl apply -f -` of `object`.
    pub fn apply(&self, object: &Value) -> String {
        let file = self.dir.path().join("apply.json");
        std::fs::write(&file, serde_json::to_vec_pretty(object).unwrap()).unwrap();
        self.kubectl_ok(&["apply", "-f", file.to_str().unwrap()])
    }

    pub async fn get(&self, path: &str) -> Result<Value, String> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let body: Value = r.json().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(format!("{status}: {body}"))
        }
    }

    pub async fn post(&self, path: &str) -> Value {
        self.http
            .post(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("apiserver.log")).unwrap_or_default()
    }
}

fn cluster_path(name: &str) -> String {
    format!("/apis/etcd-monitor.io/v1alpha1/namespaces/{NS}/etcdclusters/{name}")
}

pub(crate) fn etcd_cluster(name: &str, endpoints: &[String], tags: &[&str]) -> Value {
    json!({
        "apiVersion": "etcd-monitor.io/v1alpha1",
        "kind": "EtcdCluster",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"endpoints": endpoints, "tags": tags},
    })
}

/// An EtcdInspection of the test namespace.
pub(crate) fn etcd_inspection(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "etcd-monitor.io/v1alpha1",
        "kind": "EtcdInspection",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    })
}

/// Waits until `check` holds of the EtcdInspection's status; the status then.
pub(crate) async fn wait_inspection(
    api: &KubeApi,
    name: &str,
    what: &str,
    within: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    wait_for(what, within, || async {
        let ei = api
            .get(&format!(
                "/apis/etcd-monitor.io/v1alpha1/namespaces/{NS}/etcdinspections/{name}"
            ))
            .await?;
        if check(&ei["status"]) {
            Ok(ei["status"].clone())
        } else {
            Err(ei["status"].to_string())
        }
    })
    .await
}

/// An `etcd-monitor serve` with `[kubernetes]` enabled, as `user`.
pub(crate) struct Replica {
    child: KillOnDrop,
    base: String,
    log: PathBuf,
    _data: tempfile::TempDir,
}

impl Replica {
    pub(crate) fn start(api: &KubeApi, user: &str, lease_duration: &str) -> Replica {
        Replica::start_in(api, user, lease_duration, Some(NS))
    }

    /// Watching `namespace`, or all namespaces.
    fn start_in(
        api: &KubeApi,
        user: &str,
        lease_duration: &str,
        namespace: Option<&str>,
    ) -> Replica {
        let data = tempfile::tempdir().unwrap();
        let port = etcd_monitor::localetcd::free_port().unwrap();
        let config = data.path().join("etcd-monitor.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\n[collect]\ninterval = \"1s\"\n\
                 [store]\ndata_dir = \"{}\"\n[alerting]\nexternal_url = \"http://monitor.example\"\n\
                 [kubernetes]\nenabled = true\n{}kubeconfig = \"{}\"\nlease_namespace = \"{NS}\"\n\
                 lease_duration = \"{lease_duration}\"\nidentity = \"{user}\"\ndiscovery_interval = \"5s\"\n",
                data.path().join("data").display(),
                namespace
                    .map(|ns| format!("namespace = \"{ns}\"\n"))
                    .unwrap_or_default(),
                api.kubeconfig(user).display()
            ),
        )
        .unwrap();
        let log = data.path().join("serve.log");
        let child = Command::new(BIN)
            .args(["serve", "-c"])
            .arg(&config)
            .env_remove("ETCD_MONITOR_CONFIG")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Replica {
            child: KillOnDrop(child),
            base: format!("http://127.0.0.1:{port}"),
            log,
            _data: data,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Waits until the Lease names `holder`; how long that took.
async fn wait_holder(api: &KubeApi, holder: &str, within: Duration) -> Duration {
    let started = Instant::now();
    wait_for(&format!("the Lease held by {holder}"), within, || async {
        let lease = api
            .get(&format!(
                "/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/etcd-monitor"
            ))
            .await?;
        match lease["spec"]["holderIdentity"].as_str() {
            Some(h) if h == holder => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    started.elapsed()
}

/// Waits until `check` holds of the EtcdCluster's status; the resource then.
async fn wait_status(
    api: &KubeApi,
    name: &str,
    what: &str,
    within: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    wait_for(what, within, || async {
        let ec = api.get(&cluster_path(name)).await?;
        if check(&ec["status"]) {
            Ok(ec)
        } else {
            Err(ec["status"].to_string())
        }
    })
    .await
}

fn condition<'a>(status: &'a Value, kind: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

fn is_true(status: &Value, kind: &str) -> bool {
    condition(status, kind)["status"] == "True"
}

pub(crate) fn crds_applied(api: &KubeApi) {
    let out = api.kubectl_ok(&["apply", "-f", CRDS]);
    assert!(
        out.contains("etcdclusters.etcd-monitor.io created"),
        "{out}\n{}",
        api.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applied_etcdcluster_turns_ready_and_healthy_then_degraded_with_the_leader_killed() {
    let api = KubeApi::start().await;
    crds_applied(&api);
    let mut cluster = start_cluster(3, LocalClusterOptions::default()).await;
    let replica = Replica::start(&api, "replica-a", "4s");
    wait_holder(&api, "replica-a", Duration::from_secs(30)).await;

    let applied = Instant::now();
    let out = api.apply(&etcd_cluster("main", &cluster.client_urls(), &["prod"]));
    assert!(
        out.contains("etcdcluster.etcd-monitor.io/main created"),
        "{out}"
    );
    let ec = wait_status(
        &api,
        "main",
        "main Ready and Healthy with a leader",
        Duration::from_secs(20),
        |s| is_true(s, "Ready") && is_true(s, "Healthy") && s["leader"].is_string(),
    )
    .await;
    let took = applied.elapsed();
    eprintln!("Ready and Healthy {took:?} after kubectl apply (probe interval 1 s)");
    let status = &ec["status"];
    assert_eq!(status["phase"], "Healthy");
    assert_eq!(status["membersReady"], "3/3");
    assert_eq!(condition(status, "Degraded")["status"], "False");
    assert_eq!(
        status["dashboardUrl"],
        "http://monitor.example/clusters/etcd.main"
    );
    assert_eq!(status["members"].as_array().unwrap().len(), 3);
    let leader = status["leader"].as_str().unwrap().to_string();
    let version = status["version"].as_str().unwrap().to_string();

    // A resource the CRD's schema refuses, as an API server would: the field named.
    let file = api.dir.path().join("invalid.json");
    let mut invalid = etcd_cluster("invalid", &cluster.client_urls(), &[]);
    invalid["spec"]["service"] = json!({"name": "etcd", "port": 70000});
    std::fs::write(&file, invalid.to_string()).unwrap();
    let refused = api.kubectl(&["apply", "-f", file.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(said.contains("spec.service.port"), "{said}");

    // kubectl's printer columns, from the CRD, as the user sees them.
    let table = api.kubectl_ok(&["get", "etcdclusters"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "STATUS", "LEADER", "MEMBERS", "VERSION", "AGE"]
    );
    let row = table.lines().nth(1).unwrap();
    for cell in ["main", "Healthy", &leader, "3/3", &version] {
        assert!(row.contains(cell), "{cell} in {table}");
    }
    let wide = api.kubectl_ok(&["get", "ec", "-o", "wide"]);
    assert!(
        wide.lines().next().unwrap().contains("LAST PROBE"),
        "{wide}"
    );
    assert!(wide.contains("MiB") || wide.contains("KiB"), "{wide}");

    // The inspections, each on the real cluster, their results against etcdctl's.
    let urls = cluster.client_urls();
    let mut client = etcd_client::Client::connect(urls.clone(), None)
        .await
        .unwrap();
    for (prefix, n) in [("/a/", 3), ("/b/", 5)] {
        for i in 0..n {
            client.put(format!("{prefix}{i}"), "v", None).await.unwrap();
        }
    }
    for (name, spec) in [
        (
            "keys",
            json!({"cluster": "main", "type": "request", "keyPrefixes": ["/a/", "/b/"], "intervalSeconds": 10}),
        ),
        (
            "health",
            json!({"cluster": "main", "type": "healthy", "intervalSeconds": 10}),
        ),
        ("alarms", json!({"cluster": "main", "type": "alarm"})),
        ("nowhere", json!({"cluster": "missing", "type": "healthy"})),
    ] {
        api.apply(&json!({
            "apiVersion": "etcd-monitor.io/v1alpha1",
            "kind": "EtcdInspection",
            "metadata": {"name": name, "namespace": NS},
            "spec": spec,
        }));
    }
    let inspection = |name: &'static str| {
        let api = &api;
        async move {
            wait_for(
                &format!("inspection {name} run"),
                Duration::from_secs(30),
                || async {
                    let ei = api
                        .get(&format!(
                            "/apis/etcd-monitor.io/v1alpha1/namespaces/{NS}/etcdinspections/{name}"
                        ))
                        .await?;
                    if ei["status"]["lastRunTime"].is_string() {
                        Ok(ei["status"].clone())
                    } else {
                        Err(ei.to_string())
                    }
                },
            )
            .await
        }
    };
    let keys = inspection("keys").await;
    assert_eq!(keys["passed"], true, "{keys}");
    let all = format!("--endpoints={}", urls.join(","));
    let results = keys["results"].as_array().unwrap();
    for prefix in ["/a/", "/b/"] {
        let counted = crate::checks::etcdctl_count(&[&all, prefix, "--prefix"]);
        let r = results.iter().find(|r| r["subject"] == prefix).unwrap();
        assert_eq!(r["values"]["keys"], counted, "{keys}");
    }
    let health = inspection("health").await;
    assert_eq!(health["passed"], true, "{health}");
    assert_eq!(health["summary"], "3 of 3 members healthy");
    let alarms = inspection("alarms").await;
    assert_eq!(alarms["passed"], true, "{alarms}");
    let nowhere = inspection("nowhere").await;
    assert_eq!(nowhere["passed"], false);
    assert!(
        nowhere["summary"]
            .as_str()
            .unwrap()
            .contains("\"missing\" is not monitored"),
        "{nowhere}"
    );
    let listed = api.kubectl_ok(&["get", "etcdinspections"]);
    assert!(
        listed.lines().next().unwrap().contains("PASSED"),
        "{listed}"
    );

    // The leader killed: Degraded, with the reason; then back.
    let leader_endpoint = status["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["leader"] == true)
        .and_then(|m| m["endpoint"].as_str())
        .expect("the leader among the members")
        .to_string();
    let index = cluster
        .client_urls()
        .iter()
        .position(|u| *u == leader_endpoint)
        .expect("the leader's endpoint is one of the cluster's");
    cluster.local.kill(index).unwrap();
    let degraded = wait_status(
        &api,
        "main",
        "main Degraded",
        Duration::from_secs(20),
        |s| s["phase"] == "Degraded" && is_true(s, "Degraded"),
    )
    .await;
    let reason = condition(&degraded["status"], "Degraded")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(reason, "MemberUnreachable", "{}", degraded["status"]);
    assert!(!is_true(&degraded["status"], "Healthy"));
    // Right after the kill the followers still name the old leader; a new
    // one is elected within etcd's election timeout.
    wait_status(
        &api,
        "main",
        "main Degraded with a new leader",
        Duration::from_secs(20),
        |s| s["phase"] == "Degraded" && s["leader"].is_string() && s["leader"] != leader.as_str(),
    )
    .await;
    // The healthy inspection's next run (every 10 s) sees the member down,
    // the one etcdctl finds unhealthy.
    let health = wait_inspection(
        &api,
        "health",
        "inspection health failing",
        Duration::from_secs(30),
        |s| s["passed"] == false && s["summary"] == "2 of 3 members healthy",
    )
    .await;
    let (_, answered) = crate::checks::etcdctl(&[
        &format!("--endpoints={leader_endpoint}"),
        "endpoint",
        "health",
    ]);
    assert!(!answered, "etcdctl calls the killed member healthy");
    let failed: Vec<&str> = health["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["passed"] == false)
        .map(|r| r["subject"].as_str().unwrap())
        .collect();
    assert_eq!(failed, [leader.as_str()], "{health}");
    cluster.local.restart(index).unwrap();
    cluster
        .local
        .wait_healthy(index, Duration::from_secs(30))
        .await
        .unwrap();
    wait_status(
        &api,
        "main",
        "main Healthy again",
        Duration::from_secs(20),
        |s| s["phase"] == "Healthy" && is_true(s, "Healthy") && !is_true(s, "Degraded"),
    )
    .await;

    // The Events, as kubectl describe lists them.
    let described = api.kubectl_ok(&["describe", "etcdcluster", "main"]);
    let health_described = api.kubectl_ok(&["describe", "etcdinspection", "health"]);
    assert!(
        health_described.contains("InspectionFailed"),
        "{health_described}"
    );
    for want in [
        "Warning  MemberUnreachable",
        "Normal   Healthy",
        "Normal   LeaderChanged",
    ] {
        assert!(
            described
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .contains(&want.split_whitespace().collect::<Vec<_>>().join(" ")),
            "{want} in\n{described}"
        );
    }

    // Deleted: no longer monitored, its history kept.
    api.kubectl_ok(&["delete", "etcdcluster", "main"]);
    let http = reqwest::Client::new();
    wait_for(
        "etcd.main no longer monitored",
        Duration::from_secs(20),
        || async {
            let v = crate::harness::get_json(&http, &format!("{}/api/v1/clusters", replica.base))
                .await?;
            let names: Vec<&str> = v["clusters"]
                .as_array()
                .map(|a| a.iter().filter_map(|c| c["name"].as_str()).collect())
                .unwrap_or_default();
            if names.contains(&"etcd.main") {
                Err(format!("{names:?}"))
            } else {
                Ok(())
            }
        },
    )
    .await;
    let mut child = replica;
    sigterm(&child.child.0);
    let status = wait_exit(&mut child.child.0, "serve", Duration::from_secs(30)).await;
    assert!(status.success(), "{}", child.log());
    let log = child.log();
    assert!(!log.contains("replica-a-token"), "no token in the log");
}

/// Status writes per bearer token, as the stand-in counted them.
async fn status_writes(api: &KubeApi, token: &str) -> u64 {
    let stats = api.get("/_test/stats").await.unwrap();
    stats["status_writes_by_token"][token].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_replicas_only_the_lease_holder_writes_and_a_killed_holder_hands_over() {
    let api = KubeApi::start().await;
    crds_applied(&api);
    let cluster = start_cluster(1, LocalClusterOptions::default()).await;
    api.apply(&etcd_cluster("one", &cluster.client_urls(), &[]));
    let lease = Duration::from_secs(4);
    let mut a = Replica::start(&api, "replica-a", "4s");
    wait_holder(&api, "replica-a", Duration::from_secs(30)).await;
    let b = Replica::start(&api, "replica-b", "4s");
    let healthy = |s: &Value| s["phase"] == "Healthy";
    wait_status(&api, "one", "one Healthy", Duration::from_secs(20), healthy).await;
    // Both probe (b's API lists it), but only a writes.
    let http = reqwest::Client::new();
    wait_for(
        "b monitors etcd.one too",
        Duration::from_secs(20),
        || async {
            let v =
                crate::harness::get_json(&http, &format!("{}/api/v1/clusters/etcd.one", b.base))
                    .await?;
            if v["status"] == "healthy" {
                Ok(())
            } else {
                Err(v.to_string())
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let by_a = status_writes(&api, "replica-a-token").await;
    assert!(by_a >= 3, "a wrote {by_a} statuses");
    assert_eq!(
        status_writes(&api, "replica-b-token").await,
        0,
        "b wrote status"
    );

    // a killed (no release): b takes the Lease once a's record is a lease
    // duration old, and goes on writing.
    let before = api.get(&cluster_path("one")).await.unwrap()["status"]["lastProbeTime"].clone();
    a.child.0.kill().unwrap();
    let killed = Instant::now();
    wait_holder(&api, "replica-b", Duration::from_secs(20)).await;
    let handover = killed.elapsed();
    eprintln!("handover {handover:?} after the holder was killed (lease duration {lease:?})");
    // Within the duration, plus b's retry period (a fifth) and the test's polling.
    assert!(
        handover <= lease + lease / 5 + Duration::from_millis(500),
        "{handover:?}"
    );
    wait_for("b writes status", Duration::from_secs(10), || async {
        let n = status_writes(&api, "replica-b-token").await;
        let now = api.get(&cluster_path("one")).await?["status"]["lastProbeTime"].clone();
        if n > 0 && now != before {
            Ok(())
        } else {
            Err(format!("{n} writes, lastProbeTime {now}"))
        }
    })
    .await;
    let lease_obj = api
        .get(&format!(
            "/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/etcd-monitor"
        ))
        .await
        .unwrap();
    assert_eq!(lease_obj["spec"]["leaseTransitions"], 1, "{lease_obj}");
    assert!(b.log().contains("leading"), "{}", b.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_that_loses_its_resource_version_relists_and_misses_no_change() {
    let api = KubeApi::start().await;
    crds_applied(&api);
    let cluster = start_cluster(1, LocalClusterOptions::default()).await;
    let urls = cluster.client_urls();
    api.apply(&etcd_cluster("one", &urls, &["before"]));
    api.apply(&etcd_cluster("two", &urls, &[]));
    let replica = Replica::start(&api, "replica-a", "4s");
    let http = reqwest::Client::new();
    let monitored = || async {
        let v =
            crate::harness::get_json(&http, &format!("{}/api/v1/clusters", replica.base)).await?;
        let mut out: Vec<(String, String)> = v["clusters"]
            .as_array()
            .ok_or("no clusters")?
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or("").to_string(),
                    c["tags"].to_string(),
                )
            })
            .collect();
        out.sort();
        Ok::<_, String>(out)
    };
    let wait_monitored = |want: Vec<(&'static str, &'static str)>| {
        let monitored = &monitored;
        async move {
            wait_for(
                &format!("monitored {want:?}"),
                Duration::from_secs(20),
                || async {
                    let got = monitored().await?;
                    let want: Vec<(String, String)> = want
                        .iter()
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                        .collect();
                    if got == want {
                        Ok(())
                    } else {
                        Err(format!("{got:?}"))
                    }
                },
            )
            .await
        }
    };
    wait_monitored(vec![("etcd.one", r#"["before"]"#), ("etcd.two", "[]")]).await;
    let stats = api.get("/_test/stats").await.unwrap();
    let lists_before = stats["lists"]["etcdclusters"].as_u64().unwrap_or(0);

    // The history is compacted and watches held back: three changes happen
    // while the monitor cannot watch, and its resourceVersion is then expired.
    api.post("/_test/compact").await;
    api.apply(&etcd_cluster("one", &urls, &["after"]));
    api.kubectl_ok(&["delete", "etcdcluster", "two"]);
    let mut three = etcd_cluster("three", &urls, &[]);
    three["spec"]["probe"] = json!({"intervalSeconds": 3, "timeoutSeconds": 2});
    api.apply(&three);
    api.post("/_test/release").await;
    wait_monitored(vec![("etcd.one", r#"["after"]"#), ("etcd.three", "[]")]).await;
    let stats = api.get("/_test/stats").await.unwrap();
    assert!(stats["expired_410"].as_u64().unwrap_or(0) >= 1, "{stats}");
    assert!(
        stats["lists"]["etcdclusters"].as_u64().unwrap_or(0) > lists_before,
        "relisted: {stats}"
    );
    assert!(replica.log().contains("etcd.two"), "{}", replica.log());

    // Declared by a resource: shown so on the dashboard, not changed there.
    let page = http
        .get(format!("{}/admin/clusters", replica.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"data-cluster="etcd.one" data-source="kubernetes""#),
        "{page}"
    );
    assert!(page.contains("an EtcdCluster resource: kubectl"), "{page}");
    let refused = http
        .delete(format!("{}/api/v1/clusters/etcd.one", replica.base))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("declared by an EtcdCluster resource"));

    // three's own probe interval (3 s) against the monitor's (1 s).
    let probes = || async {
        let text = http
            .get(format!("{}/metrics", replica.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let count = |cluster: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with("etcd_monitor_probes_total{")
                        && l.contains(&format!("cluster=\"{cluster}\""))
                })
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("{cluster} in {text}"))
        };
        (count("etcd.one"), count("etcd.three"))
    };
    let before = probes().await;
    tokio::time::sleep(Duration::from_secs(9)).await;
    let after = probes().await;
    let (one, three) = (after.0 - before.0, after.1 - before.1);
    assert!(
        (7.0..=11.0).contains(&one),
        "etcd.one probed {one} times in 9 s"
    );
    assert!(
        (2.0..=4.0).contains(&three),
        "etcd.three probed {three} times in 9 s"
    );
}

/// The (verb, group, resource) triples a replica's token used, as the stand-in saw them.
async fn verbs_used(
    api: &KubeApi,
    token: &str,
) -> std::collections::BTreeSet<(String, String, String)> {
    let stats = api.get("/_test/stats").await.unwrap();
    stats["verbs_by_token"][token]
        .as_object()
        .map(|o| {
            o.keys()
                .map(|k| {
                    let mut p = k.splitn(3, ' ');
                    let verb = p.next().unwrap_or("").to_string();
                    let group = p.next().unwrap_or("").to_string();
                    let resource = p.next().unwrap_or("").to_string();
                    (group, resource, verb)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_and_credentials_come_from_pods_endpointslices_and_secrets() {
    let api = KubeApi::start().await;
    crds_applied(&api);
    // A TLS cluster whose client certificate is in a Secret.
    let secure = crate::harness::start_tls_cluster(1).await;
    let tls = secure.tls();
    api.kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "etcd-client",
        &format!("--from-file=ca.crt={}", tls.ca_file.display()),
        &format!("--from-file=tls.crt={}", tls.cert_file.display()),
        &format!("--from-file=tls.key={}", tls.key_file.display()),
    ]);
    api.apply(&json!({
        "apiVersion": "etcd-monitor.io/v1alpha1",
        "kind": "EtcdCluster",
        "metadata": {"name": "secure", "namespace": NS},
        "spec": {
            "endpoints": secure.client_urls(),
            "tls": {"secretName": "etcd-client", "caKey": "ca.crt", "certKey": "tls.crt", "keyKey": "tls.key"},
        },
    }));
    // A cluster with etcd's auth on, found as kubeadm's static pods are (in
    // kube-system, by label, their client URLs in kubeadm's annotation), and
    // again through a Service's EndpointSlice; the password in a Secret.
    let password = "pod-s3cret";
    let kubeadm = start_cluster(1, LocalClusterOptions::default()).await;
    crate::harness::enable_auth(&kubeadm, password).await;
    let url = kubeadm.client_urls()[0].clone();
    let port: i64 = url.rsplit(':').next().unwrap().parse().unwrap();
    for ns in ["kube-system", NS] {
        api.kubectl_ok(&[
            "-n",
            ns,
            "create",
            "secret",
            "generic",
            "etcd-root",
            &format!("--from-literal=password={password}"),
        ]);
    }
    api.apply(&json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "etcd-node1",
            "namespace": "kube-system",
            "labels": {"component": "etcd", "tier": "control-plane"},
            "annotations": {"kubeadm.kubernetes.io/etcd.advertise-client-urls": url},
        },
        "spec": {"containers": [{"name": "etcd", "image": "registry.k8s.io/etcd:3.5.1-0"}]},
    }));
    let auth = json!({"user": "root", "passwordSecret": {"name": "etcd-root", "key": "password"}});
    api.apply(&json!({
        "apiVersion": "etcd-monitor.io/v1alpha1",
        "kind": "EtcdCluster",
        "metadata": {"name": "control-plane", "namespace": "kube-system"},
        "spec": {"podSelector": {"matchLabels": {"component": "etcd"}, "port": 2379, "scheme": "http"}, "auth": auth},
    }));
    api.apply(&json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "etcd-client-abcde", "namespace": NS, "labels": {"kubernetes.io/service-name": "etcd-client"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": true}}],
        "ports": [{"name": "client", "port": port, "protocol": "TCP"}],
    }));
    api.apply(&json!({
        "apiVersion": "etcd-monitor.io/v1alpha1",
        "kind": "EtcdCluster",
        "metadata": {"name": "by-service", "namespace": NS},
        "spec": {"service": {"name": "etcd-client", "port": 2379, "scheme": "http"}, "auth": auth},
    }));
    // One whose Secret is missing: not monitored, and says why.
    api.apply(&json!({
        "apiVersion": "etcd-monitor.io/v1alpha1",
        "kind": "EtcdCluster",
        "metadata": {"name": "no-secret", "namespace": NS},
        "spec": {"endpoints": secure.client_urls(), "tls": {"secretName": "nowhere", "caKey": "ca.crt"}},
    }));
    api.apply(&json!({
        "apiVersion": "etcd-monitor.io/v1alpha1",
        "kind": "EtcdInspection",
        "metadata": {"name": "health", "namespace": NS},
        "spec": {"cluster": "secure", "type": "healthy"},
    }));

    let replica = Replica::start_in(&api, "replica-a", "4s", None);
    for (ns, name) in [
        (NS, "secure"),
        ("kube-system", "control-plane"),
        (NS, "by-service"),
    ] {
        wait_for(
            &format!("{ns}/{name} Healthy"),
            Duration::from_secs(30),
            || async {
                let ec = api
                    .get(&format!(
                        "/apis/etcd-monitor.io/v1alpha1/namespaces/{ns}/etcdclusters/{name}"
                    ))
                    .await?;
                if ec["status"]["phase"] == "Healthy" {
                    Ok(())
                } else {
                    Err(ec["status"].to_string())
                }
            },
        )
        .await;
    }
    let refused = wait_status(
        &api,
        "no-secret",
        "no-secret refused",
        Duration::from_secs(20),
        |s| s["phase"] == "NotMonitored",
    )
    .await;
    let ready = condition(&refused["status"], "Ready");
    assert_eq!(ready["reason"], "SecretNotFound", "{refused}");
    assert_eq!(ready["message"], "Secret \"nowhere\" not found");
    wait_for(
        "inspection health on the TLS cluster",
        Duration::from_secs(20),
        || async {
            let ei = api
                .get(&format!(
                    "/apis/etcd-monitor.io/v1alpha1/namespaces/{NS}/etcdinspections/health"
                ))
                .await?;
            if ei["status"]["passed"] == true {
                Ok(())
            } else {
                Err(ei.to_string())
            }
        },
    )
    .await;

    // What was read from Secrets is private to the monitor, and never logged.
    let secrets = replica._data.path().join("data/kubernetes-secrets");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&secrets.join("etcd.secure")), 0o700);
    assert_eq!(mode(&secrets.join("etcd.secure/tls.key")), 0o600);
    assert_eq!(
        std::fs::read(secrets.join("kube-system.control-plane/password")).unwrap(),
        password.as_bytes()
    );
    let log = replica.log();
    assert!(!log.contains(password), "{log}");
    let key = std::fs::read_to_string(&tls.key_file).unwrap();
    assert!(
        !log.contains(key.lines().nth(1).unwrap()),
        "no key material in the log"
    );

    // The pod gone: its member gone from the cluster at the next discovery (5 s).
    api.kubectl_ok(&["-n", "kube-system", "delete", "pod", "etcd-node1"]);
    wait_for(
        "control-plane without members",
        Duration::from_secs(20),
        || async {
            let ec = api
            .get("/apis/etcd-monitor.io/v1alpha1/namespaces/kube-system/etcdclusters/control-plane")
            .await?;
            let ready = condition(&ec["status"], "Ready").clone();
            if ready["reason"] == "NoMembers" {
                Ok(())
            } else {
                Err(ec["status"].to_string())
            }
        },
    )
    .await;

    // Every verb the operator used is one the packaged RBAC grants, and all
    // that it grants were used here.
    let used = verbs_used(&api, "replica-a-token").await;
    let granted: std::collections::BTreeSet<(String, String, String)> =
        crate::kubernetes::OPERATOR_VERBS
            .iter()
            .map(|(g, r, v)| (g.to_string(), r.to_string(), v.to_string()))
            .collect();
    assert_eq!(used, granted, "used (left) and granted (right)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeadms_etcd_is_found_and_its_etcdcluster_created() {
    let api = KubeApi::start().await;
    crds_applied(&api);
    let kubeadm = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(["k8s", "kubeadm", "--kubeconfig"])
            .arg(api.kubeconfig("admin"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = kubeadm(&[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("no pod labelled component=etcd in kube-system"),
        "{err}"
    );

    // A TLS cluster, as kubeadm's static pod and its healthcheck certificate.
    let cluster = crate::harness::start_tls_cluster(1).await;
    let tls = cluster.tls();
    let url = cluster.client_urls()[0].clone();
    assert!(url.starts_with("https://"), "{url}");
    api.apply(&json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "etcd-cp1",
            "namespace": "kube-system",
            "labels": {"component": "etcd", "tier": "control-plane"},
            "annotations": {"kubeadm.kubernetes.io/etcd.advertise-client-urls": url},
        },
        "spec": {"nodeName": "cp1", "containers": [{"name": "etcd", "image": "registry.k8s.io/etcd:3.5.1-0"}]},
    }));
    api.kubectl_ok(&[
        "-n",
        "kube-system",
        "create",
        "secret",
        "generic",
        "etcd-monitor-etcd-client",
        &format!("--from-file=ca.crt={}", tls.ca_file.display()),
        &format!("--from-file=tls.crt={}", tls.cert_file.display()),
        &format!("--from-file=tls.key={}", tls.key_file.display()),
    ]);
    let (code, yaml, err) = kubeadm(&[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains(&format!("etcd-cp1 on cp1: {url}")), "{err}");
    assert!(
        err.contains("kubectl -n kube-system create secret generic"),
        "{err}"
    );
    let printed: Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(printed["kind"], "EtcdCluster");
    assert_eq!(printed["metadata"]["namespace"], "kube-system");
    assert_eq!(
        printed["spec"]["podSelector"]["matchLabels"]["component"],
        "etcd"
    );
    assert_eq!(
        printed["spec"]["tls"]["secretName"],
        "etcd-monitor-etcd-client"
    );
    // What it prints is what kubectl would apply, and the server accepts.
    let file = api.dir.path().join("kubeadm.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let dry = api.kubectl_ok(&["apply", "--dry-run=server", "-f", file.to_str().unwrap()]);
    assert!(dry.contains("control-plane"), "{dry}");

    let (code, _, err) = kubeadm(&["--create"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("created EtcdCluster kube-system/control-plane"),
        "{err}"
    );
    let (code, _, err) = kubeadm(&["--create"]);
    assert_eq!(code, Some(1), "created twice: {err}");
    assert!(err.contains("already exists"), "{err}");

    let _replica = Replica::start_in(&api, "replica-a", "4s", None);
    wait_for(
        "kube-system/control-plane Healthy",
        Duration::from_secs(30),
        || async {
            let ec = api
            .get("/apis/etcd-monitor.io/v1alpha1/namespaces/kube-system/etcdclusters/control-plane")
            .await?;
            if ec["status"]["phase"] == "Healthy" {
                Ok(())
            } else {
                Err(ec["status"].to_string())
            }
        },
    )
    .await;
    let listed = api.kubectl_ok(&["get", "ec", "-n", "kube-system"]);
    assert!(listed.contains("Healthy"), "{listed}");
}
