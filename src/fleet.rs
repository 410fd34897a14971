//! The clusters monitored, and changes to them at run time: clusters from the
//! config file (replaced on a reload, SIGHUP) and clusters of the registry (added,
//! edited and removed from the dashboard and the API, kept in the store). A change
//! starts or stops the cluster's collector and its key browser client; its alerts
//! follow the board. History is kept by name, so an edited or reloaded cluster
//! goes on with its history.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::collect::registry;
use crate::collect::{ClusterProber, ClusterStatus, CollectSettings, Collectors};
use crate::etcd::{ClusterConfig, EtcdError};
use crate::ops::clients::ClusterClients;
use crate::store::{DeletedHistory, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("a cluster named {0:?} is monitored already")]
    Exists(String),
    #[error("no cluster named {0:?} is monitored")]
    NotFound(String),
    #[error("cluster {0:?} comes from the config file: change it there and reload (SIGHUP)")]
    FromConfig(String),
    #[error(
        "cluster {0:?} is declared by an EtcdCluster resource: change or delete it with kubectl"
    )]
    FromKubernetes(String),
    #[error("the registry holds {0} clusters, its most")]
    Full(usize),
    #[error(
        "cluster {name:?} is shard {of}'s, not this monitor's ({this}): add it on that monitor"
    )]
    OtherShard {
        name: String,
        of: String,
        this: String,
    },
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T> = std::result::Result<T, FleetError>;

/// Where a monitored cluster's settings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The config file: changed there, applied by a reload.
    Config,
    /// The registry: changed from the dashboard or the API.
    Registry,
    /// An EtcdCluster resource, watched by the operator (`[kubernetes]`).
    Kubernetes,
}

/// The clusters of `all` that this monitor's shard (`collect.shard`) owns.
pub fn owned(collect: &CollectSettings, all: &[ClusterConfig]) -> Vec<ClusterConfig> {
    all.iter()
        .filter(|c| collect.shard.is_none_or(|s| s.owns(&c.name)))
        .cloned()
        .collect()
}

/// What a connection test found: one probe of the cluster, as the collector makes it.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionTest {
    pub ok: bool,
    pub status: ClusterStatus,
    pub members: usize,
    pub members_reachable: usize,
    pub leader: Option<String>,
    pub versions: Vec<String>,
    /// Why it is not healthy, and what failed.
    pub problems: Vec<String>,
    pub duration_ms: u64,
}

/// What a reload of the config file changed.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Reloaded {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

pub struct Fleet {
    collectors: Arc<Collectors>,
    clients: ClusterClients,
    store: Arc<Store>,
    collect: CollectSettings,
    /// Names of the clusters that come from the config file.
    from_config: std::sync::Mutex<BTreeSet<String>>,
    /// Names of the clusters that EtcdCluster resources declare.
    from_kubernetes: std::sync::Mutex<BTreeSet<String>>,
    /// One change at a time: a change checks, then acts.
    changing: tokio::sync::Mutex<()>,
}

impl Fleet {
    /// Over running collectors that monitor `config_clusters` (from the file);
    /// starts the registry's clusters too. A registered cluster whose name the file
    /// now uses, or that cannot start (a TLS file gone), is skipped with a warning.
    pub fn start(
        collectors: Arc<Collectors>,
        clients: ClusterClients,
        store: Arc<Store>,
        collect: CollectSettings,
        config_clusters: &[ClusterConfig],
    ) -> Result<Fleet> {
        let fleet = Fleet {
            collectors,
            clients,
            store,
            collect,
            from_config: std::sync::Mutex::new(
                config_clusters.iter().map(|c| c.name.clone()).collect(),
            ),
            from_kubernetes: std::sync::Mutex::new(BTreeSet::new()),
            changing: tokio::sync::Mutex::new(()),
        };
        for c in owned(&fleet.collect, &registry::load(&fleet.store)?) {
            if fleet.source(&c.name).is_some() {
                tracing::warn!(cluster = %c.name, "registered cluster not started: the config file has a cluster of that name");
                continue;
            }
            if let Err(e) = fleet.start_one(&c) {
                tracing::warn!(cluster = %c.name, "registered cluster not started: {e}");
            }
        }
        Ok(fleet)
    }

    fn config_names(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.from_config.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn kubernetes_names(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.from_kubernetes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Where `name`'s settings come from; None when it is not monitored.
    pub fn source(&self, name: &str) -> Option<Source> {
        if self.config_names().contains(name) {
            Some(Source::Config)
        } else if self.kubernetes_names().contains(name) {
            Some(Source::Kubernetes)
        } else if self.collectors.board.get(name).is_some() {
            Some(Source::Registry)
        } else {
            None
        }
    }

    /// Every monitored cluster's settings, with where they come from.
    pub fn clusters(&self) -> Vec<(ClusterConfig, Source)> {
        let config = self.config_names().clone();
        let kubernetes = self.kubernetes_names().clone();
        self.collectors
            .board
            .configs()
            .into_iter()
            .map(|c| {
                let s = if config.contains(&c.name) {
                    Source::Config
                } else if kubernetes.contains(&c.name) {
                    Source::Kubernetes
                } else {
                    Source::Registry
                };
                (c, s)
            })
            .collect()
    }

    fn start_one(&self, c: &ClusterConfig) -> Result<()> {
        self.clients.set(c)?;
        if let Err(e) = self.collectors.add(c) {
            self.clients.remove(&c.name);
            return Err(e.into());
        }
        Ok(())
    }

    async fn stop_one(&self, name: &str) {
        self.collectors.remove(name).await;
        self.clients.remove(name);
    }

    /// Checks `c` as the config would (the field named under `cluster`), and that
    /// its TLS files and password can be read.
    pub fn validate(c: &ClusterConfig) -> Result<()> {
        crate::config::validate_cluster("cluster", c).map_err(|e| match e {
            crate::config::ConfigError::Invalid { field, message } => {
                FleetError::Invalid { field, message }
            }
            other => FleetError::Invalid {
                field: "cluster".into(),
                message: other.to_string(),
            },
        })
    }

    /// [`Fleet::validate`], and that this monitor's shard owns `c`.
    fn validate_owned(&self, c: &ClusterConfig) -> Result<()> {
        Self::validate(c)?;
        if let Some(shard) = self.collect.shard.filter(|s| !s.owns(&c.name)) {
            return Err(FleetError::OtherShard {
                of: format!(
                    "{}/{}",
                    crate::collect::shard::shard_of(&c.name, shard.count()),
                    shard.count()
                ),
                this: shard.to_string(),
                name: c.name.clone(),
            });
        }
        Ok(())
    }

    /// Registers `c` and starts monitoring it: its first probe runs at once.
    pub async fn add(&self, c: ClusterConfig) -> Result<()> {
        self.validate_owned(&c)?;
        let _one = self.changing.lock().await;
        if self.source(&c.name).is_some() {
            return Err(FleetError::Exists(c.name));
        }
        let registered = registry::count(&self.store)?;
        if registered >= registry::MAX_CLUSTERS as u64 {
            return Err(FleetError::Full(registry::MAX_CLUSTERS));
        }
        // Started first: settings that cannot connect are refused before they are kept.
        self.start_one(&c)?;
        if let Err(e) = registry::save(&self.store, &c) {
            self.stop_one(&c.name).await;
            return Err(e.into());
        }
        Ok(())
    }

    /// Replaces a registered cluster's settings; its history goes on.
    pub async fn update(&self, c: ClusterConfig) -> Result<()> {
        Self::validate(&c)?;
        let _one = self.changing.lock().await;
        match self.source(&c.name) {
            None => return Err(FleetError::NotFound(c.name)),
            Some(Source::Config) => return Err(FleetError::FromConfig(c.name)),
            Some(Source::Kubernetes) => return Err(FleetError::FromKubernetes(c.name)),
            Some(Source::Registry) => {}
        }
        // Refused settings leave the running cluster as it was.
        ClusterProber::new(c.clone(), self.collect.for_cluster(&c))?;
        let before = self
            .collectors
            .board
            .configs()
            .into_iter()
            .find(|x| x.name == c.name);
        self.stop_one(&c.name).await;
        if let Err(e) = self.start_one(&c) {
            if let Some(b) = before {
                let _ = self.start_one(&b);
            }
            return Err(e);
        }
        registry::save(&self.store, &c)?;
        Ok(())
    }

    /// Stops monitoring a registered cluster and forgets it; its history is
    /// deleted when `delete_history`, else kept (and shown again if a cluster of
    /// that name comes back).
    pub async fn remove(&self, name: &str, delete_history: bool) -> Result<DeletedHistory> {
        let _one = self.changing.lock().await;
        match self.source(name) {
            None => return Err(FleetError::NotFound(name.into())),
            Some(Source::Config) => return Err(FleetError::FromConfig(name.into())),
            Some(Source::Kubernetes) => return Err(FleetError::FromKubernetes(name.into())),
            Some(Source::Registry) => {}
        }
        registry::delete(&self.store, name)?;
        self.stop_one(name).await;
        if !delete_history {
            return Ok(DeletedHistory::default());
        }
        let store = self.store.clone();
        let name = name.to_string();
        Ok(
            tokio::task::spawn_blocking(move || store.delete_cluster(&name))
                .await
                .map_err(|e| EtcdError::Setup(format!("deleting history: {e}")))??,
        )
    }

    /// Applies the config file's `[[clusters]]` after a reload: starts those that
    /// are new, stops those gone (their history is kept), restarts those whose
    /// settings changed. A name a registered cluster holds is taken by the file's
    /// cluster. Nothing changes when any cluster of the file is invalid.
    pub async fn reload(&self, file: &[ClusterConfig]) -> Result<Reloaded> {
        for (i, c) in file.iter().enumerate() {
            crate::config::validate_cluster(&format!("clusters[{i}]"), c).map_err(|e| {
                FleetError::Invalid {
                    field: "config".into(),
                    message: e.to_string(),
                }
            })?;
            ClusterProber::new(c.clone(), self.collect.for_cluster(c))?;
        }
        let file = &owned(&self.collect, file)[..];
        let _one = self.changing.lock().await;
        let old: Vec<ClusterConfig> = self
            .clusters()
            .into_iter()
            .filter(|(_, s)| *s == Source::Config)
            .map(|(c, _)| c)
            .collect();
        let mut done = Reloaded::default();
        for c in &old {
            if !file.iter().any(|f| f.name == c.name) {
                self.stop_one(&c.name).await;
                self.config_names().remove(&c.name);
                done.removed.push(c.name.clone());
            }
        }
        for c in file {
            match old.iter().find(|o| o.name == c.name) {
                Some(o) if same(o, c) => continue,
                Some(_) => done.changed.push(c.name.clone()),
                None => {
                    match self.source(&c.name) {
                        Some(Source::Registry) => {
                            tracing::warn!(cluster = %c.name, "the config file now has this registered cluster: the file's settings are used");
                            registry::delete(&self.store, &c.name)?;
                        }
                        Some(Source::Kubernetes) => {
                            tracing::warn!(cluster = %c.name, "the config file now has this EtcdCluster's name: the file's settings are used");
                            self.kubernetes_names().remove(&c.name);
                        }
                        _ => {}
                    }
                    done.added.push(c.name.clone());
                }
            }
            self.stop_one(&c.name).await;
            self.config_names().insert(c.name.clone());
            if let Err(e) = self.start_one(c) {
                tracing::error!(cluster = %c.name, "not monitored after the reload: {e}");
            }
        }
        Ok(done)
    }

    /// Monitors `c` as an EtcdCluster resource declares it: starts it, or
    /// restarts it when its settings changed or `restart` (its Secret's contents
    /// changed under the same file names). Refused when the config file or the
    /// registry has a cluster of that name, or another shard owns it. Returns
    /// whether anything was started.
    pub async fn declare(&self, c: ClusterConfig, restart: bool) -> Result<bool> {
        self.validate_owned(&c)?;
        let _one = self.changing.lock().await;
        match self.source(&c.name) {
            // As many as the registry may hold: the same collectors run them.
            None if self.kubernetes_names().len() >= registry::MAX_CLUSTERS => {
                return Err(FleetError::Full(registry::MAX_CLUSTERS));
            }
            None => {}
            Some(Source::Kubernetes) => {
                let before = self
                    .collectors
                    .board
                    .configs()
                    .into_iter()
                    .find(|x| x.name == c.name);
                if !restart && before.as_ref().is_some_and(|b| same(b, &c)) {
                    return Ok(false);
                }
                // Refused settings leave the running cluster as it was.
                ClusterProber::new(c.clone(), self.collect.for_cluster(&c))?;
                self.stop_one(&c.name).await;
            }
            Some(_) => return Err(FleetError::Exists(c.name)),
        }
        self.start_one(&c)?;
        self.kubernetes_names().insert(c.name.clone());
        Ok(true)
    }

    /// Stops monitoring a cluster an EtcdCluster resource declared (the
    /// resource is gone); its history is kept. False when no such cluster is.
    pub async fn undeclare(&self, name: &str) -> bool {
        let _one = self.changing.lock().await;
        if self.source(name) != Some(Source::Kubernetes) {
            return false;
        }
        self.stop_one(name).await;
        self.kubernetes_names().remove(name);
        true
    }

    /// The names of the clusters that EtcdCluster resources declare.
    pub fn declared(&self) -> Vec<String> {
        self.kubernetes_names().iter().cloned().collect()
    }

    /// One probe of `c`, without monitoring or storing anything: whether the
    /// settings reach the cluster, before they are saved.
    pub async fn test(&self, c: &ClusterConfig) -> Result<ConnectionTest> {
        Self::validate(c)?;
        let settings = self.collect.for_cluster(c);
        let mut prober = ClusterProber::new(c.clone(), settings.clone())?;
        let deadline = crate::collect::probe::probe_deadline(&settings);
        let started = std::time::Instant::now();
        let snap = match tokio::time::timeout(deadline, prober.probe(crate::unix_ms_now())).await {
            Ok(r) => r.snapshot,
            Err(_) => {
                return Ok(ConnectionTest {
                    ok: false,
                    status: ClusterStatus::Unavailable,
                    members: 0,
                    members_reachable: 0,
                    leader: None,
                    versions: Vec::new(),
                    problems: vec![format!("no answer within {deadline:?}")],
                    duration_ms: duration_ms(started.elapsed()),
                })
            }
        };
        let versions = snap.versions();
        let mut problems = if snap.status == ClusterStatus::Healthy {
            Vec::new()
        } else {
            snap.reasons.clone()
        };
        problems.extend(snap.errors.iter().cloned());
        problems.extend(
            snap.members
                .iter()
                .filter_map(|m| m.error.as_ref().map(|e| format!("{}: {e}", m.name))),
        );
        Ok(ConnectionTest {
            ok: snap.members_reachable() > 0,
            status: snap.status,
            members: snap.members.len(),
            members_reachable: snap.members_reachable(),
            leader: snap.leader.as_ref().map(|l| l.name.clone()),
            versions,
            problems,
            duration_ms: duration_ms(started.elapsed()),
        })
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Whether two clusters' settings are the same (compared as they serialise).
fn same(a: &ClusterConfig, b: &ClusterConfig) -> bool {
    serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
}
