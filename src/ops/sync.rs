//! Distributed locks and elections (etcd's v3lock and v3election services), each
//! held by a lease that this process keeps alive.

use etcd_client::{LeaderKey, LockOptions, ResignOptions};

use super::json::Kv;
use super::session::Session;
use super::{OpsError, Result};

/// TTL of the session lease behind a lock or a campaign (etcdctl's default, 60 s):
/// a holder that dies frees it within this time.
pub const SESSION_TTL: i64 = 60;

/// A lease kept alive in the background until dropped (then revoked).
pub struct LeaseSession {
    pub id: i64,
    session: Session,
    keeper: tokio::task::JoinHandle<()>,
}

impl LeaseSession {
    pub async fn start(s: &Session) -> Result<LeaseSession> {
        let grant = super::lease::grant(s, SESSION_TTL).await?;
        let id = grant.id;
        let bg = s.clone();
        let keeper = tokio::spawn(async move {
            // Ends only on error (the lease is lost): the holder learns from its own
            // next call, and the lock expires for everyone else after the TTL.
            let _ =
                super::lease::keep_alive(&bg, id, false, |_| true, std::future::pending()).await;
        });
        Ok(LeaseSession {
            id,
            session: s.clone(),
            keeper,
        })
    }

    /// Stops the keep-alive and revokes the lease (so waiters go on at once).
    pub async fn close(self) -> Result<()> {
        self.keeper.abort();
        super::lease::revoke(&self.session, self.id)
            .await
            .map(|_| ())
    }
}

/// A held lock: its key (etcd's `NAME/LEASE`) and revision.
pub struct Held {
    pub key: Vec<u8>,
    pub rev: i64,
    pub lease: LeaseSession,
}

/// Waits for lock `name` (no deadline: waiting for a lock is the point) until
/// `stop` resolves.
pub async fn lock(
    s: &Session,
    name: &[u8],
    stop: impl std::future::Future<Output = ()>,
) -> Result<Option<Held>> {
    let lease = LeaseSession::start(s).await?;
    let mut l = s.client.lock_client();
    let got = tokio::select! {
        r = l.lock(name.to_vec(), Some(LockOptions::new().with_lease(lease.id))) => Some(r),
        _ = stop => None,
    };
    match got {
        None => {
            lease.close().await?;
            Ok(None)
        }
        Some(Ok(resp)) => Ok(Some(Held {
            key: resp.key().to_vec(),
            rev: resp.header().map_or(0, |h| h.revision()),
            lease,
        })),
        Some(Err(e)) => {
            let _ = lease.close().await;
            Err(OpsError::Etcd {
                what: "lock".into(),
                endpoints: s.endpoints().join(","),
                message: crate::etcd::error_chain(&e),
            })
        }
    }
}

pub async fn unlock(s: &Session, held: Held) -> Result<()> {
    let mut l = s.client.lock_client();
    s.call("unlock", l.unlock(held.key.clone())).await?;
    held.lease.close().await
}

/// A won campaign.
pub struct Leadership {
    pub leader: LeaderKey,
    pub lease: LeaseSession,
}

/// Campaigns in election `name` with `proposal` until elected or `stop` resolves.
pub async fn campaign(
    s: &Session,
    name: &[u8],
    proposal: &[u8],
    stop: impl std::future::Future<Output = ()>,
) -> Result<Option<Leadership>> {
    let lease = LeaseSession::start(s).await?;
    let mut e = s.client.election_client();
    let got = tokio::select! {
        r = e.campaign(name.to_vec(), proposal.to_vec(), lease.id) => Some(r),
        _ = stop => None,
    };
    match got {
        None => {
            lease.close().await?;
            Ok(None)
        }
        Some(Ok(mut resp)) => match resp.take_leader() {
            Some(leader) => Ok(Some(Leadership { leader, lease })),
            None => Err(OpsError::Etcd {
                what: "campaign".into(),
                endpoints: s.endpoints().join(","),
                message: "elected without a leader key".into(),
            }),
        },
        Some(Err(err)) => {
            let _ = lease.close().await;
            Err(OpsError::Etcd {
                what: "campaign".into(),
                endpoints: s.endpoints().join(","),
                message: crate::etcd::error_chain(&err),
            })
        }
    }
}

pub async fn resign(s: &Session, l: Leadership) -> Result<()> {
    let mut e = s.client.election_client();
    s.call(
        "resign",
        e.resign(Some(ResignOptions::new().with_leader(l.leader.clone()))),
    )
    .await?;
    l.lease.close().await
}

/// Calls `on_leader` with every leader of election `name` (the current one first)
/// until `stop` resolves or `on_leader` returns false.
pub async fn observe(
    s: &Session,
    name: &[u8],
    mut on_leader: impl FnMut(&Kv) -> bool,
    stop: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let mut e = s.client.election_client();
    let mut stream = s.call("observe", e.observe(name.to_vec())).await?;
    tokio::pin!(stop);
    loop {
        let msg = tokio::select! {
            m = stream.message() => m,
            _ = &mut stop => return Ok(()),
        };
        match msg {
            Ok(Some(resp)) => {
                if let Some(kv) = resp.kv() {
                    if !on_leader(&Kv::of(kv)) {
                        return Ok(());
                    }
                }
            }
            Ok(None) => return Ok(()),
            Err(err) => {
                return Err(OpsError::Etcd {
                    what: "observe".into(),
                    endpoints: s.endpoints().join(","),
                    message: crate::etcd::error_chain(&err),
                })
            }
        }
    }
}
