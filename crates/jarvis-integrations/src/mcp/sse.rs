//! The HTTP+SSE transport of protocol version 2024-11-05, which Claude Code still speaks as
//! `type: "sse"`: a `GET` opens an event stream whose first `endpoint` event names where to
//! `POST` messages; answers come back as `message` events on the stream.

use std::time::{Duration, Instant};

use rmcp::RoleClient;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use tokio::sync::mpsc;

use super::probe::{Report, classify_chain, http_client, session, timeout_problem};
use super::{McpProblem, McpProblemCode, McpStep, McpTarget};

/// The largest event taken.
const MAX_EVENT: usize = 4 * 1024 * 1024;

pub(crate) async fn check(target: &McpTarget, limit: Duration, report: &mut Report) {
    let started = Instant::now();
    match open(target, limit).await {
        Ok(transport) => {
            report.step(McpStep::Start, started.elapsed(), true);
            session(transport, limit, report).await;
        }
        Err(problem) => {
            report.step(McpStep::Start, started.elapsed(), false);
            report.fail(problem);
        }
    }
}

/// Opens the stream and waits for the `endpoint` event.
async fn open(target: &McpTarget, limit: Duration) -> Result<SseTransport, McpProblem> {
    let base = reqwest::Url::parse(&target.url()).map_err(|e| McpProblem {
        code: McpProblemCode::ConnectFailed,
        step: McpStep::Start,
        message: format!("the URL is not valid: {e}"),
        http_status: None,
    })?;
    let client = http_client(target, limit)?;
    let response = tokio::time::timeout(
        limit,
        client
            .get(base.clone())
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send(),
    )
    .await
    .map_err(|_| timeout_problem(McpStep::Start, limit))?
    .map_err(|e| classify_chain(&e, McpStep::Start))?;
    let status = response.status();
    if !status.is_success() {
        return Err(McpProblem {
            code: McpProblemCode::HttpStatus,
            step: McpStep::Start,
            message: format!("the event stream answered HTTP {status}"),
            http_status: Some(status.as_u16()),
        });
    }
    let mut events = Events {
        response,
        buffer: Vec::new(),
    };
    let endpoint = tokio::time::timeout(limit, async {
        loop {
            match events.next().await {
                Some(Ok((kind, data))) if kind == "endpoint" => return Ok(data),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(McpProblem {
                        code: McpProblemCode::ProtocolError,
                        step: McpStep::Start,
                        message: "the event stream ended before its `endpoint` event".to_owned(),
                        http_status: None,
                    });
                }
            }
        }
    })
    .await
    .map_err(|_| timeout_problem(McpStep::Start, limit))??;
    let endpoint = base.join(endpoint.trim()).map_err(|e| McpProblem {
        code: McpProblemCode::ProtocolError,
        step: McpStep::Start,
        message: format!("the `endpoint` event does not name a URL: {e}"),
        http_status: None,
    })?;
    // Messages go only to the server's own origin, whatever the event says.
    if endpoint.origin() != base.origin() {
        return Err(McpProblem {
            code: McpProblemCode::ProtocolError,
            step: McpStep::Start,
            message: "the `endpoint` event names another origin".to_owned(),
            http_status: None,
        });
    }
    let (tx, rx) = mpsc::channel(64);
    let reader = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            let Ok((kind, data)) = event else { break };
            if kind != "message" {
                continue;
            }
            match serde_json::from_str::<ServerJsonRpcMessage>(&data) {
                Ok(message) => {
                    if tx.send(message).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "an SSE MCP server sent a message that is not JSON-RPC");
                    break;
                }
            }
        }
    });
    Ok(SseTransport {
        client,
        endpoint,
        rx,
        reader,
    })
}

/// Server-sent events read from a response, one `(event, data)` at a time.
struct Events {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl Events {
    async fn next(&mut self) -> Option<Result<(String, String), McpProblem>> {
        let mut kind = String::new();
        let mut data = String::new();
        let mut has_data = false;
        loop {
            while let Some(at) = self.buffer.iter().position(|b| *b == b'\n') {
                let raw: Vec<u8> = self.buffer.drain(..=at).collect();
                let line = String::from_utf8_lossy(&raw);
                let line = line.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    if has_data || !kind.is_empty() {
                        let kind = if kind.is_empty() {
                            "message".to_owned()
                        } else {
                            kind
                        };
                        return Some(Ok((kind, data)));
                    }
                    continue;
                }
                if line.starts_with(':') {
                    continue;
                }
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "event" => kind = value.to_owned(),
                    "data" => {
                        if has_data {
                            data.push('\n');
                        }
                        data.push_str(value);
                        has_data = true;
                    }
                    _ => {}
                }
            }
            if self.buffer.len() + data.len() > MAX_EVENT {
                return Some(Err(McpProblem {
                    code: McpProblemCode::ProtocolError,
                    step: McpStep::Initialize,
                    message: format!("an event exceeded {MAX_EVENT} bytes"),
                    http_status: None,
                }));
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buffer.extend_from_slice(&chunk),
                Ok(None) => return None,
                Err(e) => return Some(Err(classify_chain(&e, McpStep::Initialize))),
            }
        }
    }
}

/// The transport: `POST`s out, events in.
struct SseTransport {
    client: reqwest::Client,
    endpoint: reqwest::Url,
    rx: mpsc::Receiver<ServerJsonRpcMessage>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for SseTransport {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Transport<RoleClient> for SseTransport {
    type Error = reqwest::Error;

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let request = self.client.post(self.endpoint.clone()).json(&item);
        async move {
            request.send().await?.error_for_status()?;
            Ok(())
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ServerJsonRpcMessage>> + Send {
        self.rx.recv()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.reader.abort();
        self.rx.close();
        Ok(())
    }
}
