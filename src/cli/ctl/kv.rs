//! Key-value commands, as etcdctl groups them: get, put, del, watch, txn and
//! compaction, and the compare-and-swap etcdctl lacks. Each command's clap arguments
//! sit next to the function that runs it over `crate::ops::kv`, with the audit target
//! it records.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::context::{audited, Ctx};
use super::print::Printer;
use crate::cli::output::outln;
use crate::ops::json;
use crate::ops::{self, kv};

pub(super) fn bytes(s: &OsString) -> Vec<u8> {
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

/// `ctl get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    /// Keys only, no values.
    #[arg(long)]
    pub keys_only: bool,
    /// Only the count of keys.
    #[arg(long)]
    pub count_only: bool,
    /// At most this many keys (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub limit: i64,
    /// Read at this revision (0: the latest).
    #[arg(long, default_value_t = 0)]
    pub rev: i64,
    /// Values only (simple output).
    #[arg(long)]
    pub print_value_only: bool,
    /// Serializable read (from the member asked, maybe stale): etcdctl's --consistency=s.
    #[arg(long, value_parser = ["l", "s"], default_value = "l")]
    pub consistency: String,
}

/// `ctl put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// Key (any bytes; non-UTF-8 arguments are taken as they are).
    #[arg(id = "key_arg", value_name = "KEY", value_parser = clap::value_parser!(OsString))]
    pub key: OsString,
    /// Value (any bytes); read from stdin when left out.
    #[arg(value_parser = clap::value_parser!(OsString))]
    pub value: Option<OsString>,
    /// Attach to this lease (hexadecimal id).
    #[arg(long)]
    pub lease: Option<String>,
}

/// `ctl del`.
#[derive(Debug, Args)]
pub struct DelArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    /// Print the deleted pairs.
    #[arg(long)]
    pub prev_kv: bool,
}

/// `ctl watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    /// Start at this revision (past events are replayed).
    #[arg(long, default_value_t = 0)]
    pub rev: i64,
    /// Also print the previous pair of each event.
    #[arg(long)]
    pub prev_kv: bool,
    /// Stop after this many events, 1 or more (not in etcdctl; for scripts and tests).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_events: Option<u64>,
}

/// `ctl txn`.
#[derive(Debug, Args)]
pub struct TxnArgs {
    /// etcd's JSON txn request (as POSTed to /v3/kv/txn; keys and values base64); `-` for stdin.
    #[arg(long)]
    pub json_file: Option<PathBuf>,
    /// Accepted for etcdctl compatibility (prompts are never printed).
    #[arg(short = 'i', long)]
    pub interactive: bool,
}

/// `ctl cas`.
#[derive(Debug, Args)]
pub struct CasArgs {
    /// Key (any bytes; non-UTF-8 arguments are taken as they are).
    #[arg(id = "key_arg", value_name = "KEY", value_parser = clap::value_parser!(OsString))]
    pub key: OsString,
    /// New value.
    #[arg(value_parser = clap::value_parser!(OsString))]
    pub value: OsString,
    /// The value KEY must have now.
    #[arg(long, value_parser = clap::value_parser!(OsString), required_unless_present = "create", conflicts_with = "create")]
    pub expect: Option<OsString>,
    /// KEY must not exist.
    #[arg(long)]
    pub create: bool,
    /// Attach to this lease (hexadecimal id).
    #[arg(long)]
    pub lease: Option<String>,
}

/// `ctl compact`.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Revision to compact up to (older revisions are dropped).
    pub rev: i64,
    /// Wait until the compaction is physically applied.
    #[arg(long)]
    pub physical: bool,
}

pub(super) async fn get(ctx: &mut Ctx, a: GetArgs) -> anyhow::Result<i32> {
    let s = ctx.session.clone();
    let out = ctx.out;
    let GetArgs {
        range,
        keys_only,
        count_only,
        limit,
        rev,
        print_value_only,
        consistency,
    } = a;
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
    Ok(0)
}

pub(super) async fn put(ctx: &mut Ctx, a: PutArgs) -> anyhow::Result<i32> {
    let s = ctx.session.clone();
    let out = ctx.out;
    let PutArgs { key, value, lease } = a;
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
    Ok(0)
}

pub(super) async fn del(ctx: &mut Ctx, a: DelArgs) -> anyhow::Result<i32> {
    let s = ctx.session.clone();
    let out = ctx.out;
    let DelArgs { range, prev_kv } = a;
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
    Ok(0)
}

pub(super) async fn watch(ctx: &mut Ctx, a: WatchArgs) -> anyhow::Result<i32> {
    let s = ctx.session.clone();
    let out = ctx.out;
    let WatchArgs {
        range,
        rev,
        prev_kv,
        max_events,
    } = a;
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
        crate::cli::shutdown_signal(),
    )
    .await?;
    printed?;
    Ok(0)
}

pub(super) async fn txn(ctx: &mut Ctx, a: TxnArgs) -> anyhow::Result<i32> {
    let s = ctx.session.clone();
    let out = ctx.out;
    let TxnArgs { json_file, .. } = a;
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
    Ok(0)
}

pub(super) async fn cas(ctx: &mut Ctx, a: CasArgs) -> anyhow::Result<i32> {
    let s = ctx.session.clone();
    let out = ctx.out;
    let CasArgs {
        key,
        value,
        expect,
        create: _,
        lease,
    } = a;
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
    Ok(0)
}

pub(super) async fn compact(ctx: &mut Ctx, a: CompactArgs) -> anyhow::Result<i32> {
    let s = ctx.session.clone();
    let out = ctx.out;
    let CompactArgs { rev, physical } = a;
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
    Ok(0)
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
