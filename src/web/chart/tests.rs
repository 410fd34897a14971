//! `render` and `sparkline` end to end: structure, escaping, gaps, empty and
//! degenerate inputs, downsampling to the width, and what a render costs.

use super::time_axis::TimeFmt;
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
    assert!(
        svg.contains("&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;&#39; onload=&#39;x")
    );
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

#[test]
fn markers_in_range_are_drawn_escaped_and_bounded() {
    let s = spec("with events");
    let data = [series("m0", regular(240, |i| i as f64 / 1000.0))];
    let marker = |at: i64, label: &str, problem: bool| Marker {
        at_ms: at,
        label: label.into(),
        problem,
    };
    let svg = render_marked(
        &s,
        &data,
        &[
            marker(T0 + 600_000, "m1 became leader after <m0>", false),
            marker(T0 + 1_200_000, "member m0 became unreachable", true),
            // Outside the range: not drawn.
            marker(T0 - 1, "before", false),
            marker(T0 + 3_600_001, "after", false),
        ],
    );
    assert_clean(&svg);
    let drawn = |svg: &str| svg.matches("<g class=\"marker").count() - 1; // less the group
    assert_eq!(drawn(&svg), 2, "{svg}");
    assert_eq!(svg.matches("<g class=\"marker warn\"").count(), 1);
    assert!(svg.contains("became leader after &lt;m0&gt;"), "{svg}");
    assert!(!svg.contains("<m0>") && !svg.contains(">before<") && !svg.contains(">after<"));
    // Without markers, as render.
    assert_eq!(render_marked(&s, &data, &[]), render(&s, &data));
    // Bounded.
    let many: Vec<Marker> = (0..1000)
        .map(|i| marker(T0 + i * 3000, "x", false))
        .collect();
    let svg = render_marked(&s, &data, &many);
    assert_eq!(drawn(&svg), MAX_MARKERS);
}
