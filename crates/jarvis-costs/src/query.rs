//! Answers over the ledger: ccusage's daily, weekly, monthly and session reports (and
//! groupings of Jarvis's own), the 5-hour blocks, and the current day and month against
//! budgets.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::ledger::{Entry, Ledger, Source, Sym};
use crate::money::Usd;
use crate::report::Totals;
use crate::time::iso_ms;
use crate::usage::SYNTHETIC_MODEL;
use crate::zone::{Zone, date_of, first_of_month, month_of, week_of};

/// How a report groups entries.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Local day, `YYYY-MM-DD`.
    Day,
    /// Week beginning on Monday, named by that Monday's date.
    Week,
    /// Month, `YYYY-MM`.
    Month,
    /// Session.
    Session,
    /// Model.
    Model,
    /// Project.
    Project,
    /// The user's category.
    Category,
    /// Source.
    Source,
    /// Agent.
    Agent,
}

impl GroupBy {
    /// Every grouping, by its name.
    pub const NAMES: [&str; 9] = [
        "day", "week", "month", "session", "model", "project", "category", "source", "agent",
    ];

    /// The grouping a name names.
    pub fn parse(name: &str) -> Option<GroupBy> {
        let all = [
            GroupBy::Day,
            GroupBy::Week,
            GroupBy::Month,
            GroupBy::Session,
            GroupBy::Model,
            GroupBy::Project,
            GroupBy::Category,
            GroupBy::Source,
            GroupBy::Agent,
        ];
        GroupBy::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| all[i])
    }
}

/// Which entries a report counts.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// From this local day (inclusive).
    pub since: Option<i64>,
    /// Up to this local day (inclusive).
    pub until: Option<i64>,
    /// Only this source.
    pub source: Option<Source>,
    /// Only this project.
    pub project: Option<String>,
}

/// One model's part of a row (ccusage's `modelBreakdowns`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelBreakdown {
    /// The model.
    pub model_name: String,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cache writes.
    pub cache_creation_tokens: u64,
    /// Cache reads.
    pub cache_read_tokens: u64,
    /// Cost.
    pub cost: Usd,
    /// Whether the model has no price (its cost is counted as 0).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unpriced: bool,
}

/// One row of a report.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportRow {
    /// The group: a date, week, month, session, model, project, category, source or agent
    /// (empty for entries without one).
    pub period: String,
    /// Totals.
    #[serde(flatten)]
    pub totals: Totals,
    /// Models used, `<synthetic>` left out: a session's in order of first use, the others by
    /// name.
    pub models_used: Vec<String>,
    /// By model.
    pub model_breakdowns: Vec<ModelBreakdown>,
    /// The last entry's time (sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_activity: Option<String>,
    /// The project (sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

/// A report.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// How rows are grouped.
    pub group_by: GroupBy,
    /// The zone days begin in.
    pub timezone: String,
    /// The rows, oldest (or first by name) first.
    pub rows: Vec<ReportRow>,
    /// Everything counted.
    pub totals: Totals,
    /// Models counted that have no price: their cost is missing from the totals.
    pub unpriced_models: Vec<String>,
}

#[derive(Default)]
struct Acc {
    totals: Totals,
    /// By model: totals, whether unpriced, when first used.
    models: BTreeMap<Sym, (Totals, bool, i64)>,
    last_ms: i64,
    project: Sym,
}

impl Acc {
    fn add(&mut self, entry: &Entry) {
        self.totals.add(&entry.tokens, entry.cost);
        let model =
            self.models
                .entry(entry.model)
                .or_insert((Totals::default(), false, entry.at_ms));
        model.0.add(&entry.tokens, entry.cost);
        model.1 |= entry.unpriced;
        model.2 = model.2.min(entry.at_ms);
        if entry.at_ms >= self.last_ms {
            self.last_ms = entry.at_ms;
            self.project = entry.project;
        }
    }

    fn row(self, ledger: &Ledger, period: String, session: bool) -> ReportRow {
        let mut breakdowns: Vec<ModelBreakdown> = self
            .models
            .iter()
            .filter(|(sym, _)| **sym != 0 && ledger.name(**sym) != SYNTHETIC_MODEL)
            .map(|(sym, (t, unpriced, _))| ModelBreakdown {
                model_name: ledger.name(*sym).to_owned(),
                input_tokens: t.input_tokens,
                output_tokens: t.output_tokens,
                cache_creation_tokens: t.cache_creation_tokens,
                cache_read_tokens: t.cache_read_tokens,
                cost: t.total_cost,
                unpriced: *unpriced,
            })
            .collect();
        breakdowns.sort_by(|a, b| b.cost.cmp(&a.cost).then(a.model_name.cmp(&b.model_name)));
        // As ccusage lists them: a session's in order of first use, the others by name.
        let mut used: Vec<(i64, &str)> = self
            .models
            .iter()
            .filter(|(sym, _)| **sym != 0 && ledger.name(**sym) != SYNTHETIC_MODEL)
            .map(|(sym, (_, _, first))| (if session { *first } else { 0 }, ledger.name(*sym)))
            .collect();
        used.sort();
        let models_used = used.into_iter().map(|(_, m)| m.to_owned()).collect();
        ReportRow {
            period,
            totals: self.totals,
            models_used,
            model_breakdowns: breakdowns,
            last_activity: session.then(|| iso_ms(self.last_ms)),
            project: session.then(|| ledger.name(self.project).to_owned()),
        }
    }
}

fn passes(entry: &Entry, day: i64, filter: &Filter, project: Option<Option<Sym>>) -> bool {
    filter.since.is_none_or(|since| day >= since)
        && filter.until.is_none_or(|until| day <= until)
        && filter.source.is_none_or(|source| entry.source == source)
        && project.is_none_or(|sym| sym == Some(entry.project))
}

/// A report of the ledger grouped by `group_by`, days in `zone`.
pub fn report(ledger: &Ledger, group_by: GroupBy, filter: &Filter, zone: &Zone) -> Report {
    let project = filter.project.as_deref().map(|p| ledger.symbol(p));
    let mut groups: FxHashMap<GroupKey, Acc> = FxHashMap::default();
    let mut totals = Totals::default();
    let mut unpriced: BTreeMap<Sym, ()> = BTreeMap::new();
    for entry in ledger.counted() {
        let day = zone.day(entry.at_ms);
        if !passes(entry, day, filter, project) {
            continue;
        }
        let key = match group_by {
            GroupBy::Day => GroupKey::Day(day),
            GroupBy::Week => GroupKey::Day(week_of(day)),
            GroupBy::Month => GroupKey::Day(first_of_month(day)),
            GroupBy::Session => GroupKey::Sym(entry.session),
            GroupBy::Model => GroupKey::Sym(entry.model),
            GroupBy::Project => GroupKey::Sym(entry.project),
            GroupBy::Category => GroupKey::Sym(entry.category),
            GroupBy::Agent => GroupKey::Sym(entry.agent),
            GroupBy::Source => GroupKey::Source(entry.source),
        };
        groups.entry(key).or_default().add(entry);
        totals.add(&entry.tokens, entry.cost);
        if entry.unpriced {
            unpriced.insert(entry.model, ());
        }
    }
    let mut keyed: Vec<(GroupKey, Acc)> = groups.into_iter().collect();
    match group_by {
        GroupBy::Session => keyed.sort_by_key(|(_, acc)| acc.last_ms),
        GroupBy::Day | GroupBy::Week | GroupBy::Month | GroupBy::Source => {
            keyed.sort_by_key(|(key, _)| *key);
        }
        _ => keyed.sort_by(|(a, _), (b, _)| name_of(ledger, *a).cmp(name_of(ledger, *b))),
    }
    let rows = keyed
        .into_iter()
        .map(|(key, acc)| {
            let period = match (group_by, key) {
                (GroupBy::Month, GroupKey::Day(day)) => month_of(day),
                (_, GroupKey::Day(day)) => date_of(day),
                (_, key) => name_of(ledger, key).to_owned(),
            };
            acc.row(ledger, period, group_by == GroupBy::Session)
        })
        .collect();
    Report {
        group_by,
        timezone: zone.name().to_owned(),
        rows,
        totals,
        unpriced_models: unpriced
            .into_keys()
            .map(|sym| ledger.name(sym).to_owned())
            .collect(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum GroupKey {
    Day(i64),
    Sym(Sym),
    Source(Source),
}

fn name_of(ledger: &Ledger, key: GroupKey) -> &str {
    match key {
        GroupKey::Sym(sym) => ledger.name(sym),
        GroupKey::Source(source) => source.as_str(),
        GroupKey::Day(_) => "",
    }
}

/// Tokens of a block (ccusage's `tokenCounts`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenCounts {
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cache writes.
    pub cache_creation_input_tokens: u64,
    /// Cache reads.
    pub cache_read_input_tokens: u64,
}

/// How fast a block spends (ccusage's `burnRate`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BurnRate {
    /// Input and output tokens a minute.
    pub tokens_per_minute: f64,
    /// Dollars an hour.
    pub cost_per_hour: f64,
}

/// Where the active block ends up at its burn rate (ccusage's `projection`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Projection {
    /// Input and output tokens by the block's end.
    pub total_tokens: u64,
    /// Dollars by the block's end.
    pub total_cost: f64,
    /// Minutes left in the block.
    pub remaining_minutes: u64,
}

/// A 5-hour block as ccusage defines it: it starts at the hour of its first entry and holds
/// every entry until one comes more than 5 hours after its start or after the entry before;
/// a gap of more than 5 hours between entries is a block of its own.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Block {
    /// The start, or `gap-` and the start.
    pub id: String,
    /// The start.
    pub start_time: String,
    /// The start plus 5 hours (a gap: the next entry's time).
    pub end_time: String,
    /// The last entry's time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_end_time: Option<String>,
    /// Within 5 hours of the last entry and before the end.
    pub is_active: bool,
    /// A span without entries.
    pub is_gap: bool,
    /// How many entries.
    pub entries: u64,
    /// Tokens.
    pub token_counts: TokenCounts,
    /// All four kinds of tokens.
    pub total_tokens: u64,
    /// Cost.
    #[serde(rename = "costUSD")]
    pub cost_usd: Usd,
    /// Models, `<synthetic>` left out, in order of first use.
    pub models: Vec<String>,
    /// The active block's spending per minute between its first and last entry.
    pub burn_rate: Option<BurnRate>,
    /// The active block's projection to its end.
    pub projection: Option<Projection>,
}

/// The length of a block.
pub const BLOCK_MS: i64 = 5 * 3_600_000;

/// The blocks of usage-log entries, oldest first, as of `now_ms`.
pub fn blocks(ledger: &Ledger, now_ms: i64, since_ms: Option<i64>) -> Vec<Block> {
    let mut entries: Vec<&Entry> = ledger
        .entries()
        .iter()
        .filter(|e| e.source == Source::ClaudeCode && since_ms.is_none_or(|s| e.at_ms >= s))
        .collect();
    entries.sort_by_key(|e| e.at_ms);
    let mut out = Vec::new();
    let mut start = 0usize;
    for i in 1..=entries.len() {
        let ends = match entries.get(i) {
            None => true,
            Some(entry) => {
                let block_start = floor_hour(entries[start].at_ms);
                let last = entries[i - 1].at_ms;
                entry.at_ms - block_start > BLOCK_MS || entry.at_ms - last > BLOCK_MS
            }
        };
        if !ends {
            continue;
        }
        out.push(block_of(ledger, &entries[start..i], now_ms));
        if let Some(next) = entries.get(i) {
            let last = entries[i - 1].at_ms;
            if next.at_ms - last > BLOCK_MS {
                out.push(gap(last + BLOCK_MS, next.at_ms));
            }
        }
        start = i;
    }
    out
}

fn floor_hour(ms: i64) -> i64 {
    ms - ms.rem_euclid(3_600_000)
}

fn gap(start: i64, end: i64) -> Block {
    Block {
        id: format!("gap-{}", iso_ms(start)),
        start_time: iso_ms(start),
        end_time: iso_ms(end),
        actual_end_time: None,
        is_active: false,
        is_gap: true,
        entries: 0,
        token_counts: TokenCounts::default(),
        total_tokens: 0,
        cost_usd: Usd::ZERO,
        models: Vec::new(),
        burn_rate: None,
        projection: None,
    }
}

fn block_of(ledger: &Ledger, entries: &[&Entry], now_ms: i64) -> Block {
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return gap(now_ms, now_ms);
    };
    let start = floor_hour(first.at_ms);
    let end = start + BLOCK_MS;
    let mut counts = TokenCounts::default();
    let mut cost = Usd::ZERO;
    let mut models: Vec<String> = Vec::new();
    for entry in entries {
        counts.input_tokens += entry.tokens.input;
        counts.output_tokens += entry.tokens.output;
        counts.cache_creation_input_tokens += entry.tokens.cache_write;
        counts.cache_read_input_tokens += entry.tokens.cache_read;
        cost += entry.cost;
        let model = ledger.name(entry.model);
        if entry.model != 0 && model != SYNTHETIC_MODEL && !models.iter().any(|m| m == model) {
            models.push(model.to_owned());
        }
    }
    let is_active = now_ms - last.at_ms < BLOCK_MS && now_ms < end;
    let minutes = (last.at_ms - first.at_ms) as f64 / 60_000.0;
    let io_tokens = counts.input_tokens + counts.output_tokens;
    // Shown for the active block only, as ccusage shows it.
    let burn_rate = (is_active && minutes > 0.0).then(|| BurnRate {
        tokens_per_minute: io_tokens as f64 / minutes,
        cost_per_hour: cost.dollars() / minutes * 60.0,
    });
    let projection = burn_rate.map(|rate| {
        let remaining = ((end - now_ms) as f64 / 60_000.0).max(0.0);
        Projection {
            total_tokens: (io_tokens as f64 + rate.tokens_per_minute * remaining).round() as u64,
            total_cost: ((cost.dollars() + rate.cost_per_hour / 60.0 * remaining) * 100.0).round()
                / 100.0,
            remaining_minutes: remaining.round() as u64,
        }
    });
    Block {
        id: iso_ms(start),
        start_time: iso_ms(start),
        end_time: iso_ms(end),
        actual_end_time: Some(iso_ms(last.at_ms)),
        is_active,
        is_gap: false,
        entries: entries.len() as u64,
        token_counts: counts,
        total_tokens: counts.input_tokens
            + counts.output_tokens
            + counts.cache_creation_input_tokens
            + counts.cache_read_input_tokens,
        cost_usd: cost,
        models,
        burn_rate,
        projection,
    }
}

/// Daily and monthly limits.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Budgets {
    /// Dollars a day.
    pub daily_usd: Option<f64>,
    /// Dollars a month.
    pub monthly_usd: Option<f64>,
}

/// A period against its budget.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BudgetUse {
    /// The limit.
    pub limit: Usd,
    /// Spent.
    pub used: Usd,
    /// What is left (negative once over).
    pub left: Usd,
    /// Spent, in percent of the limit.
    pub percent: f64,
}

impl BudgetUse {
    fn of(limit: Option<f64>, used: Usd) -> Option<BudgetUse> {
        let limit = Usd::from_dollars(limit?)?;
        Some(BudgetUse {
            limit,
            used,
            left: Usd::from_nanos(limit.nanos() - used.nanos()),
            percent: if limit.nanos() > 0 {
                used.nanos() as f64 * 100.0 / limit.nanos() as f64
            } else {
                100.0
            },
        })
    }
}

/// A day or a month so far.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Period {
    /// The day (`YYYY-MM-DD`) or month (`YYYY-MM`).
    pub period: String,
    /// When it began.
    pub start: String,
    /// Everything in it.
    pub totals: Totals,
    /// By model.
    pub by_model: BTreeMap<String, Totals>,
    /// By project.
    pub by_project: BTreeMap<String, Totals>,
    /// By source.
    pub by_source: BTreeMap<String, Totals>,
    /// By agent (entries without one under "").
    pub by_agent: BTreeMap<String, Totals>,
    /// By category (entries without one under "").
    pub by_category: BTreeMap<String, Totals>,
    /// Against the budget, when one is set.
    pub budget: Option<BudgetUse>,
    /// The cost by the period's end at the last hour's burn rate.
    pub projected_cost: Usd,
}

/// Spending over the last hour.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HourRate {
    /// Dollars in the last 60 minutes (which is dollars an hour).
    pub cost_per_hour: Usd,
    /// Tokens of every kind in the last 60 minutes, per minute.
    pub tokens_per_minute: f64,
    /// Entries in the last 60 minutes.
    pub entries: u64,
}

/// Today and this month.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Current {
    /// The moment of the answer.
    pub now: String,
    /// The zone days begin in.
    pub timezone: String,
    /// Today.
    pub today: Period,
    /// This month.
    pub month: Period,
    /// The last hour.
    pub burn_rate: HourRate,
    /// The active 5-hour block, with its projection.
    pub active_block: Option<Block>,
    /// Models that have no price (their cost is missing from the totals).
    pub unpriced_models: Vec<String>,
}

struct PeriodAcc {
    totals: Totals,
    maps: [FxHashMap<Sym, Totals>; 4],
    by_source: BTreeMap<String, Totals>,
}

impl PeriodAcc {
    fn new() -> PeriodAcc {
        PeriodAcc {
            totals: Totals::default(),
            maps: Default::default(),
            by_source: BTreeMap::new(),
        }
    }

    fn add(&mut self, entry: &Entry) {
        self.totals.add(&entry.tokens, entry.cost);
        let keys = [entry.model, entry.project, entry.agent, entry.category];
        for (map, key) in self.maps.iter_mut().zip(keys) {
            map.entry(key).or_default().add(&entry.tokens, entry.cost);
        }
        self.by_source
            .entry(entry.source.as_str().to_owned())
            .or_default()
            .add(&entry.tokens, entry.cost);
    }

    fn finish(
        self,
        ledger: &Ledger,
        period: String,
        start: i64,
        budget: Option<BudgetUse>,
        projected_cost: Usd,
    ) -> Period {
        let named = |map: &FxHashMap<Sym, Totals>, skip_none: bool| -> BTreeMap<String, Totals> {
            map.iter()
                .filter(|(sym, _)| !(skip_none && **sym == 0))
                .map(|(sym, t)| (ledger.name(*sym).to_owned(), *t))
                .collect()
        };
        Period {
            period,
            start: iso_ms(start),
            totals: self.totals,
            by_model: named(&self.maps[0], true),
            by_project: named(&self.maps[1], false),
            by_source: self.by_source,
            by_agent: named(&self.maps[2], false),
            by_category: named(&self.maps[3], false),
            budget,
            projected_cost,
        }
    }
}

/// Today and this month as of `now_ms`, days in `zone`.
pub fn current(ledger: &Ledger, now_ms: i64, zone: &Zone, budgets: &Budgets) -> Current {
    let today = zone.day(now_ms);
    let month_first = first_of_month(today);
    let day_start = zone.start_of_day(today);
    let month_start = zone.start_of_day(month_first);
    let tomorrow = zone.start_of_day(today + 1);
    let next_month = {
        let mut day = month_first + 27;
        while first_of_month(day) == month_first {
            day += 1;
        }
        zone.start_of_day(day)
    };
    let mut day_acc = PeriodAcc::new();
    let mut month_acc = PeriodAcc::new();
    let mut hour = Totals::default();
    for entry in ledger.counted() {
        if entry.at_ms < month_start || entry.at_ms > now_ms + 60_000 {
            continue;
        }
        month_acc.add(entry);
        if entry.at_ms >= day_start {
            day_acc.add(entry);
        }
        if entry.at_ms > now_ms - 3_600_000 {
            hour.add(&entry.tokens, entry.cost);
        }
    }
    let per_hour = hour.total_cost;
    let project = |used: Usd, end: i64| {
        let hours_left = (end - now_ms).max(0) as f64 / 3_600_000.0;
        let more = Usd::from_dollars(per_hour.dollars() * hours_left).unwrap_or(Usd::ZERO);
        used + more
    };
    let day_projection = project(day_acc.totals.total_cost, tomorrow);
    let month_projection = project(month_acc.totals.total_cost, next_month);
    let day_budget = BudgetUse::of(budgets.daily_usd, day_acc.totals.total_cost);
    let month_budget = BudgetUse::of(budgets.monthly_usd, month_acc.totals.total_cost);
    let active_block = blocks(ledger, now_ms, Some(now_ms - 2 * 86_400_000))
        .into_iter()
        .rev()
        .find(|b| b.is_active);
    Current {
        now: iso_ms(now_ms),
        timezone: zone.name().to_owned(),
        today: day_acc.finish(
            ledger,
            date_of(today),
            day_start,
            day_budget,
            day_projection,
        ),
        month: month_acc.finish(
            ledger,
            month_of(today),
            month_start,
            month_budget,
            month_projection,
        ),
        burn_rate: HourRate {
            cost_per_hour: per_hour,
            tokens_per_minute: hour.total_tokens as f64 / 60.0,
            entries: hour.entries,
        },
        active_block,
        unpriced_models: ledger
            .unpriced_models()
            .into_iter()
            .map(|(m, _)| m)
            .collect(),
    }
}
