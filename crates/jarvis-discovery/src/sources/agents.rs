//! Subagents: `agents/**/*.md` with `name` and `description` in YAML frontmatter.
//!
//! Claude Code skips a file without `name` (documentation, such as a category README), a name
//! that starts with `-` or contains `:`, a file without `description`, and YAML that does not
//! parse. Jarvis skips the same files, except that broken YAML is recovered and flagged.

use std::path::Path;

use jarvis_core::{
    AgentDetails, Body, Details, Diagnostic, DiagnosticCode, Resource, ResourceId, ResourceKind,
    Scope, Severity, mask_secret_values,
};
use serde_json::Value;

use crate::fields::{Fields, one_line};
use crate::frontmatter::parse_document;
use crate::scan::Scan;
use crate::sources::scan_markdown_tree;

/// Scans an `agents/` folder.
pub(crate) fn scan(scan: &mut Scan<'_>, dir: &Path, scope: Scope, project: Option<&Path>) {
    scan_markdown_tree(scan, dir, |text, path, diags| {
        parse(text, dir, path, scope, project, diags)
    });
}

/// Parses one agent file. Problems go to `diags`.
pub(crate) fn parse(
    text: &str,
    dir: &Path,
    path: &Path,
    scope: Scope,
    project: Option<&Path>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Resource> {
    let doc = parse_document(text, path, diags);
    let Some(fm) = doc.frontmatter else {
        if doc.broken {
            // The frontmatter problem has been reported; do not call the file documentation.
            return None;
        }
        diags.push(Diagnostic::new(
            DiagnosticCode::NoFrontmatter,
            path,
            "no frontmatter: treated as documentation, not as an agent",
        ));
        return None;
    };
    let fields = Fields::new(&fm, path);
    let Some(name) = fields.string("name", diags) else {
        diags.push(
            Diagnostic::new(
                DiagnosticCode::MissingName,
                path,
                "frontmatter has no `name`: treated as documentation, not as an agent",
            )
            .with_severity(Severity::Info),
        );
        return None;
    };
    if name.starts_with('-') || name.contains(':') {
        diags.push(Diagnostic::new(
            DiagnosticCode::InvalidName,
            path,
            format!("agent name `{name}` starts with `-` or contains `:`; Claude Code rejects it"),
        ));
        return None;
    }
    let Some(description) = fields.string("description", diags) else {
        diags.push(Diagnostic::new(
            DiagnosticCode::MissingDescription,
            path,
            format!("agent `{name}` has no `description`; Claude Code skips it"),
        ));
        return None;
    };
    let details = AgentDetails {
        tools: fields.list("tools", diags),
        disallowed_tools: fields.list("disallowedTools", diags).unwrap_or_default(),
        model: fields
            .string("model", diags)
            .unwrap_or_else(|| "inherit".to_owned()),
        color: fields.string("color", diags),
        permission_mode: fields.string("permissionMode", diags),
        skills: fields.list("skills", diags).unwrap_or_default(),
    };
    let category = fields
        .string("category", diags)
        .or_else(|| folder_category(dir, path));
    let tags = fields.list("tags", diags).unwrap_or_default();
    let mut flags = Vec::new();
    if doc.recovered {
        flags.push(DiagnosticCode::YamlRecovered);
    }
    let source = path.to_string_lossy();
    let mut metadata = Value::Object(fm);
    mask_secret_values(&mut metadata);
    Some(Resource {
        id: ResourceId::derive(ResourceKind::Agent, scope, &source, ""),
        kind: ResourceKind::Agent,
        qualified_name: name.clone(),
        name,
        aliases: Vec::new(),
        description: one_line(&description),
        scope,
        project: project.map(Path::to_path_buf),
        source: path.to_path_buf(),
        category,
        tags,
        metadata,
        body: Body::new(&doc.body),
        details: Details::Agent(details),
        shadowed_by: None,
        flags,
    })
}

/// The first sub-folder below `agents/`, used as a category (`agents/backend/api.md` → backend).
fn folder_category(dir: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(dir).ok()?;
    let mut components = rel.components();
    let first = components.next()?;
    components
        .next()
        .map(|_| first.as_os_str().to_string_lossy().into_owned())
}
