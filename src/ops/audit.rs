//! The audit trail of changes made to clusters: one postcard record per change in
//! the store's `audit` table. Values and passwords are never recorded: a record says
//! who did what to which key or member, and how it ended.

use serde::{Deserialize, Serialize};

use super::Result;
use crate::store::Store;

pub const TABLE: &str = "audit";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at_unix_ms: i64,
    /// The OS user who ran the command.
    pub actor: String,
    /// "ctl" now; the web layer will write "web".
    pub source: String,
    /// Cluster name, or the endpoints when the cluster was given by endpoints.
    pub cluster: String,
    /// e.g. "member remove", "put", "defrag".
    pub action: String,
    /// What was acted on: a key (escaped when binary), a member id, a revision.
    pub target: String,
    /// "ok" or the error message.
    pub outcome: String,
}

/// Big-endian time then a random suffix: records scan in time order, and two in
/// the same millisecond do not overwrite each other.
pub fn key(at_unix_ms: i64, suffix: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&(at_unix_ms.max(0) as u64).to_be_bytes());
    k[8..].copy_from_slice(&suffix.to_be_bytes());
    k
}

/// The trail keeps this many records, the newest: years of changes made by hand,
/// a few tens of MB at most.
pub const MAX_RECORDS: u64 = 100_000;

pub fn write(store: &Store, record: &AuditRecord) -> Result<()> {
    write_bounded(store, record, MAX_RECORDS)
}

fn write_bounded(store: &Store, record: &AuditRecord, keep_at_most: u64) -> Result<()> {
    let k = key(record.at_unix_ms, fastrand::u64(..));
    let v = postcard::to_allocvec(record).expect("postcard encodes plain structs");
    store.write_records(&[(TABLE, &k, Some(&v))])?;
    store.trim_records(TABLE, &[], keep_at_most)?;
    Ok(())
}

/// Records in time order, oldest first (at most `limit`). A record that does not
/// decode (damaged, or written by another version) is left out with a warning
/// rather than hiding the rest of the trail.
pub fn read(store: &Store, limit: usize) -> Result<Vec<AuditRecord>> {
    let rows = store.scan_records(TABLE, &[], None, limit, false)?;
    Ok(rows
        .iter()
        .filter_map(|(k, v)| match postcard::from_bytes(v) {
            Ok(record) => Some(record),
            Err(e) => {
                tracing::warn!("audit record {}: {e}; left out", crate::ops::browse::hex(k));
                None
            }
        })
        .collect())
}

/// The OS user running this process: $USER or $LOGNAME, else the uid.
pub fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        // SAFETY: geteuid has no preconditions and cannot fail.
        .unwrap_or_else(|| format!("uid {}", unsafe { libc::geteuid() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Retention;

    #[test]
    fn the_trail_is_bounded_and_a_bad_record_hides_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb"), Retention::default()).unwrap();
        let record = |i: i64| AuditRecord {
            at_unix_ms: 1_700_000_000_000 + i,
            actor: "root".into(),
            source: "ctl".into(),
            cluster: "c".into(),
            action: "put".into(),
            target: format!("/k{i}"),
            outcome: "ok".into(),
        };
        for i in 0..8 {
            write_bounded(&store, &record(i), 5).unwrap();
        }
        let kept = read(&store, 100).unwrap();
        let targets: Vec<_> = kept.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(targets, ["/k3", "/k4", "/k5", "/k6", "/k7"]);
        // Garbage between them: left out, the others still read.
        let k = key(1_700_000_000_005, 1);
        store
            .write_records(&[(TABLE, &k[..], Some(&[0xff, 0xff, 0xff][..]))])
            .unwrap();
        assert_eq!(read(&store, 100).unwrap().len(), 5);
    }

    #[test]
    fn keys_sort_by_time() {
        let a = key(1_000, u64::MAX);
        let b = key(1_001, 0);
        assert!(a < b);
    }
}
