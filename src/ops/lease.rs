//! Leases: grant, revoke, timetolive, list, keep-alive.

use super::json::{
    Header, KeepAliveResult, LeaseGrantResult, LeaseId, LeaseListResult, LeaseTtlResult,
};
use super::session::Session;
use super::{OpsError, Result};

/// Parses a lease id as etcdctl prints it (hexadecimal).
pub fn parse_id(text: &str) -> Result<i64> {
    u64::from_str_radix(text.trim_start_matches("0x"), 16)
        .map(|v| v as i64)
        .map_err(|_| {
            OpsError::BadInput(format!(
                "{text:?} is not a lease id (hexadecimal, as `lease grant` prints it)"
            ))
        })
}

fn lease_not_found(e: OpsError, id: i64) -> OpsError {
    match e {
        OpsError::Etcd { message, .. } if message.contains("lease not found") => {
            OpsError::BadInput(format!("lease {id:016x} not found (expired or revoked?)"))
        }
        other => other,
    }
}

pub async fn grant(s: &Session, ttl: i64) -> Result<LeaseGrantResult> {
    if ttl <= 0 {
        return Err(OpsError::BadInput(format!(
            "TTL {ttl} must be positive (seconds)"
        )));
    }
    let mut l = s.client.lease_client();
    let resp = s.call("lease grant", l.grant(ttl, None)).await?;
    Ok(LeaseGrantResult {
        header: Header::of(resp.header()),
        id: resp.id(),
        ttl: resp.ttl(),
        error: resp.error().to_string(),
    })
}

pub async fn revoke(s: &Session, id: i64) -> Result<Header> {
    let mut l = s.client.lease_client();
    let resp = s
        .call("lease revoke", l.revoke(id))
        .await
        .map_err(|e| lease_not_found(e, id))?;
    Ok(Header::of(resp.header()))
}

pub async fn time_to_live(s: &Session, id: i64, keys: bool) -> Result<LeaseTtlResult> {
    let mut l = s.client.lease_client();
    let opts = keys.then(|| etcd_client::LeaseTimeToLiveOptions::new().with_keys());
    let resp = s.call("lease timetolive", l.time_to_live(id, opts)).await?;
    Ok(LeaseTtlResult {
        header: Header::of(resp.header()),
        id: resp.id(),
        ttl: resp.ttl(),
        granted_ttl: resp.granted_ttl(),
        keys: keys.then(|| resp.keys().to_vec()),
    })
}

pub async fn list(s: &Session) -> Result<LeaseListResult> {
    let mut l = s.client.lease_client();
    let resp = s.call("lease list", l.leases()).await?;
    Ok(LeaseListResult {
        header: Header::of(resp.header()),
        leases: resp
            .leases()
            .iter()
            .map(|l| LeaseId { id: l.id() })
            .collect(),
    })
}

/// Keeps lease `id` alive: once, or every third of its TTL until `stop` resolves;
/// `on_renew` sees every answer, and ends it by returning false. An expired lease ends it
/// with an error.
pub async fn keep_alive(
    s: &Session,
    id: i64,
    once: bool,
    mut on_renew: impl FnMut(&KeepAliveResult) -> bool,
    stop: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let mut l = s.client.lease_client();
    let (mut keeper, mut stream) = s.call("lease keep-alive", l.keep_alive(id)).await?;
    tokio::pin!(stop);
    loop {
        let resp = s
            .call("lease keep-alive", async {
                keeper.keep_alive().await?;
                stream.message().await
            })
            .await?;
        let Some(resp) = resp else {
            return Err(OpsError::Etcd {
                what: "lease keep-alive".into(),
                endpoints: s.endpoints().join(","),
                message: "the stream closed".into(),
            });
        };
        if resp.ttl() <= 0 {
            return Err(OpsError::BadInput(format!(
                "lease {id:016x} expired or revoked"
            )));
        }
        let r = KeepAliveResult {
            header: Header::of(resp.header()),
            id: resp.id(),
            ttl: resp.ttl(),
        };
        if !on_renew(&r) || once {
            return Ok(());
        }
        let wait = std::time::Duration::from_secs((r.ttl as u64 / 3).max(1));
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
