//! MCP servers from `~/.claude.json` (user and local scopes), `<project>/.mcp.json` (project
//! scope) and Claude Desktop's config.
//!
//! `${VAR}` and `${VAR:-default}` expand in `command`, `args`, `env`, `url` and `headers`, from the
//! environment the binary handed over. `env` and `headers` values are secrets: they are kept in
//! [`Secret`]s and masked in metadata; a password inside a URL is masked too.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use jarvis_core::{
    Body, Details, Diagnostic, DiagnosticCode, McpApproval, McpLaunch, McpServerDetails,
    McpTransport, Resource, ResourceId, ResourceKind, Scope, Secret, mask_secret_values,
    mask_url_password,
};
use serde_json::Value;

use crate::config::Root;
use crate::scan::Scan;
use crate::sources::string_list;

/// Which project `.mcp.json` servers the user approved or refused, by project key.
#[derive(Debug, Default)]
struct Approvals {
    enabled: Vec<String>,
    disabled: Vec<String>,
}

/// Scans every MCP source the roots name.
pub(crate) fn scan_all(scan: &mut Scan<'_>) {
    let roots = scan.roots;
    let mut approvals: HashMap<String, Approvals> = HashMap::new();
    if let Some(root) = &roots.claude_json {
        claude_json(scan, root, &mut approvals);
    }
    for project in &roots.projects {
        let path = project.path.join(".mcp.json");
        if !path.is_file() {
            continue;
        }
        let approval = project
            .claude_json_keys
            .iter()
            .find_map(|k| approvals.get(k));
        let Some(doc) = read_json(scan, &path) else {
            continue;
        };
        let servers = servers_of(&doc, &path, scan);
        for (name, entry) in servers {
            let mut diags = Vec::new();
            let resource = parse_entry(
                &name,
                &entry,
                &path,
                Scope::Project,
                Some(&project.path),
                &name,
                &roots.vars,
                &mut diags,
            );
            scan.diag_all(diags);
            if let Some(mut resource) = resource {
                if let Details::McpServer(details) = &mut resource.details {
                    details.approval = Some(match approval {
                        Some(a) if a.enabled.contains(&name) => McpApproval::Enabled,
                        Some(a) if a.disabled.contains(&name) => McpApproval::Disabled,
                        _ => McpApproval::Pending,
                    });
                }
                scan.push(resource);
            }
        }
    }
    if let Some(root) = &roots.desktop_config {
        if root.path.is_file() {
            if let Some(doc) = read_json(scan, &root.path) {
                push_servers(scan, &doc, &root.path, Scope::Desktop, None, "");
            }
        } else {
            scan.root_missing(root, "Claude Desktop's config");
        }
    }
}

fn claude_json(scan: &mut Scan<'_>, root: &Root, approvals: &mut HashMap<String, Approvals>) {
    if !root.path.is_file() {
        scan.root_missing(root, "~/.claude.json");
        return;
    }
    let Some(doc) = read_json(scan, &root.path) else {
        return;
    };
    push_servers(scan, &doc, &root.path, Scope::User, None, "");
    let Some(projects) = doc.get("projects") else {
        return;
    };
    let Some(projects) = projects.as_object() else {
        scan.diag(Diagnostic::new(
            DiagnosticCode::McpEntryInvalid,
            &root.path,
            "`projects` is not an object; local-scope MCP servers ignored",
        ));
        return;
    };
    for (key, project) in projects {
        approvals.insert(
            key.clone(),
            Approvals {
                enabled: string_list(project.get("enabledMcpjsonServers")),
                disabled: string_list(project.get("disabledMcpjsonServers")),
            },
        );
        // A local-scope server belongs to the configured project filed under this key, if any,
        // so that precedence compares it with that project's `.mcp.json`.
        let project_path = scan
            .roots
            .projects
            .iter()
            .find(|p| p.claude_json_keys.iter().any(|k| k == key))
            .map_or_else(|| PathBuf::from(key), |p| p.path.clone());
        push_servers(
            scan,
            project,
            &root.path,
            Scope::Local,
            Some(&project_path),
            key,
        );
    }
}

fn read_json(scan: &mut Scan<'_>, path: &Path) -> Option<Value> {
    let file = scan.read(path)?;
    match serde_json::from_str::<Value>(&file.text) {
        Ok(value) => Some(value),
        Err(e) => {
            scan.diag(
                Diagnostic::new(
                    DiagnosticCode::JsonInvalid,
                    path,
                    format!("not valid JSON: {e}"),
                )
                .at_line(u32::try_from(e.line()).unwrap_or(0)),
            );
            None
        }
    }
}

/// The `mcpServers` object of `doc`, as (name, entry) pairs.
fn servers_of(doc: &Value, path: &Path, scan: &mut Scan<'_>) -> Vec<(String, Value)> {
    match doc.get("mcpServers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(_) => {
            scan.diag(Diagnostic::new(
                DiagnosticCode::McpEntryInvalid,
                path,
                "`mcpServers` is not an object; ignored",
            ));
            Vec::new()
        }
    }
}

fn push_servers(
    scan: &mut Scan<'_>,
    doc: &Value,
    path: &Path,
    scope: Scope,
    project: Option<&Path>,
    key_prefix: &str,
) {
    let vars = scan.roots.vars.clone();
    for (name, entry) in servers_of(doc, path, scan) {
        let mut diags = Vec::new();
        let key = format!("{key_prefix}\u{0}{name}");
        let resource = parse_entry(&name, &entry, path, scope, project, &key, &vars, &mut diags);
        scan.diag_all(diags);
        if let Some(resource) = resource {
            scan.push(resource);
        }
    }
}

/// Parses one server entry. `None` (with a diagnostic) when Claude Code could not use it either.
#[expect(
    clippy::too_many_arguments,
    reason = "a flat signature keeps the call sites readable"
)]
pub(crate) fn parse_entry(
    name: &str,
    entry: &Value,
    path: &Path,
    scope: Scope,
    project: Option<&Path>,
    key: &str,
    vars: &BTreeMap<String, String>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Resource> {
    let invalid = |message: String| Diagnostic::new(DiagnosticCode::McpEntryInvalid, path, message);
    let Some(obj) = entry.as_object() else {
        diags.push(invalid(format!(
            "MCP server `{name}` is not an object; ignored"
        )));
        return None;
    };
    let str_field = |field: &str| obj.get(field).and_then(Value::as_str).map(str::to_owned);
    let transport = match str_field("type").as_deref() {
        Some("stdio") => McpTransport::Stdio,
        Some("sse") => McpTransport::Sse,
        Some("http" | "streamable-http" | "streamableHttp") => McpTransport::Http,
        Some("ws" | "websocket") => McpTransport::Ws,
        Some(other) => {
            diags.push(invalid(format!(
                "MCP server `{name}` has unknown type `{other}`; ignored"
            )));
            return None;
        }
        None if obj.contains_key("url") => {
            diags.push(Diagnostic::new(
                DiagnosticCode::McpUrlWithoutType,
                path,
                format!("MCP server `{name}` has a `url` but no `type` (sse, http or ws); Claude Code rejects it"),
            ));
            return None;
        }
        None => McpTransport::Stdio,
    };
    let mut unresolved = Vec::new();
    let mut expand_here = |s: &str| expand(s, vars, &mut unresolved);

    let raw_command = str_field("command").map(|c| expand_here(&c));
    let raw_url = str_field("url").map(|u| expand_here(&u));
    let command = raw_command.as_deref().map(mask_url_password);
    let url = raw_url.as_deref().map(mask_url_password);
    match transport {
        McpTransport::Stdio if command.is_none() => {
            diags.push(invalid(format!(
                "stdio MCP server `{name}` has no `command`; ignored"
            )));
            return None;
        }
        McpTransport::Sse | McpTransport::Http | McpTransport::Ws if url.is_none() => {
            diags.push(invalid(format!(
                "{} MCP server `{name}` has no `url`; ignored",
                transport.as_str()
            )));
            return None;
        }
        _ => {}
    }
    let raw_args: Vec<String> = match obj.get("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|a| match a {
                Value::String(s) => expand_here(s),
                other => other.to_string(),
            })
            .collect(),
        Some(_) => {
            diags.push(invalid(format!(
                "MCP server `{name}`: `args` is not a list; ignored"
            )));
            Vec::new()
        }
    };
    let args: Vec<String> = raw_args.iter().map(|a| mask_url_password(a)).collect();
    let mut secret_map = |field: &str, diags: &mut Vec<Diagnostic>| -> BTreeMap<String, Secret> {
        match obj.get(field) {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| {
                    let raw = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), Secret::new(expand_here(&raw)))
                })
                .collect(),
            Some(_) => {
                diags.push(invalid(format!(
                    "MCP server `{name}`: `{field}` is not an object; ignored"
                )));
                BTreeMap::new()
            }
        }
    };
    let env = secret_map("env", diags);
    let headers = secret_map("headers", diags);
    unresolved.sort();
    unresolved.dedup();
    for var in &unresolved {
        diags.push(Diagnostic::new(
            DiagnosticCode::EnvVarUnset,
            path,
            format!("MCP server `{name}` uses ${{{var}}}, which is not set and has no default; left as written"),
        ));
    }
    let timeout_ms = obj.get("timeout").and_then(Value::as_u64);
    let description = match (&command, &url) {
        (Some(cmd), _) if transport == McpTransport::Stdio => {
            let mut line = format!("stdio: {cmd}");
            for arg in &args {
                line.push(' ');
                line.push_str(arg);
            }
            line
        }
        (_, Some(url)) => format!("{}: {url}", transport.as_str()),
        _ => transport.as_str().to_owned(),
    };
    let mut metadata = Value::Object(obj.clone());
    mask_secret_values(&mut metadata);
    mask_urls_in(&mut metadata);
    let mut flags = Vec::new();
    if !unresolved.is_empty() {
        flags.push(DiagnosticCode::EnvVarUnset);
    }
    Some(Resource {
        id: ResourceId::derive(ResourceKind::McpServer, scope, &path.to_string_lossy(), key),
        kind: ResourceKind::McpServer,
        name: name.to_owned(),
        qualified_name: name.to_owned(),
        aliases: Vec::new(),
        description,
        scope,
        project: project.map(Path::to_path_buf),
        source: path.to_path_buf(),
        category: Some(transport.as_str().to_owned()),
        tags: Vec::new(),
        metadata,
        body: Body::default(),
        details: Details::McpServer(McpServerDetails {
            transport,
            command,
            args,
            url,
            env,
            headers,
            timeout_ms,
            approval: None,
            unresolved_vars: unresolved,
            launch: McpLaunch {
                command: raw_command.map(Secret::new),
                args: raw_args.into_iter().map(Secret::new).collect(),
                url: raw_url.map(Secret::new),
            },
        }),
        shadowed_by: None,
        flags,
    })
}

fn mask_urls_in(value: &mut Value) {
    match value {
        Value::String(s) if s.contains("://") => *s = mask_url_password(s),
        Value::Array(items) => items.iter_mut().for_each(mask_urls_in),
        Value::Object(map) => map.values_mut().for_each(mask_urls_in),
        _ => {}
    }
}

/// Expands `${VAR}` and `${VAR:-default}`. An unset variable without a default stays as written
/// and is recorded in `unresolved`.
pub(crate) fn expand(
    s: &str,
    vars: &BTreeMap<String, String>,
    unresolved: &mut Vec<String>,
) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        let (var, default) = match inner.split_once(":-") {
            Some((var, default)) => (var, Some(default)),
            None => (inner, None),
        };
        match (vars.get(var), default) {
            (Some(value), _) => out.push_str(value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                unresolved.push(var.to_owned());
                out.push_str(&rest[start..start + 3 + end]);
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> BTreeMap<String, String> {
        let mut v = BTreeMap::new();
        v.insert("TOKEN".into(), "s3cret".into());
        v.insert("DB".into(), "postgres://u:pw@h/db".into());
        v
    }

    #[test]
    fn expansion_handles_defaults_and_unset() {
        let mut unresolved = Vec::new();
        let v = vars();
        assert_eq!(
            expand("Bearer ${TOKEN}", &v, &mut unresolved),
            "Bearer s3cret"
        );
        assert_eq!(
            expand("${NOPE:-https://x}/mcp", &v, &mut unresolved),
            "https://x/mcp"
        );
        assert_eq!(
            expand("a ${MISSING} b", &v, &mut unresolved),
            "a ${MISSING} b"
        );
        assert_eq!(expand("${unclosed", &v, &mut unresolved), "${unclosed");
        assert_eq!(unresolved, ["MISSING"]);
    }

    #[test]
    fn secrets_never_serialize_in_clear() {
        let entry = json!({"type": "http", "url": "https://h/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"},
                           "env": {"K": "literal-secret"}});
        let mut diags = Vec::new();
        let r = parse_entry(
            "x",
            &entry,
            Path::new("/c.json"),
            Scope::User,
            None,
            "x",
            &vars(),
            &mut diags,
        )
        .unwrap();
        let text = serde_json::to_string(&r).unwrap();
        assert!(
            !text.contains("s3cret")
                && !text.contains("literal-secret")
                && !text.contains("${TOKEN}"),
            "{text}"
        );
        let Details::McpServer(d) = &r.details else {
            panic!("not mcp")
        };
        assert_eq!(d.headers["Authorization"].expose(), "Bearer s3cret");
        assert!(diags.is_empty());
    }

    #[test]
    fn url_passwords_in_expanded_args_are_masked() {
        let entry = json!({"command": "npx", "args": ["pg", "${DB}"]});
        let mut diags = Vec::new();
        let r = parse_entry(
            "pg",
            &entry,
            Path::new("/c.json"),
            Scope::User,
            None,
            "pg",
            &vars(),
            &mut diags,
        )
        .unwrap();
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("pw@"), "{text}");
    }

    #[test]
    fn url_without_type_and_missing_command_are_rejected() {
        let mut diags = Vec::new();
        let v = vars();
        assert!(
            parse_entry(
                "a",
                &json!({"url": "https://x"}),
                Path::new("/c"),
                Scope::User,
                None,
                "a",
                &v,
                &mut diags
            )
            .is_none()
        );
        assert!(
            parse_entry(
                "b",
                &json!({"args": []}),
                Path::new("/c"),
                Scope::User,
                None,
                "b",
                &v,
                &mut diags
            )
            .is_none()
        );
        assert!(
            parse_entry(
                "c",
                &json!({"type": "carrier-pigeon", "command": "x"}),
                Path::new("/c"),
                Scope::User,
                None,
                "c",
                &v,
                &mut diags
            )
            .is_none()
        );
        let codes: Vec<_> = diags.iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            [
                DiagnosticCode::McpUrlWithoutType,
                DiagnosticCode::McpEntryInvalid,
                DiagnosticCode::McpEntryInvalid
            ]
        );
    }
}
