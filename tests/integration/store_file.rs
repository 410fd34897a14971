//! A store file refused as corrupt (or empty) is left byte for byte as it was by
//! every command that opens it, and the refusal names the file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use etcd_monitor::localetcd::free_port;
use etcd_monitor::store::{MemberSamples, Retention, Store, FILE_NAME};
use sha2::{Digest, Sha256};

use crate::process::BIN;

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A store of a few MB: 2 members × 100 series every 10 s for 8 hours, values that
/// do not compress much, with checkpoints on the way.
fn filled_store(dir: &Path) -> PathBuf {
    let store = Store::open_dir(dir, Retention::default()).unwrap();
    let t0 = 1_699_920_000_000i64;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let names: Vec<String> = (0..100).map(|i| format!("metric_{i}{{k=\"v\"}}")).collect();
    for hour in 0..8i64 {
        for chunk in 0..6i64 {
            let mut batches = Vec::new();
            for step in 0..60i64 {
                let at_ms = t0 + hour * 3_600_000 + (chunk * 60 + step) * 10_000;
                for member in ["m0", "m1"] {
                    batches.push(MemberSamples {
                        cluster: "c".into(),
                        member: member.into(),
                        at_ms,
                        samples: names
                            .iter()
                            .map(|n| (n.clone(), (next() % 1_000_000) as f64 / 7.0))
                            .collect(),
                    });
                }
            }
            store.ingest_all(&batches).unwrap();
        }
        store.checkpoint().unwrap();
    }
    // Compacted: the middle of the file is in use, not space redb grew into.
    store.compact().unwrap();
    store.path().to_path_buf()
}

/// Runs the binary with a deadline: a command that does not refuse the file (and
/// goes on serving) is killed and the test fails.
fn run(args: &[&str], data_dir: &Path) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("ETCD_MONITOR_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    while !waiter.is_finished() {
        if Instant::now() > deadline {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            let out = waiter.join().unwrap();
            panic!(
                "{args:?} did not refuse the file within 60 s: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    waiter.join().unwrap()
}

/// `store check`, `store stats` and `serve` on `dir`'s store: each refuses it,
/// names it, and leaves it as it was.
/// `serve`: whether `serve` must refuse it too (damage in a block that no open
/// reads is only found by `store check` and `store stats`).
fn assert_every_command_refuses(dir: &Path, file: &Path, serve: bool) {
    let before = sha256(file);
    let listen = format!("--listen=127.0.0.1:{}", free_port().unwrap());
    let commands: [&[&str]; 3] = [
        &["store", "check"],
        &["store", "stats"],
        // Port 1 on loopback: nothing there, and the store is opened first.
        &["serve", "--endpoints=http://127.0.0.1:1", &listen],
    ];
    for args in commands.into_iter().filter(|a| serve || a[0] != "serve") {
        let out = run(args, dir);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted the file: {err}");
        assert!(
            err.contains(&file.display().to_string()),
            "{args:?}: the message does not name the file: {err}"
        );
        assert_eq!(sha256(file), before, "{args:?} changed the refused file");
        println!("{args:?}: {}", err.trim());
    }
}

#[test]
fn a_store_with_flipped_bytes_is_refused_and_left_as_it_was() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("data");
    let file = filled_store(&dir);
    let good = std::fs::read(&file).unwrap();
    let len = good.len();
    println!("store of {len} bytes");
    assert!(len > 2 << 20, "a store of a few MB: {len} bytes");
    // Where 200 flipped bytes land in pages the store reads: a block (found by
    // `store check`) and the head (found by every open). Damage in the middle of
    // this file lands in sample values that no decoder can tell from others (redb
    // verifies its page checksums only when it repairs): see the report. Where
    // the head lands depends on when checkpoints ran: since an ingest that seals
    // more than 2 MiB of blocks checkpoints at once (this fill's 1-minute blocks
    // at their 6-hour window's end), it is at 35 to 40 % of the file, not 30.
    for at in [len / 10, len * 3 / 8] {
        let mut bytes = good.clone();
        for b in &mut bytes[at..at + 200] {
            *b ^= 0xff;
        }
        std::fs::write(&file, &bytes).unwrap();
        println!("200 bytes flipped at {at}");
        assert_every_command_refuses(&dir, &file, at == len * 3 / 8);
    }
}

#[test]
fn an_empty_store_file_is_refused_unless_its_directory_is_new() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join(FILE_NAME);
    std::fs::write(&file, b"").unwrap();
    assert_every_command_refuses(data.path(), &file, true);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 0);
    // A directory that is not there yet is made, with a new store in it.
    let fresh = data.path().join("new").join("store");
    drop(Store::open_dir(&fresh, Retention::default()).unwrap());
    assert!(std::fs::metadata(fresh.join(FILE_NAME)).unwrap().len() > 0);
}
