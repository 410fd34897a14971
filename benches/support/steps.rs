//! The recorded corpus as a probe hands it to the store: every member's samples at
//! each 15 s step (every third 5 s scrape), the derived `etcd_monitor:` indicators
//! included. Shared by the dashboard and fleet benches.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use etcd_monitor::collect::derive::{Indicators, MetricsSample};
use etcd_monitor::collect::probe::indicator_series;
use etcd_monitor::collect::SeriesFilter;
use etcd_monitor::promtext;

#[path = "../../tests/support/corpus.rs"]
mod corpus;
use corpus::CorpusScrape;
pub use corpus::CORPUS;

/// Members of the recorded cluster: `m0`..`m2`.
pub const MEMBERS: usize = 3;
/// The corpus is scraped every 5 s; every third scrape is 15 s apart.
const CORPUS_STRIDE: usize = 3;

/// Every member's samples of one 15 s step.
pub type StepSamples = [Vec<(String, f64)>; MEMBERS];

/// Every scrape of the corpus, each of a member `m0`..`m2`.
fn load_corpus() -> Result<Vec<CorpusScrape>> {
    let scrapes = corpus::load(Path::new(CORPUS)).map_err(|e| anyhow!(e))?;
    if let Some(s) = scrapes
        .iter()
        .find(|s| s.member_index().is_none_or(|m| m >= MEMBERS))
    {
        bail!("corpus: unexpected member {:?}", s.member);
    }
    Ok(scrapes)
}

/// What a probe stores for each member at each 15 s step of the corpus:
/// `steps[step][member]` = the scraped samples `filter` keeps and the indicators.
pub fn corpus_steps(filter: &SeriesFilter) -> Result<Vec<StepSamples>> {
    let records = load_corpus()?;
    let mut per_member: [Vec<&CorpusScrape>; MEMBERS] = Default::default();
    for r in &records {
        per_member[r.member_index().unwrap_or(0)].push(r);
    }
    let steps = per_member.iter().map(Vec::len).min().unwrap_or(0) / CORPUS_STRIDE;
    if steps < 2 {
        bail!("corpus {CORPUS} has too few scrapes");
    }
    let t0 = records[0].unix_ms;
    let base = Instant::now();
    let mut out: Vec<StepSamples> = (0..steps).map(|_| Default::default()).collect();
    for (m, scrapes) in per_member.iter().enumerate() {
        let mut prev: Option<MetricsSample> = None;
        for (step, r) in scrapes
            .iter()
            .step_by(CORPUS_STRIDE)
            .take(steps)
            .enumerate()
        {
            let scrape = promtext::parse(&r.body)
                .map_err(|e| anyhow!("corpus scrape of m{m} at {}: {e}", r.unix_ms))?;
            let at = base + Duration::from_millis((r.unix_ms - t0).max(0) as u64);
            let sample = MetricsSample::from_scrape(&scrape, at);
            let indicators = Indicators::derive(&sample, prev.as_ref());
            let mut series: Vec<(String, f64)> = scrape
                .samples()
                .filter(|s| filter.keeps(s))
                .map(|s| (s.series_text(), s.value()))
                .collect();
            series.extend(indicator_series(&indicators));
            out[step][m] = series;
            prev = Some(sample);
        }
    }
    Ok(out)
}
