//! Maintenance commands: alarm list and disarm, defragmentation (one member at a
//! time, the leader last) and snapshot save.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::context::{audited, Ctx};
use super::print::WriteOut;
use crate::cli::output::outln;
use crate::ops;

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

/// `ctl defrag`.
#[derive(Debug, Args)]
pub struct DefragArgs {
    /// Deadline of one member's defragmentation.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub defrag_timeout: Duration,
}

pub(super) async fn alarm(ctx: &mut Ctx, cmd: AlarmCommand) -> anyhow::Result<i32> {
    let s = ctx.session.clone();
    let out = ctx.out;
    match cmd {
        AlarmCommand::List => {
            let r = ops::maintenance::alarm_list(&s).await?;
            out.json_or(&r, || {
                for a in &r.alarms {
                    outln!("memberID:{} alarm:{} ", a.member_id, a.name())?;
                }
                Ok(())
            })?;
        }
        AlarmCommand::Disarm => {
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
    }
    Ok(0)
}

pub(super) async fn defrag(ctx: &mut Ctx, a: DefragArgs) -> anyhow::Result<i32> {
    let s = ctx.session.clone();
    let out = ctx.out;
    let DefragArgs { defrag_timeout } = a;
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
    Ok(0)
}

pub(super) async fn snapshot(ctx: &mut Ctx, cmd: SnapshotCommand) -> anyhow::Result<i32> {
    let s = ctx.session.clone();
    let out = ctx.out;
    match cmd {
        SnapshotCommand::Save { file } => {
            let r = ops::maintenance::snapshot_save(&s, &file).await?;
            out.json_or(&r, || outln!("Snapshot saved at {}", file.display()))?;
        }
    }
    Ok(0)
}
