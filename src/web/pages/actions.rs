//! The pages' forms for operators: create, edit and expire a silence, acknowledge
//! an alert, delete a benchmark run. Each answers with a redirect to the page it
//! came from (303: the browser then GETs it), or the error page. Who did it is the
//! caller's identity; with `server.auth.mode = "none"` the silence form asks for a
//! name. The guard has checked the role and the CSRF token and records the change.

use actix_web::web;
use askama::Template;
use serde::Deserialize;

use super::layout::{layout, Layout, Nav};
use super::{ok, see_other, PageError, PageResult};
use crate::alert::manager::NewSilence;
use crate::alert::Fingerprint;
use crate::auth::{Identity, Via};
use crate::web::access::signed_in_name;
use crate::web::{ApiError, AppState};

/// Who does it: the signed-in name, or (auth off) what the form says.
fn actor(identity: &Option<web::ReqData<Identity>>, given: &str) -> Result<String, ApiError> {
    match signed_in_name(identity.as_deref()) {
        Some(name) => Ok(name),
        None if !given.trim().is_empty() => Ok(given.trim().to_string()),
        None => Err(ApiError::BadRequest(
            "by: say who you are (the monitor has no login: server.auth.mode = \"none\")".into(),
        )),
    }
}

fn auth_off(identity: &Option<web::ReqData<Identity>>) -> bool {
    identity.as_deref().is_none_or(|i| i.via == Via::NoAuth)
}

#[derive(Template)]
#[template(path = "silence_new.html")]
struct SilenceFormPage {
    layout: Layout,
    replaces: Option<String>,
    matchers: String,
    duration: String,
    comment: String,
    ask_name: bool,
}

/// `GET /silences/new?matcher=..&matcher=..` (from an alert) or `?from=ID` (edit).
pub async fn silence_form(
    state: web::Data<AppState>,
    identity: Option<web::ReqData<Identity>>,
    q: web::Query<Vec<(String, String)>>,
) -> PageResult {
    let mut matchers: Vec<String> = Vec::new();
    let mut replaces = None;
    let mut comment = String::new();
    for (k, v) in q.iter() {
        match k.as_str() {
            "matcher" => matchers.push(v.clone()),
            "from" => {
                let s = state
                    .alerts
                    .silences()
                    .into_iter()
                    .find(|s| s.id == *v)
                    .ok_or_else(|| ApiError::NotFound(format!("no silence {v:?} to edit")))?;
                matchers.extend(s.matchers.iter().map(|m| m.to_string()));
                comment = s.comment.clone();
                replaces = Some(s.id.clone());
            }
            other => {
                return Err(PageError(ApiError::BadRequest(format!(
                    "{other}: not a parameter of this page (matcher, from)"
                ))))
            }
        }
    }
    ok(SilenceFormPage {
        layout: layout(&state, "New silence", Nav::Alerts, None),
        replaces,
        matchers: matchers.join("\n"),
        duration: "2h".into(),
        comment,
        ask_name: auth_off(&identity),
    })
}

#[derive(Deserialize)]
pub struct SilenceForm {
    matchers: String,
    duration: String,
    comment: String,
    #[serde(default)]
    by: String,
    #[serde(default)]
    replaces: Option<String>,
}

/// `POST /silences`: creates the silence (and ends the one it replaces).
pub async fn create_silence(
    state: web::Data<AppState>,
    identity: Option<web::ReqData<Identity>>,
    form: web::Form<SilenceForm>,
) -> PageResult {
    let form = form.into_inner();
    let by = actor(&identity, &form.by)?;
    let duration = humantime::parse_duration(form.duration.trim())
        .map_err(|e| ApiError::BadRequest(format!("duration {:?}: {e}", form.duration)))?;
    let request = NewSilence {
        matchers: form
            .matchers
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        starts_at_ms: None,
        ends_at_ms: None,
        duration: Some(duration),
        created_by: by.clone(),
        comment: form.comment,
    };
    let alerts = state.alerts.clone();
    let replaces = form.replaces.filter(|r| !r.is_empty());
    let silence = web::block(move || {
        let created = alerts.create_silence(request)?;
        if let Some(old) = replaces {
            alerts.expire_silence(&old, &by)?;
        }
        Ok::<_, crate::alert::AlertError>(created)
    })
    .await??;
    Ok(see_other(&format!("/alerts#silence-{}", silence.id)))
}

#[derive(Deserialize)]
pub struct ByForm {
    #[serde(default)]
    by: String,
    #[serde(default)]
    comment: String,
}

/// `POST /silences/{id}/expire`.
pub async fn expire_silence(
    state: web::Data<AppState>,
    identity: Option<web::ReqData<Identity>>,
    id: web::Path<String>,
    form: web::Form<ByForm>,
) -> PageResult {
    let by = actor(&identity, &form.by).unwrap_or_else(|_| "anonymous".into());
    let alerts = state.alerts.clone();
    let silence = web::block(move || alerts.expire_silence(&id, &by)).await??;
    Ok(see_other(&format!("/alerts#silence-{}", silence.id)))
}

/// `POST /alerts/{fingerprint}/ack`.
pub async fn acknowledge(
    state: web::Data<AppState>,
    identity: Option<web::ReqData<Identity>>,
    fingerprint: web::Path<String>,
    form: web::Form<ByForm>,
) -> PageResult {
    let fp: Fingerprint = fingerprint.parse().map_err(ApiError::BadRequest)?;
    let by = actor(&identity, &form.by).unwrap_or_else(|_| "anonymous".into());
    let alerts = state.alerts.clone();
    let comment = form.into_inner().comment;
    web::block(move || alerts.acknowledge(fp, &by, &comment)).await??;
    Ok(see_other(&format!("/alerts#alert-{fp}")))
}

/// `POST /benchmarks/{id}/delete`.
pub async fn delete_run(state: web::Data<AppState>, id: web::Path<String>) -> PageResult {
    let store = state.store.clone();
    web::block(move || crate::bench::history::delete(&store, &id)).await??;
    Ok(see_other("/benchmarks"))
}
