//! Horizontal bar charts (benchmark runs side by side, latency buckets): one row per
//! bar, on a common scale from 0.

use super::svg::escape_xml;
use super::{LEGEND_MAX_CHARS, MIN_WIDTH, TITLE_H};

/// One bar of [`bars`].
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// Shown at the bar's end (the value in its unit).
    pub text: String,
    /// `s0`..`s5`, or `bad` for a bar to flag.
    pub class: &'static str,
}

const BAR_H: f64 = 16.0;
const BAR_GAP: f64 = 5.0;
/// Bar labels are mostly digits (run ids, bounds), wider than the average glyph.
const BAR_CHAR_W: f64 = 7.0;

/// Horizontal bars on a common scale from 0, one row per bar with its label on the
/// left: labels (run ids, bucket bounds) stay readable however many rows there are.
pub fn bars(title: &str, rows: &[Bar], width: u32) -> String {
    let w = f64::from(width.max(MIN_WIDTH));
    let top = if title.is_empty() { 8.0 } else { TITLE_H };
    let h = top + rows.len().max(1) as f64 * (BAR_H + BAR_GAP) + 4.0;
    let label_w = rows
        .iter()
        .map(|r| r.label.chars().count().min(LEGEND_MAX_CHARS) as f64 * BAR_CHAR_W)
        .fold(0.0, f64::max)
        + 8.0;
    let text_w = rows
        .iter()
        .map(|r| r.text.chars().count() as f64 * BAR_CHAR_W)
        .fold(0.0, f64::max)
        + 8.0;
    let plot_w = (w - label_w - text_w).max(40.0);
    let max = rows.iter().map(|r| r.value).fold(0.0, f64::max);
    let mut out = format!(
        r#"<svg class="chart bars" viewBox="0 0 {w:.0} {h:.0}" width="{w:.0}" height="{h:.0}" role="img" aria-label="{}">"#,
        escape_xml(title)
    );
    if !title.is_empty() {
        out.push_str(&format!(
            r#"<text class="title" x="4" y="17">{}</text>"#,
            escape_xml(title)
        ));
    }
    if rows.is_empty() {
        out.push_str(&format!(
            r#"<text class="nodata" x="{:.0}" y="{:.0}">no data</text>"#,
            w / 2.0 - 24.0,
            top + BAR_H
        ));
    }
    for (i, r) in rows.iter().enumerate() {
        let y = top + i as f64 * (BAR_H + BAR_GAP);
        let len = if max > 0.0 && r.value.is_finite() {
            (r.value.max(0.0) / max * plot_w).max(if r.value > 0.0 { 1.0 } else { 0.0 })
        } else {
            0.0
        };
        let label: String = r.label.chars().take(LEGEND_MAX_CHARS).collect();
        out.push_str(&format!(
            r#"<g class="bar"><title>{}: {}</title><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect class="{}" x="{label_w:.1}" y="{y:.1}" width="{len:.1}" height="{BAR_H:.0}"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
            escape_xml(&r.label),
            escape_xml(&r.text),
            label_w - 6.0,
            y + BAR_H - 4.0,
            escape_xml(&label),
            r.class,
            label_w + len + 4.0,
            y + BAR_H - 4.0,
            escape_xml(&r.text),
        ));
    }
    out.push_str("</svg>");
    out
}
