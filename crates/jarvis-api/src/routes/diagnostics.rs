//! `/diagnostics`: everything discovery could not load, or loaded with reservations, and why.

use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use jarvis_auth::Scope;
use jarvis_core::{Diagnostic, DiagnosticCode, Severity};

use super::{Doc, get_v2};
use crate::envelope::{Version, cached, v2_prefix};
use crate::error::ApiError;
use crate::params::{DEFAULT_LIMIT, MAX_LIMIT, Params, list_pattern, page_params, paginate};
use crate::registry::{Body, Param};
use crate::routing::Routes;
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    get_v2(
        cfg,
        routes,
        "/diagnostics",
        Doc {
            operation: "diagnostics".into(),
            tag: "diagnostics",
            summary: "What discovery, the cost ledger and the knowledge base could not read, or read with reservations: code, severity, path, line, message".into(),
            params: params(),
            body: Body::Page("Diagnostic"),
            errors: &[],
            cached: true,
            scope: Some(Scope::Read),
        },
        diagnostics,
    );
}

fn params() -> Vec<Param> {
    let codes: Vec<&str> = DiagnosticCode::ALL.iter().map(|c| c.as_str()).collect();
    let mut params = vec![
        Param::query("severity", "string", "Only this severity or worse")
            .one_of(&["info", "warning", "error"]),
        Param::query(
            "code",
            "string",
            "Only these codes (see docs/errors.md); repeat or comma-separate",
        )
        .pattern(list_pattern(&codes), 1, 256)
        .repeatable(),
        Param::query(
            "path",
            "string",
            "Only diagnostics whose path contains this text",
        ),
    ];
    params.extend(page_params(MAX_LIMIT, DEFAULT_LIMIT));
    params
}

async fn diagnostics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req);
    let (limit, offset) = params.page()?;
    let min_severity = match params.get("severity") {
        Some("error") => Severity::Error,
        Some("warning") => Severity::Warning,
        _ => Severity::Info,
    };
    let codes: Vec<DiagnosticCode> = params
        .all("code")
        .into_iter()
        .filter_map(|c| {
            DiagnosticCode::ALL
                .iter()
                .copied()
                .find(|k| k.as_str() == c)
        })
        .collect();
    let path = params.get("path").map(str::to_owned);
    // Found outside the catalog: the cost ledger's and the knowledge base's.
    let mut costs = cost_diagnostics(&state);
    if let Some(knowledge) = &state.knowledge {
        costs.extend(knowledge.diagnostics());
    }
    let fresh = !costs.is_empty();
    let select = move |snapshot: std::sync::Arc<jarvis_discovery::CatalogSnapshot>| {
        let items: Vec<&Diagnostic> = snapshot
            .diagnostics()
            .iter()
            .chain(costs.iter())
            .filter(|d| d.severity >= min_severity)
            .filter(|d| codes.is_empty() || codes.contains(&d.code))
            .filter(|d| {
                path.as_ref()
                    .is_none_or(|p| d.path.to_string_lossy().contains(p.as_str()))
            })
            .collect();
        let (page, pagination) = paginate(items, limit, offset);
        v2_prefix(&page, Some(&pagination), snapshot.generation())
    };
    if !fresh {
        return cached(&req, &state, Version::V2, select).await;
    }
    // These findings move without the catalog: rendered for this request.
    let snapshot = state.catalog.snapshot();
    let prefix = crate::error::blocking(move || select(snapshot)).await?;
    Ok(crate::reply::finish(
        actix_web::http::StatusCode::OK,
        &prefix,
        None,
    ))
}

/// The cost ledger's findings: models without a price, usage logs that cannot be read.
fn cost_diagnostics(state: &AppState) -> Vec<Diagnostic> {
    let Some(costs) = &state.costs else {
        return Vec::new();
    };
    let mut out: Vec<Diagnostic> = costs
        .stats()
        .unreadable
        .into_iter()
        .map(|(path, error)| {
            Diagnostic::new(
                DiagnosticCode::UsageLogUnreadable,
                path,
                format!("cannot read this usage log ({error}); it is tried again at each pass"),
            )
        })
        .collect();
    for (model, entries) in costs.ledger().unpriced_models() {
        out.push(Diagnostic::new(
            DiagnosticCode::ModelUnpriced,
            format!("costs/models/{model}"),
            format!(
                "model `{model}` has no price: {entries} entries count their tokens but no cost; add it under costs.prices"
            ),
        ));
    }
    out
}
