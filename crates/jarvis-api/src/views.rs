//! The JSON shapes the API returns where they differ from the domain types: list summaries
//! (no body, no metadata) and search hits. Borrowed, so rendering a page copies nothing twice.

use std::path::Path;

use jarvis_core::{Details, DiagnosticCode, Resource, ResourceId, ResourceKind, Scope};
use jarvis_discovery::SearchHit;
use jarvis_integrations::mcp::McpHealth;
use serde::Serialize;

/// A resource in a list: everything but its body and raw metadata (ask the detail route).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResourceSummary<'a> {
    /// Stable id.
    #[schema(value_type = String)]
    pub id: &'a ResourceId,
    /// Kind.
    pub kind: ResourceKind,
    /// Invocation name.
    pub name: &'a str,
    /// `dir:name` for namespaced commands, else the name.
    pub qualified_name: &'a str,
    /// Other names it answers to.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub aliases: &'a [String],
    /// What it is for.
    pub description: &'a str,
    /// Where it is defined.
    pub scope: Scope,
    /// The project, for project and local scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub project: Option<&'a Path>,
    /// The file it was read from.
    #[schema(value_type = String)]
    pub source: &'a Path,
    /// Grouping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<&'a str>,
    /// Tags.
    #[schema(value_type = Vec<String>)]
    pub tags: &'a [String],
    /// Whether it is in effect.
    pub active: bool,
    /// What shadows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub shadowed_by: Option<&'a ResourceId>,
    /// Diagnostics that concern it.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    #[schema(value_type = Vec<DiagnosticCode>)]
    pub flags: &'a [DiagnosticCode],
    /// Kind-specific fields (secrets masked).
    #[schema(value_type = Details)]
    pub details: &'a Details,
    /// MCP servers only: the last health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<McpHealth>,
}

/// A resource in full, with (for an MCP server) its last health check.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResourceDetail<'a> {
    /// The resource.
    #[serde(flatten)]
    #[schema(value_type = Resource)]
    pub resource: &'a Resource,
    /// MCP servers only: the last health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<McpHealth>,
}

impl<'a> From<&'a Resource> for ResourceSummary<'a> {
    fn from(r: &'a Resource) -> Self {
        ResourceSummary {
            id: &r.id,
            kind: r.kind,
            name: &r.name,
            qualified_name: &r.qualified_name,
            aliases: &r.aliases,
            description: &r.description,
            scope: r.scope,
            project: r.project.as_deref(),
            source: &r.source,
            category: r.category.as_deref(),
            tags: &r.tags,
            active: r.is_active(),
            shadowed_by: r.shadowed_by.as_ref(),
            flags: &r.flags,
            details: &r.details,
            health: None,
        }
    }
}

/// A search hit.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchHitView<'a> {
    /// The resource's id (fetch it from its detail route).
    #[schema(value_type = String)]
    pub id: &'a ResourceId,
    /// Its kind.
    pub kind: ResourceKind,
    /// Its qualified name.
    pub name: &'a str,
    /// Its description.
    pub description: &'a str,
    /// Relevance; comparable within one query only.
    pub score: f32,
    /// How many query words matched.
    pub matched_tokens: usize,
    /// The weakest match among them: `exact`, `prefix` or `fuzzy`.
    #[schema(value_type = String)]
    pub quality: &'static str,
    /// The best snippet.
    pub highlight: HighlightView<'a>,
}

/// A snippet and the byte ranges of it that matched.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HighlightView<'a> {
    /// `name`, `description`, `tags` or `body`.
    #[schema(value_type = String)]
    pub field: &'static str,
    /// The snippet.
    pub text: &'a str,
    /// `[start, end)` byte ranges of `text` to highlight.
    #[schema(value_type = Vec<Vec<usize>>)]
    pub ranges: &'a [[usize; 2]],
}

impl<'a> From<&'a SearchHit> for SearchHitView<'a> {
    fn from(hit: &'a SearchHit) -> Self {
        use jarvis_discovery::{HighlightField, MatchQuality};
        SearchHitView {
            id: &hit.id,
            kind: hit.kind,
            name: &hit.name,
            description: &hit.description,
            score: hit.score,
            matched_tokens: hit.matched_tokens,
            quality: match hit.quality {
                MatchQuality::Exact => "exact",
                MatchQuality::Prefix => "prefix",
                MatchQuality::Fuzzy => "fuzzy",
            },
            highlight: HighlightView {
                field: match hit.highlight.field {
                    HighlightField::Name => "name",
                    HighlightField::Description => "description",
                    HighlightField::Tags => "tags",
                    HighlightField::Body => "body",
                },
                text: &hit.highlight.text,
                ranges: &hit.highlight.ranges,
            },
        }
    }
}

/// Cache counters.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CacheStatsView {
    /// Entries held.
    pub entries: usize,
    /// Payload bytes held.
    pub bytes: usize,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that were not.
    pub misses: u64,
    /// hits / (hits + misses).
    pub hit_rate: f64,
    /// Entries removed to stay within the limits.
    pub evictions: u64,
    /// Entries dropped because the catalog changed or their TTL ran out.
    pub invalidations: u64,
    /// The entry limit.
    pub max_entries: usize,
    /// The byte limit.
    pub max_bytes: usize,
}

impl From<jarvis_cache::CacheStats> for CacheStatsView {
    fn from(s: jarvis_cache::CacheStats) -> Self {
        CacheStatsView {
            entries: s.entries,
            bytes: s.bytes,
            hits: s.hits,
            misses: s.misses,
            hit_rate: s.hit_rate,
            evictions: s.evictions,
            invalidations: s.invalidations,
            max_entries: s.max_entries,
            max_bytes: s.max_bytes,
        }
    }
}
