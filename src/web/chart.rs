//! Charts as inline SVG, rendered on the server: the dashboard needs no chart library
//! and no third-party script, and a chart is readable before (or without) any script.
//!
//! Pure functions from points to markup. Everything taken from the caller (titles,
//! labels) is XML-escaped here, so a template inserts the result with `|safe`.
//!
//! The markup carries no colours and no `style` attributes (the CSP forbids inline
//! styles); series are told apart by classes `s0`..`s5` (a seventh series reuses
//! `s0` with `alt` added), which the theme's stylesheet colours. Best through a custom
//! property, as `.s0` sits on lines, areas, dots, legend swatches and hover groups
//! alike, which each take the colour differently:
//!
//! ```css
//! svg.chart, svg.spark { overflow: visible; }
//! .chart text { fill: var(--muted); }
//! .chart .title { fill: var(--fg); font-weight: 600; }
//! .chart .grid line { stroke: var(--grid); }
//! .chart .axis { stroke: var(--axis); }
//! .chart .gap { fill: var(--gap-bg); }
//! .chart .nodata { font-style: italic; }
//! .s0 { --c: #1f77b4; } .s1 { --c: #ff7f0e; } /* … .s5; a dark theme redefines them */
//! .line { fill: none; stroke: var(--c, currentColor); stroke-width: 1.5; stroke-linejoin: round; }
//! .line.alt { stroke-dasharray: 4 2; }
//! .area { fill: var(--c); fill-opacity: .12; }
//! .dot, .sw, .pts circle { fill: var(--c, currentColor); }
//! .legend .empty { opacity: .5; }
//! .pts circle { opacity: 0; } .pts circle.hover { opacity: 1; }
//! ```
//!
//! Times are unix milliseconds. Time labels are written in UTC and carry the instant
//! in `data-ts` (and the format in `data-fmt`) for the page's script to rewrite in the
//! viewer's time zone.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::ops::Range;

use crate::time::{days_from_civil, utc};
use crate::units::{self, Unit};

/// One line on a chart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartSeries {
    pub label: String,
    /// (unix ms, value), time-ordered. Non-finite values count as missing.
    pub points: Vec<(i64, f64)>,
}

/// What to draw and at which size.
#[derive(Debug, Clone, Copy)]
pub struct ChartSpec<'a> {
    pub title: &'a str,
    pub unit: Unit,
    pub from_ms: i64,
    pub to_ms: i64,
    /// expected spacing of points; a distance over 2*step between two points is a gap (line broken, area not drawn)
    pub step_ms: i64,
    pub width: u32,
    pub height: u32,
}

/// Series colours in the stylesheet (`s0`..`s5`).
const PALETTE: usize = 6;
const FONT_SIZE: u32 = 11;
/// Average advance of an 11 px sans-serif glyph: enough to lay labels out without
/// measuring text, which only the browser can do.
const CHAR_W: f64 = 6.2;
const MIN_WIDTH: u32 = 160;
const MIN_HEIGHT: u32 = 90;
const TITLE_H: f64 = 26.0;
const X_LABELS_H: f64 = 18.0;
const LEGEND_ROW_H: f64 = 16.0;
const LEGEND_MAX_CHARS: usize = 40;
const Y_TICK_SPACING: f64 = 30.0;
const X_TICK_SPACING: f64 = 90.0;
/// One hover point every 6 px: about as fine as anyone aims along a line, and three
/// series cost about 23 KB of circles (80 B each).
const HOVER_SPACING: f64 = 6.0;
/// Narrower empty stretches are shaded but not labelled: the text would not fit.
const GAP_LABEL_MIN_W: f64 = 52.0;
/// The narrowest empty stretch at an end of the range that says since or before when
/// ("no data before 04:20").
const EDGE_LABEL_MIN_W: f64 = 130.0;

/// The chart as an `<svg class="chart">` element, sized `width` x `height` (at least
/// 160 x 90) in user units, scaling with CSS.
///
/// The y axis always includes 0: every unit here measures a magnitude, and an axis
/// starting at the minimum turns a 1 % change into a cliff. Points outside
/// `from_ms..=to_ms` are not drawn; if `to_ms <= from_ms` the data's own range is used.
pub fn render(spec: &ChartSpec, series: &[ChartSeries]) -> String {
    let w = f64::from(spec.width.max(MIN_WIDTH));
    let h = f64::from(spec.height.max(MIN_HEIGHT));
    let (from, to) = time_range(
        spec.from_ms,
        spec.to_ms,
        series.iter().map(|s| &s.points[..]),
    );
    let gap = gap_threshold(spec.step_ms);
    let prepared: Vec<Prepared> = series
        .iter()
        .map(|s| Prepared::new(&s.points, from, to, gap))
        .collect();
    let has_data = prepared.iter().any(|p| !p.points.is_empty());

    // Layout, in dependency order: legend rows (width only) fix the plot's height,
    // which fixes the y ticks, whose labels fix the left margin.
    let legend = layout_legend(series, w);
    let top = if spec.title.is_empty() { 8.0 } else { TITLE_H };
    let legend_h = if legend.rows > 0 {
        legend.rows as f64 * LEGEND_ROW_H + 2.0
    } else {
        0.0
    };
    let bottom = (h - X_LABELS_H - legend_h).max(top + 20.0);

    let (y_ticks, yscale) = y_axis(&prepared, spec.unit, bottom - top, top, bottom);
    let y_labels: Vec<String> = y_ticks
        .iter()
        .map(|&t| units::human_short(t, spec.unit))
        .collect();
    let widest = y_labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0);
    let left = if has_data {
        (14.0 + widest as f64 * CHAR_W).clamp(24.0, w * 0.4)
    } else {
        12.0
    };
    let frame = Frame {
        left,
        right: (w - 14.0).max(left + 10.0),
        top,
        bottom,
        from,
        to,
    };

    let mut out = String::with_capacity(16 * 1024);
    let title = if spec.title.is_empty() {
        "Chart"
    } else {
        spec.title
    };
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" font-size="{FONT_SIZE}" aria-label=""#
    );
    push_escaped(&mut out, title);
    let _ = write!(
        out,
        r#"" data-unit="{}" data-from="{from}" data-to="{to}" data-step="{}""#,
        spec.unit.as_str(),
        spec.step_ms.max(0),
    );
    attr_px(&mut out, "data-x0", frame.left);
    attr_px(&mut out, "data-x1", frame.right);
    out.push_str("><title>");
    push_escaped(&mut out, title);
    out.push_str("</title><desc>");
    push_summary(&mut out, series, &prepared, spec.unit);
    out.push_str("</desc>");

    if !spec.title.is_empty() {
        out.push_str(r#"<text class="title" x="4" y="15">"#);
        push_escaped(&mut out, spec.title);
        out.push_str("</text>");
    }

    let regions = if has_data {
        empty_regions(&prepared, from, to, gap)
    } else {
        Vec::new()
    };
    for &(a, b) in &regions {
        let (xa, xb) = (frame.x(a), frame.x(b));
        out.push_str(r#"<rect class="gap""#);
        attr_px(&mut out, "x", xa);
        attr_px(&mut out, "y", frame.top);
        attr_px(&mut out, "width", xb - xa);
        attr_px(&mut out, "height", frame.bottom - frame.top);
        out.push_str("/>");
    }

    let (x_step, x_ticks) = time_ticks(
        from,
        to,
        ((frame.right - frame.left) / X_TICK_SPACING) as usize,
    );
    let x_fmt = TimeFmt::for_step(x_step, i128::from(to) - i128::from(from));
    out.push_str(r#"<g class="grid">"#);
    if has_data {
        for &t in &y_ticks {
            let y = yscale.y(t);
            push_line(&mut out, None, frame.left, y, frame.right, y);
        }
    }
    for &t in &x_ticks {
        let x = frame.x(t);
        push_line(&mut out, None, x, frame.top, x, frame.bottom);
    }
    out.push_str("</g>");
    push_line(
        &mut out,
        Some("axis"),
        frame.left,
        frame.bottom,
        frame.right,
        frame.bottom,
    );

    if has_data {
        out.push_str(r#"<g class="yaxis">"#);
        for (&t, label) in y_ticks.iter().zip(&y_labels) {
            out.push_str("<text");
            attr_px(&mut out, "x", frame.left - 6.0);
            attr_px(&mut out, "y", yscale.y(t) + 4.0);
            out.push_str(r#" text-anchor="end">"#);
            push_escaped(&mut out, label);
            out.push_str("</text>");
        }
        out.push_str("</g>");
    }

    out.push_str(r#"<g class="xaxis">"#);
    for &t in &x_ticks {
        let label = x_fmt.format(t);
        let x = frame.x(t);
        let half = label.chars().count() as f64 * CHAR_W / 2.0;
        // Centred, except where that would run off the edge of the image.
        let anchor = if x - half < 0.0 {
            "start"
        } else if x + half > w {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            out,
            r#"<g class="xt"><title>{} UTC</title><text"#,
            full_utc(t)
        );
        attr_px(&mut out, "x", x);
        attr_px(&mut out, "y", frame.bottom + 13.0);
        let _ = write!(
            out,
            r#" text-anchor="{anchor}" data-ts="{t}" data-fmt="{}">{label}</text></g>"#,
            x_fmt.name()
        );
    }
    out.push_str("</g>");

    let budget = (frame.right - frame.left).round() as usize;
    let drawn: Vec<Vec<Vec<(i64, f64)>>> = prepared.iter().map(|p| p.downsample(budget)).collect();
    // About 12 B a vertex, twice (line and area): reserved once rather than grown.
    let vertices: usize = drawn.iter().flatten().map(Vec::len).sum();
    out.reserve(vertices * 24 + series.len() * (budget / HOVER_SPACING as usize) * 72);
    let baseline = yscale.y(0.0).clamp(frame.top, frame.bottom);
    for (i, segments) in drawn.iter().enumerate() {
        if segments.iter().any(|s| s.len() > 1) {
            let _ = write!(out, r#"<path class="area {}" d=""#, series_class(i));
            for seg in segments.iter().filter(|s| s.len() > 1) {
                push_area(&mut out, seg, &frame, &yscale, baseline);
            }
            let _ = write!(out, r#""/><path class="line {}" d=""#, series_class(i));
            for seg in segments.iter().filter(|s| s.len() > 1) {
                push_polyline(&mut out, seg, &frame, &yscale);
            }
            // Not a colour: a line filled in black is what a page without the stylesheet
            // would show otherwise.
            out.push_str(r#"" fill="none"/>"#);
        }
        // An isolated point has no line to be part of; a dot keeps it visible.
        for seg in segments.iter().filter(|s| s.len() == 1) {
            let _ = write!(out, r#"<circle class="dot {}""#, series_class(i));
            attr_px(&mut out, "cx", frame.x(seg[0].0));
            attr_px(&mut out, "cy", yscale.y(seg[0].1));
            out.push_str(r#" r="2"/>"#);
        }
    }

    if has_data {
        let mid = (frame.top + frame.bottom) / 2.0 + 4.0;
        // A chart with data only at one end (a young monitor, a member gone quiet)
        // must not read as a chart without data: an empty stretch at either end of the
        // range says when the data starts or stops, where it has the room.
        let fmt = if i128::from(to) - i128::from(from) < 2 * i128::from(DAY) {
            TimeFmt::Hm
        } else {
            TimeFmt::Md
        };
        for &(a, b) in &regions {
            let (xa, xb) = (frame.x(a), frame.x(b));
            if xb - xa < GAP_LABEL_MIN_W {
                continue;
            }
            let edge = match (a == from, b == to) {
                (true, false) => Some(("no data before ", b)),
                (false, true) => Some(("no data since ", a)),
                _ => None,
            };
            out.push_str(r#"<text class="nodata""#);
            attr_px(&mut out, "x", (xa + xb) / 2.0);
            attr_px(&mut out, "y", mid);
            out.push_str(r#" text-anchor="middle">"#);
            match edge {
                Some((words, t)) if xb - xa >= EDGE_LABEL_MIN_W => {
                    let _ = write!(
                        out,
                        r#"{words}<tspan data-ts="{t}" data-fmt="{}">{}</tspan>"#,
                        fmt.name(),
                        fmt.format(t)
                    );
                }
                _ => out.push_str("no data"),
            }
            out.push_str("</text>");
        }
    } else {
        out.push_str(r#"<text class="nodata""#);
        attr_px(&mut out, "x", (frame.left + frame.right) / 2.0);
        attr_px(&mut out, "y", (frame.top + frame.bottom) / 2.0 + 4.0);
        out.push_str(r#" text-anchor="middle">no data in this range</text>"#);
    }

    // Hover targets last, so they sit above everything; the stylesheet hides them until
    // the page's script lights the one nearest the pointer. Each carries its series
    // (`data-s`, as on the legend entry that names it) so the script needs no lookup
    // up the tree; `data-v` is the value already in human units, so it needs no
    // formatting either.
    let hover_budget = (((frame.right - frame.left) / HOVER_SPACING) as usize).max(2);
    for (i, segments) in drawn.iter().enumerate() {
        let all: Vec<(i64, f64)> = segments.iter().flatten().copied().collect();
        if all.is_empty() {
            continue;
        }
        let _ = write!(out, r#"<g class="pts {}" data-s="{i}">"#, series_class(i));
        for (t, v) in lttb(&all, hover_budget) {
            out.push_str("<circle");
            attr_px(&mut out, "cx", frame.x(t));
            attr_px(&mut out, "cy", yscale.y(v));
            let _ = write!(out, r#" r="3" data-s="{i}" data-ts="{t}" data-v=""#);
            push_escaped(&mut out, &units::human(v, spec.unit));
            out.push_str(r#""/>"#);
        }
        out.push_str("</g>");
    }

    if !legend.items.is_empty() {
        out.push_str(r#"<g class="legend">"#);
        for item in &legend.items {
            let baseline = frame.bottom + X_LABELS_H + item.row as f64 * LEGEND_ROW_H + 12.0;
            let empty = if prepared[item.index].points.is_empty() {
                " empty"
            } else {
                ""
            };
            let _ = write!(out, r#"<g class="li{empty}" data-s="{}">"#, item.index);
            if item.truncated {
                out.push_str("<title>");
                push_escaped(&mut out, &series[item.index].label);
                out.push_str("</title>");
            }
            let _ = write!(out, r#"<rect class="sw {}""#, series_class(item.index));
            attr_px(&mut out, "x", item.x);
            attr_px(&mut out, "y", baseline - 9.0);
            out.push_str(r#" width="10" height="10"/><text"#);
            attr_px(&mut out, "x", item.x + 14.0);
            attr_px(&mut out, "y", baseline);
            out.push('>');
            push_escaped(&mut out, &item.text);
            out.push_str("</text></g>");
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// A tiny chart of one series (say 120 x 24): the line alone, no axes, no text, gaps
/// broken like [`render`]'s. The y range is the data's own, to show the shape; a
/// constant series is a line across the middle. Decorative (`aria-hidden`): the value
/// it illustrates belongs in the text beside it.
pub fn sparkline(
    points: &[(i64, f64)],
    from_ms: i64,
    to_ms: i64,
    step_ms: i64,
    width: u32,
    height: u32,
) -> String {
    let w = f64::from(width.max(8));
    let h = f64::from(height.max(4));
    let (from, to) = time_range(from_ms, to_ms, std::iter::once(points));
    let prepared = Prepared::new(points, from, to, gap_threshold(step_ms));
    let empty = if prepared.points.is_empty() {
        " empty"
    } else {
        ""
    };
    let mut out = String::with_capacity(2048);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="spark{empty}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" aria-hidden="true" focusable="false">"#
    );
    if !prepared.points.is_empty() {
        // Inset by half a stroke so the extremes are not clipped.
        let pad = 1.5;
        let frame = Frame {
            left: pad,
            right: w - pad,
            top: pad,
            bottom: h - pad,
            from,
            to,
        };
        let (lo, hi) = prepared.min_max;
        let yscale = YScale::new(lo, hi, frame.top, frame.bottom);
        let segments = prepared.downsample(w.round() as usize);
        if segments.iter().any(|s| s.len() > 1) {
            out.push_str(r#"<path class="line" d=""#);
            for seg in segments.iter().filter(|s| s.len() > 1) {
                push_polyline(&mut out, seg, &frame, &yscale);
            }
            out.push_str(r#"" fill="none"/>"#);
        }
        for seg in segments.iter().filter(|s| s.len() == 1) {
            out.push_str(r#"<circle class="dot""#);
            attr_px(&mut out, "cx", frame.x(seg[0].0));
            attr_px(&mut out, "cy", yscale.y(seg[0].1));
            out.push_str(r#" r="1.5"/>"#);
        }
    }
    out.push_str("</svg>");
    out
}

/// Largest-Triangle-Three-Buckets (Steinarsson, 2013): `threshold` of the points,
/// keeping the first and the last, and from each bucket between them the point that
/// spans the largest triangle with its neighbours, so spikes survive where averaging
/// or striding would drop them. Returns the points unchanged when `threshold` is 0 or
/// not below their number. Expects finite values ([`render`] and [`sparkline`] drop
/// the others first): with a NaN the picks near it are arbitrary, though the count and
/// the ends still hold.
pub fn lttb(points: &[(i64, f64)], threshold: usize) -> Vec<(i64, f64)> {
    let n = points.len();
    if threshold == 0 || threshold >= n {
        return points.to_vec();
    }
    match threshold {
        1 => return vec![points[0]],
        2 => return vec![points[0], points[n - 1]],
        _ => {}
    }
    // Relative to the first point: unix ms as f64 are exact, but products of them lose
    // the small differences that decide between neighbours.
    let t0 = points[0].0 as f64;
    let x = |t: i64| t as f64 - t0;
    let buckets = threshold - 2;
    // Bucket b holds points[start(b)..start(b + 1)], splitting 1..n-1 evenly; integer
    // arithmetic, so the last bucket ends exactly before the last point.
    let start = |b: usize| 1 + (b as u128 * (n as u128 - 2) / buckets as u128) as usize;
    let mut out = Vec::with_capacity(threshold);
    out.push(points[0]);
    let mut a = 0;
    for b in 0..buckets {
        let (next_lo, next_hi) = if b + 1 < buckets {
            (start(b + 1), start(b + 2))
        } else {
            (n - 1, n)
        };
        let len = (next_hi - next_lo) as f64;
        let (mut avg_x, mut avg_y) = (0.0, 0.0);
        for &(t, v) in &points[next_lo..next_hi] {
            avg_x += x(t);
            avg_y += v;
        }
        avg_x /= len;
        avg_y /= len;

        let (ax, ay) = (x(points[a].0), points[a].1);
        let (lo, hi) = (start(b), start(b + 1));
        let mut chosen = lo;
        let mut max_area = -1.0;
        for (j, &(t, v)) in (lo..hi).zip(&points[lo..hi]) {
            // Twice the triangle's area; the factor does not change the choice.
            let area = ((ax - avg_x) * (v - ay) - (ax - x(t)) * (avg_y - ay)).abs();
            if area > max_area {
                max_area = area;
                chosen = j;
            }
        }
        out.push(points[chosen]);
        a = chosen;
    }
    out.push(points[n - 1]);
    out
}

/// `s` with the five XML special characters escaped, safe in text and in quoted
/// attributes of SVG and HTML alike.
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

pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_escaped(&mut out, s);
    out
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            // XML 1.0 forbids other control characters even as references; one would
            // make the SVG unreadable when served on its own.
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// A series cut to the chart: finite values inside the range, in time order, split
/// where points are further apart than the gap threshold.
struct Prepared<'a> {
    points: Cow<'a, [(i64, f64)]>,
    segments: Vec<Range<usize>>,
    /// Smallest and largest value (∞, -∞ without points).
    min_max: (f64, f64),
}

impl<'a> Prepared<'a> {
    fn new(points: &'a [(i64, f64)], from: i64, to: i64, gap: i128) -> Prepared<'a> {
        let sorted = points.is_sorted_by_key(|p| p.0);
        // Clean, ordered data (the usual case) is borrowed: copying 10,000 points into
        // fresh pages took about a sixth of a render in a profile.
        let inside = if sorted {
            let lo = points.partition_point(|p| p.0 < from);
            let hi = points.partition_point(|p| p.0 <= to);
            Some(&points[lo..hi.max(lo)])
        } else {
            None
        };
        let pts: Cow<'a, [(i64, f64)]> = match inside {
            Some(inside) if inside.iter().all(|p| p.1.is_finite()) => Cow::Borrowed(inside),
            _ => {
                let mut pts: Vec<(i64, f64)> = points
                    .iter()
                    .copied()
                    .filter(|&(t, v)| v.is_finite() && (from..=to).contains(&t))
                    .collect();
                // Callers promise time order; a stray out-of-order point would otherwise
                // draw a line backwards across the chart.
                if !sorted {
                    pts.sort_by_key(|p| p.0);
                }
                Cow::Owned(pts)
            }
        };
        let mut segments = Vec::new();
        let mut begin = 0;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for (i, &(t, v)) in pts.iter().enumerate() {
            if i > 0 && i128::from(t) - i128::from(pts[i - 1].0) > gap {
                segments.push(begin..i);
                begin = i;
            }
            // Plain comparisons: values are finite here, and `f64::min`'s NaN handling
            // doubles the cost of this loop.
            if v < lo {
                lo = v;
            }
            if v > hi {
                hi = v;
            }
        }
        if !pts.is_empty() {
            segments.push(begin..pts.len());
        }
        let min_max = (lo, hi);
        Prepared {
            points: pts,
            segments,
            min_max,
        }
    }

    /// Each segment reduced with LTTB, the `budget` of points shared out by size.
    /// Done per segment: reduced across a gap, points picked far apart would look like
    /// gaps themselves, and the real gap could lose its edges.
    fn downsample(&self, budget: usize) -> Vec<Vec<(i64, f64)>> {
        let total = self.points.len().max(1) as f64;
        self.segments
            .iter()
            .map(|r| {
                let share = (budget as f64 * r.len() as f64 / total).ceil() as usize;
                lttb(&self.points[r.clone()], share.max(2))
            })
            .collect()
    }
}

fn gap_threshold(step_ms: i64) -> i128 {
    if step_ms > 0 {
        2 * i128::from(step_ms)
    } else {
        // Without a known spacing nothing can be called a gap.
        i128::MAX
    }
}

/// The time range to draw: the caller's, or when that is empty or reversed, the data's
/// (a minute around a single instant).
fn time_range<'a>(
    from: i64,
    to: i64,
    series: impl Iterator<Item = &'a [(i64, f64)]>,
) -> (i64, i64) {
    if from < to {
        return (from, to);
    }
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for &(t, _) in series.flatten().filter(|p| p.1.is_finite()) {
        lo = lo.min(t);
        hi = hi.max(t);
    }
    if lo < hi {
        return (lo, hi);
    }
    let centre = if lo == hi { lo } else { from };
    let (a, b) = (centre.saturating_sub(30_000), centre.saturating_add(30_000));
    (a, b)
}

/// Stretches of `from..=to` where no series has data, longer than the gap threshold.
fn empty_regions(prepared: &[Prepared], from: i64, to: i64, gap: i128) -> Vec<(i64, i64)> {
    let mut spans: Vec<(i64, i64)> = prepared
        .iter()
        .flat_map(|p| {
            p.segments
                .iter()
                .map(|r| (p.points[r.start].0, p.points[r.end - 1].0))
        })
        .collect();
    spans.sort_unstable();
    let mut regions = Vec::new();
    let mut covered = from;
    for (a, b) in spans {
        if i128::from(a) - i128::from(covered) > gap {
            regions.push((covered, a));
        }
        covered = covered.max(b);
    }
    if i128::from(to) - i128::from(covered) > gap {
        regions.push((covered, to));
    }
    regions
}

/// The y ticks and scale: nice ticks over the data's range widened to include 0.
fn y_axis(
    prepared: &[Prepared],
    unit: Unit,
    plot_h: f64,
    top: f64,
    bottom: f64,
) -> (Vec<f64>, YScale) {
    let (mut lo, mut hi) = prepared
        .iter()
        .map(|p| p.min_max)
        .fold((0.0f64, 0.0f64), |(lo, hi), (a, b)| (lo.min(a), hi.max(b)));
    if lo == hi {
        // All zero: a flat line on the axis, under a unit range.
        hi = 1.0;
    }
    let max_ticks = ((plot_h / Y_TICK_SPACING) as usize + 1).clamp(3, 10);
    let mut ticks = units::axis_ticks(lo, hi, max_ticks, unit);
    if ticks.len() < 2 {
        ticks = vec![lo, hi];
    }
    lo = ticks[0];
    hi = ticks[ticks.len() - 1];
    (ticks, YScale::new(lo, hi, top, bottom))
}

struct Frame {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    from: i64,
    to: i64,
}

impl Frame {
    fn x(&self, t: i64) -> f64 {
        // In f64, not i128 (a slow conversion, and this runs for every vertex): unix ms
        // are exact below 2^53, and beyond that a rounded pixel is as good.
        let span = (self.to as f64 - self.from as f64).max(1.0);
        self.left + (t as f64 - self.from as f64) / span * (self.right - self.left)
    }
}

struct YScale {
    lo: f64,
    /// Half the range: halves, because `hi - lo` overflows near ±f64::MAX.
    half_range: f64,
    top: f64,
    bottom: f64,
}

impl YScale {
    fn new(lo: f64, hi: f64, top: f64, bottom: f64) -> YScale {
        YScale {
            lo,
            half_range: hi * 0.5 - lo * 0.5,
            top,
            bottom,
        }
    }

    fn y(&self, v: f64) -> f64 {
        let frac = (v * 0.5 - self.lo * 0.5) / self.half_range;
        if !frac.is_finite() || self.half_range <= 0.0 {
            // A flat range (a constant sparkline): across the middle.
            return (self.top + self.bottom) / 2.0;
        }
        self.bottom - frac * (self.bottom - self.top)
    }
}

struct Legend {
    items: Vec<LegendItem>,
    rows: usize,
}

struct LegendItem {
    index: usize,
    text: String,
    truncated: bool,
    x: f64,
    row: usize,
}

/// Legend entries left to right, wrapped to the width.
fn layout_legend(series: &[ChartSeries], w: f64) -> Legend {
    let mut items = Vec::with_capacity(series.len());
    let (mut x, mut row) = (4.0, 0);
    for (index, s) in series.iter().enumerate() {
        let chars = s.label.chars().count();
        let truncated = chars > LEGEND_MAX_CHARS;
        let text: String = if truncated {
            s.label
                .chars()
                .take(LEGEND_MAX_CHARS - 1)
                .chain(std::iter::once('…'))
                .collect()
        } else {
            s.label.clone()
        };
        let item_w = 14.0 + text.chars().count() as f64 * CHAR_W + 14.0;
        if x > 4.0 && x + item_w > w - 4.0 {
            x = 4.0;
            row += 1;
        }
        items.push(LegendItem {
            index,
            text,
            truncated,
            x,
            row,
        });
        x += item_w;
    }
    let rows = if items.is_empty() { 0 } else { row + 1 };
    Legend { items, rows }
}

fn series_class(i: usize) -> String {
    if i < PALETTE {
        format!("s{i}")
    } else {
        format!("s{} alt", i % PALETTE)
    }
}

/// A summary for screen readers, which cannot see the lines.
fn push_summary(out: &mut String, series: &[ChartSeries], prepared: &[Prepared], unit: Unit) {
    for (i, (s, p)) in series.iter().zip(prepared).enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        push_escaped(out, &s.label);
        match p.points.last() {
            None => out.push_str(": no data"),
            Some(&(_, last)) => {
                let (lo, hi) = p.min_max;
                let text = format!(
                    ": latest {}, min {}, max {}",
                    units::human(last, unit),
                    units::human(lo, unit),
                    units::human(hi, unit)
                );
                push_escaped(out, &text);
            }
        }
    }
}

/// A coordinate with one decimal, from an integer count of tenths: short, fast, and
/// never "NaN" or "inf" whatever the input (non-finite clamps to a number).
fn push_px(out: &mut String, v: f64) {
    // Rounded half away from zero by truncation: `f64::round` is a libm call, and this
    // runs for every vertex. NaN clamps to NaN, which `as` turns into 0.
    let t = v.clamp(-1e7, 1e7) * 10.0;
    let tenths = if t >= 0.0 { t + 0.5 } else { t - 0.5 } as i64;
    let a = tenths.unsigned_abs();
    // Written right to left into a buffer, pushed once: `write!` costs more than the
    // rest of drawing a vertex.
    let mut buf = [0u8; 12];
    let mut i = buf.len();
    if !a.is_multiple_of(10) {
        buf[i - 1] = b'0' + (a % 10) as u8;
        buf[i - 2] = b'.';
        i -= 2;
    }
    let mut n = a / 10;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if tenths < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
}

fn attr_px(out: &mut String, name: &str, v: f64) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    push_px(out, v);
    out.push('"');
}

fn push_line(out: &mut String, class: Option<&str>, x1: f64, y1: f64, x2: f64, y2: f64) {
    out.push_str("<line");
    if let Some(class) = class {
        let _ = write!(out, r#" class="{class}""#);
    }
    attr_px(out, "x1", x1);
    attr_px(out, "y1", y1);
    attr_px(out, "x2", x2);
    attr_px(out, "y2", y2);
    out.push_str("/>");
}

fn push_point(out: &mut String, frame: &Frame, yscale: &YScale, (t, v): (i64, f64)) {
    push_px(out, frame.x(t));
    out.push(' ');
    push_px(out, yscale.y(v));
}

/// One subpath: `M x y L x y x y …` (coordinates after `L` repeat it implicitly).
fn push_polyline(out: &mut String, seg: &[(i64, f64)], frame: &Frame, yscale: &YScale) {
    for (i, &p) in seg.iter().enumerate() {
        out.push_str(match i {
            0 => "M",
            1 => "L",
            _ => " ",
        });
        push_point(out, frame, yscale, p);
    }
}

/// One closed subpath between the segment and the zero line.
fn push_area(out: &mut String, seg: &[(i64, f64)], frame: &Frame, yscale: &YScale, baseline: f64) {
    let (Some(&first), Some(&last)) = (seg.first(), seg.last()) else {
        return;
    };
    out.push('M');
    push_px(out, frame.x(first.0));
    out.push(' ');
    push_px(out, baseline);
    out.push('L');
    for &p in seg {
        push_point(out, frame, yscale, p);
        out.push(' ');
    }
    push_px(out, frame.x(last.0));
    out.push(' ');
    push_px(out, baseline);
    out.push('Z');
}

const SECOND: i64 = 1000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// Steps a reader counts in, up to two weeks; longer ranges step in calendar months.
const TIME_STEPS: [i64; 21] = [
    SECOND,
    2 * SECOND,
    5 * SECOND,
    10 * SECOND,
    15 * SECOND,
    30 * SECOND,
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    7 * DAY,
    14 * DAY,
];

/// Tick instants for the smallest readable step giving at most `max_ticks` (at least
/// 2) ticks in `from..=to`, and that step (a month counts as 30 days). Fixed steps sit
/// at multiples of the step in UTC, so hour and day ticks fall on whole hours and UTC
/// midnights; month steps on the first of a month (quarters, halves, years).
fn time_ticks(from: i64, to: i64, max_ticks: usize) -> (i64, Vec<i64>) {
    let max_ticks = max_ticks.max(2);
    let (lo, hi) = (i128::from(from), i128::from(to));
    for step in TIME_STEPS.map(i128::from) {
        let (first, last) = (ceil_div(lo, step), hi.div_euclid(step));
        if last - first < max_ticks as i128 {
            let ticks = (first..=last).map(|k| (k * step) as i64).collect();
            return (step as i64, ticks);
        }
    }
    let years = (0..16u32).flat_map(|e| [1, 2, 5].map(|m| 12 * m * 10i64.pow(e)));
    for months in [1, 2, 3, 6].into_iter().chain(years) {
        if let Some(ticks) = month_ticks(from, to, months, max_ticks) {
            return (months.saturating_mul(30 * DAY), ticks);
        }
    }
    (i64::MAX, Vec::new())
}

/// Firsts of months at multiples of `months` (counted from year 0) in `from..=to`,
/// unless there are more than `max_ticks`.
fn month_ticks(from: i64, to: i64, months: i64, max_ticks: usize) -> Option<Vec<i64>> {
    let (y, m, ..) = utc(from);
    let mut k = (y * 12 + i64::from(m) - 1).div_euclid(months) * months;
    let mut ticks = Vec::new();
    loop {
        let (y, m) = (k.div_euclid(12), k.rem_euclid(12) as u32 + 1);
        let ms = i128::from(days_from_civil(y, m, 1)) * i128::from(DAY);
        if ms > i128::from(to) {
            return Some(ticks);
        }
        if ms >= i128::from(from) {
            if ticks.len() == max_ticks {
                return None;
            }
            ticks.push(ms as i64);
        }
        k += months;
    }
}

fn ceil_div(a: i128, b: i128) -> i128 {
    -(-a).div_euclid(b)
}

/// How a time tick is labelled; the name goes to `data-fmt` for the page's script.
#[derive(Debug, Clone, Copy, PartialEq)]
enum TimeFmt {
    /// 22:13:20
    Hms,
    /// 22:13
    Hm,
    /// 11-14
    Md,
    /// 2023-11-14
    Ymd,
    /// 2023-11
    Ym,
}

impl TimeFmt {
    fn for_step(step: i64, span: i128) -> TimeFmt {
        if step >= 28 * DAY {
            TimeFmt::Ym
        } else if step < MINUTE {
            TimeFmt::Hms
        } else if step < DAY {
            TimeFmt::Hm
        } else if span < 360 * i128::from(DAY) {
            TimeFmt::Md
        } else {
            TimeFmt::Ymd
        }
    }

    fn name(self) -> &'static str {
        match self {
            TimeFmt::Hms => "hms",
            TimeFmt::Hm => "hm",
            TimeFmt::Md => "md",
            TimeFmt::Ymd => "ymd",
            TimeFmt::Ym => "ym",
        }
    }

    fn format(self, ms: i64) -> String {
        let (y, mo, d, h, mi, s) = utc(ms);
        match self {
            TimeFmt::Hms => format!("{h:02}:{mi:02}:{s:02}"),
            TimeFmt::Hm => format!("{h:02}:{mi:02}"),
            TimeFmt::Md => format!("{mo:02}-{d:02}"),
            TimeFmt::Ymd => format!("{y:04}-{mo:02}-{d:02}"),
            TimeFmt::Ym => format!("{y:04}-{mo:02}"),
        }
    }
}

/// "2023-11-14 22:13:20" for 1700000000000.
fn full_utc(ms: i64) -> String {
    let (y, mo, d, h, mi, s) = utc(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000; // 2023-11-14 22:13:20 UTC
    const STEP: i64 = 15_000;

    fn spec(title: &str) -> ChartSpec<'_> {
        ChartSpec {
            title,
            unit: Unit::Seconds,
            from_ms: T0,
            to_ms: T0 + 3_600_000,
            step_ms: STEP,
            width: 600,
            height: 200,
        }
    }

    fn regular(n: usize, f: impl Fn(usize) -> f64) -> Vec<(i64, f64)> {
        (0..n).map(|i| (T0 + i as i64 * STEP, f(i))).collect()
    }

    fn series(label: &str, points: Vec<(i64, f64)>) -> ChartSeries {
        ChartSeries {
            label: label.to_string(),
            points,
        }
    }

    /// What every rendering must be: well-formed enough to count, free of non-numbers
    /// and of inline styles.
    fn assert_clean(svg: &str) {
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"), "{svg}");
        for bad in ["NaN", "inf", "style=", "<script", "fill=\"#", "stroke=\"#"] {
            assert!(!svg.contains(bad), "{bad:?} in {svg}");
        }
        assert_eq!(svg.matches('<').count(), svg.matches('>').count(), "{svg}");
    }

    /// The `d` attributes of the paths with `class`.
    fn paths<'a>(svg: &'a str, class: &str) -> Vec<&'a str> {
        let open = format!(r#"<path class="{class}" d=""#);
        svg.match_indices(&open)
            .map(|(i, _)| {
                let rest = &svg[i + open.len()..];
                &rest[..rest.find('"').unwrap()]
            })
            .collect()
    }

    fn vertices(d: &str) -> usize {
        // Each vertex is "x y"; subpaths and commands aside, count the pairs.
        d.split(['M', 'L', ' ']).filter(|s| !s.is_empty()).count() / 2
    }

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape_xml(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape_xml("etcd-1 µs ✓"), "etcd-1 µs ✓");
        assert_eq!(escape_xml("a\u{0}b\u{1b}c\td"), "a\u{FFFD}b\u{FFFD}c\td");
        assert_eq!(escape_xml(""), "");
    }

    #[test]
    fn title_and_legend_are_escaped() {
        let evil = r#"<script>alert("pwned")</script>' onload='x"#;
        let svg = render(
            &spec(evil),
            &[
                series(evil, regular(10, |i| i as f64)),
                series("a&b", vec![]),
            ],
        );
        assert_clean(&svg);
        assert!(svg
            .contains("&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;&#39; onload=&#39;x"));
        assert!(!svg.contains("'x"), "{svg}");
        assert!(svg.contains(">a&amp;b</text>"));
        // In the aria-label, the <title>, the title text, the summary, and the legend's
        // text and (being cut short) its title.
        assert_eq!(svg.matches("&lt;script&gt;").count(), 6, "{svg}");
    }

    #[test]
    fn structure() {
        let svg = render(
            &spec("WAL fsync p99"),
            &[
                series("etcd-1", regular(240, |i| 0.001 * (i % 7) as f64)),
                series("etcd-2", regular(240, |i| 0.002 * (i % 5) as f64)),
            ],
        );
        assert_clean(&svg);
        assert!(svg.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 600 200" width="600" height="200" role="img" font-size="11" aria-label="WAL fsync p99" data-unit="seconds""#), "{svg}");
        assert!(svg.contains("<title>WAL fsync p99</title>"));
        assert!(svg.contains("<desc>etcd-1: latest "));
        assert!(svg.contains(r#"<text class="title" x="4" y="15">WAL fsync p99</text>"#));
        // x ticks: every 10 minutes, UTC fallback text, the instant for the script.
        assert!(
            svg.contains(&format!(
                r#"data-ts="{}" data-fmt="hm">22:20</text></g>"#,
                T0 + 400_000
            )),
            "{svg}"
        );
        assert!(svg.contains("<title>2023-11-14 22:20:00 UTC</title>"));
        // y ticks in human units, from 0.
        assert!(svg.contains(r#"text-anchor="end">0 s</text>"#), "{svg}");
        assert!(svg.contains(r#"text-anchor="end">8 ms</text>"#), "{svg}");
        assert_eq!(paths(&svg, "line s0").len(), 1);
        assert_eq!(paths(&svg, "line s1").len(), 1);
        assert_eq!(paths(&svg, "area s1").len(), 1);
        assert!(svg.contains(r#"<g class="pts s1" data-s="1"><circle "#));
        assert!(svg.contains(&format!(
            r#" r="3" data-s="0" data-ts="{T0}" data-v="0 s"/>"#
        )));
        assert!(svg.contains(r#"<g class="li" data-s="0"><rect class="sw s0""#));
        assert!(svg.contains(">etcd-2</text></g>"));
        assert!(!svg.contains("no data"), "{svg}");
        // Deterministic.
        assert_eq!(
            svg,
            render(
                &spec("WAL fsync p99"),
                &[
                    series("etcd-1", regular(240, |i| 0.001 * (i % 7) as f64)),
                    series("etcd-2", regular(240, |i| 0.002 * (i % 5) as f64)),
                ],
            )
        );
    }

    #[test]
    fn colours_cycle_through_six_classes() {
        let all: Vec<ChartSeries> = (0..8)
            .map(|i| series(&format!("m{i}"), regular(20, |j| (i * j) as f64)))
            .collect();
        let svg = render(&spec("eight"), &all);
        assert_clean(&svg);
        for i in 0..6 {
            assert_eq!(paths(&svg, &format!("line s{i}")).len(), 1, "s{i}");
        }
        assert_eq!(paths(&svg, "line s0 alt").len(), 1);
        assert_eq!(paths(&svg, "line s1 alt").len(), 1);
    }

    #[test]
    fn data_at_one_end_is_not_called_a_chart_without_data() {
        // A young monitor: the last 5 minutes of the hour. Before the fix the stretch
        // before it said "no data", and a newcomer read the chart as empty.
        let young: Vec<_> = regular(240, |i| i as f64)
            .into_iter()
            .filter(|&(t, _)| t - T0 >= 55 * 60_000)
            .collect();
        let first = young[0].0;
        let svg = render(&spec("young"), &[series("a", young)]);
        assert_clean(&svg);
        let before = format!(
            r#">no data before <tspan data-ts="{first}" data-fmt="hm">{}</tspan></text>"#,
            TimeFmt::Hm.format(first)
        );
        assert!(svg.contains(&before), "{svg}");
        assert!(!svg.contains(">no data</text>"), "{svg}");
        // A member gone quiet after 20 minutes: "since".
        let quiet: Vec<_> = regular(80, |i| i as f64);
        let last = quiet[79].0;
        let svg = render(&spec("quiet"), &[series("a", quiet)]);
        assert!(
            svg.contains(&format!(r#">no data since <tspan data-ts="{last}""#)),
            "{svg}"
        );
        // Too narrow for the long form: the short one.
        let mut narrow = spec("narrow");
        narrow.width = 260;
        let young: Vec<_> = regular(240, |i| i as f64)
            .into_iter()
            .filter(|&(t, _)| t - T0 >= 30 * 60_000)
            .collect();
        let svg = render(&narrow, &[series("a", young)]);
        assert!(svg.contains(">no data</text>"), "{svg}");
    }

    #[test]
    fn gaps_break_the_line_and_say_no_data() {
        // 0..20 min, nothing for 30 minutes but a lone point at 35 min, then 50..60 min.
        let mut pts = regular(240, |i| i as f64);
        pts.retain(|&(t, _)| t - T0 < 20 * 60_000 || t - T0 >= 50 * 60_000);
        pts.push((T0 + 35 * 60_000, 1.0));
        pts.sort_by_key(|p| p.0);
        let svg = render(&spec("gappy"), &[series("a", pts)]);
        assert_clean(&svg);
        let line = paths(&svg, "line s0");
        assert_eq!(line.len(), 1);
        assert_eq!(line[0].matches('M').count(), 2, "{}", line[0]);
        let area = paths(&svg, "area s0");
        assert_eq!(area[0].matches('M').count(), 2);
        assert_eq!(area[0].matches('Z').count(), 2);
        assert_eq!(svg.matches(r#"<circle class="dot s0""#).count(), 1);
        // Two empty stretches of a quarter of an hour around the lone point.
        assert_eq!(svg.matches(r#"<rect class="gap""#).count(), 2, "{svg}");
        assert_eq!(svg.matches(">no data</text>").count(), 2, "{svg}");

        // A missing point or two is not a gap; non-finite values are missing points.
        let mut pts = regular(240, |i| i as f64);
        pts[10].1 = f64::NAN;
        pts[100].1 = f64::INFINITY;
        pts.remove(50);
        let svg = render(&spec("holes"), &[series("a", pts)]);
        assert_eq!(paths(&svg, "line s0")[0].matches('M').count(), 1);
        assert!(!svg.contains("gap") && !svg.contains("no data"), "{svg}");
    }

    #[test]
    fn data_starting_late_leaves_an_empty_stretch() {
        let pts: Vec<(i64, f64)> = regular(240, |i| i as f64)
            .into_iter()
            .filter(|&(t, _)| t - T0 >= 30 * 60_000)
            .collect();
        let svg = render(&spec("late"), &[series("a", pts)]);
        assert_eq!(svg.matches(r#"<rect class="gap""#).count(), 1);
        assert_eq!(svg.matches(">no data before <tspan").count(), 1);
        // Another series covering the start fills it.
        let svg = render(
            &spec("late"),
            &[
                series("a", regular(240, |i| i as f64).split_off(120)),
                series("b", regular(130, |i| i as f64)),
            ],
        );
        assert!(!svg.contains("no data"), "{svg}");
    }

    #[test]
    fn nothing_to_draw() {
        for all in [
            vec![],
            vec![series("a", vec![])],
            vec![series("a", regular(50, |_| f64::NAN))],
            // Entirely outside the range.
            vec![series("a", vec![(T0 - 1, 1.0), (T0 + 3_600_001, 2.0)])],
        ] {
            let svg = render(&spec("empty"), &all);
            assert_clean(&svg);
            assert!(svg.contains(">no data in this range</text>"), "{svg}");
            assert!(!svg.contains("<path"), "{svg}");
            assert!(!svg.contains("yaxis"), "{svg}");
        }
        let svg = render(&spec("empty"), &[series("a", vec![])]);
        assert!(svg.contains(r#"<g class="li empty" data-s="0">"#));
        assert!(svg.contains("<desc>a: no data</desc>"));
    }

    #[test]
    fn edge_inputs_render_sensibly() {
        let cases: Vec<(&str, Vec<(i64, f64)>)> = vec![
            ("one point", vec![(T0 + 60_000, 5.0)]),
            ("constant", regular(100, |_| 7.0)),
            ("zeros", regular(100, |_| 0.0)),
            (
                "huge",
                regular(100, |i| if i % 2 == 0 { f64::MAX } else { 1e300 }),
            ),
            (
                "huge both ways",
                regular(100, |i| if i % 2 == 0 { f64::MAX } else { f64::MIN }),
            ),
            ("negative", regular(100, |i| -(i as f64) * 1e-3)),
            ("subnormal", regular(100, |i| i as f64 * 1e-320)),
            (
                "mixed",
                regular(100, |i| [f64::NAN, 1.0, f64::NEG_INFINITY, -2.0][i % 4]),
            ),
            ("duplicates", vec![(T0, 1.0), (T0, 2.0), (T0 + 1, 3.0)]),
            (
                "unordered",
                vec![(T0 + 30_000, 1.0), (T0, 2.0), (T0 + 15_000, 3.0)],
            ),
        ];
        for unit in [
            Unit::Seconds,
            Unit::Bytes,
            Unit::Count,
            Unit::Ratio,
            Unit::PerSecond,
        ] {
            for (name, pts) in &cases {
                let mut s = spec(name);
                s.unit = unit;
                let svg = render(&s, &[series(name, pts.clone())]);
                assert_clean(&svg);
                assert!(!svg.contains("no data in this range"), "{name}: {svg}");
                let spark = sparkline(pts, T0, T0 + 3_600_000, STEP, 120, 24);
                assert_clean(&spark);
            }
        }
        let svg = render(&spec("one"), &[series("a", vec![(T0 + 60_000, 5.0)])]);
        assert_eq!(svg.matches(r#"<circle class="dot s0""#).count(), 1);
        assert!(!svg.contains("<path"));
    }

    #[test]
    fn degenerate_specs() {
        let pts = regular(20, |i| i as f64);
        for (from, to, step, w, h) in [
            (T0, T0, STEP, 600, 200),
            (T0 + 3_600_000, T0, STEP, 600, 200),
            (T0, T0 + 3_600_000, 0, 0, 0),
            (T0, T0 + 3_600_000, -5, 10, 10_000),
            (i64::MIN, i64::MAX, i64::MAX, 600, 200),
            (0, 1, 1, 600, 200),
        ] {
            let s = ChartSpec {
                title: "",
                unit: Unit::Count,
                from_ms: from,
                to_ms: to,
                step_ms: step,
                width: w,
                height: h,
            };
            for data in [pts.clone(), vec![], vec![(i64::MIN, 1.0), (i64::MAX, 2.0)]] {
                let svg = render(&s, &[series("a", data.clone())]);
                assert_clean(&svg);
                assert_clean(&sparkline(&data, from, to, step, w, h));
            }
        }
        // An empty range falls back to the data's own.
        let s = ChartSpec {
            from_ms: 0,
            to_ms: 0,
            ..spec("x")
        };
        let svg = render(&s, &[series("a", pts.clone())]);
        assert_eq!(paths(&svg, "line s0").len(), 1, "{svg}");
        assert!(svg.contains(&format!(r#"data-from="{T0}" data-to="{}""#, T0 + 19 * STEP)));
    }

    #[test]
    fn y_axis_includes_zero() {
        let svg = render(
            &spec("high"),
            &[series("a", regular(100, |i| 100.0 + i as f64 * 1e-3))],
        );
        assert!(svg.contains(r#"text-anchor="end">0 s</text>"#), "{svg}");
        let mut s = spec("bytes");
        s.unit = Unit::Bytes;
        let svg = render(
            &s,
            &[series(
                "a",
                regular(100, |i| (900 + i) as f64 * 1024.0 * 1024.0),
            )],
        );
        assert!(svg.contains(r#"text-anchor="end">0 B</text>"#), "{svg}");
        assert!(
            svg.contains(r#"text-anchor="end">1000 MiB</text>"#),
            "{svg}"
        );
        // Negative values extend the axis below zero.
        let svg = render(
            &spec("neg"),
            &[series("a", regular(100, |i| i as f64 - 50.0))],
        );
        assert!(svg.contains(r#"text-anchor="end">-50 s</text>"#), "{svg}");
    }

    #[test]
    fn long_series_are_downsampled_to_the_width() {
        let n = 10_000;
        let pts: Vec<(i64, f64)> = (0..n)
            .map(|i| (T0 + i * 360, (i as f64 * 0.01).sin()))
            .collect();
        let s = ChartSpec {
            step_ms: 360,
            ..spec("long")
        };
        let svg = render(&s, &[series("a", pts.clone())]);
        assert_clean(&svg);
        let drawn = vertices(paths(&svg, "line s0")[0]);
        assert!((400..=600).contains(&drawn), "{drawn}");
        let hover = svg.matches("<circle ").count();
        assert!((70..=100).contains(&hover), "{hover}");
        assert!(svg.len() < 30_000, "{}", svg.len());
        let spark = sparkline(&pts, T0, T0 + 3_600_000, 360, 120, 24);
        let d = &spark[spark.find(" d=\"").unwrap() + 4..];
        assert_eq!(vertices(&d[..d.find('"').unwrap()]), 120);
    }

    #[test]
    fn long_labels_are_cut_with_the_full_text_in_a_title() {
        let label = "x".repeat(60);
        let svg = render(&spec("t"), &[series(&label, regular(10, |i| i as f64))]);
        assert!(svg.contains(&format!("<title>{label}</title>")));
        assert!(svg.contains(&format!(">{}…</text>", "x".repeat(39))));
    }

    #[test]
    fn legend_wraps() {
        let all: Vec<ChartSeries> = (0..6)
            .map(|i| {
                series(
                    &format!("member-{i}-with-a-long-name"),
                    regular(10, |j| j as f64),
                )
            })
            .collect();
        let svg = render(&spec("t"), &all);
        assert_clean(&svg);
        // Four rows of legend below the axis labels; every item inside the image.
        let ys: std::collections::BTreeSet<&str> = svg
            .match_indices(r#"<rect class="sw"#)
            .map(|(i, _)| {
                let rest = &svg[i..];
                let y = &rest[rest.find(" y=\"").unwrap() + 4..];
                &y[..y.find('"').unwrap()]
            })
            .collect();
        assert!(ys.len() >= 2, "{ys:?}");
        assert!(
            ys.iter().all(|y| y.parse::<f64>().unwrap() < 200.0),
            "{ys:?}"
        );
    }

    #[test]
    fn lttb_keeps_ends_count_and_spikes() {
        let mut pts = regular(1000, |i| (i % 3) as f64);
        pts[237].1 = 1000.0;
        pts[711].1 = -1000.0;
        for threshold in [3, 4, 10, 50, 999] {
            let out = lttb(&pts, threshold);
            assert_eq!(out.len(), threshold);
            assert_eq!(out[0], pts[0]);
            assert_eq!(out[threshold - 1], pts[999]);
            assert!(out.windows(2).all(|w| w[0].0 < w[1].0));
            // Each spike needs a bucket of its own.
            if threshold >= 10 {
                assert!(out.contains(&pts[237]), "{threshold}");
                assert!(out.contains(&pts[711]), "{threshold}");
            }
        }
        assert_eq!(lttb(&pts, 0), pts);
        assert_eq!(lttb(&pts, 1000), pts);
        assert_eq!(lttb(&pts, 5000), pts);
        assert_eq!(lttb(&pts, 1), vec![pts[0]]);
        assert_eq!(lttb(&pts, 2), vec![pts[0], pts[999]]);
        assert!(lttb(&[], 10).is_empty());
        assert_eq!(lttb(&pts[..1], 10), vec![pts[0]]);
        // Extreme timestamps do not overflow.
        let wide = vec![(i64::MIN, 1.0), (0, 5.0), (1, 2.0), (i64::MAX, 3.0)];
        assert_eq!(lttb(&wide, 3), vec![wide[0], wide[1], wide[3]]);
    }

    #[test]
    fn sparkline_shape() {
        let mut pts = regular(240, |i| (i % 10) as f64);
        pts.drain(100..140);
        let svg = sparkline(&pts, T0, T0 + 3_600_000, STEP, 120, 24);
        assert_clean(&svg);
        assert!(svg.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg" class="spark" viewBox="0 0 120 24" width="120" height="24" aria-hidden="true""#), "{svg}");
        assert_eq!(svg.matches("<path").count(), 1);
        assert_eq!(svg.matches('M').count(), 2);
        assert!(!svg.contains("<text"));
        let empty = sparkline(&[], T0, T0 + 3_600_000, STEP, 120, 24);
        assert!(empty.contains(r#"class="spark empty""#) && !empty.contains("<path"));
        // Constant: a line across the middle.
        let flat = sparkline(&regular(10, |_| 3.0), T0, T0 + 3_600_000, STEP, 120, 24);
        assert!(flat.contains("M1.5 12L"), "{flat}");
    }

    #[test]
    fn time_ticks_and_labels() {
        assert_eq!(full_utc(T0), "2023-11-14 22:13:20");
        assert_eq!(full_utc(0), "1970-01-01 00:00:00");
        assert_eq!(full_utc(-1), "1969-12-31 23:59:59");
        assert_eq!(full_utc(951_782_400_000), "2000-02-29 00:00:00");
        let (step, ticks) = time_ticks(T0, T0 + 3_600_000, 6);
        assert_eq!(step, 10 * MINUTE);
        assert_eq!(ticks.len(), 6);
        assert!(ticks
            .iter()
            .all(|t| t % step == 0 && (T0..=T0 + 3_600_000).contains(t)));
        let (step, ticks) = time_ticks(T0, T0 + 400 * DAY, 6);
        assert_eq!(step, 60 * DAY);
        assert_eq!(ticks.len(), 6);
        assert_eq!(
            TimeFmt::for_step(step, i128::from(400 * DAY)).format(ticks[0]),
            "2024-01"
        );
        // Quarters fall on the first of January, April, July and October.
        let (_, ticks) = time_ticks(T0, T0 + 700 * DAY, 8);
        let labels: Vec<String> = ticks.iter().map(|&t| full_utc(t)).collect();
        assert_eq!(labels[0], "2024-01-01 00:00:00");
        assert_eq!(labels[1], "2024-04-01 00:00:00");
        for days in (-1_000_000..1_000_000).step_by(997) {
            let (y, m, d, ..) = utc(days * DAY);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        let (step, ticks) = time_ticks(T0, T0 + 20_000, 5);
        assert_eq!(step, 5 * SECOND);
        assert_eq!(TimeFmt::for_step(step, 20_000).format(ticks[0]), "22:13:20");
        let (_, ticks) = time_ticks(i64::MIN, i64::MAX, 6);
        assert!(!ticks.is_empty() && ticks.len() <= 6);
    }

    #[test]
    fn px_is_compact_and_finite() {
        let mut s = String::new();
        for v in [
            0.0,
            -0.04,
            12.34,
            -3.05,
            100.0,
            f64::NAN,
            f64::INFINITY,
            -1e300,
        ] {
            push_px(&mut s, v);
            s.push(',');
        }
        assert_eq!(s, "0,0,12.3,-3.1,100,0,10000000,-10000000,");
    }

    /// `cargo test --release --lib web::chart::tests::render_time -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn render_time() {
        let all: Vec<ChartSeries> = (0..3)
            .map(|s| {
                series(
                    &format!("etcd-{s}"),
                    (0..10_000)
                        .map(|i| {
                            (
                                T0 + i * 360,
                                ((i + s * 1000) as f64 * 0.01).sin().abs() * 0.02,
                            )
                        })
                        .collect(),
                )
            })
            .collect();
        let s = ChartSpec {
            step_ms: 360,
            width: 640,
            height: 220,
            ..spec("WAL fsync p99")
        };
        let runs = 200;
        let mut len = 0;
        let start = std::time::Instant::now();
        for _ in 0..runs {
            len += render(&s, std::hint::black_box(&all)).len();
        }
        let per = start.elapsed() / runs;
        let drawn: Vec<Vec<(i64, f64)>> = all.iter().map(|s| lttb(&s.points, 600)).collect();
        let small: Vec<ChartSeries> = drawn.into_iter().map(|p| series("etcd", p)).collect();
        // LTTB left them about 6 s apart.
        let s_small = ChartSpec {
            step_ms: 6_000,
            ..s
        };
        let start = std::time::Instant::now();
        for _ in 0..runs {
            len += render(&s_small, std::hint::black_box(&small)).len();
        }
        let per_small = start.elapsed() / runs;
        println!(
            "3 x 10,000 points: {per:?} a chart; 3 x 600 points: {per_small:?}; {} bytes",
            len / (2 * runs as usize)
        );
    }
}
