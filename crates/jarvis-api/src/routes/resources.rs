//! Lists and details of agents, commands, skills, MCP servers and workflows.
//!
//! One generic pair of handlers serves all five kinds: the kinds share one resource shape, and
//! five copies of the same code would drift apart.

use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use jarvis_auth::Scope as Access;
use jarvis_core::{Code, Resource, ResourceKind, Scope};
use jarvis_discovery::CatalogSnapshot;
use jarvis_integrations::mcp::McpMonitor;

use super::{Doc, get_v2};
use crate::envelope::{Version, cached, cached_with, v2_prefix};
use crate::error::ApiError;
use crate::params::{DEFAULT_LIMIT, MAX_LIMIT, Params, page_params, paginate};
use crate::registry::{Body, Param};
use crate::routing::Routes;
use crate::state::AppState;
use crate::views::{ResourceDetail, ResourceSummary};

pub(crate) fn list_params() -> Vec<Param> {
    let mut params = page_params(MAX_LIMIT, DEFAULT_LIMIT).to_vec();
    params.extend([
        Param::query(
            "category",
            "string",
            "Only this category (case-insensitive)",
        ),
        Param::query(
            "tag",
            "string",
            "Only resources with this tag; repeat or comma-separate for several (all must match)",
        )
        .repeatable(),
        Param::query("scope", "string", "Only this scope")
            .one_of(&["user", "project", "local", "desktop", "export", "remote"]),
        Param::query(
            "source",
            "string",
            "Only resources whose source path contains this text",
        ),
        Param::query(
            "sort",
            "string",
            "The order (default name; `-` for descending)",
        )
        .one_of(&["name", "-name", "scope", "-scope", "source", "-source"]),
        Param::query(
            "active",
            "boolean",
            "true: only definitions in effect; false: only shadowed ones",
        ),
    ]);
    params
}

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    for kind in ResourceKind::ALL {
        let plural = kind.plural();
        let noun = plural.replace('-', " ");
        let op = plural.replace('-', "_");
        get_v2(
            cfg,
            routes,
            &format!("/{plural}"),
            Doc {
                operation: format!("list_{op}"),
                tag: "resources",
                summary: format!("List {noun}, filtered, sorted and paginated"),
                params: list_params(),
                body: Body::Page("ResourceSummary"),
                errors: &[],
                cached: true,
                scope: Some(Access::Read),
            },
            move |req: HttpRequest, state: web::Data<AppState>| list(req, state, kind),
        );
        get_v2(
            cfg,
            routes,
            &format!("/{plural}/{{id}}"),
            Doc {
                operation: format!("get_{op}"),
                tag: "resources",
                summary: format!(
                    "One of the {noun} in full (body included, secrets masked), by id or name"
                ),
                params: vec![Param::path(
                    "id",
                    "The resource id, or its name (`tools:smart-debug`, `smart-debug`)",
                )],
                body: Body::Envelope(if kind == ResourceKind::McpServer {
                    "ResourceDetail"
                } else {
                    "Resource"
                }),
                errors: &[Code::ResourceNotFound, Code::AmbiguousName],
                cached: true,
                scope: Some(Access::Read),
            },
            move |req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>| {
                detail(req, state, kind, id.into_inner())
            },
        );
    }
}

/// Filters and order for a list, parsed and validated before anything is rendered.
#[derive(Debug, Clone)]
pub(crate) struct ListQuery {
    category: Option<String>,
    tags: Vec<String>,
    scope: Option<Scope>,
    source: Option<String>,
    active: Option<bool>,
    sort: Sort,
    limit: usize,
    offset: usize,
}

#[derive(Debug, Clone, Copy)]
enum Sort {
    Name(bool),
    Scope(bool),
    Source(bool),
}

impl ListQuery {
    pub(crate) fn parse(params: &Params) -> Result<ListQuery, ApiError> {
        let (limit, offset) = params.page()?;
        let scope = params
            .get("scope")
            .map(|s| match s {
                "user" => Ok(Scope::User),
                "project" => Ok(Scope::Project),
                "local" => Ok(Scope::Local),
                "desktop" => Ok(Scope::Desktop),
                "export" => Ok(Scope::Export),
                "remote" => Ok(Scope::Remote),
                other => Err(ApiError::invalid(
                    "scope",
                    format!(
                        "unknown scope `{other}`; expected user, project, local, desktop, export or remote"
                    ),
                )),
            })
            .transpose()?;
        let sort = match params.get("sort").unwrap_or("name") {
            "name" => Sort::Name(false),
            "-name" => Sort::Name(true),
            "scope" => Sort::Scope(false),
            "-scope" => Sort::Scope(true),
            "source" => Sort::Source(false),
            "-source" => Sort::Source(true),
            other => {
                return Err(ApiError::invalid(
                    "sort",
                    format!(
                        "cannot sort by `{other}`; use name, scope or source, with `-` for descending"
                    ),
                ));
            }
        };
        Ok(ListQuery {
            category: params.get("category").map(str::to_lowercase),
            tags: params
                .all("tag")
                .into_iter()
                .map(str::to_lowercase)
                .collect(),
            scope,
            source: params.get("source").map(str::to_owned),
            active: params.flag("active"),
            sort,
            limit,
            offset,
        })
    }

    fn matches(&self, r: &Resource) -> bool {
        self.category.as_ref().is_none_or(|c| {
            r.category
                .as_deref()
                .is_some_and(|rc| rc.to_lowercase() == *c)
        }) && self
            .tags
            .iter()
            .all(|t| r.tags.iter().any(|rt| rt.to_lowercase() == *t))
            && self.scope.is_none_or(|s| r.scope == s)
            && self
                .source
                .as_ref()
                .is_none_or(|s| r.source.to_string_lossy().contains(s.as_str()))
            && self.active.is_none_or(|a| r.is_active() == a)
    }
}

async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    kind: ResourceKind,
) -> Result<HttpResponse, ApiError> {
    let query = ListQuery::parse(&Params::of(&req))?;
    if kind == ResourceKind::McpServer {
        let mcp = state.mcp.clone();
        let suffix = super::mcp::cache_suffix(&mcp);
        return cached_with(&req, &state, Version::V2, &suffix, move |snapshot| {
            render_list(&snapshot, kind, &query, Some(&mcp))
        })
        .await;
    }
    cached(&req, &state, Version::V2, move |snapshot| {
        render_list(&snapshot, kind, &query, None)
    })
    .await
}

fn render_list(
    snapshot: &CatalogSnapshot,
    kind: ResourceKind,
    query: &ListQuery,
    mcp: Option<&McpMonitor>,
) -> Result<Vec<u8>, ApiError> {
    let mut items: Vec<&Resource> = snapshot
        .of_kind(kind)
        .filter(|r| query.matches(r))
        .collect();
    match query.sort {
        // The snapshot is already sorted by qualified name.
        Sort::Name(false) => {}
        Sort::Name(true) => items.reverse(),
        Sort::Scope(desc) => {
            items.sort_by(|a, b| (a.scope, &a.qualified_name).cmp(&(b.scope, &b.qualified_name)));
            if desc {
                items.reverse();
            }
        }
        Sort::Source(desc) => {
            items.sort_by(|a, b| a.source.cmp(&b.source));
            if desc {
                items.reverse();
            }
        }
    }
    let (page, pagination) = paginate(items, query.limit, query.offset);
    let views: Vec<ResourceSummary<'_>> = page
        .into_iter()
        .map(|r| ResourceSummary {
            health: mcp.map(|m| super::mcp::health_of(m, r)),
            ..ResourceSummary::from(r)
        })
        .collect();
    v2_prefix(&views, Some(&pagination), snapshot.generation())
}

async fn detail(
    req: HttpRequest,
    state: web::Data<AppState>,
    kind: ResourceKind,
    id: String,
) -> Result<HttpResponse, ApiError> {
    if kind == ResourceKind::McpServer {
        let mcp = state.mcp.clone();
        let suffix = super::mcp::cache_suffix(&mcp);
        return cached_with(&req, &state, Version::V2, &suffix, move |snapshot| {
            let resource = snapshot.find(kind, &id)?;
            let view = ResourceDetail {
                resource,
                health: Some(super::mcp::health_of(&mcp, resource)),
            };
            v2_prefix(&view, None, snapshot.generation())
        })
        .await;
    }
    cached(&req, &state, Version::V2, move |snapshot| {
        let resource = snapshot.find(kind, &id)?;
        v2_prefix(resource, None, snapshot.generation())
    })
    .await
}
