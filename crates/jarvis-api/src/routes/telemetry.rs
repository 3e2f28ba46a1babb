//! The machine and Jarvis itself: metric history, the latest sample, processes, and the
//! Prometheus exposition at `/metrics`.
//!
//! Everything here reads what the telemetry thread already measured: no handler refreshes
//! sysinfo or sleeps to compute a CPU percentage.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use jarvis_auth::Scope;
use jarvis_core::Code;
use jarvis_telemetry::prometheus::CONTENT_TYPE;
use jarvis_telemetry::{
    DURATION_PATTERN, LAST_SECOND, Monitor, ProcessSort, Tier, TimeRange, duration_secs,
    select_processes, unix_now,
};
use serde::Serialize;

use super::{Doc, get, get_v2};
use crate::envelope::v2_prefix;
use crate::error::{ApiError, blocking};
use crate::exposition;
use crate::params::{DEFAULT_LIMIT, Params, page_params, paginate};
use crate::registry::{Body, Choice, Param};
use crate::reply;
use crate::routing::Routes;
use crate::state::AppState;

/// The most processes one page may hold.
const MAX_PROCESSES: usize = 1000;

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    get(
        cfg,
        routes,
        "/metrics",
        Doc {
            operation: "prometheus".into(),
            tag: "telemetry",
            summary: "Prometheus text exposition: HTTP requests by route and status with latency histograms, open connections, cache, circuit breakers, tasks by status, catalog size per kind, and the machine's gauges. Answers without a key when server.auth.public_metrics is set".into(),
            params: vec![],
            body: Body::Prometheus,
            errors: &[],
            cached: false,
            scope: Some(Scope::Read),
        },
        false,
        prometheus,
    );
    get(
        cfg,
        routes,
        "/api/v2/metrics",
        Doc {
            operation: "metrics".into(),
            tag: "telemetry",
            summary: "Every metric the history keeps, with its unit and meaning; the history's resolutions; the sampling interval".into(),
            params: vec![],
            body: Body::Envelope("MetricsView"),
            errors: &[Code::TelemetryUnavailable],
            cached: false,
            scope: Some(Scope::Read),
        },
        false,
        metrics,
    );
    get_v2(
        cfg,
        routes,
        "/metrics/current",
        Doc {
            operation: "metrics_current".into(),
            tag: "telemetry",
            summary: "The latest sample: CPU (total, per core), memory, swap, load, disks, network, processes, uptime, and Jarvis's own gauges".into(),
            params: vec![],
            body: Body::Envelope("Sample"),
            errors: &[Code::TelemetryUnavailable],
            cached: false,
            scope: Some(Scope::Read),
        },
        current,
    );
    get_v2(
        cfg,
        routes,
        "/metrics/history",
        Doc {
            operation: "metrics_history".into(),
            tag: "telemetry",
            summary: "A metric's history, min/max/mean/count per point, from the finest resolution that covers the range".into(),
            params: history_params(),
            body: Body::Envelope("HistoryView"),
            errors: &[
                Code::ResourceNotFound,
                Code::TelemetryUnavailable,
                Code::StoreUnavailable,
            ],
            cached: false,
            scope: Some(Scope::Read),
        },
        history,
    );
    get_v2(
        cfg,
        routes,
        "/processes",
        Doc {
            operation: "processes".into(),
            tag: "telemetry",
            summary: "Processes as of the latest sample: pid, parent, name, user, status, CPU %, memory, start time, command line (cut, secrets masked)".into(),
            params: process_params(),
            body: Body::Page("ProcessInfo"),
            errors: &[Code::TelemetryUnavailable],
            cached: false,
            scope: Some(Scope::Read),
        },
        processes,
    );
    get_v2(
        cfg,
        routes,
        "/processes/{pid}",
        Doc {
            operation: "process".into(),
            tag: "telemetry",
            summary: "One process as of the latest sample".into(),
            params: vec![Param::path("pid", "The process id").range(0, u32::MAX as u64)],
            body: Body::Envelope("ProcessInfo"),
            errors: &[Code::ResourceNotFound, Code::TelemetryUnavailable],
            cached: false,
            scope: Some(Scope::Read),
        },
        process,
    );
}

/// `metric` or, under the original's name, `metric_name`: one of them.
static METRIC: Choice = Choice {
    name: "metric_choice",
    description: "The metric (see /api/v2/metrics): `metric`, or `metric_name` as the original named it",
    required: true,
};

/// `time_range` back from now, or `from`/`to`.
static WINDOW: Choice = Choice {
    name: "window",
    description: "The time covered: `time_range` back from now, or `from`/`to` (default: the last hour)",
    required: false,
};

fn history_params() -> Vec<Param> {
    vec![
        Param::query("metric", "string", "The metric's name").side_of(&METRIC, 0),
        Param::query("metric_name", "string", "The same, under the original's name")
            .side_of(&METRIC, 1),
        Param::query(
            "time_range",
            "string",
            "Back from now: 15m, 1h, 6h, 24h, 7d, 30d, 90d or any `<n>[s|m|h|d]`; a range longer than the history answers what it keeps",
        )
        .pattern(DURATION_PATTERN, 1, 10)
        .side_of(&WINDOW, 0),
        Param::query("from", "integer", "Start, Unix seconds (default: an hour before `to`); a `from` not before `to` answers no points")
            .range(0, LAST_SECOND)
            .side_of(&WINDOW, 1),
        Param::query("to", "integer", "End, Unix seconds, exclusive (default: now)")
            .range(0, LAST_SECOND)
            .side_of(&WINDOW, 1),
        Param::query(
            "step",
            "string",
            "Width of a point, `<n>[s|m|h|d]`; widened to the resolution's step. Default: the resolution's own step, at most the server's max_points points",
        )
        .pattern(DURATION_PATTERN, 1, 10),
        Param::query(
            "instance",
            "string",
            "Another instance sharing the store, by name: its history as it last stored it (default: this instance's, from memory); an instance with no stored history is 404 naming those there are",
        )
        .pattern(INSTANCE_PATTERN, 1, 64),
    ]
}

fn process_params() -> Vec<Param> {
    let mut params = vec![
        Param::query("sort", "string", "The order (default cpu)")
            .one_of(&["cpu", "memory", "pid", "name", "started"]),
        Param::query(
            "name",
            "string",
            "Only processes whose name contains this (case-insensitive)",
        ),
    ];
    params.extend(page_params(MAX_PROCESSES as u64, DEFAULT_LIMIT));
    params
}

fn monitor(state: &AppState) -> Result<Arc<Monitor>, ApiError> {
    state.monitor.clone().ok_or_else(|| {
        ApiError::new(
            Code::TelemetryUnavailable,
            "system telemetry is turned off (telemetry.enabled = false)",
        )
    })
}

fn not_sampled_yet() -> ApiError {
    ApiError::new(
        Code::TelemetryUnavailable,
        "telemetry has not taken its first sample yet; retry in a moment",
    )
}

/// A metric's name, unit and meaning.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MetricsView {
    /// Every metric the history keeps.
    pub metrics: Vec<jarvis_telemetry::MetricInfo>,
    /// The resolutions, finest first.
    pub resolutions: Vec<Tier>,
    /// Milliseconds between samples.
    pub interval_ms: u64,
    /// Samples taken since start.
    pub samples: u64,
}

async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let monitor = monitor(&state)?;
    let view = MetricsView {
        metrics: monitor.metrics(),
        resolutions: monitor.with_history(|h| h.tiers().to_vec()),
        interval_ms: monitor.config().interval_ms,
        samples: monitor.samples(),
    };
    reply::ok(&view, state.catalog.snapshot().generation())
}

async fn current(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let sample = monitor(&state)?.latest().ok_or_else(not_sampled_yet)?;
    reply::ok(sample.as_ref(), state.catalog.snapshot().generation())
}

/// One point of a history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PointView {
    /// The point's start, Unix seconds.
    pub t: i64,
    /// The mean of its samples.
    pub mean: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
    /// How many samples.
    pub count: u64,
}

/// A metric's history over a range.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryView {
    /// The instance whose machine it is (empty for a server with a store of its own).
    pub instance: String,
    /// The metric.
    pub metric: String,
    /// Its unit.
    pub unit: &'static str,
    /// The range's start, Unix seconds.
    pub from: i64,
    /// The range's end, Unix seconds, exclusive.
    pub to: i64,
    /// The width of each point, in seconds.
    pub step_secs: u64,
    /// The resolution the points were read from.
    pub resolution: Tier,
    /// The points, oldest first; spans without samples have none.
    pub points: Vec<PointView>,
}

/// An instance's name (`store.instance_name`, or a host name).
const INSTANCE_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";

async fn history(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req);
    let monitor = monitor(&state)?;
    let metric = params
        .get("metric")
        .or_else(|| params.get("metric_name"))
        .unwrap_or_default()
        .to_owned();
    let info = monitor.metric(&metric)?;
    let range = TimeRange::resolve(
        params.get("time_range").and_then(duration_secs),
        params.integer("from"),
        params.integer("to"),
        unix_now(),
    );
    let step = params.get("step").and_then(duration_secs);
    let instance = params.get("instance").map(str::to_owned);
    let generation = state.catalog.snapshot().generation();
    // Up to a few thousand points (another instance's read from the store): off the executor.
    let prefix = blocking(move || {
        let instance = instance.unwrap_or_else(|| monitor.instance().to_owned());
        let series = monitor.history_of(&instance, &metric, range, step)?;
        let view = HistoryView {
            instance,
            metric,
            unit: info.unit,
            from: range.from,
            to: range.to,
            step_secs: series.step_secs,
            resolution: series.tier,
            points: series
                .points
                .iter()
                .map(|b| PointView {
                    t: b.start,
                    mean: b.mean(),
                    min: b.min,
                    max: b.max,
                    count: b.count,
                })
                .collect(),
        };
        v2_prefix(&view, None, generation)
    })
    .await?;
    Ok(reply::finish(StatusCode::OK, &prefix, None))
}

async fn processes(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req);
    let sort = params
        .get("sort")
        .and_then(ProcessSort::parse)
        .unwrap_or(ProcessSort::Cpu);
    let (limit, offset) = params.page()?;
    let monitor = monitor(&state)?;
    if monitor.latest().is_none() {
        return Err(not_sampled_yet());
    }
    let all = monitor.processes();
    let chosen = select_processes(&all, sort, params.get("name"), usize::MAX);
    let (page, pagination) = paginate(chosen, limit, offset);
    reply::page(&page, &pagination, state.catalog.snapshot().generation())
}

async fn process(
    state: web::Data<AppState>,
    pid: web::Path<u32>,
) -> Result<HttpResponse, ApiError> {
    let pid = pid.into_inner();
    let monitor = monitor(&state)?;
    if monitor.latest().is_none() {
        return Err(not_sampled_yet());
    }
    let all = monitor.processes();
    let found = all.iter().find(|p| p.pid == pid).ok_or_else(|| {
        ApiError::new(
            Code::ResourceNotFound,
            format!("no process {pid} in the latest sample"),
        )
    })?;
    reply::ok(found, state.catalog.snapshot().generation())
}

async fn prometheus(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    // The one part that needs the store: counted on the blocking pool.
    let task_counts = match state.tasks.counts().await {
        Ok(counts) => Some(counts),
        Err(e) => {
            tracing::warn!(error = %e, "cannot count tasks for /metrics; the series is left out");
            None
        }
    };
    let state = state.into_inner();
    let text =
        blocking(move || Ok::<_, ApiError>(exposition::render(&state, task_counts.as_deref())))
            .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE)))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(text))
}
