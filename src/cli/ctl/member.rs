//! `ctl member`: list, add, remove, promote and update members (every change asks
//! for confirmation), printed as etcdctl prints them.

use clap::Subcommand;

use super::context::{audited, Ctx};
use super::print::WriteOut;
use crate::cli::output::outln;
use crate::ops::{self, json};

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

pub(super) async fn run(ctx: &mut Ctx, cmd: MemberCommand) -> anyhow::Result<i32> {
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
