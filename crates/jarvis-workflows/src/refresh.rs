//! Keeping the catalog's n8n workflows current from n8n's public API.
//!
//! Every interval the workflow list is fetched (following `nextCursor`) and handed to the
//! catalog as a live source, where it is merged with export files (the live copy of a workflow
//! wins). Each list fetched is also written to a file, so that a restart while n8n cannot be
//! reached still serves the last known list. Whenever the list shown is not fresh, a
//! `source_unreachable` diagnostic says so.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jarvis_core::{Diagnostic, DiagnosticCode};
use jarvis_discovery::{External, LiveCatalog, workflows_from_api};
use jarvis_integrations::{LoopHandle, N8nClient};
use serde_json::Value;

/// The catalog's name for this source.
pub const ORIGIN: &str = "n8n";

/// Fetches n8n's workflows now and every `interval`, merging them into `catalog`.
///
/// `last_known`, when given, is a file holding the last list fetched: read once at start (used
/// until a fetch succeeds) and rewritten after each fetch that changed the list. Runs until the
/// handle is dropped or stopped. Call inside a tokio runtime.
pub fn spawn_workflow_refresh(
    client: N8nClient,
    catalog: LiveCatalog,
    interval: Duration,
    last_known: Option<PathBuf>,
) -> LoopHandle {
    LoopHandle::new(tokio::spawn(async move {
        let origin = format!("{}/api/v1/workflows", client.base_url());
        let mut saved: Option<Vec<Value>> = match &last_known {
            Some(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || read_last_known(&path))
                    .await
                    .unwrap_or_else(|e| {
                        tracing::error!(error = %e, "cannot read the last known n8n workflows");
                        None
                    })
            }
            None => None,
        };
        let mut fresh = false;
        loop {
            let next = match client.list_workflows().await {
                Ok(items) => {
                    if saved.as_ref() != Some(&items) {
                        if let Some(path) = &last_known {
                            write_last_known(path.clone(), items.clone()).await;
                        }
                        saved = Some(items);
                    }
                    fresh = true;
                    let (resources, diagnostics) =
                        workflows_from_api(saved.as_deref().unwrap_or_default(), &origin);
                    External {
                        resources: resources.into_iter().map(std::sync::Arc::new).collect(),
                        diagnostics,
                    }
                }
                Err(e) => {
                    let (resources, mut diagnostics) =
                        workflows_from_api(saved.as_deref().unwrap_or_default(), &origin);
                    let shown = if fresh {
                        "fetched before"
                    } else {
                        "from the last known list saved before this start"
                    };
                    tracing::warn!(error = %e, kept = resources.len(), "cannot refresh n8n workflows; keeping the last list");
                    diagnostics.push(Diagnostic::new(
                        DiagnosticCode::SourceUnreachable,
                        &origin,
                        format!(
                            "n8n's workflow list could not be read ({e}); showing the {} workflows {shown}",
                            resources.len()
                        ),
                    ));
                    External {
                        resources: resources.into_iter().map(std::sync::Arc::new).collect(),
                        diagnostics,
                    }
                }
            };
            let unchanged = catalog.external(ORIGIN).is_some_and(|current| {
                current.resources == next.resources && current.diagnostics == next.diagnostics
            });
            if !unchanged {
                let target = catalog.clone();
                if let Err(e) =
                    tokio::task::spawn_blocking(move || target.set_external(ORIGIN, next)).await
                {
                    tracing::error!(error = %e, "cannot merge n8n workflows into the catalog");
                }
            }
            tokio::time::sleep(interval).await;
        }
    }))
}

/// The saved list, or `None` (logged) when there is none or it cannot be read.
fn read_last_known(path: &Path) -> Option<Vec<Value>> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the last known n8n workflows");
            return None;
        }
    };
    match serde_json::from_slice(&text) {
        Ok(items) => Some(items),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "the last known n8n workflows file is not a JSON list; ignoring it");
            None
        }
    }
}

/// Replaces the saved list atomically (a temporary file renamed over it), readable by the
/// owner only: workflow definitions can hold values a user would not share.
async fn write_last_known(path: PathBuf, items: Vec<Value>) {
    let result = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let bytes = serde_json::to_vec(&items).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("json.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        std::io::Write::write_all(&mut file, &bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    })
    .await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot save the last known n8n workflows; a restart while n8n is down will not show them")
        }
        Err(e) => tracing::error!(error = %e, "cannot save the last known n8n workflows"),
    }
}
