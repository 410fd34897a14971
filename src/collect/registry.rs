//! Clusters added at run time (the dashboard, the API), kept in the store's
//! `cluster_registry` table so that they are monitored again after a restart.
//! Each record is the cluster's settings as JSON: secrets only by reference (a
//! password's file or environment variable, TLS files' paths), as in the config.

use crate::etcd::ClusterConfig;
use crate::store::{Result, Store};

pub const TABLE: &str = "cluster_registry";

/// The most clusters the registry holds.
pub const MAX_CLUSTERS: usize = 5_000;

/// The registered clusters, by name. A record this version cannot read (written
/// by a newer one, or damaged) is skipped with a warning, and left as it is.
pub fn load(store: &Store) -> Result<Vec<ClusterConfig>> {
    let rows = store.scan_records(TABLE, &[], None, MAX_CLUSTERS, false)?;
    Ok(rows
        .into_iter()
        .filter_map(|(k, v)| match serde_json::from_slice::<ClusterConfig>(&v) {
            Ok(c) if c.name.as_bytes() == k.as_slice() => Some(c),
            Ok(c) => {
                tracing::warn!(
                    "cluster registry: a record keyed {:?} names {:?}; skipped",
                    String::from_utf8_lossy(&k),
                    c.name
                );
                None
            }
            Err(e) => {
                tracing::warn!(
                    "cluster registry: the record of {:?} is unreadable ({e}); skipped",
                    String::from_utf8_lossy(&k)
                );
                None
            }
        })
        .collect())
}

/// Registers `cluster`, or replaces the record of that name.
pub fn save(store: &Store, cluster: &ClusterConfig) -> Result<()> {
    let v = serde_json::to_vec(cluster).expect("cluster settings serialise");
    store.write_records(&[(TABLE, cluster.name.as_bytes(), Some(&v))])
}

/// Forgets `name`.
pub fn delete(store: &Store, name: &str) -> Result<()> {
    store.write_records(&[(TABLE, name.as_bytes(), None)])
}

/// How many clusters are registered.
pub fn count(store: &Store) -> Result<u64> {
    store.count_records(TABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_clusters_survive_a_reopen_and_bad_records_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = ClusterConfig::plain("east", vec!["http://127.0.0.1:2379".into()]);
        c.tags = vec!["prod".into()];
        {
            let store = Store::open_dir(dir.path(), Default::default()).unwrap();
            save(&store, &c).unwrap();
            save(
                &store,
                &ClusterConfig::plain("west", vec!["http://127.0.0.1:1".into()]),
            )
            .unwrap();
            delete(&store, "west").unwrap();
            store
                .write_records(&[(TABLE, b"junk", Some(b"{not json"))])
                .unwrap();
            let mut other = c.clone();
            other.name = "elsewhere".into();
            let v = serde_json::to_vec(&other).unwrap();
            store
                .write_records(&[(TABLE, b"mislabelled", Some(&v))])
                .unwrap();
        }
        let store = Store::open_dir(dir.path(), Default::default()).unwrap();
        let loaded = load(&store).unwrap();
        assert_eq!(loaded.len(), 1, "{loaded:?}");
        assert_eq!(loaded[0].name, "east");
        assert_eq!(loaded[0].tags, ["prod"]);
        assert_eq!(
            count(&store).unwrap(),
            3,
            "the unreadable records are left as they are"
        );
    }
}
