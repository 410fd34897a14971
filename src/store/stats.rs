//! What the store holds and whether it is sound: the figures of `store stats` and
//! `GET /api/v1/store` (per tier and per redb table), the health shown in
//! `/api/v1/health`, and the block checks of `store check`, on the open store or,
//! through a read-only open that writes nothing, on a file not open.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableHandle};
use serde::{Deserialize, Serialize};

use super::tables::{open_opt, ID_TABLES, META};
use super::{
    closed, codec, decode, floor, lock, read_state, verify_read_only, Inner, Result, Store,
    StoreError, Tier, SCHEMA_VERSION,
};

/// Health of the store, shown in `/api/v1/health`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreHealth {
    pub last_error: Option<String>,
    pub write_errors_total: u64,
    pub last_checkpoint_ms: Option<i64>,
    pub last_compaction_ms: Option<i64>,
}

/// What the store holds in memory, estimated from its structures' sizes and
/// allocations (the allocator's own overhead is not counted).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StoreMemory {
    /// The series registry: each series' cluster, member and text, and the lookup
    /// from text to id.
    pub registry_bytes: u64,
    /// The head: each series' state and its open blocks.
    pub head_bytes: u64,
    /// Of `head_bytes`, the open blocks' streams (bounded by `store.head_bytes`).
    pub head_stream_bytes: u64,
    /// Blocks sealed since the last checkpoint and log records not yet committed.
    pub pending_bytes: u64,
    /// redb's page cache, at most.
    pub cache_max_bytes: u64,
}

/// Per-tier figures for `store stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TierStats {
    pub tier: String,
    pub retention_seconds: u64,
    pub blocks: u64,
    pub samples: u64,
    pub bytes: u64,
    pub bytes_per_sample: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoreStats {
    pub path: PathBuf,
    pub file_bytes: u64,
    pub series: u64,
    pub samples_ingested_total: u64,
    pub samples_dropped_total: u64,
    pub head_series: u64,
    pub wal_records: u64,
    pub tiers: Vec<TierStats>,
    /// Where the file's bytes are, per redb table.
    pub tables: Vec<TableBytes>,
    pub health: StoreHealth,
    pub memory: StoreMemory,
}

/// Bytes one redb table takes in the file.
#[derive(Debug, Clone, Serialize)]
pub struct TableBytes {
    pub table: String,
    /// Keys and values as stored.
    pub stored_bytes: u64,
    /// Page headers and B-tree branch pages.
    pub metadata_bytes: u64,
    /// Unused space inside the table's pages.
    pub fragmented_bytes: u64,
}

impl Store {
    pub fn stats(&self) -> Result<StoreStats> {
        let file_bytes = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        let mut tiers = Vec::new();
        let mut tables = Vec::new();
        {
            let guard = self.db()?;
            let db = guard.as_ref().ok_or_else(closed)?;
            let tx = db.begin_read()?;
            let mut table_bytes = |name: &str, stats: redb::TableStats| {
                tables.push(TableBytes {
                    table: name.to_string(),
                    stored_bytes: stats.stored_bytes(),
                    metadata_bytes: stats.metadata_bytes(),
                    fragmented_bytes: stats.fragmented_bytes(),
                });
            };
            table_bytes(META.name(), tx.open_table(META)?.stats()?);
            for def in ID_TABLES {
                table_bytes(def.name(), tx.open_table(def)?.stats()?);
            }
            for tier in Tier::ALL {
                let def = tier.table();
                table_bytes(def.name(), tx.open_table(def)?.stats()?);
            }
            for tier in Tier::ALL {
                let table = tx.open_table(tier.table())?;
                let mut t = TierStats {
                    tier: tier.name().into(),
                    retention_seconds: self.retention.of(tier).as_secs(),
                    ..Default::default()
                };
                for row in table.iter()? {
                    let (_, bytes) = row?;
                    let (_, count) = codec::header(bytes.value())?;
                    t.blocks += 1;
                    t.samples += count as u64;
                    // The key (16 bytes) is part of what a block costs.
                    t.bytes += bytes.value().len() as u64 + 16;
                }
                tiers.push(t);
            }
        }
        let inner = lock(&self.inner);
        // Open blocks count too: they are in the file as head state.
        for h in &inner.heads {
            for (t, open) in tiers
                .iter_mut()
                .zip(&h.blocks)
                .filter(|(_, o)| !o.enc.is_empty())
            {
                t.samples += open.enc.len() as u64;
                t.bytes += open.enc.encoded_len() as u64 + 8;
            }
        }
        for s in &inner.sealed {
            let t = &mut tiers[s.tier as usize];
            t.blocks += 1;
            t.samples += codec::header(&s.bytes)?.1 as u64;
            t.bytes += s.bytes.len() as u64 + 16;
        }
        for t in &mut tiers {
            t.bytes_per_sample = (t.samples > 0).then(|| t.bytes as f64 / t.samples as f64);
        }
        Ok(StoreStats {
            path: self.path.clone(),
            file_bytes,
            series: inner.series.len() as u64,
            samples_ingested_total: inner.samples_ingested_total,
            samples_dropped_total: inner.samples_dropped_total,
            head_series: inner
                .heads
                .iter()
                .filter(|h| !h.blocks[0].enc.is_empty())
                .count() as u64,
            wal_records: inner.wal_records,
            tiers,
            tables,
            health: self.health(),
            memory: inner.memory(),
        })
    }

    /// What the store holds in memory (see [`StoreMemory`]); walks the registry and
    /// the head: a few milliseconds for 50,000 series.
    pub fn memory(&self) -> StoreMemory {
        lock(&self.inner).memory()
    }

    /// Decodes every stored block; returns the problems found (empty: sound).
    pub fn check(&self) -> Result<Vec<String>> {
        let guard = self.db()?;
        let db = guard.as_ref().ok_or_else(closed)?;
        let tx = db.begin_read()?;
        let known = lock(&self.inner).series.len() as u64;
        check_blocks(&tx, known)
    }

    /// As [`Store::check`], on a file that is not open, through a read-only open that
    /// writes nothing: `store check` and `store stats` refuse a file with problems
    /// before the read-write open would write to it. A file that needs redb's repair
    /// (not shut down cleanly) has no problem found here; [`Store::open`] repairs it.
    pub fn check_file(path: &Path) -> Result<Vec<String>> {
        if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
            return Err(StoreError::Corrupt(format!(
                "{}: the file is empty (0 bytes), which a store file never is. The file was not changed.",
                path.display()
            )));
        }
        let walk = || -> Result<Vec<String>> {
            if !verify_read_only(path)? {
                return Ok(Vec::new());
            }
            let db = Database::builder().open_read_only(path)?;
            let tx = db.begin_read()?;
            let mut inner = Inner::default();
            let older = open_opt(&tx, META)?
                .and_then(|m| m.get("schema_version").ok().flatten())
                .and_then(|v| decode::<u32>("schema_version", v.value()).ok())
                .is_some_and(|v| v < SCHEMA_VERSION);
            read_state(&tx, &mut inner, older)?;
            check_blocks(&tx, inner.series.len() as u64)
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(walk)) {
            Ok(result) => result,
            Err(_) => Err(StoreError::Corrupt(format!(
                "{}: redb failed reading its pages. The file was not changed.",
                path.display()
            ))),
        }
    }
}

impl Inner {
    fn memory(&self) -> StoreMemory {
        let texts: usize = self.series.iter().map(|e| e.text.len()).sum::<usize>()
            + self
                .member_names
                .iter()
                .map(|(c, m)| c.capacity() + m.capacity())
                .sum::<usize>();
        let lookups: usize = self
            .members
            .values()
            .flat_map(|m| m.values())
            .map(|m| m.heap_bytes())
            .sum();
        let (mut heap, mut streams) = (0usize, 0usize);
        for h in &self.heads {
            for b in &h.blocks {
                heap += b.enc.heap_bytes();
                streams += b.enc.stream_capacity();
            }
        }
        let pending = self
            .sealed
            .iter()
            .map(|s| s.bytes.capacity())
            .sum::<usize>()
            + self
                .pending_wal
                .iter()
                .map(|(_, r)| r.capacity())
                .sum::<usize>();
        let bytes = |n: usize| n as u64;
        StoreMemory {
            registry_bytes: bytes(
                self.series.capacity() * size_of::<super::SeriesEntry>()
                    + self.member_names.capacity() * size_of::<(String, String)>()
                    + texts
                    + lookups,
            ),
            head_bytes: bytes(self.heads.capacity() * size_of::<super::SeriesHead>() + heap),
            head_stream_bytes: bytes(streams),
            pending_bytes: bytes(pending),
            cache_max_bytes: bytes(super::CACHE_BYTES),
        }
    }
}

/// The problems of the blocks in `tx` (`known`: the number of series registered).
fn check_blocks(tx: &redb::ReadTransaction, known: u64) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for tier in Tier::ALL {
        let Some(table) = open_opt(tx, tier.table())? else {
            continue;
        };
        for row in table.iter()? {
            let (key, bytes) = row?;
            let (id, start) = key.value();
            if id >= known {
                problems.push(format!("{} block of unknown series {id}", tier.name()));
            }
            match codec::decode(bytes.value()) {
                Ok(b) => {
                    if b.timestamps.windows(2).any(|w| w[0] >= w[1]) {
                        problems.push(format!(
                            "{} block ({id}, {start}): timestamps out of order",
                            tier.name()
                        ));
                    }
                    // Keyed by its window's start, or by its first point's time when
                    // it is a later part of its window (see `head::push`).
                    if b.timestamps.iter().any(|t| {
                        floor(*t, tier.block_ms()) != floor(start, tier.block_ms()) || *t < start
                    }) {
                        problems.push(format!(
                            "{} block ({id}, {start}): point outside its window",
                            tier.name()
                        ));
                    }
                }
                Err(e) => problems.push(format!("{} block ({id}, {start}): {e}", tier.name())),
            }
        }
    }
    Ok(problems)
}
