//! Commands and agents as tasks over HTTP, with the fake runner from `support`.

use std::time::Duration;

use jarvis_testkit::eventually;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{post, spawn_app, wait_final};

#[tokio::test]
async fn commands_run_as_tasks_with_arguments_intact() {
    let app = spawn_app().await;
    let (status, headers, body) = post(
        &app,
        "/command",
        json!({ "command": "/tools:lint src \"two words\"; rm -rf / $(id)", "priority": "high", "context": { "pr": 7 } }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(headers["location"], format!("/api/v2/tasks/{id}"));
    assert_eq!(body["data"]["status"], "queued");
    assert_eq!(body["data"]["priority"], "high");
    assert_eq!(body["data"]["target"], "tools:lint");
    let done = wait_final(&app, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["exit_code"], 0);
    let stdout = done["stdout"].as_str().unwrap();
    // The body `Lint $ARGUMENTS` became one argument, quotes and all; nothing ran in a shell.
    assert!(
        stdout.starts_with("ARG<Lint src \"two words\"; rm -rf / $(id)\n>"),
        "{stdout}"
    );
    assert_eq!(done["input"]["context"]["pr"], 7);

    let (status, _, body) = post(
        &app,
        "/api/v2/commands/tools:lint/run",
        json!({ "arguments": "one" }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let done = wait_final(&app, body["data"]["id"].as_str().unwrap()).await;
    assert!(
        done["stdout"]
            .as_str()
            .unwrap()
            .starts_with("ARG<Lint one\n>")
    );
}

#[tokio::test]
async fn agents_run_with_their_prompt_model_and_tools() {
    let app = spawn_app().await;
    let (status, _, body) = post(&app, "/agent/execute", json!({ "agent": "reviewer", "task": "Check the auth module", "context": { "branch": "main" } })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let done = wait_final(&app, body["data"]["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["kind"], "agent");
    let stdout = done["stdout"].as_str().unwrap();
    assert!(
        stdout.contains("ARG<Check the auth module\n\nContext:"),
        "{stdout}"
    );
    assert!(stdout.contains("\"branch\": \"main\""), "{stdout}");
    assert!(
        stdout.contains("ARG<--system=You are reviewer. Focus on correctness.\n>"),
        "{stdout}"
    );
    assert!(stdout.contains("ARG<--tools=Read,Grep>"), "{stdout}");
    assert!(
        !stdout.contains("--model="),
        "an inherited model is left to the runner: {stdout}"
    );

    let (status, _, body) = post(
        &app,
        "/api/v2/agents/reviewer/run",
        json!({ "task": "again", "priority": "urgent" }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["data"]["priority"], "urgent");
}

#[tokio::test]
async fn bad_runs_are_refused_in_the_envelope() {
    let app = spawn_app().await;
    for (path, body, status, code, param) in [
        (
            "/command",
            json!({ "command": "/nope" }),
            404,
            "RESOURCE_NOT_FOUND",
            None,
        ),
        (
            "/command",
            json!({ "command": "/lint x" }),
            409,
            "AMBIGUOUS_NAME",
            None,
        ),
        (
            "/command",
            json!({ "command": "   " }),
            400,
            "VALIDATION_ERROR",
            Some("command"),
        ),
        (
            "/command",
            json!({ "command": "/tools:lint", "priority": "asap" }),
            400,
            "VALIDATION_ERROR",
            Some("priority"),
        ),
        (
            "/agent/execute",
            json!({ "agent": "reviewer", "task": "  " }),
            400,
            "VALIDATION_ERROR",
            Some("task"),
        ),
        (
            "/agent/execute",
            json!({ "agent": "ghost", "task": "x" }),
            404,
            "RESOURCE_NOT_FOUND",
            None,
        ),
        (
            "/agent/execute",
            json!({ "agent": "reviewer" }),
            400,
            "MALFORMED_BODY",
            None,
        ),
        (
            "/api/v2/commands/tools:lint/run",
            json!({ "arguments": "x", "extra": true }),
            400,
            "MALFORMED_BODY",
            None,
        ),
        // A body is an object: serde alone would read a struct from an array.
        (
            "/api/v2/commands/tools:lint/run",
            json!([]),
            400,
            "MALFORMED_BODY",
            None,
        ),
        (
            "/api/v2/agents/reviewer/run",
            json!({ "task": "x", "context": [1, 2] }),
            400,
            "MALFORMED_BODY",
            None,
        ),
    ] {
        let (got, _, body) = post(&app, path, body.clone()).await;
        assert_eq!(got.as_u16(), status, "{path}: {body}");
        assert_eq!(body["error"]["code"], code, "{path}: {body}");
        if let Some(param) = param {
            assert_eq!(
                body["error"]["details"]["parameter"], param,
                "{path}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn tasks_are_listed_filtered_and_cancelled() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for args in ["a", "b", "c"] {
        let (_, _, body) = post(
            &app,
            "/command",
            json!({ "command": format!("/tools:lint {args}") }),
        )
        .await;
        ids.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        wait_final(&app, id).await;
    }
    let (_, _, slow) = post(
        &app,
        "/api/v2/agents/reviewer/run",
        json!({ "task": "slow please" }),
    )
    .await;
    let slow_id = slow["data"]["id"].as_str().unwrap().to_owned();

    let (status, _, body) = app.get_json("/api/v2/tasks?limit=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert_eq!(body["data"][0]["id"], slow_id, "newest first");
    assert!(
        body["data"][0].get("stdout").is_none(),
        "lists leave output out"
    );
    let cursor = body["metadata"]["pagination"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, _, next) = app
        .get_json(&format!("/api/v2/tasks?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(next["data"].as_array().unwrap().len(), 2);
    let (_, _, done) = app
        .get_json("/api/v2/tasks?status=succeeded&kind=command")
        .await;
    assert_eq!(done["data"].as_array().unwrap().len(), 3);
    let (_, _, recent) = app.get_json("/tasks/recent?limit=10").await;
    assert_eq!(recent["data"].as_array().unwrap().len(), 4);
    let (status, _, body) = app.get_json("/api/v2/tasks?status=lost").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["details"]["parameter"], "status");

    // Cancel the slow one while it runs.
    eventually(
        "the slow task to start",
        Duration::from_secs(10),
        || async {
            let (_, _, body) = app.get_json(&format!("/api/v2/tasks/{slow_id}")).await;
            (body["data"]["status"] == "running").then_some(())
        },
    )
    .await;
    let (status, _, body) = post(&app, &format!("/api/v2/tasks/{slow_id}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(wait_final(&app, &slow_id).await["status"], "canceled");
    let (status, _, body) = post(&app, &format!("/api/v2/tasks/{slow_id}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "TASK_NOT_CANCELABLE");
    let (status, _, _) = app
        .get_json("/api/v2/tasks/task_000000000000000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Not the shape of a task id: refused before any lookup.
    let (status, _, body) = app.get_json("/api/v2/tasks/task_does_not_exist").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["details"]["parameter"], "id");
}
