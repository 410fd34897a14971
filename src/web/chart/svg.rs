//! Writing SVG: XML escaping of everything taken from callers, coordinates written
//! compactly, and the elements and path data the charts are made of (lines, polylines,
//! areas).

use std::fmt::Write as _;

use super::layout::{Frame, YScale};

/// `s` with the five XML special characters escaped, safe in text and in quoted
/// attributes of SVG and HTML alike.
pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_escaped(&mut out, s);
    out
}

pub(super) fn push_escaped(out: &mut String, s: &str) {
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

pub(super) fn attr_px(out: &mut String, name: &str, v: f64) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    push_px(out, v);
    out.push('"');
}

pub(super) fn push_line(out: &mut String, class: Option<&str>, x1: f64, y1: f64, x2: f64, y2: f64) {
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
pub(super) fn push_polyline(out: &mut String, seg: &[(i64, f64)], frame: &Frame, yscale: &YScale) {
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
pub(super) fn push_area(
    out: &mut String,
    seg: &[(i64, f64)],
    frame: &Frame,
    yscale: &YScale,
    baseline: f64,
) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
