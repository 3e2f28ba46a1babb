//! `spawn_app()`: the real server on port 0 over a fixture home.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jarvis_api::{ApiConfig, FollowTiming, Server, ServerSettings};
use jarvis_core::{ManualClock, SharedClock};
use jarvis_discovery::{DiscoveryConfig, Environment, LiveCatalog, WatchOptions};
pub use jarvis_testkit::agent_file as agent;
use jarvis_testkit::{
    command_file as command, eventually, skill_file as skill, write_file as write,
};
use serde_json::Value;

/// The fake task runner: echoes its argv as JSON lines (one per argument), or sleeps on `slow`.
const RUNNER: &str = r#"#!/bin/sh
case "$1" in
  *slow*) sleep 30 ;;
  *spend*) printf '{"type":"result","subtype":"success","session_id":"run-spend-1","total_cost_usd":0.25,"usage":{"input_tokens":30,"output_tokens":50},"modelUsage":{"claude-sonnet-4-5-20250929":{}}}\n'; exit 0 ;;
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
    /// The clock the test moves, when started with [`Spawn::manual_clock`].
    pub clock: Option<ManualClock>,
    config: ApiConfig,
    telemetry: Option<jarvis_telemetry::TelemetryConfig>,
    shared_clock: SharedClock,
    media: jarvis_integrations::analyzer::MediaConfig,
    mcp: jarvis_integrations::mcp::McpCheckConfig,
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

/// Daily budget of the test server's cost ledger, in US$.
pub const DAILY_BUDGET: f64 = 2.0;

/// Cost tracking over `<home>/.claude/projects`, in UTC, priced by calculation.
fn test_costs(home: &Path) -> jarvis_costs::ServiceConfig {
    jarvis_costs::ServiceConfig {
        roots: vec![home.join(".claude/projects")],
        mode: jarvis_costs::CostMode::Calculate,
        table: jarvis_costs::PriceTable::built_in(),
        zone: jarvis_costs::Zone::utc(),
        budgets: jarvis_costs::Budgets {
            daily_usd: Some(DAILY_BUDGET),
            monthly_usd: Some(100.0),
        },
        poll: Duration::from_secs(5),
        watch: true,
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

/// A home folder with 12 agents, namespaced commands (one bare name defined twice), a skill, and
/// MCP servers with secrets.
fn fixture(home: &Path) {
    fs::create_dir_all(home.join("media")).unwrap();
    fs::create_dir_all(home.join("notes")).unwrap();
    let claude = home.join(".claude");
    for i in 0..12 {
        write(
            &claude.join(format!("agents/agent-{i:02}.md")),
            agent(
                &format!("agent-{i:02}"),
                &format!("Helper number {i} for testing pagination"),
            ),
        );
    }
    write(
        &claude.join("agents/reviewer.md"),
        agent("reviewer", "Reviews code for security problems"),
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
        command("Lint the code", "Lint $ARGUMENTS"),
    );
    write(
        &claude.join("commands/other/lint.md"),
        command("Lint differently", "Lint $1"),
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
        skill("notes", "Takes notes.", "Write notes."),
    );
    write(
        &home.join(".claude.json"),
        format!(
            r#"{{"mcpServers": {{"gh": {{"type": "http", "url": "https://gh.example/mcp", "headers": {{"Authorization": "Bearer {SECRET}"}}}},
                "local": {{"command": "npx", "args": ["srv"], "env": {{"API_KEY": "{SECRET}"}}}}}}}}"#
        ),
    );
}

/// Starts the server over a fresh fixture, every part at its test default.
pub async fn spawn_app() -> TestApp {
    Spawn::new().start().await
}

/// Writes the `.claude.json` of a test home (given its path) and returns its text.
type WriteClaudeJson<'a> = Box<dyn FnOnce(&Path) -> String + 'a>;

/// A test server's parts, chosen one by one: `Spawn::new().config(c).start().await`.
pub struct Spawn<'a> {
    config: ApiConfig,
    prepare: Box<dyn FnOnce(&jarvis_api::KeyStore) + 'a>,
    services: jarvis_integrations::ServiceRegistry,
    telemetry: Option<jarvis_telemetry::TelemetryConfig>,
    clock: Option<ManualClock>,
    media: jarvis_integrations::analyzer::MediaConfig,
    mcp: jarvis_integrations::mcp::McpCheckConfig,
    claude_json: Option<WriteClaudeJson<'a>>,
}

impl<'a> Spawn<'a> {
    /// The default configuration, no keys, no services, telemetry sampling every 200 ms, the
    /// system clock.
    pub fn new() -> Self {
        Spawn {
            config: ApiConfig::default(),
            prepare: Box::new(|_| {}),
            services: jarvis_integrations::ServiceRegistry::default(),
            telemetry: Some(test_telemetry()),
            clock: None,
            media: jarvis_integrations::analyzer::MediaConfig::default(),
            mcp: jarvis_integrations::mcp::McpCheckConfig::default(),
            claude_json: None,
        }
    }

    /// MCP health checks with this configuration, over the MCP servers in the `.claude.json`
    /// that `claude_json` writes for the home it is given (instead of the fixture's).
    pub fn mcp(
        mut self,
        config: jarvis_integrations::mcp::McpCheckConfig,
        claude_json: impl FnOnce(&Path) -> String + 'a,
    ) -> Self {
        self.mcp = config;
        self.claude_json = Some(Box::new(claude_json));
        self
    }

    /// Media analysis with these programs and limits.
    pub fn media(mut self, media: jarvis_integrations::analyzer::MediaConfig) -> Self {
        self.media = media;
        self
    }

    /// This configuration (port, workers and body limit are the harness's).
    pub fn config(mut self, config: ApiConfig) -> Self {
        self.config = config;
        self
    }

    /// Runs `prepare` on the key store before the server starts (to create keys).
    pub fn prepare(mut self, prepare: impl FnOnce(&jarvis_api::KeyStore) + 'a) -> Self {
        self.prepare = Box::new(prepare);
        self
    }

    /// These services registered.
    pub fn services(mut self, services: jarvis_integrations::ServiceRegistry) -> Self {
        self.services = services;
        self
    }

    /// Telemetry with this configuration, or none.
    pub fn telemetry(mut self, telemetry: Option<jarvis_telemetry::TelemetryConfig>) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Rate limits and WebSocket budgets on a clock the test moves ([`TestApp::clock`]).
    pub fn manual_clock(mut self) -> Self {
        self.clock = Some(ManualClock::new());
        self
    }

    /// Starts the server.
    pub async fn start(self) -> TestApp {
        let Spawn {
            mut config,
            prepare,
            services,
            telemetry,
            clock,
            media,
            mcp,
            claude_json,
        } = self;
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path());
        if let Some(claude_json) = claude_json {
            let text = claude_json(dir.path());
            write(&dir.path().join(".claude.json"), &text);
        }
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
        let keys = std::sync::Arc::new(
            jarvis_api::KeyStore::open(dir.path().join("data/keys.json")).unwrap(),
        );
        prepare(&keys);
        let shared: SharedClock = match &clock {
            Some(manual) => std::sync::Arc::new(manual.clone()),
            None => jarvis_core::system_clock(),
        };
        let parts = launch(
            dir.path(),
            &config,
            services,
            telemetry.as_ref(),
            shared.clone(),
            &media,
            &mcp,
        )
        .await;
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
            clock,
            config,
            telemetry,
            shared_clock: shared,
            media,
            mcp,
            _dir: dir,
        }
    }
}

struct Parts {
    base: String,
    keys: std::sync::Arc<jarvis_api::KeyStore>,
    catalog: LiveCatalog,
    handle: jarvis_api::ShutdownHandle,
    monitor: Option<std::sync::Arc<jarvis_telemetry::Monitor>>,
}

/// Starts a server over the fixture and data already in `dir`, through the same composition
/// root `jarvis serve` uses.
async fn launch(
    dir: &Path,
    config: &ApiConfig,
    services: jarvis_integrations::ServiceRegistry,
    telemetry: Option<&jarvis_telemetry::TelemetryConfig>,
    clock: SharedClock,
    media: &jarvis_integrations::analyzer::MediaConfig,
    mcp: &jarvis_integrations::mcp::McpCheckConfig,
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
    let tasks = jarvis_tasks::TaskConfig {
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
        search_path: Vec::new(),
    };
    let settings = ServerSettings {
        watch: WatchOptions {
            watch_files: true,
            debounce: Duration::from_millis(50),
            rescan_interval: None,
        },
        catalog_cache: false,
        telemetry: telemetry
            .cloned()
            .unwrap_or(jarvis_telemetry::TelemetryConfig {
                enabled: false,
                ..jarvis_telemetry::TelemetryConfig::default()
            }),
        tasks,
        services: Some(services),
        follow: FollowTiming {
            first_poll: Duration::from_millis(50),
            max_poll: Duration::from_millis(200),
            give_up_after: Duration::from_secs(10),
        },
        clock,
        costs: Some(test_costs(&home)),
        analysis: Some(jarvis_api::AnalysisConfig {
            roots: vec![home.join("media")],
            media: media.clone(),
            fetch: jarvis_integrations::analyzer::FetchPolicy {
                // The tests serve pages on loopback; private addresses stay refused.
                allow_loopback: true,
                ..jarvis_integrations::analyzer::FetchPolicy::default()
            },
            ..jarvis_api::AnalysisConfig::default()
        }),
        knowledge: Some(jarvis_knowledge::KnowledgeConfig {
            roots: vec![home.join("notes")],
            debounce_ms: 50,
            ..jarvis_knowledge::KnowledgeConfig::default()
        }),
        mcp: mcp.clone(),
        ..ServerSettings::new(config.clone(), roots, dir.join("data"))
    };
    let server = Server::start(settings).await.unwrap();
    // The knowledge index builds on its own thread; tests start once it answers.
    if let Some(knowledge) = server.state().knowledge.clone() {
        eventually(
            "the knowledge index to open",
            Duration::from_secs(10),
            || {
                let knowledge = knowledge.clone();
                async move {
                    let state = tokio::task::spawn_blocking(move || knowledge.stats().state)
                        .await
                        .unwrap();
                    (state == "ready").then_some(())
                }
            },
        )
        .await;
    }
    // The cost ledger loads on its own thread; tests start once it answers.
    if let Some(costs) = server.state().costs.clone() {
        eventually("the cost ledger to load", Duration::from_secs(10), || {
            let costs = costs.clone();
            async move { (costs.readiness() == jarvis_costs::Readiness::Ready).then_some(()) }
        })
        .await;
    }
    let parts = Parts {
        base: format!("http://127.0.0.1:{}", server.port()),
        keys: std::sync::Arc::clone(server.keys()),
        catalog: server.catalog().clone(),
        handle: server.handle(),
        monitor: server.monitor().cloned(),
    };
    tokio::spawn(server.run_until_stopped());
    parts
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
            self.shared_clock.clone(),
            &self.media,
            &self.mcp,
        )
        .await;
        self.base = parts.base;
        self.keys = parts.keys;
        self.catalog = parts.catalog;
        self.handle = parts.handle;
        self.monitor = parts.monitor;
    }

    /// Waits until the monitor has taken more than `n` samples.
    pub async fn wait_for_samples(&self, n: u64) {
        let monitor = self.monitor.as_ref().expect("telemetry is on");
        eventually("telemetry samples", Duration::from_secs(10), || async {
            (monitor.samples() > n).then_some(())
        })
        .await;
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
        eventually("a catalog reload", Duration::from_secs(10), || async {
            (self.catalog.snapshot().generation() > generation).then_some(())
        })
        .await;
    }
}

/// Polls a task until it has ended; answers its view.
pub async fn wait_final(app: &TestApp, id: &str) -> Value {
    eventually(
        &format!("task {id} to end"),
        Duration::from_secs(20),
        || async {
            let (status, _, body) = app.get_json(&format!("/api/v2/tasks/{id}")).await;
            assert_eq!(status, reqwest::StatusCode::OK, "{body}");
            let state = body["data"]["status"].as_str().unwrap();
            (!["queued", "running"].contains(&state)).then(|| body["data"].clone())
        },
    )
    .await
}
