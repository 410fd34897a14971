//! `etcd-monitor bench`: etcd's benchmark tool's flags, our runner (`crate::bench`).

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};

use super::conn_args::ConnArgs;
use crate::bench::{self, BenchSpec, Consistency, Progress, Workload};
use crate::config::ClusterConfig;
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
}

impl BenchArgs {
    pub fn spec(&self) -> BenchSpec {
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
        };
        BenchSpec {
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
        }
    }

    fn cluster(&self) -> ClusterConfig {
        self.conn.cluster("bench")
    }
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    // Still one thread here: no runtime yet.
    args.conn.export_inline_password();
    let spec = args.spec();
    spec.validate().map_err(anyhow::Error::msg)?;
    let cluster = args.cluster();
    let connector = Connector::new(&cluster, args.command_timeout, args.conn.dial_timeout)?;
    // One thread: at 0.05 ms of client CPU per put, one core drives far more requests
    // than a 3-member cluster on the same machine answers, and a multi-thread runtime
    // spent its time waking idle workers and moving tasks between them (more CPU per
    // request, measured in docs/benchmarks.md), and took cores from the members.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let bar = std::io::stderr().is_terminal().then(|| progress_bar(&spec));
    let report = runtime.block_on(async {
        bench::run(
            &spec,
            &connector,
            &cluster.endpoints,
            |p: &Progress| {
                if let Some(bar) = &bar {
                    match (p.total, p.duration) {
                        (Some(_), _) => bar.set_position(p.done),
                        (None, Some(_)) => bar.set_position(p.elapsed.as_secs()),
                        _ => {}
                    }
                }
            },
            super::shutdown_signal(),
        )
        .await
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = report.context("benchmark failed")?;
    match args.output {
        Output::Simple => {
            print!("{}", report.render_text());
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
        }
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    if report.interrupted {
        std::process::exit(130);
    }
    Ok(())
}

fn progress_bar(spec: &BenchSpec) -> indicatif::ProgressBar {
    let (len, unit) = match (spec.total_limit(), spec.duration) {
        (Some(n), _) => (n, "requests"),
        (None, Some(d)) => (d.as_secs().max(1), "secs"),
        _ => (0, ""),
    };
    let bar = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::with_template(&format!(
        "{{bar:40}} {{pos}}/{{len}} {unit} {{elapsed_precise}} ETA {{eta}}"
    ))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar
}
