//! The n8n client: the public API (`/api/v1`, `X-N8N-API-KEY`), health, and webhook calls.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jarvis_core::Secret;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::breaker::{BreakerConfig, CircuitBreaker};
use crate::retry::{Attempt, RetrySchedule, Verdict, classify, retry_after};
use crate::stats::ServiceStats;
use crate::{Error, Result};

/// The service name used in errors, logs and the registry.
const SERVICE: &str = "n8n";
/// The page size asked of n8n's list endpoints (its maximum).
const PAGE: u32 = 250;
/// A safety stop for runaway pagination.
const MAX_PAGES: usize = 1_000;

/// The `[n8n]` configuration section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct N8nConfig {
    /// n8n's base URL (`http://localhost:5678`); empty disables the integration.
    pub base_url: String,
    /// The public API key; without one only webhooks and health are used.
    pub api_key: Option<Secret>,
    /// Time allowed to connect, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Time allowed for a whole call, in milliseconds.
    pub timeout_ms: u64,
    /// Retries.
    pub retry: RetrySchedule,
    /// The circuit breaker.
    pub breaker: BreakerConfig,
    /// Whether `/ready` fails while n8n is unhealthy.
    pub required: bool,
    /// How often its health is checked, in seconds.
    pub health_interval_secs: u64,
    /// How often the workflow list is fetched from the API (with a key), in seconds.
    pub refresh_secs: u64,
}

impl Default for N8nConfig {
    fn default() -> Self {
        N8nConfig {
            base_url: String::new(),
            api_key: None,
            connect_timeout_ms: 3_000,
            timeout_ms: 30_000,
            retry: RetrySchedule::default(),
            breaker: BreakerConfig::default(),
            required: false,
            health_interval_secs: 30,
            refresh_secs: 300,
        }
    }
}

/// What a webhook answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookReply {
    /// The HTTP status.
    pub status: u16,
    /// The body, as JSON when it is JSON, else as a string.
    pub body: Value,
}

/// The client. Cheap to clone; the breaker and counters are shared.
#[derive(Debug, Clone)]
pub struct N8nClient {
    base: String,
    api_key: Option<Secret>,
    timeout: Duration,
    retry: RetrySchedule,
    http: reqwest::Client,
    breaker: Arc<CircuitBreaker>,
    stats: Arc<ServiceStats>,
}

impl N8nClient {
    /// A client for `config`.
    pub fn new(config: &N8nConfig) -> Result<N8nClient> {
        let base = config.base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Config {
                key: "n8n.base_url".into(),
                reason: format!("`{base}` is not an http(s) URL"),
            });
        }
        let timeout = Duration::from_millis(config.timeout_ms);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .timeout(timeout)
            .build()
            .map_err(|e| Error::Config {
                key: "n8n".into(),
                reason: e.to_string(),
            })?;
        Ok(N8nClient {
            base,
            api_key: config.api_key.clone(),
            timeout,
            retry: config.retry.clone(),
            http,
            breaker: Arc::new(CircuitBreaker::new(SERVICE, config.breaker.clone())),
            stats: Arc::new(ServiceStats::default()),
        })
    }

    /// The breaker (its state and events).
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The counters.
    pub fn stats(&self) -> &ServiceStats {
        &self.stats
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Whether an API key is configured (the public API needs one).
    pub fn has_api_key(&self) -> bool {
        self.api_key.is_some()
    }

    /// `GET /healthz`.
    ///
    /// Needs a Tokio runtime with I/O and time enabled (it panics outside one): see
    /// [the crate's runtime notes](crate#runtime).
    pub async fn health(&self) -> Result<()> {
        self.call(true, || self.http.get(format!("{}/healthz", self.base)))
            .await?;
        Ok(())
    }

    fn api(&self, method: Method, path: &str) -> RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base));
        if let Some(key) = &self.api_key {
            request = request.header("X-N8N-API-KEY", key.expose());
        }
        request
    }

    /// Every workflow, following `nextCursor`.
    ///
    /// Needs a Tokio runtime with I/O and time enabled (it panics outside one): see
    /// [the crate's runtime notes](crate#runtime).
    pub async fn list_workflows(&self) -> Result<Vec<Value>> {
        self.list_all("/workflows", &[]).await
    }

    /// Executions, newest first (`status` as n8n names it; `running` ones are only listed when
    /// asked for by status).
    ///
    /// Needs a Tokio runtime with I/O and time enabled (it panics outside one): see
    /// [the crate's runtime notes](crate#runtime).
    pub async fn list_executions(
        &self,
        workflow_id: Option<&str>,
        status: Option<&str>,
        include_data: bool,
    ) -> Result<Vec<Value>> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(id) = workflow_id {
            query.push(("workflowId", id.to_owned()));
        }
        if let Some(status) = status {
            query.push(("status", status.to_owned()));
        }
        if include_data {
            query.push(("includeData", "true".to_owned()));
        }
        self.list_all("/executions", &query).await
    }

    /// One execution.
    ///
    /// Needs a Tokio runtime with I/O and time enabled (it panics outside one): see
    /// [the crate's runtime notes](crate#runtime).
    pub async fn get_execution(&self, id: &str, include_data: bool) -> Result<Value> {
        let path = format!("/executions/{id}");
        let response = self
            .call(true, || {
                self.api(Method::GET, &path)
                    .query(&[("includeData", include_data.to_string())])
            })
            .await?;
        self.json(response).await
    }

    async fn list_all(&self, path: &str, query: &[(&str, String)]) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut q: Vec<(&str, String)> = query.to_vec();
            q.push(("limit", PAGE.to_string()));
            if let Some(c) = &cursor {
                q.push(("cursor", c.clone()));
            }
            let response = self
                .call(true, || self.api(Method::GET, path).query(&q))
                .await?;
            let page = self.json(response).await?;
            let data =
                page.get("data")
                    .and_then(Value::as_array)
                    .ok_or_else(|| Error::Invalid {
                        service: SERVICE.into(),
                        reason: format!("{path} answered without a `data` list"),
                    })?;
            out.extend(data.iter().cloned());
            cursor = page
                .get("nextCursor")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_owned);
            if cursor.is_none() {
                return Ok(out);
            }
        }
        Err(Error::Invalid {
            service: SERVICE.into(),
            reason: format!("{path} kept returning pages after {MAX_PAGES}"),
        })
    }

    /// Calls a production webhook. Not idempotent: retried only when n8n provably did not start
    /// the workflow (see the crate's retry rule).
    ///
    /// Needs a Tokio runtime with I/O and time enabled (it panics outside one): see
    /// [the crate's runtime notes](crate#runtime).
    pub async fn trigger_webhook(
        &self,
        method: &str,
        path: &str,
        body: &Value,
    ) -> Result<WebhookReply> {
        let method = Method::from_bytes(method.as_bytes()).map_err(|_| Error::Config {
            key: "webhook method".into(),
            reason: format!("`{method}` is not an HTTP method"),
        })?;
        let url = format!("{}/webhook/{}", self.base, path.trim_start_matches('/'));
        let response = self
            .call(false, || {
                let request = self.http.request(method.clone(), &url);
                if method == Method::GET {
                    let query: Vec<(String, String)> = body
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| {
                                    (
                                        k.clone(),
                                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    request.query(&query)
                } else {
                    request.json(body)
                }
            })
            .await?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| Error::Unavailable {
            service: SERVICE.into(),
            reason: format!("the webhook reply could not be read: {e}"),
        })?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(WebhookReply { status, body })
    }

    async fn json(&self, response: reqwest::Response) -> Result<Value> {
        response.json::<Value>().await.map_err(|e| Error::Invalid {
            service: SERVICE.into(),
            reason: format!("not JSON: {e}"),
        })
    }

    /// One logical call: breaker, attempts, retry rule, counters.
    async fn call(
        &self,
        idempotent: bool,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<reqwest::Response> {
        let mut schedule = self.retry.backoff();
        let mut last_failure: Option<String> = None;
        loop {
            let permit = match self.breaker.acquire() {
                Ok(permit) => permit,
                // The breaker opened during this call's own retries: report what went wrong;
                // the next call is the one that fails fast.
                Err(_) if let Some(reason) = last_failure => {
                    return Err(Error::Unavailable {
                        service: SERVICE.into(),
                        reason,
                    });
                }
                Err(retry_after) => {
                    return Err(Error::CircuitOpen {
                        service: SERVICE.into(),
                        retry_after,
                    });
                }
            };
            let started = Instant::now();
            let result = build().send().await;
            let latency = started.elapsed();
            let (attempt, response, reason) = match result {
                Ok(response) => {
                    let status = response.status();
                    (
                        Attempt::Status(status.as_u16()),
                        Some(response),
                        format!("answered {status}"),
                    )
                }
                Err(e) if e.is_connect() => {
                    (Attempt::ConnectFailed, None, "cannot connect".to_owned())
                }
                Err(e) if e.is_timeout() => (Attempt::TimedOut, None, "timed out".to_owned()),
                Err(_) => (
                    Attempt::BrokenAfterSend,
                    None,
                    "the connection broke".to_owned(),
                ),
            };
            let verdict = classify(attempt, idempotent);
            // A 4xx other than 429 is the caller's problem, not the service's: it does not count
            // against the breaker.
            let service_fault = match attempt {
                Attempt::Status(s) => s == 429 || s >= 500,
                _ => true,
            };
            if verdict == Verdict::Done || !service_fault {
                permit.success();
            } else {
                permit.failure();
            }
            self.stats.record(
                latency,
                (verdict != Verdict::Done).then_some(reason.as_str()),
            );
            if verdict != Verdict::Done {
                last_failure = Some(reason.clone());
            }
            match (verdict, response) {
                (Verdict::Done, Some(response)) => return Ok(response),
                (Verdict::Retry, response) => {
                    let hinted = response.as_ref().and_then(|r| {
                        retry_after(
                            r.headers()
                                .get(reqwest::header::RETRY_AFTER)
                                .and_then(|v| v.to_str().ok()),
                        )
                    });
                    let Some(wait) = backoff::backoff::Backoff::next_backoff(&mut schedule) else {
                        return Err(self.final_error(attempt, response).await);
                    };
                    let wait = hinted.map_or(wait, |h| h.max(wait));
                    tracing::debug!(service = SERVICE, attempt = ?attempt, wait_ms = wait.as_millis() as u64, "retrying");
                    tokio::time::sleep(wait).await;
                }
                (_, response) => return Err(self.final_error(attempt, response).await),
            }
        }
    }

    async fn final_error(&self, attempt: Attempt, response: Option<reqwest::Response>) -> Error {
        match (attempt, response) {
            (Attempt::TimedOut, _) => Error::Timeout {
                service: SERVICE.into(),
                timeout: self.timeout,
            },
            (Attempt::Status(status), Some(response)) => {
                // n8n's error bodies carry `message` (and a `stacktrace` that must not leak).
                let message = response
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
                    .map(|m| m.chars().take(300).collect::<String>())
                    .unwrap_or_else(|| {
                        StatusCode::from_u16(status)
                            .ok()
                            .and_then(|s| s.canonical_reason())
                            .unwrap_or("error")
                            .to_owned()
                    });
                if matches!(status, 429 | 502 | 503 | 504) {
                    Error::Unavailable {
                        service: SERVICE.into(),
                        reason: format!("answered {status} through every retry: {message}"),
                    }
                } else {
                    Error::Status {
                        service: SERVICE.into(),
                        status,
                        message,
                    }
                }
            }
            _ => Error::Unavailable {
                service: SERVICE.into(),
                reason: "cannot connect".into(),
            },
        }
    }
}
