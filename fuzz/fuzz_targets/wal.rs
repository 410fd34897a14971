//! Feeds arbitrary bytes to the decoder of a write-ahead log record: see
//! `etcd_monitor::fuzzing::wal` for what is checked. It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| etcd_monitor::fuzzing::wal(data));
