//! The operator mode: watches EtcdCluster and EtcdInspection resources in one
//! namespace or all, monitors the clusters they declare beside those of the
//! config file and the registry, and, while this replica holds the Lease,
//! writes their status (server-side apply on the status subresource), emits
//! Kubernetes Events when a cluster's state changes, and runs the inspections.
//!
//! Every replica watches and probes, so that one taking the Lease over has
//! the clusters' history at hand; only the holder writes to the API. A watch
//! that loses its place (410 Gone) lists again (kube's watcher does it), and a
//! cluster whose resource vanished meanwhile is dropped at the end of that list.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::discover::{self, cluster_name};
use super::resources::{EtcdCluster, EtcdClusterStatus, EtcdInspection, EtcdInspectionStatus};
use super::settings::KubernetesSettings;
use super::status::{cluster_status, inspection_status, refused_status};
use super::{deadline, spec, OperatorError};
use crate::collect::{CollectSettings, SnapshotBoard};
use crate::fleet::{Fleet, FleetError};

/// The field manager of the status the operator applies, and the Events' source.
pub const MANAGER: &str = "etcd-monitor";
/// How often statuses are compared with the latest probes, and inspections
/// looked at for being due.
const TICK: Duration = Duration::from_secs(1);
/// A status write that failed (the API down, a conflict) is tried again after
/// this, not at every tick.
const WRITE_RETRY: Duration = Duration::from_secs(5);
/// An inspection run ends within this, whatever its cluster does.
const INSPECTION_DEADLINE: Duration = Duration::from_secs(120);

/// The running operator: its tasks stop on [`Operator::shutdown`].
pub struct Operator {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Whether this replica holds the Lease.
    pub leading: watch::Receiver<bool>,
}

/// What the operator's tasks share.
struct Shared {
    client: Client,
    fleet: Arc<Fleet>,
    board: SnapshotBoard,
    collect: CollectSettings,
    secrets_dir: PathBuf,
    dashboard_url: Option<String>,
    identity: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    clusters: BTreeMap<(String, String), ClusterEntry>,
    inspections: BTreeMap<(String, String), InspectionEntry>,
}

struct ClusterEntry {
    /// The resource as last seen (its status is the previous one to keep
    /// transition times from, whichever replica wrote it).
    object: EtcdCluster,
    /// The generation last acted on.
    reconciled: Option<i64>,
    /// The monitor's name of the cluster, while it is monitored.
    monitored: Option<String>,
    /// Why it is not monitored as declared: a CamelCase reason and a message.
    problem: Option<(&'static str, String)>,
    /// The status this replica wrote last, and the probe it came from.
    written: Option<(EtcdClusterStatus, Option<i64>)>,
    /// After a failed write, the next is not tried before this.
    retry_after: Option<Instant>,
}

struct InspectionEntry {
    object: EtcdInspection,
    reconciled: Option<i64>,
    next_run: Instant,
    running: bool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn key_of<K: Resource>(o: &K) -> (String, String) {
    (o.namespace().unwrap_or_default(), o.name_any())
}

/// A client as the settings say: their kubeconfig, else in-cluster or
/// kubectl's own.
pub async fn client(settings: &KubernetesSettings) -> Result<Client, OperatorError> {
    let config = match &settings.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| OperatorError::Config(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(|e| OperatorError::Config(format!("{}: {e}", path.display())))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| OperatorError::Config(e.to_string()))?,
    };
    Ok(Client::try_from(config)?)
}

impl Operator {
    /// Connects, checks that the CRDs are installed, and starts watching.
    /// `data_dir` is the store's: Secrets' material is written under it, in
    /// `kubernetes-secrets/` (0700), unless `secrets_dir` says where.
    pub async fn start(
        settings: &KubernetesSettings,
        fleet: Arc<Fleet>,
        board: SnapshotBoard,
        collect: CollectSettings,
        data_dir: &Path,
        dashboard_url: Option<String>,
    ) -> Result<Operator, OperatorError> {
        let client = client(settings).await?;
        let clusters: Api<EtcdCluster> = scoped(&client, settings.namespace.as_deref());
        let inspections: Api<EtcdInspection> = scoped(&client, settings.namespace.as_deref());
        // A clear error at start when the API is unreachable or the CRDs are
        // missing, rather than a watch that retries for ever.
        let probe = kube::api::ListParams::default().limit(1);
        deadline(clusters.list(&probe)).await.map_err(crd_hint)?;
        deadline(inspections.list(&probe)).await.map_err(crd_hint)?;
        let identity = settings.identity();
        let shared = Arc::new(Shared {
            client: client.clone(),
            fleet,
            board,
            collect,
            secrets_dir: settings
                .secrets_dir
                .clone()
                .unwrap_or_else(|| data_dir.join("kubernetes-secrets")),
            dashboard_url: dashboard_url.map(|u| u.trim_end_matches('/').to_string()),
            identity: identity.clone(),
            state: Mutex::new(State::default()),
        });
        let (stop, stop_rx) = watch::channel(false);
        let (leading_tx, leading) = watch::channel(false);
        let lease_api: Api<Lease> = Api::namespaced(client, &settings.lease_namespace());
        let elector = super::lease::Elector::new(
            lease_api,
            &settings.lease_name,
            &identity,
            settings.lease_duration,
        );
        tracing::info!(
            namespace = settings.namespace.as_deref().unwrap_or("(all)"),
            identity = %identity,
            lease = %format!("{}/{}", settings.lease_namespace(), settings.lease_name),
            "operator: watching EtcdCluster and EtcdInspection resources"
        );
        let tasks = vec![
            tokio::spawn(elector.run(leading_tx, stop_rx.clone())),
            tokio::spawn(watch_clusters(
                shared.clone(),
                clusters,
                settings.discovery_interval,
                stop_rx.clone(),
            )),
            tokio::spawn(watch_inspections(
                shared.clone(),
                inspections,
                stop_rx.clone(),
            )),
            tokio::spawn(write_statuses(
                shared.clone(),
                leading.clone(),
                stop_rx.clone(),
            )),
            tokio::spawn(run_inspections(shared, leading.clone(), stop_rx)),
        ];
        Ok(Operator {
            stop,
            tasks,
            leading,
        })
    }

    /// Stops watching and writing, and gives the Lease up. The clusters stay
    /// monitored until the monitor itself stops.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn crd_hint(e: OperatorError) -> OperatorError {
    match e {
        OperatorError::Kube(kube::Error::Api(s)) if s.code == 404 => OperatorError::Config(format!(
            "the EtcdCluster and EtcdInspection CRDs are not installed \
             (kubectl apply -f packaging/kubernetes/crds.yaml, or `etcd-monitor k8s crds | kubectl apply -f -`): {}",
            s.message
        )),
        other => other,
    }
}

/// Acts on the EtcdCluster watcher's events until `stop`, and reconciles every
/// known resource again each `rediscover_every`. Errors are logged: the
/// watcher backs off and lists again by itself.
async fn watch_clusters(
    shared: Arc<Shared>,
    api: Api<EtcdCluster>,
    rediscover_every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    let mut listed: Option<BTreeSet<(String, String)>> = None;
    let mut rediscover = tokio::time::interval(rediscover_every);
    rediscover.tick().await;
    loop {
        tokio::select! {
            event = stream.next() => match event {
                Some(Ok(watcher::Event::Init)) => listed = Some(BTreeSet::new()),
                Some(Ok(watcher::Event::InitApply(ec))) => {
                    if let Some(l) = listed.as_mut() {
                        l.insert(key_of(&ec));
                    }
                    reconcile_cluster(&shared, ec, false).await;
                }
                Some(Ok(watcher::Event::InitDone)) => {
                    // Resources deleted while the watch was away.
                    let seen = listed.take().unwrap_or_default();
                    let gone: Vec<_> = shared
                        .state()
                        .clusters
                        .keys()
                        .filter(|k| !seen.contains(*k))
                        .cloned()
                        .collect();
                    for key in gone {
                        forget_cluster(&shared, &key).await;
                    }
                }
                Some(Ok(watcher::Event::Apply(ec))) => reconcile_cluster(&shared, ec, false).await,
                Some(Ok(watcher::Event::Delete(ec))) => forget_cluster(&shared, &key_of(&ec)).await,
                Some(Err(e)) => tracing::warn!("watching EtcdClusters: {e}"),
                None => break,
            },
            _ = rediscover.tick() => {
                // Services' and pods' members change, and Secrets are rotated.
                let all: Vec<EtcdCluster> =
                    shared.state().clusters.values().map(|e| e.object.clone()).collect();
                for ec in all {
                    reconcile_cluster(&shared, ec, true).await;
                }
            }
            _ = stop.changed() => break,
        }
    }
}

/// Acts on an EtcdCluster as it is now: monitors what it declares, or records
/// why not. A resource whose generation was acted on already is only kept (a
/// status write comes back as a change) unless `again`.
async fn reconcile_cluster(shared: &Shared, ec: EtcdCluster, again: bool) {
    let key = key_of(&ec);
    let name = cluster_name(&key.0, &key.1);
    if shared.collect.shard.is_some_and(|s| !s.owns(&name)) {
        return;
    }
    let generation = ec.metadata.generation;
    {
        let mut state = shared.state();
        if let Some(entry) = state.clusters.get_mut(&key) {
            if !again && entry.reconciled == generation && generation.is_some() {
                entry.object = ec;
                return;
            }
        }
    }
    let (monitored, problem) = match spec::check_cluster(&ec.spec) {
        Err(e) => {
            if shared.fleet.undeclare(&name).await {
                tracing::warn!(cluster = %name, "no longer monitored: its spec is refused: {e}");
            }
            (None, Some(("InvalidSpec", e.to_string())))
        }
        Ok(()) => match discover::resolve(&shared.client, &ec, &shared.secrets_dir).await {
            Ok(resolved) => match shared
                .fleet
                .declare(resolved.config, resolved.secrets_changed)
                .await
            {
                Ok(started) => {
                    if started {
                        tracing::info!(cluster = %name, "monitoring, as its EtcdCluster declares");
                    }
                    (Some(name.clone()), None)
                }
                Err(FleetError::Exists(_)) => (
                    None,
                    Some((
                        "NameTaken",
                        format!(
                            "the monitor's config file or registry has a cluster named {name:?}"
                        ),
                    )),
                ),
                Err(e) => (None, Some(("InvalidSettings", e.to_string()))),
            },
            // No member declared (the pods or endpoints are gone): nothing to probe.
            Err(e @ OperatorError::NoMembers(_)) => {
                if shared.fleet.undeclare(&name).await {
                    tracing::warn!(cluster = %name, "no longer monitored: {e}");
                }
                (None, Some(("NoMembers", e.to_string())))
            }
            // A Secret or the API is not to be had: a running collector goes on
            // with the settings it had, and Ready says so.
            Err(e) => {
                let reason = match &e {
                    OperatorError::Secret(_) => "SecretNotFound",
                    _ => "DiscoveryFailed",
                };
                let running = shared.fleet.declared().contains(&name);
                (running.then(|| name.clone()), Some((reason, e.to_string())))
            }
        },
    };
    let mut state = shared.state();
    let entry = state.clusters.entry(key).or_insert_with(|| ClusterEntry {
        object: ec.clone(),
        reconciled: None,
        monitored: None,
        problem: None,
        written: None,
        retry_after: None,
    });
    entry.object = ec;
    entry.reconciled = generation;
    entry.monitored = monitored;
    entry.problem = problem;
}

async fn forget_cluster(shared: &Shared, key: &(String, String)) {
    let name = cluster_name(&key.0, &key.1);
    shared.state().clusters.remove(key);
    if shared.fleet.undeclare(&name).await {
        tracing::info!(cluster = %name, "no longer monitored: its EtcdCluster is gone (history kept)");
    }
    discover::forget_secrets(&shared.secrets_dir, &name);
}

/// While leading, writes each EtcdCluster's status after every new probe of
/// its cluster (or a change of its problem), and an Event when its phase or
/// leader changes.
async fn write_statuses(
    shared: Arc<Shared>,
    leading: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if !*leading.borrow() {
            // Whatever another holder writes meanwhile is newer than ours.
            for e in shared.state().clusters.values_mut() {
                e.written = None;
            }
            continue;
        }
        let now_ms = crate::unix_ms_now();
        let now = crate::time::rfc3339_seconds(now_ms);
        let mut due = Vec::new();
        for (key, e) in shared.state().clusters.iter() {
            if e.retry_after.is_some_and(|at| at > Instant::now()) {
                continue;
            }
            let previous = e
                .written
                .as_ref()
                .map(|(s, _)| s.clone())
                .or_else(|| e.object.status.clone());
            let generation = e.object.metadata.generation;
            let (status, probe) = match (&e.monitored, &e.problem) {
                (Some(name), _) => {
                    let Some(snap) = shared.board.get(name) else {
                        continue;
                    };
                    let probe = snap.probed_at.as_ref().map(|t| t.unix_ms());
                    if e.written.as_ref().is_some_and(|(_, p)| *p == probe) {
                        continue;
                    }
                    let url = shared
                        .dashboard_url
                        .as_ref()
                        .map(|u| format!("{u}/clusters/{}", crate::text::urlencode(name)));
                    let mut status =
                        cluster_status(&snap, previous.as_ref(), &now, generation, url);
                    if let Some((reason, message)) = &e.problem {
                        not_ready_as_declared(
                            &mut status,
                            reason,
                            message,
                            previous.as_ref(),
                            &now,
                        );
                    }
                    (status, probe)
                }
                (None, Some((reason, message))) => {
                    let s = refused_status(reason, message, previous.as_ref(), &now, generation);
                    if e.written.as_ref().is_some_and(|(w, _)| *w == s) {
                        continue;
                    }
                    (s, None)
                }
                (None, None) => continue,
            };
            due.push((key.clone(), e.object.clone(), previous, status, probe));
        }
        for (key, object, previous, status, probe) in due {
            match apply_status::<EtcdCluster, _>(&shared.client, &object, &status).await {
                Ok(()) => {
                    for (kind, reason, message) in cluster_changes(previous.as_ref(), &status) {
                        emit(&shared, &object, kind, reason, &message).await;
                    }
                    if let Some(e) = shared.state().clusters.get_mut(&key) {
                        e.written = Some((status, probe));
                        e.retry_after = None;
                    }
                }
                Err(error) => {
                    tracing::warn!(
                        resource = %format!("{}/{}", key.0, key.1),
                        "EtcdCluster status not written (tried again in {WRITE_RETRY:?}): {error}"
                    );
                    if let Some(e) = shared.state().clusters.get_mut(&key) {
                        e.retry_after = Some(Instant::now() + WRITE_RETRY);
                    }
                }
            }
        }
    }
}

/// Ready turned False on a probed cluster whose resource could not be read
/// again (its Secret gone): probed with the settings last read.
fn not_ready_as_declared(
    status: &mut EtcdClusterStatus,
    reason: &str,
    message: &str,
    previous: Option<&EtcdClusterStatus>,
    now: &str,
) {
    let Some(ready) = status.conditions.iter_mut().find(|c| c.type_ == "Ready") else {
        return;
    };
    let was_false = previous
        .and_then(|p| p.conditions.iter().find(|c| c.type_ == "Ready"))
        .filter(|c| c.status == "False");
    ready.status = "False".into();
    ready.reason = reason.to_string();
    ready.message = crate::text::truncate(
        &format!("probed with the settings last read: {message}"),
        super::status::MAX_MESSAGE_CHARS,
    );
    ready.last_transition_time = match was_false {
        Some(c) => c.last_transition_time.clone(),
        None => now.to_string(),
    };
}

/// The Events a status change is worth: phase changes (a Warning with the
/// reason when it got worse) and leader changes.
fn cluster_changes(
    previous: Option<&EtcdClusterStatus>,
    now: &EtcdClusterStatus,
) -> Vec<(&'static str, &'static str, String)> {
    let mut out = Vec::new();
    let phase_before = previous.and_then(|p| p.phase.clone());
    if now.phase != phase_before {
        let ready = now.conditions.iter().find(|c| c.type_ == "Ready");
        let degraded = now.conditions.iter().find(|c| c.type_ == "Degraded");
        match now.phase.as_deref() {
            Some("Healthy") => out.push((
                "Normal",
                "Healthy",
                "every member is up, there is a leader and no alarm".to_string(),
            )),
            Some("Degraded") | Some("Unavailable") => {
                let d = degraded.cloned().unwrap_or_default();
                out.push(("Warning", static_reason(&d.reason), d.message));
            }
            Some("NotMonitored") => {
                let r = ready.cloned().unwrap_or_default();
                out.push(("Warning", static_reason(&r.reason), r.message));
            }
            _ => {}
        }
    }
    if let (Some(before), Some(after)) = (
        previous.and_then(|p| p.leader.as_deref()),
        now.leader.as_deref(),
    ) {
        if before != after {
            out.push((
                "Normal",
                "LeaderChanged",
                format!("leader {before} → {after}"),
            ));
        }
    }
    out
}

/// The reasons the status module makes, as static strings for Events.
fn static_reason(reason: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "NoMemberReachable",
        "NoQuorum",
        "NoLeader",
        "MemberUnreachable",
        "MemberUnhealthy",
        "MemberDisagrees",
        "AlarmRaised",
        "HashMismatch",
        "ProbeErrors",
        "InvalidSpec",
        "SecretNotFound",
        "NoMembers",
        "NameTaken",
        "InvalidSettings",
        "DiscoveryFailed",
    ];
    KNOWN
        .iter()
        .find(|k| **k == reason)
        .copied()
        .unwrap_or("Degraded")
}

/// Server-side apply of `status` on `object`'s status subresource, as the
/// sole manager of it (fields it no longer sets go away).
async fn apply_status<K, S>(client: &Client, object: &K, status: &S) -> Result<(), OperatorError>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
    S: serde::Serialize,
{
    let (namespace, name) = key_of(object);
    let api: Api<K> = Api::namespaced(client.clone(), &namespace);
    let body = json!({
        "apiVersion": K::api_version(&Default::default()),
        "kind": K::kind(&Default::default()),
        "status": status,
    });
    deadline(api.patch_status(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&body),
    ))
    .await?;
    Ok(())
}

/// A core/v1 Event about `object` (what `kubectl describe` lists). Failures
/// are logged: an Event is worth less than the status it accompanies.
async fn emit<K>(shared: &Shared, object: &K, kind: &str, reason: &str, message: &str)
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    let (namespace, name) = key_of(object);
    let now = k8s_openapi::jiff::Timestamp::now();
    let event = Event {
        metadata: ObjectMeta {
            // client-go's form: the object's name and a unique suffix.
            name: Some(format!("{name}.{:x}", now.as_nanosecond())),
            namespace: Some(namespace.clone()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some(K::api_version(&Default::default()).to_string()),
            kind: Some(K::kind(&Default::default()).to_string()),
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            uid: object.meta().uid.clone(),
            resource_version: object.meta().resource_version.clone(),
            ..ObjectReference::default()
        },
        reason: Some(reason.to_string()),
        message: Some(crate::text::truncate(message, 1024)),
        type_: Some(kind.to_string()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        count: Some(1),
        source: Some(EventSource {
            component: Some(MANAGER.to_string()),
            host: None,
        }),
        reporting_component: Some(MANAGER.to_string()),
        reporting_instance: Some(shared.identity.clone()),
        ..Event::default()
    };
    let api: Api<Event> = Api::namespaced(shared.client.clone(), &namespace);
    match deadline(api.create(&PostParams::default(), &event)).await {
        Ok(_) => tracing::info!(resource = %format!("{namespace}/{name}"), reason, "{message}"),
        Err(e) => {
            tracing::warn!(resource = %format!("{namespace}/{name}"), reason, "Event not written: {e}")
        }
    }
}

async fn watch_inspections(
    shared: Arc<Shared>,
    api: Api<EtcdInspection>,
    mut stop: watch::Receiver<bool>,
) {
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    let mut listed: Option<BTreeSet<(String, String)>> = None;
    loop {
        tokio::select! {
            event = stream.next() => match event {
                Some(Ok(watcher::Event::Init)) => listed = Some(BTreeSet::new()),
                Some(Ok(watcher::Event::InitApply(ei))) => {
                    if let Some(l) = listed.as_mut() {
                        l.insert(key_of(&ei));
                    }
                    keep_inspection(&shared, ei);
                }
                Some(Ok(watcher::Event::InitDone)) => {
                    let seen = listed.take().unwrap_or_default();
                    shared.state().inspections.retain(|k, _| seen.contains(k));
                }
                Some(Ok(watcher::Event::Apply(ei))) => keep_inspection(&shared, ei),
                Some(Ok(watcher::Event::Delete(ei))) => {
                    shared.state().inspections.remove(&key_of(&ei));
                }
                Some(Err(e)) => tracing::warn!("watching EtcdInspections: {e}"),
                None => break,
            },
            _ = stop.changed() => break,
        }
    }
}

/// Keeps the inspection; a new one, or one whose spec changed, runs soon.
fn keep_inspection(shared: &Shared, ei: EtcdInspection) {
    let key = key_of(&ei);
    let generation = ei.metadata.generation;
    let mut state = shared.state();
    match state.inspections.get_mut(&key) {
        Some(e) if e.reconciled == generation => e.object = ei,
        Some(e) => {
            e.object = ei;
            e.reconciled = generation;
            e.next_run = Instant::now();
        }
        None => {
            state.inspections.insert(
                key,
                InspectionEntry {
                    object: ei,
                    reconciled: generation,
                    next_run: Instant::now(),
                    running: false,
                },
            );
        }
    }
}

/// While leading, runs each inspection when it is due, one run at a time per
/// inspection, and writes its result.
async fn run_inspections(
    shared: Arc<Shared>,
    leading: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut runs = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(_) = runs.join_next(), if !runs.is_empty() => continue,
            _ = stop.changed() => break,
        }
        if !*leading.borrow() {
            continue;
        }
        let now = Instant::now();
        let mut due = Vec::new();
        for (key, e) in shared.state().inspections.iter_mut() {
            if !e.running && e.next_run <= now {
                e.running = true;
                due.push((key.clone(), e.object.clone()));
            }
        }
        for (key, ei) in due {
            runs.spawn(inspect_once(shared.clone(), key, ei));
        }
    }
    runs.shutdown().await;
}

async fn inspect_once(shared: Arc<Shared>, key: (String, String), ei: EtcdInspection) {
    let generation = ei.metadata.generation;
    let previous = ei.status.clone();
    let (status, interval) = match spec::inspection(&ei.spec) {
        Err(e) => (
            failed_inspection(&format!("spec refused: {e}"), generation),
            Duration::from_secs(super::resources::DEFAULT_INTERVAL_SECONDS as u64),
        ),
        Ok((inspection, seconds)) => {
            let interval = Duration::from_secs(u64::from(seconds));
            let target = cluster_name(&key.0, &ei.spec.cluster);
            let config = shared
                .fleet
                .clusters()
                .into_iter()
                .map(|(c, _)| c)
                .find(|c| c.name == target);
            let status = match config {
                None => failed_inspection(
                    &format!(
                        "EtcdCluster {:?} is not monitored (missing, refused, or another shard's)",
                        ei.spec.cluster
                    ),
                    generation,
                ),
                Some(config) => match tokio::time::timeout(
                    INSPECTION_DEADLINE,
                    crate::check::inspect::run(
                        &config,
                        &shared.collect.for_cluster(&config),
                        &inspection,
                    ),
                )
                .await
                {
                    Ok(Ok(outcome)) => inspection_status(&outcome, generation),
                    Ok(Err(e)) => failed_inspection(&format!("could not run: {e}"), generation),
                    Err(_) => failed_inspection(
                        &format!("could not run within {INSPECTION_DEADLINE:?}"),
                        generation,
                    ),
                },
            };
            (status, interval)
        }
    };
    match apply_status::<EtcdInspection, _>(&shared.client, &ei, &status).await {
        Ok(()) => {
            let before = previous.as_ref().and_then(|p| p.passed);
            if before != status.passed {
                let summary = status.summary.clone().unwrap_or_default();
                match status.passed {
                    Some(true) => emit(&shared, &ei, "Normal", "InspectionPassed", &summary).await,
                    _ => emit(&shared, &ei, "Warning", "InspectionFailed", &summary).await,
                }
            }
        }
        Err(e) => tracing::warn!(
            resource = %format!("{}/{}", key.0, key.1),
            "EtcdInspection status not written: {e}"
        ),
    }
    let mut state = shared.state();
    if let Some(e) = state.inspections.get_mut(&key) {
        e.running = false;
        e.next_run = Instant::now() + interval;
        // Its status as written, for the next run's comparison.
        e.object.status = Some(status);
    }
}

fn failed_inspection(summary: &str, generation: Option<i64>) -> EtcdInspectionStatus {
    EtcdInspectionStatus {
        passed: Some(false),
        summary: Some(crate::text::truncate(summary, 1024)),
        last_run_time: Some(crate::time::rfc3339_seconds(crate::unix_ms_now())),
        results: Vec::new(),
        observed_generation: generation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::resources::Condition;

    fn status(phase: &str, leader: Option<&str>, degraded_reason: &str) -> EtcdClusterStatus {
        EtcdClusterStatus {
            phase: Some(phase.into()),
            leader: leader.map(String::from),
            conditions: vec![Condition {
                type_: "Degraded".into(),
                status: "True".into(),
                reason: degraded_reason.into(),
                message: "member m2 unreachable: connection refused".into(),
                ..Condition::default()
            }],
            ..EtcdClusterStatus::default()
        }
    }

    #[test]
    fn events_follow_phase_and_leader_changes_only() {
        let healthy = status("Healthy", Some("m1"), "AsExpected");
        assert_eq!(cluster_changes(Some(&healthy), &healthy), vec![]);
        let first = cluster_changes(None, &healthy);
        assert_eq!(first.len(), 1);
        assert_eq!((first[0].0, first[0].1), ("Normal", "Healthy"));

        let degraded = status("Degraded", Some("m2"), "MemberUnreachable");
        let changes = cluster_changes(Some(&healthy), &degraded);
        assert_eq!(
            changes,
            vec![
                (
                    "Warning",
                    "MemberUnreachable",
                    "member m2 unreachable: connection refused".to_string()
                ),
                ("Normal", "LeaderChanged", "leader m1 → m2".to_string()),
            ]
        );
        // No leader is not a leader change; an unknown reason is named generically.
        let odd = status("Unavailable", None, "SomethingNew");
        assert_eq!(cluster_changes(Some(&degraded), &odd)[0].1, "Degraded");
        assert_eq!(cluster_changes(Some(&degraded), &odd).len(), 1);
    }
}
