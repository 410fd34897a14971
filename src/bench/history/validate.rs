//! The checks a run handed in from outside passes before it is stored, and the
//! bounds they hold it to. A refusal names the field.

use super::{HistoryError, Result, RunSource, StoredRun};

/// Bounds of a run taken in (see [`StoredRun::validate`]): far above what a run
/// produces, low enough that no page or command has to cope with more.
pub const MAX_TEXT: usize = 1024;
pub const MAX_NAME: usize = 256;
/// etcd's report has 10 histogram buckets and 8 percentiles.
pub const MAX_BUCKETS: usize = 100;
pub const MAX_LIST_ITEMS: usize = 1000;
/// An hdr histogram of a long run with wide latencies is some tens of KB.
pub const MAX_HDR_BASE64: usize = 1 << 20;
/// 10^15: requests, counts, bytes and rates.
pub const MAX_COUNT: u64 = 1_000_000_000_000_000;
/// About 31 years, in seconds: latencies and run times.
pub const MAX_SECS: f64 = 1e9;
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(366 * 86_400);

/// A refusal naming the field.
fn invalid_field(field: &str, message: String) -> Result<()> {
    Err(HistoryError::Invalid(format!("{field}: {message}")))
}

impl StoredRun {
    /// Checks a run handed in from outside (the API) before it is stored: every time
    /// in [`crate::time`]'s range, counts, durations and rates finite and within
    /// bounds no real run reaches, text and lists bounded. The error names the field.
    pub fn validate(&self) -> Result<()> {
        self.check_identity()?;
        self.check_sizes()?;
        crate::time::check("report.started_unix_ms", self.report.started_unix_ms)
            .map_err(HistoryError::Invalid)?;
        self.check_seconds()?;
        self.check_rates()?;
        self.check_counts()?;
        self.check_signed()?;
        let r = &self.report;
        if r.spec.duration.is_some_and(|d| d > MAX_DURATION) {
            return invalid_field(
                "report.spec.duration",
                format!("longer than {}", humantime::format_duration(MAX_DURATION)),
            );
        }
        r.spec
            .validate()
            .map_err(|e| HistoryError::Invalid(format!("report.spec: {e}")))
    }

    /// The id (what the file and the pages name the run by) and its cluster.
    fn check_identity(&self) -> Result<()> {
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        {
            return Err(HistoryError::Invalid(
                "id: 1 to 64 characters of A-Z a-z 0-9 - _ . :".into(),
            ));
        }
        if self.id != self.report.run_id {
            return Err(HistoryError::Invalid(format!(
                "id {} differs from report.run_id {}",
                self.id, self.report.run_id
            )));
        }
        if self.cluster.is_empty() {
            return Err(HistoryError::Invalid("cluster: must not be empty".into()));
        }
        Ok(())
    }

    /// Texts and lists, each within what is kept.
    fn check_sizes(&self) -> Result<()> {
        let r = &self.report;
        self.texts()
            .into_iter()
            .try_for_each(|(field, text, max)| {
                if text.len() > max {
                    invalid_field(
                        &field,
                        format!("{} bytes; at most {max} are kept", text.len()),
                    )
                } else {
                    Ok(())
                }
            })?;
        for (field, len, max) in [
            ("report.histogram", r.histogram.len(), MAX_BUCKETS),
            ("report.percentiles", r.percentiles.len(), MAX_BUCKETS),
            ("report.errors", r.errors.len(), MAX_LIST_ITEMS),
            ("facts.members", self.facts.members.len(), MAX_LIST_ITEMS),
            ("facts.errors", self.facts.errors.len(), MAX_LIST_ITEMS),
            (
                "indicators.errors",
                self.indicators.errors.len(),
                MAX_LIST_ITEMS,
            ),
        ] {
            if len > max {
                return invalid_field(field, format!("{len} entries; at most {max}"));
            }
        }
        Ok(())
    }

    /// Every duration a number of seconds in 0..=MAX_SECS.
    fn check_seconds(&self) -> Result<()> {
        let r = &self.report;
        let s = &r.summary;
        let mut secs = vec![
            ("report.summary.total_secs", s.total_secs),
            ("report.summary.slowest_secs", s.slowest_secs),
            ("report.summary.fastest_secs", s.fastest_secs),
            ("report.summary.average_secs", s.average_secs),
            ("report.summary.stddev_secs", s.stddev_secs),
        ];
        secs.extend(
            r.histogram
                .iter()
                .map(|b| ("report.histogram.mark_secs", b.mark_secs)),
        );
        secs.extend(
            r.percentiles
                .iter()
                .map(|p| ("report.percentiles.secs", p.secs)),
        );
        let i = &self.indicators;
        secs.extend(
            [
                ("indicators.wal_fsync_p99_seconds", i.wal_fsync_p99_seconds),
                (
                    "indicators.backend_commit_p99_seconds",
                    i.backend_commit_p99_seconds,
                ),
            ]
            .into_iter()
            .filter_map(|(f, v)| v.map(|v| (f, v))),
        );
        for (field, v) in secs {
            if !(0.0..=MAX_SECS).contains(&v) {
                return invalid_field(
                    field,
                    format!("{v} is not a number of seconds in 0..={MAX_SECS}"),
                );
            }
        }
        Ok(())
    }

    /// Rates and fractional counts finite and in range; percentiles in 0..=100.
    fn check_rates(&self) -> Result<()> {
        let (r, i) = (&self.report, &self.indicators);
        let s = &r.summary;
        let mut rates = vec![("report.summary.requests_per_sec", s.requests_per_sec)];
        rates.extend(r.spec.rate.map(|v| ("report.spec.rate", v)));
        rates.extend(i.leader_changes.map(|v| ("indicators.leader_changes", v)));
        rates.extend(
            i.proposals_failed
                .map(|v| ("indicators.proposals_failed", v)),
        );
        for (field, v) in rates {
            if !(0.0..=MAX_COUNT as f64).contains(&v) {
                return invalid_field(field, format!("{v} is not a number in 0..={MAX_COUNT}"));
            }
        }
        if let Some(p) = r
            .percentiles
            .iter()
            .find(|p| !(0.0..=100.0).contains(&p.percent))
        {
            return invalid_field(
                "report.percentiles.percent",
                format!("{} is not in 0..=100", p.percent),
            );
        }
        Ok(())
    }

    /// Whole counts at most MAX_COUNT.
    fn check_counts(&self) -> Result<()> {
        let (r, i) = (&self.report, &self.indicators);
        let s = &r.summary;
        let mut counts = vec![
            ("report.summary.requests", s.requests),
            ("report.summary.errors", s.errors),
            ("report.ops.reads", r.ops.reads),
            ("report.ops.writes", r.ops.writes),
            ("report.ops.keepalives", r.ops.keepalives),
            ("report.ops.watch_events", r.ops.watch_events),
            (
                "report.cluster.raft_index_before",
                r.cluster.raft_index_before,
            ),
            (
                "report.cluster.raft_index_after",
                r.cluster.raft_index_after,
            ),
            ("report.spec.key_space_size", r.spec.key_space_size),
            ("report.spec.conns", r.spec.conns as u64),
            ("report.spec.clients", r.spec.clients as u64),
            ("report.spec.key_size", r.spec.key_size as u64),
            ("report.spec.val_size", r.spec.val_size as u64),
            ("host.cpus", self.host.cpus as u64),
            ("indicators.members_observed", i.members_observed as u64),
        ];
        counts.extend(r.spec.total.map(|t| ("report.spec.total", t)));
        counts.extend(
            r.histogram
                .iter()
                .map(|b| ("report.histogram.count", b.count)),
        );
        counts.extend(r.errors.values().map(|n| ("report.errors", *n)));
        for (field, v) in counts {
            if v > MAX_COUNT {
                return invalid_field(field, format!("{v} is more than {MAX_COUNT}"));
            }
        }
        Ok(())
    }

    /// Revisions and sizes in 0..=MAX_COUNT.
    fn check_signed(&self) -> Result<()> {
        let r = &self.report;
        let mut signed = vec![
            ("report.keys_deleted", r.keys_deleted),
            ("report.cluster.revision_before", r.cluster.revision_before),
            ("report.cluster.revision_after", r.cluster.revision_after),
        ];
        signed.extend(self.facts.db_size_bytes.map(|b| ("facts.db_size_bytes", b)));
        signed.extend(
            self.facts
                .members
                .iter()
                .filter_map(|m| m.db_size_bytes.map(|b| ("facts.members.db_size_bytes", b))),
        );
        for (field, v) in signed {
            if !(0..=MAX_COUNT as i64).contains(&v) {
                return invalid_field(field, format!("{v} is not in 0..={MAX_COUNT}"));
            }
        }
        Ok(())
    }

    /// Every text of the run: (field, text, most bytes kept).
    fn texts(&self) -> Vec<(String, &str, usize)> {
        let r = &self.report;
        let mut out: Vec<(String, &str, usize)> = vec![
            ("cluster".into(), self.cluster.as_str(), MAX_TEXT),
            ("report.prefix".into(), r.prefix.as_str(), MAX_TEXT),
            (
                "report.cluster.endpoint".into(),
                r.cluster.endpoint.as_str(),
                MAX_TEXT,
            ),
            (
                "host.hostname".into(),
                self.host.hostname.as_str(),
                MAX_NAME,
            ),
            ("host.os".into(), self.host.os.as_str(), MAX_NAME),
            ("host.arch".into(), self.host.arch.as_str(), MAX_NAME),
            (
                "host.monitor_version".into(),
                self.host.monitor_version.as_str(),
                MAX_NAME,
            ),
            (
                "report.hdr_histogram_v2_base64".into(),
                r.hdr_histogram_v2_base64.as_deref().unwrap_or(""),
                MAX_HDR_BASE64,
            ),
        ];
        if let RunSource::Schedule { name } = &self.source {
            out.push(("source.name".into(), name.as_str(), MAX_NAME));
        }
        if let Some(p) = &r.spec.prefix {
            out.push(("report.spec.prefix".into(), p.as_str(), MAX_TEXT));
        }
        let f = &self.facts;
        for (field, v) in [
            ("facts.cluster_id", &f.cluster_id),
            ("facts.leader", &f.leader),
            ("facts.version", &f.version),
        ] {
            if let Some(v) = v {
                out.push((field.into(), v.as_str(), MAX_NAME));
            }
        }
        for m in &f.members {
            out.push(("facts.members.id".into(), m.id.as_str(), MAX_NAME));
            out.push(("facts.members.name".into(), m.name.as_str(), MAX_NAME));
            if let Some(e) = &m.endpoint {
                out.push(("facts.members.endpoint".into(), e.as_str(), MAX_TEXT));
            }
            if let Some(v) = &m.version {
                out.push(("facts.members.version".into(), v.as_str(), MAX_NAME));
            }
        }
        for e in &f.errors {
            out.push(("facts.errors".into(), e.as_str(), MAX_TEXT));
        }
        for e in &self.indicators.errors {
            out.push(("indicators.errors".into(), e.as_str(), MAX_TEXT));
        }
        for e in r.errors.keys() {
            out.push(("report.errors".into(), e.as_str(), MAX_TEXT));
        }
        out
    }
}
