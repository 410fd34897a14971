//! Entry points for the `cargo fuzz` targets in `fuzz/`: one per decoder of stored
//! bytes, and the config loader. Each takes arbitrary bytes, must never panic, and
//! checks what a successful decode promises (what decodes, encodes again to the same
//! thing; what is decoded can be shown). Not part of the public API.

use std::collections::HashMap;

use crate::store::codec;
use crate::store::records::{self, SeriesRun, WalRecord};

/// A stored block (any tier, formats 1 and 2): a block that decodes is encoded again
/// (format 2) and decodes to the same points, bit for bit.
pub fn block(bytes: &[u8]) {
    let Ok(block) = codec::decode(bytes) else {
        return;
    };
    assert_eq!(block.values.len(), block.columns);
    for column in &block.values {
        assert_eq!(column.len(), block.timestamps.len());
    }
    let Ok(encoder) = codec::BlockEncoder::from_bytes(bytes) else {
        panic!("a block that decodes must continue");
    };
    assert_eq!(encoder.len(), block.timestamps.len());
    let again = codec::decode(&encoder.to_bytes()).expect("a re-encoded block decodes");
    assert_eq!(again.timestamps, block.timestamps);
    for (a, b) in again.values.iter().zip(&block.values) {
        let bits = |c: &[f64]| c.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(a), bits(b));
    }
}

/// A write-ahead log record, both layouts, against series whose previous values are
/// taken from the input's first bytes (so that "unchanged" samples can resolve).
pub fn wal(bytes: &[u8]) {
    let known: HashMap<u64, f64> = bytes
        .iter()
        .take(8)
        .enumerate()
        .map(|(i, &b)| (u64::from(b), i as f64))
        .collect();
    let previous = |id: u64| known.get(&id).copied();
    if let Ok(record) = WalRecord::decode(bytes, &previous) {
        // What decodes encodes again to a record that decodes to the same samples.
        let logged: Vec<_> = record
            .samples
            .iter()
            .map(|&(id, v)| (id, v, previous(id)))
            .collect();
        let again = WalRecord::decode(&WalRecord::encode(record.at_ms, &logged), &previous)
            .expect("a re-encoded record decodes");
        assert_eq!(again.at_ms, record.at_ms);
        let bits = |s: &[(u64, f64)]| s.iter().map(|&(i, v)| (i, v.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(&again.samples), bits(&record.samples));
    }
    let _ = WalRecord::decode_per_sample(bytes, &previous);
}

/// A run of the series registry, with and without a base run to copy from.
pub fn series_run(bytes: &[u8]) {
    let base = |key: u64| {
        (key < 4).then(|| {
            (0..key * 3)
                .map(|i| format!("etcd_metric_{i}{{le=\"{key}\"}}"))
                .collect::<Vec<_>>()
        })
    };
    if let Ok(run) = SeriesRun::decode(bytes, &base) {
        assert!(run.texts.iter().all(|t| t.len() <= bytes.len() * 64 + 64));
    }
    let _ = SeriesRun::decode_front_coded(bytes);
}

/// The head's records (whole blocks per series) and its deltas; every block a head
/// record holds is decoded as a block.
pub fn head(bytes: &[u8]) {
    if let Ok(heads) = records::decode_heads(bytes) {
        for head in heads {
            for (_, block_bytes) in head.blocks {
                if !block_bytes.is_empty() {
                    block(block_bytes);
                }
            }
        }
    }
    if let Ok(deltas) = records::decode_head_deltas(bytes) {
        for d in deltas {
            assert!(d.tier <= 2);
            assert!(d.tail.len() <= bytes.len());
        }
    }
}

/// The postcard records of the alert manager and the audit trail: a record that
/// decodes can be shown (as the API shows it, and with its times formatted).
pub fn records(bytes: &[u8]) {
    crate::alert::manager::fuzz_stored_records(bytes);
    if let Ok(audit) = postcard::from_bytes::<crate::audit::AuditRecord>(bytes) {
        let _ = crate::time::rfc3339_millis(audit.at_unix_ms);
        let _ = serde_json::to_string(&audit).expect("a record serializes");
    }
}

/// A stored benchmark run: decoding, validation, its summary and a comparison with
/// itself never panic.
pub fn bench_run(bytes: &[u8]) {
    use crate::bench::history::{compare, StoredRun};
    let Ok(run) = StoredRun::decode("fuzz", bytes) else {
        return;
    };
    let _ = run.validate();
    let summary = run.summary();
    let _ = serde_json::to_string(&summary).expect("a summary serializes");
    let _ = crate::time::rfc3339_seconds(summary.started_unix_ms);
    let _ = compare(&[run.clone(), run], 0.1);
}

/// The config loader: defaults, then `bytes` as the config file (when UTF-8).
pub fn config(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(settings) = crate::config::Settings::from_toml(text) {
        // What loads, validates, and prints (as `config show` does).
        settings.validate().expect("loaded settings are valid");
        let _ = toml::to_string_pretty(&settings);
    }
}
