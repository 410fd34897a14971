//! What this binary is: its version, the git commit it was built from and the build
//! date (set by build.rs), as `--version`, `/about` and `/api/v1/health` show them.

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// 12 hex digits of the commit, or `unknown` for a build outside a git checkout.
pub const COMMIT: &str = env!("ETCD_MONITOR_COMMIT");
/// The UTC date of the build (of `SOURCE_DATE_EPOCH` when the build set it).
pub const BUILD_DATE: &str = env!("ETCD_MONITOR_BUILD_DATE");

/// `0.1.0 (commit 0123456789ab, built 2026-12-03)`.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ETCD_MONITOR_COMMIT"),
    ", built ",
    env!("ETCD_MONITOR_BUILD_DATE"),
    ")"
);
