//! Slash commands: `commands/**/*.md`. The name is the file name; sub-folders are namespaces.
//!
//! Real collections rely on namespaces (`/tools:smart-debug`), so a command is identified by its
//! qualified `dir:name` and also answers to its bare name. Frontmatter is optional: without a
//! `description` the first line of the body stands in, as in Claude Code.

use std::path::Path;

use jarvis_core::{
    Body, CommandDetails, Details, Diagnostic, DiagnosticCode, Resource, ResourceId, ResourceKind,
    Scope, Severity, mask_secret_values,
};
use serde_json::Value;

use crate::fields::{Fields, first_body_line, one_line};
use crate::frontmatter::parse_document;
use crate::scan::Scan;
use crate::sources::scan_markdown_tree;

/// Scans a `commands/` folder.
pub(crate) fn scan(scan: &mut Scan<'_>, dir: &Path, scope: Scope, project: Option<&Path>) {
    scan_markdown_tree(scan, dir, |text, path, diags| {
        Some(parse(text, dir, path, scope, project, diags))
    });
}

/// Parses one command file. Problems go to `diags`; a command always loads.
pub(crate) fn parse(
    text: &str,
    dir: &Path,
    path: &Path,
    scope: Scope,
    project: Option<&Path>,
    diags: &mut Vec<Diagnostic>,
) -> Resource {
    let doc = parse_document(text, path, diags);
    let recovered = doc.recovered;
    let has_frontmatter = doc.frontmatter.is_some();
    let fm = doc.frontmatter.unwrap_or_default();
    let fields = Fields::new(&fm, path);

    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let namespace = namespace(dir, path);
    let qualified_name = match &namespace {
        Some(ns) => format!("{ns}:{name}"),
        None => name.clone(),
    };
    let declared = fields.string("description", diags).map(|d| one_line(&d));
    if declared.is_none() && !doc.broken {
        // Valid for Claude Code, which shows the first line instead; worth knowing all the same.
        let (code, what) = if has_frontmatter {
            (
                DiagnosticCode::MissingDescription,
                "frontmatter has no `description`",
            )
        } else {
            (DiagnosticCode::NoFrontmatter, "no frontmatter")
        };
        diags.push(
            Diagnostic::new(
                code,
                path,
                format!("{what}; the first line of the body is used as the description"),
            )
            .with_severity(Severity::Info),
        );
    }
    let description = declared
        .or_else(|| first_body_line(&doc.body))
        .unwrap_or_default();
    let body_refs = BodyRefs::scan(&doc.body);
    let details = CommandDetails {
        namespace: namespace.clone(),
        argument_hint: fields.string("argument-hint", diags),
        allowed_tools: fields.list("allowed-tools", diags),
        model: fields.string("model", diags),
        placeholders: body_refs.placeholders,
        shell_commands: body_refs.shell_commands,
        file_references: body_refs.file_references,
        disable_model_invocation: fields.flag("disable-model-invocation", diags),
    };
    let tags = fields.list("tags", diags).unwrap_or_default();
    let mut metadata = Value::Object(fm.clone());
    mask_secret_values(&mut metadata);
    let source = path.to_string_lossy();
    Resource {
        id: ResourceId::derive(ResourceKind::Command, scope, &source, ""),
        kind: ResourceKind::Command,
        aliases: if namespace.is_some() {
            vec![name.clone()]
        } else {
            Vec::new()
        },
        name,
        qualified_name,
        description,
        scope,
        project: project.map(Path::to_path_buf),
        source: path.to_path_buf(),
        category: namespace,
        tags,
        metadata,
        body: Body::new(&doc.body),
        details: Details::Command(details),
        shadowed_by: None,
        flags: if recovered {
            vec![DiagnosticCode::YamlRecovered]
        } else {
            Vec::new()
        },
    }
}

fn namespace(dir: &Path, path: &Path) -> Option<String> {
    let parent = path.parent()?.strip_prefix(dir).ok()?;
    let parts: Vec<String> = parent
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join(":"))
}

/// What a command body refers to: argument placeholders, shell commands and included files.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct BodyRefs {
    pub placeholders: Vec<String>,
    pub shell_commands: Vec<String>,
    pub file_references: Vec<String>,
}

impl BodyRefs {
    /// Scans a body. Fenced code blocks are skipped for `@path` references, where `@` is mostly
    /// a decorator or an npm scope; placeholders count everywhere (Claude Code substitutes them
    /// everywhere).
    pub(crate) fn scan(body: &str) -> BodyRefs {
        let mut refs = BodyRefs::default();
        let mut in_fence = false;
        for line in body.lines() {
            if line.trim_start().starts_with("```") || line.trim_start().starts_with("~~~") {
                in_fence = !in_fence;
            }
            // Most lines hold none of the markers; checking for them first keeps this cheap.
            if line.contains('$') {
                refs.scan_placeholders(line);
            }
            if !in_fence {
                if line.contains("!`") {
                    refs.scan_shell(line);
                }
                if line.contains('@') {
                    refs.scan_files(line);
                }
            }
        }
        refs
    }

    fn scan_placeholders(&mut self, line: &str) {
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'$' {
                i += 1;
                continue;
            }
            let rest = &line[i + 1..];
            let token = if let Some(after) = rest.strip_prefix("ARGUMENTS") {
                let index = after
                    .strip_prefix('[')
                    .and_then(|a| a.find(']').map(|end| &a[..end]))
                    .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
                match index {
                    Some(n) => format!("$ARGUMENTS[{n}]"),
                    None => "$ARGUMENTS".to_owned(),
                }
            } else {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if digits.is_empty() {
                    i += 1;
                    continue;
                }
                format!("${digits}")
            };
            i += token.len();
            if !self.placeholders.contains(&token) {
                self.placeholders.push(token);
            }
        }
    }

    fn scan_shell(&mut self, line: &str) {
        let mut rest = line;
        while let Some(start) = rest.find("!`") {
            let after = &rest[start + 2..];
            let Some(end) = after.find('`') else { break };
            let cmd = after[..end].trim();
            if !cmd.is_empty() && !self.shell_commands.iter().any(|c| c == cmd) {
                self.shell_commands.push(cmd.to_owned());
            }
            rest = &after[end + 1..];
        }
    }

    fn scan_files(&mut self, line: &str) {
        let mut prev = ' ';
        for (i, c) in line.char_indices() {
            if c == '@' && (prev.is_whitespace() || prev == '(') {
                let candidate: String = line[i + 1..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '~'))
                    .collect();
                let candidate = candidate.trim_end_matches('.');
                let looks_like_path = candidate.contains('/')
                    || candidate.rsplit_once('.').is_some_and(|(stem, ext)| {
                        !stem.is_empty() && (1..=5).contains(&ext.len())
                    });
                if looks_like_path && !self.file_references.iter().any(|f| f == candidate) {
                    self.file_references.push(candidate.to_owned());
                }
            }
            prev = c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_shell_and_files_are_found() {
        let body = "Fix $ARGUMENTS now. First: $1, second $2, again $1 and $ARGUMENTS[0].\n\
                    Status: !`git status` and !`git diff --stat`\n\
                    Read @src/main.rs and @README.md, mail a@b.com\n\
                    ```\n@decorator\n@scope/pkg\n```\n";
        let refs = BodyRefs::scan(body);
        assert_eq!(
            refs.placeholders,
            ["$ARGUMENTS", "$1", "$2", "$ARGUMENTS[0]"]
        );
        assert_eq!(refs.shell_commands, ["git status", "git diff --stat"]);
        assert_eq!(refs.file_references, ["src/main.rs", "README.md"]);
    }

    #[test]
    fn namespaced_command_has_qualified_name_and_alias() {
        let dir = Path::new("/h/.claude/commands");
        let path = dir.join("tools/smart-debug.md");
        let mut diags = Vec::new();
        let r = parse(
            "---\nmodel: claude-sonnet-4-0\n---\n# Debug things\n",
            dir,
            &path,
            Scope::User,
            None,
            &mut diags,
        );
        assert_eq!(r.name, "smart-debug");
        assert_eq!(r.qualified_name, "tools:smart-debug");
        assert_eq!(r.aliases, ["smart-debug"]);
        assert_eq!(r.description, "Debug things");
        assert_eq!(r.category.as_deref(), Some("tools"));
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, DiagnosticCode::MissingDescription);
        assert_eq!(diags[0].severity, Severity::Info);
    }
}
