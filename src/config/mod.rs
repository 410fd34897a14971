//! Settings: types, the one source of defaults (`default.toml`, compiled in),
//! layered loading (defaults -> file -> environment -> flags) and validation.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The commented default configuration file; `etcd-monitor config default` prints it.
pub use crate::collect::settings::CollectSettings;
pub use crate::etcd::settings::{
    normalize_endpoint, split_endpoints, AuthConfig, ClusterConfig, TlsConfig,
};

pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// Prefix of environment overrides: `ETCD_MONITOR__SECTION__KEY`.
pub const ENV_PREFIX: &str = "ETCD_MONITOR";

/// Endpoint used when neither a config file nor `ETCDCTL_ENDPOINTS` names one.
pub const FALLBACK_ENDPOINT: &str = "http://127.0.0.1:2379";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config")]
    Load(#[from] config::ConfigError),
    #[error("invalid config: {field}: {message}")]
    Invalid { field: String, message: String },
    /// `--cluster` names no configured cluster, or is needed and missing.
    #[error("{0}")]
    Cluster(String),
}

pub type Result<T> = std::result::Result<T, ConfigError>;

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub store: StoreSettings,
    pub collect: CollectSettings,
    #[serde(default)]
    pub clusters: Vec<ClusterConfig>,
    /// `[alerting]`: built-in rule changes and user rules.
    #[serde(default)]
    pub alerting: crate::alert::AlertingSettings,
    /// `[bench]`: regression threshold and scheduled benchmarks.
    #[serde(default)]
    pub bench: crate::bench::schedule::BenchSettings,
    /// `[[remote_write]]`: receivers the stored samples are also sent to.
    #[serde(default)]
    pub remote_write: Vec<crate::remote_write::RemoteWriteConfig>,
    /// `[kubernetes]`: the operator mode (EtcdCluster and EtcdInspection resources).
    #[serde(default)]
    pub kubernetes: crate::k8s::KubernetesSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// Connections served at once; further ones wait in the kernel's backlog until
    /// one ends (lowered to half the open-file limit if that is smaller).
    pub max_connections: usize,
    /// A request's headers, and then its body, must each arrive within it.
    #[serde(with = "crate::time::duration")]
    pub request_timeout: Duration,
    /// An idle keep-alive connection is closed after it (zero: one request per connection).
    #[serde(with = "crate::time::duration")]
    pub keep_alive: Duration,
    /// Host names (besides IP addresses, `localhost` and, on a wildcard address, the
    /// machine's name) that requests may name in `Host`; `"*"` accepts any. A name
    /// starting with `.` accepts its subdomains.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// `[server.auth]`: who may use the dashboard and API.
    pub auth: crate::auth::AuthSettings,
    /// `[server.tls]`: HTTPS when a certificate and key are given.
    #[serde(default)]
    pub tls: ServerTls,
}

/// `[server.tls]`: the dashboard's and API's certificate chain and key (PEM).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// A plain-HTTP address whose every request is redirected (308) to HTTPS.
    pub redirect_http: Option<SocketAddr>,
}

impl ServerTls {
    /// The two files, when HTTPS is on.
    pub fn files(&self) -> Option<(&Path, &Path)> {
        Some((self.cert_file.as_deref()?, self.key_file.as_deref()?))
    }
}

/// The configuration reference (docs/configuration.md): the commented default
/// configuration, section by section, so that the reference cannot say other
/// than what the program does (a test compares the file with this).
pub fn reference_markdown() -> String {
    // The file's paragraphs (blank-line separated) go under the top-level table
    // of the first table header in them, commented out or not ("# [[clusters]]"
    // is an example of [[clusters]]); paragraphs without one go under the table
    // before them, and those before any table are the introduction.
    let mut intro: Vec<&str> = Vec::new();
    let mut sections: Vec<(String, Vec<&str>)> = Vec::new();
    for paragraph in DEFAULT_CONFIG.split("\n\n") {
        let table = paragraph.lines().find_map(|line| {
            let header = line.trim_start_matches('#').trim_start();
            let name = header.strip_prefix('[')?.trim_start_matches('[');
            let name = &name[..name.find(']')?];
            let top = name.split('.').next().unwrap_or(name);
            Some(if header.starts_with("[[") && !name.contains('.') {
                format!("[[{top}]]")
            } else {
                format!("[{top}]")
            })
        });
        match (table, sections.last_mut()) {
            (Some(t), Some((last, body))) if *last == t => body.push(paragraph),
            (Some(t), _) => sections.push((t, vec![paragraph])),
            (None, Some((_, body))) => body.push(paragraph),
            (None, None) => intro.push(paragraph),
        }
    }
    let mut out = String::from(
        "# Configuration reference\n\n\
         <!-- Made by `etcd-monitor config reference` from src/config/default.toml; \
         a test fails when the two differ. -->\n\n\
         `etcd-monitor config default` prints the whole file; `etcd-monitor config check -c FILE` \
         loads one and names the field of any error. Settings that are commented out \
         (`# key = ...`) are examples: they have no default.\n\n```toml\n",
    );
    out.push_str(intro.join("\n\n").trim());
    out.push_str("\n```\n\nSections: ");
    let names: Vec<String> = sections.iter().map(|(n, _)| format!("`{n}`")).collect();
    out.push_str(&names.join(", "));
    out.push_str(".\n");
    for (name, body) in &sections {
        out.push_str(&format!("\n## `{name}`\n\n```toml\n"));
        out.push_str(body.join("\n\n").trim());
        out.push_str("\n```\n");
    }
    out
}

/// `server.auth.mode = "none"` only where nobody but this machine can connect.
pub fn check_auth_covers(mode: crate::auth::AuthMode, listen: SocketAddr) -> Result<()> {
    if mode == crate::auth::AuthMode::None && !listen.ip().is_loopback() {
        return Err(invalid(
            "server.auth.mode",
            format!(
                "\"none\" lets anyone who reaches {listen} read and change everything; it is allowed only on a loopback address (127.0.0.1, ::1). Set server.auth.mode to \"local\", \"proxy\" or \"oidc\", or listen on loopback"
            ),
        ));
    }
    Ok(())
}

/// Bounds of `server.max_connections`.
pub const MAX_CONNECTIONS_RANGE: std::ops::RangeInclusive<usize> = 1..=65_536;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    pub data_dir: PathBuf,
    #[serde(with = "crate::time::duration")]
    pub raw_retention: Duration,
    #[serde(with = "crate::time::duration")]
    pub minute_retention: Duration,
    #[serde(with = "crate::time::duration")]
    pub hour_retention: Duration,
    #[serde(with = "crate::time::duration")]
    pub audit_retention: Duration,
    /// How long the clusters' timelines keep their events.
    #[serde(with = "crate::time::duration")]
    pub events_retention: Duration,
    #[serde(with = "crate::time::duration")]
    pub checkpoint_interval: Duration,
    #[serde(with = "crate::time::duration")]
    pub maintenance_interval: Duration,
    /// The open blocks' streams in memory, in all (see `Store::set_head_bytes`).
    #[serde(with = "crate::byte_size")]
    pub head_bytes: u64,
    /// Which scraped series are stored: `"used"` or `"all"`.
    pub series: crate::collect::keep::SeriesSelection,
    /// Rules applied after `series`, in order.
    #[serde(default)]
    pub metric_relabel: Vec<crate::collect::keep::RelabelRule>,
}

impl ServerSettings {
    fn validate(&self) -> Result<()> {
        self.auth
            .validate()
            .map_err(|(field, message)| invalid(field, message))?;
        check_auth_covers(self.auth.mode, self.listen)?;
        match (&self.tls.cert_file, &self.tls.key_file) {
            (Some(_), None) => {
                return Err(invalid(
                    "server.tls.key_file",
                    "cert_file is given: give its key too",
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "server.tls.cert_file",
                    "key_file is given: give its certificate too",
                ))
            }
            _ => {}
        }
        if let Some(redirect) = self.tls.redirect_http {
            if self.tls.cert_file.is_none() {
                return Err(invalid(
                    "server.tls.redirect_http",
                    "redirects to HTTPS, which needs cert_file and key_file",
                ));
            }
            if redirect == self.listen {
                return Err(invalid(
                    "server.tls.redirect_http",
                    format!("{redirect} is server.listen itself; give another port (80)"),
                ));
            }
        }
        for (field, path) in [
            ("server.tls.cert_file", &self.tls.cert_file),
            ("server.tls.key_file", &self.tls.key_file),
        ] {
            if let Some(p) = path {
                if let Err(e) = std::fs::metadata(p) {
                    return Err(invalid(field, format!("{}: {e}", p.display())));
                }
            }
        }
        if !MAX_CONNECTIONS_RANGE.contains(&self.max_connections) {
            return Err(invalid(
                "server.max_connections",
                format!(
                    "must be between {} and {}",
                    MAX_CONNECTIONS_RANGE.start(),
                    MAX_CONNECTIONS_RANGE.end()
                ),
            ));
        }
        if self.request_timeout < Duration::from_millis(100)
            || self.request_timeout > Duration::from_secs(3600)
        {
            return Err(invalid(
                "server.request_timeout",
                "must be between 100ms and 1h",
            ));
        }
        if self.keep_alive > Duration::from_secs(3600) {
            return Err(invalid("server.keep_alive", "must be at most 1h"));
        }
        for (i, host) in self.allowed_hosts.iter().enumerate() {
            let name = host.strip_prefix('.').unwrap_or(host);
            let valid = host == "*"
                || (!name.is_empty()
                    && name.len() <= 253
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
            if !valid {
                return Err(invalid(
                    format!("server.allowed_hosts[{i}]"),
                    format!(
                        "{host:?} must be \"*\" or a host name (letters, digits, '-', '_', '.'; no scheme, port or path)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl StoreSettings {
    pub fn retention(&self) -> crate::store::Retention {
        crate::store::Retention {
            raw: self.raw_retention,
            minute: self.minute_retention,
            hour: self.hour_retention,
        }
    }
}

/// Values given on the command line; each one set overrides file and environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub interval_secs: Option<u64>,
    /// One-cluster case: `--endpoints` (and `--name`) replace the configured clusters.
    pub endpoints: Option<Vec<String>>,
    pub cluster_name: Option<String>,
}

impl Settings {
    /// Loads defaults, then `file` (if any), then the environment, then `overrides`,
    /// and validates the result.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Settings> {
        Self::load_with_env(file, overrides, |name| std::env::var(name).ok())
    }

    /// As [`Settings::load`], with the lookups of `ETCDCTL_ENDPOINTS` and
    /// `ETCD_MONITOR__SERVER__ALLOWED_HOSTS` injectable for tests.
    pub fn load_with_env(
        file: Option<&Path>,
        overrides: &Overrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_CONFIG,
            config::FileFormat::Toml,
        ));
        if let Some(path) = file {
            if !path.exists() {
                return Err(invalid(
                    "--config",
                    format!("file {} does not exist", path.display()),
                ));
            }
            builder = builder.add_source(
                config::File::from(path)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        Self::finish(builder, overrides, env)
    }

    /// Loads defaults and then `text` as the config file, nothing else: what the
    /// config loader's fuzz target feeds.
    #[doc(hidden)]
    pub fn from_toml(text: &str) -> Result<Settings> {
        let builder = config::Config::builder()
            .add_source(config::File::from_str(
                DEFAULT_CONFIG,
                config::FileFormat::Toml,
            ))
            .add_source(config::File::from_str(text, config::FileFormat::Toml));
        Self::finish(builder, &Overrides::default(), |_| None)
    }

    /// Adds the environment and `overrides` to `builder`, then deserializes and
    /// validates.
    fn finish(
        mut builder: config::ConfigBuilder<config::builder::DefaultState>,
        overrides: &Overrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings> {
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__"),
        );
        // A list a deployment sets from its environment, comma-separated. (The
        // source's own list parsing comes only with `try_parsing`, which would also
        // turn a name like "1e3" into the number 1000.)
        let hosts_var = format!("{ENV_PREFIX}__SERVER__ALLOWED_HOSTS");
        if let Some(hosts) = env(&hosts_var) {
            let hosts: Vec<String> = hosts
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_string)
                .collect();
            builder = builder.set_override("server.allowed_hosts", hosts)?;
        }
        if let Some(listen) = &overrides.listen {
            builder = builder.set_override("server.listen", listen.as_str())?;
        }
        if let Some(dir) = &overrides.data_dir {
            builder = builder.set_override("store.data_dir", dir.to_string_lossy().as_ref())?;
        }
        if let Some(secs) = overrides.interval_secs {
            builder = builder.set_override("collect.interval", format!("{secs}s"))?;
        }
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        // A probe must end before the next one starts.
        settings.collect.request_timeout = settings
            .collect
            .request_timeout
            .min(settings.collect.interval);

        if let Some(endpoints) = &overrides.endpoints {
            settings.clusters = vec![ClusterConfig::plain(
                overrides.cluster_name.as_deref().unwrap_or("default"),
                endpoints.clone(),
            )];
        } else if let Some(name) = &overrides.cluster_name {
            match settings.clusters.as_mut_slice() {
                [] => {}
                [only] => only.name = name.clone(),
                _ => return Err(invalid(
                    "--name",
                    "only applies when one cluster is monitored; name clusters in the config file",
                )),
            }
        }
        // In operator mode the clusters may all come from EtcdCluster resources.
        if settings.clusters.is_empty() && !settings.kubernetes.enabled {
            let endpoints = env("ETCDCTL_ENDPOINTS")
                .filter(|v| !v.trim().is_empty())
                .map(|v| split_endpoints(&v))
                .unwrap_or_else(|| vec![FALLBACK_ENDPOINT.to_string()]);
            let name = overrides.cluster_name.as_deref().unwrap_or("default");
            settings.clusters = vec![ClusterConfig::plain(name, endpoints)];
        }
        for cluster in &mut settings.clusters {
            cluster.endpoints = cluster
                .endpoints
                .iter()
                .map(|e| normalize_endpoint(e))
                .collect();
        }
        settings.validate()?;
        Ok(settings)
    }

    /// The cluster named `name`, or with no name the only one: the one look-up of
    /// every command that takes `--cluster`.
    pub fn cluster(&self, name: Option<&str>) -> Result<&ClusterConfig> {
        let names = || {
            let names: Vec<&str> = self.clusters.iter().map(|c| c.name.as_str()).collect();
            names.join(", ")
        };
        match name {
            Some(name) => self
                .clusters
                .iter()
                .find(|c| c.name == name)
                .ok_or_else(|| {
                    ConfigError::Cluster(format!(
                        "no cluster named {name:?} in the config (clusters: {})",
                        names()
                    ))
                }),
            None => match self.clusters.as_slice() {
                [one] => Ok(one),
                many => Err(ConfigError::Cluster(format!(
                    "the config has {} clusters: pick one with --cluster NAME ({})",
                    many.len(),
                    names()
                ))),
            },
        }
    }

    /// Which scraped series are stored: `store.series` (with the metrics user alert
    /// rules read, when it is "used") and `store.metric_relabel`.
    pub fn series_filter(&self) -> Result<crate::collect::SeriesFilter> {
        let rule_metrics = self
            .alerting
            .rules
            .iter()
            .filter_map(|r| r.metric.as_deref())
            .map(|m| m.split('{').next().unwrap_or(m).trim());
        crate::collect::SeriesFilter::new(
            self.store.series,
            rule_metrics,
            &self.store.metric_relabel,
        )
        .map_err(|e| invalid(e.field, e.message))
    }

    /// Checks what types alone cannot; every message names the field.
    pub fn validate(&self) -> Result<()> {
        self.server.validate()?;
        let c = &self.collect;
        if c.interval < Duration::from_millis(100) {
            return Err(invalid("collect.interval", "must be at least 100ms"));
        }
        if c.request_timeout.is_zero() {
            return Err(invalid("collect.request_timeout", "must be greater than 0"));
        }
        if c.dial_timeout.is_zero() {
            return Err(invalid("collect.dial_timeout", "must be greater than 0"));
        }
        let st = &self.store;
        for (field, value, min) in [
            (
                "store.raw_retention",
                st.raw_retention,
                Duration::from_secs(3600),
            ),
            (
                "store.minute_retention",
                st.minute_retention,
                Duration::from_secs(86_400),
            ),
            (
                "store.hour_retention",
                st.hour_retention,
                Duration::from_secs(7 * 86_400),
            ),
            (
                "store.audit_retention",
                st.audit_retention,
                Duration::from_secs(86_400),
            ),
            (
                "store.events_retention",
                st.events_retention,
                Duration::from_secs(86_400),
            ),
            (
                "store.checkpoint_interval",
                st.checkpoint_interval,
                Duration::from_secs(1),
            ),
            (
                "store.maintenance_interval",
                st.maintenance_interval,
                Duration::from_secs(60),
            ),
        ] {
            if value < min {
                return Err(invalid(
                    field,
                    format!("must be at least {}", crate::time::duration::format(min)),
                ));
            }
        }
        if st.minute_retention < st.raw_retention || st.hour_retention < st.minute_retention {
            return Err(invalid(
                "store.minute_retention",
                "retentions must not shrink from raw to 1m to 1h",
            ));
        }
        if self.store.data_dir.as_os_str().is_empty() {
            return Err(invalid("store.data_dir", "must not be empty"));
        }
        if st.head_bytes < 1 << 20 {
            return Err(invalid("store.head_bytes", "must be at least 1MiB"));
        }
        self.series_filter()?;
        let mut names = HashSet::new();
        for (i, cluster) in self.clusters.iter().enumerate() {
            let at = format!("clusters[{i}]");
            validate_cluster(&at, cluster)?;
            if !names.insert(cluster.name.as_str()) {
                return Err(invalid(
                    format!("{at}.name"),
                    format!("{:?} is used by more than one cluster", cluster.name),
                ));
            }
        }
        self.bench
            .validate(&self.clusters)
            .map_err(|(field, message)| invalid(field, message))?;
        self.alerting
            .validate()
            .map_err(|e| match e.rule.as_str() {
                // Receivers, routes and limits are not rules.
                "" => invalid(e.field, e.message),
                rule => invalid(e.field, format!("rule {rule:?}: {}", e.message)),
            })?;
        for (i, receiver) in self.alerting.receivers.iter().enumerate() {
            for (key, path) in receiver.files() {
                check_file(&format!("alerting.receivers[{i}].{key}"), path)?;
            }
        }
        crate::remote_write::validate_all(&self.remote_write).map_err(|e| match e {
            crate::remote_write::RemoteWriteError::Config {
                target,
                field,
                message,
            } => {
                let i = self
                    .remote_write
                    .iter()
                    .position(|t| t.name == target)
                    .unwrap_or(0);
                invalid(
                    format!("remote_write[{i}].{field}"),
                    format!("{target}: {message}"),
                )
            }
            other => invalid("remote_write", other.to_string()),
        })?;
        self.kubernetes
            .validate()
            .map_err(|(field, message)| invalid(field, message))?;
        if let Some(path) = &self.kubernetes.kubeconfig {
            if self.kubernetes.enabled {
                check_file("kubernetes.kubeconfig", path)?;
            }
        }
        Ok(())
    }
}

/// A file the config names (a certificate, a password) must be there to be read when
/// it is needed: found at load (`config check`, `serve` start), not at the first probe
/// or notification. Only opened, never read (a secret stays where it is).
fn check_file(field: &str, path: &Path) -> Result<()> {
    let bad = |what: String| Err(invalid(field, format!("{} {what}", path.display())));
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bad("does not exist".into()),
        Err(e) => bad(format!("cannot be read: {e}")),
        Ok(m) if !m.is_file() => bad("is not a file".into()),
        Ok(_) => match std::fs::File::open(path) {
            Ok(_) => Ok(()),
            Err(e) => bad(format!("cannot be read: {e}")),
        },
    }
}

fn check_url(url: &str) -> std::result::Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{url:?} must start with http:// or https://"))?;
    let host_port = rest.split('/').next().unwrap_or("");
    if host_port.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok(())
}

/// Checks one cluster's settings; errors name the field under `at`
/// (`clusters[2]`, or `cluster` for one given to the registry).
pub fn validate_cluster(at: &str, cluster: &ClusterConfig) -> Result<()> {
    if !crate::text::is_plain_name(&cluster.name) {
        return Err(invalid(
                format!("{at}.name"),
                format!(
                    "{:?} must be non-empty and use only letters, digits, '-', '_' and '.' (it appears in URLs)",
                    cluster.name
                ),
            ));
    }
    if cluster.endpoints.is_empty() {
        return Err(invalid(
            format!("{at}.endpoints"),
            "must list at least one endpoint",
        ));
    }
    for (j, e) in cluster.endpoints.iter().enumerate() {
        check_url(e).map_err(|m| invalid(format!("{at}.endpoints[{j}]"), m))?;
    }
    for (j, e) in cluster.metrics_urls.iter().enumerate() {
        check_url(e).map_err(|m| invalid(format!("{at}.metrics_urls[{j}]"), m))?;
    }
    if let Some(i) = cluster.interval {
        if !(Duration::from_millis(100)..=Duration::from_secs(86_400)).contains(&i) {
            return Err(invalid(
                format!("{at}.interval"),
                "must be between 100ms and 1d",
            ));
        }
    }
    if let Some(t) = cluster.request_timeout {
        if !(Duration::from_millis(10)..=Duration::from_secs(3600)).contains(&t) {
            return Err(invalid(
                format!("{at}.request_timeout"),
                "must be between 10ms and 1h",
            ));
        }
    }
    if let Some(tls) = &cluster.tls {
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            return Err(invalid(
                format!("{at}.tls"),
                "cert_file and key_file must be given together",
            ));
        }
        for (key, path) in [
            ("ca_file", &tls.ca_file),
            ("cert_file", &tls.cert_file),
            ("key_file", &tls.key_file),
        ] {
            if let Some(path) = path {
                check_file(&format!("{at}.tls.{key}"), path)?;
            }
        }
    }
    if let Some(auth) = &cluster.auth {
        if auth.user.is_empty() {
            return Err(invalid(format!("{at}.auth.user"), "must not be empty"));
        }
        if auth.password_env.is_some() == auth.password_file.is_some() {
            return Err(invalid(
                format!("{at}.auth"),
                "set exactly one of password_env and password_file",
            ));
        }
        if let Some(path) = &auth.password_file {
            check_file(&format!("{at}.auth.password_file"), path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_monitor_local_etcd() {
        let s = Settings::load_with_env(None, &Overrides::default(), no_env).unwrap();
        assert_eq!(s.server.listen.to_string(), "127.0.0.1:9393");
        assert_eq!(s.collect.interval, Duration::from_secs(15));
        assert_eq!(s.clusters.len(), 1);
        assert_eq!(s.clusters[0].name, "default");
        assert_eq!(s.clusters[0].endpoints, vec![FALLBACK_ENDPOINT]);
    }

    #[test]
    fn etcdctl_endpoints_are_used_without_config() {
        let env =
            |n: &str| (n == "ETCDCTL_ENDPOINTS").then(|| "10.1.1.1:2379,10.1.1.2:2379".into());
        let s = Settings::load_with_env(None, &Overrides::default(), env).unwrap();
        assert_eq!(
            s.clusters[0].endpoints,
            vec!["http://10.1.1.1:2379", "http://10.1.1.2:2379"]
        );
    }

    #[test]
    fn flags_override_file() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            f,
            "[collect]\ninterval = \"30s\"\n[[clusters]]\nname = \"a\"\nendpoints = [\"http://127.0.0.1:1\"]\ntags = [\"prod\"]\n[[clusters]]\nname = \"b\"\nendpoints = [\"127.0.0.1:2\"]"
        )
        .unwrap();
        let s = Settings::load_with_env(Some(f.path()), &Overrides::default(), no_env).unwrap();
        assert_eq!(s.collect.interval, Duration::from_secs(30));
        assert_eq!(s.clusters.len(), 2);
        assert_eq!(s.clusters[0].tags, vec!["prod"]);
        assert_eq!(s.clusters[1].endpoints, vec!["http://127.0.0.1:2"]);

        let o = Overrides {
            interval_secs: Some(2),
            listen: Some("127.0.0.1:0".into()),
            endpoints: Some(vec!["http://127.0.0.1:3".into()]),
            cluster_name: Some("solo".into()),
            ..Default::default()
        };
        let s = Settings::load_with_env(Some(f.path()), &o, no_env).unwrap();
        assert_eq!(s.collect.interval, Duration::from_secs(2));
        // The 5s default deadline is capped at the 2s interval.
        assert_eq!(s.collect.request_timeout, Duration::from_secs(2));
        assert_eq!(s.server.listen.port(), 0);
        assert_eq!(s.clusters.len(), 1);
        assert_eq!(s.clusters[0].name, "solo");
    }

    fn load_err(toml: &str) -> String {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(toml.as_bytes()).unwrap();
        let e = Settings::load_with_env(Some(f.path()), &Overrides::default(), no_env).unwrap_err();
        // As `main` prints it: the error and its causes.
        crate::etcd::error_chain(&e)
    }

    #[test]
    fn a_cluster_is_found_by_name_or_as_the_only_one() {
        let mut s = Settings::load_with_env(None, &Overrides::default(), no_env).unwrap();
        s.clusters = vec![ClusterConfig::plain("a", vec![FALLBACK_ENDPOINT.into()])];
        assert_eq!(s.cluster(None).unwrap().name, "a");
        assert_eq!(s.cluster(Some("a")).unwrap().name, "a");
        s.clusters
            .push(ClusterConfig::plain("b", vec![FALLBACK_ENDPOINT.into()]));
        assert_eq!(s.cluster(Some("b")).unwrap().name, "b");
        assert_eq!(
            s.cluster(None).unwrap_err().to_string(),
            "the config has 2 clusters: pick one with --cluster NAME (a, b)"
        );
        assert_eq!(
            s.cluster(Some("c")).unwrap_err().to_string(),
            "no cluster named \"c\" in the config (clusters: a, b)"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let e = load_err("[collect]\ninterval = \"soon\"\n");
        assert!(e.contains("collect.interval"), "{e}");
        let e = load_err("[server]\nlisten = \"nowhere\"\n");
        assert!(e.contains("server.listen"), "{e}");
        for (toml, field) in [
            ("[server]\nmax_connections = 0\n", "server.max_connections"),
            (
                "[server]\nmax_connections = 100000\n",
                "server.max_connections",
            ),
            (
                "[server]\nrequest_timeout = \"0s\"\n",
                "server.request_timeout",
            ),
            ("[server]\nkeep_alive = \"2h\"\n", "server.keep_alive"),
            (
                "[server]\nallowed_hosts = [\"ok.example\", \"http://x\"]\n",
                "server.allowed_hosts[1]",
            ),
            (
                "[server]\nallowed_hosts = [\"\"]\n",
                "server.allowed_hosts[0]",
            ),
            (
                "[server.tls]\nredirect_http = \"127.0.0.1:8080\"\n",
                "server.tls.redirect_http",
            ),
            (
                "[server.tls]\nkey_file = \"/etc/hostname\"\n",
                "server.tls.cert_file",
            ),
        ] {
            let e = load_err(toml);
            assert!(e.contains(field), "{toml}: {e}");
        }
        for (toml, field) in [
            (
                "[[store.metric_relabel]]\naction = \"keep\"\nregex = \"(go\"\n",
                "store.metric_relabel[0].regex",
            ),
            (
                "[[store.metric_relabel]]\naction = \"drop\"\nsource_labels = [\"a-b\"]\nregex = \"x\"\n",
                "store.metric_relabel[0].source_labels[0]",
            ),
            ("[store]\nseries = \"some\"\n", "series"),
            (
                "[[store.metric_relabel]]\naction = \"replace\"\nregex = \"x\"\n",
                "action",
            ),
        ] {
            let e = load_err(toml);
            assert!(e.contains(field), "{toml}: {e}");
        }
        let e = load_err("[collect]\nintervall = \"1s\"\n");
        assert!(e.contains("intervall"), "{e}");
        let e = load_err("[[clusters]]\nname = \"a b\"\nendpoints = [\"http://x:1\"]\n");
        assert!(e.contains("clusters[0].name"), "{e}");
        let e = load_err("[[clusters]]\nname = \"a\"\nendpoints = [\"ftp://x:1\"]\n");
        assert!(e.contains("clusters[0].endpoints[0]"), "{e}");
        let e = load_err(
            "[[clusters]]\nname = \"a\"\nendpoints = [\"http://x:1\"]\n[[clusters]]\nname = \"a\"\nendpoints = [\"http://x:1\"]\n",
        );
        assert!(e.contains("clusters[1].name"), "{e}");
        let e = load_err("[collect]\nrequest_timeout = \"0s\"\n");
        assert!(e.contains("collect.request_timeout"), "{e}");
        let e = load_err(
            "[[clusters]]\nname = \"a\"\nendpoints = [\"http://x:1\"]\n[clusters.auth]\nuser = \"u\"\n",
        );
        assert!(e.contains("clusters[0].auth"), "{e}");
    }

    #[test]
    fn the_stored_series_include_what_user_rules_read() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(
            b"[[alerting.rules]]\nname = \"Goroutines\"\nmetric = \"go_goroutines{job=\\\"x\\\"}\"\nop = \">\"\nthreshold = 1000\n",
        )
        .unwrap();
        let s = Settings::load_with_env(Some(f.path()), &Overrides::default(), no_env).unwrap();
        let filter = s.series_filter().unwrap();
        let scrape = crate::promtext::parse("go_goroutines 7\ngo_threads 9\n").unwrap();
        let kept: Vec<_> = scrape
            .samples()
            .filter(|x| filter.keeps(x))
            .map(|x| x.name())
            .collect();
        assert_eq!(kept, ["go_goroutines"]);
    }

    #[test]
    fn alerting_rules_load_and_bad_ones_are_named() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            f,
            "[alerting.builtin.etcdHighFsyncDurations]\nthreshold = 0.3\nfor = \"5m\"\n[[alerting.rules]]\nname = \"BigDb\"\nindicator = \"db_size_bytes\"\nop = \">=\"\nthreshold = 1000000000\nkeep_firing_for = \"1m\"\nlabels = {{ teamName = \"db\" }}"
        )
        .unwrap();
        let s = Settings::load_with_env(Some(f.path()), &Overrides::default(), no_env).unwrap();
        // Keys keep their case through the config layers (rule keys are camelCase).
        assert_eq!(
            s.alerting.builtin["etcdHighFsyncDurations"].threshold,
            Some(0.3)
        );
        assert_eq!(s.alerting.rules[0].labels["teamName"], "db");
        let rules = s.alerting.rules().unwrap();
        let fsync = rules
            .iter()
            .find(|r| r.key == "etcdHighFsyncDurations")
            .unwrap();
        assert_eq!(fsync.for_, Duration::from_secs(300));
        let big = rules.iter().find(|r| r.key == "BigDb").unwrap();
        assert_eq!(big.threshold, 1e9);
        assert_eq!(big.keep_firing_for, Duration::from_secs(60));
        let e = load_err(
            "[[alerting.rules]]\nname = \"BigDb\"\nindicator = \"db_size\"\nop = \">\"\nthreshold = 1\n",
        );
        assert!(e.contains("alerting.rules[0].indicator"), "{e}");
        assert!(e.contains("BigDb"), "{e}");
    }

    #[test]
    fn the_commented_alerting_example_is_valid() {
        let from = DEFAULT_CONFIG
            .find("# [alerting.builtin.")
            .expect("default.toml shows an [alerting] example");
        let to = from
            + DEFAULT_CONFIG[from..]
                .find("\n# Remote write:")
                .expect("the remote write section follows alerting");
        let example: String = DEFAULT_CONFIG[from..to]
            .lines()
            .filter(|l| !l.starts_with("# #"))
            .map(|l| l.strip_prefix("# ").unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let alerting: crate::alert::AlertingSettings = toml::from_str::<toml::Table>(&example)
            .and_then(|t| t["alerting"].clone().try_into())
            .unwrap_or_else(|e| panic!("{e}\n{example}"));
        assert_eq!(alerting.rules.len(), 1);
        assert_eq!(alerting.builtin.len(), 3);
        assert_eq!(alerting.receivers.len(), 5);
        assert_eq!(alerting.routes[0].escalate_to, ["oncall-mail"]);
        assert_eq!(alerting.default_receivers, ["chat"]);
        assert_eq!(alerting.grouping.repeat_interval.as_secs(), 4 * 3600);
        alerting.validate().unwrap();
    }

    #[test]
    fn the_commented_remote_write_example_is_valid() {
        let from = DEFAULT_CONFIG
            .find("# [[remote_write]]")
            .expect("default.toml shows a [[remote_write]] example");
        let to = from + DEFAULT_CONFIG[from..].find("\n[kubernetes]").unwrap();
        let example: String = DEFAULT_CONFIG[from..to]
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, &example).unwrap();
        let s = Settings::load_with_env(Some(&path), &Overrides::default(), no_env)
            .unwrap_or_else(|e| panic!("{e}\n{example}"));
        let t = &s.remote_write[0];
        assert_eq!(t.name, "mimir");
        assert_eq!(t.queue_max_bytes, 1 << 30);
        assert_eq!(t.headers["X-Scope-OrgID"], "platform");
        assert!(t.metrics.is_empty());
        // A bad field is named with the target's place in the list.
        std::fs::write(
            &path,
            example.replace("max_samples_per_send = 2000", "max_samples_per_send = 0"),
        )
        .unwrap();
        let e = Settings::load_with_env(Some(&path), &Overrides::default(), no_env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("remote_write[0].max_samples_per_send: mimir: must be between"),
            "{e}"
        );
    }

    #[test]
    fn the_commented_schedule_example_is_valid() {
        let from = DEFAULT_CONFIG
            .find("# [[bench.schedules]]")
            .expect("default.toml shows a [[bench.schedules]] example");
        let example: String = DEFAULT_CONFIG[from..]
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let file = format!(
            "[[clusters]]\nname = \"prod-main\"\nendpoints = [\"http://127.0.0.1:2379\"]\nallow_benchmark = true\n\n{example}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, &file).unwrap();
        let s = Settings::load_with_env(Some(&path), &Overrides::default(), no_env)
            .unwrap_or_else(|e| panic!("{e}\n{file}"));
        let spec = &s.bench.schedules[0].spec;
        assert_eq!(
            (spec.clients, spec.total, spec.val_size),
            (100, Some(20000), 256)
        );
        // Without allow_benchmark the same schedule is refused, naming the field.
        std::fs::write(&path, file.replace("allow_benchmark = true", "")).unwrap();
        let e = Settings::load_with_env(Some(&path), &Overrides::default(), no_env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bench.schedules[0].cluster"), "{e}");
    }

    #[test]
    fn default_file_parses_and_lists_every_setting() {
        let s = Settings::load_with_env(None, &Overrides::default(), no_env).unwrap();
        let shown = toml_keys(&s);
        for key in shown {
            assert!(
                DEFAULT_CONFIG.contains(&format!("{key} =")),
                "{key} missing from default.toml"
            );
        }
    }

    fn toml_keys(s: &Settings) -> Vec<String> {
        let v = serde_json::to_value(s).unwrap();
        let mut keys = Vec::new();
        for section in ["server", "store", "collect"] {
            for (k, value) in v[section].as_object().unwrap() {
                // A table of its own ([server.auth]): its keys, and those of its tables.
                match value.as_object() {
                    Some(table) => {
                        for (k, value) in table {
                            match value.as_object() {
                                Some(inner) => keys.extend(inner.keys().cloned()),
                                None => keys.push(k.clone()),
                            }
                        }
                    }
                    None => keys.push(k.clone()),
                }
            }
        }
        keys
    }
}
