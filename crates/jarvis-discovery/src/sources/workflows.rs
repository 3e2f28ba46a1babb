//! n8n workflows from export files (`n8n export:workflow --all` writes an array), single-workflow
//! exports, and saved `GET /api/v1/workflows` answers (`{data, nextCursor}`).
//!
//! Each workflow's webhook triggers are extracted with the path n8n serves them under, since a
//! webhook is the only way to start a workflow from outside.

use std::path::Path;
use std::sync::Arc;

use jarvis_core::{
    Body, Details, Diagnostic, DiagnosticCode, Resource, ResourceId, ResourceKind, Scope,
    WebhookTrigger, WorkflowDetails, mask_secret_values,
};
use serde_json::{Value, json};

use crate::scan::Scan;
use crate::walk::{files_below, has_extension};

/// Scans a workflow export file, or every `.json` file below a folder.
pub(crate) fn scan_path(scan: &mut Scan<'_>, path: &Path) {
    if path.is_dir() {
        let files = files_below(path, 8, |p| has_extension(p, "json"), scan.diags());
        for file in files {
            scan_file(scan, &file);
        }
    } else if path.is_file() {
        scan_file(scan, path);
    } else {
        scan.diag(
            Diagnostic::new(
                DiagnosticCode::RootMissing,
                path,
                "workflow export path no longer exists",
            )
            .with_severity(jarvis_core::Severity::Warning),
        );
    }
}

fn scan_file(scan: &mut Scan<'_>, path: &Path) {
    let parsed = scan.read_all(&[path.to_path_buf()], |path, text, diags| {
        parse_file(text, path, diags)
            .into_iter()
            .map(Arc::new)
            .collect::<Vec<_>>()
    });
    for r in parsed.into_iter().flatten() {
        scan.push_shared(r);
    }
}

/// Parses one export file into workflows.
pub(crate) fn parse_file(text: &str, path: &Path, diags: &mut Vec<Diagnostic>) -> Vec<Resource> {
    let doc: Value = match serde_json::from_str(text) {
        Ok(doc) => doc,
        Err(e) => {
            diags.push(
                Diagnostic::new(
                    DiagnosticCode::JsonInvalid,
                    path,
                    format!("not valid JSON: {e}"),
                )
                .at_line(u32::try_from(e.line()).unwrap_or(0)),
            );
            return Vec::new();
        }
    };
    let items: Vec<&Value> = match &doc {
        Value::Array(items) => items.iter().collect(),
        Value::Object(obj) if obj.contains_key("nodes") => vec![&doc],
        Value::Object(obj) => match obj.get("data") {
            Some(Value::Array(items)) => items.iter().collect(),
            _ => {
                diags.push(Diagnostic::new(
                    DiagnosticCode::WorkflowInvalid,
                    path,
                    "neither a workflow, a list of workflows, nor an API answer with `data`",
                ));
                return Vec::new();
            }
        },
        _ => {
            diags.push(Diagnostic::new(
                DiagnosticCode::WorkflowInvalid,
                path,
                "not a workflow export",
            ));
            return Vec::new();
        }
    };
    items
        .into_iter()
        .enumerate()
        .filter_map(|(i, item)| parse_workflow(item, i, path, Scope::Export, diags))
        .collect()
}

/// Workflows from a live API's answers (n8n's `GET /api/v1/workflows` `data` items); `origin`
/// (the API's URL) stands where a file path would.
pub fn workflows_from_api(items: &[Value], origin: &str) -> (Vec<Resource>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let path = Path::new(origin);
    let resources = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| parse_workflow(item, i, path, Scope::Remote, &mut diags))
        .collect();
    (resources, diags)
}

fn parse_workflow(
    item: &Value,
    index: usize,
    path: &Path,
    scope: Scope,
    diags: &mut Vec<Diagnostic>,
) -> Option<Resource> {
    let Some(nodes) = item.get("nodes").and_then(Value::as_array) else {
        diags.push(Diagnostic::new(
            DiagnosticCode::WorkflowInvalid,
            path,
            format!("entry {index} has no `nodes` list; not a workflow"),
        ));
        return None;
    };
    let workflow_id = item.get("id").and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let name = item
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            diags.push(Diagnostic::new(
                DiagnosticCode::MissingName,
                path,
                format!("workflow entry {index} has no name"),
            ));
            format!("workflow {}", workflow_id.as_deref().unwrap_or("(no id)"))
        });
    let active = item.get("active").and_then(Value::as_bool).unwrap_or(false);
    let archived = item
        .get("isArchived")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let tags: Vec<String> = item
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(|t| match t {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => o.get("name").and_then(Value::as_str).map(str::to_owned),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();

    let mut node_types: Vec<String> = Vec::new();
    let mut webhooks = Vec::new();
    let mut body = String::new();
    for node in nodes {
        let node_type = node
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        let node_name = node.get("name").and_then(Value::as_str).unwrap_or("");
        body.push_str(&format!("- {node_name} ({node_type})\n"));
        if !node_types.iter().any(|t| t == node_type) {
            node_types.push(node_type.to_owned());
        }
        if node_type.ends_with(".webhook") {
            webhooks.push(webhook(node, node_name));
        }
    }
    node_types.sort();

    let description = item
        .get("description")
        .and_then(Value::as_str)
        .filter(|d| !d.trim().is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let trigger = webhooks
                .first()
                .map_or_else(String::new, |w: &WebhookTrigger| {
                    format!(
                        "; triggered by {} /webhook/{}",
                        w.methods.join("|"),
                        w.production_path
                    )
                });
            format!(
                "n8n workflow with {} nodes, {}{trigger}",
                nodes.len(),
                if active { "active" } else { "inactive" }
            )
        });

    // Node parameters can hold credentials and large code; metadata keeps a summary.
    let mut metadata = json!({
        "id": workflow_id,
        "name": name,
        "active": active,
        "isArchived": archived,
        "tags": tags,
        "settings": item.get("settings").cloned().unwrap_or(Value::Null),
        "nodes": nodes.iter().map(|n| json!({
            "name": n.get("name"),
            "type": n.get("type"),
            "typeVersion": n.get("typeVersion"),
        })).collect::<Vec<_>>(),
        "createdAt": item.get("createdAt"),
        "updatedAt": item.get("updatedAt"),
    });
    mask_secret_values(&mut metadata);
    let key = workflow_id.clone().unwrap_or_else(|| format!("#{index}"));
    Some(Resource {
        id: ResourceId::derive(ResourceKind::Workflow, scope, &path.to_string_lossy(), &key),
        kind: ResourceKind::Workflow,
        qualified_name: name.clone(),
        name,
        aliases: Vec::new(),
        description,
        scope,
        project: None,
        source: path.to_path_buf(),
        category: Some("n8n".to_owned()),
        tags,
        metadata,
        body: Body::new(&body),
        details: Details::Workflow(WorkflowDetails {
            workflow_id,
            active,
            archived,
            node_count: nodes.len(),
            node_types,
            webhooks,
        }),
        shadowed_by: None,
        flags: Vec::new(),
    })
}

fn webhook(node: &Value, node_name: &str) -> WebhookTrigger {
    let params = node.get("parameters").cloned().unwrap_or(Value::Null);
    let text = |key: &str| params.get(key).and_then(Value::as_str).map(str::to_owned);
    let path = text("path").unwrap_or_default();
    let path = path.trim_start_matches('/').to_owned();
    let multiple = params
        .get("multipleMethods")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let methods = match params.get("httpMethod") {
        Some(Value::String(m)) => vec![m.to_ascii_uppercase()],
        Some(Value::Array(ms)) if multiple => ms
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_ascii_uppercase)
            .collect(),
        // n8n's webhook node defaults to GET in every version.
        _ => vec!["GET".to_owned()],
    };
    let webhook_id = node
        .get("webhookId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let dynamic = path.split('/').any(|seg| seg.starts_with(':'));
    let production_path = match (&webhook_id, dynamic) {
        (Some(id), true) => format!("{id}/{path}"),
        _ => path.clone(),
    };
    WebhookTrigger {
        node: node_name.to_owned(),
        methods,
        path,
        production_path,
        response_mode: text("responseMode").unwrap_or_else(|| "onReceived".to_owned()),
        webhook_id,
        authentication: text("authentication").unwrap_or_else(|| "none".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_array_yields_workflows_with_webhooks() {
        let text = r#"[
          {"id": "A1", "name": "PR digest", "active": true, "tags": [{"id": "t", "name": "ci"}, "plain"],
           "nodes": [{"name": "Hook", "type": "n8n-nodes-base.webhook", "typeVersion": 2, "webhookId": "w-1",
                      "parameters": {"httpMethod": "POST", "path": "github-pr"}},
                     {"name": "Code", "type": "n8n-nodes-base.code", "parameters": {"jsCode": "x"}}]},
          {"id": "B2", "name": "Lead", "active": false,
           "nodes": [{"name": "Hook", "type": "n8n-nodes-base.webhook", "webhookId": "w-2",
                      "parameters": {"path": "lead/:leadId", "responseMode": "lastNode"}}]},
          {"name": "broken"}
        ]"#;
        let mut diags = Vec::new();
        let wfs = parse_file(text, Path::new("/x.json"), &mut diags);
        assert_eq!(wfs.len(), 2);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, DiagnosticCode::WorkflowInvalid);
        assert_eq!(wfs[0].tags, ["ci", "plain"]);
        let Details::Workflow(a) = &wfs[0].details else {
            panic!()
        };
        assert_eq!(a.webhooks[0].methods, ["POST"]);
        assert_eq!(a.webhooks[0].production_path, "github-pr");
        assert_eq!(a.webhooks[0].response_mode, "onReceived");
        let Details::Workflow(b) = &wfs[1].details else {
            panic!()
        };
        assert_eq!(b.webhooks[0].methods, ["GET"]);
        assert_eq!(b.webhooks[0].production_path, "w-2/lead/:leadId");
        assert!(!b.active);
        assert!(!serde_json::to_string(&wfs[0]).unwrap().contains("jsCode"));
    }
}
