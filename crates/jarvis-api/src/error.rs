//! The API's error type and the one place errors become HTTP responses.
//!
//! Every failure — a handler's, actix's own extractor errors, an unknown route, a wrong method,
//! an oversized body — leaves as the same envelope:
//! `{"success": false, "error": {"code", "message", "details"}, "metadata": {"request_id"}}`.
//! A 500 logs its cause with the request id and tells the client nothing internal.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use jarvis_core::{Code, ErrorCode};
use serde_json::{Value, json};

use crate::request_id;

/// An error answered to a client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The table entry: status and machine name.
    pub code: Code,
    /// A sentence for the client.
    pub message: String,
    /// Structured details (the offending parameter, candidate ids, …).
    pub details: Option<Value>,
    /// Seconds a client should wait before trying again (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a code and a message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// A `VALIDATION_ERROR` naming the parameter at fault.
    pub fn invalid(parameter: &str, message: impl Into<String>) -> Self {
        ApiError::new(Code::ValidationError, message)
            .with_details(json!({ "parameter": parameter }))
    }

    /// The same error with details.
    #[must_use]
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The same error, telling the client to retry after `secs` seconds.
    #[must_use]
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// An internal failure: the cause is logged with the request id, the client learns nothing.
    pub fn internal(cause: &dyn fmt::Display) -> Self {
        tracing::error!(request_id = %request_id::request_id(), error = %cause, "internal error");
        ApiError::new(
            Code::InternalError,
            "an internal error occurred; it has been logged",
        )
    }

    /// The store failed: the cause (a file path, an SQL message) is logged with the request
    /// id; the client learns only that the database is unavailable.
    pub fn store(cause: &dyn fmt::Display) -> Self {
        tracing::error!(request_id = %request_id::request_id(), error = %cause, "store error");
        ApiError::new(
            Code::StoreUnavailable,
            "the database is unavailable; the cause has been logged",
        )
    }

    /// A lower crate's error with its own code. Internal and store failures are logged and
    /// answered without their detail; every other message is meant for the client.
    pub fn from_error<E: ErrorCode + fmt::Display>(e: &E) -> Self {
        match e.error_code() {
            Code::InternalError => ApiError::internal(e),
            Code::StoreUnavailable => ApiError::store(e),
            code => ApiError {
                code,
                message: e.to_string(),
                details: e.error_details(),
                retry_after: None,
            },
        }
    }

    /// The envelope body for this error.
    pub fn body(&self) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct Envelope<'a> {
            success: bool,
            error: Error<'a>,
            metadata: Metadata,
        }
        #[derive(serde::Serialize)]
        struct Error<'a> {
            code: Code,
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            details: Option<&'a Value>,
        }
        #[derive(serde::Serialize)]
        struct Metadata {
            request_id: String,
        }
        let body = Envelope {
            success: false,
            error: Error {
                code: self.code,
                message: &self.message,
                details: self.details.as_ref(),
            },
            metadata: Metadata {
                request_id: request_id::request_id(),
            },
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Any crate's coded error becomes an answer through `?`: internal and store failures are logged
/// and answered without their detail, every other message is meant for the client.
impl<E: ErrorCode + fmt::Display> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError::from_error(&e)
    }
}

/// Runs `work` on the blocking pool and answers its error, or an internal error if the work
/// did not come back (it panicked, or the runtime is shutting down).
pub(crate) async fn blocking<T, E>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(Into::into),
        Err(e) => Err(ApiError::internal(&e)),
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ));
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        response.body(self.body())
    }
}

/// Turns actix's JSON body errors into envelope errors.
pub(crate) fn json_error(
    err: actix_web::error::JsonPayloadError,
    _: &HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let api = match &err {
        E::ContentType => ApiError::new(
            Code::UnsupportedMediaType,
            "the body must be application/json",
        ),
        E::Overflow { limit } | E::OverflowKnownLength { limit, .. } => ApiError::new(
            Code::PayloadTooLarge,
            format!("the body is larger than {limit} bytes"),
        ),
        other => ApiError::new(
            Code::MalformedBody,
            format!("the body is not valid JSON: {other}"),
        ),
    };
    api.into()
}

/// A request body that is a JSON object, read into `T`. `web::Json` alone would also read a
/// struct from a JSON array of its fields (serde's sequence form, `[]` for a struct whose
/// fields all have defaults): every body this API takes is an object, and anything else is
/// refused with `MALFORMED_BODY`.
pub(crate) struct JsonObject<T>(pub T);

impl<T> JsonObject<T> {
    /// The body.
    pub(crate) fn into_inner(self) -> T {
        self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let json = actix_web::web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let value = json.await?.into_inner();
            if !value.is_object() {
                return Err(
                    ApiError::new(Code::MalformedBody, "the body must be a JSON object").into(),
                );
            }
            serde_json::from_value::<T>(value)
                .map(JsonObject)
                .map_err(|e| {
                    ApiError::new(
                        Code::MalformedBody,
                        format!("the body is not valid JSON: Json deserialize error: {e}"),
                    )
                    .into()
                })
        })
    }
}

/// Turns actix's query-string errors into envelope errors.
pub(crate) fn query_error(
    err: actix_web::error::QueryPayloadError,
    _: &HttpRequest,
) -> actix_web::Error {
    ApiError::new(
        Code::ValidationError,
        format!("invalid query string: {err}"),
    )
    .into()
}

/// Turns actix's path errors into envelope errors.
pub(crate) fn path_error(err: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::new(Code::ValidationError, format!("invalid path: {err}")).into()
}

/// The code for a bare error status produced outside our handlers (actix's own 404/405/413…).
pub(crate) fn code_for_status(status: StatusCode) -> Code {
    match status.as_u16() {
        404 => Code::RouteNotFound,
        405 => Code::MethodNotAllowed,
        413 => Code::PayloadTooLarge,
        415 => Code::UnsupportedMediaType,
        401 => Code::Unauthorized,
        403 => Code::Forbidden,
        429 => Code::RateLimited,
        400..=499 => Code::ValidationError,
        _ => Code::InternalError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_and_internal_failures_reach_the_client_without_their_detail() {
        let store =
            jarvis_store::Error::Query("UNIQUE constraint failed: workflow_executions.id".into());
        let error = ApiError::from_error(&store);
        assert_eq!(error.code, Code::StoreUnavailable);
        assert!(!error.message.contains("UNIQUE"), "{}", error.message);
        let body = String::from_utf8(error.body()).unwrap();
        assert!(!body.contains("workflow_executions"), "{body}");

        let engine = jarvis_tasks::EngineError::Internal("a secret path /home/x".into());
        let error = ApiError::from_error(&engine);
        assert_eq!(error.code, Code::InternalError);
        assert!(!error.message.contains("/home/x"), "{}", error.message);

        let refused = jarvis_tasks::EngineError::NotFound("task_1".into());
        let error = ApiError::from_error(&refused);
        assert_eq!(error.code, refused.error_code());
        assert_eq!(error.message, refused.to_string());
    }
}
