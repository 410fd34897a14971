//! `etcd-monitor store stats|check`: look at the store file while the monitor is stopped.

use anyhow::{bail, Context};

use super::StoreCommand;
use crate::config::{Overrides, Settings};
use crate::store::{Store, FILE_NAME};

pub fn run(cmd: StoreCommand) -> anyhow::Result<()> {
    let (args, check) = match cmd {
        StoreCommand::Stats(a) => (a, false),
        StoreCommand::Check(a) => (a, true),
    };
    let settings = Settings::load(
        args.config.as_deref(),
        &Overrides {
            data_dir: args.data_dir,
            ..Default::default()
        },
    )?;
    let path = settings.store.data_dir.join(FILE_NAME);
    if !path.exists() {
        bail!("no store at {} (store.data_dir)", path.display());
    }
    let store = Store::open(&path, settings.store.retention())
        .with_context(|| format!("cannot open {}", path.display()))?;
    let stats = store.stats()?;
    if args.json && !check {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(());
    }
    println!("file      {}", stats.path.display());
    println!("size      {} bytes", stats.file_bytes);
    println!("series    {}", stats.series);
    println!("ingested  {} samples", stats.samples_ingested_total);
    println!("tier   retention       blocks      samples        bytes  bytes/sample");
    for t in &stats.tiers {
        println!(
            "{:<6} {:>9} {:>12} {:>12} {:>12}  {}",
            t.tier,
            humantime::format_duration(std::time::Duration::from_secs(t.retention_seconds))
                .to_string(),
            t.blocks,
            t.samples,
            t.bytes,
            t.bytes_per_sample.map_or("-".into(), |b| format!("{b:.3}")),
        );
    }
    println!("table         stored bytes  metadata bytes  fragmented bytes");
    for t in &stats.tables {
        println!(
            "{:<12} {:>13} {:>15} {:>17}",
            t.table, t.stored_bytes, t.metadata_bytes, t.fragmented_bytes
        );
    }
    let in_tables: u64 = stats
        .tables
        .iter()
        .map(|t| t.stored_bytes + t.metadata_bytes + t.fragmented_bytes)
        .sum();
    println!(
        "free or redb's own: {} bytes",
        stats.file_bytes.saturating_sub(in_tables)
    );
    if let Some(ms) = stats.health.last_compaction_ms {
        println!("last compaction {}", crate::time::rfc3339_seconds(ms));
    }
    if check {
        let problems = store.check()?;
        if problems.is_empty() {
            println!("check: every block decodes; no problem found");
        } else {
            for p in &problems {
                println!("problem: {p}");
            }
            bail!("{} problem(s) in {}", problems.len(), path.display());
        }
    }
    Ok(())
}
