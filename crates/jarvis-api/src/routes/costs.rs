//! What AI use costs: today and this month against budgets, ccusage's reports, the 5-hour
//! blocks, the ledger's entries, what reading the usage logs found, and costs recorded by
//! clients.
//!
//! Reports are sums over the whole ledger: they run on the blocking pool, never on the
//! executor.

use actix_web::http::StatusCode;
use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use jarvis_auth::Scope;
use jarvis_core::Code;
use jarvis_costs::query::{Budgets, Filter, GroupBy};
use jarvis_costs::time::now_ms;
use jarvis_costs::{CostService, EntryId, Readiness, Record, Source, Tokens, Usd, Zone};
use jarvis_store::{CostFilter, CostRow};
use serde::{Deserialize, Serialize};

use super::{Doc, get, get_v2};
use crate::envelope::{Pagination, v2_prefix};
use crate::error::{ApiError, blocking};
use crate::guard::Caller;
use crate::params::{DEFAULT_LIMIT, MAX_LIMIT, Params};
use crate::registry::{Body, Param, Route};
use crate::reply;
use crate::routing::Routes;
use crate::state::AppState;

/// An entries cursor: the last entry's time and id.
const ENTRY_CURSOR_PATTERN: &str = "^[0-9]{1,16}\\.cst_[0-9a-f]{24}$";
/// An entry id.
const ENTRY_ID_PATTERN: &str = "^cst_[0-9a-f]{24}$";
/// A client's idempotency key.
const KEY_PATTERN: &str = "^[A-Za-z0-9._:-]+$";

const ERRORS: &[Code] = &[Code::CostsUnavailable];
const QUERY_ERRORS: &[Code] = &[Code::ValidationError, Code::CostsUnavailable];

fn tz_param() -> Param {
    Param::query(
        "tz",
        "string",
        "The IANA time zone days begin in (default: costs.timezone, else the server's)",
    )
    .named("TimeZone", jarvis_costs::zone::zone_names())
}

fn range_params() -> Vec<Param> {
    vec![
        Param::query("since", "string", "From this day, inclusive (YYYY-MM-DD)").date(),
        Param::query("until", "string", "Up to this day, inclusive (YYYY-MM-DD)").date(),
        tz_param(),
    ]
}

fn source_param() -> Param {
    Param::query("source", "string", "Only this source").one_of(&[
        "claude_code",
        "task",
        "workflow",
        "manual",
    ])
}

pub(crate) fn configure(cfg: &mut ServiceConfig, routes: &mut Routes) {
    let current_doc = |operation: &str, summary: &str| Doc {
        operation: operation.into(),
        tag: "costs",
        summary: summary.into(),
        params: vec![tz_param()],
        body: Body::Envelope("Current"),
        errors: QUERY_ERRORS,
        cached: false,
        scope: Some(Scope::Read),
    };
    get(
        cfg,
        routes,
        "/api/v2/costs/current",
        current_doc(
            "costs_current",
            "Today and this month so far, by model, project, source, agent and category; budgets with what is left; the last hour's burn rate; projections for the day, the month and the active 5-hour block",
        ),
        false,
        current,
    );
    get(
        cfg,
        routes,
        "/costs/current",
        current_doc(
            "costs_current_original",
            "The original route: the same as /api/v2/costs/current",
        ),
        false,
        current,
    );
    let mut report_params = vec![
        Param::query("group_by", "string", "How rows are grouped (default day); day, week (from Monday), month and session are ccusage's reports").one_of(&GroupBy::NAMES),
        source_param(),
        Param::query("project", "string", "Only this project").max_len(256),
    ];
    report_params.extend(range_params());
    get_v2(
        cfg,
        routes,
        "/costs/report",
        Doc {
            operation: "costs_report".into(),
            tag: "costs",
            summary: "Totals grouped by day, week, month, session, model, project, category, source or agent, each row with its models; the fields and units of ccusage's JSON".into(),
            params: report_params,
            body: Body::Envelope("Report"),
            errors: QUERY_ERRORS,
            cached: false,
            scope: Some(Scope::Read),
        },
        report,
    );
    let mut block_params = range_params();
    block_params.push(Param::query("active", "boolean", "Only the active block"));
    get_v2(
        cfg,
        routes,
        "/costs/blocks",
        Doc {
            operation: "costs_blocks".into(),
            tag: "costs",
            summary: "Claude Code usage in 5-hour blocks as ccusage defines them, gaps included; the active block with its burn rate and projection".into(),
            params: block_params,
            body: Body::List("Block"),
            errors: QUERY_ERRORS,
            cached: false,
            scope: Some(Scope::Read),
        },
        blocks,
    );
    let mut entry_params = vec![source_param()];
    entry_params.push(
        Param::query("limit", "integer", "Page size")
            .range(1, MAX_LIMIT)
            .default(DEFAULT_LIMIT),
    );
    entry_params.push(
        Param::query("cursor", "string", "The `next_cursor` of the previous page").pattern(
            ENTRY_CURSOR_PATTERN,
            30,
            45,
        ),
    );
    get_v2(
        cfg,
        routes,
        "/costs/entries",
        Doc {
            operation: "cost_entries".into(),
            tag: "costs",
            summary: "The ledger's entries, newest first".into(),
            params: entry_params,
            body: Body::Page("CostEntry"),
            errors: ERRORS,
            cached: false,
            scope: Some(Scope::Read),
        },
        entries,
    );
    get_v2(
        cfg,
        routes,
        "/costs/entries/{id}",
        Doc {
            operation: "cost_entry".into(),
            tag: "costs",
            summary: "One entry of the ledger".into(),
            params: vec![Param::path("id", "The entry id").pattern(ENTRY_ID_PATTERN, 28, 28)],
            body: Body::Envelope("CostEntry"),
            errors: &[Code::ResourceNotFound, Code::CostsUnavailable],
            cached: false,
            scope: Some(Scope::Read),
        },
        entry,
    );
    get_v2(
        cfg,
        routes,
        "/costs/sources",
        Doc {
            operation: "cost_sources".into(),
            tag: "costs",
            summary: "What reading Claude Code's usage logs found: the folders, files, lines read and skipped (by reason), unreadable files, entries saved, models without a price".into(),
            params: vec![],
            body: Body::Envelope("CostSources"),
            errors: ERRORS,
            cached: false,
            scope: Some(Scope::Read),
        },
        sources,
    );
    routes.add(
        cfg,
        Route {
            method: "post",
            path: "/api/v2/costs".into(),
            operation_id: "record_cost".into(),
            tag: "costs",
            summary: "Records a cost from outside (US$, not negative); with an idempotency key (in the body or the Idempotency-Key header) a retried request answers the entry it recorded the first time, with 200".into(),
            params: vec![],
            body: Body::Envelope("CostEntry"),
            errors: &[
                Code::ValidationError,
                Code::MalformedBody,
                Code::PayloadTooLarge,
                Code::UnsupportedMediaType,
                Code::CostsUnavailable,
                Code::StoreUnavailable,
            ],
            deprecated: false,
            cached: false,
            status: 201,
            request: Some("RecordCost"),
            scope: Some(Scope::Execute),
        },
        web::resource("/api/v2/costs").route(web::post().to(record)),
    );
}

fn service(state: &AppState) -> Result<CostService, ApiError> {
    let costs = state.costs.clone().ok_or_else(|| {
        ApiError::new(
            Code::CostsUnavailable,
            "cost tracking is turned off (costs.enabled = false)",
        )
    })?;
    match costs.readiness() {
        Readiness::Ready => Ok(costs),
        Readiness::Loading { entries } => Err(ApiError::new(
            Code::CostsUnavailable,
            format!("the cost ledger is loading ({entries} entries so far); retry in a moment"),
        )
        .retry_after(1)),
        Readiness::Failed(message) => Err(ApiError::new(
            Code::CostsUnavailable,
            format!("the cost ledger could not be loaded: {message}"),
        )),
    }
}

fn zone(costs: &CostService, params: &Params) -> Result<Zone, ApiError> {
    match params.get("tz") {
        Some(name) => {
            Zone::named(name).map_err(|e| ApiError::new(Code::ValidationError, e.to_string()))
        }
        None => Ok(costs.config().zone.clone()),
    }
}

fn day(params: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(name)
        .map(|text| {
            jarvis_costs::zone::parse_date(text).ok_or_else(|| {
                ApiError::new(
                    Code::ValidationError,
                    format!("`{name}` is not a calendar date: {text:?}"),
                )
            })
        })
        .transpose()
}

/// Renders `view` off the executor.
async fn render<T: Serialize>(
    state: &AppState,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    let generation = state.catalog.snapshot().generation();
    let prefix = blocking(move || v2_prefix(&work(), None, generation)).await?;
    Ok(reply::finish(StatusCode::OK, &prefix, None))
}

async fn current(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let costs = service(&state)?;
    let zone = zone(&costs, &Params::of(&req))?;
    let budgets: Budgets = costs.config().budgets;
    render(&state, move || {
        jarvis_costs::current(&costs.ledger(), now_ms(), &zone, &budgets)
    })
    .await
}

async fn report(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req);
    let costs = service(&state)?;
    let zone = zone(&costs, &params)?;
    let group_by = params
        .get("group_by")
        .and_then(GroupBy::parse)
        .unwrap_or(GroupBy::Day);
    let filter = Filter {
        since: day(&params, "since")?,
        until: day(&params, "until")?,
        source: params.get("source").and_then(Source::parse),
        project: params.get("project").map(str::to_owned),
    };
    render(&state, move || {
        jarvis_costs::report(&costs.ledger(), group_by, &filter, &zone)
    })
    .await
}

async fn blocks(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req);
    let costs = service(&state)?;
    let zone = zone(&costs, &params)?;
    let since = day(&params, "since")?.map(|d| zone.start_of_day(d));
    let until = day(&params, "until")?.map(|d| zone.start_of_day(d + 1));
    let active = params.flag("active").unwrap_or(false);
    render(&state, move || {
        let mut blocks = jarvis_costs::blocks(&costs.ledger(), now_ms(), since);
        blocks.retain(|b| {
            (!active || b.is_active)
                && until.is_none_or(|until| {
                    jarvis_costs::time::parse_rfc3339_ms(&b.start_time).is_some_and(|s| s < until)
                })
        });
        blocks
    })
    .await
}

/// Tokens of an entry.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TokenView {
    /// Input tokens.
    #[schema(maximum = 1_000_000_000_000_u64)]
    #[serde(deserialize_with = "whole")]
    pub input: u64,
    /// Output tokens.
    #[schema(maximum = 1_000_000_000_000_u64)]
    #[serde(deserialize_with = "whole")]
    pub output: u64,
    /// Cache writes.
    #[schema(maximum = 1_000_000_000_000_u64)]
    #[serde(deserialize_with = "whole")]
    pub cache_write: u64,
    /// Cache reads.
    #[schema(maximum = 1_000_000_000_000_u64)]
    #[serde(deserialize_with = "whole")]
    pub cache_read: u64,
}

/// A whole number as JSON Schema's `integer` means it: `7` or `7.0`, not negative, not `7.5`.
fn whole<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    if let Some(n) = number.as_u64() {
        return Ok(n);
    }
    match number.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= 1e15 => Ok(f as u64),
        _ => Err(serde::de::Error::custom(format!(
            "expected a whole number of tokens, not {number}"
        ))),
    }
}

/// One entry of the ledger.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CostEntry {
    /// `cst_` and 24 hex digits.
    pub id: String,
    /// When the use happened (RFC 3339, UTC).
    pub at: String,
    /// `claude_code`, `task`, `workflow` or `manual`.
    pub source: String,
    /// The model.
    pub model: Option<String>,
    /// Tokens.
    pub tokens: TokenView,
    /// The cost in US$ when it was recorded.
    #[schema(value_type = f64)]
    pub cost_usd: Usd,
    /// The cost the source reported, when it did.
    #[schema(value_type = Option<f64>)]
    pub reported_usd: Option<Usd>,
    /// Computed from the tokens (else reported).
    pub computed: bool,
    /// The model has no price: the cost is missing.
    pub unpriced: bool,
    /// The project.
    pub project: String,
    /// The session.
    pub session: String,
    /// The agent.
    pub agent: Option<String>,
    /// The category.
    pub category: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// What it was.
    pub description: Option<String>,
    /// Who recorded it: `usage-log`, a task id, or an API key's name.
    pub recorded_by: String,
    /// When it was recorded (RFC 3339, UTC).
    pub recorded_at: String,
}

impl From<CostRow> for CostEntry {
    fn from(row: CostRow) -> Self {
        let iso = jarvis_costs::time::iso_ms;
        CostEntry {
            at: iso(row.at_ms),
            source: row.source,
            model: row.model,
            tokens: TokenView {
                input: u64::try_from(row.input_tokens).unwrap_or(0),
                output: u64::try_from(row.output_tokens).unwrap_or(0),
                cache_write: u64::try_from(row.cache_write_tokens).unwrap_or(0),
                cache_read: u64::try_from(row.cache_read_tokens).unwrap_or(0),
            },
            cost_usd: Usd::from_nanos(row.cost_nanos),
            reported_usd: row.reported_nanos.map(Usd::from_nanos),
            computed: row.computed,
            unpriced: row.unpriced,
            project: row.project,
            session: row.session,
            agent: row.agent,
            category: row.category,
            tags: row.tags,
            description: row.description,
            recorded_by: row.recorded_by,
            recorded_at: iso(row.recorded_at),
            id: row.id,
        }
    }
}

async fn entries(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params = Params::of(&req);
    let costs = service(&state)?;
    let limit = params
        .integer("limit")
        .map_or(DEFAULT_LIMIT as usize, |l| l as usize);
    let source = params.get("source").and_then(Source::parse);
    let before = params.get("cursor").and_then(|c| {
        let (at, id) = c.split_once('.')?;
        Some((at.parse::<i64>().ok()?, id.to_owned()))
    });
    let generation = state.catalog.snapshot().generation();
    let prefix = blocking(move || {
        let total = costs
            .ledger()
            .entries()
            .iter()
            .filter(|e| source.is_none_or(|s| e.source == s))
            .count();
        let mut rows = costs.store().list_costs(&CostFilter {
            source: source.map(|s| s.as_str().to_owned()),
            limit: limit + 1,
            before,
            ..CostFilter::default()
        })?;
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = has_more
            .then(|| rows.last().map(|r| format!("{}.{}", r.at_ms, r.id)))
            .flatten();
        let pagination = Pagination {
            total,
            limit,
            offset: 0,
            has_more,
            next_cursor,
        };
        let page: Vec<CostEntry> = rows.into_iter().map(CostEntry::from).collect();
        v2_prefix(&page, Some(&pagination), generation)
    })
    .await?;
    Ok(reply::finish(StatusCode::OK, &prefix, None))
}

async fn entry(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let costs = service(&state)?;
    let id = id.into_inner();
    let shown = id.clone();
    let row = blocking(move || costs.store().get_cost(&id)).await?;
    let row = row
        .ok_or_else(|| ApiError::new(Code::ResourceNotFound, format!("no cost entry `{shown}`")))?;
    reply::ok(&CostEntry::from(row), state.catalog.snapshot().generation())
}

/// What reading the usage logs found, and the models without a price.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CostSources {
    /// How costs are arrived at: `auto`, `calculate` or `display`.
    pub mode: String,
    /// The zone days begin in.
    pub timezone: String,
    /// Entries in the ledger, by source.
    pub entries: std::collections::BTreeMap<String, u64>,
    /// Copies of responses already counted, dropped.
    pub duplicates_dropped: u64,
    /// Reading the logs.
    pub logs: jarvis_costs::IngestStats,
    /// Models with tokens and no price, with how many entries each: their cost is missing.
    pub unpriced_models: std::collections::BTreeMap<String, u64>,
}

async fn sources(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let costs = service(&state)?;
    render(&state, move || {
        let ledger = costs.ledger();
        let mut entries = std::collections::BTreeMap::new();
        for entry in ledger.entries() {
            *entries.entry(entry.source.as_str().to_owned()).or_insert(0) += 1;
        }
        CostSources {
            mode: ledger.mode().as_str().into(),
            timezone: costs.config().zone.name().to_owned(),
            entries,
            duplicates_dropped: ledger.dropped(),
            logs: costs.stats(),
            unpriced_models: ledger.unpriced_models().into_iter().collect(),
        }
    })
    .await
}

/// `POST /api/v2/costs`: a cost from outside the usage logs.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordCost {
    /// The amount, in `currency`; not negative.
    #[schema(minimum = 0.0, maximum = 1_000_000.0)]
    pub amount: f64,
    /// The currency: `USD` (the only one costs are kept in).
    #[schema(pattern = "^USD$")]
    pub currency: String,
    /// When the cost arose (RFC 3339 date-time; default: now).
    #[serde(default)]
    #[schema(format = DateTime)]
    pub at: Option<String>,
    /// `manual` (default) or `workflow`.
    #[serde(default)]
    #[schema(pattern = "^(manual|workflow)$")]
    pub source: Option<String>,
    /// The model, when a model was used.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    pub model: Option<String>,
    /// Tokens, when known.
    #[serde(default)]
    pub tokens: Option<TokenView>,
    /// The project.
    #[serde(default)]
    #[schema(max_length = 256)]
    pub project: Option<String>,
    /// The session.
    #[serde(default)]
    #[schema(max_length = 128)]
    pub session: Option<String>,
    /// The agent.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    pub agent: Option<String>,
    /// The category.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub category: Option<String>,
    /// Tags: at most 16, each 1 to 64 characters.
    #[serde(default)]
    #[schema(max_items = 16, value_type = Vec<TagName>)]
    pub tags: Vec<String>,
    /// What it was.
    #[serde(default)]
    #[schema(max_length = 512)]
    pub description: Option<String>,
    /// A key of the caller's choosing: a request with a key this caller used before records
    /// nothing and answers the first entry.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9._:-]+$")]
    pub idempotency_key: Option<String>,
}

/// An RFC 3339 date-time, strictly: a `T` between date and time, a day that exists, an offset
/// within a day.
fn rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let date_ok = text
        .get(..10)
        .and_then(jarvis_costs::zone::parse_iso_date)
        .is_some();
    let offset_ok = match b.last() {
        Some(b'Z' | b'z') => true,
        _ => text
            .len()
            .checked_sub(6)
            .and_then(|i| text.get(i..))
            .is_some_and(|o| {
                let hours = o.get(1..3).and_then(|h| h.parse::<u8>().ok());
                let minutes = o.get(4..6).and_then(|m| m.parse::<u8>().ok());
                hours.is_some_and(|h| h < 24) && minutes.is_some_and(|m| m < 60)
            }),
    };
    if !date_ok || !offset_ok || !matches!(b.get(10), Some(b'T' | b't')) {
        return None;
    }
    jarvis_costs::time::parse_rfc3339_ms(text)
}

/// A tag: 1 to 64 characters.
pub struct TagName;

impl utoipa::PartialSchema for TagName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(64))
            .description(Some("A tag: 1 to 64 characters"))
            .into()
    }
}

impl utoipa::ToSchema for TagName {}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::ValidationError, message)
}

fn bounded(
    name: &str,
    value: Option<String>,
    min: usize,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.chars().count() < min || v.chars().count() > max => Err(invalid(format!(
            "`{name}` must be {min} to {max} characters"
        ))),
        other => Ok(other),
    }
}

async fn record(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    body: crate::error::JsonObject<RecordCost>,
) -> Result<HttpResponse, ApiError> {
    let costs = service(&state)?;
    let body = body.into_inner();
    if !(body.amount.is_finite() && (0.0..=1_000_000.0).contains(&body.amount)) {
        return Err(invalid("`amount` must be a number from 0 to 1000000"));
    }
    if body.currency != "USD" {
        return Err(invalid(format!(
            "`currency` {:?} is not kept: costs are in USD",
            body.currency
        )));
    }
    let header_key = req
        .headers()
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| invalid("the Idempotency-Key header must be visible ASCII"))?;
    let key = match (body.idempotency_key, header_key) {
        (Some(a), Some(b)) if a != b => {
            return Err(invalid(
                "the Idempotency-Key header and `idempotency_key` differ",
            ));
        }
        (Some(k), _) | (None, Some(k)) => Some(k),
        (None, None) => None,
    };
    let key = bounded("idempotency_key", key, 1, 128)?;
    if key.as_ref().is_some_and(|k| {
        !k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
    }) {
        return Err(invalid(format!(
            "`idempotency_key` must match {KEY_PATTERN}"
        )));
    }
    let source = match body.source.as_deref() {
        None | Some("manual") => Source::Manual,
        Some("workflow") => Source::Workflow,
        Some(other) => {
            return Err(invalid(format!(
                "`source` {other:?} cannot be recorded: use manual or workflow"
            )));
        }
    };
    let at_ms = match &body.at {
        Some(text) => rfc3339(text)
            .ok_or_else(|| invalid(format!("`at` is not an RFC 3339 date-time: {text:?}")))?,
        None => now_ms(),
    };
    if body.tags.len() > 16 {
        return Err(invalid("at most 16 `tags`"));
    }
    let mut tags = Vec::with_capacity(body.tags.len());
    for tag in body.tags {
        tags.extend(bounded("tags", Some(tag), 1, 64)?);
    }
    let tokens = body.tokens.unwrap_or_default();
    if [
        tokens.input,
        tokens.output,
        tokens.cache_write,
        tokens.cache_read,
    ]
    .iter()
    .any(|t| *t > 1_000_000_000_000)
    {
        return Err(invalid("token counts are at most 10^12"));
    }
    let amount =
        Usd::from_dollars(body.amount).ok_or_else(|| invalid("`amount` is out of range"))?;
    let record = Record {
        id: EntryId([0; 12]),
        at_ms,
        source,
        model: bounded("model", body.model, 1, 128)?,
        tokens: Tokens {
            input: tokens.input,
            output: tokens.output,
            cache_write: tokens.cache_write,
            cache_write_5m: tokens.cache_write,
            cache_write_1h: 0,
            cache_read: tokens.cache_read,
        },
        reported: Some(amount),
        fast: false,
        sidechain: false,
        project: bounded("project", body.project, 0, 256)?.unwrap_or_default(),
        session: bounded("session", body.session, 0, 128)?.unwrap_or_default(),
        agent: bounded("agent", body.agent, 1, 128)?,
        category: bounded("category", body.category, 1, 64)?,
        tags,
        description: bounded("description", body.description, 0, 512)?,
        message_id: None,
        request_id: None,
        // Scoped by the caller: two clients' keys never collide.
        idempotency_key: key.map(|k| format!("{}:{k}", caller.0.key_id)),
        recorded_by: caller.name().to_owned(),
    };
    let generation = state.catalog.snapshot().generation();
    let (row, created) = blocking(move || {
        let (id, created) = costs.record(record)?;
        let row = costs.store().get_cost(&id.to_string())?;
        Ok::<_, ApiError>((row, created))
    })
    .await?;
    let row =
        row.ok_or_else(|| ApiError::internal(&"a recorded cost entry is not in the store"))?;
    let location = format!("/api/v2/costs/entries/{}", row.id);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(reply::finish(
        status,
        &v2_prefix(&CostEntry::from(row), None, generation)?,
        Some(&location),
    ))
}
