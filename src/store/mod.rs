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
//! - Maintenance deletes blocks past their tier's retention and compacts the file.

pub mod codec;
mod head;
mod maintenance;
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

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableHandle};
use serde::{Deserialize, Serialize};

pub use head::MemberSamples;
use head::{Sealed, SeriesHead};
pub use maintenance::MaintenanceTask;
pub use query::{Aggregate, HistoryQuery, SeriesPoints};
pub use record_tables::RecordOp;
use record_tables::RecordTable;
use series::MemberSeries;
pub use series::SeriesMeta;
pub use stats::{StoreHealth, StoreStats, TableBytes, TierStats};
use tables::{open_opt, walk_typed, META, OWN_TABLES};
use tier::floor;
pub use tier::{Point, Retention, Tier};
pub use writer::{StoreWriter, WriterHandle};

/// Version of the file's layout; a file with a higher one is refused.
/// 2: series registry in front-coded runs, head state in page-sized values without the rollup
/// points in progress, log values as XOR bytes.
/// 3: head deltas (`head_log`) between whole writes of the head. A version 2 file is
/// read as it is (it has no deltas) and marked 3.
/// 4: the log in runs of series with a bitmap of changed values (`wal_runs`), the
/// registry with copies from an earlier run (`series_runs`), blocks in format 2 (see
/// [`codec`]). The older tables (`wal`, `series`) are read, never written; a file of
/// version 2 or 3 is marked 4 when its head has been written again in format 2.
pub const SCHEMA_VERSION: u32 = 4;
/// The oldest version this build opens.
const OLDEST_READABLE_SCHEMA: u32 = 2;
pub const FILE_NAME: &str = "etcd-monitor.redb";

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
    #[error("store I/O: {0}")]
    Db(String),
    #[error("{0}")]
    BadQuery(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        match e {
            redb::Error::Corrupted(m) => StoreError::Corrupt(m),
            other => StoreError::Db(other.to_string()),
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
    /// By id: ids are handed out from 0 and never reused.
    series: Vec<SeriesMeta>,
    /// By id, as `series`.
    heads: Vec<SeriesHead>,
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
}

/// Opens the database again after a failed write: redb refuses further writes on a
/// handle that saw an I/O error until it is reopened.
type Opener = Box<dyn Fn() -> std::result::Result<Database, redb::DatabaseError> + Send + Sync>;

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

fn closed() -> StoreError {
    StoreError::Db("the store file is closed after a write failure; retrying".into())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent-enough data (append-only);
    // keep monitoring rather than poison every later call.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads the registry, the head and the log into `inner`, as of `tx`; `older`: the
/// file is of an older schema (its head's streams in the first block format).
/// Returns the time of the last compaction (0: none). Runs on the read-only open of
/// the preflight too, so that a file whose records do not decode is refused before
/// anything writes to it.
fn read_state(tx: &redb::ReadTransaction, inner: &mut Inner, older: bool) -> Result<u64> {
    inner.read_registry(tx)?;
    inner.read_head(tx, older)?;
    let mut compacted = 0;
    if let Some(meta) = open_opt(tx, META)? {
        let get_u64 = |k: &str| -> Result<u64> {
            Ok(meta
                .get(k)?
                .map(|v| decode::<u64>(k, v.value()))
                .transpose()?
                .unwrap_or(0))
        };
        inner.samples_ingested_total = get_u64("samples_ingested_total")?;
        compacted = get_u64("last_compaction_ms")?;
    }
    inner.replay_log(tx)?;
    Ok(compacted)
}

/// Looks at an existing file through a read-only open, without writing to it
/// (redb's read-write open rewrites the header and the allocator state even when
/// nothing is committed): the schema version, then every table redb lists walked
/// page by page (an untyped table's stats visit each of its pages), ours and the
/// other modules' records also row by row as their types, and the registry, the
/// head and the log decoded as [`Store::open`] will. A panic inside redb on damaged
/// pages counts as corruption.
///
/// `Ok(false)`: redb's read-only open wants a repair first (`RepairAborted`): after
/// an unclean shutdown, or when the allocator state it would load is damaged.
///
/// Cost: every page of the file is read once more at each open (a sequential read
/// of the file, mostly from the page cache right after), and the registry, head and
/// log are decoded twice; no block is decoded.
fn verify_read_only(path: &Path) -> Result<bool> {
    let walk = || -> Result<Option<Option<u32>>> {
        let db = match Database::builder().open_read_only(path) {
            Err(redb::DatabaseError::RepairAborted) => return Ok(None),
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::InUse {
                    path: path.to_path_buf(),
                })
            }
            other => other?,
        };
        let tx = db.begin_read()?;
        let mut version = None;
        if let Some(meta) = open_opt(&tx, META)? {
            if let Some(v) = meta.get("schema_version")? {
                version = Some(decode::<u32>("schema_version", v.value())?);
            }
        }
        if version.is_some_and(|v| !(OLDEST_READABLE_SCHEMA..=SCHEMA_VERSION).contains(&v)) {
            return Ok(Some(version));
        }
        let names: Vec<String> = tx.list_tables()?.map(|h| h.name().to_string()).collect();
        for handle in tx.list_tables()? {
            tx.open_untyped_table(handle)?.stats()?;
        }
        for handle in tx.list_multimap_tables()? {
            tx.open_untyped_multimap_table(handle)?.stats()?;
        }
        walk_typed(&tx)?;
        for name in names.iter().filter(|n| !OWN_TABLES.contains(&n.as_str())) {
            match tx.open_table(RecordTable::new(name)) {
                Ok(t) => {
                    for row in t.iter()? {
                        row?;
                    }
                }
                // Not a plain record table (a newer version's?): its pages were
                // walked above.
                Err(redb::TableError::TableTypeMismatch { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let older = version.is_some_and(|v| v < SCHEMA_VERSION);
        read_state(&tx, &mut Inner::default(), older)?;
        Ok(Some(version))
    };
    let named = |e: StoreError| match e {
        StoreError::Corrupt(m) => StoreError::Corrupt(format!(
            "{}: {m}. The file was not changed.",
            path.display()
        )),
        StoreError::Db(m) => StoreError::Db(format!("{}: {m}", path.display())),
        other => other,
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(walk)) {
        Ok(Ok(Some(Some(found)))) if found > SCHEMA_VERSION => Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
        }),
        Ok(Ok(Some(Some(found)))) if found < OLDEST_READABLE_SCHEMA => {
            Err(StoreError::OlderSchema {
                path: path.to_path_buf(),
                found,
            })
        }
        Ok(Ok(Some(_))) => Ok(true),
        Ok(Ok(None)) => Ok(false),
        Ok(Err(e)) => Err(named(e)),
        Err(_) => Err(StoreError::Corrupt(format!(
            "{}: redb failed reading its pages. The file was not changed.",
            path.display()
        ))),
    }
}

/// Checks an existing file before the read-write open, leaving it as it is unless it
/// needs a repair that succeeds (see [`verify_read_only`] and [`repair_on_a_copy`]).
fn preflight(path: &Path) -> Result<()> {
    if verify_read_only(path)? {
        return Ok(());
    }
    repair_on_a_copy(path)
}

/// redb repairs a file that needs it (one not shut down cleanly; one whose allocator
/// state is damaged) while opening it for writing, and that repair writes. So it is
/// done on a copy in the same directory first: only when the repaired copy opens
/// read-only and walks cleanly does it replace the file (a rename, after an fsync);
/// otherwise the copy is removed and the file refused, left byte for byte as it was.
///
/// Cost, only for a file that needs repair: one more file of the store's size on the
/// same disk while it runs, and the time to copy it, to repair the copy (redb reads
/// every page) and to walk the copy once more.
fn repair_on_a_copy(path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let io = |what: &str, e: std::io::Error| {
        StoreError::Db(format!(
            "{} needs a repair, and {what} failed: {e}. The file was not changed.",
            path.display()
        ))
    };
    let copy = tempfile::Builder::new()
        .prefix(".etcd-monitor-repair-")
        .suffix(".redb")
        .tempfile_in(dir)
        .map_err(|e| io("making a copy to repair", e))?;
    // Copies the permission bits too.
    std::fs::copy(path, copy.path()).map_err(|e| io("copying it to repair the copy", e))?;
    let refused = |why: String| {
        StoreError::Corrupt(format!(
            "{}: needs a repair (it was not shut down cleanly, or it is damaged), and a repaired copy of it is not sound: {why}. The file was not changed.",
            path.display()
        ))
    };
    let copy_path = copy.path().to_path_buf();
    let repaired = std::panic::catch_unwind(|| {
        // Opening for writing repairs; closing records the allocator state.
        Database::builder().open(&copy_path)?.close()?;
        Ok::<_, redb::DatabaseError>(())
    });
    match repaired {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(refused(e.to_string())),
        Err(_) => return Err(refused("redb failed reading its pages".into())),
    }
    match verify_read_only(&copy_path) {
        Ok(true) => {}
        Ok(false) => return Err(refused("it still needs a repair".into())),
        Err(StoreError::NewerSchema { found, .. }) => {
            return Err(StoreError::NewerSchema {
                path: path.to_path_buf(),
                found,
            })
        }
        Err(StoreError::OlderSchema { found, .. }) => {
            return Err(StoreError::OlderSchema {
                path: path.to_path_buf(),
                found,
            })
        }
        Err(e) => return Err(refused(e.to_string())),
    }
    copy.as_file()
        .sync_all()
        .map_err(|e| io("syncing the repaired copy", e))?;
    copy.persist(path)
        .map_err(|e| io("replacing the file with its repaired copy", e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    tracing::warn!(path = %path.display(), "store: the file needed a repair (not shut down cleanly?); a repaired copy replaced it");
    Ok(())
}

impl Store {
    /// Opens (or creates) `DIR/etcd-monitor.redb`.
    pub fn open_dir(dir: &Path, retention: Retention) -> Result<Store> {
        let created = !dir.exists();
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Db(format!("cannot create {}: {e}", dir.display())))?;
        Store::open_as(&dir.join(FILE_NAME), retention, created)
    }

    /// Opens (or creates) the store file. A file of a newer schema, one redb cannot
    /// read, one whose records do not decode, or an empty one, is refused and left as
    /// it is.
    pub fn open(path: &Path, retention: Retention) -> Result<Store> {
        Store::open_as(path, retention, false)
    }

    /// `new_dir`: the directory was created just now, so an empty file in it can only
    /// be one that a store being created left (nothing else wrote there).
    fn open_as(path: &Path, retention: Retention, new_dir: bool) -> Result<Store> {
        match std::fs::metadata(path) {
            Ok(m) if m.len() > 0 => preflight(path)?,
            // redb writes a new file's header as it creates it: an empty file was not
            // written by a store (or is what a crash at that moment left), and
            // taking it as a new store would hide whatever emptied it.
            Ok(_) if !new_dir => {
                return Err(StoreError::Corrupt(format!(
                    "{}: the file is empty (0 bytes), which a store file never is; move it aside or remove it to start a new history. The file was not changed.",
                    path.display()
                )))
            }
            _ => {}
        }
        let file = path.to_path_buf();
        Store::open_with(
            path,
            retention,
            Box::new(move || {
                let exists = std::fs::metadata(&file).is_ok_and(|m| m.len() > 0);
                if exists {
                    Database::builder().open(&file)
                } else {
                    Database::builder().create(&file)
                }
            }),
        )
    }

    /// As [`Store::open`], with the database opened by `opener` (tests inject
    /// storage backends that fail on purpose); `path` names the store in messages.
    pub fn open_with(path: &Path, retention: Retention, opener: Opener) -> Result<Store> {
        let db = opener().map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
                path: path.to_path_buf(),
            },
            redb::DatabaseError::Storage(redb::StorageError::Corrupted(m)) => {
                StoreError::Corrupt(format!("{}: {m}", path.display()))
            }
            other => StoreError::Db(format!("{}: {other}", path.display())),
        })?;
        let store = Store {
            path: path.to_path_buf(),
            maintenance: Mutex::new(Vec::new()),
            db: RwLock::new(Some(db)),
            opener,
            inner: Mutex::new(Inner::default()),
            retention,
            health: Mutex::new(StoreHealth::default()),
        };
        if let Some(from) = store.load()? {
            // The head (re-encoded in memory as it was read) is written whole in this
            // version's format, the logs emptied, and the file marked, in one commit:
            // a crash before it leaves the older file as it was.
            store.checkpoint_inner(true)?;
            tracing::info!(from, to = SCHEMA_VERSION, path = %path.display(), "store: upgraded the file's schema");
        }
        Ok(store)
    }

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
        let db = (self.opener)().map_err(|e| StoreError::Db(format!("reopening: {e}")))?;
        *guard = Some(db);
        Ok(())
    }

    /// Reads the registry, the head and the log into memory. Returns the schema
    /// version of a file written by an older version (still to be upgraded).
    fn load(&self) -> Result<Option<u32>> {
        let guard = self.db()?;
        let db = guard.as_ref().ok_or_else(closed)?;
        let mut upgrade_from = None;
        // Create the tables and the schema version on a new file; check it on an old one.
        {
            let tx = db.begin_write()?;
            {
                let mut meta = tx.open_table(META)?;
                let found = meta
                    .get("schema_version")?
                    .map(|v| decode::<u32>("schema_version", v.value()))
                    .transpose()?;
                match found {
                    Some(v) if v > SCHEMA_VERSION => {
                        return Err(StoreError::NewerSchema {
                            path: self.path.clone(),
                            found: v,
                        })
                    }
                    Some(v) if v < OLDEST_READABLE_SCHEMA => {
                        return Err(StoreError::OlderSchema {
                            path: self.path.clone(),
                            found: v,
                        })
                    }
                    Some(SCHEMA_VERSION) => {}
                    Some(v) => {
                        // Read as it is; marked with this version only when its head
                        // has been written again in this version's block format, in
                        // the same commit (`open_with`).
                        upgrade_from = Some(v);
                    }
                    None => {
                        meta.insert("schema_version", encode(&SCHEMA_VERSION).as_slice())?;
                    }
                }
                tables::create(&tx)?;
            }
            tx.commit()?;
        }
        let tx = db.begin_read()?;
        let mut inner = lock(&self.inner);
        let compacted = read_state(&tx, &mut inner, upgrade_from.is_some())?;
        if inner.wal_records > 0 {
            tracing::info!(
                records = inner.wal_records,
                "store: replayed the write-ahead log"
            );
        }
        drop(inner);
        let mut health = lock(&self.health);
        health.last_compaction_ms = (compacted > 0).then_some(compacted as i64);
        Ok(upgrade_from)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn retention(&self) -> Retention {
        self.retention
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
        if matches!(e, StoreError::Db(_)) {
            if let Err(again) = self.reopen() {
                tracing::error!("store: {again}");
                drop(self.db.write().unwrap_or_else(|p| p.into_inner()).take());
            }
        }
    }

    fn record_success(&self) {
        lock(&self.health).last_error = None;
    }

    /// Points of series `id` in `tier` with `from <= ts < to`, in time order:
    /// stored blocks, blocks sealed since the last checkpoint, then the head.
    pub fn read(&self, id: u64, tier: Tier, from: i64, to: i64) -> Result<Vec<Point>> {
        let mut points = Vec::new();
        if from >= to {
            return Ok(points);
        }
        let push_block = |bytes: &[u8], points: &mut Vec<Point>| -> Result<()> {
            let b = codec::decode(bytes)?;
            for (i, ts) in b.timestamps.iter().enumerate() {
                if *ts < from || *ts >= to {
                    continue;
                }
                points.push(if b.columns == 1 {
                    Point::sample(*ts, b.values[0][i])
                } else {
                    Point {
                        ts: *ts,
                        min: b.values[0][i],
                        max: b.values[1][i],
                        sum: b.values[2][i],
                        count: b.values[3][i],
                        last: b.values[4][i],
                    }
                });
            }
            Ok(())
        };
        {
            let guard = self.db()?;
            let db = guard.as_ref().ok_or_else(closed)?;
            let tx = db.begin_read()?;
            let table = tx.open_table(tier.table())?;
            let first = floor(from, tier.block_ms()).saturating_sub(tier.block_ms());
            for row in table.range((id, first)..(id, to))? {
                let (_, bytes) = row?;
                push_block(bytes.value(), &mut points)?;
            }
        }
        let inner = lock(&self.inner);
        for s in inner
            .sealed
            .iter()
            .filter(|s| s.series == id && s.tier == tier)
        {
            push_block(&s.bytes, &mut points)?;
        }
        if let Some(h) = inner.heads.get(id as usize) {
            let open = &h.blocks[tier as usize];
            if !open.enc.is_empty() {
                push_block(&open.enc.to_bytes(), &mut points)?;
            }
            // Rollup points still accumulating.
            let mut partial = Vec::new();
            match tier {
                Tier::Raw => {}
                Tier::Minute => partial.extend(h.minute),
                Tier::Hour => {
                    let minute_hour = h.minute.map(|m| Point {
                        ts: floor(m.ts, Tier::Hour.step_ms()),
                        ..m
                    });
                    match (h.hour, minute_hour) {
                        (Some(mut hour), Some(m)) if m.ts == hour.ts => {
                            hour.merge(&m);
                            partial.push(hour);
                        }
                        (hour, m) => partial.extend(hour.into_iter().chain(m)),
                    }
                }
            }
            points.extend(partial.into_iter().filter(|p| p.ts >= from && p.ts < to));
        }
        drop(inner);
        points.sort_by_key(|p| p.ts);
        points.dedup_by_key(|p| p.ts);
        Ok(points)
    }
}

#[cfg(test)]
mod failure_tests {
    use super::*;
    use redb::backends::FileBackend;
    use redb::{BackendError, StorageBackend};
    use std::ops::Bound;
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
