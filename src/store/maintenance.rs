//! Keeping the file current and bounded: checkpoints (the sealed blocks and the
//! head's state written, the log emptied), retention (blocks past their tier's
//! retention deleted, and the other modules' records through their maintenance
//! tasks), and compaction (redb never shrinks a file by itself). The writer thread
//! calls these on its timers; an upgrade calls `checkpoint_inner` once at open.

use super::tables::{HEAD, HEAD_LOG, META, SERIES, WAL, WAL_PER_SAMPLE};
use super::{closed, encode, lock, Inner, Result, Store, Tier, SCHEMA_VERSION};

/// Free space below which a file is not compacted (see `compact_if_sparse`).
const COMPACT_FLOOR_BYTES: u64 = 1 << 20;

/// Work of another module done by [`Store::maintain`] (retention of its records):
/// given the store and the time, returns how many records it deleted.
pub type MaintenanceTask =
    Box<dyn Fn(&Store, i64) -> std::result::Result<u64, String> + Send + Sync>;

/// Hands the heap's free pages back to the system. A checkpoint frees the blocks
/// sealed since the last one (at a raw window's end, every series' block at
/// once: megabytes) and its write buffers, in holes between the head's
/// long-lived streams that glibc keeps otherwise; so does redb when it grows the
/// file. In `cargo bench --bench fleet` (a day of 100 clusters) those free bytes
/// reached 35 MiB of the RSS, and grew with the file.
fn give_back_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns wholly free heap pages to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

impl Store {
    /// Writes the sealed blocks and the head's state, and empties the log.
    pub fn checkpoint(&self) -> Result<()> {
        let result = self.checkpoint_inner(false);
        // After the store's lock is released: the walk of malloc's free lists
        // need not hold up ingest and readers.
        give_back_free_memory();
        match &result {
            Ok(()) => {
                self.record_success();
                lock(&self.health).last_checkpoint_ms = Some(crate::unix_ms_now());
            }
            Err(e) => self.record_error("checkpoint", e),
        }
        result
    }

    /// `upgrade`: write the head whole and mark the file with this schema version.
    pub(super) fn checkpoint_inner(&self, upgrade: bool) -> Result<()> {
        let mut inner = lock(&self.inner);
        self.checkpoint_locked(&mut inner, upgrade)
    }

    /// The checkpoint, with the store's lock held by the caller.
    pub(super) fn checkpoint_locked(&self, inner: &mut Inner, upgrade: bool) -> Result<()> {
        let guard = self.db()?;
        let db = guard.as_ref().ok_or_else(closed)?;
        let tx = db.begin_write()?;
        // (whole, bytes, delta values) of the head written, if any.
        let mut written_head = None;
        let runs = inner.pending_series_runs();
        {
            let mut series = tx.open_table(SERIES)?;
            for (first, _, run) in &runs {
                series.insert(first, run.as_slice())?;
            }
            for s in &inner.sealed {
                tx.open_table(s.tier.table())?
                    .insert((s.series, s.start), s.bytes.as_slice())?;
            }
            if upgrade || inner.heads.iter().any(|h| h.dirty) {
                // Sized first, written only when the log takes them: a whole
                // write needs none, and holding them beside it cost 5 MiB of a
                // day's peak at 100 clusters (heaptrack, `cargo bench --bench fleet`).
                let delta_bytes = inner.head_delta_bytes();
                if !upgrade && inner.head_log_bytes + delta_bytes <= inner.head_whole_bytes {
                    let mut log = tx.open_table(HEAD_LOG)?;
                    let mut key = inner.next_head_log;
                    let values = inner.write_head_deltas(|value| {
                        log.insert(key, value)?;
                        key += 1;
                        Ok(())
                    })?;
                    written_head = Some((false, delta_bytes, values));
                } else {
                    let mut head = tx.open_table(HEAD)?;
                    head.retain(|_, _| false)?;
                    tx.open_table(HEAD_LOG)?.retain(|_, _| false)?;
                    let mut key = 0u64;
                    let whole = inner.write_whole_head(|value| {
                        head.insert(key, value)?;
                        key += 1;
                        Ok(())
                    })?;
                    written_head = Some((true, whole, 0));
                }
            }
            // Everything in the log is now in the head's state or in sealed blocks.
            tx.open_table(WAL)?.retain(|_, _| false)?;
            tx.open_table(WAL_PER_SAMPLE)?.retain(|_, _| false)?;
            let mut meta = tx.open_table(META)?;
            meta.insert(
                "samples_ingested_total",
                encode(&inner.samples_ingested_total).as_slice(),
            )?;
            if upgrade {
                meta.insert("schema_version", encode(&SCHEMA_VERSION).as_slice())?;
            }
        }
        tx.commit()?;
        inner.sealed.clear();
        inner
            .runs
            .extend(runs.iter().map(|(first, count, _)| (*first, *count)));
        inner.pending_series.clear();
        inner.pending_wal.clear();
        inner.wal_records = 0;
        match written_head {
            Some((true, bytes, _)) => {
                inner.head_whole_bytes = bytes;
                inner.head_log_bytes = 0;
                inner.next_head_log = 0;
            }
            Some((false, bytes, values)) => {
                inner.head_log_bytes += bytes;
                inner.next_head_log += values;
            }
            None => {}
        }
        for h in inner.heads.iter_mut().filter(|h| h.dirty) {
            for b in &mut h.blocks {
                b.now_written();
            }
            h.dirty = false;
        }
        inner.shrink_registry();
        Ok(())
    }

    /// Deletes blocks past retention (as of `now_ms`), then compacts the file if
    /// that left it sparse (see [`Store::compact_if_sparse`]). Returns the number
    /// of blocks deleted.
    pub fn maintain(&self, now_ms: i64) -> Result<u64> {
        self.checkpoint()?;
        let mut deleted = 0u64;
        {
            let guard = self.db()?;
            let db = guard.as_ref().ok_or_else(closed)?;
            let tx = db.begin_write()?;
            for tier in Tier::ALL {
                let kept = i64::try_from(self.retention.of(tier).as_millis()).unwrap_or(i64::MAX);
                let cutoff = now_ms.saturating_sub(kept);
                let mut table = tx.open_table(tier.table())?;
                table.retain(|(_, start), _| {
                    let expired = start.saturating_add(tier.block_ms()) <= cutoff;
                    deleted += u64::from(expired);
                    !expired
                })?;
            }
            tx.commit()?;
        }
        let mut records = 0;
        for (what, task) in lock(&self.maintenance).iter() {
            match task(self, now_ms) {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(records = n, "store maintenance: {what}");
                    records += n;
                }
                Err(e) => tracing::error!("store maintenance: {what}: {e}"),
            }
        }
        if deleted > 0 || records > 0 {
            // Not at every deletion: past a day the raw tier's retention deletes
            // an hour of blocks at every maintenance, whose pages the next hours'
            // blocks take again, while a compaction of the whole file blocks
            // ingest and costs memory in step with the file's size.
            self.compact_if_sparse()?;
        }
        Ok(deleted)
    }

    /// Adds work to every maintenance from now on (see [`MaintenanceTask`]).
    pub fn on_maintenance(&self, what: &'static str, task: MaintenanceTask) {
        lock(&self.maintenance).push((what, task));
    }

    /// Compacts when the pages freed since the last compaction (checkpoints empty the
    /// log and replace head records; retention deletes blocks; redb never shrinks a
    /// file by itself) exceed half the pages in use, and 1 MiB. Not sooner: redb
    /// writes new pages into freed ones, while its compaction blocks ingest and
    /// holds memory in step with the file (at 1.7 GiB, the RSS rose 16.6 MiB during
    /// one; `cargo bench --bench fleet`, the day part, when this was a quarter).
    /// Free pages are counted on disk: redb
    /// grows a file by doubling it and leaves the new part unwritten (a hole that
    /// takes no space), and compaction cannot always give back what it frees, so
    /// what stayed free after the last compaction does not count again.
    /// Returns whether it compacted.
    pub fn compact_if_sparse(&self) -> Result<bool> {
        let free = self.free_bytes_on_disk()?;
        let (used, baseline) = (free.1, lock(&self.inner).free_after_compaction);
        if free.0.saturating_sub(baseline) > (used / 2).max(COMPACT_FLOOR_BYTES) {
            self.compact()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// (bytes the file takes on disk beyond its pages in use, bytes in use).
    fn free_bytes_on_disk(&self) -> Result<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        let used = {
            let guard = self.db()?;
            let db = guard.as_ref().ok_or_else(closed)?;
            let tx = db.begin_write()?;
            let stats = tx.stats()?;
            tx.abort()?;
            stats.allocated_pages() * stats.page_size() as u64
        };
        let on_disk = std::fs::metadata(&self.path).map_or(0, |m| m.len().min(m.blocks() * 512));
        Ok((on_disk.saturating_sub(used), used))
    }

    /// Gives free pages back to the file system. Blocks readers and writers meanwhile.
    pub fn compact(&self) -> Result<()> {
        let mut guard = self.db.write().unwrap_or_else(|p| p.into_inner());
        let db = guard.as_mut().ok_or_else(closed)?;
        while db.compact()? {}
        let now = crate::unix_ms_now();
        let tx = db.begin_write()?;
        tx.open_table(META)?
            .insert("last_compaction_ms", encode(&(now as u64)).as_slice())?;
        tx.commit()?;
        drop(guard);
        lock(&self.health).last_compaction_ms = Some(now);
        let free = self.free_bytes_on_disk()?.0;
        lock(&self.inner).free_after_compaction = free;
        Ok(())
    }
}

/// What [`Store::delete_cluster`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeletedHistory {
    pub series: u64,
    pub blocks: u64,
}

impl Store {
    /// Deletes every sample of `cluster` (its stored blocks in every tier and its
    /// open blocks), then writes the head whole and empties the log, so that no
    /// replay brings them back. The series' names stay in the registry, whose ids
    /// are never reused; a cluster added again under that name starts afresh.
    /// The caller has stopped collecting it.
    pub fn delete_cluster(&self, cluster: &str) -> Result<DeletedHistory> {
        let ids: Vec<u64> = {
            let mut inner = lock(&self.inner);
            let ids: Vec<u64> = (0..inner.series.len() as u64)
                .filter(|id| inner.cluster_of(*id) == Some(cluster))
                .collect();
            for &id in &ids {
                if let Some(h) = inner.heads.get_mut(id as usize) {
                    *h = super::SeriesHead::new();
                    h.dirty = true;
                }
            }
            inner
                .sealed
                .retain(|s| ids.binary_search(&s.series).is_err());
            inner.members.remove(cluster);
            ids
        };
        let mut blocks = 0u64;
        {
            let guard = self.db()?;
            let db = guard.as_ref().ok_or_else(closed)?;
            let tx = db.begin_write()?;
            for tier in Tier::ALL {
                let mut t = tx.open_table(tier.table())?;
                for &id in &ids {
                    t.retain_in((id, i64::MIN)..=(id, i64::MAX), |_, _| {
                        blocks += 1;
                        false
                    })?;
                }
            }
            tx.commit()?;
        }
        self.checkpoint_inner(true)?;
        Ok(DeletedHistory {
            series: ids.len() as u64,
            blocks,
        })
    }
}

#[cfg(test)]
mod delete_tests {
    use super::super::query::{history, Aggregate, HistoryQuery};
    use super::super::{MemberSamples, Retention, Store};

    fn points(store: &Store, cluster: &str, now: i64) -> usize {
        let q = HistoryQuery {
            cluster: cluster.into(),
            metric: "up".into(),
            member: None,
            from_ms: now - 6 * 3_600_000,
            to_ms: now + 1,
            step_ms: 15_000,
            aggregate: Aggregate::Last,
        };
        history(store, &q, now)
            .unwrap()
            .iter()
            .map(|s| s.points.len())
            .sum()
    }

    #[test]
    fn a_deleted_clusters_samples_are_gone_in_every_tier_and_stay_gone() {
        let dir = tempfile::tempdir().unwrap();
        let now = crate::unix_ms_now() / 15_000 * 15_000;
        let start = now - 3 * 3_600_000;
        {
            let store = Store::open_dir(dir.path(), Retention::default()).unwrap();
            // Three hours at 15 s: sealed blocks in the file, open ones in the head.
            for (i, at) in (start..=now).step_by(15_000).enumerate() {
                for cluster in ["gone", "kept"] {
                    store
                        .ingest(&MemberSamples {
                            cluster: cluster.into(),
                            member: "m0".into(),
                            at_ms: at,
                            samples: vec![("up".into(), (i % 7) as f64)],
                        })
                        .unwrap();
                }
                if i % 200 == 0 {
                    store.checkpoint().unwrap();
                }
            }
            store.checkpoint().unwrap();
            assert!(points(&store, "gone", now) > 700);
            let kept = points(&store, "kept", now);
            let deleted = store.delete_cluster("gone").unwrap();
            assert_eq!(deleted.series, 1);
            assert!(deleted.blocks > 0, "{deleted:?}");
            assert_eq!(points(&store, "gone", now), 0);
            assert_eq!(points(&store, "kept", now), kept);
            assert!(store.list_series("gone", None, None).is_empty());
            // New samples of that name start afresh.
            store
                .ingest(&MemberSamples {
                    cluster: "gone".into(),
                    member: "m0".into(),
                    at_ms: now,
                    samples: vec![("up".into(), 1.0)],
                })
                .unwrap();
            assert_eq!(points(&store, "gone", now), 1);
        }
        // Reopened (the head read whole, the log replayed): still gone.
        let store = Store::open_dir(dir.path(), Retention::default()).unwrap();
        assert_eq!(points(&store, "gone", now), 1);
        assert!(points(&store, "kept", now) > 700);
        assert!(store.check().unwrap().is_empty());
        // The registry read back holds both series of that text; the newer one is
        // the series, and the next sample goes to it.
        let series = store.list_series("gone", None, None);
        assert_eq!(series.len(), 1, "{series:?}");
        store
            .ingest(&MemberSamples {
                cluster: "gone".into(),
                member: "m0".into(),
                at_ms: now + 15_000,
                samples: vec![("up".into(), 2.0)],
            })
            .unwrap();
        assert_eq!(store.list_series("gone", None, None), series);
        assert_eq!(points(&store, "gone", now + 15_000), 2);
    }
}
