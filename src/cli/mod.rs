//! Command-line interface: one file per subcommand. `anyhow` lives here and in main.

mod access_cmd;
mod alerts_cmd;
mod api_cmd;
mod bench_cmd;
mod bench_history;
mod check_cmd;
mod config_cmd;
mod conn_args;
mod ctl;
mod demo;
mod docs_cmd;
mod k8s_cmd;
pub mod output;
mod progress;
mod serve;
mod store_cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use check_cmd::CheckCommand;

#[derive(Debug, Parser)]
#[command(
    name = "etcd-monitor",
    version = crate::build_info::LONG_VERSION,
    about = "Monitor etcd v3 clusters: health, leader, raft, DB size, alarms, consistency and metrics",
    after_help = "Start with `etcd-monitor demo` (needs `etcd` on PATH) or `etcd-monitor serve --endpoints http://127.0.0.1:2379`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Monitor clusters and serve the dashboard API.
    ///
    /// SIGINT or SIGTERM stops it cleanly (the store is checkpointed). SIGHUP reads
    /// the config again and applies its `[[clusters]]` without a restart (added,
    /// removed and changed clusters keep their history); a config that does not
    /// load changes nothing. Other settings take a restart.
    Serve(ServeArgs),
    /// Start a local 3-member etcd cluster in a temp dir and monitor it.
    Demo(DemoArgs),
    /// Print or check configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Look at the history store (while the monitor is stopped).
    #[command(subcommand)]
    Store(StoreCommand),
    /// Alerting: test a receiver, export the rules for Prometheus, read the history.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// The HTTP API's OpenAPI document, and its reference (docs/api.md).
    #[command(subcommand)]
    Api(ApiCommand),
    /// Checks with a verdict: a disk for etcd's WAL, etcdctl's perf workload, a
    /// cluster's readiness. Exit status 0 PASS, 1 WARN, 2 FAIL, 3 could not run.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Load benchmark with the flags of etcd's benchmark tool; every run is stored
    /// (bench list | show | compare).
    Bench(Box<bench_cmd::BenchArgs>),
    /// etcdctl's commands: keys, txn, members, endpoints, alarms, maintenance,
    /// snapshots, leases, locks and elections; changes confirmed and audited.
    Ctl(Box<ctl::CtlArgs>),
    /// Local users of the dashboard and API.
    #[command(subcommand)]
    User(access_cmd::UserCommand),
    /// API tokens for scripts (`Authorization: Bearer`).
    #[command(subcommand)]
    Token(access_cmd::TokenCommand),
    /// The audit trail of changes and logins.
    #[command(subcommand)]
    Audit(access_cmd::AuditCommand),
    /// Kubernetes: the EtcdCluster and EtcdInspection resources' CRDs.
    #[command(subcommand)]
    K8s(K8sCommand),
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish,
    /// powershell). bash: `etcd-monitor completions bash > /etc/bash_completion.d/etcd-monitor`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (etcd-monitor.1 and one per subcommand) into DIR; the
    /// packages ship them.
    #[command(hide = true)]
    Manpages { dir: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum K8sCommand {
    /// Print the CustomResourceDefinitions of EtcdCluster and EtcdInspection
    /// (group etcd-monitor.io, version v1alpha1) as YAML, for `kubectl apply -f -`;
    /// packaging/kubernetes/crds.yaml is this output.
    Crds,
    /// Find kubeadm's etcd (the static pods labelled component=etcd in
    /// kube-system) and print the EtcdCluster that declares it, or create it
    /// with --create. Uses kubectl's kubeconfig ($KUBECONFIG, ~/.kube/config)
    /// unless --kubeconfig names one.
    Kubeadm {
        /// The EtcdCluster's name (in kube-system).
        #[arg(long, default_value = "control-plane")]
        name: String,
        /// The Secret in kube-system that holds the client certificate (keys
        /// ca.crt, tls.crt, tls.key).
        #[arg(long, default_value = "etcd-monitor-etcd-client")]
        tls_secret: String,
        /// Create the EtcdCluster instead of printing it.
        #[arg(long)]
        create: bool,
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Send a test notification to the receiver named RECEIVER.
    Test {
        receiver: String,
        #[arg(long, short = 'c', env = "ETCD_MONITOR_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Print the troubleshooting guide (Markdown, docs/troubleshooting.md): each
    /// built-in alert, what it means, what to check and which commands help.
    Runbook,
    /// Print the built-in rules (with the config's changes) as Prometheus rule YAML.
    ExportPrometheus {
        #[arg(long, short = 'c', env = "ETCD_MONITOR_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Print the alert history, newest first (while the monitor is stopped; while it
    /// runs, ask GET /api/v1/alerts/history).
    History {
        #[arg(long, short = 'c', env = "ETCD_MONITOR_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        cluster: Option<String>,
        #[arg(long)]
        alertname: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Print the OpenAPI 3.1 document of the HTTP API (JSON), as a running monitor
    /// serves it at /api/v1/openapi.json.
    Openapi,
    /// Print the API reference (Markdown, docs/api.md), made from the OpenAPI
    /// document: each operation's role, parameters, body and answers.
    Reference,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// File size, series, and samples and bytes per sample per tier.
    Stats(StoreArgs),
    /// Decode every block and report what is wrong; exits non-zero on problems.
    Check(StoreArgs),
}

#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    #[arg(long, short = 'c', env = "ETCD_MONITOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory of the store (default: store.data_dir of the config).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print JSON (stats only).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Config file (TOML) for many clusters; see `etcd-monitor config default`.
    #[arg(long, short = 'c', env = "ETCD_MONITOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Endpoints of the one cluster to monitor (replaces the config's clusters).
    #[arg(long, value_delimiter = ',')]
    pub endpoints: Option<Vec<String>>,
    /// Name of the cluster given with --endpoints.
    #[arg(long)]
    pub name: Option<String>,
    /// Address for the dashboard and API, e.g. 127.0.0.1:9393.
    #[arg(long)]
    pub listen: Option<String>,
    /// Directory of the embedded store.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Seconds between probes of each cluster.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Address for the dashboard and API (default: 127.0.0.1:9393, or a free port if taken).
    #[arg(long)]
    pub listen: Option<String>,
    /// Seconds between probes.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the default configuration file, with comments.
    Default,
    /// Print the configuration reference (Markdown, docs/configuration.md), made
    /// from the commented default configuration.
    Reference,
    /// Load and validate a configuration, then print the result (secrets are never shown).
    Check {
        #[arg(long, short = 'c', env = "ETCD_MONITOR_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// Runs the command; `Ok` holds the exit status (0: success; `check`'s verdicts, a
/// regression in `bench compare`, a failed `ctl cas`, a `ctl lock` command's own...).
/// `main` turns an error into a message and status 1, and a reader of standard output
/// that went away ([`output::is_closed`]) into a quiet 0.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Serve(args) => serve::run(args).map(|()| 0),
        Command::Demo(args) => demo::run(args).map(|()| 0),
        Command::Config(cmd) => config_cmd::run(cmd).map(|()| 0),
        Command::Store(cmd) => store_cmd::run(cmd).map(|()| 0),
        Command::Alerts(cmd) => alerts_cmd::run(cmd).map(|()| 0),
        Command::Api(cmd) => api_cmd::run(cmd).map(|()| 0),
        Command::K8s(K8sCommand::Crds) => {
            output::out!("{}", crate::k8s::crds_yaml()?)?;
            Ok(0)
        }
        Command::K8s(K8sCommand::Kubeadm {
            name,
            tls_secret,
            create,
            kubeconfig,
        }) => k8s_cmd::kubeadm(&name, &tls_secret, create, kubeconfig),
        Command::Check(cmd) => check_cmd::run(cmd),
        Command::Bench(args) => bench_cmd::run(*args),
        Command::Ctl(args) => ctl::run(*args),
        Command::User(cmd) => access_cmd::user(cmd).map(|()| 0),
        Command::Token(cmd) => access_cmd::token(cmd).map(|()| 0),
        Command::Audit(cmd) => access_cmd::audit(cmd).map(|()| 0),
        Command::Completions { shell } => docs_cmd::completions(shell),
        Command::Manpages { dir } => docs_cmd::manpages(&dir),
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
