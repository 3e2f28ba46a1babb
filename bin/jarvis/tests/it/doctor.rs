//! `jarvis doctor` and `jarvis health` as an operator and a container runtime meet them.

use std::fs;
use std::process::Command;

use serde_json::Value;

use super::{Home, start_server, stderr, stdout};

/// The checks of a `doctor --json` run, by name, and its exit code.
fn doctor(home: &Home, env: &[(&str, &str)]) -> (Option<i32>, Vec<Value>) {
    let mut command = home.command(&["doctor", "--json"]);
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().unwrap();
    let checks: Vec<Value> = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&out), stderr(&out)));
    (out.status.code(), checks)
}

fn check<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no `{name}` check in {checks:?}"))
}

#[test]
fn doctor_names_what_to_fix_and_fails_only_on_what_stops_the_server() {
    let home = Home::new();
    fs::write(
        home.path().join(".claude.json"),
        r#"{"mcpServers": {"local-tool": {"command": "definitely-missing-mcp-server", "env": {"TOKEN": "sekrit-456"}}}}"#,
    )
    .unwrap();
    fs::write(
        home.path().join("jarvis.toml"),
        format!(
            "[server]\nport = 0\n[storage]\ndata_dir = {:?}\n[tasks]\nrunner = [\"/no/such/runner\", \"{{prompt}}\"]\n",
            home.path().join("data").to_string_lossy()
        ),
    )
    .unwrap();

    let (code, checks) = doctor(&home, &[]);
    assert_eq!(code, Some(0), "warnings do not fail: {checks:?}");
    for name in [
        "configuration",
        "data folder",
        "store",
        "api keys",
        "listen address",
        "n8n",
    ] {
        assert_eq!(check(&checks, name)["status"], "ok", "{checks:?}");
    }
    assert!(
        check(&checks, "data folder")["detail"]
            .as_str()
            .unwrap()
            .contains("created at start")
    );
    assert!(!home.path().join("data").exists(), "doctor creates nothing");
    let mcp = check(&checks, "mcp commands");
    assert_eq!(mcp["status"], "warn");
    assert!(
        mcp["detail"].as_str().unwrap().contains("local-tool"),
        "{mcp}"
    );
    let runner = check(&checks, "runner");
    assert_eq!(runner["status"], "warn");
    assert!(runner["fix"].as_str().unwrap().contains("tasks.runner"));
    let text = serde_json::to_string(&checks).unwrap();
    assert!(!text.contains("sekrit-456"), "a secret was printed");

    // A public address without keys, and a store that cannot be reached: both fail, each
    // with its fix, in text for a person.
    let out = home
        .command(&["doctor"])
        .env("JARVIS__SERVER__HOST", "0.0.0.0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("fail  api keys"), "{text}");
    assert!(text.contains("jarvis keys create"), "{text}");
    assert!(text.contains("failed"), "{text}");

    let (code, checks) = doctor(
        &home,
        &[(
            "JARVIS__STORE__URL",
            "postgres://jarvis:hunter2@127.0.0.1:1/jarvis",
        )],
    );
    assert_eq!(code, Some(1));
    let store = check(&checks, "store");
    assert_eq!(store["status"], "fail", "{store}");
    let shown = store["detail"].as_str().unwrap();
    assert!(
        shown.contains("127.0.0.1:1") && !shown.contains("hunter2"),
        "{shown}"
    );

    // --quiet: only what is not ok.
    let out = home.jarvis(&["doctor", "--quiet"]);
    let text = stdout(&out);
    assert!(!text.contains("ok    configuration"), "{text}");
    assert!(text.contains("warn  runner"), "{text}");
}

#[test]
fn health_answers_for_a_running_server_and_fails_for_a_stopped_one() {
    let home = Home::new();
    let (mut server, address) = start_server(&home);
    let out = home.jarvis(&["health", "--url", &format!("{address}/health")]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(": ok"), "{}", stdout(&out));
    // A route that needs no key but does not exist: not healthy.
    let out = home.jarvis(&["health", "--url", &format!("{address}/nope")]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("HTTP 404"), "{}", stdout(&out));

    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(server.wait().unwrap().success());
    let out = home.jarvis(&["health", "--url", &address]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let out = home.jarvis(&["health", "--url", "ftp://x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("http://"), "{}", stderr(&out));
}
