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
mod maintenance;
pub mod query;
mod record_tables;
#[doc(hidden)]
pub mod records;
mod stats;
mod tables;
mod tier;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableHandle};
use serde::{Deserialize, Serialize};

use codec::BlockEncoder;
pub use maintenance::MaintenanceTask;
pub use query::{Aggregate, HistoryQuery, SeriesPoints};
pub use record_tables::RecordOp;
use record_tables::RecordTable;
use records::{SeriesRun, WalRecord};
pub use stats::{StoreHealth, StoreStats, TableBytes, TierStats};
use tables::{
    open_opt, walk_typed, HEAD, HEAD_LOG, META, OWN_TABLES, SERIES, SERIES_FRONT_CODED, WAL,
    WAL_PER_SAMPLE,
};
use tier::floor;
pub use tier::{Point, Retention, Tier};
pub use writer::{StoreWriter, WriterHandle};

/// Decodes one log record against the series' values before it.
type WalDecoder = fn(&[u8], &dyn Fn(u64) -> Option<f64>) -> Result<WalRecord>;

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

/// What a series is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeriesMeta {
    pub cluster: String,
    pub member: String,
    /// `name{label="value",...}` as scraped, or an indicator's name.
    pub series: String,
}

impl SeriesMeta {
    /// The metric name: the series text up to its labels.
    pub fn name(&self) -> &str {
        self.series.split('{').next().unwrap_or(&self.series)
    }
}

/// The samples of one member's scrape (and its derived indicators) at one instant.
#[derive(Debug, Clone, Default)]
pub struct MemberSamples {
    pub cluster: String,
    pub member: String,
    pub at_ms: i64,
    /// (series text, value)
    pub samples: Vec<(String, f64)>,
}

#[derive(Debug, Clone)]
struct OpenBlock {
    start: i64,
    enc: BlockEncoder,
    /// What of it the file holds (as of the last checkpoint).
    written: Written,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Written {
    start: i64,
    count: usize,
    /// Stream bytes that are final (see [`BlockEncoder::settled_len`]).
    settled: usize,
}

impl OpenBlock {
    fn new(tier: Tier) -> Self {
        OpenBlock {
            start: 0,
            enc: BlockEncoder::new(tier.columns()),
            written: Written::default(),
        }
    }

    fn now_written(&mut self) {
        self.written = Written {
            start: self.start,
            count: self.enc.len(),
            settled: self.enc.settled_len(),
        };
    }

    /// What changed since the last checkpoint, if anything.
    fn delta(&self, id: u64, tier: u8) -> Option<records::HeadDelta<'_>> {
        let w = self.written;
        if w.start == self.start && w.count == self.enc.len() {
            return None;
        }
        let offset = if w.start == self.start { w.settled } else { 0 };
        Some(records::HeadDelta {
            id,
            tier,
            start: self.start,
            count: self.enc.len() as u32,
            offset,
            tail: &self.enc.stream()[offset..],
        })
    }
}

/// The in-memory head of one series: the open block of every tier and the
/// rollup points still being accumulated.
#[derive(Debug, Clone)]
struct SeriesHead {
    blocks: [OpenBlock; 3],
    minute: Option<Point>,
    hour: Option<Point>,
    /// The latest raw value: the log writes only values that differ from it.
    last: Option<f64>,
    dirty: bool,
}

impl SeriesHead {
    fn new() -> Self {
        SeriesHead {
            blocks: [
                OpenBlock::new(Tier::Raw),
                OpenBlock::new(Tier::Minute),
                OpenBlock::new(Tier::Hour),
            ],
            minute: None,
            hour: None,
            last: None,
            dirty: false,
        }
    }

    /// Appends this head's state (its open blocks) to a head value.
    fn put_state(&self, id: u64, out: &mut Vec<u8>) {
        let [raw, minute, hour] = &self.blocks;
        let bytes = [
            raw.enc.to_bytes(),
            minute.enc.to_bytes(),
            hour.enc.to_bytes(),
        ];
        records::put_head(
            out,
            id,
            [
                (raw.start, &bytes[0]),
                (minute.start, &bytes[1]),
                (hour.start, &bytes[2]),
            ],
        );
    }

    /// A head from its stored open blocks. The rollup points in progress are not
    /// stored: they hold only samples of the current hour, which are all in the raw
    /// open block (raw windows are whole hours), and are folded again from there.
    fn from_record(rec: &records::HeadRecord) -> Result<Self> {
        let mut head = SeriesHead::new();
        for (slot, (start, bytes)) in head.blocks.iter_mut().zip(rec.blocks) {
            slot.start = start;
            if !bytes.is_empty() {
                slot.enc = BlockEncoder::from_bytes(bytes)?;
            }
            slot.now_written();
        }
        if !head.blocks[0].enc.is_empty() {
            let raw = codec::decode(rec.blocks[0].1)?;
            let last_ts = *raw.timestamps.last().expect("a non-empty block");
            let hour = floor(last_ts, Tier::Hour.step_ms());
            for (ts, v) in raw.timestamps.iter().zip(&raw.values[0]) {
                if *ts >= hour {
                    // Completed minutes are in the open 1m block already.
                    let _ = head.roll(*ts, *v);
                }
            }
            head.last = raw.values[0].last().copied();
        }
        Ok(head)
    }

    /// Folds a sample into the rollup points in progress; returns the minute and the
    /// hour point it completed. A point is completed by the first sample past it, so
    /// the points in progress only ever hold samples of the current hour.
    fn roll(&mut self, ts: i64, v: f64) -> (Option<Point>, Option<Point>) {
        let sample = Point::sample(floor(ts, Tier::Minute.step_ms()), v);
        let minute_done = match &mut self.minute {
            Some(m) if m.ts == sample.ts => {
                m.merge(&sample);
                None
            }
            slot => slot.replace(sample),
        };
        let mut hour_done = None;
        if let Some(done) = minute_done {
            let hour_ts = floor(done.ts, Tier::Hour.step_ms());
            match &mut self.hour {
                Some(h) if h.ts == hour_ts => h.merge(&done),
                slot => {
                    hour_done = slot.replace(Point {
                        ts: hour_ts,
                        ..done
                    })
                }
            }
        }
        let now_hour = floor(ts, Tier::Hour.step_ms());
        if self.hour.is_some_and(|h| h.ts != now_hour) {
            // A new hour began: the hour in progress is complete (at most one of the
            // two is set: an hour completed above was replaced by a newer one).
            debug_assert!(hour_done.is_none());
            hour_done = self.hour.take();
        }
        (minute_done, hour_done)
    }
}

/// A block sealed in memory, written at the next checkpoint.
struct Sealed {
    tier: Tier,
    series: u64,
    start: i64,
    bytes: Vec<u8>,
}

/// The series of one member.
#[derive(Default)]
struct MemberSeries {
    by_text: HashMap<String, u64>,
    /// The ids of the member's last batch, in order: a scrape lists its series in
    /// the same order every time, so most samples are found by one comparison
    /// instead of hashing their text.
    last_batch: Vec<u64>,
}

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
    // An older version's registry first: its ids precede any of this version's.
    for (table, front_coded) in [(SERIES_FRONT_CODED, true), (SERIES, false)] {
        let Some(table) = open_opt(tx, table)? else {
            continue;
        };
        for row in table.iter()? {
            let (first, run) = row?;
            let decoded = if front_coded {
                SeriesRun::decode_front_coded(run.value())
            } else {
                let texts_of = |key: u64| inner.run_texts(key);
                SeriesRun::decode(run.value(), &texts_of)
            };
            let run = decoded.map_err(|e| {
                StoreError::Corrupt(format!("series registry at {}: {e}", first.value()))
            })?;
            inner.runs.push((first.value(), run.texts.len() as u64));
            for (id, text) in (first.value()..).zip(run.texts) {
                let meta = SeriesMeta {
                    cluster: run.cluster.clone(),
                    member: run.member.clone(),
                    series: text,
                };
                inner.register(id, meta)?;
            }
        }
    }
    // Before schema 4 the head's streams are in the first block format.
    let head_format = if older {
        codec::FORMAT_PLAIN
    } else {
        codec::FORMAT
    };
    // The head as last written whole, then the deltas written since, in order.
    let mut open: HashMap<u64, [(i64, usize, Vec<u8>); 3]> = HashMap::new();
    if let Some(table) = open_opt(tx, HEAD)? {
        for row in table.iter()? {
            let (key, value) = row?;
            inner.head_whole_bytes += value.value().len() as u64;
            let named =
                |e: StoreError| StoreError::Corrupt(format!("head record {}: {e}", key.value()));
            for rec in records::decode_heads(value.value()).map_err(named)? {
                let mut blocks: [(i64, usize, Vec<u8>); 3] = Default::default();
                for (slot, (start, bytes)) in blocks.iter_mut().zip(rec.blocks) {
                    if !bytes.is_empty() {
                        let (_, count) = codec::header(bytes).map_err(named)?;
                        *slot = (start, count, codec::stream_of(bytes)?.to_vec());
                    }
                }
                open.insert(rec.id, blocks);
            }
        }
    }
    if let Some(table) = open_opt(tx, HEAD_LOG)? {
        for row in table.iter()? {
            let (key, value) = row?;
            inner.head_log_bytes += value.value().len() as u64;
            inner.next_head_log = key.value() + 1;
            let named =
                |e: String| StoreError::Corrupt(format!("head delta record {}: {e}", key.value()));
            for d in records::decode_head_deltas(value.value()).map_err(|e| named(e.to_string()))? {
                let slot = &mut open.entry(d.id).or_default()[usize::from(d.tier)];
                if slot.0 != d.start {
                    if d.offset != 0 {
                        return Err(named(format!(
                            "series {} starts a block at byte {}",
                            d.id, d.offset
                        )));
                    }
                    *slot = (d.start, 0, Vec::new());
                }
                if d.offset > slot.2.len() {
                    return Err(named(format!(
                        "series {}: delta at byte {} of a {}-byte block",
                        d.id,
                        d.offset,
                        slot.2.len()
                    )));
                }
                slot.2.truncate(d.offset);
                slot.2.extend_from_slice(d.tail);
                slot.1 = d.count as usize;
            }
        }
    }
    for (id, blocks) in open {
        let named = |e: StoreError| StoreError::Corrupt(format!("head of series {id}: {e}"));
        let bytes = [Tier::Raw, Tier::Minute, Tier::Hour].map(|t| {
            let (_, count, stream) = &blocks[t as usize];
            codec::assemble(head_format, t.columns(), *count as u32, stream)
        });
        let rec = records::HeadRecord {
            id,
            blocks: [0, 1, 2].map(|i| (blocks[i].0, bytes[i].as_slice())),
        };
        let head = SeriesHead::from_record(&rec).map_err(named)?;
        let slot = inner
            .heads
            .get_mut(id as usize)
            .ok_or_else(|| StoreError::Corrupt(format!("head of unknown series {id}")))?;
        *slot = head;
    }
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
    // Replay what was ingested after the last checkpoint: an older version's log
    // first (its records precede any of this version's), then this version's.
    let mut replayed = 0;
    for (table, decode) in [
        (WAL_PER_SAMPLE, WalRecord::decode_per_sample as WalDecoder),
        (WAL, WalRecord::decode as WalDecoder),
    ] {
        let Some(table) = open_opt(tx, table)? else {
            continue;
        };
        for row in table.iter()? {
            let (seq, rec) = row?;
            // Decoded against the head as replayed so far: the state it was written against.
            let rec = {
                let heads = &inner.heads;
                decode(rec.value(), &|id| {
                    heads.get(id as usize).and_then(|h| h.last)
                })?
            };
            for (id, v) in &rec.samples {
                if *id >= inner.series.len() as u64 {
                    return Err(StoreError::Corrupt(format!(
                        "log record {} names unknown series {id}",
                        seq.value()
                    )));
                }
                inner.append(*id, rec.at_ms, *v);
            }
            inner.samples_ingested_total += rec.samples.len() as u64;
            inner.next_wal = seq.value() + 1;
            replayed += 1;
        }
    }
    inner.wal_records = replayed;
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

    /// Adds one member's samples and commits them to the write-ahead log.
    /// On a failed write the samples stay in memory and are written with the next
    /// batch; monitoring goes on either way.
    pub fn ingest(&self, batch: &MemberSamples) -> Result<()> {
        self.ingest_all(std::slice::from_ref(batch))
    }

    /// Adds several batches (e.g. every member of a probe) with one commit.
    pub fn ingest_all(&self, batches: &[MemberSamples]) -> Result<()> {
        let mut inner = lock(&self.inner);
        for batch in batches {
            let ids = inner.ids_for(&batch.cluster, &batch.member, &batch.samples);
            let mut logged = Vec::with_capacity(batch.samples.len());
            for (id, (_, value)) in ids.into_iter().zip(&batch.samples) {
                let before = inner.heads[id as usize].last;
                if inner.append(id, batch.at_ms, *value) {
                    logged.push((id, *value, before));
                }
            }
            let accepted = logged.len() as u64;
            let bytes = WalRecord::encode(batch.at_ms, &logged);
            inner.samples_ingested_total += accepted;
            let seq = inner.next_wal;
            inner.next_wal += 1;
            inner.pending_wal.push((seq, bytes));
        }
        let result = self.commit_pending(&mut inner);
        drop(inner);
        match &result {
            Ok(()) => self.record_success(),
            Err(e) => self.record_error("writing samples", e),
        }
        result
    }

    fn commit_pending(&self, inner: &mut Inner) -> Result<()> {
        let guard = self.db()?;
        let db = guard.as_ref().ok_or_else(closed)?;
        let runs = inner.pending_series_runs();
        let tx = db.begin_write()?;
        {
            let mut series = tx.open_table(SERIES)?;
            for (first, _, run) in &runs {
                series.insert(first, run.as_slice())?;
            }
            let mut wal = tx.open_table(WAL)?;
            for (seq, rec) in &inner.pending_wal {
                wal.insert(*seq, rec.as_slice())?;
            }
        }
        tx.commit()?;
        inner.wal_records += inner.pending_wal.len() as u64;
        inner
            .runs
            .extend(runs.iter().map(|(first, count, _)| (*first, *count)));
        inner.pending_series.clear();
        inner.pending_wal.clear();
        Ok(())
    }

    /// Series of `cluster` (optionally of one member, with names containing `filter`).
    pub fn list_series(
        &self,
        cluster: &str,
        member: Option<&str>,
        filter: Option<&str>,
    ) -> Vec<(u64, SeriesMeta)> {
        self.series_where(cluster, member, |text| {
            filter.is_none_or(|f| text.contains(f))
        })
    }

    /// Series of `cluster` (optionally of one member) that are `metric`: either its
    /// full text `name{labels}` or its name (every label set).
    pub fn find_series(
        &self,
        cluster: &str,
        member: Option<&str>,
        metric: &str,
    ) -> Vec<(u64, SeriesMeta)> {
        if metric.contains('{') {
            // One series per member: found by its text, without a scan.
            let inner = lock(&self.inner);
            let Some(members) = inner.members.get(cluster) else {
                return Vec::new();
            };
            let mut out: Vec<(u64, SeriesMeta)> = members
                .iter()
                .filter(|(name, _)| member.is_none_or(|w| w == name.as_str()))
                .filter_map(|(_, known)| known.by_text.get(metric))
                .map(|id| (*id, inner.series[*id as usize].clone()))
                .collect();
            out.sort_by(|a, b| a.1.member.cmp(&b.1.member));
            return out;
        }
        self.series_where(cluster, member, |text| {
            text.split('{').next() == Some(metric)
        })
    }

    /// The series of one cluster's members whose text passes `keep`, by member and text.
    fn series_where(
        &self,
        cluster: &str,
        member: Option<&str>,
        keep: impl Fn(&str) -> bool,
    ) -> Vec<(u64, SeriesMeta)> {
        let inner = lock(&self.inner);
        let Some(members) = inner.members.get(cluster) else {
            return Vec::new();
        };
        let mut out: Vec<(u64, SeriesMeta)> = members
            .iter()
            .filter(|(name, _)| member.is_none_or(|w| w == name.as_str()))
            .flat_map(|(_, known)| known.by_text.iter())
            .filter(|(text, _)| keep(text))
            .map(|(_, id)| (*id, inner.series[*id as usize].clone()))
            .collect();
        out.sort_by(|a, b| (&a.1.member, &a.1.series).cmp(&(&b.1.member, &b.1.series)));
        out
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

/// Packs records into values of about [`records::HEAD_VALUE_BYTES`]: each value fits
/// one redb page (redb gives a value over a page a power-of-two run of pages, wasting
/// up to half of it).
struct PagePacker {
    values: Vec<Vec<u8>>,
    value: Vec<u8>,
}

impl PagePacker {
    fn new() -> Self {
        PagePacker {
            values: Vec::new(),
            value: Vec::with_capacity(2 * records::HEAD_VALUE_BYTES),
        }
    }

    /// Adds a record with `put`; a value that grew past the size is cut before it.
    fn add(&mut self, put: impl FnOnce(&mut Vec<u8>)) {
        let before = self.value.len();
        put(&mut self.value);
        if self.value.len() > records::HEAD_VALUE_BYTES && before > 0 {
            self.values.push(self.value[..before].to_vec());
            self.value.drain(..before);
        }
    }

    fn finish(mut self) -> Vec<Vec<u8>> {
        if !self.value.is_empty() {
            self.values.push(self.value);
        }
        self.values
    }
}

impl Inner {
    /// Every head's open blocks, in page-sized values.
    fn whole_head(&self) -> Vec<Vec<u8>> {
        let mut packer = PagePacker::new();
        for (id, h) in (0..).zip(&self.heads) {
            if h.blocks.iter().all(|b| b.enc.is_empty()) {
                continue;
            }
            packer.add(|out| h.put_state(id, out));
        }
        packer.finish()
    }

    /// What the open blocks gained since the last checkpoint, in page-sized values.
    fn head_deltas(&self) -> Vec<Vec<u8>> {
        let mut packer = PagePacker::new();
        for (id, h) in (0..).zip(&self.heads).filter(|(_, h)| h.dirty) {
            for (tier, b) in (0..).zip(&h.blocks) {
                if let Some(d) = b.delta(id, tier) {
                    packer.add(|out| records::put_head_delta(out, &d));
                }
            }
        }
        packer.finish()
    }

    /// The ids of a batch's series, registering new ones.
    fn ids_for(&mut self, cluster: &str, member: &str, samples: &[(String, f64)]) -> Vec<u64> {
        let Inner {
            members,
            series,
            heads,
            pending_series,
            ..
        } = self;
        if !members.get(cluster).is_some_and(|m| m.contains_key(member)) {
            members
                .entry(cluster.to_string())
                .or_default()
                .insert(member.to_string(), MemberSeries::default());
        }
        let known = members
            .get_mut(cluster)
            .and_then(|m| m.get_mut(member))
            .expect("inserted above");
        let mut ids = Vec::with_capacity(samples.len());
        for (i, (text, _)) in samples.iter().enumerate() {
            let in_place = known
                .last_batch
                .get(i)
                .copied()
                .filter(|id| series[*id as usize].series == *text);
            let id = match in_place.or_else(|| known.by_text.get(text).copied()) {
                Some(id) => id,
                None => {
                    let id = series.len() as u64;
                    series.push(SeriesMeta {
                        cluster: cluster.to_string(),
                        member: member.to_string(),
                        series: text.clone(),
                    });
                    heads.push(SeriesHead::new());
                    known.by_text.insert(text.clone(), id);
                    pending_series.push(id);
                    id
                }
            };
            ids.push(id);
        }
        known.last_batch.clone_from(&ids);
        ids
    }

    /// Registers a series read from the file; its id must be the next one.
    fn register(&mut self, id: u64, meta: SeriesMeta) -> Result<()> {
        if id != self.series.len() as u64 {
            return Err(StoreError::Corrupt(format!(
                "series registry: series {id} follows series {}",
                self.series.len() as i64 - 1
            )));
        }
        self.members
            .entry(meta.cluster.clone())
            .or_default()
            .entry(meta.member.clone())
            .or_default()
            .by_text
            .insert(meta.series.clone(), id);
        self.series.push(meta);
        self.heads.push(SeriesHead::new());
        Ok(())
    }

    /// Adds a sample to the head; false if it is not newer than the last one.
    fn append(&mut self, id: u64, ts: i64, v: f64) -> bool {
        let head = &mut self.heads[id as usize];
        if head.blocks[0]
            .enc
            .last_timestamp()
            .is_some_and(|last| ts <= last)
        {
            self.samples_dropped_total += 1;
            return false;
        }
        head.dirty = true;
        head.last = Some(v);
        let sealed = &mut self.sealed;
        push(sealed, id, Tier::Raw, &mut head.blocks[0], ts, &[v]);
        let (minute, hour) = head.roll(ts, v);
        if let Some(m) = minute {
            push(
                sealed,
                id,
                Tier::Minute,
                &mut head.blocks[1],
                m.ts,
                &m.columns(),
            );
        }
        if let Some(h) = hour {
            push(
                sealed,
                id,
                Tier::Hour,
                &mut head.blocks[2],
                h.ts,
                &h.columns(),
            );
        }
        true
    }

    /// The texts of the registry run whose first id is `key`.
    fn run_texts(&self, key: u64) -> Option<Vec<String>> {
        let &(first, count) = self.runs.iter().find(|(first, _)| *first == key)?;
        let texts = self.series.get(first as usize..(first + count) as usize)?;
        Some(texts.iter().map(|m| m.series.clone()).collect())
    }

    /// The registry records for the series registered since the last commit, one per
    /// run of consecutive ids of one member: (first id, count, encoded run). Each
    /// copies from the largest earlier run of its cluster.
    fn pending_series_runs(&self) -> Vec<(u64, u64, Vec<u8>)> {
        let mut runs: Vec<(u64, u64, Vec<u8>)> = Vec::new();
        let mut i = 0;
        while i < self.pending_series.len() {
            let first = self.pending_series[i];
            let m = &self.series[first as usize];
            let mut j = i + 1;
            while j < self.pending_series.len() {
                let (prev, id) = (self.pending_series[j - 1], self.pending_series[j]);
                let next = &self.series[id as usize];
                if id != prev + 1 || next.cluster != m.cluster || next.member != m.member {
                    break;
                }
                j += 1;
            }
            let texts_of = |first: u64, count: u64| -> Vec<&str> {
                self.series[first as usize..(first + count) as usize]
                    .iter()
                    .map(|s| s.series.as_str())
                    .collect()
            };
            let base = self
                .runs
                .iter()
                .copied()
                .chain(runs.iter().map(|(first, count, _)| (*first, *count)))
                .filter(|(f, _)| self.series[*f as usize].cluster == m.cluster)
                .max_by_key(|(_, count)| *count);
            let base_texts = base.map(|(f, count)| (f, texts_of(f, count)));
            let count = (j - i) as u64;
            let run = SeriesRun::encode(
                &m.cluster,
                &m.member,
                &texts_of(first, count),
                base_texts.as_ref().map(|(f, t)| (*f, t.as_slice())),
            );
            runs.push((first, count, run));
            i = j;
        }
        runs
    }
}

/// Appends to a tier's open block, sealing it first when `ts` is past its window.
fn push(
    sealed: &mut Vec<Sealed>,
    id: u64,
    tier: Tier,
    open: &mut OpenBlock,
    ts: i64,
    values: &[f64],
) {
    let window = floor(ts, tier.block_ms());
    if !open.enc.is_empty() && open.start != window {
        let full = std::mem::replace(&mut open.enc, BlockEncoder::new(tier.columns()));
        sealed.push(Sealed {
            tier,
            series: id,
            start: open.start,
            bytes: full.to_bytes(),
        });
    }
    if open.enc.is_empty() {
        open.start = window;
    }
    open.enc.push(ts, values);
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
