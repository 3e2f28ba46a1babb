//! `/cache/stats`: how well the response cache is doing.

use actix_web::HttpResponse;
use actix_web::web::{self, ServiceConfig};
use jarvis_auth::Scope;

use super::{Doc, get_v2};
use crate::error::ApiError;
use crate::registry::Body;
use crate::reply;
use crate::routing::Routes;
use crate::state::AppState;
use crate::views::CacheStatsView;

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    get_v2(
        cfg,
        routes,
        "/cache/stats",
        Doc {
            operation: "cache_stats".into(),
            tag: "system",
            summary: "Response cache counters: entries, bytes, hits, misses, hit rate, evictions"
                .into(),
            params: vec![],
            body: Body::Envelope("CacheStatsView"),
            errors: &[],
            cached: false,
            scope: Some(Scope::Read),
        },
        stats,
    );
}

async fn stats(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let stats = CacheStatsView::from(state.cache.stats());
    reply::ok(&stats, state.catalog.snapshot().generation())
}
