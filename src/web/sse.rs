//! `GET /events[?cluster=NAME]`: server-sent events, one `snapshot` event each time
//! a watched cluster has a new snapshot, and a comment every 15 s so proxies keep
//! the stream open. The dashboard's script reloads the page's content on each event.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use futures::stream::{self, Stream, StreamExt};
use tokio::sync::watch;

use super::pages::PageError;
use super::{ApiError, AppState};
use crate::collect::snapshot::ClusterSnapshot;

#[derive(Debug, serde::Deserialize)]
pub struct EventParams {
    cluster: Option<String>,
}

const KEEPALIVE: Duration = Duration::from_secs(15);

fn event(s: &ClusterSnapshot) -> Bytes {
    let data = serde_json::json!({
        "cluster": s.name,
        "status": s.status,
        "probed_at": s.probed_at,
    });
    Bytes::from(format!("event: snapshot\ndata: {data}\n\n"))
}

/// The snapshots of one cluster, from the next one on.
fn updates(rx: watch::Receiver<Arc<ClusterSnapshot>>) -> impl Stream<Item = Bytes> {
    stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        let bytes = event(&rx.borrow_and_update());
        Some((bytes, rx))
    })
}

pub async fn events(
    state: web::Data<AppState>,
    params: web::Query<EventParams>,
) -> Result<HttpResponse, PageError> {
    let receivers: Vec<_> = match params.cluster.as_deref().filter(|c| !c.is_empty()) {
        Some(name) => vec![state.board.subscribe(name).ok_or_else(|| {
            PageError(ApiError::NotFound(format!(
                "no monitored cluster is named {name:?}"
            )))
        })?],
        None => state
            .board
            .names()
            .iter()
            .filter_map(|n| state.board.subscribe(n))
            .collect(),
    };
    let snapshots = stream::select_all(receivers.into_iter().map(|rx| updates(rx).boxed()));
    let keepalive = stream::unfold((), |()| async {
        tokio::time::sleep(KEEPALIVE).await;
        Some((Bytes::from_static(b": keep-alive\n\n"), ()))
    });
    // `retry` tells the browser how soon to reconnect after the server restarts.
    let hello = stream::once(async { Bytes::from_static(b"retry: 3000\n\n") });
    let body = hello
        .chain(stream::select(snapshots, keepalive))
        .map(Ok::<_, actix_web::Error>);
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}
