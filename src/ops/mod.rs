//! etcdctl-like operations over etcd-client (never by running etcdctl): kv, txn,
//! members, endpoints, alarms, maintenance, leases, locks and elections, plus the
//! audit record of changes. No clap and no web here: the CLI (`cli::ctl`) and
//! later the web layer call these functions and render their results.
//!
//! Results serialize with etcdctl's JSON field names (`-w json`), so that both
//! callers print what etcdctl users already parse. `browse` is the key browser's
//! paged tree (its own error type: it is read-only and web-facing).

pub mod browse;
pub mod clients;
pub mod cluster;
pub mod json;
pub mod kv;
pub mod lease;
pub mod maintenance;
pub mod session;
pub mod sync;
pub mod txn;

/// Everything an operation can fail with; each message is meant for the operator.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// A connection or call that did not answer in time, or could not reach anyone.
    #[error("{what}: cannot reach {endpoints}: {reason} (is the endpoint up and reachable?)")]
    Unreachable {
        what: String,
        endpoints: String,
        /// "no answer within 5s" or the connection error.
        reason: String,
    },
    /// etcd answered with an error.
    #[error("{what} (at {endpoints}): {message}")]
    Etcd {
        what: String,
        endpoints: String,
        message: String,
    },
    #[error("member {id:x} is not in the cluster (see `member list`)")]
    UnknownMember { id: u64 },
    #[error("request of {size} bytes is over the request size limit{limit}: etcd refuses it (a member's --max-request-bytes, 1.5 MiB by default, bounds one request)")]
    TooLarge { size: usize, limit: String },
    #[error("{0}")]
    BadInput(String),
    #[error("snapshot {path}: {message}")]
    Snapshot { path: String, message: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
    #[error("audit: {0}")]
    Audit(#[from] crate::store::StoreError),
}

pub type Result<T> = std::result::Result<T, OpsError>;
