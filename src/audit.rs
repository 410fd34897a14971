//! The audit trail: one postcard record per change, made from the command line
//! (`ctl`, `user`, `token`), the web pages or the API, in the store's `audit`
//! table. Values, passwords, tokens and session ids are never recorded: a record
//! says who did what to which key, member, silence, user or run, from where, and
//! how it ended.

use serde::{Deserialize, Serialize};

use crate::store::{Result, Store};

pub const TABLE: &str = "audit";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at_unix_ms: i64,
    /// Who: the OS user of a command, a dashboard user, or `token:NAME`.
    pub actor: String,
    /// Through what: "ctl" or "cli" (the command line), "web" (a page's form),
    /// "api" (the JSON API).
    pub source: String,
    /// Cluster name, the endpoints when the cluster was given by endpoints, or empty
    /// when the change concerns no cluster (a user, a token).
    pub cluster: String,
    /// e.g. "member remove", "put", "silence create", "login".
    pub action: String,
    /// What was acted on: a key (escaped when binary), a member id, a silence id, a
    /// user name.
    pub target: String,
    /// "ok" or the error message.
    pub outcome: String,
    /// From where: the client's address for the web and API, "local" for the
    /// command line. Last, so that records written before it existed still decode
    /// (see [`decode`]).
    #[serde(default)]
    pub address: String,
}

/// A record as versions before the address was kept wrote it.
impl AuditRecord {
    /// A record of something done now by `actor` through `source`, from `address`;
    /// the caller fills in what was done (`..AuditRecord::now(..)`).
    pub fn now(source: &str, actor: &str, address: &str) -> AuditRecord {
        AuditRecord {
            at_unix_ms: crate::unix_ms_now(),
            // Names come from forms and providers: bounded like every stored field.
            actor: actor.chars().take(128).collect(),
            source: source.into(),
            cluster: String::new(),
            action: String::new(),
            target: String::new(),
            outcome: String::new(),
            address: address.into(),
        }
    }

    /// A record of something done now on this machine's command line by its OS user.
    pub fn local(source: &str) -> AuditRecord {
        AuditRecord::now(source, &os_user(), "local")
    }
}

/// "ok", or the error's message.
pub fn outcome_of<T, E: std::fmt::Display>(result: &std::result::Result<T, E>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => e.to_string(),
    }
}

#[derive(Deserialize)]
struct RecordWithoutAddress {
    at_unix_ms: i64,
    actor: String,
    source: String,
    cluster: String,
    action: String,
    target: String,
    outcome: String,
}

/// Decodes a stored record, of this version or of one before `address` existed.
pub fn decode(bytes: &[u8]) -> std::result::Result<AuditRecord, postcard::Error> {
    postcard::from_bytes::<AuditRecord>(bytes).or_else(|e| {
        let old: RecordWithoutAddress = postcard::from_bytes(bytes).map_err(|_| e)?;
        Ok(AuditRecord {
            at_unix_ms: old.at_unix_ms,
            actor: old.actor,
            source: old.source,
            cluster: old.cluster,
            action: old.action,
            target: old.target,
            outcome: old.outcome,
            address: String::new(),
        })
    })
}

/// Big-endian time then a random suffix: records scan in time order, and two in
/// the same millisecond do not overwrite each other.
pub fn key(at_unix_ms: i64, suffix: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&(at_unix_ms.max(0) as u64).to_be_bytes());
    k[8..].copy_from_slice(&suffix.to_be_bytes());
    k
}

/// The trail keeps at most this many records, the newest, whatever the retention:
/// years of changes made by hand, a few tens of MB at most.
pub const MAX_RECORDS: u64 = 100_000;

/// How long records are kept unless `[store] audit_retention` says otherwise.
pub const DEFAULT_RETENTION: std::time::Duration = std::time::Duration::from_secs(400 * 86_400);

/// Records `record`, then drops those older than `retention` and the oldest beyond
/// [`MAX_RECORDS`].
pub fn write(store: &Store, record: &AuditRecord, retention: std::time::Duration) -> Result<()> {
    write_bounded(store, record, retention, MAX_RECORDS)
}

fn write_bounded(
    store: &Store,
    record: &AuditRecord,
    retention: std::time::Duration,
    keep_at_most: u64,
) -> Result<()> {
    let k = key(record.at_unix_ms, fastrand::u64(..));
    let v = postcard::to_allocvec(record).expect("postcard encodes plain structs");
    store.write_records(&[(TABLE, &k, Some(&v))])?;
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let oldest_kept = key(crate::unix_ms_now().saturating_sub(retention_ms), 0);
    store.trim_records(TABLE, &oldest_kept, keep_at_most)?;
    Ok(())
}

/// Where records go: the store and the retention applied at each write.
#[derive(Clone)]
pub struct Trail {
    pub store: std::sync::Arc<Store>,
    pub retention: std::time::Duration,
}

impl Trail {
    pub fn new(store: std::sync::Arc<Store>, retention: std::time::Duration) -> Trail {
        Trail { store, retention }
    }

    /// Records `record`; a failure is logged, not returned: the change it records
    /// is made, and failing now would make callers retry it.
    pub fn record(&self, record: &AuditRecord) {
        if let Err(e) = write(&self.store, record, self.retention) {
            tracing::warn!(
                "{} {} by {} was not recorded in the audit trail: {e}",
                record.action,
                record.target,
                record.actor
            );
        }
    }
}

/// Records in time order, oldest first (at most `limit`). A record that does not
/// decode (damaged, or written by another version) is left out with a warning
/// rather than hiding the rest of the trail.
pub fn read(store: &Store, limit: usize) -> Result<Vec<AuditRecord>> {
    let rows = store.scan_records(TABLE, &[], None, limit, false)?;
    Ok(rows
        .iter()
        .filter_map(|(k, v)| decode_or_warn(k, v))
        .collect())
}

fn decode_or_warn(k: &[u8], v: &[u8]) -> Option<AuditRecord> {
    match decode(v) {
        Ok(record) => Some(record),
        Err(e) => {
            tracing::warn!("audit record {}: {e}; left out", crate::ops::browse::hex(k));
            None
        }
    }
}

/// Which records [`query`] returns: every given field must match exactly (`since`
/// and `until` bound the time, `until` excluded).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub cluster: Option<String>,
    pub source: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

impl Filter {
    fn matches(&self, r: &AuditRecord) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&self.actor, &r.actor)
            && eq(&self.action, &r.action)
            && eq(&self.cluster, &r.cluster)
            && eq(&self.source, &r.source)
    }
}

/// Records scanned per step of [`query`].
const QUERY_BATCH: usize = 1_000;

/// The newest records matching `filter`, newest first, at most `limit`.
pub fn query(store: &Store, filter: &Filter, limit: usize) -> Result<Vec<AuditRecord>> {
    let from = key(filter.since_ms.unwrap_or(0), 0);
    let mut to: Option<Vec<u8>> = filter.until_ms.map(|t| key(t, 0).to_vec());
    let mut out = Vec::new();
    while out.len() < limit {
        let rows = store.scan_records(TABLE, &from, to.as_deref(), QUERY_BATCH, true)?;
        let Some((last, _)) = rows.last() else { break };
        let next_to = last.clone();
        for (k, v) in &rows {
            if let Some(r) = decode_or_warn(k, v) {
                if filter.matches(&r) && out.len() < limit {
                    out.push(r);
                }
            }
        }
        if rows.len() < QUERY_BATCH {
            break;
        }
        to = Some(next_to);
    }
    Ok(out)
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

    /// A second ago, fixed for the test run.
    fn base() -> i64 {
        static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
        *BASE.get_or_init(|| crate::unix_ms_now() - 1_000)
    }

    fn record(i: i64) -> AuditRecord {
        AuditRecord {
            at_unix_ms: base() + i,
            actor: if i % 2 == 0 { "root" } else { "ann" }.into(),
            source: "ctl".into(),
            cluster: "c".into(),
            action: "put".into(),
            target: format!("/k{i}"),
            outcome: "ok".into(),
            address: "local".into(),
        }
    }

    #[test]
    fn the_trail_is_bounded_and_a_bad_record_hides_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb"), Retention::default()).unwrap();
        for i in 0..8 {
            write_bounded(&store, &record(i), DEFAULT_RETENTION, 5).unwrap();
        }
        let kept = read(&store, 100).unwrap();
        let targets: Vec<_> = kept.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(targets, ["/k3", "/k4", "/k5", "/k6", "/k7"]);
        // Garbage between them: left out, the others still read.
        let k = key(kept[2].at_unix_ms, 1);
        store
            .write_records(&[(TABLE, &k[..], Some(&[0xff, 0xff, 0xff][..]))])
            .unwrap();
        assert_eq!(read(&store, 100).unwrap().len(), 5);
    }

    #[test]
    fn records_older_than_the_retention_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb"), Retention::default()).unwrap();
        let mut old = record(0);
        old.at_unix_ms -= 3_600_000;
        write(&store, &old, DEFAULT_RETENTION).unwrap();
        write(&store, &record(1), std::time::Duration::from_secs(60)).unwrap();
        let kept = read(&store, 100).unwrap();
        assert_eq!(kept, vec![record(1)]);
    }

    #[test]
    fn a_record_written_before_the_address_was_kept_still_reads() {
        #[derive(Serialize)]
        struct Old<'a>(i64, &'a str, &'a str, &'a str, &'a str, &'a str, &'a str);
        let bytes = postcard::to_allocvec(&Old(5, "root", "ctl", "c", "put", "/k", "ok")).unwrap();
        let r = decode(&bytes).unwrap();
        assert_eq!(
            (r.at_unix_ms, r.target.as_str(), r.address.as_str()),
            (5, "/k", "")
        );
        let new = record(3);
        assert_eq!(decode(&postcard::to_allocvec(&new).unwrap()).unwrap(), new);
        assert!(decode(&[0xff, 0xff]).is_err());
    }

    #[test]
    fn queries_filter_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb"), Retention::default()).unwrap();
        for i in 0..10 {
            write(&store, &record(i), DEFAULT_RETENTION).unwrap();
        }
        let ann = Filter {
            actor: Some("ann".into()),
            ..Filter::default()
        };
        let got: Vec<_> = query(&store, &ann, 3)
            .unwrap()
            .into_iter()
            .map(|r| r.target)
            .collect();
        assert_eq!(got, ["/k9", "/k7", "/k5"]);
        let window = Filter {
            since_ms: Some(record(2).at_unix_ms),
            until_ms: Some(record(4).at_unix_ms),
            ..Filter::default()
        };
        let got: Vec<_> = query(&store, &window, 100)
            .unwrap()
            .into_iter()
            .map(|r| r.target)
            .collect();
        assert_eq!(got, ["/k3", "/k2"]);
    }

    #[test]
    fn keys_sort_by_time() {
        let a = key(1_000, u64::MAX);
        let b = key(1_001, 0);
        assert!(a < b);
    }
}
