//! Totals of usage entries, in ccusage's units and field names, grouped by model, day, session
//! or project.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::money::Usd;
use crate::usage::{SYNTHETIC_MODEL, Tokens};

/// Tokens and cost of a set of entries (`inputTokens`, `outputTokens`, `cacheCreationTokens`,
/// `cacheReadTokens`, `totalTokens`, `totalCost`, `entries`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cache writes.
    pub cache_creation_tokens: u64,
    /// Cache reads.
    pub cache_read_tokens: u64,
    /// All four.
    pub total_tokens: u64,
    /// The cost.
    pub total_cost: Usd,
    /// How many entries.
    pub entries: u64,
}

impl Totals {
    /// Adds one entry.
    pub fn add(&mut self, tokens: &Tokens, cost: Usd) {
        self.input_tokens += tokens.input;
        self.output_tokens += tokens.output;
        self.cache_creation_tokens += tokens.cache_write;
        self.cache_read_tokens += tokens.cache_read;
        self.total_tokens += tokens.total();
        self.total_cost += cost;
        self.entries += 1;
    }
}

/// One priced entry, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'a> {
    /// The model as logged (`<synthetic>` included).
    pub model: Option<&'a str>,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// The project folder the log is in.
    pub project: &'a str,
    /// The session (the log's name, or its parent's for a sub-agent log).
    pub session: &'a str,
    /// Tokens.
    pub tokens: Tokens,
    /// Cost.
    pub cost: Usd,
}

/// Totals overall and by model, UTC day, session (`project/session`) and project.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Everything.
    pub totals: Totals,
    /// By model; lines Claude Code wrote itself (`<synthetic>`) are counted in the totals only.
    pub by_model: BTreeMap<String, Totals>,
    /// By UTC day.
    #[serde(rename = "byDayUTC")]
    pub by_day: BTreeMap<String, Totals>,
    /// By `project/session`.
    pub by_session: BTreeMap<String, Totals>,
    /// By project.
    pub by_project: BTreeMap<String, Totals>,
}

impl Summary {
    /// The summary of `rows`.
    pub fn of<'a>(rows: impl IntoIterator<Item = Row<'a>>) -> Summary {
        let mut summary = Summary::default();
        for row in rows {
            summary.totals.add(&row.tokens, row.cost);
            if let Some(model) = row.model.filter(|m| *m != SYNTHETIC_MODEL) {
                summary
                    .by_model
                    .entry(model.to_owned())
                    .or_default()
                    .add(&row.tokens, row.cost);
            }
            summary
                .by_day
                .entry(row.day)
                .or_default()
                .add(&row.tokens, row.cost);
            summary
                .by_session
                .entry(format!("{}/{}", row.project, row.session))
                .or_default()
                .add(&row.tokens, row.cost);
            summary
                .by_project
                .entry(row.project.to_owned())
                .or_default()
                .add(&row.tokens, row.cost);
        }
        summary
    }
}
