//! Connections to one etcd cluster: endpoints, TLS, auth and deadlines, wrapping
//! etcd-client (gRPC) and reqwest (the members' `/health` and `/metrics`).

use std::future::Future;
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

use crate::config::ClusterConfig;

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("{0}")]
    Setup(String),
    #[error("{what}: no answer within {after:?}")]
    Timeout { what: String, after: Duration },
    #[error("{what}: {message}")]
    Call { what: String, message: String },
}

pub type Result<T> = std::result::Result<T, EtcdError>;

/// Runs `fut` with a deadline; errors name what was attempted.
pub async fn with_deadline<T, E: std::error::Error + 'static>(
    what: &str,
    after: Duration,
    fut: impl Future<Output = std::result::Result<T, E>>,
) -> Result<T> {
    match tokio::time::timeout(after, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(EtcdError::Call {
            what: what.to_string(),
            message: error_chain(&e),
        }),
        Err(_) => Err(EtcdError::Timeout {
            what: what.to_string(),
            after,
        }),
    }
}

/// "transport error: tcp connect error: Connection refused": an error and its causes on one
/// line, since the outermost message alone ("transport error") does not help anyone.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    // etcd-client's gRPC errors print their cause with Debug formatting; say it plainly.
    if let Some(etcd_client::Error::GRpcStatus(status)) = e.downcast_ref::<etcd_client::Error>() {
        let mut message = status.message().to_string();
        if message.is_empty() {
            message = format!("{:?}", status.code());
        }
        let mut root: Option<&dyn std::error::Error> = None;
        let mut cause = std::error::Error::source(status);
        while let Some(c) = cause {
            root = Some(c);
            cause = c.source();
        }
        if let Some(root) = root.map(|r| r.to_string()) {
            if !message.contains(&root) {
                message = format!("{message}: {root}");
            }
        }
        return message;
    }
    let mut parts = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = c.source();
    }
    parts.join(": ")
}

/// Everything needed to open gRPC and HTTP connections to a cluster's members.
#[derive(Clone)]
pub struct Connector {
    options: ConnectOptions,
    http: reqwest::Client,
    request_timeout: Duration,
    dial_timeout: Duration,
}

impl std::fmt::Debug for Connector {
    // ConnectOptions holds the password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("request_timeout", &self.request_timeout)
            .field("dial_timeout", &self.dial_timeout)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Reads TLS files and the password now, so that a bad path fails at start.
    pub fn new(
        cluster: &ClusterConfig,
        request_timeout: Duration,
        dial_timeout: Duration,
    ) -> Result<Connector> {
        // Our own deadline (`with_deadline`) is the one meant to fire, with a message
        // that says how long we waited; etcd-client's is only a backstop behind it.
        let mut options = ConnectOptions::new()
            .with_timeout(request_timeout + Duration::from_secs(1))
            .with_connect_timeout(dial_timeout)
            .with_keep_alive(Duration::from_secs(10), request_timeout);
        let mut http = reqwest::Client::builder()
            .timeout(request_timeout)
            .connect_timeout(dial_timeout)
            // `/health` and `/metrics` of a member are asked at once, on two
            // connections: keeping only one idle meant a new connection to every
            // member at every probe.
            .pool_max_idle_per_host(2)
            .user_agent(concat!("etcd-monitor/", env!("CARGO_PKG_VERSION")));
        let read = |what: &str, path: &std::path::Path| {
            std::fs::read(path).map_err(|e| {
                EtcdError::Setup(format!(
                    "cluster {}: cannot read {what} {}: {e}",
                    cluster.name,
                    path.display()
                ))
            })
        };
        let setup = |what: &str, e: &(dyn std::error::Error + 'static)| {
            EtcdError::Setup(format!(
                "cluster {}: {what}: {}",
                cluster.name,
                error_chain(e)
            ))
        };
        if let Some(tls) = &cluster.tls {
            let mut tls_options = TlsOptions::new();
            if let Some(ca) = &tls.ca_file {
                let pem = read("tls.ca_file", ca)?;
                tls_options = tls_options.ca_certificate(Certificate::from_pem(&pem));
                let cert = reqwest::Certificate::from_pem(&pem)
                    .map_err(|e| setup("tls.ca_file is not a PEM certificate", &e))?;
                http = http.add_root_certificate(cert);
            }
            if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
                let cert_pem = read("tls.cert_file", cert)?;
                let key_pem = read("tls.key_file", key)?;
                tls_options = tls_options.identity(Identity::from_pem(&cert_pem, &key_pem));
                let mut both = cert_pem.clone();
                both.extend_from_slice(b"\n");
                both.extend_from_slice(&key_pem);
                let identity = reqwest::Identity::from_pem(&both)
                    .map_err(|e| setup("tls.cert_file/key_file are not a PEM pair", &e))?;
                http = http.identity(identity);
            }
            options = options.with_tls(tls_options);
        }
        if let Some(auth) = &cluster.auth {
            let password = auth
                .password()
                .map_err(|m| EtcdError::Setup(format!("cluster {}: {m}", cluster.name)))?;
            options = options.with_user(auth.user.clone(), password);
        }
        let http = http
            .build()
            .map_err(|e| setup("building the HTTP client", &e))?;
        Ok(Connector {
            options,
            http,
            request_timeout,
            dial_timeout,
        })
    }

    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// A gRPC client for `endpoints` (balanced across them).
    pub async fn connect(&self, endpoints: &[String]) -> Result<Client> {
        let what = format!("connecting to {}", endpoints.join(","));
        // With auth, connect() authenticates at once, so it needs both deadlines.
        with_deadline(
            &what,
            self.dial_timeout + self.request_timeout,
            Client::connect(endpoints, Some(self.options.clone())),
        )
        .await
    }

    /// GET `url` and return the body, within the request deadline.
    pub async fn http_get(&self, url: &str) -> Result<(reqwest::StatusCode, String)> {
        let what = format!("GET {url}");
        let fetch = async {
            let resp = self.http.get(url).send().await?;
            let status = resp.status();
            let body = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        };
        let (status, body) = with_deadline(&what, self.request_timeout, fetch).await?;
        // Strict UTF-8 (one vectorised pass) rather than reqwest's lossy decoding,
        // which showed up in profiles of 150 KB scrapes.
        let body = String::from_utf8(body.into()).map_err(|e| EtcdError::Call {
            what,
            message: format!("body is not UTF-8: {e}"),
        })?;
        Ok((status, body))
    }
}
