//! n8n workflows as Jarvis runs them, beneath every door that triggers or watches one.
//!
//! - [`ExecutionFollower::trigger`]: the rules for triggering a workflow of the catalog (the
//!   parameters, the lookup with its ambiguity rule, webhook and active checks), the stored
//!   execution record, the webhook call.
//! - [`ExecutionFollower::follow`]: n8n's execution followed to its end, every change stored and
//!   then published; [`ExecutionFollower::shutdown`] ends every follow loop.
//! - [`ExecutionFollower::relay`]: on a store several instances share, the executions the
//!   others store, published here too.
//! - [`spawn_workflow_refresh`]: the catalog's list of workflows kept current from n8n's API,
//!   with the last list kept on disk for a start while n8n is down; it runs until its
//!   [`LoopHandle`] is dropped or stopped.
//!
//! Architecture invariant: knows nothing of HTTP. Store calls and file writes run on the
//! blocking pool; everything here needs a tokio runtime.
//!
//! # Example: trigger a workflow of the catalog
//!
//! ```
//! use std::{collections::BTreeMap, sync::Arc, time::Duration};
//! use jarvis_discovery::{DiscoveryConfig, Environment, LiveCatalog};
//! use jarvis_integrations::{N8nClient, N8nConfig};
//! use jarvis_workflows::{ExecutionFollower, ExecutionStatus};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # use wiremock::{Mock, MockServer, ResponseTemplate, matchers::{method, path}};
//! # let n8n = MockServer::start().await;
//! # Mock::given(method("POST")).and(path("/webhook/pr-digest"))
//! #     .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({ "ok": true })))
//! #     .mount(&n8n).await;
//! # let base_url = n8n.uri();
//! let dir = tempfile::tempdir()?;
//! let export = dir.path().join("workflows.json");
//! std::fs::write(&export, r#"[{"id": "A1", "name": "PR digest", "active": true, "nodes": [
//!     {"name": "Hook", "type": "n8n-nodes-base.webhook", "webhookId": "h1",
//!      "parameters": {"httpMethod": "POST", "path": "pr-digest"}}], "connections": {}}]"#)?;
//! let discovery = DiscoveryConfig { workflow_paths: vec![export], ..DiscoveryConfig::default() };
//! let env = Environment { home: Some(dir.path().to_owned()), vars: BTreeMap::new() };
//! let catalog = LiveCatalog::load(discovery.resolve(&env)?); // blocking, as is opening a store
//! let store = Arc::new(jarvis_store::SqliteStore::open(dir.path().join("jarvis.db"))?);
//!
//! // `base_url` is n8n's address; with an API key the execution is followed to its end.
//! let client = N8nClient::new(&N8nConfig { base_url, ..N8nConfig::default() })?;
//! let follower = ExecutionFollower::new(
//!     store,
//!     Duration::from_millis(500), // first poll
//!     Duration::from_secs(5),     // longest wait between polls
//!     Duration::from_secs(600),   // give up after
//! );
//! let execution = follower
//!     .trigger(&catalog.snapshot(), Some(&client), "PR digest", None, "docs".into())
//!     .await?;
//! assert_eq!(execution.workflow_id, "A1");
//! assert_eq!(execution.status, ExecutionStatus::Triggered);
//! let stored = follower.store().get_execution(&execution.id)?; // recorded before the answer
//! assert_eq!(stored.map(|e| e.status), Some(ExecutionStatus::Triggered));
//! follower.shutdown();
//! # Ok(())
//! # }
//! ```

mod follower;
mod refresh;
mod trigger;

pub use jarvis_core::{ExecutionStatus, WorkflowExecution};

pub use follower::{EXECUTIONS_CHANNEL, ExecutionFollower, now_ms};
pub use jarvis_integrations::LoopHandle;
pub use refresh::{ORIGIN, spawn_workflow_refresh};
pub use trigger::{MAX_PARAMETERS, TriggerError, check_parameters};
