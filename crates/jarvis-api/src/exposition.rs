//! The Prometheus exposition at `/metrics`: Jarvis's own counters and gauges (HTTP, WebSocket,
//! cache, breakers, tasks, catalog) read from the server's state, and the machine's gauges from
//! `jarvis-telemetry`. Rendered on the blocking pool by the route.

use jarvis_core::{ResourceKind, Severity, TaskStatus};
use jarvis_telemetry::prometheus::{Exposition, Kind, system_gauges};

use crate::state::AppState;

/// Every status a task can have, in the order the exposition lists them.
pub(crate) const TASK_STATUSES: &[TaskStatus] = &[
    TaskStatus::Queued,
    TaskStatus::Running,
    TaskStatus::Succeeded,
    TaskStatus::Failed,
    TaskStatus::Canceled,
    TaskStatus::TimedOut,
    TaskStatus::Interrupted,
];

/// The cost ledger: totals by source, today and this month against budgets, unpriced entries,
/// and what reading the usage logs did.
fn cost_families(e: &mut Exposition, costs: &jarvis_costs::CostService) {
    use jarvis_costs::Source;
    let now = jarvis_costs::time::now_ms();
    let config = costs.config();
    let (by_source, unpriced, current) = {
        let ledger = costs.ledger();
        let mut by_source = [(jarvis_costs::Totals::default()); 4];
        let mut unpriced = 0u64;
        for entry in ledger.counted() {
            let i = Source::ALL
                .iter()
                .position(|s| *s == entry.source)
                .unwrap_or(0);
            by_source[i].add(&entry.tokens, entry.cost);
            unpriced += u64::from(entry.unpriced);
        }
        let current = jarvis_costs::current(&ledger, now, &config.zone, &config.budgets);
        (by_source, unpriced, current)
    };
    e.family(
        "jarvis_cost_usd_total",
        Kind::Counter,
        "US$ in the cost ledger, by source (task runs whose session's log is read count once, as the log's)",
    );
    for (source, totals) in Source::ALL.iter().zip(&by_source) {
        e.sample(
            "jarvis_cost_usd_total",
            &[("source", source.as_str())],
            totals.total_cost.dollars(),
        );
    }
    e.family(
        "jarvis_cost_tokens_total",
        Kind::Counter,
        "Tokens in the cost ledger, by source and type",
    );
    for (source, t) in Source::ALL.iter().zip(&by_source) {
        for (kind, n) in [
            ("input", t.input_tokens),
            ("output", t.output_tokens),
            ("cache_creation", t.cache_creation_tokens),
            ("cache_read", t.cache_read_tokens),
        ] {
            e.sample(
                "jarvis_cost_tokens_total",
                &[("source", source.as_str()), ("type", kind)],
                n as f64,
            );
        }
    }
    e.family(
        "jarvis_cost_period_usd",
        Kind::Gauge,
        "US$ spent today and this month (days in costs.timezone)",
    )
    .sample(
        "jarvis_cost_period_usd",
        &[("period", "day")],
        current.today.totals.total_cost.dollars(),
    )
    .sample(
        "jarvis_cost_period_usd",
        &[("period", "month")],
        current.month.totals.total_cost.dollars(),
    );
    e.family(
        "jarvis_cost_budget_used_ratio",
        Kind::Gauge,
        "Share of each configured budget spent (1 = all of it)",
    );
    for (period, budget) in [
        ("day", current.today.budget),
        ("month", current.month.budget),
    ] {
        if let Some(budget) = budget {
            e.sample(
                "jarvis_cost_budget_used_ratio",
                &[("period", period)],
                budget.percent / 100.0,
            );
        }
    }
    e.single(
        "jarvis_cost_burn_rate_usd_per_hour",
        Kind::Gauge,
        "US$ spent in the last 60 minutes",
        current.burn_rate.cost_per_hour.dollars(),
    );
    e.single(
        "jarvis_cost_unpriced_entries",
        Kind::Gauge,
        "Ledger entries whose model has no price: their tokens count, their cost does not",
        unpriced as f64,
    );
    let stats = costs.stats();
    e.single(
        "jarvis_cost_log_lines_total",
        Kind::Counter,
        "Complete lines read from Claude Code's usage logs since start",
        stats.lines as f64,
    );
    e.family(
        "jarvis_cost_log_lines_skipped_total",
        Kind::Counter,
        "Usage lines skipped since start, by reason",
    )
    .sample(
        "jarvis_cost_log_lines_skipped_total",
        &[("reason", "null_field")],
        stats.null_fields as f64,
    )
    .sample(
        "jarvis_cost_log_lines_skipped_total",
        &[("reason", "unparseable")],
        stats.unparseable as f64,
    )
    .sample(
        "jarvis_cost_log_lines_skipped_total",
        &[("reason", "invalid")],
        stats.invalid as f64,
    );
    e.single(
        "jarvis_cost_log_files_unreadable",
        Kind::Gauge,
        "Usage logs that could not be read at the last pass",
        stats.unreadable.len() as f64,
    );
}

/// MCP server health: servers by status, and per checked server whether it is up, how long
/// its check took and how many tools it lists.
fn mcp_families(e: &mut Exposition, mcp: &jarvis_integrations::mcp::McpMonitor) {
    use jarvis_integrations::mcp::McpStatus;
    let counts = mcp.counts();
    e.family(
        "jarvis_mcp_servers",
        Kind::Gauge,
        "Configured MCP servers by health status",
    );
    for status in McpStatus::ALL {
        let n = counts.get(&status).copied().unwrap_or(0);
        e.sample(
            "jarvis_mcp_servers",
            &[("status", status.as_str())],
            n as f64,
        );
    }
    let all = mcp.all();
    let checked: Vec<_> = all
        .iter()
        .filter(|(_, _, h)| h.checked_at.is_some())
        .collect();
    // Per checked server: (family, help, the value from its last check when it has one).
    type Reading = fn(&jarvis_integrations::mcp::McpHealth) -> Option<f64>;
    let families: [(&str, &str, Reading); 3] = [
        (
            "jarvis_mcp_server_up",
            "1 when the MCP server's last check reached it (healthy or degraded), 0 when it failed; absent before the first",
            |h| Some(f64::from(u8::from(h.is_up()))),
        ),
        (
            "jarvis_mcp_check_duration_seconds",
            "How long the MCP server's last check took",
            |h| h.duration_ms.map(|ms| ms as f64 / 1000.0),
        ),
        (
            "jarvis_mcp_server_tools",
            "Tools the MCP server listed at its last check",
            |h| h.tool_count.map(|n| n as f64),
        ),
    ];
    for (name, help, reading) in families {
        e.family(name, Kind::Gauge, help);
        for (id, server, health) in &checked {
            if let Some(value) = reading(health) {
                e.sample(name, &[("server", server), ("id", id.as_str())], value);
            }
        }
    }
}

/// The whole exposition.
pub(crate) fn render(state: &AppState, task_counts: Option<&[(TaskStatus, u64)]>) -> String {
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

    // MCP servers.
    mcp_families(&mut e, &state.mcp);

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

    if let Some(costs) = &state.costs {
        cost_families(&mut e, costs);
    }

    // The catalog.
    let snapshot = state.catalog.snapshot();
    let stats = snapshot.stats();
    e.family(
        "jarvis_catalog_resources",
        Kind::Gauge,
        "Definitions in the catalog by kind, in effect (active) or shadowed by another",
    );
    for kind in ResourceKind::ALL {
        let counts = stats.kinds.get(&kind).copied().unwrap_or_default();
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
