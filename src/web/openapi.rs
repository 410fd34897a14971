//! The OpenAPI 3.1 description of the API (`GET /api/v1/openapi.json`, and
//! `etcd-monitor api` for docs/api.md): the handlers' `#[utoipa::path]`
//! attributes and their types' schemas, completed from [`super::routes`] with
//! what access control decides (who may call each operation, the errors of a
//! refused caller), so that those cannot drift from the router.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder};
use utoipa::openapi::security::{SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    Content, OpenApi as Document, PathItem, Ref, RefOr, Response, ResponseBuilder, Schema,
};
use utoipa::OpenApi;

use super::access::{CSRF_HEADER, SESSION_COOKIE};
use super::error::{ErrorBody, ErrorDetail, ERROR_CODES};
use super::{api, for_programs, routes, Access, RouteInfo};

/// The path of the document itself.
pub const PATH: &str = "/api/v1/openapi.json";

/// The extension that names the role an operation needs: `viewer`, `operator`,
/// `admin`, or `public`.
pub const ROLE_EXTENSION: &str = "x-required-role";

/// The security schemes' names.
const BEARER: &str = "bearerToken";
const COOKIE: &str = "sessionCookie";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "etcd-monitor API",
        description = "The JSON API of etcd-monitor: clusters, history, alerts, benchmarks, the key browser and access control. Every answer is JSON (`/metrics`: the Prometheus text format); every error is `{\"error\":{\"code\":..,\"message\":..}}`. Callers show who they are with an API token or the dashboard's session cookie (mode `proxy`: also the trusted proxy's headers); with `[server.auth] mode = \"none\"` no credentials are needed and every caller has every role. Each operation's `x-required-role` is the role it needs. Every GET also answers HEAD; a wrong method is a 405 and a `Host` that does not name the monitor a 421.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        openapi_json,
        api::monitor::health,
        api::monitor::store,
        api::monitor::metrics,
        api::clusters::clusters,
        api::clusters::cluster,
        api::clusters::members,
        api::clusters::metrics,
        api::clusters::latency,
        api::events::list,
        api::registry::add,
        api::registry::settings,
        api::registry::update,
        api::registry::remove,
        api::registry::test,
        api::history::series,
        api::history::history,
        api::keys::list,
        api::keys::value,
        api::alerts::active,
        api::alerts::history,
        api::alerts::silences,
        api::alerts::create_silence,
        api::alerts::expire_silence,
        api::alerts::acknowledge,
        api::bench::list,
        api::bench::create,
        api::bench::compare,
        api::bench::one,
        api::bench::delete,
        api::access::audit,
        api::access::users,
        api::access::add_user,
        api::access::change_user,
        api::access::delete_user,
        api::access::tokens,
        api::access::create_token,
        api::access::revoke_token,
        api::access::whoami,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    tags(
        (name = "monitor", description = "The monitor itself"),
        (name = "clusters", description = "The collectors' latest findings per cluster"),
        (name = "history", description = "Stored metrics"),
        (name = "keys", description = "The key browser (read-only)"),
        (name = "alerts", description = "Alerts, silences and acknowledgements"),
        (name = "benchmarks", description = "Stored benchmark runs"),
        (name = "access", description = "Users, API tokens and the audit trail"),
    ),
)]
struct ApiDoc;

/// The document, completed from the router: roles, security, refusals.
pub fn document() -> Document {
    let mut doc = ApiDoc::openapi();
    doc.info.version = crate::build_info::VERSION.to_string();
    complete(&mut doc, &api_routes());
    doc
}

/// The routes the document describes: the API and `/metrics`, as the router has them.
pub fn api_routes() -> Vec<RouteInfo> {
    routes()
        .into_iter()
        .filter(|r| for_programs(r.path))
        .collect()
}

/// The role's name as the document gives it: the role's own, or `public`.
pub fn role_name(access: Access) -> &'static str {
    access.role().map_or("public", crate::auth::Role::as_str)
}

/// The operation of `method` in `item`, if the document has one.
fn operation_mut<'a>(
    item: &'a mut PathItem,
    method: &actix_web::http::Method,
) -> Option<&'a mut Operation> {
    use actix_web::http::Method;
    match *method {
        Method::GET => item.get.as_mut(),
        Method::POST => item.post.as_mut(),
        Method::PUT => item.put.as_mut(),
        Method::PATCH => item.patch.as_mut(),
        Method::DELETE => item.delete.as_mut(),
        Method::HEAD => item.head.as_mut(),
        Method::OPTIONS => item.options.as_mut(),
        Method::TRACE => item.trace.as_mut(),
        _ => None,
    }
}

/// Adds what the router knows to each operation: the role it needs (as
/// [`ROLE_EXTENSION`] and in its description), its security (none for public
/// routes, else a bearer token or a session cookie), the answers of a caller
/// access control refuses (401, 403), and the JSON extractor's 408. Operations
/// the router lacks are left as they are (the route tests find them).
fn complete(doc: &mut Document, routes: &[RouteInfo]) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An API token (`etcd-monitor token create`, or POST /api/v1/tokens): `Authorization: Bearer TOKEN`. The token's role is the caller's.",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        COOKIE,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            SESSION_COOKIE.to_string(),
            format!("The dashboard's session cookie, set by POST /login. A change (any method but GET) made with it must also send the session's CSRF token in the `{CSRF_HEADER}` header."),
        ))),
    );
    // The attribute cannot name a constant: the codes come from the list here.
    if let Some(RefOr::T(Schema::Object(detail))) = components.schemas.get_mut("ErrorDetail") {
        if let Some(RefOr::T(Schema::Object(code))) = detail.properties.get_mut("code") {
            code.enum_values = Some(ERROR_CODES.iter().map(|(c, _)| (*c).into()).collect());
        }
    }
    let error = |description: &str| -> RefOr<Response> {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .build()
            .into()
    };
    for route in routes {
        let Some(item) = doc.paths.paths.get_mut(route.path) else {
            continue;
        };
        let Some(op) = operation_mut(item, &route.method) else {
            continue;
        };
        let role = role_name(route.access);
        let extensions = op.extensions.get_or_insert_with(Default::default);
        extensions.insert(ROLE_EXTENSION.into(), role.into());
        let needs = match route.access {
            Access::Public => "Public: no credentials needed.".to_string(),
            access => format!("Needs the {} role or higher.", role_name(access)),
        };
        op.description = Some(match op.description.take() {
            Some(d) if !d.is_empty() => format!("{d}\n\n{needs}"),
            _ => needs,
        });
        if op.request_body.is_some() {
            // The app's JSON extractor (`error::json_error`) answers a body that
            // stalls; a body too large or malformed is the handler's 400.
            op.responses
                .responses
                .entry("408".into())
                .or_insert_with(|| error("The body did not arrive in time"));
        }
        if route.access == Access::Public {
            op.security = Some(vec![SecurityRequirement::default()]);
            continue;
        }
        op.security = Some(vec![
            SecurityRequirement::new::<_, _, &str>(BEARER, []),
            SecurityRequirement::new::<_, _, &str>(COOKIE, []),
        ]);
        let answers = &mut op.responses.responses;
        answers.entry("401".into()).or_insert_with(|| {
            error("No credentials, or credentials that are not (or no longer) valid")
        });
        let refused = if route.method == actix_web::http::Method::GET {
            format!("The caller's role is below {role}")
        } else {
            format!("The caller's role is below {role}, or the change was made with the session cookie without its CSRF token")
        };
        match answers.get_mut("403") {
            // The handler's own 403 (a cluster that hides values): both reasons.
            Some(RefOr::T(own)) => own.description = format!("{refused}; or {}", own.description),
            _ => {
                answers.insert("403".into(), error(&refused));
            }
        }
    }
}

/// The document as JSON: made once, it does not change while the monitor runs.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        document()
            .to_pretty_json()
            .expect("an OpenAPI document serialises to JSON")
    })
}

/// This document: every route's parameters, bodies, answers, errors and role.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "monitor",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(json())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// (method, path) of every operation in `doc`.
    fn operations(doc: &Document) -> BTreeSet<(String, String)> {
        let mut found = BTreeSet::new();
        for (path, item) in &doc.paths.paths {
            let methods = [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
                ("HEAD", &item.head),
                ("OPTIONS", &item.options),
                ("TRACE", &item.trace),
                ("QUERY", &item.query),
            ];
            for (method, op) in methods {
                if op.is_some() {
                    found.insert((method.to_string(), path.clone()));
                }
            }
        }
        found
    }

    #[test]
    fn every_api_route_is_described_and_every_operation_is_routed() {
        let routed: BTreeSet<(String, String)> = api_routes()
            .iter()
            // Only in the library's tests, not in the binary.
            .filter(|r| r.path != "/api/v1/test/panic")
            .map(|r| (r.method.to_string(), r.path.to_string()))
            .collect();
        let described = operations(&document());
        let undescribed: Vec<_> = routed.difference(&described).collect();
        let unrouted: Vec<_> = described.difference(&routed).collect();
        assert!(
            undescribed.is_empty() && unrouted.is_empty(),
            "routes without an operation: {undescribed:?}; operations without a route: {unrouted:?}"
        );
        assert!(routed.len() > 30, "{routed:?}");
    }

    /// The operation `id` of the document, as JSON.
    fn operation(doc: &serde_json::Value, id: &str) -> serde_json::Value {
        doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .find(|op| op["operationId"] == id)
            .unwrap_or_else(|| panic!("no operation {id}"))
            .clone()
    }

    /// The attributes take literals only: the ranges, sizes and names they give
    /// must be the ones the handlers check.
    #[test]
    fn limits_are_the_handlers() {
        let doc: serde_json::Value = serde_json::from_str(json()).unwrap();
        for (id, max) in [
            ("list_keys", crate::ops::browse::MAX_LIMIT),
            ("audit", api::access::MAX_AUDIT_LIMIT),
            ("list_benchmarks", api::bench::MAX_LIST),
            ("alert_history", api::alerts::MAX_HISTORY_LIMIT),
            ("cluster_events", api::events::MAX_EVENTS_LIMIT),
        ] {
            let op = operation(&doc, id);
            let limit = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == "limit")
                .unwrap_or_else(|| panic!("{id}: no limit"));
            assert_eq!(limit["in"], "query", "{id}");
            assert_eq!(limit["schema"]["minimum"], 1, "{id}");
            assert_eq!(limit["schema"]["maximum"], max, "{id}");
        }
        let history = operation(&doc, "alert_history");
        let event = history["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "event")
            .unwrap();
        let events = crate::alert::manager::HISTORY_EVENTS.join("|");
        assert_eq!(event["schema"]["pattern"], format!("^({events})$"));
        let compare = operation(&doc, "compare_benchmarks").to_string();
        let runs = format!("2 to {} runs", api::bench::MAX_COMPARED);
        assert!(compare.contains(&runs), "{compare}");
        let store = operation(&doc, "store_benchmark").to_string();
        let size = format!("at most {} MiB", api::bench::MAX_RUN_BODY >> 20);
        assert!(store.contains(&size), "{store}");
    }

    /// What the router decides is in the document: the role, the security, the
    /// refusals; and every error answer is the API's error body.
    #[test]
    fn each_operation_has_its_role_security_and_error_bodies() {
        let doc: serde_json::Value = serde_json::from_str(json()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for route in api_routes() {
            if route.path == "/api/v1/test/panic" {
                continue;
            }
            let method = route.method.as_str().to_ascii_lowercase();
            let op = &doc["paths"][route.path][&method];
            let name = format!("{} {}", route.method, route.path);
            assert_eq!(op[ROLE_EXTENSION], role_name(route.access), "{name}");
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{name}: no summary"
            );
            let answers = op["responses"].as_object().unwrap();
            assert!(
                answers.keys().any(|status| status.starts_with('2')),
                "{name}: no success answer"
            );
            for (status, answer) in answers {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        answer["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{name}: {status}"
                    );
                }
            }
            let security = op["security"].as_array().unwrap();
            if route.access == Access::Public {
                assert_eq!(security, &[serde_json::json!({})], "{name}");
                assert!(!answers.contains_key("401"), "{name}");
            } else {
                assert_eq!(security.len(), 2, "{name}");
                assert!(answers.contains_key("401"), "{name}");
                assert!(answers.contains_key("403"), "{name}");
            }
        }
        let metrics = &doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"];
        assert!(
            metrics
                .as_object()
                .unwrap()
                .contains_key(crate::exporter::CONTENT_TYPE),
            "{metrics}"
        );
    }
}
