//! Feeds arbitrary bytes to the decoder of the config loader (defaults, then the input as config.toml): see
//! `etcd_monitor::fuzzing::config` for what is checked. It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| etcd_monitor::fuzzing::config(data));
