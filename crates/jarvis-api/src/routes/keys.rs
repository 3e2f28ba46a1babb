//! `/api/v2/keys` (admin): list, create and revoke API keys; `/api/v2/ws-ticket`: a single-use
//! ticket for the WebSocket, so keys never travel in URLs. Every change is an audit line.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{self, ServiceConfig};
use jarvis_auth::Scope;
use jarvis_core::Code;
use serde::Deserialize;
use serde_json::json;

use crate::context;
use crate::error::{ApiError, blocking};
use crate::guard::Caller;
use crate::registry::{Body, Param, Route};
use crate::reply;
use crate::routing::Routes;
use crate::state::AppState;

/// A key to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// 1 to 64 letters, digits, spaces, `-`, `_` or `.`, with no space at either end.
    #[schema(pattern = "^[A-Za-z0-9._-]([A-Za-z0-9 ._-]{0,62}[A-Za-z0-9._-])?$")]
    pub name: String,
    /// At least one of `read`, `execute`, `admin`.
    #[schema(value_type = Vec<ScopeName>, min_items = 1)]
    pub scopes: Vec<Scope>,
}

/// A scope's name, as keys are given them: the document's name for [`Scope`].
#[derive(Debug, utoipa::ToSchema)]
#[expect(dead_code, reason = "a schema only; requests carry jarvis_auth::Scope")]
#[schema(rename_all = "snake_case")]
pub enum ScopeName {
    /// Read everything but keys.
    Read,
    /// Read, and run commands, agents and workflows.
    Execute,
    /// Everything, keys included.
    Admin,
}

/// A keys route: admin scope, envelope answer, no cache; callers override what differs.
fn route(method: &'static str, path: &str, op: &str, summary: &str) -> Route {
    Route {
        method,
        path: path.to_owned(),
        operation_id: op.to_owned(),
        tag: "keys",
        summary: summary.to_owned(),
        params: if path.ends_with("{id}") {
            vec![Param::path("id", "The key id").pattern("^[0-9a-f]{12}$", 12, 12)]
        } else {
            vec![]
        },
        body: Body::Envelope("Object"),
        errors: &[],
        deprecated: false,
        cached: false,
        status: 200,
        request: None,
        scope: Some(Scope::Admin),
    }
}

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    routes.add_many(
        cfg,
        vec![
            Route {
                body: Body::List("Object"),
                ..route(
                    "get",
                    "/api/v2/keys",
                    "list_keys",
                    "Every API key: id, name, scopes, creation time (never the key)",
                )
            },
            Route {
                errors: &[
                    Code::MalformedBody,
                    Code::PayloadTooLarge,
                    Code::UnsupportedMediaType,
                ],
                status: 201,
                request: Some("CreateKey"),
                ..route(
                    "post",
                    "/api/v2/keys",
                    "create_key",
                    "Create a key; the answer shows it once",
                )
            },
        ],
        web::resource("/api/v2/keys")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    );
    routes.add_many(
        cfg,
        vec![Route {
            errors: &[Code::ResourceNotFound],
            ..route(
                "delete",
                "/api/v2/keys/{id}",
                "revoke_key",
                "Revoke a key; it stops working at once",
            )
        }],
        web::resource("/api/v2/keys/{id}").route(web::delete().to(revoke)),
    );
    routes.add_many(
        cfg,
        vec![Route {
            scope: Some(Scope::Read),
            status: 201,
            ..route(
                "post",
                "/api/v2/ws-ticket",
                "ws_ticket",
                "A single-use WebSocket connection ticket, valid for a few seconds",
            )
        }],
        web::resource("/api/v2/ws-ticket").route(web::post().to(ticket)),
    );
}
async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    reply::ok(&state.keys.list(), state.catalog.snapshot().generation())
}

async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    body: crate::error::JsonObject<CreateKey>,
) -> Result<HttpResponse, ApiError> {
    let CreateKey { name, scopes } = body.into_inner();
    let keys = state.keys.clone();
    let created = blocking(move || keys.create(&name, &scopes)).await?;
    tracing::info!(
        target: "jarvis::audit",
        action = "keys.create",
        by = %caller.name(),
        key_id = %created.info.id,
        key_name = %created.info.name,
        request_id = %context::request_id(),
        "API key created"
    );
    let data = json!({
        "id": created.info.id,
        "name": created.info.name,
        "scopes": created.info.scopes,
        "created_at": created.info.created_at,
        "key": created.secret,
        "note": "This is the only time the key is shown; store it now.",
    });
    reply::with_status(
        StatusCode::CREATED,
        &data,
        state.catalog.snapshot().generation(),
    )
}

async fn revoke(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let keys = state.keys.clone();
    let target = id.clone();
    let revoked = blocking(move || keys.revoke(&target)).await?;
    if !revoked {
        return Err(ApiError::new(
            Code::ResourceNotFound,
            format!("no key with id `{id}`"),
        ));
    }
    tracing::info!(
        target: "jarvis::audit",
        action = "keys.revoke",
        by = %caller.name(),
        key_id = %id,
        request_id = %context::request_id(),
        "API key revoked"
    );
    reply::ok(
        &json!({ "revoked": id }),
        state.catalog.snapshot().generation(),
    )
}

async fn ticket(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let ticket = if state.tickets.is_shared() {
        let shared = state.clone();
        blocking(move || shared.tickets.issue(caller.0)).await?
    } else {
        state.tickets.issue(caller.0)?
    };
    let data = json!({
        "ticket": ticket,
        "expires_in_secs": state.tickets.ttl().as_secs(),
        "single_use": true,
    });
    reply::with_status(
        StatusCode::CREATED,
        &data,
        state.catalog.snapshot().generation(),
    )
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    use super::*;

    /// The document's rule for a key's name is the key store's, and both agree on each name.
    #[test]
    fn the_documented_name_rule_is_the_stores() {
        let schema = serde_json::to_value(CreateKey::schema()).unwrap();
        assert_eq!(
            schema["properties"]["name"]["pattern"],
            jarvis_auth::KEY_NAME_PATTERN
        );
        let pattern = regex_lite::Regex::new(jarvis_auth::KEY_NAME_PATTERN).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = jarvis_auth::KeyStore::open(dir.path().join("keys.json")).unwrap();
        let long = "a".repeat(64);
        let too_long = "a".repeat(65);
        for name in [
            "ci", "ci bot", "a", "a.b-c_d", &long, "", " ci", "ci ", "  ", &too_long, "ci/bot", "é",
        ] {
            assert_eq!(
                pattern.is_match(name),
                store.create(name, &[Scope::Read]).is_ok(),
                "{name:?}"
            );
        }
    }
}
