//! `etcd-monitor alerts test|export-prometheus|history`.

use anyhow::{bail, Context};

use super::output::{self, out, outln};
use super::AlertsCommand;
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
