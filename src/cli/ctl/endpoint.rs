//! `ctl endpoint`: health and status of each endpoint (or of every member with
//! --all-members), asked of all at once.

use anyhow::anyhow;
use clap::Subcommand;

use super::context::Ctx;
use super::print::{humanize_bytes, WriteOut};
use crate::cli::output::outln;
use crate::ops::{self, session::Session};

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

async fn all_or_given(s: &Session, all: bool) -> anyhow::Result<Vec<String>> {
    if !all {
        return Ok(s.endpoints().to_vec());
    }
    let members = ops::cluster::list(s).await?.members;
    Ok(members.into_iter().flat_map(|m| m.client_urls).collect())
}

pub(super) async fn run(ctx: &mut Ctx, cmd: EndpointCommand) -> anyhow::Result<i32> {
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
