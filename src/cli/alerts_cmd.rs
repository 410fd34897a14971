//! `etcd-monitor alerts test|runbook|export-prometheus|history`.

use anyhow::{bail, Context};

use super::output::{self, out, outln};
use super::AlertsCommand;
use crate::alert::builtin::{BuiltinCheck, BUILTIN_RULES};
use crate::alert::manager::{read_history, HistoryFilter};
use crate::config::{Overrides, Settings};
use crate::notify::{self, Delivery, Receiver};
use crate::store::Store;

pub fn run(cmd: AlertsCommand) -> anyhow::Result<()> {
    match cmd {
        AlertsCommand::Test { receiver, config } => {
            let settings = Settings::load(config.as_deref(), &Overrides::default())?;
            let Some(rc) = settings
                .alerting
                .receivers
                .iter()
                .find(|r| r.name() == receiver)
            else {
                let known: Vec<&str> = settings
                    .alerting
                    .receivers
                    .iter()
                    .map(|r| r.name())
                    .collect();
                bail!(
                    "no receiver is named {receiver:?} in the configuration; known: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                );
            };
            let target = Receiver::new(rc)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            match runtime.block_on(notify::send_test(&target))? {
                Delivery::Sent { attempts, elapsed } => outln!(
                    "test notification sent to {receiver} ({attempts} attempt(s), {} ms)",
                    elapsed.as_millis()
                )?,
                Delivery::Skipped => outln!("nothing sent to {receiver}")?,
            }
            Ok(())
        }
        AlertsCommand::Runbook => {
            out!("{}", runbook())?;
            Ok(())
        }
        AlertsCommand::ExportPrometheus { config } => {
            let settings = Settings::load(config.as_deref(), &Overrides::default())?;
            out!(
                "{}",
                crate::alert::export_prometheus_rules(&settings.alerting)?
            )?;
            Ok(())
        }
        AlertsCommand::History {
            config,
            data_dir,
            cluster,
            alertname,
            limit,
            json,
        } => {
            let settings = Settings::load(config.as_deref(), &Overrides::default())?;
            let dir = data_dir.unwrap_or(settings.store.data_dir.clone());
            let store = Store::open_dir(&dir, settings.store.retention())
                .with_context(|| format!("opening the store in {}", dir.display()))?;
            let entries = read_history(
                &store,
                &HistoryFilter {
                    cluster,
                    alertname,
                    limit,
                    ..Default::default()
                },
            )?;
            if json {
                return output::json_pretty(&entries);
            }
            for e in entries {
                let when = crate::time::rfc3339_seconds(e.at_ms);
                let who = e.by.map(|b| format!(" by {b}")).unwrap_or_default();
                let member = e.member.map(|m| format!("/{m}")).unwrap_or_default();
                outln!(
                    "{when}  {:<15} {} {}{member}{who}  {}",
                    e.event,
                    e.alertname,
                    e.cluster,
                    e.detail
                )?;
            }
            Ok(())
        }
    }
}

/// The commands of this binary that help with what `check` finds (`ctl` is
/// etcdctl's; `--cluster NAME -c CONFIG` picks a configured cluster).
fn helpful_commands(check: BuiltinCheck) -> &'static [&'static str] {
    use BuiltinCheck::*;
    match check {
        MembersDown | MemberUnreachable | InsufficientMembers | ClusterUnavailable => &[
            "etcd-monitor ctl endpoint health --cluster NAME",
            "etcd-monitor ctl endpoint status --cluster NAME",
            "etcd-monitor ctl member list --cluster NAME",
            "etcd-monitor check cluster --cluster NAME",
        ],
        NoLeader | LeaderChanges | LeaderDisagreement => &[
            "etcd-monitor ctl endpoint status --cluster NAME",
            "etcd-monitor check cluster --cluster NAME",
            "etcd-monitor check disk --dir DIR (on each member's host, its data dir)",
        ],
        FailedGrpc | FailedProposals => &[
            "etcd-monitor ctl endpoint health --cluster NAME",
            "etcd-monitor ctl alarm list --cluster NAME",
            "etcd-monitor check cluster --cluster NAME",
        ],
        GrpcSlow | PeerRttSlow => &[
            "etcd-monitor check cluster --cluster NAME",
            "etcd-monitor check perf --load s --cluster NAME (on a cluster that allows benchmarks)",
        ],
        FsyncSlow | CommitSlow => &[
            "etcd-monitor check disk --dir DIR (on the member's host, its data dir)",
            "etcd-monitor check cluster --cluster NAME",
        ],
        QuotaLowSpace | ExcessiveGrowth | Fragmentation => &[
            "etcd-monitor ctl endpoint status --cluster NAME",
            "etcd-monitor ctl compact REV --cluster NAME",
            "etcd-monitor ctl defrag --cluster NAME",
            "etcd-monitor ctl alarm list --cluster NAME",
        ],
        HashMismatch => &[
            "etcd-monitor check cluster --cluster NAME",
            "etcd-monitor ctl snapshot save FILE --cluster NAME (from a member that agrees)",
        ],
        AlarmActive => &[
            "etcd-monitor ctl alarm list --cluster NAME",
            "etcd-monitor ctl alarm disarm --cluster NAME (after the cause is gone)",
            "etcd-monitor ctl defrag --cluster NAME",
        ],
        CertificateExpiring => &["etcd-monitor check cluster --cluster NAME"],
    }
}

/// The troubleshooting guide, made from the built-in rules themselves: their
/// texts are what the notifications say (templates shown as written).
fn runbook() -> String {
    let mut out = String::from(
        "# Troubleshooting: the built-in alerts\n\n\
         <!-- Made by `etcd-monitor alerts runbook` from the built-in rules \
         (src/alert/builtin.rs); a test fails when the two differ. -->\n\n\
         Each alert of the built-in pack: when it fires (its default threshold and `for`; \
         change them under `[alerting.builtin.NAME]`), what it means, what to check, and \
         which commands of this binary help (with `-c CONFIG`; `--cluster NAME` picks a \
         configured cluster). `{{ ... }}` are the values a notification fills in. `etcd-monitor alerts export-prometheus` prints the same rules for \
         Prometheus.\n",
    );
    // Rules with a warning and a critical tier share an alert name: one section.
    let mut names: Vec<&str> = Vec::new();
    for rule in BUILTIN_RULES {
        if !names.contains(&rule.alertname) {
            names.push(rule.alertname);
        }
    }
    for name in names {
        let tiers: Vec<_> = BUILTIN_RULES
            .iter()
            .filter(|r| r.alertname == name)
            .collect();
        let rule = tiers[0];
        out.push_str(&format!("\n## {name}\n\n{}\n\n**When.**\n\n", rule.summary));
        for tier in &tiers {
            let condition = match tier.threshold {
                Some(t) => format!("the value is {} {t}", tier.op.as_str()),
                None => "the condition holds".to_string(),
            };
            out.push_str(&format!(
                "- {} when {condition} for {} (`[alerting.builtin.{}]`)\n",
                tier.severity.as_str(),
                humantime::format_duration(std::time::Duration::from_secs(tier.for_secs)),
                tier.key,
            ));
        }
        out.push_str(&format!(
            "\n**What it means.** {}\n\n**What to check.** {}\n\n**Commands that help.**\n\n",
            rule.description, rule.runbook
        ));
        for c in helpful_commands(rule.check) {
            out.push_str(&format!("- `{c}`\n"));
        }
    }
    out
}
