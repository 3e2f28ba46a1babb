//! `/search`: ranked search over every kind, with typo tolerance and highlights.

use actix_web::http::StatusCode;
use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use jarvis_auth::Scope;
use jarvis_core::ResourceKind;
use jarvis_discovery::SearchQuery;

use crate::envelope::{Version, cached, v2_prefix};
use crate::error::{ApiError, blocking};
use crate::params::{NOT_BLANK, Params, list_pattern, trim_blanks};
use crate::registry::{Body, Param, Route};
use crate::reply;
use crate::routing::Routes;
use crate::state::AppState;
use crate::views::SearchHitView;
use jarvis_core::Code;
use serde::Deserialize;

/// The longest query accepted, in characters.
const MAX_QUERY: usize = 256;
/// The most hits one search returns.
pub(crate) const MAX_HITS: usize = 100;

/// A search as a JSON body, for clients that prefer POST (long queries, structured filters).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// What to look for (1 to 256 characters, not only blanks).
    #[schema(min_length = 1, max_length = 256, pattern = "[^ \\t\\r\\n]")]
    pub q: String,
    /// Only these kinds.
    #[serde(default)]
    pub kinds: Vec<ResourceKind>,
    /// How many hits, 1 to 100 (default 20).
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// Include shadowed definitions.
    #[serde(default)]
    pub include_shadowed: bool,
}

/// A whole number as JSON Schema counts one: `18` and `18.0` alike (an `integer` is any number
/// without a fractional part).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = number.as_u64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
            .map(|f| f as u64)
    });
    whole
        .and_then(|n| usize::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`limit` must be a whole number from 1 to {MAX_HITS}, not {number}"
            ))
        })
}

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    for prefix in ["/api/v2", ""] {
        let path = format!("{prefix}/search");
        let suffix = if prefix.is_empty() {
            "_unversioned"
        } else {
            ""
        };
        let post = Route {
            method: "post",
            path: path.clone(),
            operation_id: format!("search_post{suffix}"),
            tag: "search",
            summary: "Ranked search with the query as a JSON body".into(),
            params: vec![],
            body: Body::Envelope("SearchResults"),
            errors: &[
                Code::MalformedBody,
                Code::PayloadTooLarge,
                Code::UnsupportedMediaType,
            ],
            deprecated: false,
            cached: false,
            scope: Some(Scope::Read),
            status: 200,
            request: Some("SearchRequest"),
        };
        let get = Route {
            method: "get",
            path: path.clone(),
            operation_id: format!("search{suffix}"),
            tag: "search",
            summary: "Ranked search over names, descriptions, tags and bodies, with typo tolerance and highlights".into(),
            params: get_params(),
            body: Body::Envelope("SearchResults"),
            errors: &[],
            deprecated: false,
            cached: true,
            scope: Some(Scope::Read),
            status: 200,
            request: None,
        };
        routes.add_many(
            cfg,
            vec![get, post],
            web::resource(path)
                .route(web::get().to(search))
                .route(web::post().to(search_post)),
        );
    }
}

/// The names `kind` accepts.
const KIND_NAMES: &[&str] = &[
    "agent",
    "agents",
    "subagent",
    "subagents",
    "command",
    "commands",
    "slash_command",
    "slash_commands",
    "slash-command",
    "slash-commands",
    "skill",
    "skills",
    "mcp",
    "mcp_server",
    "mcp_servers",
    "mcp-server",
    "mcp-servers",
    "workflow",
    "workflows",
];

pub(crate) fn get_params() -> Vec<Param> {
    vec![
        Param::query("q", "string", "What to look for (1 to 256 characters, not only blanks)")
            .pattern(NOT_BLANK, 1, MAX_QUERY)
            .required(),
        Param::query(
            "kind",
            "string",
            "Only these kinds (agent, command, skill, mcp_server, workflow, or their plurals); repeat or comma-separate",
        )
        .pattern(list_pattern(KIND_NAMES), 1, 256)
        .repeatable(),
        Param::query("limit", "integer", "How many hits")
            .range(1, MAX_HITS as u64)
            .default(20),
        Param::query(
            "include_shadowed",
            "boolean",
            "Include definitions shadowed by others (default false)",
        ),
    ]
}

/// A search, parsed (the route table has checked every value against [`get_params`]).
pub(crate) fn parse_query(params: &Params) -> Result<SearchQuery, ApiError> {
    let text = trim_blanks(params.get("q").unwrap_or_default());
    let kinds = params
        .all("kind")
        .into_iter()
        .map(|k| {
            k.parse::<ResourceKind>()
                .map_err(|e| ApiError::invalid("kind", e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SearchQuery {
        text: text.to_owned(),
        kinds,
        include_shadowed: params.flag("include_shadowed").unwrap_or(false),
        limit: params.count("limit"),
    })
}

async fn search_post(
    state: web::Data<AppState>,
    body: crate::error::JsonObject<SearchRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let len = body.q.chars().count();
    if len > MAX_QUERY || trim_blanks(&body.q).is_empty() {
        return Err(ApiError::invalid(
            "q",
            format!("`q` must have 1 to {MAX_QUERY} characters, not only blanks (it has {len})"),
        ));
    }
    let text = trim_blanks(&body.q).to_owned();
    let limit = body.limit.unwrap_or(20);
    if !(1..=MAX_HITS).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("`limit` must be from 1 to {MAX_HITS}, not {limit}"),
        ));
    }
    let query = SearchQuery {
        text,
        kinds: body.kinds,
        include_shadowed: body.include_shadowed,
        limit,
    };
    let snapshot = state.catalog.snapshot();
    let prefix = blocking(move || render(&snapshot, &query)).await?;
    Ok(reply::finish(StatusCode::OK, &prefix, None))
}

fn render(
    snapshot: &jarvis_discovery::CatalogSnapshot,
    query: &SearchQuery,
) -> Result<Vec<u8>, ApiError> {
    let started = std::time::Instant::now();
    let hits = snapshot.search(query);
    let views: Vec<SearchHitView<'_>> = hits.iter().map(SearchHitView::from).collect();
    // Serialized straight from the views: no JSON value tree built in between.
    let data = SearchResults {
        query: &query.text,
        count: views.len(),
        took_us: started.elapsed().as_micros() as u64,
        hits: &views,
    };
    v2_prefix(&data, None, snapshot.generation())
}

/// The `data` of a search answer (`SearchResults` in the OpenAPI document).
#[derive(serde::Serialize)]
struct SearchResults<'a> {
    query: &'a str,
    count: usize,
    took_us: u64,
    hits: &'a [SearchHitView<'a>],
}

async fn search(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let query = parse_query(&Params::of(&req))?;
    cached(&req, &state, Version::V2, move |snapshot| {
        render(&snapshot, &query)
    })
    .await
}
