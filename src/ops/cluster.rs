//! Membership: member list, add, remove, promote, update.

use etcd_client::MemberAddOptions;

use super::json::{Header, Member, MemberChangeResult, MemberListResult};
use super::session::Session;
use super::{OpsError, Result};

pub async fn list(s: &Session) -> Result<MemberListResult> {
    let mut c = s.client.cluster_client();
    let resp = s.call("member list", c.member_list()).await?;
    Ok(MemberListResult {
        header: Header::of(resp.header()),
        members: resp.members().iter().map(Member::of).collect(),
    })
}

/// Parses a member id as etcdctl prints it (hexadecimal).
pub fn parse_id(text: &str) -> Result<u64> {
    u64::from_str_radix(text.trim_start_matches("0x"), 16).map_err(|_| {
        OpsError::BadInput(format!(
            "{text:?} is not a member id (hexadecimal, as `member list` prints it)"
        ))
    })
}

/// Refuses an id that is not in the member list, before asking etcd to change anything.
async fn known(s: &Session, id: u64) -> Result<Member> {
    list(s)
        .await?
        .members
        .into_iter()
        .find(|m| m.id == id)
        .ok_or(OpsError::UnknownMember { id })
}

fn not_found(e: OpsError, id: u64) -> OpsError {
    match e {
        OpsError::Etcd { message, .. } if message.contains("member not found") => {
            OpsError::UnknownMember { id }
        }
        other => other,
    }
}

pub async fn add(s: &Session, peer_urls: &[String], learner: bool) -> Result<MemberChangeResult> {
    if peer_urls.is_empty() {
        return Err(OpsError::BadInput("member add needs --peer-urls".into()));
    }
    let mut c = s.client.cluster_client();
    let opts = learner.then(|| MemberAddOptions::new().with_is_learner());
    let resp = s
        .call("member add", c.member_add(peer_urls.to_vec(), opts))
        .await?;
    Ok(MemberChangeResult {
        header: Header::of(resp.header()),
        member: resp.member().map(Member::of),
        members: resp.member_list().iter().map(Member::of).collect(),
    })
}

pub async fn remove(s: &Session, id: u64) -> Result<MemberChangeResult> {
    known(s, id).await?;
    let mut c = s.client.cluster_client();
    let resp = s
        .call("member remove", c.member_remove(id))
        .await
        .map_err(|e| not_found(e, id))?;
    Ok(MemberChangeResult {
        header: Header::of(resp.header()),
        member: None,
        members: resp.members().iter().map(Member::of).collect(),
    })
}

pub async fn promote(s: &Session, id: u64) -> Result<MemberChangeResult> {
    known(s, id).await?;
    let mut c = s.client.cluster_client();
    let resp = s
        .call("member promote", c.member_promote(id))
        .await
        .map_err(|e| not_found(e, id))?;
    Ok(MemberChangeResult {
        header: Header::of(resp.header()),
        member: None,
        members: resp.members().iter().map(Member::of).collect(),
    })
}

pub async fn update(s: &Session, id: u64, peer_urls: &[String]) -> Result<MemberChangeResult> {
    if peer_urls.is_empty() {
        return Err(OpsError::BadInput("member update needs --peer-urls".into()));
    }
    known(s, id).await?;
    let mut c = s.client.cluster_client();
    let resp = s
        .call("member update", c.member_update(id, peer_urls.to_vec()))
        .await
        .map_err(|e| not_found(e, id))?;
    Ok(MemberChangeResult {
        header: Header::of(resp.header()),
        member: None,
        members: resp.members().iter().map(Member::of).collect(),
    })
}
