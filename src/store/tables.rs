//! The store's own redb tables: their definitions, and the one list of them
//! ([`ID_TABLES`] with `meta` and the tiers' block tables) that the open-time walk,
//! the tables a new file is created with and `Store::stats` all read. A new table of
//! the store's own is added here and read and written where its state lives. Other modules'
//! plain records are in tables they name (see [`super::record_tables`]).

use redb::{ReadableTable, TableDefinition, TableHandle};

use super::{Result, Tier};

pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The series registry: runs of series (see [`super::records::SeriesRun`]), keyed by first id.
pub(super) const SERIES: TableDefinition<u64, &[u8]> = TableDefinition::new("series_runs");
/// The registry of schemas 2 and 3 (runs without copies): read, never written.
pub(super) const SERIES_FRONT_CODED: TableDefinition<u64, &[u8]> = TableDefinition::new("series");
pub(super) const HEAD: TableDefinition<u64, &[u8]> = TableDefinition::new("head");
pub(super) const HEAD_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("head_log");
/// The write-ahead log of schema 4 (see [`super::records::WalRecord`]).
pub(super) const WAL: TableDefinition<u64, &[u8]> = TableDefinition::new("wal_runs");
/// The per-sample log of schemas 2 and 3: replayed after an upgrade, then emptied.
pub(super) const WAL_PER_SAMPLE: TableDefinition<u64, &[u8]> = TableDefinition::new("wal");
/// The outbox (see [`super::outbox`]): self-contained records of accepted samples,
/// by sequence, kept until every reader has shipped them.
pub(super) const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
pub(super) const RAW: TableDefinition<(u64, i64), &[u8]> = TableDefinition::new("blocks_raw");
pub(super) const MINUTE: TableDefinition<(u64, i64), &[u8]> = TableDefinition::new("blocks_1m");
pub(super) const HOUR: TableDefinition<(u64, i64), &[u8]> = TableDefinition::new("blocks_1h");

/// The store's own tables keyed by a plain id: all but `meta` and the block tiers
/// ([`Tier::table`]), in the order `store stats` lists them.
pub(super) const ID_TABLES: [TableDefinition<u64, &[u8]>; 7] = [
    SERIES,
    SERIES_FRONT_CODED,
    HEAD,
    HEAD_LOG,
    WAL,
    WAL_PER_SAMPLE,
    OUTBOX,
];

/// The names of the store's own tables (those [`walk_typed`] walks), in the order
/// `store stats` lists them.
pub(super) fn own_table_names() -> Vec<String> {
    let mut names = vec![META.name().to_string()];
    names.extend(ID_TABLES.iter().map(|t| t.name().to_string()));
    names.extend(Tier::ALL.iter().map(|t| t.table().name().to_string()));
    names
}

/// Creates every table of the store's own that `tx`'s file lacks (`Store::load`, on
/// every open: a new file has them all, the two legacy ones empty).
pub(super) fn create(tx: &redb::WriteTransaction) -> Result<()> {
    for t in ID_TABLES {
        tx.open_table(t)?;
    }
    for t in Tier::ALL {
        tx.open_table(t.table())?;
    }
    Ok(())
}

/// A table of `tx`, or `None` when the file has none (a read-only look at a file an
/// older version wrote, which lacks this version's tables).
pub(super) fn open_opt<K: redb::Key + 'static, V: redb::Value + 'static>(
    tx: &redb::ReadTransaction,
    def: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>> {
    match tx.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Tables of our own types: walked as those types (the other modules' records are
/// all [`RecordTable`](super::record_tables::RecordTable)s).
pub(super) fn walk_typed(tx: &redb::ReadTransaction) -> Result<()> {
    if let Some(meta) = open_opt(tx, META)? {
        for row in meta.iter()? {
            row?;
        }
    }
    for table in ID_TABLES {
        if let Some(t) = open_opt(tx, table)? {
            for row in t.iter()? {
                row?;
            }
        }
    }
    for tier in Tier::ALL {
        if let Some(t) = open_opt(tx, tier.table())? {
            for row in t.iter()? {
                row?;
            }
        }
    }
    Ok(())
}
