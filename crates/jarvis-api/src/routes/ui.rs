//! The dashboard: a page and its script and stylesheet, embedded in the binary and served from
//! `/ui/` (no CDN, works offline). Everything it shows comes from the API, through the same keys;
//! the page's content security policy allows nothing but this origin.
//!
//! Assets answer with a strong ETag of their bytes and `Cache-Control: no-cache`, so a browser
//! keeps them and revalidates with one 304 per asset.

use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::ServiceConfig;
use actix_web::{HttpRequest, HttpResponse};

use super::{Doc, get};
use crate::error::ApiError;
use crate::registry::Body;
use crate::routing::Routes;

/// An embedded file.
pub(crate) struct Asset {
    bytes: &'static str,
    content_type: &'static str,
    etag: OnceLock<String>,
}

impl Asset {
    pub(crate) const fn new(bytes: &'static str, content_type: &'static str) -> Asset {
        Asset {
            bytes,
            content_type,
            etag: OnceLock::new(),
        }
    }

    /// The asset, or 304 when the client's copy is current.
    pub(crate) fn serve(&self, req: &HttpRequest) -> HttpResponse {
        let etag = self
            .etag
            .get_or_init(|| jarvis_cache::etag(self.bytes.as_bytes()));
        let fresh = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
        let mut response = if fresh {
            HttpResponse::NotModified()
        } else {
            HttpResponse::Ok()
        };
        response
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
            .insert_header((header::ETAG, etag.as_str()));
        if fresh {
            return response.finish();
        }
        response
            .insert_header((header::CONTENT_TYPE, self.content_type))
            .body(self.bytes)
    }
}

static PAGE: Asset = Asset::new(include_str!("../ui/index.html"), "text/html; charset=utf-8");
static SCRIPT: Asset = Asset::new(
    include_str!("../ui/app.js"),
    "text/javascript; charset=utf-8",
);
static STYLE: Asset = Asset::new(include_str!("../ui/app.css"), "text/css; charset=utf-8");

fn doc(operation: &str, summary: &str, body: Body) -> Doc {
    Doc {
        operation: operation.into(),
        tag: "docs",
        summary: summary.into(),
        params: vec![],
        body,
        errors: &[],
        cached: true,
        scope: None,
    }
}

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    for (path, operation) in [("/ui", "ui_bare"), ("/ui/", "ui")] {
        get(
            cfg,
            routes,
            path,
            doc(
                operation,
                "The dashboard: overview, resources, tasks, diagnostics (its data comes from the API, with the same keys)",
                Body::Html,
            ),
            false,
            page,
        );
    }
    get(
        cfg,
        routes,
        "/ui/app.js",
        doc("ui_script", "The dashboard's script", Body::Script),
        false,
        script,
    );
    get(
        cfg,
        routes,
        "/ui/app.css",
        doc("ui_style", "The dashboard's stylesheet", Body::Stylesheet),
        false,
        style,
    );
}

async fn page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Ok(PAGE.serve(&req))
}

async fn script(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Ok(SCRIPT.serve(&req))
}

async fn style(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Ok(STYLE.serve(&req))
}

/// Whether a request to `/` comes from a browser that wants a page rather than JSON: its
/// `Accept` names `text/html` and not `application/json` before it.
pub(crate) fn wants_page(req: &HttpRequest) -> bool {
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let html = accept.find("text/html");
    let json = accept.find("application/json");
    match (html, json) {
        (Some(h), Some(j)) => h < j,
        (Some(_), None) => true,
        _ => false,
    }
}
