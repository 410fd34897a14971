//! One probe of one cluster: member list, per-member Status, `/health` and
//! `/metrics` (all members at once, each call with its own deadline), alarms, and
//! now and then a HashKV consistency check. The derived view (leader, agreement,
//! quorum, spreads, status and its reasons) is built by [`super::view`].
//!
//! Status and `/metrics` are asked of every member at every probe. The member
//! list, `/health` and the alarm list mostly repeat what Status already says, and
//! each is a request the members serve (the alarm list even goes through raft),
//! so they are asked when Status gives a reason to or their interval is up: see
//! [`ClusterProber::probe`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{AlarmAction, AlarmType, Client};
use futures::future::join_all;

use super::derive::{Indicators, MetricsSample};
use super::keep::SeriesFilter;
use super::snapshot::*;
use super::view::{compare_hashes, derive_cluster_view, member_label, set_status};
use crate::collect::settings::CollectSettings;
use crate::etcd::ClusterConfig;
use crate::etcd::{with_deadline, Connector, EtcdError};
use crate::promtext;
use crate::store::MemberSamples;

/// A member as the member list (or, before any list, the config) describes it.
#[derive(Debug, Clone)]
struct MemberEntry {
    id: u64,
    name: String,
    peer_urls: Vec<String>,
    client_urls: Vec<String>,
    is_learner: bool,
}

/// One member's `/metrics`: what the indicators need, and every sample for history.
struct Scraped {
    sample: MetricsSample,
    series: Vec<(String, f64)>,
}

/// What one probe produced: the snapshot, and the samples to keep as history.
pub struct ProbeResult {
    pub snapshot: ClusterSnapshot,
    pub samples: Vec<MemberSamples>,
}

/// Indicators are kept in history under this prefix: `etcd_monitor:wal_fsync_p99_seconds`.
pub const INDICATOR_PREFIX: &str = "etcd_monitor:";

/// What one member answered in this probe.
struct MemberProbe {
    status: Result<etcd_client::StatusResponse, EtcdError>,
    health: Result<bool, String>,
    /// Whether `health` was asked in this probe (else: a recent "true" reused).
    health_asked: bool,
}

/// State a cluster's collector keeps between probes.
pub struct ClusterProber {
    cluster: ClusterConfig,
    settings: CollectSettings,
    connector: Connector,
    /// One gRPC client per client URL, reused across probes; dropped on failure.
    /// Boxed: a `Client` is 3.7 KB, and the map's spare slots would be as large.
    clients: HashMap<String, Box<Client>>,
    members: Vec<MemberEntry>,
    cluster_id: Option<u64>,
    /// When `members` last came from a member list (`None`: never, or it failed).
    members_listed_at: Option<Instant>,
    /// The last probe saw something that may mean other members: list them again.
    relist_members: bool,
    /// The leader and term of the last probe, to notice a change.
    last_leader: Option<(String, Option<u64>)>,
    /// By client URL: when the member's `/health` last said "true". Only a "true"
    /// is reused; anything else is asked again at the next probe.
    healthy_at: HashMap<String, Instant>,
    previous_metrics: HashMap<String, MetricsSample>,
    last_consistency: Option<(Instant, ConsistencyCheck)>,
    counts: ProbeCounts,
    /// Which scraped series go to history (all of them unless told).
    series_filter: Arc<SeriesFilter>,
}

impl ClusterProber {
    pub fn new(cluster: ClusterConfig, settings: CollectSettings) -> Result<Self, EtcdError> {
        let connector = Connector::new(&cluster, settings.request_timeout, settings.dial_timeout)?;
        Ok(ClusterProber {
            cluster,
            settings,
            connector,
            clients: HashMap::new(),
            members: Vec::new(),
            cluster_id: None,
            members_listed_at: None,
            relist_members: true,
            last_leader: None,
            healthy_at: HashMap::new(),
            previous_metrics: HashMap::new(),
            last_consistency: None,
            counts: ProbeCounts::default(),
            series_filter: Arc::new(SeriesFilter::all()),
        })
    }

    /// Stores only the scraped series `filter` keeps.
    pub fn with_series_filter(mut self, filter: Arc<SeriesFilter>) -> Self {
        self.series_filter = filter;
        self
    }

    /// Each member's latest `/metrics` sample by member ID: its histograms are
    /// cumulative since the member started (quantiles over its lifetime).
    pub fn last_metrics(&self) -> &HashMap<String, MetricsSample> {
        &self.previous_metrics
    }

    /// One client per URL, from the cache or newly connected; new connections are
    /// made at once (with auth, connecting is a call that can hang).
    async fn clients(&mut self, urls: &[Option<&str>]) -> Vec<Result<Client, String>> {
        let connector = &self.connector;
        let cache = &self.clients;
        let results = join_all(urls.iter().map(|url| async move {
            let url = url.ok_or("member has not started yet (no client URL)")?;
            if let Some(c) = cache.get(url) {
                return Ok(Client::clone(c));
            }
            connector
                .connect(&[url.to_string()])
                .await
                .map_err(|e| e.to_string())
        }))
        .await;
        for (url, result) in urls.iter().zip(&results) {
            if let (Some(url), Ok(client)) = (url, result) {
                self.clients
                    .entry(url.to_string())
                    .or_insert_with(|| Box::new(client.clone()));
            }
        }
        results
    }

    /// The member list from the first endpoint to answer; all are asked at once so a
    /// hung endpoint costs nothing when another is up.
    /// Returns the members and the cluster ID.
    async fn member_list(&mut self) -> Result<(Vec<MemberEntry>, Option<u64>), String> {
        let mut urls: Vec<String> = self.cluster.endpoints.clone();
        for m in &self.members {
            for u in &m.client_urls {
                if !urls.contains(u) {
                    urls.push(u.clone());
                }
            }
        }
        let timeout = self.connector.request_timeout();
        let url_refs: Vec<Option<&str>> = urls.iter().map(|u| Some(u.as_str())).collect();
        let mut clients = Vec::new();
        let mut connect_errors = Vec::new();
        for (url, result) in urls.iter().zip(self.clients(&url_refs).await) {
            match result {
                Ok(c) => clients.push((url.clone(), c)),
                Err(e) => connect_errors.push(e),
            }
        }
        let calls = clients.into_iter().map(|(url, mut c)| {
            Box::pin(async move {
                with_deadline(&format!("member list from {url}"), timeout, c.member_list()).await
            })
        });
        if calls.len() == 0 {
            return Err(format!("member list: {}", connect_errors.join("; ")));
        }
        match futures::future::select_ok(calls).await {
            Ok((resp, _)) => Ok((
                resp.members()
                    .iter()
                    .map(|m| MemberEntry {
                        id: m.id(),
                        name: m.name().to_string(),
                        peer_urls: m.peer_urls().to_vec(),
                        client_urls: m.client_urls().to_vec(),
                        is_learner: m.is_learner(),
                    })
                    .collect(),
                resp.header().map(|h| h.cluster_id()),
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn scrape(&self, url: &str) -> Result<Scraped, String> {
        let body = self
            .connector
            .metrics(url)
            .await
            .map_err(|e| e.to_string())?;
        let at = Instant::now();
        let scrape = promtext::parse(&body).map_err(|e| format!("GET {url}: {e}"))?;
        Ok(Scraped {
            sample: MetricsSample::from_scrape(&scrape, at),
            series: scrape
                .samples()
                .filter(|s| self.series_filter.keeps(s))
                .map(|s| (s.series_text(), s.value()))
                .collect(),
        })
    }

    /// The connector the prober's calls go through (its TLS and credentials
    /// read once), for callers that ask the cluster more than a probe does.
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// Probes the cluster once; samples are stamped `at_ms`.
    ///
    /// Every member's Status and `/metrics` are asked every time. The others only
    /// when they can tell something Status does not, within a bounded time:
    /// - the member list when the last probe saw a member fail or report errors, a
    ///   new leader or term, a member without ID or client URL, or a cluster not
    ///   healthy, and otherwise every `member_list_interval`;
    /// - a member's `/health` (a read through raft) unless it said "true" less than
    ///   `health_interval` ago and its Status now answers with no errors;
    /// - the alarm list unless every member that answered runs etcd 3.4 or later
    ///   (whose Status lists the raised alarms in its errors) and reports no error.
    pub async fn probe(&mut self, at_ms: i64) -> ProbeResult {
        let started = Instant::now();
        let mut snap = ClusterSnapshot::pending(&self.cluster.name, &self.cluster.tags);
        snap.probed_at = Some(Timestamp::now());
        let members = self.refresh_members(&mut snap).await;
        snap.cluster_id = self.cluster_id.map(member_id_hex);

        // Every member's calls run at once, each under its own deadline.
        let urls: Vec<Option<&str>> = members
            .iter()
            .map(|m| m.client_urls.first().map(String::as_str))
            .collect();
        let clients = self.clients(&urls).await;
        let metrics_urls = self.metrics_urls(&members);
        let scrapes = metrics_urls.iter().map(|url| self.scrape(url));
        let (probes, scrapes) =
            tokio::join!(self.ask_members(&members, clients), join_all(scrapes));
        let answered_by_another = self.remember_answers(&members, &probes);

        snap.members = members
            .iter()
            .zip(probes)
            .map(|(m, p)| member_snapshot(m, p))
            .collect();
        let samples = self.attach_metrics(&mut snap, &metrics_urls, scrapes, at_ms);
        self.list_alarms(&mut snap, &members).await;

        derive_cluster_view(&mut snap, &self.settings);
        snap.consistency = self.consistency(&snap, &members).await;
        set_status(&mut snap);
        self.relist_members =
            answered_by_another || self.membership_may_have_changed(&snap, &members);
        snap.probe_duration_ms = Some(started.elapsed().as_millis() as u64);
        self.counts.add(&snap);
        snap.counts = self.counts.clone();
        ProbeResult {
            snapshot: snap,
            samples,
        }
    }

    /// The members to probe: listed again when due, else those of the last list; a
    /// failed list is one of the snapshot's errors.
    async fn refresh_members(&mut self, snap: &mut ClusterSnapshot) -> Vec<MemberEntry> {
        let list_due = self.relist_members
            || self
                .members_listed_at
                .is_none_or(|at| at.elapsed() >= self.settings.member_list_interval);
        if !list_due {
            return self.members.clone();
        }
        match self.member_list().await {
            Ok((members, cluster_id)) => {
                self.members = members;
                self.cluster_id = cluster_id;
                self.members_listed_at = Some(Instant::now());
            }
            Err(e) => {
                snap.errors.push(e);
                self.members_listed_at = None;
                if self.members.is_empty() {
                    // Never reached: show the configured endpoints as members.
                    self.members = self
                        .cluster
                        .endpoints
                        .iter()
                        .map(|e| MemberEntry {
                            id: 0,
                            name: e.clone(),
                            peer_urls: vec![],
                            client_urls: vec![e.clone()],
                            is_learner: false,
                        })
                        .collect();
                }
            }
        }
        self.members.clone()
    }

    /// Every member's Status, and its `/health` unless a recent "true" can stand;
    /// all members at once, each call under its own deadline.
    async fn ask_members(
        &self,
        members: &[MemberEntry],
        clients: Vec<Result<Client, String>>,
    ) -> Vec<MemberProbe> {
        let timeout = self.connector.request_timeout();
        let connector = &self.connector;
        let health_interval = self.settings.health_interval;
        let healthy_at = &self.healthy_at;
        let probes = members.iter().zip(clients).map(|(m, client)| async move {
            let Some(url) = m.client_urls.first() else {
                return MemberProbe {
                    status: Err(EtcdError::Setup(
                        "member has not started yet (no client URL)".into(),
                    )),
                    health: Err("not started".into()),
                    health_asked: true,
                };
            };
            let status = async {
                match client {
                    Ok(mut c) => with_deadline("status", timeout, c.status()).await,
                    Err(e) => Err(EtcdError::Setup(e)),
                }
            };
            let health = || async {
                match connector.http_get(&format!("{url}/health")).await {
                    Ok((_, body)) => parse_health(&body),
                    Err(e) => Err(e.to_string()),
                }
            };
            // Asked alongside Status unless a recent "true" can stand; then only if
            // Status reports errors, which `/health` may turn into "false".
            let trusted = healthy_at
                .get(url)
                .is_some_and(|at| at.elapsed() < health_interval);
            if !trusted {
                let (status, health) = tokio::join!(status, health());
                return MemberProbe {
                    status,
                    health,
                    health_asked: true,
                };
            }
            let status = status.await;
            match &status {
                Ok(s) if !s.errors().is_empty() => MemberProbe {
                    status,
                    health: health().await,
                    health_asked: true,
                },
                _ => MemberProbe {
                    status,
                    health: Ok(true),
                    health_asked: false,
                },
            }
        });
        join_all(probes).await
    }

    /// Drops the clients of members that did not answer and remembers which said
    /// "true" to `/health`. Returns whether an endpoint is now served by another
    /// member than the list says.
    fn remember_answers(&mut self, members: &[MemberEntry], probes: &[MemberProbe]) -> bool {
        let mut answered_by_another = false;
        for (m, p) in members.iter().zip(probes) {
            let Some(url) = m.client_urls.first() else {
                continue;
            };
            match &p.status {
                Ok(s) => {
                    answered_by_another |= s.header().is_some_and(|h| h.member_id() != m.id);
                }
                Err(_) => {
                    self.clients.remove(url);
                }
            }
            // Only a "true" next to an answered Status is reused; after any failure
            // `/health` is asked again as soon as the member answers.
            match (&p.status, &p.health) {
                (Ok(_), Ok(true)) if p.health_asked => {
                    self.healthy_at.insert(url.clone(), Instant::now());
                }
                (Ok(_), Ok(true)) => {}
                _ => {
                    self.healthy_at.remove(url);
                }
            }
        }
        self.healthy_at
            .retain(|url, _| members.iter().any(|m| m.client_urls.first() == Some(url)));
        answered_by_another
    }

    /// The raised alarms, asked only when the members' Status cannot tell.
    async fn list_alarms(&mut self, snap: &mut ClusterSnapshot, members: &[MemberEntry]) {
        // Since etcd 3.4 a member's Status lists every alarm raised (as an error,
        // like "memberID:.. alarm:NOSPACE"), and alarms are replicated to every
        // member: when all that answered run 3.4+ and report no error, no alarm
        // is raised that they have applied, and the list would be empty.
        let answered: Vec<&MemberStatus> = snap
            .members
            .iter()
            .filter_map(|m| m.status.as_ref())
            .collect();
        let no_alarm_in_status = !answered.is_empty()
            && answered
                .iter()
                .all(|s| s.errors.is_empty() && status_lists_alarms(&s.version));
        if no_alarm_in_status {
            return;
        }
        // Asked of a member that just answered (clients of the others were dropped
        // by remember_answers), so a hung member does not make the alarm list fail
        // too.
        let Some(mut c) = self.any_client(members) else {
            snap.errors
                .push(EtcdError::Setup("alarm list: no member reachable".into()).to_string());
            return;
        };
        let timeout = self.connector.request_timeout();
        match with_deadline(
            "alarm list",
            timeout,
            c.alarm(AlarmAction::Get, AlarmType::None, None),
        )
        .await
        {
            Ok(resp) => {
                snap.alarms = resp
                    .alarms()
                    .iter()
                    .filter(|a| a.alarm() != AlarmType::None)
                    .map(|a| Alarm {
                        member_id: member_id_hex(a.member_id()),
                        member_name: members
                            .iter()
                            .find(|m| m.id == a.member_id())
                            .map(|m| m.name.clone()),
                        alarm: alarm_name(a.alarm()).to_string(),
                    })
                    .collect()
            }
            Err(e) => snap.errors.push(e.to_string()),
        }
    }

    /// Whether this probe saw anything a change of members could explain, so the
    /// next probe lists them again rather than waiting for `member_list_interval`.
    fn membership_may_have_changed(
        &mut self,
        snap: &ClusterSnapshot,
        members: &[MemberEntry],
    ) -> bool {
        let leader = snap.leader.as_ref().map(|l| (l.id.clone(), snap.raft_term));
        let leader_changed = self.last_leader != leader;
        self.last_leader = leader;
        leader_changed
            || snap.status != ClusterStatus::Healthy
            || members
                .iter()
                .any(|m| m.id == 0 || m.client_urls.is_empty())
            || snap
                .members
                .iter()
                .any(|m| m.status.as_ref().is_none_or(|s| !s.errors.is_empty()))
    }

    fn any_client(&self, members: &[MemberEntry]) -> Option<Client> {
        for m in members {
            if let Some(url) = m.client_urls.first() {
                if let Some(c) = self.clients.get(url) {
                    return Some(Client::clone(c));
                }
            }
        }
        None
    }

    fn metrics_urls(&self, members: &[MemberEntry]) -> Vec<String> {
        if !self.cluster.metrics_urls.is_empty() {
            return self.cluster.metrics_urls.clone();
        }
        members
            .iter()
            .filter_map(|m| m.client_urls.first())
            .map(|u| format!("{u}/metrics"))
            .collect()
    }

    /// Matches each scrape to its member (by the `etcd_server_id` it reports, else by
    /// URL), turns it into indicators against that member's previous scrape, and
    /// returns every member's samples and indicators for history.
    fn attach_metrics(
        &mut self,
        snap: &mut ClusterSnapshot,
        urls: &[String],
        scrapes: Vec<Result<Scraped, String>>,
        at_ms: i64,
    ) -> Vec<MemberSamples> {
        let mut history = Vec::new();
        for (url, scrape) in urls.iter().zip(scrapes) {
            let by_url = snap.members.iter().position(|m| {
                m.client_urls
                    .first()
                    .is_some_and(|c| url.starts_with(c.as_str()))
            });
            let index = match &scrape {
                Ok(s) => s
                    .sample
                    .server_id
                    .as_ref()
                    .and_then(|id| snap.members.iter().position(|m| &m.id == id))
                    .or(by_url),
                Err(_) => by_url,
            }
            .or_else(|| same_host(url, &snap.members));
            let Some(index) = index else {
                snap.errors
                    .push(format!("metrics from {url} match no member of the cluster"));
                continue;
            };
            let member = &mut snap.members[index];
            member.metrics_url = Some(url.clone());
            match scrape {
                Ok(Scraped { sample, mut series }) => {
                    let key = member.id.clone();
                    let indicators = Indicators::derive(&sample, self.previous_metrics.get(&key));
                    series.extend(indicator_series(&indicators));
                    member.indicators = Some(indicators);
                    self.previous_metrics.insert(key, sample);
                    history.push(MemberSamples {
                        cluster: snap.name.clone(),
                        member: member_label(member),
                        at_ms,
                        samples: series,
                    });
                }
                Err(e) => member.scrape_error = Some(e),
            }
        }
        // Keep previous scrapes only of members still present.
        let ids: Vec<String> = snap.members.iter().map(|m| m.id.clone()).collect();
        self.previous_metrics.retain(|id, _| ids.contains(id));
        history
    }

    async fn consistency(
        &mut self,
        snap: &ClusterSnapshot,
        members: &[MemberEntry],
    ) -> Option<ConsistencyCheck> {
        let every = self.settings.consistency_interval;
        if every.is_zero() {
            return None;
        }
        if let Some((at, last)) = &self.last_consistency {
            if at.elapsed() < every {
                return Some(last.clone());
            }
        }
        let reachable: Vec<(&MemberSnapshot, &MemberEntry)> = snap
            .members
            .iter()
            .zip(members)
            .filter(|(s, _)| s.reachable)
            .collect();
        if reachable.len() < 2 {
            return self.last_consistency.as_ref().map(|(_, c)| c.clone());
        }
        // The lowest revision every reachable member has applied.
        let revision = reachable
            .iter()
            .filter_map(|(s, _)| s.status.as_ref().map(|st| st.revision))
            .min()?;
        let timeout = self.connector.request_timeout();
        let urls: Vec<Option<&str>> = reachable
            .iter()
            .map(|(_, e)| e.client_urls.first().map(String::as_str))
            .collect();
        let clients = self.clients(&urls).await;
        let ids = reachable.iter().map(|(s, _)| s.id.clone());
        let calls = ids.zip(clients).map(|(id, c)| async move {
            let result = match c {
                Ok(mut c) => with_deadline("hash kv", timeout, c.hash_kv(revision)).await,
                Err(e) => Err(EtcdError::Setup(e)),
            };
            match result {
                Ok(r) => MemberHash {
                    member_id: id,
                    hash: Some(r.hash()),
                    compact_revision: Some(r.compact_version()),
                    error: None,
                },
                Err(e) => MemberHash {
                    member_id: id,
                    hash: None,
                    compact_revision: None,
                    error: Some(e.to_string()),
                },
            }
        });
        let hashes = join_all(calls).await;
        let check = compare_hashes(
            revision,
            hashes,
            snap.leader.as_ref().map(|l| l.id.as_str()),
        );
        self.last_consistency = Some((Instant::now(), check.clone()));
        Some(check)
    }
}

/// The indicators as stored series: `etcd_monitor:<field>`, booleans as 0 or 1.
pub fn indicator_series(indicators: &Indicators) -> Vec<(String, f64)> {
    let serde_json::Value::Object(fields) =
        serde_json::to_value(indicators).unwrap_or(serde_json::Value::Null)
    else {
        return Vec::new();
    };
    fields
        .into_iter()
        .filter_map(|(name, v)| {
            let value = match v {
                serde_json::Value::Number(n) => n.as_f64()?,
                serde_json::Value::Bool(b) => f64::from(u8::from(b)),
                _ => return None,
            };
            Some((format!("{INDICATOR_PREFIX}{name}"), value))
        })
        .collect()
}

fn same_host(url: &str, members: &[MemberSnapshot]) -> Option<usize> {
    let host = |u: &str| {
        let rest = u.split("://").nth(1).unwrap_or(u);
        let host_port = rest.split('/').next().unwrap_or("");
        host_port
            .rsplit_once(':')
            .map_or(host_port, |(h, _)| h)
            .to_string()
    };
    let wanted = host(url);
    let matches: Vec<usize> = members
        .iter()
        .enumerate()
        .filter(|(_, m)| m.client_urls.iter().any(|c| host(c) == wanted))
        .map(|(i, _)| i)
        .collect();
    (matches.len() == 1).then(|| matches[0])
}

fn parse_health(body: &str) -> Result<bool, String> {
    #[derive(serde::Deserialize)]
    struct Health {
        health: String,
        #[serde(default)]
        reason: String,
    }
    let h: Health = serde_json::from_str(body)
        .map_err(|e| format!("/health answered something else than etcd's JSON: {e}"))?;
    match h.health.as_str() {
        "true" => Ok(true),
        _ if !h.reason.is_empty() => Err(format!("/health: {}", h.reason)),
        _ => Ok(false),
    }
}

/// Whether a member of this version lists raised alarms in its Status' errors
/// (etcd 3.4 and later); unknown versions count as not.
fn status_lists_alarms(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (3, 4),
        _ => false,
    }
}

fn alarm_name(a: AlarmType) -> &'static str {
    match a {
        AlarmType::Nospace => "NOSPACE",
        AlarmType::Corrupt => "CORRUPT",
        AlarmType::None => "NONE",
    }
}

fn member_snapshot(m: &MemberEntry, p: MemberProbe) -> MemberSnapshot {
    let (status, error) = match p.status {
        Ok(s) => {
            let header = s.header();
            (
                Some(MemberStatus {
                    version: s.version().to_string(),
                    db_size: s.db_size(),
                    db_size_in_use: s.raft_used_db_size(),
                    leader: member_id_hex(s.leader()),
                    raft_term: s.raft_term(),
                    raft_index: s.raft_index(),
                    raft_applied_index: s.raft_applied_index(),
                    revision: header.map_or(0, |h| h.revision()),
                    is_learner: s.is_learner(),
                    errors: s.errors().to_vec(),
                }),
                None,
            )
        }
        Err(e) => (None, Some(e.to_string())),
    };
    let reachable = status.is_some();
    let (healthy, error) = match (&error, p.health) {
        (Some(_), _) => (false, error),
        (None, Ok(true)) => (true, None),
        (None, Ok(false)) => (
            false,
            Some("/health reports the member unhealthy".to_string()),
        ),
        (None, Err(e)) => (false, Some(e)),
    };
    MemberSnapshot {
        id: if m.id == 0 {
            String::new()
        } else {
            member_id_hex(m.id)
        },
        name: m.name.clone(),
        peer_urls: m.peer_urls.clone(),
        client_urls: m.client_urls.clone(),
        is_learner: m.is_learner,
        is_leader: false,
        reachable,
        healthy,
        error,
        status,
        flags: Vec::new(),
        indicators: None,
        metrics_url: None,
        scrape_error: None,
    }
}

/// The longest one probe can take: the member list, then the members' calls (a
/// `/health` may follow Status) and the alarm list, then HashKV, each under
/// `request_timeout`, plus connecting.
pub fn probe_deadline(settings: &CollectSettings) -> Duration {
    settings.request_timeout * 4 + (settings.dial_timeout + settings.request_timeout) * 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_etcd_3_4_and_later_list_alarms_in_status() {
        // 3.4 added the alarms to StatusResponse.errors; an older or unreadable
        // version is asked for the alarm list.
        for v in ["3.4.0", "3.4.23", "3.5.1", "3.6.0-rc.1", "4.0.0"] {
            assert!(status_lists_alarms(v), "{v}");
        }
        for v in ["3.3.27", "3.2.0", "2.3.8", "", "3", "x.y.z"] {
            assert!(!status_lists_alarms(v), "{v}");
        }
    }
}
