//! `spawn_app()`: the real server on port 0 over a fixture home.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jarvis_api::{ApiConfig, Application};
use jarvis_discovery::{CatalogWatcher, DiscoveryConfig, Environment, LiveCatalog, WatchOptions};
use serde_json::Value;

/// The fake task runner: echoes its argv as JSON lines (one per argument), or sleeps on `slow`.
const RUNNER: &str = r#"#!/bin/sh
case "$1" in
  *slow*) sleep 30 ;;
  *flood*) sleep 0.5; for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do head -c 1000000 /dev/zero | tr '\0' x; sleep 0.05; done; echo ;;
esac
for a in "$@"; do printf 'ARG<%s>\n' "$a"; done
"#;

/// A secret that must never appear in a response.
pub const SECRET: &str = "sk-live-never-shown-123";

pub struct TestApp {
    pub base: String,
    pub keys: std::sync::Arc<jarvis_api::KeyStore>,
    pub client: reqwest::Client,
    pub home: PathBuf,
    pub catalog: LiveCatalog,
    pub handle: jarvis_api::ShutdownHandle,
    pub monitor: Option<std::sync::Arc<jarvis_telemetry::Monitor>>,
    config: ApiConfig,
    telemetry: Option<jarvis_telemetry::TelemetryConfig>,
    _watcher: CatalogWatcher,
    // Last: the folder outlives everything that uses it.
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The sampler is a thread of its own: stop it with the test, not with the process.
        if let Some(monitor) = &self.monitor {
            monitor.stop();
        }
    }
}

/// Sampling every 200 ms: tests see samples quickly without loading the machine.
pub fn test_telemetry() -> jarvis_telemetry::TelemetryConfig {
    jarvis_telemetry::TelemetryConfig {
        interval_ms: 200,
        flush_secs: 1,
        ..jarvis_telemetry::TelemetryConfig::default()
    }
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

pub fn agent(name: &str, description: &str) -> String {
    format!(
        "---\nname: {name}\ndescription: {description}\ntools: Read, Grep\n---\nYou are {name}. Focus on correctness.\n"
    )
}

/// A home folder with 12 agents, namespaced commands (one bare name defined twice), a skill, and
/// MCP servers with secrets.
fn fixture(home: &Path) {
    let claude = home.join(".claude");
    for i in 0..12 {
        write(
            &claude.join(format!("agents/agent-{i:02}.md")),
            &agent(
                &format!("agent-{i:02}"),
                &format!("Helper number {i} for testing pagination"),
            ),
        );
    }
    write(
        &claude.join("agents/reviewer.md"),
        &agent("reviewer", "Reviews code for security problems"),
    );
    write(
        &claude.join("agents/tagged.md"),
        "---\nname: tagged\ndescription: Has tags\ncategory: Quality\ntags: [fast, Safe]\n---\nBody\n",
    );
    write(
        &claude.join("agents/broken.md"),
        "---\nname: broken\ndescription: Triggers on: this\n---\nBody\n",
    );
    write(
        &claude.join("commands/tools/lint.md"),
        "---\ndescription: Lint the code\n---\nLint $ARGUMENTS\n",
    );
    write(
        &claude.join("commands/other/lint.md"),
        "---\ndescription: Lint differently\n---\nLint $1\n",
    );
    write(
        &home.join("n8n/export.json"),
        r#"[
  {"id": "A1", "name": "PR digest", "active": true,
   "nodes": [{"name": "Webhook", "type": "n8n-nodes-base.webhook", "typeVersion": 2, "webhookId": "w-1",
              "parameters": {"httpMethod": "POST", "path": "github-pr"}}]},
  {"id": "B2", "name": "Lead lookup", "active": false,
   "nodes": [{"name": "Webhook", "type": "n8n-nodes-base.webhook", "webhookId": "w-2", "parameters": {"path": "lead/:id"}}]},
  {"id": "C3", "name": "Nightly report", "active": true,
   "nodes": [{"name": "Cron", "type": "n8n-nodes-base.scheduleTrigger", "parameters": {}}]}
]"#,
    );
    write(
        &claude.join("skills/notes/SKILL.md"),
        "---\nname: notes\ndescription: Takes notes.\n---\nWrite notes.\n",
    );
    write(
        &home.join(".claude.json"),
        &format!(
            r#"{{"mcpServers": {{"gh": {{"type": "http", "url": "https://gh.example/mcp", "headers": {{"Authorization": "Bearer {SECRET}"}}}},
                "local": {{"command": "npx", "args": ["srv"], "env": {{"API_KEY": "{SECRET}"}}}}}}}}"#
        ),
    );
}

/// Starts the server over a fresh fixture.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(ApiConfig::default()).await
}

pub async fn spawn_app_with(config: ApiConfig) -> TestApp {
    spawn_app_full(config, |_| {}).await
}

/// Starts the server; `prepare` may create keys before it starts.
pub async fn spawn_app_full(
    config: ApiConfig,
    prepare: impl FnOnce(&jarvis_api::KeyStore),
) -> TestApp {
    spawn_app_with_services(
        config,
        prepare,
        jarvis_integrations::ServiceRegistry::default(),
    )
    .await
}

/// Starts the server with these services registered.
pub async fn spawn_app_with_services(
    config: ApiConfig,
    prepare: impl FnOnce(&jarvis_api::KeyStore),
    services: jarvis_integrations::ServiceRegistry,
) -> TestApp {
    spawn_app_custom(config, prepare, services, Some(test_telemetry())).await
}

/// Starts the server with every part chosen; `telemetry: None` runs it without a monitor.
pub async fn spawn_app_custom(
    mut config: ApiConfig,
    prepare: impl FnOnce(&jarvis_api::KeyStore),
    services: jarvis_integrations::ServiceRegistry,
    telemetry: Option<jarvis_telemetry::TelemetryConfig>,
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let runner = dir.path().join("runner.sh");
    write(&runner, RUNNER);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&runner, fs::Permissions::from_mode(0o755)).unwrap();
    }
    config.port = 0;
    config.workers = 2;
    config.max_body_bytes = 4096;
    let keys =
        std::sync::Arc::new(jarvis_api::KeyStore::open(dir.path().join("data/keys.json")).unwrap());
    prepare(&keys);
    let parts = launch(dir.path(), &config, services, telemetry.as_ref()).await;
    TestApp {
        base: parts.base,
        keys: parts.keys,
        client: reqwest::Client::builder()
            .no_gzip()
            .no_brotli()
            .build()
            .unwrap(),
        home: dir.path().to_path_buf(),
        catalog: parts.catalog,
        handle: parts.handle,
        monitor: parts.monitor,
        config,
        telemetry,
        _watcher: parts.watcher,
        _dir: dir,
    }
}

struct Parts {
    base: String,
    keys: std::sync::Arc<jarvis_api::KeyStore>,
    catalog: LiveCatalog,
    handle: jarvis_api::ShutdownHandle,
    monitor: Option<std::sync::Arc<jarvis_telemetry::Monitor>>,
    watcher: CatalogWatcher,
}

/// Starts a server over the fixture and data already in `dir`.
async fn launch(
    dir: &Path,
    config: &ApiConfig,
    services: jarvis_integrations::ServiceRegistry,
    telemetry: Option<&jarvis_telemetry::TelemetryConfig>,
) -> Parts {
    let home = dir.to_path_buf();
    let discovery = DiscoveryConfig {
        workflow_paths: vec![home.join("n8n/export.json")],
        ..DiscoveryConfig::default()
    };
    let env = Environment {
        home: Some(home.clone()),
        vars: Default::default(),
    };
    let roots = discovery.resolve(&env).unwrap();
    let catalog = tokio::task::spawn_blocking(move || LiveCatalog::load(roots))
        .await
        .unwrap();
    let watcher = CatalogWatcher::start(
        catalog.clone(),
        WatchOptions {
            watch_files: true,
            debounce: Duration::from_millis(50),
            rescan_interval: None,
        },
    )
    .unwrap();
    let keys = std::sync::Arc::new(jarvis_api::KeyStore::open(dir.join("data/keys.json")).unwrap());
    let store: std::sync::Arc<dyn jarvis_store::Store> =
        std::sync::Arc::new(jarvis_store::SqliteStore::open(dir.join("data/jarvis.db")).unwrap());
    let task_config = jarvis_tasks::TaskConfig {
        runner: vec![
            dir.join("runner.sh").to_string_lossy().into_owned(),
            "{prompt}".into(),
            "--model={model}".into(),
            "--system={system_prompt}".into(),
            "--tools={tools}".into(),
        ],
        concurrency: 2,
        timeout_secs: 30,
        grace_secs: 1,
        max_output_bytes: 64 * 1024,
    };
    let follower = jarvis_api::ExecutionFollower::new(
        std::sync::Arc::clone(&store),
        Duration::from_millis(50),
        Duration::from_millis(200),
        Duration::from_secs(10),
    );
    let monitor = match telemetry {
        Some(telemetry) => {
            let store = std::sync::Arc::clone(&store);
            let telemetry = telemetry.clone();
            let monitor = tokio::task::spawn_blocking(move || {
                jarvis_telemetry::Monitor::start(&telemetry, Some(store)).unwrap()
            })
            .await
            .unwrap();
            Some(std::sync::Arc::new(monitor))
        }
        None => None,
    };
    let tasks = jarvis_tasks::TaskEngine::start(store, task_config)
        .await
        .unwrap();
    let app = Application::build(
        config,
        catalog.clone(),
        keys.clone(),
        tasks,
        services,
        follower,
        monitor.clone(),
    )
    .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    Parts {
        base,
        keys,
        catalog,
        handle,
        monitor,
        watcher,
    }
}

impl TestApp {
    /// Stops the server and its monitor (which writes the history), then starts a new one on
    /// the same folders and database, as a restart of `jarvis serve` would.
    pub async fn restart(&mut self) {
        self.handle.stop(true).await;
        if let Some(monitor) = self.monitor.take() {
            tokio::task::spawn_blocking(move || monitor.stop())
                .await
                .unwrap();
        }
        let parts = launch(
            self._dir.path(),
            &self.config,
            jarvis_integrations::ServiceRegistry::default(),
            self.telemetry.as_ref(),
        )
        .await;
        self.base = parts.base;
        self.keys = parts.keys;
        self.catalog = parts.catalog;
        self.handle = parts.handle;
        self.monitor = parts.monitor;
        self._watcher = parts.watcher;
    }

    /// Waits until the monitor has taken more than `n` samples.
    pub async fn wait_for_samples(&self, n: u64) {
        let monitor = self.monitor.as_ref().expect("telemetry is on");
        let deadline = Instant::now() + Duration::from_secs(10);
        while monitor.samples() <= n {
            assert!(Instant::now() < deadline, "no samples");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// POSTs `body` as JSON to `path`; answers the status, headers and JSON body.
pub async fn post(
    app: &TestApp,
    path: &str,
    body: Value,
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Value) {
    let res = app
        .client
        .post(format!("{}{path}", app.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    (status, headers, res.json().await.unwrap())
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(
        &self,
        path: &str,
    ) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Value) {
        let res = self.get(path).await;
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"));
        (status, headers, json)
    }

    /// Waits until the catalog generation passes `generation`.
    pub async fn wait_for_generation_above(&self, generation: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.catalog.snapshot().generation() <= generation {
            assert!(Instant::now() < deadline, "catalog did not reload");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Polls a task until it has ended; answers its view.
pub async fn wait_final(app: &TestApp, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _, body) = app.get_json(&format!("/api/v2/tasks/{id}")).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
        let state = body["data"]["status"].as_str().unwrap().to_owned();
        if !["queued", "running"].contains(&state.as_str()) {
            return body["data"].clone();
        }
        assert!(Instant::now() < deadline, "task {id} never ended");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
