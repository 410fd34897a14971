//! The binary: config commands, invalid config, and `serve` end to end with SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use etcd_monitor::localetcd::{free_port, LocalClusterOptions};

use crate::harness::*;
use crate::process::{sigterm, wait_exit, BIN};

#[test]
fn config_default_is_valid_and_check_reports_bad_fields() {
    let out = Command::new(BIN)
        .args(["config", "default"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("etcd-monitor.toml");
    std::fs::write(&file, &out.stdout).unwrap();
    let check = Command::new(BIN)
        .args(["config", "check", "-c"])
        .arg(&file)
        .env_remove("ETCDCTL_ENDPOINTS")
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("listen = \"127.0.0.1:9393\""));

    std::fs::write(&file, "[collect]\ninterval = \"fast\"\n").unwrap();
    let bad = Command::new(BIN)
        .args(["serve", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("collect.interval"), "{err}");

    std::fs::write(
        &file,
        "[[clusters]]\nname = \"x\"\nendpoints = [\"http://127.0.0.1:1\"]\n[clusters.tls]\nca_file = \"/nonexistent/ca.pem\"\n",
    )
    .unwrap();
    let bad = Command::new(BIN)
        .args(["config", "check", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("clusters[0].tls.ca_file"), "{err}");

    let missing = Command::new(BIN)
        .args(["serve", "-c", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent.toml"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_monitors_endpoints_and_stops_on_sigterm() {
    let cluster = start_cluster(3, LocalClusterOptions::default()).await;
    let port = free_port().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--name", "from-flags", "--interval", "1"])
        .arg(format!("--endpoints={}", cluster.client_urls().join(",")))
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data.path().join("store"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/api/v1/clusters/from-flags");
    let snap = wait_for(
        "serve reports the cluster healthy",
        Duration::from_secs(20),
        || async {
            let v = get_json(&http, &url).await?;
            if v["status"] == "healthy" {
                Ok(v)
            } else {
                Err(v.to_string())
            }
        },
    )
    .await;
    assert_eq!(snap["members"].as_array().unwrap().len(), 3);
    assert!(data.path().join("store").is_dir(), "data dir is created");
    let health: serde_json::Value = http
        .get(format!("http://127.0.0.1:{port}/api/v1/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    eprintln!(
        "serve monitoring 3 members: resident memory {:.1} MiB",
        health["resident_memory_bytes"].as_f64().unwrap() / 1048576.0
    );
    // The same build facts as `--version`.
    let version =
        String::from_utf8(Command::new(BIN).arg("--version").output().unwrap().stdout).unwrap();
    for field in ["version", "commit", "build_date"] {
        let value = health[field].as_str().unwrap_or_else(|| panic!("{health}"));
        assert!(
            !value.is_empty() && version.contains(value),
            "{field} {value:?} is not in --version's {version:?}"
        );
    }

    sigterm(&child);
    let status = wait_exit(&mut child, "serve after SIGTERM", Duration::from_secs(10)).await;
    assert!(status.success(), "serve exits 0 on SIGTERM, got {status}");
}

/// `alerts export-prometheus` writes rules Prometheus accepts (`promtool check rules`,
/// Debian's prometheus package), with the config's changes applied; `alerts test`
/// names an unknown receiver.
#[test]
fn alerts_export_is_accepted_by_promtool_and_test_names_unknown_receivers() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("etcd-monitor.toml");
    std::fs::write(
        &config,
        "[alerting.builtin.etcdHighFsyncDurations]\nthreshold = 0.3\n[alerting.builtin.etcdNoLeader]\nenabled = false\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["alerts", "export-prometheus", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rules = String::from_utf8(out.stdout).unwrap();
    assert!(
        rules.contains("alert: \"etcdHighFsyncDurations\""),
        "{rules}"
    );
    assert!(
        rules.contains("> 0.3"),
        "the threshold override is applied: {rules}"
    );
    assert!(
        !rules.contains("alert: \"etcdNoLeader\""),
        "a disabled rule is left out"
    );
    let file = dir.path().join("etcd.rules.yml");
    std::fs::write(&file, &rules).unwrap();
    match Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
    {
        Ok(check) => assert!(
            check.status.success(),
            "promtool refused the rules:\n{}\n{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        ),
        // Not a skip: scripts/test installs it.
        Err(e) => panic!("promtool cannot run ({e}); apt-get install prometheus"),
    }
    let out = Command::new(BIN)
        .args(["alerts", "test", "nobody", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no receiver is named \"nobody\""), "{err}");
}

/// Log lines to a terminal or a file start with a UTC timestamp; under systemd
/// (JOURNAL_STREAM set, stderr not a terminal) they do not, since the journal
/// stamps each line itself. Neither carries ANSI colours off a terminal.
#[test]
fn log_lines_leave_the_timestamp_to_the_journal() {
    let first_line = |journal: bool| {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--endpoints", "http://127.0.0.1:1", "--listen"])
            .arg(format!("127.0.0.1:{}", free_port().unwrap()))
            .arg("--data-dir")
            .arg(dir.path())
            .env_remove("JOURNAL_STREAM")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if journal {
            cmd.env("JOURNAL_STREAM", "8:12345");
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stderr.take().unwrap()),
            &mut line,
        )
        .unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        line
    };
    let plain = first_line(false);
    assert!(
        plain.starts_with("20") && plain.contains("Z  INFO etcd_monitor"),
        "{plain:?}"
    );
    let journal = first_line(true);
    assert!(journal.starts_with(" INFO etcd_monitor"), "{journal:?}");
    assert!(!plain.contains('\x1b') && !journal.contains('\x1b'));
}

/// A monitor whose stderr reader goes away (a closed pipe, a log collector that
/// died) loses its log lines and nothing else: it stops cleanly on SIGTERM and
/// leaves a store that opens without repair. tracing-subscriber's own report of a
/// failed write used to panic on the same broken stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stderr_loses_log_lines_not_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |stderr: Stdio| {
        Command::new(BIN)
            .args([
                "serve",
                "--interval",
                "1",
                "--endpoints",
                "http://127.0.0.1:1",
            ])
            .arg(format!("--listen=127.0.0.1:{}", free_port().unwrap()))
            .arg("--data-dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap()
    };
    let mut child = serve(Stdio::piped());
    let mut first = String::new();
    let mut reader = std::io::BufReader::new(child.stderr.take().unwrap());
    std::io::BufRead::read_line(&mut reader, &mut first).unwrap();
    assert!(first.contains("monitoring"), "{first}");
    drop(reader);
    // Every log line from here on meets a closed pipe; SIGTERM logs one more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    sigterm(&child);
    let status = wait_exit(
        &mut child,
        "serve with a closed stderr",
        Duration::from_secs(20),
    )
    .await;
    assert!(status.success(), "serve exits 0 on SIGTERM, got {status}");

    let mut again = serve(Stdio::piped());
    let mut reader = std::io::BufReader::new(again.stderr.take().unwrap());
    let mut lines = String::new();
    for _ in 0..3 {
        std::io::BufRead::read_line(&mut reader, &mut lines).unwrap();
    }
    sigterm(&again);
    wait_exit(&mut again, "the second serve", Duration::from_secs(20)).await;
    assert!(!lines.contains("repair"), "{lines}");
}
