//! `jarvis doctor`: whether this configuration can work here — the data folder, the catalog
//! folders, the store, API keys, the listening address, the task runner, ffmpeg, n8n and the MCP
//! servers' commands — with what to fix; and `jarvis health`, which asks a running server's
//! `/health` (a container's health check, with no curl in the image).

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream, ToSocketAddrs as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use jarvis_core::{ResourceKind, Severity};
use jarvis_discovery::{Environment, LiveCatalog};
use serde::Serialize;

use crate::settings::Settings;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Works.
    Ok,
    /// Works, but something is missing or off; the server starts.
    Warn,
    /// The server cannot start or cannot do its work.
    Fail,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One check: what it looked at, what it found, and what to do about it.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// A short name (`store`, `runner`).
    pub check: &'static str,
    /// The outcome.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do, when something is to be done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn ok(check: &'static str, detail: impl Into<String>) -> Check {
    Check {
        check,
        status: Status::Ok,
        detail: detail.into(),
        fix: None,
    }
}

fn warn(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        check,
        status: Status::Warn,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

fn fail(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        check,
        status: Status::Fail,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

/// What the checks read.
pub struct Inputs<'a> {
    /// The configuration file in use, if any.
    pub file: Option<&'a Path>,
    /// The effective settings.
    pub settings: &'a Settings,
    /// Home and environment variables.
    pub environment: &'a Environment,
    /// The data folder.
    pub data_dir: &'a Path,
    /// Where keys are kept on a store of this instance's own.
    pub keys_path: &'a Path,
}

/// Runs every check; answers the report and the exit status (1 when any check failed).
pub fn run(inputs: &Inputs<'_>, json: bool, quiet: bool) -> anyhow::Result<(String, ExitCode)> {
    let checks = checks(inputs);
    let failed = checks.iter().any(|c| c.status == Status::Fail);
    let code = if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    if json {
        return Ok((serde_json::to_string_pretty(&checks)?, code));
    }
    let mut out = String::new();
    for c in checks.iter().filter(|c| !quiet || c.status != Status::Ok) {
        writeln!(out, "{:<5} {:<16} {}", c.status.as_str(), c.check, c.detail)?;
        if let Some(fix) = &c.fix {
            writeln!(out, "{:<22} fix: {fix}", "")?;
        }
    }
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    if !quiet || failed || count(Status::Warn) > 0 {
        writeln!(
            out,
            "{} checks: {} ok, {} to look at, {} failed",
            checks.len(),
            count(Status::Ok),
            count(Status::Warn),
            count(Status::Fail)
        )?;
    }
    Ok((out, code))
}

/// Every check, in the order a reader fixes things.
pub fn checks(inputs: &Inputs<'_>) -> Vec<Check> {
    let settings = inputs.settings;
    let mut checks = vec![
        match inputs.file {
            Some(file) => ok("configuration", format!("valid: {}", file.display())),
            None => ok(
                "configuration",
                "valid: built-in defaults and JARVIS__* variables (no jarvis.toml)",
            ),
        },
        data_folder(inputs.data_dir),
    ];
    checks.extend(catalog(inputs));
    let (store, keys) = store_and_keys(inputs);
    checks.push(store);
    checks.push(keys.clone());
    checks.push(address(settings, keys.status == Status::Fail));
    checks.push(runner(settings, inputs.environment));
    checks.push(media(settings, inputs.environment));
    checks.push(n8n(settings));
    checks
}

fn data_folder(dir: &Path) -> Check {
    const CHECK: &str = "data folder";
    if dir.is_dir() {
        return match writable(dir) {
            Ok(()) => ok(CHECK, format!("{} (writable)", dir.display())),
            Err(e) => fail(
                CHECK,
                format!("{} is not writable: {e}", dir.display()),
                "give the user Jarvis runs as write access, or set storage.data_dir",
            ),
        };
    }
    if dir.exists() {
        return fail(
            CHECK,
            format!("{} is not a folder", dir.display()),
            "set storage.data_dir to a folder",
        );
    }
    // Created at start: the nearest existing parent must allow it.
    let parent = dir.ancestors().skip(1).find(|p| p.exists());
    match parent {
        Some(parent) if writable(parent).is_ok() => {
            ok(CHECK, format!("{} (created at start)", dir.display()))
        }
        _ => fail(
            CHECK,
            format!("{} does not exist and cannot be created", dir.display()),
            "create it for the user Jarvis runs as, or set storage.data_dir",
        ),
    }
}

/// Whether something can be created in `dir`: a folder is made there and removed again.
fn writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".jarvis-doctor-{}", std::process::id()));
    std::fs::create_dir(&probe)?;
    std::fs::remove_dir(&probe)
}

/// The catalog folders, a scan of them, and the MCP servers' commands.
fn catalog(inputs: &Inputs<'_>) -> Vec<Check> {
    let roots = match inputs.settings.discovery.resolve(inputs.environment) {
        Ok(roots) => roots,
        Err(e) => {
            return vec![fail(
                "catalog",
                format!("{e:#}"),
                "fix the [discovery] settings",
            )];
        }
    };
    let claude_dir = roots.claude_dir.as_ref().map(|r| r.path.clone());
    let catalog = LiveCatalog::load(roots);
    let snapshot = catalog.snapshot();
    let stats = snapshot.stats();
    let counts: Vec<String> = stats
        .kinds
        .iter()
        .filter(|(_, k)| k.total > 0)
        .map(|(kind, k)| format!("{} {}", k.total, kind.plural()))
        .collect();
    let diagnostics = snapshot.diagnostics();
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let found = if counts.is_empty() {
        "nothing found".to_owned()
    } else {
        counts.join(", ")
    };
    let mut checks = Vec::new();
    let missing_claude = claude_dir.as_ref().is_none_or(|dir| !dir.is_dir());
    checks.push(if missing_claude {
        warn(
            "catalog",
            format!(
                "{found}; the Claude folder {} does not exist",
                claude_dir.map_or_else(|| "(none)".into(), |d| d.display().to_string())
            ),
            "set discovery.claude_dir (or CLAUDE_CONFIG_DIR) to the folder holding agents/, commands/ and skills/",
        )
    } else if errors > 0 {
        warn(
            "catalog",
            format!(
                "{found}; {errors} file(s) could not be read ({} diagnostics)",
                diagnostics.len()
            ),
            "see `jarvis scan --all-diagnostics`",
        )
    } else {
        ok(
            "catalog",
            format!("{found}; {} diagnostics, none an error", diagnostics.len()),
        )
    });

    let path = search_path(inputs.environment);
    let stdio: Vec<(String, String)> = snapshot
        .of_kind(ResourceKind::McpServer)
        .filter(|r| r.is_active())
        .filter_map(|r| match &r.details {
            jarvis_core::Details::McpServer(details) => {
                Some((r.name.clone(), details.command.clone()?))
            }
            _ => None,
        })
        .collect();
    let missing: Vec<String> = stdio
        .iter()
        .filter(|(_, command)| !jarvis_tasks::find_program(command, &path))
        .map(|(name, command)| format!("{name} (`{command}`)"))
        .collect();
    checks.push(if stdio.is_empty() {
        ok("mcp commands", "no MCP server started by command")
    } else if missing.is_empty() {
        ok(
            "mcp commands",
            format!("{} server command(s) found", stdio.len()),
        )
    } else {
        warn(
            "mcp commands",
            format!(
                "{} of {} not found: {}",
                missing.len(),
                stdio.len(),
                missing.join(", ")
            ),
            "install them or fix their `command`; `jarvis mcp check` tries each server",
        )
    });
    checks
}

fn store_and_keys(inputs: &Inputs<'_>) -> (Check, Check) {
    let config = &inputs.settings.store;
    let store = match config.postgres() {
        Some(url) => match jarvis_store::PostgresStore::open(url.expose(), 1) {
            Ok(store) => {
                let store: std::sync::Arc<dyn jarvis_store::Store> = std::sync::Arc::new(store);
                let alive: Vec<String> = jarvis_store::Store::list_instances(store.as_ref(), 100)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|i| i.stopped_at.is_none())
                    .map(|i| format!("{} on {}", i.name, i.host))
                    .collect();
                let detail = if alive.is_empty() {
                    format!("PostgreSQL {} (no instance running)", url.shown())
                } else {
                    format!(
                        "PostgreSQL {} ({} running: {})",
                        url.shown(),
                        alive.len(),
                        alive.join(", ")
                    )
                };
                Ok((ok("store", detail), Some(store)))
            }
            Err(e) => Err(fail(
                "store",
                format!("PostgreSQL {}: {e}", url.shown()),
                "check store.url, that PostgreSQL runs and is reachable, and the user's rights",
            )),
        },
        None => {
            let path = inputs.data_dir.join("jarvis.db");
            if path.exists() {
                match jarvis_store::SqliteStore::open(&path) {
                    Ok(_) => Ok((ok("store", format!("SQLite {}", path.display())), None)),
                    Err(e) => Err(fail(
                        "store",
                        format!("SQLite {}: {e}", path.display()),
                        "move the file aside to start afresh, or restore it from a backup",
                    )),
                }
            } else {
                Ok((
                    ok(
                        "store",
                        format!("SQLite {} (created at start)", path.display()),
                    ),
                    None,
                ))
            }
        }
    };
    let (store_check, shared) = match store {
        Ok(pair) => pair,
        Err(check) => {
            let keys = warn(
                "api keys",
                "not read: the store is unavailable",
                "fix the store first",
            );
            return (check, keys);
        }
    };
    let shown = config.postgres().map(|url| url.shown()).unwrap_or_default();
    let keys = jarvis_api::open_keys(shared.map(|store| (store, shown)), inputs.keys_path);
    let server = &inputs.settings.server;
    let keys_check = match keys {
        Ok(keys) if keys.is_empty() => {
            if server.is_loopback() {
                ok(
                    "api keys",
                    "none: authentication is off and only loopback is served",
                )
            } else if server.auth.allow_unauthenticated_public || server.auth.jwt.is_some() {
                ok(
                    "api keys",
                    "none (tokens or an explicit opt-out protect the address)",
                )
            } else {
                fail(
                    "api keys",
                    format!("none, and server.host {} is not loopback", server.host),
                    "create one: `jarvis keys create --name ops --scope admin`",
                )
            }
        }
        Ok(keys) => ok("api keys", format!("{} key(s)", keys.list().len())),
        Err(e) => fail(
            "api keys",
            format!("{e}"),
            "fix or move aside the key file named",
        ),
    };
    (store_check, keys_check)
}

fn address(settings: &Settings, refused: bool) -> Check {
    const CHECK: &str = "listen address";
    let server = &settings.server;
    let address = format!("{}:{}", server.host, server.port);
    if refused {
        return fail(
            CHECK,
            format!("{address}: refused without keys"),
            "see api keys above",
        );
    }
    match TcpListener::bind(&address) {
        Ok(_) => ok(CHECK, format!("{address} is free")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => warn(
            CHECK,
            format!("{address} is in use (by a running Jarvis?)"),
            "stop what listens there, or set server.port",
        ),
        Err(e) => fail(
            CHECK,
            format!("{address} cannot be bound: {e}"),
            "set server.host to an address of this machine, and server.port to one you may use",
        ),
    }
}

fn search_path(environment: &Environment) -> Vec<PathBuf> {
    environment
        .vars
        .get("PATH")
        .map(|p| jarvis_tasks::search_path(p.as_ref()))
        .unwrap_or_default()
}

fn runner(settings: &Settings, environment: &Environment) -> Check {
    let program = settings.tasks.runner.first().map_or("", String::as_str);
    if jarvis_tasks::find_program(program, &search_path(environment)) {
        ok("runner", format!("`{program}` found"))
    } else {
        warn(
            "runner",
            format!("`{program}` is not an executable file or on PATH: tasks will fail"),
            "install Claude Code, or set tasks.runner to the program that runs a prompt",
        )
    }
}

fn media(settings: &Settings, environment: &Environment) -> Check {
    let media = &settings.analysis.media;
    if !settings.analysis.enabled {
        return ok("ffmpeg", "not needed: analysis.enabled = false");
    }
    let path = search_path(environment);
    let missing: Vec<&str> = [media.ffprobe.as_str(), media.ffmpeg.as_str()]
        .into_iter()
        .filter(|p| !jarvis_tasks::find_program(p, &path))
        .collect();
    if missing.is_empty() {
        ok(
            "ffmpeg",
            format!("`{}` and `{}` found", media.ffprobe, media.ffmpeg),
        )
    } else {
        warn(
            "ffmpeg",
            format!(
                "not found: {}; audio and video analysis will be refused (text and pages still work)",
                missing.join(", ")
            ),
            "install ffmpeg (Debian: apt-get install ffmpeg), or set analysis.media.ffmpeg and ffprobe",
        )
    }
}

fn n8n(settings: &Settings) -> Check {
    let config = &settings.n8n;
    if config.base_url.is_empty() {
        return ok("n8n", "not configured");
    }
    let answer = jarvis_integrations::N8nClient::new(config)
        .map_err(|e| e.to_string())
        .and_then(|client| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                match tokio::time::timeout(Duration::from_secs(10), client.health()).await {
                    Ok(Ok(())) => Ok(client.has_api_key()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("no answer within 10 s".into()),
                }
            })
        });
    match answer {
        Ok(true) => ok("n8n", format!("{} answers", config.base_url)),
        Ok(false) => warn(
            "n8n",
            format!("{} answers, but no API key is set", config.base_url),
            "set n8n.api_key (n8n: Settings → n8n API) to list workflows and executions",
        ),
        Err(e) => {
            let detail = format!("{}: {e}", config.base_url);
            let fix = "start n8n, or fix n8n.base_url";
            if config.required {
                fail("n8n", detail, fix)
            } else {
                warn("n8n", detail, fix)
            }
        }
    }
}

/// `jarvis health`: asks `http://HOST:PORT/health` (the configured address, or `url`) and
/// answers success when it says 200.
pub fn health(settings: &Settings, url: Option<&str>) -> anyhow::Result<(String, ExitCode)> {
    let (host, port, path) = match url {
        Some(url) => parse_url(url)?,
        None => {
            let host = match settings.server.host.as_str() {
                "0.0.0.0" => "127.0.0.1".to_owned(),
                "::" | "[::]" => "::1".to_owned(),
                other => other.to_owned(),
            };
            (host, settings.server.port, "/health".to_owned())
        }
    };
    let shown = if host.contains(':') {
        format!("http://[{host}]:{port}{path}")
    } else {
        format!("http://{host}:{port}{path}")
    };
    match get(&host, port, &path) {
        Ok(200) => Ok((format!("{shown}: ok"), ExitCode::SUCCESS)),
        Ok(status) => Ok((format!("{shown}: HTTP {status}"), ExitCode::FAILURE)),
        Err(e) => Ok((format!("{shown}: {e}"), ExitCode::FAILURE)),
    }
}

fn parse_url(url: &str) -> anyhow::Result<(String, u16, String)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("`{url}` is not an http:// address"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/health" } else { path };
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| anyhow::anyhow!("`{url}`: an unclosed `[`"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(port) => port
            .parse::<u16>()
            .map_err(|_| anyhow::anyhow!("`{url}`: the port is not a number from 0 to 65535"))?,
        None => 80,
    };
    if host.is_empty() {
        anyhow::bail!("`{url}` names no host");
    }
    Ok((host.to_owned(), port, path.to_owned()))
}

/// One HTTP/1.1 GET; answers the status code.
fn get(host: &str, port: u16, path: &str) -> std::io::Result<u16> {
    let timeout = Duration::from_secs(5);
    let address = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("the name resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let host_header = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\nUser-Agent: jarvis-health\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < 12 {
        let n = stream.read(&mut head[read..])?;
        if n == 0 {
            break;
        }
        read += n;
    }
    let line = String::from_utf8_lossy(&head[..read]);
    line.strip_prefix("HTTP/1.1 ")
        .or_else(|| line.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("the answer is not HTTP"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_with_their_defaults() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080").unwrap(),
            ("127.0.0.1".to_owned(), 8080, "/health".to_owned())
        );
        assert_eq!(
            parse_url("http://[::1]:9/ready").unwrap(),
            ("::1".to_owned(), 9, "/ready".to_owned())
        );
        assert_eq!(
            parse_url("http://example").unwrap(),
            ("example".to_owned(), 80, "/health".to_owned())
        );
        for bad in ["https://x", "http://:80", "http://x:port", "http://[::1"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
