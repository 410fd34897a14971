//! `etcd-monitor store stats|check`: look at the store file while the monitor is stopped.

use anyhow::{bail, Context};

use super::output::{self, outln};
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
    // A read-only look first: a file with problems is refused before the read-write
    // open would write to it.
    let problems = Store::check_file(&path)?;
    if !problems.is_empty() {
        for p in &problems {
            outln!("problem: {p}")?;
        }
        bail!(
            "{} problem(s) in {}; the file was not changed",
            problems.len(),
            path.display()
        );
    }
    let store = Store::open(&path, settings.store.retention())
        .with_context(|| format!("cannot open {}", path.display()))?;
    let stats = store.stats()?;
    if args.json && !check {
        return output::json_pretty(&stats);
    }
    outln!("file      {}", stats.path.display())?;
    outln!("size      {} bytes", stats.file_bytes)?;
    outln!("series    {}", stats.series)?;
    outln!("ingested  {} samples", stats.samples_ingested_total)?;
    outln!("tier   retention       blocks      samples        bytes  bytes/sample")?;
    for t in &stats.tiers {
        outln!(
            "{:<6} {:>9} {:>12} {:>12} {:>12}  {}",
            t.tier,
            crate::time::duration::format(std::time::Duration::from_secs(t.retention_seconds)),
            t.blocks,
            t.samples,
            t.bytes,
            t.bytes_per_sample.map_or("-".into(), |b| format!("{b:.3}")),
        )?;
    }
    outln!("table         stored bytes  metadata bytes  fragmented bytes")?;
    for t in &stats.tables {
        outln!(
            "{:<12} {:>13} {:>15} {:>17}",
            t.table,
            t.stored_bytes,
            t.metadata_bytes,
            t.fragmented_bytes
        )?;
    }
    let in_tables: u64 = stats
        .tables
        .iter()
        .map(|t| t.stored_bytes + t.metadata_bytes + t.fragmented_bytes)
        .sum();
    outln!(
        "free or redb's own: {} bytes",
        stats.file_bytes.saturating_sub(in_tables)
    )?;
    if let Some(ms) = stats.health.last_compaction_ms {
        outln!("last compaction {}", crate::time::rfc3339_seconds(ms))?;
    }
    if check {
        let problems = store.check()?;
        if problems.is_empty() {
            outln!("check: every block decodes; no problem found")?;
        } else {
            for p in &problems {
                outln!("problem: {p}")?;
            }
            bail!("{} problem(s) in {}", problems.len(), path.display());
        }
    }
    Ok(())
}
