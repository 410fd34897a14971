//! `cargo bench --bench fleet`: the monitor watching a fleet of clusters.
//!
//! Part `live` (FLEET_BENCH=live or both):
//! 1. Starts one real 3-member etcd (`localetcd`, `ETCD_BIN`).
//! 2. Runs the `etcd-monitor` binary built with the bench (`serve`, a child process)
//!    with FLEET_CLUSTERS (default 100) clusters that all point at those three
//!    members, so etcd's cost stays put while the monitor does N times the work;
//!    probes every 15 s (the default) for FLEET_SECONDS (default 360), with the
//!    default `store.series` ("used").
//! 3. Every 30 s prints the monitor's RSS (VmRSS of /proc/PID/status), its CPU share
//!    of one core over the last 30 s (utime + stime of /proc/PID/stat) and the store
//!    file's size; reads every cluster's `etcd_monitor_probe_duration_seconds` from
//!    `/metrics` every 15 s.
//! 4. At the end: the series stored (`/api/v1/store`), probe durations (median, p90,
//!    max), the overview page `/` with `wrk -t1 -c1` for 10 s (one request at a
//!    time: median and p99) and its size; then stops the monitor with SIGTERM and
//!    prints the file's size after the clean stop beside its size while running.
//!
//! Part `day` (FLEET_BENCH=day or both): runs the whole monitor in this process
//! as `serve` does (store, writer, collectors, alert manager, registry, web
//! server), its FLEET_CLUSTERS clusters pointing at a real 3-member etcd and
//! probed every 15 s of wall time, and feeds its store a day of FLEET_CLUSTERS x
//! 3 members' recorded scrapes (the corpus of tests/fixtures/corpus, 15 s apart,
//! each cluster at its own phase, looped) with timestamps from now to a day
//! ahead, through the default `store.series` filter and the indicators, with a
//! checkpoint every 5 minutes and maintenance every hour of history (as the
//! store's writer does); the monitor's own samples are of the same series and
//! older, so dropped (see `Monitor::start`). Each hour of history it asks the web
//! server for the overview and for the day's history of a metric, and prints this
//! process's RSS and peak RSS (what it held before the monitor started, the corpus
//! among it, is printed as the baseline), the file's size and the samples
//! stored; at the end the peak RSS (VmHWM) since the corpus was read.
//!
//! `FLEET_WRAP` runs the monitor under another program, such as a heap profiler
//! (`FLEET_WRAP="heaptrack -o /tmp/fleet"`).
//!
//! Needs a real etcd for `live` (`ETCD_BIN`; Debian: /usr/bin/etcd) and `wrk`
//! (`WRK_BIN`). The bench says so when either is missing. Every process it starts is
//! stopped and every temp dir removed when it ends.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use etcd_monitor::collect::keep::SeriesSelection;
use etcd_monitor::collect::SeriesFilter;
use etcd_monitor::localetcd::{find_etcd_binary, free_port, LocalCluster, LocalClusterOptions};
use etcd_monitor::store::{MemberSamples, Retention, Store};

#[path = "support/env.rs"]
mod env;
#[path = "support/steps.rs"]
mod steps;
use env::{cores, env_or, load_average};
#[path = "support/wrk.rs"]
mod wrk;
use std::collections::HashMap;
use steps::{corpus_steps, StepSamples, MEMBERS};

const INTERVAL_MS: i64 = 15_000;
const HOUR_MS: i64 = 3_600_000;
const CHECKPOINT_EVERY_MS: i64 = 5 * 60_000;

fn main() {
    if let Err(e) = run() {
        eprintln!("fleet bench failed: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    // The day part's corpus, read in a process of its own (see `Corpus::read`).
    if let Some(out) = std::env::var_os(CORPUS_OUT) {
        let filter = SeriesFilter::new(SeriesSelection::Used, [], &[])?;
        let corpus = Corpus::new(corpus_steps(&filter)?);
        std::fs::write(&out, postcard::to_stdvec(&corpus)?)?;
        return Ok(());
    }
    let clusters: usize = env_or("FLEET_CLUSTERS", 100)?;
    let seconds: u64 = env_or("FLEET_SECONDS", 360)?;
    let hours: i64 = env_or("FLEET_HOURS", 24)?;
    let part = std::env::var("FLEET_BENCH").unwrap_or_else(|_| "both".into());
    if !matches!(part.as_str(), "live" | "day" | "both") {
        bail!("FLEET_BENCH={part:?}: live, day or both");
    }
    println!(
        "fleet bench: {clusters} clusters x {MEMBERS} members, {} cores, load average before: {}",
        cores(),
        load_average()
    );
    if part != "day" {
        live(clusters, seconds)?;
    }
    if part != "live" {
        day(clusters, hours)?;
    }
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Bytes the file takes on disk: redb grows a file by doubling its length and
/// leaves the new part unwritten, a hole that takes no space.
fn file_on_disk(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map_or(0, |m| m.blocks() * 512)
}

/// A `Vm*` field (`VmRSS`, `VmHWM`) of the monitor's /proc/PID/status, in bytes.
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// utime + stime of /proc/PID/stat, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // SAFETY: sysconf reads a constant of the system; no memory is touched.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) as f64 / hz
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

// ---------------------------------------------------------------------------
// Live: the binary against one real etcd, N clusters deep

/// The monitor as a child process, killed if the bench fails before stopping it.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn live(clusters: usize, seconds: u64) -> Result<()> {
    let etcd_bin = find_etcd_binary().ok_or_else(|| {
        anyhow!("no etcd binary: set ETCD_BIN=/usr/bin/etcd (Debian package etcd-server)")
    })?;
    let wrk_bin = wrk::wrk_binary()?;
    let tmp = tempfile::Builder::new()
        .prefix("etcd-monitor-fleet-bench-")
        .tempdir()
        .context("creating a temp dir")?;
    let rt = tokio::runtime::Runtime::new()?;
    let (etcd, endpoints) = start_etcd(&rt, &etcd_bin, tmp.path())?;
    let port = free_port()?;
    let data_dir = tmp.path().join("data");
    let config = fleet_config(port, &data_dir, "", clusters, &endpoints);
    let config_path = tmp.path().join("fleet.toml");
    std::fs::write(&config_path, config)?;
    let log_path = tmp.path().join("serve.log");
    let log = std::fs::File::create(&log_path)?;
    println!(
        "\n== live: {} against one 3-member etcd ({}), {clusters} clusters, {seconds} s",
        env!("CARGO_BIN_EXE_etcd-monitor"),
        etcd_bin.display()
    );
    // FLEET_WRAP runs the monitor under another program (a heap profiler:
    // `FLEET_WRAP="heaptrack -o /tmp/fleet"`); the RSS and CPU figures are then
    // that program's, not the monitor's.
    let wrap: Vec<String> = std::env::var("FLEET_WRAP")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let mut command = match wrap.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(env!("CARGO_BIN_EXE_etcd-monitor"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_etcd-monitor")),
    };
    let mut serve = Serve(
        command
            .args(["serve", "-c"])
            .arg(&config_path)
            .env("ETCD_MONITOR_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting etcd-monitor serve")?,
    );
    let pid = serve.0.id();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let get = |path: &str| -> Result<(u16, Vec<u8>)> {
        rt.block_on(async {
            let resp = client.get(format!("{base}{path}")).send().await?;
            Ok((resp.status().as_u16(), resp.bytes().await?.to_vec()))
        })
    };
    let started = Instant::now();
    while get("/api/v1/store").is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!(
                "the monitor did not answer within 30 s; its log:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let store_file = data_dir.join(etcd_monitor::store::FILE_NAME);
    let mut probe_ms: Vec<f64> = Vec::new();
    let mut rss_max = 0u64;
    let (mut last_cpu, mut last_at) = (cpu_seconds(pid), Instant::now());
    let cpu_at_start = last_cpu;
    println!(
        "  {:>5}  {:>8}  {:>10}  {:>9}",
        "s", "RSS MiB", "CPU % core", "file MiB"
    );
    let mut next_probe_read = started + Duration::from_secs(15);
    let mut next_report = started + Duration::from_secs(30);
    let end = started + Duration::from_secs(seconds);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(250));
        if serve.0.try_wait()?.is_some() {
            bail!(
                "the monitor exited; its log:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        let now = Instant::now();
        rss_max = rss_max.max(proc_status_bytes(pid, "VmRSS"));
        if now >= next_probe_read {
            next_probe_read += Duration::from_secs(15);
            let (_, metrics) = get("/metrics")?;
            probe_ms.extend(probe_durations(&metrics).iter().map(|s| s * 1e3));
        }
        if now >= next_report {
            next_report += Duration::from_secs(30);
            let cpu = cpu_seconds(pid);
            println!(
                "  {:>5}  {:>8.1}  {:>10.2}  {:>9.1}",
                started.elapsed().as_secs(),
                mib(proc_status_bytes(pid, "VmRSS")),
                100.0 * (cpu - last_cpu) / now.duration_since(last_at).as_secs_f64(),
                mib(file_size(&store_file))
            );
            (last_cpu, last_at) = (cpu, now);
        }
    }
    let cpu_total = cpu_seconds(pid) - cpu_at_start;
    let store: serde_json::Value = serde_json::from_slice(&get("/api/v1/store")?.1)?;
    probe_ms.sort_by(f64::total_cmp);
    println!(
        "  whole run: CPU {:.2} % of a core, RSS max {:.1} MiB (VmHWM {:.1} MiB), series stored {}, samples {}",
        100.0 * cpu_total / started.elapsed().as_secs_f64(),
        mib(rss_max),
        mib(proc_status_bytes(pid, "VmHWM")),
        store["series"],
        store["samples_ingested_total"]
    );
    let part = |k: &str| mib(store["memory"][k].as_u64().unwrap_or(0));
    println!(
        "  the store's memory (its own estimate): registry {:.1} MiB, head {:.1} MiB (streams {:.1} MiB), pending {:.1} MiB, redb cache at most {:.1} MiB",
        part("registry_bytes"),
        part("head_bytes"),
        part("head_stream_bytes"),
        part("pending_bytes"),
        part("cache_max_bytes")
    );
    println!(
        "  probe duration over {} probes: median {:.0} ms, p90 {:.0} ms, max {:.0} ms",
        probe_ms.len(),
        quantile(&probe_ms, 0.5),
        quantile(&probe_ms, 0.9),
        probe_ms.last().copied().unwrap_or(f64::NAN)
    );
    let (_, page) = get("/")?;
    let overview = rt.block_on(wrk::wrk_run(&wrk_bin, &format!("{base}/"), 1, 1, 10, &[]))?;
    println!(
        "  overview page /: {} bytes, wrk -t1 -c1 10 s: median {:.2} ms, p99 {:.2} ms, {:.0} requests/s, {} errors",
        page.len(),
        overview.p50,
        overview.p99,
        overview.requests_per_sec,
        overview.errors
    );
    let running = (file_size(&store_file), file_on_disk(&store_file));
    // SAFETY: kill(2) on our own child, with a valid signal; no memory is touched.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = serve.0.try_wait()? {
            break status;
        }
        if stopping.elapsed() > Duration::from_secs(60) {
            bail!("the monitor did not stop within 60 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    println!(
        "  clean stop ({status}) in {:.1} s: file {:.1} MiB long ({:.1} MiB on disk) while running, {:.1} MiB ({:.1} MiB) after",
        stopping.elapsed().as_secs_f64(),
        mib(running.0),
        mib(running.1),
        mib(file_size(&store_file)),
        mib(file_on_disk(&store_file))
    );
    drop(etcd);
    drop(rt);
    Ok(())
}

/// The monitor's config: the dashboard on `port` without auth, the store in
/// `data_dir` (`store_extra`: more of `[store]`), 15 s probes, and `clusters`
/// clusters `c000`... pointing at `endpoints` (quoted), tagged in turn prod,
/// staging and dev.
fn fleet_config(
    port: u16,
    data_dir: &Path,
    store_extra: &str,
    clusters: usize,
    endpoints: &[String],
) -> String {
    let mut config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[server.auth]\nmode = \"none\"\n\
         [store]\ndata_dir = {:?}\n{store_extra}[collect]\ninterval = \"15s\"\n",
        data_dir.display().to_string()
    );
    for c in 0..clusters {
        config.push_str(&format!(
            "[[clusters]]\nname = \"c{c:03}\"\nendpoints = [{}]\ntags = [\"{}\"]\n",
            endpoints.join(", "),
            ["prod", "staging", "dev"][c % 3]
        ));
    }
    config
}

/// A real 3-member etcd under `dir`, and its client URLs quoted for a TOML list.
fn start_etcd(
    rt: &tokio::runtime::Runtime,
    etcd_bin: &Path,
    dir: &Path,
) -> Result<(LocalCluster, Vec<String>)> {
    let etcd = rt
        .block_on(LocalCluster::start(
            MEMBERS,
            LocalClusterOptions {
                etcd_bin: Some(etcd_bin.to_path_buf()),
                base_dir: Some(dir.to_path_buf()),
                ..Default::default()
            },
        ))
        .context("starting a 3-member etcd")?;
    let endpoints = etcd
        .client_urls()
        .iter()
        .map(|u| format!("{u:?}"))
        .collect();
    Ok((etcd, endpoints))
}

/// The last probe's duration of every cluster, from the monitor's `/metrics`.
fn probe_durations(metrics: &[u8]) -> Vec<f64> {
    String::from_utf8_lossy(metrics)
        .lines()
        .filter(|l| l.starts_with("etcd_monitor_probe_duration_seconds{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect()
}

// ---------------------------------------------------------------------------
// Day: a day of the fleet's samples into a store, with an injected clock

fn day(clusters: usize, hours: i64) -> Result<()> {
    let at_start = etcd_monitor::resident_memory_bytes().unwrap_or(0);
    let t = Instant::now();
    let steps = Corpus::read()?;
    let per_member = steps.steps[0].iter().map(Vec::len).sum::<usize>() / MEMBERS;
    // The peak (VmHWM) from here on is the store's and the day's, not the
    // corpus' reading: Linux resets it when 5 is written to clear_refs.
    let hwm_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let baseline = etcd_monitor::resident_memory_bytes().unwrap_or(0);
    // The rest of the monitor beside the day's samples: the whole monitor as
    // `serve` runs it (collectors of `clusters` clusters probing a real etcd every
    // 15 s of wall time, alert manager, registry, store writer, web server) with
    // the day's store as its own. Without an etcd, the store alone, and the bench
    // says so.
    let tmp = tempfile::Builder::new()
        .prefix("etcd-monitor-fleet-day-")
        .tempdir()?;
    let monitor = Monitor::start(clusters, tmp.path())?;
    let monitor_rss = etcd_monitor::resident_memory_bytes()
        .unwrap_or(0)
        .saturating_sub(baseline);
    println!(
        "\n== day: {clusters} clusters x {MEMBERS} members, 15 s, {per_member} series per member stored (store.series = \"used\", indicators included); corpus of {} steps read in {:.1} s; RSS before the monitor starts {:.1} MiB ({:.1} MiB before the corpus was read)",
        steps.len(),
        t.elapsed().as_secs_f64(),
        mib(baseline),
        mib(at_start)
    );
    let store = match &monitor {
        Some(m) => {
            println!(
                "  the whole monitor in this process, the day's store its own: collectors of the same {clusters} clusters probing a real 3-member etcd ({}) every 15 s (scraped series dropped by store.metric_relabel, indicators older than the day's, so dropped), alert manager, store writer, web server on {} (GET / and the day's history of a metric each hour); after its first {} s, RSS +{:.1} MiB",
                m.etcd_bin.display(),
                m.base,
                PROBES_SETTLE.as_secs(),
                mib(monitor_rss)
            );
            m.store.clone()
        }
        None => {
            println!(
                "  the store alone: no etcd to probe (ETCD_BIN; Debian: /usr/bin/etcd), so the RSS below lacks the rest of the monitor"
            );
            std::sync::Arc::new(Store::open_dir(tmp.path(), Retention::default())?)
        }
    };
    let web_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // A new connection each time: an idle one kept for an hour of the day
    // (seconds of wall time) is closed by the server in between.
    let web = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(0)
        .build()?;
    let mut web_failures = Vec::new();
    let file = tmp.path().join(etcd_monitor::store::FILE_NAME);
    let span_ms = hours.clamp(1, 24 * 400) * HOUR_MS;
    // From the next step on: ahead of the monitor's own samples (see `Monitor`).
    let start_ms = (etcd_monitor::unix_ms_now().div_euclid(INTERVAL_MS) + 1) * INTERVAL_MS;
    let n = steps.len();
    let phase = (n / clusters).max(1);
    let names: Vec<String> = (0..clusters).map(|c| format!("c{c:03}")).collect();
    println!(
        "  {:>4}  {:>8}  {:>8}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>12}  {:>12}  {:>7}",
        "hour",
        "RSS MiB",
        "peak MiB",
        "heap MiB",
        "free MiB",
        "reg. MiB",
        "head MiB",
        "pend. MiB",
        "file MiB",
        "on disk MiB",
        "samples",
        "wall s"
    );
    let mut rss_max = 0u64;
    let mut next_checkpoint = start_ms + CHECKPOINT_EVERY_MS;
    let mut next_hour = start_ms + HOUR_MS;
    let t = Instant::now();
    for k in 0..(span_ms / INTERVAL_MS) as usize {
        let at_ms = start_ms + k as i64 * INTERVAL_MS;
        // A few clusters' probes at a time, as the writer receives them: the
        // probes are spread over the interval, so each of its wake-ups finds one
        // or two. Building every member's batch of the step at once held 4.4 MiB
        // of samples (heaptrack) that the monitor never holds.
        for first in (0..names.len()).step_by(CLUSTERS_PER_INGEST) {
            let clusters = first..(first + CLUSTERS_PER_INGEST).min(names.len());
            let batches = fleet_batches(&steps, &names, clusters, k, phase, at_ms);
            store.ingest_all(&batches)?;
        }
        if at_ms >= next_checkpoint {
            // As the store's writer does.
            next_checkpoint += CHECKPOINT_EVERY_MS;
            store.checkpoint()?;
            store.compact_if_sparse()?;
        }
        if at_ms >= next_hour {
            next_hour += HOUR_MS;
            store.maintain(at_ms)?;
            if let Some(m) = &monitor {
                // What a user looking at the dashboard asks of it.
                for path in [
                    "/".to_string(),
                    format!(
                        "/api/v1/clusters/c000/metrics/history?metric=etcd_server_proposals_committed_total&from={}&to={}",
                        start_ms / 1000,
                        at_ms / 1000
                    ),
                ] {
                    let answer = web_rt.block_on(async {
                        let r = web.get(format!("{}{path}", m.base)).send().await?;
                        let status = r.status();
                        r.bytes().await.map(|_| status)
                    });
                    match answer {
                        Ok(status) if status.is_success() => {}
                        Ok(status) => web_failures.push(format!("{path}: HTTP {status}")),
                        Err(e) => web_failures.push(format!("{path}: {e:?}")),
                    }
                }
            }
            let rss = etcd_monitor::resident_memory_bytes().unwrap_or(0);
            rss_max = rss_max.max(rss);
            let m = store.memory();
            let (heap, free) = malloc_heap();
            println!(
                "  {:>4}  {:>8.1}  {:>8.1}  {:>9.1}  {:>9.1}  {:>9.1}  {:>9.1}  {:>9.1}  {:>9.1}  {:>12.1}  {:>12}  {:>7.1}",
                (at_ms - start_ms) / HOUR_MS,
                mib(rss),
                mib(proc_status_bytes(std::process::id(), "VmHWM")),
                mib(heap),
                mib(free),
                mib(m.registry_bytes),
                mib(m.head_bytes),
                mib(m.pending_bytes),
                mib(file_size(&file)),
                mib(file_on_disk(&file)),
                store.sample_counts().0,
                t.elapsed().as_secs_f64()
            );
        }
    }
    store.checkpoint()?;
    store.compact_if_sparse()?;
    let stats = store.stats()?;
    println!(
        "  {hours} h: {} series, {} samples, file {:.1} MiB ({:.3} bytes/sample), RSS max at the hours {:.1} MiB, peak (VmHWM{}) {:.1} MiB (of which {:.1} MiB before the monitor started), {:.1} s",
        stats.series,
        stats.samples_ingested_total,
        mib(stats.file_bytes),
        stats.file_bytes as f64 / stats.samples_ingested_total.max(1) as f64,
        mib(rss_max),
        if hwm_reset {
            " since the corpus was read"
        } else {
            ", the corpus' reading included: clear_refs refused"
        },
        mib(proc_status_bytes(std::process::id(), "VmHWM")),
        mib(baseline),
        t.elapsed().as_secs_f64()
    );
    println!(
        "  samples dropped as not newer than their series' last (the monitor's own once the day began): {}",
        stats.samples_dropped_total
    );
    let per_sample = file_on_disk(&file) as f64 / stats.samples_ingested_total.max(1) as f64;
    println!(
        "  on disk: {:.1} MiB, {per_sample:.2} bytes/sample",
        mib(file_on_disk(&file))
    );
    prometheus_bytes(&steps, &names[0], start_ms, span_ms, per_sample)?;
    drop(store);
    if let Some(m) = monitor {
        let probes = m.stop()?;
        println!("  the monitor's collectors probed {probes} times meanwhile");
        if web_failures.is_empty() {
            println!("  the web server answered every request of the day");
        } else {
            println!(
                "  the web server failed {} requests: {}",
                web_failures.len(),
                web_failures.join("; ")
            );
        }
    }
    Ok(())
}

/// How long the monitor runs before the day's samples start: every cluster probed
/// at least twice (the probes are spread over the 15 s interval).
const PROBES_SETTLE: Duration = Duration::from_secs(35);

/// The whole monitor, as `serve` runs it, in this process: its store (which the
/// day part feeds), collectors, alert manager, fleet registry, store writer and
/// web server, on a thread of their own.
struct Monitor {
    store: std::sync::Arc<Store>,
    /// The dashboard's address.
    base: String,
    etcd_bin: std::path::PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The monitor's thread; gives the probes made when it ends.
    thread: Option<std::thread::JoinHandle<Result<usize>>>,
    /// The etcd its collectors probe (dropped after the monitor stopped).
    etcd: Option<(tokio::runtime::Runtime, LocalCluster)>,
    _etcd_dir: tempfile::TempDir,
}

impl Monitor {
    /// Starts a real 3-member etcd and the monitor (store in `data_dir`) with
    /// `clusters` clusters pointing at it, named as the day's (`c000`...), with
    /// members `m0`..`m2` as the corpus': the monitor's indicators
    /// (etcd_monitor:*) are series of the day's. Its scraped series are dropped
    /// by a `store.metric_relabel` rule: this etcd exposes series the recorded
    /// corpus does not have (the registry was 23 % larger with them), and the
    /// day's samples stand for them. The day's samples are stamped from now on and
    /// run ahead of the wall clock, so the store drops the monitor's indicators as
    /// not newer (`samples_dropped_total`) once the day has begun: the series are
    /// the day's, and so are their samples. None without an etcd.
    fn start(clusters: usize, data_dir: &Path) -> Result<Option<Monitor>> {
        let Some(etcd_bin) = find_etcd_binary() else {
            return Ok(None);
        };
        let etcd_dir = tempfile::Builder::new()
            .prefix("etcd-monitor-fleet-day-etcd-")
            .tempdir()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (etcd, endpoints) = start_etcd(&rt, &etcd_bin, etcd_dir.path())?;
        let port = free_port()?;
        let config = fleet_config(
            port,
            data_dir,
            "[[store.metric_relabel]]\naction = \"drop\"\nregex = \".*\"\n",
            clusters,
            &endpoints,
        );
        let settings = etcd_monitor::config::Settings::from_toml(&config)?;
        let listener = std::net::TcpListener::bind(settings.server.listen)?;
        listener.set_nonblocking(true)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (started, store) = std::sync::mpsc::channel();
        // As `serve` runs it: one thread for collecting, on a current-thread
        // runtime; the web server starts its own worker thread.
        let thread = std::thread::spawn(move || -> Result<usize> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async move {
                let monitor = match etcd_monitor::monitor::Monitor::start(&settings) {
                    Ok(m) => m,
                    Err(e) => {
                        let _ = started.send(Err(anyhow!("starting the monitor: {e}")));
                        return Ok(0);
                    }
                };
                let _ = started.send(Ok(monitor.store.clone()));
                etcd_monitor::web::serve(&monitor, listener, async {
                    let _ = stopped.await;
                })
                .await?;
                let probes = monitor
                    .collectors
                    .board
                    .all()
                    .iter()
                    .map(|s| s.counts.probes_total as usize)
                    .sum();
                monitor.shutdown().await;
                Ok(probes)
            })
        });
        let store = store
            .recv()
            .map_err(|_| anyhow!("the monitor's thread ended before it started"))??;
        std::thread::sleep(PROBES_SETTLE);
        Ok(Some(Monitor {
            store,
            base: format!("http://127.0.0.1:{port}"),
            etcd_bin,
            stop: Some(stop),
            thread: Some(thread),
            etcd: Some((rt, etcd)),
            _etcd_dir: etcd_dir,
        }))
    }

    /// Stops the monitor (a clean stop, as on SIGTERM) and the etcd; returns the
    /// probes made.
    fn stop(mut self) -> Result<usize> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let probes = match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(probes)) => probes?,
            Some(Err(_)) => bail!("the monitor's thread panicked"),
            None => 0,
        };
        drop(self.etcd.take());
        Ok(probes)
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// glibc's count of the heap bytes in use (small chunks, large ones by mmap
/// included) and of those free but kept by malloc: RSS beyond their sum is not
/// the heap's; free bytes that grow are fragmentation.
fn malloc_heap() -> (u64, u64) {
    // SAFETY: mallinfo2 only reads malloc's counters.
    let info = unsafe { libc::mallinfo2() };
    ((info.uordblks + info.hblkhd) as u64, info.fordblks as u64)
}

/// Prometheus' bytes per sample for the same samples: cluster `name`'s (its three
/// members') series over the same span, written as OpenMetrics and turned into
/// TSDB blocks by `promtool tsdb create-blocks-from openmetrics` (Debian's
/// prometheus package); the size of those blocks beside the store's.
fn prometheus_bytes(
    steps: &Corpus,
    name: &str,
    start_ms: i64,
    span_ms: i64,
    ours_per_sample: f64,
) -> Result<()> {
    use std::io::Write;
    let promtool = std::env::var("PROMTOOL_BIN").unwrap_or_else(|_| "promtool".into());
    if Command::new(&promtool).arg("--version").output().is_err() {
        println!("  Prometheus: no promtool (Debian package prometheus, or set PROMTOOL_BIN): comparison skipped");
        return Ok(());
    }
    let tmp = tempfile::Builder::new()
        .prefix("etcd-monitor-fleet-prom-")
        .tempdir()?;
    let input = tmp.path().join("samples.om");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&input)?);
    let mut samples = 0u64;
    for k in 0..(span_ms / INTERVAL_MS) as usize {
        let at_ms = start_ms + k as i64 * INTERVAL_MS;
        // The first cluster's phase in the corpus is 0 (see `fleet_batches`).
        for m in 0..MEMBERS {
            for (text, value) in steps.samples(k, m) {
                let (metric, labels) = match text.split_once('{') {
                    Some((n, rest)) => (n, format!(",{}", rest.trim_end_matches('}'))),
                    None => (text, String::new()),
                };
                writeln!(
                    out,
                    "{metric}{{cluster=\"{name}\",member=\"m{m}\"{labels}}} {value} {}.{:03}",
                    at_ms / 1000,
                    at_ms % 1000
                )?;
                samples += 1;
            }
        }
    }
    writeln!(out, "# EOF")?;
    out.flush()?;
    drop(out);
    let blocks = tmp.path().join("tsdb");
    let run = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&blocks)
        .output()
        .context("running promtool")?;
    if !run.status.success() {
        bail!(
            "promtool tsdb create-blocks-from openmetrics failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let bytes = dir_bytes(&blocks);
    let theirs = bytes as f64 / samples.max(1) as f64;
    println!(
        "  Prometheus 2.42 (promtool tsdb create-blocks-from openmetrics), cluster {name}'s {samples} samples: {:.1} MiB of blocks, {theirs:.2} bytes/sample; the store {ours_per_sample:.2}: {:.2}x Prometheus",
        mib(bytes),
        ours_per_sample / theirs
    );
    Ok(())
}

/// Bytes the files under `dir` take on disk.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                dir_bytes(&path)
            } else {
                file_on_disk(&path)
            }
        })
        .sum()
}

/// The clusters whose batches the day part ingests with one commit.
const CLUSTERS_PER_INGEST: usize = 10;

/// The batch of step `k` of every member of `clusters` (indexes into `names`),
/// each cluster replaying the corpus from its own phase.
fn fleet_batches(
    steps: &Corpus,
    names: &[String],
    clusters: std::ops::Range<usize>,
    k: usize,
    phase: usize,
    at_ms: i64,
) -> Vec<MemberSamples> {
    let mut batches = Vec::with_capacity(clusters.len() * MEMBERS);
    for (c, name) in clusters.clone().zip(&names[clusters]) {
        for m in 0..MEMBERS {
            batches.push(MemberSamples {
                cluster: name.clone(),
                member: format!("m{m}"),
                at_ms,
                samples: steps
                    .samples(k + c * phase, m)
                    .map(|(text, v)| (text.to_string(), v))
                    .collect(),
            });
        }
    }
    batches
}

/// Set, the bench only writes the day's corpus to the file it names.
const CORPUS_OUT: &str = "FLEET_CORPUS_OUT";

/// The corpus' steps with every series text held once: decoded as
/// [`corpus_steps`] gives them they took 20 MiB, which this process held beside
/// the store and which its RSS counted; so the process holds 2.5 MiB more than
/// at its start. The batches are built from them step by step, as a probe
/// builds its own from a scrape.
#[derive(serde::Serialize, serde::Deserialize)]
struct Corpus {
    texts: Vec<String>,
    /// `steps[step][member]`: (index in `texts`, value).
    steps: Vec<[Vec<(u32, f64)>; MEMBERS]>,
}

impl Corpus {
    /// Reads the corpus in a child process (this bench again, with
    /// [`CORPUS_OUT`]) and takes its compact steps from a file: decompressing
    /// and parsing the recorded scrapes takes about 1 GB at its peak and left
    /// 11 MiB of this process's RSS behind after `malloc_trim`, which the day's
    /// figures would have counted.
    fn read() -> Result<Corpus> {
        let tmp = tempfile::Builder::new()
            .prefix("etcd-monitor-fleet-corpus-")
            .tempdir()?;
        let path = tmp.path().join("corpus.postcard");
        let status = Command::new(std::env::current_exe()?)
            .arg("--bench")
            .env(CORPUS_OUT, &path)
            .status()
            .context("reading the corpus in a child process")?;
        if !status.success() {
            bail!("reading the corpus in a child process: {status}");
        }
        Ok(postcard::from_bytes(&std::fs::read(&path)?)?)
    }

    fn new(decoded: Vec<StepSamples>) -> Corpus {
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut texts = Vec::new();
        let steps = decoded
            .into_iter()
            .map(|step| {
                step.map(|series| {
                    series
                        .into_iter()
                        .map(|(text, v)| {
                            let i = *index.entry(text).or_insert_with_key(|text| {
                                texts.push(text.clone());
                                (texts.len() - 1) as u32
                            });
                            (i, v)
                        })
                        .collect()
                })
            })
            .collect();
        Corpus { texts, steps }
    }

    fn len(&self) -> usize {
        self.steps.len()
    }

    /// Member `m`'s samples at step `k` (taken modulo the corpus' length).
    fn samples(&self, k: usize, m: usize) -> impl Iterator<Item = (&str, f64)> + '_ {
        self.steps[k % self.steps.len()][m]
            .iter()
            .map(|&(i, v)| (self.texts[i as usize].as_str(), v))
    }
}
