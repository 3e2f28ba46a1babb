//! The composition root: everything `jarvis serve` runs, wired in one place that the binary,
//! the black-box tests and any tool embedding Jarvis call the same way.
//!
//! [`Server::start`] opens the key file, loads the catalog (through its cache when asked) and
//! watches it, opens the database, starts telemetry, the n8n client with its health checks and
//! workflow refresher, the execution follower and the task engine, and binds the HTTP server.
//! [`Server::run_until_stopped`] serves until the [`ShutdownHandle`] stops it, then ends what it
//! started: the follow loops, the refresher and health checks, the watcher, and the monitor
//! (whose history is written a last time). Blocking steps run on the blocking pool.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jarvis_auth::KeyStore;
use jarvis_core::SharedClock;
use jarvis_discovery::{CatalogWatcher, LiveCatalog, ScanRoots, WatchOptions};
use jarvis_integrations::{LoopHandle, N8nClient, N8nConfig, ServiceRegistry};
use jarvis_tasks::{TaskConfig, TaskEngine};
use jarvis_telemetry::{Monitor, TelemetryConfig};
use jarvis_workflows::ExecutionFollower;

use crate::config::ApiConfig;
use crate::startup::{Application, Parts, ShutdownHandle, StartError};
use crate::state::AppState;

/// The file in the data folder that holds the catalog cache.
pub const CATALOG_CACHE: &str = "catalog.cache";

/// How workflow executions are polled once triggered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowTiming {
    /// The first poll, after the trigger.
    pub first_poll: Duration,
    /// The interval doubles up to this.
    pub max_poll: Duration,
    /// An execution not final after this is recorded `unknown`.
    pub give_up_after: Duration,
}

impl Default for FollowTiming {
    fn default() -> Self {
        FollowTiming {
            first_poll: Duration::from_millis(500),
            max_poll: Duration::from_secs(15),
            give_up_after: Duration::from_secs(6 * 3600),
        }
    }
}

/// Everything a server is made from.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// The HTTP server.
    pub api: ApiConfig,
    /// Where resources are discovered.
    pub roots: ScanRoots,
    /// How the catalog follows changes on disk.
    pub watch: WatchOptions,
    /// Where Jarvis keeps its files: `keys.json`, `jarvis.db`, `catalog.cache`,
    /// `n8n-workflows.json`.
    pub data_dir: PathBuf,
    /// Whether the catalog is loaded through (and kept in) `<data_dir>/catalog.cache`.
    pub catalog_cache: bool,
    /// System metrics and their history (`enabled = false` turns them off).
    pub telemetry: TelemetryConfig,
    /// How tasks run.
    pub tasks: TaskConfig,
    /// The n8n instance; an empty `base_url` means none.
    pub n8n: N8nConfig,
    /// Services already built (a tool's own n8n client, a test's); `None` builds them from
    /// `n8n`, with its health checks and, when it has an API key, the workflow refresher.
    pub services: Option<ServiceRegistry>,
    /// How triggered executions are followed.
    pub follow: FollowTiming,
    /// What rate limits and WebSocket message budgets refill by.
    pub clock: SharedClock,
    /// Cost tracking (the ledger's roots, mode, zone, budgets); `None` turns it off.
    pub costs: Option<jarvis_costs::ServiceConfig>,
    /// Content analysis (media roots, ffmpeg, limits); `None` turns it off.
    pub analysis: Option<crate::services::analysis::AnalysisConfig>,
    /// The knowledge base (notes folders, memory files, limits); `None` turns it off. Its
    /// index lives in `<data_dir>/knowledge`.
    pub knowledge: Option<jarvis_knowledge::KnowledgeConfig>,
    /// MCP server health checks (off by default: a check starts the programs the user
    /// configured).
    pub mcp: jarvis_integrations::mcp::McpCheckConfig,
    /// Where tasks, executions, costs and history are kept (SQLite in `data_dir` by default;
    /// PostgreSQL for several instances), and how instances sharing a store find one another.
    pub store: jarvis_store::StoreConfig,
}

impl ServerSettings {
    /// A server on `api` over `roots`, keeping its files in `data_dir`; everything else at its
    /// default (watching files, the catalog cache, telemetry, no n8n, the system clock).
    pub fn new(api: ApiConfig, roots: ScanRoots, data_dir: impl Into<PathBuf>) -> Self {
        ServerSettings {
            api,
            roots,
            watch: WatchOptions {
                watch_files: true,
                debounce: Duration::from_millis(50),
                rescan_interval: None,
            },
            data_dir: data_dir.into(),
            catalog_cache: true,
            telemetry: TelemetryConfig::default(),
            tasks: TaskConfig::default(),
            n8n: N8nConfig::default(),
            services: None,
            follow: FollowTiming::default(),
            clock: jarvis_core::system_clock(),
            costs: None,
            analysis: None,
            knowledge: None,
            mcp: jarvis_integrations::mcp::McpCheckConfig::default(),
            store: jarvis_store::StoreConfig::default(),
        }
    }
}

/// Why a server did not start; each names what failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The API key file cannot be used.
    #[error("cannot open the API key store: {0}")]
    Keys(#[from] jarvis_auth::AuthError),
    /// The resource folders cannot be watched.
    #[error("cannot start watching resource folders: {0}")]
    Watch(#[from] jarvis_discovery::Error),
    /// The database cannot be used.
    #[error("cannot open the database: {0}")]
    Store(#[from] jarvis_store::Error),
    /// Telemetry cannot start.
    #[error("cannot start telemetry: {0}")]
    Telemetry(#[from] jarvis_telemetry::TelemetryError),
    /// The n8n client cannot be built from its settings.
    #[error("cannot set up the n8n client: {0}")]
    N8n(#[from] jarvis_integrations::Error),
    /// The task engine cannot start.
    #[error("cannot start the task engine: {0}")]
    Tasks(#[from] jarvis_tasks::EngineError),
    /// A thread cannot be started.
    #[error("cannot start a thread: {0}")]
    Thread(#[from] std::io::Error),
    /// The HTTP server cannot start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The knowledge base's indexing thread cannot start.
    #[error("cannot start the knowledge base: {0}")]
    Knowledge(std::io::Error),
    /// A start-up step on the blocking pool did not come back.
    #[error("a start-up step did not finish: {0}")]
    Interrupted(String),
}

/// A started server: bound, its parts running, not yet serving until
/// [`Server::run_until_stopped`] is awaited.
#[derive(Debug)]
pub struct Server {
    app: Application,
    watcher: CatalogWatcher,
    loops: Vec<LoopHandle>,
    cost_reader: Option<std::thread::JoinHandle<()>>,
    /// Hear key changes and workflow executions of other instances (a shared store only).
    listeners: Vec<Box<dyn jarvis_store::Listener>>,
}

async fn blocking<T: Send + 'static, E: Into<ServerError> + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ServerError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(Into::into),
        Err(e) => Err(ServerError::Interrupted(e.to_string())),
    }
}

impl Server {
    /// Starts every part from `settings` and binds the HTTP server. Call inside a tokio
    /// runtime.
    pub async fn start(settings: ServerSettings) -> Result<Server, ServerError> {
        let ServerSettings {
            api,
            roots,
            watch,
            data_dir,
            catalog_cache,
            telemetry,
            tasks,
            n8n,
            services,
            follow,
            clock,
            costs,
            analysis,
            knowledge,
            mcp,
            store: store_config,
        } = settings;
        let store = {
            let (config, dir) = (store_config.clone(), data_dir.clone());
            blocking(move || jarvis_store::open(&config, &dir)).await?
        };
        // Keys live in the store when instances share it, so a revocation holds on all at once.
        let (keys, key_changes) = match store_config.postgres() {
            Some(url) => {
                tracing::info!(database = %url, "the store is PostgreSQL, shared with any other instance using it; API keys are kept there");
                let (shared, shown, keys_path) =
                    (Arc::clone(&store), url.shown(), data_dir.join("keys.json"));
                let keys = Arc::new(
                    blocking(move || {
                        crate::services::shared::open_keys(Some((shared, shown)), &keys_path)
                    })
                    .await?,
                );
                let (shared, followed) = (Arc::clone(&store), Arc::clone(&keys));
                let listener = blocking(move || {
                    crate::services::shared::follow_key_changes(&shared, &followed)
                })
                .await?;
                (keys, listener)
            }
            None => {
                tracing::info!(database = %data_dir.join("jarvis.db").display(), "the store is SQLite, for this instance alone");
                let keys_path = data_dir.join("keys.json");
                (
                    Arc::new(
                        blocking(move || crate::services::shared::open_keys(None, &keys_path))
                            .await?,
                    ),
                    None,
                )
            }
        };
        if keys.is_empty() {
            tracing::info!(keys = %keys.location(), "no API keys: authentication is off and only loopback addresses are served");
        }
        // The index opens (or builds) on its own thread: a large one never delays the server.
        let knowledge = match knowledge {
            Some(config) => {
                let sources = jarvis_knowledge::Sources::resolve(
                    &config,
                    roots.claude_dir.as_ref().map(|r| r.path.as_path()),
                    &roots
                        .projects
                        .iter()
                        .map(|p| p.path.clone())
                        .collect::<Vec<_>>(),
                );
                let dir = data_dir.join("knowledge");
                Some(
                    jarvis_knowledge::KnowledgeBase::start(&config, sources, dir)
                        .map_err(ServerError::Knowledge)?,
                )
            }
            None => {
                tracing::info!("the knowledge base is turned off (knowledge.enabled = false)");
                None
            }
        };
        let cache = catalog_cache.then(|| data_dir.join(CATALOG_CACHE));
        let catalog = blocking(move || {
            Ok::<_, ServerError>(match cache {
                Some(file) => LiveCatalog::load_cached(roots, file),
                None => LiveCatalog::load(roots),
            })
        })
        .await?;
        let watched = catalog.clone();
        let watcher = blocking(move || CatalogWatcher::start(watched, watch)).await?;
        // Samples the machine on its own thread; stopped (history flushed) when serving ends.
        let instance = jarvis_tasks::InstanceSettings {
            name: store_config.instance_name.clone(),
            heartbeat: Duration::from_secs(store_config.heartbeat_secs.max(1)),
            dead_after: Duration::from_secs(store_config.dead_after_secs.max(1)),
        };
        let monitor = if telemetry.enabled {
            let store = Arc::clone(&store);
            // On a shared store each instance keeps its own history, under its name.
            let label = if store.shared() {
                instance.label()
            } else {
                String::new()
            };
            Some(Arc::new(
                blocking(move || Monitor::start_as(&telemetry, Some(store), label)).await?,
            ))
        } else {
            tracing::info!(
                "telemetry is turned off (telemetry.enabled = false): no sampling, no history"
            );
            None
        };
        let mut loops = Vec::new();
        let services = match services {
            Some(services) => services,
            None if n8n.base_url.is_empty() => ServiceRegistry::default(),
            None => {
                let client = N8nClient::new(&n8n)?;
                if n8n.api_key.is_some() {
                    loops.push(jarvis_workflows::spawn_workflow_refresh(
                        client.clone(),
                        catalog.clone(),
                        Duration::from_secs(n8n.refresh_secs.max(10)),
                        Some(data_dir.join("n8n-workflows.json")),
                    ));
                } else {
                    tracing::info!("no n8n API key: workflows come from export files only");
                }
                let services = ServiceRegistry::new(Some((client, n8n.required)));
                loops.push(
                    services.spawn_checks(Duration::from_secs(n8n.health_interval_secs.max(1))),
                );
                services
            }
        };
        let executions = ExecutionFollower::new(
            Arc::clone(&store),
            follow.first_poll,
            follow.max_poll,
            follow.give_up_after,
        );
        let mut listeners: Vec<Box<dyn jarvis_store::Listener>> = key_changes.into_iter().collect();
        let relay = executions.clone();
        listeners.extend(blocking(move || relay.relay()).await?);
        let costs = match costs {
            // Loaded by its own thread once started: a large ledger never delays the server.
            Some(config) => Some(jarvis_costs::CostService::new(Arc::clone(&store), config)),
            None => {
                tracing::info!("cost tracking is turned off (costs.enabled = false)");
                None
            }
        };
        let analysis_dir = data_dir.join("analyses");
        let mut jobs: std::collections::HashMap<jarvis_core::TaskKind, Arc<dyn jarvis_tasks::Job>> =
            std::collections::HashMap::new();
        let analysis = match analysis {
            Some(config) => {
                let analysis = blocking(move || {
                    Ok::<_, ServerError>(crate::services::analysis::Analysis::new(
                        config,
                        analysis_dir,
                    ))
                })
                .await?;
                jobs.insert(jarvis_core::TaskKind::Analysis, Arc::new(analysis.job()));
                Some(analysis)
            }
            None => None,
        };
        let tasks = TaskEngine::start_instance(store, tasks, jobs, instance).await?;
        if let Err(e) = tasks.runner_available() {
            tracing::warn!(error = %e, "tasks will be refused until the runner is installed");
        }
        let app = Application::build(
            &api,
            Parts {
                catalog,
                keys,
                tasks,
                services,
                executions,
                monitor,
                clock,
                costs: costs.clone(),
                analysis,
                knowledge,
                mcp: jarvis_integrations::mcp::McpMonitor::new(mcp),
            },
        )?;
        // The reader starts once the hub listens, so its first pass is announced.
        let cost_reader = match &costs {
            Some(costs) => {
                crate::services::costs::follow_task_costs(app.state().tasks.clone(), costs.clone());
                Some(costs.start()?)
            }
            None => None,
        };
        Ok(Server {
            app,
            watcher,
            loops,
            cost_reader,
            listeners,
        })
    }

    /// The port bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.app.port()
    }

    /// A handle to stop the server.
    pub fn handle(&self) -> ShutdownHandle {
        self.app.handle()
    }

    /// The live catalog.
    pub fn catalog(&self) -> &LiveCatalog {
        &self.state().catalog
    }

    /// The API keys.
    pub fn keys(&self) -> &Arc<KeyStore> {
        &self.state().keys
    }

    /// The telemetry monitor, when telemetry is on.
    pub fn monitor(&self) -> Option<&Arc<Monitor>> {
        self.state().monitor.as_ref()
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        self.app.state()
    }

    /// Serves until the server is stopped through its handle; then ends the background loops
    /// and the watcher and stops the monitor, whose history is written a last time.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let monitor = self.monitor().cloned();
        let costs = self.state().costs.clone();
        let knowledge = self.state().knowledge.clone();
        let tasks = self.state().tasks.clone();
        let Server {
            app,
            watcher,
            loops,
            cost_reader,
            listeners,
        } = self;
        let result = app.run_until_stopped().await;
        // Recorded as stopped, so other instances interrupt at once what it leaves running.
        tasks.shutdown().await;
        if !listeners.is_empty() {
            // Joins the listening threads (each wakes four times a second).
            let _ = tokio::task::spawn_blocking(move || drop(listeners)).await;
        }
        if let (Some(costs), Some(reader)) = (costs, cost_reader) {
            costs.stop();
            // The reader ends after the pass it is in, if any.
            if let Err(e) = tokio::task::spawn_blocking(move || reader.join()).await {
                tracing::error!(error = %e, "cannot stop the cost reader");
            }
        }
        for handle in loops {
            handle.stop().await;
        }
        drop(watcher);
        if let Some(knowledge) = knowledge {
            // The indexing thread finishes the update it is in (each one commits).
            if let Err(e) = tokio::task::spawn_blocking(move || knowledge.stop()).await {
                tracing::error!(error = %e, "cannot stop the knowledge base");
            }
        }
        if let Some(monitor) = monitor {
            // Waits at most for one sample.
            if let Err(e) = tokio::task::spawn_blocking(move || monitor.stop()).await {
                tracing::error!(error = %e, "cannot stop telemetry");
            }
        }
        result
    }
}
