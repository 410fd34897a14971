//! etcd-monitor: monitors etcd v3 clusters.
//!
//! Domain modules (`collect`, `etcd`, `promtext`, `store`, `config`, `alert`, `notify`,
//! `bench`, `check`, `ops`) know nothing of the web layer; `web` translates between HTTP and
//! them; `cli` is the binary's edge.

pub mod alert;
pub mod audit;
pub mod auth;
pub mod bench;
pub mod build_info;
pub mod byte_size;
pub mod check;
pub mod cli;
pub mod collect;
pub mod config;
pub mod etcd;
pub mod exporter;
pub mod fleet;
#[doc(hidden)]
pub mod fuzzing;
pub mod k8s;
pub mod labels;
pub mod localetcd;
pub mod monitor;
pub mod notify;
pub mod ops;
pub mod promtext;
pub mod remote_write;
pub mod secrets;
pub mod store;
pub mod text;
pub mod time;
pub mod units;
pub mod web;

/// This process's resident memory, from /proc (Linux); `None` elsewhere.
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page_size).ok()?)
}

pub use time::unix_ms_now;
