//! Response bodies: the v2 envelope, assembled around cached bytes, and conditional GETs.
//!
//! A v2 body is `{"success":true,"data":…,"metadata":{…,"request_id":"…"}}`. Everything but the
//! request id is the same for every request with the same path, query and catalog generation,
//! so that part is rendered once, cached, and validated by a strong ETag; the request id is
//! appended per response (it is always the last metadata field). v1 bodies carry no request id
//! and are cached whole.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use jarvis_cache::Entry;
use jarvis_discovery::CatalogSnapshot;
use serde::Serialize;

use crate::error::ApiError;
use crate::request_id;
use crate::state::AppState;

/// Which body shape a route answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The original server's shapes, with deprecation headers.
    V1,
    /// The envelope.
    V2,
}

/// Where a list page sits in the whole.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Pagination {
    /// How many items match, across all pages.
    pub total: usize,
    /// The page size asked for.
    pub limit: usize,
    /// Where this page starts.
    pub offset: usize,
    /// Whether items follow this page.
    pub has_more: bool,
    /// An opaque cursor for the next page, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Renders the cacheable part of a v2 body: everything up to the request id's value.
pub fn v2_prefix(
    data: &impl Serialize,
    pagination: Option<&Pagination>,
    generation: u64,
) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(br#"{"success":true,"data":"#);
    serde_json::to_writer(&mut out, data).map_err(|e| ApiError::internal(&e))?;
    out.extend_from_slice(br#","metadata":{"api_version":"v2","generation":"#);
    out.extend_from_slice(generation.to_string().as_bytes());
    if let Some(p) = pagination {
        out.extend_from_slice(br#","pagination":"#);
        serde_json::to_writer(&mut out, p).map_err(|e| ApiError::internal(&e))?;
    }
    out.extend_from_slice(br#","request_id":""#);
    Ok(out)
}

/// Completes a v2 prefix with this request's id. Request ids are letters, digits, `-`, `_` and
/// `.` only (see [`context`]), so they need no JSON escaping.
pub fn v2_finish(prefix: &[u8]) -> Vec<u8> {
    let id = request_id::request_id();
    let mut body = Vec::with_capacity(prefix.len() + id.len() + 3);
    body.extend_from_slice(prefix);
    body.extend_from_slice(id.as_bytes());
    body.extend_from_slice(br#""}}"#);
    body
}

/// Serves a GET from the cache, rendering it (off the async executor) on a miss, and answers
/// `If-None-Match` with 304.
pub async fn cached<F>(
    req: &HttpRequest,
    state: &AppState,
    version: Version,
    render: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(Arc<CatalogSnapshot>) -> Result<Vec<u8>, ApiError> + Send + 'static,
{
    cached_with(req, state, version, "", render).await
}

/// [`cached`] for a body that also shows something the catalog generation does not cover (MCP
/// health): `suffix` names its version, so the entry is rendered again when it changes.
pub async fn cached_with<F>(
    req: &HttpRequest,
    state: &AppState,
    version: Version,
    suffix: &str,
    render: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(Arc<CatalogSnapshot>) -> Result<Vec<u8>, ApiError> + Send + 'static,
{
    let snapshot = state.catalog.snapshot();
    let generation = snapshot.generation();
    let key = match req.query_string() {
        "" => format!("{}{suffix}", req.path()),
        query => format!("{}?{query}{suffix}", req.path()),
    };
    let entry = match state.cache.get(&key, generation) {
        Some(entry) => entry,
        None => {
            let bytes = web::block(move || render(snapshot))
                .await
                .map_err(|e| ApiError::internal(&e))??;
            state.cache.insert(&key, generation, bytes)
        }
    };
    Ok(respond(req, &entry, version))
}

fn respond(req: &HttpRequest, entry: &Entry, version: Version) -> HttpResponse {
    let etag = HeaderValue::from_str(&entry.etag).ok();
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == "*" || t.trim() == &*entry.etag)
        });
    let mut builder = if matches {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    if let Some(etag) = etag {
        builder.insert_header((header::ETAG, etag));
    }
    // Clients may keep a copy but must revalidate: the catalog changes whenever files do.
    builder.insert_header((
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    ));
    if version == Version::V1 {
        deprecation_headers(&mut builder, req.path());
    }
    if matches {
        return builder.finish();
    }
    builder.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    ));
    match version {
        Version::V2 => builder.body(CachedBody::v2(&entry.payload)),
        Version::V1 => builder.body(CachedBody::whole(&entry.payload)),
    }
}

/// A response body that shares the cached bytes instead of copying them: the cached part, then
/// (for v2) this request's id and the closing braces.
struct CachedBody {
    parts: [Option<web::Bytes>; 2],
    len: u64,
}

impl CachedBody {
    fn shared(payload: &Arc<[u8]>) -> web::Bytes {
        web::Bytes::from_owner(SharedSlice(Arc::clone(payload)))
    }

    fn v2(prefix: &Arc<[u8]>) -> CachedBody {
        let id = request_id::request_id();
        let mut tail = Vec::with_capacity(id.len() + 3);
        tail.extend_from_slice(id.as_bytes());
        tail.extend_from_slice(br#""}}"#);
        CachedBody {
            len: (prefix.len() + tail.len()) as u64,
            parts: [Some(Self::shared(prefix)), Some(web::Bytes::from(tail))],
        }
    }

    fn whole(payload: &Arc<[u8]>) -> CachedBody {
        CachedBody {
            len: payload.len() as u64,
            parts: [Some(Self::shared(payload)), None],
        }
    }
}

/// `Arc<[u8]>` as an owner for `Bytes::from_owner`.
struct SharedSlice(Arc<[u8]>);

impl AsRef<[u8]> for SharedSlice {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl actix_web::body::MessageBody for CachedBody {
    type Error = std::convert::Infallible;

    fn size(&self) -> actix_web::body::BodySize {
        actix_web::body::BodySize::Sized(self.len)
    }

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<web::Bytes, Self::Error>>> {
        let this = self.get_mut();
        let next = this.parts.iter_mut().find_map(Option::take);
        std::task::Poll::Ready(next.map(Ok))
    }
}

/// The date after which v1 may be removed.
pub const V1_SUNSET: &str = "Wed, 30 Jun 2027 00:00:00 GMT";

/// `Deprecation`, `Sunset` and a `Link` to the successor of a v1 path.
pub fn deprecation_headers(builder: &mut actix_web::HttpResponseBuilder, path: &str) {
    let successor = path.replacen("/api/v1", "/api/v2", 1);
    builder.insert_header(("Deprecation", "true"));
    builder.insert_header(("Sunset", V1_SUNSET));
    if let Ok(link) = HeaderValue::from_str(&format!("<{successor}>; rel=\"successor-version\"")) {
        builder.insert_header((header::LINK, link));
    }
}
