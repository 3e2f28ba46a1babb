//! Metrics, history, processes and the Prometheus exposition, against the real sampler.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jarvis_api::{ApiConfig, Scope};
use jarvis_integrations::{N8nClient, N8nConfig, ServiceRegistry};
use jarvis_testkit::eventually;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Spawn, TestApp, post, spawn_app, wait_final};

fn total_count(history: &Value) -> u64 {
    history["data"]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["count"].as_u64().unwrap())
        .sum()
}

#[tokio::test]
async fn metrics_are_listed_with_units_and_the_latest_sample_is_served() {
    let app = spawn_app().await;
    app.wait_for_samples(1).await;
    let (status, _, body) = app.get_json("/api/v2/metrics").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let metrics = body["data"]["metrics"].as_array().unwrap();
    let unit = |name: &str| {
        metrics
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing from {body}"))["unit"]
            .clone()
    };
    assert_eq!(unit("cpu_usage"), "percent");
    assert_eq!(unit("memory_used_bytes"), "bytes");
    assert_eq!(unit("net_rx_bytes_per_sec"), "bytes_per_second");
    assert_eq!(unit("jarvis_open_connections"), "count");
    assert_eq!(unit("jarvis_tasks_running"), "count");
    assert!(metrics.iter().all(|m| m["description"].is_string()));
    assert_eq!(body["data"]["resolutions"][0]["step_secs"], 2);
    assert_eq!(body["data"]["interval_ms"], 200);

    for path in ["/api/v2/metrics/current", "/metrics/current"] {
        let (status, _, body) = app.get_json(path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let s = &body["data"];
        assert!(s["memory_total_bytes"].as_u64().unwrap() > 0);
        assert!(!s["cpu_per_core"].as_array().unwrap().is_empty());
        assert_eq!(s["load"].as_array().unwrap().len(), 3);
        assert!(s["disks"].is_array() && s["network"].is_object());
        assert!(s["uptime_secs"].as_u64().unwrap() > 0);
        assert!(s["own_resident_bytes"].as_u64().unwrap() > 0);
        assert!(s["probes"]["jarvis_open_connections"].is_number(), "{s}");
        assert!(s["probes"]["jarvis_tasks_running"].is_number(), "{s}");
    }
}

#[tokio::test]
async fn history_answers_every_named_range_from_the_right_resolution() {
    let app = spawn_app().await;
    app.wait_for_samples(2).await;
    // (range, the resolution it is read from: the finest reaching back that far within
    // 2,000 points)
    for (range, step) in [
        ("15m", 2),
        ("1h", 2),
        ("6h", 60),
        ("24h", 60),
        ("7d", 900),
        ("30d", 900),
        ("90d", 900),
    ] {
        let (status, _, body) = app
            .get_json(&format!(
                "/metrics/history?metric_name=cpu_usage&time_range={range}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{range}: {body}");
        let data = &body["data"];
        assert_eq!(data["step_secs"], step, "{range}");
        assert_eq!(data["resolution"]["step_secs"], step, "{range}");
        assert_eq!(data["unit"], "percent");
        assert!(total_count(&body) >= 2, "{range}: {body}");
        let point = &data["points"][0];
        let (min, mean, max) = (
            point["min"].as_f64().unwrap(),
            point["mean"].as_f64().unwrap(),
            point["max"].as_f64().unwrap(),
        );
        assert!(min <= mean && mean <= max, "{point}");
    }
    // from/to/step on the v2 route: points merged to the step asked for.
    let to = jarvis_telemetry::unix_now() + 1;
    let (status, _, body) = app
        .get_json(&format!(
            "/api/v2/metrics/history?metric=memory_usage&from={}&to={to}&step=5m",
            to - 7200
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["step_secs"], 300);
    assert_eq!(body["data"]["resolution"]["step_secs"], 60);
    assert_eq!(body["data"]["from"], to - 7200);
    // A probe's history: Jarvis's own gauges are kept like the machine's.
    let (status, _, body) = app
        .get_json("/api/v2/metrics/history?metric=jarvis_open_connections&time_range=15m")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(total_count(&body) >= 1, "{body}");
}

#[tokio::test]
async fn bad_ranges_and_unknown_metrics_are_refused_clearly() {
    let app = spawn_app().await;
    let (status, _, body) = app
        .get_json("/metrics/history?metric_name=cpu_temperature&time_range=1h")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "RESOURCE_NOT_FOUND");
    assert_eq!(body["error"]["details"]["metric"], "cpu_temperature");
    let known = body["error"]["details"]["known"].as_array().unwrap();
    assert!(known.contains(&json!("cpu_usage")) && known.contains(&json!("jarvis_tasks_queued")));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cpu_usage")
    );

    let now = jarvis_telemetry::unix_now();
    for (query, parameter) in [
        ("time_range=1h".to_owned(), "metric"),
        (
            "metric=cpu_usage&metric_name=cpu_usage".to_owned(),
            "metric_name",
        ),
        ("metric=cpu_usage&time_range=2y".to_owned(), "time_range"),
        ("metric=cpu_usage&time_range=0m".to_owned(), "time_range"),
        ("metric=cpu_usage&time_range=".to_owned(), "time_range"),
        ("metric=cpu_usage&time_range=1h&from=5".to_owned(), "from"),
        ("metric=cpu_usage&time_range=01h".to_owned(), "time_range"),
        ("metric=cpu_usage&from=yesterday".to_owned(), "from"),
        ("metric=cpu_usage&to=-5".to_owned(), "to"),
        ("metric=cpu_usage&step=0".to_owned(), "step"),
        ("metric=cpu_usage&step=fast".to_owned(), "step"),
        ("metric=cpu_usage&resolution=2".to_owned(), "resolution"),
        ("metric=cpu_usage&metric=memory_usage".to_owned(), "metric"),
    ] {
        let (status, _, body) = app
            .get_json(&format!("/api/v2/metrics/history?{query}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR", "{query}");
        assert_eq!(
            body["error"]["details"]["parameter"], parameter,
            "{query}: {body}"
        );
    }
    // An interval that ends before it starts holds no points; a range longer than the history
    // answers what the history keeps.
    for (query, empty) in [
        (format!("metric=cpu_usage&from={now}&to={}", now - 60), true),
        (format!("metric=cpu_usage&from={now}&to={now}"), true),
        ("metric=cpu_usage&time_range=999d".to_owned(), false),
    ] {
        let (status, _, body) = app
            .get_json(&format!("/api/v2/metrics/history?{query}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        if empty {
            assert_eq!(body["data"]["points"], json!([]), "{query}");
        }
    }
}

#[tokio::test]
async fn history_survives_a_restart_on_the_same_data_directory() {
    let mut app = spawn_app().await;
    app.wait_for_samples(3).await;
    let before = app
        .get_json("/metrics/history?metric_name=cpu_usage&time_range=1h")
        .await
        .2;
    let (_, _, coarse_before) = app
        .get_json("/metrics/history?metric_name=memory_usage&time_range=90d")
        .await;
    assert!(total_count(&before) >= 3, "{before}");
    app.restart().await;
    // The restarted server answers from what the first one stored, new samples on top.
    let after = app
        .get_json("/metrics/history?metric_name=cpu_usage&time_range=1h")
        .await
        .2;
    let (_, _, coarse_after) = app
        .get_json("/metrics/history?metric_name=memory_usage&time_range=90d")
        .await;
    assert!(
        total_count(&after) >= total_count(&before),
        "{before}\nthen\n{after}"
    );
    assert!(total_count(&coarse_after) >= total_count(&coarse_before));
    let first_before = &before["data"]["points"][0];
    let first_after = after["data"]["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["t"] == first_before["t"])
        .unwrap_or_else(|| panic!("the oldest point is gone: {after}"));
    assert!(first_after["count"].as_u64() >= first_before["count"].as_u64());
    assert_eq!(first_after["min"], first_before["min"]);
}

#[tokio::test]
async fn processes_are_listed_sorted_filtered_and_found_by_pid() {
    let app = spawn_app().await;
    app.wait_for_samples(1).await;
    let me = std::process::id();
    for path in [
        format!("/api/v2/processes/{me}"),
        format!("/processes/{me}"),
    ] {
        let (status, _, body) = app.get_json(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["pid"], me);
    }
    let (_, _, mine) = app.get_json(&format!("/api/v2/processes/{me}")).await;
    let p = &mine["data"];
    for field in [
        "parent",
        "name",
        "user",
        "status",
        "cpu_percent",
        "memory_bytes",
        "started_at",
        "command",
    ] {
        assert!(p.get(field).is_some(), "{field} missing: {p}");
    }
    assert!(p["memory_bytes"].as_u64().unwrap() > 0);
    assert!(p["command"].as_str().unwrap().chars().count() <= 513);
    let name = p["name"].as_str().unwrap().to_owned();

    let list = |query: &'static str| {
        let app: &TestApp = &app;
        async move {
            let (status, _, body) = app.get_json(&format!("/processes?{query}")).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            body
        }
    };
    let by_pid = list("sort=pid&limit=1000").await;
    let pids: Vec<u64> = by_pid["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert!(pids.windows(2).all(|w| w[0] < w[1]), "{pids:?}");
    assert!(pids.contains(&u64::from(me)));
    let by_memory = list("sort=memory&limit=20").await;
    let memory: Vec<u64> = by_memory["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["memory_bytes"].as_u64().unwrap())
        .collect();
    assert!(memory.windows(2).all(|w| w[0] >= w[1]), "{memory:?}");
    let by_cpu = list("limit=20").await;
    let cpu: Vec<f64> = by_cpu["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["cpu_percent"].as_f64().unwrap())
        .collect();
    assert!(
        cpu.windows(2).all(|w| w[0] >= w[1]),
        "cpu is the default order: {cpu:?}"
    );
    let newest = list("sort=started&limit=20").await;
    let started: Vec<i64> = newest["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["started_at"].as_i64().unwrap())
        .collect();
    assert!(started.windows(2).all(|w| w[0] >= w[1]), "{started:?}");

    let (_, _, named) = app
        .get_json(&format!(
            "/api/v2/processes?name={}&sort=name",
            name.to_uppercase()
        ))
        .await;
    let named = named["data"].as_array().unwrap();
    assert!(named.iter().any(|p| p["pid"] == me));
    assert!(named.iter().all(|p| {
        p["name"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains(&name.to_lowercase())
    }));

    let first = list("sort=pid&limit=1").await;
    assert_eq!(first["metadata"]["pagination"]["has_more"], true);
    let cursor = first["metadata"]["pagination"]["next_cursor"]
        .as_str()
        .unwrap();
    let (_, _, second) = app
        .get_json(&format!("/processes?sort=pid&limit=1&cursor={cursor}"))
        .await;
    assert!(second["data"][0]["pid"].as_u64() > first["data"][0]["pid"].as_u64());

    for (query, parameter) in [
        ("sort=colour", "sort"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("offset=1&cursor=c1.2", "cursor"),
        ("user=root", "user"),
    ] {
        let (status, _, body) = app.get_json(&format!("/processes?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["details"]["parameter"], parameter, "{query}");
    }
    let (status, _, body) = app.get_json("/api/v2/processes/init").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["details"]["parameter"], "pid");
    let (status, _, body) = app.get_json("/api/v2/processes/4294967295").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "RESOURCE_NOT_FOUND");
}

#[tokio::test]
async fn without_telemetry_the_machine_routes_say_so() {
    let app = Spawn::new().telemetry(None).start().await;
    for path in [
        "/api/v2/metrics",
        "/api/v2/metrics/current",
        "/metrics/history?metric_name=cpu_usage&time_range=1h",
        "/processes",
        "/api/v2/processes/1",
    ] {
        let (status, _, body) = app.get_json(path).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
        assert_eq!(body["error"]["code"], "TELEMETRY_UNAVAILABLE", "{path}");
    }
    // The exposition still answers, without the machine's gauges.
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), StatusCode::OK);
    let families = parse_exposition(&res.text().await.unwrap());
    assert!(families.contains_key("jarvis_http_requests_total"));
    assert!(!families.contains_key("jarvis_system_memory_total_bytes"));
}

/// One metric family of a text exposition.
#[derive(Debug, Default)]
struct Family {
    kind: String,
    /// (sample name, labels, value)
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Family {
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
    }
}

fn valid_name(name: &str, colons: bool) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
}

fn parse_value(text: &str) -> f64 {
    match text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        other => other
            .parse()
            .unwrap_or_else(|_| panic!("`{other}` is not a sample value")),
    }
}

/// Parses the Prometheus text format (0.0.4) strictly: every line is a HELP, a TYPE or a
/// sample of the family declared just before; names and label names are valid; label values
/// use only the format's escapes; a family is declared once and no series repeats; histogram
/// buckets are cumulative, ordered, and end in `+Inf` equal to `_count`.
fn parse_exposition(text: &str) -> BTreeMap<String, Family> {
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut seen_series = BTreeSet::new();
    for line in text.lines() {
        assert!(!line.is_empty(), "no blank lines expected");
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(valid_name(name, true), "HELP for a bad name: {line}");
            assert!(!families.contains_key(name), "{name} declared twice");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect(line);
            assert!(valid_name(name, true), "{line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(!families.contains_key(name), "{name} declared twice");
            families.insert(
                name.to_owned(),
                Family {
                    kind: kind.to_owned(),
                    samples: Vec::new(),
                },
            );
            current = Some(name.to_owned());
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let name_end = line.find(['{', ' ']).expect(line);
        let name = &line[..name_end];
        assert!(valid_name(name, true), "{line}");
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(after) = rest.strip_prefix('{') {
            let mut chars = after.char_indices().peekable();
            let end = loop {
                let (start, c) = chars.next().expect(line);
                if c == '}' {
                    break start;
                }
                let eq = after[start..].find('=').expect(line) + start;
                let label = &after[start..eq];
                assert!(valid_name(label, false), "bad label name in {line}");
                while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                    chars.next();
                }
                assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
                let mut value = String::new();
                loop {
                    let (_, c) = chars.next().expect(line);
                    match c {
                        '"' => break,
                        '\\' => match chars.next().expect(line).1 {
                            '\\' => value.push('\\'),
                            '"' => value.push('"'),
                            'n' => value.push('\n'),
                            other => panic!("bad escape \\{other} in {line}"),
                        },
                        '\n' => panic!("raw newline in {line}"),
                        c => value.push(c),
                    }
                }
                assert!(labels.insert(label.to_owned(), value).is_none(), "{line}");
                match chars.peek().map(|(_, c)| *c) {
                    Some(',') => {
                        chars.next();
                    }
                    Some('}') => {}
                    other => panic!("unexpected {other:?} in {line}"),
                }
            };
            rest = &after[end + 1..];
        }
        let rest = rest.strip_prefix(' ').expect(line);
        let mut parts = rest.split(' ');
        let value = parse_value(parts.next().expect(line));
        if let Some(ts) = parts.next() {
            ts.parse::<i64>().expect(line);
        }
        assert!(parts.next().is_none(), "{line}");
        let family_name = current
            .clone()
            .unwrap_or_else(|| panic!("sample before TYPE: {line}"));
        let family = families.get_mut(&family_name).unwrap();
        let allowed: Vec<String> = if family.kind == "histogram" {
            ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{family_name}{s}"))
                .collect()
        } else {
            vec![family_name.clone()]
        };
        assert!(
            allowed.iter().any(|a| a == name),
            "{name} does not belong to family {family_name}"
        );
        assert!(
            seen_series.insert(format!("{name}{labels:?}")),
            "series repeated: {line}"
        );
        family.samples.push((name.to_owned(), labels, value));
    }
    for (name, family) in &families {
        if family.kind != "histogram" {
            continue;
        }
        let mut by_series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        let mut counts: BTreeMap<String, f64> = BTreeMap::new();
        for (sample, labels, value) in &family.samples {
            let mut key_labels = labels.clone();
            let le = key_labels.remove("le");
            let key = format!("{key_labels:?}");
            if sample.ends_with("_bucket") {
                let le = parse_value(&le.unwrap_or_else(|| panic!("{sample} without le")));
                by_series.entry(key).or_default().push((le, *value));
            } else if sample.ends_with("_count") {
                counts.insert(key, *value);
            }
        }
        for (key, buckets) in by_series {
            assert!(
                buckets.windows(2).all(|w| w[0].0 < w[1].0),
                "{name}{key}: le order"
            );
            assert!(
                buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                "{name}{key}: not cumulative"
            );
            let last = buckets.last().unwrap();
            assert_eq!(last.0, f64::INFINITY, "{name}{key}: no +Inf bucket");
            assert_eq!(
                Some(&last.1),
                counts.get(&key),
                "{name}{key}: +Inf != _count"
            );
        }
    }
    families
}

#[test]
fn the_exposition_parser_refuses_what_prometheus_would() {
    let good = "# HELP a_total x\n# TYPE a_total counter\na_total{k=\"v\\\"q\\\\\"} 3\n";
    assert_eq!(
        parse_exposition(good)["a_total"].samples[0].1["k"],
        "v\"q\\"
    );
    for bad in [
        "a 1\n",                            // no TYPE
        "# TYPE a gauge\nb 1\n",            // foreign sample
        "# TYPE a gauge\na{k=v} 1\n",       // unquoted
        "# TYPE a gauge\na{k=\"\\t\"} 1\n", // bad escape
        "# TYPE a gauge\na 1\na 2\n",       // repeated series
        "# TYPE a gauge\na one\n",          // bad value
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
        "# TYPE a gauge\n# TYPE a gauge\n", // declared twice
    ] {
        let refused = std::panic::catch_unwind(|| parse_exposition(bad)).is_err();
        assert!(refused, "accepted: {bad:?}");
    }
}

#[tokio::test]
async fn the_prometheus_exposition_parses_and_names_every_series() {
    let n8n = wiremock::MockServer::start().await;
    let client = N8nClient::new(&N8nConfig {
        base_url: n8n.uri(),
        ..N8nConfig::default()
    })
    .unwrap();
    let app = Spawn::new()
        .services(ServiceRegistry::new(Some((client, false))))
        .start()
        .await;
    app.wait_for_samples(1).await;
    // Traffic to count: hits, a miss of the cache, a 404 by id, an unmatched path, a task.
    for _ in 0..3 {
        assert_eq!(app.get("/api/v2/agents").await.status(), StatusCode::OK);
    }
    assert_eq!(
        app.get("/api/v2/agents/nope").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/no/such/route").await.status(),
        StatusCode::NOT_FOUND
    );
    let (status, _, task) = post(&app, "/command", json!({ "command": "/tools:lint src" })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{task}");
    let done = wait_final(&app, task["data"]["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded");

    let res = app.get("/metrics").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = res.text().await.unwrap();
    let f = parse_exposition(&text);
    let value = |family: &str, sample: &str, labels: &[(&str, &str)]| {
        f.get(family)
            .unwrap_or_else(|| panic!("no family {family}"))
            .value(sample, labels)
            .unwrap_or_else(|| panic!("no {sample}{labels:?}"))
    };
    let requests = "jarvis_http_requests_total";
    assert_eq!(f[requests].kind, "counter");
    assert_eq!(
        value(
            requests,
            requests,
            &[
                ("route", "/api/v2/agents"),
                ("method", "GET"),
                ("status", "200")
            ]
        ),
        3.0
    );
    assert_eq!(
        value(
            requests,
            requests,
            &[("route", "/api/v2/agents/{id}"), ("status", "404")]
        ),
        1.0
    );
    assert_eq!(
        value(
            requests,
            requests,
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    assert!(
        value(
            requests,
            requests,
            &[("route", "/command"), ("method", "POST"), ("status", "202")]
        ) >= 1.0
    );
    let latency = "jarvis_http_request_duration_seconds";
    assert_eq!(f[latency].kind, "histogram");
    assert_eq!(
        value(
            latency,
            "jarvis_http_request_duration_seconds_count",
            &[("route", "/api/v2/agents"), ("status", "200")]
        ),
        3.0
    );
    assert!(
        value(
            latency,
            "jarvis_http_request_duration_seconds_sum",
            &[("route", "/api/v2/agents")]
        ) > 0.0
    );
    assert!(value("jarvis_http_connections", "jarvis_http_connections", &[]) >= 1.0);
    assert_eq!(
        value(
            "jarvis_websocket_connections",
            "jarvis_websocket_connections",
            &[]
        ),
        0.0
    );
    assert!(value("jarvis_cache_hits_total", "jarvis_cache_hits_total", &[]) >= 2.0);
    assert!(
        value(
            "jarvis_cache_misses_total",
            "jarvis_cache_misses_total",
            &[]
        ) >= 1.0
    );
    let breaker = "jarvis_circuit_breaker_state";
    assert_eq!(
        value(breaker, breaker, &[("service", "n8n"), ("state", "closed")]),
        1.0
    );
    assert_eq!(
        value(breaker, breaker, &[("service", "n8n"), ("state", "open")]),
        0.0
    );
    assert_eq!(
        value(
            breaker,
            breaker,
            &[("service", "n8n"), ("state", "half_open")]
        ),
        0.0
    );
    assert_eq!(
        value("jarvis_tasks", "jarvis_tasks", &[("status", "succeeded")]),
        1.0
    );
    assert_eq!(
        value("jarvis_tasks", "jarvis_tasks", &[("status", "failed")]),
        0.0
    );
    let (_, _, agents) = app.get_json("/api/v2/agents?active=true").await;
    assert_eq!(
        value(
            "jarvis_catalog_resources",
            "jarvis_catalog_resources",
            &[("kind", "agent"), ("state", "active")]
        ),
        agents["metadata"]["pagination"]["total"].as_f64().unwrap()
    );
    assert_eq!(
        value(
            "jarvis_catalog_resources",
            "jarvis_catalog_resources",
            &[("kind", "command"), ("state", "active")]
        ),
        2.0
    );
    assert!(
        value(
            "jarvis_system_memory_total_bytes",
            "jarvis_system_memory_total_bytes",
            &[]
        ) > 0.0
    );
    assert!(
        value(
            "jarvis_process_resident_memory_bytes",
            "jarvis_process_resident_memory_bytes",
            &[]
        ) > 0.0
    );
    let load = "jarvis_system_load_average";
    for window in ["1m", "5m", "15m"] {
        assert!(value(load, load, &[("window", window)]) >= 0.0);
    }
    let cores = &f["jarvis_system_cpu_core_usage_percent"].samples;
    assert!(!cores.is_empty());
    assert!(
        value(
            "jarvis_telemetry_samples_total",
            "jarvis_telemetry_samples_total",
            &[]
        ) >= 1.0
    );
    assert_eq!(value("jarvis_build_info", "jarvis_build_info", &[]), 1.0);
    assert!(
        value(
            "jarvis_catalog_reloads_total",
            "jarvis_catalog_reloads_total",
            &[]
        ) >= 1.0
    );
    assert!(!text.contains(crate::support::SECRET));
}

#[tokio::test]
async fn open_connections_are_counted_while_they_live() {
    let app = spawn_app().await;
    let read = |app: &TestApp| {
        let url = format!("{}/metrics", app.base);
        async move {
            // A fresh client each time, so its own connection is the only one it adds.
            let text = reqwest::get(url).await.unwrap().text().await.unwrap();
            parse_exposition(&text)["jarvis_http_connections"].samples[0].2
        }
    };
    let before = read(&app).await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let held: Vec<tokio::net::TcpStream> = futures_connect(&address, 3).await;
    eventually(
        "the 3 connections to be counted",
        Duration::from_secs(10),
        || async { (read(&app).await >= before + 3.0).then_some(()) },
    )
    .await;
    drop(held);
    eventually(
        "closed connections to be uncounted",
        Duration::from_secs(10),
        || async { (read(&app).await < before + 3.0).then_some(()) },
    )
    .await;
}

async fn futures_connect(address: &str, n: usize) -> Vec<tokio::net::TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(tokio::net::TcpStream::connect(address).await.unwrap());
    }
    held
}

#[tokio::test]
async fn the_exposition_can_be_opened_to_scrapers_without_opening_the_rest() {
    let mut config = ApiConfig::default();
    config.auth.public_metrics = true;
    let app = Spawn::new()
        .config(config)
        .prepare(|keys| {
            keys.create("ops", &[Scope::Admin]).unwrap();
        })
        .start()
        .await;
    assert_eq!(app.get("/metrics").await.status(), StatusCode::OK);
    for path in ["/api/v2/metrics", "/processes", "/api/v2/agents"] {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
}
