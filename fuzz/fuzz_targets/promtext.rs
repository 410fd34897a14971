//! Feeds arbitrary UTF-8 to the Prometheus text parser. It must never panic;
//! on success every sample and label is walked, on failure the error must
//! name an existing line.
#![no_main]

use etcd_monitor::promtext;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match promtext::parse(text) {
        Ok(scrape) => {
            let mut n = 0;
            let mut sum = 0.0f64;
            for sample in scrape.samples() {
                assert!(!sample.name().is_empty());
                sum += sample.value();
                let _ = sample.timestamp_ms();
                for (key, value) in sample.labels() {
                    assert!(!key.is_empty());
                    assert_eq!(sample.label(key), Some(value));
                }
                // The series text (copied from the input or rebuilt) reads back as
                // the same series.
                let line = format!("{} 0", sample.series_text());
                let again = promtext::parse(&line).expect("series text parses");
                let same = again.samples().next().expect("one sample");
                assert_eq!(same.name(), sample.name());
                assert!(same.labels().eq(sample.labels()), "{line}");
                let _ = scrape.family_type(sample.name());
                let _ = scrape.help(sample.name());
                n += 1;
            }
            assert_eq!(n, scrape.len());
            assert_eq!(scrape.is_empty(), n == 0);
            std::hint::black_box(sum);
        }
        Err(e) => {
            assert!(e.line >= 1 && e.line <= text.split('\n').count(), "{e}");
            assert!(!e.to_string().is_empty());
        }
    }
});
