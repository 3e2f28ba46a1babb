//! MCP health through the real server: configured servers (the stdio fixture, run by
//! python3) are checked at start, shown in their detail and list entries, in
//! `/api/v2/services`, `/metrics` and on the `services` topic, checked again on demand, and
//! forgotten when the configuration drops them.

use std::path::Path;
use std::time::Duration;

use jarvis_integrations::mcp::McpCheckConfig;
use jarvis_testkit::eventually;
use jarvis_testkit::media::processes_naming;
use serde_json::{Value, json};

use crate::support::{Spawn, post, spawn_app};
use crate::ws::{subscribed, until};

const TOKEN: &str = "fixture-token-77aa";

fn servers(home: &Path, marker: &str, with_broken: bool) -> String {
    let script = jarvis_testkit::mcp::stdio_server(home);
    let script = script.to_string_lossy();
    let mut servers = json!({
        "good": {
            "command": "python3",
            "args": [script, "healthy", marker],
            "env": {"FIXTURE_TOKEN": TOKEN},
        },
        "hangs": {"command": "python3", "args": [script, "hang", marker], "timeout": 500},
    });
    if with_broken {
        servers["broken"] = json!({"command": "python3", "args": [script, "exit", marker]});
    }
    json!({ "mcpServers": servers }).to_string()
}

fn config() -> McpCheckConfig {
    McpCheckConfig {
        enabled: true,
        interval: Duration::from_secs(3600),
        retry: Duration::from_secs(3600),
        timeout: Duration::from_secs(5),
        slow: Duration::from_secs(30),
        ..McpCheckConfig::default()
    }
}

fn no_secret(body: &Value) {
    assert!(
        !body.to_string().contains(TOKEN),
        "the env secret leaked: {body}"
    );
}

#[tokio::test]
async fn configured_servers_are_checked_and_their_health_shows_everywhere() {
    let marker = format!("mcpapi-{}", std::process::id());
    let written = marker.clone();
    let app = Spawn::new()
        .mcp(config(), move |home| servers(home, &written, true))
        .start()
        .await;

    // Checked at start, without being asked.
    let good = eventually("the first checks", Duration::from_secs(20), || async {
        let (_, _, body) = app.get_json("/api/v2/mcp-servers/good/health").await;
        (body["data"]["health"]["status"] == "healthy").then_some(body)
    })
    .await;
    no_secret(&good);
    let health = &good["data"]["health"];
    assert_eq!(good["data"]["name"], "good");
    assert_eq!(health["server_name"], "fixture");
    assert_eq!(health["server_version"], "1.2.3");
    assert_eq!(health["tool_count"], 2);
    assert_eq!(health["tools"][0]["name"], "search");
    assert!(health["next_check_at"].as_i64().unwrap() > health["checked_at"].as_i64().unwrap());
    assert!(health["stderr_tail"].as_str().unwrap().contains("********"));

    let hangs = eventually(
        "the hanging server's check",
        Duration::from_secs(20),
        || async {
            let (_, _, body) = app.get_json("/api/v2/mcp-servers/hangs/health").await;
            (body["data"]["health"]["status"] == "unhealthy").then_some(body)
        },
    )
    .await;
    assert_eq!(hangs["data"]["health"]["error"]["code"], "timeout");
    assert_eq!(hangs["data"]["health"]["error"]["step"], "initialize");

    // In the list and the detail.
    let (status, _, list) = app.get_json("/api/v2/mcp-servers").await;
    assert_eq!(status, 200);
    no_secret(&list);
    let statuses: Vec<(String, String)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["health"]["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        statuses.contains(&("good".into(), "healthy".into())),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&("hangs".into(), "unhealthy".into())),
        "{statuses:?}"
    );
    let (_, _, detail) = app.get_json("/api/v2/mcp-servers/good").await;
    no_secret(&detail);
    assert_eq!(detail["data"]["health"]["status"], "healthy");
    assert!(
        detail.to_string().contains(r#""FIXTURE_TOKEN":"********""#),
        "{detail}"
    );

    // In the services view and the metrics.
    let (_, _, services) = app.get_json("/api/v2/services").await;
    let mcp = services["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "mcp")
        .unwrap()
        .clone();
    assert_eq!(mcp["enabled"], true);
    assert_eq!(mcp["servers"]["healthy"], 1);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("jarvis_mcp_servers{status=\"healthy\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("jarvis_mcp_server_up{server=\"good\"") && l.ends_with(" 1")),
        "{metrics}"
    );

    // On demand, with the result on the services topic.
    let mut ws = subscribed(&app, "services").await;
    let (status, _, checked) = post(&app, "/api/v2/mcp-servers/broken/check", json!({})).await;
    assert_eq!(status, 200, "{checked}");
    let health = &checked["data"]["health"];
    assert_eq!(health["status"], "unhealthy");
    assert_eq!(health["error"]["code"], "exited");
    assert!(health["consecutive_failures"].as_u64().unwrap() >= 1);
    let event = until(&mut ws, |e| {
        e["event"] == "mcp"
            && e["data"]["name"] == "broken"
            && e["data"]["health"]["checked_at"].is_i64()
    })
    .await;
    assert_eq!(event["topic"], "services");
    let (status, _, missing) = post(&app, "/api/v2/mcp-servers/nope/check", json!({})).await;
    assert_eq!(status, 404, "{missing}");
    assert_eq!(missing["error"]["code"], "RESOURCE_NOT_FOUND");

    // A server dropped from the configuration is forgotten.
    let generation = app.catalog.snapshot().generation();
    let text = servers(&app.home, &marker, false);
    std::fs::write(app.home.join(".claude.json"), text).unwrap();
    app.wait_for_generation_above(generation).await;
    let removed = until(&mut ws, |e| {
        e["event"] == "mcp" && e["data"]["name"] == "broken" && e["data"]["health"].is_null()
    })
    .await;
    assert_eq!(removed["topic"], "services");
    let (status, _, _) = app.get_json("/api/v2/mcp-servers/broken/health").await;
    assert_eq!(status, 404);

    // Nothing a check started is still running.
    eventually(
        "every checked process to be gone",
        Duration::from_secs(10),
        || async { processes_naming(&marker).is_empty().then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn with_checks_off_nothing_is_started_and_a_check_is_refused() {
    let app = spawn_app().await;
    let (status, _, body) = app.get_json("/api/v2/mcp-servers/local/health").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["health"]["status"], "disabled");
    assert!(
        body["data"]["health"]["reason"]
            .as_str()
            .unwrap()
            .contains("mcp.health_checks")
    );
    let (status, _, refused) = post(&app, "/api/v2/mcp-servers/local/check", json!({})).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "MCP_CHECKS_DISABLED");
    let (_, _, list) = app.get_json("/api/v2/mcp-servers").await;
    for server in list["data"].as_array().unwrap() {
        assert_eq!(server["health"]["status"], "disabled", "{server}");
    }
}
