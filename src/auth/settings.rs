//! `[server.auth]`: how the dashboard and API know who is asking.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// No login: whoever reaches the port is an admin. Refused unless the monitor
    /// listens on loopback only.
    None,
    /// Users and tokens in the store.
    Local,
    /// A user (and groups) from a trusted proxy's headers; local users and tokens
    /// still work.
    Proxy,
    /// Single sign-on with an OpenID Connect provider; local users (break-glass)
    /// and tokens still work.
    Oidc,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Local => "local",
            AuthMode::Proxy => "proxy",
            AuthMode::Oidc => "oidc",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub mode: AuthMode,
    /// A session ends after this long without a request...
    #[serde(with = "crate::time::duration")]
    pub session_idle: Duration,
    /// ...and this long after its login, whatever happens.
    #[serde(with = "crate::time::duration")]
    pub session_lifetime: Duration,
    /// Failed logins in a row (per user name, and per address) before a lockout.
    pub max_failed_logins: u32,
    /// How long a lockout lasts; logins are refused without a look at the password.
    #[serde(with = "crate::time::duration")]
    pub lockout: Duration,
    pub proxy: ProxySettings,
    pub oidc: OidcSettings,
    /// Group names (the proxy's groups header, the OIDC groups claim) to roles.
    pub roles: GroupRoles,
}

/// `[server.auth.oidc]`: the provider and this monitor's registration with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The issuer URL; its `/.well-known/openid-configuration` is read.
    pub issuer: String,
    pub client_id: String,
    /// The client secret is read from an environment variable or a file, never
    /// kept in the config.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    #[serde(default)]
    pub client_secret_file: Option<std::path::PathBuf>,
    /// This monitor's callback as the provider reaches the browser back:
    /// `https://monitor.example.com/oidc/callback`.
    pub redirect_url: String,
    pub scopes: Vec<String>,
    /// The claim naming the user: `preferred_username`, `email`, `sub` or another.
    pub username_claim: String,
    /// The claim listing the user's groups (mapped by `[server.auth.roles]`).
    pub groups_claim: String,
}

impl OidcSettings {
    /// Reads the client secret from where the config says it lives.
    pub fn client_secret(&self) -> Result<String, String> {
        if let Some(var) = &self.client_secret_env {
            return std::env::var(var).map_err(|_| {
                format!(
                    "environment variable {var} (server.auth.oidc.client_secret_env) is not set"
                )
            });
        }
        if let Some(path) = &self.client_secret_file {
            return std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|e| {
                    format!(
                        "cannot read server.auth.oidc.client_secret_file {}: {e}",
                        path.display()
                    )
                });
        }
        Err("server.auth.oidc needs client_secret_env or client_secret_file".into())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySettings {
    /// Addresses (or `address/prefix` ranges) of the proxies whose headers are
    /// believed; the headers from anyone else are ignored.
    pub trusted: Vec<String>,
    /// The header naming the user.
    pub user_header: String,
    /// The header listing the user's groups (comma-separated).
    pub groups_header: String,
}

/// Which groups give which role; a user in several gets the highest.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRoles {
    pub admin: Vec<String>,
    pub operator: Vec<String>,
    pub viewer: Vec<String>,
    /// The role of a user in none of those groups; none: such a user is refused.
    pub default: Option<Role>,
}

impl GroupRoles {
    /// The highest role `groups` give, else the default.
    pub fn role_of<'a>(&self, groups: impl IntoIterator<Item = &'a str> + Clone) -> Option<Role> {
        let has = |list: &Vec<String>| {
            groups
                .clone()
                .into_iter()
                .any(|g| list.iter().any(|l| l == g))
        };
        if has(&self.admin) {
            Some(Role::Admin)
        } else if has(&self.operator) {
            Some(Role::Operator)
        } else if has(&self.viewer) {
            Some(Role::Viewer)
        } else {
            self.default
        }
    }
}

/// One entry of `proxy.trusted`: an address, or a range as `address/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRange {
    base: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for AddressRange {
    type Err = String;

    fn from_str(s: &str) -> Result<AddressRange, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let base: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or address/prefix"))?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix must be 0 to {max}"))?,
        };
        Ok(AddressRange { base, prefix })
    }
}

impl AddressRange {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.base, ip) {
            (IpAddr::V4(b), IpAddr::V4(i)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(b) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(b), IpAddr::V6(i)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(b) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    }
}

/// Bounds of the durations, checked at load.
const SESSION_IDLE: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(30 * 86_400);
const LOCKOUT: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(86_400);

impl AuthSettings {
    /// Checks what types alone cannot: `Err((field, message))`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let fail = |field: &str, message: String| Err((format!("server.auth.{field}"), message));
        if !SESSION_IDLE.contains(&self.session_idle) {
            return fail("session_idle", "must be between 1s and 30days".into());
        }
        if self.session_lifetime < self.session_idle
            || self.session_lifetime > Duration::from_secs(366 * 86_400)
        {
            return fail(
                "session_lifetime",
                "must be at least session_idle and at most 366days".into(),
            );
        }
        if !(1..=1000).contains(&self.max_failed_logins) {
            return fail("max_failed_logins", "must be between 1 and 1000".into());
        }
        if !LOCKOUT.contains(&self.lockout) {
            return fail("lockout", "must be between 1s and 1day".into());
        }
        for (i, t) in self.proxy.trusted.iter().enumerate() {
            if let Err(e) = t.parse::<AddressRange>() {
                return fail(&format!("proxy.trusted[{i}]"), e);
            }
        }
        for (field, header) in [
            ("proxy.user_header", &self.proxy.user_header),
            ("proxy.groups_header", &self.proxy.groups_header),
        ] {
            let token = !header.is_empty()
                && header
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !token {
                return fail(field, format!("{header:?} is not a header name"));
            }
        }
        if self.mode == AuthMode::Oidc {
            let o = &self.oidc;
            let url = |v: &str| v.starts_with("https://") || v.starts_with("http://");
            if !url(&o.issuer) || o.issuer.ends_with('/') {
                return fail(
                    "oidc.issuer",
                    format!(
                        "{:?} must be the provider's http(s) URL, without a trailing /",
                        o.issuer
                    ),
                );
            }
            if o.client_id.is_empty() {
                return fail(
                    "oidc.client_id",
                    "mode \"oidc\" needs the client id registered with the provider".into(),
                );
            }
            if !url(&o.redirect_url) || !o.redirect_url.ends_with("/oidc/callback") {
                return fail(
                    "oidc.redirect_url",
                    format!(
                        "{:?} must be this monitor's http(s) address ending in /oidc/callback",
                        o.redirect_url
                    ),
                );
            }
            if o.client_secret_env.is_none() && o.client_secret_file.is_none() {
                return fail(
                    "oidc.client_secret_env",
                    "give client_secret_env or client_secret_file".into(),
                );
            }
            if !o.scopes.iter().any(|s| s == "openid") {
                return fail("oidc.scopes", "must include \"openid\"".into());
            }
        }
        if self.mode == AuthMode::Proxy && self.proxy.trusted.is_empty() {
            return fail(
                "proxy.trusted",
                "mode \"proxy\" needs the addresses of the proxies whose headers are believed"
                    .into(),
            );
        }
        Ok(())
    }

    pub fn trusted_proxies(&self) -> Vec<AddressRange> {
        self.proxy
            .trusted
            .iter()
            .filter_map(|t| t.parse().ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r: AddressRange = "10.1.0.0/16".parse().unwrap();
        assert!(r.contains("10.1.200.3".parse().unwrap()));
        assert!(!r.contains("10.2.0.1".parse().unwrap()));
        assert!(r.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one: AddressRange = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6: AddressRange = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        let all: AddressRange = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        for bad in ["x", "10.0.0.0/33", "::/129", "10.0.0.0/"] {
            assert!(bad.parse::<AddressRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn groups_give_the_highest_role() {
        let roles = GroupRoles {
            admin: vec!["root".into()],
            operator: vec!["sre".into()],
            viewer: vec!["dev".into()],
            default: None,
        };
        assert_eq!(roles.role_of(["dev", "sre"]), Some(Role::Operator));
        assert_eq!(roles.role_of(["other"]), None);
        let with_default = GroupRoles {
            default: Some(Role::Viewer),
            ..roles
        };
        assert_eq!(with_default.role_of([]), Some(Role::Viewer));
    }
}
