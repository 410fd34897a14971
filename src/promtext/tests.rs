use std::borrow::Cow;

use super::number::fast_f64;
use super::parser::{find_quote_or_backslash, CLASS};
use super::*;

fn one(text: &str) -> (String, Vec<(String, String)>, f64, Option<i64>) {
    let scrape = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    assert_eq!(scrape.len(), 1, "{text:?}");
    let s = scrape.samples().next().unwrap();
    (
        s.name().to_string(),
        s.labels()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        s.value(),
        s.timestamp_ms(),
    )
}

fn err(text: &str) -> ParseError {
    match parse(text) {
        Ok(s) => panic!("{text:?} parsed to {} samples, expected an error", s.len()),
        Err(e) => e,
    }
}

fn err_line(text: &str, line: usize) -> ParseError {
    let e = err(text);
    assert_eq!(e.line, line, "{text:?}: {e}");
    e
}

#[test]
fn empty_input() {
    let s = parse("").unwrap();
    assert!(s.is_empty());
    assert_eq!(s.len(), 0);
    assert_eq!(s.samples().count(), 0);
    assert_eq!(s.family_type("x"), None);
    assert_eq!(s.help("x"), None);
}

#[test]
fn blank_lines_and_comments_only() {
    let s = parse("\n\n   \n\t\n# just a comment\n#\n#   TYPEX foo counter\n# HELP\n").unwrap();
    assert!(s.is_empty());
    assert_eq!(s.family_type("foo"), None);
}

#[test]
fn counter() {
    let text = "# HELP etcd_server_proposals_committed_total The total number of consensus proposals committed.\n\
                # TYPE etcd_server_proposals_committed_total counter\n\
                etcd_server_proposals_committed_total 3142\n";
    let s = parse(text).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(
        s.family_type("etcd_server_proposals_committed_total"),
        Some(MetricType::Counter)
    );
    assert_eq!(
        s.help("etcd_server_proposals_committed_total"),
        Some("The total number of consensus proposals committed.")
    );
    let x = s.samples().next().unwrap();
    assert_eq!(x.name(), "etcd_server_proposals_committed_total");
    assert_eq!(x.value(), 3142.0);
    assert_eq!(x.timestamp_ms(), None);
    assert_eq!(x.labels().count(), 0);
}

#[test]
fn gauge_with_labels() {
    let text =
        "# TYPE etcd_server_version gauge\netcd_server_version{server_version=\"3.5.1\"} 1\n";
    let s = parse(text).unwrap();
    assert_eq!(
        s.family_type("etcd_server_version"),
        Some(MetricType::Gauge)
    );
    let x = s.samples().next().unwrap();
    assert_eq!(x.label("server_version"), Some("3.5.1"));
    assert_eq!(x.label("other"), None);
    assert_eq!(x.value(), 1.0);
}

#[test]
fn histogram() {
    let text = r#"# HELP etcd_disk_wal_fsync_duration_seconds The latency distributions of fsync called by WAL.
# TYPE etcd_disk_wal_fsync_duration_seconds histogram
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"} 2
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.002"} 5
etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"} 7
etcd_disk_wal_fsync_duration_seconds_sum 0.0123
etcd_disk_wal_fsync_duration_seconds_count 7
"#;
    let s = parse(text).unwrap();
    assert_eq!(s.len(), 5);
    assert_eq!(
        s.family_type("etcd_disk_wal_fsync_duration_seconds"),
        Some(MetricType::Histogram)
    );
    let v: Vec<_> = s.samples().collect();
    assert_eq!(v[0].name(), "etcd_disk_wal_fsync_duration_seconds_bucket");
    assert_eq!(v[0].label("le"), Some("0.001"));
    assert_eq!(v[2].label("le"), Some("+Inf"));
    assert_eq!(v[2].value(), 7.0);
    assert_eq!(v[3].name(), "etcd_disk_wal_fsync_duration_seconds_sum");
    assert_eq!(v[3].value(), 0.0123);
    assert_eq!(v[3].labels().len(), 0);
    assert_eq!(v[4].value(), v[2].value());
}

#[test]
fn summary() {
    let text = r#"# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 3.1667e-05
go_gc_duration_seconds{quantile="0.5"} 5.369e-05
go_gc_duration_seconds{quantile="1"} NaN
go_gc_duration_seconds_sum 0.001
go_gc_duration_seconds_count 12
"#;
    let s = parse(text).unwrap();
    assert_eq!(
        s.family_type("go_gc_duration_seconds"),
        Some(MetricType::Summary)
    );
    let v: Vec<_> = s.samples().collect();
    assert_eq!(v.len(), 5);
    assert_eq!(v[0].label("quantile"), Some("0"));
    assert_eq!(v[0].value(), 3.1667e-05);
    assert_eq!(v[1].value(), 5.369e-05);
    assert!(v[2].value().is_nan());
    assert_eq!(v[4].value(), 12.0);
}

#[test]
fn untyped_and_all_types() {
    let text = "# TYPE a counter\n# TYPE b gauge\n# TYPE c histogram\n# TYPE d summary\n# TYPE e untyped\ne 1\nf 2\n";
    let s = parse(text).unwrap();
    assert_eq!(s.family_type("a"), Some(MetricType::Counter));
    assert_eq!(s.family_type("b"), Some(MetricType::Gauge));
    assert_eq!(s.family_type("c"), Some(MetricType::Histogram));
    assert_eq!(s.family_type("d"), Some(MetricType::Summary));
    assert_eq!(s.family_type("e"), Some(MetricType::Untyped));
    // A sample without any TYPE line is untyped, but no type is declared.
    assert_eq!(s.family_type("f"), None);
    assert_eq!(s.len(), 2);
    assert_eq!(MetricType::Histogram.to_string(), "histogram");
}

#[test]
fn help_escapes() {
    let s = parse("# HELP x First line\\nsecond \\\\ line \"quoted\"\n").unwrap();
    assert_eq!(s.help("x"), Some("First line\nsecond \\ line \"quoted\""));
    let s = parse("# HELP y\n# HELP z   \n").unwrap();
    assert_eq!(s.help("y"), Some("")); // "# HELP y" has no text: empty help
    assert_eq!(s.help("z"), Some(""));
    let s = parse("# HELP y \n").unwrap();
    assert_eq!(s.help("y"), Some(""));
    // Borrowed when there is nothing to unescape.
    let s = parse("# HELP w plain text\n").unwrap();
    assert!(matches!(
        s.families[s.family_index["w"] as usize].1.help,
        Some(Cow::Borrowed("plain text"))
    ));
}

#[test]
fn help_without_text_is_empty() {
    // "# HELP name" followed directly by the end of the line.
    let s = parse("# HELP y").unwrap();
    assert_eq!(s.help("y"), Some(""));
}

#[test]
fn other_comments_ignored() {
    let s =
        parse("# some comment\n#HELP\n# TYPE\n  # indented\nfoo 1\n# trailing comment").unwrap();
    assert_eq!(s.len(), 1);
}

#[test]
fn escaped_label_values() {
    let (_, labels, _, _) =
        one(r#"m{a="back\\slash",b="quo\"te",c="new\nline",d="plain",e="\\n"} 1"#);
    assert_eq!(
        labels,
        vec![
            ("a".into(), "back\\slash".into()),
            ("b".into(), "quo\"te".into()),
            ("c".into(), "new\nline".into()),
            ("d".into(), "plain".into()),
            ("e".into(), "\\n".into()),
        ]
    );
    // Only the escaped values are owned.
    let s = parse(r#"m{a="x\"y",b="z"} 1"#).unwrap();
    assert!(matches!(s.labels[0].value, Cow::Owned(_)));
    assert!(matches!(s.labels[1].value, Cow::Borrowed("z")));
}

#[test]
fn unicode_label_values() {
    let (_, labels, v, _) = one("m{a=\"héllo wörld ✓ 日本\",b=\"{}=,\\\"\"} 2.5");
    assert_eq!(labels[0].1, "héllo wörld ✓ 日本");
    assert_eq!(labels[1].1, "{}=,\"");
    assert_eq!(v, 2.5);
}

#[test]
fn trailing_comma_and_blanks_in_label_set() {
    let (name, labels, v, _) = one(r#"m{a="1",b="2",} 3"#);
    assert_eq!(name, "m");
    assert_eq!(labels.len(), 2);
    assert_eq!(v, 3.0);
    let (_, labels, v, _) = one("m { a = \"1\" ,\tb=\"2\" , } 4");
    assert_eq!(
        labels,
        vec![("a".into(), "1".into()), ("b".into(), "2".into())]
    );
    assert_eq!(v, 4.0);
    let (_, labels, _, _) = one("m{} 5");
    assert!(labels.is_empty());
}

#[test]
fn special_values() {
    let cases = [
        ("NaN", f64::NAN),
        ("nan", f64::NAN),
        ("+Inf", f64::INFINITY),
        ("Inf", f64::INFINITY),
        ("-Inf", f64::NEG_INFINITY),
        ("1e3", 1000.0),
        ("1.5E-3", 0.0015),
        ("2.147483648e+09", 2147483648.0),
        ("-0.25", -0.25),
        ("+7", 7.0),
        ("0", 0.0),
        ("123456789012345678901234567890", 1.2345678901234568e29),
        ("1.7976931348623157e308", f64::MAX),
        ("5e-324", 5e-324),
        (".5", 0.5),
    ];
    for (text, want) in cases {
        let (_, _, got, _) = one(&format!("m {text}"));
        if want.is_nan() {
            assert!(got.is_nan(), "{text}");
        } else {
            assert_eq!(got, want, "{text}");
        }
    }
    let (_, _, got, _) = one("m -0");
    assert!(got == 0.0 && got.is_sign_negative());
}

#[test]
fn fast_float_path_matches_std() {
    let mut cases: Vec<String> = [
        "0",
        "1",
        "-1",
        "42",
        "3142",
        "0.1",
        "0.2",
        "0.3",
        "3.1667e-05",
        "5.369e-05",
        "2.699e-05",
        "1.2345e+06",
        "9007199254740992",
        "9007199254740993",
        "1e22",
        "1e23",
        "1e-22",
        "123.456e-20",
        "0.000000000000000000000001",
        "99999999999999999999",
        "1.",
        "1.e5",
        "12e0",
        "007",
        "1E+2",
        "4.2e-1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // A deterministic spread of decimal strings.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mant = x % 10u64.pow((x >> 60) as u32 % 17 + 1);
        let frac = (x >> 40) as usize % 12;
        let exp = (x >> 20) as i32 % 30 - 15;
        let digits = mant.to_string();
        let s = if frac > 0 && frac < digits.len() {
            format!(
                "{}.{}",
                &digits[..digits.len() - frac],
                &digits[digits.len() - frac..]
            )
        } else {
            digits
        };
        cases.push(s.clone());
        cases.push(format!("{s}e{exp}"));
        cases.push(format!("-{s}E{exp:+}"));
    }
    let mut fast_hits = 0;
    for s in &cases {
        let std = s.parse::<f64>().ok();
        if let Some(f) = fast_f64(s.as_bytes()) {
            fast_hits += 1;
            assert_eq!(Some(f.to_bits()), std.map(f64::to_bits), "{s}");
        }
        let (_, _, v, _) = one(&format!("m {s}"));
        assert_eq!(Some(v.to_bits()), std.map(f64::to_bits), "{s}");
    }
    assert!(
        fast_hits > cases.len() / 2,
        "fast path used {fast_hits} times"
    );
    for bad in [
        "", "-", "+", ".", "e5", "1e", "1e+", "1.2.3", "0x10", "1_000", "--1", "1e99999",
    ] {
        assert_eq!(fast_f64(bad.as_bytes()), None, "{bad:?}");
    }
}

#[test]
fn timestamps() {
    let (_, _, v, ts) = one("m 1 1700000000000");
    assert_eq!((v, ts), (1.0, Some(1_700_000_000_000)));
    let (_, _, _, ts) = one("m{a=\"b\"} 1 -5");
    assert_eq!(ts, Some(-5));
    let (_, _, _, ts) = one("m 1 0   ");
    assert_eq!(ts, Some(0));
    let (_, _, _, ts) = one("m 1\t9223372036854775807");
    assert_eq!(ts, Some(i64::MAX));
}

#[test]
fn crlf_line_endings() {
    let text = "# HELP m Help text\r\n# TYPE m gauge\r\nm{a=\"b\"} 1\r\nm{a=\"c\"} 2 17\r\n\r\n";
    let s = parse(text).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s.help("m"), Some("Help text"));
    assert_eq!(s.family_type("m"), Some(MetricType::Gauge));
    let v: Vec<_> = s.samples().collect();
    assert_eq!(v[0].value(), 1.0);
    assert_eq!(v[1].timestamp_ms(), Some(17));
}

#[test]
fn missing_final_newline() {
    let s = parse("a 1\nb{x=\"y\"} 2").unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s.samples().last().unwrap().value(), 2.0);
    assert_eq!(one("a 1").2, 1.0);
}

#[test]
fn leading_and_trailing_blanks() {
    let (name, _, v, ts) = one("   \tm    7 \t ");
    assert_eq!((name.as_str(), v, ts), ("m", 7.0, None));
}

#[test]
fn metric_names_with_colons_and_underscores() {
    let s = parse("_x 1\n:y 2\nj:job:rate5m 3\nA9_b 4\n").unwrap();
    let names: Vec<_> = s.samples().map(|s| s.name()).collect();
    assert_eq!(names, ["_x", ":y", "j:job:rate5m", "A9_b"]);
}

#[test]
fn samples_in_input_order_and_label_ranges() {
    let s = parse("a{x=\"1\"} 1\nb 2\nc{y=\"2\",z=\"3\"} 3\nd{w=\"4\"} 4\n").unwrap();
    let v: Vec<_> = s
        .samples()
        .map(|s| (s.name(), s.labels().collect::<Vec<_>>()))
        .collect();
    assert_eq!(
        v,
        vec![
            ("a", vec![("x", "1")]),
            ("b", vec![]),
            ("c", vec![("y", "2"), ("z", "3")]),
            ("d", vec![("w", "4")]),
        ]
    );
    assert_eq!(s.samples().next_back().unwrap().name(), "d");
    assert_eq!(s.samples().len(), 4);
    // Debug output is usable.
    assert!(format!("{:?}", s.samples().next().unwrap()).contains("\"x\""));
}

#[test]
fn value_directly_after_label_set() {
    assert_eq!(one("m{a=\"b\"}1").2, 1.0);
}

#[test]
fn error_display() {
    let e = err_line("ok 1\n\nm{a 1\n", 3);
    assert_eq!(e.to_string(), format!("line 3: {}", e.message));
    assert!(
        e.message.starts_with("expected '=' after label name"),
        "{e}"
    );
}

#[test]
fn malformed_metric_names() {
    err_line("0abc 1", 1);
    err_line("ok 1\n-abc 1", 2);
    err_line("ok 1\nok 2\nm-x 1", 3);
    err_line("m.x 1", 1);
    err_line("{a=\"b\"} 1", 1);
    err_line("ünïcode 1", 1);
    err_line("\"m\" 1", 1);
    err_line("# TYPE 0bad counter", 1);
    err_line("# HELP bad-name text", 1);
}

#[test]
fn malformed_label_sets() {
    err_line("a 1\nm{a=\"b\" 1", 2); // missing '}'
    err_line("m{a=\"b\"", 1);
    err_line("m{", 1);
    err_line("m{a}", 1);
    err_line("m{a=b} 1", 1); // unquoted value
    err_line("m{=\"b\"} 1", 1);
    err_line("m{,} 1", 1);
    err_line("m{a=\"1\",,b=\"2\"} 1", 1);
    err_line("m{a=\"1\" b=\"2\"} 1", 1); // missing comma
    err_line("m{0a=\"1\"} 1", 1);
    err_line("m{a:b=\"1\"} 1", 1); // ':' not allowed in label names
    err_line("m{a=\"1\",a=\"2\"} 1", 1); // duplicate label
    err_line("m{é=\"1\"} 1", 1);
}

#[test]
fn unterminated_label_values() {
    err_line("m{a=\"b} 1", 1);
    err_line("x 1\ny 2\nm{a=\"b\n\"} 1\n", 3); // raw newline inside value
    err_line("m{a=\"b\\\"} 1", 1); // escaped closing quote
    err_line("m{a=\"b\\", 1); // backslash at end of line
    err_line("m{a=\"ünï", 1);
}

#[test]
fn bad_escapes() {
    err_line("m{a=\"\\t\"} 1", 1);
    err_line("ok 1\nm{a=\"x\\q\"} 1", 2);
    err_line("m{a=\"\\é\"} 1", 1);
    err_line("# HELP m bad \\t escape", 1);
    err_line("ok 1\n# HELP m trailing backslash \\", 2);
}

#[test]
fn missing_value() {
    err_line("m", 1);
    err_line("m   ", 1);
    err_line("a 1\nm{a=\"b\"}", 2);
    err_line("a 1\nm{a=\"b\"}  \t", 2);
    err_line("m\r\n", 1);
}

#[test]
fn non_numeric_values() {
    err_line("m abc", 1);
    err_line("a 1\nm 1,5", 2);
    err_line("m 0x1F", 1);
    err_line("m 1.2.3", 1);
    err_line("m {}", 1);
    err_line("m{a=\"b\"} \"1\"", 1);
    err_line("m 1e", 1);
    err_line("m --1", 1);
}

#[test]
fn invalid_timestamps() {
    err_line("m 1 abc", 1);
    err_line("a 1\nm 1 1.5", 2);
    err_line("m 1 1e3", 1);
    err_line("m 1 99999999999999999999", 1);
    err_line("m 1 1 2", 1); // trailing garbage
    err_line("m 1 2 # comment", 1);
}

#[test]
fn type_line_errors() {
    err_line("# TYPE m counter\n# TYPE m gauge\n", 2);
    err_line("# TYPE m counter\nm 1\n# TYPE m counter\n", 3);
    err_line("# TYPE m countr", 1);
    err_line("# TYPE m Counter", 1); // keywords are lower case
    err_line("# TYPE m gaugehistogram", 1);
    err_line("ok 1\n# TYPE m", 2);
    err_line("# TYPE m   ", 1);
    err_line("# TYPE m counter extra", 1);
    // HELP and TYPE for the same family are fine together, in any order.
    let s = parse("# TYPE m counter\n# HELP m help\n").unwrap();
    assert_eq!(s.family_type("m"), Some(MetricType::Counter));
    assert_eq!(s.help("m"), Some("help"));
}

#[test]
fn duplicate_help() {
    err_line("# HELP m one\n\n# HELP m two\n", 3);
}

#[test]
fn errors_never_panic_on_odd_bytes() {
    for text in [
        "\u{0}",
        "\u{feff}m 1",
        "m{a=\"\u{0}\"} 1",
        "m 1 \u{a0}",
        "m\u{a0}1",
        "#\u{1F600}",
        "# HELP \u{1F600}",
        "# TYPE m \u{1F600}",
        "m{\u{1F600}",
        "m{a\u{1F600}",
        "m{a=\u{1F600}",
        "m{a=\"\"\u{1F600}",
        "\r",
        "\r\r\n",
        "m\r1",
        "m 1\r2",
    ] {
        let _ = parse(text);
    }
}

#[test]
fn swar_scan_matches_naive() {
    let alphabet: &[u8] = b"a\"\\\x22\x5c\xdc\xa2\x00\x80\xff ~";
    let mut x: u64 = 12345;
    for len in 0..40 {
        for _ in 0..200 {
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Mostly harmless bytes, sometimes a target or a near miss.
                    if x.is_multiple_of(5) {
                        alphabet[(x >> 8) as usize % alphabet.len()]
                    } else {
                        (x >> 16) as u8
                    }
                })
                .collect();
            for from in 0..=len {
                let naive = (from..len)
                    .find(|&i| buf[i] == b'"' || buf[i] == b'\\')
                    .unwrap_or(len);
                assert_eq!(
                    find_quote_or_backslash(&buf, from),
                    naive,
                    "{buf:?} from {from}"
                );
            }
        }
    }
}

#[test]
fn byte_classes() {
    for b in 0..=255u8 {
        let c = CLASS[b as usize];
        let alpha = b.is_ascii_alphabetic() || b == b'_';
        assert_eq!(c & 1 != 0, b == b' ' || b == b'\t', "{b}");
        assert_eq!(c & 2 != 0, alpha || b == b':', "{b}");
        assert_eq!(c & 4 != 0, alpha || b == b':' || b.is_ascii_digit(), "{b}");
        assert_eq!(c & 8 != 0, alpha, "{b}");
        assert_eq!(c & 16 != 0, alpha || b.is_ascii_digit(), "{b}");
    }
}

#[test]
fn series_text_round_trips_through_the_parser() {
    let text = "m{a=\"x\\\\y\",b=\"q\\\"r\",c=\"l1\\nl2\"} 1\nplain 2\n";
    let s = parse(text).unwrap();
    let series: Vec<String> = s.samples().map(|x| x.series_text()).collect();
    assert_eq!(series[0], "m{a=\"x\\\\y\",b=\"q\\\"r\",c=\"l1\\nl2\"}");
    assert_eq!(series[1], "plain");
    let again = format!("{} 1\n", series[0]);
    let reparsed = parse(&again).unwrap();
    let first = reparsed.samples().next().unwrap();
    assert_eq!(first.label("a"), Some("x\\y"));
    assert_eq!(first.label("b"), Some("q\"r"));
    assert_eq!(first.label("c"), Some("l1\nl2"));
}

#[test]
fn series_text_copied_only_when_written_as_it_would_be_rebuilt() {
    let text = "m{a=\"1\",b=\"x\\\\y\\\"z\\n\"} 1\n\
                m {a=\"1\"} 2\n\
                m{ a=\"1\"} 3\n\
                m{a =\"1\"} 4\n\
                m{a= \"1\"} 5\n\
                m{a=\"1\" ,b=\"2\"} 6\n\
                m{a=\"1\",b=\"2\",} 7\n\
                m{} 8\n\
                m 9\n\
                m{a=\"1\"}10\n";
    let s = parse(text).unwrap();
    let copied: Vec<bool> = s.samples().map(|x| x.raw.series.is_some()).collect();
    assert_eq!(
        copied,
        [true, false, false, false, false, false, false, false, false, true]
    );
    for x in s.samples() {
        assert_eq!(x.series_text(), x.rebuilt_series_text());
    }
    assert_eq!(
        s.samples().nth(6).unwrap().series_text(),
        "m{a=\"1\",b=\"2\"}"
    );
    assert_eq!(s.samples().nth(7).unwrap().series_text(), "m");
}

#[test]
fn series_text_of_real_scrapes_is_copied_and_matches_the_rebuilt_text() {
    for f in [
        "etcd-3.4.23.prom",
        "etcd-3.5.1.prom",
        "etcd-3.4.23-3member.prom",
    ] {
        let path = format!("{}/tests/fixtures/metrics/{f}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let s = parse(&text).unwrap();
        for x in s.samples() {
            assert_eq!(x.series_text(), x.rebuilt_series_text(), "{f}");
            if x.labels().len() > 0 {
                assert!(x.raw.series.is_some(), "{f}: {x:?} is rebuilt");
            }
        }
    }
}
