//! What a resource is ([`ResourceKind`]) and where it is defined ([`Scope`]): the two facts a
//! resource id is derived from. A leaf module, so that `id` and `resource` both use it without
//! importing each other.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kinds of resource Jarvis catalogs.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// A Claude Code subagent (`agents/**/*.md`).
    Agent,
    /// A slash command (`commands/**/*.md`).
    Command,
    /// A skill (`skills/<folder>/SKILL.md`).
    Skill,
    /// An MCP server entry from `.claude.json`, `.mcp.json` or Claude Desktop's config.
    McpServer,
    /// An n8n workflow from an export file.
    Workflow,
}

impl ResourceKind {
    /// Every kind, in display order.
    pub const ALL: [ResourceKind; 5] = [
        ResourceKind::Agent,
        ResourceKind::Command,
        ResourceKind::Skill,
        ResourceKind::McpServer,
        ResourceKind::Workflow,
    ];

    /// The singular snake_case name, as serialized.
    pub const fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Agent => "agent",
            ResourceKind::Command => "command",
            ResourceKind::Skill => "skill",
            ResourceKind::McpServer => "mcp_server",
            ResourceKind::Workflow => "workflow",
        }
    }

    /// The plural used in routes and summaries (`mcp-servers`).
    pub const fn plural(self) -> &'static str {
        match self {
            ResourceKind::Agent => "agents",
            ResourceKind::Command => "commands",
            ResourceKind::Skill => "skills",
            ResourceKind::McpServer => "mcp-servers",
            ResourceKind::Workflow => "workflows",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a kind name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown resource kind `{0}` (expected agent, command, skill, mcp_server or workflow)")]
pub struct UnknownKind(pub String);

impl FromStr for ResourceKind {
    type Err = UnknownKind;

    /// Accepts singular and plural forms, with `-` or `_` (`mcp-servers`, `mcp_server`, `mcp`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        Ok(match norm.as_str() {
            "agent" | "agents" | "subagent" | "subagents" => ResourceKind::Agent,
            "command" | "commands" | "slash_command" | "slash_commands" => ResourceKind::Command,
            "skill" | "skills" => ResourceKind::Skill,
            "mcp" | "mcp_server" | "mcp_servers" => ResourceKind::McpServer,
            "workflow" | "workflows" => ResourceKind::Workflow,
            _ => return Err(UnknownKind(s.to_owned())),
        })
    }
}

/// Where a definition comes from. Precedence between scopes is kind-specific (see discovery).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The user's own folder (`~/.claude`) or the top level of `~/.claude.json`.
    User,
    /// A project folder (`<project>/.claude`, `<project>/.mcp.json`).
    Project,
    /// A project's entry inside `~/.claude.json` (MCP "local" scope).
    Local,
    /// Claude Desktop's configuration.
    Desktop,
    /// An exported file handed to Jarvis (n8n workflow exports).
    Export,
    /// A live service's API (n8n's workflows).
    Remote,
}

impl Scope {
    /// The snake_case name, as serialized.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Project => "project",
            Scope::Local => "local",
            Scope::Desktop => "desktop",
            Scope::Export => "export",
            Scope::Remote => "remote",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
