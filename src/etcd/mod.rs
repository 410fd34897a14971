//! Connections to one etcd cluster: endpoints, TLS, auth and deadlines, wrapping
//! etcd-client (gRPC) and reqwest (the members' `/health` and `/metrics`).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::OnceCell;
use tokio::time::Instant;

pub mod settings;

pub use settings::ClusterConfig;

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
    /// The TLS settings in `options` (which does not give them back), for the
    /// channels [`Connector::connect_one`] builds.
    tls: Option<TlsOptions>,
    keep_alive: (Duration, Duration),
    http: reqwest::Client,
    request_timeout: Duration,
    dial_timeout: Duration,
    /// With a user, a dial authenticates (a request through raft) before it probes.
    auth: bool,
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

/// The HTTP client's settings for a cluster, before its TLS files.
fn http_client_builder(
    request_timeout: Duration,
    dial_timeout: Duration,
    tls: bool,
) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(request_timeout)
        .connect_timeout(dial_timeout)
        // An idle connection keeps the buffer its last `/metrics` answer
        // (about 150 KB) was read into: 100 clusters of 3 members held about
        // 50 MiB that way (`cargo bench --bench fleet`: 198 MiB RSS against 146
        // MiB at 90 s, the same CPU). Plain HTTP connects anew at each probe,
        // which costs little; TLS keeps two idle connections per member
        // (`/health` and `/metrics` may be asked at once) to spare a handshake
        // at every probe (its cost against the buffers' is not measured).
        .pool_max_idle_per_host(if tls { 2 } else { 0 })
        .user_agent(concat!("etcd-monitor/", env!("CARGO_PKG_VERSION")))
}

/// The HTTP client of every cluster without TLS that has these deadlines: one,
/// not one a cluster. Each client builds its own TLS settings and root store
/// even when it never uses them, about 26 KB (heaptrack, `cargo bench --bench
/// fleet`: 2.6 MiB at 100 clusters); it keeps no idle connection (see
/// [`http_client_builder`]), so the clusters share nothing else.
fn plain_http_client(
    request_timeout: Duration,
    dial_timeout: Duration,
) -> reqwest::Result<reqwest::Client> {
    /// Distinct deadline pairs come from the config (`[collect]`, a benchmark's
    /// own), so a few; past this many, a client is built and not kept.
    const KEPT: usize = 8;
    static CLIENTS: std::sync::Mutex<Vec<((Duration, Duration), reqwest::Client)>> =
        std::sync::Mutex::new(Vec::new());
    let key = (request_timeout, dial_timeout);
    let mut clients = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, client)) = clients.iter().find(|(k, _)| *k == key) {
        return Ok(client.clone());
    }
    let client = http_client_builder(request_timeout, dial_timeout, false)
        .tls_built_in_root_certs(false)
        .build()?;
    if clients.len() < KEPT {
        clients.push((key, client.clone()));
    }
    Ok(client)
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
        let keep_alive = (Duration::from_secs(10), request_timeout);
        let mut options = ConnectOptions::new()
            .with_timeout(request_timeout + Duration::from_secs(1))
            .with_connect_timeout(dial_timeout)
            .with_keep_alive(keep_alive.0, keep_alive.1);
        let mut tls_settings = None;
        let tls = cluster.tls.is_some()
            || cluster
                .endpoints
                .iter()
                .chain(&cluster.metrics_urls)
                .any(|u| u.starts_with("https://"));
        let mut http = http_client_builder(request_timeout, dial_timeout, tls);
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
                // The cluster's CA alone, as etcdctl's --cacert: a member's
                // `/metrics` signed by a public CA is not this cluster's.
                http = http
                    .tls_built_in_root_certs(false)
                    .add_root_certificate(cert);
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
            options = options.with_tls(tls_options.clone());
            tls_settings = Some(tls_options);
        }
        if let Some(auth) = &cluster.auth {
            let password = auth
                .password()
                .map_err(|m| EtcdError::Setup(format!("cluster {}: {m}", cluster.name)))?;
            options = options.with_user(auth.user.clone(), password);
        }
        let http = if tls {
            http.build()
        } else {
            plain_http_client(request_timeout, dial_timeout)
        }
        .map_err(|e| setup("building the HTTP client", &e))?;
        Ok(Connector {
            options,
            tls: tls_settings,
            keep_alive,
            http,
            request_timeout,
            dial_timeout,
            auth: cluster.auth.is_some(),
        })
    }

    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// How long one member's dial may take: the dial deadline, plus the request
    /// deadline when a user must authenticate first.
    fn dial_deadline(&self) -> Duration {
        if self.auth {
            self.dial_timeout + self.request_timeout
        } else {
            self.dial_timeout
        }
    }

    /// One client per endpoint ([`Members`]), dialled in parallel; answers as soon
    /// as one member answered, and fails when none did within the dial deadline.
    pub async fn members(&self, endpoints: &[String]) -> Result<Members> {
        if endpoints.is_empty() {
            return Err(EtcdError::Setup("no endpoints given".into()));
        }
        let members = Members {
            inner: Arc::new(MembersInner {
                connector: self.clone(),
                endpoints: endpoints.to_vec(),
                clients: endpoints.iter().map(|_| OnceCell::new()).collect(),
                preferred: AtomicUsize::new(0),
            }),
        };
        members.dial_any().await?;
        Ok(members)
    }

    /// A client of one member of `endpoints` that answered (see [`Members`]): for a
    /// few calls where a hung member must not fail or stall them.
    pub async fn answering_client(&self, endpoints: &[String]) -> Result<Client> {
        self.members(endpoints).await?.client().await
    }

    /// A gRPC client for `endpoints`, balanced across them by tonic, which also
    /// sends requests to a member that accepted TCP but never answers: where a
    /// hung member must not fail a call, use [`Connector::members`].
    pub async fn connect(&self, endpoints: &[String]) -> Result<Client> {
        let what = format!("connecting to {}", endpoints.join(","));
        // With auth, connect() authenticates at once, so it needs both deadlines.
        let deadline = self.dial_timeout + self.request_timeout;
        match endpoints {
            [one] => with_deadline(&what, deadline, self.connect_one(one)).await,
            _ => {
                let connect = Client::connect(endpoints, Some(self.options.clone()));
                with_deadline(&what, deadline, connect).await
            }
        }
    }

    /// A client of the member at `endpoint` on a plain tonic channel, with the
    /// same settings etcd-client's `Client::connect` gives one (scheme, TLS,
    /// deadlines, HTTP/2 keep-alive). `Client::connect` puts even one endpoint
    /// behind tonic's balancer, whose task and ready cache cost about 23 KB a
    /// member: 6.9 MiB of the heap at 100 clusters of 3 (heaptrack, `cargo bench
    /// --bench fleet`). Nothing is dialled until the first call, as there.
    async fn connect_one(&self, endpoint: &str) -> std::result::Result<Client, etcd_client::Error> {
        use tonic::transport::Endpoint;
        let bare = !endpoint.starts_with("http://") && !endpoint.starts_with("https://");
        let url = match (bare, &self.tls) {
            (false, _) => endpoint.to_string(),
            (true, Some(_)) => format!("https://{endpoint}"),
            (true, None) => format!("http://{endpoint}"),
        };
        let mut channel = Endpoint::from_shared(url.clone())?;
        if url.starts_with("https://") {
            channel = channel.tls_config(self.tls.clone().unwrap_or_default())?;
        } else if self.tls.is_some() {
            return Err(etcd_client::Error::InvalidArgs(format!(
                "{endpoint}: TLS is set for this cluster but the endpoint is http://"
            )));
        }
        let channel = channel
            .keep_alive_while_idle(true)
            .http2_keep_alive_interval(self.keep_alive.0)
            .keep_alive_timeout(self.keep_alive.1)
            .timeout(self.request_timeout + Duration::from_secs(1))
            .connect_timeout(self.dial_timeout)
            .connect_lazy();
        Client::from_channel(
            etcd_client::Channel::Tonic(channel),
            Some(self.options.clone()),
        )
        .await
    }

    /// The body of a member's `/metrics` at `url` (under the request deadline); an
    /// HTTP error status is an error naming the URL.
    pub async fn metrics(&self, url: &str) -> Result<String> {
        let (code, body) = self.http_get(url).await?;
        if !code.is_success() {
            return Err(EtcdError::Call {
                what: format!("GET {url}"),
                message: format!("HTTP {code}"),
            });
        }
        Ok(body)
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

/// The members of a cluster, one gRPC client each, used in turn.
///
/// etcdctl's balancer (gRPC-go) sends requests only over connections whose HTTP/2
/// handshake completed; tonic's balancer does not wait for the handshake, so a hung
/// member (a SIGSTOPped process, whose kernel still accepts TCP) takes requests it
/// never answers. Here a member is used once it has answered (its dial connects,
/// authenticates and asks `Status`); the member that answered last is asked first;
/// and a read goes on to the next member when one fails to reach it or does not
/// answer within [`Members::hedge_delay`], the first answer winning. Writes are never
/// repeated here: callers send them with [`Members::client`] only.
#[derive(Clone)]
pub struct Members {
    inner: Arc<MembersInner>,
}

struct MembersInner {
    connector: Connector,
    endpoints: Vec<String>,
    /// Filled by a successful dial; a failed or cancelled dial leaves it empty, so
    /// the next call that needs the member dials again.
    clients: Vec<OnceCell<Client>>,
    /// Index of the member that answered last.
    preferred: AtomicUsize,
}

impl std::fmt::Debug for Members {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Members")
            .field("endpoints", &self.inner.endpoints)
            .field("preferred", &self.inner.preferred.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A failure that says nothing against the next member: the request did not reach
/// etcd, or etcd answered Unavailable (no leader, leader changed, request timed
/// out), which etcd's own client retries on another member for reads.
fn goes_on(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        // 14 is gRPC's UNAVAILABLE (tonic is not a direct dependency); tonic gives it
        // to failed connections too.
        etcd_client::Error::GRpcStatus(s) => s.code() as i32 == 14,
        _ => false,
    }
}

impl Members {
    pub fn endpoints(&self) -> &[String] {
        &self.inner.endpoints
    }

    pub fn connector(&self) -> &Connector {
        &self.inner.connector
    }

    /// The endpoint of the member asked first.
    pub fn preferred(&self) -> &str {
        &self.inner.endpoints[self.preferred_index()]
    }

    fn preferred_index(&self) -> usize {
        self.inner.preferred.load(Ordering::Relaxed) % self.inner.endpoints.len()
    }

    /// How long a read waits for a member before asking the next one as well: a
    /// quarter of the request deadline, at most the dial deadline.
    pub fn hedge_delay(&self) -> Duration {
        let c = &self.inner.connector;
        (c.request_timeout / 4).min(c.dial_timeout)
    }

    /// The client of the member that answered last (dialled again if its client
    /// was lost), for calls that must not be repeated.
    pub async fn client(&self) -> Result<Client> {
        let i = self.preferred_index();
        match self.dial(i).await {
            Ok(c) => Ok(c),
            Err(_) => {
                let i = self.dial_any().await?;
                self.dial(i).await
            }
        }
    }

    /// Connects to member `i` and checks that it answers, once; later calls get
    /// the same client.
    async fn dial(&self, i: usize) -> Result<Client> {
        let endpoint = &self.inner.endpoints[i];
        let connector = &self.inner.connector;
        let what = format!("connecting to {endpoint}");
        let client = self.inner.clients[i]
            .get_or_try_init(|| {
                with_deadline(&what, connector.dial_deadline(), async {
                    let client = connector.connect_one(endpoint).await?;
                    // The connection is made lazily: an answer proves the HTTP/2
                    // handshake completed. Any answer from etcd does (an error too).
                    match client.maintenance_client().status().await {
                        Err(e) if goes_on(&e) => Err(e),
                        _ => Ok(client),
                    }
                })
            })
            .await?;
        Ok(client.clone())
    }

    /// Dials every member not yet dialled, in parallel; the first to answer
    /// becomes the preferred member. The others' dials are dropped (and made
    /// again when needed).
    async fn dial_any(&self) -> Result<usize> {
        let n = self.inner.endpoints.len();
        // A member dialled before answers at once.
        let mut dials: FuturesUnordered<_> = (0..n)
            .map(|i| async move { (i, self.dial(i).await) })
            .collect();
        let mut errors = Vec::new();
        while let Some((i, dialled)) = dials.next().await {
            match dialled {
                Ok(_) => {
                    self.inner.preferred.store(i, Ordering::Relaxed);
                    return Ok(i);
                }
                Err(e) => errors.push(e),
            }
        }
        let what = format!("connecting to {}", self.inner.endpoints.join(","));
        Err(none_answered(what, errors))
    }
}

/// One error for the failures of every member: a timeout if all timed out.
fn none_answered(what: String, mut errors: Vec<EtcdError>) -> EtcdError {
    if errors.len() == 1 {
        if let Some(only) = errors.pop() {
            return only;
        }
    }
    let timeouts: Option<Vec<Duration>> = errors
        .iter()
        .map(|e| match e {
            EtcdError::Timeout { after, .. } => Some(*after),
            _ => None,
        })
        .collect();
    if let Some(after) = timeouts.and_then(|t| t.into_iter().max()) {
        return EtcdError::Timeout { what, after };
    }
    let message = errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ");
    EtcdError::Call { what, message }
}

impl Members {
    /// Runs a read (`call` may be sent to several members) under the request
    /// deadline: to the preferred member first, to the next one when it cannot be
    /// reached or answers Unavailable, and to the next one as well when it has not
    /// answered within [`Members::hedge_delay`]. The first answer wins, and its
    /// member is asked first from then on. An error etcd answers (other than
    /// Unavailable) is the answer.
    pub async fn read<T, F, Fut>(&self, what: &str, call: F) -> Result<T>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        let timeout = self.inner.connector.request_timeout;
        let deadline = Instant::now() + timeout;
        let hedge = self.hedge_delay();
        let n = self.inner.endpoints.len();
        let first = self.preferred_index();
        let mut order = (0..n).map(|k| (first + k) % n);
        let call = &call;
        let attempt = |i: usize| async move {
            let endpoint = &self.inner.endpoints[i];
            let answer = match self.dial(i).await {
                Ok(client) => match call(client).await {
                    Err(e) if goes_on(&e) => Err(EtcdError::Call {
                        what: format!("{what} (at {endpoint})"),
                        message: error_chain(&e),
                    }),
                    Ok(v) => Ok(Ok(v)),
                    Err(e) => Ok(Err(e)),
                },
                Err(e) => Err(e),
            };
            (i, answer)
        };
        let mut running = FuturesUnordered::new();
        let mut errors = Vec::new();
        let mut next_at = Instant::now();
        let mut left = true;
        loop {
            if left && (running.is_empty() || Instant::now() >= next_at) {
                match order.next() {
                    Some(i) => {
                        running.push(attempt(i));
                        next_at = Instant::now() + hedge;
                    }
                    None => left = false,
                }
            }
            if running.is_empty() {
                return Err(none_answered(what.to_string(), errors));
            }
            tokio::select! {
                Some((i, answer)) = running.next() => match answer {
                    Ok(answer) => {
                        self.inner.preferred.store(i, Ordering::Relaxed);
                        return answer.map_err(|e| EtcdError::Call {
                            what: format!("{what} (at {})", self.inner.endpoints[i]),
                            message: error_chain(&e),
                        });
                    }
                    Err(e) => {
                        errors.push(e);
                        next_at = Instant::now();
                    }
                },
                _ = tokio::time::sleep_until(next_at), if left => {}
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(EtcdError::Timeout { what: what.to_string(), after: timeout });
                }
            }
        }
    }
}
