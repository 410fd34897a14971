//! `etcd-monitor ctl`: etcdctl's everyday commands over `crate::ops`, with etcdctl's
//! flags and output (`-w simple|json|table`), confirmation of cluster-wide changes,
//! and an audit record of every change when a data dir is known.
//!
//! Here: the command tree and its dispatch. Each command group, as etcdctl groups
//! them, has its own file with its clap arguments (`kv`, `member`, `endpoint`,
//! `lease`, `maintenance`, `concurrency`); `print` renders etcdctl's output formats
//! and `context` holds the session, the audit store and the confirmation.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

mod concurrency;
mod context;
mod endpoint;
mod kv;
mod lease;
mod maintenance;
mod member;
mod print;

use self::context::{open_audit, target, Ctx};
use self::endpoint::EndpointCommand;
use self::lease::LeaseCommand;
use self::maintenance::{AlarmCommand, SnapshotCommand};
use self::member::MemberCommand;
use self::print::{Printer, WriteOut};
use super::conn_args::ConnArgs;
use crate::etcd::Connector;
use crate::ops::session::Session;

#[derive(Debug, Args)]
#[command(
    about = "etcdctl's everyday commands (get, put, del, watch, txn, member, endpoint, alarm, compact, defrag, snapshot, lease, lock, elect) with etcdctl's flags and output",
    after_help = "Changes to the cluster (member add/remove/promote/update, alarm disarm, compact, defrag, del of several keys) ask for confirmation on a terminal and need --yes otherwise.\n\
With --data-dir (or -c CONFIG, whose store.data_dir is used) every change is recorded in the store's audit table; when a running monitor holds the store, changes are refused unless --no-audit is given.\n\
Example: etcd-monitor ctl --endpoints 127.0.0.1:2379 -w json get foo --prefix"
)]
pub struct CtlArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Deadline of every request (etcdctl's default, 5 s).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, global = true)]
    pub command_timeout: Duration,
    /// Output format.
    #[arg(short = 'w', long, value_enum, default_value_t = WriteOut::Simple, global = true)]
    pub write_out: WriteOut,
    /// Print keys and values as hex-escaped bytes (\x66\x6f\x6f), as etcdctl --hex.
    #[arg(long, global = true)]
    pub hex: bool,
    /// Monitor config: endpoints, TLS and auth of --cluster come from it, and its
    /// store.data_dir receives the audit records.
    #[arg(long, short = 'c', env = "ETCD_MONITOR_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Cluster of the config to act on (may be left out when it has only one).
    #[arg(long, global = true, requires = "config")]
    pub cluster: Option<String>,
    /// Store directory for the audit records (default: the config's store.data_dir
    /// when -c is given; no audit without either).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Make changes without recording them, e.g. while a running monitor holds the store.
    #[arg(long, global = true)]
    pub no_audit: bool,
    /// Confirm changes to the cluster without a prompt (required when stdin is not a terminal).
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Get a key or a range of keys.
    Get(kv::GetArgs),
    /// Put a value at a key (the value is read from stdin when not given).
    Put(kv::PutArgs),
    /// Delete a key or a range (several keys need confirmation).
    Del(kv::DelArgs),
    /// Watch a key or a range and print every event (until Ctrl-C or --max-events).
    Watch(kv::WatchArgs),
    /// Run a transaction: etcdctl's lines from stdin (compares, blank line, success
    /// operations, blank line, failure operations), or etcd's JSON with --json-file.
    Txn(kv::TxnArgs),
    /// Compare-and-swap: put VALUE at KEY only if its value is --expect (or with
    /// --create, only if KEY does not exist); exit status 1 and the current value otherwise.
    Cas(kv::CasArgs),
    /// Membership.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Health and status of endpoints.
    #[command(subcommand)]
    Endpoint(EndpointCommand),
    /// Alarms (NOSPACE, CORRUPT).
    #[command(subcommand)]
    Alarm(AlarmCommand),
    /// Compact the key history up to REV (needs confirmation).
    Compact(kv::CompactArgs),
    /// Defragment every member, one at a time, the leader last; each must answer
    /// Status and a serializable read before the next starts (needs confirmation).
    Defrag(maintenance::DefragArgs),
    /// Snapshots of the keyspace.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Leases.
    #[command(subcommand)]
    Lease(LeaseCommand),
    /// Hold lock NAME: print its key and wait for Ctrl-C, or run COMMAND while holding
    /// it and exit with its status (ETCD_LOCK_KEY and ETCD_LOCK_REV are set for it).
    Lock(concurrency::LockArgs),
    /// Campaign in election NAME with PROPOSAL and print the leader key and value when
    /// elected (hold until Ctrl-C, then resign); without PROPOSAL, observe and print
    /// every leader.
    Elect(concurrency::ElectArgs),
}

/// What a command does to the cluster: read only, an everyday change (recorded, no
/// prompt), or a change that needs confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Change,
    Confirm,
}

impl CtlCommand {
    fn kind(&self) -> Kind {
        use CtlCommand as C;
        match self {
            C::Get(_) | C::Watch(_) | C::Endpoint(_) | C::Snapshot(_) => Kind::Read,
            C::Member(MemberCommand::List) | C::Alarm(AlarmCommand::List) => Kind::Read,
            C::Lease(LeaseCommand::List | LeaseCommand::Timetolive { .. })
            | C::Lease(LeaseCommand::KeepAlive { .. }) => Kind::Read,
            C::Elect(concurrency::ElectArgs { proposal: None, .. })
            | C::Elect(concurrency::ElectArgs { listen: true, .. }) => Kind::Read,
            C::Member(_) | C::Alarm(_) | C::Compact(_) | C::Defrag(_) => Kind::Confirm,
            // A multi-key del is decided once the count is known.
            C::Put(_) | C::Del(_) | C::Txn(_) | C::Cas(_) => Kind::Change,
            C::Lease(_) | C::Lock(_) | C::Elect(_) => Kind::Change,
        }
    }
}

/// The exit status: 1 for a failed cas, 130 when interrupted, a lock's command's own.
pub fn run(args: CtlArgs) -> anyhow::Result<u8> {
    // Still one thread: no runtime yet.
    args.conn.export_inline_password();
    let (cluster, data_dir) = target(&args)?;
    let label = if args.cluster.is_some() || args.config.is_some() {
        cluster.name.clone()
    } else {
        args.conn.endpoint_list().join(",")
    };
    let connector = Connector::new(&cluster, args.command_timeout, args.conn.dial_timeout)?;
    let kind = args.command.kind();
    // The store is opened before any change, so a refused audit changes nothing.
    let audit = match (kind, data_dir) {
        (Kind::Read, _) | (_, None) => None,
        (_, Some(_)) if args.no_audit => None,
        (_, Some(dir)) => Some(open_audit(&args, &dir)?),
    };
    let endpoints = if args.config.is_some() && args.conn.endpoints.is_none() {
        cluster.endpoints.clone()
    } else {
        args.conn.endpoint_list()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let code = runtime.block_on(async {
        // As etcdctl (and `ConnArgs::cluster`): bare host:port means https with TLS
        // flags, unless some endpoint says http:// itself.
        let https = cluster.tls.is_some() && !endpoints.iter().any(|e| e.contains("http://"));
        let session = Session::open(&connector, &endpoints, https).await?;
        let mut ctx = Ctx {
            session,
            out: Printer {
                mode: args.write_out,
                hex: args.hex,
                raw: !std::io::stdout().is_terminal(),
            },
            audit,
            cluster: label,
            yes: args.yes,
        };
        dispatch(&mut ctx, args.command).await
    })?;
    drop(runtime);
    // A command's own status (lock's): 0..=255, and 128 + signal.
    Ok(u8::try_from(code).unwrap_or(1))
}

async fn dispatch(ctx: &mut Ctx, cmd: CtlCommand) -> anyhow::Result<i32> {
    use CtlCommand as C;
    match cmd {
        C::Get(a) => kv::get(ctx, a).await,
        C::Put(a) => kv::put(ctx, a).await,
        C::Del(a) => kv::del(ctx, a).await,
        C::Watch(a) => kv::watch(ctx, a).await,
        C::Txn(a) => kv::txn(ctx, a).await,
        C::Cas(a) => kv::cas(ctx, a).await,
        C::Compact(a) => kv::compact(ctx, a).await,
        C::Member(m) => member::run(ctx, m).await,
        C::Endpoint(e) => endpoint::run(ctx, e).await,
        C::Alarm(a) => maintenance::alarm(ctx, a).await,
        C::Defrag(a) => maintenance::defrag(ctx, a).await,
        C::Snapshot(s) => maintenance::snapshot(ctx, s).await,
        C::Lease(l) => lease::run(ctx, l).await,
        C::Lock(a) => concurrency::lock(ctx, a).await,
        C::Elect(a) => concurrency::elect(ctx, a).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_and_argument_has_help() {
        use clap::CommandFactory;
        fn walk(c: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in c.get_subcommands().filter(|s| s.get_name() != "help") {
                let p = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(p.clone());
                }
                for a in sub.get_arguments().filter(|a| !a.is_global_set()) {
                    if a.get_help().is_none() && a.get_id() != "help" {
                        missing.push(format!("{p} <{}>", a.get_id()));
                    }
                }
                walk(sub, &p, missing);
            }
        }
        let cli = crate::cli::Cli::command();
        let ctl = cli.find_subcommand("ctl").unwrap();
        let mut missing = Vec::new();
        walk(ctl, "ctl", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }

    #[test]
    fn changes_are_classified() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(subcommand)]
            c: CtlCommand,
        }
        let kind = |args: &[&str]| T::parse_from([&["x"], args].concat()).c.kind();
        assert_eq!(kind(&["get", "k"]), Kind::Read);
        assert_eq!(kind(&["put", "k", "v"]), Kind::Change);
        assert_eq!(kind(&["member", "remove", "1"]), Kind::Confirm);
        assert_eq!(kind(&["defrag"]), Kind::Confirm);
        assert_eq!(kind(&["elect", "e"]), Kind::Read);
        assert_eq!(kind(&["elect", "e", "p"]), Kind::Change);
        assert_eq!(kind(&["lease", "list"]), Kind::Read);
    }
}
