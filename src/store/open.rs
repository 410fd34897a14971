//! Opening the file: refusing what this build must not write to (a newer or a
//! pre-release schema, an empty file, one whose pages or records do not read), a
//! repair on a copy when redb wants one, reading the registry, the head and the
//! log into memory, and the upgrade of an older schema. A refused file is left byte
//! for byte as it was: every check before the read-write open is read-only.

use std::path::Path;
use std::sync::{Mutex, RwLock};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableHandle};

use super::record_tables::RecordTable;
use super::tables::{self, open_opt, own_table_names, walk_typed, META};
use super::{
    closed, decode, encode, lock, Inner, Result, Retention, Store, StoreError, StoreHealth,
    CACHE_BYTES,
};

/// Version of the file's layout; a file with a higher one is refused.
/// 2: series registry in front-coded runs, head state in page-sized values without the rollup
/// points in progress, log values as XOR bytes.
/// 3: head deltas (`head_log`) between whole writes of the head. A version 2 file is
/// read as it is (it has no deltas) and marked 3.
/// 4: the log in runs of series with a bitmap of changed values (`wal_runs`), the
/// registry with copies from an earlier run (`series_runs`), blocks in format 2 (see
/// [`codec`](super::codec)). The older tables (`wal`, `series`) are read, never
/// written; a file of version 2 or 3 is marked 4 when its head has been written again
/// in format 2.
pub const SCHEMA_VERSION: u32 = 4;
/// The oldest version this build opens.
pub(super) const OLDEST_READABLE_SCHEMA: u32 = 2;
pub const FILE_NAME: &str = "etcd-monitor.redb";

/// Opens the database again after a failed write: redb refuses further writes on a
/// handle that saw an I/O error until it is reopened.
pub(super) type Opener =
    Box<dyn Fn() -> std::result::Result<Database, redb::DatabaseError> + Send + Sync>;

/// Reads the registry, the head and the log into `inner`, as of `tx`; `older`: the
/// file is of an older schema (its head's streams in the first block format).
/// Returns the time of the last compaction (0: none). Runs on the read-only open of
/// the preflight too, so that a file whose records do not decode is refused before
/// anything writes to it.
pub(super) fn read_state(
    tx: &redb::ReadTransaction,
    inner: &mut Inner,
    older: bool,
) -> Result<u64> {
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
pub(super) fn verify_read_only(path: &Path) -> Result<bool> {
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
        let own = own_table_names();
        for name in names.iter().filter(|n| !own.contains(n)) {
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
        StoreError::Db { context, source } => StoreError::Db {
            context: if context.is_empty() {
                path.display().to_string()
            } else {
                format!("{}: {context}", path.display())
            },
            source,
        },
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
/// Gives `path` the owner and group of `like`, when it differs and this process
/// may (it is root); otherwise leaves it. Not an error when it cannot: the file
/// works for whoever made it.
fn owned_like(path: &Path, like: &std::fs::Metadata) {
    use std::os::unix::fs::MetadataExt;
    let Ok(now) = std::fs::metadata(path) else {
        return;
    };
    if (now.uid(), now.gid()) == (like.uid(), like.gid()) {
        return;
    }
    match std::os::unix::fs::chown(path, Some(like.uid()), Some(like.gid())) {
        Ok(()) => tracing::info!(
            path = %path.display(),
            uid = like.uid(),
            gid = like.gid(),
            "store: the file's owner set"
        ),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
        Err(e) => tracing::warn!(path = %path.display(), "store: cannot set the file's owner: {e}"),
    }
}

fn repair_on_a_copy(path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let io = |what: &str, source: std::io::Error| StoreError::Io {
        context: format!(
            "{} needs a repair, and {what} failed (the file was not changed)",
            path.display()
        ),
        source,
    };
    let copy = tempfile::Builder::new()
        .prefix(".etcd-monitor-repair-")
        .suffix(".redb")
        .tempfile_in(dir)
        .map_err(|e| io("making a copy to repair", e))?;
    // Copies the permission bits too; the owner is set apart (a repair run by root
    // must not leave the service's user locked out of its own file).
    std::fs::copy(path, copy.path()).map_err(|e| io("copying it to repair the copy", e))?;
    if let Ok(m) = std::fs::metadata(path) {
        owned_like(copy.path(), &m);
    }
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
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            context: format!("cannot create {}", dir.display()),
            source,
        })?;
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
        let existed = std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
        let file = path.to_path_buf();
        let store = Store::open_with(
            path,
            retention,
            Box::new(move || {
                let exists = std::fs::metadata(&file).is_ok_and(|m| m.len() > 0);
                let mut builder = Database::builder();
                builder.set_cache_size(CACHE_BYTES);
                if exists {
                    builder.open(&file)
                } else {
                    builder.create(&file)
                }
            }),
        )?;
        // A file root creates in another user's directory (`sudo etcd-monitor user
        // add` before the service first ran) belongs to that user, as the service
        // runs as them.
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if let (false, Ok(m)) = (existed, std::fs::metadata(dir)) {
            owned_like(path, &m);
        }
        Ok(store)
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
            other => StoreError::Db {
                context: path.display().to_string(),
                source: other.into(),
            },
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn owner(path: &Path) -> (u32, u32) {
        let m = std::fs::metadata(path).unwrap();
        (m.uid(), m.gid())
    }

    /// Run as root (as CI is), the files go to `nobody`; run as anyone else, they
    /// stay theirs: either way the owner is what the service would need.
    #[test]
    fn a_store_file_root_creates_or_repairs_keeps_its_directory_or_original_owner() {
        // SAFETY: geteuid and getegid cannot fail and touch no memory of ours.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let expected = if uid == 0 { (65534, 65534) } else { (uid, gid) };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if uid == 0 {
            std::os::unix::fs::chown(&data, Some(65534), Some(65534)).unwrap();
        }
        drop(Store::open_dir(&data, Retention::default()).unwrap());
        assert_eq!(owner(&data.join(FILE_NAME)), expected);

        // A copy (the repair's) takes the original's owner.
        let copy = dir.path().join("copy.redb");
        std::fs::copy(data.join(FILE_NAME), &copy).unwrap();
        assert_eq!(owner(&copy), (uid, gid));
        owned_like(&copy, &std::fs::metadata(data.join(FILE_NAME)).unwrap());
        assert_eq!(owner(&copy), expected);
    }
}
