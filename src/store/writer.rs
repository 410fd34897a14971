//! The store's writer thread: ingests batches as collectors hand them over, takes
//! checkpoints, and runs maintenance (retention, compaction). Collectors never wait
//! for the disk: a full queue drops the batch and counts it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{MemberSamples, Store};

enum Message {
    /// One probe's batches (one per member): ingested with one commit.
    Batches(Vec<MemberSamples>),
    Stop,
}

/// What collectors hold to hand samples to the store.
#[derive(Clone)]
pub struct WriterHandle {
    tx: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

impl WriterHandle {
    /// Queues a batch; never blocks.
    pub fn submit(&self, batch: MemberSamples) {
        self.submit_all(vec![batch]);
    }

    /// Queues every member's batch of one probe as one message, so the writer
    /// wakes once and commits (one fsync) once per probe, rather than as often as
    /// the batches happen to arrive apart. Never blocks.
    pub fn submit_all(&self, batches: Vec<MemberSamples>) {
        if batches.is_empty() {
            return;
        }
        let count = batches.len() as u64;
        match self.tx.try_send(Message::Batches(batches)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let n = self.dropped.fetch_add(count, Ordering::Relaxed) + count;
                tracing::warn!(
                    dropped_batches = n,
                    "store writer is behind; a probe's batches were dropped"
                );
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    pub fn dropped_batches(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

pub struct StoreWriter {
    handle: WriterHandle,
    thread: Option<JoinHandle<()>>,
}

impl StoreWriter {
    pub fn start(
        store: Arc<Store>,
        checkpoint_every: Duration,
        maintain_every: Duration,
    ) -> StoreWriter {
        let (tx, rx) = sync_channel(1024);
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run(store, rx, checkpoint_every, maintain_every))
            .expect("spawning the store writer thread");
        StoreWriter {
            handle: WriterHandle {
                tx,
                dropped: Arc::new(AtomicU64::new(0)),
            },
            thread: Some(thread),
        }
    }

    pub fn handle(&self) -> WriterHandle {
        self.handle.clone()
    }

    /// Writes what is queued, takes a last checkpoint and stops.
    pub fn stop(mut self) {
        let _ = self.handle.tx.send(Message::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    store: Arc<Store>,
    rx: Receiver<Message>,
    checkpoint_every: Duration,
    maintain_every: Duration,
) {
    let mut next_checkpoint = Instant::now() + checkpoint_every;
    // First maintenance soon after start: retention may have lapsed while stopped.
    let mut next_maintenance = Instant::now() + Duration::from_secs(60).min(maintain_every);
    loop {
        let wait = next_checkpoint
            .min(next_maintenance)
            .saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(Message::Batches(mut batches)) => {
                // Whatever else is queued (a writer behind, several clusters) goes
                // into the same commit.
                let mut stop = false;
                while let Ok(message) = rx.try_recv() {
                    match message {
                        Message::Batches(more) => batches.extend(more),
                        Message::Stop => stop = true,
                    }
                }
                // Errors are logged and shown in the store's health by the store.
                let _ = store.ingest_all(&batches);
                if stop {
                    break;
                }
            }
            Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        if now >= next_maintenance {
            next_maintenance = now + maintain_every;
            next_checkpoint = now + checkpoint_every;
            match store.maintain(crate::unix_ms_now()) {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    blocks = n,
                    "store: deleted blocks past retention and compacted"
                ),
                Err(e) => tracing::error!("store maintenance: {e}"),
            }
        } else if now >= next_checkpoint {
            next_checkpoint = now + checkpoint_every;
            if store.checkpoint().is_ok() {
                if let Err(e) = store.compact_if_sparse() {
                    tracing::error!("store compaction: {e}");
                }
            }
        }
    }
    // The last checkpoint may write the head whole, freeing the pages of the one
    // before: compact as after any checkpoint, so a stopped monitor leaves a file
    // no larger than a running one.
    if store.checkpoint().is_ok() {
        if let Err(e) = store.compact_if_sparse() {
            tracing::error!("store compaction: {e}");
        }
    }
}
