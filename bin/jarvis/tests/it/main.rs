//! Black-box tests of the `jarvis` binary: real processes, real files, real exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod doctor;
mod instances;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    /// A home folder with a small Claude setup and an MCP secret.
    fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let claude = dir.path().join(".claude");
        fs::create_dir_all(claude.join("agents")).unwrap();
        fs::create_dir_all(claude.join("commands/tools")).unwrap();
        fs::create_dir_all(claude.join("skills/notes")).unwrap();
        fs::write(
            claude.join("agents/reviewer.md"),
            "---\nname: reviewer\ndescription: Reviews pull requests for security problems.\n---\nBe thorough.\n",
        )
        .unwrap();
        fs::write(
            claude.join("agents/broken.md"),
            "---\nname: broken\ndescription: Triggers on: this, that\n---\nBody\n",
        )
        .unwrap();
        fs::write(claude.join("commands/tools/lint.md"), "Lint $ARGUMENTS\n").unwrap();
        fs::write(
            claude.join("skills/notes/SKILL.md"),
            "---\nname: notes\ndescription: Takes meeting notes.\n---\n",
        )
        .unwrap();
        fs::write(
            dir.path().join(".claude.json"),
            r#"{"mcpServers": {"gh": {"type": "http", "url": "https://gh.example/mcp", "headers": {"Authorization": "Bearer sekrit-123"}}}}"#,
        )
        .unwrap();
        Home { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn jarvis(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_jarvis"));
        cmd.args(args)
            .current_dir(self.path())
            .env_clear()
            .env("HOME", self.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        cmd
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn scan_json_reports_counts_diagnostics_and_time() {
    let home = Home::new();
    let out = home.jarvis(&["--log-level", "warn", "scan", "--json", "--resources"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["kinds"]["agents"]["total"], 2);
    assert_eq!(json["kinds"]["commands"]["total"], 1);
    assert_eq!(json["kinds"]["skills"]["total"], 1);
    assert_eq!(json["kinds"]["mcp-servers"]["total"], 1);
    assert!(json["duration_ms"].as_f64().unwrap() > 0.0);
    let codes: Vec<&str> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"yaml_recovered"), "{codes:?}");
    // Claude Desktop's default location does not exist here: reported, not fatal.
    assert!(codes.contains(&"root_missing"), "{codes:?}");
    let text = stdout(&out);
    assert!(!text.contains("sekrit-123"), "secret leaked: {text}");
    assert!(text.contains("tools:lint"));
}

#[test]
fn scan_text_summarizes() {
    let home = Home::new();
    let out = home.jarvis(&["scan"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("Scanned "), "{text}");
    assert!(text.contains("agents"), "{text}");
    assert!(text.contains("yaml_recovered"), "{text}");
}

#[test]
fn search_ranks_and_filters() {
    let home = Home::new();
    let out = home.jarvis(&["search", "secrity", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["hits"][0]["name"], "reviewer");
    assert_eq!(json["hits"][0]["quality"], "fuzzy");

    let out = home.jarvis(&["search", "lint", "--kind", "command"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("tools:[lint]"), "{}", stdout(&out));

    let out = home.jarvis(&["search", "x", "--kind", "widgets"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown resource kind"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn config_layers_file_env_and_flags() {
    let home = Home::new();
    let project = home.path().join("proj");
    fs::create_dir_all(&project).unwrap();
    fs::write(
        home.path().join("jarvis.toml"),
        "[discovery]\ndebounce_ms = 40\nrescan_interval_secs = 9\n",
    )
    .unwrap();
    let out = home
        .command(&["config", "--project", project.to_str().unwrap()])
        .env("JARVIS__DISCOVERY__RESCAN_INTERVAL_SECS", "12")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("debounce_ms = 40"), "{text}");
    assert!(text.contains("rescan_interval_secs = 12"), "{text}");
    assert!(text.contains(project.to_str().unwrap()), "{text}");
    assert!(text.contains("# Resolved locations"), "{text}");
}

#[test]
fn invalid_configuration_stops_with_the_key_named() {
    let home = Home::new();
    /// Arguments, environment, `jarvis.toml` contents, and what the error must name.
    type Case<'a> = (
        Vec<&'a str>,
        Vec<(&'a str, &'a str)>,
        Option<&'a str>,
        &'a str,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            vec!["scan"],
            vec![],
            Some("[discovery]\nwatchh = true\n"),
            "watchh",
        ),
        (
            vec!["scan"],
            vec![("JARVIS__DISCOVERY__DEBOUNCE_MS", "soon")],
            None,
            "debounce_ms",
        ),
        (
            vec!["scan"],
            vec![("JARVIS__LOG__FORMAT", "xml")],
            None,
            "format",
        ),
        (
            vec!["--project", "/no/such/folder", "scan"],
            vec![],
            None,
            "discovery.projects[0]",
        ),
        (
            vec!["scan"],
            vec![],
            Some("[discovery]\nclaude_dir = \"/no/such/dir\"\n"),
            "discovery.claude_dir",
        ),
        (
            vec!["scan"],
            vec![],
            Some(
                "[telemetry]\ntiers = [{ step_secs = 60, retention_secs = 3600 }, { step_secs = 2, retention_secs = 7200 }]\n",
            ),
            "telemetry.tiers",
        ),
        (
            vec!["scan"],
            vec![("JARVIS__TELEMETRY__INTERVAL_MS", "5")],
            None,
            "telemetry.interval_ms",
        ),
        (
            vec!["scan"],
            vec![("JARVIS__STORE__INSTANCE_NAME", "two words")],
            None,
            "store.instance_name",
        ),
        (
            vec!["--config", "/no/such/jarvis.toml", "scan"],
            vec![],
            None,
            "/no/such/jarvis.toml",
        ),
    ];
    for (args, env, file, expected) in cases {
        let config = home.path().join("jarvis.toml");
        match file {
            Some(text) => fs::write(&config, text).unwrap(),
            None => {
                let _ = fs::remove_file(&config);
            }
        }
        let mut cmd = home.command(&args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: expected `{expected}` in {}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty());
    }
}

#[test]
fn help_is_available_for_every_command() {
    let home = Home::new();
    for args in [
        vec!["--help"],
        vec!["scan", "--help"],
        vec!["search", "--help"],
        vec!["config", "--help"],
        vec!["costs", "--help"],
        vec!["costs", "daily", "--help"],
    ] {
        let out = home.jarvis(&args);
        assert!(out.status.success(), "{args:?}");
        assert!(stdout(&out).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn log_files_are_written_as_json_lines() {
    let home = Home::new();
    let logs: PathBuf = home.path().join("logs");
    fs::write(
        home.path().join("jarvis.toml"),
        format!(
            "[log]\nlevel = \"info\"\nformat = \"json\"\n[log.file]\nenabled = true\ndir = {:?}\nrotation = \"size\"\nmax_bytes = 4096\nkeep = 2\n",
            logs.to_string_lossy()
        ),
    )
    .unwrap();
    let out = home.jarvis(&["scan", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Standard error carries JSON lines when asked for.
    let first = stderr(&out)
        .lines()
        .next()
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(
        serde_json::from_str::<serde_json::Value>(&first).is_ok(),
        "{first}"
    );
    let files: Vec<_> = fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!files.is_empty());
    let content = fs::read_to_string(&files[0]).unwrap();
    let line: serde_json::Value = serde_json::from_str(content.lines().next().unwrap()).unwrap();
    assert_eq!(line["level"], "INFO");
    assert!(!content.contains("sekrit-123"));
}

#[test]
fn scan_watch_reports_reloads() {
    use std::io::{BufRead, BufReader};

    let home = Home::new();
    let mut child = home
        .command(&["--log-level", "warn", "scan", "--watch"])
        .env("JARVIS__DISCOVERY__DEBOUNCE_MS", "50")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Wait until the watcher is running, then change a file.
    for line in lines.by_ref() {
        if line.unwrap().starts_with("Watching ") {
            break;
        }
    }
    fs::write(
        home.path().join(".claude/agents/new.md"),
        "---\nname: new\ndescription: Added while watching.\n---\n",
    )
    .unwrap();
    let reload = lines.next().unwrap().unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    assert!(reload.starts_with("generation 2: 6 resources"), "{reload}");
}

#[test]
fn serve_answers_http_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};

    let home = Home::new();
    let data = home.path().join("data");
    let mut child = home
        .command(&["serve", "--port", "0"])
        .env("JARVIS__LOG__FORMAT", "json")
        .env("JARVIS__TELEMETRY__INTERVAL_MS", "100")
        .env("JARVIS__STORAGE__DATA_DIR", &data)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut address = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if json["fields"]["message"] == "jarvis is listening" {
            assert_eq!(json["fields"]["agents"], 2, "{line}");
            address = json["fields"]["address"].as_str().map(str::to_owned);
            break;
        }
    }
    let address = address.expect("the server logs its address at start");
    assert!(address.starts_with("http://127.0.0.1:"), "{address}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body: serde_json::Value = runtime.block_on(async {
        reqwest::get(format!("{address}/health"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(body["data"]["status"], "ok");
    std::thread::sleep(std::time::Duration::from_millis(400)); // a few samples
    let (history, exposition) = runtime.block_on(async {
        let history: serde_json::Value = reqwest::get(format!(
            "{address}/metrics/history?metric_name=cpu_usage&time_range=15m"
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let exposition = reqwest::get(format!("{address}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (history, exposition)
    });
    assert!(
        !history["data"]["points"].as_array().unwrap().is_empty(),
        "{history}"
    );
    assert!(
        exposition.contains(
            "jarvis_http_requests_total{route=\"/health\",method=\"GET\",status=\"200\"} 1\n"
        ),
        "{exposition}"
    );
    // A WebSocket client hears the heartbeat, then `going away` when the server is stopped.
    let ws_url = format!("{}/ws", address.replacen("http://", "ws://", 1));
    let close_code = runtime.block_on(async {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
            .await
            .unwrap();
        ws.send(Message::text(
            r#"{"type":"subscribe","topics":["metrics"]}"#,
        ))
        .await
        .unwrap();
        loop {
            let Message::Text(text) = ws.next().await.unwrap().unwrap() else {
                continue;
            };
            if text.as_str().contains(r#""topic":"metrics""#) {
                break;
            }
        }
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
                .await
                .expect("no close frame within 10 s")
            {
                Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                other => panic!("the connection ended without a close frame: {other:?}"),
            }
        }
    });
    assert_eq!(close_code, Some(1001));
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");
    // The metric history was written on the way out.
    let store = jarvis_store::SqliteStore::open(data.join("jarvis.db")).unwrap();
    let buckets = jarvis_store::Store::load_metric_buckets(&store).unwrap();
    assert!(
        buckets
            .iter()
            .any(|b| b.metric == "cpu_usage" && b.count >= 1),
        "{buckets:?}"
    );
}

#[test]
fn keys_cli_and_no_secret_in_any_log() {
    use std::io::{BufRead, BufReader, Read};

    let home = Home::new();
    let out = home.jarvis(&[
        "keys", "create", "--name", "ci", "--scope", "read", "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let created: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    let out = home.jarvis(&["keys", "list", "--json"]);
    assert!(stdout(&out).contains(&id) && !stdout(&out).contains(&key));
    let out = home.jarvis(&["keys", "create", "--name", "x", "--scope", "root"]);
    assert_eq!(out.status.code(), Some(2));

    // A full server run at debug level, logging to a file as well, with the key in use.
    let logs = home.path().join("logs");
    fs::write(
        home.path().join("jarvis.toml"),
        format!(
            "[log]\nlevel = \"debug\"\nformat = \"json\"\n[log.file]\nenabled = true\ndir = {:?}\n",
            logs.to_string_lossy()
        ),
    )
    .unwrap();
    let mut child = home
        .command(&["serve", "--port", "0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr_lines = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut address = None;
    loop {
        let mut line = String::new();
        if stderr_lines.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
        if line.contains("jarvis is listening") {
            let json: serde_json::Value = serde_json::from_str(&line).unwrap();
            address = json["fields"]["address"].as_str().map(str::to_owned);
            break;
        }
    }
    let address = address.expect("listening line");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        for path in [
            "/api/v2/mcp-servers",
            "/api/v2/mcp-servers/gh",
            "/api/v2/agents",
            "/api/v2/keys",
        ] {
            let res = client
                .get(format!("{address}{path}"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            let body = res.text().await.unwrap();
            assert!(!body.contains("sekrit-123"), "{path}");
        }
        let res = client
            .get(format!("{address}/api/v2/agents"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let res = client
            .get(format!("{address}/api/v2/agents"))
            .bearer_auth(format!("{key}tampered"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    });
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    stderr_lines.read_to_string(&mut seen).unwrap();
    for entry in fs::read_dir(&logs).unwrap() {
        seen.push_str(&fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    assert!(seen.contains("jarvis is listening"), "logs were captured");
    for secret in [key.as_str(), "sekrit-123"] {
        assert!(!seen.contains(secret), "a secret appeared in the logs");
    }

    let out = home.jarvis(&["keys", "revoke", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&home.jarvis(&["keys", "list"])).contains("No API keys"));
}

use jarvis_testkit::media::alive;

/// Whether `pid` stops running within a second.
fn gone_within_a_second(pid: u32) -> bool {
    let started = std::time::Instant::now();
    while alive(pid) {
        if started.elapsed() > std::time::Duration::from_secs(1) {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    true
}

/// Starts `jarvis serve --port 0` and returns the child and its address.
fn start_server(home: &Home) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};

    let mut child = home
        .command(&["serve", "--port", "0"])
        .env("JARVIS__LOG__FORMAT", "json")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut address = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains("jarvis is listening") {
            let json: serde_json::Value = serde_json::from_str(&line).unwrap();
            address = json["fields"]["address"].as_str().map(str::to_owned);
            break;
        }
    }
    // Keep draining standard error so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, address.expect("the server logs its address"))
}

#[test]
fn a_killed_server_finds_its_tasks_after_restart() {
    let home = Home::new();
    let runner = home.path().join("runner.sh");
    // The slow run leaves a helper in its process group, records both pids, and becomes a
    // long sleep itself.
    let pids = home.path().join("pids");
    fs::write(
        &runner,
        format!(
            "#!/bin/sh\ncase \"$1\" in *slow*) sleep 60 & echo \"$! $$\" > {pids:?}.tmp; mv {pids:?}.tmp {pids:?}; exec sleep 20 ;; esac\necho \"done $1\"\n"
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&runner, fs::Permissions::from_mode(0o755)).unwrap();
    }
    fs::write(
        home.path().join("jarvis.toml"),
        format!(
            "[tasks]\nrunner = [{:?}, \"{{prompt}}\"]\nconcurrency = 1\n[storage]\ndata_dir = {:?}\n",
            runner.to_string_lossy(),
            home.path().join("data").to_string_lossy()
        ),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let submit = |address: &str, args: &str| {
        let body = serde_json::json!({ "command": format!("/tools:lint {args}") });
        let request = client.post(format!("{address}/command")).json(&body).send();
        runtime.block_on(async {
            let res = request.await.unwrap();
            assert_eq!(res.status(), 202);
            let body: serde_json::Value = res.json().await.unwrap();
            body["data"]["id"].as_str().unwrap().to_owned()
        })
    };
    let status_of = |address: &str, id: &str| -> String {
        runtime.block_on(async {
            let body: serde_json::Value = client
                .get(format!("{address}/api/v2/tasks/{id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["data"]["status"].as_str().unwrap_or("?").to_owned()
        })
    };
    let wait_for = |address: &str, id: &str, want: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while status_of(address, id) != want {
            assert!(
                std::time::Instant::now() < deadline,
                "{id} never became {want}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };

    let (mut first, address) = start_server(&home);
    let slow = submit(&address, "slow");
    wait_for(&address, &slow, "running");
    let queued = [submit(&address, "one"), submit(&address, "two")];
    assert_eq!(status_of(&address, &queued[0]), "queued");
    let (helper, leader) = {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Ok(text) = fs::read_to_string(&pids) {
                let mut numbers = text.split_whitespace().map(|n| n.parse::<u32>().unwrap());
                break (numbers.next().unwrap(), numbers.next().unwrap());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the runner never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    assert!(alive(leader) && alive(helper));
    // No goodbye: SIGKILL mid-run. The runner dies with the server.
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        gone_within_a_second(leader),
        "the runner outlived the server"
    );
    // What the runner started itself is still in its group, until the next start ends it.
    assert!(alive(helper));

    let (mut second, address) = start_server(&home);
    assert!(
        gone_within_a_second(helper),
        "the runner's process group outlived a restart"
    );
    assert_eq!(status_of(&address, &slow), "interrupted");
    let metrics = runtime.block_on(async {
        client
            .get(format!("{address}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(
        metrics.contains("\njarvis_orphan_runners_ended_total 1\n"),
        "{metrics}"
    );
    for id in &queued {
        wait_for(&address, id, "succeeded");
    }
    Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(second.wait().unwrap().success());
}

#[test]
fn telemetry_can_be_turned_off() {
    let home = Home::new();
    fs::write(
        home.path().join("jarvis.toml"),
        "[telemetry]\nenabled = false\n",
    )
    .unwrap();
    let (mut server, address) = start_server(&home);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, body) = runtime.block_on(async {
        let res = reqwest::get(format!("{address}/api/v2/metrics/current"))
            .await
            .unwrap();
        let status = res.status();
        (status, res.json::<serde_json::Value>().await.unwrap())
    });
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "TELEMETRY_UNAVAILABLE");
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(server.wait().unwrap().success());
}

#[test]
fn a_corrupt_database_stops_start_up_and_is_left_alone() {
    let home = Home::new();
    let data = home.path().join("data");
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("jarvis.db"), b"definitely not SQLite").unwrap();
    fs::write(
        home.path().join("jarvis.toml"),
        format!("[storage]\ndata_dir = {:?}\n", data.to_string_lossy()),
    )
    .unwrap();
    let out = home.jarvis(&["serve", "--port", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("jarvis.db") && stderr(&out).contains("corrupt"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        fs::read(data.join("jarvis.db")).unwrap(),
        b"definitely not SQLite"
    );
}

/// The catalog cache across runs: the first scan writes it, the next reads only what changed,
/// and a server started from it serves the same resources, bodies included, and says so.
#[test]
fn a_restart_reads_the_catalog_cache_and_serves_the_same_bodies() {
    let home = Home::new();
    let body = "Check every migration for a rollback path. ".repeat(40);
    fs::write(
        home.path().join(".claude/agents/migrations.md"),
        format!("---\nname: migrations\ndescription: Reviews database migrations.\n---\n{body}"),
    )
    .unwrap();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for entry in walkdir_files(&home.path().join(".claude")) {
        fs::File::options()
            .write(true)
            .open(&entry)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
    }
    let scan = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["--log-level", "warn", "scan", "--json"];
        all.extend_from_slice(args);
        let out = home.jarvis(&all);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    let first = scan(&[]);
    assert_eq!(first["cache"]["start"], "missing", "{}", first["cache"]);
    assert_eq!(first["cache"]["saves"], 1, "{}", first["cache"]);
    let second = scan(&[]);
    assert_eq!(second["cache"]["start"], "loaded", "{}", second["cache"]);
    assert_eq!(second["reuse"]["parsed"], 0, "{}", second["reuse"]);
    assert_eq!(first["kinds"], second["kinds"]);
    assert_eq!(first["diagnostics"], second["diagnostics"]);
    let ignored = scan(&["--no-cache"]);
    assert!(ignored["cache"].is_null());
    assert_eq!(ignored["kinds"], second["kinds"]);

    let (mut child, address) = start_server(&home);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (root, agent) = runtime.block_on(async {
        let root: serde_json::Value = reqwest::get(format!("{address}/"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let search: serde_json::Value = reqwest::get(format!("{address}/api/v2/search?q=rollback"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = search["data"]["hits"][0]["id"].as_str().unwrap().to_owned();
        let agent: serde_json::Value = reqwest::get(format!("{address}/api/v2/agents/{id}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (root, agent)
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait().unwrap();
    let cache = &root["data"]["catalog"]["cache"];
    assert_eq!(cache["start"], "loaded", "{root}");
    assert!(
        cache.get("path").is_none(),
        "the public root names no path: {cache}"
    );
    assert_eq!(agent["data"]["name"], "migrations", "{agent}");
    assert_eq!(agent["data"]["body"], body.as_str(), "{agent}");
}

/// Every file below `dir`.
fn walkdir_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// A usage log in the home's `~/.claude/projects`: one response streamed twice, a second on
/// the next UTC day (still the same day in Los Angeles), and a model without a price.
fn usage_logs(home: &Home) {
    let line = |id: &str, at: &str, model: &str, output: u64| {
        format!(
            r#"{{"type":"assistant","timestamp":"{at}","sessionId":"s1","version":"2.0.37","requestId":"r-{id}","message":{{"id":"{id}","model":"{model}","usage":{{"input_tokens":1000,"output_tokens":{output}}}}}}}"#
        ) + "\n"
    };
    let dir = home.path().join(".claude/projects/-home-me-app");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("s1.jsonl"),
        line(
            "m1",
            "2025-11-03T23:30:00.000Z",
            "claude-sonnet-4-20250514",
            10,
        ) + &line(
            "m1",
            "2025-11-03T23:30:00.000Z",
            "claude-sonnet-4-20250514",
            1000,
        ) + &line(
            "m2",
            "2025-11-04T01:00:00.000Z",
            "claude-sonnet-4-20250514",
            2000,
        ) + &line("m3", "2025-11-04T02:00:00.000Z", "mystery-9", 5),
    )
    .unwrap();
}

#[test]
fn costs_reports_read_the_logs_as_ccusage_does() {
    let home = Home::new();
    usage_logs(&home);
    let out = home.jarvis(&[
        "costs",
        "daily",
        "--json",
        "--tz",
        "UTC",
        "--mode",
        "calculate",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    // 2000 input at $3/M, 3000 output at $15/M, and the unpriced model's tokens.
    assert_eq!(json["totals"]["inputTokens"], 3000);
    assert_eq!(json["totals"]["outputTokens"], 3005);
    assert_eq!(json["totals"]["totalTokens"], 6005);
    let cost = json["totals"]["totalCost"].as_f64().unwrap();
    assert!((cost - 0.051).abs() < 1e-12, "{cost}");
    let days: Vec<&str> = json["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["period"].as_str().unwrap())
        .collect();
    assert_eq!(days, ["2025-11-03", "2025-11-04"]);
    assert_eq!(json["unpricedModels"], serde_json::json!(["mystery-9"]));
    // Days begin where --tz says.
    let out = home.jarvis(&["costs", "daily", "--json", "--tz", "America/Los_Angeles"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["daily"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json["daily"][0]["period"], "2025-11-03");
    // The other reports, and the table.
    for (report, key) in [
        ("weekly", "weekly"),
        ("monthly", "monthly"),
        ("session", "session"),
    ] {
        let out = home.jarvis(&["costs", report, "--json"]);
        let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(json[key].as_array().unwrap().len(), 1, "{report}: {json}");
        assert_eq!(json["totals"]["totalTokens"], 6005, "{report}");
    }
    let out = home.jarvis(&["costs", "blocks", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["blocks"][0]["entries"], 3, "{json}");
    let out = home.jarvis(&["costs", "daily", "--since", "20251104", "--tz", "UTC"]);
    let table = stdout(&out);
    assert!(
        table.contains("2025-11-04") && !table.contains("2025-11-03"),
        "{table}"
    );
    assert!(table.contains("No price for mystery-9"), "{table}");
    let out = home.jarvis(&["costs", "daily", "--since", "2025-13-01"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--since"), "{}", stderr(&out));
    let out = home.jarvis(&["costs", "daily", "--tz", "Mars/Olympus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("costs.timezone"), "{}", stderr(&out));
}

/// The shared corpus (`JARVIS_CORPUS`): `jarvis costs daily --json` gives the totals and days
/// `expected/usage-summary.json` holds for ccusage.
#[test]
fn costs_daily_on_the_corpus_equals_the_expected_summary() {
    let Some(corpus) = std::env::var_os("JARVIS_CORPUS").map(PathBuf::from) else {
        eprintln!("corpus cost check did not run: set JARVIS_CORPUS");
        return;
    };
    let home = Home::new();
    let out = home
        .command(&[
            "costs",
            "daily",
            "--json",
            "--tz",
            "UTC",
            "--mode",
            "calculate",
        ])
        .env("CLAUDE_CONFIG_DIR", corpus.join("claude-home"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let expected: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(corpus.join("expected/usage-summary.json")).unwrap(),
    )
    .unwrap();
    let want = &expected["calculate_mode"];
    for field in [
        "inputTokens",
        "outputTokens",
        "cacheCreationTokens",
        "cacheReadTokens",
        "totalTokens",
        "totalCost",
    ] {
        assert_eq!(json["totals"][field], want["totals"][field], "{field}");
    }
    for day in json["daily"].as_array().unwrap() {
        let period = day["period"].as_str().unwrap();
        assert_eq!(
            day["totalTokens"], want["byDayUTC"][period]["totalTokens"],
            "{period}"
        );
        assert_eq!(
            day["totalCost"], want["byDayUTC"][period]["totalCost"],
            "{period}"
        );
    }
}

#[test]
fn analyze_reports_text_and_media_and_stops_ffmpeg_on_ctrl_c() {
    use jarvis_testkit::media::{cut_clip, long_tone, processes_naming};

    let home = Home::new();
    let notes = home.path().join("notes.md");
    fs::write(
        &notes,
        "# Plan\n\nThe parser reads the logs. The parser keeps its cursor. See https://example.org/a.\n",
    )
    .unwrap();
    let out = home.jarvis(&["analyze", notes.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("headings (1): Plan"), "{text}");
    assert!(text.contains("links (1): https://example.org/a"), "{text}");
    assert!(text.contains("keywords: parser"), "{text}");

    let clip = cut_clip(home.path());
    let thumbs = home.path().join("thumbs");
    let out = home.jarvis(&[
        "analyze",
        clip.to_str().unwrap(),
        "--json",
        "--thumbnails",
        thumbs.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["kind"], "media");
    let scenes = report["media"]["scene_changes"].as_array().unwrap();
    assert_eq!(scenes.len(), 1, "{report}");
    assert!(
        (scenes[0].as_f64().unwrap() - 2.0).abs() <= 0.04,
        "{report}"
    );
    assert_eq!(report["media"]["thumbnails"], 3);
    assert!(thumbs.join("2.jpg").is_file());
    // Only what was asked, and no progress bar off a terminal.
    let out = home.jarvis(&["analyze", clip.to_str().unwrap(), "--type", "scenes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Scene changes (1): 0:02.00"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("Loudness"), "{}", stdout(&out));
    assert!(!stderr(&out).contains('%'), "{}", stderr(&out));

    // Refusals: a missing file, an unknown type, an internal address.
    let out = home.jarvis(&["analyze", "/nonexistent/clip.mp4"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot open `/nonexistent/clip.mp4`"),
        "{}",
        stderr(&out)
    );
    let out = home.jarvis(&["analyze", clip.to_str().unwrap(), "--type", "colour"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("colour"), "{}", stderr(&out));
    let out = home.jarvis(&["analyze", "http://127.0.0.1:9/page"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("internal address"),
        "{}",
        stderr(&out)
    );

    // Ctrl-C mid-analysis: ffmpeg (in its own process group, out of the terminal's reach) is
    // stopped by the command, which exits 130.
    let tone = home.path().join("hour-of-tone.wav");
    long_tone(&tone, 3600);
    let needle = tone.to_string_lossy().into_owned();
    let mut child = home
        .command(&["analyze", &needle, "--type", "loudness"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    jarvis_testkit::eventually_blocking(
        "ffmpeg analysing the tone",
        std::time::Duration::from_secs(10),
        || {
            processes_naming(&needle)
                .iter()
                .any(|&pid| pid != child.id())
                .then_some(())
        },
    );
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        processes_naming(&needle).is_empty(),
        "ffmpeg outlived Ctrl-C"
    );
}

#[test]
fn a_killed_server_leaves_no_ffmpeg_and_its_analysis_interrupted() {
    let home = Home::new();
    let media = home.path().join("media");
    fs::create_dir_all(&media).unwrap();
    fs::write(
        home.path().join("jarvis.toml"),
        format!(
            "[analysis]\nroots = [{:?}]\n[storage]\ndata_dir = {:?}\n",
            media.to_string_lossy(),
            home.path().join("data").to_string_lossy()
        ),
    )
    .unwrap();
    let tone = media.join("hour-of-tone.wav");
    jarvis_testkit::media::long_tone(&tone, 3600);
    let needle = tone.to_string_lossy().into_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let status_of = |address: &str, id: &str| -> String {
        runtime.block_on(async {
            let body: serde_json::Value = client
                .get(format!("{address}/api/v2/analyses/{id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["data"]["status"].as_str().unwrap_or("?").to_owned()
        })
    };

    let (mut first, address) = start_server(&home);
    let id = runtime.block_on(async {
        let res = client
            .post(format!("{address}/analyze"))
            .json(&serde_json::json!({ "path": needle, "analysis_type": ["loudness"] }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        let body: serde_json::Value = res.json().await.unwrap();
        body["data"]["id"].as_str().unwrap().to_owned()
    });
    let ffmpeg = jarvis_testkit::eventually_blocking(
        "ffmpeg analysing the tone",
        std::time::Duration::from_secs(10),
        || {
            jarvis_testkit::media::processes_naming(&needle)
                .first()
                .copied()
        },
    );
    assert_eq!(status_of(&address, &id), "running");
    // No goodbye: SIGKILL mid-analysis. ffmpeg dies with the server.
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(gone_within_a_second(ffmpeg), "ffmpeg outlived the server");

    let (mut second, address) = start_server(&home);
    assert_eq!(status_of(&address, &id), "interrupted");
    assert!(jarvis_testkit::media::processes_naming(&needle).is_empty());
    Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(second.wait().unwrap().success());
}

#[test]
fn knowledge_reindex_then_search_from_the_command_line() {
    let home = Home::new();
    let notes = home.path().join("notes");
    fs::create_dir_all(notes.join("ops")).unwrap();
    fs::write(
        notes.join("ops/pager.md"),
        "---\ntags: [ops]\n---\n# On-call\n\nThe pager rotation names who owns an incident.\n",
    )
    .unwrap();
    fs::write(
        home.path().join(".claude/CLAUDE.md"),
        "Always run cargo fmt.\n",
    )
    .unwrap();
    fs::write(
        home.path().join("jarvis.toml"),
        format!(
            "[knowledge]\nroots = [{:?}]\n[storage]\ndata_dir = {:?}\n",
            notes.to_string_lossy(),
            home.path().join("data").to_string_lossy()
        ),
    )
    .unwrap();
    let out = home.jarvis(&["knowledge", "search", "pager"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("jarvis knowledge reindex"),
        "{}",
        stderr(&out)
    );

    let out = home.jarvis(&["knowledge", "reindex"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Indexed 2 notes"), "{}", stdout(&out));
    let out = home.jarvis(&["knowledge", "search", "rotaton"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("On-call"), "{text}");
    assert!(text.contains("[rotation]"), "{text}");
    let out = home.jarvis(&[
        "knowledge",
        "search",
        "cargo",
        "--topic",
        "memory",
        "--json",
    ]);
    let found: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(found["total"], 1, "{found}");
    assert!(
        found["hits"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("CLAUDE.md")
    );
}

#[test]
fn mcp_check_asks_each_server_prints_a_table_or_json_and_leaves_nothing_behind() {
    let home = Home::new();
    let script = jarvis_testkit::mcp::stdio_server(home.path());
    let script = script.to_string_lossy();
    let marker = format!("bin-mcp-check-{}", std::process::id());
    let secret = "env-s3cr3t-7070";
    let server = |mode: &str| {
        serde_json::json!({
            "command": "python3",
            "args": [script, mode, marker],
            "env": { "FIXTURE_TOKEN": secret },
        })
    };
    fs::write(
        home.path().join(".claude.json"),
        serde_json::json!({ "mcpServers": { "fixture": server("healthy"), "broken": server("exit") } })
            .to_string(),
    )
    .unwrap();

    // Every server, as JSON: one unhealthy makes the exit status 1.
    let out = home.jarvis(&["--log-level", "warn", "mcp", "check", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains(secret) && !stderr(&out).contains(secret));
    let items: serde_json::Value = serde_json::from_str(&text).unwrap();
    let by_name = |name: &str| {
        items
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {text}"))["health"]
            .clone()
    };
    let fixture = by_name("fixture");
    assert_eq!(fixture["status"], "healthy", "{fixture}");
    assert_eq!(fixture["tool_count"], 2, "{fixture}");
    assert!(fixture["server_name"].is_string(), "{fixture}");
    let broken = by_name("broken");
    assert_eq!(broken["status"], "unhealthy", "{broken}");
    assert_eq!(broken["error"]["code"], "exited", "{broken}");

    // One server, as a table with its tools and steps.
    let out = home.jarvis(&["--log-level", "warn", "mcp", "check", "fixture"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("fixture") && l.contains("healthy") && l.contains("stdio")),
        "{table}"
    );
    assert!(table.contains("\nTools:\n"), "{table}");
    assert!(table.contains("Steps: start"), "{table}");
    assert!(!table.contains(secret), "{table}");

    // The broken one alone says why, with its last words.
    let out = home.jarvis(&["--log-level", "warn", "mcp", "check", "broken"]);
    assert_eq!(out.status.code(), Some(1));
    let table = stdout(&out);
    assert!(table.contains("exited"), "{table}");
    assert!(table.contains("fatal: no configuration found"), "{table}");
    assert!(!table.contains(secret), "{table}");

    // Nothing the checks started is left.
    jarvis_testkit::eventually_blocking(
        "every process the checks started to be gone",
        std::time::Duration::from_secs(5),
        || {
            jarvis_testkit::media::processes_naming(&marker)
                .is_empty()
                .then_some(())
        },
    );
}
