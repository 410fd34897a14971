//! Concurrency commands, as etcdctl names them: `lock` (hold a lock, or run a
//! command while holding it) and `elect` (campaign, or observe the leaders), over
//! `crate::ops::sync`.

use std::ffi::OsString;

use anyhow::Context;
use clap::Args;

use super::context::{audited, Ctx};
use super::kv::bytes;
use crate::cli::output::{self, outln};
use crate::ops;
use crate::ops::json::Kv;

/// `ctl lock`.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// Name of the lock or election (a key prefix).
    #[arg(value_parser = clap::value_parser!(OsString))]
    pub name: OsString,
    /// Command and its arguments, after `--`.
    #[arg(last = true, value_parser = clap::value_parser!(OsString))]
    pub command: Vec<OsString>,
}

/// `ctl elect`.
#[derive(Debug, Args)]
pub struct ElectArgs {
    /// Name of the lock or election (a key prefix).
    #[arg(value_parser = clap::value_parser!(OsString))]
    pub name: OsString,
    /// Value to campaign with; left out: observe.
    #[arg(value_parser = clap::value_parser!(OsString))]
    pub proposal: Option<OsString>,
    /// Observe only (same as leaving PROPOSAL out).
    #[arg(short = 'l', long)]
    pub listen: bool,
}

pub(super) async fn lock(ctx: &mut Ctx, a: LockArgs) -> anyhow::Result<i32> {
    let s = ctx.session.clone();
    let out = ctx.out;
    let LockArgs { name, command } = a;
    let name = bytes(&name);
    let target = out.key_text(&name);
    let held = audited!(
        ctx,
        "lock",
        target,
        ops::sync::lock(&s, &name, crate::cli::shutdown_signal())
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
            crate::cli::shutdown_signal().await;
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
    let status = status.with_context(|| format!("cannot run {}", command[0].to_string_lossy()))?;
    // A command killed by a signal: the shell's 128 + signal.
    use std::os::unix::process::ExitStatusExt;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

pub(super) async fn elect(ctx: &mut Ctx, a: ElectArgs) -> anyhow::Result<i32> {
    let s = ctx.session.clone();
    let out = ctx.out;
    let ElectArgs {
        name,
        proposal,
        listen,
    } = a;
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
                crate::cli::shutdown_signal(),
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
                ops::sync::campaign(&s, &name, &bytes(&p), crate::cli::shutdown_signal())
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
                crate::cli::shutdown_signal().await;
            }
            ops::sync::resign(&s, won).await?;
            printed?;
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
