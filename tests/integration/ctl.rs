//! `etcd-monitor ctl` against real 3-member clusters: every subcommand through the
//! binary, JSON compared field by field with `etcdctl -w json` (Debian's etcdctl
//! 3.4), defrag under a concurrent reader with the leader last, snapshots accepted
//! by `etcdctl snapshot status`, bad input, confirmation and the audit table.
//!
//! One cluster, [`DATA`], for the module, on which each test keeps to its own keys
//! and its own audit store; what some tests change for everyone (the history, the
//! lease list, the member list) is guarded by a lock each. Over TLS with auth, a
//! cluster of its own.

use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use etcd_monitor::audit::{self, AuditRecord};
use etcd_monitor::config::{Overrides, Settings};
use etcd_monitor::localetcd::{free_port, LocalClusterOptions};
use etcd_monitor::store::{Store, FILE_NAME};
use serde_json::Value;
use tokio::sync::RwLock;

use crate::harness::*;
use crate::process::{output_with_stdin, sigterm, wait_exit, BIN};

static DATA: SharedCluster = SharedCluster::new(3, LocalClusterOptions::default);
/// Past revisions: written by the compaction, read by the tests of `--rev`.
static HISTORY: RwLock<()> = RwLock::const_new(());
/// The lease list: listed whole by the lease test; locks and elections hold leases.
static LEASES: RwLock<()> = RwLock::const_new(());
/// The member list: a learner added (and removed); read by the tests that count.
static MEMBERS: RwLock<()> = RwLock::const_new(());

/// etcdctl 3.4 (Debian's) in both runs of the suite: `ctl` prints 3.4's shapes, and
/// the second run's $ETCDCTL_BIN is a 3.5 etcdctl.
fn etcdctl_bin() -> String {
    std::env::var("ETCDCTL34_BIN").unwrap_or_else(|_| "/usr/bin/etcdctl".into())
}

/// `etcd-monitor ctl --endpoints=E ARGS` with stdin closed (never a terminal).
fn ctl(endpoints: &[String], args: &[&str]) -> Output {
    ctl_os(
        endpoints,
        &args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
    )
}

fn ctl_os(endpoints: &[String], args: &[&std::ffi::OsStr]) -> Output {
    Command::new(BIN)
        .arg("ctl")
        .arg(format!("--endpoints={}", endpoints.join(",")))
        .args(args)
        .env_remove("ETCDCTL_ENDPOINTS")
        .env_remove("ETCD_MONITOR_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn etcdctl(endpoints: &[String], args: &[&str]) -> Output {
    Command::new(etcdctl_bin())
        .env("ETCDCTL_API", "3")
        .env_remove("ETCDCTL_ENDPOINTS")
        .arg(format!("--endpoints={}", endpoints.join(",")))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("etcdctl runs (Debian package etcd-client)")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Stdout of a run that must succeed.
fn ok(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Stderr of a run that must fail (exit 1, never a panic's 101).
fn fails(what: &str, out: Output) -> String {
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what} should fail with exit 1:\nstdout: {}\nstderr: {err}",
        text(&out.stdout)
    );
    assert!(!err.contains("panicked"), "{what} panicked: {err}");
    err
}

fn json(what: &str, out: Output) -> Value {
    let s = ok(what, out);
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {s}"))
}

/// Checks that `ours` and `theirs` have the same structure (the same keys in every
/// object, arrays of the same length) and the same values, except for the fields
/// named in `differ` (values that differ by nature: revisions, raft indexes, sizes,
/// the member that answered).
fn same_json(path: &str, ours: &Value, theirs: &Value, differ: &[&str]) -> Result<(), String> {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let mut ka: Vec<&String> = a.keys().collect();
            let mut kb: Vec<&String> = b.keys().collect();
            ka.sort();
            kb.sort();
            if ka != kb {
                return Err(format!("{path}: keys {ka:?} vs etcdctl's {kb:?}"));
            }
            for (k, v) in a {
                let p = format!("{path}.{k}");
                if differ.contains(&k.as_str()) {
                    if std::mem::discriminant(v) != std::mem::discriminant(&b[k]) {
                        return Err(format!("{p}: {v} vs etcdctl's {} (types differ)", b[k]));
                    }
                    continue;
                }
                same_json(&p, v, &b[k], differ)?;
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Err(format!(
                    "{path}: {} items vs etcdctl's {}",
                    a.len(),
                    b.len()
                ));
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                same_json(&format!("{path}[{i}]"), x, y, differ)?;
            }
            Ok(())
        }
        (a, b) if a == b => Ok(()),
        (a, b) => Err(format!("{path}: {a} vs etcdctl's {b}")),
    }
}

fn assert_same(what: &str, ours: &Value, theirs: &Value, differ: &[&str]) {
    if let Err(e) = same_json("", ours, theirs, differ) {
        panic!("{what}: {e}\nours:    {ours}\netcdctl: {theirs}");
    }
}

/// [`assert_same`] for two reads of the same keys, ours first: other tests write to
/// the shared cluster in between, so etcdctl may answer at a later revision.
fn assert_same_read(what: &str, ours: &Value, theirs: &Value) {
    assert_same(what, ours, theirs, &["member_id", "revision"]);
    let revision = |v: &Value| v["header"]["revision"].as_i64().unwrap();
    assert!(
        revision(ours) <= revision(theirs),
        "{what}: read at revision {} after etcdctl's {}",
        revision(ours),
        revision(theirs)
    );
}

#[test]
fn json_comparison_catches_differences() {
    let a: Value =
        serde_json::json!({"header": {"revision": 3, "member_id": 1}, "kvs": [{"key": "YQ=="}]});
    let b: Value =
        serde_json::json!({"header": {"revision": 4, "member_id": 1}, "kvs": [{"key": "YQ=="}]});
    assert!(same_json("", &a, &b, &["revision"]).is_ok());
    assert!(same_json("", &a, &b, &[]).is_err());
    let c: Value =
        serde_json::json!({"header": {"revision": 4, "member_id": 1}, "kvs": [{"key": "Yg=="}]});
    assert!(same_json("", &a, &c, &["revision"]).is_err());
    let d: Value = serde_json::json!({"header": {"revision": 4, "member_id": 1}});
    assert!(
        same_json("", &a, &d, &["revision"]).is_err(),
        "a missing field"
    );
    let e: Value =
        serde_json::json!({"header": {"revision": "4", "member_id": 1}, "kvs": [{"key": "YQ=="}]});
    assert!(
        same_json("", &a, &e, &["revision"]).is_err(),
        "a number printed as a string"
    );
}

/// Reads lines of a child's stdout on a thread, so a test can wait for a line with a
/// deadline.
fn lines_of(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// `etcd-monitor ctl` running, its stdout and stderr piped.
fn spawn_ctl(endpoints: &[String], args: &[&str]) -> Child {
    Command::new(BIN)
        .arg("ctl")
        .arg(format!("--endpoints={}", endpoints.join(",")))
        .args(args)
        .env_remove("ETCDCTL_ENDPOINTS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn retention() -> etcd_monitor::store::Retention {
    Settings::load_with_env(None, &Overrides::default(), |_| None)
        .unwrap()
        .store
        .retention()
}

fn header_differs() -> Vec<&'static str> {
    // The member that answered and how far the log has gone differ between two runs.
    vec!["member_id", "revision", "raft_term"]
}

/// A store directory for ctl's audit records (`--data-dir`).
struct AuditDir(tempfile::TempDir);

impl AuditDir {
    fn new() -> AuditDir {
        AuditDir(tempfile::tempdir().unwrap())
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn arg(&self) -> &str {
        self.path().to_str().unwrap()
    }

    /// Every record in the store, oldest first.
    fn records(&self) -> Vec<AuditRecord> {
        let store = Store::open(&self.path().join(FILE_NAME), retention()).unwrap();
        audit::read(&store, 100).unwrap()
    }

    /// The (action, target) of each record, after checking what every record of a
    /// successful change holds: ctl as the source, `ok`, the cluster's endpoints, an
    /// actor, in time order, and none of `values`.
    fn ok_changes(&self, endpoints: &[String], values: &[&str]) -> Vec<(String, String)> {
        let records = self.records();
        for r in &records {
            assert_eq!(r.source, "ctl");
            assert_eq!(r.outcome, "ok");
            assert_eq!(r.cluster, endpoints.join(","));
            assert!(!r.actor.is_empty());
            for value in values {
                assert!(!format!("{r:?}").contains(value), "no values: {r:?}");
            }
        }
        assert!(records
            .windows(2)
            .all(|w| w[0].at_unix_ms <= w[1].at_unix_ms));
        records.into_iter().map(|r| (r.action, r.target)).collect()
    }
}

/// `pairs` as owned strings, to compare with [`AuditDir::ok_changes`].
fn changes(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, t)| (a.to_string(), t.to_string()))
        .collect()
}

/// put / get / del in JSON, field for field with etcdctl; simple output byte for
/// byte; `--rev` reads the past; the changes are audited without their values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_del_match_etcdctl_and_are_audited() {
    let _history = HISTORY.read().await;
    let cluster = DATA.get().await;
    let eps = cluster.client_urls();
    let data = AuditDir::new();

    let ours = json(
        "ctl put",
        ctl(
            &eps,
            &[
                "-w",
                "json",
                "put",
                "kv/ours",
                "v1",
                "--data-dir",
                data.arg(),
            ],
        ),
    );
    let theirs = json(
        "etcdctl put",
        etcdctl(&eps, &["-w", "json", "put", "kv/theirs", "v1"]),
    );
    assert_same("put", &ours, &theirs, &header_differs());
    ok(
        "put",
        ctl(&eps, &["put", "kv/a", "hello", "--data-dir", data.arg()]),
    );
    for args in [
        vec!["get", "kv/a"],
        vec!["get", "kv/", "--prefix"],
        vec!["get", "kv/", "--prefix", "--keys-only"],
        vec!["get", "kv/", "--prefix", "--limit", "2"],
        vec!["get", "kv/a", "kv/z"],
        vec!["get", "kv/none"],
    ] {
        let mut with = vec!["-w", "json"];
        with.extend(&args);
        let ours = json("ctl get", ctl(&eps, &with));
        let theirs = json("etcdctl get", etcdctl(&eps, &with));
        assert_same_read(&format!("{args:?}"), &ours, &theirs);
    }
    // Simple output: identical to etcdctl's, byte for byte.
    for args in [
        vec!["get", "kv/", "--prefix"],
        vec!["get", "kv/", "--prefix", "--keys-only"],
        vec!["get", "kv/a", "--print-value-only"],
    ] {
        assert_eq!(
            ok("ctl get", ctl(&eps, &args)),
            ok("etcdctl get", etcdctl(&eps, &args)),
            "{args:?}"
        );
    }
    // --rev reads the past.
    let rev = json("get", ctl(&eps, &["-w", "json", "get", "kv/a"]))["kvs"][0]["mod_revision"]
        .as_i64()
        .unwrap();
    ok("put", ctl(&eps, &["put", "kv/a", "changed"]));
    assert_eq!(
        ok(
            "get --rev",
            ctl(
                &eps,
                &[
                    "get",
                    "kv/a",
                    "--rev",
                    &rev.to_string(),
                    "--print-value-only"
                ]
            )
        ),
        "hello\n"
    );
    let ours = json(
        "ctl del",
        ctl(
            &eps,
            &["-w", "json", "del", "kv/ours", "--data-dir", data.arg()],
        ),
    );
    let theirs = json(
        "etcdctl del",
        etcdctl(&eps, &["-w", "json", "del", "kv/theirs"]),
    );
    assert_same("del", &ours, &theirs, &header_differs());
    assert_eq!(ours["deleted"], 1);

    // Only the changes made with --data-dir, in order, without values.
    assert_eq!(
        data.ok_changes(&eps, &["hello"]),
        changes(&[("put", "kv/ours"), ("put", "kv/a"), ("del", "kv/ours")])
    );
}

/// A binary key (not UTF-8; argv cannot hold NUL) given as an argument: stored as
/// those bytes, shown in base64 in JSON (as etcdctl), escaped with --hex.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_key_is_base64_in_json_and_escaped_with_hex() {
    let cluster = DATA.get().await;
    let eps = cluster.client_urls();
    let bin_key = std::ffi::OsStr::from_bytes(b"bin/\xff\x01x");
    let out = ctl_os(&eps, &["put".as_ref(), bin_key, "v".as_ref()]);
    ok("put of a binary key", out);
    let ours = json(
        "ctl get bin/",
        ctl(&eps, &["-w", "json", "get", "bin/", "--prefix"]),
    );
    let theirs = json(
        "etcdctl get bin/",
        etcdctl(&eps, &["-w", "json", "get", "bin/", "--prefix"]),
    );
    assert_same_read("binary key", &ours, &theirs);
    assert_eq!(ours["kvs"][0]["key"], "YmluL/8BeA==");
    assert_eq!(
        ok(
            "get --hex",
            ctl(&eps, &["get", "bin/", "--prefix", "--hex", "--keys-only"])
        ),
        "\\x62\\x69\\x6e\\x2f\\xff\\x01\\x78\n\n"
    );
}

/// del of several keys: refused without --yes (stdin is not a terminal), then done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn del_of_several_keys_needs_yes_without_a_terminal() {
    let cluster = DATA.get().await;
    let eps = cluster.client_urls();
    for i in 0..3 {
        ok("put", ctl(&eps, &["put", &format!("many/{i}"), "x"]));
    }
    let err = fails(
        "del --prefix without --yes",
        ctl(&eps, &["del", "many/", "--prefix"]),
    );
    assert!(err.contains("--yes") && err.contains("3 keys"), "{err}");
    assert_eq!(
        ok(
            "del --prefix --yes",
            ctl(&eps, &["del", "many/", "--prefix", "--yes"])
        ),
        "3\n"
    );
}

/// txn: etcdctl's interactive lines from stdin, then etcd's JSON; the same txn
/// through both tools answers in etcdctl's shape; `--json-file` takes etcd's JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txn_from_stdin_or_a_json_file_answers_as_etcdctl() {
    let cluster = DATA.get().await;
    let eps = cluster.client_urls();
    let data = AuditDir::new();
    ok("put", ctl(&eps, &["put", "txn/a", "changed"]));

    let out = output_with_stdin(
        Command::new(BIN).args([
            "ctl",
            &format!("--endpoints={}", eps.join(",")),
            "txn",
            "--data-dir",
            data.arg(),
        ]),
        b"value(\"txn/a\") = \"changed\"\n\nput txn/t \"from txn\"\nget txn/t\n\nput txn/t failed\n\n",
    );
    assert_eq!(ok("txn", out), "SUCCESS\n\nOK\n\ntxn/t\nfrom txn\n");
    // The same txn through both tools, in JSON: the responses' shape is etcdctl's.
    let txn_with = |bin: &str, pre: &[&str]| {
        let out = output_with_stdin(
            Command::new(bin)
                .args(pre)
                .args([
                    &format!("--endpoints={}", eps.join(",")),
                    "-w",
                    "json",
                    "txn",
                ])
                .env("ETCDCTL_API", "3"),
            b"mod(\"txn/a\") > \"0\"\n\nput txn/tj 1\nget txn/a\ndel txn/none\n\n\n",
        );
        json("txn -w json", out)
    };
    let ours = txn_with(BIN, &["ctl"]);
    let theirs = txn_with(&etcdctl_bin(), &[]);
    assert_same("txn", &ours, &theirs, &header_differs());
    assert_eq!(ours["responses"].as_array().unwrap().len(), 3, "{ours}");
    let txn_json = data.path().join("txn.json");
    std::fs::write(
        &txn_json,
        // value("txn/t") = "nope" fails: the failure branch deletes txn/t.
        r#"{"compare":[{"result":"EQUAL","target":"VALUE","key":"dHhuL3Q=","value":"bm9wZQ=="}],
            "success":[],"failure":[{"request_delete_range":{"key":"dHhuL3Q="}}]}"#,
    )
    .unwrap();
    let r = json(
        "txn --json-file",
        ctl(
            &eps,
            &[
                "-w",
                "json",
                "txn",
                "--json-file",
                txn_json.to_str().unwrap(),
            ],
        ),
    );
    assert!(
        r.get("succeeded").is_none(),
        "false is left out as etcdctl does: {r}"
    );
    assert_eq!(
        r["responses"][0]["Response"]["ResponseDeleteRange"]["deleted"], 1,
        "{r}"
    );
    let err = fails(
        "bad txn",
        ctl(&eps, &["txn", "--json-file", "/nonexistent.json"]),
    );
    assert!(err.contains("/nonexistent.json"), "{err}");

    // The txn given --data-dir is audited by its operations, without values.
    assert_eq!(
        data.ok_changes(&eps, &["from txn"]),
        changes(&[("txn", "put txn/t, put txn/t")])
    );
}

/// compare-and-swap: a create, a swap from the expected value, and a lost swap that
/// exits 1 and prints the value it found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas_swaps_only_from_the_expected_value() {
    let cluster = DATA.get().await;
    let eps = cluster.client_urls();
    ok("cas create", ctl(&eps, &["cas", "cas/k", "1", "--create"]));
    ok(
        "cas 1->2",
        ctl(&eps, &["cas", "cas/k", "2", "--expect", "1"]),
    );
    let out = ctl(&eps, &["cas", "cas/k", "3", "--expect", "1"]);
    assert_eq!(out.status.code(), Some(1), "a lost swap exits 1");
    assert!(
        text(&out.stdout).contains("FAILED") && text(&out.stdout).contains("\n2\n"),
        "{}",
        text(&out.stdout)
    );
}

/// watch from a past revision replays the events, as etcdctl prints them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_from_a_past_revision_replays_events_as_etcdctl_prints_them() {
    let _history = HISTORY.read().await;
    let cluster = DATA.get().await;
    let eps = cluster.client_urls();
    let start = json("get", ctl(&eps, &["-w", "json", "get", "w/x"]))["header"]["revision"]
        .as_i64()
        .unwrap()
        + 1;
    ok("put", ctl(&eps, &["put", "w/1", "a"]));
    ok("put", ctl(&eps, &["put", "w/2", "b"]));
    ok("del", ctl(&eps, &["del", "w/1"]));
    let watched = ok(
        "watch",
        ctl(
            &eps,
            &[
                "watch",
                "w/",
                "--prefix",
                "--rev",
                &start.to_string(),
                "--max-events",
                "3",
            ],
        ),
    );
    assert_eq!(watched, "PUT\nw/1\na\nPUT\nw/2\nb\nDELETE\nw/1\n\n");
    let watched = ok(
        "watch -w json",
        ctl(
            &eps,
            &[
                "-w",
                "json",
                "watch",
                "w/",
                "--prefix",
                "--rev",
                &start.to_string(),
                "--max-events",
                "3",
            ],
        ),
    );
    let events: Vec<Value> = watched
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 3, "{watched}");
    assert_eq!(events[0]["Events"][0]["kv"]["key"], "dy8x", "{watched}");
    assert!(
        events[0]["Events"][0].get("type").is_none(),
        "PUT is type 0, left out: {watched}"
    );
    assert_eq!(events[2]["Events"][0]["type"], 1, "DELETE: {watched}");
    assert_eq!(events[2]["Canceled"], false);
    // etcdctl prints one line per watch response (events may be batched): the same
    // fields, and the same events once flattened. etcdctl 3.4's watch never ends by
    // itself: it is stopped once it printed as many events, or after 3 s.
    let flat = |rs: &[Value]| -> Vec<Value> {
        rs.iter()
            .flat_map(|r| r["Events"].as_array().unwrap().clone())
            .collect()
    };
    let mut watch = Command::new(etcdctl_bin())
        .arg(format!("--endpoints={}", eps.join(",")))
        .args([
            "-w",
            "json",
            "watch",
            "w/",
            "--prefix",
            "--rev",
            &start.to_string(),
        ])
        .env("ETCDCTL_API", "3")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let printed = lines_of(&mut watch);
    let until = std::time::Instant::now() + Duration::from_secs(3);
    let mut theirs: Vec<Value> = Vec::new();
    while flat(&theirs).len() < events.len() {
        let left = until.saturating_duration_since(std::time::Instant::now());
        match printed.recv_timeout(left) {
            Ok(line) => theirs.push(serde_json::from_str(&line).unwrap()),
            Err(_) => break,
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(!theirs.is_empty(), "etcdctl watch printed nothing");
    assert_same(
        "watch events",
        &Value::Array(flat(&events)),
        &Value::Array(flat(&theirs)),
        &[],
    );
    let mut ours_one = events[0].clone();
    let mut theirs_one = theirs[0].clone();
    ours_one["Events"] = Value::Null;
    theirs_one["Events"] = Value::Null;
    assert_same("watch response", &ours_one, &theirs_one, &header_differs());
}

/// Leases: none listed as etcdctl lists none; grant, attach, timetolive --keys,
/// list (JSON as etcdctl), keep-alive, revoke; grant and revoke are audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_grant_attach_list_keep_alive_and_revoke_as_etcdctl() {
    let _leases = LEASES.write().await;
    let cluster = DATA.get().await;
    let eps = cluster.client_urls();
    let data = AuditDir::new();
    let args = ["-w", "json", "lease", "list"];
    let ours = json("ctl", ctl(&eps, &args));
    let theirs = json("etcdctl", etcdctl(&eps, &args));
    assert_same(&format!("{args:?}"), &ours, &theirs, &header_differs());
    let granted = json(
        "lease grant",
        ctl(
            &eps,
            &[
                "-w",
                "json",
                "lease",
                "grant",
                "60",
                "--data-dir",
                data.arg(),
            ],
        ),
    );
    let theirs = json(
        "etcdctl lease grant",
        etcdctl(&eps, &["-w", "json", "lease", "grant", "60"]),
    );
    assert_same(
        "lease grant",
        &granted,
        &theirs,
        &["member_id", "revision", "raft_term", "ID"],
    );
    let id = format!("{:x}", granted["ID"].as_i64().unwrap());
    ok(
        "put --lease",
        ctl(&eps, &["put", "leased", "v", "--lease", &id]),
    );
    let ours = json("lease list", ctl(&eps, &["-w", "json", "lease", "list"]));
    let listed = json(
        "etcdctl lease list",
        etcdctl(&eps, &["-w", "json", "lease", "list"]),
    );
    let mut a: Vec<i64> = ours["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_i64().unwrap())
        .collect();
    let mut b: Vec<i64> = listed["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_i64().unwrap())
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "lease list: same leases");
    assert_eq!(a.len(), 2);
    assert_same(
        "lease list",
        &ours,
        &listed,
        &["member_id", "revision", "raft_term", "leases"],
    );
    let ttl = json(
        "timetolive",
        ctl(&eps, &["-w", "json", "lease", "timetolive", &id, "--keys"]),
    );
    assert_eq!(ttl["keys"], serde_json::json!(["bGVhc2Vk"]), "{ttl}");
    assert_eq!(ttl["granted-ttl"], 60);
    let simple = ok(
        "timetolive",
        ctl(&eps, &["lease", "timetolive", &id, "--keys"]),
    );
    assert!(simple.contains("attached keys([leased])"), "{simple}");
    let kept = ok(
        "keep-alive --once",
        ctl(&eps, &["lease", "keep-alive", &id, "--once"]),
    );
    assert_eq!(
        kept,
        format!(
            "lease {:016x} keepalived with TTL(60)\n",
            granted["ID"].as_i64().unwrap()
        )
    );
    ok(
        "lease revoke",
        ctl(&eps, &["lease", "revoke", &id, "--data-dir", data.arg()]),
    );
    assert_eq!(
        ok("get", ctl(&eps, &["get", "leased"])),
        "",
        "revoking deletes the lease's keys"
    );
    let err = fails("revoke again", ctl(&eps, &["lease", "revoke", &id]));
    assert!(err.contains("not found"), "{err}");

    assert_eq!(
        data.ok_changes(&eps, &[]),
        changes(&[
            ("lease grant", "ttl 60"),
            (
                "lease revoke",
                format!("{:016x}", granted["ID"].as_i64().unwrap()).as_str()
            ),
        ])
    );
}

/// lock: a holder blocks a second locker until it goes; the command's exit status
/// is ctl's; the holder lets the audit store go while it holds the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_blocks_a_second_locker_and_exits_with_the_commands_status() {
    let _leases = LEASES.read().await;
    let cluster = DATA.get().await;
    let eps = cluster.client_urls();
    let data = AuditDir::new();
    let mut holder = spawn_ctl(&eps, &["lock", "mylock", "--data-dir", data.arg()]);
    let held = lines_of(&mut holder)
        .recv_timeout(Duration::from_secs(10))
        .expect("the holder prints the lock key");
    assert!(held.starts_with("mylock/"), "{held}");
    // The holder recorded the lock and let the store go while it holds the lock.
    drop(Store::open(&data.path().join(FILE_NAME), retention()).expect("the store is free"));
    let mut waiter = Command::new(BIN)
        .args([
            "ctl",
            &format!("--endpoints={}", eps.join(",")),
            "lock",
            "mylock",
            "--data-dir",
            data.arg(),
            "--",
        ])
        .args(["sh", "-c", "echo \"got $ETCD_LOCK_KEY\"; exit 3"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        waiter.try_wait().unwrap().is_none(),
        "the second locker waits while the lock is held"
    );
    sigterm(&holder);
    assert!(wait_exit(&mut holder, "ctl lock", Duration::from_secs(10))
        .await
        .success());
    let status = wait_exit(&mut waiter, "ctl lock", Duration::from_secs(10)).await;
    assert_eq!(
        status.code(),
        Some(3),
        "ctl lock exits with the command's status"
    );
    let mut got = String::new();
    std::io::Read::read_to_string(waiter.stdout.as_mut().unwrap(), &mut got).unwrap();
    assert!(got.starts_with("got mylock/"), "{got}");

    assert_eq!(
        data.ok_changes(&eps, &[]),
        changes(&[("lock", "mylock"), ("lock", "mylock")])
    );
}

/// elect: a campaigner wins and an observer sees its proposal; the leader resigns
/// on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elect_campaigner_wins_and_an_observer_sees_its_proposal() {
    let _leases = LEASES.read().await;
    let cluster = DATA.get().await;
    let eps = cluster.client_urls();
    let mut leader = spawn_ctl(&eps, &["elect", "myelection", "proposal-1"]);
    let lines = lines_of(&mut leader);
    let key = lines
        .recv_timeout(Duration::from_secs(10))
        .expect("the leader key");
    assert!(key.starts_with("myelection/"), "{key}");
    assert_eq!(
        lines.recv_timeout(Duration::from_secs(5)).unwrap(),
        "proposal-1"
    );
    let mut observer = spawn_ctl(&eps, &["elect", "myelection"]);
    let seen = lines_of(&mut observer);
    assert_eq!(seen.recv_timeout(Duration::from_secs(10)).unwrap(), key);
    assert_eq!(
        seen.recv_timeout(Duration::from_secs(5)).unwrap(),
        "proposal-1"
    );
    sigterm(&leader);
    assert!(
        wait_exit(&mut leader, "ctl elect", Duration::from_secs(10))
            .await
            .success(),
        "the leader resigns and exits 0"
    );
    sigterm(&observer);
    wait_exit(&mut observer, "ctl elect", Duration::from_secs(10)).await;
}

/// Bad input: a value over the request size limit, an unreachable endpoint, an
/// endpoint that accepts connections and never answers, an empty key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_unreachable_endpoints_fail_clearly() {
    let cluster = DATA.get().await;
    let eps = cluster.client_urls();
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    let put_big = |size: usize, what: &str| {
        std::fs::write(&big, vec![b'x'; size]).unwrap();
        let out = Command::new(BIN)
            .args([
                "ctl",
                &format!("--endpoints={}", eps.join(",")),
                "put",
                "big",
            ])
            .stdin(std::fs::File::open(&big).unwrap())
            .output()
            .unwrap();
        fails(what, out)
    };
    let err = put_big(1_700_000, "put 1.7 MB");
    assert!(
        err.contains("1700003 bytes") && err.contains("request size limit"),
        "{err}"
    );
    let err = put_big(2_200_000, "put 2.2 MB");
    assert!(err.contains("request size limit of 2097152 bytes"), "{err}");
    let dead = format!("http://127.0.0.1:{}", free_port().unwrap());
    let err = fails(
        "unreachable",
        ctl(std::slice::from_ref(&dead), &["get", "x"]),
    );
    assert!(err.contains(&dead) && err.contains("cannot reach"), "{err}");
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let err = fails(
        "silent endpoint",
        ctl(
            std::slice::from_ref(&silent_url),
            &[
                "--command-timeout",
                "1s",
                "--dial-timeout",
                "1s",
                "get",
                "x",
            ],
        ),
    );
    assert!(err.contains(&silent_url), "{err}");
    let err = fails("empty key", ctl(&eps, &["put", "", "v"]));
    assert!(err.contains("key is empty"), "{err}");
}

/// While the audit store is held (as by a running monitor), changes are refused
/// unless --no-audit, which records nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_refused_while_the_audit_store_is_in_use_unless_no_audit() {
    let cluster = DATA.get().await;
    let eps = cluster.client_urls();
    let one = vec![eps[0].clone()];
    let data = AuditDir::new();
    ok(
        "put",
        ctl(&eps, &["put", "audit/a", "v", "--data-dir", data.arg()]),
    );
    let store = Store::open(&data.path().join(FILE_NAME), retention()).unwrap();
    let recorded = audit::read(&store, 100).unwrap().len();
    assert_eq!(recorded, 1);
    let err = fails(
        "put while the store is in use",
        ctl(&one, &["put", "audit/x", "v", "--data-dir", data.arg()]),
    );
    assert!(
        err.contains("in use") && err.contains("--no-audit"),
        "{err}"
    );
    assert_eq!(
        ok("get", ctl(&eps, &["get", "audit/x"])),
        "",
        "nothing was changed"
    );
    ok(
        "put --no-audit",
        ctl(
            &one,
            &[
                "put",
                "audit/x",
                "v",
                "--data-dir",
                data.arg(),
                "--no-audit",
            ],
        ),
    );
    let n = audit::read(&store, 100).unwrap().len();
    assert_eq!(n, recorded, "--no-audit records nothing");
}

/// -c CONFIG: endpoints from the config's cluster, audit into its store.data_dir.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_gives_the_endpoints_and_the_audit_store() {
    let cluster = DATA.get().await;
    let eps = cluster.client_urls();
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("etcd-monitor.toml");
    let quoted: Vec<String> = eps.iter().map(|e| format!("{e:?}")).collect();
    std::fs::write(
        &cfg,
        format!(
            "[store]\ndata_dir = {:?}\n[[clusters]]\nname = \"prod\"\nendpoints = [{}]\n",
            cfg_dir.path().join("data").to_str().unwrap(),
            quoted.join(", ")
        ),
    )
    .unwrap();
    let with_config = |args: &[&str]| {
        Command::new(BIN)
            .arg("ctl")
            .arg("-c")
            .arg(&cfg)
            .args(args)
            .env_remove("ETCDCTL_ENDPOINTS")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    ok("put -c", with_config(&["put", "from/config", "v"]));
    assert_eq!(
        ok(
            "get",
            ctl(&eps, &["get", "from/config", "--print-value-only"])
        ),
        "v\n"
    );
    let err = fails(
        "unknown cluster",
        with_config(&["--cluster", "nope", "get", "x"]),
    );
    assert!(err.contains("no cluster named \"nope\""), "{err}");
    let store = Store::open(&cfg_dir.path().join("data").join(FILE_NAME), retention()).unwrap();
    let records = audit::read(&store, 10).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].cluster.as_str(), records[0].action.as_str()),
        ("prod", "put")
    );
}

/// member list, endpoint status, alarm list: JSON as etcdctl's; simple and table
/// output the same; endpoint health per member, and a dead endpoint named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_endpoints_and_alarms_are_listed_as_etcdctl() {
    let _members = MEMBERS.read().await;
    let cluster = DATA.get().await;
    let eps = cluster.client_urls();
    let ours = json("member list", ctl(&eps, &["-w", "json", "member", "list"]));
    let theirs = json(
        "etcdctl member list",
        etcdctl(&eps, &["-w", "json", "member", "list"]),
    );
    assert_same("member list", &ours, &theirs, &["member_id", "raft_term"]);
    assert_eq!(ours["members"].as_array().unwrap().len(), 3);
    assert!(ours["members"][0]["ID"].is_u64(), "ids are numbers: {ours}");
    assert_eq!(
        ok("member list", ctl(&eps, &["member", "list"])),
        ok("etcdctl member list", etcdctl(&eps, &["member", "list"]))
    );
    let table = ok(
        "member list -w table",
        ctl(&eps, &["-w", "table", "member", "list"]),
    );
    assert_eq!(
        table,
        ok("etcdctl", etcdctl(&eps, &["-w", "table", "member", "list"]))
    );
    let ours = json(
        "endpoint status",
        ctl(&eps, &["-w", "json", "endpoint", "status"]),
    );
    let theirs = json(
        "etcdctl endpoint status",
        etcdctl(&eps, &["-w", "json", "endpoint", "status"]),
    );
    assert_same(
        "endpoint status",
        &ours,
        &theirs,
        &[
            "revision",
            "raft_term",
            "raftIndex",
            "raftAppliedIndex",
            "raftTerm",
            "dbSize",
            "dbSizeInUse",
        ],
    );
    let args = ["-w", "json", "alarm", "list"];
    let ours = json("ctl", ctl(&eps, &args));
    let theirs = json("etcdctl", etcdctl(&eps, &args));
    assert_same(&format!("{args:?}"), &ours, &theirs, &header_differs());
    let health = ok("endpoint health", ctl(&eps, &["endpoint", "health"]));
    assert_eq!(
        health
            .lines()
            .filter(|l| l.contains("is healthy: successfully committed proposal: took = "))
            .count(),
        3,
        "{health}"
    );
    let hj = json(
        "endpoint health -w json",
        ctl(&[eps[0].clone()], &["-w", "json", "endpoint", "health"]),
    );
    assert_eq!(hj[0]["health"], true);
    let dead = format!("http://127.0.0.1:{}", free_port().unwrap());
    let out = ctl(
        &[eps[0].clone(), dead.clone()],
        &["--command-timeout", "1s", "endpoint", "health"],
    );
    let err = fails("health with a dead endpoint", out);
    assert!(err.contains(&format!("{dead} is unhealthy")), "{err}");
    let err = fails(
        "status with a dead endpoint",
        ctl(
            std::slice::from_ref(&dead),
            &["--command-timeout", "1s", "endpoint", "status"],
        ),
    );
    assert!(err.contains(&dead), "{err}");
}

/// Changes need confirmation: without --yes and without a terminal, nothing happens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_changes_without_yes_and_without_a_terminal_change_nothing() {
    let _members = MEMBERS.read().await;
    let cluster = DATA.get().await;
    let eps = cluster.client_urls();
    for args in [
        vec!["member", "add", "m4", "--peer-urls", "http://127.0.0.1:1"],
        vec!["compact", "2"],
        vec!["defrag"],
        vec!["alarm", "disarm"],
    ] {
        let err = fails(&format!("{args:?} without --yes"), ctl(&eps, &args));
        assert!(
            err.contains("--yes") && err.contains("nothing was changed"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(
        json("", ctl(&eps, &["-w", "json", "member", "list"]))["members"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

/// On a terminal (util-linux's `script` gives one) ctl asks: "n" changes nothing,
/// "y" goes on (alarm disarm with none active), and only that is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_ctl_asks_and_only_yes_goes_on() {
    let cluster = DATA.get().await;
    let eps = cluster.client_urls();
    let data = AuditDir::new();
    let on_terminal = |answer: &str, args: &str| {
        output_with_stdin(
            Command::new("script")
                .args(["-qec"])
                .arg(format!(
                    "{BIN} ctl --endpoints={} --data-dir {} {args}",
                    eps.join(","),
                    data.arg()
                ))
                .arg("/dev/null"),
            answer.as_bytes(),
        )
    };
    let out = on_terminal("n\n", "alarm disarm");
    assert!(!out.status.success());
    let said = text(&out.stdout);
    assert!(
        said.contains("disarm every alarm on")
            && said.contains("[y/N]")
            && said.contains("not confirmed"),
        "{said}"
    );
    let out = on_terminal("y\n", "alarm disarm");
    assert!(out.status.success(), "{}", text(&out.stdout));
    let actions: Vec<String> = data.records().into_iter().map(|r| r.action).collect();
    assert_eq!(actions, ["alarm disarm"]);
}

/// snapshot save: one endpoint only; the file passes `etcdctl snapshot status`, and
/// its revision reaches a key written just before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_of_one_endpoint_passes_etcdctl_snapshot_status() {
    let cluster = DATA.get().await;
    let eps = cluster.client_urls();
    let dir = tempfile::tempdir().unwrap();
    let rev = json("get", ctl(&eps, &["-w", "json", "get", "x"]))["header"]["revision"]
        .as_i64()
        .unwrap();
    ok("put", ctl(&eps, &["put", "snap/k", "v"]));
    let file = dir.path().join("snap.db");
    let err = fails(
        "snapshot of 3 endpoints",
        ctl(&eps, &["snapshot", "save", file.to_str().unwrap()]),
    );
    assert!(err.contains("one endpoint"), "{err}");
    let saved = ok(
        "snapshot save",
        ctl(
            &[eps[0].clone()],
            &["snapshot", "save", file.to_str().unwrap()],
        ),
    );
    assert_eq!(saved, format!("Snapshot saved at {}\n", file.display()));
    assert!(!dir.path().join("snap.db.part").exists());
    let status = Command::new(etcdctl_bin())
        .env("ETCDCTL_API", "3")
        .args(["snapshot", "status", "-w", "json"])
        .arg(&file)
        .output()
        .unwrap();
    let st: Value =
        serde_json::from_slice(&ok("etcdctl snapshot status", status).into_bytes()).unwrap();
    assert!(st["totalKey"].as_u64().unwrap() > 0, "{st}");
    assert!(st["revision"].as_i64().unwrap() > rev, "{st}");
}

/// `snapshot save` holds the whole keyspace: the file is the owner's only (0600,
/// as etcdctl writes it), also over an old world-readable file, and a stale
/// `.part` (here a symlink an attacker left) is replaced, never followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_is_private_and_never_follows_a_stale_part() {
    use std::os::unix::fs::PermissionsExt;

    let cluster = DATA.get().await;
    let one = vec![cluster.client_urls()[0].clone()];
    ok("put", ctl(&one, &["put", "secret", "s3cr3t"]));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snap.db");
    let part = dir.path().join("snap.db.part");
    let victim = dir.path().join("victim");
    std::fs::write(&file, b"old").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&victim, b"untouched").unwrap();
    std::os::unix::fs::symlink(&victim, &part).unwrap();
    ok(
        "snapshot save",
        ctl(&one, &["snapshot", "save", file.to_str().unwrap()]),
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "snapshot written with mode {mode:o}");
    assert!(std::fs::metadata(&file).unwrap().len() > 1000);
    assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
    assert!(std::fs::symlink_metadata(&part).is_err(), "no .part left");
}

/// `watch --max-events 0` would wait for ever: it is refused, naming the flag;
/// `--max-events 1` ends after the first event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_max_events_zero_is_refused_and_one_ends_after_an_event() {
    let _history = HISTORY.read().await;
    let cluster = DATA.get().await;
    let eps = cluster.client_urls();
    let put = json(
        "put",
        ctl(&eps, &["-w", "json", "put", "watched-once", "s3cr3t"]),
    );
    let rev = put["header"]["revision"].as_i64().unwrap().to_string();
    let mut child = spawn_ctl(&eps, &["watch", "k", "--max-events", "0"]);
    let status = wait_exit(&mut child, "ctl watch", Duration::from_secs(10)).await;
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "watch --max-events 0 succeeded: {err}");
    assert!(err.contains("--max-events"), "{err}");
    let watched = ok(
        "watch --max-events 1",
        ctl(
            &eps,
            &["watch", "watched-once", "--rev", &rev, "--max-events", "1"],
        ),
    );
    assert_eq!(watched, "PUT\nwatched-once\ns3cr3t\n");
}

/// member add (a learner that never starts), update, promote refused by etcd,
/// remove; an unknown or malformed id; each change audited, the refused promote
/// with etcd's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_add_update_promote_and_remove_a_learner() {
    let cluster = DATA.get().await;
    // etcd refuses reconfiguration until every member has been connected for 5 s
    // (strict reconfig check: "unhealthy cluster"): the others need not wait too.
    cluster.wait_age(Duration::from_secs(5)).await;
    let _members = MEMBERS.write().await;
    let eps = cluster.client_urls();
    let data = AuditDir::new();
    let peer = format!("http://127.0.0.1:{}", free_port().unwrap());
    // A young cluster is asked again.
    let added = wait_for("member add accepted", Duration::from_secs(20), || {
        let out = ctl(
            &eps,
            &[
                "member",
                "add",
                "m4",
                "--learner",
                "--peer-urls",
                &peer,
                "--yes",
                "--data-dir",
                data.arg(),
            ],
        );
        async move {
            if out.status.success() {
                Ok(text(&out.stdout))
            } else {
                let err = text(&out.stderr);
                assert!(err.contains("unhealthy cluster"), "member add: {err}");
                Err(err)
            }
        }
    })
    .await;
    assert!(
        added.contains("ETCD_NAME=\"m4\"")
            && added.contains("ETCD_INITIAL_CLUSTER_STATE=\"existing\""),
        "{added}"
    );
    let ours = json("member list", ctl(&eps, &["-w", "json", "member", "list"]));
    let theirs = json(
        "etcdctl member list",
        etcdctl(&eps, &["-w", "json", "member", "list"]),
    );
    assert_same(
        "member list with a learner",
        &ours,
        &theirs,
        &["member_id", "raft_term"],
    );
    let learner = ours["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["isLearner"] == true)
        .expect("the learner is listed");
    let lid = format!("{:x}", learner["ID"].as_u64().unwrap());
    assert!(ok("member list", ctl(&eps, &["member", "list"]))
        .contains(&format!("{lid}, unstarted, , {peer}, , true")));
    let peer2 = format!("http://127.0.0.1:{}", free_port().unwrap());
    ok(
        "member update",
        ctl(
            &eps,
            &[
                "member",
                "update",
                &lid,
                "--peer-urls",
                &peer2,
                "--yes",
                "--data-dir",
                data.arg(),
            ],
        ),
    );
    let err = fails(
        "promote a learner that never started",
        ctl(
            &eps,
            &["member", "promote", &lid, "--yes", "--data-dir", data.arg()],
        ),
    );
    assert!(err.contains("learner"), "{err}");
    let removed = ok(
        "member remove",
        ctl(
            &eps,
            &["member", "remove", &lid, "--yes", "--data-dir", data.arg()],
        ),
    );
    assert!(
        removed.contains(&format!("Member {lid:>16} removed from cluster")),
        "{removed}"
    );
    let err = fails(
        "remove an unknown member",
        ctl(&eps, &["member", "remove", "abcdef", "--yes"]),
    );
    assert!(err.contains("member abcdef is not in the cluster"), "{err}");
    let err = fails(
        "a member id that is not hex",
        ctl(&eps, &["member", "remove", "xyz", "--yes"]),
    );
    assert!(err.contains("not a member id"), "{err}");

    let all = data.records();
    // Refused adds of the young cluster are recorded too, with etcd's answer.
    assert!(all
        .iter()
        .filter(|r| r.outcome != "ok" && r.action == "member add")
        .all(|r| r.outcome.contains("unhealthy cluster")));
    let records: Vec<_> = all
        .into_iter()
        .filter(|r| !(r.action == "member add" && r.outcome != "ok"))
        .collect();
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "member add",
            "member update",
            "member promote",
            "member remove"
        ]
    );
    assert!(records[2].outcome.contains("learner"), "{:?}", records[2]);
    assert_eq!(records[3].target, lid);
}

/// compact --physical; reading before it fails clearly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_physical_makes_older_revisions_unreadable() {
    let _history = HISTORY.write().await;
    let cluster = DATA.get().await;
    let eps = cluster.client_urls();
    let data = AuditDir::new();
    // Revision 2 is in the past whatever ran on the cluster before.
    ok("put", ctl(&eps, &["put", "compact/k", "v"]));
    ok("put", ctl(&eps, &["put", "compact/k", "w"]));
    let rev = json("get", ctl(&eps, &["-w", "json", "get", "x"]))["header"]["revision"]
        .as_i64()
        .unwrap();
    assert_eq!(
        ok(
            "compact",
            ctl(
                &eps,
                &[
                    "compact",
                    &rev.to_string(),
                    "--physical",
                    "--yes",
                    "--data-dir",
                    data.arg()
                ]
            )
        ),
        format!("compacted revision {rev}\n")
    );
    let err = fails(
        "get below the compaction",
        ctl(&eps, &["get", "compact/k", "--rev", "2"]),
    );
    assert!(err.contains("compacted"), "{err}");
    let actions: Vec<String> = data.records().into_iter().map(|r| r.action).collect();
    assert_eq!(actions, ["compact"]);
}

/// defrag: a reader on every member sees no error while it runs; every member once,
/// the leader last; each member's defrag audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defrag_leaves_readers_unharmed_and_the_leader_last() {
    let cluster = DATA.get().await;
    let eps = cluster.client_urls();
    let data = AuditDir::new();
    for i in 0..50 {
        ok(
            "put",
            ctl(&eps, &["put", &format!("d/{i}"), &"x".repeat(1000)]),
        );
    }
    ok("del", ctl(&eps, &["del", "d/", "--prefix", "--yes"]));

    let status = etcdctl_endpoint_status(&eps);
    let leader_id = status[0]["Status"]["leader"].as_u64().unwrap();
    let leader_url = status
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Status"]["header"]["member_id"].as_u64() == Some(leader_id))
        .unwrap()["Endpoint"]
        .as_str()
        .unwrap()
        .to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = eps
        .iter()
        .map(|ep| {
            let (ep, stop) = (ep.clone(), stop.clone());
            tokio::spawn(async move {
                let mut client = etcd_client::Client::connect([ep.as_str()], None)
                    .await
                    .unwrap();
                let (mut reads, mut errors) = (0u32, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match tokio::time::timeout(Duration::from_secs(10), client.get("x", None)).await
                    {
                        Ok(Ok(_)) => reads += 1,
                        other => errors.push(format!("{ep}: {other:?}")),
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                (reads, errors)
            })
        })
        .collect();
    let out = tokio::process::Command::new(BIN)
        .args([
            "ctl",
            &format!("--endpoints={}", eps.join(",")),
            "defrag",
            "--yes",
            "--data-dir",
            data.arg(),
        ])
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let defragged = ok("defrag", out);
    for r in readers {
        let (reads, errors) = r.await.unwrap();
        assert!(errors.is_empty(), "reads failed during defrag: {errors:?}");
        assert!(reads > 0);
    }
    let order: Vec<&str> = defragged
        .lines()
        .map(|l| {
            l.strip_prefix("Finished defragmenting etcd member[")
                .and_then(|l| l.strip_suffix(']'))
                .unwrap_or_else(|| panic!("unexpected line {l:?} in {defragged}"))
        })
        .collect();
    assert_eq!(order.len(), 3, "{defragged}");
    let mut sorted = order.clone();
    sorted.sort();
    let mut all = eps.clone();
    all.sort();
    assert_eq!(sorted, all, "every member once");
    let leader_after = etcdctl_endpoint_status(&eps)[0]["Status"]["leader"]
        .as_u64()
        .unwrap();
    if leader_after == leader_id {
        assert_eq!(
            order[2], leader_url,
            "the leader is defragmented last: {defragged}"
        );
    } else {
        eprintln!("the leader changed during the test ({leader_id:x} -> {leader_after:x}); order {order:?}");
    }
    let records = data.records();
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["defrag", "defrag", "defrag"]);
    assert!(records[1].target.contains(order[1]));
}

/// Over TLS with client certificates and auth: bare host:port means https (for the
/// balanced connection and for the per-endpoint ones of status and snapshot), and a
/// wrong password fails without being printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_over_tls_with_auth() {
    let cluster = start_tls_cluster(1).await;
    enable_auth(&cluster, "ctl-pw").await;
    let tls = cluster.tls();
    let bare = cluster.client_urls()[0]
        .trim_start_matches("https://")
        .to_string();
    let run = |user: &str, args: &[&str]| {
        Command::new(BIN)
            .args(["ctl", "--endpoints", &bare, "--user", user])
            .args(crate::certs::client_flags(tls))
            .args(args)
            .env_remove("ETCDCTL_ENDPOINTS")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    ok("put", run("root:ctl-pw", &["put", "secure", "yes"]));
    assert_eq!(
        ok(
            "get",
            run("root:ctl-pw", &["get", "secure", "--print-value-only"])
        ),
        "yes\n"
    );
    let status = json(
        "endpoint status",
        run("root:ctl-pw", &["-w", "json", "endpoint", "status"]),
    );
    assert_eq!(status[0]["Endpoint"], bare.as_str());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tls-snap.db");
    ok(
        "snapshot save",
        run("root:ctl-pw", &["snapshot", "save", file.to_str().unwrap()]),
    );
    assert!(std::fs::metadata(&file).unwrap().len() > 0);
    let err = fails("wrong password", run("root:wrong-pw", &["get", "secure"]));
    assert!(
        !err.contains("wrong-pw"),
        "the password is not printed: {err}"
    );
    assert!(
        err.contains("authentication failed") || err.contains("invalid"),
        "{err}"
    );
}
