//! Drawing a chart: [`render`] lays the chart out once ([`Plot::new`]) and then writes
//! its parts in order, back to front (title, empty stretches, grid and axes, the
//! series, the no-data labels, hover targets, legend); [`sparkline`] is the small
//! version without axes or text.

use std::fmt::Write as _;

use super::downsample::lttb;
use super::layout::{layout_legend, series_class, y_axis, Frame, Legend, YScale};
use super::series::{empty_regions, gap_threshold, time_range, Prepared};
use super::svg::{attr_px, push_area, push_escaped, push_line, push_polyline};
use super::time_axis::{full_utc, time_ticks, TimeFmt, DAY};
use super::{
    ChartSeries, ChartSpec, Marker, CHAR_W, EDGE_LABEL_MIN_W, FONT_SIZE, GAP_LABEL_MIN_W,
    HOVER_SPACING, LEGEND_ROW_H, MAX_MARKERS, MIN_HEIGHT, MIN_WIDTH, TITLE_H, X_LABELS_H,
    X_TICK_SPACING,
};
use crate::units::{self, Unit};

/// The chart as an `<svg class="chart">` element, sized `width` x `height` (at least
/// 160 x 90) in user units, scaling with CSS.
///
/// The y axis always includes 0: every unit here measures a magnitude, and an axis
/// starting at the minimum turns a 1 % change into a cliff. Points outside
/// `from_ms..=to_ms` are not drawn; if `to_ms <= from_ms` the data's own range is used.
pub fn render(spec: &ChartSpec, series: &[ChartSeries]) -> String {
    render_marked(spec, series, &[])
}

/// [`render`], with a dashed vertical line at each of `markers` within the range
/// (the cluster's events), its label shown on hover.
pub fn render_marked(spec: &ChartSpec, series: &[ChartSeries], markers: &[Marker]) -> String {
    let plot = Plot::new(spec, series);
    let frame = &plot.frame;
    let (from, to) = (frame.from, frame.to);

    let mut out = String::with_capacity(16 * 1024);
    plot.push_head(&mut out);

    let regions = if plot.has_data {
        empty_regions(&plot.prepared, from, to, plot.gap)
    } else {
        Vec::new()
    };
    plot.push_gaps(&mut out, &regions);

    let (x_step, x_ticks) = time_ticks(
        from,
        to,
        ((frame.right - frame.left) / X_TICK_SPACING) as usize,
    );
    plot.push_grid(&mut out, &x_ticks);
    plot.push_y_labels(&mut out);
    let x_fmt = TimeFmt::for_step(x_step, i128::from(to) - i128::from(from));
    plot.push_x_labels(&mut out, &x_ticks, x_fmt);

    let budget = (frame.right - frame.left).round() as usize;
    let drawn: Vec<Vec<Vec<(i64, f64)>>> =
        plot.prepared.iter().map(|p| p.downsample(budget)).collect();
    // About 12 B a vertex, twice (line and area): reserved once rather than grown.
    let vertices: usize = drawn.iter().flatten().map(Vec::len).sum();
    out.reserve(vertices * 24 + series.len() * (budget / HOVER_SPACING as usize) * 72);
    plot.push_series(&mut out, &drawn);
    plot.push_markers(&mut out, markers);
    plot.push_no_data(&mut out, &regions);
    plot.push_hover_points(&mut out, &drawn);
    plot.push_legend(&mut out);
    out.push_str("</svg>");
    out
}

/// A chart laid out: what every drawing step of [`render`] shares.
struct Plot<'a> {
    spec: &'a ChartSpec<'a>,
    series: &'a [ChartSeries],
    prepared: Vec<Prepared<'a>>,
    /// Size of the image.
    w: f64,
    h: f64,
    gap: i128,
    has_data: bool,
    legend: Legend,
    y_ticks: Vec<f64>,
    y_labels: Vec<String>,
    yscale: YScale,
    frame: Frame,
}

impl<'a> Plot<'a> {
    fn new(spec: &'a ChartSpec<'a>, series: &'a [ChartSeries]) -> Plot<'a> {
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
        Plot {
            spec,
            series,
            prepared,
            w,
            h,
            gap,
            has_data,
            legend,
            y_ticks,
            y_labels,
            yscale,
            frame,
        }
    }

    /// The `<svg>` element with what describes the chart to scripts and screen
    /// readers, and the visible title.
    fn push_head(&self, out: &mut String) {
        let (spec, frame, w, h) = (self.spec, &self.frame, self.w, self.h);
        let (from, to) = (frame.from, frame.to);
        let title = if spec.title.is_empty() {
            "Chart"
        } else {
            spec.title
        };
        let _ = write!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" font-size="{FONT_SIZE}" aria-label=""#
        );
        push_escaped(out, title);
        let _ = write!(
            out,
            r#"" data-unit="{}" data-from="{from}" data-to="{to}" data-step="{}""#,
            spec.unit.as_str(),
            spec.step_ms.max(0),
        );
        attr_px(out, "data-x0", frame.left);
        attr_px(out, "data-x1", frame.right);
        out.push_str("><title>");
        push_escaped(out, title);
        out.push_str("</title><desc>");
        push_summary(out, self.series, &self.prepared, spec.unit);
        out.push_str("</desc>");

        if !spec.title.is_empty() {
            out.push_str(r#"<text class="title" x="4" y="15">"#);
            push_escaped(out, spec.title);
            out.push_str("</text>");
        }
    }

    /// Shading over the stretches where no series has data.
    fn push_gaps(&self, out: &mut String, regions: &[(i64, i64)]) {
        let frame = &self.frame;
        for &(a, b) in regions {
            let (xa, xb) = (frame.x(a), frame.x(b));
            out.push_str(r#"<rect class="gap""#);
            attr_px(out, "x", xa);
            attr_px(out, "y", frame.top);
            attr_px(out, "width", xb - xa);
            attr_px(out, "height", frame.bottom - frame.top);
            out.push_str("/>");
        }
    }

    /// Grid lines at the y ticks (when there is data) and the time ticks, and the x
    /// axis.
    fn push_grid(&self, out: &mut String, x_ticks: &[i64]) {
        let frame = &self.frame;
        out.push_str(r#"<g class="grid">"#);
        if self.has_data {
            for &t in &self.y_ticks {
                let y = self.yscale.y(t);
                push_line(out, None, frame.left, y, frame.right, y);
            }
        }
        for &t in x_ticks {
            let x = frame.x(t);
            push_line(out, None, x, frame.top, x, frame.bottom);
        }
        out.push_str("</g>");
        push_line(
            out,
            Some("axis"),
            frame.left,
            frame.bottom,
            frame.right,
            frame.bottom,
        );
    }

    /// The values at the y ticks, right-aligned left of the plot (none without data).
    fn push_y_labels(&self, out: &mut String) {
        if !self.has_data {
            return;
        }
        out.push_str(r#"<g class="yaxis">"#);
        for (&t, label) in self.y_ticks.iter().zip(&self.y_labels) {
            out.push_str("<text");
            attr_px(out, "x", self.frame.left - 6.0);
            attr_px(out, "y", self.yscale.y(t) + 4.0);
            out.push_str(r#" text-anchor="end">"#);
            push_escaped(out, label);
            out.push_str("</text>");
        }
        out.push_str("</g>");
    }

    /// The times at the x ticks, in UTC, with the instant for the page's script.
    fn push_x_labels(&self, out: &mut String, x_ticks: &[i64], x_fmt: TimeFmt) {
        let (frame, w) = (&self.frame, self.w);
        out.push_str(r#"<g class="xaxis">"#);
        for &t in x_ticks {
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
            attr_px(out, "x", x);
            attr_px(out, "y", frame.bottom + 13.0);
            let _ = write!(
                out,
                r#" text-anchor="{anchor}" data-ts="{t}" data-fmt="{}">{label}</text></g>"#,
                x_fmt.name()
            );
        }
        out.push_str("</g>");
    }

    /// A dashed line across the plot at each marker's time within the range.
    fn push_markers(&self, out: &mut String, markers: &[Marker]) {
        let frame = &self.frame;
        let shown: Vec<&Marker> = markers
            .iter()
            .filter(|m| (frame.from..=frame.to).contains(&m.at_ms))
            .take(MAX_MARKERS)
            .collect();
        if shown.is_empty() {
            return;
        }
        out.push_str(r#"<g class="markers">"#);
        for m in shown {
            let class = if m.problem { "marker warn" } else { "marker" };
            let _ = write!(
                out,
                r#"<g class="{class}"><title>{} UTC: "#,
                full_utc(m.at_ms)
            );
            push_escaped(out, &m.label);
            out.push_str("</title><line");
            let x = frame.x(m.at_ms);
            attr_px(out, "x1", x);
            attr_px(out, "x2", x);
            attr_px(out, "y1", frame.top);
            attr_px(out, "y2", frame.bottom);
            out.push_str("/></g>");
        }
        out.push_str("</g>");
    }

    /// Each series' area and line, one subpath per segment, and a dot for each
    /// isolated point.
    fn push_series(&self, out: &mut String, drawn: &[Vec<Vec<(i64, f64)>>]) {
        let (frame, yscale) = (&self.frame, &self.yscale);
        let baseline = yscale.y(0.0).clamp(frame.top, frame.bottom);
        for (i, segments) in drawn.iter().enumerate() {
            if segments.iter().any(|s| s.len() > 1) {
                let _ = write!(out, r#"<path class="area {}" d=""#, series_class(i));
                for seg in segments.iter().filter(|s| s.len() > 1) {
                    push_area(out, seg, frame, yscale, baseline);
                }
                let _ = write!(out, r#""/><path class="line {}" d=""#, series_class(i));
                for seg in segments.iter().filter(|s| s.len() > 1) {
                    push_polyline(out, seg, frame, yscale);
                }
                // Not a colour: a line filled in black is what a page without the stylesheet
                // would show otherwise.
                out.push_str(r#"" fill="none"/>"#);
            }
            // An isolated point has no line to be part of; a dot keeps it visible.
            for seg in segments.iter().filter(|s| s.len() == 1) {
                let _ = write!(out, r#"<circle class="dot {}""#, series_class(i));
                attr_px(out, "cx", frame.x(seg[0].0));
                attr_px(out, "cy", yscale.y(seg[0].1));
                out.push_str(r#" r="2"/>"#);
            }
        }
    }

    /// "no data" over the empty stretches wide enough for it, or across the chart
    /// when nothing at all is drawn.
    fn push_no_data(&self, out: &mut String, regions: &[(i64, i64)]) {
        let frame = &self.frame;
        let (from, to) = (frame.from, frame.to);
        if !self.has_data {
            out.push_str(r#"<text class="nodata""#);
            attr_px(out, "x", (frame.left + frame.right) / 2.0);
            attr_px(out, "y", (frame.top + frame.bottom) / 2.0 + 4.0);
            out.push_str(r#" text-anchor="middle">no data in this range</text>"#);
            return;
        }
        let mid = (frame.top + frame.bottom) / 2.0 + 4.0;
        // A chart with data only at one end (a young monitor, a member gone quiet)
        // must not read as a chart without data: an empty stretch at either end of the
        // range says when the data starts or stops, where it has the room.
        let fmt = if i128::from(to) - i128::from(from) < 2 * i128::from(DAY) {
            TimeFmt::Hm
        } else {
            TimeFmt::Md
        };
        for &(a, b) in regions {
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
            attr_px(out, "x", (xa + xb) / 2.0);
            attr_px(out, "y", mid);
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
    }

    /// Hover targets last, so they sit above everything; the stylesheet hides them until
    /// the page's script lights the one nearest the pointer. Each carries its series
    /// (`data-s`, as on the legend entry that names it) so the script needs no lookup
    /// up the tree; `data-v` is the value already in human units, so it needs no
    /// formatting either.
    fn push_hover_points(&self, out: &mut String, drawn: &[Vec<Vec<(i64, f64)>>]) {
        let frame = &self.frame;
        let hover_budget = (((frame.right - frame.left) / HOVER_SPACING) as usize).max(2);
        for (i, segments) in drawn.iter().enumerate() {
            let all: Vec<(i64, f64)> = segments.iter().flatten().copied().collect();
            if all.is_empty() {
                continue;
            }
            let _ = write!(out, r#"<g class="pts {}" data-s="{i}">"#, series_class(i));
            for (t, v) in lttb(&all, hover_budget) {
                out.push_str("<circle");
                attr_px(out, "cx", frame.x(t));
                attr_px(out, "cy", self.yscale.y(v));
                let _ = write!(out, r#" r="3" data-s="{i}" data-ts="{t}" data-v=""#);
                push_escaped(out, &units::human(v, self.spec.unit));
                out.push_str(r#""/>"#);
            }
            out.push_str("</g>");
        }
    }

    /// One swatch and label per series below the time axis, a cut label with its full
    /// text in a title.
    fn push_legend(&self, out: &mut String) {
        if self.legend.items.is_empty() {
            return;
        }
        out.push_str(r#"<g class="legend">"#);
        for item in &self.legend.items {
            let baseline = self.frame.bottom + X_LABELS_H + item.row as f64 * LEGEND_ROW_H + 12.0;
            let empty = if self.prepared[item.index].points.is_empty() {
                " empty"
            } else {
                ""
            };
            let _ = write!(out, r#"<g class="li{empty}" data-s="{}">"#, item.index);
            if item.truncated {
                out.push_str("<title>");
                push_escaped(out, &self.series[item.index].label);
                out.push_str("</title>");
            }
            let _ = write!(out, r#"<rect class="sw {}""#, series_class(item.index));
            attr_px(out, "x", item.x);
            attr_px(out, "y", baseline - 9.0);
            out.push_str(r#" width="10" height="10"/><text"#);
            attr_px(out, "x", item.x + 14.0);
            attr_px(out, "y", baseline);
            out.push('>');
            push_escaped(out, &item.text);
            out.push_str("</text></g>");
        }
        out.push_str("</g>");
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
