//! Who may use the dashboard and API, and as what: roles, local users (Argon2id
//! password hashes in the store), API tokens (hashed in the store), server-side
//! sessions, login throttling, and the `[server.auth]` settings. Nothing here knows
//! HTTP: the web layer reads a request's cookie, bearer token or proxy headers and
//! asks this module who that is.

pub mod oidc;
pub mod password;
pub mod secret;
pub mod sessions;
pub mod settings;
pub mod throttle;
pub mod tokens;
pub mod users;

use serde::{Deserialize, Serialize};

pub use sessions::{Session, SessionBook};
pub use settings::{AuthMode, AuthSettings};
pub use throttle::LoginThrottle;

/// What a user or token may do; each role may do all the one before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every page and read API, without key values.
    Viewer,
    /// Silences, acknowledgements, benchmark runs, key values where a cluster allows.
    Operator,
    /// Users, tokens, the audit trail.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// "a viewer", "an operator", "an admin".
    pub fn with_article(self) -> &'static str {
        match self {
            Role::Viewer => "a viewer",
            Role::Operator => "an operator",
            Role::Admin => "an admin",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                AuthError::Invalid(format!("role {s:?}: must be viewer, operator or admin"))
            })
    }
}

/// Who a request comes from, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// A user's name, `token:NAME` for an API token, or `anonymous` when auth is off.
    pub name: String,
    pub role: Role,
    pub via: Via,
}

/// How an identity was established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// `server.auth.mode = "none"`: whoever reaches the loopback listener.
    NoAuth,
    /// A login session; its CSRF token must accompany every change.
    Session { csrf: String },
    /// `Authorization: Bearer`: no cookie, so no CSRF token is needed.
    Token,
    /// A trusted proxy's headers. Forms carry the token of the `em_csrf` cookie;
    /// `fresh`: the request had none, so the answer sets this one.
    Proxy { csrf: String, fresh: bool },
}

impl Identity {
    pub fn may(&self, role: Role) -> bool {
        self.role >= role
    }

    /// The CSRF token this identity's forms carry (none needed without a cookie).
    pub fn csrf(&self) -> Option<&str> {
        match &self.via {
            Via::Session { csrf } | Via::Proxy { csrf, .. } => Some(csrf),
            Via::NoAuth | Via::Token => None,
        }
    }
}

/// Everything this module can fail with; each message is meant for the operator.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A name, password, role or expiry that is not acceptable.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Exists(String),
    /// More records than a table may hold.
    #[error("{0}")]
    Full(String),
    #[error("the auth store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("hashing a password: {0}")]
    Hash(String),
    #[error("the system's random source: {0}")]
    Random(String),
    /// The OpenID Connect provider, or what it sent back.
    #[error("single sign-on: {0}")]
    Oidc(String),
}

pub type Result<T> = std::result::Result<T, AuthError>;

/// A user or token name: 1 to 64 characters of letters, digits, `.`, `_`, `-`
/// and `@` (an email address is a common user name), not starting with `-`.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(AuthError::Invalid(format!(
            "{what} {:?}: must be 1 to 64 letters, digits, '.', '_', '-' or '@', not starting with '-'",
            name.chars().take(80).collect::<String>()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_and_parse() {
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
        assert_eq!("operator".parse::<Role>().unwrap(), Role::Operator);
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn names() {
        for ok in ["ann", "ann.lee@example.com", "ci_bot-2"] {
            check_name("user", ok).unwrap();
        }
        for bad in ["", "-rf", "a b", "ann\n", &"x".repeat(65), "é"] {
            assert!(check_name("user", bad).is_err(), "{bad:?}");
        }
    }
}
