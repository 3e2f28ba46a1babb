//! Diagnostics: what discovery could not fully understand, and why.
//!
//! Scanning never fails as a whole. Every file that is skipped, partly recovered or shadowed
//! produces a [`Diagnostic`] next to everything that did load, so a user can see exactly which
//! file needs attention. Codes are stable strings: tests and clients match on them.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How much a diagnostic matters to the user.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Expected and harmless (a default folder that does not exist, a README among agents).
    Info,
    /// Loaded with reservations, or skipped for a reason the user may want to fix.
    Warning,
    /// Could not be loaded at all.
    Error,
}

macro_rules! diagnostic_codes {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $severity:ident; )*) => {
        /// A stable diagnostic code. The serialized form is the snake_case name.
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum DiagnosticCode {
            $( $(#[$doc])* $variant, )*
        }

        impl DiagnosticCode {
            /// Every code, in table order.
            pub const ALL: &'static [DiagnosticCode] = &[ $( DiagnosticCode::$variant, )* ];

            /// The wire name, e.g. `yaml_recovered`.
            pub const fn as_str(self) -> &'static str {
                match self { $( DiagnosticCode::$variant => $name, )* }
            }

            /// The severity a diagnostic with this code normally has.
            pub const fn severity(self) -> Severity {
                match self { $( DiagnosticCode::$variant => Severity::$severity, )* }
            }
        }
    };
}

diagnostic_codes! {
    /// A default location (for example `~/.claude/agents`) does not exist.
    RootMissing = "root_missing", Info;
    /// A default location cannot be worked out: the program gave no home folder (and no
    /// `$CLAUDE_CONFIG_DIR`), so it is not scanned. Configure the path, or hand in the process's
    /// environment.
    RootUnknown = "root_unknown", Warning;
    /// A directory could not be listed (permissions, I/O error).
    WalkFailed = "walk_failed", Error;
    /// A symbolic link points back into its own ancestry; the loop was not followed.
    SymlinkLoop = "symlink_loop", Warning;
    /// A file could not be read.
    ReadFailed = "read_failed", Error;
    /// A file held bytes that are not UTF-8; they were replaced and the rest was loaded.
    NotUtf8 = "not_utf8", Warning;
    /// A file is larger than the configured cap and was not read.
    FileTooLarge = "file_too_large", Warning;
    /// A file is empty.
    EmptyFile = "empty_file", Warning;
    /// A file holds binary data (a NUL byte); it was not read as text.
    BinaryFile = "binary_file", Warning;
    /// A Markdown file has no frontmatter. For agents this marks documentation, not an agent.
    NoFrontmatter = "no_frontmatter", Info;
    /// A frontmatter block opens with `---` but never closes.
    FrontmatterUnterminated = "frontmatter_unterminated", Error;
    /// The frontmatter is not valid YAML; its fields were recovered line by line.
    YamlRecovered = "yaml_recovered", Warning;
    /// The frontmatter is not valid YAML and nothing could be recovered.
    YamlInvalid = "yaml_invalid", Error;
    /// A field has a value of the wrong shape; it was ignored.
    FieldInvalid = "field_invalid", Warning;
    /// A file that needs a `name` has none.
    MissingName = "missing_name", Warning;
    /// A file that needs a `description` has none.
    MissingDescription = "missing_description", Warning;
    /// A name Claude Code rejects (starts with `-`, contains `:`) or breaks the portable rules.
    InvalidName = "invalid_name", Warning;
    /// A skill's frontmatter `name` differs from its folder name (the folder name is used).
    NameMismatch = "name_mismatch", Info;
    /// A description is longer than the 1,024 characters the portable rules allow.
    DescriptionTooLong = "description_too_long", Warning;
    /// Another resource with the same name takes precedence over this one.
    Shadowed = "shadowed", Info;
    /// A bare command name is defined in several namespaces; use the `dir:name` form.
    AmbiguousName = "ambiguous_name", Info;
    /// A skill folder has no `SKILL.md`.
    SkillManifestMissing = "skill_manifest_missing", Warning;
    /// A JSON file could not be parsed.
    JsonInvalid = "json_invalid", Error;
    /// An MCP server entry is malformed (no command and no url, wrong types, …).
    McpEntryInvalid = "mcp_entry_invalid", Error;
    /// An MCP server entry has a `url` but no `type`.
    McpUrlWithoutType = "mcp_url_without_type", Error;
    /// A `${VAR}` reference names an unset variable and has no default; it was left as written.
    EnvVarUnset = "env_var_unset", Warning;
    /// A workflow export entry is not a workflow (no nodes, wrong shape).
    WorkflowInvalid = "workflow_invalid", Error;
    /// A live source (n8n's API) could not be read; its last known resources are shown.
    SourceUnreachable = "source_unreachable", Warning;
    /// A model in the cost ledger has no price: its tokens are counted, its cost is not.
    ModelUnpriced = "model_unpriced", Warning;
    /// A Claude Code usage log cannot be read; it is tried again at each pass.
    UsageLogUnreadable = "usage_log_unreadable", Warning;
}

impl fmt::Display for DiagnosticCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found while discovering resources.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// What kind of problem it is.
    pub code: DiagnosticCode,
    /// How much it matters; usually `code.severity()`.
    pub severity: Severity,
    /// The file or folder concerned.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub path: PathBuf,
    /// The 1-based line, where the problem has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// A sentence a person can act on.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic with the code's usual severity.
    pub fn new(code: DiagnosticCode, path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.severity(),
            path: path.into(),
            line: None,
            message: message.into(),
        }
    }

    /// The same diagnostic, pinned to a line.
    #[must_use]
    pub fn at_line(mut self, line: u32) -> Self {
        self.line = Some(line);
        self
    }

    /// The same diagnostic with another severity.
    #[must_use]
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {} [{}]", self.message, self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_names() {
        for code in DiagnosticCode::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn display_names_path_line_and_code() {
        let d = Diagnostic::new(DiagnosticCode::YamlRecovered, "/a/b.md", "bad yaml").at_line(3);
        assert_eq!(d.to_string(), "/a/b.md:3: bad yaml [yaml_recovered]");
        assert_eq!(d.severity, Severity::Warning);
    }
}
