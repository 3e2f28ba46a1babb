//! The OpenAPI document and a documentation page served by the binary itself (no CDN).

use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, ServiceConfig};

use super::{Doc, get_v2};
use crate::error::ApiError;
use crate::registry::Body;
use crate::routing::Routes;
use crate::state::AppState;

/// The documentation page: plain HTML that loads [`SCRIPT`].
const PAGE: &str = include_str!("../docs.html");
/// The page's script, which renders `openapi.json`.
const SCRIPT: &str = include_str!("../docs.js");
/// The page's stylesheet (the content security policy allows no inline style).
static STYLE: super::ui::Asset =
    super::ui::Asset::new(include_str!("../docs.css"), "text/css; charset=utf-8");

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    get_v2(
        cfg,
        routes,
        "/openapi.json",
        Doc {
            operation: "openapi".into(),
            tag: "docs",
            summary: "This API's OpenAPI 3.1 document".into(),
            params: vec![],
            body: Body::Json,
            errors: &[],
            cached: false,
            scope: None,
        },
        openapi,
    );
    get_v2(
        cfg,
        routes,
        "/docs",
        Doc {
            operation: "docs".into(),
            tag: "docs",
            summary: "Human-readable API documentation, rendered from the OpenAPI document".into(),
            params: vec![],
            body: Body::Html,
            errors: &[],
            cached: false,
            scope: None,
        },
        page,
    );
    super::get(
        cfg,
        routes,
        "/docs/app.js",
        Doc {
            operation: "docs_script".into(),
            tag: "docs",
            summary: "The documentation page's script".into(),
            params: vec![],
            body: Body::Script,
            errors: &[],
            cached: false,
            scope: None,
        },
        false,
        script,
    );
    super::get(
        cfg,
        routes,
        "/docs/app.css",
        Doc {
            operation: "docs_style".into(),
            tag: "docs",
            summary: "The documentation page's stylesheet".into(),
            params: vec![],
            body: Body::Stylesheet,
            errors: &[],
            cached: true,
            scope: None,
        },
        false,
        style,
    );
}

async fn style(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    Ok(STYLE.serve(&req))
}

async fn script() -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        ))
        .body(SCRIPT))
}

async fn openapi(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .body(state.openapi.to_vec()))
}

async fn page() -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ))
        .body(PAGE))
}
