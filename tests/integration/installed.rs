//! The artefacts of `scripts/package` (target/dist/), checked as a user meets
//! them: the .deb installed into this machine with dpkg, run as its unit says,
//! upgraded and purged; the .rpm judged by rpmlint and installed into a scratch
//! root; the tarball's binary run alone from an empty directory; the container
//! image unpacked and its binary run as the image says.
//!
//! These install into `/` as root, and need the artefacts built first, so a plain
//! `cargo test` leaves them out (`#[ignore]`). scripts/test runs them after
//! scripts/package: `cargo test --test integration installed:: -- --ignored`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use etcd_monitor::localetcd::{free_port, LocalClusterOptions};
use serde_json::Value;

use crate::harness::{get_json, start_cluster, wait_for};
use crate::process::{sigterm, wait_exit};

const DIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/dist");
const VERSION: &str = env!("CARGO_PKG_VERSION");
const IGNORED: &str = "installs into / as root; scripts/test runs it after scripts/package";

/// The one artefact in target/dist/ whose name ends with `suffix`.
fn artefact(suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(DIST)
        .unwrap_or_else(|e| panic!("{DIST}: {e} (run scripts/package first)"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "one *{suffix} in {DIST}: {found:?}");
    found.into_iter().next().unwrap()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(run(cmd).stdout).unwrap()
}

fn assert_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "dpkg -i needs root ({IGNORED})");
}

/// Mode bits, owner and group names of a path.
fn stat(path: &str) -> (u32, String, String) {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let name = |db: &str, id: u32| {
        stdout(Command::new("getent").args([db, &id.to_string()]))
            .split(':')
            .next()
            .unwrap()
            .to_string()
    };
    (
        meta.permissions().mode() & 0o7777,
        name("passwd", meta.uid()),
        name("group", meta.gid()),
    )
}

/// Purges the package when a test ends, however it ends, so that a failed run
/// leaves the machine as it found it.
struct Purge;
impl Drop for Purge {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["--purge", "etcd-monitor"])
            .output();
    }
}

/// What `serve` started as the unit's ExecStart, as the service user, monitors:
/// it waits for the cluster to be healthy, reads /api/v1/health, stops the
/// monitor with SIGTERM and returns the store's series count.
async fn run_as_the_unit_says(unit: &str, endpoints: &str) -> u64 {
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart=");
    let user = unit
        .lines()
        .find_map(|l| l.strip_prefix("User="))
        .expect("User=");
    let args: Vec<&str> = exec.split_whitespace().collect();
    let port = free_port().unwrap();
    // Environment= in a drop-in would set these: the test's etcd and a free port.
    let mut child = Command::new("setpriv")
        .args([
            &format!("--reuid={user}"),
            &format!("--regid={user}"),
            "--init-groups",
            "--",
        ])
        .args(&args)
        .env("ETCD_MONITOR__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("ETCD_MONITOR__COLLECT__INTERVAL", "1s")
        .env("ETCDCTL_ENDPOINTS", endpoints)
        .current_dir("/")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let snapshot = wait_for(
        "the installed monitor finds the cluster healthy",
        Duration::from_secs(30),
        || async {
            let v = get_json(&http, &format!("{base}/clusters/default")).await?;
            if v["status"] == "healthy" {
                Ok(v)
            } else {
                Err(v.to_string())
            }
        },
    )
    .await;
    assert_eq!(snapshot["members"].as_array().unwrap().len(), 3);
    let health = get_json(&http, &format!("{base}/health")).await.unwrap();
    assert_eq!(health["version"], VERSION, "{health}");
    // A few scrapes stored before the stop.
    tokio::time::sleep(Duration::from_secs(3)).await;
    sigterm(&child);
    let status = wait_exit(&mut child, "the installed serve", Duration::from_secs(30)).await;
    assert!(status.success(), "serve exits 0 on SIGTERM: {status}");
    series_count(user)
}

/// `store stats` of the packaged store, run as the service user.
fn series_count(user: &str) -> u64 {
    let out = stdout(
        Command::new("setpriv")
            .args([
                &format!("--reuid={user}"),
                &format!("--regid={user}"),
                "--init-groups",
                "--",
                "/usr/bin/etcd-monitor",
                "store",
                "stats",
                "--json",
                "--config",
                "/etc/etcd-monitor/config.toml",
            ])
            .current_dir("/"),
    );
    let stats: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        stats["path"].as_str().unwrap(),
        "/var/lib/etcd-monitor/etcd-monitor.redb",
        "{stats}"
    );
    stats["series"].as_u64().unwrap()
}

fn exists(path: &str) -> bool {
    Path::new(path).exists()
}

/// The .deb from install to purge: user, files and modes, lintian, the unit,
/// the monitor run as the unit says; an upgrade keeps a changed config and the
/// store; remove keeps both; purge removes both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "installs into / as root; scripts/test runs it after scripts/package"]
async fn the_deb_installs_runs_upgrades_and_purges() {
    assert_root();
    let deb = artefact("_amd64.deb");
    let _purge = Purge;
    let _ = Command::new("dpkg")
        .args(["--purge", "etcd-monitor"])
        .output();
    run(Command::new("dpkg").arg("-i").arg(&deb));

    // The service user: a system account, no login shell, its home the store.
    let passwd = stdout(Command::new("getent").args(["passwd", "etcd-monitor"]));
    let fields: Vec<&str> = passwd.trim().split(':').collect();
    let uid: u32 = fields[2].parse().unwrap();
    assert!(uid < 1000, "a system uid: {passwd}");
    assert_eq!(fields[5], "/var/lib/etcd-monitor", "{passwd}");
    assert!(fields[6].ends_with("nologin"), "{passwd}");

    // Files and modes.
    assert_eq!(
        stat("/usr/bin/etcd-monitor"),
        (0o755, "root".into(), "root".into())
    );
    let config = "/etc/etcd-monitor/config.toml";
    assert_eq!(stat(config), (0o640, "root".into(), "etcd-monitor".into()));
    let store = "/var/lib/etcd-monitor";
    assert_eq!(
        stat(store),
        (0o750, "etcd-monitor".into(), "etcd-monitor".into())
    );
    let listed = stdout(Command::new("dpkg").args(["-L", "etcd-monitor"]));
    let unit_path = listed
        .lines()
        .find(|l| l.ends_with("/systemd/system/etcd-monitor.service"))
        .unwrap_or_else(|| panic!("no unit in {listed}"))
        .to_string();
    for path in [
        "/usr/share/man/man1/etcd-monitor.1.gz",
        "/usr/share/man/man1/etcd-monitor-serve.1.gz",
        "/usr/share/bash-completion/completions/etcd-monitor",
        "/usr/share/zsh/vendor-completions/_etcd-monitor",
        "/usr/share/fish/vendor_completions.d/etcd-monitor.fish",
        "/usr/share/doc/etcd-monitor/copyright",
        "/usr/share/doc/etcd-monitor/README.md",
    ] {
        assert!(listed.lines().any(|l| l == path), "{path} not in {listed}");
    }
    let conffiles =
        stdout(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", "etcd-monitor"]));
    assert!(conffiles.contains(config), "conffiles: {conffiles}");
    let packaged_config = std::fs::read_to_string(config).unwrap();
    assert!(
        packaged_config.contains("data_dir = \"/var/lib/etcd-monitor\""),
        "{packaged_config}"
    );
    let man = stdout(
        Command::new("man")
            .args(["-P", "cat", "etcd-monitor-serve"])
            .env("MANWIDTH", "80"),
    );
    assert!(man.contains("--config"), "{man}");

    // lintian: no error. Its warnings are printed for the note.
    let lintian = Command::new("lintian")
        .args(["--fail-on", "error", "--no-tag-display-limit"])
        .arg(&deb)
        .output()
        .expect("lintian (Debian: lintian)");
    eprintln!("lintian:\n{}", String::from_utf8_lossy(&lintian.stdout));
    assert!(lintian.status.success(), "lintian: {lintian:?}");

    // The installed unit, with its binary and man pages where they are.
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=yes", &unit_path])
        .output()
        .unwrap();
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // The monitor as the unit starts it, against a real etcd.
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    let cluster = start_cluster(3, LocalClusterOptions::default()).await;
    let endpoints = cluster.client_urls().join(",");
    let series = run_as_the_unit_says(&unit, &endpoints).await;
    assert!(series > 100, "the store holds the scrapes: {series} series");
    eprintln!("installed monitor stored {series} series");

    // An upgrade (the same binary with a higher package revision) restarts the
    // service where systemd runs, and keeps the admin's config and the store.
    let postinst =
        stdout(Command::new("dpkg-query").args(["--control-path", "etcd-monitor", "postinst"]));
    let postinst = std::fs::read_to_string(postinst.trim()).unwrap();
    assert!(
        postinst.contains("_dh_action=restart")
            && postinst.contains("deb-systemd-invoke $_dh_action"),
        "postinst restarts on upgrade:\n{postinst}"
    );
    let changed = packaged_config.replace("max_connections = 256", "max_connections = 200");
    assert_ne!(changed, packaged_config);
    std::fs::write(config, &changed).unwrap();
    let upgrade_dir = tempfile::tempdir().unwrap();
    run(Command::new("cargo")
        .args([
            "deb",
            "--quiet",
            "--no-build",
            "--no-strip",
            "--profile",
            "ship",
        ])
        .args([
            "--target",
            "x86_64-unknown-linux-gnu",
            "--deb-revision",
            "2",
            "-o",
        ])
        .arg(upgrade_dir.path())
        .current_dir(env!("CARGO_MANIFEST_DIR")));
    let upgrade = upgrade_dir
        .path()
        .join(format!("etcd-monitor_{VERSION}-2_amd64.deb"));
    run(Command::new("dpkg").arg("-i").arg(&upgrade));
    let installed =
        stdout(Command::new("dpkg-query").args(["-W", "-f=${Version}", "etcd-monitor"]));
    assert_eq!(installed, format!("{VERSION}-2"));
    assert_eq!(std::fs::read_to_string(config).unwrap(), changed);
    assert_eq!(stat(config), (0o640, "root".into(), "etcd-monitor".into()));
    assert_eq!(
        series_count("etcd-monitor"),
        series,
        "the store after the upgrade"
    );
    // The upgraded package runs on the kept store.
    let again = run_as_the_unit_says(&unit, &endpoints).await;
    assert!(
        again >= series,
        "{again} series after a second run, {series} before"
    );

    // Remove keeps config and store; purge removes both.
    run(Command::new("dpkg").args(["--remove", "etcd-monitor"]));
    assert!(!exists("/usr/bin/etcd-monitor"));
    assert_eq!(std::fs::read_to_string(config).unwrap(), changed);
    assert!(exists("/var/lib/etcd-monitor/etcd-monitor.redb"));
    run(Command::new("dpkg").args(["--purge", "etcd-monitor"]));
    assert!(!exists("/etc/etcd-monitor"), "purge removes the config");
    assert!(!exists(store), "purge removes the store");
    let overrides = stdout(Command::new("dpkg-statoverride").args(["--list"]));
    assert!(!overrides.contains(config), "{overrides}");
}

/// The .rpm: rpmlint finds no error; its payload, modes and scripts are as the
/// packaging says; it installs into a scratch root and erases from it keeping a
/// changed config (as .rpmsave) and the store. Its scripts are not run there: the
/// scratch root has no shell or useradd, and this machine is not rpm-based.
#[test]
#[ignore = "needs scripts/package's artefacts; scripts/test runs it after scripts/package"]
fn the_rpm_passes_rpmlint_and_carries_the_files_and_scripts() {
    let rpm = artefact(".x86_64.rpm");
    // Every finding rpmlint.toml answers is filtered there, with its reason.
    let lint = Command::new("rpmlint")
        .arg("-c")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/packaging/rpm/rpmlint.toml"
        ))
        .arg(&rpm)
        .output()
        .expect("rpmlint (Debian: rpmlint)");
    let report = String::from_utf8_lossy(&lint.stdout);
    eprintln!("rpmlint:\n{report}");
    assert!(
        lint.status.success() && report.contains(" 0 errors"),
        "rpmlint: {lint:?}"
    );

    let listed = stdout(Command::new("rpm").arg("-qpl").arg(&rpm));
    let mut files: Vec<&str> = listed.lines().collect();
    files.retain(|f| !f.starts_with("/usr/share/man/man1/etcd-monitor-"));
    assert_eq!(
        files,
        [
            "/etc/etcd-monitor/config.toml",
            "/usr/bin/etcd-monitor",
            "/usr/lib/systemd/system/etcd-monitor.service",
            "/usr/share/bash-completion/completions/etcd-monitor",
            "/usr/share/doc/etcd-monitor/README.md",
            "/usr/share/fish/vendor_completions.d/etcd-monitor.fish",
            "/usr/share/licenses/etcd-monitor/LICENSE",
            "/usr/share/man/man1/etcd-monitor.1.gz",
            "/usr/share/zsh/site-functions/_etcd-monitor",
        ]
    );
    let pages = listed
        .lines()
        .filter(|f| f.starts_with("/usr/share/man/man1/"))
        .count();
    assert!(pages > 50, "one page per subcommand: {pages}");

    let modes = stdout(
        Command::new("rpm")
            .args(["-qp", "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\\n]"])
            .arg(&rpm),
    );
    for line in [
        "-rw-r----- root etcd-monitor cn /etc/etcd-monitor/config.toml",
        "-rwxr-xr-x root root  /usr/bin/etcd-monitor",
        "-rw-r--r-- root root  /usr/lib/systemd/system/etcd-monitor.service",
    ] {
        assert!(modes.lines().any(|l| l == line), "{line:?} not in\n{modes}");
    }

    let scripts = stdout(Command::new("rpm").args(["-qp", "--scripts"]).arg(&rpm));
    for part in [
        "preinstall scriptlet",
        "useradd -r -g etcd-monitor -d /var/lib/etcd-monitor -s /sbin/nologin",
        "postinstall scriptlet",
        "install -d -o etcd-monitor -g etcd-monitor -m 0750 /var/lib/etcd-monitor",
        "systemctl --no-reload preset etcd-monitor.service",
        "preuninstall scriptlet",
        "systemctl --no-reload disable --now etcd-monitor.service",
        "postuninstall scriptlet",
        "systemctl try-restart etcd-monitor.service",
    ] {
        assert!(scripts.contains(part), "{part:?} not in\n{scripts}");
    }
    let requires = stdout(Command::new("rpm").args(["-qpR"]).arg(&rpm));
    assert!(requires.contains("/bin/sh"), "{requires}");
    let newest = newest_glibc(&requires);
    assert!(
        newest <= (2, 28),
        "the rpm requires GLIBC_{}.{}",
        newest.0,
        newest.1
    );

    // A scratch root: install the payload, then erase it.
    let root = tempfile::tempdir().unwrap();
    let in_root = |p: &str| root.path().join(p.trim_start_matches('/'));
    run(Command::new("rpm")
        .arg("--root")
        .arg(root.path())
        .arg("--initdb"));
    run(Command::new("rpm")
        .arg("--root")
        .arg(root.path())
        .args(["-i", "--nodeps", "--noscripts"])
        .arg(&rpm));
    let version = stdout(Command::new(in_root("/usr/bin/etcd-monitor")).arg("--version"));
    assert!(
        version.starts_with(&format!("etcd-monitor {VERSION} (commit ")),
        "{version}"
    );
    let config = in_root("/etc/etcd-monitor/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("data_dir = \"/var/lib/etcd-monitor\""));
    std::fs::write(
        &config,
        text.replace("max_connections = 256", "max_connections = 200"),
    )
    .unwrap();
    // The store, which %post makes (the scripts did not run) and the service fills.
    std::fs::create_dir_all(in_root("/var/lib/etcd-monitor")).unwrap();
    std::fs::write(
        in_root("/var/lib/etcd-monitor/etcd-monitor.redb"),
        b"the store",
    )
    .unwrap();
    run(Command::new("rpm").arg("--root").arg(root.path()).args([
        "-e",
        "--nodeps",
        "--noscripts",
        "etcd-monitor",
    ]));
    assert!(!in_root("/usr/bin/etcd-monitor").exists());
    let saved = std::fs::read_to_string(in_root("/etc/etcd-monitor/config.toml.rpmsave")).unwrap();
    assert!(saved.contains("max_connections = 200"));
    assert!(in_root("/var/lib/etcd-monitor/etcd-monitor.redb").exists());
}

/// The binary needs no glibc newer than 2.28 (RHEL/Rocky 8, Debian 10,
/// Ubuntu 20.04): the newest symbol version `objdump -T` lists.
#[test]
#[ignore = "needs scripts/package's artefacts; scripts/test runs it after scripts/package"]
fn the_binary_needs_no_glibc_newer_than_2_28() {
    let bin = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/x86_64-unknown-linux-gnu/ship/etcd-monitor"
    );
    let table = stdout(Command::new("objdump").args(["-T", bin]));
    let newest = newest_glibc(&table);
    eprintln!(
        "objdump -T: newest glibc symbol version GLIBC_{}.{}",
        newest.0, newest.1
    );
    assert!(
        newest <= (2, 28),
        "needs GLIBC_{}.{}:\n{table}",
        newest.0,
        newest.1
    );
}

/// The newest `GLIBC_x.y` version named in `text` (objdump -T, rpm -qR).
fn newest_glibc(text: &str) -> (u32, u32) {
    text.split("GLIBC_")
        .skip(1)
        .filter_map(|rest| {
            let mut parts = rest
                .split(|c: char| !c.is_ascii_digit() && c != '.')
                .next()?
                .split('.')
                .map(|p| p.parse::<u32>().ok());
            Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
        })
        .max()
        .expect("names glibc versions")
}

/// The tarball: its checksum holds, it holds what it should, and its binary,
/// alone in an empty directory, serves, runs the demo, prints help and
/// completions; its man page reads with `man -l`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs scripts/package's artefacts; scripts/test runs it after scripts/package"]
async fn the_tarballs_binary_runs_alone_from_an_empty_directory() {
    let tarball = artefact("-x86_64-linux.tar.gz");
    run(Command::new("sha256sum")
        .args(["--check", "--strict"])
        .arg(tarball.with_extension("gz.sha256"))
        .current_dir(DIST));
    let unpacked = tempfile::tempdir().unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(unpacked.path()));
    let top = unpacked
        .path()
        .join(format!("etcd-monitor-{VERSION}-x86_64-linux"));
    for file in [
        "etcd-monitor",
        "LICENSE",
        "README.md",
        "config.toml",
        "etcd-monitor.service",
        "man/man1/etcd-monitor.1",
        "man/man1/etcd-monitor-serve.1",
        "completions/etcd-monitor.bash",
        "completions/_etcd-monitor",
        "completions/etcd-monitor.fish",
    ] {
        assert!(top.join(file).is_file(), "{file} in the tarball");
    }
    let man = stdout(
        Command::new("man")
            .args(["-P", "cat", "-l"])
            .arg(top.join("man/man1/etcd-monitor-serve.1"))
            .env("MANWIDTH", "80"),
    );
    assert!(man.contains("--config"), "{man}");

    // The binary alone.
    let empty = tempfile::tempdir().unwrap();
    let bin = empty.path().join("etcd-monitor");
    std::fs::copy(top.join("etcd-monitor"), &bin).unwrap();
    let alone = empty.path().to_path_buf();
    let help = stdout(Command::new(&bin).arg("--help").current_dir(&alone));
    assert!(help.contains("serve"), "{help}");
    let bash = stdout(
        Command::new(&bin)
            .args(["completions", "bash"])
            .current_dir(&alone),
    );
    assert_eq!(
        bash,
        std::fs::read_to_string(top.join("completions/etcd-monitor.bash")).unwrap()
    );

    // serve: the store goes to ./data, the dashboard's assets are in the binary.
    let cluster = start_cluster(3, LocalClusterOptions::default()).await;
    let port = free_port().unwrap();
    let mut serve = Command::new(&bin)
        .args(["serve", "--interval", "1"])
        .arg(format!("--endpoints={}", cluster.client_urls().join(",")))
        .arg(format!("--listen=127.0.0.1:{port}"))
        .current_dir(&alone)
        .env_remove("ETCD_MONITOR_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let page = wait_for("the tarball's serve", Duration::from_secs(30), || async {
        let v = get_json(
            &http,
            &format!("http://127.0.0.1:{port}/api/v1/clusters/default"),
        )
        .await?;
        if v["status"] != "healthy" {
            return Err(v.to_string());
        }
        http.get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    assert!(page.contains("default"), "{page}");
    sigterm(&serve);
    assert!(wait_exit(&mut serve, "serve", Duration::from_secs(30))
        .await
        .success());
    assert!(alone.join("data/etcd-monitor.redb").is_file());

    // demo: etcd from PATH, the dashboard on a free port.
    let etcd = std::env::var("ETCD_BIN").unwrap_or_else(|_| "/usr/bin/etcd".into());
    let etcd_dir = Path::new(&etcd)
        .parent()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let demo_port = free_port().unwrap();
    let mut demo = Command::new(&bin)
        .args(["demo", "--interval", "1", "--listen"])
        .arg(format!("127.0.0.1:{demo_port}"))
        .current_dir(&alone)
        .env("PATH", format!("{etcd_dir}:/usr/bin:/bin"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let demo_url = format!("http://127.0.0.1:{demo_port}/api/v1/clusters");
    wait_for("the tarball's demo", Duration::from_secs(60), || async {
        let v = get_json(&http, &demo_url).await?;
        if v.to_string().contains("\"healthy\"") {
            Ok(())
        } else {
            Err(v.to_string())
        }
    })
    .await;
    sigterm(&demo);
    assert!(wait_exit(&mut demo, "demo", Duration::from_secs(30))
        .await
        .success());
}

/// A blob of the unpacked OCI layout by its digest (`sha256:…`).
fn oci_blob(layout: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    layout.join("blobs/sha256").join(hex)
}

fn oci_json(layout: &Path, digest: &str) -> Value {
    serde_json::from_slice(&std::fs::read(oci_blob(layout, digest)).unwrap()).unwrap()
}

/// scripts/image's archive: its config runs the binary as 65532 with the
/// packaged config; its layers hold the binary, its libraries and nothing to
/// log in with; unpacked and entered with chroot as that user, the root
/// filesystem read-only (no container runtime runs in this sandbox), the binary
/// monitors a real cluster and keeps its store in the image's volume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs scripts/image's archive and root; scripts/test runs it after scripts/image"]
async fn the_image_runs_the_monitor_as_its_unprivileged_user() {
    assert_root();
    let archive = artefact("-image.oci.tar");
    let layout = tempfile::tempdir().unwrap();
    run(Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(layout.path()));
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.path().join("index.json")).unwrap()).unwrap();
    let manifest = oci_json(
        layout.path(),
        index["manifests"][0]["digest"].as_str().unwrap(),
    );
    let config = oci_json(
        layout.path(),
        manifest["config"]["digest"].as_str().unwrap(),
    );
    let run_config = &config["config"];
    assert_eq!(run_config["User"], "65532:65532", "{config}");
    assert_eq!(
        run_config["Entrypoint"],
        serde_json::json!(["/usr/bin/etcd-monitor"])
    );
    assert_eq!(run_config["Cmd"], serde_json::json!(["serve"]));
    assert_eq!(run_config["WorkingDir"], "/var/lib/etcd-monitor");
    assert!(
        run_config["ExposedPorts"]["9393/tcp"].is_object(),
        "{config}"
    );
    assert!(
        run_config["Volumes"]["/var/lib/etcd-monitor"].is_object(),
        "{config}"
    );
    let env: Vec<&str> = run_config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"ETCD_MONITOR_CONFIG=/etc/etcd-monitor/config.toml"),
        "{env:?}"
    );

    let rootfs = layout.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    for layer in manifest["layers"].as_array().unwrap() {
        let blob = oci_blob(layout.path(), layer["digest"].as_str().unwrap());
        run(Command::new("tar")
            .arg("-xf")
            .arg(&blob)
            .arg("-C")
            .arg(&rootfs));
    }
    for absent in ["bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/apt"] {
        assert!(!rootfs.join(absent).exists(), "{absent} is in the image");
    }
    let data = rootfs.join("var/lib/etcd-monitor");
    let meta = std::fs::metadata(&data).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65532, 65532));
    assert_eq!(meta.permissions().mode() & 0o7777, 0o750);
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(passwd.contains("etcd-monitor:x:65532:65532:"), "{passwd}");

    // As the image's user, with only the image's files and environment, and as
    // the Deployment mounts it: the root filesystem read-only, the store's
    // volume and /tmp writable. unshare gives the mounts a namespace of their
    // own; it, sh and chroot each exec the next, so the child is the monitor.
    let volume = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(volume.path(), Some(65532), Some(65532)).unwrap();
    std::fs::set_permissions(volume.path(), std::fs::Permissions::from_mode(0o750)).unwrap();
    let cluster = start_cluster(3, LocalClusterOptions::default()).await;
    let port = free_port().unwrap();
    let script = format!(
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin; set -e; R={root}; \
         mount --bind $R $R; mount -o remount,bind,ro $R; \
         mount --bind {volume} $R/var/lib/etcd-monitor; \
         mount -t tmpfs -o mode=1777 tmpfs $R/tmp; \
         exec chroot --userspec={user} $R /usr/bin/etcd-monitor serve --interval 1 \
           --endpoints={endpoints} --listen=127.0.0.1:{port}",
        root = rootfs.display(),
        volume = volume.path().display(),
        user = run_config["User"].as_str().unwrap(),
        endpoints = cluster.client_urls().join(","),
    );
    let mut serve = Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .env_clear()
        .envs(env.iter().filter_map(|e| e.split_once('=')))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    wait_for("the image's serve", Duration::from_secs(30), || async {
        let v = get_json(
            &http,
            &format!("http://127.0.0.1:{port}/api/v1/clusters/default"),
        )
        .await?;
        if v["status"] != "healthy" {
            return Err(v.to_string());
        }
        Ok(())
    })
    .await;
    sigterm(&serve);
    assert!(
        wait_exit(&mut serve, "the image's serve", Duration::from_secs(30))
            .await
            .success()
    );
    let store = std::fs::metadata(volume.path().join("etcd-monitor.redb")).unwrap();
    assert_eq!(store.uid(), 65532, "the store belongs to the image's user");
    assert!(store.len() > 0);
}
