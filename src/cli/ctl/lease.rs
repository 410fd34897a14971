//! `ctl lease`: grant, revoke, timetolive, list and keep-alive.

use clap::Subcommand;

use super::context::{audited, Ctx};
use crate::cli::output::{self, outln};
use crate::ops::{self, json};

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

pub(super) async fn run(ctx: &mut Ctx, cmd: LeaseCommand) -> anyhow::Result<i32> {
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
                crate::cli::shutdown_signal(),
            )
            .await?;
            printed?;
        }
    }
    Ok(0)
}
