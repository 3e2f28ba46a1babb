//! The commands: `serve`, `scan`, `search`, `keys`, `knowledge`, `costs`, `analyze`, `config`,
//! `doctor`, `health`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use jarvis_core::{ResourceKind, Severity};
use jarvis_discovery::{CatalogSnapshot, Environment, LiveCatalog, SearchQuery};
use serde_json::json;

use crate::settings::{Settings, Sources};
use crate::telemetry;

/// Jarvis: one fast, safe view of your Claude Code agents, commands, skills, MCP servers and n8n
/// workflows.
#[derive(Debug, Parser)]
#[command(name = "jarvis", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./jarvis.toml when it exists.
    #[arg(long, global = true, env = "JARVIS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// A project folder whose .claude/ and .mcp.json also count (repeatable).
    #[arg(long = "project", global = true, value_name = "DIR")]
    projects: Vec<PathBuf>,
    /// Log filter, e.g. `debug` or `jarvis_discovery=trace` (RUST_LOG wins when set).
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (default 127.0.0.1:8080), keeping the catalog current as files change.
    Serve {
        /// Override `server.port`.
        #[arg(long)]
        port: Option<u16>,
        /// Override `server.host`.
        #[arg(long)]
        host: Option<String>,
    },
    /// Discover every resource once and report counts, diagnostics and the time taken.
    Scan {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Also list every resource.
        #[arg(long)]
        resources: bool,
        /// List every diagnostic, not only the first errors and warnings.
        #[arg(long)]
        all_diagnostics: bool,
        /// Keep running: watch the folders and report every reload until interrupted.
        #[arg(long)]
        watch: bool,
        /// Read every file, ignoring the catalog cache in the data directory (and leave it
        /// as it is).
        #[arg(long)]
        no_cache: bool,
    },
    /// Ranked search over names, descriptions, tags and bodies.
    Search {
        /// What to look for.
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
        /// Only this kind: agent, command, skill, mcp, workflow (repeatable).
        #[arg(long = "kind", value_name = "KIND")]
        kinds: Vec<ResourceKind>,
        /// The maximum number of hits.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=500))]
        limit: u16,
        /// Include shadowed definitions.
        #[arg(long)]
        include_shadowed: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Create, list and revoke API keys (stored hashed in the data folder).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Search the knowledge base (notes folders and memory files), or build its index again.
    Knowledge {
        #[command(subcommand)]
        action: crate::knowledge::KnowledgeAction,
    },
    /// Check the configured MCP servers through the protocol: start or connect, initialize,
    /// list tools.
    Mcp {
        #[command(subcommand)]
        action: crate::mcp::McpAction,
    },
    /// What AI use costs, from Claude Code's usage logs: ccusage's reports.
    Costs {
        #[command(subcommand)]
        report: crate::costs::CostReport,
    },
    /// Analyse a video, audio or text file, or an http(s) address: streams, scene changes,
    /// loudness, silences and thumbnails of media; words, headings, links, language and keywords
    /// of text.
    Analyze {
        /// A file, or an http(s) address.
        source: String,
        /// Only this analysis (repeatable): metadata, scenes, loudness, silence, thumbnails, text.
        #[arg(long = "type", value_name = "TYPE", value_parser = clap::builder::PossibleValuesParser::new(jarvis_api::ANALYSIS_TYPES))]
        types: Vec<String>,
        /// Keep thumbnails of a video in this folder (none are taken without it).
        #[arg(long, value_name = "DIR")]
        thumbnails: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the effective configuration (defaults, file, environment and flags combined).
    Config {
        /// Print JSON instead of TOML.
        #[arg(long)]
        json: bool,
    },
    /// Check that this configuration can work here: data folder, catalog folders, store, API
    /// keys, listening address, runner, ffmpeg, n8n and MCP commands; prints what to fix. Exit
    /// status 1 when a check failed (warnings do not fail).
    Doctor {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Print only what is not ok.
        #[arg(long)]
        quiet: bool,
    },
    /// Ask a running server whether it is alive (`GET /health` on server.host and server.port);
    /// exit status 0 when it answers 200. For container and supervisor health checks.
    Health {
        /// Ask this http:// address instead (e.g. http://127.0.0.1:8080/health).
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysAction {
    /// Create a key and print it once.
    Create {
        /// A name for people and audit lines.
        #[arg(long)]
        name: String,
        /// read, execute or admin (repeatable).
        #[arg(long = "scope", required = true, value_name = "SCOPE")]
        scopes: Vec<jarvis_api::Scope>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List keys (never the keys themselves).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id; a running server stops accepting it within a second.
    Revoke {
        /// The key id.
        id: String,
    },
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let default_file = PathBuf::from("jarvis.toml");
    let file = cli
        .config
        .clone()
        .or_else(|| default_file.is_file().then_some(default_file));
    let environment = Environment::from_process();
    let settings = Settings::load(Sources {
        file: file.as_deref(),
        env: environment
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        extra_projects: cli.projects.clone(),
        log_level: cli.log_level.clone(),
    })?;
    let rust_log = if cli.log_level.is_some() {
        None
    } else {
        std::env::var("RUST_LOG").ok()
    };
    let _guard = telemetry::init(&settings.log, rust_log.as_deref())?;
    let data_dir = settings.storage.data_dir(
        environment.home.as_deref(),
        environment.vars.get("XDG_DATA_HOME").map(String::as_str),
    )?;
    let keys_path = data_dir.join("keys.json");
    // Discovery settings are resolved only by the commands that scan.
    let roots = || settings.discovery.resolve(&environment);
    let mut out = String::new();
    match cli.command {
        Command::Serve { port, host } => {
            let mut server = settings.server.clone();
            if let Some(port) = port {
                server.port = port;
            }
            if let Some(host) = host {
                server.host = host;
            }
            return serve(&settings, server, roots()?, &data_dir);
        }
        Command::Scan {
            json,
            resources,
            all_diagnostics,
            watch,
            no_cache,
        } => {
            let catalog = if no_cache {
                LiveCatalog::load(roots()?)
            } else {
                load_catalog(roots()?, &data_dir)
            };
            let snapshot = catalog.snapshot();
            if json {
                out = serde_json::to_string_pretty(&scan_json(&catalog, &snapshot, resources))?;
            } else {
                write_scan(&mut out, &snapshot, resources, all_diagnostics)?;
            }
            if watch {
                print(&out);
                return watch_forever(catalog, &settings);
            }
        }
        Command::Search {
            query,
            kinds,
            limit,
            include_shadowed,
            json,
        } => {
            let catalog = load_catalog(roots()?, &data_dir);
            let snapshot = catalog.snapshot();
            let query = SearchQuery {
                text: query.join(" "),
                kinds,
                include_shadowed,
                limit: usize::from(limit),
            };
            let started = std::time::Instant::now();
            let hits = snapshot.search(&query);
            let took = started.elapsed();
            if json {
                out = serde_json::to_string_pretty(&json!({
                    "query": query.text,
                    "took_us": took.as_micros() as u64,
                    "hits": hits,
                }))?;
            } else if hits.is_empty() {
                writeln!(out, "No match for \"{}\".", query.text)?;
            } else {
                for (i, hit) in hits.iter().enumerate() {
                    writeln!(
                        out,
                        "{:>2}. {:<10} {}  ({:.2})",
                        i + 1,
                        hit.kind.as_str(),
                        hit.name,
                        hit.score
                    )?;
                    writeln!(out, "    {}", hit.highlight.marked("[", "]"))?;
                }
                writeln!(out, "{} hits in {} µs", hits.len(), took.as_micros())?;
            }
        }
        Command::Keys { action } => return keys_command(&action, &keys_path, &settings.store),
        Command::Doctor { json, quiet } => {
            let inputs = crate::doctor::Inputs {
                file: file.as_deref(),
                settings: &settings,
                environment: &environment,
                data_dir: &data_dir,
                keys_path: &keys_path,
            };
            let (text, code) = crate::doctor::run(&inputs, json, quiet)?;
            if !text.is_empty() {
                print(&text);
            }
            return Ok(code);
        }
        Command::Health { url } => {
            let (text, code) = crate::doctor::health(&settings, url.as_deref())?;
            print(&text);
            return Ok(code);
        }
        Command::Costs { report } => out = crate::costs::run(&report, &settings.costs)?,
        Command::Mcp { action } => {
            let catalog = load_catalog(roots()?, &data_dir);
            let (text, code) = crate::mcp::run(&action, &settings.mcp, &catalog.snapshot())?;
            print(&text);
            return Ok(code);
        }
        Command::Knowledge { action } => {
            let roots = roots()?;
            let projects: Vec<PathBuf> = roots.projects.iter().map(|p| p.path.clone()).collect();
            out = crate::knowledge::run(
                &action,
                &settings.knowledge,
                roots.claude_dir.as_ref().map(|r| r.path.as_path()),
                &projects,
                &data_dir,
            )?;
        }
        Command::Analyze {
            source,
            types,
            thumbnails,
            json,
        } => {
            let request = crate::analyze::Request {
                source,
                types,
                thumbnails,
                json,
            };
            let (text, code) = crate::analyze::run(&request, &settings.analysis, &data_dir)?;
            if !text.is_empty() {
                print(&text);
            }
            return Ok(code);
        }
        Command::Config { json } => {
            let roots = roots()?;
            out = if json {
                serde_json::to_string_pretty(&settings)?
            } else {
                let mut text =
                    toml::to_string_pretty(&settings).context("cannot render the configuration")?;
                text.push_str("\n# Resolved locations\n");
                let mut line = |name: &str, path: Option<&std::path::Path>| {
                    let shown = path.map_or_else(
                        || "(none)".to_owned(),
                        |p| {
                            format!(
                                "{}{}",
                                p.display(),
                                if p.exists() { "" } else { "  (missing)" }
                            )
                        },
                    );
                    let _ = writeln!(text, "#   {name:<15} {shown}");
                };
                line(
                    "claude_dir",
                    roots.claude_dir.as_ref().map(|r| r.path.as_path()),
                );
                line(
                    "claude_json",
                    roots.claude_json.as_ref().map(|r| r.path.as_path()),
                );
                line(
                    "desktop_config",
                    roots.desktop_config.as_ref().map(|r| r.path.as_path()),
                );
                text
            };
        }
    }
    print(&out);
    Ok(ExitCode::SUCCESS)
}

fn keys_command(
    action: &KeysAction,
    path: &std::path::Path,
    shared: &jarvis_store::StoreConfig,
) -> anyhow::Result<ExitCode> {
    // With a shared store the keys are in it, and every running instance hears of a change.
    let database = match shared.postgres() {
        Some(url) => {
            let database: std::sync::Arc<dyn jarvis_store::Store> = std::sync::Arc::new(
                jarvis_store::PostgresStore::open(url.expose(), 2)
                    .context("cannot open the shared store, where API keys are kept")?,
            );
            Some((database, url.shown()))
        }
        None => None,
    };
    let store = jarvis_api::open_keys(database, path).context("cannot open the API key store")?;
    match action {
        KeysAction::Create { name, scopes, json } => {
            let created = store.create(name, scopes)?;
            tracing::info!(target: "jarvis::audit", action = "keys.create", by = "cli", key_id = %created.info.id, key_name = %created.info.name, "API key created");
            if *json {
                print(&serde_json::to_string_pretty(&json!({
                    "id": created.info.id,
                    "name": created.info.name,
                    "scopes": created.info.scopes,
                    "key": created.secret,
                }))?);
            } else {
                let scopes: Vec<&str> = created.info.scopes.iter().map(|s| s.as_str()).collect();
                print(&format!(
                    "Created key {} ({}) with scopes {}.\n\n    {}\n\nThis is the only time it is shown. Send it as `Authorization: Bearer <key>`.",
                    created.info.id,
                    created.info.name,
                    scopes.join(", "),
                    created.secret
                ));
            }
        }
        KeysAction::List { json } => {
            let keys = store.list();
            if *json {
                print(&serde_json::to_string_pretty(&keys)?);
            } else if keys.is_empty() {
                print(&format!(
                    "No API keys in {}: authentication is off (loopback only).",
                    path.display()
                ));
            } else {
                let mut out = String::new();
                for k in keys {
                    let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
                    writeln!(out, "{}  {:<24} {}", k.id, k.name, scopes.join(","))?;
                }
                print(&out);
            }
        }
        KeysAction::Revoke { id } => {
            if !store.revoke(id)? {
                anyhow::bail!("no key with id `{id}`");
            }
            tracing::info!(target: "jarvis::audit", action = "keys.revoke", by = "cli", key_id = %id, "API key revoked");
            print(&format!("Revoked key {id}."));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the HTTP server until SIGINT or SIGTERM, then lets in-flight requests finish.
fn serve(
    settings: &Settings,
    server: jarvis_api::ApiConfig,
    roots: jarvis_discovery::ScanRoots,
    data_dir: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let mut tasks = settings.tasks.clone();
    // A bare runner name is looked up where this process's own `PATH` says.
    tasks.search_path = jarvis_tasks::search_path(&std::env::var_os("PATH").unwrap_or_default());
    let address = server.host.clone();
    let serving = jarvis_api::ServerSettings {
        watch: settings.discovery.watch_options(),
        telemetry: settings.telemetry.clone(),
        tasks,
        n8n: settings.n8n.clone(),
        costs: if settings.costs.enabled {
            Some(
                settings
                    .costs
                    .service_config(&jarvis_costs::LogEnvironment::from_process())
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            )
        } else {
            None
        },
        analysis: settings.analysis.enabled.then(|| settings.analysis.clone()),
        knowledge: settings
            .knowledge
            .enabled
            .then(|| settings.knowledge.clone()),
        mcp: settings.mcp.checks().map_err(|e| anyhow::anyhow!("{e}"))?,
        store: settings.store.clone(),
        ..jarvis_api::ServerSettings::new(server, roots, data_dir)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let server = jarvis_api::Server::start(serving).await?;
        crate::trim::after_reloads(server.catalog());
        let snapshot = server.catalog().snapshot();
        let counts = |k: ResourceKind| snapshot.stats().kinds.get(&k).map_or(0, |c| c.active);
        tracing::info!(
            address = %format!("http://{address}:{}", server.port()),
            agents = counts(ResourceKind::Agent),
            commands = counts(ResourceKind::Command),
            skills = counts(ResourceKind::Skill),
            mcp_servers = counts(ResourceKind::McpServer),
            workflows = counts(ResourceKind::Workflow),
            diagnostics = snapshot.diagnostics().len(),
            "jarvis is listening"
        );
        drop(snapshot);
        let handle = server.handle();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing in-flight requests");
            handle.stop(true).await;
        });
        server
            .run_until_stopped()
            .await
            .context("the server failed")?;
        tracing::info!("stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// Reports every reload on standard output until the process is interrupted.
fn watch_forever(catalog: LiveCatalog, settings: &Settings) -> anyhow::Result<ExitCode> {
    let (tx, rx) = std::sync::mpsc::channel();
    catalog.on_swap(move |snapshot| {
        let _ = tx.send(snapshot.clone());
    });
    let watcher =
        jarvis_discovery::CatalogWatcher::start(catalog, settings.discovery.watch_options())
            .context("cannot start watching")?;
    print(&format!(
        "Watching {} folders; press Ctrl-C to stop.",
        watcher.watched().len()
    ));
    for snapshot in rx {
        let stats = snapshot.stats();
        print(&format!(
            "generation {}: {} resources, {} diagnostics ({:.1} ms)",
            snapshot.generation(),
            snapshot.resources().len(),
            snapshot.diagnostics().len(),
            (stats.duration + stats.index_duration).as_secs_f64() * 1000.0
        ));
    }
    Ok(ExitCode::SUCCESS)
}

#[expect(
    clippy::print_stdout,
    reason = "command output goes to standard output"
)]
fn print(text: &str) {
    if text.ends_with('\n') {
        print!("{text}");
    } else {
        println!("{text}");
    }
}

/// Loads the catalog through its cache in `data_dir` and brings the cache up to date before a
/// one-shot command exits (a write cut short by the exit would be wasted). A cache that cannot
/// be written is only a warning: the command has its answer.
fn load_catalog(roots: jarvis_discovery::ScanRoots, data_dir: &std::path::Path) -> LiveCatalog {
    let catalog = LiveCatalog::load_cached(roots, data_dir.join(jarvis_api::CATALOG_CACHE));
    // Logged, and in the cache status, by the catalog.
    let _ = catalog.save_cache();
    catalog
}

fn scan_json(
    catalog: &LiveCatalog,
    snapshot: &CatalogSnapshot,
    with_resources: bool,
) -> serde_json::Value {
    let stats = snapshot.stats();
    let (terms, postings) = snapshot.index_size();
    let mut value = json!({
        "generation": snapshot.generation(),
        "duration_ms": stats.duration.as_secs_f64() * 1000.0,
        "index_duration_ms": stats.index_duration.as_secs_f64() * 1000.0,
        "files_read": stats.files_read,
        "kinds": stats.kinds_by_plural(),
        "index": { "terms": terms, "postings": postings },
        "body_bytes": snapshot.body_bytes(),
        "reuse": stats.reuse,
        "cache": catalog.cache_status(),
        "memory": memory(),
        "diagnostics": snapshot.diagnostics(),
    });
    if with_resources {
        value["resources"] = json!(snapshot.resources());
    }
    value
}

/// The process's resident and peak resident memory, where the platform tells (Linux).
fn memory() -> serde_json::Value {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    json!({
        "resident_bytes": field("VmRSS:"),
        "peak_resident_bytes": field("VmHWM:"),
    })
}

fn write_scan(
    out: &mut String,
    snapshot: &CatalogSnapshot,
    with_resources: bool,
    all_diagnostics: bool,
) -> anyhow::Result<()> {
    /// How many diagnostics the summary lists before pointing at `--all-diagnostics`.
    const SHOWN: usize = 20;
    let stats = snapshot.stats();
    writeln!(
        out,
        "Scanned {} files in {:.1} ms (search index {:.1} ms)",
        stats.files_read,
        stats.duration.as_secs_f64() * 1000.0,
        stats.index_duration.as_secs_f64() * 1000.0
    )?;
    for kind in ResourceKind::ALL {
        let count = stats.kinds.get(&kind).copied().unwrap_or_default();
        writeln!(
            out,
            "  {:<12} {:>5}   ({} active, {} shadowed)",
            kind.plural(),
            count.total,
            count.active,
            count.shadowed
        )?;
    }
    let diags = snapshot.diagnostics();
    let count = |s: Severity| diags.iter().filter(|d| d.severity == s).count();
    writeln!(
        out,
        "Diagnostics: {} ({} errors, {} warnings, {} info)",
        diags.len(),
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info)
    )?;
    let mut by_code: BTreeMap<&str, usize> = BTreeMap::new();
    for d in diags {
        *by_code.entry(d.code.as_str()).or_default() += 1;
    }
    for (code, n) in &by_code {
        writeln!(out, "  {n:>5}  {code}")?;
    }
    let mut listed: Vec<&jarvis_core::Diagnostic> = diags.iter().collect();
    // Most severe first; the order within a severity is the scan's.
    listed.sort_by_key(|d| std::cmp::Reverse(d.severity));
    if !all_diagnostics {
        listed.retain(|d| d.severity != Severity::Info);
    }
    let hidden = if all_diagnostics {
        0
    } else {
        listed.len().saturating_sub(SHOWN)
    };
    if !all_diagnostics {
        listed.truncate(SHOWN);
    }
    for d in listed {
        let severity = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        writeln!(out, "  {severity:<7} {d}")?;
    }
    if !all_diagnostics {
        writeln!(
            out,
            "  ({hidden} more errors and warnings, and every info line, with --all-diagnostics or --json)"
        )?;
    }
    if with_resources {
        writeln!(out, "Resources:")?;
        for r in snapshot.resources() {
            let state = if r.is_active() { "" } else { "  (shadowed)" };
            writeln!(
                out,
                "  {:<10} {:<8} {}{state}",
                r.kind.as_str(),
                r.scope.as_str(),
                r.qualified_name
            )?;
        }
    }
    Ok(())
}
