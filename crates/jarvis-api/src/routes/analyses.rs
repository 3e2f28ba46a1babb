//! Content analyses: `POST /analyze` (the original shape) and `POST /api/v2/analyses` queue an
//! analysis task; the list, one analysis with its result, and its thumbnails. Progress arrives
//! on the task's WebSocket topic; cancel through the task route.

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use jarvis_auth::Scope;
use jarvis_core::{Code, Priority, Task, TaskKind};
use jarvis_tasks::{RunVars, TASK_CURSOR_PATTERN, TASK_ID_LEN, TASK_ID_PATTERN, TaskSpec};
use serde::Deserialize;

use crate::error::{ApiError, JsonObject};
use crate::guard::Caller;
use crate::params::{DEFAULT_LIMIT, MAX_LIMIT, Params};
use crate::registry::{Body, Param, Route};
use crate::reply;
use crate::routing::Routes;
use crate::services::analysis::{ANALYSIS_TYPES, analysis_input};
use crate::state::AppState;

/// `POST /analyze` and `POST /api/v2/analyses`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeRequest {
    /// A file below a media folder (`analysis.roots`): an absolute path without `..`.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 4096, pattern = "^/")]
    pub path: Option<String>,
    /// An http(s) address whose host is not internal.
    #[serde(default)]
    #[schema(
        min_length = 8,
        max_length = 2048,
        pattern = "^[Hh][Tt][Tt][Pp][Ss]?://[^ ]+$"
    )]
    pub url: Option<String>,
    /// What to find (default: everything that applies): metadata, scenes, loudness, silence,
    /// thumbnails, text.
    #[serde(default)]
    #[schema(max_items = 6, value_type = Vec<AnalysisType>)]
    pub analysis_type: Vec<String>,
}

/// One kind of analysis.
pub struct AnalysisType;

impl utoipa::PartialSchema for AnalysisType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(ANALYSIS_TYPES.iter().copied()))
            .into()
    }
}

impl utoipa::ToSchema for AnalysisType {}

const SUBMIT_ERRORS: &[Code] = &[
    Code::ValidationError,
    Code::SourceForbidden,
    Code::ResourceNotFound,
    Code::MalformedBody,
    Code::PayloadTooLarge,
    Code::UnsupportedMediaType,
    Code::AnalyzerUnavailable,
    Code::StoreUnavailable,
];

fn analysis_id() -> Param {
    Param::path("id", "The analysis (task) id").pattern(TASK_ID_PATTERN, TASK_ID_LEN, TASK_ID_LEN)
}

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    let post_route = |path: &str, operation: &str, summary: &str| Route {
        method: "post",
        path: path.into(),
        operation_id: operation.into(),
        tag: "analyses",
        summary: summary.into(),
        params: vec![],
        body: Body::Envelope("Task"),
        errors: SUBMIT_ERRORS,
        deprecated: false,
        cached: false,
        status: 202,
        request: Some("AnalyzeRequest"),
        scope: Some(Scope::Execute),
    };
    routes.add(
        cfg,
        post_route(
            "/analyze",
            "analyze",
            "Queue an analysis of a file or address (the original shape): 202 with the task; progress on its WebSocket topic",
        ),
        web::resource("/analyze").route(web::post().to(create)),
    );
    // One resource answers both methods of the collection.
    routes.add_many(
        cfg,
        vec![
            post_route(
                "/api/v2/analyses",
                "create_analysis",
                "Queue an analysis of a file below a media folder or an http(s) address: video and audio (streams, scenes, loudness, silence, thumbnails) or text",
            ),
            get_route(
                "/api/v2/analyses",
                "list_analyses",
                "Analyses, newest first",
                Body::Page("Task"),
                vec![
                    Param::query("status", "string", "Only this status").one_of(&[
                        "queued",
                        "running",
                        "succeeded",
                        "failed",
                        "canceled",
                        "timed_out",
                        "interrupted",
                    ]),
                    Param::query("limit", "integer", "Page size")
                        .range(1, MAX_LIMIT)
                        .default(DEFAULT_LIMIT),
                    Param::query("cursor", "string", "The `next_cursor` of the previous page")
                        .pattern(TASK_CURSOR_PATTERN, 4, 21),
                ],
                &[Code::AnalyzerUnavailable],
            ),
        ],
        web::resource("/api/v2/analyses")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    );
    routes.add(
        cfg,
        get_route(
            "/api/v2/analyses/{id}",
            "get_analysis",
            "One analysis with its result once it has finished",
            Body::Envelope("Task"),
            vec![analysis_id()],
            &[Code::ResourceNotFound, Code::AnalyzerUnavailable],
        ),
        web::resource("/api/v2/analyses/{id}").route(web::get().to(detail)),
    );
    routes.add(
        cfg,
        get_route(
            "/api/v2/analyses/{id}/thumbnails/{n}",
            "analysis_thumbnail",
            "A thumbnail of an analysed video (JPEG, 320 pixels wide)",
            Body::Jpeg,
            vec![
                analysis_id(),
                Param::path("n", "The thumbnail's number, from 0").range(0, 63),
            ],
            &[Code::ResourceNotFound, Code::AnalyzerUnavailable],
        ),
        web::resource("/api/v2/analyses/{id}/thumbnails/{n}").route(web::get().to(thumbnail)),
    );
}

fn get_route(
    path: &str,
    operation: &str,
    summary: &str,
    body: Body,
    params: Vec<Param>,
    errors: &'static [Code],
) -> Route {
    Route {
        method: "get",
        path: path.into(),
        operation_id: operation.into(),
        tag: "analyses",
        summary: summary.into(),
        params,
        body,
        errors,
        deprecated: false,
        cached: false,
        status: 200,
        request: None,
        scope: Some(Scope::Read),
    }
}

fn enabled(state: &AppState) -> Result<&crate::services::analysis::Analysis, ApiError> {
    state.analysis.as_ref().ok_or_else(|| {
        ApiError::new(
            Code::AnalyzerUnavailable,
            "content analysis is turned off (analysis.enabled = false)",
        )
    })
}

async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonObject<AnalyzeRequest>,
) -> Result<HttpResponse, ApiError> {
    let analysis = enabled(&state)?;
    let config = analysis.config();
    let AnalyzeRequest {
        path,
        url,
        analysis_type,
    } = body.into_inner();
    let media = crate::services::analysis::names_media(path.as_deref(), &analysis_type);
    let (target, input) = analysis_input(path.clone(), url, analysis_type, &config.fetch)?;
    if let Some(requested) = path {
        // Refused now, with its reason, rather than queued to fail.
        let roots = analysis.roots().to_vec();
        crate::error::blocking(move || {
            jarvis_integrations::analyzer::check_local(&requested, &roots)
                .map(drop)
                .map_err(|e| crate::services::analysis::path_error(&e))
        })
        .await?;
    }
    if media && let Some(tool) = analysis.analyzer().status().await.missing() {
        return Err(ApiError::new(
            Code::AnalyzerUnavailable,
            format!(
                "{} is not installed or cannot be run (`{}`; set analysis.media.{})",
                tool.tool, tool.program, tool.tool
            ),
        )
        .with_details(serde_json::json!({ "tool": tool.tool }))
        .retry_after(jarvis_integrations::analyzer::TOOL_CHECK_TTL.as_secs()));
    }
    let spec = TaskSpec {
        kind: TaskKind::Analysis,
        target: target.chars().take(512).collect(),
        resource_id: String::new(),
        input,
        priority: Priority::Normal,
        vars: RunVars::default(),
        submitted_by: caller.name().to_owned(),
    };
    let task = state.tasks.submit(spec).await?;
    tracing::info!(target: "jarvis::audit", action = "analysis.create", by = %caller.name(), task = %task.id, "analysis queued");
    let location = format!("/api/v2/analyses/{}", task.id);
    reply::accepted(
        &task,
        Some(&location),
        state.catalog.snapshot().generation(),
    )
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let params = Params::of(&req);
    let (tasks, pagination) =
        crate::routes::tasks::page(&state, &params, Some(TaskKind::Analysis)).await?;
    reply::page(&tasks, &pagination, state.catalog.snapshot().generation())
}

async fn analysis(state: &AppState, id: &str) -> Result<Task, ApiError> {
    let task = state.tasks.get(id).await?;
    if task.kind != TaskKind::Analysis {
        return Err(ApiError::new(
            Code::ResourceNotFound,
            format!("no analysis `{id}`"),
        ));
    }
    Ok(task)
}

async fn detail(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let task = analysis(&state, &id).await?;
    reply::ok(&task, state.catalog.snapshot().generation())
}

async fn thumbnail(
    state: web::Data<AppState>,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let (id, n) = path.into_inner();
    analysis(&state, &id).await?;
    let file = enabled(&state)?
        .thumbnails_dir(&id)
        .join(format!("{n}.jpg"));
    let bytes = tokio::fs::read(&file).await.map_err(|_| {
        ApiError::new(
            Code::ResourceNotFound,
            format!("analysis `{id}` has no thumbnail {n}"),
        )
    })?;
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")))
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=3600"),
        ));
    Ok(response.body(bytes))
}
