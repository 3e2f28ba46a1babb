//! Every route and version, the envelope, pagination, errors, caching, documentation.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, ETAG, IF_NONE_MATCH};
use serde_json::Value;

use crate::support::{SECRET, agent, spawn_app};

fn assert_error(status: StatusCode, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status.as_u16(), expected_status, "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["metadata"]["request_id"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn every_registered_route_answers_and_is_documented() {
    let app = spawn_app().await;
    let (status, _, doc) = app.get_json("/api/v2/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let table = jarvis_api::route_table();
    assert!(table.len() >= 40, "{} routes", table.len());
    // One handler per method and path: a second registration would shadow the first (or be
    // shadowed) and the document would describe only one of them.
    let mut seen = BTreeSet::new();
    for route in &table {
        assert!(
            seen.insert((route.method, route.path.clone())),
            "{} {} is registered twice",
            route.method,
            route.path
        );
    }
    let id = app
        .catalog
        .snapshot()
        .resolve(jarvis_core::ResourceKind::Agent, "reviewer")
        .unwrap()
        .id
        .to_string();
    // The machine's routes answer once the first sample is in.
    app.wait_for_samples(0).await;
    for route in &table {
        let op = &paths
            .get(&route.path)
            .unwrap_or_else(|| panic!("{} is not in the OpenAPI document", route.path))
            [route.method];
        assert!(
            op.is_object(),
            "{} {} undocumented",
            route.method,
            route.path
        );
        if matches!(route.body, jarvis_api::Body::WebSocket) {
            assert!(op["responses"]["101"].is_object(), "{}", route.path);
            // Without the upgrade headers the handshake route says what it needs.
            let (status, _, body) = app.get_json(&route.path).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["error"]["details"]["parameter"], "Upgrade");
            continue;
        }
        assert!(
            op["responses"][route.status.to_string()].is_object(),
            "{} {}",
            route.method,
            route.path
        );
        if route.method != "get" {
            continue;
        }
        // The route is real: it answers, with a concrete id where the path has one.
        // The route is real: it answers. Agents are fetched by a real id; other ids are skipped.
        if route.path.contains('{') && !route.path.ends_with("/agents/{id}") {
            continue;
        }
        let mut path = route.path.replace("{id}", &id);
        if path.ends_with("/search") {
            path.push_str("?q=review");
        }
        if path.ends_with("/metrics/history") {
            path.push_str("?metric=cpu_usage");
        }
        let res = app.get(&path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        assert!(res.headers().contains_key("x-request-id"), "GET {path}");
    }
    // Every reference resolves.
    let text = doc.to_string();
    for piece in text.split("\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "dangling $ref to {name}");
    }
    // Every documented path is registered (no documentation without a route).
    let registered: BTreeSet<&str> = table.iter().map(|r| r.path.as_str()).collect();
    for path in paths.keys() {
        assert!(
            registered.contains(path.as_str()),
            "{path} documented but not registered"
        );
    }
}

#[tokio::test]
async fn envelope_metadata_and_request_ids() {
    let app = spawn_app().await;
    let (status, headers, body) = app.get_json("/api/v2/agents").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
    assert_eq!(body["metadata"]["api_version"], "v2");
    assert_eq!(body["metadata"]["generation"], 1);
    let id = headers["x-request-id"].to_str().unwrap();
    assert_eq!(body["metadata"]["request_id"], id);

    // A sane incoming id is kept; a hostile one is replaced.
    let res = app
        .client
        .get(format!("{}/health", app.base))
        .header("X-Request-Id", "trace-abc.1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-abc.1");
    let res = app
        .client
        .get(format!("{}/health", app.base))
        .header("X-Request-Id", "bad id\"with quotes")
        .send()
        .await
        .unwrap();
    let echoed = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(echoed, "bad id\"with quotes");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["metadata"]["request_id"], echoed);

    // Unversioned paths answer as v2.
    let (_, _, unversioned) = app.get_json("/agents").await;
    assert_eq!(unversioned["data"], body_data(&app, "/api/v2/agents").await);
}

async fn body_data(app: &crate::support::TestApp, path: &str) -> Value {
    app.get_json(path).await.2["data"].clone()
}

#[tokio::test]
async fn system_routes() {
    let app = spawn_app().await;
    for path in ["/", "/api/v2"] {
        let (status, _, body) = app.get_json(path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"]["name"], "jarvis");
        assert_eq!(body["data"]["catalog"]["resources"]["agents"], 15);
    }
    let (status, _, body) = app.get_json("/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["status"], "ok");
    let (status, _, body) = app.get_json("/api/v2/ready").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["ready"], true);
    let (status, _, body) = app.get_json("/antigravity/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["status"], "levitating");
    assert_eq!(body["data"]["catalog_generation"], 1);
    assert!(
        body["data"]["message"]
            .as_str()
            .unwrap()
            .contains("import antigravity")
    );
    let res = app.get("/docs").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(res.text().await.unwrap().contains("/docs/app.js"));
    let res = app.get("/docs/app.js").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("openapi.json"));
}

#[tokio::test]
async fn lists_paginate_with_offsets_and_cursors() {
    let app = spawn_app().await;
    let (_, _, first) = app.get_json("/api/v2/agents?limit=5").await;
    let page = &first["metadata"]["pagination"];
    assert_eq!(page["total"], 15);
    assert_eq!(page["limit"], 5);
    assert_eq!(page["has_more"], true);
    assert_eq!(first["data"].as_array().unwrap().len(), 5);
    // Walk every page by cursor.
    let mut names = Vec::new();
    let mut next = Some("/api/v2/agents?limit=4".to_owned());
    while let Some(path) = next {
        let (status, _, body) = app.get_json(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        names.extend(
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["name"].as_str().unwrap().to_owned()),
        );
        next = body["metadata"]["pagination"]["next_cursor"]
            .as_str()
            .map(|c| format!("/api/v2/agents?limit=4&cursor={c}"));
    }
    assert_eq!(names.len(), 15);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    // Past the end: an empty page, not an error.
    let (status, _, body) = app.get_json("/api/v2/agents?offset=100").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["data"].as_array().unwrap().is_empty());
    assert_eq!(body["metadata"]["pagination"]["has_more"], false);
    // Descending order.
    let (_, _, desc) = app.get_json("/api/v2/agents?sort=-name&limit=1").await;
    assert_eq!(desc["data"][0]["name"], "tagged");
}

#[tokio::test]
async fn bad_parameters_name_the_parameter() {
    let app = spawn_app().await;
    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("offset=-5", "offset"),
        ("offset=x", "offset"),
        ("cursor=nonsense", "cursor"),
        ("offset=1&cursor=c1.2", "cursor"),
        ("scope=galaxy", "scope"),
        ("sort=size", "sort"),
        ("active=maybe", "active"),
        ("colour=blue", "colour"),
        ("limit=1&limit=2", "limit"),
    ] {
        let (status, _, body) = app.get_json(&format!("/api/v2/agents?{query}")).await;
        assert_error(status, &body, 400, "VALIDATION_ERROR");
        assert_eq!(
            body["error"]["details"]["parameter"], param,
            "{query}: {body}"
        );
    }
    for (path, param) in [
        ("/api/v2/search", "q"),
        ("/api/v2/search?q=", "q"),
        ("/api/v2/search?q=x&kind=widget", "kind"),
        ("/api/v2/search?q=x&limit=1000", "limit"),
        ("/api/v2/diagnostics?severity=loud", "severity"),
        ("/api/v2/diagnostics?code=nope", "code"),
        ("/health?verbose=1", "verbose"),
    ] {
        let (status, _, body) = app.get_json(path).await;
        assert_error(status, &body, 400, "VALIDATION_ERROR");
        assert_eq!(
            body["error"]["details"]["parameter"], param,
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn filters_narrow_lists() {
    let app = spawn_app().await;
    let (_, _, body) = app
        .get_json("/api/v2/agents?category=quality&tag=safe")
        .await;
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{body}");
    assert_eq!(data[0]["name"], "tagged");
    let (_, _, body) = app.get_json("/api/v2/agents?tag=safe&tag=slow").await;
    assert!(body["data"].as_array().unwrap().is_empty());
    let (_, _, body) = app
        .get_json("/api/v2/commands?scope=user&source=tools")
        .await;
    assert_eq!(body["data"][0]["qualified_name"], "tools:lint");
    let (_, _, body) = app.get_json("/api/v2/agents?active=false").await;
    assert!(body["data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn details_by_id_and_name() {
    let app = spawn_app().await;
    let (status, _, by_name) = app.get_json("/api/v2/agents/reviewer").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        by_name["data"]["body"]
            .as_str()
            .unwrap()
            .contains("Focus on correctness")
    );
    let id = by_name["data"]["id"].as_str().unwrap().to_owned();
    let (_, _, by_id) = app.get_json(&format!("/api/v2/agents/{id}")).await;
    assert_eq!(by_id["data"], by_name["data"]);
    let (status, _, body) = app.get_json("/api/v2/commands/tools:lint").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = app.get_json("/api/v2/commands/lint").await;
    assert_error(status, &body, 409, "AMBIGUOUS_NAME");
    assert_eq!(
        body["error"]["details"]["candidates"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (status, _, body) = app.get_json("/api/v2/agents/nobody").await;
    assert_error(status, &body, 404, "RESOURCE_NOT_FOUND");
    // An id of another kind is not found under this kind.
    let (status, _, body) = app.get_json(&format!("/api/v2/skills/{id}")).await;
    assert_error(status, &body, 404, "RESOURCE_NOT_FOUND");
}

#[tokio::test]
async fn secrets_never_leave_the_server() {
    let app = spawn_app().await;
    for path in [
        "/api/v2/mcp-servers",
        "/api/v2/mcp-servers/gh",
        "/api/v2/mcp-servers/local",
        "/api/v1/mcp-servers",
        "/api/v2/search?q=gh",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let text = res.text().await.unwrap();
        assert!(!text.contains(SECRET), "{path} leaked the secret");
        assert!(
            text.contains("********") || path.contains("search"),
            "{path}: {text}"
        );
    }
}

#[tokio::test]
async fn search_ranks_with_typos_and_highlights() {
    let app = spawn_app().await;
    let (status, _, body) = app.get_json("/api/v2/search?q=secrity&kind=agent").await;
    assert_eq!(status, StatusCode::OK);
    let hit = &body["data"]["hits"][0];
    assert_eq!(hit["name"], "reviewer");
    assert_eq!(hit["quality"], "fuzzy");
    let text = hit["highlight"]["text"].as_str().unwrap();
    let range = hit["highlight"]["ranges"][0].as_array().unwrap();
    let (start, end) = (
        range[0].as_u64().unwrap() as usize,
        range[1].as_u64().unwrap() as usize,
    );
    assert_eq!(&text[start..end], "security");

    // POST with a JSON body answers the same.
    let res = app
        .client
        .post(format!("{}/api/v2/search", app.base))
        .json(&serde_json::json!({ "q": "secrity", "kinds": ["agent"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let posted: Value = res.json().await.unwrap();
    assert_eq!(posted["data"]["hits"], body["data"]["hits"]);
}

#[tokio::test]
async fn http_errors_are_envelopes() {
    let app = spawn_app().await;
    let (status, _, body) = app.get_json("/no/such/route").await;
    assert_error(status, &body, 404, "ROUTE_NOT_FOUND");

    let res = app
        .client
        .delete(format!("{}/api/v2/agents", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "GET");
    let (status, body) = (res.status(), res.json::<Value>().await.unwrap());
    assert_error(status, &body, 405, "METHOD_NOT_ALLOWED");
    let res = app
        .client
        .put(format!("{}/api/v2/search", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "GET, POST");

    let post = |body: String, content_type: &'static str| {
        app.client
            .post(format!("{}/api/v2/search", app.base))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let res = post(
        format!("{{\"q\": \"{}\"}}", "x".repeat(10_000)),
        "application/json",
    )
    .await
    .unwrap();
    let (status, body) = (res.status(), res.json::<Value>().await.unwrap());
    assert_error(status, &body, 413, "PAYLOAD_TOO_LARGE");
    let res = post("q=x".into(), "text/plain").await.unwrap();
    let (status, body) = (res.status(), res.json::<Value>().await.unwrap());
    assert_error(status, &body, 415, "UNSUPPORTED_MEDIA_TYPE");
    let res = post("{not json".into(), "application/json").await.unwrap();
    let (status, body) = (res.status(), res.json::<Value>().await.unwrap());
    assert_error(status, &body, 400, "MALFORMED_BODY");
    let res = post("{\"q\": \"x\", \"extra\": 1}".into(), "application/json")
        .await
        .unwrap();
    let (status, body) = (res.status(), res.json::<Value>().await.unwrap());
    assert_error(status, &body, 400, "MALFORMED_BODY");
}

#[tokio::test]
async fn etags_answer_304_and_follow_file_edits() {
    let app = spawn_app().await;
    let path = "/api/v2/agents/reviewer";
    let res = app.get(path).await;
    let etag = res.headers()[ETAG].clone();
    assert_eq!(res.headers()["cache-control"], "private, no-cache");
    let first: Value = res.json().await.unwrap();
    assert_eq!(
        first["data"]["description"],
        "Reviews code for security problems"
    );

    let res = app
        .client
        .get(format!("{}{path}", app.base))
        .header(IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert!(res.headers().contains_key("x-request-id"));
    assert!(res.bytes().await.unwrap().is_empty());

    // Edit the file: the next request shows the change, never the cached copy.
    let generation = app.catalog.snapshot().generation();
    std::fs::write(
        app.home.join(".claude/agents/reviewer.md"),
        agent("reviewer", "Now reviews performance too"),
    )
    .unwrap();
    app.wait_for_generation_above(generation).await;
    let res = app
        .client
        .get(format!("{}{path}", app.base))
        .header(IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_ne!(res.headers()[ETAG], etag);
    let second: Value = res.json().await.unwrap();
    assert_eq!(second["data"]["description"], "Now reviews performance too");
    let (_, _, list) = app.get_json("/api/v2/agents?limit=500").await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["description"] == "Now reviews performance too")
    );

    // The cache counted all of it.
    let (_, _, stats) = app.get_json("/api/v2/cache/stats").await;
    assert!(stats["data"]["hits"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["data"]["misses"].as_u64().unwrap() >= 2, "{stats}");
}

#[tokio::test]
async fn v1_keeps_the_original_shapes_with_deprecation_headers() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/agents").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["deprecation"], "true");
    assert!(res.headers().contains_key("sunset"));
    assert_eq!(
        res.headers()["link"],
        "</api/v2/agents>; rel=\"successor-version\""
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["count"], 15);
    assert!(body["agents"]["reviewer"].is_object());
    let (_, headers, body) = app.get_json("/api/v1/mcp-servers").await;
    assert_eq!(body["count"], 2);
    assert!(body["mcp_servers"]["gh"].is_object());
    assert!(headers.contains_key("deprecation"));
    let (_, _, body) = app.get_json("/api/v1/search?q=reviewer").await;
    assert_eq!(body["query"], "reviewer");
    assert_eq!(body["results"][0]["name"], "reviewer");
    let (_, headers, body) = app.get_json("/api/v1/health").await;
    assert_eq!(body["status"], "healthy");
    assert_eq!(
        headers["link"],
        "</api/v2/health>; rel=\"successor-version\""
    );
}

#[tokio::test]
async fn diagnostics_are_listed_and_filtered() {
    let app = spawn_app().await;
    let (_, _, body) = app
        .get_json("/api/v2/diagnostics?code=yaml_recovered")
        .await;
    let items = body["data"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{body}");
    assert!(items[0]["path"].as_str().unwrap().ends_with("broken.md"));
    assert_eq!(items[0]["line"], 3);
    let (_, _, body) = app.get_json("/api/v2/diagnostics?severity=warning").await;
    assert!(
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["severity"] != "info")
    );
}

#[tokio::test]
async fn large_bodies_are_compressed_when_asked() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/api/v2/agents?limit=500", app.base))
        .header(ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_ENCODING], "gzip");
    let res = app
        .client
        .get(format!("{}/api/v2/agents?limit=500", app.base))
        .header(ACCEPT_ENCODING, "br")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[CONTENT_ENCODING], "br");
}

#[tokio::test]
async fn graceful_shutdown_stops_the_server() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    app.handle.stop(true).await;
    assert!(
        app.client
            .get(format!("{}/health", app.base))
            .send()
            .await
            .is_err()
    );
}

/// One keep-alive client asking for a page of tens of KB (the default page of a real catalog)
/// gets each answer at once: with Nagle's algorithm on, the body would wait for the client's
/// delayed ACK, 40 ms a request.
#[tokio::test]
async fn keep_alive_pages_of_tens_of_kb_do_not_stall() {
    let app = spawn_app().await;
    let before = app.catalog.snapshot().generation();
    let description = "Reviews pull requests for unsafe patterns and proposes fixes. ".repeat(11);
    for i in 0..60 {
        let name = format!("bulk-{i:02}");
        std::fs::write(
            app.home.join(format!(".claude/agents/{name}.md")),
            agent(&name, &description),
        )
        .unwrap();
    }
    app.wait_for_generation_above(before).await;
    jarvis_testkit::eventually(
        "75 agents loaded",
        std::time::Duration::from_secs(10),
        || async {
            let agents = app
                .catalog
                .snapshot()
                .of_kind(jarvis_core::ResourceKind::Agent)
                .count();
            (agents >= 75).then_some(())
        },
    )
    .await;
    let url = format!("{}/api/v2/agents?limit=50", app.base);
    let page = app.client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let size = page.bytes().await.unwrap().len();
    assert!((30_000..60_000).contains(&size), "{size} bytes");

    let started = std::time::Instant::now();
    for _ in 0..50 {
        let res = app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.bytes().await.unwrap().len(), size);
    }
    let elapsed = started.elapsed();
    // The stall would cost 50 × 40 ms = 2 s.
    assert!(
        elapsed < std::time::Duration::from_millis(600),
        "50 keep-alive requests of {size} bytes took {elapsed:?}"
    );
}

/// The document's constraints are the parser's: every bounded integer refuses one past its
/// bound, every enumeration a word outside it, each naming the parameter; and every route says
/// what the gates in front of it answer.
#[tokio::test]
async fn the_document_states_what_the_parser_enforces() {
    let app = spawn_app().await;
    let (_, _, doc) = app.get_json("/api/v2/openapi.json").await;
    let mut checked = 0;
    for route in jarvis_api::route_table() {
        let op = &doc["paths"][&route.path][route.method];
        for status in ["400", "401", "403", "429", "500"] {
            assert!(
                op["responses"][status].is_object(),
                "{} {} does not list {status}",
                route.method,
                route.path
            );
        }
        // The handshake checks its headers first (its own test covers them).
        if route.method != "get"
            || route.path.contains('{')
            || matches!(route.body, jarvis_api::Body::WebSocket)
        {
            continue;
        }
        for param in route
            .params
            .iter()
            .filter(|p| p.location == jarvis_api::In::Query)
        {
            let bad = match param.kind {
                jarvis_api::Kind::Integer { max, .. } => (max + 1).to_string(),
                jarvis_api::Kind::OneOf(_) | jarvis_api::Kind::Named { .. } => {
                    "not-one-of-them".to_owned()
                }
                jarvis_api::Kind::Date => "2025-02-30".to_owned(),
                jarvis_api::Kind::Boolean => "maybe".to_owned(),
                jarvis_api::Kind::Text { max_len, .. } => "x".repeat(max_len + 1),
            };
            let (status, _, body) = app
                .get_json(&format!("{}?{}={bad}", route.path, param.name))
                .await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{} {bad}: {body}",
                route.path
            );
            assert_eq!(
                body["error"]["details"]["parameter"], param.name,
                "{} {bad}: {body}",
                route.path
            );
            checked += 1;
        }
    }
    assert!(checked > 60, "{checked} parameters checked");

    // Lists are arrays, a created key is 201, offset and cursor are one choice.
    let keys = &doc["paths"]["/api/v2/keys"];
    assert_eq!(
        keys["get"]["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["data"]
            ["type"],
        "array"
    );
    assert!(keys["post"]["responses"]["201"].is_object());
    let agents = doc["paths"]["/api/v2/agents"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let start = agents.iter().find(|p| p["name"] == "page_start").unwrap();
    assert_eq!(start["style"], "form");
    assert_eq!(start["explode"], true);
    assert_eq!(start["schema"]["anyOf"].as_array().unwrap().len(), 2);
    let limit = agents.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(limit["schema"]["maximum"], 500);
    let run = &doc["paths"]["/api/v2/commands/{id}/run"]["post"]["responses"];
    assert!(run["202"].is_object() && run["503"].is_object(), "{run}");
}
