//! Keeping the catalog's n8n workflows current from n8n's public API.
//!
//! Every interval the workflow list is fetched (following `nextCursor`) and handed to the
//! catalog as a live source, where it is merged with export files (the live copy of a workflow
//! wins). When n8n cannot be reached, the last list fetched stays, with a `source_unreachable`
//! diagnostic saying since when.

use std::time::Duration;

use jarvis_core::{Diagnostic, DiagnosticCode};
use jarvis_discovery::{External, LiveCatalog, workflows_from_api};
use jarvis_integrations::N8nClient;

/// The catalog's name for this source.
pub const ORIGIN: &str = "n8n";

/// Fetches n8n's workflows now and every `interval`. Call inside a tokio runtime.
pub fn spawn_workflow_refresh(client: N8nClient, catalog: LiveCatalog, interval: Duration) {
    tokio::spawn(async move {
        let origin = format!("{}/api/v1/workflows", client.base_url());
        loop {
            let next = match client.list_workflows().await {
                Ok(items) => {
                    let (resources, diagnostics) = workflows_from_api(&items, &origin);
                    External {
                        resources,
                        diagnostics,
                    }
                }
                Err(e) => {
                    let last = catalog.external(ORIGIN).unwrap_or_default();
                    tracing::warn!(error = %e, kept = last.resources.len(), "cannot refresh n8n workflows; keeping the last list");
                    External {
                        diagnostics: vec![Diagnostic::new(
                            DiagnosticCode::SourceUnreachable,
                            &origin,
                            format!(
                                "n8n's workflow list could not be read ({e}); showing the {} workflows fetched before",
                                last.resources.len()
                            ),
                        )],
                        resources: last.resources,
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
    });
}
