//! The resource model: one shape for every agent, command, skill, MCP server and workflow.
//!
//! Common fields (`id`, `kind`, `name`, `description`, `scope`, `source`, `category`, `tags`) let
//! lists, search and filters treat all kinds alike; [`Details`] holds what only one kind has.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::body::Body;
use crate::diagnostic::DiagnosticCode;
use crate::id::ResourceId;
use crate::secret::Secret;

pub use crate::kind::{ResourceKind, Scope, UnknownKind};

/// One discovered resource.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// Stable id, derived from kind, scope, source and key.
    pub id: ResourceId,
    /// What it is.
    pub kind: ResourceKind,
    /// The name it is invoked by: an agent's frontmatter `name`, a command's file name, a skill's
    /// folder name, an MCP server's key, a workflow's name.
    pub name: String,
    /// The fully qualified name: `dir:name` for a namespaced command, otherwise `name`.
    pub qualified_name: String,
    /// Other names the resource answers to (a namespaced command's bare name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// What it is for. Empty where the source gives none and nothing could stand in.
    pub description: String,
    /// Where it was defined.
    pub scope: Scope,
    /// The project folder (or `.claude.json` project key) for project and local scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub project: Option<PathBuf>,
    /// The file it was read from.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub source: PathBuf,
    /// A grouping: a command's namespace, an agent's folder or frontmatter category, an MCP
    /// server's transport, `n8n` for workflows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Free-form tags from the source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The parsed frontmatter or JSON entry, with secret values masked.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: serde_json::Value,
    /// The Markdown body (system prompt, command template, skill instructions), held compressed;
    /// empty for kinds that have none.
    #[serde(default)]
    pub body: Body,
    /// Kind-specific fields.
    pub details: Details,
    /// The resource that takes precedence over this one, if any. A shadowed resource is listed so
    /// that users can see why their definition has no effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadowed_by: Option<ResourceId>,
    /// Diagnostics that concern this resource but did not stop it from loading.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<DiagnosticCode>,
}

impl Resource {
    /// Whether the resource is in effect (not shadowed by another definition).
    pub fn is_active(&self) -> bool {
        self.shadowed_by.is_none()
    }
}

/// Fields only one kind has.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Details {
    /// A subagent.
    Agent(AgentDetails),
    /// A slash command.
    Command(CommandDetails),
    /// A skill.
    Skill(SkillDetails),
    /// An MCP server.
    McpServer(McpServerDetails),
    /// An n8n workflow.
    Workflow(WorkflowDetails),
}

/// A subagent's own fields.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentDetails {
    /// The tools it may use; `None` means all tools (the field was absent).
    pub tools: Option<Vec<String>>,
    /// Tools it may not use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disallowed_tools: Vec<String>,
    /// The model alias or id; `inherit` when absent.
    pub model: String,
    /// The display colour, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// The permission mode, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_mode: Option<String>,
    /// Skills it preloads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<String>,
}

/// A slash command's own fields.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommandDetails {
    /// The folder path below `commands/`, `:`-separated (`tools`, `a:b`), if namespaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The `argument-hint` shown by Claude Code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argument_hint: Option<String>,
    /// The tools it may use, if restricted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_tools: Option<Vec<String>>,
    /// The model it runs with, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The argument placeholders the body uses, in first-use order (`$ARGUMENTS`, `$1`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placeholders: Vec<String>,
    /// Shell commands the body runs through `` !`cmd` ``.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shell_commands: Vec<String>,
    /// Files the body includes through `@path`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_references: Vec<String>,
    /// Whether the model may not invoke it on its own.
    #[serde(default)]
    pub disable_model_invocation: bool,
}

/// A skill's own fields.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SkillDetails {
    /// The skill folder.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub folder: PathBuf,
    /// Every other file in the folder, recursively, sorted by path. Listed, never executed.
    pub files: Vec<SkillFile>,
    /// The tools it may use, if restricted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_tools: Option<Vec<String>>,
    /// The model it runs with, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The licence it declares, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// When to use it, if the frontmatter says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when_to_use: Option<String>,
}

/// A file inside a skill folder.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillFile {
    /// The path relative to the skill folder, with `/` separators.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// How Claude Code talks to an MCP server.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum McpTransport {
    /// A local process on stdin/stdout.
    Stdio,
    /// Server-sent events.
    Sse,
    /// Streamable HTTP (`http`, also written `streamable-http`).
    Http,
    /// WebSocket.
    Ws,
}

impl McpTransport {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            McpTransport::Stdio => "stdio",
            McpTransport::Sse => "sse",
            McpTransport::Http => "http",
            McpTransport::Ws => "ws",
        }
    }
}

/// Whether a project `.mcp.json` server was approved in `~/.claude.json`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum McpApproval {
    /// Listed in `enabledMcpjsonServers`.
    Enabled,
    /// Listed in `disabledMcpjsonServers`.
    Disabled,
    /// Not listed either way: Claude Code will ask.
    Pending,
}

/// An MCP server's own fields, with `${VAR}` references expanded and secrets masked.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpServerDetails {
    /// The transport.
    pub transport: McpTransport,
    /// The program to start (stdio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Its arguments (stdio). Passwords in URLs are masked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// The endpoint (sse, http, ws). A password in it is masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Environment for the process. Values are secrets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, Secret>,
    /// Headers sent to the endpoint. Values are secrets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
    /// The request timeout, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// For project `.mcp.json` servers: whether the user approved them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<McpApproval>,
    /// Variables referenced without a value or default; left as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unresolved_vars: Vec<String>,
    /// What a health check starts or connects to, unmasked. Never serialized.
    #[serde(skip)]
    pub launch: McpLaunch,
}

/// An MCP server's command, arguments and URL as configured (after `${VAR}` expansion), with
/// nothing masked: what a health check starts or connects to. Held in [`Secret`]s because a
/// password may sit in any of them; [`McpServerDetails`] shows the masked forms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct McpLaunch {
    /// The program (stdio).
    pub command: Option<Secret>,
    /// Its arguments (stdio).
    pub args: Vec<Secret>,
    /// The endpoint (sse, http, ws).
    pub url: Option<Secret>,
}

/// An n8n workflow's own fields.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkflowDetails {
    /// n8n's id for the workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    /// Whether the workflow is active (its production webhooks answer).
    pub active: bool,
    /// Whether it is archived.
    #[serde(default)]
    pub archived: bool,
    /// How many nodes it has.
    pub node_count: usize,
    /// The distinct node types, sorted.
    pub node_types: Vec<String>,
    /// Its webhook triggers.
    pub webhooks: Vec<WebhookTrigger>,
}

/// A webhook trigger node: how to start the workflow from outside.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookTrigger {
    /// The node's name.
    pub node: String,
    /// The HTTP method(s) it listens for.
    pub methods: Vec<String>,
    /// The path as configured.
    pub path: String,
    /// The path below `/webhook/` (production) — `<webhookId>/<path>` when the path has
    /// `:params`.
    pub production_path: String,
    /// When it answers: `onReceived`, `lastNode` or `responseNode`.
    pub response_mode: String,
    /// The node's webhook id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
    /// The authentication it requires (`none`, `headerAuth`, …).
    pub authentication: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_from_many_spellings() {
        for (text, kind) in [
            ("agents", ResourceKind::Agent),
            ("Command", ResourceKind::Command),
            ("mcp-servers", ResourceKind::McpServer),
            ("mcp", ResourceKind::McpServer),
            ("workflow", ResourceKind::Workflow),
            ("skills", ResourceKind::Skill),
        ] {
            assert_eq!(text.parse::<ResourceKind>().unwrap(), kind, "{text}");
        }
        assert!("widgets".parse::<ResourceKind>().is_err());
        for kind in ResourceKind::ALL {
            assert_eq!(kind.as_str().parse::<ResourceKind>().unwrap(), kind);
            assert_eq!(kind.plural().parse::<ResourceKind>().unwrap(), kind);
        }
    }
}
