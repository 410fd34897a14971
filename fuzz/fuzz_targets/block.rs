//! Feeds arbitrary bytes to the decoder of a stored block of any tier: see
//! `etcd_monitor::fuzzing::block` for what is checked. It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| etcd_monitor::fuzzing::block(data));
