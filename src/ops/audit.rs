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

pub fn write(store: &Store, record: &AuditRecord) -> Result<()> {
    let k = key(record.at_unix_ms, fastrand::u64(..));
    let v = postcard::to_allocvec(record).expect("postcard encodes plain structs");
    store.write_records(&[(TABLE, &k, Some(&v))])?;
    Ok(())
}

/// Records in time order, oldest first (at most `limit`).
pub fn read(store: &Store, limit: usize) -> Result<Vec<AuditRecord>> {
    let rows = store.scan_records(TABLE, &[], None, limit, false)?;
    rows.iter()
        .map(|(_, v)| {
            postcard::from_bytes(v)
                .map_err(|e| crate::store::StoreError::Corrupt(format!("audit record: {e}")).into())
        })
        .collect()
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
    #[test]
    fn keys_sort_by_time() {
        let a = super::key(1_000, u64::MAX);
        let b = super::key(1_001, 0);
        assert!(a < b);
    }
}
