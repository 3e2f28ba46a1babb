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
use jarvis_core::{Code, ResourceKind, Severity, TaskStatus};
use jarvis_telemetry::prometheus::{CONTENT_TYPE, Exposition, Kind};
use jarvis_telemetry::{HistoryError, Monitor, ProcessSort, Tier, select_processes, unix_now};
use serde::Serialize;
use serde_json::json;

use super::{Doc, get, get_v2};
use crate::envelope::{v2_finish, v2_now, v2_prefix};
use crate::error::ApiError;
use crate::params::{DEFAULT_LIMIT, Params, page_params, paginate};
use crate::registry::{Body, Choice, Param};
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
            errors: &[Code::ResourceNotFound, Code::TelemetryUnavailable],
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

/// A duration: a whole number of seconds, or of `s`, `m`, `h` or `d`.
const DURATION: &str = "^[1-9][0-9]{0,8}[smhd]?$";

/// The latest Unix second a `from` or `to` may name (the end of the year 9999).
const LAST_SECOND: u64 = 253_402_300_799;

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
        .pattern(DURATION, 1, 10)
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
        .pattern(DURATION, 1, 10),
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
    v2_now(StatusCode::OK, &view, state.catalog.snapshot().generation())
}

async fn current(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let sample = monitor(&state)?.latest().ok_or_else(not_sampled_yet)?;
    v2_now(
        StatusCode::OK,
        sample.as_ref(),
        state.catalog.snapshot().generation(),
    )
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

/// `90`, `90s`, `15m`, `6h`, `7d` → seconds.
fn duration_secs(text: &str) -> Option<u64> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits.parse().ok()?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(scale).filter(|&s| s > 0)
}

async fn history(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req);
    let monitor = monitor(&state)?;
    let metric = params
        .get("metric")
        .or_else(|| params.get("metric_name"))
        .unwrap_or_default()
        .to_owned();
    let known = monitor.metrics();
    let Some(info) = known.iter().find(|m| m.name == metric).copied() else {
        let names: Vec<&str> = known.iter().map(|m| m.name).collect();
        return Err(ApiError::new(
            Code::ResourceNotFound,
            format!("no metric named `{metric}`; known: {}", names.join(", ")),
        )
        .with_details(json!({ "metric": metric, "known": names })));
    };
    let now = unix_now();
    let (from, to) = match params.get("time_range").and_then(duration_secs) {
        // The current bucket is included: `to` is exclusive.
        Some(secs) => (
            now.saturating_sub(i64::try_from(secs).unwrap_or(i64::MAX)),
            now + 1,
        ),
        None => {
            let to = params
                .integer("to")
                .map_or(now + 1, |t| i64::try_from(t).unwrap_or(i64::MAX));
            let from = params
                .integer("from")
                .map_or(to - 3600, |f| i64::try_from(f).unwrap_or(i64::MAX));
            (from, to)
        }
    };
    let step = params.get("step").and_then(duration_secs);
    let generation = state.catalog.snapshot().generation();
    // Up to a few thousand points: rendered off the executor.
    let prefix = web::block(move || {
        // An interval that ends before it starts holds no points: the answer is empty.
        let series = monitor
            .query(&metric, from, to.max(from + 1), step)
            .map(|mut series| {
                if from >= to {
                    series.points.clear();
                }
                series
            })
            .map_err(|e| match e {
                HistoryError::InvalidRange(message) => ApiError::invalid("from", message),
                other => ApiError::internal(&other),
            })?;
        let view = HistoryView {
            metric,
            unit: info.unit,
            from,
            to,
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
    .await
    .map_err(|e| ApiError::internal(&e))??;
    Ok(no_store(v2_finish(&prefix)))
}

fn no_store(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(body)
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
    let prefix = v2_prefix(
        &page,
        Some(&pagination),
        state.catalog.snapshot().generation(),
    )?;
    Ok(no_store(v2_finish(&prefix)))
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
    v2_now(StatusCode::OK, found, state.catalog.snapshot().generation())
}

const TASK_STATUSES: &[TaskStatus] = &[
    TaskStatus::Queued,
    TaskStatus::Running,
    TaskStatus::Succeeded,
    TaskStatus::Failed,
    TaskStatus::Canceled,
    TaskStatus::TimedOut,
    TaskStatus::Interrupted,
];

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
    let text = web::block(move || render(&state, task_counts.as_deref()))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE)))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(text))
}

/// The whole exposition.
fn render(state: &AppState, task_counts: Option<&[(TaskStatus, u64)]>) -> String {
    let mut e = Exposition::new();
    e.family(
        "jarvis_build_info",
        Kind::Gauge,
        "Always 1; the version is a label",
    )
    .sample(
        "jarvis_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    e.single(
        "jarvis_uptime_seconds",
        Kind::Gauge,
        "Seconds since the server started",
        state.started.elapsed().as_secs_f64(),
    );

    // HTTP.
    let requests = state.metrics.requests();
    e.family(
        "jarvis_http_requests_total",
        Kind::Counter,
        "HTTP requests answered, by route pattern, method and status",
    );
    for s in &requests {
        let status = s.status.to_string();
        e.sample(
            "jarvis_http_requests_total",
            &[
                ("route", s.route),
                ("method", s.method),
                ("status", &status),
            ],
            s.latency.count as f64,
        );
    }
    e.family(
        "jarvis_http_request_duration_seconds",
        Kind::Histogram,
        "Time from receiving a request to handing its response to the connection, by route pattern, method and status",
    );
    for s in &requests {
        let status = s.status.to_string();
        e.histogram(
            "jarvis_http_request_duration_seconds",
            &[
                ("route", s.route),
                ("method", s.method),
                ("status", &status),
            ],
            &s.latency,
        );
    }
    e.single(
        "jarvis_http_connections",
        Kind::Gauge,
        "HTTP connections open now",
        state.metrics.open_connections() as f64,
    );
    e.single(
        "jarvis_websocket_connections",
        Kind::Gauge,
        "WebSocket connections open now",
        state.hub.connections() as f64,
    );
    let hub = state.hub.stats();
    for (name, kind, help, value) in [
        (
            "jarvis_websocket_messages_sent_total",
            Kind::Counter,
            "Messages queued to WebSocket clients",
            hub.messages_sent,
        ),
        (
            "jarvis_websocket_heartbeats_total",
            Kind::Counter,
            "System-metrics heartbeats published",
            hub.heartbeats,
        ),
        (
            "jarvis_websocket_refused_total",
            Kind::Counter,
            "WebSocket handshakes refused at the connection limit",
            hub.refused,
        ),
        (
            "jarvis_websocket_slow_disconnects_total",
            Kind::Counter,
            "WebSocket clients disconnected for reading too slowly",
            hub.slow_disconnects,
        ),
        (
            "jarvis_websocket_invalid_messages_total",
            Kind::Counter,
            "Invalid messages received from WebSocket clients",
            hub.invalid_messages,
        ),
    ] {
        e.single(name, kind, help, value as f64);
    }

    // The response cache.
    let cache = state.cache.stats();
    for (name, kind, help, value) in [
        (
            "jarvis_cache_hits_total",
            Kind::Counter,
            "Response cache lookups answered from the cache",
            cache.hits as f64,
        ),
        (
            "jarvis_cache_misses_total",
            Kind::Counter,
            "Response cache lookups that had to render",
            cache.misses as f64,
        ),
        (
            "jarvis_cache_evictions_total",
            Kind::Counter,
            "Entries evicted to stay within the cache's limits",
            cache.evictions as f64,
        ),
        (
            "jarvis_cache_invalidations_total",
            Kind::Counter,
            "Entries dropped because the catalog changed or their TTL ran out",
            cache.invalidations as f64,
        ),
        (
            "jarvis_cache_entries",
            Kind::Gauge,
            "Entries in the response cache",
            cache.entries as f64,
        ),
        (
            "jarvis_cache_bytes",
            Kind::Gauge,
            "Payload bytes in the response cache",
            cache.bytes as f64,
        ),
    ] {
        e.single(name, kind, help, value);
    }

    // Services and their circuit breakers.
    let services = state.services.views();
    e.family(
        "jarvis_circuit_breaker_state",
        Kind::Gauge,
        "1 for the state each service's circuit breaker is in (closed, open, half_open), 0 for the others",
    );
    for view in &services {
        let current = serde_json::to_value(view.breaker)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        for state_name in ["closed", "open", "half_open"] {
            e.sample(
                "jarvis_circuit_breaker_state",
                &[("service", &view.name), ("state", state_name)],
                f64::from(u8::from(current == state_name)),
            );
        }
    }
    e.family(
        "jarvis_service_up",
        Kind::Gauge,
        "1 when the service's last health check passed, 0 when it failed; absent before the first",
    );
    for view in &services {
        if let Some(health) = &view.health {
            e.sample(
                "jarvis_service_up",
                &[("service", &view.name)],
                f64::from(u8::from(health.healthy)),
            );
        }
    }

    // Tasks.
    if let Some(counts) = task_counts {
        e.family("jarvis_tasks", Kind::Gauge, "Stored tasks by status");
        for status in TASK_STATUSES {
            let n = counts
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            e.sample("jarvis_tasks", &[("status", status.as_str())], n as f64);
        }
    }

    e.single(
        "jarvis_orphan_runners_ended_total",
        Kind::Counter,
        "Process groups of task runners that had outlived the previous server, ended at start-up",
        state.tasks.orphans_ended() as f64,
    );

    // The catalog.
    let snapshot = state.catalog.snapshot();
    let stats = snapshot.stats();
    e.family(
        "jarvis_catalog_resources",
        Kind::Gauge,
        "Definitions in the catalog by kind, in effect (active) or shadowed by another",
    );
    for kind in ResourceKind::ALL {
        let counts = stats.kinds.get(kind.plural()).copied().unwrap_or_default();
        e.sample(
            "jarvis_catalog_resources",
            &[("kind", kind.as_str()), ("state", "active")],
            counts.active as f64,
        );
        e.sample(
            "jarvis_catalog_resources",
            &[("kind", kind.as_str()), ("state", "shadowed")],
            counts.shadowed as f64,
        );
    }
    e.single(
        "jarvis_catalog_generation",
        Kind::Gauge,
        "The catalog's generation: rises with every change on disk",
        snapshot.generation() as f64,
    );
    e.single("jarvis_catalog_reloads_total", Kind::Counter, "Scans of the resource folders run (watcher, periodic rescan, n8n refresh), including those that found nothing new", state.catalog.reloads() as f64);
    e.family(
        "jarvis_catalog_diagnostics",
        Kind::Gauge,
        "Problems found while loading the catalog, by severity",
    );
    for (severity, name) in [
        (Severity::Error, "error"),
        (Severity::Warning, "warning"),
        (Severity::Info, "info"),
    ] {
        let n = stats.diagnostics.get(&severity).copied().unwrap_or(0);
        e.sample(
            "jarvis_catalog_diagnostics",
            &[("severity", name)],
            n as f64,
        );
    }

    // The machine.
    if let Some(monitor) = &state.monitor {
        e.single(
            "jarvis_telemetry_samples_total",
            Kind::Counter,
            "Samples of the machine taken",
            monitor.samples() as f64,
        );
        if let Some(sample) = monitor.latest() {
            system_gauges(&mut e, &sample);
        }
    }
    e.finish()
}

fn system_gauges(e: &mut Exposition, s: &jarvis_telemetry::Sample) {
    let simple: [(&str, &str, f64); 10] = [
        (
            "jarvis_system_cpu_usage_percent",
            "CPU use over all cores, percent",
            s.cpu_percent,
        ),
        (
            "jarvis_system_memory_used_bytes",
            "Memory in use",
            s.memory_used_bytes as f64,
        ),
        (
            "jarvis_system_memory_total_bytes",
            "Memory in all",
            s.memory_total_bytes as f64,
        ),
        (
            "jarvis_system_swap_used_bytes",
            "Swap in use",
            s.swap_used_bytes as f64,
        ),
        (
            "jarvis_system_swap_total_bytes",
            "Swap in all",
            s.swap_total_bytes as f64,
        ),
        (
            "jarvis_system_disk_read_bytes_per_second",
            "Bytes read from all disks per second",
            s.disk_read_bytes_per_sec,
        ),
        (
            "jarvis_system_disk_write_bytes_per_second",
            "Bytes written to all disks per second",
            s.disk_write_bytes_per_sec,
        ),
        (
            "jarvis_system_processes",
            "Processes on the machine",
            s.process_count as f64,
        ),
        (
            "jarvis_system_uptime_seconds",
            "Seconds since the machine started",
            s.uptime_secs as f64,
        ),
        (
            "jarvis_process_resident_memory_bytes",
            "Jarvis's own resident memory",
            s.own_resident_bytes as f64,
        ),
    ];
    for (name, help, value) in simple {
        e.single(name, Kind::Gauge, help, value);
    }
    e.family(
        "jarvis_system_cpu_core_usage_percent",
        Kind::Gauge,
        "CPU use per core, percent",
    );
    for (i, value) in s.cpu_per_core.iter().enumerate() {
        e.sample(
            "jarvis_system_cpu_core_usage_percent",
            &[("core", &i.to_string())],
            *value,
        );
    }
    e.family(
        "jarvis_system_load_average",
        Kind::Gauge,
        "Load average over 1, 5 and 15 minutes",
    );
    for (window, value) in ["1m", "5m", "15m"].iter().zip(s.load) {
        e.sample("jarvis_system_load_average", &[("window", window)], value);
    }
    e.family(
        "jarvis_system_disk_used_bytes",
        Kind::Gauge,
        "Bytes in use per mounted file system",
    );
    for d in &s.disks {
        e.sample(
            "jarvis_system_disk_used_bytes",
            &[("mount", &d.mount)],
            d.used_bytes as f64,
        );
    }
    e.family(
        "jarvis_system_disk_total_bytes",
        Kind::Gauge,
        "Bytes in all per mounted file system",
    );
    for d in &s.disks {
        e.sample(
            "jarvis_system_disk_total_bytes",
            &[("mount", &d.mount)],
            d.total_bytes as f64,
        );
    }
    e.family(
        "jarvis_system_network_receive_bytes_per_second",
        Kind::Gauge,
        "Bytes received per second, per interface",
    );
    for (interface, rates) in &s.network {
        e.sample(
            "jarvis_system_network_receive_bytes_per_second",
            &[("interface", interface)],
            rates.rx_bytes_per_sec,
        );
    }
    e.family(
        "jarvis_system_network_transmit_bytes_per_second",
        Kind::Gauge,
        "Bytes sent per second, per interface",
    );
    for (interface, rates) in &s.network {
        e.sample(
            "jarvis_system_network_transmit_bytes_per_second",
            &[("interface", interface)],
            rates.tx_bytes_per_sec,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (text, secs) in [
            ("90", Some(90)),
            ("90s", Some(90)),
            ("15m", Some(900)),
            ("24h", Some(86_400)),
            ("90d", Some(7_776_000)),
            ("0m", None),
            ("", None),
            ("1w", None),
            ("-1h", None),
            ("h", None),
            ("99999999999999999999d", None),
        ] {
            assert_eq!(duration_secs(text), secs, "{text}");
        }
        // What the pattern admits, the parser reads.
        let pattern = regex_lite::Regex::new(DURATION).unwrap();
        for named in [
            "15m",
            "1h",
            "6h",
            "24h",
            "7d",
            "30d",
            "90d",
            "90",
            "999999999d",
        ] {
            assert!(pattern.is_match(named), "{named}");
            assert!(duration_secs(named).is_some(), "{named}");
        }
        for refused in ["0", "01h", "1w", "h", ""] {
            assert!(!pattern.is_match(refused), "{refused}");
        }
    }
}
