//! The about page (`GET /about`): the monitor itself and its store.

use actix_web::web;
use askama::Template;

use super::display::{dash, duration_text, ms_time, TimeView};
use super::layout::{layout, Layout, Nav};
use super::{ok, PageResult};
use crate::build_info;
use crate::store::{StoreHealth, StoreStats};
use crate::units::{human, Unit};
use crate::web::AppState;

/// `GET /about`: the monitor itself.
pub async fn about(state: web::Data<AppState>) -> PageResult {
    let store = state.store.clone();
    let stats = web::block(move || store.stats()).await?;
    ok(AboutPage {
        layout: layout(&state, "About", Nav::About, None),
        version: build_info::VERSION,
        commit: build_info::COMMIT,
        build_date: build_info::BUILD_DATE,
        uptime: duration_text(state.started.elapsed().as_millis() as i64),
        memory: crate::resident_memory_bytes()
            .map(|b| human(b as f64, Unit::Bytes))
            .unwrap_or_else(|| "unknown".into()),
        clusters: state.board.names().len(),
        interval: humantime::format_duration(std::time::Duration::from_millis(
            state.interval_ms as u64,
        ))
        .to_string(),
        store: StoreView::new(stats, state.store.health()),
        openapi: crate::web::openapi::PATH,
        remote_write: state
            .remote_write
            .iter()
            .map(|t| RemoteWriteRow::new(&t.status(&state.store)))
            .collect(),
    })
}

/// A `[[remote_write]]` target on the about page (its URL is not shown: it may
/// carry a token in its query).
pub struct RemoteWriteRow {
    pub name: String,
    pub sent: String,
    pub pending: String,
    pub dropped: String,
    pub failed: String,
    pub retries: String,
    pub last_success: Option<TimeView>,
    /// Something is wrong: samples lost, or waiting.
    pub trouble: bool,
}

impl RemoteWriteRow {
    fn new(t: &crate::remote_write::RemoteWriteStatus) -> Self {
        let count = |n: u64| human(n as f64, Unit::Count);
        RemoteWriteRow {
            name: t.name.clone(),
            sent: count(t.samples_sent_total),
            pending: count(t.samples_pending),
            dropped: count(t.samples_dropped_total),
            failed: count(t.samples_failed_total),
            retries: count(t.retries_total),
            last_success: (t.last_success_ms > 0).then(|| ms_time(t.last_success_ms)),
            trouble: t.samples_dropped_total > 0 || t.samples_failed_total > 0,
        }
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
#[template(path = "about.html")]
pub struct AboutPage {
    pub layout: Layout,
    pub version: &'static str,
    pub commit: &'static str,
    pub build_date: &'static str,
    pub uptime: String,
    pub memory: String,
    pub clusters: usize,
    pub interval: String,
    pub store: StoreView,
    /// Where the API's OpenAPI document is served.
    pub openapi: &'static str,
    pub remote_write: Vec<RemoteWriteRow>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn retention_is_shown_in_days_or_hours_as_configured() {
        assert_eq!(super::retention_text(2 * 86_400), "2 days");
        assert_eq!(super::retention_text(400 * 86_400), "400 days");
        assert_eq!(super::retention_text(6 * 3_600), "6 hours");
        assert_eq!(super::retention_text(90), "1m 30s");
    }
}
