//! `etcd-monitor ctl`: etcdctl's everyday commands over `crate::ops`, with etcdctl's
//! flags and output (`-w simple|json|table`), confirmation of cluster-wide changes,
//! and an audit record of every change when a data dir is known.

use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};

mod print;

use self::print::{humanize_bytes, Printer, WriteOut};
use super::conn_args::ConnArgs;
use super::output::{self, outln};
use crate::config::{Overrides, Settings};
use crate::etcd::Connector;
use crate::ops::json::{self, Kv};
use crate::ops::session::Session;
use crate::ops::{self, audit, kv, OpsError};
use crate::store::{Store, StoreError, FILE_NAME};

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

fn bytes(s: &OsString) -> Vec<u8> {
    s.as_bytes().to_vec()
}

#[derive(Debug, Args)]
pub struct RangeArgs {
    /// Key (any bytes; non-UTF-8 arguments are taken as they are).
    // Its own id: `key` is the global --key (the client key file).
    #[arg(id = "key_arg", value_name = "KEY", value_parser = clap::value_parser!(OsString))]
    pub key: OsString,
    /// End of the range [KEY, RANGE_END).
    #[arg(value_parser = clap::value_parser!(OsString))]
    pub range_end: Option<OsString>,
    /// Every key starting with KEY.
    #[arg(long)]
    pub prefix: bool,
    /// Every key greater than or equal to KEY.
    #[arg(long)]
    pub from_key: bool,
}

impl RangeArgs {
    fn range(&self) -> kv::Range {
        kv::Range {
            key: bytes(&self.key),
            end: self.range_end.as_ref().map(bytes),
            prefix: self.prefix,
            from_key: self.from_key,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Get a key or a range of keys.
    Get {
        #[command(flatten)]
        range: RangeArgs,
        /// Keys only, no values.
        #[arg(long)]
        keys_only: bool,
        /// Only the count of keys.
        #[arg(long)]
        count_only: bool,
        /// At most this many keys (0: no limit).
        #[arg(long, default_value_t = 0)]
        limit: i64,
        /// Read at this revision (0: the latest).
        #[arg(long, default_value_t = 0)]
        rev: i64,
        /// Values only (simple output).
        #[arg(long)]
        print_value_only: bool,
        /// Serializable read (from the member asked, maybe stale): etcdctl's --consistency=s.
        #[arg(long, value_parser = ["l", "s"], default_value = "l")]
        consistency: String,
    },
    /// Put a value at a key (the value is read from stdin when not given).
    Put {
        /// Key (any bytes; non-UTF-8 arguments are taken as they are).
        #[arg(id = "key_arg", value_name = "KEY", value_parser = clap::value_parser!(OsString))]
        key: OsString,
        /// Value (any bytes); read from stdin when left out.
        #[arg(value_parser = clap::value_parser!(OsString))]
        value: Option<OsString>,
        /// Attach to this lease (hexadecimal id).
        #[arg(long)]
        lease: Option<String>,
    },
    /// Delete a key or a range (several keys need confirmation).
    Del {
        #[command(flatten)]
        range: RangeArgs,
        /// Print the deleted pairs.
        #[arg(long)]
        prev_kv: bool,
    },
    /// Watch a key or a range and print every event (until Ctrl-C or --max-events).
    Watch {
        #[command(flatten)]
        range: RangeArgs,
        /// Start at this revision (past events are replayed).
        #[arg(long, default_value_t = 0)]
        rev: i64,
        /// Also print the previous pair of each event.
        #[arg(long)]
        prev_kv: bool,
        /// Stop after this many events, 1 or more (not in etcdctl; for scripts and tests).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        max_events: Option<u64>,
    },
    /// Run a transaction: etcdctl's lines from stdin (compares, blank line, success
    /// operations, blank line, failure operations), or etcd's JSON with --json-file.
    Txn {
        /// etcd's JSON txn request (as POSTed to /v3/kv/txn; keys and values base64); `-` for stdin.
        #[arg(long)]
        json_file: Option<PathBuf>,
        /// Accepted for etcdctl compatibility (prompts are never printed).
        #[arg(short = 'i', long)]
        interactive: bool,
    },
    /// Compare-and-swap: put VALUE at KEY only if its value is --expect (or with
    /// --create, only if KEY does not exist); exit status 1 and the current value otherwise.
    Cas {
        /// Key (any bytes; non-UTF-8 arguments are taken as they are).
        #[arg(id = "key_arg", value_name = "KEY", value_parser = clap::value_parser!(OsString))]
        key: OsString,
        /// New value.
        #[arg(value_parser = clap::value_parser!(OsString))]
        value: OsString,
        /// The value KEY must have now.
        #[arg(long, value_parser = clap::value_parser!(OsString), required_unless_present = "create", conflicts_with = "create")]
        expect: Option<OsString>,
        /// KEY must not exist.
        #[arg(long)]
        create: bool,
        /// Attach to this lease (hexadecimal id).
        #[arg(long)]
        lease: Option<String>,
    },
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
    Compact {
        /// Revision to compact up to (older revisions are dropped).
        rev: i64,
        /// Wait until the compaction is physically applied.
        #[arg(long)]
        physical: bool,
    },
    /// Defragment every member, one at a time, the leader last; each must answer
    /// Status and a serializable read before the next starts (needs confirmation).
    Defrag {
        /// Deadline of one member's defragmentation.
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        defrag_timeout: Duration,
    },
    /// Snapshots of the keyspace.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Leases.
    #[command(subcommand)]
    Lease(LeaseCommand),
    /// Hold lock NAME: print its key and wait for Ctrl-C, or run COMMAND while holding
    /// it and exit with its status (ETCD_LOCK_KEY and ETCD_LOCK_REV are set for it).
    Lock {
        /// Name of the lock or election (a key prefix).
        #[arg(value_parser = clap::value_parser!(OsString))]
        name: OsString,
        /// Command and its arguments, after `--`.
        #[arg(last = true, value_parser = clap::value_parser!(OsString))]
        command: Vec<OsString>,
    },
    /// Campaign in election NAME with PROPOSAL and print the leader key and value when
    /// elected (hold until Ctrl-C, then resign); without PROPOSAL, observe and print
    /// every leader.
    Elect {
        /// Name of the lock or election (a key prefix).
        #[arg(value_parser = clap::value_parser!(OsString))]
        name: OsString,
        /// Value to campaign with; left out: observe.
        #[arg(value_parser = clap::value_parser!(OsString))]
        proposal: Option<OsString>,
        /// Observe only (same as leaving PROPOSAL out).
        #[arg(short = 'l', long)]
        listen: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// List the members.
    List,
    /// Add a member NAME with --peer-urls (needs confirmation).
    Add {
        /// Name of the new member (its --name).
        name: String,
        /// Peer URLs of the new member, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        peer_urls: Vec<String>,
        /// Add as a learner (non-voting).
        #[arg(long)]
        learner: bool,
    },
    /// Remove member ID (hexadecimal, as `member list` prints it; needs confirmation).
    Remove {
        /// Member id in hex.
        id: String,
    },
    /// Promote learner ID to a voting member (needs confirmation).
    Promote {
        /// Member id in hex.
        id: String,
    },
    /// Change the peer URLs of member ID (needs confirmation).
    Update {
        /// Member id in hex.
        id: String,
        /// New peer URLs, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        peer_urls: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    /// A linearizable read and no active alarm, per endpoint.
    Health {
        /// All members' client URLs instead of --endpoints (etcdctl's --cluster).
        #[arg(long)]
        all_members: bool,
    },
    /// Status per endpoint (version, DB size, leader, raft term and index).
    Status {
        /// All members' client URLs instead of --endpoints (etcdctl's --cluster).
        #[arg(long)]
        all_members: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlarmCommand {
    /// List the active alarms.
    List,
    /// Disarm every active alarm (needs confirmation).
    Disarm,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Save a snapshot of one endpoint to FILE (through FILE.part; the sha256 etcd
    /// appends is checked before the rename).
    Save {
        /// Where to write the snapshot.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum LeaseCommand {
    /// Grant a lease of TTL seconds.
    Grant {
        /// Time to live in seconds.
        ttl: i64,
    },
    /// Revoke lease ID (its keys are deleted).
    Revoke {
        /// Lease id in hex.
        id: String,
    },
    /// Remaining TTL of lease ID.
    Timetolive {
        /// Lease id in hex.
        id: String,
        /// Also list the keys attached.
        #[arg(long)]
        keys: bool,
    },
    /// List the leases.
    List,
    /// Keep lease ID alive (until Ctrl-C, or once with --once).
    KeepAlive {
        /// Lease id in hex.
        id: String,
        /// Renew once and exit.
        #[arg(long)]
        once: bool,
    },
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
            C::Get { .. } | C::Watch { .. } | C::Endpoint(_) | C::Snapshot(_) => Kind::Read,
            C::Member(MemberCommand::List) | C::Alarm(AlarmCommand::List) => Kind::Read,
            C::Lease(LeaseCommand::List | LeaseCommand::Timetolive { .. })
            | C::Lease(LeaseCommand::KeepAlive { .. }) => Kind::Read,
            C::Elect { proposal: None, .. } | C::Elect { listen: true, .. } => Kind::Read,
            C::Member(_) | C::Alarm(_) | C::Compact { .. } | C::Defrag { .. } => Kind::Confirm,
            // A multi-key del is decided once the count is known.
            C::Put { .. } | C::Del { .. } | C::Txn { .. } | C::Cas { .. } => Kind::Change,
            C::Lease(_) | C::Lock { .. } | C::Elect { .. } => Kind::Change,
        }
    }
}

/// Everything a command needs besides its own arguments.
struct Ctx {
    session: Session,
    out: Printer,
    audit: Option<Store>,
    /// Cluster name or endpoints, for the audit record.
    cluster: String,
    yes: bool,
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

/// The cluster to talk to and where audit records go.
fn target(args: &CtlArgs) -> anyhow::Result<(crate::config::ClusterConfig, Option<PathBuf>)> {
    let Some(config) = &args.config else {
        return Ok((args.conn.cluster("ctl"), args.data_dir.clone()));
    };
    let settings = Settings::load(
        Some(config),
        &Overrides {
            data_dir: args.data_dir.clone(),
            ..Default::default()
        },
    )?;
    let mut cluster = settings.cluster(args.cluster.as_deref())?.clone();
    // Flags given on the command line win over the config.
    if args.conn.has_security() {
        let flags = args.conn.cluster(&cluster.name);
        cluster.tls = flags.tls;
        cluster.auth = flags.auth;
    }
    if args.conn.endpoints.is_some() {
        cluster.endpoints = args.conn.cluster(&cluster.name).endpoints;
    }
    Ok((cluster, Some(settings.store.data_dir)))
}

fn open_audit(args: &CtlArgs, dir: &std::path::Path) -> anyhow::Result<Store> {
    let settings = Settings::load(
        args.config.as_deref(),
        &Overrides {
            data_dir: Some(dir.to_path_buf()),
            ..Default::default()
        },
    )?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data dir {}", dir.display()))?;
    let path = dir.join(FILE_NAME);
    match Store::open(&path, settings.store.retention()) {
        Ok(store) => Ok(store),
        Err(StoreError::InUse { path }) => bail!(
            "the store {} is in use by a running monitor, so this change cannot be recorded in its audit table; nothing was changed. Stop the monitor, give another --data-dir, or give --no-audit to make the change without a record",
            path.display()
        ),
        Err(e) => Err(e).with_context(|| format!("cannot open the audit store {}", path.display())),
    }
}

impl Ctx {
    /// Asks for confirmation of `what`: --yes, or "y" on a terminal; refused otherwise.
    fn confirm(&self, what: &str) -> anyhow::Result<()> {
        if self.yes {
            return Ok(());
        }
        if !std::io::stdin().is_terminal() {
            bail!("{what}: refusing without --yes (stdin is not a terminal to ask on); nothing was changed");
        }
        eprint!("{what} on {}? [y/N] ", self.cluster);
        std::io::stderr().flush().ok();
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if matches!(answer.trim(), "y" | "Y" | "yes" | "YES") {
            Ok(())
        } else {
            bail!("{what}: not confirmed; nothing was changed")
        }
    }

    /// Records `action` on `target` with the outcome of `result`.
    fn record<T>(&self, action: &str, target: &str, result: &Result<T, OpsError>) {
        let Some(store) = &self.audit else { return };
        let rec = audit::AuditRecord {
            at_unix_ms: crate::unix_ms_now(),
            actor: audit::os_user(),
            source: "ctl".into(),
            cluster: self.cluster.clone(),
            action: action.into(),
            target: target.into(),
            outcome: match result {
                Ok(_) => "ok".into(),
                Err(e) => e.to_string(),
            },
        };
        if let Err(e) = audit::write(store, &rec) {
            // The change is made: failing now would make scripts retry it.
            eprintln!("warning: {action} {target} was not recorded in the audit table: {e}");
        }
    }
}

/// Runs `fut` and records it.
macro_rules! audited {
    ($ctx:expr, $action:expr, $target:expr, $fut:expr) => {{
        let result = $fut.await;
        $ctx.record($action, &$target, &result);
        result?
    }};
}

async fn dispatch(ctx: &mut Ctx, cmd: CtlCommand) -> anyhow::Result<i32> {
    let s = ctx.session.clone();
    let out = ctx.out;
    match cmd {
        CtlCommand::Get {
            range,
            keys_only,
            count_only,
            limit,
            rev,
            print_value_only,
            consistency,
        } => {
            let r = kv::get(
                &s,
                &kv::GetArgs {
                    range: range.range(),
                    keys_only,
                    count_only,
                    limit,
                    rev,
                    serializable: consistency == "s",
                },
            )
            .await?;
            out.get(&r, print_value_only)?;
        }
        CtlCommand::Put { key, value, lease } => {
            let key = bytes(&key);
            let value = match value {
                Some(v) => bytes(&v),
                None => {
                    let mut v = Vec::new();
                    std::io::stdin().read_to_end(&mut v)?;
                    v
                }
            };
            let lease = lease
                .as_deref()
                .map(ops::lease::parse_id)
                .transpose()?
                .unwrap_or(0);
            let r = audited!(
                ctx,
                "put",
                out.key_text(&key),
                kv::put(&s, &key, &value, lease)
            );
            out.json_or(&r, || outln!("OK"))?;
        }
        CtlCommand::Del { range, prev_kv } => {
            let range = range.range();
            if range.prefix || range.from_key || range.end.is_some() {
                let n = kv::count(&s, &range).await?;
                if n > 1 {
                    ctx.confirm(&format!(
                        "delete {n} keys from {}",
                        out.key_text(&range.key)
                    ))?;
                }
            }
            let target = describe_range(&out, &range);
            let r = audited!(ctx, "del", target, kv::del(&s, &range, prev_kv));
            out.json_or(&r, || {
                outln!("{}", r.deleted)?;
                for kv in &r.prev_kvs {
                    out.kv(kv, false)?;
                }
                Ok(())
            })?;
        }
        CtlCommand::Watch {
            range,
            rev,
            prev_kv,
            max_events,
        } => {
            let mut seen = 0u64;
            let args = kv::WatchArgs {
                range: range.range(),
                rev,
                prev_kv,
            };
            let mut printed = Ok(());
            kv::watch(
                &s,
                &args,
                |ev| {
                    printed = out.event(ev);
                    seen += 1;
                    printed.is_ok() && max_events.is_none_or(|m| seen < m)
                },
                super::shutdown_signal(),
            )
            .await?;
            printed?;
        }
        CtlCommand::Txn { json_file, .. } => {
            let spec = match json_file {
                Some(path) => {
                    let text = if path.as_os_str() == "-" {
                        let mut t = String::new();
                        std::io::stdin().read_to_string(&mut t)?;
                        t
                    } else {
                        std::fs::read_to_string(&path)
                            .with_context(|| format!("cannot read {}", path.display()))?
                    };
                    ops::txn::parse_json(&text)?
                }
                None => {
                    let mut t = String::new();
                    std::io::stdin().read_to_string(&mut t)?;
                    ops::txn::parse_lines(&t)?
                }
            };
            let target = txn_target(&out, &spec);
            let r = audited!(ctx, "txn", target, ops::txn::run(&s, &spec));
            out.json_or(&r, || out.txn(&r))?;
        }
        CtlCommand::Cas {
            key,
            value,
            expect,
            create: _,
            lease,
        } => {
            let key = bytes(&key);
            let lease = lease
                .as_deref()
                .map(ops::lease::parse_id)
                .transpose()?
                .unwrap_or(0);
            let expect = expect.as_ref().map(bytes);
            let r = audited!(
                ctx,
                "cas",
                out.key_text(&key),
                kv::compare_and_swap(&s, &key, expect.as_deref(), &bytes(&value), lease)
            );
            out.json_or(&r, || {
                if r.succeeded {
                    outln!("OK")?;
                } else {
                    match &r.current {
                        Some(kv) => {
                            outln!("FAILED: the value is now")?;
                            out.kv(kv, true)?;
                        }
                        None => outln!("FAILED: the key does not exist")?,
                    }
                }
                Ok(())
            })?;
            if !r.succeeded {
                return Ok(1);
            }
        }
        CtlCommand::Member(m) => return member(ctx, m).await,
        CtlCommand::Endpoint(e) => return endpoint(ctx, e).await,
        CtlCommand::Alarm(AlarmCommand::List) => {
            let r = ops::maintenance::alarm_list(&s).await?;
            out.json_or(&r, || {
                for a in &r.alarms {
                    outln!("memberID:{} alarm:{} ", a.member_id, a.name())?;
                }
                Ok(())
            })?;
        }
        CtlCommand::Alarm(AlarmCommand::Disarm) => {
            ctx.confirm("disarm every alarm")?;
            let r = audited!(
                ctx,
                "alarm disarm",
                "all",
                ops::maintenance::alarm_disarm(&s)
            );
            out.json_or(&r, || {
                for a in &r.alarms {
                    outln!("memberID:{} alarm:{} ", a.member_id, a.name())?;
                }
                Ok(())
            })?;
        }
        CtlCommand::Compact { rev, physical } => {
            ctx.confirm(&format!("compact the history up to revision {rev}"))?;
            let h = audited!(
                ctx,
                "compact",
                rev.to_string(),
                ops::maintenance::compact(&s, rev, physical)
            );
            out.json_or(&json::HeaderOnly { header: h }, || {
                outln!("compacted revision {rev}")
            })?;
        }
        CtlCommand::Defrag { defrag_timeout } => {
            let plan = ops::maintenance::defrag_plan(&s).await?;
            let names: Vec<String> = plan
                .iter()
                .map(|t| format!("{}{}", t.name, if t.leader { " (leader)" } else { "" }))
                .collect();
            ctx.confirm(&format!(
                "defragment {} members one at a time: {}",
                plan.len(),
                names.join(", ")
            ))?;
            let healthy_within = s.timeout() * 6;
            for t in &plan {
                audited!(
                    ctx,
                    "defrag",
                    format!("{:x} {}", t.id, t.endpoint),
                    ops::maintenance::defrag_one(&s, &t.endpoint, defrag_timeout, healthy_within)
                );
                match out.mode {
                    WriteOut::Json => outln!("{}", serde_json::to_string(t)?)?,
                    _ => outln!("Finished defragmenting etcd member[{}]", t.endpoint)?,
                }
            }
        }
        CtlCommand::Snapshot(SnapshotCommand::Save { file }) => {
            let r = ops::maintenance::snapshot_save(&s, &file).await?;
            out.json_or(&r, || outln!("Snapshot saved at {}", file.display()))?;
        }
        CtlCommand::Lease(l) => return lease(ctx, l).await,
        CtlCommand::Lock { name, command } => {
            let name = bytes(&name);
            let target = out.key_text(&name);
            let held = audited!(
                ctx,
                "lock",
                target,
                ops::sync::lock(&s, &name, super::shutdown_signal())
            );
            // Recorded: let the store go now rather than hold its file for as long as
            // the lock is held (a monitor could not start meanwhile).
            ctx.audit.take();
            let Some(held) = held else { return Ok(130) };
            if command.is_empty() {
                let printed =
                    outln!("{}", String::from_utf8_lossy(&held.key)).and_then(|()| output::flush());
                // Nobody reads which key is held: let it go at once.
                if printed.is_ok() {
                    super::shutdown_signal().await;
                }
                ops::sync::unlock(&s, held).await?;
                printed?;
                return Ok(0);
            }
            let status = tokio::process::Command::new(&command[0])
                .args(&command[1..])
                .env("ETCD_LOCK_KEY", OsString::from_vec_lossless(&held.key))
                .env("ETCD_LOCK_REV", held.rev.to_string())
                .status()
                .await;
            ops::sync::unlock(&s, held).await?;
            let status =
                status.with_context(|| format!("cannot run {}", command[0].to_string_lossy()))?;
            // A command killed by a signal: the shell's 128 + signal.
            use std::os::unix::process::ExitStatusExt;
            return Ok(status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)));
        }
        CtlCommand::Elect {
            name,
            proposal,
            listen,
        } => {
            let name = bytes(&name);
            match proposal.filter(|_| !listen) {
                None => {
                    let mut printed = Ok(());
                    ops::sync::observe(
                        &s,
                        &name,
                        |kv| {
                            printed = out.kv(kv, false).and_then(|()| output::flush());
                            printed.is_ok()
                        },
                        super::shutdown_signal(),
                    )
                    .await?;
                    printed?;
                }
                Some(p) => {
                    let target = out.key_text(&name);
                    let won = audited!(
                        ctx,
                        "elect",
                        target,
                        ops::sync::campaign(&s, &name, &bytes(&p), super::shutdown_signal())
                    );
                    // As for lock: do not hold the store's file while leading.
                    ctx.audit.take();
                    let Some(won) = won else { return Ok(130) };
                    let printed = out
                        .kv(
                            &Kv {
                                key: won.leader.key().to_vec(),
                                value: bytes(&p),
                                ..Default::default()
                            },
                            false,
                        )
                        .and_then(|()| output::flush());
                    // As for lock: nobody reads who leads, so resign at once.
                    if printed.is_ok() {
                        super::shutdown_signal().await;
                    }
                    ops::sync::resign(&s, won).await?;
                    printed?;
                }
            }
        }
    }
    Ok(0)
}

/// `OsString` from raw key bytes (Unix: any bytes).
trait FromVecLossless {
    fn from_vec_lossless(v: &[u8]) -> OsString;
}
impl FromVecLossless for OsString {
    fn from_vec_lossless(v: &[u8]) -> OsString {
        use std::os::unix::ffi::OsStringExt;
        OsString::from_vec(v.to_vec())
    }
}

fn describe_range(out: &Printer, r: &kv::Range) -> String {
    let key = out.key_text(&r.key);
    if r.prefix {
        format!("{key} --prefix")
    } else if r.from_key {
        format!("{key} --from-key")
    } else if let Some(end) = &r.end {
        format!("[{key}, {})", out.key_text(end))
    } else {
        key
    }
}

/// The keys a txn writes (never values).
fn txn_target(out: &Printer, spec: &ops::txn::TxnSpec) -> String {
    use ops::txn::Op;
    let keys: Vec<String> = spec
        .success
        .iter()
        .chain(&spec.failure)
        .filter_map(|o| match o {
            Op::Put { key, .. } => Some(format!("put {}", out.key_text(key))),
            Op::Del { key, .. } => Some(format!("del {}", out.key_text(key))),
            Op::Get { .. } => None,
        })
        .collect();
    keys.join(", ")
}

async fn member(ctx: &mut Ctx, cmd: MemberCommand) -> anyhow::Result<i32> {
    let s = ctx.session.clone();
    let out = ctx.out;
    match cmd {
        MemberCommand::List => {
            let r = ops::cluster::list(&s).await?;
            match out.mode {
                WriteOut::Json => out.json(&r)?,
                mode => {
                    let rows: Vec<Vec<String>> = r.members.iter().map(member_row).collect();
                    out.rows(
                        mode,
                        &[
                            "ID",
                            "STATUS",
                            "NAME",
                            "PEER ADDRS",
                            "CLIENT ADDRS",
                            "IS LEARNER",
                        ],
                        &rows,
                    )?;
                }
            }
        }
        MemberCommand::Add {
            name,
            peer_urls,
            learner,
        } => {
            ctx.confirm(&format!("add member {name} ({})", peer_urls.join(",")))?;
            let r = audited!(
                ctx,
                "member add",
                format!("{name} {}", peer_urls.join(",")),
                ops::cluster::add(&s, &peer_urls, learner)
            );
            out.json_or(&r, || {
                let id = r.member.as_ref().map_or(0, |m| m.id);
                let kind = if learner { "Learner" } else { "Member" };
                outln!(
                    "{kind} {id:16x} added to cluster {:16x}\n",
                    r.header.cluster_id
                )?;
                let mut initial = Vec::new();
                for m in &r.members {
                    let n = if m.id == id {
                        name.as_str()
                    } else {
                        m.name.as_str()
                    };
                    for u in &m.peer_urls {
                        if !n.is_empty() {
                            initial.push(format!("{n}={u}"));
                        }
                    }
                }
                outln!("ETCD_NAME=\"{name}\"")?;
                outln!("ETCD_INITIAL_CLUSTER=\"{}\"", initial.join(","))?;
                outln!(
                    "ETCD_INITIAL_ADVERTISE_PEER_URLS=\"{}\"",
                    peer_urls.join(",")
                )?;
                outln!("ETCD_INITIAL_CLUSTER_STATE=\"existing\"")?;
                Ok(())
            })?;
        }
        MemberCommand::Remove { id } => {
            let id = ops::cluster::parse_id(&id)?;
            ctx.confirm(&format!("remove member {id:x}"))?;
            let r = audited!(
                ctx,
                "member remove",
                format!("{id:x}"),
                ops::cluster::remove(&s, id)
            );
            out.json_or(&r, || {
                outln!(
                    "Member {id:16x} removed from cluster {:16x}",
                    r.header.cluster_id
                )
            })?;
        }
        MemberCommand::Promote { id } => {
            let id = ops::cluster::parse_id(&id)?;
            ctx.confirm(&format!("promote learner {id:x}"))?;
            let r = audited!(
                ctx,
                "member promote",
                format!("{id:x}"),
                ops::cluster::promote(&s, id)
            );
            out.json_or(&r, || {
                outln!(
                    "Member {id:16x} promoted in cluster {:16x}",
                    r.header.cluster_id
                )
            })?;
        }
        MemberCommand::Update { id, peer_urls } => {
            let id = ops::cluster::parse_id(&id)?;
            ctx.confirm(&format!("update member {id:x} to {}", peer_urls.join(",")))?;
            let r = audited!(
                ctx,
                "member update",
                format!("{id:x} {}", peer_urls.join(",")),
                ops::cluster::update(&s, id, &peer_urls)
            );
            out.json_or(&r, || {
                outln!(
                    "Member {id:16x} updated in cluster {:16x}",
                    r.header.cluster_id
                )
            })?;
        }
    }
    Ok(0)
}

fn member_row(m: &json::Member) -> Vec<String> {
    vec![
        format!("{:x}", m.id),
        if m.name.is_empty() {
            "unstarted"
        } else {
            "started"
        }
        .to_string(),
        m.name.clone(),
        m.peer_urls.join(","),
        m.client_urls.join(","),
        m.is_learner.to_string(),
    ]
}

async fn all_or_given(s: &Session, all: bool) -> anyhow::Result<Vec<String>> {
    if !all {
        return Ok(s.endpoints().to_vec());
    }
    let members = ops::cluster::list(s).await?.members;
    Ok(members.into_iter().flat_map(|m| m.client_urls).collect())
}

async fn endpoint(ctx: &mut Ctx, cmd: EndpointCommand) -> anyhow::Result<i32> {
    let s = ctx.session.clone();
    let out = ctx.out;
    match cmd {
        EndpointCommand::Status { all_members } => {
            let eps = all_or_given(&s, all_members).await?;
            // All at once: a dead endpoint costs one deadline, not one each.
            let results = futures::future::join_all(
                eps.iter().map(|e| ops::maintenance::endpoint_status(&s, e)),
            )
            .await;
            let mut ok = Vec::new();
            let mut failed = 0;
            for (e, r) in eps.iter().zip(results) {
                match r {
                    Ok(st) => ok.push(st),
                    Err(err) => {
                        failed += 1;
                        eprintln!("Failed to get the status of endpoint {e} ({err})");
                    }
                }
            }
            match out.mode {
                WriteOut::Json => out.json(&ok)?,
                mode => {
                    let rows: Vec<Vec<String>> = ok
                        .iter()
                        .map(|e| {
                            let st = &e.status;
                            vec![
                                e.endpoint.clone(),
                                format!("{:x}", st.header.member_id),
                                st.version.clone(),
                                humanize_bytes(st.db_size as u64),
                                (st.leader == st.header.member_id).to_string(),
                                st.is_learner.to_string(),
                                st.raft_term.to_string(),
                                st.raft_index.to_string(),
                                st.raft_applied_index.to_string(),
                                st.errors.join(", "),
                            ]
                        })
                        .collect();
                    out.rows(
                        mode,
                        &[
                            "ENDPOINT",
                            "ID",
                            "VERSION",
                            "DB SIZE",
                            "IS LEADER",
                            "IS LEARNER",
                            "RAFT TERM",
                            "RAFT INDEX",
                            "RAFT APPLIED INDEX",
                            "ERRORS",
                        ],
                        &rows,
                    )?;
                }
            }
            if failed > 0 {
                return Err(anyhow!(
                    "{failed} of {} endpoints did not answer",
                    eps.len()
                ));
            }
        }
        EndpointCommand::Health { all_members } => {
            let eps = all_or_given(&s, all_members).await?;
            let results = futures::future::join_all(
                eps.iter().map(|e| ops::maintenance::endpoint_health(&s, e)),
            )
            .await;
            match out.mode {
                WriteOut::Json => out.json(&results)?,
                WriteOut::Table => {
                    let rows: Vec<Vec<String>> = results
                        .iter()
                        .map(|h| {
                            vec![
                                h.endpoint.clone(),
                                h.health.to_string(),
                                h.took.clone(),
                                h.error.clone(),
                            ]
                        })
                        .collect();
                    out.rows(
                        WriteOut::Table,
                        &["ENDPOINT", "HEALTH", "TOOK", "ERROR"],
                        &rows,
                    )?;
                }
                WriteOut::Simple => {
                    for h in &results {
                        if h.health {
                            outln!(
                                "{} is healthy: successfully committed proposal: took = {}",
                                h.endpoint,
                                h.took
                            )?;
                        } else {
                            eprintln!(
                                "{} is unhealthy: failed to commit proposal: {}",
                                h.endpoint, h.error
                            );
                        }
                    }
                }
            }
            if results.iter().any(|h| !h.health) {
                return Err(anyhow!("unhealthy cluster"));
            }
        }
    }
    Ok(0)
}

async fn lease(ctx: &mut Ctx, cmd: LeaseCommand) -> anyhow::Result<i32> {
    let s = ctx.session.clone();
    let out = ctx.out;
    match cmd {
        LeaseCommand::Grant { ttl } => {
            let r = audited!(
                ctx,
                "lease grant",
                format!("ttl {ttl}"),
                ops::lease::grant(&s, ttl)
            );
            out.json_or(&r, || {
                outln!("lease {:016x} granted with TTL({}s)", r.id, r.ttl)
            })?;
        }
        LeaseCommand::Revoke { id } => {
            let id = ops::lease::parse_id(&id)?;
            let h = audited!(
                ctx,
                "lease revoke",
                format!("{id:016x}"),
                ops::lease::revoke(&s, id)
            );
            out.json_or(&json::HeaderOnly { header: h }, || {
                outln!("lease {id:016x} revoked")
            })?;
        }
        LeaseCommand::Timetolive { id, keys } => {
            let id = ops::lease::parse_id(&id)?;
            let r = ops::lease::time_to_live(&s, id, keys).await?;
            out.json_or(&r, || {
                if r.ttl == -1 {
                    return outln!("lease {id:016x} already expired");
                }
                let mut line = format!(
                    "lease {id:016x} granted with TTL({}s), remaining({}s)",
                    r.granted_ttl, r.ttl
                );
                if let Some(k) = &r.keys {
                    let names: Vec<String> = k.iter().map(|k| out.key_text(k)).collect();
                    line.push_str(&format!(", attached keys([{}])", names.join(" ")));
                }
                outln!("{line}")
            })?;
        }
        LeaseCommand::List => {
            let r = ops::lease::list(&s).await?;
            out.json_or(&r, || {
                outln!("found {} leases", r.leases.len())?;
                for l in &r.leases {
                    outln!("{:016x}", l.id)?;
                }
                Ok(())
            })?;
        }
        LeaseCommand::KeepAlive { id, once } => {
            let id = ops::lease::parse_id(&id)?;
            let mut printed = Ok(());
            ops::lease::keep_alive(
                &s,
                id,
                once,
                |r| {
                    printed = out
                        .json_or(r, || {
                            outln!("lease {:016x} keepalived with TTL({})", r.id, r.ttl)
                        })
                        .and_then(|()| Ok(output::flush()?));
                    printed.is_ok()
                },
                super::shutdown_signal(),
            )
            .await?;
            printed?;
        }
    }
    Ok(0)
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
