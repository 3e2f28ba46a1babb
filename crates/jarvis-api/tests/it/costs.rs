//! Costs through the real server: usage logs written into the fixture home are read live and
//! answered by `/costs/current`, the reports and the blocks; costs recorded by clients are
//! validated, stored once per idempotency key and survive a restart; a task's reported cost
//! is recorded when it finishes; budget thresholds and new entries reach `costs` subscribers;
//! a model without a price is a diagnostic.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use jarvis_testkit::eventually;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{DAILY_BUDGET, Spawn, post, spawn_app, wait_final};
use crate::ws::{next_json, open, send, until};

fn iso(at_ms: i64) -> String {
    jarvis_costs::time::iso_ms(at_ms)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A usage-log line: `output` output tokens of `model`, `minutes_ago` minutes ago.
fn line(message: &str, model: &str, minutes_ago: i64, output: u64) -> String {
    format!(
        r#"{{"type":"assistant","timestamp":"{}","sessionId":"sess-1","version":"2.0.37","requestId":"req-{message}","message":{{"id":"{message}","model":"{model}","usage":{{"input_tokens":100,"output_tokens":{output},"cache_read_input_tokens":1000}}}}}}"#,
        iso(now_ms() - minutes_ago * 60_000)
    ) + "\n"
}

fn append(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

const SONNET: &str = "claude-sonnet-4-20250514";

#[tokio::test]
async fn usage_logs_are_answered_live_by_current_reports_and_blocks() {
    let app = spawn_app().await;
    let log = app.home.join(".claude/projects/-home-me-app/sess-1.jsonl");
    let mut ws = open(&app, None).await;
    send(&mut ws, json!({ "type": "subscribe", "topics": ["costs"] })).await;
    assert_eq!(next_json(&mut ws).await["type"], "subscribed");

    // 2 responses, one streamed twice; 3 minutes ago and now.
    append(
        &log,
        &(line("m1", SONNET, 3, 10) + &line("m1", SONNET, 3, 400) + &line("m2", SONNET, 0, 200)),
    );
    let event = until(&mut ws, |e| {
        e["topic"] == "costs" && e["event"] == "recorded"
    })
    .await;
    assert!(event["data"]["entries"].as_u64().unwrap() >= 1, "{event}");
    let current = eventually("the log to be read", Duration::from_secs(5), || async {
        let (status, _, body) = app.get_json("/costs/current").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (body["data"]["today"]["totals"]["entries"] == 2).then_some(body)
    })
    .await;
    let today = &current["data"]["today"];
    // Each: 100 in at $3/M, out at $15/M, 1000 cache reads at $0.30/M.
    let expected = (200.0 * 3.0 + 600.0 * 15.0 + 2000.0 * 0.3) / 1e6;
    let cost = today["totals"]["totalCost"].as_f64().unwrap();
    assert!((cost - expected).abs() < 1e-9, "{cost} != {expected}");
    assert_eq!(today["by_model"][SONNET]["outputTokens"], 600);
    assert_eq!(today["by_source"]["claude_code"]["entries"], 2);
    assert_eq!(today["by_project"]["-home-me-app"]["entries"], 2);
    assert_eq!(today["budget"]["limit"], DAILY_BUDGET);
    assert!(
        current["data"]["burn_rate"]["cost_per_hour"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert_eq!(
        current["data"]["active_block"]["isActive"], true,
        "{current}"
    );
    // The same answer under v2.
    let (status, _, v2) = app.get_json("/api/v2/costs/current?tz=Europe/Paris").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v2["data"]["timezone"], "Europe/Paris");

    // An append is seen within a second or so.
    append(&log, &line("m3", "mystery-model-7", 0, 5));
    eventually("the append", Duration::from_secs(3), || async {
        let (_, _, body) = app.get_json("/api/v2/costs/report?group_by=model").await;
        let rows = body["data"]["rows"].as_array().unwrap().clone();
        (rows.len() == 2).then_some(())
    })
    .await;
    let (_, _, report) = app
        .get_json("/api/v2/costs/report?group_by=day&tz=UTC")
        .await;
    let data = &report["data"];
    assert_eq!(data["group_by"], "day");
    assert_eq!(data["totals"]["entries"], 3);
    assert_eq!(data["unpriced_models"], json!(["mystery-model-7"]));
    let row = &data["rows"][0];
    assert_eq!(
        row["modelsUsed"],
        json!(["claude-sonnet-4-20250514", "mystery-model-7"])
    );
    let unpriced = row["modelBreakdowns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["modelName"] == "mystery-model-7")
        .unwrap();
    assert_eq!(unpriced["unpriced"], true);
    // Filters and refusals.
    let (_, _, none) = app
        .get_json("/api/v2/costs/report?group_by=session&source=manual")
        .await;
    assert_eq!(none["data"]["rows"], json!([]));
    for bad in [
        "/api/v2/costs/report?since=2025-02-30",
        "/api/v2/costs/report?tz=Mars/Olympus",
        "/api/v2/costs/report?group_by=year",
        "/api/v2/costs/blocks?until=yesterday",
    ] {
        let (status, _, body) = app.get_json(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR", "{bad}");
    }
    // Blocks: one, active.
    let (_, _, blocks) = app.get_json("/api/v2/costs/blocks?active=true").await;
    let blocks = blocks["data"].as_array().unwrap();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    assert_eq!(blocks[0]["entries"], 3);
    assert!(
        blocks[0]["projection"]["remainingMinutes"]
            .as_u64()
            .unwrap()
            <= 300
    );
    // The unknown model is a diagnostic; what reading found is shown.
    let (_, _, diagnostics) = app
        .get_json("/api/v2/diagnostics?code=model_unpriced")
        .await;
    let found = diagnostics["data"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("mystery-model-7")
    );
    let (_, _, sources) = app.get_json("/api/v2/costs/sources").await;
    assert_eq!(sources["data"]["duplicates_dropped"], 1);
    assert_eq!(sources["data"]["unpriced_models"]["mystery-model-7"], 1);
    assert_eq!(sources["data"]["logs"]["files"], 1);
}

#[tokio::test]
async fn recorded_costs_are_checked_kept_once_and_survive_a_restart() {
    let mut config = jarvis_api::ApiConfig {
        port: 0,
        ..jarvis_api::ApiConfig::default()
    };
    config.rate_limit.execute_burst = 100;
    let mut app = Spawn::new().config(config).start().await;
    let entry = json!({
        "amount": 1.25, "currency": "USD", "category": "hosting", "project": "infra",
        "tags": ["gpu"], "description": "GPU box", "idempotency_key": "invoice-42"
    });
    let (status, headers, first) = post(&app, "/api/v2/costs", entry.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let id = first["data"]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("cst_"));
    assert_eq!(
        headers["location"].to_str().unwrap(),
        format!("/api/v2/costs/entries/{id}")
    );
    assert_eq!(first["data"]["cost_usd"], 1.25);
    assert_eq!(first["data"]["source"], "manual");
    // A retry answers the first entry; a header key works the same.
    let (status, _, again) = post(&app, "/api/v2/costs", entry.clone()).await;
    assert_eq!((status, &again["data"]["id"]), (StatusCode::OK, &json!(id)));
    let res = app
        .client
        .post(format!("{}/api/v2/costs", app.base))
        .header("Idempotency-Key", "invoice-42")
        .json(&json!({ "amount": 1.25, "currency": "USD" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for (bad, code) in [
        (
            json!({ "amount": -1, "currency": "USD" }),
            "VALIDATION_ERROR",
        ),
        (
            json!({ "amount": 1, "currency": "EUR" }),
            "VALIDATION_ERROR",
        ),
        (
            json!({ "amount": 1, "currency": "USD", "at": "yesterday" }),
            "VALIDATION_ERROR",
        ),
        (
            json!({ "amount": 1, "currency": "USD", "tags": vec!["x"; 17] }),
            "VALIDATION_ERROR",
        ),
        (
            json!({ "amount": 1, "currency": "USD", "category": "c".repeat(65) }),
            "VALIDATION_ERROR",
        ),
        (
            json!({ "amount": 1, "currency": "USD", "idempotency_key": "has space" }),
            "VALIDATION_ERROR",
        ),
        (
            json!({ "amount": 1, "currency": "USD", "source": "claude_code" }),
            "VALIDATION_ERROR",
        ),
        (
            json!({ "amount": 1, "currency": "USD", "surprise": true }),
            "MALFORMED_BODY",
        ),
        (
            json!({ "amount": "1", "currency": "USD" }),
            "MALFORMED_BODY",
        ),
    ] {
        let (status, _, body) = post(&app, "/api/v2/costs", bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"]["code"], code, "{bad}: {body}");
    }
    let (_, _, list) = app.get_json("/api/v2/costs/entries?source=manual").await;
    assert_eq!(list["metadata"]["pagination"]["total"], 1, "{list}");

    app.restart().await;
    let (status, _, kept) = app.get_json(&format!("/api/v2/costs/entries/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept["data"]["tags"], json!(["gpu"]));
    let (status, _, after) = post(&app, "/api/v2/costs", entry).await;
    assert_eq!((status, &after["data"]["id"]), (StatusCode::OK, &json!(id)));
    let (_, _, current) = app.get_json("/api/v2/costs/current").await;
    assert_eq!(
        current["data"]["today"]["by_category"]["hosting"]["entries"],
        1
    );
    let (status, _, missing) = app
        .get_json("/api/v2/costs/entries/cst_000000000000000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
}

#[tokio::test]
async fn task_costs_and_budget_thresholds_are_announced() {
    let app = spawn_app().await;
    let mut ws = open(&app, None).await;
    send(&mut ws, json!({ "type": "subscribe", "topics": ["costs"] })).await;
    assert_eq!(next_json(&mut ws).await["type"], "subscribed");

    let (status, _, body) = post(
        &app,
        "/api/v2/agents/reviewer/run",
        json!({ "task": "spend a little" }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let task_id = body["data"]["id"].as_str().unwrap().to_owned();
    let done = wait_final(&app, &task_id).await;
    assert_eq!(done["cost_usd"], 0.25, "{done}");
    let task_entry: Value = eventually("the task's cost", Duration::from_secs(5), || async {
        let (_, _, list) = app.get_json("/api/v2/costs/entries?source=task").await;
        list["data"].as_array().unwrap().first().cloned()
    })
    .await;
    assert_eq!(task_entry["cost_usd"], 0.25);
    assert_eq!(task_entry["session"], "run-spend-1");
    assert_eq!(task_entry["agent"], "reviewer");
    assert_eq!(task_entry["model"], "claude-sonnet-4-5-20250929");
    assert_eq!(task_entry["recorded_by"], task_id.as_str());

    // Past half of the daily budget: one announcement at 50 %, then 100 %.
    post(
        &app,
        "/api/v2/costs",
        json!({ "amount": DAILY_BUDGET * 0.4, "currency": "USD" }),
    )
    .await;
    let budget = until(&mut ws, |e| e["event"] == "budget").await;
    assert_eq!(budget["data"]["threshold"], 50, "{budget}");
    assert_eq!(budget["data"]["period"], "daily");
    post(
        &app,
        "/api/v2/costs",
        json!({ "amount": DAILY_BUDGET, "currency": "USD" }),
    )
    .await;
    let budget = until(&mut ws, |e| e["event"] == "budget").await;
    assert_eq!(budget["data"]["threshold"], 100, "{budget}");
    let (_, _, current) = app.get_json("/api/v2/costs/current").await;
    assert!(
        current["data"]["today"]["budget"]["percent"]
            .as_f64()
            .unwrap()
            > 100.0
    );
    assert!(current["data"]["today"]["budget"]["left"].as_f64().unwrap() < 0.0);
}
