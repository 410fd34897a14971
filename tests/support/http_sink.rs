//! A recording HTTP server on loopback for tests of what the monitor sends (webhooks,
//! Slack, PagerDuty): one request per connection, answered as the test scripts it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with the n-th connection.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Status(u16, &'static str),
    /// Reads the request, then never answers.
    Hang,
    /// Reads the request, then closes the connection without answering.
    Close,
}

#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    pub reply: Reply,
}

impl Request {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

pub struct HttpSink {
    pub url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl HttpSink {
    /// Answers the n-th connection with `script[n]`, later ones with `then`.
    pub async fn start(script: Vec<Reply>, then: Reply) -> HttpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let connections = AtomicUsize::new(0);
        let accept = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let n = connections.fetch_add(1, Ordering::SeqCst);
                let reply = script.get(n).copied().unwrap_or(then);
                tokio::spawn(serve(socket, reply, recorded.clone()));
            }
        });
        HttpSink {
            url,
            requests,
            accept,
        }
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// Requests answered with 2xx.
    pub fn accepted(&self) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| matches!(r.reply, Reply::Status(200..=299, _)))
            .count()
    }

    pub fn take(&self) -> Vec<Request> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

/// One HTTP/1.1 request per connection (the answer says `Connection: close`).
async fn serve(socket: TcpStream, reply: Reply, requests: Arc<Mutex<Vec<Request>>>) {
    let mut reader = BufReader::new(socket);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).await.is_err() {
        return;
    }
    requests.lock().unwrap().push(Request {
        method,
        path,
        headers,
        body,
        reply,
    });
    let mut socket = reader.into_inner();
    match reply {
        Reply::Status(code, text) => {
            let answer = format!(
                "HTTP/1.1 {code} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
        Reply::Hang => {
            std::future::pending::<()>().await;
        }
        Reply::Close => drop(socket),
    }
}
