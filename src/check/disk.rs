//! The disk check: is this directory fast enough for etcd's WAL?
//!
//! The project's own test writes like the WAL does: a preallocated file (etcd
//! preallocates WAL segments), 2,300-byte sequential writes, `fdatasync` after each,
//! 22 MiB in all, and times every `fdatasync` into an hdrhistogram. When `fio` is
//! installed the standard command of etcd's docs runs on the same directory too,
//! and its JSON output is read, so both figures can be compared. PASS when the p99
//! of `fdatasync` is under 10 ms.

use std::fs::File;
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{new_histogram, CheckError, Finding, Latency, Result, Status};

/// etcd's docs: a WAL entry of a typical write.
pub const DEFAULT_BLOCK_SIZE: usize = 2300;
/// etcd's docs: 22 MiB (about 10,000 writes).
pub const DEFAULT_SIZE: u64 = 22 * 1024 * 1024;
/// etcd's docs: the p99 of `fdatasync` should be under 10 ms.
pub const P99_LIMIT_MS: f64 = 10.0;

#[derive(Debug, Clone)]
pub struct DiskOptions {
    pub dir: PathBuf,
    pub size: u64,
    pub block_size: usize,
    /// Run fio as well when it is installed.
    pub fio: bool,
    /// The longest fio may run.
    pub fio_timeout: Duration,
}

impl DiskOptions {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DiskOptions {
            dir: dir.into(),
            size: DEFAULT_SIZE,
            block_size: DEFAULT_BLOCK_SIZE,
            fio: true,
            fio_timeout: Duration::from_secs(600),
        }
    }
}

/// fio's figures for the sync (fdatasync) latencies of its job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FioResult {
    pub version: String,
    /// The command that ran, for the user to repeat.
    pub command: String,
    pub syncs: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub write_iops: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiskReport {
    pub dir: PathBuf,
    pub size_bytes: u64,
    pub block_size: usize,
    pub writes: u64,
    pub elapsed_seconds: f64,
    /// Writes (each with its fdatasync) per second.
    pub writes_per_second: f64,
    /// The latency of each `fdatasync` of the project's own test.
    pub fdatasync: Latency,
    pub fio: Option<FioResult>,
    /// Why fio did not run (not installed, turned off, failed).
    pub fio_skipped: Option<String>,
    /// fio's p99 / ours, when both ran.
    pub fio_ratio: Option<f64>,
    pub findings: Vec<Finding>,
}

/// What the check is doing, for a progress display.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// The own test wrote this many of so many bytes.
    Writing { done: u64, total: u64 },
    /// fio is running.
    Fio,
}

/// Parses `22MiB`, `4m`, `512k`, `1G`, `100000` (bytes; k/m/g are binary, as fio's are).
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 22MiB, 4m or 100000"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use k, m or g)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Checks that `dir` exists, is a writable directory and has room for `size` bytes
/// (plus a margin), with messages that say which.
pub fn preflight(dir: &Path, size: u64) -> Result<()> {
    let meta = std::fs::metadata(dir).map_err(|e| {
        CheckError::Dir(if e.kind() == std::io::ErrorKind::NotFound {
            format!("directory {} does not exist", dir.display())
        } else {
            format!("cannot read directory {}: {e}", dir.display())
        })
    })?;
    if !meta.is_dir() {
        return Err(CheckError::Dir(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    match tempfile::Builder::new()
        .prefix(".etcd-monitor-probe-")
        .tempfile_in(dir)
    {
        Ok(f) => drop(f),
        Err(e) => {
            return Err(CheckError::Dir(format!(
                "directory {} is not writable: {e}",
                dir.display()
            )))
        }
    }
    let free = free_bytes(dir).map_err(|e| CheckError::Io {
        what: format!("free space of {}", dir.display()),
        source: e,
    })?;
    let needed = size + 4 * 1024 * 1024;
    if free < needed {
        return Err(CheckError::Dir(format!(
            "not enough free space in {}: {} MiB free, the check needs {} MiB",
            dir.display(),
            free / (1024 * 1024),
            needed.div_ceil(1024 * 1024)
        )));
    }
    Ok(())
}

/// Bytes available to an unprivileged user on the file system of `dir`.
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs is plain data, for which all-zero bytes are a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: statvfs writes into the struct we own; path is NUL-terminated.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Runs the own test, then fio if asked and installed; blocking (run it on a thread
/// of its own). `progress` is called now and then.
pub fn run(opts: &DiskOptions, progress: &mut dyn FnMut(Progress)) -> Result<DiskReport> {
    if opts.block_size == 0 || opts.size < opts.block_size as u64 {
        return Err(CheckError::Invalid(format!(
            "size ({} B) must be at least one block ({} B)",
            opts.size, opts.block_size
        )));
    }
    preflight(&opts.dir, opts.size)?;
    let started = Instant::now();
    let hist = wal_like_test(&opts.dir, opts.size, opts.block_size, progress)?;
    let elapsed = started.elapsed().as_secs_f64();
    let fdatasync = Latency::from_histogram(&hist);

    let (fio, fio_skipped) = if !opts.fio {
        (None, Some("turned off (--no-fio)".to_string()))
    } else if !fio_installed() {
        (
            None,
            Some("fio is not installed (apt-get install fio)".to_string()),
        )
    } else {
        progress(Progress::Fio);
        match run_fio(&opts.dir, opts.size, opts.block_size, opts.fio_timeout) {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(format!("fio failed: {e}"))),
        }
    };
    let fio_ratio = fio
        .as_ref()
        .filter(|_| fdatasync.p99_ms > 0.0)
        .map(|f| f.p99_ms / fdatasync.p99_ms);
    let mut findings = vec![judge_p99(
        "fdatasync p99 (etcd-monitor)",
        &fdatasync_detail(&fdatasync),
        fdatasync.p99_ms,
    )];
    if let Some(f) = &fio {
        findings.push(judge_p99(
            "fdatasync p99 (fio)",
            &format!(
                "p99 {:.2} ms, p50 {:.2} ms, max {:.2} ms over {} syncs",
                f.p99_ms, f.p50_ms, f.max_ms, f.syncs
            ),
            f.p99_ms,
        ));
    }
    Ok(DiskReport {
        dir: opts.dir.clone(),
        size_bytes: opts.size,
        block_size: opts.block_size,
        writes: fdatasync.count,
        elapsed_seconds: elapsed,
        writes_per_second: if elapsed > 0.0 {
            fdatasync.count as f64 / elapsed
        } else {
            0.0
        },
        fdatasync,
        fio,
        fio_skipped,
        fio_ratio,
        findings,
    })
}

fn fdatasync_detail(l: &Latency) -> String {
    format!(
        "p99 {:.2} ms, p50 {:.2} ms, max {:.2} ms over {} writes",
        l.p99_ms, l.p50_ms, l.max_ms, l.count
    )
}

/// PASS under 10 ms at p99, else FAIL.
pub fn judge_p99(check: &str, detail: &str, p99_ms: f64) -> Finding {
    if p99_ms < P99_LIMIT_MS {
        Finding::new(
            check,
            Status::Pass,
            format!("{detail} (under {P99_LIMIT_MS} ms)"),
            "",
        )
    } else {
        Finding::new(
            check,
            Status::Fail,
            format!("{detail} (etcd needs under {P99_LIMIT_MS} ms)"),
            "Put etcd's data directory (at least --wal-dir) on a faster disk: a local SSD or NVMe, \
             not shared with busy processes, not a network or burst-credit volume; \
             a WAL this slow causes missed heartbeats and leader elections.",
        )
    }
}

/// Sequential `block_size` writes into a preallocated temp file in `dir`, each
/// followed by `fdatasync`, which is timed. The file is removed afterwards.
fn wal_like_test(
    dir: &Path,
    size: u64,
    block_size: usize,
    progress: &mut dyn FnMut(Progress),
) -> Result<hdrhistogram::Histogram<u64>> {
    let io = |what: &str| {
        let what = what.to_string();
        move |source| CheckError::Io { what, source }
    };
    let tmp = tempfile::Builder::new()
        .prefix(".etcd-monitor-disk-check-")
        .tempfile_in(dir)
        .map_err(io("creating the test file"))?;
    let mut file: &File = tmp.as_file();
    // Preallocate as etcd does for WAL segments; where the file system cannot, go on.
    // SAFETY: fallocate on a file descriptor we own.
    unsafe {
        libc::fallocate(file.as_raw_fd(), 0, 0, size as libc::off_t);
    }
    let block = vec![0xA5u8; block_size];
    let writes = size / block_size as u64;
    let mut hist = new_histogram();
    let step = (writes / 100).max(1);
    for i in 0..writes {
        file.write_all(&block)
            .map_err(io("writing the test file"))?;
        let t = Instant::now();
        file.sync_data().map_err(io("fdatasync of the test file"))?;
        let ns = t.elapsed().as_nanos().max(1) as u64;
        hist.saturating_record(ns);
        if i % step == 0 || i + 1 == writes {
            progress(Progress::Writing {
                done: (i + 1) * block_size as u64,
                total: writes * block_size as u64,
            });
        }
    }
    tmp.close().map_err(io("removing the test file"))?;
    Ok(hist)
}

pub fn fio_installed() -> bool {
    Command::new("fio")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The standard command of etcd's docs, as the user can run it.
pub fn fio_args(dir: &Path, size: u64, block_size: usize) -> Vec<String> {
    vec![
        "--rw=write".into(),
        "--ioengine=sync".into(),
        "--fdatasync=1".into(),
        format!("--size={size}"),
        format!("--bs={block_size}"),
        "--name=etcd-check".into(),
        format!("--directory={}", dir.display()),
        "--output-format=json".into(),
    ]
}

/// Runs fio in a temp directory inside `dir` (removed afterwards) and reads its JSON.
pub fn run_fio(dir: &Path, size: u64, block_size: usize, timeout: Duration) -> Result<FioResult> {
    let work = tempfile::Builder::new()
        .prefix(".etcd-monitor-fio-")
        .tempdir_in(dir)
        .map_err(|e| CheckError::Io {
            what: "creating fio's directory".into(),
            source: e,
        })?;
    let args = fio_args(work.path(), size, block_size);
    let out_path = work.path().join("fio-output.json");
    let out = File::create(&out_path).map_err(|e| CheckError::Io {
        what: "creating fio's output file".into(),
        source: e,
    })?;
    let mut child = Command::new("fio")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| CheckError::FioIo {
            what: "cannot start fio",
            source,
        })?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(CheckError::Fio(format!("no result within {timeout:?}")));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(source) => {
                return Err(CheckError::FioIo {
                    what: "waiting for fio",
                    source,
                })
            }
        }
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    if !status.success() {
        return Err(CheckError::Fio(format!(
            "exited with {status}: {}",
            stderr.trim()
        )));
    }
    let mut result = parse_fio_json(&text)?;
    // Show the command with the user's directory, not our temp one.
    result.command = format!("fio {}", fio_args(dir, size, block_size).join(" "));
    work.close().map_err(|e| CheckError::Io {
        what: "removing fio's directory".into(),
        source: e,
    })?;
    Ok(result)
}

/// Reads fio's `--output-format=json`: the first job's `sync.lat_ns` (the
/// fdatasync latencies: min, max, mean, N, percentile map) and `write.iops`. Text
/// fio prints before the JSON (warnings) is skipped.
pub fn parse_fio_json(text: &str) -> Result<FioResult> {
    let start = text
        .find('{')
        .ok_or_else(|| CheckError::Fio("no JSON in its output".into()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text[start..]).map_err(CheckError::FioOutput)?;
    let job = &v["jobs"][0];
    if job.is_null() {
        return Err(CheckError::Fio("its JSON output has no job".into()));
    }
    if let Some(err) = job["error"].as_i64().filter(|e| *e != 0) {
        return Err(CheckError::Fio(format!("the job failed with error {err}")));
    }
    let lat = &job["sync"]["lat_ns"];
    let num = |v: &serde_json::Value, what: &str| {
        v.as_f64()
            .ok_or_else(|| CheckError::Fio(format!("its JSON output lacks {what}")))
    };
    let pct = &lat["percentile"];
    let ms = |ns: f64| ns / 1e6;
    Ok(FioResult {
        version: v["fio version"].as_str().unwrap_or("").to_string(),
        command: String::new(),
        syncs: num(&lat["N"], "jobs[0].sync.lat_ns.N")? as u64,
        min_ms: ms(num(&lat["min"], "jobs[0].sync.lat_ns.min")?),
        mean_ms: ms(num(&lat["mean"], "jobs[0].sync.lat_ns.mean")?),
        p50_ms: ms(num(&pct["50.000000"], "the sync p50")?),
        p99_ms: ms(num(&pct["99.000000"], "the sync p99")?),
        max_ms: ms(num(&lat["max"], "jobs[0].sync.lat_ns.max")?),
        write_iops: job["write"]["iops"].as_f64().unwrap_or(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIO_JSON: &str = include_str!("../../tests/fixtures/fio-etcd-check.json");

    #[test]
    fn parses_a_real_fio_json_output() {
        let r = parse_fio_json(FIO_JSON).unwrap();
        assert_eq!(r.version, "fio-3.33");
        assert_eq!(r.syncs, 10029);
        assert!((r.p99_ms - 5.275648).abs() < 1e-9, "{r:?}");
        assert!((r.p50_ms - 0.138240).abs() < 1e-9, "{r:?}");
        assert!((r.max_ms - 200.366867).abs() < 1e-9, "{r:?}");
        assert!((r.min_ms - 0.057586).abs() < 1e-9, "{r:?}");
        assert!(r.write_iops > 1000.0, "{r:?}");
    }

    #[test]
    fn fio_json_after_warnings_and_broken_json() {
        let with_note = format!("fio: note: something\n{FIO_JSON}");
        assert_eq!(
            parse_fio_json(&with_note).unwrap(),
            parse_fio_json(FIO_JSON).unwrap()
        );
        assert!(parse_fio_json("fio: failed").is_err());
        let e = parse_fio_json(r#"{"jobs":[{"error":0,"sync":{"lat_ns":{}}}]}"#).unwrap_err();
        assert!(e.to_string().contains("lacks"), "{e}");
        let e = parse_fio_json(r#"{"jobs":[{"error":5}]}"#).unwrap_err();
        assert!(e.to_string().contains("error 5"), "{e}");
    }

    #[test]
    fn sizes_parse_like_fio() {
        assert_eq!(parse_size("22m").unwrap(), 22 * 1024 * 1024);
        assert_eq!(parse_size("22MiB").unwrap(), 22 * 1024 * 1024);
        assert_eq!(parse_size("512k").unwrap(), 512 * 1024);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("2300").unwrap(), 2300);
        assert!(parse_size("abc").is_err());
        assert!(parse_size("5x").is_err());
    }

    #[test]
    fn p99_under_10_ms_passes() {
        assert_eq!(judge_p99("x", "d", 9.99).status, Status::Pass);
        let f = judge_p99("x", "d", 10.0);
        assert_eq!(f.status, Status::Fail);
        assert!(f.recommendation.contains("faster disk"));
    }

    #[test]
    fn missing_unwritable_and_full_directories_are_named() {
        let e = preflight(Path::new("/nonexistent/etcd-monitor"), 1).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let e = preflight(&file, 1).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
        let e = preflight(dir.path(), u64::MAX / 2).unwrap_err();
        assert!(e.to_string().contains("not enough free space"), "{e}");
        // /proc is not writable, even for root.
        let e = preflight(Path::new("/proc"), 1).unwrap_err();
        assert!(e.to_string().contains("not writable"), "{e}");
    }

    #[test]
    fn own_test_writes_syncs_and_removes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = DiskOptions::new(dir.path());
        opts.size = 64 * 1024;
        opts.fio = false;
        let mut calls = 0;
        let r = run(&opts, &mut |_| calls += 1).unwrap();
        assert_eq!(r.writes, 64 * 1024 / 2300);
        assert!(r.fdatasync.p99_ms > 0.0);
        assert!(r.fdatasync.max_ms >= r.fdatasync.p99_ms);
        assert!(calls > 0);
        assert_eq!(r.findings.len(), 1);
        assert!(r.fio_skipped.is_some());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
