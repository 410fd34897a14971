//! `etcd-monitor check disk|perf|cluster|inspect`: run a check, print its findings, exit with
//! the worst one's status.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use super::output::{self, outln, OutputError};
use super::progress::Bar;
use crate::check::{self, cluster, disk, inspect, perf, Finding, Status};
use crate::config::{ClusterConfig, CollectSettings, Overrides, Settings};
use crate::etcd::Connector;

pub const EXIT_HELP: &str = "\
Exit status: 0 every finding PASS, 1 the worst finding is a WARN, 2 the worst is a FAIL,
3 the check could not run (a bad directory, no member reachable, a non-empty prefix...).
These are the codes of monitoring plugins (OK, WARNING, CRITICAL, UNKNOWN); note that
usage errors (bad flags) exit 2 as well, before anything runs.";

#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Is DIR fast enough for etcd's WAL? 2,300-byte sequential writes with fdatasync
    /// after each (22 MiB); PASS when the fdatasync p99 is under 10 ms. Runs fio's
    /// standard etcd command too when fio is installed, and shows both.
    #[command(after_help = EXIT_HELP)]
    Disk(DiskArgs),
    /// etcdctl's `check perf`: puts at the load's rate (s 150/s with 50 clients, m
    /// 1000/200, l 8000/500, xl 15000/1000; 60 s) under an empty prefix, deleted
    /// afterwards; PASS with no errors, throughput > 90% of the rate, slowest <= 0.5 s
    /// and stddev <= 0.1 s.
    #[command(after_help = EXIT_HELP)]
    Perf(PerfArgs),
    /// A readiness report of a running cluster: members, leader, odd voting members,
    /// version skew, alarms, quota, fragmentation, fsync/commit/peer p99, leader
    /// changes, TLS, auth and HashKV consistency, each with what to do.
    #[command(after_help = EXIT_HELP)]
    Cluster(ClusterArgs),
    /// One of kstone's inspections, as an EtcdInspection runs it: alarm (alarms
    /// raised, per member), healthy (each member's health), consistency (revision,
    /// raft index, applied index and key count per member, and their spread) or
    /// request (key counts under --prefix). PASS or FAIL.
    #[command(after_help = EXIT_HELP)]
    Inspect(InspectArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InspectionType {
    Alarm,
    Healthy,
    Consistency,
    Request,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(long = "type", value_enum)]
    pub kind: InspectionType,
    /// request: a prefix whose keys are counted (repeat for more, at most 32).
    #[arg(long = "prefix")]
    pub prefixes: Vec<String>,
    /// consistency: the largest spread between members that passes.
    #[arg(long, default_value_t = 0)]
    pub max_spread: u64,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct DiskArgs {
    /// Directory to test: etcd's data (or --wal-dir) directory, or one on the same disk.
    #[arg(long)]
    pub dir: PathBuf,
    /// Bytes to write (k, m, g suffixes), as fio's --size.
    #[arg(long, default_value = "22m", value_parser = disk::parse_size)]
    pub size: u64,
    /// Bytes per write, as fio's --bs.
    #[arg(long, default_value_t = disk::DEFAULT_BLOCK_SIZE, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=16_777_216))]
    pub block_size: usize,
    /// Do not run fio even if it is installed.
    #[arg(long)]
    pub no_fio: bool,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// Which cluster: `--endpoints`, or `--cluster NAME` of the config (`-c`).
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Client URLs of the cluster (default: the config's cluster, ETCDCTL_ENDPOINTS,
    /// then http://127.0.0.1:2379).
    #[arg(long, value_delimiter = ',')]
    pub endpoints: Option<Vec<String>>,
    /// A cluster of the config file, with its TLS and auth.
    #[arg(long)]
    pub cluster: Option<String>,
    #[arg(long, short = 'c', env = "ETCD_MONITOR_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PerfArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Workload: s(mall), m(edium), l(arge) or xl (xLarge).
    #[arg(long, default_value = "s")]
    pub load: perf::Load,
    /// Prefix for the check's keys; it must be empty, and is emptied afterwards.
    #[arg(long, default_value = perf::DEFAULT_PREFIX)]
    pub prefix: String,
    /// How long to write, e.g. 5s (default: the load's 60 s, as etcdctl).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Time between the two probes (rates and quantiles need two scrapes).
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub wait: Duration,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// The worst finding's exit status; 3 when the check could not run.
pub fn run(cmd: CheckCommand) -> anyhow::Result<u8> {
    match run_check(cmd) {
        Ok(status) => Ok(u8::try_from(status.exit_code()).unwrap_or(3)),
        // The reader of the report went away: main ends quietly.
        Err(e) if output::is_closed(&e) => Err(e),
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(3)
        }
    }
}

fn run_check(cmd: CheckCommand) -> anyhow::Result<Status> {
    match cmd {
        CheckCommand::Disk(a) => run_disk(a),
        CheckCommand::Perf(a) => run_perf(a),
        CheckCommand::Cluster(a) => run_cluster(a),
        CheckCommand::Inspect(a) => run_inspect(a),
    }
}

fn run_disk(a: DiskArgs) -> anyhow::Result<Status> {
    let mut opts = disk::DiskOptions::new(&a.dir);
    opts.size = a.size;
    opts.block_size = a.block_size;
    opts.fio = !a.no_fio;
    let bar = Bar::new(a.size, "{msg} [{bar:30}] {bytes}/{total_bytes} {elapsed}");
    bar.set_message("fdatasync test");
    let report = disk::run(&opts, &mut |p| match p {
        disk::Progress::Writing { done, .. } => bar.set_position(done),
        disk::Progress::Fio => {
            bar.set_message("fio");
            bar.set_position(0);
        }
    });
    bar.finish();
    let report = report?;
    let status = check::worst(&report.findings);
    if a.output == Output::Json {
        output::json_pretty(&report)?;
        return Ok(status);
    }
    outln!(
        "Disk check of {}: {} writes of {} B, fdatasync after each ({:.1} MiB in {:.1} s, {:.0} writes/s)",
        report.dir.display(),
        report.writes,
        report.block_size,
        report.size_bytes as f64 / 1048576.0,
        report.elapsed_seconds,
        report.writes_per_second
    )?;
    outln!()?;
    outln!(
        "fdatasync            {:>10} {:>10} {:>10} {:>8}",
        "p50",
        "p99",
        "max",
        "syncs"
    )?;
    let l = &report.fdatasync;
    outln!(
        "{:<20} {:>7.2} ms {:>7.2} ms {:>7.2} ms {:>8}",
        "etcd-monitor",
        l.p50_ms,
        l.p99_ms,
        l.max_ms,
        l.count
    )?;
    match &report.fio {
        Some(f) => {
            outln!(
                "{:<20} {:>7.2} ms {:>7.2} ms {:>7.2} ms {:>8}",
                f.version,
                f.p50_ms,
                f.p99_ms,
                f.max_ms,
                f.syncs
            )?;
            if let Some(r) = report.fio_ratio {
                outln!("fio p99 / etcd-monitor p99: {r:.2}")?;
            }
            outln!("fio command: {}", f.command)?;
        }
        None => outln!(
            "fio: not run: {}",
            report.fio_skipped.as_deref().unwrap_or("")
        )?,
    }
    outln!()?;
    print_findings(&report.findings)?;
    Ok(status)
}

/// The cluster the user means, with the collector's deadlines from the config.
fn target(t: &TargetArgs) -> anyhow::Result<(ClusterConfig, CollectSettings)> {
    let endpoints = t.endpoints.as_ref().map(|e| {
        e.iter()
            .flat_map(|s| crate::config::split_endpoints(s))
            .collect::<Vec<_>>()
    });
    let overrides = Overrides {
        endpoints: endpoints.clone(),
        cluster_name: if endpoints.is_some() {
            t.cluster.clone()
        } else {
            None
        },
        ..Default::default()
    };
    let settings = Settings::load(t.config.as_deref(), &overrides)?;
    // With --endpoints, the flags make the one cluster.
    let name = t.cluster.as_deref().filter(|_| endpoints.is_none());
    let cluster = settings.cluster(name)?.clone();
    Ok((cluster, settings.collect))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // One thread: the checks wait on the network, and one thread keeps the client's
    // CPU cost (and its effect on members running on the same machine) low.
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn run_perf(a: PerfArgs) -> anyhow::Result<Status> {
    let (cluster, collect) = target(&a.target)?;
    let connector = Connector::new(&cluster, collect.request_timeout, collect.dial_timeout)?;
    let opts = perf::PerfOptions {
        load: a.load,
        prefix: a.prefix.clone(),
        duration: a.duration,
    };
    let profile = a.load.profile();
    let duration = a.duration.unwrap_or(Duration::from_secs(profile.seconds));
    if a.output == Output::Text {
        outln!(
            "check perf --load {}: {} writes/s by {} clients for {:.0?} against {} (prefix {})",
            serde_json::to_value(a.load)?.as_str().unwrap_or("?"),
            profile.limit,
            profile.clients,
            duration,
            cluster.endpoints.join(","),
            a.prefix
        )?;
    }
    let bar = Bar::new(
        u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        "[{bar:40}] {percent}% {elapsed}/{duration}",
    );
    let report = runtime()?.block_on(perf::run(
        &connector,
        &cluster.endpoints,
        &opts,
        &|done, _| bar.set_position(u64::try_from(done.as_millis()).unwrap_or(u64::MAX)),
    ));
    bar.finish();
    let report = report?;
    let status = check::worst(&report.findings);
    if a.output == Output::Json {
        output::json_pretty(&report)?;
        return Ok(status);
    }
    let s = &report.stats;
    outln!(
        "{} puts in {:.2} s ({:.1}/s): average {:.4} s, p50 {:.4} s, p99 {:.4} s, fastest {:.4} s; {} keys deleted afterwards",
        s.requests,
        s.total_seconds,
        s.requests_per_second,
        s.average_seconds,
        s.latency.p50_ms / 1000.0,
        s.latency.p99_ms / 1000.0,
        s.fastest_seconds,
        report.keys_deleted
    )?;
    for skipped in &report.skipped_endpoints {
        outln!("left out (did not answer): {skipped}")?;
    }
    for line in &report.lines {
        outln!("{line}")?;
    }
    Ok(status)
}

fn run_cluster(a: ClusterArgs) -> anyhow::Result<Status> {
    let (cluster, collect) = target(&a.target)?;
    if a.output == Output::Text && std::io::stderr().is_terminal() {
        eprintln!(
            "probing {} twice, {:?} apart...",
            cluster.endpoints.join(","),
            a.wait
        );
    }
    let report = runtime()?.block_on(cluster::run(&cluster, &collect, a.wait))?;
    if a.output == Output::Json {
        output::json_pretty(&report)?;
        return Ok(report.worst);
    }
    outln!(
        "Readiness of cluster {} ({})",
        report.cluster,
        report.endpoints.join(",")
    )?;
    outln!()?;
    print_findings(&report.findings)?;
    Ok(report.worst)
}

fn run_inspect(a: InspectArgs) -> anyhow::Result<Status> {
    let inspection = match a.kind {
        InspectionType::Alarm => inspect::Inspection::Alarm,
        InspectionType::Healthy => inspect::Inspection::Healthy,
        InspectionType::Consistency => inspect::Inspection::Consistency {
            max_spread: a.max_spread,
        },
        InspectionType::Request => inspect::Inspection::Request {
            key_prefixes: a.prefixes,
        },
    };
    let (cluster, collect) = target(&a.target)?;
    // inspect::run refuses a bad inspection before it connects.
    let outcome = runtime()?.block_on(inspect::run(&cluster, &collect, &inspection))?;
    let status = if outcome.passed {
        Status::Pass
    } else {
        Status::Fail
    };
    if a.output == Output::Json {
        output::json_pretty(&outcome)?;
        return Ok(status);
    }
    outln!(
        "{} inspection of cluster {}: {}",
        inspection.name(),
        cluster.name,
        outcome.summary
    )?;
    outln!()?;
    let width = outcome
        .results
        .iter()
        .map(|r| r.subject.len())
        .max()
        .unwrap_or(7)
        .max(7);
    outln!("{:<7}{:<width$}  FIGURES", "STATUS", "SUBJECT")?;
    for r in &outcome.results {
        let figures: Vec<String> = r.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let verdict = if r.passed { Status::Pass } else { Status::Fail };
        outln!(
            "{:<7}{:<width$}  {}{}{}",
            verdict.as_str(),
            r.subject,
            figures.join(" "),
            if r.message.is_empty() { "" } else { "  " },
            r.message
        )?;
    }
    outln!()?;
    outln!("{status} (exit status {})", status.exit_code())?;
    Ok(status)
}

fn print_findings(findings: &[Finding]) -> Result<(), OutputError> {
    let width = findings
        .iter()
        .map(|f| f.check.len())
        .max()
        .unwrap_or(5)
        .max(5);
    outln!("{:<7}{:<width$}  DETAIL", "STATUS", "CHECK")?;
    for f in findings {
        outln!("{:<7}{:<width$}  {}", f.status.as_str(), f.check, f.detail)?;
        if f.status != Status::Pass && !f.recommendation.is_empty() {
            outln!("{:<7}{:<width$}  -> {}", "", "", f.recommendation)?;
        }
    }
    let worst = check::worst(findings);
    outln!()?;
    outln!("{worst} (exit status {})", worst.exit_code())
}
