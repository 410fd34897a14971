//! Parses real etcd `/metrics` scrapes (tests/fixtures/metrics, captured with
//! scripts/capture-metrics-fixture.sh) with `etcd_monitor::promtext`.

use std::collections::BTreeMap;

use etcd_monitor::promtext::{parse, MetricType, Scrape};

struct Fixture {
    name: &'static str,
    text: &'static str,
    server_version: &'static str,
    cluster_version: &'static str,
    members: usize,
}

const FIXTURES: &[Fixture] = &[
    Fixture {
        name: "etcd-3.4.23.prom",
        text: include_str!("fixtures/metrics/etcd-3.4.23.prom"),
        server_version: "3.4.23",
        cluster_version: "3.4",
        members: 1,
    },
    Fixture {
        name: "etcd-3.4.23-3member.prom",
        text: include_str!("fixtures/metrics/etcd-3.4.23-3member.prom"),
        server_version: "3.4.23",
        cluster_version: "3.4",
        members: 3,
    },
    Fixture {
        name: "etcd-3.5.1.prom",
        text: include_str!("fixtures/metrics/etcd-3.5.1.prom"),
        server_version: "3.5.1",
        cluster_version: "3.5",
        members: 1,
    },
];

fn parsed(f: &Fixture) -> Scrape<'static> {
    parse(f.text).unwrap_or_else(|e| panic!("{}: {e}", f.name))
}

fn sample_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// The one sample named `name` with exactly the given labels.
fn value(s: &Scrape<'_>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = s.samples().filter(|x| {
        x.name() == name
            && x.labels().len() == labels.len()
            && labels.iter().all(|(k, v)| x.label(k) == Some(v))
    });
    let first = found.next()?.value();
    assert!(found.next().is_none(), "{name} {labels:?} is not unique");
    Some(first)
}

#[test]
fn sample_count_matches_non_comment_lines() {
    for f in FIXTURES {
        let s = parsed(f);
        let expected = sample_lines(f.text).count();
        assert!(expected > 1000, "{}: only {expected} sample lines", f.name);
        assert_eq!(s.len(), expected, "{}", f.name);
        assert_eq!(s.samples().count(), expected, "{}", f.name);
        assert!(!s.is_empty());
    }
}

/// Compares every sample against a naive reference split of the same line
/// (the fixtures contain no escapes, so splitting on quotes is exact).
#[test]
fn every_sample_matches_naive_reference() {
    for f in FIXTURES {
        assert!(
            !f.text.contains('\\'),
            "{}: reference cannot handle escapes",
            f.name
        );
        let s = parsed(f);
        for (line, sample) in sample_lines(f.text).zip(s.samples()) {
            let (head, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match head.split_once('{') {
                None => (head, Vec::new()),
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').unwrap();
                    let labels: Vec<(&str, &str)> = body
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|p| {
                            let (k, v) = p.split_once("=\"").unwrap();
                            (k, v.trim_end_matches('"'))
                        })
                        .collect();
                    (name, labels)
                }
            };
            assert_eq!(sample.name(), name, "{line}");
            assert_eq!(sample.labels().collect::<Vec<_>>(), labels, "{line}");
            for (k, v) in &labels {
                assert_eq!(sample.label(k), Some(*v), "{line}");
            }
            let want: f64 = value.parse().unwrap();
            if want.is_nan() {
                assert!(sample.value().is_nan(), "{line}");
            } else {
                assert_eq!(sample.value().to_bits(), want.to_bits(), "{line}");
            }
            assert_eq!(sample.timestamp_ms(), None, "{line}");
        }
    }
}

#[test]
fn type_and_help_lines_are_all_recorded() {
    for f in FIXTURES {
        let s = parsed(f);
        let mut types = 0;
        for line in f.text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (family, ty) = rest.split_once(' ').unwrap();
                let want = match ty {
                    "counter" => MetricType::Counter,
                    "gauge" => MetricType::Gauge,
                    "histogram" => MetricType::Histogram,
                    "summary" => MetricType::Summary,
                    "untyped" => MetricType::Untyped,
                    other => panic!("unexpected type {other}"),
                };
                assert_eq!(s.family_type(family), Some(want), "{}: {family}", f.name);
                types += 1;
            } else if let Some(rest) = line.strip_prefix("# HELP ") {
                let (family, help) = rest.split_once(' ').unwrap();
                assert_eq!(s.help(family), Some(help), "{}: {family}", f.name);
            }
        }
        assert!(types > 100, "{}: {types} TYPE lines", f.name);
        assert_eq!(s.family_type("no_such_family"), None);
        assert_eq!(s.help("no_such_family"), None);
    }
}

#[test]
fn known_etcd_values() {
    for f in FIXTURES {
        let s = parsed(f);
        let n = f.name;
        assert_eq!(value(&s, "etcd_server_has_leader", &[]), Some(1.0), "{n}");
        let is_leader = if f.members == 1 { 1.0 } else { 0.0 };
        assert_eq!(
            value(&s, "etcd_server_is_leader", &[]),
            Some(is_leader),
            "{n}"
        );
        assert_eq!(
            value(
                &s,
                "etcd_server_version",
                &[("server_version", f.server_version)]
            ),
            Some(1.0),
            "{n}"
        );
        assert_eq!(
            value(
                &s,
                "etcd_cluster_version",
                &[("cluster_version", f.cluster_version)]
            ),
            Some(1.0),
            "{n}"
        );
        assert_eq!(
            s.family_type("etcd_server_has_leader"),
            Some(MetricType::Gauge)
        );
        assert_eq!(
            s.help("etcd_server_has_leader"),
            Some("Whether or not a leader exists. 1 is existence, 0 is not.")
        );
        assert_eq!(
            s.family_type("etcd_server_proposals_committed_total"),
            Some(MetricType::Gauge) // etcd exports it as a gauge
        );
        assert_eq!(
            s.family_type("etcd_disk_wal_fsync_duration_seconds"),
            Some(MetricType::Histogram)
        );
        assert_eq!(
            s.family_type("etcd_network_client_grpc_received_bytes_total"),
            Some(MetricType::Counter)
        );
        assert_eq!(
            s.family_type("go_gc_duration_seconds"),
            Some(MetricType::Summary)
        );
        assert_eq!(
            value(&s, "etcd_server_quota_backend_bytes", &[]),
            Some(2147483648.0),
            "{n}"
        );
        // The capture script puts 300 keys, one txn, deletes one key.
        let puts = value(&s, "etcd_mvcc_put_total", &[]).unwrap();
        assert!(puts >= 301.0, "{n}: etcd_mvcc_put_total {puts}");
        let fsyncs = value(&s, "etcd_disk_wal_fsync_duration_seconds_count", &[]).unwrap();
        assert!(fsyncs >= 300.0, "{n}: {fsyncs} fsyncs");
        assert_eq!(
            value(
                &s,
                "etcd_disk_wal_fsync_duration_seconds_bucket",
                &[("le", "+Inf")]
            ),
            Some(fsyncs),
            "{n}"
        );
        let sum = value(&s, "etcd_disk_wal_fsync_duration_seconds_sum", &[]).unwrap();
        assert!(sum > 0.0 && sum.is_finite(), "{n}: sum {sum}");
        let gc_quantiles: Vec<_> = s
            .samples()
            .filter(|x| x.name() == "go_gc_duration_seconds")
            .map(|x| x.label("quantile").unwrap())
            .collect();
        assert_eq!(gc_quantiles, ["0", "0.25", "0.5", "0.75", "1"], "{n}");
    }
}

/// For every histogram family: buckets are cumulative, `le="+Inf"` equals
/// `_count`, and there is one `_sum` per label set.
#[test]
fn histogram_invariants() {
    for f in FIXTURES {
        let s = parsed(f);
        let mut checked = 0;
        let families: Vec<&str> = f
            .text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.strip_suffix(" histogram"))
            .collect();
        assert!(families.len() >= 18, "{}", f.name);
        for fam in families {
            assert_eq!(s.family_type(fam), Some(MetricType::Histogram));
            let bucket = format!("{fam}_bucket");
            let count = format!("{fam}_count");
            // label set without "le" -> (buckets (le, value) in order, count)
            type Series<'s> = BTreeMap<Vec<(&'s str, &'s str)>, (Vec<(f64, f64)>, Option<f64>)>;
            let mut series: Series<'_> = BTreeMap::new();
            for x in s.samples() {
                let key: Vec<_> = x.labels().filter(|(k, _)| *k != "le").collect();
                if x.name() == bucket {
                    let le: f64 = x.label("le").expect("bucket without le").parse().unwrap();
                    series.entry(key).or_default().0.push((le, x.value()));
                } else if x.name() == count {
                    series.entry(key).or_default().1 = Some(x.value());
                }
            }
            for (key, (buckets, count)) in series {
                assert!(!buckets.is_empty(), "{fam} {key:?}");
                for w in buckets.windows(2) {
                    assert!(w[0].0 < w[1].0, "{fam} {key:?}: le not increasing");
                    assert!(w[0].1 <= w[1].1, "{fam} {key:?}: not cumulative");
                }
                let last = buckets.last().unwrap();
                assert_eq!(last.0, f64::INFINITY, "{fam} {key:?}");
                assert_eq!(Some(last.1), count, "{fam} {key:?}");
                checked += 1;
            }
        }
        assert!(checked >= 18, "{}: {checked}", f.name);
    }
}

#[test]
fn follower_peer_metrics() {
    let f = &FIXTURES[1];
    assert_eq!(f.members, 3);
    let s = parsed(f);
    let active: Vec<_> = s
        .samples()
        .filter(|x| x.name() == "etcd_network_active_peers")
        .collect();
    assert_eq!(active.len(), 2);
    let local = active[0].label("Local").unwrap();
    for a in &active {
        assert_eq!(a.label("Local"), Some(local));
        assert_ne!(a.label("Remote"), Some(local));
        assert_eq!(a.value(), 1.0);
    }
    assert_eq!(
        s.family_type("etcd_network_peer_round_trip_time_seconds"),
        Some(MetricType::Histogram)
    );
    for a in &active {
        let remote = a.label("Remote").unwrap();
        let rtt = s
            .samples()
            .find(|x| {
                x.name() == "etcd_network_peer_round_trip_time_seconds_bucket"
                    && x.label("To") == Some(remote)
                    && x.label("le") == Some("+Inf")
            })
            .unwrap_or_else(|| panic!("no rtt histogram for {remote}"));
        assert!(rtt.value() >= 1.0);
        let sent = value(&s, "etcd_network_peer_sent_bytes_total", &[("To", remote)]);
        assert!(sent.unwrap() > 0.0);
    }
    // The follower hears from the leader.
    let from_leader = s
        .samples()
        .filter(|x| x.name() == "etcd_network_peer_received_bytes_total")
        .filter(|x| active.iter().any(|a| a.label("Remote") == x.label("From")))
        .map(|x| x.value())
        .fold(0.0, f64::max);
    assert!(from_leader > 0.0);
    // Single-member scrapes have no peers.
    for f in [&FIXTURES[0], &FIXTURES[2]] {
        let s = parsed(f);
        assert!(!s.samples().any(|x| x.name() == "etcd_network_active_peers"));
    }
}

/// Every prefix of whole lines is itself valid, with as many samples as
/// sample lines.
#[test]
fn every_line_prefix_parses() {
    for f in FIXTURES {
        let mut end = 0;
        let mut lines = 0;
        let mut samples = 0;
        for line in f.text.split_inclusive('\n') {
            end += line.len();
            lines += 1;
            let t = line.trim();
            if !t.is_empty() && !t.starts_with('#') {
                samples += 1;
            }
            // Parsing all ~1500 prefixes is quadratic; take every 7th and the end.
            if lines % 7 == 0 || end == f.text.len() {
                let s = parse(&f.text[..end]).unwrap_or_else(|e| panic!("{}: {e}", f.name));
                assert_eq!(s.len(), samples);
                // Without the final newline as well.
                let s = parse(&f.text[..end - 1]).unwrap();
                assert_eq!(s.len(), samples);
            }
        }
    }
}

/// Cutting the text at (sampled) char boundaries never panics, and when the
/// cut leaves an invalid last line the error points at that line.
#[test]
fn truncation_at_char_boundaries_never_panics() {
    for f in FIXTURES {
        let text = f.text;
        let mut cuts = 0;
        let mut errors = 0;
        let mut pos = 0;
        while pos <= text.len() {
            if text.is_char_boundary(pos) {
                let prefix = &text[..pos];
                let last_line = prefix.split('\n').count();
                match parse(prefix) {
                    Ok(s) => assert!(s.len() <= sample_lines(text).count()),
                    Err(e) => {
                        assert_eq!(e.line, last_line, "{}: cut at {pos}: {e}", f.name);
                        errors += 1;
                    }
                }
                cuts += 1;
            }
            // Step through small offsets near the start, then sample.
            pos += if pos < 2000 { 1 } else { 89 };
        }
        assert!(
            cuts > 3000 && errors > 100,
            "{}: {cuts} cuts, {errors} errors",
            f.name
        );
    }
}

/// Random local damage to a fixture never panics and any error names a line
/// that exists.
#[test]
fn random_mutations_never_panic() {
    const JUNK: &[&str] = &[
        "", " ", "\t", "\n", "\r", "\r\n", "{", "}", "\"", "\\", "=", ",", "#", "é", "✓", "e", "-",
        "+", ".", "0", "Inf", "NaN", "# TYPE ", "# HELP ", "\\\"", "}}", "{{", "\u{0}",
    ];
    let mut rng: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for f in FIXTURES {
        let text = f.text;
        let mut errors = 0;
        for _ in 0..1500 {
            let mut s = text.to_string();
            for _ in 0..(next() % 3 + 1) {
                let mut at = (next() % (s.len() as u64 + 1)) as usize;
                while !s.is_char_boundary(at) {
                    at -= 1;
                }
                match next() % 3 {
                    0 => s.insert_str(at, JUNK[(next() % JUNK.len() as u64) as usize]),
                    1 => {
                        let mut end = (at + (next() % 4) as usize).min(s.len());
                        while !s.is_char_boundary(end) {
                            end += 1;
                        }
                        s.replace_range(at..end, "");
                    }
                    _ => {
                        let mut end = (at + (next() % 12) as usize).min(s.len());
                        while !s.is_char_boundary(end) {
                            end += 1;
                        }
                        let chunk = s[at..end].to_string();
                        s.insert_str(at, &chunk);
                    }
                }
            }
            match parse(&s) {
                Ok(scrape) => {
                    for x in scrape.samples() {
                        let _ = (x.name(), x.value(), x.timestamp_ms());
                        for (k, v) in x.labels() {
                            assert_eq!(x.label(k), Some(v));
                        }
                    }
                }
                Err(e) => {
                    assert!(e.line >= 1 && e.line <= s.split('\n').count(), "{e}");
                    errors += 1;
                }
            }
        }
        assert!(
            errors > 100,
            "{}: only {errors} of the mutations failed",
            f.name
        );
    }
}
