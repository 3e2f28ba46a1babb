//! The one way a handler answers with a v2 body rendered for this request (not from the
//! response cache): the status, `Content-Type: application/json`, `Cache-Control: no-store`,
//! and a `Location` when the answer is a new thing to follow.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use serde::Serialize;

use crate::envelope::{Pagination, v2_finish, v2_prefix};
use crate::error::ApiError;

/// A prefix rendered by [`v2_prefix`] (perhaps off the executor), finished with the request id.
pub(crate) fn finish(status: StatusCode, prefix: &[u8], location: Option<&str>) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    if let Some(location) = location {
        response.insert_header((header::LOCATION, location));
    }
    response.body(v2_finish(prefix))
}

/// `data` with `status`.
pub(crate) fn with_status(
    status: StatusCode,
    data: &impl Serialize,
    generation: u64,
) -> Result<HttpResponse, ApiError> {
    Ok(finish(status, &v2_prefix(data, None, generation)?, None))
}

/// `200 OK` with `data`.
pub(crate) fn ok(data: &impl Serialize, generation: u64) -> Result<HttpResponse, ApiError> {
    with_status(StatusCode::OK, data, generation)
}

/// `200 OK` with a page of a list.
pub(crate) fn page(
    data: &impl Serialize,
    pagination: &Pagination,
    generation: u64,
) -> Result<HttpResponse, ApiError> {
    Ok(finish(
        StatusCode::OK,
        &v2_prefix(data, Some(pagination), generation)?,
        None,
    ))
}

/// `202 Accepted` with `data`, and where to follow it when there is a place.
pub(crate) fn accepted(
    data: &impl Serialize,
    location: Option<&str>,
    generation: u64,
) -> Result<HttpResponse, ApiError> {
    Ok(finish(
        StatusCode::ACCEPTED,
        &v2_prefix(data, None, generation)?,
        location,
    ))
}
