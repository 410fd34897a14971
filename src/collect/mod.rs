//! Collection: one supervised task per cluster probes it every interval and
//! publishes a fresh [`ClusterSnapshot`]; readers hold a [`SnapshotBoard`].

pub mod derive;
pub mod events;
pub mod figures;
pub mod keep;
pub mod probe;
pub mod registry;
pub mod settings;
pub mod shard;
pub mod snapshot;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::etcd::ClusterConfig;
use crate::etcd::EtcdError;
use crate::store::WriterHandle;
pub use events::{EventDetector, EventLog};
pub use keep::SeriesFilter;
pub use probe::ClusterProber;
pub use settings::CollectSettings;
pub use snapshot::{ClusterSnapshot, ClusterStatus};

type Entry = (ClusterConfig, watch::Receiver<Arc<ClusterSnapshot>>);

/// The latest snapshot of every monitored cluster, in the order they were added
/// (the config's, then the registry's). Each one is replaced whole (a new `Arc`)
/// after every probe, so readers never see half a probe. Clusters come and go at
/// run time (the registry, a config reload): readers take the list as it is.
#[derive(Clone)]
pub struct SnapshotBoard {
    clusters: Arc<std::sync::RwLock<Arc<Vec<Entry>>>>,
    /// Bumped at every addition or removal, for those who follow the list.
    membership: Arc<watch::Sender<u64>>,
}

impl SnapshotBoard {
    fn new(entries: Vec<Entry>) -> SnapshotBoard {
        SnapshotBoard {
            clusters: Arc::new(std::sync::RwLock::new(Arc::new(entries))),
            membership: Arc::new(watch::channel(0).0),
        }
    }

    /// A board of snapshots that never change: a recorded state served as it was
    /// (the golden test of the API's answers replays one).
    pub fn fixed(snapshots: Vec<ClusterSnapshot>) -> SnapshotBoard {
        let clusters = snapshots
            .into_iter()
            .map(|s| {
                // The sender goes: readers keep the last value, and live updates end.
                let (_, rx) = watch::channel(Arc::new(s.clone()));
                let mut config = ClusterConfig::plain(&s.name, Vec::new());
                config.tags = s.tags.clone();
                (config, rx)
            })
            .collect();
        SnapshotBoard::new(clusters)
    }

    /// The list now; a lock poisoned by a panic elsewhere still holds a whole list
    /// (it is only ever replaced whole).
    fn list(&self) -> Arc<Vec<Entry>> {
        self.clusters
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn replace(&self, change: impl FnOnce(&mut Vec<Entry>)) {
        {
            let mut guard = self.clusters.write().unwrap_or_else(|e| e.into_inner());
            let mut list = guard.as_ref().clone();
            change(&mut list);
            *guard = Arc::new(list);
        }
        self.membership.send_modify(|g| *g = g.wrapping_add(1));
    }

    pub fn names(&self) -> Vec<String> {
        self.list().iter().map(|(c, _)| c.name.clone()).collect()
    }

    /// The settings of every cluster on the board.
    pub fn configs(&self) -> Vec<ClusterConfig> {
        self.list().iter().map(|(c, _)| c.clone()).collect()
    }

    pub fn get(&self, name: &str) -> Option<Arc<ClusterSnapshot>> {
        self.list()
            .iter()
            .find(|(c, _)| c.name == name)
            .map(|(_, rx)| rx.borrow().clone())
    }

    pub fn all(&self) -> Vec<Arc<ClusterSnapshot>> {
        self.list()
            .iter()
            .map(|(_, rx)| rx.borrow().clone())
            .collect()
    }

    /// A receiver that wakes on every new snapshot of `name` (for live updates).
    pub fn subscribe(&self, name: &str) -> Option<watch::Receiver<Arc<ClusterSnapshot>>> {
        self.list()
            .iter()
            .find(|(c, _)| c.name == name)
            .map(|(_, rx)| rx.clone())
    }

    /// A receiver that wakes whenever a cluster is added or removed.
    pub fn membership(&self) -> watch::Receiver<u64> {
        self.membership.subscribe()
    }
}

/// One cluster's collector.
struct Running {
    task: JoinHandle<()>,
    stop: watch::Sender<bool>,
}

/// The running collectors. Clusters are added and removed at run time;
/// [`Collectors::shutdown`] stops them all.
pub struct Collectors {
    pub board: SnapshotBoard,
    settings: CollectSettings,
    history: Option<(WriterHandle, Arc<SeriesFilter>)>,
    events: Option<EventLog>,
    running: std::sync::Mutex<std::collections::HashMap<String, Running>>,
}

impl Collectors {
    /// Checks every cluster's connection settings (TLS files, passwords) and starts
    /// one supervised collector per cluster.
    /// `history` receives every member's samples that `series` keeps after each
    /// probe (none: not kept); `events` the events each probe shows (none: not kept).
    pub fn start(
        clusters: &[ClusterConfig],
        collect: &CollectSettings,
        history: Option<(WriterHandle, Arc<SeriesFilter>)>,
        events: Option<EventLog>,
    ) -> Result<Collectors, EtcdError> {
        // Fail at start on unreadable certificates or passwords, not in the loop.
        for cluster in clusters {
            ClusterProber::new(cluster.clone(), collect.for_cluster(cluster))?;
        }
        let collectors = Collectors {
            board: SnapshotBoard::new(Vec::new()),
            settings: collect.clone(),
            history,
            events,
            running: std::sync::Mutex::new(std::collections::HashMap::new()),
        };
        // The first probes spread evenly over one interval (by the config's order,
        // a stable offset per cluster), so that a fleet's probes do not all start
        // on the same tick; each cluster's later probes keep its offset.
        let n = u32::try_from(clusters.len()).unwrap_or(u32::MAX).max(1);
        for (i, cluster) in clusters.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            let offset = collect.interval / n * i;
            // Checked above, all before any starts.
            collectors.spawn(cluster, offset)?;
        }
        Ok(collectors)
    }

    fn running(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts collecting `cluster`: its first probe runs at once. Refused when its
    /// TLS files or password cannot be read, or when a cluster of that name is
    /// collected already.
    pub fn add(&self, cluster: &ClusterConfig) -> Result<(), EtcdError> {
        self.start_after(cluster, Duration::ZERO)
    }

    /// [`Collectors::add`], its first probe `offset` from now.
    fn start_after(&self, cluster: &ClusterConfig, offset: Duration) -> Result<(), EtcdError> {
        ClusterProber::new(cluster.clone(), self.settings.for_cluster(cluster))?;
        self.spawn(cluster, offset)
    }

    /// Starts the collector of a cluster whose prober was built once already
    /// (which proves its TLS files and password readable).
    fn spawn(&self, cluster: &ClusterConfig, offset: Duration) -> Result<(), EtcdError> {
        let mut running = self.running();
        if running.contains_key(&cluster.name) {
            return Err(EtcdError::Setup(format!(
                "a cluster named {:?} is monitored already",
                cluster.name
            )));
        }
        let (tx, rx) = watch::channel(Arc::new(ClusterSnapshot::pending(
            &cluster.name,
            &cluster.tags,
        )));
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(supervise(
            cluster.clone(),
            offset,
            self.settings.for_cluster(cluster),
            tx,
            self.history.clone(),
            self.events.clone(),
            stop_rx,
        ));
        running.insert(cluster.name.clone(), Running { task, stop });
        drop(running);
        let entry = (cluster.clone(), rx);
        self.board.replace(|list| list.push(entry));
        Ok(())
    }

    /// Stops collecting `name` and takes it off the board, once its probe in
    /// progress ended. False when no such cluster is collected.
    pub async fn remove(&self, name: &str) -> bool {
        let Some(r) = self.running().remove(name) else {
            return false;
        };
        self.board
            .replace(|list| list.retain(|(c, _)| c.name != name));
        let _ = r.stop.send(true);
        let _ = r.task.await;
        true
    }

    /// Stops every collector and waits for them to finish their current probe.
    pub async fn shutdown(&self) {
        let all: Vec<Running> = self.running().drain().map(|(_, r)| r).collect();
        for r in &all {
            let _ = r.stop.send(true);
        }
        for r in all {
            let _ = r.task.await;
        }
    }
}

/// Restarts the cluster's collector if it panics, so one bad cluster (or a bug
/// triggered by its answers) never ends monitoring of it or of the others. The
/// first probe runs `offset` from now.
async fn supervise(
    cluster: ClusterConfig,
    offset: Duration,
    settings: CollectSettings,
    tx: watch::Sender<Arc<ClusterSnapshot>>,
    history: Option<(WriterHandle, Arc<SeriesFilter>)>,
    events: Option<EventLog>,
    stop: watch::Receiver<bool>,
) {
    if !offset.is_zero() {
        let mut stop = stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(offset) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
    let mut restarts = 0u32;
    loop {
        let task = tokio::spawn(run(
            cluster.clone(),
            settings.clone(),
            tx.clone(),
            history.clone(),
            events.clone(),
            stop.clone(),
        ));
        match task.await {
            Ok(()) => return,
            Err(e) => {
                restarts += 1;
                error!(cluster = %cluster.name, restarts, "collector failed, restarting: {e}");
                let backoff = Duration::from_secs(u64::from(restarts.min(6)) * 5);
                let mut stop = stop.clone();
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        }
    }
}

async fn run(
    cluster: ClusterConfig,
    settings: CollectSettings,
    tx: watch::Sender<Arc<ClusterSnapshot>>,
    history: Option<(WriterHandle, Arc<SeriesFilter>)>,
    events: Option<EventLog>,
    mut stop: watch::Receiver<bool>,
) {
    let name = cluster.name.clone();
    // A restarted collector starts from what it sees: its first probe records nothing.
    let mut detector = EventDetector::default();
    let prober = ClusterProber::new(cluster, settings.clone()).map(|p| match &history {
        Some((_, filter)) => p.with_series_filter(filter.clone()),
        None => p,
    });
    let mut prober = match prober {
        Ok(p) => p,
        Err(e) => {
            error!(cluster = %name, "cannot monitor: {e}");
            return;
        }
    };
    let deadline = probe::probe_deadline(&settings);
    let mut ticker = tokio::time::interval(settings.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_status = None;
    // Samples are stamped on a regular grid (the ticks' scheduled times), not when
    // each answer came back: regular timestamps cost one bit each in the store.
    let (base_instant, base_ms) = (tokio::time::Instant::now(), crate::unix_ms_now());
    loop {
        let tick = tokio::select! {
            t = ticker.tick() => t,
            _ = stop.wait_for(|s| *s) => return,
        };
        let at_ms = base_ms.saturating_add(
            i64::try_from(tick.saturating_duration_since(base_instant).as_millis())
                .unwrap_or(i64::MAX),
        );
        let result = tokio::select! {
            r = tokio::time::timeout(deadline, prober.probe(at_ms)) => match r {
                Ok(r) => r,
                Err(_) => {
                    // Every call has its own deadline; this is a last guard.
                    warn!(cluster = %name, "probe exceeded {deadline:?}; skipped");
                    continue;
                }
            },
            _ = stop.wait_for(|s| *s) => return,
        };
        let snapshot = result.snapshot;
        if last_status != Some(snapshot.status) {
            info!(cluster = %name, status = ?snapshot.status, reasons = ?snapshot.reasons, "cluster status");
            last_status = Some(snapshot.status);
        }
        if let Some(log) = &events {
            log.submit(detector.observe(&snapshot, crate::unix_ms_now()));
        }
        tx.send_replace(Arc::new(snapshot));
        if let Some((history, _)) = &history {
            history.submit_all(result.samples);
        }
    }
}
