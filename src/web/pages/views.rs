//! What the templates show: snapshots turned into display strings (human units,
//! status classes, links), so templates hold no logic beyond loops and ifs.

use askama::Template;

use super::alerts::{AlertBadges, AlertRow};
use super::{urlencode, TimeRange, RANGES};
use crate::collect::probe::member_label;
use crate::collect::snapshot::{ClusterSnapshot, ClusterStatus, MemberSnapshot, Timestamp};
use crate::store::{StoreHealth, StoreStats};
use crate::units::{human, Unit};

/// Which navigation entry a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Alerts,
    Benchmarks,
    Explore,
    About,
    /// Error pages.
    None,
}

/// The navigation, in order. Keys and Settings join here as their issues land;
/// each entry will carry the role it needs.
const NAV: [(Nav, &str, &str); 5] = [
    (Nav::Overview, "Overview", "/"),
    (Nav::Alerts, "Alerts", "/alerts"),
    (Nav::Benchmarks, "Benchmarks", "/benchmarks"),
    (Nav::Explore, "Metrics", "/explore"),
    (Nav::About, "About", "/about"),
];

pub struct SelectOption {
    pub value: String,
    pub selected: bool,
}

impl SelectOption {
    pub fn list<'a>(values: impl IntoIterator<Item = &'a str>, selected: &str) -> Vec<Self> {
        values
            .into_iter()
            .map(|v| SelectOption {
                value: v.to_string(),
                selected: v == selected,
            })
            .collect()
    }
}

pub struct Link {
    pub label: String,
    pub href: String,
    pub current: bool,
}

/// A word or a number in a coloured pill (`macros.html`'s `badge`).
pub struct Badge {
    pub label: String,
    pub class: &'static str,
}

/// An entry of the navigation.
pub struct NavLink {
    pub link: Link,
    /// A count beside it (firing alerts beside "Alerts").
    pub badge: Option<Badge>,
}

/// What `base.html` needs.
pub struct Layout {
    pub title: String,
    pub nav: Vec<NavLink>,
    /// Where the page listens for live updates ("" for none).
    pub events_url: String,
    pub version: &'static str,
}

impl Layout {
    pub fn new(title: &str, current: Nav, events_url: Option<String>) -> Self {
        Layout {
            title: title.to_string(),
            nav: NAV
                .iter()
                .map(|(nav, label, href)| NavLink {
                    link: Link {
                        label: label.to_string(),
                        href: href.to_string(),
                        current: *nav == current,
                    },
                    badge: None,
                })
                .collect(),
            events_url: events_url.unwrap_or_default(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// Puts `badge` beside the "Alerts" entry.
    pub fn with_alerts_badge(mut self, badge: Option<Badge>) -> Self {
        if let Some((entry, _)) = self
            .nav
            .iter_mut()
            .zip(NAV.iter())
            .find(|(_, (nav, _, _))| *nav == Nav::Alerts)
        {
            entry.badge = badge;
        }
        self
    }
}

/// A time for `<time>`: UTC text that the page's script turns into local time.
pub struct TimeView {
    pub iso: String,
    pub ms: i64,
    pub utc: String,
}

impl TimeView {
    pub fn new(t: Timestamp) -> Self {
        let iso = crate::time::system_rfc3339_seconds(t.0);
        TimeView {
            utc: iso.replace('T', " ").replace('Z', " UTC"),
            iso,
            ms: t.unix_ms(),
        }
    }
}

/// A status as a word and a CSS class.
pub struct StatusView {
    pub label: &'static str,
    pub class: &'static str,
}

impl StatusView {
    pub fn of(s: ClusterStatus) -> Self {
        let (label, class) = match s {
            ClusterStatus::Pending => ("not probed yet", "pending"),
            ClusterStatus::Healthy => ("healthy", "ok"),
            ClusterStatus::Degraded => ("degraded", "warn"),
            ClusterStatus::Unavailable => ("unavailable", "bad"),
        };
        StatusView { label, class }
    }
}

fn dash() -> String {
    "–".to_string()
}

fn bytes(b: i64) -> String {
    human(b as f64, Unit::Bytes)
}

/// DB size against the quota, from the largest member.
fn db_usage(c: &ClusterSnapshot) -> (String, &'static str) {
    let biggest = c
        .members
        .iter()
        .filter_map(|m| m.status.as_ref().map(|s| (m, s.db_size)))
        .max_by_key(|(_, size)| *size);
    let Some((m, size)) = biggest else {
        return (dash(), "");
    };
    let quota = m.indicators.as_ref().and_then(|i| i.quota_backend_bytes);
    match quota {
        Some(q) if q > 0.0 => {
            let ratio = size as f64 / q;
            let class = if ratio >= 0.9 {
                "bad"
            } else if ratio >= 0.8 {
                "warn"
            } else {
                "ok"
            };
            (
                format!(
                    "{} of {} ({})",
                    bytes(size),
                    human(q, Unit::Bytes),
                    human(ratio, Unit::Ratio)
                ),
                class,
            )
        }
        _ => (format!("{} (quota unknown)", bytes(size)), ""),
    }
}

/// One line of the overview.
pub struct ClusterRow {
    pub name: String,
    pub href: String,
    pub status: StatusView,
    pub leader: String,
    pub term: String,
    pub members_up: usize,
    pub members_total: usize,
    pub db_usage: String,
    pub db_class: &'static str,
    pub problems: Vec<String>,
    pub tags: Vec<String>,
    pub probed: Option<TimeView>,
    /// SVG, escaped by the chart module.
    pub spark: String,
    pub alerts: AlertBadges,
}

impl ClusterRow {
    pub fn new(c: &ClusterSnapshot, spark: String, alerts: AlertBadges) -> Self {
        let (db_usage, db_class) = db_usage(c);
        let mut problems: Vec<String> = if c.status == ClusterStatus::Healthy {
            Vec::new()
        } else {
            c.reasons.clone()
        };
        problems.extend(c.errors.iter().cloned());
        ClusterRow {
            name: c.name.clone(),
            href: format!("/clusters/{}", urlencode(&c.name)),
            status: StatusView::of(c.status),
            leader: c
                .leader
                .as_ref()
                .map_or_else(|| "no leader".into(), |l| l.name.clone()),
            term: c.raft_term.map_or_else(dash, |t| t.to_string()),
            members_up: c.members_reachable(),
            members_total: c.members.len(),
            db_usage,
            db_class,
            problems,
            tags: c.tags.clone(),
            probed: c.probed_at.map(TimeView::new),
            spark,
            alerts,
        }
    }
}

/// The head of a cluster page.
pub struct ClusterView {
    pub name: String,
    pub status: StatusView,
    pub reasons: Vec<String>,
    pub never_reached: bool,
    pub leader: String,
    pub term: String,
    pub cluster_id: String,
    pub quorum: String,
    pub db_usage: String,
    pub db_class: &'static str,
    pub probed: Option<TimeView>,
    pub probe_ms: String,
    pub alarms: Vec<(String, String)>,
    pub errors: Vec<String>,
    pub consistency: Option<ConsistencyView>,
    pub spread: String,
    pub tags: Vec<String>,
}

pub struct ConsistencyView {
    pub consistent: bool,
    pub checked: TimeView,
    pub revision: i64,
    pub summary: String,
}

impl ClusterView {
    pub fn new(c: &ClusterSnapshot) -> Self {
        let (db_usage, db_class) = db_usage(c);
        let q = &c.quorum;
        ClusterView {
            name: c.name.clone(),
            status: StatusView::of(c.status),
            reasons: c.reasons.clone(),
            never_reached: c.status != ClusterStatus::Pending
                && c.members.is_empty()
                && c.cluster_id.is_none(),
            leader: c
                .leader
                .as_ref()
                .map_or_else(|| "no leader".into(), |l| format!("{} ({})", l.name, l.id)),
            term: c.raft_term.map_or_else(dash, |t| t.to_string()),
            cluster_id: c.cluster_id.clone().unwrap_or_else(dash),
            quorum: if q.voting_members == 0 {
                dash()
            } else {
                format!(
                    "{} of {} voting members reachable, {} needed",
                    q.reachable_voting_members, q.voting_members, q.needed
                )
            },
            db_usage,
            db_class,
            probed: c.probed_at.map(TimeView::new),
            probe_ms: c
                .probe_duration_ms
                .map_or_else(dash, |ms| format!("{ms} ms")),
            alarms: c
                .alarms
                .iter()
                .map(|a| {
                    (
                        a.member_name.clone().unwrap_or_else(|| a.member_id.clone()),
                        a.alarm.clone(),
                    )
                })
                .collect(),
            errors: c.errors.clone(),
            consistency: c.consistency.as_ref().map(|k| ConsistencyView {
                consistent: k.consistent,
                checked: TimeView::new(k.checked_at),
                revision: k.revision,
                summary: if let Some(e) = &k.error {
                    format!("could not check: {e}")
                } else if k.consistent {
                    format!("all {} members agree (HashKV)", k.hashes.len())
                } else {
                    format!("hash differs on {}", k.mismatched.join(", "))
                },
            }),
            spread: match (c.spread.raft_index, c.spread.revision) {
                (Some(i), Some(r)) => format!("raft index {i}, revision {r}"),
                (Some(i), None) => format!("raft index {i}"),
                _ => dash(),
            },
            tags: c.tags.clone(),
        }
    }
}

/// One member in the members table.
pub struct MemberRow {
    pub name: String,
    pub href: String,
    pub id: String,
    pub endpoint: String,
    pub role: &'static str,
    pub health: StatusView,
    pub version: String,
    pub term: String,
    pub index: String,
    pub applied: String,
    pub db_size: String,
    pub db_in_use: String,
    pub alarms: String,
    pub error: String,
    pub flags: Vec<String>,
}

impl MemberRow {
    pub fn new(c: &ClusterSnapshot, m: &MemberSnapshot) -> Self {
        let s = m.status.as_ref();
        let health = if !m.reachable {
            StatusView {
                label: "down",
                class: "bad",
            }
        } else if !m.healthy {
            StatusView {
                label: "unhealthy",
                class: "warn",
            }
        } else {
            StatusView {
                label: "healthy",
                class: "ok",
            }
        };
        let alarms: Vec<&str> = c
            .alarms
            .iter()
            .filter(|a| a.member_id == m.id)
            .map(|a| a.alarm.as_str())
            .collect();
        MemberRow {
            name: m.name.clone(),
            href: format!(
                "/clusters/{}/members/{}",
                urlencode(&c.name),
                urlencode(&member_label(m))
            ),
            id: m.id.clone(),
            endpoint: m.client_urls.first().cloned().unwrap_or_else(dash),
            role: if m.is_learner {
                "learner"
            } else if m.is_leader {
                "leader"
            } else {
                "follower"
            },
            health,
            version: s.map_or_else(dash, |s| s.version.clone()),
            term: s.map_or_else(dash, |s| s.raft_term.to_string()),
            index: s.map_or_else(dash, |s| s.raft_index.to_string()),
            applied: s.map_or_else(dash, |s| s.raft_applied_index.to_string()),
            db_size: s.map_or_else(dash, |s| bytes(s.db_size)),
            db_in_use: s.map_or_else(dash, |s| bytes(s.db_size_in_use)),
            alarms: if alarms.is_empty() {
                dash()
            } else {
                alarms.join(", ")
            },
            error: m
                .error
                .clone()
                .or_else(|| m.scrape_error.clone().map(|e| format!("/metrics: {e}")))
                .unwrap_or_default(),
            flags: m.flags.clone(),
        }
    }
}

/// The rest of a member page: URLs and the latest indicators.
pub struct MemberDetails {
    pub peer_urls: String,
    pub client_urls: String,
    pub metrics_url: String,
    pub indicators: Vec<(&'static str, String)>,
}

impl MemberDetails {
    pub fn new(m: &MemberSnapshot) -> Self {
        let mut indicators = Vec::new();
        if let Some(i) = &m.indicators {
            let mut add = |label: &'static str, v: Option<f64>, unit: Unit| {
                if let Some(v) = v {
                    indicators.push((label, human(v, unit)));
                }
            };
            add("WAL fsync p50", i.wal_fsync_p50_seconds, Unit::Seconds);
            add("WAL fsync p99", i.wal_fsync_p99_seconds, Unit::Seconds);
            add(
                "backend commit p50",
                i.backend_commit_p50_seconds,
                Unit::Seconds,
            );
            add(
                "backend commit p99",
                i.backend_commit_p99_seconds,
                Unit::Seconds,
            );
            add("peer round trip p99", i.peer_rtt_p99_seconds, Unit::Seconds);
            add("gRPC unary p99", i.grpc_unary_p99_seconds, Unit::Seconds);
            add("gRPC requests", i.grpc_requests_per_second, Unit::PerSecond);
            add("gRPC failed", i.grpc_failed_per_second, Unit::PerSecond);
            add(
                "proposals committed",
                i.proposals_committed_per_second,
                Unit::PerSecond,
            );
            add(
                "proposals applied",
                i.proposals_applied_per_second,
                Unit::PerSecond,
            );
            add("proposals pending", i.proposals_pending, Unit::Count);
            add(
                "proposals failed",
                i.proposals_failed_per_second,
                Unit::PerSecond,
            );
            add(
                "commit - apply gap",
                i.proposals_commit_apply_gap,
                Unit::Count,
            );
            add(
                "leader changes (total)",
                i.leader_changes_total,
                Unit::Count,
            );
            add("DB size", i.db_size_bytes, Unit::Bytes);
            add("DB in use", i.db_size_in_use_bytes, Unit::Bytes);
            add("quota", i.quota_backend_bytes, Unit::Bytes);
            add("quota used", i.quota_usage_ratio, Unit::Ratio);
            add("fragmentation", i.fragmentation_ratio, Unit::Ratio);
            add("keys", i.keys_total, Unit::Count);
            add("watch streams", i.watch_streams, Unit::Count);
            add("CPU (of one core)", i.cpu_cores, Unit::Ratio);
            add("resident memory", i.resident_memory_bytes, Unit::Bytes);
            add("open file descriptors", i.open_fds, Unit::Count);
            add(
                "peer sent failures",
                i.peer_sent_failures_per_second,
                Unit::PerSecond,
            );
        }
        MemberDetails {
            peer_urls: m.peer_urls.join(", "),
            client_urls: m.client_urls.join(", "),
            metrics_url: m.metrics_url.clone().unwrap_or_else(dash),
            indicators,
        }
    }
}

/// Links to the preset ranges and a form for a custom one.
pub struct RangePicker {
    pub base: String,
    /// The form's action without its query: a GET form replaces the query.
    pub action: String,
    /// The page's other parameters, sent again by the form.
    pub hidden: Vec<(String, String)>,
    pub presets: Vec<Link>,
    pub custom: bool,
    pub from: String,
    pub to: String,
}

impl RangePicker {
    pub fn new(base: &str, range: &TimeRange) -> Self {
        let sep = if base.contains('?') { '&' } else { '?' };
        let rfc = crate::time::rfc3339_seconds;
        RangePicker {
            base: base.to_string(),
            action: base.split('?').next().unwrap_or(base).to_string(),
            hidden: Vec::new(),
            presets: RANGES
                .iter()
                .map(|(name, _)| Link {
                    label: name.to_string(),
                    href: format!("{base}{sep}range={name}"),
                    current: range.preset == Some(name),
                })
                .collect(),
            custom: range.preset.is_none(),
            from: rfc(range.from_ms),
            to: rfc(range.to_ms),
        }
    }
}

impl RangePicker {
    pub fn keeping(mut self, params: &[(&str, String)]) -> Self {
        self.hidden = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        self
    }
}

pub struct TierRow {
    pub tier: String,
    pub retention: String,
    pub samples: String,
    pub bytes: String,
    pub per_sample: String,
}

/// The store on the about page.
pub struct StoreView {
    pub error: Option<String>,
    pub path: String,
    pub file: String,
    pub series: String,
    pub ingested: String,
    pub tiers: Vec<TierRow>,
    pub last_error: Option<String>,
    pub write_errors: u64,
    pub last_checkpoint: Option<TimeView>,
    pub last_compaction: Option<TimeView>,
}

pub fn ms_time(ms: i64) -> TimeView {
    let iso = crate::time::rfc3339_seconds(ms);
    TimeView {
        utc: iso.replace('T', " ").replace('Z', " UTC"),
        iso,
        ms,
    }
}

/// A duration in whole seconds, largest units first ("1h 2m 3s"): how long something
/// has lasted, where milliseconds are noise.
pub fn duration_text(ms: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs((ms.max(0) / 1000) as u64))
        .to_string()
}

impl StoreView {
    pub fn new(stats: crate::store::Result<StoreStats>, health: StoreHealth) -> Self {
        let mut v = StoreView {
            error: None,
            path: String::new(),
            file: dash(),
            series: dash(),
            ingested: dash(),
            tiers: Vec::new(),
            last_error: health.last_error.clone(),
            write_errors: health.write_errors_total,
            last_checkpoint: health.last_checkpoint_ms.map(ms_time),
            last_compaction: health.last_compaction_ms.map(ms_time),
        };
        match stats {
            Err(e) => v.error = Some(e.to_string()),
            Ok(s) => {
                v.path = s.path.display().to_string();
                v.file = human(s.file_bytes as f64, Unit::Bytes);
                v.series = human(s.series as f64, Unit::Count);
                v.ingested = human(s.samples_ingested_total as f64, Unit::Count);
                v.tiers = s
                    .tiers
                    .iter()
                    .map(|t| TierRow {
                        tier: t.tier.clone(),
                        retention: retention_text(t.retention_seconds),
                        samples: human(t.samples as f64, Unit::Count),
                        bytes: human(t.bytes as f64, Unit::Bytes),
                        per_sample: t
                            .bytes_per_sample
                            .map_or_else(dash, |b| format!("{b:.2} B")),
                    })
                    .collect();
            }
        }
        v
    }
}

/// Retention in whole days or hours, as configured.
pub fn retention_text(secs: u64) -> String {
    if secs.is_multiple_of(86_400) {
        format!("{} days", secs / 86_400)
    } else if secs.is_multiple_of(3_600) {
        format!("{} hours", secs / 3_600)
    } else {
        humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
    }
}

#[derive(Template)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    pub layout: Layout,
    /// The history store's last write error: charts may lag while it lasts.
    pub store_error: Option<String>,
    pub tags: Vec<Link>,
    pub filtered: bool,
    pub clusters: Vec<ClusterRow>,
}

#[derive(Template)]
#[template(path = "cluster.html")]
pub struct ClusterPage {
    pub layout: Layout,
    pub c: ClusterView,
    /// The key browser of this cluster.
    pub keys_href: String,
    pub alert_badges: AlertBadges,
    /// Its pending and firing alerts.
    pub alerts: Vec<AlertRow>,
    pub members: Vec<MemberRow>,
    pub picker: RangePicker,
    pub charts: Vec<String>,
}

#[derive(Template)]
#[template(path = "member.html")]
pub struct MemberPage {
    pub layout: Layout,
    pub cluster: String,
    pub cluster_href: String,
    pub m: MemberRow,
    pub details: MemberDetails,
    pub picker: RangePicker,
    pub charts: Vec<String>,
}

#[derive(Template)]
#[template(path = "explore.html")]
pub struct ExplorePage {
    pub layout: Layout,
    pub clusters: Vec<SelectOption>,
    pub metric: String,
    pub members: Vec<SelectOption>,
    pub metrics: Vec<String>,
    pub aggregates: Vec<SelectOption>,
    pub picker: RangePicker,
    pub chart: Option<String>,
    pub message: Option<String>,
}

#[derive(Template)]
#[template(path = "about.html")]
pub struct AboutPage {
    pub layout: Layout,
    pub version: &'static str,
    pub uptime: String,
    pub memory: String,
    pub clusters: usize,
    pub interval: String,
    pub store: StoreView,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub status: u16,
    pub heading: &'static str,
    pub message: String,
    pub hint: &'static str,
}
