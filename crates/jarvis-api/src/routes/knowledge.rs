//! The knowledge base: ranked search over the user's notes and memory files with snippets,
//! topics, one note, the index's numbers, and a rebuild on request. Searches run on the blocking
//! pool over the index's last committed snapshot; while the index is being built they answer
//! `503 INDEX_REBUILDING` with `Retry-After` rather than partial results.

use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use jarvis_auth::Scope;
use jarvis_core::Code;
use jarvis_knowledge::{KnowledgeBase, KnowledgeError, SearchRequest};

use super::{Doc, get_v2};
use crate::envelope::Pagination;
use crate::error::{ApiError, blocking};
use crate::guard::Caller;
use crate::params::{NOT_BLANK, Params};
use crate::registry::{Body, Param, Route};
use crate::reply;
use crate::routing::Routes;
use crate::state::AppState;

/// The longest query.
const MAX_QUERY: usize = 256;
/// The most hits a page holds.
const MAX_HITS: u64 = 100;
/// The default page.
const DEFAULT_HITS: u64 = 10;
/// The deepest page start.
const MAX_OFFSET: u64 = 10_000;
/// A note id.
const NOTE_ID_PATTERN: &str = "^note_[0-9a-f]{16}$";
/// How long a client waits before asking a rebuilding index again, in seconds.
const REBUILD_RETRY_SECS: u64 = 2;

const ERRORS: &[Code] = &[Code::KnowledgeUnavailable, Code::IndexRebuilding];

/// How a knowledge failure is answered: a rebuild says when to ask again; an index failure is
/// internal (logged with the request id, not sent).
fn failed(e: KnowledgeError) -> ApiError {
    match e {
        KnowledgeError::Rebuilding { .. } => {
            ApiError::new(Code::IndexRebuilding, e.to_string()).retry_after(REBUILD_RETRY_SECS)
        }
        KnowledgeError::Index(message) => ApiError::internal(&message),
    }
}

fn query_param() -> Param {
    Param::query(
        "q",
        "string",
        "Words (a typo or two forgiven by length; the last one also matched as a prefix) and \"quoted phrases\"; the first 32 distinct are searched",
    )
    .pattern(NOT_BLANK, 1, MAX_QUERY)
    .required()
}

fn limit_param() -> Param {
    Param::query("limit", "integer", "Hits per page")
        .range(1, MAX_HITS)
        .default(DEFAULT_HITS)
}

fn topic_param() -> Param {
    Param::query(
        "topic",
        "string",
        "Only notes under this topic (a tag, a frontmatter topic, a top-level folder, or `memory`)",
    )
    .max_len(100)
}

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    get_v2(
        cfg,
        routes,
        "/knowledge/search",
        Doc {
            operation: "knowledge_search".into(),
            tag: "knowledge",
            summary: "Ranked search (also the original /knowledge/search; BM25; title over headings and tags over body; exact words over typo-tolerant ones) over the notes folders and Claude Code's memory files; each hit with a snippet and its highlight ranges".into(),
            params: vec![
                query_param(),
                Param::query("tag", "string", "Only notes with this tag").max_len(100),
                topic_param(),
                Param::query(
                    "path",
                    "string",
                    "Only notes in this folder, relative to its notes folder (`projects/jarvis`), or this file (its full path)",
                )
                .max_len(1024),
                limit_param(),
                Param::query("offset", "integer", "Hits skipped")
                    .range(0, MAX_OFFSET)
                    .default(0),
            ],
            body: Body::Page("KnowledgeHit"),
            errors: ERRORS,
            cached: false,
            scope: Some(Scope::Read),
        },
        search,
    );
    get_v2(
        cfg,
        routes,
        "/knowledge/topics",
        Doc {
            operation: "knowledge_topics".into(),
            tag: "knowledge",
            summary: "Topics with their note counts, most notes first: tags, frontmatter topics, top-level folders, and `memory` for Claude Code's memory files".into(),
            params: vec![],
            body: Body::List("KnowledgeTopic"),
            errors: ERRORS,
            cached: false,
            scope: Some(Scope::Read),
        },
        topics,
    );
    get_v2(
        cfg,
        routes,
        "/knowledge/notes/{id}",
        Doc {
            operation: "knowledge_note".into(),
            tag: "knowledge",
            summary: "One note as indexed: title, path, headings, tags, topics, body, modification time and size".into(),
            params: vec![Param::path("id", "The note id").pattern(NOTE_ID_PATTERN, 21, 21)],
            body: Body::Envelope("KnowledgeNote"),
            errors: &[
                Code::ResourceNotFound,
                Code::KnowledgeUnavailable,
                Code::IndexRebuilding,
            ],
            cached: false,
            scope: Some(Scope::Read),
        },
        note,
    );
    get_v2(
        cfg,
        routes,
        "/knowledge/stats",
        Doc {
            operation: "knowledge_stats".into(),
            tag: "knowledge",
            summary: "The index: state (opening, ready, rebuilding and why), notes, distinct terms, bytes on disk, last update, how it last opened, the folders and memory files read, and the files not indexed with their diagnostic codes".into(),
            params: vec![],
            body: Body::Envelope("KnowledgeStats"),
            errors: &[Code::KnowledgeUnavailable],
            cached: false,
            scope: Some(Scope::Read),
        },
        stats,
    );
    routes.add(
        cfg,
        Route {
            method: "post",
            path: "/api/v2/knowledge/reindex".into(),
            operation_id: "knowledge_reindex".into(),
            tag: "knowledge",
            summary: "Rebuilds the index from the files, in the background: 202 at once; searches answer 503 INDEX_REBUILDING until a `ready` event on the `knowledge` topic".into(),
            params: vec![],
            body: Body::Envelope("KnowledgeStats"),
            errors: &[Code::KnowledgeUnavailable],
            deprecated: false,
            cached: false,
            status: 202,
            request: None,
            scope: Some(Scope::Execute),
        },
        web::resource("/api/v2/knowledge/reindex").route(web::post().to(reindex)),
    );
}

fn knowledge(state: &AppState) -> Result<KnowledgeBase, ApiError> {
    state.knowledge.clone().ok_or_else(|| {
        ApiError::new(
            Code::KnowledgeUnavailable,
            "the knowledge base is turned off (knowledge.enabled = false)",
        )
    })
}

async fn search(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let kb = knowledge(&state)?;
    let params = Params::of(&req);
    let limit = usize::try_from(params.integer("limit").unwrap_or(DEFAULT_HITS)).unwrap_or(10);
    let offset = usize::try_from(params.integer("offset").unwrap_or(0)).unwrap_or(0);
    let request = SearchRequest {
        q: params.get("q").unwrap_or_default().to_owned(),
        tag: params.get("tag").map(str::to_owned),
        topic: params.get("topic").map(str::to_owned),
        path: params.get("path").map(str::to_owned),
        limit,
        offset,
    };
    let page = blocking(move || kb.search(&request).map_err(failed)).await?;
    let pagination = Pagination {
        total: page.total,
        limit,
        offset,
        has_more: offset + page.hits.len() < page.total,
        next_cursor: None,
    };
    reply::page(
        &page.hits,
        &pagination,
        state.catalog.snapshot().generation(),
    )
}

async fn topics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let kb = knowledge(&state)?;
    let topics = blocking(move || kb.topics().map_err(failed)).await?;
    reply::ok(&topics, state.catalog.snapshot().generation())
}

async fn note(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let kb = knowledge(&state)?;
    let id = id.into_inner();
    let key = id.clone();
    let note = blocking(move || kb.note(&key).map_err(failed))
        .await?
        .ok_or_else(|| ApiError::new(Code::ResourceNotFound, format!("no note `{id}`")))?;
    reply::ok(&note, state.catalog.snapshot().generation())
}

async fn stats(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let kb = knowledge(&state)?;
    let stats = blocking(move || Ok::<_, ApiError>(kb.stats())).await?;
    reply::ok(&stats, state.catalog.snapshot().generation())
}

async fn reindex(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let kb = knowledge(&state)?;
    kb.rebuild(&format!("asked by {}", caller.name()));
    tracing::info!(target: "jarvis::audit", action = "knowledge.reindex", by = %caller.name(), "knowledge index rebuild asked");
    let stats = blocking(move || Ok::<_, ApiError>(kb.stats())).await?;
    reply::accepted(&stats, None, state.catalog.snapshot().generation())
}
