//! Feeds arbitrary bytes to the decoder of the head's records and deltas: see
//! `etcd_monitor::fuzzing::head` for what is checked. It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| etcd_monitor::fuzzing::head(data));
