//! `etcd-monitor bench`: etcd's benchmark tool's flags, our runner (`crate::bench`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};

use std::fmt::Write as _;

use super::bench_history::RunStore;
use super::conn_args::ConnArgs;
use super::output::{self, out, outln};
use super::progress::Bar;
use crate::bench::history::{Comparison, RunFilter, RunList, RunSource, StoredRun};
use crate::bench::{self, BenchSpec, Consistency, Progress, Workload};
use crate::config::{ClusterConfig, Overrides, Settings};
use crate::etcd::Connector;

#[derive(Debug, Args)]
#[command(
    about = "Load benchmark with the flags of etcd's benchmark tool; writes only under its own empty prefix and deletes it afterwards",
    after_help = "Example: etcd-monitor bench --endpoints 127.0.0.1:2379 --conns 10 --clients 100 put --total 20000 --key-size 8 --val-size 256 --sequential-keys"
)]
pub struct BenchArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Number of gRPC connections; connection i dials endpoint i mod n.
    #[arg(long, default_value_t = 1, global = true)]
    pub conns: usize,
    /// Number of concurrent clients, pinned to the connections round-robin.
    #[arg(long, default_value_t = 1, global = true)]
    pub clients: usize,
    /// Dial only the leader.
    #[arg(long, global = true)]
    pub target_leader: bool,
    /// Deadline of every request.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, global = true)]
    pub command_timeout: Duration,
    /// Total number of requests (default 10000 unless --duration is given).
    #[arg(long, global = true)]
    pub total: Option<u64>,
    /// Run for this long (e.g. 30s) instead of, or as well as, --total.
    #[arg(long, value_parser = humantime::parse_duration, global = true)]
    pub duration: Option<Duration>,
    /// Requests per second over all clients (latencies then count from each request's
    /// scheduled start: corrected for coordinated omission).
    #[arg(long, global = true)]
    pub rate: Option<f64>,
    /// Key size in bytes (after the run's prefix).
    #[arg(long, default_value_t = 8, global = true)]
    pub key_size: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 8, global = true)]
    pub val_size: usize,
    /// Number of distinct keys written or read.
    #[arg(long, default_value_t = 1, global = true)]
    pub key_space_size: u64,
    /// Keys in order (request i uses key i mod key-space-size) rather than at random.
    #[arg(long, global = true)]
    pub sequential_keys: bool,
    /// Where to write (default /etcd-monitor-bench/<run-id>/); must hold no key.
    #[arg(long, global = true)]
    pub prefix: Option<String>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Output::Simple, global = true)]
    pub output: Output,
    /// Config file: where runs are stored (store.data_dir), the monitor's address
    /// (server.listen), and the clusters --cluster names.
    #[arg(long, short = 'c', env = "ETCD_MONITOR_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Directory of the store runs are kept in (default: the monitor answering on
    /// server.listen, 127.0.0.1:9393, when one does; else store.data_dir, ./data).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// A cluster of the config: its endpoints, TLS, auth and metrics URLs are used,
    /// and its name labels the run (`list`: only this cluster's runs).
    #[arg(long, global = true)]
    pub cluster: Option<String>,
    /// Do not store the run.
    #[arg(long, global = true)]
    pub no_save: bool,
    /// The running monitor to store runs through (and read them from): without -c and
    /// --data-dir, when it answers; else when it holds the store file (default:
    /// http:// + the config's server.listen).
    #[arg(long, global = true)]
    pub monitor_url: Option<String>,
    #[command(subcommand)]
    pub workload: BenchWorkload,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Simple,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConsistencyArg {
    /// Linearizable.
    L,
    /// Serializable.
    S,
}

impl From<ConsistencyArg> for Consistency {
    fn from(c: ConsistencyArg) -> Self {
        match c {
            ConsistencyArg::L => Consistency::Linearizable,
            ConsistencyArg::S => Consistency::Serializable,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum BenchWorkload {
    /// Puts under the run's prefix.
    Put,
    /// Ranges over [KEY, END) (reads only; KEY is absolute).
    Range {
        /// First key (or the only one, without END).
        #[arg(id = "range_key", value_name = "KEY")]
        key: String,
        /// End of the range (exclusive).
        #[arg(value_name = "END")]
        end: Option<String>,
        #[arg(long, value_enum, default_value_t = ConsistencyArg::L)]
        consistency: ConsistencyArg,
    },
    /// Transactions of --txn-ops puts.
    TxnPut {
        #[arg(long, default_value_t = 1)]
        txn_ops: usize,
    },
    /// Transactions reading or putting one key, --rw-ratio reads per write.
    TxnMixed {
        #[arg(long, default_value_t = 1.0)]
        rw_ratio: f64,
        #[arg(long, value_enum, default_value_t = ConsistencyArg::L)]
        consistency: ConsistencyArg,
    },
    /// Latency from a put to its watch events (--total puts at --put-rate).
    WatchLatency {
        #[arg(long, default_value_t = 10)]
        streams: usize,
        #[arg(long, default_value_t = 10)]
        watchers_per_stream: usize,
        #[arg(long, default_value_t = 100.0)]
        put_rate: f64,
    },
    /// Lease keep-alive round trips, one lease per client.
    LeaseKeepalive,
    /// Gets and puts, --read-percent reads (default 70).
    Mixed {
        #[arg(long, default_value_t = 70)]
        read_percent: u8,
        #[arg(long, value_enum, default_value_t = ConsistencyArg::L)]
        consistency: ConsistencyArg,
    },
    /// List stored runs, newest first.
    List {
        /// Only runs of this workload (put, range, txn-put, ...).
        #[arg(long)]
        workload: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Runs older than this run id (the next page).
        #[arg(long)]
        before: Option<String>,
    },
    /// Show one stored run: etcd's report and what the cluster and host were.
    Show { id: String },
    /// Delete stored runs.
    Delete {
        /// Run ids.
        #[arg(num_args = 1.., required = true)]
        ids: Vec<String>,
    },
    /// Compare stored runs with the first: throughput and latency changes, and
    /// regressions past the threshold. Exit status 1 when a run regressed.
    Compare {
        /// Run ids, the baseline first.
        #[arg(num_args = 2.., required = true)]
        ids: Vec<String>,
        /// A change worse than this share is a regression (default: the config's
        /// bench.regression_threshold, 0.1 = 10%).
        #[arg(long)]
        threshold: Option<f64>,
    },
}

impl BenchArgs {
    /// The benchmark to run; `None` for list, show and compare.
    pub fn spec(&self) -> Option<BenchSpec> {
        let workload = match &self.workload {
            BenchWorkload::Put => Workload::Put,
            BenchWorkload::Range {
                key,
                end,
                consistency,
            } => Workload::Range {
                key: key.clone(),
                end: end.clone(),
                consistency: (*consistency).into(),
            },
            BenchWorkload::TxnPut { txn_ops } => Workload::TxnPut { txn_ops: *txn_ops },
            BenchWorkload::TxnMixed {
                rw_ratio,
                consistency,
            } => Workload::TxnMixed {
                rw_ratio: *rw_ratio,
                consistency: (*consistency).into(),
            },
            BenchWorkload::WatchLatency {
                streams,
                watchers_per_stream,
                put_rate,
            } => Workload::WatchLatency {
                streams: *streams,
                watchers_per_stream: *watchers_per_stream,
                put_rate: *put_rate,
            },
            BenchWorkload::LeaseKeepalive => Workload::LeaseKeepalive,
            BenchWorkload::Mixed {
                read_percent,
                consistency,
            } => Workload::Mixed {
                read_percent: *read_percent,
                consistency: (*consistency).into(),
            },
            BenchWorkload::List { .. }
            | BenchWorkload::Show { .. }
            | BenchWorkload::Delete { .. }
            | BenchWorkload::Compare { .. } => return None,
        };
        Some(BenchSpec {
            workload,
            conns: self.conns,
            clients: self.clients,
            target_leader: self.target_leader,
            total: self.total,
            duration: self.duration,
            rate: self.rate,
            key_size: self.key_size,
            val_size: self.val_size,
            key_space_size: self.key_space_size,
            sequential_keys: self.sequential_keys,
            prefix: self.prefix.clone(),
        })
    }

    /// The cluster to load: the config's `--cluster`, else the flags'.
    fn cluster(&self, settings: &Settings) -> anyhow::Result<ClusterConfig> {
        match &self.cluster {
            Some(name) => Ok(settings.cluster(Some(name))?.clone()),
            None => Ok(self.flags_cluster()),
        }
    }

    fn flags_cluster(&self) -> ClusterConfig {
        self.conn.cluster("bench")
    }
}

/// The exit status: 1 when a run was not stored or a compared run regressed, 130
/// when the run was interrupted.
pub fn run(args: BenchArgs) -> anyhow::Result<u8> {
    // Still one thread here: no runtime yet.
    args.conn.export_inline_password();
    let settings = Settings::load(
        args.config.as_deref(),
        &Overrides {
            data_dir: args.data_dir.clone(),
            ..Default::default()
        },
    )?;
    // One thread: at 0.05 ms of client CPU per put, one core drives far more requests
    // than a 3-member cluster on the same machine answers, and a multi-thread runtime
    // spent its time waking idle workers and moving tasks between them (more CPU per
    // request, measured in docs/benchmarks.md), and took cores from the members.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let Some(spec) = args.spec() else {
        return runtime.block_on(stored_runs(&args, &settings));
    };
    spec.validate().map_err(anyhow::Error::msg)?;
    let cluster = args.cluster(&settings)?;
    let label = match &args.cluster {
        Some(name) => name.clone(),
        None => cluster.endpoints.join(","),
    };
    let connector = Connector::new(&cluster, args.command_timeout, args.conn.dial_timeout)?;
    // Where the run will be kept, found before the load: a store that cannot take it
    // stops the run before it loads the cluster.
    let runs = if args.no_save {
        None
    } else {
        Some(runtime.block_on(find_runs(&args, &settings, true))?)
    };
    let bar = progress_bar(&spec);
    let run = runtime.block_on(async {
        bench::run_observed(
            &spec,
            &connector,
            &cluster.endpoints,
            &cluster.metrics_urls,
            &label,
            RunSource::Cli,
            |p: &Progress| match (p.total, p.duration) {
                (Some(_), _) => bar.set_position(p.done),
                (None, Some(_)) => bar.set_position(p.elapsed.as_secs()),
                _ => {}
            },
            super::shutdown_signal(),
        )
        .await
    });
    bar.finish();
    let run = run.context("benchmark failed")?;
    let report = &run.report;
    // The run is stored even when the reader of the report went away (`| head`): the
    // cluster was loaded for it.
    let printed = match args.output {
        Output::Simple => {
            let printed = out!("{}", report.render_text());
            eprintln!(
                "run {}: {} keys under {} deleted{}",
                report.run_id,
                report.keys_deleted,
                report.prefix,
                if report.interrupted {
                    " (interrupted)"
                } else {
                    ""
                }
            );
            printed.map_err(anyhow::Error::from)
        }
        Output::Json => output::json_pretty(report),
    };
    if let Some(runs) = runs {
        match runtime.block_on(runs.save(&run)) {
            Ok(()) => eprintln!(
                "run {} stored in {} (etcd-monitor bench show {})",
                run.id,
                runs.describe(),
                run.id
            ),
            Err(e) => {
                // The report is printed above; only keeping it failed.
                eprintln!("error: run {} was not stored: {e:#}", run.id);
                return Ok(1);
            }
        }
    }
    printed?;
    Ok(if report.interrupted { 130 } else { 0 })
}

/// Where runs are kept and read: with no `-c` and no `--data-dir`, the monitor
/// answering on `server.listen` (a running `demo` or `serve`: its dashboard shows the
/// run) when there is one; else the store in `store.data_dir` (or the monitor that
/// holds it).
async fn find_runs(
    args: &BenchArgs,
    settings: &Settings,
    create: bool,
) -> anyhow::Result<RunStore> {
    if args.config.is_none() && args.data_dir.is_none() {
        if let Some(monitor) =
            RunStore::running_monitor(settings, args.monitor_url.as_deref()).await
        {
            eprintln!(
                "runs are kept in {} (no -c or --data-dir given; --data-dir DIR keeps them in a file)",
                monitor.describe()
            );
            return Ok(monitor);
        }
    }
    RunStore::open(settings, args.monitor_url.as_deref(), create)
}

/// `bench list | show | compare`.
async fn stored_runs(args: &BenchArgs, settings: &Settings) -> anyhow::Result<u8> {
    let runs = find_runs(args, settings, false).await?;
    let json = args.output == Output::Json;
    match &args.workload {
        BenchWorkload::List {
            workload,
            limit,
            before,
        } => {
            if *limit == 0 {
                anyhow::bail!("--limit must be at least 1");
            }
            let list = runs
                .list(&RunFilter {
                    cluster: args.cluster.clone(),
                    workload: workload.clone(),
                    before: before.clone(),
                    limit: *limit,
                })
                .await?;
            if json {
                output::json_pretty(&list)?;
            } else {
                out!("{}", render_list(&list))?;
            }
        }
        BenchWorkload::Show { id } => {
            let run = runs.get(id).await?;
            if json {
                output::json_pretty(&run)?;
            } else {
                out!("{}", render_run(&run))?;
            }
        }
        BenchWorkload::Delete { ids } => {
            // Each run on its own: one unknown id does not keep the others.
            let mut failed = 0;
            for id in ids {
                match runs.delete(id).await {
                    Ok(()) => outln!("deleted {id}")?,
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        failed += 1;
                    }
                }
            }
            if failed > 0 {
                anyhow::bail!("{failed} of {} runs not deleted", ids.len());
            }
        }
        BenchWorkload::Compare { ids, threshold } => {
            let threshold = threshold.unwrap_or(settings.bench.regression_threshold);
            let comparison = runs.compare(ids, threshold).await?;
            if json {
                output::json_pretty(&comparison)?;
            } else {
                out!("{}", render_comparison(&comparison))?;
            }
            if comparison.regressions > 0 {
                return Ok(1);
            }
        }
        _ => unreachable!("spec() is Some for the workloads"),
    }
    Ok(0)
}

fn ms(secs: Option<f64>) -> String {
    secs.map_or("-".into(), |s| format!("{:.2}", s * 1e3))
}

fn utc(ms: i64) -> String {
    crate::time::rfc3339_seconds(ms)
}

fn render_list(list: &RunList) -> String {
    let mut out = String::new();
    if list.runs.is_empty() && list.unreadable.is_empty() {
        out.push_str("no benchmark run stored\n");
        return out;
    }
    // The cluster column is as wide as its longest name (endpoints can be long).
    let cw = list
        .runs
        .iter()
        .map(|r| r.cluster.chars().count())
        .max()
        .unwrap_or(0)
        .max("CLUSTER".len());
    let _ = writeln!(
        out,
        "{:<26} {:<20} {:<cw$} {:<15} {:>9} {:>9} {:>10} {:>9} {:>9} {:>6}  SOURCE",
        "RUN",
        "STARTED",
        "CLUSTER",
        "WORKLOAD",
        "CONNS/CL",
        "REQUESTS",
        "REQ/S",
        "P50 MS",
        "P99 MS",
        "FAILED"
    );
    for r in &list.runs {
        let _ = writeln!(
            out,
            "{:<26} {:<20} {:<cw$} {:<15} {:>9} {:>9} {:>10.1} {:>9} {:>9} {:>6}  {}{}",
            r.id,
            utc(r.started_unix_ms),
            r.cluster,
            r.workload,
            format!("{}/{}", r.conns, r.clients),
            r.requests,
            r.requests_per_sec,
            ms(r.p50_secs),
            ms(r.p99_secs),
            r.errors,
            r.source,
            if r.interrupted { " (interrupted)" } else { "" }
        );
    }
    for e in &list.unreadable {
        let _ = writeln!(out, "unreadable: {e}");
    }
    if let Some(next) = &list.next_before {
        let _ = writeln!(out, "(more: --before {next})");
    }
    out
}

fn render_run(run: &StoredRun) -> String {
    let mut out = String::new();
    let r = &run.report;
    let f = &run.facts;
    let i = &run.indicators;
    let _ = writeln!(
        out,
        "Run:        {}{}",
        run.id,
        if r.interrupted { " (interrupted)" } else { "" }
    );
    let _ = writeln!(out, "Started:    {}", utc(r.started_unix_ms));
    let _ = writeln!(out, "Source:     {}", run.source);
    let _ = writeln!(out, "Workload:   {:?}", r.spec.workload);
    let _ = writeln!(
        out,
        "Load:       {} conns, {} clients, {}{}, key {} B, value {} B, key space {}{}",
        r.spec.conns,
        r.spec.clients,
        r.spec
            .total_limit()
            .map_or("no request limit".into(), |t| format!("{t} requests")),
        r.spec.duration.map_or(String::new(), |d| format!(
            " for {}",
            crate::time::duration::format(d)
        )),
        r.spec.key_size,
        r.spec.val_size,
        r.spec.key_space_size,
        r.spec
            .rate
            .map_or(String::new(), |x| format!(", rate {x}/s"))
    );
    let _ = writeln!(
        out,
        "Cluster:    {} (id {}, etcd {}, {} members, leader {}, DB {} bytes)",
        run.cluster,
        f.cluster_id.as_deref().unwrap_or("?"),
        f.version.as_deref().unwrap_or("?"),
        f.members.len(),
        f.leader.as_deref().unwrap_or("?"),
        f.db_size_bytes.map_or("?".into(), |b| b.to_string())
    );
    let _ = writeln!(
        out,
        "During run: WAL fsync p99 {} ms, backend commit p99 {} ms, leader changes {}, failed proposals {} ({} members observed)",
        ms(i.wal_fsync_p99_seconds),
        ms(i.backend_commit_p99_seconds),
        i.leader_changes.map_or("?".into(), |v| v.to_string()),
        i.proposals_failed.map_or("?".into(), |v| v.to_string()),
        i.members_observed
    );
    let _ = writeln!(
        out,
        "Host:       {} ({} {}, {} CPUs, etcd-monitor {})",
        run.host.hostname, run.host.os, run.host.arch, run.host.cpus, run.host.monitor_version
    );
    for e in f.errors.iter().chain(&i.errors) {
        let _ = writeln!(out, "Note:       {e}");
    }
    out.push_str(&r.render_text());
    out
}

fn change(c: Option<f64>) -> String {
    c.map_or(String::new(), |c| format!(" ({:+.1}%)", c * 100.0))
}

fn render_comparison(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Baseline {}; a regression is throughput down or p99 up by more than {:.0}%.",
        c.baseline,
        c.threshold * 100.0
    );
    let _ = writeln!(
        out,
        "{:<26} {:<15} {:>20} {:>18} {:>18} {:>10}  VERDICT",
        "RUN", "WORKLOAD", "REQ/S", "P50 MS", "P99 MS", "FSYNC P99"
    );
    for (i, r) in c.runs.iter().enumerate() {
        let s = &r.summary;
        let verdict = if i == 0 {
            "baseline".to_string()
        } else if r.regressions.is_empty() {
            "ok".to_string()
        } else {
            format!("REGRESSION: {}", r.regressions.join("; "))
        };
        let _ = writeln!(
            out,
            "{:<26} {:<15} {:>20} {:>18} {:>18} {:>10}  {}",
            s.id,
            s.workload,
            format!(
                "{:.1}{}",
                s.requests_per_sec,
                change(r.requests_per_sec_change)
            ),
            format!("{}{}", ms(s.p50_secs), change(r.p50_change)),
            format!("{}{}", ms(s.p99_secs), change(r.p99_change)),
            ms(r.indicators.wal_fsync_p99_seconds),
            verdict
        );
        if !r.differences.is_empty() {
            let _ = writeln!(
                out,
                "{:<26} not like for like: {}",
                "",
                r.differences.join("; ")
            );
        }
    }
    let _ = writeln!(
        out,
        "{} of {} runs regressed.",
        c.regressions,
        c.runs.len().saturating_sub(1)
    );
    out
}

fn progress_bar(spec: &BenchSpec) -> Bar {
    let (len, unit) = match (spec.total_limit(), spec.duration) {
        (Some(n), _) => (n, "requests"),
        (None, Some(d)) => (d.as_secs().max(1), "secs"),
        _ => (0, ""),
    };
    Bar::new(
        len,
        &format!("{{bar:40}} {{pos}}/{{len}} {unit} {{elapsed_precise}} ETA {{eta}}"),
    )
}
