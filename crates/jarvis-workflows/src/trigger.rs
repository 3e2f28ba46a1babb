//! Triggering a workflow of the catalog through its production webhook, one rule for every door
//! (`POST /workflow/trigger`, `POST /api/v2/workflows/{id}/trigger`, and whatever comes next).
//!
//! The parameters are checked before anything is called; the workflow must be in effect, not
//! ambiguous, have a webhook trigger and be active. The execution is recorded before n8n is
//! called, so a database that cannot take it stops the trigger before any side effect, and a
//! trigger that happened is never without its record. Both ids are the server's own.

use jarvis_core::{Code, Details, ErrorCode, ExecutionStatus, ResourceKind, WorkflowExecution};
use jarvis_discovery::{CatalogSnapshot, LookupError};
use jarvis_integrations::N8nClient;
use serde_json::{Map, Value, json};

use crate::follower::{ExecutionFollower, now_ms};

/// The largest parameters object accepted, serialized, in bytes.
pub const MAX_PARAMETERS: usize = 64 * 1024;

/// Why a workflow was not triggered.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// The parameters are not a JSON object, or too large.
    #[error("{0}")]
    InvalidParameters(String),
    /// No workflow in effect answers to the key, or several do.
    #[error(transparent)]
    Lookup(#[from] jarvis_discovery::Error),
    /// The workflow has no webhook trigger.
    #[error("workflow `{0}` has no webhook trigger")]
    NotTriggerable(String),
    /// The workflow is inactive.
    #[error("workflow `{0}` is inactive: its production webhook does not answer")]
    Inactive(String),
    /// No n8n is configured.
    #[error("n8n is not configured (set n8n.base_url)")]
    NotConfigured,
    /// The execution could not be recorded; n8n was not called.
    #[error(transparent)]
    Store(#[from] jarvis_store::Error),
    /// n8n was called and the call failed; the execution is recorded with the error.
    #[error(transparent)]
    Webhook(jarvis_integrations::Error),
}

impl ErrorCode for TriggerError {
    fn error_code(&self) -> Code {
        match self {
            TriggerError::InvalidParameters(_) => Code::ValidationError,
            TriggerError::Lookup(e) => e.error_code(),
            TriggerError::NotTriggerable(_) => Code::WorkflowNotTriggerable,
            TriggerError::Inactive(_) => Code::WorkflowInactive,
            TriggerError::NotConfigured => Code::UpstreamUnavailable,
            TriggerError::Store(e) => e.error_code(),
            TriggerError::Webhook(e) => e.error_code(),
        }
    }

    fn error_details(&self) -> Option<Value> {
        match self {
            TriggerError::InvalidParameters(_) => Some(json!({ "parameter": "parameters" })),
            TriggerError::Lookup(e) => e.error_details(),
            TriggerError::Webhook(e) => e.error_details(),
            _ => None,
        }
    }
}

/// No workflow in effect answers to `key`.
fn not_found(key: &str) -> TriggerError {
    TriggerError::Lookup(jarvis_discovery::Error::Lookup(
        LookupError::NotFound.to_failure(ResourceKind::Workflow, key),
    ))
}

/// The parameters a request sent, checked: absent or `null` is an empty object; anything but
/// an object, or an object larger than [`MAX_PARAMETERS`] serialized, is refused.
pub fn check_parameters(raw: Option<Value>) -> Result<Map<String, Value>, TriggerError> {
    let parameters = match raw {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(TriggerError::InvalidParameters(
                "`parameters` must be a JSON object".into(),
            ));
        }
    };
    let size = serde_json::to_vec(&parameters).map_or(usize::MAX, |v| v.len());
    if size > MAX_PARAMETERS {
        return Err(TriggerError::InvalidParameters(format!(
            "`parameters` has {size} bytes; the limit is {MAX_PARAMETERS}"
        )));
    }
    Ok(parameters)
}

impl ExecutionFollower {
    /// Triggers the workflow `key` (n8n's id, Jarvis's id, or its name) of `snapshot` with
    /// `parameters` through `client`, records the execution, and follows it when the client
    /// can read executions. Answers the execution as recorded after the webhook answered.
    pub async fn trigger(
        &self,
        snapshot: &CatalogSnapshot,
        client: Option<&N8nClient>,
        key: &str,
        parameters: Option<Value>,
        submitted_by: String,
    ) -> Result<WorkflowExecution, TriggerError> {
        let mut parameters = check_parameters(parameters)?;
        // Only a workflow in effect can be triggered; a name two of them answer to is ambiguous.
        let workflow = snapshot.find(ResourceKind::Workflow, key)?;
        let Details::Workflow(details) = &workflow.details else {
            return Err(not_found(key));
        };
        if !workflow.is_active() {
            return Err(not_found(key));
        }
        let Some(hook) = details.webhooks.first() else {
            return Err(TriggerError::NotTriggerable(workflow.name.clone()));
        };
        if !details.active {
            return Err(TriggerError::Inactive(workflow.name.clone()));
        }
        let Some(client) = client else {
            return Err(TriggerError::NotConfigured);
        };
        let id = jarvis_store::new_id("wfx")?;
        let correlation_id = jarvis_store::new_id("jarvis")?;
        parameters.insert(
            "jarvis_correlation_id".into(),
            Value::String(correlation_id.clone()),
        );
        let mut execution = WorkflowExecution {
            id,
            workflow_id: details
                .workflow_id
                .clone()
                .unwrap_or_else(|| workflow.id.to_string()),
            workflow_name: workflow.name.clone(),
            correlation_id,
            n8n_execution_id: None,
            status: ExecutionStatus::Triggered,
            reply: None,
            started_at: now_ms(),
            finished_at: None,
            error: None,
            submitted_by,
        };
        self.save(&execution, true).await?;
        let method = hook.methods.first().map_or("POST", String::as_str);
        let reply = client
            .trigger_webhook(method, &hook.production_path, &Value::Object(parameters))
            .await;
        let failure = match reply {
            Ok(reply) => {
                execution.reply = Some(reply.body);
                None
            }
            Err(e) => {
                execution.status = ExecutionStatus::Error;
                execution.finished_at = Some(now_ms());
                execution.error = Some(format!("the webhook call failed: {e}"));
                Some(e)
            }
        };
        if let Err(store) = self.save(&execution, false).await {
            // n8n was called (or refused); the record keeps its first state.
            tracing::error!(
                execution = %execution.id,
                error = %store,
                "cannot record the webhook's answer"
            );
        }
        if let Some(e) = failure {
            return Err(TriggerError::Webhook(e));
        }
        if client.has_api_key() {
            self.follow(client.clone(), execution.clone());
        }
        Ok(execution)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_an_object_within_bounds() {
        assert!(check_parameters(None).unwrap().is_empty());
        assert!(check_parameters(Some(Value::Null)).unwrap().is_empty());
        let given = check_parameters(Some(json!({ "a": 1 }))).unwrap();
        assert_eq!(given.get("a"), Some(&json!(1)));
        for refused in [json!([1]), json!("x"), json!(3)] {
            let error = check_parameters(Some(refused)).unwrap_err();
            assert_eq!(error.error_code(), Code::ValidationError);
            assert_eq!(
                error.error_details(),
                Some(json!({ "parameter": "parameters" }))
            );
        }
        let big = json!({ "text": "x".repeat(MAX_PARAMETERS) });
        let error = check_parameters(Some(big)).unwrap_err();
        assert!(error.to_string().contains("the limit is 65536"), "{error}");
    }
}
