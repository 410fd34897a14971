//! A connection to a cluster for operations: every call under the connector's
//! request deadline, every error naming the endpoints it was sent to.

use std::future::Future;
use std::time::Duration;

use etcd_client::Client;

use super::{OpsError, Result};
use crate::etcd::{error_chain, Connector, EtcdError, Members};

/// The client and what it needs to turn failures into operator messages.
#[derive(Clone)]
pub struct Session {
    /// The client of the member that answered first when the session was opened
    /// (a hung member never does): every call not made through [`Session::read`]
    /// goes there, and is never repeated elsewhere.
    pub client: Client,
    /// Every endpoint's member, for reads that go on to the next member.
    members: Members,
    connector: Connector,
    /// Endpoints as the operator gave them (etcdctl prints them unchanged).
    endpoints: Vec<String>,
    /// A bare `host:port` means https (TLS flags were given), else http.
    https: bool,
}

impl Session {
    /// Dials every endpoint at once and keeps the member that answers first; fails
    /// when none answers within the dial deadline (plus the request deadline with
    /// a user to authenticate).
    /// `https`: what a bare `host:port` means (etcdctl: https when TLS is configured).
    pub async fn open(connector: &Connector, endpoints: &[String], https: bool) -> Result<Session> {
        if endpoints.is_empty() {
            return Err(OpsError::BadInput("no endpoints given".into()));
        }
        let urls: Vec<String> = endpoints
            .iter()
            .map(|e| match (https, e.contains("://")) {
                (true, false) => format!("https://{}", e.trim().trim_end_matches('/')),
                _ => crate::etcd::settings::normalize_endpoint(e),
            })
            .collect();
        let members = connector
            .members(&urls)
            .await
            .map_err(|e| map_etcd(e, &endpoints.join(",")))?;
        let client = members
            .client()
            .await
            .map_err(|e| map_etcd(e, &endpoints.join(",")))?;
        Ok(Session {
            client,
            members,
            connector: connector.clone(),
            endpoints: endpoints.to_vec(),
            https,
        })
    }

    /// A session on one of this session's members only (defrag, status, snapshot).
    pub async fn one(&self, endpoint: &str) -> Result<Session> {
        Session::open(&self.connector, &[endpoint.to_string()], self.https).await
    }

    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    pub fn timeout(&self) -> Duration {
        self.connector.request_timeout()
    }

    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// Runs a read under the request deadline, on the next member when one cannot
    /// be reached or does not answer in time (see [`Members::read`]). Only for
    /// calls that may be sent twice.
    pub async fn read<T, F, Fut>(&self, what: &str, call: F) -> Result<T>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        self.members
            .read(what, call)
            .await
            .map_err(|e| map_etcd(e, &self.endpoints.join(",")))
    }

    /// Runs one etcd call under the request deadline.
    pub async fn call<T>(
        &self,
        what: &str,
        fut: impl Future<Output = std::result::Result<T, etcd_client::Error>>,
    ) -> Result<T> {
        self.call_within(what, self.timeout(), fut).await
    }

    /// Runs one etcd call under `after` (defragment and snapshots take longer than
    /// a request).
    pub async fn call_within<T>(
        &self,
        what: &str,
        after: Duration,
        fut: impl Future<Output = std::result::Result<T, etcd_client::Error>>,
    ) -> Result<T> {
        match tokio::time::timeout(after, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(map_call(what, &self.endpoints.join(","), &e)),
            Err(_) => Err(OpsError::Unreachable {
                what: what.to_string(),
                endpoints: self.endpoints.join(","),
                reason: format!("no answer within {after:?}"),
            }),
        }
    }
}

fn map_etcd(e: EtcdError, endpoints: &str) -> OpsError {
    match e {
        EtcdError::Timeout { what, after } => OpsError::Unreachable {
            what,
            endpoints: endpoints.to_string(),
            reason: format!("no answer within {after:?}"),
        },
        EtcdError::Call { what, message } if is_transport(&message) => OpsError::Unreachable {
            what,
            endpoints: endpoints.to_string(),
            reason: message,
        },
        EtcdError::Call { what, message } => OpsError::Etcd {
            what,
            endpoints: endpoints.to_string(),
            message,
        },
        EtcdError::Setup(m) => OpsError::Setup(m),
    }
}

fn is_transport(message: &str) -> bool {
    message.contains("transport error") || message.contains("connect error")
}

/// etcd's errors into ours: the ones an operator hits often get their own variant.
fn map_call(what: &str, endpoints: &str, e: &etcd_client::Error) -> OpsError {
    if let etcd_client::Error::GRpcStatus(status) = e {
        let message = status.message();
        // gRPC's own limit (etcd's --max-request-bytes plus 512 KiB of overhead) says
        // "larger than max (SIZE vs. LIMIT)"; etcd's own check says "request is too large".
        // 8 is gRPC's RESOURCE_EXHAUSTED (tonic is not a direct dependency).
        if status.code() as i32 == 8 && message.contains("larger than max") {
            let (size, limit) = sizes_in(message);
            return OpsError::TooLarge {
                size,
                limit: limit.map_or(String::new(), |l| format!(" of {l} bytes (gRPC message)")),
            };
        }
        if message.contains("request is too large") {
            return OpsError::TooLarge {
                size: 0,
                limit: String::new(),
            };
        }
    }
    let message = error_chain(e);
    if is_transport(&message) {
        return OpsError::Unreachable {
            what: what.to_string(),
            endpoints: endpoints.to_string(),
            reason: message,
        };
    }
    OpsError::Etcd {
        what: what.to_string(),
        endpoints: endpoints.to_string(),
        message,
    }
}

/// "(2200011 vs. 2097152)" -> (2200011, Some(2097152)).
fn sizes_in(message: &str) -> (usize, Option<usize>) {
    let inner = message
        .rsplit_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(inner, _)| inner)
        .unwrap_or("");
    let mut parts = inner.split(" vs. ");
    let size = parts
        .next()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let limit = parts.next().and_then(|s| s.trim().parse().ok());
    (size, limit)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_come_from_grpc_messages() {
        assert_eq!(
            super::sizes_in("trying to send message larger than max (2200011 vs. 2097152)"),
            (2200011, Some(2097152))
        );
        assert_eq!(super::sizes_in("no numbers"), (0, None));
    }
}
