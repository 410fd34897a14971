//! What every ctl command runs in: the cluster to talk to (flags, or a monitor's
//! config), the audit store that records changes, the confirmation that cluster-wide
//! changes ask for, and `audited!`, which runs a change and records its outcome.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};

use super::print::Printer;
use super::CtlArgs;
use crate::audit;
use crate::config::{Overrides, Settings};
use crate::ops::session::Session;
use crate::ops::OpsError;
use crate::store::{Store, StoreError, FILE_NAME};

/// Everything a command needs besides its own arguments.
pub(super) struct Ctx {
    pub(super) session: Session,
    pub(super) out: Printer,
    pub(super) audit: Option<audit::Trail>,
    /// Cluster name or endpoints, for the audit record.
    pub(super) cluster: String,
    pub(super) yes: bool,
}

/// The cluster to talk to and where audit records go.
pub(super) fn target(
    args: &CtlArgs,
) -> anyhow::Result<(crate::config::ClusterConfig, Option<PathBuf>)> {
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

pub(super) fn open_audit(args: &CtlArgs, dir: &std::path::Path) -> anyhow::Result<audit::Trail> {
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
        Ok(store) => Ok(audit::Trail::new(
            std::sync::Arc::new(store),
            settings.store.audit_retention,
        )),
        Err(StoreError::InUse { path }) => bail!(
            "the store {} is in use by a running monitor, so this change cannot be recorded in its audit table; nothing was changed. Stop the monitor, give another --data-dir, or give --no-audit to make the change without a record",
            path.display()
        ),
        Err(e) => Err(e).with_context(|| format!("cannot open the audit store {}", path.display())),
    }
}

impl Ctx {
    /// Asks for confirmation of `what`: --yes, or "y" on a terminal; refused otherwise.
    pub(super) fn confirm(&self, what: &str) -> anyhow::Result<()> {
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
    pub(super) fn record<T>(&self, action: &str, target: &str, result: &Result<T, OpsError>) {
        let Some(trail) = &self.audit else { return };
        let rec = audit::AuditRecord {
            cluster: self.cluster.clone(),
            action: action.into(),
            target: target.into(),
            outcome: audit::outcome_of(result),
            ..audit::AuditRecord::local("ctl")
        };
        if let Err(e) = audit::write(&trail.store, &rec, trail.retention) {
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
pub(super) use audited;
