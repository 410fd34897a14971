//! Feeds arbitrary bytes to the decoder of a stored benchmark run: see
//! `etcd_monitor::fuzzing::bench_run` for what is checked. It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| etcd_monitor::fuzzing::bench_run(data));
