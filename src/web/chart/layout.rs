//! Where things go on a chart: the plot's frame and the time-to-x mapping, the y
//! scale and its ticks, the legend's rows, and each series' colour class.

use super::series::Prepared;
use super::{ChartSeries, CHAR_W, LEGEND_MAX_CHARS, PALETTE, Y_TICK_SPACING};
use crate::units::{self, Unit};

/// The y ticks and scale: nice ticks over the data's range widened to include 0.
pub(super) fn y_axis(
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

pub(super) struct Frame {
    pub(super) left: f64,
    pub(super) right: f64,
    pub(super) top: f64,
    pub(super) bottom: f64,
    pub(super) from: i64,
    pub(super) to: i64,
}

impl Frame {
    pub(super) fn x(&self, t: i64) -> f64 {
        // In f64, not i128 (a slow conversion, and this runs for every vertex): unix ms
        // are exact below 2^53, and beyond that a rounded pixel is as good.
        let span = (self.to as f64 - self.from as f64).max(1.0);
        self.left + (t as f64 - self.from as f64) / span * (self.right - self.left)
    }
}

pub(super) struct YScale {
    lo: f64,
    /// Half the range: halves, because `hi - lo` overflows near ±f64::MAX.
    half_range: f64,
    top: f64,
    bottom: f64,
}

impl YScale {
    pub(super) fn new(lo: f64, hi: f64, top: f64, bottom: f64) -> YScale {
        YScale {
            lo,
            half_range: hi * 0.5 - lo * 0.5,
            top,
            bottom,
        }
    }

    pub(super) fn y(&self, v: f64) -> f64 {
        let frac = (v * 0.5 - self.lo * 0.5) / self.half_range;
        if !frac.is_finite() || self.half_range <= 0.0 {
            // A flat range (a constant sparkline): across the middle.
            return (self.top + self.bottom) / 2.0;
        }
        self.bottom - frac * (self.bottom - self.top)
    }
}

pub(super) struct Legend {
    pub(super) items: Vec<LegendItem>,
    pub(super) rows: usize,
}

pub(super) struct LegendItem {
    pub(super) index: usize,
    pub(super) text: String,
    pub(super) truncated: bool,
    pub(super) x: f64,
    pub(super) row: usize,
}

/// Legend entries left to right, wrapped to the width.
pub(super) fn layout_legend(series: &[ChartSeries], w: f64) -> Legend {
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

pub(super) fn series_class(i: usize) -> String {
    if i < PALETTE {
        format!("s{i}")
    } else {
        format!("s{} alt", i % PALETTE)
    }
}
