//! The timeline (`GET /timeline`): what the probes saw happen, in every cluster or
//! one, newest first, filtered by kind and member, paged back in time.

use actix_web::web;
use askama::Template;

use super::display::{ms_time, TimeView};
use super::layout::{layout, Layout, Nav, SelectOption};
use super::{ok, urlencode, PageResult};
use crate::collect::events::{self, ClusterEvent, EventKind};
use crate::web::api::events::EventsParams;
use crate::web::AppState;

/// `GET /timeline?cluster=&kind=&member=&from=&to=&limit=`
pub async fn timeline(state: web::Data<AppState>, params: web::Query<EventsParams>) -> PageResult {
    let now = crate::unix_ms_now();
    let q = params.query(now)?;
    let limit = q.limit;
    let store = state.store.clone();
    let q2 = q.clone();
    let found = web::block(move || events::query(&store, &q2)).await??;
    let cluster = q.cluster.clone().unwrap_or_default();
    let kind = match q.kinds.as_slice() {
        [k] => k.as_str(),
        _ => "",
    };
    // The older page: before the last event shown, keeping the filters.
    let older = (found.len() == limit).then(|| {
        let mut pairs = vec![];
        if let Some(c) = &q.cluster {
            pairs.push(format!("cluster={}", urlencode(c)));
        }
        if !q.kinds.is_empty() {
            let kinds: Vec<&str> = q.kinds.iter().map(|k| k.as_str()).collect();
            pairs.push(format!("kind={}", kinds.join(",")));
        }
        if let Some(m) = &q.member {
            pairs.push(format!("member={}", urlencode(m)));
        }
        let last = found.last().map_or(now, |e| e.at_unix_ms);
        pairs.push(format!("to={}.{:03}", last / 1000, last.rem_euclid(1000)));
        format!("/timeline?{}", pairs.join("&"))
    });
    let names = state.board.names();
    let title = if cluster.is_empty() {
        "Timeline".to_string()
    } else {
        format!("Timeline of {cluster}")
    };
    ok(TimelinePage {
        layout: layout(&state, &title, Nav::Timeline, None),
        clusters: SelectOption::list(names.iter().map(String::as_str), &cluster),
        kinds: SelectOption::list(EventKind::ALL.iter().map(|k| k.as_str()), kind),
        member: q.member.clone().unwrap_or_default(),
        cluster_href: (!cluster.is_empty()).then(|| format!("/clusters/{}", urlencode(&cluster))),
        cluster,
        rows: found.iter().map(EventRow::new).collect(),
        older,
        filtered: q.cluster.is_some() || !q.kinds.is_empty() || q.member.is_some(),
    })
}

/// One event as a row.
pub struct EventRow {
    pub at: TimeView,
    pub cluster: String,
    pub cluster_href: String,
    pub kind: &'static str,
    pub class: &'static str,
    pub member: String,
    pub message: String,
}

impl EventRow {
    pub fn new(e: &ClusterEvent) -> Self {
        EventRow {
            at: ms_time(e.at_unix_ms),
            cluster_href: format!("/clusters/{}", urlencode(&e.cluster)),
            cluster: e.cluster.clone(),
            kind: e.kind.as_str(),
            class: if e.kind.is_problem() { "warn" } else { "ok" },
            member: e.member.clone().unwrap_or_default(),
            message: e.message.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "timeline.html")]
pub struct TimelinePage {
    pub layout: Layout,
    pub cluster: String,
    pub cluster_href: Option<String>,
    pub clusters: Vec<SelectOption>,
    pub kinds: Vec<SelectOption>,
    pub member: String,
    pub rows: Vec<EventRow>,
    pub older: Option<String>,
    pub filtered: bool,
}
