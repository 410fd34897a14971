//! Collection: one supervised task per cluster probes it every interval and
//! publishes a fresh [`ClusterSnapshot`]; readers hold a [`SnapshotBoard`].

pub mod derive;
pub mod events;
pub mod figures;
pub mod keep;
pub mod probe;
pub mod settings;
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

/// The latest snapshot of every monitored cluster, in config order. Each one is
/// replaced whole (a new `Arc`) after every probe, so readers never see half a probe.
#[derive(Clone)]
pub struct SnapshotBoard {
    clusters: Arc<Vec<(String, watch::Receiver<Arc<ClusterSnapshot>>)>>,
}

impl SnapshotBoard {
    /// A board of snapshots that never change: a recorded state served as it was
    /// (the golden test of the API's answers replays one).
    pub fn fixed(snapshots: Vec<ClusterSnapshot>) -> SnapshotBoard {
        let clusters = snapshots
            .into_iter()
            .map(|s| {
                // The sender goes: readers keep the last value, and live updates end.
                let (_, rx) = watch::channel(Arc::new(s.clone()));
                (s.name, rx)
            })
            .collect();
        SnapshotBoard {
            clusters: Arc::new(clusters),
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.clusters.iter().map(|(n, _)| n.as_str())
    }

    pub fn get(&self, name: &str) -> Option<Arc<ClusterSnapshot>> {
        self.clusters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, rx)| rx.borrow().clone())
    }

    pub fn all(&self) -> Vec<Arc<ClusterSnapshot>> {
        self.clusters
            .iter()
            .map(|(_, rx)| rx.borrow().clone())
            .collect()
    }

    /// A receiver that wakes on every new snapshot of `name` (for live updates).
    pub fn subscribe(&self, name: &str) -> Option<watch::Receiver<Arc<ClusterSnapshot>>> {
        self.clusters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, rx)| rx.clone())
    }
}

/// The running collectors; dropping it does not stop them, [`Collectors::shutdown`] does.
pub struct Collectors {
    pub board: SnapshotBoard,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
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
            ClusterProber::new(cluster.clone(), collect.clone())?;
        }
        let (stop, stop_rx) = watch::channel(false);
        let mut boards = Vec::new();
        let mut tasks = Vec::new();
        for cluster in clusters {
            let (tx, rx) = watch::channel(Arc::new(ClusterSnapshot::pending(
                &cluster.name,
                &cluster.tags,
            )));
            boards.push((cluster.name.clone(), rx));
            tasks.push(tokio::spawn(supervise(
                cluster.clone(),
                collect.clone(),
                tx,
                history.clone(),
                events.clone(),
                stop_rx.clone(),
            )));
        }
        Ok(Collectors {
            board: SnapshotBoard {
                clusters: Arc::new(boards),
            },
            stop,
            tasks,
        })
    }

    /// Stops every collector and waits for them to finish their current probe.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Restarts the cluster's collector if it panics, so one bad cluster (or a bug
/// triggered by its answers) never ends monitoring of it or of the others.
async fn supervise(
    cluster: ClusterConfig,
    settings: CollectSettings,
    tx: watch::Sender<Arc<ClusterSnapshot>>,
    history: Option<(WriterHandle, Arc<SeriesFilter>)>,
    events: Option<EventLog>,
    stop: watch::Receiver<bool>,
) {
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
