//! The binary's edges: a reader of its output that goes away (`| head -1`), files a
//! config names that are not there, durations shown as written, and `bench` storing
//! its run in the monitor answering on the default address.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use etcd_monitor::config::ClusterConfig;
use etcd_monitor::localetcd::{free_port, LocalClusterOptions};
use serde_json::{json, Value};

use crate::harness::*;
use crate::process::{sigterm, wait_exit, BIN};

/// What `head -1` does, made certain: the pipe holds only 4 KiB, the reader takes one
/// line and closes its end while the command still has more to write. Returns the
/// command's exit status, stderr and the line.
fn run_into_head(cmd: &mut Command, deadline: Duration) -> (Option<i32>, String, String) {
    let (mut reader, writer) = std::io::pipe().unwrap();
    // SAFETY: fcntl on a pipe this process owns; 4096 is the smallest size Linux takes.
    let set = unsafe { libc::fcntl(reader.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    assert!(
        set >= 4096,
        "F_SETPIPE_SZ: {}",
        std::io::Error::last_os_error()
    );
    let mut child = cmd
        .stdout(writer)
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    // The child holds the write end now; ours goes with the Command's stdio.
    let mut line = Vec::new();
    let mut buf = [0u8; 64];
    while !line.contains(&b'\n') {
        let n = reader.read(&mut buf).unwrap();
        assert!(n > 0, "the command wrote no line");
        line.extend_from_slice(&buf[..n]);
    }
    drop(reader);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            panic!("the command did not end within {deadline:?} after its reader went away");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let line = String::from_utf8_lossy(&line)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    (status.code(), err, line)
}

fn assert_quiet_end(what: &str, (code, err, line): &(Option<i32>, String, String)) {
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert_eq!(
        *code,
        Some(0),
        "{what}: a reader that goes away ends the command quietly with 0; stderr: {err}"
    );
    assert!(
        err.trim().is_empty(),
        "{what}: nothing on stderr, got {err}"
    );
    assert!(!line.is_empty(), "{what}: the first line was read");
}

#[test]
fn config_default_into_head_ends_quietly() {
    let r = run_into_head(
        Command::new(BIN).args(["config", "default"]),
        Duration::from_secs(10),
    );
    assert_quiet_end("config default", &r);
    assert!(r.2.starts_with('#'), "{}", r.2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_history_into_head_ends_quietly() {
    // History: silences made and expired through the API of a monitor on its own store.
    let data = tempfile::tempdir().unwrap();
    let mut settings = test_settings(
        vec![ClusterConfig::plain(
            "gone",
            vec![format!("http://127.0.0.1:{}", free_port().unwrap())],
        )],
        Duration::from_secs(1),
    );
    settings.store.data_dir = data.path().to_path_buf();
    let monitor = Monitor::start(settings).await;
    for i in 0..40 {
        let resp = monitor
            .http
            .post(format!("{}/api/v1/silences", monitor.base))
            .json(&json!({
                "matchers": [format!("alertname=Test{i}")],
                "duration": "1h",
                "created_by": "cli-edges-test",
                "comment": format!("silence {i} of 40, long enough that forty of them fill more than a pipe of four KiB"),
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
        let id = resp.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let resp = monitor
            .http
            .delete(format!("{}/api/v1/silences/{id}", monitor.base))
            .json(&json!({"by": "cli-edges-test"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }
    monitor.stop().await;

    let full = Command::new(BIN)
        .args(["alerts", "history", "--limit", "1000", "--data-dir"])
        .arg(data.path())
        .env_remove("ETCD_MONITOR_CONFIG")
        .output()
        .unwrap();
    assert!(
        full.status.success(),
        "{}",
        String::from_utf8_lossy(&full.stderr)
    );
    assert!(
        full.stdout.len() > 8192,
        "the history is longer than the pipe: {} bytes",
        full.stdout.len()
    );

    let r = run_into_head(
        Command::new(BIN)
            .args(["alerts", "history", "--limit", "1000", "--data-dir"])
            .arg(data.path())
            .env_remove("ETCD_MONITOR_CONFIG"),
        Duration::from_secs(20),
    );
    assert_quiet_end("alerts history", &r);
    assert!(r.2.contains("silence_"), "{}", r.2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_get_prefix_into_head_ends_quietly() {
    let cluster = start_cluster(1, LocalClusterOptions::default()).await;
    let urls = cluster.client_urls();
    let mut client = etcd_client::Client::connect(&urls, None).await.unwrap();
    let value = "v".repeat(100);
    for i in 0..2000 {
        client
            .put(format!("/head/{i:05}"), value.as_str(), None)
            .await
            .unwrap();
    }
    let r = run_into_head(
        Command::new(BIN)
            .args([
                "ctl",
                "--endpoints",
                &urls.join(","),
                "get",
                "--prefix",
                "/head/",
            ])
            .env_remove("ETCD_MONITOR_CONFIG"),
        Duration::from_secs(20),
    );
    assert_quiet_end("ctl get --prefix", &r);
    assert_eq!(r.2, "/head/00000");

    // -w json is one line: a reader that takes it whole sees the command end with 0.
    let r = run_into_head(
        Command::new(BIN)
            .args([
                "ctl",
                "--endpoints",
                &urls.join(","),
                "-w",
                "json",
                "watch",
                "--prefix",
                "/head/",
                "--rev",
                "1",
            ])
            .env_remove("ETCD_MONITOR_CONFIG"),
        Duration::from_secs(20),
    );
    assert_quiet_end("ctl watch --prefix", &r);
}

fn config_check(file: &Path) -> Output {
    Command::new(BIN)
        .args(["config", "check", "-c"])
        .arg(file)
        .env_remove("ETCDCTL_ENDPOINTS")
        .output()
        .unwrap()
}

fn serve_with(file: &Path) -> Output {
    let data = tempfile::tempdir().unwrap();
    Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "-c"])
        .arg(file)
        .arg("--data-dir")
        .arg(data.path())
        .output()
        .unwrap()
}

#[test]
fn files_the_config_names_must_exist_for_check_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    let missing = dir.path().join("no-such-password");
    let present = dir.path().join("password");
    std::fs::write(&present, "secret\n").unwrap();
    let cluster = |pw: &Path| {
        format!(
            "[[clusters]]\nname = \"a\"\nendpoints = [\"http://127.0.0.1:1\"]\n[clusters.auth]\nuser = \"root\"\npassword_file = \"{}\"\n",
            pw.display()
        )
    };

    std::fs::write(&file, cluster(&missing)).unwrap();
    let want = format!(
        "clusters[0].auth.password_file: {} does not exist",
        missing.display()
    );
    for (what, out) in [
        ("config check", config_check(&file)),
        ("serve", serve_with(&file)),
    ] {
        assert_eq!(out.status.code(), Some(1), "{what}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&want), "{what}: {err}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("valid"),
            "{what}"
        );
    }

    // A directory is not a password file.
    std::fs::write(&file, cluster(dir.path())).unwrap();
    let err = String::from_utf8_lossy(&config_check(&file).stderr).into_owned();
    assert!(
        err.contains("clusters[0].auth.password_file") && err.contains("is not a file"),
        "{err}"
    );

    // A receiver's files: the mail relay's password.
    std::fs::write(
        &file,
        format!(
            "{}[[alerting.receivers]]\ntype = \"email\"\nname = \"mail\"\nsmtp_host = \"127.0.0.1\"\nusername = \"u\"\npassword_file = \"{}\"\nfrom = \"m@example.org\"\nto = [\"o@example.org\"]\n",
            cluster(&present),
            missing.display()
        ),
    )
    .unwrap();
    let out = config_check(&file);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "alerting.receivers[0].password_file: {} does not exist",
            missing.display()
        )),
        "{err}"
    );

    // With the files there, the config is valid.
    std::fs::write(&file, cluster(&present)).unwrap();
    let out = config_check(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn config_check_shows_durations_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "[store]\nraw_retention = \"36h\"\n[collect]\ninterval = \"1m 30s\"\n",
    )
    .unwrap();
    let out = config_check(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "hour_retention = \"400d\"",
        "minute_retention = \"30d\"",
        "raw_retention = \"36h\"",
        "interval = \"90s\"",
        "checkpoint_interval = \"5m\"",
    ] {
        assert!(text.contains(want), "{want} in\n{text}");
    }
    for never in ["year", "month", "days"] {
        assert!(!text.contains(never), "{never} in\n{text}");
    }
}

/// A list set from the environment is split at commas (before, it was one string and
/// `serve` refused it: "invalid type: string, expected a sequence").
#[test]
fn allowed_hosts_from_the_environment_are_a_list() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "").unwrap();
    let out = Command::new(BIN)
        .args(["config", "check", "-c"])
        .arg(&file)
        .env(
            "ETCD_MONITOR__SERVER__ALLOWED_HOSTS",
            "monitor.example.com,.example.org",
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(r#"allowed_hosts = ["#)
            && text.contains(r#""monitor.example.com""#)
            && text.contains(r#"".example.org""#),
        "{text}"
    );
}

fn bench_put(cwd: &Path, monitor_addr: &str, endpoints: &str) -> Output {
    Command::new(BIN)
        .current_dir(cwd)
        .env_remove("ETCD_MONITOR_CONFIG")
        // The default address of the config (server.listen, 127.0.0.1:9393), moved by
        // the config's environment layer: the test cannot own port 9393 on a machine
        // other tests and a developer's demo share.
        .env("ETCD_MONITOR__SERVER__LISTEN", monitor_addr)
        .args(["bench", "--endpoints", endpoints, "put", "--total", "20"])
        .args(["--output", "json"])
        .output()
        .unwrap()
}

/// `bench` with no `-c` and no `--data-dir`, against the cluster of a running monitor
/// answering on the default address: the run goes to that monitor (its dashboard),
/// not to `./data`; with no monitor there (etcd itself answers), to `./data` as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_stores_its_run_in_the_monitor_on_the_default_address() {
    let cluster = start_cluster(1, LocalClusterOptions::default()).await;
    let endpoints = cluster.client_urls().join(",");
    let port = free_port().unwrap();
    let addr = format!("127.0.0.1:{port}");
    let monitor_data = tempfile::tempdir().unwrap();
    let mut serve = Command::new(BIN)
        .args(["serve", "--interval", "1", "--listen", &addr])
        .arg(format!("--endpoints={endpoints}"))
        .arg("--data-dir")
        .arg(monitor_data.path())
        .env_remove("ETCD_MONITOR_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    wait_for("serve answers", Duration::from_secs(20), || async {
        http.get(format!("{base}/api/v1/health"))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;

    let cwd = tempfile::tempdir().unwrap();
    let out = bench_put(cwd.path(), &addr, &endpoints);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let id = serde_json::from_slice::<Value>(&out.stdout).unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err.contains(&format!("run {id} stored in the running monitor at {base}")),
        "{err}"
    );
    assert!(!cwd.path().join("data").exists(), "nothing in ./data");
    let runs: Value = http
        .get(format!("{base}/api/v1/benchmarks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(runs.to_string().contains(&id), "{runs}");
    // `bench show ID`, as the message says, finds it there too.
    let show = Command::new(BIN)
        .current_dir(cwd.path())
        .env_remove("ETCD_MONITOR_CONFIG")
        .env("ETCD_MONITOR__SERVER__LISTEN", &addr)
        .args(["bench", "show", &id])
        .output()
        .unwrap();
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    assert!(String::from_utf8_lossy(&show.stdout).contains(&id));

    // An address where something else answers (etcd: 404 on /api/v1/health) is no
    // monitor: the run goes to ./data.
    let etcd_addr = cluster.client_urls()[0]
        .trim_start_matches("http://")
        .to_string();
    let out = bench_put(cwd.path(), &etcd_addr, &endpoints);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("data/etcd-monitor.redb"), "{err}");
    assert!(cwd.path().join("data/etcd-monitor.redb").is_file());

    sigterm(&serve);
    let status = wait_exit(&mut serve, "serve", Duration::from_secs(10)).await;
    assert!(status.success());
}
