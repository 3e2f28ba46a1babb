//! The current request's id, held in a task-local for the length of a request (or of a WebSocket
//! command that logs like one), so that envelopes, errors and audit lines anywhere name it without
//! threading it through every call. A leaf module: the middleware in `context` sets it; errors and
//! envelopes read it without importing the middleware.

use std::future::Future;
use std::sync::Arc;

use actix_web::http::header::HeaderName;

/// The response header carrying the request id.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    pub(crate) static REQUEST_ID: Arc<str>;
}

/// The current request's id, or `-` outside a request.
pub fn request_id() -> String {
    REQUEST_ID
        .try_with(|id| id.to_string())
        .unwrap_or_else(|_| "-".to_owned())
}

/// Runs `future` with `id` as the current request id, for work that is not an HTTP request
/// (a WebSocket command) but logs like one.
pub(crate) async fn with_request_id<F: Future>(id: String, future: F) -> F::Output {
    REQUEST_ID.scope(id.into(), future).await
}
