//! Where `etcd-monitor bench` keeps and finds runs: the store file itself when no
//! monitor holds it, else the running monitor's API (redb lets one process open a
//! file at a time, and `serve` keeps its store open). A command that names no store
//! (no `-c`, no `--data-dir`) goes to the monitor answering on `server.listen`
//! (127.0.0.1:9393 by default: a running `demo` or `serve`) when there is one.

use std::time::Duration;

use anyhow::{bail, Context};

use crate::bench::history::{self, Comparison, RunFilter, RunList, StoredRun};
use crate::config::Settings;
use crate::store::{Store, StoreError};

/// The runs' home, found once per command.
pub enum RunStore {
    File(Box<Store>),
    Monitor { base: String, http: reqwest::Client },
}

/// A deadline for each call to the monitor's API.
const API_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for a monitor that may not be there: on loopback an answer takes
/// milliseconds, and a port nobody listens on is refused at once.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// What `/api/v1/health` says it is.
const SERVICE_NAME: &str = "etcd-monitor";

/// The monitor's base URL: `monitor_url`, else http:// + the config's `server.listen`
/// (loopback when it listens on every address).
fn monitor_base(settings: &Settings, monitor_url: Option<&str>) -> String {
    match monitor_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => {
            let mut addr = settings.server.listen;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{addr}")
        }
    }
}

impl RunStore {
    /// The monitor answering at `monitor_url` (default: the config's `server.listen`),
    /// when its `/api/v1/health` says it is etcd-monitor within [`PROBE_TIMEOUT`]. For
    /// a command that names no store (no `-c`, no `--data-dir`): the runs of `bench`
    /// against the cluster of a running `demo` or `serve` belong in that monitor, whose
    /// dashboard shows them, not in a `./data` nobody looks at.
    pub async fn running_monitor(
        settings: &Settings,
        monitor_url: Option<&str>,
    ) -> Option<RunStore> {
        let base = monitor_base(settings, monitor_url);
        let probe = reqwest::Client::builder()
            .timeout(PROBE_TIMEOUT)
            .build()
            .ok()?;
        let resp = probe
            .get(format!("{base}/api/v1/health"))
            .send()
            .await
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let health: serde_json::Value = resp.json().await.ok()?;
        if health["name"] != SERVICE_NAME {
            return None;
        }
        let http = reqwest::Client::builder()
            .timeout(API_TIMEOUT)
            .build()
            .ok()?;
        Some(RunStore::Monitor { base, http })
    }

    /// Opens the store in `store.data_dir`; when a running monitor holds it, talks to
    /// that monitor at `monitor_url` (default: the config's `server.listen`).
    /// `create` makes the file when there is none (storing a run); reading never does.
    pub fn open(
        settings: &Settings,
        monitor_url: Option<&str>,
        create: bool,
    ) -> anyhow::Result<RunStore> {
        let dir = &settings.store.data_dir;
        let path = dir.join(crate::store::FILE_NAME);
        if !create && !path.exists() {
            bail!(
                "no store at {} (store.data_dir): no benchmark run has been stored there; give --data-dir or -c CONFIG to look elsewhere",
                path.display()
            );
        }
        match Store::open_dir(dir, settings.store.retention()) {
            Ok(store) => Ok(RunStore::File(Box::new(store))),
            Err(StoreError::InUse { .. }) => {
                let base = monitor_base(settings, monitor_url);
                let http = reqwest::Client::builder()
                    .timeout(API_TIMEOUT)
                    .build()
                    .context("building the HTTP client")?;
                Ok(RunStore::Monitor { base, http })
            }
            Err(e) if create => Err(e).with_context(|| {
                format!(
                    "cannot open {} to store the run (give --data-dir, or --no-save not to store it)",
                    path.display()
                )
            }),
            Err(e) => Err(e).with_context(|| format!("cannot open {}", path.display())),
        }
    }

    /// Where runs go, for messages.
    pub fn describe(&self) -> String {
        match self {
            RunStore::File(s) => s.path().display().to_string(),
            RunStore::Monitor { base, .. } => format!("the running monitor at {base}"),
        }
    }

    async fn api<T: serde::de::DeserializeOwned>(
        &self,
        request: impl FnOnce(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> anyhow::Result<T> {
        let RunStore::Monitor { base, http } = self else {
            unreachable!("api() is only called for a monitor");
        };
        let resp = request(http, base).send().await.with_context(|| {
            format!("the store is in use by another process, and its API at {base} does not answer (is `etcd-monitor serve` running there? give --monitor-url, or stop it)")
        })?;
        let status = resp.status();
        let body = resp.text().await.context("reading the monitor's answer")?;
        if !status.is_success() {
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(String::from))
                .unwrap_or(body);
            bail!("{message} (HTTP {status} from {base})");
        }
        serde_json::from_str(&body).with_context(|| format!("unexpected answer from {base}"))
    }

    pub async fn save(&self, run: &StoredRun) -> anyhow::Result<()> {
        match self {
            RunStore::File(store) => Ok(history::save(store, run)?),
            RunStore::Monitor { .. } => {
                let _: serde_json::Value = self
                    .api(|http, base| http.post(format!("{base}/api/v1/benchmarks")).json(run))
                    .await?;
                Ok(())
            }
        }
    }

    pub async fn list(&self, filter: &RunFilter) -> anyhow::Result<RunList> {
        match self {
            RunStore::File(store) => Ok(history::list(store, filter)?),
            RunStore::Monitor { .. } => {
                let mut query = vec![("limit", filter.limit.to_string())];
                for (k, v) in [
                    ("cluster", &filter.cluster),
                    ("workload", &filter.workload),
                    ("before", &filter.before),
                ] {
                    if let Some(v) = v {
                        query.push((k, v.clone()));
                    }
                }
                self.api(|http, base| http.get(format!("{base}/api/v1/benchmarks")).query(&query))
                    .await
            }
        }
    }

    pub async fn get(&self, id: &str) -> anyhow::Result<StoredRun> {
        match self {
            RunStore::File(store) => Ok(history::get(store, id)?),
            RunStore::Monitor { .. } => {
                let id = crate::text::urlencode(id);
                self.api(|http, base| http.get(format!("{base}/api/v1/benchmarks/{id}")))
                    .await
            }
        }
    }

    pub async fn delete(&self, id: &str) -> anyhow::Result<()> {
        match self {
            RunStore::File(store) => Ok(history::delete(store, id)?),
            RunStore::Monitor { .. } => {
                let id = crate::text::urlencode(id);
                let _: serde_json::Value = self
                    .api(|http, base| http.delete(format!("{base}/api/v1/benchmarks/{id}")))
                    .await?;
                Ok(())
            }
        }
    }

    pub async fn compare(&self, ids: &[String], threshold: f64) -> anyhow::Result<Comparison> {
        match self {
            RunStore::File(store) => Ok(history::compare_stored(store, ids, threshold)?),
            RunStore::Monitor { .. } => {
                let mut query: Vec<(&str, String)> = Vec::new();
                // The baseline is `a`; the API lists further `ids` oldest first, which
                // changes only the order they are shown in.
                for (i, id) in ids.iter().enumerate() {
                    let key = match i {
                        0 => "a",
                        1 => "b",
                        _ => "ids",
                    };
                    query.push((key, id.clone()));
                }
                query.push(("threshold", threshold.to_string()));
                self.api(|http, base| {
                    http.get(format!("{base}/api/v1/benchmarks/compare"))
                        .query(&query)
                })
                .await
            }
        }
    }
}
