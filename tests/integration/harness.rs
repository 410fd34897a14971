//! Test harness: real etcd clusters on free loopback ports (via the crate's
//! `localetcd`), plain or over TLS with auth, one per test or shared by a module's
//! tests; an in-process monitor on port 0; and polling helpers with deadlines.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use etcd_monitor::config::{ClusterConfig, Overrides, Settings};
use etcd_monitor::localetcd::{LocalCluster, LocalClusterOptions, LocalTls};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use crate::monitor::Monitor;

/// Two cores: more than two clusters electing at once starve each other and
/// elections flap. Every test holds a slot while its clusters run.
static CLUSTER_SLOTS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(2)));
/// Tests waiting for a slot: an idle [`SharedCluster`] gives its slot up to them.
static SLOT_WAITERS: AtomicUsize = AtomicUsize::new(0);

/// Faster elections than etcd's defaults so failover tests take seconds.
pub const FAST_ELECTIONS: [&str; 2] = ["--heartbeat-interval=50", "--election-timeout=500"];

pub struct TestCluster {
    pub local: LocalCluster,
    /// When every member had become healthy.
    started: Instant,
    /// The certificates clients present when the cluster serves TLS.
    tls: Option<LocalTls>,
    /// Where [`start_tls_cluster`] made the certificates.
    _certs: Option<tempfile::TempDir>,
    _slot: OwnedSemaphorePermit,
}

impl TestCluster {
    /// The test CA and the client certificate, for a cluster started with TLS.
    pub fn tls(&self) -> &LocalTls {
        self.tls.as_ref().expect("the cluster serves TLS")
    }

    /// etcd-client options for this cluster: its TLS certificates, if it has any.
    pub fn connect_options(&self) -> Option<etcd_client::ConnectOptions> {
        self.tls.as_ref().map(tls_connect_options)
    }

    /// Waits until the cluster has run for `age`: etcd refuses reconfiguration
    /// until every member has been connected for 5 s (its strict reconfig check).
    pub async fn wait_age(&self, age: Duration) {
        tokio::time::sleep(age.saturating_sub(self.started.elapsed())).await;
    }

    fn print_logs(&self) {
        for m in &self.local.members {
            eprintln!(
                "---- log of {} ({}) ----\n{}",
                m.name,
                m.client_url,
                m.log_tail(30)
            );
        }
    }
}

impl std::ops::Deref for TestCluster {
    type Target = LocalCluster;
    fn deref(&self) -> &LocalCluster {
        &self.local
    }
}

impl std::ops::DerefMut for TestCluster {
    fn deref_mut(&mut self) -> &mut LocalCluster {
        &mut self.local
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_logs();
        }
    }
}

pub async fn start_cluster(size: usize, options: LocalClusterOptions) -> TestCluster {
    let slot = match CLUSTER_SLOTS.clone().try_acquire_owned() {
        Ok(slot) => slot,
        Err(_) => {
            /// Counts a waiter until the wait ends, however it ends.
            struct Waiting;
            impl Drop for Waiting {
                fn drop(&mut self) {
                    SLOT_WAITERS.fetch_sub(1, Ordering::SeqCst);
                }
            }
            SLOT_WAITERS.fetch_add(1, Ordering::SeqCst);
            let _waiting = Waiting;
            CLUSTER_SLOTS.clone().acquire_owned().await.unwrap()
        }
    };
    let mut options = options;
    options
        .extra_args
        .extend(FAST_ELECTIONS.iter().map(|s| s.to_string()));
    let tls = options.client_tls.clone();
    let local = LocalCluster::start(size, options)
        .await
        .unwrap_or_else(|e| panic!("cannot start a {size}-member etcd cluster: {e}"));
    TestCluster {
        local,
        started: Instant::now(),
        tls,
        _certs: None,
        _slot: slot,
    }
}

/// A cluster serving clients over TLS and requiring client certificates, all made
/// for the test by [`crate::certs::make_certs`] (see [`TestCluster::tls`]).
pub async fn start_tls_cluster(size: usize) -> TestCluster {
    let certs = tempfile::tempdir().unwrap();
    let tls = crate::certs::make_certs(certs.path());
    let mut cluster = start_cluster(
        size,
        LocalClusterOptions {
            client_tls: Some(tls),
            ..Default::default()
        },
    )
    .await;
    cluster._certs = Some(certs);
    cluster
}

/// One cluster for the tests of a module, started by the first test that asks. When
/// no test uses it, it stays up for the module's next test, unless another test
/// waits for a cluster slot or [`SharedCluster::IDLE`] has passed.
///
/// Tests sharing it each keep to their own keys. A test that changes it for
/// everyone (a member added, a compaction) keeps the tests that would notice out
/// with a lock of the module's (see ctl's).
///
/// It survives the runtime of the test that started it: [`LocalCluster`] owns plain
/// child processes and its drop is synchronous. One still up when the test binary
/// exits is stopped by an `atexit` hook.
pub struct SharedCluster {
    size: usize,
    options: fn() -> LocalClusterOptions,
    starting: tokio::sync::Mutex<()>,
    state: Mutex<SharedState>,
}

struct SharedState {
    cluster: Option<Arc<TestCluster>>,
    users: usize,
    /// Counts releases, so that an idle watch only stops the cluster it was set for.
    releases: u64,
}

/// A test's use of a [`SharedCluster`]: derefs to the cluster.
pub struct SharedUse {
    cluster: Arc<TestCluster>,
    from: &'static SharedCluster,
}

impl SharedCluster {
    /// How long an unused cluster waits for the module's next test (while no
    /// other test waits for its slot).
    pub const IDLE: Duration = Duration::from_secs(10);

    pub const fn new(size: usize, options: fn() -> LocalClusterOptions) -> SharedCluster {
        SharedCluster {
            size,
            options,
            starting: tokio::sync::Mutex::const_new(()),
            state: Mutex::new(SharedState {
                cluster: None,
                users: 0,
                releases: 0,
            }),
        }
    }

    /// The running cluster, started (holding a cluster slot) if there is none.
    pub async fn get(&'static self) -> SharedUse {
        let _one_start = self.starting.lock().await;
        let running = {
            let mut state = self.lock();
            let cluster = state.cluster.clone();
            state.users += usize::from(cluster.is_some());
            cluster
        };
        let cluster = match running {
            Some(cluster) => cluster,
            None => {
                let cluster = Arc::new(start_cluster(self.size, (self.options)()).await);
                stop_at_exit(self);
                let mut state = self.lock();
                state.cluster = Some(cluster.clone());
                state.users += 1;
                cluster
            }
        };
        SharedUse {
            cluster,
            from: self,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SharedState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the cluster out if nobody has used it since `release`; the caller
    /// drops it (stopping its members).
    fn take_idle(&self, release: u64) -> Option<Arc<TestCluster>> {
        let mut state = self.lock();
        if state.users > 0 || state.releases != release {
            return None;
        }
        state.cluster.take()
    }
}

impl std::ops::Deref for SharedUse {
    type Target = TestCluster;
    fn deref(&self) -> &TestCluster {
        &self.cluster
    }
}

impl Drop for SharedUse {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.cluster.print_logs();
        }
        let from = self.from;
        let release = {
            let mut state = from.lock();
            state.users -= 1;
            state.releases += 1;
            (state.users == 0).then_some(state.releases)
        };
        if let Some(release) = release {
            std::thread::spawn(move || {
                let idle = Instant::now();
                while idle.elapsed() < SharedCluster::IDLE
                    && SLOT_WAITERS.load(Ordering::SeqCst) == 0
                {
                    let state = from.lock();
                    if state.users > 0 || state.releases != release {
                        return; // used again: its next release watches
                    }
                    drop(state);
                    std::thread::sleep(Duration::from_millis(20));
                }
                drop(from.take_idle(release));
            });
        }
    }
}

static SHARED: Mutex<Vec<&'static SharedCluster>> = Mutex::new(Vec::new());

/// Registers `shared` with the `atexit` hook that stops shared clusters still up.
fn stop_at_exit(shared: &'static SharedCluster) {
    extern "C" fn stop_all() {
        let all = std::mem::take(&mut *SHARED.lock().unwrap_or_else(|e| e.into_inner()));
        for shared in all {
            drop(shared.lock().cluster.take());
        }
    }
    static HOOK: std::sync::Once = std::sync::Once::new();
    // SAFETY: registers a function that takes no argument and does not unwind (it
    // only locks and kills child processes).
    HOOK.call_once(|| assert_eq!(unsafe { libc::atexit(stop_all) }, 0));
    let mut all = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if !all.iter().any(|s| std::ptr::eq(*s, shared)) {
        all.push(shared);
    }
}

/// Settings for tests: fast probes, short deadlines, loopback port 0.
pub fn test_settings(clusters: Vec<ClusterConfig>, interval: Duration) -> Settings {
    let mut s = Settings::load_with_env(None, &Overrides::default(), |_| None).unwrap();
    s.server.listen = "127.0.0.1:0".parse().unwrap();
    s.collect.interval = interval;
    s.collect.request_timeout = Duration::from_millis(800).min(interval);
    s.collect.dial_timeout = Duration::from_millis(500);
    s.clusters = clusters;
    s.validate().unwrap();
    s
}

/// What the tests wait for of a [`Monitor`] (see `tests/support/monitor.rs`).
impl Monitor {
    /// Polls `/api/v1/alerts` until an alert named `alertname` is firing; returns it.
    pub async fn wait_firing(&self, alertname: &str, deadline: Duration) -> Value {
        wait_for(&format!("{alertname} firing"), deadline, || async {
            let (_, v) = self.get("/api/v1/alerts").await;
            v["alerts"]
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .find(|a| a["labels"]["alertname"] == alertname && a["phase"] == "firing")
                        .cloned()
                })
                .ok_or_else(|| v.to_string())
        })
        .await
    }

    /// Polls until cluster `name` has `status`; returns that snapshot.
    pub async fn wait_status(&self, name: &str, status: &str, deadline: Duration) -> Value {
        wait_for(&format!("cluster {name} {status}"), deadline, || async {
            let s = self.cluster(name).await;
            if s["status"] == status {
                Ok(s)
            } else {
                Err(s.to_string())
            }
        })
        .await
    }
}

/// A 1-member cluster with a 2 MiB quota, filled with 100 KiB values until etcd
/// refuses a put and raises NOSPACE.
pub async fn start_full_cluster() -> TestCluster {
    let cluster = start_cluster(
        1,
        LocalClusterOptions {
            quota_backend_bytes: Some(2 * 1024 * 1024),
            ..Default::default()
        },
    )
    .await;
    let mut client = etcd_client::Client::connect(cluster.client_urls(), None)
        .await
        .unwrap();
    let value = vec![b'x'; 100 * 1024];
    for i in 0..200 {
        if let Err(e) = client.put(format!("fill/{i}"), value.clone(), None).await {
            let refused = e.to_string();
            assert!(refused.contains("database space exceeded"), "{refused}");
            return cluster;
        }
    }
    panic!("etcd never refused a put over its quota");
}

/// Adds user root with `password` and turns authentication on (over TLS if the
/// cluster serves it).
pub async fn enable_auth(cluster: &TestCluster, password: &str) {
    let mut client = etcd_client::Client::connect(cluster.client_urls(), cluster.connect_options())
        .await
        .unwrap();
    client.user_add("root", password, None).await.unwrap();
    client.user_grant_role("root", "root").await.unwrap();
    client.auth_enable().await.unwrap();
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `deadline`
/// with `what` and the last value seen.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) if started.elapsed() > deadline => {
                panic!("timed out after {deadline:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// GETs `url` and parses its body as JSON; a failure is the error text, for
/// [`wait_for`] to retry on and to show when it gives up.
pub async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    let body = http
        .get(url)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))
}

/// `etcdctl -w json endpoint status` against the cluster, one entry per endpoint.
pub fn etcdctl_endpoint_status(endpoints: &[String]) -> Value {
    let etcdctl = std::env::var("ETCDCTL_BIN").unwrap_or_else(|_| "etcdctl".into());
    let out = std::process::Command::new(etcdctl)
        .env("ETCDCTL_API", "3")
        .args(["-w", "json", "--command-timeout=5s", "endpoint", "status"])
        .arg(format!("--endpoints={}", endpoints.join(",")))
        .output()
        .expect("etcdctl runs (Debian package etcd-client)");
    assert!(
        out.status.success(),
        "etcdctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn member_by_name<'a>(snapshot: &'a Value, name: &str) -> &'a Value {
    snapshot["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no member {name} in {snapshot}"))
}

/// etcd-client options that trust the test CA and present the test client certificate.
pub fn tls_connect_options(tls: &LocalTls) -> etcd_client::ConnectOptions {
    etcd_client::ConnectOptions::new().with_tls(
        etcd_client::TlsOptions::new()
            .ca_certificate(etcd_client::Certificate::from_pem(
                std::fs::read(&tls.ca_file).unwrap(),
            ))
            .identity(etcd_client::Identity::from_pem(
                std::fs::read(&tls.cert_file).unwrap(),
                std::fs::read(&tls.key_file).unwrap(),
            )),
    )
}

/// A server on loopback that answers `GET /-/ready` when up (Prometheus,
/// Alertmanager); killed when dropped, its files with it.
pub struct LoopbackDaemon {
    child: std::process::Child,
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Drop for LoopbackDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LoopbackDaemon {
    /// Stops it as a service manager would (SIGTERM, then wait), so that it writes
    /// what it holds before it goes.
    pub fn stop(mut self) {
        // SAFETY: kill(2) on our own child's pid, which we have not waited for.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("did not stop within 30 s of SIGTERM");
    }

    /// Spawns `cmd` (told to listen on 127.0.0.1:`port`, keeping its files in
    /// `dir`) and waits until it is ready.
    pub async fn start(
        what: &str,
        mut cmd: std::process::Command,
        port: u16,
        dir: tempfile::TempDir,
    ) -> LoopbackDaemon {
        let child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{what} (scripts/test installs it): {e}"));
        let daemon = LoopbackDaemon {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let http = reqwest::Client::new();
        let ready = format!("{}/-/ready", daemon.base);
        wait_for(
            &format!("{what} ready"),
            Duration::from_secs(30),
            || async {
                match http.get(&ready).send().await {
                    Ok(r) if r.status() == 200 => Ok(()),
                    Ok(r) => Err(r.status().to_string()),
                    Err(e) => Err(e.to_string()),
                }
            },
        )
        .await;
        daemon
    }
}

/// Asserts that `promtool check metrics` finds nothing to say about `exposition`.
pub fn assert_promtool_accepts(exposition: &str) {
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (scripts/test installs Debian's prometheus)");
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), exposition.as_bytes()).unwrap();
    let checked = promtool.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&checked.stdout).to_string()
        + &String::from_utf8_lossy(&checked.stderr);
    assert!(
        checked.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{exposition}"
    );
}

/// The pip command scripts/test runs for PyPI's openapi-spec-validator.
const OPENAPI_VALIDATOR_INSTALL: &str =
    "python3 -m pip install --quiet --disable-pip-version-check openapi-spec-validator==0.9.0";

/// Runs PyPI's openapi-spec-validator on `document`: whether it passed, and what
/// it said.
pub fn openapi_validator(document: &str) -> (bool, String) {
    let file = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
    std::fs::write(file.path(), document).unwrap();
    let ran = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(file.path())
        .output()
        .unwrap_or_else(|e| panic!("python3 (for openapi-spec-validator): {e}"));
    let said =
        String::from_utf8_lossy(&ran.stdout).to_string() + &String::from_utf8_lossy(&ran.stderr);
    assert!(
        !said.contains("No module named openapi_spec_validator"),
        "openapi-spec-validator is not installed: scripts/test installs it ({OPENAPI_VALIDATOR_INSTALL})"
    );
    (ran.status.success(), said)
}

/// Checks each answer's JSON body against the schema `document` gives for its
/// operation and status (JSON Schema 2020-12, as OpenAPI 3.1 has it), with the
/// validator's own schema validator; fails naming every mismatch.
const CHECK_ANSWERS: &str = r#"
import json, sys
from openapi_schema_validator import OAS31Validator
doc = json.load(open(sys.argv[1]))
answers = json.load(open(sys.argv[2]))
wrong = []
for a in answers:
    op = doc["paths"][a["path"]][a["method"]]
    schema = op["responses"][str(a["status"])]["content"]["application/json"]["schema"]
    # The references (#/components/...) resolve against the root: give it the components.
    root = dict(schema, components=doc["components"])
    for e in OAS31Validator(root).iter_errors(a["body"]):
        wrong.append(f'{a["method"].upper()} {a["url"]} {a["status"]}: {"/".join(map(str, e.absolute_path))}: {e.message}')
print("\n".join(wrong) if wrong else f"{len(answers)} answers match")
sys.exit(1 if wrong else 0)
"#;

/// One answer to check against the OpenAPI document: the operation (method in
/// lower case, path as the document has it), the URL asked, the status and body.
pub struct Answer {
    pub method: &'static str,
    pub path: &'static str,
    pub url: String,
    pub status: u16,
    pub body: Value,
}

/// Asserts that every answer's body matches its schema in `document`.
pub fn assert_answers_match_openapi(document: &str, answers: &[Answer]) {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("openapi.json");
    std::fs::write(&doc, document).unwrap();
    let list = dir.path().join("answers.json");
    let answers: Vec<Value> = answers
        .iter()
        .map(|a| {
            serde_json::json!({
                "method": a.method, "path": a.path, "url": a.url,
                "status": a.status, "body": a.body,
            })
        })
        .collect();
    std::fs::write(&list, serde_json::to_string(&answers).unwrap()).unwrap();
    let ran = std::process::Command::new("python3")
        .args(["-c", CHECK_ANSWERS])
        .arg(&doc)
        .arg(&list)
        .output()
        .unwrap_or_else(|e| panic!("python3 (for openapi-schema-validator): {e}"));
    let said =
        String::from_utf8_lossy(&ran.stdout).to_string() + &String::from_utf8_lossy(&ran.stderr);
    assert!(
        !said.contains("No module named"),
        "openapi-spec-validator is not installed: scripts/test installs it ({OPENAPI_VALIDATOR_INSTALL}): {said}"
    );
    assert!(
        ran.status.success() && said.contains(&format!("{} answers match", answers.len())),
        "answers that do not match the OpenAPI document:\n{said}"
    );
}
