//! The key browser's etcd clients: one per configured cluster, connected on first
//! use through the cluster's [`Connector`], kept while they work. The web layer
//! holds one [`ClusterClients`] for all its requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::browse::{self, BrowseError, KeyValue, Level, ListRequest};
use crate::etcd::ClusterConfig;
use crate::etcd::{Connector, EtcdError, Members};

/// A listing makes one call per dense folder and one count per folder, each with
/// the request deadline; this bounds the whole, so a slow cluster cannot hold a
/// page for limit × deadline.
const LISTING_DEADLINES: u32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum ClientsError {
    #[error("unknown cluster {0:?}")]
    UnknownCluster(String),
    /// Bad input; `param` names the parameter at fault.
    #[error("{param}: {message}")]
    Invalid {
        param: &'static str,
        message: String,
    },
    #[error("cluster {cluster} did not answer")]
    Unavailable {
        cluster: String,
        #[source]
        source: EtcdError,
    },
    #[error("cluster {cluster}: no complete answer within {after:?}")]
    Incomplete { cluster: String, after: Duration },
    #[error("cluster {cluster} has no key {key:?}")]
    NoKey { cluster: String, key: String },
    /// `browse_values = false` in the cluster's config.
    #[error("cluster {0} does not allow its values to be shown (browse_values = false in its [[clusters]] entry)")]
    ValuesForbidden(String),
}

pub type Result<T> = std::result::Result<T, ClientsError>;

struct ClusterClient {
    endpoints: Vec<String>,
    connector: Connector,
    /// `browse_values`: whether values may be read at all.
    browse_values: bool,
    /// Connected on first use (to the members that answer; a read goes on to the
    /// next member when one hangs later); forgotten after an error so the next
    /// request reconnects (and re-authenticates) instead of reusing a broken channel.
    client: Mutex<Option<Members>>,
}

impl ClusterClient {
    fn forget(&self) {
        *self.client.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// gRPC clients of the configured clusters, by name.
#[derive(Clone, Default)]
pub struct ClusterClients {
    clusters: Arc<std::sync::RwLock<HashMap<String, Arc<ClusterClient>>>>,
    timeouts: (Duration, Duration),
}

impl ClusterClients {
    /// Reads every cluster's TLS files and password now (a bad path fails at start);
    /// connects nothing yet.
    pub fn new(
        clusters: &[ClusterConfig],
        request_timeout: Duration,
        dial_timeout: Duration,
    ) -> std::result::Result<ClusterClients, EtcdError> {
        let all = ClusterClients {
            clusters: Arc::default(),
            timeouts: (request_timeout, dial_timeout),
        };
        for c in clusters {
            all.set(c)?;
        }
        Ok(all)
    }

    /// Adds `c`, or replaces the cluster of that name (its connection is made
    /// afresh). Reads its TLS files and password now.
    pub fn set(&self, c: &ClusterConfig) -> std::result::Result<(), EtcdError> {
        let (request_timeout, dial_timeout) = self.timeouts;
        let client = ClusterClient {
            endpoints: c.endpoints.clone(),
            connector: Connector::new(c, request_timeout, dial_timeout)?,
            browse_values: c.browse_values,
            client: Mutex::new(None),
        };
        self.write().insert(c.name.clone(), Arc::new(client));
        Ok(())
    }

    /// Forgets the cluster `name` (its connection closes with the last request using it).
    pub fn remove(&self, name: &str) {
        self.write().remove(name);
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<ClusterClient>>> {
        self.clusters.write().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, name: &str) -> Option<Arc<ClusterClient>> {
        self.clusters
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Runs `op` with the cluster's members (every call under the request
    /// deadline); the whole of it is bounded too.
    async fn run<T, F, Fut>(&self, name: &str, op: F) -> Result<T>
    where
        F: FnOnce(Members) -> Fut,
        Fut: std::future::Future<Output = browse::Result<T>>,
    {
        let cluster = self
            .get(name)
            .ok_or_else(|| ClientsError::UnknownCluster(name.to_string()))?;
        let unavailable = |source: EtcdError| {
            // A broken channel or an expired token: connect afresh next time.
            cluster.forget();
            ClientsError::Unavailable {
                cluster: name.to_string(),
                source,
            }
        };
        let cached = cluster
            .client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let client = match cached {
            Some(c) => c,
            None => {
                // Not under the lock: a hung connect must not queue every request.
                let c = cluster
                    .connector
                    .members(&cluster.endpoints)
                    .await
                    .map_err(unavailable)?;
                *cluster.client.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.clone());
                c
            }
        };
        let whole = cluster.connector.request_timeout() * LISTING_DEADLINES;
        match tokio::time::timeout(whole, op(client)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(BrowseError::Invalid { param, message })) => {
                Err(ClientsError::Invalid { param, message })
            }
            Ok(Err(BrowseError::Etcd(e))) => Err(unavailable(e)),
            Err(_) => {
                cluster.forget();
                Err(ClientsError::Incomplete {
                    cluster: name.to_string(),
                    after: whole,
                })
            }
        }
    }

    /// One level of the key tree under `req.prefix`.
    pub async fn list(&self, name: &str, req: ListRequest) -> Result<Level> {
        self.run(
            name,
            |members| async move { browse::list(&members, &req).await },
        )
        .await
    }

    /// One key and its value (cut at [`browse::DEFAULT_MAX_VALUE`]).
    /// A key's value, unless the cluster forbids showing values.
    pub async fn read(&self, name: &str, key: Vec<u8>) -> Result<KeyValue> {
        if self.get(name).is_some_and(|c| !c.browse_values) {
            return Err(ClientsError::ValuesForbidden(name.to_string()));
        }
        let found = self
            .run(name, |members| async move {
                browse::read(&members, &key, browse::DEFAULT_MAX_VALUE)
                    .await
                    .map(|kv| kv.ok_or(key))
            })
            .await?;
        found.map_err(|key| ClientsError::NoKey {
            cluster: name.to_string(),
            key: String::from_utf8_lossy(&key).into_owned(),
        })
    }
}
