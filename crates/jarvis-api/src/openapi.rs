//! The OpenAPI 3.1 document, generated from the route table and the types' schemas.
//!
//! Schemas come from `utoipa::ToSchema` derives on the domain and view types; paths come from
//! [`Route`]s, so a route cannot be registered without appearing here.

use std::collections::BTreeMap;

use jarvis_core::Code;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use crate::registry::{Body, In, Kind, Param, Route};

/// Builds the document for `routes`.
pub fn document(routes: &[Route]) -> Value {
    let mut paths: BTreeMap<String, Value> = BTreeMap::new();
    for route in routes {
        let path = route.path.clone();
        let item = paths.entry(path).or_insert_with(|| json!({}));
        item[route.method] = operation(route);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Jarvis API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "One fast, safe API over a developer's AI setup: Claude Code agents, commands, skills, MCP servers and n8n workflows. /api/v2 is current; unversioned paths answer as v2; /api/v1 keeps the original shapes and is deprecated. Every error is an envelope with a stable code; every response carries X-Request-Id.",
        },
        "tags": [
            { "name": "system", "description": "Status, health, readiness, cache" },
            { "name": "resources", "description": "Agents, commands, skills, MCP servers and workflows" },
            { "name": "search", "description": "Ranked search" },
            { "name": "diagnostics", "description": "What could not be loaded, and why" },
            { "name": "docs", "description": "This documentation" },
            { "name": "tasks", "description": "Running commands and agents, and following the runs" },
            { "name": "workflows", "description": "Triggering n8n workflows and following their executions" },
            { "name": "keys", "description": "API keys and connection tickets" },
            { "name": "realtime", "description": "The WebSocket hub: live events and commands" },
            { "name": "telemetry", "description": "The machine and Jarvis itself: metric history, the latest sample, processes, Prometheus exposition" },
            { "name": "v1", "description": "Deprecated original shapes" },
        ],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "An API key from `jarvis keys create`: `Authorization: Bearer jv_…`" },
            },
        },
    })
}

/// The JSON Schema of the values a parameter kind accepts.
fn kind_schema(kind: Kind) -> Value {
    match kind {
        Kind::Text {
            min_len,
            max_len,
            pattern,
        } => {
            let mut schema =
                json!({ "type": "string", "minLength": min_len, "maxLength": max_len });
            if let Some(pattern) = pattern {
                schema["pattern"] = json!(pattern);
            }
            schema
        }
        Kind::Integer { min, max } => json!({ "type": "integer", "minimum": min, "maximum": max }),
        Kind::Boolean => json!({ "type": "boolean" }),
        Kind::OneOf(values) => json!({ "type": "string", "enum": values }),
        Kind::Named { name, .. } => json!({ "$ref": format!("#/components/schemas/{name}") }),
        Kind::Date => json!({ "type": "string", "format": "date" }),
    }
}

fn param_schema(param: &Param) -> Value {
    let mut schema = kind_schema(param.kind);
    if let Some(default) = param.default {
        schema["default"] = json!(default);
    }
    if param.repeatable {
        schema =
            json!({ "type": "array", "items": schema, "maxItems": crate::registry::MAX_ITEMS });
    }
    schema
}

/// The route's parameters as OpenAPI parameter objects: each on its own, except the members
/// of a [`crate::registry::Choice`], which become one form-exploded object allowing one side.
fn parameters(route: &Route) -> Vec<Value> {
    let mut out = Vec::new();
    let mut choices: Vec<&'static str> = Vec::new();
    for param in &route.params {
        let location = match param.location {
            In::Query => "query",
            In::Path => "path",
            In::Header => "header",
        };
        let Some((choice, _)) = param.choice else {
            let mut object = json!({
                "name": param.name,
                "in": location,
                "required": param.required,
                "description": param.description,
                "schema": param_schema(param),
            });
            if param.repeatable {
                object["style"] = json!("form");
                object["explode"] = json!(true);
            }
            out.push(object);
            continue;
        };
        if choices.contains(&choice.name) {
            continue;
        }
        choices.push(choice.name);
        let members: Vec<&Param> = route
            .params
            .iter()
            .filter(|p| p.choice.is_some_and(|(c, _)| std::ptr::eq(c, choice)))
            .collect();
        let mut properties = serde_json::Map::new();
        let mut sides: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
        let mut described = Vec::new();
        for member in &members {
            let mut schema = param_schema(member);
            schema["description"] = json!(member.description);
            properties.insert(member.name.to_owned(), schema);
            sides
                .entry(member.choice.map_or(0, |(_, side)| side))
                .or_default()
                .push(member.name);
            described.push(format!("`{}`: {}", member.name, member.description));
        }
        // One branch per side: every member of the other sides absent.
        let branches: Vec<Value> = sides
            .keys()
            .map(|side| {
                let absent: serde_json::Map<String, Value> = members
                    .iter()
                    .filter(|m| m.choice.is_some_and(|(_, s)| s != *side))
                    .map(|m| (m.name.to_owned(), Value::Bool(false)))
                    .collect();
                json!({ "properties": absent })
            })
            .collect();
        let mut schema = json!({
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
            "anyOf": branches,
        });
        if choice.required {
            schema["minProperties"] = json!(1);
        }
        out.push(json!({
            "name": choice.name,
            "in": "query",
            "required": choice.required,
            "style": "form",
            "explode": true,
            "description": format!("{}. {}", choice.description, described.join("; ")),
            "schema": schema,
        }));
    }
    out
}

/// Routes that create with `201` and answer a retry with the same idempotency key with `200`.
const REPLAYED: &[&str] = &["record_cost"];

fn operation(route: &Route) -> Value {
    let parameters = parameters(route);
    let mut responses = serde_json::Map::new();
    if matches!(route.body, Body::WebSocket) {
        responses.insert(
            "101".into(),
            json!({ "description": "Switching Protocols: the connection is now a WebSocket speaking the protocol in docs/api.md" }),
        );
    } else {
        responses.insert(route.status.to_string(), success(&route.body, route.cached));
        if REPLAYED.contains(&route.operation_id.as_str()) {
            let mut replay = success(&route.body, false);
            replay["description"] = json!(
                "A retried request (an idempotency key used before): what the first one recorded"
            );
            responses.insert("200".into(), replay);
        }
    }
    if route.path == "/" {
        responses.insert(
            "303".into(),
            json!({
                "description": "A browser (`Accept` naming `text/html` before `application/json`) is sent to the dashboard",
                "headers": { "Location": { "description": "`/ui/`", "schema": { "type": "string" } } },
            }),
        );
    }
    if route.cached {
        responses.insert(
            "304".into(),
            json!({ "description": "Not modified: the `If-None-Match` ETag still matches" }),
        );
    }
    let mut by_status: BTreeMap<u16, Vec<Code>> = BTreeMap::new();
    // What the gates in front of every route can answer: a bad parameter, an unknown path or
    // method, a URI or headers too large, a credential that does not verify, a refused
    // origin, the rate limit, a failure of our own.
    let common = [
        Code::ValidationError,
        Code::Unauthorized,
        Code::Forbidden,
        Code::RouteNotFound,
        Code::MethodNotAllowed,
        Code::UriTooLong,
        Code::RateLimited,
        Code::HeadersTooLarge,
        Code::InternalError,
    ];
    for code in common.iter().chain(route.errors) {
        let codes = by_status.entry(code.http_status()).or_default();
        if !codes.contains(code) {
            codes.push(*code);
        }
    }
    for (status, codes) in by_status {
        let names: Vec<&str> = codes.iter().map(|c| c.name()).collect();
        let mut response = json!({
            "description": format!("Error envelope with code {}", names.join(" or ")),
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorEnvelope" } } },
        });
        if status == 429 || status == 503 {
            response["headers"] = json!({
                "Retry-After": { "description": "Seconds to wait before trying again", "schema": { "type": "integer" } },
            });
        }
        responses.insert(status.to_string(), response);
    }
    let mut op = json!({
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
        "deprecated": route.deprecated,
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(scope) = route.scope {
        op["security"] = json!([{ "bearer": [] }]);
        op["x-required-scope"] = json!(scope.as_str());
        op["description"] = json!(format!(
            "Needs an API key with the `{scope}` scope (or `admin`) once keys exist; with no keys configured Jarvis serves loopback only and asks for none."
        ));
    }
    if let Some(schema) = route.request {
        op["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } },
        });
    }
    op
}

fn headers(cached: bool) -> Value {
    let mut h = json!({
        "X-Request-Id": { "description": "The request id, also in the envelope's metadata", "schema": { "type": "string" } },
    });
    if cached {
        h["ETag"] = json!({ "description": "Strong validator of the data", "schema": { "type": "string" } });
        h["Cache-Control"] = json!({ "description": "private, no-cache: revalidate with If-None-Match", "schema": { "type": "string" } });
    }
    h
}

fn success(body: &Body, cached: bool) -> Value {
    let (content_type, schema) = match body {
        Body::Envelope(name) => ("application/json", envelope(data_schema(name), false)),
        Body::Page(name) => (
            "application/json",
            envelope(json!({ "type": "array", "items": data_schema(name) }), true),
        ),
        Body::List(name) => (
            "application/json",
            envelope(
                json!({ "type": "array", "items": data_schema(name) }),
                false,
            ),
        ),
        Body::Json => ("application/json", json!({ "type": "object" })),
        Body::Html => ("text/html", json!({ "type": "string" })),
        Body::Script => ("text/javascript", json!({ "type": "string" })),
        Body::Stylesheet => ("text/css", json!({ "type": "string" })),
        Body::Jpeg => (
            "image/jpeg",
            json!({ "type": "string", "contentMediaType": "image/jpeg" }),
        ),
        Body::WebSocket => ("application/json", json!({ "type": "object" })),
        Body::Prometheus => (
            "text/plain; version=0.0.4",
            json!({ "type": "string", "description": "Prometheus text exposition format 0.0.4" }),
        ),
    };
    json!({
        "description": "Success",
        "headers": headers(cached),
        "content": { content_type: { "schema": schema } },
    })
}

fn data_schema(name: &str) -> Value {
    match name {
        "Object" => json!({ "type": "object" }),
        other => json!({ "$ref": format!("#/components/schemas/{other}") }),
    }
}

fn envelope(data: Value, paginated: bool) -> Value {
    let mut metadata = json!({
        "type": "object",
        "required": ["api_version", "generation", "request_id"],
        "properties": {
            "api_version": { "type": "string", "const": "v2" },
            "generation": { "type": "integer", "description": "The catalog generation the data comes from" },
            "request_id": { "type": "string" },
        },
    });
    if paginated {
        metadata["required"] = json!(["api_version", "generation", "pagination", "request_id"]);
        metadata["properties"]["pagination"] = json!({ "$ref": "#/components/schemas/Pagination" });
    }
    json!({
        "type": "object",
        "required": ["success", "data", "metadata"],
        "properties": {
            "success": { "type": "boolean", "const": true },
            "data": data,
            "metadata": metadata,
        },
    })
}

fn add<T: ToSchema>(out: &mut Vec<(String, RefOr<Schema>)>) {
    out.push((T::name().into_owned(), T::schema()));
    T::schemas(out);
}

fn schemas() -> BTreeMap<String, Value> {
    let mut found: Vec<(String, RefOr<Schema>)> = Vec::new();
    add::<jarvis_core::Resource>(&mut found);
    add::<crate::views::ResourceSummary<'static>>(&mut found);
    add::<crate::views::ResourceDetail<'static>>(&mut found);
    add::<crate::routes::mcp::McpServerHealth>(&mut found);
    add::<crate::views::SearchHitView<'static>>(&mut found);
    add::<crate::views::HighlightView<'static>>(&mut found);
    add::<crate::views::CacheStatsView>(&mut found);
    add::<crate::envelope::Pagination>(&mut found);
    add::<crate::routes::system::Health>(&mut found);
    add::<jarvis_core::Diagnostic>(&mut found);
    add::<jarvis_core::Details>(&mut found);
    add::<Code>(&mut found);
    add::<crate::routes::search::SearchRequest>(&mut found);
    add::<crate::routes::keys::CreateKey>(&mut found);
    add::<crate::routes::keys::ScopeName>(&mut found);
    add::<jarvis_core::Task>(&mut found);
    add::<jarvis_core::WorkflowExecution>(&mut found);
    add::<crate::routes::workflows::TriggerWorkflow>(&mut found);
    add::<crate::routes::workflows::TriggerParameters>(&mut found);
    add::<crate::routes::tasks::TaskSummary<'static>>(&mut found);
    add::<crate::routes::tasks::ExecuteCommand>(&mut found);
    add::<crate::routes::tasks::RunCommand>(&mut found);
    add::<crate::routes::tasks::ExecuteAgent>(&mut found);
    add::<crate::routes::tasks::RunAgent>(&mut found);
    add::<crate::hub::HubStats>(&mut found);
    add::<jarvis_costs::Current>(&mut found);
    add::<jarvis_costs::Report>(&mut found);
    add::<jarvis_costs::Block>(&mut found);
    add::<crate::routes::costs::CostEntry>(&mut found);
    add::<crate::routes::costs::CostSources>(&mut found);
    add::<crate::routes::costs::RecordCost>(&mut found);
    add::<crate::routes::costs::TagName>(&mut found);
    add::<crate::routes::analyses::AnalyzeRequest>(&mut found);
    add::<crate::routes::analyses::AnalysisType>(&mut found);
    add::<jarvis_knowledge::Hit>(&mut found);
    add::<jarvis_knowledge::Topic>(&mut found);
    add::<jarvis_knowledge::NoteView>(&mut found);
    add::<jarvis_knowledge::KnowledgeStats>(&mut found);
    add::<jarvis_knowledge::Opened>(&mut found);
    add::<crate::routes::telemetry::MetricsView>(&mut found);
    add::<crate::routes::telemetry::HistoryView>(&mut found);
    add::<crate::routes::telemetry::PointView>(&mut found);
    add::<jarvis_telemetry::MetricInfo>(&mut found);
    add::<jarvis_telemetry::Tier>(&mut found);
    add::<jarvis_telemetry::Sample>(&mut found);
    add::<jarvis_telemetry::DiskSpace>(&mut found);
    add::<jarvis_telemetry::InterfaceRates>(&mut found);
    add::<jarvis_telemetry::ProcessInfo>(&mut found);
    let mut out: BTreeMap<String, Value> = found
        .into_iter()
        .map(|(name, schema)| (name, serde_json::to_value(schema).unwrap_or(Value::Null)))
        .collect();
    out.insert(
        "SearchResults".into(),
        json!({
            "type": "object",
            "required": ["query", "count", "took_us", "hits"],
            "properties": {
                "query": { "type": "string" },
                "count": { "type": "integer" },
                "took_us": { "type": "integer", "description": "Search time in microseconds" },
                "hits": { "type": "array", "items": { "$ref": "#/components/schemas/SearchHitView" } },
            },
        }),
    );
    out.insert(
        "TimeZone".into(),
        json!({
            "type": "string",
            "description": "An IANA time zone name, or UTC",
            "enum": jarvis_costs::zone::zone_names(),
        }),
    );
    out.insert(
        "CancelRequested".into(),
        json!({
            "type": "object",
            "required": ["id", "status", "cancel_requested"],
            "properties": {
                "id": { "type": "string" },
                "status": { "$ref": "#/components/schemas/TaskStatus" },
                "cancel_requested": { "type": "boolean", "const": true },
            },
        }),
    );
    out.insert(
        "ErrorEnvelope".into(),
        json!({
            "type": "object",
            "required": ["success", "error", "metadata"],
            "properties": {
                "success": { "type": "boolean", "const": false },
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": { "$ref": "#/components/schemas/Code" },
                        "message": { "type": "string" },
                        "details": { "description": "Structured details: the offending parameter, candidate ids, …" },
                    },
                },
                "metadata": {
                    "type": "object",
                    "required": ["request_id"],
                    "properties": { "request_id": { "type": "string" } },
                },
            },
        }),
    );
    out
}
