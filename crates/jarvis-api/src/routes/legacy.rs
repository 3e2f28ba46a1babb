//! `/api/v1`: the original server's response shapes, for clients not yet moved to v2.
//!
//! Lists answer `{"count": N, "<kind>": {name: resource}}` with every resource in effect, search
//! answers `{"query", "count", "results"}`, health `{"status": "healthy", …}`. Every response
//! carries `Deprecation`, `Sunset` and a `Link` to its v2 successor.

use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use jarvis_auth::Scope;
use jarvis_core::ResourceKind;
use serde_json::{Map, Value, json};

use super::{Doc, get};
use crate::envelope::{Version, cached, deprecation_headers};
use crate::error::ApiError;
use crate::params::Params;
use crate::registry::Body;
use crate::routing::Routes;
use crate::state::AppState;
use crate::views::{ResourceSummary, SearchHitView};

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    get(
        cfg,
        routes,
        "/api/v1/health",
        Doc {
            operation: "v1_health".into(),
            tag: "v1",
            summary: "Deprecated: liveness in the original shape; use /api/v2/health".into(),
            params: vec![],
            body: Body::Json,
            errors: &[],
            cached: false,
            scope: None,
        },
        true,
        health,
    );
    for kind in ResourceKind::ALL {
        let plural = kind.plural();
        get(
            cfg,
            routes,
            &format!("/api/v1/{plural}"),
            Doc {
                operation: format!("v1_list_{}", plural.replace('-', "_")),
                tag: "v1",
                summary: format!(
                    "Deprecated: every {} in effect, keyed by name; use /api/v2/{plural}",
                    kind.as_str().replace('_', " ")
                ),
                params: vec![],
                body: Body::Json,
                errors: &[],
                cached: true,
                scope: Some(Scope::Read),
            },
            true,
            move |req: HttpRequest, state: web::Data<AppState>| list(req, state, kind),
        );
    }
    get(
        cfg,
        routes,
        "/api/v1/search",
        Doc {
            operation: "v1_search".into(),
            tag: "v1",
            summary: "Deprecated: search in the original shape; use /api/v2/search".into(),
            params: super::search::get_params()
                .into_iter()
                .filter(|p| p.name != "include_shadowed")
                .collect(),
            body: Body::Json,
            errors: &[],
            cached: true,
            scope: Some(Scope::Read),
        },
        true,
        search,
    );
}

/// The key a v1 list files each resource under: its qualified name, or its id when two
/// resources in effect share the name (two projects' agents).
fn keyed<'a>(resources: impl Iterator<Item = &'a jarvis_core::Resource>) -> Map<String, Value> {
    let mut map = Map::new();
    for r in resources {
        let key = if map.contains_key(&r.qualified_name) {
            r.id.to_string()
        } else {
            r.qualified_name.clone()
        };
        map.insert(key, json!(ResourceSummary::from(r)));
    }
    map
}

async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    kind: ResourceKind,
) -> Result<HttpResponse, ApiError> {
    cached(&req, &state, Version::V1, move |snapshot| {
        let items = keyed(snapshot.of_kind(kind).filter(|r| r.is_active()));
        let field = kind.plural().replace('-', "_");
        let mut body = Map::new();
        body.insert("count".into(), json!(items.len()));
        body.insert(field, Value::Object(items));
        serde_json::to_vec(&body).map_err(|e| ApiError::internal(&e))
    })
    .await
}

async fn search(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let query = super::search::parse_query(&Params::of(&req))?;
    cached(&req, &state, Version::V1, move |snapshot| {
        let hits = snapshot.search(&query);
        let results: Vec<SearchHitView<'_>> = hits.iter().map(SearchHitView::from).collect();
        serde_json::to_vec(
            &json!({ "query": query.text, "count": results.len(), "results": results }),
        )
        .map_err(|e| ApiError::internal(&e))
    })
    .await
}

async fn health(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let snapshot = state.catalog.snapshot();
    let mut builder = HttpResponse::Ok();
    deprecation_headers(&mut builder, req.path());
    Ok(builder.json(json!({
        "status": "healthy",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "resources": snapshot.resources().iter().filter(|r| r.is_active()).count(),
    })))
}
