//! `/antigravity/status`: the original server's Easter egg, now also a real status.
//!
//! Python's `import antigravity` opens xkcd 353 ("I wrote 20 short programs in Python yesterday.
//! It was wonderful."). Jarvis answers with its altitude — the catalog generation — and what it
//! carries aloft.

use actix_web::HttpResponse;
use actix_web::web::{self, ServiceConfig};
use jarvis_core::ResourceKind;
use serde_json::json;

use super::{Doc, get_v2};
use crate::error::ApiError;
use crate::registry::Body;
use crate::reply;
use crate::routing::Routes;
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    get_v2(
        cfg,
        routes,
        "/antigravity/status",
        Doc {
            operation: "antigravity_status".into(),
            tag: "system",
            summary:
                "import antigravity: version, uptime, catalog generation and counts, with lift"
                    .into(),
            params: vec![],
            body: Body::Envelope("Object"),
            errors: &[],
            cached: false,
            scope: None,
        },
        status,
    );
}

async fn status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let snapshot = state.catalog.snapshot();
    let stats = snapshot.stats();
    let uptime = state.started.elapsed().as_secs();
    let payload: serde_json::Map<String, serde_json::Value> = ResourceKind::ALL
        .iter()
        .map(|k| {
            (
                k.plural().to_owned(),
                json!(stats.kinds.get(k).map_or(0, |c| c.active)),
            )
        })
        .collect();
    let total: u64 = payload.values().filter_map(serde_json::Value::as_u64).sum();
    let data = json!({
        "status": "levitating",
        "message": format!(
            "import antigravity: {total} resources aloft, {} hours without touching the ground.",
            uptime / 3600
        ),
        "altitude": snapshot.generation(),
        "altitude_unit": "catalog generations",
        "payload": payload,
        "turbulence": snapshot.diagnostics().len(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": uptime,
        "catalog_generation": snapshot.generation(),
        "see_also": "https://xkcd.com/353/",
    });
    reply::ok(&data, snapshot.generation())
}
