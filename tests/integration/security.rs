//! Clusters behind TLS with client certificates, and behind etcd's auth.

use std::path::Path;
use std::time::Duration;

use etcd_monitor::config::{AuthConfig, ClusterConfig, TlsConfig};
use etcd_monitor::localetcd::LocalClusterOptions;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certificates() {
    let cluster = start_tls_cluster(3).await;
    let tls = cluster.tls();
    assert!(cluster.client_urls()[0].starts_with("https://"));
    let with_certs = ClusterConfig {
        tls: Some(TlsConfig {
            ca_file: Some(tls.ca_file.clone()),
            cert_file: Some(tls.cert_file.clone()),
            key_file: Some(tls.key_file.clone()),
        }),
        ..ClusterConfig::plain("tls", cluster.client_urls())
    };
    // Same cluster without a client certificate: etcd must refuse it.
    let without_cert = ClusterConfig {
        tls: Some(TlsConfig {
            ca_file: Some(tls.ca_file.clone()),
            cert_file: None,
            key_file: None,
        }),
        ..ClusterConfig::plain("no-cert", cluster.client_urls())
    };
    let monitor = Monitor::start(test_settings(
        vec![with_certs, without_cert],
        Duration::from_secs(1),
    ))
    .await;

    let snap = wait_for(
        "healthy over TLS with metrics",
        Duration::from_secs(15),
        || async {
            let s = monitor.cluster("tls").await;
            let scraped = s["members"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["indicators"].is_object());
            if s["status"] == "healthy" && scraped {
                Ok(s)
            } else {
                Err(s.to_string())
            }
        },
    )
    .await;
    assert_eq!(snap["members"].as_array().unwrap().len(), 3);
    assert!(snap["members"][0]["metrics_url"]
        .as_str()
        .unwrap()
        .starts_with("https://"));

    let refused = monitor
        .wait_status("no-cert", "unavailable", Duration::from_secs(15))
        .await;
    assert!(
        !refused["members"][0]["error"].as_str().unwrap().is_empty(),
        "{refused}"
    );
    // The key browser connects with the cluster's TLS settings too.
    let (code, body) = monitor.get("/api/v1/clusters/tls/keys").await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = monitor.get("/api/v1/clusters/no-cert/keys").await;
    assert_eq!(code, 503, "{body}");
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_auth_with_password_file() {
    let cluster = start_cluster(1, LocalClusterOptions::default()).await;
    enable_auth(&cluster, "s3cret-pw").await;

    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    let bad = dir.path().join("bad");
    std::fs::write(&good, "s3cret-pw\n").unwrap();
    std::fs::write(&bad, "wrong-pw-value").unwrap();
    let with = |name: &str, file: &Path| ClusterConfig {
        auth: Some(AuthConfig {
            user: "root".into(),
            password_env: None,
            password_file: Some(file.to_path_buf()),
        }),
        ..ClusterConfig::plain(name, cluster.client_urls())
    };
    let mut settings = test_settings(
        vec![with("good", &good), with("bad", &bad)],
        Duration::from_secs(1),
    );
    settings.collect.consistency_interval = Duration::from_secs(1);
    let monitor = Monitor::start(settings).await;

    let snap = monitor
        .wait_status("good", "healthy", Duration::from_secs(15))
        .await;
    assert_eq!(snap["members"][0]["reachable"], true);

    let failed = monitor
        .wait_status("bad", "unavailable", Duration::from_secs(15))
        .await;
    let text = failed.to_string();
    assert!(text.contains("authentication failed"), "{text}");
    // The key browser authenticates as the config says; a wrong password is a 503.
    let (code, browsed) = monitor.get("/api/v1/clusters/good/keys").await;
    assert_eq!(code, 200, "{browsed}");
    let (code, refused) = monitor.get("/api/v1/clusters/bad/keys").await;
    assert_eq!(code, 503, "{refused}");
    assert!(
        refused.to_string().contains("authentication failed"),
        "{refused}"
    );
    // The password never shows, whether right or wrong.
    let (_, all) = monitor.get("/api/v1/clusters").await;
    for body in [
        text,
        refused.to_string(),
        all.to_string(),
        monitor.cluster("good").await.to_string(),
    ] {
        assert!(!body.contains("s3cret-pw") && !body.contains("wrong-pw-value"));
    }
    monitor.stop().await;
}
