//! The monitor running in the test's process: its store, collectors and HTTP server
//! on a free loopback port, stopped cleanly. Shared by the integration tests (whose
//! harness adds waits to it) and the dashboard bench.
#![allow(dead_code)]

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use etcd_monitor::config::Settings;
use etcd_monitor::monitor::Monitor as Product;
use serde_json::Value;
use tokio::sync::oneshot;

/// A monitor running in this process: store, collectors and the HTTP server on port 0.
pub struct Monitor {
    pub base: String,
    pub http: reqwest::Client,
    pub store: Arc<etcd_monitor::store::Store>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<(Product, std::io::Result<()>)>>,
    /// The store's directory when the test did not choose one.
    _data: Option<tempfile::TempDir>,
}

impl Monitor {
    /// Starts with `settings`; the default data dir is replaced by a temp dir.
    pub async fn start(settings: Settings) -> Monitor {
        Monitor::start_on(settings, TcpListener::bind("127.0.0.1:0").unwrap()).await
    }

    /// Starts serving on `listener` (bound by the test, which needed its address
    /// in `settings` first).
    pub async fn start_on(mut settings: Settings, listener: TcpListener) -> Monitor {
        let mut data = None;
        if settings.store.data_dir == std::path::Path::new("./data") {
            let dir = tempfile::tempdir().unwrap();
            settings.store.data_dir = dir.path().to_path_buf();
            data = Some(dir);
        }
        let product = Product::start(&settings).expect("monitor starts");
        let store = product.store.clone();
        listener.set_nonblocking(true).unwrap();
        let scheme = if settings.server.tls.files().is_some() {
            "https"
        } else {
            "http"
        };
        let base = format!("{scheme}://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel();
        let server = tokio::spawn(async move {
            let served = etcd_monitor::web::serve(&product, listener, async move {
                let _ = stopped.await;
            })
            .await;
            (product, served)
        });
        Monitor {
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
            store,
            stop: Some(stop),
            server: Some(server),
            _data: data,
        }
    }

    /// GET `path`, returning the HTTP status and the JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        let json = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {path}: body is not JSON ({e}): {body}"));
        (status, json)
    }

    pub async fn cluster(&self, name: &str) -> Value {
        let (status, body) = self.get(&format!("/api/v1/clusters/{name}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let (product, served) = self.server.take().unwrap().await.unwrap();
        served.unwrap();
        drop(self.store);
        product.shutdown().await;
    }
}
