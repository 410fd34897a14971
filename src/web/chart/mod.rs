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
//!
//! Here: the inputs and the dimensions the parts share. `render` draws a chart and a
//! sparkline in named steps over `layout` (frame, y scale, legend), `series` (points
//! cut to the range and split at gaps), `downsample` (LTTB to the plot's width),
//! `time_axis` (ticks and labels) and `svg` (escaping, coordinates, paths); `bars`
//! draws bar charts.

mod bars;
mod downsample;
mod layout;
mod render;
mod series;
mod svg;
#[cfg(test)]
mod tests;
mod time_axis;

pub use bars::{bars, Bar};
pub use downsample::lttb;
pub use render::{render, render_marked, sparkline};
pub use svg::escape_xml;

use crate::units::Unit;

/// One line on a chart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartSeries {
    pub label: String,
    /// (unix ms, value), time-ordered. Non-finite values count as missing.
    pub points: Vec<(i64, f64)>,
}

/// Something that happened at a time, drawn as a vertical line (an event of the
/// cluster's timeline).
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub at_ms: i64,
    /// Shown on hover; escaped by the chart.
    pub label: String,
    /// Drawn in the warning colour.
    pub problem: bool,
}

/// Most markers one chart draws: beyond this they would be a solid band.
pub const MAX_MARKERS: usize = 200;

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
