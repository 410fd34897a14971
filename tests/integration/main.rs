//! Integration tests against real etcd clusters started by the harness. One test
//! binary, so that the harness can bound how many clusters run at once.

#[path = "../support/certs.rs"]
mod certs;
mod harness;
#[path = "../support/http_sink.rs"]
mod http_sink;
#[path = "../support/monitor.rs"]
mod monitor;
#[path = "../support/process.rs"]
mod process;

mod access;
mod alarms;
mod alert_rules;
mod alerting;
mod alertmanager;
mod alerts_page;
mod api;
mod api_fuzz;
mod bench;
mod bench_history;
mod browser;
mod checks;
mod cli;
mod cli_docs;
mod cli_edges;
mod connections;
mod ctl;
mod dashboard;
mod examples;
mod exporter;
mod failover;
mod hardening;
mod history;
mod hung;
mod installed;
mod keys;
mod kubernetes;
mod metrics;
mod operator;
mod packaging;
mod pages;
mod partition;
mod registry;
mod remote_write;
mod security;
mod store_file;
mod timeline;
