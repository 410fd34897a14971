//! Endpoints, alarms and maintenance: endpoint health and status, alarm list and
//! disarm, compact, defrag (one member at a time, leader last) and snapshot save.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use etcd_client::{AlarmAction, AlarmOptions, AlarmType, CompactionOptions, GetOptions};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::json::{Alarm, AlarmResult, EndpointHealth, EndpointStatus, Header, Status};
use super::session::Session;
use super::{OpsError, Result};

/// Status of one endpoint, asked on a connection to it alone.
pub async fn endpoint_status(s: &Session, endpoint: &str) -> Result<EndpointStatus> {
    let one = s.one(endpoint).await?;
    let mut m = one.client.maintenance_client();
    let status = one.call("status", m.status()).await?;
    Ok(EndpointStatus {
        endpoint: endpoint.to_string(),
        status: Status::of(&status),
    })
}

/// etcdctl's health check: a linearizable get (a permission error still proves a
/// committed read) and no active alarm.
pub async fn endpoint_health(s: &Session, endpoint: &str) -> EndpointHealth {
    let started = Instant::now();
    let result = async {
        let one = s.one(endpoint).await?;
        let mut kv = one.client.kv_client();
        match one.call("get health", kv.get("health", None)).await {
            Ok(_) => {}
            Err(OpsError::Etcd { message, .. }) if message.contains("permission denied") => {}
            Err(e) => return Err(e),
        }
        let alarms = alarm_list(&one).await?;
        if !alarms.alarms.is_empty() {
            let names: Vec<&str> = alarms.alarms.iter().map(Alarm::name).collect();
            return Err(OpsError::BadInput(format!(
                "Active Alarm(s): {}",
                names.join(" ")
            )));
        }
        Ok(())
    }
    .await;
    let took = go_duration(started.elapsed());
    match result {
        Ok(()) => EndpointHealth {
            endpoint: endpoint.to_string(),
            health: true,
            took,
            error: String::new(),
        },
        Err(e) => EndpointHealth {
            endpoint: endpoint.to_string(),
            health: false,
            took,
            error: e.to_string(),
        },
    }
}

/// Go's `time.Duration.String()` for durations under a minute ("2.019427ms", "1.5s").
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    let (value, unit, scale) = if ns < 1_000 {
        return format!("{ns}ns");
    } else if ns < 1_000_000 {
        (ns, "µs", 1_000)
    } else if ns < 1_000_000_000 {
        (ns, "ms", 1_000_000)
    } else {
        (ns, "s", 1_000_000_000)
    };
    let whole = value / scale;
    let frac = value % scale;
    let digits = scale.to_string().len() - 1;
    let mut frac = format!("{frac:0digits$}");
    while frac.ends_with('0') {
        frac.pop();
    }
    if frac.is_empty() {
        format!("{whole}{unit}")
    } else {
        format!("{whole}.{frac}{unit}")
    }
}

pub async fn alarm_list(s: &Session) -> Result<AlarmResult> {
    let mut m = s.client.maintenance_client();
    let resp = s
        .call(
            "alarm list",
            m.alarm(AlarmAction::Get, AlarmType::None, None),
        )
        .await?;
    Ok(AlarmResult {
        header: resp.header().map(|h| Header::of(Some(h))),
        alarms: resp
            .alarms()
            .iter()
            .map(|a| Alarm {
                member_id: a.member_id(),
                alarm: a.alarm() as i32,
            })
            .collect(),
    })
}

/// Disarms every active alarm (as etcdctl does); returns those disarmed.
pub async fn alarm_disarm(s: &Session) -> Result<AlarmResult> {
    let active = alarm_list(s).await?;
    let mut header = active.header.clone();
    let mut m = s.client.maintenance_client();
    for a in &active.alarms {
        let mut opts = AlarmOptions::new();
        opts.with_member(a.member_id);
        let kind = match a.alarm {
            1 => AlarmType::Nospace,
            2 => AlarmType::Corrupt,
            _ => AlarmType::None,
        };
        let resp = s
            .call(
                "alarm disarm",
                m.alarm(AlarmAction::Deactivate, kind, Some(opts)),
            )
            .await?;
        header = resp.header().map(|h| Header::of(Some(h))).or(header);
    }
    Ok(AlarmResult {
        header,
        alarms: active.alarms,
    })
}

pub async fn compact(s: &Session, rev: i64, physical: bool) -> Result<Header> {
    if rev <= 0 {
        return Err(OpsError::BadInput(format!(
            "revision {rev} must be positive"
        )));
    }
    let mut kv = s.client.kv_client();
    let opts = physical.then(|| CompactionOptions::new().with_physical());
    let resp = s.call("compact", kv.compact(rev, opts)).await?;
    Ok(Header::of(resp.header()))
}

/// One member as the defrag sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DefragTarget {
    pub id: u64,
    pub name: String,
    pub endpoint: String,
    pub leader: bool,
}

/// The members in the order they are defragmented: followers, then the leader, so
/// that only one leader pause happens and at the end. Every member must answer.
pub async fn defrag_plan(s: &Session) -> Result<Vec<DefragTarget>> {
    let members = super::cluster::list(s).await?.members;
    let mut leader = None;
    let mut plan = Vec::new();
    for m in members {
        let endpoint = m.client_urls.first().cloned().ok_or_else(|| {
            OpsError::BadInput(format!(
                "member {:x} ({}) has no client URL (not started yet?): defrag stops before changing anything",
                m.id, m.name
            ))
        })?;
        let st = endpoint_status(s, &endpoint).await?;
        leader = leader.or(Some(st.status.leader).filter(|l| *l != 0));
        plan.push(DefragTarget {
            id: m.id,
            name: m.name,
            endpoint,
            leader: false,
        });
    }
    let leader = leader.ok_or_else(|| {
        OpsError::BadInput("the cluster has no leader: defrag refuses to start".into())
    })?;
    for t in &mut plan {
        t.leader = t.id == leader;
    }
    plan.sort_by_key(|t| t.leader);
    Ok(plan)
}

/// Defragments one member, then waits until it answers Status and a serializable
/// get again (within `healthy_within`), so the next member starts only when this
/// one serves.
pub async fn defrag_one(
    s: &Session,
    endpoint: &str,
    defrag_timeout: Duration,
    healthy_within: Duration,
) -> Result<()> {
    let one = s.one(endpoint).await?;
    let mut m = one.client.maintenance_client();
    one.call_within("defragment", defrag_timeout, m.defragment())
        .await?;
    let started = Instant::now();
    loop {
        let check = async {
            let mut m = one.client.maintenance_client();
            one.call("status after defragment", m.status()).await?;
            let mut kv = one.client.kv_client();
            one.call(
                "serializable get after defragment",
                kv.get("health", Some(GetOptions::new().with_serializable())),
            )
            .await?;
            Ok::<_, OpsError>(())
        };
        match check.await {
            Ok(()) => return Ok(()),
            Err(e) if started.elapsed() > healthy_within => {
                return Err(OpsError::BadInput(format!(
                    "{endpoint} is not healthy after defragment ({e}); the remaining members were not defragmented"
                )))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Result of a snapshot save.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SnapshotSaved {
    pub path: PathBuf,
    pub bytes: u64,
    /// Hex sha256 that etcd appended and that matched the data.
    pub sha256: String,
}

/// Checks a snapshot stream as it arrives: etcd sends the database (whole 512-byte
/// pages) followed by the sha256 of it.
#[derive(Default)]
pub struct SnapshotCheck {
    hasher: Sha256,
    /// The last 32 bytes seen: the hash if the stream ends here, so not hashed yet.
    tail: Vec<u8>,
    pub bytes: u64,
}

impl SnapshotCheck {
    pub fn feed(&mut self, blob: &[u8]) {
        self.bytes += blob.len() as u64;
        self.tail.extend_from_slice(blob);
        if self.tail.len() > 32 {
            let cut = self.tail.len() - 32;
            self.hasher.update(&self.tail[..cut]);
            self.tail.drain(..cut);
        }
    }

    /// The hash in hex, or why the stream is not a whole snapshot.
    pub fn finish(self) -> std::result::Result<String, String> {
        let bytes = self.bytes;
        if self.tail.len() != 32 || !(bytes - 32).is_multiple_of(512) {
            return Err(format!(
                "{bytes} bytes received: not a database followed by its sha256 (the stream ended early?)"
            ));
        }
        let sum = self.hasher.finalize();
        if sum[..] != self.tail[..] {
            return Err("sha256 mismatch: the data received is not what the member sent".into());
        }
        Ok(sum.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// Streams a snapshot from the one endpoint of `s` to `path` through `path.part`,
/// checks the sha256 etcd appends to the stream (as `etcdutl snapshot restore`
/// does), then renames; a failed save leaves no file at `path`.
pub async fn snapshot_save(s: &Session, path: &Path) -> Result<SnapshotSaved> {
    if s.endpoints().len() != 1 {
        return Err(OpsError::BadInput(format!(
            "snapshot must be requested from one endpoint, not {} ({})",
            s.endpoints().len(),
            s.endpoints().join(",")
        )));
    }
    let display = path.display().to_string();
    let part = PathBuf::from(format!("{display}.part"));
    let io = |what: &str| {
        let what = format!("{what} {}", part.display());
        move |source| OpsError::Io { what, source }
    };
    let result = async {
        // The whole keyspace: readable by the owner only, from the first byte
        // (etcdctl's 0600). A stale .part of an earlier run may have other
        // permissions, so it goes; O_EXCL then refuses a file or symlink put in
        // its place meanwhile.
        match tokio::fs::remove_file(&part).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io("removing the stale")(e))
            }
            _ => {}
        }
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&part)
            .await
            .map_err(io("creating"))?;
        let mut m = s.client.maintenance_client();
        let mut stream = s.call("snapshot", m.snapshot()).await?;
        let mut check = SnapshotCheck::default();
        while let Some(msg) = s.call("snapshot (receiving)", stream.message()).await? {
            let blob = msg.blob();
            file.write_all(blob).await.map_err(io("writing"))?;
            check.feed(blob);
        }
        file.sync_all().await.map_err(io("syncing"))?;
        drop(file);
        let bytes = check.bytes;
        let sha256 = check.finish().map_err(|message| OpsError::Snapshot {
            path: display.clone(),
            message,
        })?;
        tokio::fs::rename(&part, path)
            .await
            .map_err(io("renaming"))?;
        Ok(SnapshotSaved {
            path: path.to_path_buf(),
            bytes,
            sha256,
        })
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&part).await;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::go_duration;
    use std::time::Duration;

    #[test]
    fn snapshot_streams_are_checked_against_their_trailing_sha256() {
        use sha2::{Digest, Sha256};
        let db: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
        let mut stream = db.clone();
        stream.extend_from_slice(&Sha256::digest(&db));
        let run = |data: &[u8], chunk: usize| {
            let mut c = super::SnapshotCheck::default();
            for part in data.chunks(chunk) {
                c.feed(part);
            }
            c.finish()
        };
        // Chunk sizes that split the hash across messages, and one that does not.
        for chunk in [1, 7, 31, 33, 1000, 10_000] {
            assert_eq!(run(&stream, chunk).unwrap().len(), 64, "chunk {chunk}");
        }
        let mut flipped = stream.clone();
        flipped[100] ^= 1;
        assert!(run(&flipped, 1000).unwrap_err().contains("mismatch"));
        assert!(run(&stream[..stream.len() - 1], 1000)
            .unwrap_err()
            .contains("ended early"));
        assert!(run(&stream[..10], 1000).is_err());
    }

    #[test]
    fn durations_print_as_go_does() {
        assert_eq!(go_duration(Duration::from_nanos(2_019_427)), "2.019427ms");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_micros(12)), "12µs");
        assert_eq!(go_duration(Duration::from_nanos(7)), "7ns");
    }
}
