//! One target's shipper: reads the outbox, sends, waits and retries, acknowledges.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::proto::{encode_series, series_labels, Label, Sample};
use super::{invalid, RemoteWriteConfig, RemoteWriteError};
use crate::store::{OutboxBatch, Store};

/// How often an idle shipper looks for new samples: the delay a sample may wait
/// before it is sent, besides the probe interval.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// What a target has done since the monitor started, as `/metrics` shows it.
#[derive(Debug, Default)]
pub struct RemoteWriteStats {
    /// Samples the receiver accepted.
    pub samples_sent_total: AtomicU64,
    /// Samples the receiver refused for good (4xx but 429), or whose series could
    /// not be labelled.
    pub samples_failed_total: AtomicU64,
    /// Requests sent again after a failure (network, 5xx, 429).
    pub retries_total: AtomicU64,
    /// Compressed bytes of accepted requests.
    pub bytes_sent_total: AtomicU64,
    /// Unix ms of the last accepted request; 0 before the first.
    pub last_success_ms: AtomicI64,
    /// Newest sample timestamp the receiver accepted (unix ms); 0 before the first.
    pub highest_sent_timestamp_ms: AtomicI64,
}

/// A running target's name and figures, for whoever shows them.
#[derive(Clone)]
pub struct ShipperView {
    pub name: String,
    pub stats: Arc<RemoteWriteStats>,
}

/// One target at a moment: its figures and what waits in the outbox.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteWriteStatus {
    pub name: String,
    pub samples_sent_total: u64,
    pub samples_failed_total: u64,
    /// Samples deleted unread for the queue's bound (see `queue_max_bytes`).
    pub samples_dropped_total: u64,
    /// Samples stored and not yet accepted by the receiver.
    pub samples_pending: u64,
    pub retries_total: u64,
    pub bytes_sent_total: u64,
    pub last_success_ms: i64,
    pub highest_sent_timestamp_ms: i64,
}

impl ShipperView {
    pub fn status(&self, store: &Store) -> RemoteWriteStatus {
        let outbox = store.outbox_status(&self.name).unwrap_or_default();
        let s = &self.stats;
        RemoteWriteStatus {
            name: self.name.clone(),
            samples_sent_total: s.samples_sent_total.load(Ordering::Relaxed),
            samples_failed_total: s.samples_failed_total.load(Ordering::Relaxed),
            samples_dropped_total: outbox.dropped_samples_total,
            samples_pending: outbox.pending_samples,
            retries_total: s.retries_total.load(Ordering::Relaxed),
            bytes_sent_total: s.bytes_sent_total.load(Ordering::Relaxed),
            last_success_ms: s.last_success_ms.load(Ordering::Relaxed),
            highest_sent_timestamp_ms: s.highest_sent_timestamp_ms.load(Ordering::Relaxed),
        }
    }
}

/// A running target (its task runs until the monitor's stop).
pub struct Shipper {
    pub view: ShipperView,
    task: tokio::task::JoinHandle<()>,
}

impl Shipper {
    /// Builds the HTTP client (reading secrets and CA files: errors here, at start)
    /// and starts the task.
    pub fn start(
        config: RemoteWriteConfig,
        store: Arc<Store>,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<Shipper, RemoteWriteError> {
        let client = client(&config)?;
        let stats = Arc::new(RemoteWriteStats::default());
        let name = config.name.clone();
        let task = tokio::spawn(run(
            Target {
                config,
                client,
                labels: HashMap::new(),
            },
            store,
            stats.clone(),
            stop,
        ));
        Ok(Shipper {
            view: ShipperView { name, stats },
            task,
        })
    }

    /// Waits for the task to end (after the monitor's stop was sent).
    pub async fn stopped(self) {
        let _ = self.task.await;
    }
}

fn client(config: &RemoteWriteConfig) -> Result<reqwest::Client, RemoteWriteError> {
    let name = &config.name;
    let mut headers = HeaderMap::new();
    headers.insert(
        reqwest::header::CONTENT_ENCODING,
        HeaderValue::from_static("snappy"),
    );
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    headers.insert(
        "X-Prometheus-Remote-Write-Version",
        HeaderValue::from_static("0.1.0"),
    );
    let secret = |field: &str, env: &Option<String>, file: &Option<std::path::PathBuf>| {
        crate::secrets::read(field, env.as_deref(), file.as_deref())
            .map_err(|m| invalid(name, field, m))
    };
    let authorization = if let Some(token) = secret("token", &config.token_env, &config.token_file)?
    {
        Some(format!("Bearer {token}"))
    } else if let (Some(user), Some(password)) = (
        &config.username,
        secret("password", &config.password_env, &config.password_file)?,
    ) {
        use base64::Engine;
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Some(format!("Basic {pair}"))
    } else {
        None
    };
    if let Some(value) = authorization {
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| invalid(name, "token", "has characters a header cannot carry"))?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    for (header, value) in &config.headers {
        let (Ok(h), Ok(v)) = (
            HeaderName::from_bytes(header.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            return Err(invalid(name, "headers", format!("{header:?} is not valid")));
        };
        headers.insert(h, v);
    }
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("etcd-monitor/", env!("CARGO_PKG_VERSION")))
        .default_headers(headers)
        .connect_timeout(config.timeout)
        .timeout(config.timeout)
        // A redirect would turn the POST into a GET: report it as the wrong URL it is.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| invalid(name, "ca_file", format!("{}: {e}", path.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| invalid(name, "ca_file", format!("{}: {e}", path.display())))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| invalid(name, "url", format!("cannot set up an HTTP client: {e}")))
}

struct Target {
    config: RemoteWriteConfig,
    client: reqwest::Client,
    /// What becomes of each series seen. Bounded by the store's series count.
    labels: HashMap<u64, Series>,
}

enum Series {
    /// Shipped with these labels.
    Labelled(Arc<[Label]>),
    /// Not among the target's `metrics`.
    Filtered,
    /// Unknown to the store, or its text does not read as a series: counted failed.
    Unreadable,
}

/// How one request ended.
enum Sent {
    Accepted,
    /// The receiver will never take it (4xx but 429): drop it.
    Refused(String),
    /// Worth sending again: (why, how long the receiver asked us to wait).
    Retry(String, Option<Duration>),
}

async fn run(
    mut target: Target,
    store: Arc<Store>,
    stats: Arc<RemoteWriteStats>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let name = target.config.name.clone();
    let max = target.config.max_samples_per_send;
    let mut failing_since: Option<std::time::Instant> = None;
    while !*stop.borrow() {
        let read = {
            let (store, name) = (store.clone(), name.clone());
            tokio::task::spawn_blocking(move || store.outbox_read(&name, max)).await
        };
        let batch = match read {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                tracing::error!(target = %name, "remote write: reading the outbox: {e}");
                if sleep_or_stop(&mut stop, Duration::from_secs(5)).await {
                    break;
                }
                continue;
            }
            Err(_) => break,
        };
        if batch.samples.is_empty() {
            if sleep_or_stop(&mut stop, IDLE_POLL).await {
                break;
            }
            continue;
        }
        let (request, unlabelled) = target.request(&store, &batch).await;
        stats
            .samples_failed_total
            .fetch_add(unlabelled, Ordering::Relaxed);
        if !request.is_empty() {
            let samples: u64 = request.iter().map(|(_, s)| s.len() as u64).sum();
            let newest = request
                .iter()
                .filter_map(|(_, s)| s.last().map(|s| s.timestamp))
                .max()
                .unwrap_or(0);
            let body = encode_series(request.iter().map(|(l, s)| (&l[..], s.as_slice())));
            let mut backoff = target.config.min_backoff;
            loop {
                // A receiver that hangs must not hold up the monitor's stop: the
                // request is left unacknowledged and sent first by the next run.
                let sent = tokio::select! {
                    sent = target.send(body.clone()) => sent,
                    _ = stop.wait_for(|s| *s) => return,
                };
                match sent {
                    Sent::Accepted => {
                        stats
                            .samples_sent_total
                            .fetch_add(samples, Ordering::Relaxed);
                        stats
                            .bytes_sent_total
                            .fetch_add(body.len() as u64, Ordering::Relaxed);
                        stats
                            .last_success_ms
                            .store(crate::unix_ms_now(), Ordering::Relaxed);
                        stats
                            .highest_sent_timestamp_ms
                            .fetch_max(newest, Ordering::Relaxed);
                        if let Some(since) = failing_since.take() {
                            tracing::info!(
                                target = %name,
                                "remote write: the receiver takes samples again after {}",
                                crate::time::duration::format(Duration::from_secs(since.elapsed().as_secs()))
                            );
                        }
                        break;
                    }
                    Sent::Refused(why) => {
                        stats
                            .samples_failed_total
                            .fetch_add(samples, Ordering::Relaxed);
                        tracing::error!(
                            target = %name,
                            samples,
                            "remote write: the receiver refused a request, which is dropped: {why}"
                        );
                        break;
                    }
                    Sent::Retry(why, asked) => {
                        if failing_since.is_none() {
                            failing_since = Some(std::time::Instant::now());
                            tracing::warn!(
                                target = %name,
                                "remote write: sending failed, retrying with backoff (samples wait on disk): {why}"
                            );
                        } else {
                            tracing::debug!(target = %name, "remote write: retry failed: {why}");
                        }
                        stats.retries_total.fetch_add(1, Ordering::Relaxed);
                        let wait = asked.unwrap_or(backoff).min(target.config.max_backoff);
                        backoff = (backoff * 2).min(target.config.max_backoff);
                        // Stopped while waiting: not acknowledged, so the next run
                        // sends this batch first.
                        if sleep_or_stop(&mut stop, wait).await {
                            return;
                        }
                    }
                }
            }
        }
        let ack = {
            let (store, name) = (store.clone(), name.clone());
            let end = batch.end;
            tokio::task::spawn_blocking(move || store.outbox_ack(&name, end)).await
        };
        if let Ok(Err(e)) = ack {
            tracing::error!(target = %name, "remote write: acknowledging in the outbox: {e}");
            if sleep_or_stop(&mut stop, Duration::from_secs(5)).await {
                break;
            }
        }
    }
}

/// Sleeps `d`; true when the monitor stops meanwhile.
async fn sleep_or_stop(stop: &mut tokio::sync::watch::Receiver<bool>, d: Duration) -> bool {
    // A dropped sender (the monitor gone) counts as a stop too.
    let stopped = tokio::time::timeout(d, stop.wait_for(|s| *s)).await;
    stopped.is_ok()
}

impl Target {
    /// The request for `batch`: its samples grouped by series (each series' samples
    /// stay in the order they were stored) with the series' labels, and how many
    /// samples could not be labelled.
    async fn request(
        &mut self,
        store: &Arc<Store>,
        batch: &OutboxBatch,
    ) -> (Vec<(Arc<[Label]>, Vec<Sample>)>, u64) {
        let mut unknown: Vec<u64> = batch
            .samples
            .iter()
            .map(|s| s.series)
            .filter(|id| !self.labels.contains_key(id))
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        if !unknown.is_empty() {
            let store = store.clone();
            let ids = unknown.clone();
            let metas = tokio::task::spawn_blocking(move || store.series_meta(&ids))
                .await
                .unwrap_or_default();
            for (id, meta) in unknown
                .iter()
                .zip(metas.into_iter().chain(std::iter::repeat(None)))
            {
                let series = match meta {
                    Some(m) if !self.config.ships(m.name()) => Series::Filtered,
                    Some(m) => series_labels(&m, &self.config.external_labels)
                        .map_or(Series::Unreadable, |l| Series::Labelled(Arc::from(l))),
                    None => Series::Unreadable,
                };
                self.labels.insert(*id, series);
            }
        }
        let mut index: HashMap<u64, usize> = HashMap::new();
        let mut request: Vec<(Arc<[Label]>, Vec<Sample>)> = Vec::new();
        let mut unlabelled = 0;
        for s in &batch.samples {
            let labels = match self.labels.get(&s.series) {
                Some(Series::Labelled(labels)) => labels,
                Some(Series::Filtered) => continue,
                Some(Series::Unreadable) | None => {
                    unlabelled += 1;
                    continue;
                }
            };
            let at = *index.entry(s.series).or_insert_with(|| {
                request.push((labels.clone(), Vec::new()));
                request.len() - 1
            });
            request[at].1.push(Sample {
                value: s.value,
                timestamp: s.at_ms,
            });
        }
        (request, unlabelled)
    }

    async fn send(&self, body: Vec<u8>) -> Sent {
        let answer = match self.client.post(&self.config.url).body(body).send().await {
            Ok(a) => a,
            Err(e) => return Sent::Retry(crate::etcd::error_chain(&e.without_url()), None),
        };
        let status = answer.status();
        if status.is_success() {
            return Sent::Accepted;
        }
        let asked = answer
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // The receiver's reason, cut short: it goes to the log.
        let text = tokio::time::timeout(Duration::from_secs(5), answer.text())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let why = format!("{status}: {}", crate::text::truncate(text.trim(), 300));
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            Sent::Retry(why, asked)
        } else {
            Sent::Refused(why)
        }
    }
}
