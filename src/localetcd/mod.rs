//! Local etcd clusters started from the `etcd` binary on free loopback ports in a
//! temporary directory: what `etcd-monitor demo` runs, and what the integration
//! tests monitor. Every process is killed when the cluster is dropped.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum LocalEtcdError {
    #[error(
        "cannot find the `etcd` binary on PATH (install Debian's etcd-server, or set ETCD_BIN)"
    )]
    BinaryNotFound,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("member {member} did not become healthy within {waited:?}; last lines of its log:\n{log_tail}")]
    NotHealthy {
        member: String,
        waited: Duration,
        log_tail: String,
    },
    #[error("no member with index {0}")]
    NoSuchMember(usize),
}

pub type Result<T> = std::result::Result<T, LocalEtcdError>;

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LocalEtcdError {
    let what = what.into();
    move |source| LocalEtcdError::Io { what, source }
}

/// Options for [`LocalCluster::start`].
#[derive(Debug, Clone, Default)]
pub struct LocalClusterOptions {
    /// The `etcd` binary; default: `$ETCD_BIN`, else `etcd` on PATH.
    pub etcd_bin: Option<PathBuf>,
    /// `--quota-backend-bytes` for every member.
    pub quota_backend_bytes: Option<u64>,
    /// Parent of the cluster's temp dir; default: the system temp dir.
    pub base_dir: Option<PathBuf>,
    /// Extra flags for every member.
    pub extra_args: Vec<String>,
    /// Serve clients over TLS and require client certificates signed by the CA.
    pub client_tls: Option<LocalTls>,
}

/// PEM files for [`LocalClusterOptions::client_tls`]. The certificate must be valid
/// for 127.0.0.1 as a server and as a client: the cluster also uses it to check health.
#[derive(Debug, Clone)]
pub struct LocalTls {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// One member of a [`LocalCluster`].
#[derive(Debug)]
pub struct LocalMember {
    pub name: String,
    pub client_url: String,
    pub peer_url: String,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    args: Vec<String>,
    process: Option<Child>,
    /// The binary it runs when not the cluster's (a member upgraded in place).
    etcd_bin: Option<PathBuf>,
}

impl LocalMember {
    pub fn is_running(&mut self) -> bool {
        match &mut self.process {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The last `lines` lines of the member's log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// A running local etcd cluster. Dropping it kills every member and removes its files.
#[derive(Debug)]
pub struct LocalCluster {
    etcd_bin: PathBuf,
    client_tls: Option<LocalTls>,
    pub members: Vec<LocalMember>,
    // Declared last so members are killed before their directory is removed.
    dir: tempfile::TempDir,
}

/// Finds the `etcd` binary: `$ETCD_BIN`, else the first `etcd` on PATH.
pub fn find_etcd_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("ETCD_BIN") {
        let bin = PathBuf::from(bin);
        return bin.is_file().then_some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("etcd"))
        .find(|candidate| candidate.is_file())
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl LocalCluster {
    /// Starts `size` members and waits until every one reports healthy.
    pub async fn start(size: usize, options: LocalClusterOptions) -> Result<LocalCluster> {
        let etcd_bin = match options.etcd_bin.clone() {
            Some(bin) => bin,
            None => find_etcd_binary().ok_or(LocalEtcdError::BinaryNotFound)?,
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix("etcd-monitor-local-");
        let dir = match &options.base_dir {
            Some(base) => builder.tempdir_in(base),
            None => builder.tempdir(),
        }
        .map_err(io("creating the cluster's temp dir"))?;

        let token = format!(
            "etcd-monitor-{}",
            dir.path().file_name().unwrap_or_default().to_string_lossy()
        );
        let mut specs = Vec::new();
        let client_scheme = if options.client_tls.is_some() {
            "https"
        } else {
            "http"
        };
        // Every port is held until all are chosen: a port released at once can be
        // handed out again by the next bind (two members got the same peer port).
        let mut held = Vec::new();
        let mut port = || -> Result<u16> {
            let l = TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
            let p = l.local_addr().map_err(io("finding a free port"))?.port();
            held.push(l);
            Ok(p)
        };
        for i in 0..size {
            let client_port = port()?;
            let peer_port = port()?;
            specs.push((
                format!("m{i}"),
                format!("{client_scheme}://127.0.0.1:{client_port}"),
                format!("http://127.0.0.1:{peer_port}"),
            ));
        }
        drop(held);
        let initial_cluster = specs
            .iter()
            .map(|(name, _, peer)| format!("{name}={peer}"))
            .collect::<Vec<_>>()
            .join(",");

        let mut members = Vec::new();
        for (name, client_url, peer_url) in specs {
            let data_dir = dir.path().join(&name);
            let mut args = vec![
                format!("--name={name}"),
                format!("--data-dir={}", data_dir.display()),
                format!("--listen-client-urls={client_url}"),
                format!("--advertise-client-urls={client_url}"),
                format!("--listen-peer-urls={peer_url}"),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--initial-cluster={initial_cluster}"),
                format!("--initial-cluster-token={token}"),
                "--initial-cluster-state=new".to_string(),
                "--logger=zap".to_string(),
            ];
            if let Some(tls) = &options.client_tls {
                args.push(format!("--cert-file={}", tls.cert_file.display()));
                args.push(format!("--key-file={}", tls.key_file.display()));
                args.push(format!("--trusted-ca-file={}", tls.ca_file.display()));
                args.push("--client-cert-auth".to_string());
            }
            if let Some(q) = options.quota_backend_bytes {
                args.push(format!("--quota-backend-bytes={q}"));
            }
            args.extend(options.extra_args.iter().cloned());
            members.push(LocalMember {
                log_path: dir.path().join(format!("{name}.log")),
                name,
                client_url,
                peer_url,
                data_dir,
                args,
                process: None,
                etcd_bin: None,
            });
        }
        let mut cluster = LocalCluster {
            etcd_bin,
            client_tls: options.client_tls.clone(),
            members,
            dir,
        };
        for i in 0..size {
            cluster.spawn(i)?;
        }
        for i in 0..size {
            cluster.wait_healthy(i, Duration::from_secs(60)).await?;
        }
        Ok(cluster)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn client_urls(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    fn member_mut(&mut self, index: usize) -> Result<&mut LocalMember> {
        self.members
            .get_mut(index)
            .ok_or(LocalEtcdError::NoSuchMember(index))
    }

    fn spawn(&mut self, index: usize) -> Result<()> {
        let cluster_bin = self.etcd_bin.clone();
        let member = self.member_mut(index)?;
        let bin = member.etcd_bin.clone().unwrap_or(cluster_bin);
        let log = File::options()
            .create(true)
            .append(true)
            .open(&member.log_path)
            .map_err(io(format!("opening {}", member.log_path.display())))?;
        let log_err = log.try_clone().map_err(io("duplicating the log handle"))?;
        let child = Command::new(&bin)
            .args(&member.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(io(format!("starting {}", bin.display())))?;
        member.process = Some(child);
        Ok(())
    }

    /// SIGKILL: the member dies at once, as in a crash.
    pub fn kill(&mut self, index: usize) -> Result<()> {
        let member = self.member_mut(index)?;
        if let Some(mut child) = member.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        Ok(())
    }

    /// SIGTERM and wait: a clean stop.
    pub fn stop(&mut self, index: usize) -> Result<()> {
        let member = self.member_mut(index)?;
        if let Some(mut child) = member.process.take() {
            terminate(&mut child, Duration::from_secs(10));
        }
        Ok(())
    }

    /// SIGSTOP: the member keeps its sockets open but answers nothing, like a hung host.
    pub fn pause(&mut self, index: usize) -> Result<()> {
        self.signal(index, libc::SIGSTOP)
    }

    /// SIGCONT after [`LocalCluster::pause`].
    pub fn resume(&mut self, index: usize) -> Result<()> {
        self.signal(index, libc::SIGCONT)
    }

    fn signal(&mut self, index: usize, signal: libc::c_int) -> Result<()> {
        if let Some(child) = &self.member_mut(index)?.process {
            // SAFETY: kill(2) on a child we own, with a valid signal; no memory is touched.
            unsafe {
                libc::kill(child.id() as libc::pid_t, signal);
            }
        }
        Ok(())
    }

    /// Starts a stopped or killed member again with its data dir (rejoins the cluster).
    pub fn restart(&mut self, index: usize) -> Result<()> {
        self.kill(index)?;
        let member = self.member_mut(index)?;
        for arg in member.args.iter_mut() {
            if arg.starts_with("--initial-cluster-state=") {
                *arg = "--initial-cluster-state=existing".to_string();
            }
        }
        self.spawn(index)
    }

    /// Starts a member again with its data dir under another etcd binary: an
    /// upgrade (or downgrade) of that member in place, as a rolling upgrade does.
    pub fn restart_with(&mut self, index: usize, etcd_bin: &Path) -> Result<()> {
        self.member_mut(index)?.etcd_bin = Some(etcd_bin.to_path_buf());
        self.restart(index)
    }

    fn health_client(&self) -> Result<reqwest::Client> {
        let as_io = |e: reqwest::Error| io("building an HTTP client")(std::io::Error::other(e));
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(2));
        if let Some(tls) = &self.client_tls {
            let read = |p: &Path| std::fs::read(p).map_err(io(format!("reading {}", p.display())));
            let mut pem = read(&tls.cert_file)?;
            pem.extend_from_slice(b"\n");
            pem.extend(read(&tls.key_file)?);
            builder = builder
                .add_root_certificate(
                    reqwest::Certificate::from_pem(&read(&tls.ca_file)?).map_err(as_io)?,
                )
                .identity(reqwest::Identity::from_pem(&pem).map_err(as_io)?);
        }
        builder.build().map_err(as_io)
    }

    /// Polls the member's `/health` until it answers `{"health":"true"}`.
    pub async fn wait_healthy(&mut self, index: usize, timeout: Duration) -> Result<()> {
        let url = format!("{}/health", self.member_mut(index)?.client_url);
        let http = self.health_client()?;
        let started = Instant::now();
        loop {
            if let Ok(resp) = http.get(&url).send().await {
                if let Ok(body) = resp.text().await {
                    if body.contains("\"health\":\"true\"") {
                        return Ok(());
                    }
                }
            }
            let member = self.member_mut(index)?;
            if started.elapsed() > timeout || !member.is_running() {
                return Err(LocalEtcdError::NotHealthy {
                    member: member.name.clone(),
                    waited: started.elapsed(),
                    log_tail: member.log_tail(20),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// SIGTERM, then SIGKILL if the process has not exited within `grace`.
fn terminate(child: &mut Child, grace: Duration) {
    // SAFETY: kill(2) on a child we own, with a valid signal; no memory is touched.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for member in &mut self.members {
            if let Some(mut child) = member.process.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
