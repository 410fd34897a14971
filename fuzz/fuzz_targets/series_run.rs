//! Feeds arbitrary bytes to the decoder of a run of the series registry: see
//! `etcd_monitor::fuzzing::series_run` for what is checked. It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| etcd_monitor::fuzzing::series_run(data));
