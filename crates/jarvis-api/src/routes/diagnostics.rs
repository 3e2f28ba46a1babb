//! `/diagnostics`: everything discovery could not load, or loaded with reservations, and why.

use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use jarvis_auth::Scope;
use jarvis_core::{Diagnostic, DiagnosticCode, Severity};

use super::{Doc, get_v2};
use crate::envelope::{Version, cached, v2_prefix};
use crate::error::ApiError;
use crate::params::{Params, paginate};
use crate::registry::{Body, Param, Routes};
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    get_v2(
        cfg,
        routes,
        "/diagnostics",
        Doc {
            operation: "diagnostics".into(),
            tag: "diagnostics",
            summary: "What discovery could not read, or read with reservations: code, severity, path, line, message".into(),
            params: vec![
                Param::query("severity", "string", "Only this severity or worse: info, warning or error"),
                Param::query("code", "string", "Only these codes (see docs/errors.md); repeat or comma-separate"),
                Param::query("path", "string", "Only diagnostics whose path contains this text"),
                Param::query("limit", "integer", "Page size, 1 to 500 (default 50)"),
                Param::query("offset", "integer", "Items to skip; not with `cursor`"),
                Param::query("cursor", "string", "The `next_cursor` of the previous page"),
            ],
            body: Body::Page("Diagnostic"),
            errors: &[],
            cached: true,
            scope: Some(Scope::Read),
        },
        diagnostics,
    );
}

async fn diagnostics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(
        req.query_string(),
        &["severity", "code", "path", "limit", "offset", "cursor"],
        &["code"],
    )?;
    let (limit, offset) = params.page()?;
    let min_severity = params
        .get("severity")
        .map(|s| match s {
            "info" => Ok(Severity::Info),
            "warning" => Ok(Severity::Warning),
            "error" => Ok(Severity::Error),
            other => Err(ApiError::invalid(
                "severity",
                format!("unknown severity `{other}`; expected info, warning or error"),
            )),
        })
        .transpose()?
        .unwrap_or(Severity::Info);
    let codes = params
        .all("code")
        .into_iter()
        .map(|c| {
            DiagnosticCode::ALL
                .iter()
                .copied()
                .find(|k| k.as_str() == c)
                .ok_or_else(|| ApiError::invalid("code", format!("unknown diagnostic code `{c}`")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let path = params.get("path").map(str::to_owned);
    cached(&req, &state, Version::V2, move |snapshot| {
        let items: Vec<&Diagnostic> = snapshot
            .diagnostics()
            .iter()
            .filter(|d| d.severity >= min_severity)
            .filter(|d| codes.is_empty() || codes.contains(&d.code))
            .filter(|d| {
                path.as_ref()
                    .is_none_or(|p| d.path.to_string_lossy().contains(p.as_str()))
            })
            .collect();
        let (page, pagination) = paginate(items, limit, offset);
        v2_prefix(&page, Some(&pagination), snapshot.generation())
    })
    .await
}
