//! The remote-write 1.0 wire format: Prometheus' `prompb.WriteRequest` as protobuf
//! (only the fields 1.0 defines: series of labels and samples), compressed with
//! snappy's block format. Field numbers are those of Prometheus'
//! `prompb/remote.proto` and `prompb/types.proto`.

use std::collections::BTreeMap;

use crate::store::SeriesMeta;

#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Sorted by name, `__name__` among them.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Unix milliseconds.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// The request body of `request`: the protobuf, snappy-compressed (block format,
/// as the protocol says; not snappy's framing format).
pub fn encode_request(request: &WriteRequest) -> Vec<u8> {
    compress(&prost::Message::encode_to_vec(request))
}

/// The same body as [`encode_request`] for series given by reference: a shipper's
/// label sets are shared by every request it makes, and this writes them without
/// copying them into messages first (the bench measured the copies).
pub fn encode_series<'a>(
    series: impl Iterator<Item = (&'a [Label], &'a [Sample])> + Clone,
) -> Vec<u8> {
    use prost::encoding::{encode_varint, encoded_len_varint};
    // Field 1 or 2, wire type 2 (length-delimited) or 1 (64-bit) or 0 (varint).
    const FIELD_1_BYTES: u8 = 0x0a;
    const FIELD_2_BYTES: u8 = 0x12;
    const FIELD_1_FIXED64: u8 = 0x09;
    const FIELD_2_VARINT: u8 = 0x10;
    let bytes_field = |len: usize| 1 + encoded_len_varint(len as u64) + len;
    let label_len = |l: &Label| {
        // proto3 leaves out empty strings, as prost does.
        let part = |s: &str| {
            if s.is_empty() {
                0
            } else {
                bytes_field(s.len())
            }
        };
        part(&l.name) + part(&l.value)
    };
    let sample_len = |s: &Sample| {
        // proto3 leaves out zeros; -0.0 is kept (its bits are not zero).
        (if s.value.to_bits() == 0 { 0 } else { 9 })
            + if s.timestamp == 0 {
                0
            } else {
                1 + encoded_len_varint(s.timestamp as u64)
            }
    };
    let series_len = |labels: &[Label], samples: &[Sample]| {
        labels
            .iter()
            .map(|l| bytes_field(label_len(l)))
            .sum::<usize>()
            + samples
                .iter()
                .map(|s| bytes_field(sample_len(s)))
                .sum::<usize>()
    };
    let total: usize = series
        .clone()
        .map(|(labels, samples)| bytes_field(series_len(labels, samples)))
        .sum();
    let mut out = Vec::with_capacity(total);
    let put_str = |out: &mut Vec<u8>, tag: u8, s: &str| {
        if !s.is_empty() {
            out.push(tag);
            encode_varint(s.len() as u64, out);
            out.extend_from_slice(s.as_bytes());
        }
    };
    for (labels, samples) in series {
        out.push(FIELD_1_BYTES);
        encode_varint(series_len(labels, samples) as u64, &mut out);
        for l in labels {
            out.push(FIELD_1_BYTES);
            encode_varint(label_len(l) as u64, &mut out);
            put_str(&mut out, FIELD_1_BYTES, &l.name);
            put_str(&mut out, FIELD_2_BYTES, &l.value);
        }
        for s in samples {
            out.push(FIELD_2_BYTES);
            encode_varint(sample_len(s) as u64, &mut out);
            if s.value.to_bits() != 0 {
                out.push(FIELD_1_FIXED64);
                out.extend_from_slice(&s.value.to_le_bytes());
            }
            if s.timestamp != 0 {
                out.push(FIELD_2_VARINT);
                encode_varint(s.timestamp as u64, &mut out);
            }
        }
    }
    compress(&out)
}

fn compress(bytes: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(bytes)
        .expect("snappy compresses any input under 4 GiB")
}

/// The labels a stored series is shipped with: `__name__` and the labels it was
/// scraped with, `cluster` and `member` (as the monitor's own `/metrics` names
/// them), then `external` labels the series lacks; sorted by name. A scraped label
/// that is called `cluster` or `member` is kept as `exported_cluster` or
/// `exported_member`, as Prometheus does with a clash at scrape time. `None` when
/// the stored text does not read as a series (a file written by something else).
pub fn series_labels(meta: &SeriesMeta, external: &BTreeMap<String, String>) -> Option<Vec<Label>> {
    let line = format!("{} 0\n", meta.series);
    let scrape = crate::promtext::parse(&line).ok()?;
    let sample = scrape.samples().next()?;
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    labels.insert("__name__".into(), sample.name().to_string());
    for (name, value) in sample.labels() {
        let name = match name {
            "cluster" | "member" => format!("exported_{name}"),
            other => other.to_string(),
        };
        labels.insert(name, value.to_string());
    }
    labels.insert("cluster".into(), meta.cluster.clone());
    labels.insert("member".into(), meta.member.clone());
    for (name, value) in external {
        labels.entry(name.clone()).or_insert_with(|| value.clone());
    }
    Some(
        labels
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| Label { name, value })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(series: &str) -> SeriesMeta {
        SeriesMeta {
            cluster: "prod".into(),
            member: "m0".into(),
            series: series.into(),
        }
    }

    fn pairs(labels: &[Label]) -> Vec<(&str, &str)> {
        labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect()
    }

    #[test]
    fn a_series_ships_with_its_labels_the_cluster_and_member_sorted() {
        let external = BTreeMap::from([
            ("region".to_string(), "eu".to_string()),
            (
                "grpc_code".to_string(),
                "not used: the series has it".to_string(),
            ),
        ]);
        let l = series_labels(
            &meta(r#"grpc_server_handled_total{grpc_code="OK",cluster="x",grpc_method="Range",note="a \"q\" \\ b"}"#),
            &external,
        )
        .unwrap();
        assert_eq!(
            pairs(&l),
            vec![
                ("__name__", "grpc_server_handled_total"),
                ("cluster", "prod"),
                ("exported_cluster", "x"),
                ("grpc_code", "OK"),
                ("grpc_method", "Range"),
                ("member", "m0"),
                ("note", r#"a "q" \ b"#),
                ("region", "eu"),
            ]
        );
        let indicator = series_labels(
            &meta("etcd_monitor:wal_fsync_p99_seconds"),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(
            pairs(&indicator),
            vec![
                ("__name__", "etcd_monitor:wal_fsync_p99_seconds"),
                ("cluster", "prod"),
                ("member", "m0")
            ]
        );
        assert!(series_labels(&meta("not a {series"), &BTreeMap::new()).is_none());
    }

    #[test]
    fn a_request_is_snappy_compressed_protobuf_that_reads_back() {
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "__name__".into(),
                    value: "up".into(),
                }],
                samples: vec![
                    Sample {
                        value: 1.0,
                        timestamp: 1_700_000_000_000,
                    },
                    Sample {
                        value: f64::NAN,
                        timestamp: 1_700_000_015_000,
                    },
                ],
            }],
        };
        let body = encode_request(&request);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        // Field 1 (timeseries), wire type 2 (length-delimited).
        assert_eq!(raw[0], 0x0a);
        let back: WriteRequest = prost::Message::decode(raw.as_slice()).unwrap();
        assert_eq!(back.timeseries[0].labels, request.timeseries[0].labels);
        assert_eq!(
            back.timeseries[0].samples[0],
            request.timeseries[0].samples[0]
        );
        assert!(back.timeseries[0].samples[1].value.is_nan());
    }

    #[test]
    fn series_by_reference_encode_as_the_messages_do() {
        let label = |n: &str, v: &str| Label {
            name: n.into(),
            value: v.into(),
        };
        let request = WriteRequest {
            timeseries: vec![
                TimeSeries {
                    labels: vec![label("__name__", "up"), label("cluster", "ü \"x\"")],
                    samples: vec![
                        Sample {
                            value: 1.5,
                            timestamp: 1_700_000_000_000,
                        },
                        Sample {
                            value: 0.0,
                            timestamp: 0,
                        },
                        Sample {
                            value: -0.0,
                            timestamp: -5,
                        },
                        Sample {
                            value: f64::INFINITY,
                            timestamp: i64::MAX,
                        },
                    ],
                },
                TimeSeries {
                    labels: vec![label("__name__", &"long".repeat(100)), label("e", "")],
                    samples: vec![],
                },
            ],
        };
        let borrowed = encode_series(
            request
                .timeseries
                .iter()
                .map(|t| (t.labels.as_slice(), t.samples.as_slice())),
        );
        let raw = snap::raw::Decoder::new().decompress_vec(&borrowed).unwrap();
        let back: WriteRequest = prost::Message::decode(raw.as_slice()).unwrap();
        assert_eq!(back, request);
        // -0.0 keeps its sign, which prost's own encoder drops.
        assert!(back.timeseries[0].samples[2].value.is_sign_negative());
        // Byte for byte prost's size, but for that one value (tag and 8 bytes).
        assert_eq!(raw.len(), prost::Message::encoded_len(&request) + 9);
    }
}
