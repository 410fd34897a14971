//! The embedded time-series store: one redb file.
//!
//! - A series is (cluster, member, series text `name{labels}`) with a u64 id.
//! - Samples are kept in compressed blocks ([`codec`]), one per series and time
//!   window, in three tiers: raw samples, 1-minute and 1-hour rollup points
//!   (min, max, sum, count, last). Rollups are built as samples arrive, so every
//!   tier is complete up to now.
//! - Open blocks live in memory (the head). Every ingested scrape is also written to
//!   a write-ahead log in the same file and committed, so a kill -9 loses at most the
//!   scrape being written. A checkpoint now and then writes the head's state and the
//!   blocks it sealed, and empties the log.
//! - With readers (remote write), each ingested scrape is also written to an
//!   outbox in the same commit, kept until every reader has shipped it (`outbox.rs`).
//! - Maintenance deletes blocks past their tier's retention and compacts the file.
//!
//! One concern a file, as Prometheus' TSDB keeps its head, WAL and compaction apart:
//! - here: [`Store`], its error type, and the state it keeps in memory (`Inner`);
//! - `open.rs`: opening the file, the read-only checks before anything writes to
//!   it, the upgrade of an older schema;
//! - `head.rs`: the head (open blocks, rollup points in progress, sealed blocks),
//!   ingest and the write-ahead log, and reading the head's state back;
//! - `series.rs`: the series registry; `tier.rs`: tiers, retention and points;
//! - `maintenance.rs`: checkpoints, retention and compaction;
//! - `stats.rs`: `store stats`, `store check` and the store's health;
//! - `tables.rs`: the store's own redb tables; `record_tables.rs`: other modules'
//!   plain records in tables they name;
//! - [`codec`] (blocks), `records.rs` (the bytes of registry, head and log
//!   records), [`query`] (reads), `writer.rs` (the writer thread).

pub mod codec;
mod head;
mod maintenance;
mod open;
mod outbox;
pub mod query;
mod record_tables;
#[doc(hidden)]
pub mod records;
mod series;
mod stats;
mod tables;
mod tier;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use redb::Database;
use serde::{Deserialize, Serialize};

pub use head::MemberSamples;
use head::{Sealed, SeriesHead};
pub use maintenance::{DeletedHistory, MaintenanceTask};
use open::{read_state, verify_read_only, Opener, OLDEST_READABLE_SCHEMA};
pub use open::{FILE_NAME, SCHEMA_VERSION};
pub use outbox::{OutboxBatch, OutboxPosition, OutboxReaderStatus, OutboxSample};
pub use query::{Aggregate, HistoryQuery, SeriesPoints};
pub use record_tables::RecordOp;
use series::MemberSeries;
use series::SeriesEntry;
pub use series::SeriesMeta;
pub use stats::{StoreHealth, StoreMemory, StoreStats, TableBytes, TierStats};
use tier::floor;
pub use tier::{Point, Retention, Tier};
pub use writer::{StoreWriter, WriterHandle};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store file {path} is in use by another process (is `etcd-monitor serve` running? then ask its API: GET /api/v1/store)")]
    InUse { path: PathBuf },
    #[error("store file {path} has schema version {found}; this etcd-monitor reads up to {SCHEMA_VERSION}: upgrade etcd-monitor, or point --data-dir elsewhere. The file was not changed.")]
    NewerSchema { path: PathBuf, found: u32 },
    /// Version 1 was only ever written by development builds before the first release.
    #[error("store file {path} has schema version {found}, written by a development build of etcd-monitor before its first release; this one reads versions {OLDEST_READABLE_SCHEMA} to {SCHEMA_VERSION}. Move the file aside (or point --data-dir elsewhere) to start a new history. The file was not changed.")]
    OlderSchema { path: PathBuf, found: u32 },
    #[error("store is corrupt: {0}")]
    Corrupt(String),
    /// The database failed: I/O, or redb itself. `context` says where (the file, the
    /// step), empty when the call says it all.
    #[error("store I/O: {context}{}{source}", if context.is_empty() { "" } else { ": " })]
    Db {
        context: String,
        #[source]
        source: redb::Error,
    },
    /// The file's directory, or a copy of the file, cannot be made.
    #[error("store I/O: {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A write failed, so the file was closed; the next access opens it again.
    #[error("store I/O: the store file is closed after a write failure; retrying")]
    Closed,
    #[error("{0}")]
    BadQuery(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        match e {
            redb::Error::Corrupted(m) => StoreError::Corrupt(m),
            source => StoreError::Db {
                context: String::new(),
                source,
            },
        }
    }
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                redb::Error::from(e).into()
            }
        }
    )*};
}
db_err!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::CompactionError
);

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_allocvec(v).expect("postcard encodes plain structs")
}

fn decode<'a, T: Deserialize<'a>>(what: &str, bytes: &'a [u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// What the store holds in memory, behind one lock: the registry (see [`series`]),
/// the head (see [`head`]), what is written but not yet committed, and the counters.
#[derive(Default)]
struct Inner {
    /// cluster -> member -> its series
    members: HashMap<String, HashMap<String, MemberSeries>>,
    /// (cluster, member) of each [`SeriesEntry::member`]: one a member ever seen.
    member_names: Vec<(String, String)>,
    /// Hashes series texts for the members' lookup tables; keyed at random, as
    /// std's HashMap, since the texts come from members' `/metrics`.
    text_hasher: std::collections::hash_map::RandomState,
    /// By id: ids are handed out from 0 and never reused.
    series: Vec<SeriesEntry>,
    /// By id, as `series`.
    heads: Vec<SeriesHead>,
    /// How many series there were at the last checkpoint (see `shrink_registry`).
    series_at_checkpoint: usize,
    sealed: Vec<Sealed>,
    /// Written to memory, not yet committed (a failed write is retried).
    pending_wal: Vec<(u64, Vec<u8>)>,
    pending_series: Vec<u64>,
    /// The registry's runs in the file: (first id, count).
    runs: Vec<(u64, u64)>,
    next_wal: u64,
    next_head_log: u64,
    /// Bytes of head deltas since the head was last written whole, and the size of
    /// that whole write: when the deltas would outgrow it, it is written whole again.
    head_log_bytes: u64,
    head_whole_bytes: u64,
    /// Free bytes on disk right after the last compaction (see `compact_if_sparse`).
    free_after_compaction: u64,
    wal_records: u64,
    samples_ingested_total: u64,
    samples_dropped_total: u64,
    /// Accepted samples again for readers that ship them (see [`outbox`]).
    outbox: outbox::Outbox,
    /// The bound of the open blocks' streams in memory (`store.head_bytes`).
    head_bytes: u64,
}

/// The store: one redb file, and the registry and head it keeps in memory. Shared
/// (in an `Arc`) by the writer thread, which ingests, checkpoints and maintains, and
/// by the readers (web pages, the API, alert evaluation); every method takes `&self`
/// and locks what it needs.
pub struct Store {
    path: PathBuf,
    /// (what, task), run by every maintenance.
    maintenance: Mutex<Vec<(&'static str, MaintenanceTask)>>,
    /// `None` only between a failed write and a successful reopen.
    db: RwLock<Option<Database>>,
    opener: Opener,
    inner: Mutex<Inner>,
    retention: Retention,
    health: Mutex<StoreHealth>,
}

/// redb's page cache (9/10 for reads, 1/10 for writes). redb's default is 1 GiB,
/// which a monitor of 100 clusters filled within 8 hours of history (RSS 1 GB in
/// `cargo bench --bench fleet`); the kernel's page cache keeps the file's hot
/// pages anyway, and the head, which every query of recent data reads, is in memory.
/// The live fleet bench peaked at 148.1 MiB with 16 MiB, 143.1 MiB with 8 MiB and
/// 142.8 MiB with 4 MiB: below 8 MiB saves nothing worth slower reads of old data.
pub(crate) const CACHE_BYTES: usize = 8 << 20;

/// `store.head_bytes` unless set: the open blocks' streams in memory, in all.
pub const DEFAULT_HEAD_BYTES: u64 = 32 << 20;

fn closed() -> StoreError {
    StoreError::Closed
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent-enough data (append-only);
    // keep monitoring rather than poison every later call.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Store {
    fn db(&self) -> Result<std::sync::RwLockReadGuard<'_, Option<Database>>> {
        let guard = self.db.read().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            drop(guard);
            self.reopen()?;
            return Ok(self.db.read().unwrap_or_else(|p| p.into_inner()));
        }
        Ok(guard)
    }

    /// Closes and opens the database again (after a failed write).
    fn reopen(&self) -> Result<()> {
        let mut guard = self.db.write().unwrap_or_else(|p| p.into_inner());
        drop(guard.take());
        let db = (self.opener)().map_err(|e| StoreError::Db {
            context: "reopening".into(),
            source: e.into(),
        })?;
        *guard = Some(db);
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// Bounds the open blocks' streams in memory (`store.head_bytes`; see
    /// `head::push`). Takes effect from the next sample on.
    pub fn set_head_bytes(&self, bytes: u64) {
        lock(&self.inner).head_bytes = bytes;
    }

    /// Samples ingested and dropped (out of order, too old) since the store was
    /// made: cheap, unlike [`Store::stats`].
    pub fn sample_counts(&self) -> (u64, u64) {
        let inner = lock(&self.inner);
        (inner.samples_ingested_total, inner.samples_dropped_total)
    }

    pub fn health(&self) -> StoreHealth {
        lock(&self.health).clone()
    }

    fn record_error(&self, what: &str, e: &StoreError) {
        tracing::error!("store: {what}: {e}");
        {
            let mut h = lock(&self.health);
            h.last_error = Some(format!("{what}: {e}"));
            h.write_errors_total += 1;
        }
        // The handle refuses writes after an I/O error: open the file again, now or
        // (if that fails too) at the next access.
        if matches!(e, StoreError::Db { .. } | StoreError::Closed) {
            if let Err(again) = self.reopen() {
                tracing::error!("store: {again}");
                drop(self.db.write().unwrap_or_else(|p| p.into_inner()).take());
            }
        }
    }

    fn record_success(&self) {
        lock(&self.health).last_error = None;
    }
}

#[cfg(test)]
mod failure_tests {
    use super::*;
    use redb::backends::FileBackend;
    use redb::{BackendError, StorageBackend};
    use std::ops::Bound;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// A file whose writes fail while `full` is set, like a disk out of space.
    #[derive(Debug)]
    struct FullDisk {
        file: FileBackend,
        full: Arc<AtomicBool>,
    }

    impl FullDisk {
        fn check(&self) -> std::result::Result<(), std::io::Error> {
            if self.full.load(Ordering::SeqCst) {
                Err(std::io::Error::from_raw_os_error(28)) // ENOSPC
            } else {
                Ok(())
            }
        }
    }

    impl StorageBackend for FullDisk {
        fn len(&self) -> std::result::Result<u64, std::io::Error> {
            self.file.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> std::result::Result<(), std::io::Error> {
            self.file.read(offset, out)
        }
        fn set_len(&self, len: u64) -> std::result::Result<(), std::io::Error> {
            self.check()?;
            self.file.set_len(len)
        }
        fn sync_data(&self) -> std::result::Result<(), std::io::Error> {
            self.check()?;
            self.file.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> std::result::Result<(), std::io::Error> {
            self.check()?;
            self.file.write(offset, data)
        }
        fn close(&self) -> std::result::Result<(), std::io::Error> {
            self.file.close()
        }
        fn try_lock_range(
            &self,
            s: Bound<u64>,
            e: Bound<u64>,
        ) -> std::result::Result<bool, BackendError> {
            self.file.try_lock_range(s, e)
        }
        fn try_lock_shared_range(
            &self,
            s: Bound<u64>,
            e: Bound<u64>,
        ) -> std::result::Result<bool, BackendError> {
            self.file.try_lock_shared_range(s, e)
        }
        fn lock_range(
            &self,
            s: Bound<u64>,
            e: Bound<u64>,
        ) -> std::result::Result<(), BackendError> {
            self.file.lock_range(s, e)
        }
        fn lock_shared_range(
            &self,
            s: Bound<u64>,
            e: Bound<u64>,
        ) -> std::result::Result<(), BackendError> {
            self.file.lock_shared_range(s, e)
        }
        fn unlock_range(
            &self,
            s: Bound<u64>,
            e: Bound<u64>,
        ) -> std::result::Result<(), BackendError> {
            self.file.unlock_range(s, e)
        }
    }

    fn batch(at_ms: i64, v: f64) -> MemberSamples {
        MemberSamples {
            cluster: "c".into(),
            member: "m0".into(),
            at_ms,
            samples: vec![("a".into(), v), ("b{x=\"1\"}".into(), v * 2.0)],
        }
    }

    /// Two stores fed the same 8 hours of a noisy series every 15 s, one with the
    /// smallest head: every tier reads the same points from both, before and after
    /// a restart in the middle of an hour (the rollups in progress are folded again
    /// from the raw open block), and `check` finds nothing wrong with the parts.
    #[test]
    fn a_bounded_head_cuts_blocks_into_parts_and_loses_nothing() {
        let (small_dir, big_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let open = |dir: &Path, bound: u64| {
            let s = Store::open_dir(dir, Retention::default()).unwrap();
            s.set_head_bytes(bound);
            s
        };
        let t0 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000 + 1_234_000;
        let value = |i: i64| ((i * 7919) % 1000) as f64 / 7.0 + i as f64;
        let feed = |store: &Store, range: std::ops::Range<i64>| {
            for i in range {
                store.ingest(&batch(t0 + i * 15_000, value(i))).unwrap();
                if i % 20 == 19 {
                    store.checkpoint().unwrap();
                }
            }
        };
        let same = |small: &Store, big: &Store| {
            let id = |s: &Store| s.list_series("c", None, Some("a"))[0].0;
            for tier in Tier::ALL {
                let a = small.read(id(small), tier, 0, i64::MAX).unwrap();
                let b = big.read(id(big), tier, 0, i64::MAX).unwrap();
                assert!(!a.is_empty());
                assert_eq!(a, b, "{tier:?}");
            }
        };
        // 8 h and a half, then a restart, then 2 h more.
        let (small, big) = (
            open(small_dir.path(), 1),
            open(big_dir.path(), DEFAULT_HEAD_BYTES),
        );
        feed(&small, 0..8 * 240 + 110);
        feed(&big, 0..8 * 240 + 110);
        same(&small, &big);
        drop(small);
        let small = open(small_dir.path(), 1);
        same(&small, &big);
        feed(&small, 8 * 240 + 110..10 * 240);
        feed(&big, 8 * 240 + 110..10 * 240);
        small.checkpoint().unwrap();
        big.checkpoint().unwrap();
        same(&small, &big);
        assert_eq!(small.check().unwrap(), Vec::<String>::new());
        let blocks = |s: &Store| {
            s.stats()
                .unwrap()
                .tiers
                .iter()
                .map(|t| t.blocks)
                .sum::<u64>()
        };
        assert!(
            blocks(&small) > 2 * blocks(&big),
            "{} parts against {} blocks",
            blocks(&small),
            blocks(&big)
        );
        // Every open stream stays within its share (256 bytes at the smallest) and
        // the one point that reached it.
        let inner = lock(&small.inner);
        for h in &inner.heads {
            for b in &h.blocks {
                let len = b.enc.stream().len();
                assert!(
                    len < head::MIN_PART_BYTES + 64,
                    "{len} bytes, {} points from {}",
                    b.enc.len(),
                    b.start
                );
            }
        }
    }

    /// Blocks sealed faster than checkpoints come (here: 600 scrapes of 1,000
    /// noisy series in one call, each raw block cut into 256-byte parts) are
    /// written by the ingest once they pass `SEALED_CHECKPOINT_BYTES`, and a
    /// reopened store reads every sample back.
    #[test]
    fn sealed_blocks_are_bounded_between_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path(), Retention::default()).unwrap();
        store.set_head_bytes(1);
        let t0 = 1_700_000_000_000 - 1_700_000_000_000 % 7_200_000;
        let mut rng = fastrand::Rng::with_seed(7);
        let names: Vec<String> = (0..1000).map(|i| format!("s{{i=\"{i}\"}}")).collect();
        let batches: Vec<MemberSamples> = (0..600)
            .map(|k| MemberSamples {
                cluster: "c".into(),
                member: "m0".into(),
                at_ms: t0 + k * 15_000,
                samples: names.iter().map(|n| (n.clone(), rng.f64())).collect(),
            })
            .collect();
        let mut expected = Vec::new();
        for (k, b) in (0..).zip(&batches) {
            if k % 100 == 0 {
                expected.push((b.at_ms, b.samples[999].1));
            }
        }
        store.ingest_all(&batches).unwrap();
        let pending: usize = lock(&store.inner)
            .sealed
            .iter()
            .map(|s| s.bytes.len())
            .sum();
        // One scrape seals at most one part of each of its 1,000 series.
        assert!(
            pending <= head::SEALED_CHECKPOINT_BYTES + 1000 * (head::MIN_PART_BYTES + 64),
            "{pending} bytes sealed and not written"
        );
        assert!(store.stats().unwrap().tiers[0].blocks > 0);
        drop(store);
        let store = Store::open_dir(dir.path(), Retention::default()).unwrap();
        let id = store.list_series("c", None, Some("s"))[999].0;
        let points = store.read(id, Tier::Raw, 0, i64::MAX).unwrap();
        assert_eq!(points.len(), 600);
        for (at, v) in expected {
            let p = points.iter().find(|p| p.ts == at).unwrap();
            assert_eq!(p.last, v);
        }
        assert!(store.check().unwrap().is_empty());
    }

    #[test]
    fn the_registry_gives_back_its_spare_room_once_no_series_is_new() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path(), Retention::default()).unwrap();
        let batch = |k: i64, series: usize| MemberSamples {
            cluster: "c".into(),
            member: "m0".into(),
            at_ms: 1_700_000_000_000 + k * 15_000,
            samples: (0..series)
                .map(|i| (format!("s{{i=\"{i}\"}}"), 1.0))
                .collect(),
        };
        let room = |store: &Store| {
            let inner = lock(&store.inner);
            (
                inner.heads.capacity() - inner.heads.len(),
                inner.series.capacity() - inner.series.len(),
            )
        };
        store.ingest_all(&[batch(0, 1000)]).unwrap();
        let grown = room(&store);
        assert!(grown.0 > 1000 / 64 && grown.1 > 1000 / 64, "{grown:?}");
        // New series in this checkpoint's period: kept as they are.
        store.checkpoint().unwrap();
        assert_eq!(room(&store), grown);
        store.ingest_all(&[batch(1, 1000)]).unwrap();
        store.checkpoint().unwrap();
        assert_eq!(room(&store), (0, 0));
        // Growing again works, and what was stored reads back after a reopen.
        store.ingest_all(&[batch(2, 1200)]).unwrap();
        drop(store);
        let store = Store::open_dir(dir.path(), Retention::default()).unwrap();
        assert_eq!(store.list_series("c", None, None).len(), 1200);
        let id = store.find_series("c", Some("m0"), "s{i=\"999\"}")[0].0;
        assert_eq!(store.read(id, Tier::Raw, 0, i64::MAX).unwrap().len(), 3);
    }

    #[test]
    fn a_full_disk_loses_nothing_and_writing_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let full = Arc::new(AtomicBool::new(false));
        let opener = {
            let (path, full) = (path.clone(), full.clone());
            Box::new(move || {
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)?;
                let backend = FullDisk {
                    file: FileBackend::new(file)?,
                    full: full.clone(),
                };
                Database::builder().create_with_backend(backend)
            }) as Opener
        };
        let store = Store::open_with(&path, Retention::default(), opener).unwrap();
        let t0 = 1_700_000_000_000;
        for i in 0..10 {
            store.ingest(&batch(t0 + i * 1000, i as f64)).unwrap();
        }
        store.checkpoint().unwrap();

        full.store(true, Ordering::SeqCst);
        for i in 10..20 {
            assert!(store.ingest(&batch(t0 + i * 1000, i as f64)).is_err());
        }
        assert!(store.checkpoint().is_err());
        let h = store.health();
        assert!(h.write_errors_total >= 11, "{h:?}");
        assert!(
            h.last_error.as_deref().unwrap().contains("No space left"),
            "{h:?}"
        );

        full.store(false, Ordering::SeqCst);
        store.ingest(&batch(t0 + 20_000, 20.0)).unwrap();
        assert_eq!(store.health().last_error, None);
        drop(store);

        // Everything, including what came while the disk was full, is in the file.
        let store = Store::open(&path, Retention::default()).unwrap();
        let id = store.list_series("c", None, Some("a"))[0].0;
        let points = store.read(id, Tier::Raw, 0, i64::MAX).unwrap();
        assert_eq!(points.len(), 21);
        assert_eq!(points[15].last, 15.0);
        assert!(store.check().unwrap().is_empty());
    }
}
