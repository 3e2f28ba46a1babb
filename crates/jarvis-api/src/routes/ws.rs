//! `/ws` and `/api/v2/ws`: the WebSocket hub's handshake; `/api/v2/ws/stats`: its counters.
//!
//! The handshake is authenticated like any read — an `Authorization` header, or for browsers a
//! single-use `ticket` from `POST /api/v2/ws-ticket`, redeemed by the guard — and refused before
//! the upgrade when the hub is full.

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError};
use jarvis_auth::{Principal, Scope};
use jarvis_core::Code;

use super::{Doc, get};
use crate::error::ApiError;
use crate::hub::session::{self, Connection};
use crate::registry::{Body, MAX_TEXT, Param};
use crate::reply;
use crate::routing::Routes;
use crate::state::AppState;

/// Frames larger than this end the connection (1009); messages between
/// `server.websocket.max_message_bytes` and this are answered with `INVALID_MESSAGE`.
const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// A `Connection` header that asks for the upgrade: the tokens `upgrade` and `keep-alive` in
/// any case and order, `upgrade` among them (browsers send `Upgrade` or `keep-alive, Upgrade`).
const CONNECTION_UPGRADE: &str = "^(([Kk][Ee][Ee][Pp]-[Aa][Ll][Ii][Vv][Ee]|[Uu][Pp][Gg][Rr][Aa][Dd][Ee]) *, *)*[Uu][Pp][Gg][Rr][Aa][Dd][Ee]( *, *([Kk][Ee][Ee][Pp]-[Aa][Ll][Ii][Vv][Ee]|[Uu][Pp][Gg][Rr][Aa][Dd][Ee]))*$";

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    for (path, operation) in [
        ("/api/v2/ws", "websocket"),
        ("/ws", "websocket_unversioned"),
    ] {
        get(
            cfg,
            routes,
            path,
            Doc {
                operation: operation.into(),
                tag: "realtime",
                summary: "WebSocket hub: subscribe to metrics, tasks, task:<id>, workflows, catalog, services, costs; run commands (see docs/api.md)".into(),
                params: vec![
                    Param::query(
                        "ticket",
                        "string",
                        "A single-use ticket from POST /api/v2/ws-ticket, for clients that cannot send an Authorization header",
                    )
                    .pattern("^[0-9a-f]{48}$", 48, 48),
                    Param::header("Upgrade", "`websocket` (any case)")
                        .pattern("^[Ww][Ee][Bb][Ss][Oo][Cc][Kk][Ee][Tt]$", 9, 9),
                    Param::header(
                        "Connection",
                        "`Upgrade`, alone or with `keep-alive`, comma-separated, any case",
                    )
                    .pattern(CONNECTION_UPGRADE, 7, MAX_TEXT),
                    Param::header("Sec-WebSocket-Version", "The WebSocket version: 13")
                        .one_of(&["13"]),
                    Param::header("Sec-WebSocket-Key", "16 random bytes in base64 (RFC 6455)")
                        .pattern("^[A-Za-z0-9+/]{21}[AQgw]==$", 24, 24),
                ],
                body: Body::WebSocket,
                errors: &[Code::ConnectionLimit],
                cached: false,
                scope: Some(Scope::Read),
            },
            false,
            handshake,
        );
    }
    get(
        cfg,
        routes,
        "/api/v2/ws/stats",
        Doc {
            operation: "websocket_stats".into(),
            tag: "realtime",
            summary: "The hub: connections, subscribers per topic, whether the heartbeat runs, messages sent, clients dropped as slow, idle or abusive".into(),
            params: vec![],
            body: Body::Envelope("HubStats"),
            errors: &[],
            cached: false,
            scope: Some(Scope::Read),
        },
        false,
        stats,
    );
}

async fn stats(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    reply::ok(&state.hub.stats(), state.catalog.snapshot().generation())
}

async fn handshake(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // The guard established the caller (header, ticket, or anonymous while no key exists).
    let principal = req
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                Code::Unauthorized,
                "the WebSocket needs an API key or a ticket",
            )
        })?;
    let Some(slot) = state.hub.reserve() else {
        tracing::warn!(
            max = state.hub.config().max_connections,
            "WebSocket handshake refused: the hub is full"
        );
        let mut response = ApiError::new(
            Code::ConnectionLimit,
            format!(
                "the server holds its maximum of {} WebSocket connections; retry later",
                state.hub.config().max_connections
            ),
        )
        .error_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return Ok(response);
    };
    let (response, session, stream) = actix_ws::handle(&req, body).map_err(|e| {
        ApiError::invalid(
            "Upgrade",
            format!(
                "this route speaks WebSocket: send `Connection: Upgrade`, `Upgrade: websocket`, `Sec-WebSocket-Key` and `Sec-WebSocket-Version: 13` ({e})"
            ),
        )
    })?;
    let stream = stream
        .max_frame_size(MAX_FRAME_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME_BYTES);
    actix_web::rt::spawn(session::run(Connection {
        hub: state.hub.clone(),
        slot,
        principal,
        session,
        stream,
        state,
    }));
    Ok(response)
}
