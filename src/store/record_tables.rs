//! Plain records of other modules (alerts, silences, the notification log, benchmark
//! runs, the audit log) in tables they name: `&[u8]` keys sorted bytewise, `&[u8]`
//! values the owning module encodes. The store only puts, deletes, bounds and scans
//! them; what a record means is its module's business, so these tables need no
//! schema version of the store's.

use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};

use super::{closed, Result, Store};

/// One write of [`Store::write_records`]: (table, key, value to put or `None` to delete).
pub type RecordOp<'a> = (&'a str, &'a [u8], Option<&'a [u8]>);
/// Plain records of other modules, in tables they name.
pub(super) type RecordTable<'a> = TableDefinition<'a, &'static [u8], &'static [u8]>;

impl Store {
    /// Writes plain records of another module (alerts, silences, benchmark runs...) in
    /// one commit: `(table, key, Some(value))` puts, `(table, key, None)` deletes.
    /// Each module names its own tables; keys sort bytewise.
    pub fn write_records(&self, ops: &[RecordOp<'_>]) -> Result<()> {
        let guard = self.db()?;
        let db = guard.as_ref().ok_or_else(closed)?;
        let tx = db.begin_write()?;
        for (table, key, value) in ops {
            let mut t = tx.open_table(RecordTable::new(table))?;
            match value {
                Some(v) => {
                    t.insert(*key, *v)?;
                }
                None => {
                    t.remove(*key)?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Bounds a table of plain records whose keys sort oldest first: deletes every
    /// record with a key below `below`, then the oldest until at most `keep_at_most`
    /// remain, in one commit. Returns how many were deleted.
    pub fn trim_records(&self, table: &str, below: &[u8], keep_at_most: u64) -> Result<u64> {
        let guard = self.db()?;
        let db = guard.as_ref().ok_or_else(closed)?;
        let tx = db.begin_write()?;
        let deleted = {
            let mut t = tx.open_table(RecordTable::new(table))?;
            let mut deleted = 0u64;
            t.retain_in::<&[u8], _>(..below, |_, _| {
                deleted += 1;
                false
            })?;
            let excess = t.len()?.saturating_sub(keep_at_most);
            for _ in 0..excess {
                if t.pop_first()?.is_none() {
                    break;
                }
                deleted += 1;
            }
            deleted
        };
        if deleted > 0 {
            tx.commit()?;
        } else {
            tx.abort()?;
        }
        Ok(deleted)
    }

    /// How many plain records `table` holds.
    pub fn count_records(&self, table: &str) -> Result<u64> {
        let guard = self.db()?;
        let db = guard.as_ref().ok_or_else(closed)?;
        let tx = db.begin_read()?;
        match tx.open_table(RecordTable::new(table)) {
            Ok(t) => Ok(t.len()?),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// One plain record, if it is there.
    pub fn read_record(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let guard = self.db()?;
        let db = guard.as_ref().ok_or_else(closed)?;
        let tx = db.begin_read()?;
        let t = match tx.open_table(RecordTable::new(table)) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(t.get(key)?.map(|v| v.value().to_vec()))
    }

    /// Plain records with keys in `[from, to)` (`to` = `None`: to the end), at most
    /// `limit`, from the last when `newest_first`.
    pub fn scan_records(
        &self,
        table: &str,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let guard = self.db()?;
        let db = guard.as_ref().ok_or_else(closed)?;
        let tx = db.begin_read()?;
        let t = match tx.open_table(RecordTable::new(table)) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let range = match to {
            Some(to) => t.range::<&[u8]>(from..to)?,
            None => t.range::<&[u8]>(from..)?,
        };
        let mut out = Vec::new();
        let mut take = |row: std::result::Result<_, redb::StorageError>| -> Result<bool> {
            let (k, v): (redb::AccessGuard<&[u8]>, redb::AccessGuard<&[u8]>) = row?;
            out.push((k.value().to_vec(), v.value().to_vec()));
            Ok(out.len() < limit)
        };
        if newest_first {
            for row in range.rev() {
                if !take(row)? {
                    break;
                }
            }
        } else {
            for row in range {
                if !take(row)? {
                    break;
                }
            }
        }
        Ok(out)
    }
}
