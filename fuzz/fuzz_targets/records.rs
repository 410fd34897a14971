//! Feeds arbitrary bytes to the decoder of the alert manager's and audit trail's postcard records: see
//! `etcd_monitor::fuzzing::records` for what is checked. It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| etcd_monitor::fuzzing::records(data));
