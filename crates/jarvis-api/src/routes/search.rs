//! `/search`: ranked search over every kind, with typo tolerance and highlights.

use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use jarvis_core::ResourceKind;
use jarvis_discovery::SearchQuery;
use serde_json::json;

use super::{Doc, get_v2};
use crate::envelope::{Version, cached, v2_prefix};
use crate::error::ApiError;
use crate::params::Params;
use crate::registry::{Body, Param, Routes};
use crate::state::AppState;
use crate::views::SearchHitView;

/// The longest query accepted, in characters.
const MAX_QUERY: usize = 256;
/// The most hits one search returns.
pub(crate) const MAX_HITS: usize = 100;

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    get_v2(
        cfg,
        routes,
        "/search",
        Doc {
            operation: "search".into(),
            tag: "search",
            summary: "Ranked search over names, descriptions, tags and bodies, with typo tolerance and highlights".into(),
            params: vec![
                Param::query("q", "string", "What to look for (1 to 256 characters)").required(),
                Param::query("kind", "string", "Only these kinds: agent, command, skill, mcp_server, workflow; repeat or comma-separate"),
                Param::query("limit", "integer", "How many hits, 1 to 100 (default 20)"),
                Param::query("include_shadowed", "boolean", "Include definitions shadowed by others (default false)"),
            ],
            body: Body::Envelope("SearchResults"),
            errors: &[],
            cached: true,
        },
        search,
    );
}

/// A search, parsed and validated.
pub(crate) fn parse_query(params: &Params) -> Result<SearchQuery, ApiError> {
    let text = params
        .get("q")
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .ok_or_else(|| ApiError::invalid("q", "`q` is required and must not be empty"))?;
    if text.chars().count() > MAX_QUERY {
        return Err(ApiError::invalid("q", format!("`q` is longer than {MAX_QUERY} characters")));
    }
    let kinds = params
        .all("kind")
        .into_iter()
        .map(|k| k.parse::<ResourceKind>().map_err(|e| ApiError::invalid("kind", e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SearchQuery {
        text: text.to_owned(),
        kinds,
        include_shadowed: params.flag("include_shadowed")?.unwrap_or(false),
        limit: params.number("limit", 20, 1, MAX_HITS)?,
    })
}

async fn search(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(req.query_string(), &["q", "kind", "limit", "include_shadowed"], &["kind"])?;
    let query = parse_query(&params)?;
    cached(&req, &state, Version::V2, move |snapshot| {
        let started = std::time::Instant::now();
        let hits = snapshot.search(&query);
        let views: Vec<SearchHitView<'_>> = hits.iter().map(SearchHitView::from).collect();
        let data = json!({
            "query": query.text,
            "count": views.len(),
            "took_us": started.elapsed().as_micros() as u64,
            "hits": views,
        });
        v2_prefix(&data, None, snapshot.generation())
    })
    .await
}
