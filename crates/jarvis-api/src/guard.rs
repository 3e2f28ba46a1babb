//! The gate every request passes: size limits, authentication, scopes, rate limits, and the
//! security headers every response carries.
//!
//! - URL and header sizes are checked first (414 `URI_TOO_LONG`, 431 `HEADERS_TOO_LARGE`).
//! - `Authorization: Bearer <key>` is verified against the key store. With no keys configured,
//!   authentication is off and every caller is the anonymous principal — which is only allowed
//!   on a loopback address (see `Application::build`). With keys, a protected route without a
//!   valid key answers 401 with `WWW-Authenticate`, a key without the route's scope 403.
//! - Rate limits per key, or per client address when unauthenticated; 429 with `Retry-After`,
//!   and `RateLimit-Limit/Remaining/Reset` on every limited response.
//! - Authenticated responses are `Cache-Control: no-store`.
//!
//! The app-level [`middleware`] checks sizes and origins and establishes what the request [`Presented`]; the
//! per-route [`require`], wrapped around each resource by the route table, checks its scope and
//! rate limit once routing has chosen the route.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use jarvis_auth::{Class, Decision, Principal, Scope};
use jarvis_core::Code;

use crate::error::ApiError;
use crate::state::AppState;

fn reject(req: ServiceRequest, error: &ApiError) -> ServiceResponse<BoxBody> {
    let mut response = error.error_response();
    if error.code == Code::Unauthorized {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"jarvis\""),
        );
    }
    req.into_response(response.map_into_boxed_body())
}

/// Redeems a WebSocket ticket; off the executor when tickets are in the shared store.
async fn redeem(state: &web::Data<AppState>, ticket: String) -> Option<Principal> {
    if !state.tickets.is_shared() {
        return state.tickets.redeem(&ticket);
    }
    let state = state.clone();
    tokio::task::spawn_blocking(move || state.tickets.redeem(&ticket))
        .await
        .ok()
        .flatten()
}

/// The guard middleware.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let config = &state.config;
    let uri_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_len > config.max_uri_bytes {
        let error = ApiError::new(
            Code::UriTooLong,
            format!(
                "the URL has {uri_len} bytes; the limit is {}",
                config.max_uri_bytes
            ),
        );
        return Ok(reject(req, &error));
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > config.max_header_bytes {
        let error = ApiError::new(
            Code::HeadersTooLarge,
            format!(
                "the headers have {header_bytes} bytes; the limit is {}",
                config.max_header_bytes
            ),
        );
        return Ok(reject(req, &error));
    }

    // Browsers send `Origin` on cross-origin requests. Preflights are answered by the CORS layer;
    // an actual request from an origin outside the allow-list is refused here as well, so a
    // page elsewhere cannot even fire a "simple" request at the API.
    if let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
    {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let same_origin = origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host);
        if !same_origin && !config.cors.allowed_origins.iter().any(|o| o == origin) {
            let error = ApiError::new(
                Code::Forbidden,
                format!(
                    "cross-origin request from `{origin}` refused: the origin is not in server.cors.allowed_origins"
                ),
            );
            return Ok(reject(req, &error));
        }
    }

    let auth_enabled = state.auth_enabled();
    let presented = match req.headers().get(header::AUTHORIZATION) {
        // A browser cannot set headers on a WebSocket handshake: it presents a single-use
        // ticket from `POST /api/v2/ws-ticket` in the URL instead.
        None if crate::ws_entry::is_ws_path(req.path()) => {
            match crate::ws_entry::ticket_of(req.query_string()) {
                None => None,
                Some(ticket) => match redeem(&state, ticket).await {
                    Some(principal) => Some(principal),
                    // Keys are off: anyone on loopback may connect anyway.
                    None if !auth_enabled => None,
                    None => {
                        let error = ApiError::new(
                            Code::Unauthorized,
                            "the WebSocket ticket is not valid: unknown, already used or expired (tickets are single-use and last server.auth.ticket_ttl_secs)",
                        );
                        return Ok(reject(req, &error));
                    }
                },
            }
        }
        None => None,
        Some(value) => {
            let key = value
                .to_str()
                .ok()
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(str::trim);
            let verified = key.and_then(|k| {
                if k.starts_with("jv_") {
                    state.keys.verify(k)
                } else {
                    state.jwt.as_ref().and_then(|jwt| jwt.verify(k))
                }
            });
            match verified {
                Some(principal) => Some(principal),
                None if auth_enabled => {
                    let error = ApiError::new(
                        Code::Unauthorized,
                        "the bearer credential is not valid (unknown, malformed, expired or revoked)",
                    );
                    return Ok(reject(req, &error));
                }
                // Keys are off: a stray header does not lock the owner out of loopback.
                None => None,
            }
        }
    };
    let authenticated = presented.is_some();
    let caller = Presented {
        principal: match presented {
            Some(p) => Some(p),
            None if !auth_enabled => Some(Principal::anonymous()),
            None => None,
        },
        authenticated,
    };
    req.extensions_mut().insert(caller);
    let mut res = next.call(req).await?.map_into_boxed_body();
    if authenticated {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

/// Who is calling, as the app-level guard established it.
#[derive(Debug, Clone)]
pub struct Presented {
    /// The principal; `None` when keys exist and none was presented.
    pub principal: Option<Principal>,
    /// Whether a key or token was presented and verified.
    pub authenticated: bool,
}

/// The per-route check: the caller holds the scope the route needs for this method, within its
/// rate limit. Wrapped around each resource by the route table.
pub async fn require(
    gates: std::sync::Arc<[Gate]>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(gate) = gates.iter().find(|g| g.method == req.method()) else {
        // Not a method of this route: the resource answers 405.
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let needed = gate.scope;
    let caller = req.extensions().get::<Presented>().cloned();
    let principal = caller.as_ref().and_then(|c| c.principal.clone());
    if let Some(scope) = needed {
        let public_read = scope == Scope::Read
            && (state.config.auth.public_reads
                || (state.config.auth.public_metrics && req.path() == "/metrics"));
        match &principal {
            None if !public_read => {
                let error = ApiError::new(
                    Code::Unauthorized,
                    format!(
                        "this route needs an API key with the `{scope}` scope: send `Authorization: Bearer <key>`"
                    ),
                );
                return Ok(reject(req, &error));
            }
            Some(p) if !p.allows(scope) => {
                let error = ApiError::new(
                    Code::Forbidden,
                    format!(
                        "the key `{}` lacks the `{scope}` scope this route needs",
                        p.name
                    ),
                )
                .with_details(serde_json::json!({ "needed_scope": scope.as_str() }));
                return Ok(reject(req, &error));
            }
            _ => {}
        }
    }
    let class = match needed {
        Some(Scope::Execute | Scope::Admin) => Class::Execute,
        _ => Class::Read,
    };
    let authenticated = caller.as_ref().is_some_and(|c| c.authenticated);
    let decision = match (&principal, authenticated) {
        (Some(p), true) => state.limiter.check_key(&p.key_id, class),
        _ => state
            .limiter
            .check_ip(req.peer_addr().map(|a| a.ip()), class),
    };
    if !decision.allowed {
        let error = ApiError::new(
            Code::RateLimited,
            format!(
                "too many requests; retry in {} s",
                decision.retry_after_secs
            ),
        );
        let mut res = reject(req, &error);
        rate_headers(res.headers_mut(), &decision);
        res.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(decision.retry_after_secs),
        );
        return Ok(res);
    }
    if let Some(p) = principal {
        req.extensions_mut().insert(p);
    }
    // The caller may use the route: now its parameters, as declared.
    match gate.check(&req) {
        Ok(params) => {
            req.extensions_mut().insert(params);
        }
        Err(error) => {
            let mut res = reject(req, &error);
            if state.config.rate_limit.enabled {
                rate_headers(res.headers_mut(), &decision);
            }
            return Ok(res);
        }
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    if state.config.rate_limit.enabled {
        rate_headers(res.headers_mut(), &decision);
    }
    Ok(res)
}

fn rate_headers(headers: &mut header::HeaderMap, d: &Decision) {
    headers.insert(
        HeaderName::from_static("ratelimit-limit"),
        HeaderValue::from(d.limit),
    );
    headers.insert(
        HeaderName::from_static("ratelimit-remaining"),
        HeaderValue::from(d.remaining),
    );
    headers.insert(
        HeaderName::from_static("ratelimit-reset"),
        HeaderValue::from(d.reset_secs),
    );
}

/// Headers every response carries; HTML pages also get a strict content security policy.
/// Applied by the request-context middleware, the outermost of ours, so errors carry them too.
pub fn security_headers(headers: &mut header::HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ),
        );
    }
}

/// What the gate in front of one method of a resource checks: the scope, then the parameters.
#[derive(Debug)]
pub struct Gate {
    /// The method.
    pub method: actix_web::http::Method,
    /// The scope a caller needs.
    pub scope: Option<Scope>,
    /// The declared parameters.
    pub params: std::sync::Arc<[crate::registry::Param]>,
}

impl Gate {
    /// Checks the request's query and path against the declared parameters; answers the
    /// parsed query for the handler.
    pub fn check(&self, req: &ServiceRequest) -> Result<crate::params::Params, ApiError> {
        for spec in self.params.iter() {
            match spec.location {
                crate::registry::In::Path => {
                    if let Some(value) = req.match_info().get(spec.name) {
                        crate::params::check(spec, value)?;
                    }
                }
                crate::registry::In::Header => {
                    match req.headers().get(spec.name).map(|v| v.to_str()) {
                        Some(Ok(value)) => crate::params::check(spec, value)?,
                        Some(Err(_)) => {
                            return Err(ApiError::invalid(
                                spec.name,
                                format!("the `{}` header must be visible ASCII", spec.name),
                            ));
                        }
                        None if spec.required => {
                            return Err(ApiError::invalid(
                                spec.name,
                                format!(
                                    "the `{}` header is required: {}",
                                    spec.name, spec.description
                                ),
                            ));
                        }
                        None => {}
                    }
                }
                crate::registry::In::Query => {}
            }
        }
        crate::params::Params::parse(req.query_string(), std::sync::Arc::clone(&self.params))
    }
}

/// The principal a route's guard let through, as a handler argument: the key's (or token's)
/// principal, or the anonymous one on a server without keys. Every handler that records who
/// did something takes this instead of reading the request's extensions.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub Principal);

impl Caller {
    /// The name audit lines and stored records carry.
    pub(crate) fn name(&self) -> &str {
        &self.0.name
    }
}

impl actix_web::FromRequest for Caller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let principal = req
            .extensions()
            .get::<Principal>()
            .cloned()
            .unwrap_or_else(Principal::anonymous);
        std::future::ready(Ok(Caller(principal)))
    }
}
