//! API tokens: `emt_<id>_<secret>`, given once at creation; the store keeps the id,
//! a name, a role, the SHA-256 of the secret, an expiry and the last use, one
//! postcard record each in the `auth_tokens` table keyed by id. Revoking deletes the
//! record, so the next request with the token is refused.

use serde::{Deserialize, Serialize};

use super::{check_name, secret, AuthError, Result, Role};
use crate::store::Store;

pub const TABLE: &str = "auth_tokens";

/// The table holds at most this many tokens.
pub const MAX_TOKENS: u64 = 10_000;

/// What every token starts with, so that a leaked one is recognisable (secret
/// scanners key on such prefixes).
pub const PREFIX: &str = "emt_";

/// The last use is written at most this often per token (it is shown in minutes).
pub const LAST_USED_RESOLUTION_MS: i64 = 60_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// 16 hex digits; part of the token text, not secret by itself.
    pub id: String,
    pub name: String,
    pub role: Role,
    /// SHA-256 of the secret part.
    pub secret_sha256: [u8; 32],
    pub created_unix_ms: i64,
    /// `None`: never expires.
    pub expires_unix_ms: Option<i64>,
    pub last_used_unix_ms: Option<i64>,
    pub created_by: String,
}

impl Token {
    /// What may be shown of a token: everything but the digest.
    pub fn public(&self) -> serde_json::Value {
        let time = |ms: Option<i64>| ms.map(crate::time::rfc3339_seconds);
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "created": crate::time::rfc3339_seconds(self.created_unix_ms),
            "created_by": self.created_by,
            "expires": time(self.expires_unix_ms),
            "last_used": time(self.last_used_unix_ms),
        })
    }

    pub fn expired(&self, now_ms: i64) -> bool {
        self.expires_unix_ms.is_some_and(|e| now_ms >= e)
    }
}

fn decode(bytes: &[u8]) -> Option<Token> {
    postcard::from_bytes(bytes).ok()
}

fn put(store: &Store, t: &Token) -> Result<()> {
    let v = postcard::to_allocvec(t).expect("postcard encodes plain structs");
    store.write_records(&[(TABLE, t.id.as_bytes(), Some(&v))])?;
    Ok(())
}

/// Every token, by id.
pub fn list(store: &Store) -> Result<Vec<Token>> {
    let rows = store.scan_records(TABLE, &[], None, MAX_TOKENS as usize, false)?;
    Ok(rows.iter().filter_map(|(_, v)| decode(v)).collect())
}

/// Creates a token; returns it and its text, which is shown this once and stored
/// nowhere. Names are unique, so that `revoke NAME` means one token.
pub fn create(
    store: &Store,
    name: &str,
    role: Role,
    expires_unix_ms: Option<i64>,
    created_by: &str,
) -> Result<(Token, String)> {
    check_name("token name", name)?;
    let now = crate::unix_ms_now();
    if let Some(e) = expires_unix_ms {
        if e <= now || !crate::time::in_range(e) {
            return Err(AuthError::Invalid(
                "the expiry must be in the future".into(),
            ));
        }
    }
    let existing = list(store)?;
    if existing.iter().any(|t| t.name == name) {
        return Err(AuthError::Exists(format!(
            "a token named {name:?} exists already"
        )));
    }
    if existing.len() as u64 >= MAX_TOKENS {
        return Err(AuthError::Full(format!(
            "there are {MAX_TOKENS} tokens already; revoke some first"
        )));
    }
    let id: String = secret::random_bytes::<8>()?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let secret_text = secret::random_text()?;
    let token = Token {
        id: id.clone(),
        name: name.to_string(),
        role,
        secret_sha256: secret::digest(&secret_text),
        created_unix_ms: now,
        expires_unix_ms,
        last_used_unix_ms: None,
        created_by: created_by.to_string(),
    };
    put(store, &token)?;
    Ok((token, format!("{PREFIX}{id}_{secret_text}")))
}

/// Revokes the token with this name or id.
pub fn revoke(store: &Store, name_or_id: &str) -> Result<Token> {
    let token = list(store)?
        .into_iter()
        .find(|t| t.name == name_or_id || t.id == name_or_id)
        .ok_or_else(|| AuthError::NotFound(format!("no token is named {name_or_id:?}")))?;
    store.write_records(&[(TABLE, token.id.as_bytes(), None)])?;
    Ok(token)
}

/// The token `text` is, if it is a valid, unexpired one; records its use (at most
/// once per [`LAST_USED_RESOLUTION_MS`]).
pub fn authenticate(store: &Store, text: &str, now_ms: i64) -> Result<Option<Token>> {
    let Some((id, secret_text)) = text
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('_'))
    else {
        return Ok(None);
    };
    if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let Some(bytes) = store.read_record(TABLE, id.as_bytes())? else {
        return Ok(None);
    };
    let Some(mut token) = decode(&bytes) else {
        return Ok(None);
    };
    if !secret::same(&token.secret_sha256, &secret::digest(secret_text)) || token.expired(now_ms) {
        return Ok(None);
    }
    let stale = token
        .last_used_unix_ms
        .is_none_or(|t| now_ms.saturating_sub(t) >= LAST_USED_RESOLUTION_MS);
    if stale {
        token.last_used_unix_ms = Some(now_ms);
        put(store, &token)?;
    }
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Retention;

    #[test]
    fn a_token_works_until_it_expires_or_is_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb"), Retention::default()).unwrap();
        let now = crate::unix_ms_now();
        let (t, text) = create(&store, "ci", Role::Operator, Some(now + 60_000), "root").unwrap();
        assert!(text.starts_with("emt_") && text.len() > 60, "{text}");
        assert!(!t.public().to_string().contains(&text[21..]));
        assert!(matches!(
            create(&store, "ci", Role::Viewer, None, "root"),
            Err(AuthError::Exists(_))
        ));
        let got = authenticate(&store, &text, now).unwrap().unwrap();
        assert_eq!(
            (got.name.as_str(), got.role, got.last_used_unix_ms),
            ("ci", Role::Operator, Some(now))
        );
        assert!(
            authenticate(&store, &text, now + 60_000).unwrap().is_none(),
            "expired"
        );
        let mut wrong = text.clone();
        wrong.pop();
        wrong.push('x');
        assert!(authenticate(&store, &wrong, now).unwrap().is_none());
        for junk in ["", "emt_", "emt_zz_x", "Bearer", &text[..20]] {
            assert!(authenticate(&store, junk, now).unwrap().is_none(), "{junk}");
        }
        revoke(&store, "ci").unwrap();
        assert!(
            authenticate(&store, &text, now).unwrap().is_none(),
            "revoked"
        );
        assert!(create(&store, "old", Role::Viewer, Some(now - 1), "root").is_err());
    }
}
