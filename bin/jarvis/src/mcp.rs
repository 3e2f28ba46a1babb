//! `jarvis mcp check [NAME]`: the server's MCP health checks, run here and now, as a table.
//!
//! Running the command is the user's own request, so it checks even while `mcp.health_checks`
//! is off; a project server refused in `~/.claude.json` is still never started.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use jarvis_core::ResourceKind;
use jarvis_discovery::CatalogSnapshot;
use jarvis_integrations::mcp::{McpConfig, McpHealth, McpStatus, McpTarget};
use serde_json::json;

/// What `jarvis mcp` does.
#[derive(Debug, Subcommand)]
pub enum McpAction {
    /// Start (or connect to) each configured MCP server, initialize it, list its tools, and
    /// report. Exits 1 when any server is unhealthy.
    Check {
        /// Only this server (its name or id); it is checked even if not yet approved.
        name: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `action` over the catalog in `snapshot`; returns what to print and the exit status.
pub fn run(
    action: &McpAction,
    config: &McpConfig,
    snapshot: &CatalogSnapshot,
) -> anyhow::Result<(String, ExitCode)> {
    let McpAction::Check { name, json } = action;
    let checks = config.checks().map_err(|e| anyhow::anyhow!("{e}"))?;
    let targets: Vec<McpTarget> = match name {
        Some(name) => {
            let resource = snapshot
                .find(ResourceKind::McpServer, name)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            McpTarget::from_resource(resource, true)
                .into_iter()
                .collect()
        }
        None => jarvis_integrations::mcp::targets(
            snapshot.of_kind(ResourceKind::McpServer),
            checks.check_unapproved,
        ),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let limit = checks.concurrency;
    let results: Vec<McpHealth> = runtime.block_on(async {
        let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(limit));
        let running: Vec<_> = targets
            .iter()
            .map(|target| {
                let (target, checks, permits) = (
                    target.clone(),
                    checks.clone(),
                    std::sync::Arc::clone(&permits),
                );
                tokio::spawn(async move {
                    let _permit = permits.acquire().await;
                    jarvis_integrations::mcp::probe(&target, &checks).await
                })
            })
            .collect();
        let mut results = Vec::with_capacity(running.len());
        for check in running {
            results.push(check.await.unwrap_or_else(|e| {
                McpHealth::idle(McpStatus::Unhealthy, format!("the check failed: {e}"))
            }));
        }
        results
    });
    let failed = results.iter().any(|h| h.status == McpStatus::Unhealthy);
    let code = if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    if *json {
        let items: Vec<_> = targets
            .iter()
            .zip(&results)
            .map(|(t, h)| {
                json!({
                    "id": t.id,
                    "name": t.name,
                    "transport": t.transport,
                    "health": h,
                })
            })
            .collect();
        return Ok((serde_json::to_string_pretty(&items)?, code));
    }
    Ok((table(snapshot, &targets, &results, name.is_some())?, code))
}

fn table(
    snapshot: &CatalogSnapshot,
    targets: &[McpTarget],
    results: &[McpHealth],
    one: bool,
) -> anyhow::Result<String> {
    let mut out = String::new();
    if targets.is_empty() {
        let configured = snapshot.of_kind(ResourceKind::McpServer).count();
        writeln!(
            out,
            "No MCP server to check ({configured} configured, none in effect)."
        )?;
        return Ok(out);
    }
    let width = targets
        .iter()
        .map(|t| t.name.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(
        out,
        "{:<width$}  {:<9}  {:<5}  {:>8}  {:>5}  SERVER / PROBLEM",
        "NAME", "STATUS", "VIA", "TIME", "TOOLS"
    )?;
    for (target, health) in targets.iter().zip(results) {
        let time = health
            .duration_ms
            .map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms"));
        let tools = health
            .tool_count
            .map_or_else(|| "-".to_owned(), |n| n.to_string());
        let detail = match (&health.error, &health.server_name) {
            (Some(error), _) if health.status == McpStatus::Unhealthy => {
                format!("{}: {}", error.code.as_str(), error.message)
            }
            (_, Some(server)) => {
                let mut line = format!(
                    "{server} {}",
                    health.server_version.as_deref().unwrap_or("")
                );
                if let Some(protocol) = &health.protocol_version {
                    let _ = write!(line, " (protocol {protocol})");
                }
                if let Some(reason) = &health.reason {
                    let _ = write!(line, " — {reason}");
                }
                line
            }
            _ => health.reason.clone().unwrap_or_default(),
        };
        writeln!(
            out,
            "{:<width$}  {:<9}  {:<5}  {:>8}  {:>5}  {}",
            target.name,
            health.status.as_str(),
            target.transport.as_str(),
            time,
            tools,
            detail.trim()
        )?;
    }
    if one {
        let health = &results[0];
        if !health.tools.is_empty() {
            writeln!(out, "\nTools:")?;
            for tool in &health.tools {
                match &tool.description {
                    Some(d) => writeln!(out, "  {:<24} {}", tool.name, first_line(d))?,
                    None => writeln!(out, "  {}", tool.name)?,
                }
            }
        }
        if !health.steps.is_empty() {
            let steps: Vec<String> = health
                .steps
                .iter()
                .map(|s| {
                    let failed = if s.ok { "" } else { " (failed)" };
                    format!("{} {} ms{failed}", s.step.as_str(), s.ms)
                })
                .collect();
            writeln!(out, "\nSteps: {}", steps.join(", "))?;
        }
        if let Some(tail) = &health.stderr_tail
            && health.status == McpStatus::Unhealthy
        {
            writeln!(out, "\nLast stderr:\n{tail}")?;
        }
    }
    let shadowed = snapshot
        .of_kind(ResourceKind::McpServer)
        .filter(|r| !r.is_active())
        .count();
    if shadowed > 0 && !one {
        writeln!(
            out,
            "\n{shadowed} shadowed definition(s) not checked (Claude Code does not start them)."
        )?;
    }
    Ok(out)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}
