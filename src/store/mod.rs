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
pub mod query;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use codec::BlockEncoder;
pub use query::{Aggregate, HistoryQuery, SeriesPoints};
pub use writer::{StoreWriter, WriterHandle};

/// Version of the file's layout; a file with a higher one is refused.
pub const SCHEMA_VERSION: u32 = 1;
pub const FILE_NAME: &str = "etcd-monitor.redb";

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const SERIES: TableDefinition<u64, &[u8]> = TableDefinition::new("series");
const HEAD: TableDefinition<u64, &[u8]> = TableDefinition::new("head");
const WAL: TableDefinition<u64, &[u8]> = TableDefinition::new("wal");
const RAW: TableDefinition<(u64, i64), &[u8]> = TableDefinition::new("blocks_raw");
const MINUTE: TableDefinition<(u64, i64), &[u8]> = TableDefinition::new("blocks_1m");
const HOUR: TableDefinition<(u64, i64), &[u8]> = TableDefinition::new("blocks_1h");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store file {path} is in use by another process (is `etcd-monitor serve` running? then ask its API: GET /api/v1/store)")]
    InUse { path: PathBuf },
    #[error("store file {path} has schema version {found}; this etcd-monitor reads up to {SCHEMA_VERSION}: upgrade etcd-monitor, or point --data-dir elsewhere. The file was not changed.")]
    NewerSchema { path: PathBuf, found: u32 },
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

/// A storage tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Raw,
    #[serde(rename = "1m")]
    Minute,
    #[serde(rename = "1h")]
    Hour,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Raw, Tier::Minute, Tier::Hour];

    /// Time window of one block.
    pub fn block_ms(self) -> i64 {
        match self {
            Tier::Raw => 2 * 3_600_000,
            Tier::Minute => 6 * 3_600_000,
            Tier::Hour => 7 * 86_400_000,
        }
    }

    /// Width of one point (0: raw samples).
    pub fn step_ms(self) -> i64 {
        match self {
            Tier::Raw => 0,
            Tier::Minute => 60_000,
            Tier::Hour => 3_600_000,
        }
    }

    fn columns(self) -> usize {
        match self {
            Tier::Raw => 1,
            _ => 5,
        }
    }

    fn table(self) -> TableDefinition<'static, (u64, i64), &'static [u8]> {
        match self {
            Tier::Raw => RAW,
            Tier::Minute => MINUTE,
            Tier::Hour => HOUR,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Tier::Raw => "raw",
            Tier::Minute => "1m",
            Tier::Hour => "1h",
        }
    }
}

/// How long each tier is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub raw: Duration,
    pub minute: Duration,
    pub hour: Duration,
}

impl Retention {
    pub fn of(&self, tier: Tier) -> Duration {
        match tier {
            Tier::Raw => self.raw,
            Tier::Minute => self.minute,
            Tier::Hour => self.hour,
        }
    }
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            raw: Duration::from_secs(2 * 86_400),
            minute: Duration::from_secs(30 * 86_400),
            hour: Duration::from_secs(400 * 86_400),
        }
    }
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

/// A point of any tier: a raw sample is a point whose min = max = sum = last and count = 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub ts: i64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub count: f64,
    pub last: f64,
}

impl Point {
    /// A raw sample as a point.
    pub fn sample(ts: i64, v: f64) -> Point {
        Point {
            ts,
            min: v,
            max: v,
            sum: v,
            count: 1.0,
            last: v,
        }
    }

    fn columns(&self) -> [f64; 5] {
        [self.min, self.max, self.sum, self.count, self.last]
    }

    /// Folds a later point of the same bucket in.
    fn merge(&mut self, later: &Point) {
        self.min = self.min.min(later.min);
        self.max = self.max.max(later.max);
        self.sum += later.sum;
        self.count += later.count;
        self.last = later.last;
    }
}

#[derive(Debug, Clone)]
struct OpenBlock {
    start: i64,
    enc: BlockEncoder,
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

#[derive(Serialize, Deserialize)]
struct HeadState {
    blocks: Vec<(i64, Vec<u8>)>,
    minute: Option<Point>,
    hour: Option<Point>,
    last: Option<f64>,
}

#[derive(Serialize, Deserialize)]
/// One ingested batch in the write-ahead log: `at_ms` as a zig-zag varint, then per
/// sample a varint of (zig-zag id delta << 1 | value changed), followed by the value
/// (8 bytes) only when it differs from the series' previous one. An unchanged
/// sample costs one byte instead of nine.
struct WalRecord {
    at_ms: i64,
    samples: Vec<(u64, f64)>,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8], pos: &mut usize) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes
            .get(*pos)
            .ok_or_else(|| StoreError::Corrupt("log record ends early".into()))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(StoreError::Corrupt("log record: varint too long".into()))
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

impl WalRecord {
    fn start(at_ms: i64, samples: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + samples * 2);
        put_varint(&mut out, zigzag(at_ms));
        out
    }

    /// Appends one sample; `before` is the series' value before it.
    fn push(out: &mut Vec<u8>, prev_id: &mut u64, id: u64, v: f64, before: Option<f64>) {
        let changed = before.is_none_or(|p| p.to_bits() != v.to_bits());
        let delta = zigzag(id.wrapping_sub(*prev_id) as i64);
        put_varint(out, (delta << 1) | u64::from(changed));
        if changed {
            out.extend_from_slice(&v.to_le_bytes());
        }
        *prev_id = id;
    }

    fn decode(bytes: &[u8], previous: impl Fn(u64) -> Option<f64>) -> Result<WalRecord> {
        let mut pos = 0;
        let at_ms = unzigzag(get_varint(bytes, &mut pos)?);
        let mut samples = Vec::new();
        let mut prev_id = 0u64;
        while pos < bytes.len() {
            let tag = get_varint(bytes, &mut pos)?;
            let id = prev_id.wrapping_add(unzigzag(tag >> 1) as u64);
            let v = if tag & 1 == 1 {
                let raw: [u8; 8] = bytes
                    .get(pos..pos + 8)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| StoreError::Corrupt("log record ends early".into()))?;
                pos += 8;
                f64::from_le_bytes(raw)
            } else {
                previous(id).ok_or_else(|| {
                    StoreError::Corrupt(format!("log record repeats series {id} without a value"))
                })?
            };
            samples.push((id, v));
            prev_id = id;
        }
        Ok(WalRecord { at_ms, samples })
    }
}

impl SeriesHead {
    fn new() -> Self {
        let open = |t: Tier| OpenBlock {
            start: 0,
            enc: BlockEncoder::new(t.columns()),
        };
        SeriesHead {
            blocks: [open(Tier::Raw), open(Tier::Minute), open(Tier::Hour)],
            minute: None,
            hour: None,
            last: None,
            dirty: false,
        }
    }

    fn state(&self) -> HeadState {
        HeadState {
            blocks: self
                .blocks
                .iter()
                .map(|b| (b.start, b.enc.to_bytes()))
                .collect(),
            minute: self.minute,
            hour: self.hour,
            last: self.last,
        }
    }

    fn from_state(s: HeadState) -> Result<Self> {
        let mut head = SeriesHead::new();
        if s.blocks.len() != 3 {
            return Err(StoreError::Corrupt("head state without 3 tiers".into()));
        }
        for (slot, (start, bytes)) in head.blocks.iter_mut().zip(s.blocks) {
            slot.start = start;
            slot.enc = BlockEncoder::from_bytes(&bytes)?;
        }
        head.minute = s.minute;
        head.hour = s.hour;
        head.last = s.last;
        Ok(head)
    }
}

/// A block sealed in memory, written at the next checkpoint.
struct Sealed {
    tier: Tier,
    series: u64,
    start: i64,
    bytes: Vec<u8>,
}

fn floor(ts: i64, step: i64) -> i64 {
    ts - ts.rem_euclid(step)
}

#[derive(Default)]
struct Inner {
    /// cluster -> member -> series text -> id
    ids: HashMap<String, HashMap<String, HashMap<String, u64>>>,
    series: HashMap<u64, SeriesMeta>,
    next_id: u64,
    heads: HashMap<u64, SeriesHead>,
    sealed: Vec<Sealed>,
    /// Written to memory, not yet committed (a failed write is retried).
    pending_wal: Vec<(u64, Vec<u8>)>,
    pending_series: Vec<u64>,
    next_wal: u64,
    wal_records: u64,
    samples_ingested_total: u64,
    samples_dropped_total: u64,
}

/// Health of the store, shown in `/api/v1/health`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreHealth {
    pub last_error: Option<String>,
    pub write_errors_total: u64,
    pub last_checkpoint_ms: Option<i64>,
    pub last_compaction_ms: Option<i64>,
}

/// Opens the database again after a failed write: redb refuses further writes on a
/// handle that saw an I/O error until it is reopened.
type Opener = Box<dyn Fn() -> std::result::Result<Database, redb::DatabaseError> + Send + Sync>;

pub struct Store {
    path: PathBuf,
    /// `None` only between a failed write and a successful reopen.
    db: RwLock<Option<Database>>,
    opener: Opener,
    inner: Mutex<Inner>,
    retention: Retention,
    health: Mutex<StoreHealth>,
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
    pub health: StoreHealth,
}

fn closed() -> StoreError {
    StoreError::Db("the store file is closed after a write failure; retrying".into())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent-enough data (append-only);
    // keep monitoring rather than poison every later call.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Checks an existing file without writing to it, before the read-write open:
/// redb's read-write open rewrites the header and allocator state even when nothing
/// is committed, and may panic on pages corrupted outside redb. So the schema version
/// is read, and every table walked, through a read-only open first, with a panic
/// taken as corruption. A file that was not shut down cleanly (killed) cannot be
/// opened read-only; it goes on to the read-write open, which repairs it.
fn preflight(path: &Path) -> Result<()> {
    let walk = || -> Result<Option<u32>> {
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
        match tx.open_table(META) {
            Ok(meta) => {
                for row in meta.iter()? {
                    let (k, v) = row?;
                    if k.value() == "schema_version" {
                        version = Some(decode::<u32>("schema_version", v.value())?);
                    }
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.into()),
        }
        if version.is_some_and(|v| v > SCHEMA_VERSION) {
            return Ok(version);
        }
        for table in [SERIES, HEAD, WAL] {
            match tx.open_table(table) {
                Ok(t) => {
                    for row in t.iter()? {
                        row?;
                    }
                }
                Err(redb::TableError::TableDoesNotExist(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        for tier in Tier::ALL {
            match tx.open_table(tier.table()) {
                Ok(t) => {
                    for row in t.iter()? {
                        row?;
                    }
                }
                Err(redb::TableError::TableDoesNotExist(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(version)
    };
    let named = |e: StoreError| match e {
        StoreError::Corrupt(m) => StoreError::Corrupt(format!("{}: {m}", path.display())),
        StoreError::Db(m) => StoreError::Db(format!("{}: {m}", path.display())),
        other => other,
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(walk)) {
        Ok(Ok(Some(found))) if found > SCHEMA_VERSION => Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
        }),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(named(e)),
        Err(_) => Err(StoreError::Corrupt(format!(
            "{}: redb failed reading its pages",
            path.display()
        ))),
    }
}

impl Store {
    /// Opens (or creates) `DIR/etcd-monitor.redb`.
    pub fn open_dir(dir: &Path, retention: Retention) -> Result<Store> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Db(format!("cannot create {}: {e}", dir.display())))?;
        Store::open(&dir.join(FILE_NAME), retention)
    }

    /// Opens (or creates) the store file. A file of a newer schema, or one redb cannot
    /// read, is refused and left as it is.
    pub fn open(path: &Path, retention: Retention) -> Result<Store> {
        if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
            preflight(path)?;
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
            db: RwLock::new(Some(db)),
            opener,
            inner: Mutex::new(Inner::default()),
            retention,
            health: Mutex::new(StoreHealth::default()),
        };
        store.load()?;
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

    fn load(&self) -> Result<()> {
        let guard = self.db()?;
        let db = guard.as_ref().ok_or_else(closed)?;
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
                    Some(_) => {}
                    None => {
                        meta.insert("schema_version", encode(&SCHEMA_VERSION).as_slice())?;
                    }
                }
                tx.open_table(SERIES)?;
                tx.open_table(HEAD)?;
                tx.open_table(WAL)?;
                for t in Tier::ALL {
                    tx.open_table(t.table())?;
                }
            }
            tx.commit()?;
        }
        let tx = db.begin_read()?;
        let mut inner = lock(&self.inner);
        for row in tx.open_table(SERIES)?.iter()? {
            let (id, meta) = row?;
            let meta: SeriesMeta = decode("series", meta.value())?;
            inner
                .ids
                .entry(meta.cluster.clone())
                .or_default()
                .entry(meta.member.clone())
                .or_default()
                .insert(meta.series.clone(), id.value());
            inner.next_id = inner.next_id.max(id.value() + 1);
            inner.series.insert(id.value(), meta);
        }
        for row in tx.open_table(HEAD)?.iter()? {
            let (id, state) = row?;
            let head = SeriesHead::from_state(decode("head", state.value())?)
                .map_err(|e| StoreError::Corrupt(format!("head of series {}: {e}", id.value())))?;
            inner.heads.insert(id.value(), head);
        }
        let meta = tx.open_table(META)?;
        let get_u64 = |k: &str| -> Result<u64> {
            Ok(meta
                .get(k)?
                .map(|v| decode::<u64>(k, v.value()))
                .transpose()?
                .unwrap_or(0))
        };
        inner.samples_ingested_total = get_u64("samples_ingested_total")?;
        let compacted = get_u64("last_compaction_ms")?;
        // Replay what was ingested after the last checkpoint.
        let wal = tx.open_table(WAL)?;
        let mut replayed = 0;
        for row in wal.iter()? {
            let (seq, rec) = row?;
            // Decoded against the head as replayed so far: the state it was written against.
            let rec = {
                let heads = &inner.heads;
                WalRecord::decode(rec.value(), |id| heads.get(&id).and_then(|h| h.last))?
            };
            for (id, v) in &rec.samples {
                inner.append(*id, rec.at_ms, *v);
            }
            inner.samples_ingested_total += rec.samples.len() as u64;
            inner.next_wal = seq.value() + 1;
            replayed += 1;
        }
        inner.wal_records = replayed;
        if replayed > 0 {
            tracing::info!(records = replayed, "store: replayed the write-ahead log");
        }
        drop(inner);
        let mut health = lock(&self.health);
        health.last_compaction_ms = (compacted > 0).then_some(compacted as i64);
        Ok(())
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
            let mut bytes = WalRecord::start(batch.at_ms, batch.samples.len());
            let mut prev_id = 0;
            let mut accepted = 0;
            for (series, value) in &batch.samples {
                let id = inner.id_for(&batch.cluster, &batch.member, series);
                let before = inner.heads.get(&id).and_then(|h| h.last);
                if inner.append(id, batch.at_ms, *value) {
                    WalRecord::push(&mut bytes, &mut prev_id, id, *value, before);
                    accepted += 1;
                }
            }
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
        let tx = db.begin_write()?;
        {
            let mut series = tx.open_table(SERIES)?;
            for id in &inner.pending_series {
                series.insert(*id, encode(&inner.series[id]).as_slice())?;
            }
            let mut wal = tx.open_table(WAL)?;
            for (seq, rec) in &inner.pending_wal {
                wal.insert(*seq, rec.as_slice())?;
            }
        }
        tx.commit()?;
        inner.wal_records += inner.pending_wal.len() as u64;
        inner.pending_series.clear();
        inner.pending_wal.clear();
        Ok(())
    }

    /// Writes the sealed blocks and the head's state, and empties the log.
    pub fn checkpoint(&self) -> Result<()> {
        let result = self.checkpoint_inner();
        match &result {
            Ok(()) => {
                self.record_success();
                lock(&self.health).last_checkpoint_ms = Some(crate::unix_ms_now());
            }
            Err(e) => self.record_error("checkpoint", e),
        }
        result
    }

    fn checkpoint_inner(&self) -> Result<()> {
        let mut inner = lock(&self.inner);
        let guard = self.db()?;
        let db = guard.as_ref().ok_or_else(closed)?;
        let tx = db.begin_write()?;
        {
            let mut series = tx.open_table(SERIES)?;
            for id in &inner.pending_series {
                series.insert(*id, encode(&inner.series[id]).as_slice())?;
            }
            for s in &inner.sealed {
                tx.open_table(s.tier.table())?
                    .insert((s.series, s.start), s.bytes.as_slice())?;
            }
            let mut head = tx.open_table(HEAD)?;
            for (id, h) in inner.heads.iter().filter(|(_, h)| h.dirty) {
                head.insert(*id, encode(&h.state()).as_slice())?;
            }
            // Everything in the log is now in the head's state or in sealed blocks.
            tx.open_table(WAL)?.retain(|_, _| false)?;
            tx.open_table(META)?.insert(
                "samples_ingested_total",
                encode(&inner.samples_ingested_total).as_slice(),
            )?;
        }
        tx.commit()?;
        inner.sealed.clear();
        inner.pending_series.clear();
        inner.pending_wal.clear();
        inner.wal_records = 0;
        for h in inner.heads.values_mut() {
            h.dirty = false;
        }
        Ok(())
    }

    /// Deletes blocks past retention (as of `now_ms`), then compacts the file if
    /// anything was deleted. Returns the number of blocks deleted.
    pub fn maintain(&self, now_ms: i64) -> Result<u64> {
        self.checkpoint()?;
        let mut deleted = 0u64;
        {
            let guard = self.db()?;
            let db = guard.as_ref().ok_or_else(closed)?;
            let tx = db.begin_write()?;
            for tier in Tier::ALL {
                let cutoff = now_ms - self.retention.of(tier).as_millis() as i64;
                let mut table = tx.open_table(tier.table())?;
                table.retain(|(_, start), _| {
                    let expired = start + tier.block_ms() <= cutoff;
                    deleted += u64::from(expired);
                    !expired
                })?;
            }
            tx.commit()?;
        }
        if deleted > 0 {
            self.compact()?;
        }
        Ok(deleted)
    }

    /// Compacts when more than half of a file over 4 MiB is free pages: checkpoints
    /// rewrite the head and empty the log, and redb never shrinks a file by itself.
    /// Returns whether it compacted.
    pub fn compact_if_sparse(&self) -> Result<bool> {
        let used = {
            let guard = self.db()?;
            let db = guard.as_ref().ok_or_else(closed)?;
            let tx = db.begin_write()?;
            let stats = tx.stats()?;
            tx.abort()?;
            stats.allocated_pages() * stats.page_size() as u64
        };
        let file = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        if file > 4 << 20 && file > 2 * used {
            self.compact()?;
            return Ok(true);
        }
        Ok(false)
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
        lock(&self.health).last_compaction_ms = Some(now);
        Ok(())
    }

    /// Series of `cluster` (optionally of one member, with names containing `filter`).
    pub fn list_series(
        &self,
        cluster: &str,
        member: Option<&str>,
        filter: Option<&str>,
    ) -> Vec<(u64, SeriesMeta)> {
        let inner = lock(&self.inner);
        let mut out: Vec<(u64, SeriesMeta)> = inner
            .series
            .iter()
            .filter(|(_, m)| m.cluster == cluster)
            .filter(|(_, m)| member.is_none_or(|w| m.member == w))
            .filter(|(_, m)| filter.is_none_or(|f| m.series.contains(f)))
            .map(|(id, m)| (*id, m.clone()))
            .collect();
        out.sort_by(|a, b| (&a.1.member, &a.1.series).cmp(&(&b.1.member, &b.1.series)));
        out
    }

    /// Points of series `id` in `tier` with `from <= ts < to`, in time order:
    /// stored blocks, blocks sealed since the last checkpoint, then the head.
    pub fn read(&self, id: u64, tier: Tier, from: i64, to: i64) -> Result<Vec<Point>> {
        let mut points = Vec::new();
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
            let first = floor(from, tier.block_ms()) - tier.block_ms();
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
        if let Some(h) = inner.heads.get(&id) {
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

    pub fn stats(&self) -> Result<StoreStats> {
        let file_bytes = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        let mut tiers = Vec::new();
        {
            let guard = self.db()?;
            let db = guard.as_ref().ok_or_else(closed)?;
            let tx = db.begin_read()?;
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
        for h in inner.heads.values() {
            for (t, open) in tiers.iter_mut().zip(&h.blocks) {
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
            head_series: inner.heads.len() as u64,
            wal_records: inner.wal_records,
            tiers,
            health: self.health(),
        })
    }

    /// Decodes every stored block and head; returns the problems found (empty: sound).
    pub fn check(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let guard = self.db()?;
        let db = guard.as_ref().ok_or_else(closed)?;
        let tx = db.begin_read()?;
        let known: Vec<u64> = lock(&self.inner).series.keys().copied().collect();
        for tier in Tier::ALL {
            for row in tx.open_table(tier.table())?.iter()? {
                let (key, bytes) = row?;
                let (id, start) = key.value();
                if !known.contains(&id) {
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
                        if b.timestamps
                            .iter()
                            .any(|t| floor(*t, tier.block_ms()) != start)
                        {
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
}

impl Inner {
    fn id_for(&mut self, cluster: &str, member: &str, series: &str) -> u64 {
        // Looked up without building a key string: this runs for every sample.
        if let Some(id) = self
            .ids
            .get(cluster)
            .and_then(|m| m.get(member))
            .and_then(|m| m.get(series))
        {
            return *id;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.ids
            .entry(cluster.to_string())
            .or_default()
            .entry(member.to_string())
            .or_default()
            .insert(series.to_string(), id);
        self.series.insert(
            id,
            SeriesMeta {
                cluster: cluster.to_string(),
                member: member.to_string(),
                series: series.to_string(),
            },
        );
        self.pending_series.push(id);
        id
    }

    /// Adds a sample to the head; false if it is not newer than the last one.
    fn append(&mut self, id: u64, ts: i64, v: f64) -> bool {
        let head = self.heads.entry(id).or_insert_with(SeriesHead::new);
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
        let sample = Point::sample(floor(ts, Tier::Minute.step_ms()), v);
        match &mut head.minute {
            Some(m) if m.ts == sample.ts => m.merge(&sample),
            slot => {
                if let Some(done) = slot.replace(sample) {
                    push(
                        sealed,
                        id,
                        Tier::Minute,
                        &mut head.blocks[1],
                        done.ts,
                        &done.columns(),
                    );
                    let hour_ts = floor(done.ts, Tier::Hour.step_ms());
                    match &mut head.hour {
                        Some(h) if h.ts == hour_ts => h.merge(&done),
                        slot => {
                            let started = Point {
                                ts: hour_ts,
                                ..done
                            };
                            if let Some(hour) = slot.replace(started) {
                                push(
                                    sealed,
                                    id,
                                    Tier::Hour,
                                    &mut head.blocks[2],
                                    hour.ts,
                                    &hour.columns(),
                                );
                            }
                        }
                    }
                }
            }
        }
        true
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
