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

/// The request body: the protobuf, snappy-compressed (block format, as the
/// protocol says; not snappy's framing format).
pub fn encode_request(request: &WriteRequest) -> Vec<u8> {
    let bytes = prost::Message::encode_to_vec(request);
    snap::raw::Encoder::new()
        .compress_vec(&bytes)
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
}
