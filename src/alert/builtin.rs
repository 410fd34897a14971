//! The built-in etcd rule pack: what each rule computes, its thresholds and its
//! texts, after the etcd project's own alerts (contrib/mixin) where they exist.
//! `[alerting.builtin.NAME]` changes a rule (see [`super::rules`]).

use super::rules::{Comparison, Scope, Severity};

/// What a built-in rule computes from a snapshot (see `eval` for each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinCheck {
    MembersDown,
    InsufficientMembers,
    NoLeader,
    LeaderChanges,
    FailedGrpc,
    GrpcSlow,
    PeerRttSlow,
    FailedProposals,
    FsyncSlow,
    CommitSlow,
    QuotaLowSpace,
    ExcessiveGrowth,
    Fragmentation,
    MemberUnreachable,
    ClusterUnavailable,
    LeaderDisagreement,
    HashMismatch,
    AlarmActive,
    CertificateExpiring,
}

impl BuiltinCheck {
    /// One alert per member, or one per cluster.
    pub fn scope(self) -> Scope {
        use BuiltinCheck::*;
        match self {
            MembersDown | InsufficientMembers | LeaderChanges | ClusterUnavailable
            | LeaderDisagreement | CertificateExpiring => Scope::Cluster,
            NoLeader | FailedGrpc | GrpcSlow | PeerRttSlow | FailedProposals | FsyncSlow
            | CommitSlow | QuotaLowSpace | ExcessiveGrowth | Fragmentation | MemberUnreachable
            | HashMismatch | AlarmActive => Scope::Member,
        }
    }

    /// Labels a hit of this check adds besides alertname, severity, cluster and member.
    pub fn extra_labels(self) -> &'static [&'static str] {
        match self {
            BuiltinCheck::AlarmActive => &["alarm"],
            _ => &[],
        }
    }

    /// The names under `values` that this check gives its templates.
    pub fn value_names(self) -> &'static [&'static str] {
        use BuiltinCheck::*;
        match self {
            MembersDown => &["members"],
            InsufficientMembers => &["voting_members", "needed"],
            LeaderDisagreement => &["leaders", "terms", "detail"],
            HashMismatch => &["revision"],
            QuotaLowSpace => &["db_size_bytes", "quota_backend_bytes"],
            ExcessiveGrowth => &["quota_backend_bytes"],
            Fragmentation => &["db_size_bytes", "db_size_in_use_bytes"],
            MemberUnreachable => &["error"],
            ClusterUnavailable => &["reasons"],
            CertificateExpiring => &["path", "not_after"],
            NoLeader | LeaderChanges | FailedGrpc | GrpcSlow | PeerRttSlow | FailedProposals
            | FsyncSlow | CommitSlow | AlarmActive => &[],
        }
    }
}

/// One rule of the built-in pack, as shipped.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinRule {
    /// Config key under `[alerting.builtin]`. The alert name, or the alert name +
    /// `Critical` for the critical tier of a rule that has two.
    pub key: &'static str,
    pub alertname: &'static str,
    pub check: BuiltinCheck,
    pub severity: Severity,
    /// `None`: the rule has no threshold to change (the condition is a fact).
    pub threshold: Option<f64>,
    pub op: Comparison,
    pub for_secs: u64,
    pub summary: &'static str,
    pub description: &'static str,
    pub runbook: &'static str,
}

const MIN: u64 = 60;

// Texts shared by the warning and critical tiers of a rule.
const FAILED_GRPC_SUMMARY: &str =
    "etcd cluster {{ labels.cluster }} has a high number of failed gRPC requests.";
const FAILED_GRPC_DESCRIPTION: &str = "{{ value | round(2) }}% of unary gRPC requests to member {{ labels.member }} of etcd cluster {{ labels.cluster }} failed over 5 minutes (Unknown, FailedPrecondition, ResourceExhausted, Internal, Unavailable, DataLoss or DeadlineExceeded).";
const FAILED_GRPC_RUNBOOK: &str = "Check the member's log for the failing methods, whether it has a leader and quorum, whether an alarm (NOSPACE) is raised, and whether clients exceed request limits. Watch and lease keep-alive streams are not counted.";

const FSYNC_SUMMARY: &str =
    "etcd cluster {{ labels.cluster }}: 99th percentile fsync durations are too high.";
const FSYNC_DESCRIPTION: &str = "The 99th percentile of WAL fsync on member {{ labels.member }} of etcd cluster {{ labels.cluster }} is {{ value | seconds }}.";
const FSYNC_RUNBOOK: &str = "etcd needs a disk whose p99 fdatasync stays under 10 ms. Check the member's disk (iostat, other processes writing to it, noisy neighbours on shared storage); measure it with fio as the etcd docs do (fio --rw=write --ioengine=sync --fdatasync=1 --size=22m --bs=2300); move the data dir to a dedicated SSD.";

/// The built-in pack: the etcd project's own rules (contrib/mixin), same thresholds and
/// `for`, on the derived indicators, then the checks only the monitor's probes can make.
pub const BUILTIN_RULES: &[BuiltinRule] = &[
    BuiltinRule {
        key: "etcdMembersDown",
        alertname: "etcdMembersDown",
        check: BuiltinCheck::MembersDown,
        severity: Severity::Critical,
        threshold: Some(0.01),
        op: Comparison::Gt,
        for_secs: 10 * MIN,
        summary: "etcd cluster {{ labels.cluster }}: members are down.",
        description: "{{ value | int }} member(s) of etcd cluster {{ labels.cluster }} are unreachable or fail to send to their peers (more than {{ threshold }} failures/s): {{ values.members }}.",
        runbook: "Check that each listed member's process runs (systemctl status etcd, its logs), that its host is up, and that the peer port (2380) is reachable from the other members. A member whose peers fail to send to it is usually down or partitioned.",
    },
    BuiltinRule {
        key: "etcdInsufficientMembers",
        alertname: "etcdInsufficientMembers",
        check: BuiltinCheck::InsufficientMembers,
        severity: Severity::Critical,
        threshold: None,
        op: Comparison::Lt,
        for_secs: 3 * MIN,
        summary: "etcd cluster {{ labels.cluster }} has insufficient members.",
        description: "Only {{ value | int }} of {{ values.voting_members }} voting members of etcd cluster {{ labels.cluster }} answer; {{ values.needed }} are needed for quorum.",
        runbook: "Without a majority the cluster rejects writes and linearizable reads. Bring the down members back first (process, host, disk, network between members); do not remove or add members while quorum is lost. If members are gone for good, restore from a snapshot (etcdutl snapshot restore).",
    },
    BuiltinRule {
        key: "etcdNoLeader",
        alertname: "etcdNoLeader",
        check: BuiltinCheck::NoLeader,
        severity: Severity::Critical,
        threshold: None,
        op: Comparison::Eq,
        for_secs: MIN,
        summary: "etcd member {{ labels.member }} of cluster {{ labels.cluster }} has no leader.",
        description: "Member {{ labels.member }} of etcd cluster {{ labels.cluster }} reports no leader (etcd_server_has_leader = 0).",
        runbook: "A member without a leader cannot serve writes. Check whether the other members are up and reachable from it on the peer port, and its log for election messages; clock jumps, a slow disk or CPU starvation can keep elections from finishing.",
    },
    BuiltinRule {
        key: "etcdHighNumberOfLeaderChanges",
        alertname: "etcdHighNumberOfLeaderChanges",
        check: BuiltinCheck::LeaderChanges,
        severity: Severity::Warning,
        threshold: Some(4.0),
        op: Comparison::Ge,
        for_secs: 5 * MIN,
        summary: "etcd cluster {{ labels.cluster }} has a high number of leader changes.",
        description: "etcd cluster {{ labels.cluster }}: {{ value | int }} leader changes within the last 15 minutes.",
        runbook: "Frequent elections point at insufficient resources, high network latency between members, or disruptions by other processes. Check the members' WAL fsync and peer round-trip times, CPU saturation, and whether a member restarts repeatedly.",
    },
    BuiltinRule {
        key: "etcdHighNumberOfFailedGRPCRequests",
        alertname: "etcdHighNumberOfFailedGRPCRequests",
        check: BuiltinCheck::FailedGrpc,
        severity: Severity::Warning,
        threshold: Some(1.0),
        op: Comparison::Gt,
        for_secs: 10 * MIN,
        summary: FAILED_GRPC_SUMMARY,
        description: FAILED_GRPC_DESCRIPTION,
        runbook: FAILED_GRPC_RUNBOOK,
    },
    BuiltinRule {
        key: "etcdHighNumberOfFailedGRPCRequestsCritical",
        alertname: "etcdHighNumberOfFailedGRPCRequests",
        check: BuiltinCheck::FailedGrpc,
        severity: Severity::Critical,
        threshold: Some(5.0),
        op: Comparison::Gt,
        for_secs: 5 * MIN,
        summary: FAILED_GRPC_SUMMARY,
        description: FAILED_GRPC_DESCRIPTION,
        runbook: FAILED_GRPC_RUNBOOK,
    },
    BuiltinRule {
        key: "etcdGRPCRequestsSlow",
        alertname: "etcdGRPCRequestsSlow",
        check: BuiltinCheck::GrpcSlow,
        severity: Severity::Critical,
        threshold: Some(0.15),
        op: Comparison::Gt,
        for_secs: 10 * MIN,
        summary: "etcd gRPC requests to {{ labels.member }} are slow.",
        description: "The 99th percentile of unary gRPC request handling on member {{ labels.member }} of etcd cluster {{ labels.cluster }} is {{ value | seconds }} (Defragment excluded).",
        runbook: "Slow requests follow slow disks (WAL fsync, backend commit), CPU saturation, large range requests or a large database. Compare the member's disk latencies and CPU with the others'. The histogram is served only with --metrics=extensive.",
    },
    BuiltinRule {
        key: "etcdMemberCommunicationSlow",
        alertname: "etcdMemberCommunicationSlow",
        check: BuiltinCheck::PeerRttSlow,
        severity: Severity::Warning,
        threshold: Some(0.15),
        op: Comparison::Gt,
        for_secs: 10 * MIN,
        summary: "etcd cluster {{ labels.cluster }}: member communication is slow.",
        description: "The 99th percentile of peer round trips from member {{ labels.member }} of etcd cluster {{ labels.cluster }} is {{ value | seconds }}.",
        runbook: "Check network latency and packet loss between the members (ping, mtr on the peer port), bandwidth saturation by snapshots being sent, and CPU load on both ends.",
    },
    BuiltinRule {
        key: "etcdHighNumberOfFailedProposals",
        alertname: "etcdHighNumberOfFailedProposals",
        check: BuiltinCheck::FailedProposals,
        severity: Severity::Warning,
        threshold: Some(5.0),
        op: Comparison::Gt,
        for_secs: 15 * MIN,
        summary: "etcd cluster {{ labels.cluster }} has a high number of proposal failures.",
        description: "Member {{ labels.member }} of etcd cluster {{ labels.cluster }} fails {{ value | round(2) }} proposals per second over 15 minutes.",
        runbook: "Proposals fail during leader elections and when the cluster loses quorum. Check for leader changes, unreachable members, and slow disks or network between members.",
    },
    BuiltinRule {
        key: "etcdHighFsyncDurations",
        alertname: "etcdHighFsyncDurations",
        check: BuiltinCheck::FsyncSlow,
        severity: Severity::Warning,
        threshold: Some(0.5),
        op: Comparison::Gt,
        for_secs: 10 * MIN,
        summary: FSYNC_SUMMARY,
        description: FSYNC_DESCRIPTION,
        runbook: FSYNC_RUNBOOK,
    },
    BuiltinRule {
        key: "etcdHighFsyncDurationsCritical",
        alertname: "etcdHighFsyncDurations",
        check: BuiltinCheck::FsyncSlow,
        severity: Severity::Critical,
        threshold: Some(1.0),
        op: Comparison::Gt,
        for_secs: 10 * MIN,
        summary: FSYNC_SUMMARY,
        description: FSYNC_DESCRIPTION,
        runbook: FSYNC_RUNBOOK,
    },
    BuiltinRule {
        key: "etcdHighCommitDurations",
        alertname: "etcdHighCommitDurations",
        check: BuiltinCheck::CommitSlow,
        severity: Severity::Warning,
        threshold: Some(0.25),
        op: Comparison::Gt,
        for_secs: 10 * MIN,
        summary: "etcd cluster {{ labels.cluster }}: 99th percentile commit durations are too high.",
        description: "The 99th percentile of backend commits on member {{ labels.member }} of etcd cluster {{ labels.cluster }} is {{ value | seconds }}.",
        runbook: "Backend commits write the bbolt database: check the member's disk latency and throughput, and whether the database is large or fragmented (defragment it).",
    },
    BuiltinRule {
        key: "etcdDatabaseQuotaLowSpace",
        alertname: "etcdDatabaseQuotaLowSpace",
        check: BuiltinCheck::QuotaLowSpace,
        severity: Severity::Critical,
        threshold: Some(95.0),
        op: Comparison::Gt,
        for_secs: 10 * MIN,
        summary: "etcd cluster {{ labels.cluster }}: database is running full.",
        description: "The database of member {{ labels.member }} of etcd cluster {{ labels.cluster }} uses {{ value | round(1) }}% of its quota ({{ values.db_size_bytes | bytes }} of {{ values.quota_backend_bytes | bytes }}).",
        runbook: "When the quota is reached etcd raises NOSPACE and refuses writes. Compact old revisions (etcdctl compact), defragment each member (etcdctl defrag, one at a time), and find what writes so much; raise --quota-backend-bytes if the data really needs the space.",
    },
    BuiltinRule {
        key: "etcdExcessiveDatabaseGrowth",
        alertname: "etcdExcessiveDatabaseGrowth",
        check: BuiltinCheck::ExcessiveGrowth,
        severity: Severity::Warning,
        threshold: Some(4.0),
        op: Comparison::Gt,
        for_secs: 10 * MIN,
        summary: "etcd cluster {{ labels.cluster }}: database growing very fast.",
        description: "At the growth of the last 4 hours, the database of member {{ labels.member }} of etcd cluster {{ labels.cluster }} reaches its quota ({{ values.quota_backend_bytes | bytes }}) within {{ threshold }} hours (predicted {{ value | bytes }}).",
        runbook: "Find the client writing unusually much (request rates per method, key counts), check that compaction runs, and plan a defragmentation or a larger quota before NOSPACE stops writes.",
    },
    BuiltinRule {
        key: "etcdDatabaseHighFragmentationRatio",
        alertname: "etcdDatabaseHighFragmentationRatio",
        check: BuiltinCheck::Fragmentation,
        severity: Severity::Warning,
        threshold: Some(0.5),
        op: Comparison::Lt,
        for_secs: 10 * MIN,
        summary: "etcd database size in use is less than {{ threshold | percent }} of the allocated storage.",
        description: "Member {{ labels.member }} of etcd cluster {{ labels.cluster }} uses {{ value | percent }} of its {{ values.db_size_bytes | bytes }} database ({{ values.db_size_in_use_bytes | bytes }} in use).",
        runbook: "Defragment the member (etcdctl defrag --endpoints=<member>) to give the free pages back to the file system; do one member at a time, as defragmentation blocks the member while it runs.",
    },
    BuiltinRule {
        key: "etcdMemberUnreachable",
        alertname: "etcdMemberUnreachable",
        check: BuiltinCheck::MemberUnreachable,
        severity: Severity::Critical,
        threshold: None,
        op: Comparison::Eq,
        for_secs: MIN,
        summary: "etcd member {{ labels.member }} of cluster {{ labels.cluster }} is unreachable.",
        description: "Member {{ labels.member }} of etcd cluster {{ labels.cluster }} does not answer the monitor's Status call: {{ values.error }}",
        runbook: "Check that the member's process runs and listens on its client URL, that its host is up, and that the monitor can reach it (firewall, TLS certificates, DNS).",
    },
    BuiltinRule {
        key: "etcdClusterUnavailable",
        alertname: "etcdClusterUnavailable",
        check: BuiltinCheck::ClusterUnavailable,
        severity: Severity::Critical,
        threshold: None,
        op: Comparison::Eq,
        for_secs: MIN,
        summary: "etcd cluster {{ labels.cluster }} is unavailable.",
        description: "etcd cluster {{ labels.cluster }} cannot serve writes: {{ values.reasons }}.",
        runbook: "Find out which members are down and why (process, host, network between members). Restore quorum by bringing members back; if a majority is lost for good, restore the cluster from a snapshot.",
    },
    BuiltinRule {
        key: "etcdLeaderDisagreement",
        alertname: "etcdLeaderDisagreement",
        check: BuiltinCheck::LeaderDisagreement,
        severity: Severity::Warning,
        threshold: None,
        op: Comparison::Gt,
        for_secs: 2 * MIN,
        summary: "Members of etcd cluster {{ labels.cluster }} disagree on the leader or term.",
        description: "The members of etcd cluster {{ labels.cluster }} report {{ values.leaders }} leader(s) and {{ values.terms }} raft term(s): {{ values.detail }}.",
        runbook: "A lasting disagreement means a member is partitioned from the others or stuck. Check the network between members and the disagreeing member's log; restart it if it does not catch up.",
    },
    BuiltinRule {
        key: "etcdHashKVMismatch",
        alertname: "etcdHashKVMismatch",
        check: BuiltinCheck::HashMismatch,
        severity: Severity::Critical,
        threshold: None,
        op: Comparison::Eq,
        for_secs: 0,
        summary: "etcd member {{ labels.member }} of cluster {{ labels.cluster }} has inconsistent data.",
        description: "The key-value hash of member {{ labels.member }} of etcd cluster {{ labels.cluster }} at revision {{ values.revision }} differs from the other members'.",
        runbook: "The member's data has diverged. Stop writing through it, take a snapshot from a healthy member, and replace the member (remove it, wipe its data dir, add it back). Report the etcd version: divergence is a bug or a disk fault.",
    },
    BuiltinRule {
        key: "etcdAlarmActive",
        alertname: "etcdAlarmActive",
        check: BuiltinCheck::AlarmActive,
        severity: Severity::Critical,
        threshold: None,
        op: Comparison::Eq,
        for_secs: 0,
        summary: "etcd cluster {{ labels.cluster }}: alarm {{ labels.alarm }} raised by {{ labels.member }}.",
        description: "Member {{ labels.member }} of etcd cluster {{ labels.cluster }} has raised the {{ labels.alarm }} alarm.",
        runbook: "NOSPACE: the database reached its quota and writes are refused; compact, defragment every member, then disarm (etcdctl alarm disarm). CORRUPT: a member's data differs from the others'; replace that member from a healthy one's snapshot before disarming.",
    },
    BuiltinRule {
        key: "etcdClientCertificateExpiring",
        alertname: "etcdClientCertificateExpiring",
        check: BuiltinCheck::CertificateExpiring,
        severity: Severity::Warning,
        threshold: Some(30.0),
        op: Comparison::Lt,
        for_secs: 0,
        summary: "The monitor's client certificate for etcd cluster {{ labels.cluster }} expires soon.",
        description: "The client certificate {{ values.path }} used for etcd cluster {{ labels.cluster }} expires in {{ value | round(1) }} days ({{ values.not_after }}).",
        runbook: "Issue a new client certificate from the cluster's CA, replace the cert_file and key_file, and restart the monitor; once it expires the monitor can no longer probe the cluster.",
    },
];
