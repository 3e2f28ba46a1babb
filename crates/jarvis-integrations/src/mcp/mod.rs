//! MCP server health, asked through the protocol itself: start or connect to a configured
//! server the way a client would, run `initialize`, list its tools (and its resources and
//! prompts where it offers them), shut it down, and report what happened.
//!
//! [`probe`] checks one server once; [`McpMonitor`] keeps every configured server checked —
//! periodically, with backoff for failing servers, a bounded number at a time — and answers
//! on-demand checks. Only servers from the catalog are checked: a [`McpTarget`] is built from a
//! catalog [`Resource`], never from a request.
//!
//! stdio servers run in a process group of their own with their configured `env`, die with the
//! process that started them, and are killed as a group when the check ends or times out.
//! Secrets (`env` and `headers` values, passwords in URLs) are handed to the server and to
//! nobody else: whatever the server writes back is scrubbed of them before it is kept.

mod monitor;
mod probe;
mod sse;
mod stdio;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use jarvis_core::{
    Details, MASK, McpApproval, McpLaunch, McpTransport, Resource, ResourceId, Secret,
    mask_url_password,
};
use serde::{Deserialize, Serialize};

pub use monitor::{McpEvent, McpMonitor};
pub use probe::probe;

/// The targets for every MCP server in effect in `resources` (shadowed ones are not checked:
/// Claude Code does not start them either).
pub fn targets<'a>(
    resources: impl IntoIterator<Item = &'a Resource>,
    check_unapproved: bool,
) -> Vec<McpTarget> {
    resources
        .into_iter()
        .filter(|r| r.is_active())
        .filter_map(|r| McpTarget::from_resource(r, check_unapproved))
        .collect()
}

/// The `[mcp]` settings section: whether and how MCP servers are checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// Check configured servers (starts the programs they name). Default: off.
    pub health_checks: bool,
    /// Seconds between checks of a healthy server (at least 10).
    pub interval_secs: u64,
    /// Seconds before the first re-check of a failing server; doubles per failure.
    pub retry_secs: u64,
    /// The longest wait between checks of a failing server, in seconds.
    pub max_backoff_secs: u64,
    /// The limit for each step, in milliseconds (100 to 120000), unless a server sets its own.
    pub timeout_ms: u64,
    /// A check slower than this (ms) is `degraded`.
    pub slow_ms: u64,
    /// Checks at once (1 to 32).
    pub concurrency: usize,
    /// Also start project `.mcp.json` servers not yet approved in `~/.claude.json`.
    pub check_unapproved: bool,
}

impl Default for McpConfig {
    fn default() -> Self {
        let checks = McpCheckConfig::default();
        McpConfig {
            health_checks: checks.enabled,
            interval_secs: checks.interval.as_secs(),
            retry_secs: checks.retry.as_secs(),
            max_backoff_secs: checks.max_backoff.as_secs(),
            timeout_ms: u64::try_from(checks.timeout.as_millis()).unwrap_or(u64::MAX),
            slow_ms: u64::try_from(checks.slow.as_millis()).unwrap_or(u64::MAX),
            concurrency: checks.concurrency,
            check_unapproved: checks.check_unapproved,
        }
    }
}

impl McpConfig {
    /// The checks these settings ask for, or the first setting out of range.
    pub fn checks(&self) -> crate::Result<McpCheckConfig> {
        let invalid = |key: &str, reason: &str| crate::Error::Config {
            key: format!("mcp.{key}"),
            reason: reason.to_owned(),
        };
        if self.interval_secs < 10 {
            return Err(invalid("interval_secs", "must be at least 10"));
        }
        if self.retry_secs == 0 {
            return Err(invalid("retry_secs", "must be at least 1"));
        }
        if self.max_backoff_secs < self.retry_secs {
            return Err(invalid("max_backoff_secs", "must be at least retry_secs"));
        }
        if !(100..=120_000).contains(&self.timeout_ms) {
            return Err(invalid("timeout_ms", "must be from 100 to 120000"));
        }
        if self.slow_ms == 0 {
            return Err(invalid("slow_ms", "must be greater than 0"));
        }
        if !(1..=32).contains(&self.concurrency) {
            return Err(invalid("concurrency", "must be from 1 to 32"));
        }
        Ok(McpCheckConfig {
            enabled: self.health_checks,
            interval: Duration::from_secs(self.interval_secs),
            retry: Duration::from_secs(self.retry_secs),
            max_backoff: Duration::from_secs(self.max_backoff_secs),
            timeout: Duration::from_millis(self.timeout_ms),
            slow: Duration::from_millis(self.slow_ms),
            concurrency: self.concurrency,
            check_unapproved: self.check_unapproved,
        })
    }
}

/// How MCP servers are checked (validated from [`McpConfig`]).
#[derive(Debug, Clone)]
pub struct McpCheckConfig {
    /// Whether the server checks them at all (`mcp.health_checks`). Off by default: a check
    /// starts programs the user configured.
    pub enabled: bool,
    /// Time between checks of a healthy server.
    pub interval: Duration,
    /// The first wait after a failed check; it doubles with each failure after.
    pub retry: Duration,
    /// The longest wait between checks of a failing server.
    pub max_backoff: Duration,
    /// The limit for each step (start, `initialize`, each list), unless the server's own
    /// `timeout` is set.
    pub timeout: Duration,
    /// A check that takes longer than this is `degraded`.
    pub slow: Duration,
    /// How many checks run at once.
    pub concurrency: usize,
    /// Whether project `.mcp.json` servers the user has not approved in `~/.claude.json` are
    /// started. Off by default: a cloned repository's `.mcp.json` is somebody else's command.
    pub check_unapproved: bool,
}

impl Default for McpCheckConfig {
    fn default() -> Self {
        McpCheckConfig {
            enabled: false,
            interval: Duration::from_secs(300),
            retry: Duration::from_secs(30),
            max_backoff: Duration::from_secs(1800),
            timeout: Duration::from_secs(10),
            slow: Duration::from_secs(3),
            concurrency: 4,
            check_unapproved: false,
        }
    }
}

/// A server's health, as a word.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum McpStatus {
    /// Initialized and listed everything it offers, in time.
    Healthy,
    /// Answered, but slowly or only in part (a list failed).
    Degraded,
    /// Could not be started, reached or initialized.
    Unhealthy,
    /// Not checked on purpose: checks are off, the user refused the server, or its transport
    /// cannot be checked.
    Disabled,
    /// Not checked yet.
    Unchecked,
}

impl McpStatus {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            McpStatus::Healthy => "healthy",
            McpStatus::Degraded => "degraded",
            McpStatus::Unhealthy => "unhealthy",
            McpStatus::Disabled => "disabled",
            McpStatus::Unchecked => "unchecked",
        }
    }

    /// Every status, in order of health.
    pub const ALL: [McpStatus; 5] = [
        McpStatus::Healthy,
        McpStatus::Degraded,
        McpStatus::Unhealthy,
        McpStatus::Disabled,
        McpStatus::Unchecked,
    ];
}

/// Why a check failed: a stable code.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum McpProblemCode {
    /// The command could not be started (not found, not executable).
    SpawnFailed,
    /// The process exited before the check was done.
    Exited,
    /// A step did not finish in time.
    Timeout,
    /// The server answered something that is not MCP (malformed JSON, wrong messages, a
    /// JSON-RPC error to `initialize`, no common protocol version).
    ProtocolError,
    /// The endpoint answered with an HTTP error status.
    HttpStatus,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// The endpoint could not be reached (refused, no route, name not found).
    ConnectFailed,
}

impl McpProblemCode {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            McpProblemCode::SpawnFailed => "spawn_failed",
            McpProblemCode::Exited => "exited",
            McpProblemCode::Timeout => "timeout",
            McpProblemCode::ProtocolError => "protocol_error",
            McpProblemCode::HttpStatus => "http_status",
            McpProblemCode::Tls => "tls",
            McpProblemCode::ConnectFailed => "connect_failed",
        }
    }
}

/// A step of a check.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum McpStep {
    /// Starting the process (stdio) or opening the connection (sse).
    #[serde(rename = "start")]
    Start,
    /// `initialize` and its `initialized` notification.
    #[serde(rename = "initialize")]
    Initialize,
    /// `tools/list`, every page.
    #[serde(rename = "tools/list")]
    ToolsList,
    /// `resources/list`, every page.
    #[serde(rename = "resources/list")]
    ResourcesList,
    /// `prompts/list`, every page.
    #[serde(rename = "prompts/list")]
    PromptsList,
    /// Closing the session and stopping the process.
    #[serde(rename = "shutdown")]
    Shutdown,
}

impl McpStep {
    /// The name, as serialized.
    pub const fn as_str(self) -> &'static str {
        match self {
            McpStep::Start => "start",
            McpStep::Initialize => "initialize",
            McpStep::ToolsList => "tools/list",
            McpStep::ResourcesList => "resources/list",
            McpStep::PromptsList => "prompts/list",
            McpStep::Shutdown => "shutdown",
        }
    }
}

/// How long a step took, and whether it worked.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct McpStepTime {
    /// The step.
    pub step: McpStep,
    /// Milliseconds.
    pub ms: u64,
    /// Whether it worked.
    pub ok: bool,
}

/// What went wrong.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct McpProblem {
    /// A stable code.
    pub code: McpProblemCode,
    /// The step it happened in.
    pub step: McpStep,
    /// What happened, in words (secrets scrubbed).
    pub message: String,
    /// The HTTP status, for `http_status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
}

/// A tool the server offers.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct McpToolInfo {
    /// Its name.
    pub name: String,
    /// Its description (cut to 500 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The last check of one server, and when the next is due.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct McpHealth {
    /// The status.
    pub status: McpStatus,
    /// Why it is `disabled` or `unchecked`, or what made it `degraded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the last check ended (ms since the Unix epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<i64>,
    /// When the next periodic check is due (ms since the Unix epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_check_at: Option<i64>,
    /// How long the whole check took (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Each step's time.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<McpStepTime>,
    /// The name the server gave in `initialize`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// The version it gave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// The protocol version agreed on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    /// How many tools it lists (absent when it offers none or listing failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_count: Option<usize>,
    /// Its tools.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<McpToolInfo>,
    /// How many resources it lists, where it offers resources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_count: Option<usize>,
    /// How many prompts it lists, where it offers prompts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_count: Option<usize>,
    /// What went wrong (unhealthy), or the first thing that went wrong (degraded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<McpProblem>,
    /// The last lines the process wrote to stderr (stdio; secrets scrubbed, 2 KB at most).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr_tail: Option<String>,
    /// Failed checks in a row.
    pub consecutive_failures: u32,
}

impl McpHealth {
    /// A health with only a status and its reason.
    pub fn idle(status: McpStatus, reason: impl Into<String>) -> McpHealth {
        McpHealth {
            status,
            reason: Some(reason.into()),
            checked_at: None,
            next_check_at: None,
            duration_ms: None,
            steps: Vec::new(),
            server_name: None,
            server_version: None,
            protocol_version: None,
            tool_count: None,
            tools: Vec::new(),
            resource_count: None,
            prompt_count: None,
            error: None,
            stderr_tail: None,
            consecutive_failures: 0,
        }
    }

    /// Whether the check reached the server and it answered (healthy or degraded).
    pub fn is_up(&self) -> bool {
        matches!(self.status, McpStatus::Healthy | McpStatus::Degraded)
    }
}

/// One configured server, as a check needs it. Built only from the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct McpTarget {
    /// The catalog id.
    pub id: ResourceId,
    /// The server's name.
    pub name: String,
    /// The transport.
    pub transport: McpTransport,
    /// Command, arguments and URL, unmasked.
    pub launch: McpLaunch,
    /// The command as shown (passwords masked), for messages.
    pub shown_command: String,
    /// Environment for the process.
    pub env: BTreeMap<String, Secret>,
    /// Headers for the endpoint.
    pub headers: BTreeMap<String, Secret>,
    /// The server's own request timeout.
    pub timeout: Option<Duration>,
    /// Where a project server runs (its project folder, when that exists at check time).
    pub cwd: Option<PathBuf>,
    /// Why it must not be started, if so (refused or unapproved project server).
    pub refused: Option<String>,
}

impl McpTarget {
    /// The target for a catalog resource; `None` for anything but an MCP server.
    /// `check_unapproved` decides about project servers the user has not approved yet.
    pub fn from_resource(resource: &Resource, check_unapproved: bool) -> Option<McpTarget> {
        let Details::McpServer(details) = &resource.details else {
            return None;
        };
        let refused = match details.approval {
            Some(McpApproval::Disabled) => {
                Some("refused in ~/.claude.json (disabledMcpjsonServers)".to_owned())
            }
            Some(McpApproval::Pending) if !check_unapproved => Some(
                "not approved in ~/.claude.json yet; set mcp.check_unapproved to check it anyway"
                    .to_owned(),
            ),
            _ => None,
        };
        let shown_command = match details.transport {
            McpTransport::Stdio => details.command.clone().unwrap_or_default(),
            _ => details.url.clone().unwrap_or_default(),
        };
        Some(McpTarget {
            id: resource.id.clone(),
            name: resource.name.clone(),
            transport: details.transport,
            launch: details.launch.clone(),
            shown_command,
            env: details.env.clone(),
            headers: details.headers.clone(),
            timeout: details.timeout_ms.map(Duration::from_millis),
            cwd: resource.project.clone(),
            refused,
        })
    }

    /// The program to start, unmasked (empty when none is configured).
    fn program(&self) -> String {
        expose(self.launch.command.as_ref())
    }

    /// The endpoint, unmasked (empty when none is configured).
    fn url(&self) -> String {
        expose(self.launch.url.as_ref())
    }

    /// Every secret value a server could echo back: `env` and `headers` values, and the
    /// unmasked command, arguments and URL where they differ from what is shown.
    fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = self
            .env
            .values()
            .chain(self.headers.values())
            .map(|s| s.expose().to_owned())
            .collect();
        for raw in self
            .launch
            .command
            .iter()
            .chain(&self.launch.args)
            .chain(&self.launch.url)
        {
            if mask_url_password(raw.expose()) != raw.expose() {
                secrets.push(raw.expose().to_owned());
            }
        }
        // Very short values would mask ordinary words; they are too weak to be secrets anyway.
        secrets.retain(|s| s.len() >= 4);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        secrets
    }
}

fn expose(value: Option<&Secret>) -> String {
    value.map(|v| v.expose().to_owned()).unwrap_or_default()
}

/// `text` with every secret replaced by the mask and URL passwords masked.
pub(crate) fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    mask_url_password(&out)
}

/// `text` cut to `max` characters, with an ellipsis when cut.
pub(crate) fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_masks_every_secret_and_url_passwords() {
        let secrets = vec!["tok-123456".to_owned(), "hunter22".to_owned()];
        let text = "auth tok-123456 failed; db postgres://u:pw@h/x; pass hunter22";
        let out = scrub(text, &secrets);
        assert!(!out.contains("tok-123456") && !out.contains("hunter22"));
        assert!(!out.contains(":pw@"), "{out}");
        assert_eq!(out.matches(MASK).count(), 3, "{out}");
    }

    fn project_server(approval: Option<McpApproval>) -> Resource {
        use jarvis_core::{Body, McpServerDetails, ResourceKind, Scope};
        Resource {
            id: ResourceId::from_raw("mcp-x"),
            kind: ResourceKind::McpServer,
            name: "x".into(),
            qualified_name: "x".into(),
            aliases: Vec::new(),
            description: String::new(),
            scope: Scope::Project,
            project: Some(PathBuf::from("/repo")),
            source: PathBuf::from("/repo/.mcp.json"),
            category: None,
            tags: Vec::new(),
            metadata: serde_json::Value::Null,
            body: Body::default(),
            details: Details::McpServer(McpServerDetails {
                transport: McpTransport::Stdio,
                command: Some("npx".into()),
                args: Vec::new(),
                url: None,
                env: BTreeMap::new(),
                headers: BTreeMap::new(),
                timeout_ms: None,
                approval,
                unresolved_vars: Vec::new(),
                launch: McpLaunch {
                    command: Some(Secret::new("npx")),
                    args: Vec::new(),
                    url: None,
                },
            }),
            shadowed_by: None,
            flags: Vec::new(),
        }
    }

    #[test]
    fn project_servers_start_only_when_approved_and_never_when_refused() {
        let approved = project_server(Some(McpApproval::Enabled));
        assert!(
            McpTarget::from_resource(&approved, false)
                .unwrap()
                .refused
                .is_none()
        );
        let pending = project_server(Some(McpApproval::Pending));
        assert!(
            McpTarget::from_resource(&pending, false)
                .unwrap()
                .refused
                .is_some()
        );
        assert!(
            McpTarget::from_resource(&pending, true)
                .unwrap()
                .refused
                .is_none()
        );
        let refused = project_server(Some(McpApproval::Disabled));
        assert!(
            McpTarget::from_resource(&refused, true)
                .unwrap()
                .refused
                .is_some()
        );
        let user = project_server(None);
        assert!(
            McpTarget::from_resource(&user, false)
                .unwrap()
                .refused
                .is_none()
        );
    }

    #[test]
    fn cut_keeps_short_text_and_marks_long() {
        assert_eq!(cut("abc", 5), "abc");
        assert_eq!(cut("abcdef", 3), "abc…");
        assert_eq!(cut("ééé", 2), "éé…");
    }
}
