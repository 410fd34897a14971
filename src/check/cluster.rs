//! `check cluster`: a readiness report of a running cluster.
//!
//! The collector's probe runs twice, a few seconds apart (rates and histogram
//! quantiles need two scrapes), then every finding is judged from the second
//! snapshot: members and quorum, leader, odd voting members, version skew, alarms,
//! quota headroom, fragmentation, WAL fsync, backend commit and peer round-trip
//! p99, leader changes, client and peer TLS, auth, and HashKV consistency.
//!
//! Thresholds: etcd's docs (fsync p99 under 10 ms, commit p99 under 25 ms) for
//! PASS, the etcd project's alert rules (contrib/mixin) for FAIL, WARN between.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{worst, Finding, Result, Status};
use crate::collect::derive::MetricsSample;
use crate::collect::probe::probe_deadline;
use crate::collect::settings::CollectSettings;
use crate::collect::snapshot::MemberSnapshot;
use crate::collect::view::member_label;
use crate::collect::{ClusterProber, ClusterSnapshot};
use crate::etcd::ClusterConfig;
use crate::etcd::{Connector, EtcdError};
use crate::units::{self, Unit};

const MIB: f64 = 1024.0 * 1024.0;

/// Whether the cluster asks clients to authenticate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "state", content = "detail")]
pub enum Auth {
    On(String),
    Off,
    Unknown(String),
}

/// A member's p99s over its whole life (cumulative histograms), used when nothing
/// was observed between the two scrapes (an idle cluster fsyncs rarely).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LifetimeP99 {
    pub wal_fsync: Option<f64>,
    pub backend_commit: Option<f64>,
    pub peer_rtt: Option<f64>,
}

impl LifetimeP99 {
    pub fn from_sample(m: &MetricsSample) -> Self {
        LifetimeP99 {
            wal_fsync: m.wal_fsync.as_ref().and_then(|h| h.quantile(0.99)),
            backend_commit: m.backend_commit.as_ref().and_then(|h| h.quantile(0.99)),
            peer_rtt: m.peer_rtt.as_ref().and_then(|h| h.quantile(0.99)),
        }
    }
}

/// What the findings are judged from besides the snapshot.
#[derive(Debug, Clone)]
pub struct Context {
    pub auth: Auth,
    /// By member ID.
    pub lifetime: HashMap<String, LifetimeP99>,
    /// Seconds between the two probes.
    pub window_seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterReport {
    pub cluster: String,
    pub endpoints: Vec<String>,
    pub checked_at_ms: i64,
    pub window_seconds: f64,
    pub worst: Status,
    pub findings: Vec<Finding>,
}

/// Probes the cluster twice, `gap` apart, and judges it. Every call is under the
/// collector's deadlines, and each probe under the longest a probe may take.
pub async fn run(
    cluster: &ClusterConfig,
    collect: &CollectSettings,
    gap: Duration,
) -> Result<ClusterReport> {
    let mut settings = collect.clone();
    // HashKV, the member list and `/health` on every probe.
    settings.consistency_interval = Duration::from_millis(1);
    settings.health_interval = Duration::ZERO;
    settings.member_list_interval = Duration::ZERO;
    let mut prober = ClusterProber::new(cluster.clone(), settings.clone())?;
    let deadline = probe_deadline(&settings);
    probe(&mut prober, deadline).await?;
    let started = std::time::Instant::now();
    tokio::time::sleep(gap).await;
    let second = probe(&mut prober, deadline).await?;
    let window_seconds = started.elapsed().as_secs_f64();
    let lifetime = prober
        .last_metrics()
        .iter()
        .map(|(id, m)| (id.clone(), LifetimeP99::from_sample(m)))
        .collect();
    let auth = auth_state(cluster, collect).await;
    let ctx = Context {
        auth,
        lifetime,
        window_seconds,
    };
    let findings = evaluate(&second.snapshot, &ctx);
    Ok(ClusterReport {
        cluster: cluster.name.clone(),
        endpoints: cluster.endpoints.clone(),
        checked_at_ms: crate::unix_ms_now(),
        window_seconds,
        worst: worst(&findings),
        findings,
    })
}

async fn probe(
    prober: &mut ClusterProber,
    deadline: Duration,
) -> std::result::Result<crate::collect::probe::ProbeResult, EtcdError> {
    tokio::time::timeout(deadline, prober.probe(crate::unix_ms_now()))
        .await
        .map_err(|_| EtcdError::Timeout {
            what: "probing the cluster".into(),
            after: deadline,
        })
}

/// With credentials configured, a successful connection means auth is on (etcd
/// refuses to authenticate while auth is off). Without, a user list asked with no
/// user succeeds only while auth is off.
async fn auth_state(cluster: &ClusterConfig, collect: &CollectSettings) -> Auth {
    let connector = match Connector::new(cluster, collect.request_timeout, collect.dial_timeout) {
        Ok(c) => c,
        Err(e) => return Auth::Unknown(e.to_string()),
    };
    let mut client = match connector.answering_client(&cluster.endpoints).await {
        Ok(c) => c,
        Err(e) => return Auth::Unknown(e.to_string()),
    };
    if cluster.auth.is_some() {
        return Auth::On("the configured user authenticated".into());
    }
    match crate::etcd::with_deadline("user list", collect.request_timeout, client.user_list()).await
    {
        Ok(_) => Auth::Off,
        Err(e) => {
            let text = e.to_string();
            if text.contains("user name is empty")
                || text.contains("permission denied")
                || text.contains("invalid auth token")
            {
                Auth::On("anonymous requests are refused".into())
            } else {
                Auth::Unknown(text)
            }
        }
    }
}

fn size(bytes: f64) -> String {
    units::human(bytes, Unit::Bytes)
}

fn ms(seconds: f64) -> String {
    units::human(seconds, Unit::Seconds)
}

/// The highest value of one figure over the members, with the member's name; the
/// window's value where something was observed, else the member's lifetime value.
fn worst_p99(
    snap: &ClusterSnapshot,
    ctx: &Context,
    window: fn(&crate::collect::derive::Indicators) -> Option<f64>,
    lifetime: fn(&LifetimeP99) -> Option<f64>,
) -> Option<(f64, String, bool)> {
    snap.members
        .iter()
        .filter_map(|m| {
            let w = m.indicators.as_ref().and_then(window);
            match w {
                Some(v) => Some((v, member_label(m), true)),
                None => ctx
                    .lifetime
                    .get(&m.id)
                    .and_then(lifetime)
                    .map(|v| (v, member_label(m), false)),
            }
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

/// A latency finding: PASS under `pass`, WARN under `fail`, else FAIL.
fn latency_finding(
    check: &str,
    found: Option<(f64, String, bool)>,
    window_seconds: f64,
    pass: f64,
    fail: f64,
    recommendation: &str,
    missing: Finding,
) -> Finding {
    let Some((v, member, in_window)) = found else {
        return missing;
    };
    let when = if in_window {
        format!("in the last {window_seconds:.0} s")
    } else {
        "since the member started, nothing observed during the check".to_string()
    };
    let detail = format!("worst member {member}: {} {when}", ms(v));
    let status = if v < pass {
        Status::Pass
    } else if v < fail {
        Status::Warn
    } else {
        Status::Fail
    };
    let detail = match status {
        Status::Pass => format!("{detail} (under {})", ms(pass)),
        _ => format!("{detail} (should be under {})", ms(pass)),
    };
    let rec = if status == Status::Pass {
        ""
    } else {
        recommendation
    };
    Finding::new(check, status, detail, rec)
}

/// A figure no member's `/metrics` gave.
fn no_metrics(check: &str) -> Finding {
    Finding::new(
        check,
        Status::Warn,
        "unknown: no member's /metrics had this histogram",
        "Make /metrics reachable (or set metrics_urls in the config) and run again.",
    )
}

/// What every check reads: the snapshot, what was learnt besides it, and the
/// members that answered.
struct Inputs<'a> {
    snap: &'a ClusterSnapshot,
    ctx: &'a Context,
    reachable: Vec<&'a MemberSnapshot>,
}

/// The checks, in the order their findings are reported.
type Check = fn(&Inputs<'_>, &mut Vec<Finding>);
const CHECKS: [Check; 12] = [
    members,
    leader,
    voting_members,
    version_skew,
    alarms,
    quota,
    fragmentation,
    latency,
    leader_changes,
    tls,
    auth,
    consistency,
];

/// Every finding about one snapshot, in a fixed order.
pub fn evaluate(snap: &ClusterSnapshot, ctx: &Context) -> Vec<Finding> {
    let inputs = Inputs {
        snap,
        ctx,
        reachable: snap.members.iter().filter(|m| m.reachable).collect(),
    };
    let mut out = Vec::new();
    for check in CHECKS {
        check(&inputs, &mut out);
    }
    out
}

/// Members and quorum.
fn members(i: &Inputs<'_>, out: &mut Vec<Finding>) {
    let snap = i.snap;
    let reachable = &i.reachable;
    let down: Vec<String> = snap
        .members
        .iter()
        .filter(|m| !m.reachable)
        .map(|m| {
            format!(
                "{} ({})",
                member_label(m),
                m.error.as_deref().unwrap_or("no answer")
            )
        })
        .collect();
    out.push(if reachable.is_empty() {
        Finding::new(
            "members",
            Status::Fail,
            format!(
                "no member answers ({} tried): {}",
                snap.members.len(),
                snap.errors.join("; ")
            ),
            "Check the endpoints, TLS and credentials; then that etcd runs on them.",
        )
    } else if !snap.quorum.has_quorum {
        Finding::new(
            "members",
            Status::Fail,
            format!(
                "no quorum: {} of {} voting members answer, {} needed; down: {}",
                snap.quorum.reachable_voting_members,
                snap.quorum.voting_members,
                snap.quorum.needed,
                down.join(", ")
            ),
            "The cluster refuses writes: bring the down members back first; if they are lost, \
             restore from a snapshot (etcdutl snapshot restore) into a new cluster.",
        )
    } else if !down.is_empty() {
        Finding::new(
            "members",
            Status::Fail,
            format!(
                "{} of {} members answer; down: {}",
                reachable.len(),
                snap.members.len(),
                down.join(", ")
            ),
            "One more failure may lose quorum: restart the down member or find why it is down \
             (its log, disk, network); if it is gone for good, replace it (etcdctl member remove \
             ID, then member add and start it with --initial-cluster-state=existing).",
        )
    } else {
        Finding::pass(
            "members",
            format!(
                "{} of {} members answer",
                reachable.len(),
                snap.members.len()
            ),
        )
    });
}

/// Leader.
fn leader(i: &Inputs<'_>, out: &mut Vec<Finding>) {
    let snap = i.snap;
    let reachable = &i.reachable;
    out.push(match &snap.leader {
        Some(l) if reachable.iter().all(|m| m.flags.is_empty()) => Finding::pass(
            "leader",
            format!(
                "{} leads (term {})",
                if l.name.is_empty() { &l.id } else { &l.name },
                snap.raft_term.unwrap_or(0)
            ),
        ),
        Some(_) => {
            let flags: Vec<String> = reachable
                .iter()
                .flat_map(|m| m.flags.iter().map(move |f| format!("{} {f}", member_label(m))))
                .collect();
            Finding::new(
                "leader",
                Status::Warn,
                format!("members disagree: {}", flags.join("; ")),
                "A member lags or disagrees on the leader: look at its log and its network to the others.",
            )
        }
        None if reachable.is_empty() => Finding::new(
            "leader",
            Status::Fail,
            "unknown: no member answers",
            "Make a member reachable first.",
        ),
        None => Finding::new(
            "leader",
            Status::Fail,
            "no reachable member reports a leader",
            "Without a leader nothing is written: restore quorum and look for elections failing \
             (members' logs, network between peers, slow disks).",
        ),
    });
}

/// Voting members.
fn voting_members(i: &Inputs<'_>, out: &mut Vec<Finding>) {
    let snap = i.snap;
    let voting = snap.quorum.voting_members;
    let learners = snap.members.iter().filter(|m| m.is_learner).count();
    let learners_note = if learners > 0 {
        format!(" (and {learners} learners)")
    } else {
        String::new()
    };
    let tolerated = voting.saturating_sub(1) / 2;
    out.push(if voting == 1 {
        Finding::new(
            "voting members",
            Status::Warn,
            format!("1 voting member{learners_note}: no failure is tolerated"),
            "For production run 3 (or 5) members: etcdctl member add, one at a time.",
        )
    } else if voting.is_multiple_of(2) {
        Finding::new(
            "voting members",
            Status::Warn,
            format!(
                "{voting} voting members{learners_note} tolerate {tolerated} failures, as {} would",
                voting - 1
            ),
            "An even count adds load without fault tolerance: add or remove one member to make it odd.",
        )
    } else if voting > 7 {
        Finding::new(
            "voting members",
            Status::Warn,
            format!("{voting} voting members{learners_note}: every write waits for {} of them", voting / 2 + 1),
            "More than 7 members slows writes; run 5 or 7 and use learners or proxies for reads.",
        )
    } else {
        Finding::pass(
            "voting members",
            format!("{voting} voting members{learners_note} tolerate {tolerated} failure(s)"),
        )
    });
}

/// Version skew.
fn version_skew(i: &Inputs<'_>, out: &mut Vec<Finding>) {
    let reachable = &i.reachable;
    let mut versions: Vec<String> = reachable
        .iter()
        .filter_map(|m| m.status.as_ref().map(|s| s.version.clone()))
        .collect();
    versions.sort();
    versions.dedup();
    let minor = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
    let mut minors: Vec<String> = versions.iter().map(|v| minor(v)).collect();
    minors.dedup();
    out.push(match versions.len() {
        0 => Finding::new(
            "version skew",
            Status::Warn,
            "no member reported its version",
            "Make the members reachable and run the check again.",
        ),
        1 => Finding::pass("version skew", format!("every member runs {}", versions[0])),
        _ if minors.len() > 1 => Finding::new(
            "version skew",
            Status::Fail,
            format!("members run {}", versions.join(", ")),
            "Finish the upgrade: one minor version at a time, one member at a time, every member \
             to the same version (mixed minor versions are only meant for the upgrade itself).",
        ),
        _ => Finding::new(
            "version skew",
            Status::Warn,
            format!("members run {}", versions.join(", ")),
            "Bring every member to the same patch release.",
        ),
    });
}

/// Alarms.
fn alarms(i: &Inputs<'_>, out: &mut Vec<Finding>) {
    let snap = i.snap;
    out.push(if snap.alarms.is_empty() {
        Finding::pass("alarms", "no alarm raised")
    } else {
        let list: Vec<String> = snap
            .alarms
            .iter()
            .map(|a| {
                format!(
                    "{} on {}",
                    a.alarm,
                    a.member_name.as_deref().unwrap_or(&a.member_id)
                )
            })
            .collect();
        let mut rec = Vec::new();
        if snap.alarms.iter().any(|a| a.alarm == "NOSPACE") {
            rec.push(
                "NOSPACE: the database reached its quota and etcd refuses writes. Compact old \
                 revisions (etcdctl compact REV), defragment each member (etcdctl defrag), raise \
                 --quota-backend-bytes if the data needs it, then etcdctl alarm disarm.",
            );
        }
        if snap.alarms.iter().any(|a| a.alarm == "CORRUPT") {
            rec.push(
                "CORRUPT: a member's data differs from the others. Stop it, remove and re-add it \
                 (or restore it from a snapshot), then etcdctl alarm disarm.",
            );
        }
        Finding::new(
            "alarms",
            Status::Fail,
            format!("raised: {}", list.join(", ")),
            rec.join(" "),
        )
    });
}

/// Quota headroom.
fn quota(i: &Inputs<'_>, out: &mut Vec<Finding>) {
    let snap = i.snap;
    let quota = snap
        .members
        .iter()
        .filter_map(|m| {
            let i = m.indicators.as_ref()?;
            Some((
                i.quota_usage_ratio?,
                i.db_size_bytes?,
                i.quota_backend_bytes?,
                member_label(m),
            ))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    out.push(match quota {
        None => Finding::new(
            "quota headroom",
            Status::Warn,
            "unknown: no member's /metrics gave the DB size and quota",
            "Make /metrics reachable (or set metrics_urls in the config).",
        ),
        Some((r, db, q, m)) => {
            let detail = format!(
                "worst member {m}: DB {} of a {} quota ({:.0}%)",
                size(db),
                size(q),
                r * 100.0
            );
            let rec =
                "Compact and defragment to win space back (etcdctl compact, etcdctl defrag), \
                       or raise --quota-backend-bytes (up to 8 GiB is the docs' suggestion); at \
                       100% etcd raises NOSPACE and refuses writes.";
            if r > 0.95 {
                Finding::new("quota headroom", Status::Fail, detail, rec)
            } else if r > 0.8 {
                Finding::new("quota headroom", Status::Warn, detail, rec)
            } else {
                Finding::pass("quota headroom", detail)
            }
        }
    });
}

/// Fragmentation (the etcd mixin: in use < half of the file, and in use > 100 MiB).
fn fragmentation(i: &Inputs<'_>, out: &mut Vec<Finding>) {
    let snap = i.snap;
    let frag = snap
        .members
        .iter()
        .filter_map(|m| {
            let i = m.indicators.as_ref()?;
            Some((
                i.fragmentation_ratio?,
                i.db_size_in_use_bytes?,
                member_label(m),
            ))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    out.push(match frag {
        None => Finding::new(
            "fragmentation",
            Status::Warn,
            "unknown: no member's /metrics gave the DB size in use",
            "Make /metrics reachable (etcd 3.4+ reports the size in use).",
        ),
        Some((f, in_use, m)) => {
            let detail = format!(
                "worst member {m}: {:.0}% of the file is free space ({} in use)",
                f * 100.0,
                size(in_use)
            );
            if f > 0.5 && in_use > 100.0 * MIB {
                Finding::new(
                    "fragmentation",
                    Status::Warn,
                    detail,
                    "Defragment the members one at a time in a quiet period (etcdctl defrag \
                     --endpoints=URL); a defrag blocks that member while it runs.",
                )
            } else {
                Finding::pass("fragmentation", detail)
            }
        }
    });
}

/// Latency: p99 of WAL fsync, backend commit and peer round trips.
fn latency(i: &Inputs<'_>, out: &mut Vec<Finding>) {
    let snap = i.snap;
    let ctx = i.ctx;
    out.push(latency_finding(
        "wal fsync p99",
        worst_p99(snap, ctx, |i| i.wal_fsync_p99_seconds, |l| l.wal_fsync),
        ctx.window_seconds,
        0.010,
        0.5,
        "etcd's WAL needs a fast disk: run `etcd-monitor check disk --dir` on the data \
         directory, move the WAL (--wal-dir) to a local SSD/NVMe not shared with busy processes.",
        no_metrics("wal fsync p99"),
    ));
    out.push(latency_finding(
        "backend commit p99",
        worst_p99(
            snap,
            ctx,
            |i| i.backend_commit_p99_seconds,
            |l| l.backend_commit,
        ),
        ctx.window_seconds,
        0.025,
        0.25,
        "Slow commits of the bolt database: a faster disk, a smaller or defragmented DB, \
         and no other heavy I/O on the member's disk.",
        no_metrics("backend commit p99"),
    ));
    let single = snap.members.len() <= 1;
    out.push(latency_finding(
        "peer rtt p99",
        worst_p99(snap, ctx, |i| i.peer_rtt_p99_seconds, |l| l.peer_rtt),
        ctx.window_seconds,
        0.050,
        0.150,
        "Members talk slowly to each other: keep them in one region (or raise \
         --heartbeat-interval to about the round-trip time and --election-timeout to 10x it), \
         and check the network between them for loss.",
        if single {
            Finding::pass("peer rtt p99", "one member: no peers")
        } else {
            no_metrics("peer rtt p99")
        },
    ));
}

/// Leader changes.
fn leader_changes(i: &Inputs<'_>, out: &mut Vec<Finding>) {
    let snap = i.snap;
    let changes = snap
        .members
        .iter()
        .filter_map(|m| {
            let i = m.indicators.as_ref()?;
            Some((i.leader_changes_in_interval, i.leader_changes_total))
        })
        .fold((None::<f64>, None::<f64>), |(w, t), (wi, ti)| {
            (
                match (w, wi) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                },
                match (t, ti) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                },
            )
        });
    out.push(match changes {
        (Some(w), t) if w > 0.0 => Finding::new(
            "leader changes",
            Status::Warn,
            format!(
                "the leader changed {w:.0} time(s) during the check ({} since the members started)",
                t.map_or("?".into(), |t| format!("{t:.0}"))
            ),
            "Frequent elections come from slow disks (wal fsync), an overloaded member or a \
             lossy network; look at the members' logs for 'elected leader' and their fsync p99.",
        ),
        (Some(_), t) => Finding::pass(
            "leader changes",
            format!(
                "none during the check; {} seen since the members started",
                t.map_or("?".into(), |t| format!("{t:.0}"))
            ),
        ),
        (None, _) => no_metrics("leader changes"),
    });
}

/// TLS.
fn tls(i: &Inputs<'_>, out: &mut Vec<Finding>) {
    let snap = i.snap;
    let plain_clients: Vec<String> = snap
        .members
        .iter()
        .flat_map(|m| m.client_urls.iter())
        .filter(|u| u.starts_with("http://"))
        .cloned()
        .collect();
    out.push(if plain_clients.is_empty() {
        Finding::pass("client tls", "clients connect over https")
    } else {
        Finding::new(
            "client tls",
            Status::Warn,
            format!("plaintext client URLs: {}", plain_clients.join(", ")),
            "Serve clients over TLS (--cert-file, --key-file, --trusted-ca-file, \
             --client-cert-auth) and give this cluster's config a tls section.",
        )
    });
    let plain_peers: Vec<String> = snap
        .members
        .iter()
        .flat_map(|m| m.peer_urls.iter())
        .filter(|u| u.starts_with("http://"))
        .cloned()
        .collect();
    out.push(if plain_peers.is_empty() {
        Finding::pass("peer tls", "members talk to each other over https")
    } else {
        Finding::new(
            "peer tls",
            Status::Warn,
            format!("plaintext peer URLs: {}", plain_peers.join(", ")),
            "Encrypt raft traffic between members (--peer-cert-file, --peer-key-file, \
             --peer-trusted-ca-file, --peer-client-cert-auth).",
        )
    });
}

/// Auth.
fn auth(i: &Inputs<'_>, out: &mut Vec<Finding>) {
    let ctx = i.ctx;
    out.push(match &ctx.auth {
        Auth::On(why) => Finding::pass("auth", format!("on: {why}")),
        Auth::Off => Finding::new(
            "auth",
            Status::Warn,
            "off: anyone who reaches a client URL can read and write every key",
            "Turn auth on: etcdctl user add root, etcdctl auth enable; give this monitor a user \
             with a read-only role (auth in this cluster's config).",
        ),
        Auth::Unknown(why) => Finding::new(
            "auth",
            Status::Warn,
            format!("unknown: {why}"),
            "Run the check with the cluster's credentials.",
        ),
    });
}

/// HashKV consistency.
fn consistency(i: &Inputs<'_>, out: &mut Vec<Finding>) {
    let snap = i.snap;
    let reachable = &i.reachable;
    out.push(match &snap.consistency {
        Some(c) if !c.mismatched.is_empty() => Finding::new(
            "consistency",
            Status::Fail,
            format!(
                "HashKV at revision {} differs on {}",
                c.revision,
                c.mismatched.join(", ")
            ),
            "A member's data has diverged: stop it, remove it and add it back (it then \
             copies the leader's data), and find the cause (disk errors, bugs fixed in newer \
             patch releases).",
        ),
        Some(c) if c.consistent => Finding::pass(
            "consistency",
            format!(
                "HashKV agrees at revision {} on {} members",
                c.revision,
                c.hashes.iter().filter(|h| h.hash.is_some()).count()
            ),
        ),
        Some(c) => Finding::new(
            "consistency",
            Status::Warn,
            format!(
                "HashKV not compared: {}",
                c.error.as_deref().unwrap_or("too few answers")
            ),
            "Run the check again when every member answers.",
        ),
        None if reachable.len() < 2 && snap.members.len() <= 1 => {
            Finding::pass("consistency", "one member: nothing to compare")
        }
        None => Finding::new(
            "consistency",
            Status::Warn,
            "HashKV not compared: fewer than two members answer",
            "Run the check again when every member answers.",
        ),
    });
}

#[cfg(test)]
mod tests;
