//! `[bench]` settings and scheduled benchmarks: tokio-cron-scheduler starts each
//! `[[bench.schedules]]` entry on its cron, against a cluster that allows it
//! (`allow_benchmark = true`), and every run is stored like a command-line one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio_cron_scheduler::{Job, JobScheduler};

use super::history::{self, RunSource};
use super::BenchSpec;
use crate::collect::settings::CollectSettings;
use crate::etcd::ClusterConfig;
use crate::etcd::Connector;
use crate::store::Store;

/// Runs slower than the baseline by more than this share are regressions.
pub const DEFAULT_REGRESSION_THRESHOLD: f64 = 0.1;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchSettings {
    /// A comparison flags a run whose throughput fell, or whose p99 rose, by more
    /// than this share of the baseline's (0.1 = 10%).
    #[serde(default = "default_threshold")]
    pub regression_threshold: f64,
    #[serde(default)]
    pub schedules: Vec<ScheduleConfig>,
    /// How long stored runs are kept, and how many.
    #[serde(default)]
    pub retention: history::RunRetention,
}

fn default_threshold() -> f64 {
    DEFAULT_REGRESSION_THRESHOLD
}

impl Default for BenchSettings {
    fn default() -> Self {
        BenchSettings {
            regression_threshold: DEFAULT_REGRESSION_THRESHOLD,
            schedules: Vec::new(),
            retention: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub name: String,
    /// A configured cluster with `allow_benchmark = true`.
    pub cluster: String,
    /// Six fields, seconds first, in UTC: "0 30 3 * * *" is 03:30:00 every day.
    pub cron: String,
    /// The run: the `bench` flags as fields (workload = { kind = "put" }, clients, total...).
    #[serde(default)]
    pub spec: BenchSpec,
}

impl BenchSettings {
    /// Checks the schedules against the clusters; `Err((field, message))`.
    pub fn validate(&self, clusters: &[ClusterConfig]) -> Result<(), (String, String)> {
        if !(self.regression_threshold > 0.0 && self.regression_threshold.is_finite()) {
            return Err((
                "bench.regression_threshold".into(),
                "must be a share above 0 (0.1 = 10%)".into(),
            ));
        }
        self.retention.validate()?;
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.schedules.iter().enumerate() {
            let at = |field: &str| format!("bench.schedules[{i}].{field}");
            if s.name.is_empty() || !names.insert(s.name.as_str()) {
                return Err((
                    at("name"),
                    format!("{:?} must be non-empty and unique", s.name),
                ));
            }
            let cluster = clusters
                .iter()
                .find(|c| c.name == s.cluster)
                .ok_or_else(|| {
                    (
                        at("cluster"),
                        format!("no configured cluster is named {:?}", s.cluster),
                    )
                })?;
            if !cluster.allow_benchmark {
                return Err((
                    at("cluster"),
                    format!(
                        "cluster {:?} does not allow benchmarks: a benchmark loads the cluster, so set allow_benchmark = true in its [[clusters]] entry to let schedules run against it",
                        s.cluster
                    ),
                ));
            }
            Job::new_async(s.cron.as_str(), |_, _| Box::pin(async {})).map_err(|_| {
                (
                    at("cron"),
                    format!(
                        "{:?} is not a cron schedule with six fields, seconds first (e.g. \"0 30 3 * * *\")",
                        s.cron
                    ),
                )
            })?;
            s.spec.validate().map_err(|m| (at("spec"), m))?;
            if s.spec.total_limit().is_none() && s.spec.duration.is_none() {
                return Err((at("spec"), "needs total or duration".into()));
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("benchmark scheduler: {0}")]
    Scheduler(#[from] tokio_cron_scheduler::JobSchedulerError),
    #[error(transparent)]
    Etcd(#[from] crate::etcd::EtcdError),
}

/// The running scheduler and a flag per schedule telling whether a run is going.
pub struct Scheduled {
    scheduler: JobScheduler,
    running: Vec<Arc<AtomicBool>>,
}

impl Scheduled {
    /// Stops starting runs and waits (up to `grace`) for those going, which `stop`
    /// has told to end: their keys are deleted and the partial runs stored.
    pub async fn shutdown(mut self, grace: std::time::Duration) {
        if let Err(e) = self.scheduler.shutdown().await {
            tracing::warn!("benchmark scheduler: {e}");
        }
        let deadline = tokio::time::Instant::now() + grace;
        while self.running.iter().any(|r| r.load(Ordering::SeqCst)) {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!("a scheduled benchmark was still running at shutdown");
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// Starts the scheduled benchmarks; `None` when there are none (no scheduler then:
/// its ticker would wake the process twice a second for nothing). Runs in progress
/// stop when `stop` turns true; their keys are deleted and the partial run stored.
pub async fn start(
    settings: &BenchSettings,
    clusters: &[ClusterConfig],
    collect: &CollectSettings,
    store: Arc<Store>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Option<Scheduled>, ScheduleError> {
    if settings.schedules.is_empty() {
        return Ok(None);
    }
    let scheduler = JobScheduler::new().await?;
    let mut running = Vec::new();
    for s in &settings.schedules {
        let Some(cluster) = clusters.iter().find(|c| c.name == s.cluster).cloned() else {
            continue; // validate() refuses this; nothing to run against.
        };
        // A benchmark takes longer than a probe: a deadline of the collector's request
        // timeout per request, and at least 10 s, as the CLI's default.
        let connector = Connector::new(
            &cluster,
            collect
                .request_timeout
                .max(std::time::Duration::from_secs(10)),
            collect.dial_timeout,
        )?;
        let job = ScheduledRun {
            name: s.name.clone(),
            cluster,
            spec: s.spec.clone(),
            connector,
            store: store.clone(),
            running: Arc::new(AtomicBool::new(false)),
            stop: stop.clone(),
        };
        running.push(job.running.clone());
        scheduler
            .add(Job::new_async(s.cron.as_str(), move |_, _| {
                let job = job.clone();
                Box::pin(async move { job.run().await })
            })?)
            .await?;
    }
    scheduler.start().await?;
    tracing::info!(
        schedules = settings.schedules.len(),
        "scheduled benchmarks started"
    );
    Ok(Some(Scheduled { scheduler, running }))
}

#[derive(Clone)]
struct ScheduledRun {
    name: String,
    cluster: ClusterConfig,
    spec: BenchSpec,
    connector: Connector,
    store: Arc<Store>,
    /// Set while a run of this schedule is going: the next tick is skipped, never
    /// stacked on top (two runs at once would measure each other).
    running: Arc<AtomicBool>,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl ScheduledRun {
    async fn run(self) {
        if self.running.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                schedule = %self.name,
                "scheduled benchmark skipped: the previous run is still going"
            );
            return;
        }
        tracing::info!(schedule = %self.name, cluster = %self.cluster.name, "scheduled benchmark starting");
        let mut stop = self.stop.clone();
        let result = super::run_observed(
            &self.spec,
            &self.connector,
            &self.cluster.endpoints,
            &self.cluster.metrics_urls,
            &self.cluster.name,
            RunSource::Schedule {
                name: self.name.clone(),
            },
            |_| {},
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        )
        .await;
        match result {
            Ok(run) => {
                let (rps, p99) = (
                    run.report.summary.requests_per_sec,
                    run.percentile(99.0).unwrap_or(0.0),
                );
                let store = self.store.clone();
                let id = run.id.clone();
                let saved = tokio::task::spawn_blocking(move || history::save(&store, &run)).await;
                match saved {
                    Ok(Ok(())) => tracing::info!(
                        schedule = %self.name,
                        run = %id,
                        requests_per_sec = format!("{rps:.0}"),
                        p99_ms = format!("{:.2}", p99 * 1e3),
                        "scheduled benchmark stored"
                    ),
                    Ok(Err(e)) => {
                        tracing::error!(schedule = %self.name, run = %id, "scheduled benchmark not stored: {e}")
                    }
                    Err(e) => {
                        tracing::error!(schedule = %self.name, run = %id, "scheduled benchmark not stored: {e}")
                    }
                }
            }
            Err(e) => tracing::error!(schedule = %self.name, "scheduled benchmark failed: {e}"),
        }
        self.running.store(false, Ordering::SeqCst);
    }
}
