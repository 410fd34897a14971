//! `cargo bench --bench dashboard`: server time of the dashboard's pages, measured
//! with `wrk` on loopback, for 10 monitored clusters with a day of history.
//!
//! 1. Fills a store in a temp dir with 24 h of history of 10 clusters (`c0`..`c9`)
//!    x 3 members (`m0`..`m2`) at the default probe interval (15 s): the recorded
//!    corpus `tests/fixtures/corpus/etcd-3.4-3member-5s.corpus.zst` (every third
//!    5 s scrape, so 15 s apart; 65 minutes, looped) goes through what a probe does
//!    with a scrape (`promtext::parse`, `MetricsSample::from_scrape`,
//!    `Indicators::derive`, `probe::indicator_series`), one `ingest_all` per
//!    timestamp, a checkpoint every 5 minutes of history (as the store's writer
//!    does) and one at the end. Each cluster starts at another place in the corpus.
//!    The history runs up to the moment the fill ends, so the live probes continue it.
//!    At each wrap of the corpus the previous scrape is forgotten (as after a monitor
//!    restart), so rates have a one-interval gap there rather than a reset spike.
//! 2. Starts 10 single-member etcd clusters (`localetcd`; their member is `m0`, as
//!    in the history) and the monitor (tests/support/monitor.rs: on 127.0.0.1:0)
//!    over them and the filled store, probing every 15 s. Ten idle single-member
//!    etcd processes cost about 4 % of one core (printed as "idle" below), so all ten
//!    run even on 2 cores.
//! 3. Once every cluster is probed, runs `wrk -t2 -c8 -d20s --latency` against `/`,
//!    `/clusters/c3` (default range, 1 h) and `/clusters/c3?range=24h`, then the same
//!    with one connection (`-t1 -c1`: one request at a time, so the latency is the
//!    server's time plus loopback, without queueing behind the 7 other connections).
//!    Prints requests/s, latency percentiles, the monitor's CPU time per request,
//!    page sizes and the goals: overview median < 10 ms, cluster page median < 20 ms.
//!
//! Needs a real etcd (`ETCD_BIN`, else `etcd` on PATH; Debian: `/usr/bin/etcd`) and
//! `wrk` (`WRK_BIN`, else on PATH; Debian package `wrk`). `scripts/bench-dashboard.sh`
//! sets `ETCD_BIN=/usr/bin/etcd` and checks both.
//!
//! Knobs (environment): `DASHBOARD_BENCH_SECONDS` (wrk duration per run, default 20),
//! `DASHBOARD_BENCH_PERF=1` (record each 8-connection run with `perf record`
//! and print the hottest functions; the data stays in `target/bench-dashboard/`),
//! `DASHBOARD_BENCH_DATA=DIR` (keep the store in DIR; a later run with the same DIR
//! only tops the history up to now instead of filling a day again).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use etcd_monitor::config::{ClusterConfig, Overrides, Settings};
use etcd_monitor::localetcd::{find_etcd_binary, LocalCluster, LocalClusterOptions};
use etcd_monitor::store::{MemberSamples, Retention, Store};
use wrk::{wrk_binary, wrk_run, WrkResult};

const CLUSTERS: usize = 10;
const INTERVAL_MS: i64 = 15_000;
const DAY_MS: i64 = 86_400_000;
/// The store writer's default checkpoint interval, in history time.
const CHECKPOINT_EVERY_MS: i64 = 5 * 60_000;
const OVERVIEW_GOAL_MS: f64 = 10.0;
const CLUSTER_GOAL_MS: f64 = 20.0;

fn main() {
    // `cargo bench` passes --bench; a filter argument is accepted and ignored.
    if let Err(e) = run() {
        eprintln!("dashboard bench failed: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let etcd_bin = etcd_binary()?;
    let wrk_bin = wrk_binary()?;
    let seconds: u64 = env_or("DASHBOARD_BENCH_SECONDS", 20)?;
    let perf = std::env::var("DASHBOARD_BENCH_PERF").is_ok_and(|v| v == "1");
    let tmp = tempfile::Builder::new()
        .prefix("etcd-monitor-dashboard-bench-")
        .tempdir()
        .context("creating a temp dir")?;
    let data_dir = match std::env::var_os("DASHBOARD_BENCH_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => tmp.path().join("data"),
    };
    println!("temp dir: {}", tmp.path().display());
    println!("store: {}", data_dir.display());
    println!("machine: {} cores", cores());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;

    // The clusters first, so the history can run up to the moment the monitor starts.
    let t = Instant::now();
    let clusters = rt.block_on(start_clusters(&etcd_bin, tmp.path(), CLUSTERS))?;
    println!(
        "\n== etcd: {CLUSTERS} single-member clusters of {} started in {:.1} s",
        etcd_bin.display(),
        t.elapsed().as_secs_f64()
    );

    fill(&data_dir)?;

    let result = rt.block_on(measure(
        &data_dir,
        &clusters,
        tmp.path(),
        &wrk_bin,
        seconds,
        perf,
    ));
    drop(clusters); // kills every etcd before the temp dir goes
    drop(rt);
    drop(tmp);
    result
}

// ---------------------------------------------------------------------------
// Prerequisites

fn etcd_binary() -> Result<PathBuf> {
    let bin = find_etcd_binary().ok_or_else(|| {
        anyhow!(
            "no etcd binary: set ETCD_BIN=/usr/bin/etcd (Debian package etcd-server) or put etcd on PATH{}",
            std::env::var("ETCD_BIN")
                .map(|b| format!(" (ETCD_BIN={b} is not a file)"))
                .unwrap_or_default()
        )
    })?;
    let out = Command::new(&bin)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("etcd Version: "))
        .ok_or_else(|| {
            anyhow!(
                "{} --version printed no etcd version (a wrapper script?); set ETCD_BIN=/usr/bin/etcd",
                bin.display()
            )
        })?;
    println!("etcd: {} ({version})", bin.display());
    Ok(bin)
}

async fn start_clusters(etcd_bin: &Path, base: &Path, n: usize) -> Result<Vec<LocalCluster>> {
    let mut out = Vec::new();
    for i in 0..n {
        let c = LocalCluster::start(
            1,
            LocalClusterOptions {
                etcd_bin: Some(etcd_bin.to_path_buf()),
                base_dir: Some(base.to_path_buf()),
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("starting etcd cluster c{i}"))?;
        if c.members[0].name != "m0" {
            bail!(
                "localetcd named the member {:?}; the history uses m0..m2",
                c.members[0].name
            );
        }
        out.push(c);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// 1. A day of history

#[path = "support/env.rs"]
mod env;
#[path = "../tests/support/monitor.rs"]
mod monitor;
#[path = "support/steps.rs"]
mod steps;
use env::{cores, env_or};
#[path = "support/wrk.rs"]
mod wrk;
use monitor::Monitor;
use steps::{corpus_steps, StepSamples, MEMBERS};

/// Where a kept data dir (`DASHBOARD_BENCH_DATA`) says its history started and which
/// 15 s step comes next, so a later run tops it up to now instead of filling again.
const FILL_MARKER: &str = "dashboard-bench.fill";

fn fill(data_dir: &Path) -> Result<()> {
    let marker = data_dir.join(FILL_MARKER);
    let now = etcd_monitor::unix_ms_now();
    let (start_ms, first_k) = resume_point(data_dir, &marker, now)?;
    let gap_ms = now - (start_ms + first_k as i64 * INTERVAL_MS);
    let t = Instant::now();
    // Every series, as the monitor stored before `store.series` (the pages read only
    // the indicators, so the figures compare with earlier runs).
    let steps = corpus_steps(&etcd_monitor::collect::SeriesFilter::all())?;
    let per_step: usize = steps[0].iter().map(Vec::len).sum();
    println!(
        "\n== history: corpus read in {:.1} s: {} steps of 15 s ({:.0} min) x {MEMBERS} members, about {} series per member",
        t.elapsed().as_secs_f64(),
        steps.len(),
        steps.len() as f64 * INTERVAL_MS as f64 / 60_000.0,
        per_step / MEMBERS
    );
    if first_k > 0 {
        println!(
            "  reusing {} (DASHBOARD_BENCH_DATA): topping up {:.1} min of history",
            data_dir.display(),
            gap_ms as f64 / 60_000.0
        );
    }
    let store = Store::open_dir(data_dir, Retention::default())?;

    // One thread builds the batches, this one ingests them (a real monitor's store
    // writer receives them ready-made too).
    let (tx, rx) = sync_channel::<(usize, i64, Vec<MemberSamples>)>(4);
    let builder = spawn_batch_builder(steps, start_ms, first_k, tx);

    let t = Instant::now();
    let mut checkpoint_time = Duration::ZERO;
    let mut compaction_time = Duration::ZERO;
    let mut checkpoints = 0u32;
    let mut compactions = 0u32;
    let mut last_checkpoint = (Duration::ZERO, Duration::ZERO);
    let mut checkpoint = |store: &Store| -> Result<()> {
        let c = Instant::now();
        store.checkpoint()?;
        let written = c.elapsed();
        let c = Instant::now();
        compactions += u32::from(store.compact_if_sparse()?);
        let compacted = c.elapsed();
        checkpoint_time += written;
        compaction_time += compacted;
        checkpoints += 1;
        last_checkpoint = (written, compacted);
        Ok(())
    };
    let first_ms = start_ms + first_k as i64 * INTERVAL_MS;
    let mut next_checkpoint = first_ms + CHECKPOINT_EVERY_MS;
    let mut next_report = first_ms + 4 * 3_600_000;
    let mut timestamps = 0u64;
    let mut last = None;
    let samples_before = store.stats()?.samples_ingested_total;
    for (k, at_ms, batches) in rx {
        store.ingest_all(&batches)?;
        timestamps += 1;
        last = Some((k, at_ms));
        if at_ms >= next_checkpoint {
            next_checkpoint += CHECKPOINT_EVERY_MS;
            checkpoint(&store)?;
        }
        if at_ms >= next_report {
            next_report += 4 * 3_600_000;
            println!(
                "  {:>2} h of history after {:.1} s",
                (at_ms - start_ms) / 3_600_000,
                t.elapsed().as_secs_f64()
            );
        }
    }
    builder
        .join()
        .map_err(|_| anyhow!("the batch builder panicked"))?;
    checkpoint(&store)?;
    let elapsed = t.elapsed();
    let stats = store.stats()?;
    let (last_k, last_ms) = last.unwrap_or((first_k.saturating_sub(1), first_ms - INTERVAL_MS));
    std::fs::write(&marker, format!("{start_ms} {}\n", last_k + 1))?;
    let ingested = stats.samples_ingested_total - samples_before;
    println!(
        "  filled {:.1} h ({timestamps} timestamps x {} batches, the last {:.1} s ago) in {:.1} s: {} samples, {:.0} samples/s",
        (last_ms - first_ms + INTERVAL_MS) as f64 / 3_600_000.0,
        CLUSTERS * MEMBERS,
        (etcd_monitor::unix_ms_now() - last_ms) as f64 / 1e3,
        elapsed.as_secs_f64(),
        ingested,
        ingested as f64 / elapsed.as_secs_f64(),
    );
    println!(
        "  of that: {checkpoints} checkpoints (one per 5 min of history, as the store writer does) {:.1} s, \
         compact_if_sparse after each {:.1} s ({compactions} compacted); the last checkpoint {:.2} s + compaction {:.2} s",
        checkpoint_time.as_secs_f64(),
        compaction_time.as_secs_f64(),
        last_checkpoint.0.as_secs_f64(),
        last_checkpoint.1.as_secs_f64()
    );
    print_store_stats(&stats);
    Ok(())
}

/// Where the history starts and which 15 s step comes next: from the marker of a kept
/// data dir, or a day ago and 0 for a new one. A store this bench did not fill, or one
/// whose history ends over a day ago, is refused.
fn resume_point(data_dir: &Path, marker: &Path, now: i64) -> Result<(i64, usize)> {
    let (start_ms, first_k) = match std::fs::read_to_string(marker) {
        Ok(text) => {
            let mut it = text.split_whitespace().map(str::parse::<i64>);
            match (it.next(), it.next()) {
                (Some(Ok(start)), Some(Ok(k))) if k >= 0 => (start, k as usize),
                _ => bail!("{} is not what this bench wrote", marker.display()),
            }
        }
        Err(_) if data_dir.join(etcd_monitor::store::FILE_NAME).exists() => bail!(
            "{} has a store this bench did not fill; give DASHBOARD_BENCH_DATA an empty or new dir",
            data_dir.display()
        ),
        Err(_) => (now - DAY_MS, 0),
    };
    let gap_ms = now - (start_ms + first_k as i64 * INTERVAL_MS);
    if first_k > 0 && gap_ms > DAY_MS {
        bail!(
            "the history in {} ends {:.1} h ago; topping it up would take longer than filling anew: remove the dir",
            data_dir.display(),
            gap_ms as f64 / 3_600_000.0
        );
    }
    Ok((start_ms, first_k))
}

/// Sends the batches of every 15 s step from `first_k` up to now, ten clusters each
/// replaying the corpus from their own phase.
fn spawn_batch_builder(
    steps: Vec<StepSamples>,
    start_ms: i64,
    first_k: usize,
    tx: std::sync::mpsc::SyncSender<(usize, i64, Vec<MemberSamples>)>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let n = steps.len();
        let phase = n / CLUSTERS;
        for k in first_k.. {
            let at_ms = start_ms + k as i64 * INTERVAL_MS;
            // Up to now, so the live probes continue the history without a gap.
            if at_ms > etcd_monitor::unix_ms_now() {
                break;
            }
            let mut batches = Vec::with_capacity(CLUSTERS * MEMBERS);
            for c in 0..CLUSTERS {
                let step = &steps[(k + c * phase) % n];
                for (m, series) in step.iter().enumerate() {
                    batches.push(MemberSamples {
                        cluster: format!("c{c}"),
                        member: format!("m{m}"),
                        at_ms,
                        samples: series.clone(),
                    });
                }
            }
            if tx.send((k, at_ms, batches)).is_err() {
                break;
            }
        }
    })
}

fn print_store_stats(stats: &etcd_monitor::store::StoreStats) {
    println!(
        "  store: {} series, {} samples in all, file {} ({:.3} B/sample)",
        stats.series,
        stats.samples_ingested_total,
        mib(stats.file_bytes),
        stats.file_bytes as f64 / stats.samples_ingested_total.max(1) as f64
    );
    for tier in &stats.tiers {
        println!(
            "    tier {:>3}: {:>7} blocks stored, {:>10} points, {:>10} bytes",
            tier.tier, tier.blocks, tier.samples, tier.bytes
        );
    }
    for t in &stats.tables {
        println!(
            "    table {:<10} stored {:>10}, metadata {:>10}, fragmented {:>10}",
            t.table,
            mib(t.stored_bytes),
            mib(t.metadata_bytes),
            mib(t.fragmented_bytes)
        );
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

// ---------------------------------------------------------------------------
// 2. and 3. The monitor, and wrk against it

struct Run {
    path: &'static str,
    connections: u32,
    wrk: WrkResult,
    /// The monitor process's CPU time per request (all its threads).
    cpu_ms_per_request: f64,
    /// CPU of the etcd processes, in cores.
    etcd_cores: f64,
    /// CPU of everything else on the machine (not the monitor, etcd or wrk), in cores.
    other_cores: f64,
    /// What the store's writer did during the run (a checkpoint, a compaction):
    /// both hold the store against readers for a while.
    store_work: String,
    /// Seconds from the monitor's start to the run's start.
    at_s: f64,
}

const PAGES: [&str; 3] = ["/", "/clusters/c3", "/clusters/c3?range=24h"];

async fn measure(
    data_dir: &Path,
    clusters: &[LocalCluster],
    tmp: &Path,
    wrk: &Path,
    seconds: u64,
    perf: bool,
) -> Result<()> {
    let mut settings = Settings::load_with_env(None, &Overrides::default(), |_| None)?;
    settings.server.listen = "127.0.0.1:0".parse()?;
    settings.collect.interval = Duration::from_millis(INTERVAL_MS as u64);
    settings.store.data_dir = data_dir.to_path_buf();
    settings.clusters = clusters
        .iter()
        .enumerate()
        .map(|(i, c)| ClusterConfig::plain(&format!("c{i}"), c.client_urls()))
        .collect();
    settings.validate()?;

    let t = Instant::now();
    let monitor = Monitor::start(settings).await;
    println!(
        "\n== monitor: started over the filled store in {:.2} s (opening the store: series registry, head)",
        t.elapsed().as_secs_f64()
    );
    let result = measure_pages(
        &monitor.base,
        &monitor.store,
        clusters.len(),
        tmp,
        wrk,
        seconds,
        perf,
    )
    .await;
    monitor.stop().await;
    result
}

async fn measure_pages(
    base: &str,
    store: &Store,
    live: usize,
    tmp: &Path,
    wrk: &Path,
    seconds: u64,
    perf: bool,
) -> Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let started_ms = etcd_monitor::unix_ms_now();
    let t = Instant::now();
    wait_probed(&http, base, live).await?;
    println!(
        "  all {live} clusters probed and healthy after {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // Idle: what the etcd processes and the monitor cost with no requests.
    let before = CpuSample::take(tmp);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let idle = CpuSample::take(tmp).since(&before);
    println!(
        "  idle for {:.0} s: etcd processes {:.1} % of one core, monitor {:.1} %, everything else {:.1} %",
        idle.wall,
        idle.etcd * 100.0,
        idle.me * 100.0,
        idle.other * 100.0
    );

    let sizes = first_gets(&http, base).await?;

    let perf_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-dashboard");
    let mut runs = Vec::new();
    for (connections, threads) in [(8u32, 2u32), (1, 1)] {
        println!(
            "\n== wrk -t{threads} -c{connections} -d{seconds}s --latency (after a 3 s warm-up per page)"
        );
        for path in PAGES {
            let url = format!("{base}{path}");
            wrk_run(wrk, &url, threads, connections, 3, &[]).await?;
            let record = (perf && connections > 1).then(|| {
                let name = path.trim_start_matches('/').replace(['/', '?', '='], "_");
                perf_dir.join(format!(
                    "perf-{}.data",
                    if name.is_empty() { "overview" } else { &name }
                ))
            });
            let perf_child = match &record {
                Some(file) => Some(start_perf(file, seconds)?),
                None => None,
            };
            let before = CpuSample::take(tmp);
            let at_s = t.elapsed().as_secs_f64();
            let health = store.health();
            let w = wrk_run(wrk, &url, threads, connections, seconds, &[]).await?;
            let cpu = CpuSample::take(tmp).since(&before);
            let after = store.health();
            let mut store_work = Vec::new();
            if after.last_checkpoint_ms != health.last_checkpoint_ms {
                store_work.push("checkpoint");
            }
            if after.last_compaction_ms != health.last_compaction_ms {
                store_work.push("compaction");
            }
            if let Some(child) = perf_child {
                let out = child.wait_with_output().await?;
                if !out.status.success() {
                    eprintln!(
                        "  perf record failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
            if w.errors > 0 {
                println!(
                    "  WARNING: {path}: {} non-2xx responses or socket errors",
                    w.errors
                );
            }
            let requests = w.requests_per_sec * cpu.wall;
            let run = Run {
                path,
                connections,
                cpu_ms_per_request: cpu.me * cpu.wall * 1e3 / requests.max(1.0),
                etcd_cores: cpu.etcd,
                other_cores: cpu.other,
                store_work: store_work.join("+"),
                at_s,
                wrk: w,
            };
            println!(
                "  {path:<24} {:>8.1} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  monitor CPU {:.2} ms/request",
                run.wrk.requests_per_sec, run.wrk.p50, run.wrk.p99, run.cpu_ms_per_request
            );
            if let Some(file) = &record {
                print_perf(file).await;
            }
            runs.push(run);
        }
    }

    print_results(&runs, &sizes, live, seconds);
    print_store_writer(store, started_ms);
    print_goals(&runs);
    Ok(())
}

/// One GET of every page: its size and chart count, and the first GET's time.
async fn first_gets(http: &reqwest::Client, base: &str) -> Result<Vec<usize>> {
    println!("\n== pages (one GET each)");
    let mut sizes = Vec::new();
    for path in PAGES {
        let url = format!("{base}{path}");
        let t = Instant::now();
        let resp = http.get(&url).send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        if !status.is_success() {
            bail!(
                "GET {path}: HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(500)])
            );
        }
        println!(
            "  {path:<24} {:>7} bytes, {} charts, first GET {:.1} ms",
            body.len(),
            count(&body, b"<svg"),
            t.elapsed().as_secs_f64() * 1e3
        );
        sizes.push(body.len());
    }
    Ok(sizes)
}

/// The table of every wrk run.
fn print_results(runs: &[Run], sizes: &[usize], live: usize, seconds: u64) {
    println!(
        "\n== results ({live} live etcd clusters, 10 clusters of history, wrk {seconds} s per row)"
    );
    println!(
        "{:<24} {:>5} {:>6} {:>9} {:>8} {:>8} {:>8} {:>8} {:>10} {:>8} {:>8} {:>8}  store writer",
        "page",
        "conns",
        "at s",
        "req/s",
        "p50 ms",
        "p75 ms",
        "p90 ms",
        "p99 ms",
        "CPU ms/req",
        "bytes",
        "etcd %",
        "other %",
    );
    for r in runs {
        let size = PAGES
            .iter()
            .position(|p| *p == r.path)
            .map_or(0, |i| sizes[i]);
        println!(
            "{:<24} {:>5} {:>6.0} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>10.2} {:>8} {:>8.1} {:>8.1}  {}",
            r.path,
            r.connections,
            r.at_s,
            r.wrk.requests_per_sec,
            r.wrk.p50,
            r.wrk.p75,
            r.wrk.p90,
            r.wrk.p99,
            r.cpu_ms_per_request,
            size,
            r.etcd_cores * 100.0,
            r.other_cores * 100.0,
            r.store_work
        );
    }
    println!(
        "(etcd %, other %: CPU of the etcd processes and of everything but the monitor, etcd and wrk, \
         in % of one core during the run; at s: when the run started, in seconds after the monitor; \
         store writer: a checkpoint or compaction ran during the run)"
    );
}

/// When the store writer last checkpointed and compacted, relative to the start.
fn print_store_writer(store: &Store, started_ms: i64) {
    let health = store.health();
    let since = |ms: Option<i64>| match ms {
        Some(ms) if ms >= started_ms => format!("+{:.0} s", (ms - started_ms) as f64 / 1e3),
        _ => "none".to_string(),
    };
    println!(
        "store writer since the monitor started (its first maintenance is due at +60 s, checkpoints every 5 min): \
         last checkpoint {}, last compaction {}",
        since(health.last_checkpoint_ms),
        since(health.last_compaction_ms)
    );
}

fn print_goals(runs: &[Run]) {
    println!("\n== goals (median latency, wrk)");
    for r in runs {
        let goal = if r.path == "/" {
            OVERVIEW_GOAL_MS
        } else {
            CLUSTER_GOAL_MS
        };
        println!(
            "  {:<24} -c{}: p50 {:>7.2} ms, goal < {goal:.0} ms: {}",
            r.path,
            r.connections,
            r.wrk.p50,
            if r.wrk.p50 < goal { "PASS" } else { "MISS" }
        );
    }
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

async fn wait_probed(http: &reqwest::Client, base: &str, live: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(resp) = http.get(format!("{base}/api/v1/clusters")).send().await {
            if let Ok(v) = resp.json::<serde_json::Value>().await {
                let all = v["clusters"].as_array().cloned().unwrap_or_default();
                let ready = all
                    .iter()
                    .filter(|c| c["status"] == "healthy" && !c["leader"].is_null())
                    .count();
                if ready == live && all.len() == live {
                    return Ok(());
                }
                last = format!("{ready} of {} healthy: {v}", all.len());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("not every cluster was probed healthy within 90 s; last: {last}")
}

// ---------------------------------------------------------------------------
// CPU accounting from /proc

/// CPU seconds so far: this process, the etcd processes under the temp dir, waited-for
/// children (wrk, perf), and the whole machine (busy time).
struct CpuSample {
    at: Instant,
    me: f64,
    etcd: f64,
    children: f64,
    machine_busy: f64,
}

/// CPU use between two samples, in cores (1.0 = one core busy all the time).
struct CpuUse {
    wall: f64,
    me: f64,
    etcd: f64,
    other: f64,
}

fn ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as f64
}

/// utime + stime of a process, in seconds.
fn process_cpu(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces): state is field 3.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks())
}

impl CpuSample {
    fn take(tmp: &Path) -> CpuSample {
        let marker = format!("--data-dir={}", tmp.display());
        let mut etcd = 0.0;
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let name = e.file_name();
                let pid = name.to_string_lossy();
                if !pid.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                let is_ours = cmdline
                    .split(|b| *b == 0)
                    .any(|arg| arg.starts_with(marker.as_bytes()));
                if is_ours {
                    etcd += process_cpu(&pid).unwrap_or(0.0);
                }
            }
        }
        // SAFETY: rusage is plain data, for which all-zero bytes are a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage writes into the struct we own.
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        let machine_busy = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                let cpu = s.lines().next()?.strip_prefix("cpu ")?.to_string();
                let v: Vec<f64> = cpu
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                // user nice system idle iowait irq softirq steal ...
                let idle = v.get(3)? + v.get(4).unwrap_or(&0.0);
                let total: f64 = v.iter().take(8).sum();
                Some((total - idle) / ticks())
            })
            .unwrap_or(0.0);
        CpuSample {
            at: Instant::now(),
            me: process_cpu("self").unwrap_or(0.0),
            etcd,
            children: tv(usage.ru_utime) + tv(usage.ru_stime),
            machine_busy,
        }
    }

    fn since(&self, before: &CpuSample) -> CpuUse {
        let wall = self.at.duration_since(before.at).as_secs_f64().max(1e-9);
        let me = (self.me - before.me) / wall;
        let etcd = (self.etcd - before.etcd) / wall;
        let children = (self.children - before.children) / wall;
        let busy = (self.machine_busy - before.machine_busy) / wall;
        CpuUse {
            wall,
            me,
            etcd,
            other: (busy - me - etcd - children).max(0.0),
        }
    }
}

// ---------------------------------------------------------------------------
// perf

fn start_perf(file: &Path, seconds: u64) -> Result<tokio::process::Child> {
    std::fs::create_dir_all(file.parent().unwrap_or(Path::new(".")))?;
    tokio::process::Command::new("perf")
        .args(["record", "-F", "999", "-o"])
        .arg(file)
        .args(["-p", &std::process::id().to_string(), "--", "sleep"])
        .arg(seconds.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running perf record (is perf installed?)")
}

async fn print_perf(file: &Path) {
    let out = tokio::process::Command::new("perf")
        .args([
            "report",
            "--no-children",
            "--stdio",
            "--sort",
            "symbol",
            "--fields",
            "overhead,sym",
            "--percent-limit",
            "1",
            "-i",
        ])
        .arg(file)
        .output()
        .await;
    match out {
        Ok(out) => {
            println!(
                "  perf, hottest functions of the monitor process (self time; {}):",
                file.display()
            );
            // Lines are `  12.34%  [.] symbol   -   -`; perf pads and does not always sort.
            let text = String::from_utf8_lossy(&out.stdout);
            let mut rows: Vec<(f64, String)> = text
                .lines()
                .filter_map(|l| {
                    let (pct, rest) = l.trim().split_once('%')?;
                    let symbol = rest.trim().trim_end_matches(['-', ' ']);
                    Some((pct.parse().ok()?, symbol.to_string()))
                })
                .collect();
            rows.sort_by(|a, b| b.0.total_cmp(&a.0));
            for (pct, symbol) in rows.iter().take(12) {
                println!("    {pct:>6.2}%  {symbol}");
            }
        }
        Err(e) => println!("  perf report failed: {e}"),
    }
}
