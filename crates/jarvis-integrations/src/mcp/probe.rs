//! One check of one server: connect (or start), `initialize`, list, shut down.

use std::error::Error as StdError;
use std::time::{Duration, Instant};

use jarvis_core::McpTransport;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{ClientInitializeError, RoleClient, RunningService};
use rmcp::transport::IntoTransport;
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, HttpStatusError, InsufficientScopeError, StreamableHttpClientTransport,
    StreamableHttpClientTransportConfig, StreamableHttpError,
};
use rmcp::{ServiceError, ServiceExt};

use super::{
    McpCheckConfig, McpHealth, McpProblem, McpProblemCode, McpStatus, McpStep, McpStepTime,
    McpTarget, McpToolInfo, cut, now_ms, scrub, sse, stdio,
};

/// The longest a tool description is kept.
const DESCRIPTION_CHARS: usize = 500;
/// The most tools kept by name (the count is always whole).
const MAX_TOOLS: usize = 500;

/// Checks `target` once, under `config`'s limits. Never fails: every outcome is a report.
/// A refused target is reported `disabled` without being started.
///
/// Needs a Tokio runtime with I/O and time enabled (it panics outside one): see
/// [the crate's runtime notes](crate#runtime).
pub async fn probe(target: &McpTarget, config: &McpCheckConfig) -> McpHealth {
    if let Some(reason) = &target.refused {
        return McpHealth::idle(McpStatus::Disabled, reason.clone());
    }
    let step_limit = target.timeout.unwrap_or(config.timeout);
    let mut report = Report::new(target);
    let started = Instant::now();
    match target.transport {
        McpTransport::Stdio => stdio::check(target, step_limit, &mut report).await,
        McpTransport::Http => match http_transport(target, step_limit) {
            Ok(transport) => session(transport, step_limit, &mut report).await,
            Err(problem) => report.fail(problem),
        },
        McpTransport::Sse => sse::check(target, step_limit, &mut report).await,
        McpTransport::Ws => {
            return McpHealth::idle(
                McpStatus::Disabled,
                "WebSocket MCP servers are not part of the MCP specification and are not checked",
            );
        }
    }
    report.finish(started.elapsed(), config.slow)
}

/// What a check has found so far.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) health: McpHealth,
    pub(crate) secrets: Vec<String>,
    warnings: Vec<String>,
}

impl Report {
    fn new(target: &McpTarget) -> Report {
        Report {
            health: McpHealth::idle(McpStatus::Unchecked, ""),
            secrets: target.secrets(),
            warnings: Vec::new(),
        }
    }

    pub(crate) fn step(&mut self, step: McpStep, took: Duration, ok: bool) {
        self.health.steps.push(McpStepTime {
            step,
            ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            ok,
        });
    }

    /// Records the failure that ends the check (the first one wins).
    pub(crate) fn fail(&mut self, mut problem: McpProblem) {
        if self.health.error.is_none() {
            problem.message = cut(&scrub(&problem.message, &self.secrets), 1000);
            self.health.error = Some(problem);
        }
    }

    fn warn(&mut self, problem: McpProblem) {
        self.warnings.push(format!(
            "{}: {}",
            problem.step.as_str(),
            cut(&scrub(&problem.message, &self.secrets), 300)
        ));
        // A partial answer keeps its first failure visible beside the warning.
        if self.health.error.is_none() {
            let mut problem = problem;
            problem.message = cut(&scrub(&problem.message, &self.secrets), 1000);
            self.health.error = Some(problem);
        }
    }

    /// Something that makes an answering server `degraded` without failing a step.
    pub(crate) fn note(&mut self, text: String) {
        self.warnings.push(cut(&scrub(&text, &self.secrets), 300));
    }

    pub(crate) fn stderr(&mut self, tail: &str) {
        let tail = tail.trim();
        if !tail.is_empty() {
            self.health.stderr_tail = Some(scrub(tail, &self.secrets));
        }
    }

    fn finish(mut self, took: Duration, slow: Duration) -> McpHealth {
        let health = &mut self.health;
        health.duration_ms = Some(u64::try_from(took.as_millis()).unwrap_or(u64::MAX));
        health.checked_at = Some(now_ms());
        let initialized = health.protocol_version.is_some();
        if !initialized {
            health.status = McpStatus::Unhealthy;
            health.reason = None;
            if health.error.is_none() {
                health.error = Some(McpProblem {
                    code: McpProblemCode::ProtocolError,
                    step: McpStep::Initialize,
                    message: "the server did not complete initialize".to_owned(),
                    http_status: None,
                });
            }
        } else if !self.warnings.is_empty() {
            health.status = McpStatus::Degraded;
            health.reason = Some(self.warnings.join("; "));
        } else if took > slow {
            health.status = McpStatus::Degraded;
            health.reason = Some(format!(
                "slow: the check took {} ms (more than {} ms)",
                took.as_millis(),
                slow.as_millis()
            ));
        } else {
            health.status = McpStatus::Healthy;
            health.reason = None;
        }
        self.health
    }
}

fn client_config() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("jarvis", env!("CARGO_PKG_VERSION")),
    )
}

/// `initialize`, the lists the server offers, and a clean close, each under `limit`.
/// Returns whether the session was opened (the caller may still have a process to stop).
pub(crate) async fn session<T, E, A>(transport: T, limit: Duration, report: &mut Report)
where
    T: IntoTransport<RoleClient, E, A>,
    E: StdError + Send + Sync + 'static,
{
    let started = Instant::now();
    let client = match tokio::time::timeout(limit, client_config().serve(transport)).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => {
            report.step(McpStep::Initialize, started.elapsed(), false);
            report.fail(classify_init(&e));
            return;
        }
        Err(_) => {
            report.step(McpStep::Initialize, started.elapsed(), false);
            report.fail(timeout_problem(McpStep::Initialize, limit));
            return;
        }
    };
    report.step(McpStep::Initialize, started.elapsed(), true);
    let Some(info) = client.peer_info() else {
        report.fail(McpProblem {
            code: McpProblemCode::ProtocolError,
            step: McpStep::Initialize,
            message: "initialize returned no server information".to_owned(),
            http_status: None,
        });
        close(client, report).await;
        return;
    };
    report.health.server_name = info.server_info.as_ref().map(|i| i.name.clone());
    report.health.server_version = info.server_info.as_ref().map(|i| i.version.clone());
    report.health.protocol_version = Some(info.protocol_version.to_string());
    let capabilities = info.capabilities.clone();

    if capabilities.tools.is_some()
        && let Some(tools) = list(report, limit, McpStep::ToolsList, client.list_all_tools()).await
    {
        report.health.tool_count = Some(tools.len());
        report.health.tools = tools
            .into_iter()
            .take(MAX_TOOLS)
            .map(|t| McpToolInfo {
                name: t.name.to_string(),
                description: t
                    .description
                    .map(|d| cut(&scrub(&d, &report.secrets), DESCRIPTION_CHARS)),
            })
            .collect();
    }
    if capabilities.resources.is_some() {
        let resources = client.list_all_resources();
        if let Some(resources) = list(report, limit, McpStep::ResourcesList, resources).await {
            report.health.resource_count = Some(resources.len());
        }
    }
    if capabilities.prompts.is_some() {
        let prompts = client.list_all_prompts();
        if let Some(prompts) = list(report, limit, McpStep::PromptsList, prompts).await {
            report.health.prompt_count = Some(prompts.len());
        }
    }
    close(client, report).await;
}

/// One list call under `limit`, timed; a failure is a warning (the server is degraded).
async fn list<T>(
    report: &mut Report,
    limit: Duration,
    step: McpStep,
    call: impl Future<Output = Result<Vec<T>, ServiceError>>,
) -> Option<Vec<T>> {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(limit, call).await {
        Ok(Ok(items)) => Ok(items),
        Ok(Err(e)) => Err(classify_service(&e, step)),
        Err(_) => Err(timeout_problem(step, limit)),
    };
    report.step(step, started.elapsed(), outcome.is_ok());
    outcome.map_err(|problem| report.warn(problem)).ok()
}

async fn close(client: RunningService<RoleClient, ClientConfig>, report: &mut Report) {
    let started = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(2), client.cancel()).await;
    report.step(
        McpStep::Shutdown,
        started.elapsed(),
        matches!(closed, Ok(Ok(_))),
    );
}

pub(crate) fn timeout_problem(step: McpStep, limit: Duration) -> McpProblem {
    McpProblem {
        code: McpProblemCode::Timeout,
        step,
        message: format!(
            "{} did not finish within {} ms",
            step.as_str(),
            limit.as_millis()
        ),
        http_status: None,
    }
}

/// The streamable HTTP transport for `target`, with its headers on every request.
fn http_transport(
    target: &McpTarget,
    limit: Duration,
) -> Result<StreamableHttpClientTransport<reqwest::Client>, McpProblem> {
    let client = http_client(target, limit)?;
    let config = StreamableHttpClientTransportConfig::with_uri(target.url());
    Ok(StreamableHttpClientTransport::with_client(client, config))
}

/// A client that sends the target's headers (marked sensitive) with every request.
pub(crate) fn http_client(
    target: &McpTarget,
    limit: Duration,
) -> Result<reqwest::Client, McpProblem> {
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in &target.headers {
        let bad = |what: &str| McpProblem {
            code: McpProblemCode::ProtocolError,
            step: McpStep::Start,
            message: format!("header `{name}` has an invalid {what}"),
            http_status: None,
        };
        let header =
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("name"))?;
        let mut value =
            reqwest::header::HeaderValue::from_str(value.expose()).map_err(|_| bad("value"))?;
        value.set_sensitive(true);
        headers.insert(header, value);
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .connect_timeout(limit)
        .user_agent(concat!("jarvis/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| McpProblem {
            code: McpProblemCode::Tls,
            step: McpStep::Start,
            message: format!("the HTTP client could not be built: {e}"),
            http_status: None,
        })
}

fn classify_init(error: &ClientInitializeError) -> McpProblem {
    let step = McpStep::Initialize;
    match error {
        ClientInitializeError::TransportError { error, .. } => {
            classify_chain(error.error.as_ref(), step)
        }
        ClientInitializeError::ConnectionClosed(context) => McpProblem {
            code: McpProblemCode::Exited,
            step,
            message: format!("the connection closed during initialize ({context})"),
            http_status: None,
        },
        other => McpProblem {
            code: McpProblemCode::ProtocolError,
            step,
            message: other.to_string(),
            http_status: None,
        },
    }
}

fn classify_service(error: &ServiceError, step: McpStep) -> McpProblem {
    match error {
        ServiceError::TransportSend(e) => classify_chain(e.error.as_ref(), step),
        ServiceError::TransportClosed => McpProblem {
            code: McpProblemCode::Exited,
            step,
            message: "the connection closed".to_owned(),
            http_status: None,
        },
        ServiceError::Timeout { timeout } => timeout_problem(step, *timeout),
        other => McpProblem {
            code: McpProblemCode::ProtocolError,
            step,
            message: other.to_string(),
            http_status: None,
        },
    }
}

/// Walks an error's sources for what the transport met: an HTTP status, a TLS or connection
/// failure, a timeout. Anything else is a protocol error.
pub(crate) fn classify_chain(error: &(dyn StdError + 'static), step: McpStep) -> McpProblem {
    let message = chain_text(error);
    let problem = |code, http_status| McpProblem {
        code,
        step,
        message: message.clone(),
        http_status,
    };
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(status) = current.downcast_ref::<HttpStatusError>() {
            return problem(McpProblemCode::HttpStatus, Some(status.status));
        }
        if current.downcast_ref::<AuthRequiredError>().is_some() {
            return problem(McpProblemCode::HttpStatus, Some(401));
        }
        if current.downcast_ref::<InsufficientScopeError>().is_some() {
            return problem(McpProblemCode::HttpStatus, Some(403));
        }
        if let Some(StreamableHttpError::UnexpectedServerResponse(text)) =
            current.downcast_ref::<StreamableHttpError<reqwest::Error>>()
            && let Some(status) = leading_status(text)
        {
            return problem(McpProblemCode::HttpStatus, Some(status));
        }
        if let Some(StreamableHttpError::Client(e)) =
            current.downcast_ref::<StreamableHttpError<reqwest::Error>>()
            && let Some(found) = classify_reqwest(e, step)
        {
            return found;
        }
        if let Some(e) = current.downcast_ref::<reqwest::Error>()
            && let Some(found) = classify_reqwest(e, step)
        {
            return found;
        }
        if let Some(e) = current.downcast_ref::<std::io::Error>() {
            match e.kind() {
                std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::NotFound => {
                    return problem(McpProblemCode::ConnectFailed, None);
                }
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::UnexpectedEof => {
                    return problem(McpProblemCode::Exited, None);
                }
                _ => {}
            }
        }
        source = current.source();
    }
    if looks_like_tls(&message) {
        return problem(McpProblemCode::Tls, None);
    }
    problem(McpProblemCode::ProtocolError, None)
}

/// What a reqwest error says about the peer, if it says anything.
fn classify_reqwest(error: &reqwest::Error, step: McpStep) -> Option<McpProblem> {
    let message = chain_text(error);
    let (code, http_status) = if let Some(status) = error.status() {
        (McpProblemCode::HttpStatus, Some(status.as_u16()))
    } else if error.is_timeout() {
        (McpProblemCode::Timeout, None)
    } else if looks_like_tls(&message) {
        (McpProblemCode::Tls, None)
    } else if error.is_connect() {
        (McpProblemCode::ConnectFailed, None)
    } else {
        return None;
    };
    Some(McpProblem {
        code,
        step,
        message,
        http_status,
    })
}

/// `HTTP 404 Not Found: …` → 404.
fn leading_status(text: &str) -> Option<u16> {
    let rest = text.strip_prefix("HTTP ")?;
    rest.get(..3)?.parse().ok()
}

fn looks_like_tls(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    ["certificate", "tls", "handshake", "ssl"]
        .iter()
        .any(|w| lower.contains(w))
}

/// The error and its sources, joined, without repeats.
pub(crate) fn chain_text(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(current) = source {
        let text = current.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = current.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_read_from_unexpected_responses() {
        assert_eq!(leading_status("HTTP 404 Not Found: nope"), Some(404));
        assert_eq!(leading_status("HTTP oops"), None);
        assert_eq!(leading_status("other"), None);
    }

    #[test]
    fn io_errors_map_to_stable_codes() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            classify_chain(&refused, McpStep::Initialize).code,
            McpProblemCode::ConnectFailed
        );
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert_eq!(
            classify_chain(&pipe, McpStep::Initialize).code,
            McpProblemCode::Exited
        );
        let tls = std::io::Error::other("invalid peer certificate: UnknownIssuer");
        assert_eq!(
            classify_chain(&tls, McpStep::Initialize).code,
            McpProblemCode::Tls
        );
    }
}
