//! Per-request context: the request id, the tracing span, and the safety net that puts every
//! error response — including actix's own 404, 405 and 413 — into the envelope.
//!
//! The request id is taken from an incoming `X-Request-Id` when it is sane (1–64 characters of
//! letters, digits, `-`, `_`, `.`), otherwise generated, and is returned on every response. It is
//! held in a task-local for the duration of the request so that envelopes and logs anywhere in
//! the handler can name it without threading it through every call.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use tracing::Instrument;

use crate::error::{ApiError, code_for_status};
use crate::metrics::RouteLabel;

pub(crate) use crate::request_id::with_request_id;
pub use crate::request_id::{REQUEST_ID_HEADER, request_id};

fn generate_id() -> Arc<str> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32))
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{seed:08x}{n:08x}").into()
}

fn valid_incoming(value: &HeaderValue) -> Option<Arc<str>> {
    let text = value.to_str().ok()?;
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then(|| text.into())
}

/// The middleware: id, span, envelope net, `X-Request-Id`.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(valid_incoming)
        .unwrap_or_else(generate_id);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let header_value = HeaderValue::from_str(&id).ok();
    crate::request_id::REQUEST_ID
        .scope(
            id,
            async move {
                let method = req.method().clone();
                let path = req.path().to_owned();
                let mut res = next.call(req).await?.map_into_boxed_body();
                let status = res.status();
                if (status.is_client_error() || status.is_server_error()) && !is_json(&res) {
                    let code = code_for_status(status);
                    let message = match status.as_u16() {
                        404 => format!("no route matches {method} {path}"),
                        405 => format!("{method} is not allowed on {path}"),
                        413 => "the request body is larger than the limit".to_owned(),
                        415 => "the request body has an unsupported content type".to_owned(),
                        _ => status.canonical_reason().unwrap_or("error").to_owned(),
                    };
                    let origin = res
                        .request()
                        .headers()
                        .get(header::ORIGIN)
                        .and_then(|o| o.to_str().ok())
                        .map(str::to_owned);
                    let error = if status.is_server_error() {
                        ApiError::internal(&format!("{status} from {method} {path}"))
                    } else if let (400, Some(origin)) = (status.as_u16(), origin) {
                        // actix-cors refuses an origin, or a preflight asking for more than the
                        // allow-list permits, with a bare 400.
                        ApiError::new(
                            jarvis_core::Code::Forbidden,
                            format!("cross-origin request from `{origin}` refused: the origin, method or headers are not in server.cors"),
                        )
                    } else {
                        ApiError::new(code, message)
                    };
                    let mut rebuilt: HttpResponse = error.error_response();
                    if status.as_u16() == 405
                        && let Some(methods) = allowed_methods(res.request())
                        && let Ok(value) = HeaderValue::from_str(&methods)
                    {
                        rebuilt.headers_mut().insert(header::ALLOW, value);
                    }
                    res = res.into_response(rebuilt.map_into_boxed_body());
                }
                if let Some(value) = header_value {
                    res.headers_mut().insert(REQUEST_ID_HEADER, value);
                }
                crate::guard::security_headers(res.headers_mut());
                let elapsed = started.elapsed();
                if let Some(state) = res.request().app_data::<actix_web::web::Data<crate::state::AppState>>() {
                    let route = res.request().extensions().get::<RouteLabel>().map(|l| l.0);
                    state.metrics.observe(route, &method, res.status().as_u16(), elapsed);
                }
                let elapsed_us = elapsed.as_micros() as u64;
                if status.is_server_error() {
                    tracing::error!(status = status.as_u16(), elapsed_us, "request failed");
                } else {
                    tracing::debug!(status = status.as_u16(), elapsed_us, "request finished");
                }
                Ok(res)
            }
            .instrument(span),
        )
        .await
}

/// Runs a routed request's service, turning a panic anywhere in it — guard, extractor or
/// handler — into a logged 500 `INTERNAL_ERROR` envelope; the worker keeps serving. Wrapped
/// around every resource by the route table, after routing (before it, actix does not allow
/// the request to be shared).
pub(crate) async fn contain_panics<F>(
    request: actix_web::HttpRequest,
    service: F,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error>
where
    F: Future<Output = Result<ServiceResponse<BoxBody>, actix_web::Error>>,
{
    match CatchUnwind(Box::pin(service)).await {
        Ok(result) => result,
        Err(panic) => {
            let message =
                jarvis_core::panic_message(&*panic).unwrap_or("a panic without a message");
            let error = ApiError::internal(&format!("handler panicked: {message}"));
            Ok(ServiceResponse::new(
                request,
                error.error_response().map_into_boxed_body(),
            ))
        }
    }
}

/// Resolves to `Err` with the payload if polling the inner future panics.
struct CatchUnwind<F>(std::pin::Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send>>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(std::task::Poll::Ready(output)) => std::task::Poll::Ready(Ok(output)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(panic) => std::task::Poll::Ready(Err(panic)),
        }
    }
}

/// The methods the matched route pattern answers, from the route table.
fn allowed_methods(req: &actix_web::HttpRequest) -> Option<String> {
    let pattern = req.match_pattern()?;
    let state = req.app_data::<actix_web::web::Data<crate::state::AppState>>()?;
    state.allowed.get(&pattern).cloned()
}

fn is_json(res: &ServiceResponse<BoxBody>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

#[cfg(test)]
mod tests {
    use actix_web::{App, HttpResponse, test, web};

    use crate::registry::{Body, Route};
    use crate::routing::Routes;

    fn route(path: &str) -> Route {
        Route {
            method: "get",
            path: path.to_owned(),
            operation_id: path.trim_start_matches('/').to_owned(),
            tag: "test",
            summary: String::new(),
            params: vec![],
            body: Body::Json,
            errors: &[],
            deprecated: false,
            cached: false,
            status: 200,
            request: None,
            scope: None,
        }
    }

    #[actix_web::test]
    async fn a_panicking_handler_answers_500_in_the_envelope_and_the_service_survives() {
        let app = test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(super::middleware))
                .configure(|cfg| {
                    let mut routes = Routes::default();
                    routes.add(
                        cfg,
                        route("/boom"),
                        web::resource("/boom").route(web::get().to(|| async {
                            let items: Vec<u8> = Vec::new();
                            // An out-of-bounds index: the kind of bug the net is for.
                            HttpResponse::Ok().body(vec![items[usize::from(items.is_empty())]])
                        })),
                    );
                    routes.add(
                        cfg,
                        route("/fine"),
                        web::resource("/fine")
                            .route(web::get().to(|| async { HttpResponse::Ok().body("ok") })),
                    );
                }),
        )
        .await;
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/boom").to_request()).await;
        assert_eq!(res.status(), 500);
        assert!(res.headers().contains_key("x-request-id"));
        let body: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(body["error"]["code"], "INTERNAL_ERROR");
        assert!(
            !body.to_string().contains("index out of bounds"),
            "the panic message is logged, not sent: {body}"
        );
        for _ in 0..3 {
            let res =
                test::call_service(&app, test::TestRequest::get().uri("/fine").to_request()).await;
            assert_eq!(res.status(), 200);
        }
    }
}
