//! `jarvis costs daily|weekly|monthly|session|blocks`: ccusage's reports, read straight from
//! Claude Code's usage logs (no server needed), as a table on a terminal or as JSON whose
//! fields are ccusage's.

use std::fmt::Write as _;

use anyhow::Context;
use clap::{Args, Subcommand};
use jarvis_costs::query::{Filter, GroupBy, Report};
use jarvis_costs::time::now_ms;
use jarvis_costs::{EntryId, Ledger, LogEnvironment, Record};
use serde_json::{Value, json};

/// Which report.
#[derive(Debug, Subcommand)]
pub enum CostReport {
    /// By day.
    Daily(ReportArgs),
    /// By week, from Monday.
    Weekly(ReportArgs),
    /// By month.
    Monthly(ReportArgs),
    /// By session.
    Session(ReportArgs),
    /// In 5-hour blocks.
    Blocks(ReportArgs),
}

/// What every report takes.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Print JSON (ccusage's fields) instead of a table.
    #[arg(long)]
    json: bool,
    /// From this day (YYYYMMDD or YYYY-MM-DD).
    #[arg(long)]
    since: Option<String>,
    /// Up to this day, inclusive.
    #[arg(long)]
    until: Option<String>,
    /// The IANA time zone days begin in (default: costs.timezone, else the system's).
    #[arg(long = "tz", alias = "timezone")]
    tz: Option<String>,
    /// auto, calculate or display (default: costs.mode).
    #[arg(long, value_parser = ["auto", "calculate", "display"])]
    mode: Option<String>,
}

fn date(name: &str, text: Option<&str>) -> anyhow::Result<Option<i64>> {
    text.map(|t| {
        jarvis_costs::zone::parse_date(t)
            .with_context(|| format!("--{name} {t:?} is not a date (YYYYMMDD or YYYY-MM-DD)"))
    })
    .transpose()
}

/// Runs a report; answers what to print.
pub fn run(report: &CostReport, config: &jarvis_costs::CostsConfig) -> anyhow::Result<String> {
    let (group, args) = match report {
        CostReport::Daily(a) => (Some(GroupBy::Day), a),
        CostReport::Weekly(a) => (Some(GroupBy::Week), a),
        CostReport::Monthly(a) => (Some(GroupBy::Month), a),
        CostReport::Session(a) => (Some(GroupBy::Session), a),
        CostReport::Blocks(a) => (None, a),
    };
    let mut config = config.clone();
    if let Some(mode) = &args.mode {
        config.mode = serde_json::from_value(Value::String(mode.clone()))?;
    }
    if let Some(tz) = &args.tz {
        config.timezone = Some(tz.clone());
    }
    let service = config
        .service_config(&LogEnvironment::from_process())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let roots: Vec<_> = service
        .roots
        .iter()
        .filter(|r| r.is_dir())
        .cloned()
        .collect();
    let (entries, stats) = jarvis_costs::read_all(&roots);
    tracing::debug!(
        files = stats.files,
        lines = stats.lines,
        kept = entries.len(),
        "usage logs read"
    );
    let mut ledger = Ledger::new(service.mode, service.table.clone());
    for entry in entries {
        ledger.apply(&Record::from_log(
            EntryId([0; 12]),
            entry.usage,
            entry.project,
            entry.session,
        ));
    }
    let filter = Filter {
        since: date("since", args.since.as_deref())?,
        until: date("until", args.until.as_deref())?,
        ..Filter::default()
    };
    let zone = &service.zone;
    match group {
        Some(group) => {
            let report = jarvis_costs::report(&ledger, group, &filter, zone);
            if args.json {
                Ok(serde_json::to_string_pretty(&report_json(&report, group))?)
            } else {
                Ok(table(&report, group, service.mode.as_str()))
            }
        }
        None => {
            let since = filter.since.map(|d| zone.start_of_day(d));
            let until = filter.until.map(|d| zone.start_of_day(d + 1));
            let mut blocks = jarvis_costs::blocks(&ledger, now_ms(), since);
            blocks.retain(|b| {
                until.is_none_or(|u| {
                    jarvis_costs::time::parse_rfc3339_ms(&b.start_time).is_some_and(|s| s < u)
                })
            });
            if args.json {
                Ok(serde_json::to_string_pretty(&json!({ "blocks": blocks }))?)
            } else {
                Ok(blocks_table(&blocks))
            }
        }
    }
}

/// ccusage's JSON: `{"daily": [...], "totals": {...}}` (or weekly, monthly, session).
fn report_json(report: &Report, group: GroupBy) -> Value {
    let key = match group {
        GroupBy::Week => "weekly",
        GroupBy::Month => "monthly",
        GroupBy::Session => "session",
        _ => "daily",
    };
    let t = &report.totals;
    let mut out = json!({
        key: report.rows,
        "totals": {
            "inputTokens": t.input_tokens,
            "outputTokens": t.output_tokens,
            "cacheCreationTokens": t.cache_creation_tokens,
            "cacheReadTokens": t.cache_read_tokens,
            "totalTokens": t.total_tokens,
            "totalCost": t.total_cost,
        },
    });
    if !report.unpriced_models.is_empty() {
        out["unpricedModels"] = json!(report.unpriced_models);
    }
    out
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn table(report: &Report, group: GroupBy, mode: &str) -> String {
    let title = match group {
        GroupBy::Week => "Week",
        GroupBy::Month => "Month",
        GroupBy::Session => "Session",
        _ => "Date",
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{title:<38} {:>12} {:>12} {:>14} {:>14} {:>14} {:>12}",
        "Input", "Output", "Cache create", "Cache read", "Total tokens", "Cost (USD)"
    );
    for row in &report.rows {
        let t = &row.totals;
        let _ = writeln!(
            out,
            "{:<38} {:>12} {:>12} {:>14} {:>14} {:>14} {:>12}",
            row.period,
            thousands(t.input_tokens),
            thousands(t.output_tokens),
            thousands(t.cache_creation_tokens),
            thousands(t.cache_read_tokens),
            thousands(t.total_tokens),
            format!("${:.2}", t.total_cost.dollars())
        );
        for model in &row.model_breakdowns {
            let _ = writeln!(
                out,
                "  └ {:<34} {:>12} {:>12} {:>14} {:>14} {:>14} {:>12}{}",
                model.model_name,
                thousands(model.input_tokens),
                thousands(model.output_tokens),
                thousands(model.cache_creation_tokens),
                thousands(model.cache_read_tokens),
                "",
                format!("${:.2}", model.cost.dollars()),
                if model.unpriced { "  (no price)" } else { "" }
            );
        }
    }
    let t = &report.totals;
    let _ = writeln!(
        out,
        "{:<38} {:>12} {:>12} {:>14} {:>14} {:>14} {:>12}",
        "Total",
        thousands(t.input_tokens),
        thousands(t.output_tokens),
        thousands(t.cache_creation_tokens),
        thousands(t.cache_read_tokens),
        thousands(t.total_tokens),
        format!("${:.2}", t.total_cost.dollars())
    );
    let _ = write!(
        out,
        "{} entries; mode {mode}; days in {}",
        t.entries, report.timezone
    );
    if !report.unpriced_models.is_empty() {
        let _ = write!(
            out,
            "\nNo price for {}: their tokens are counted, their cost is not (set costs.prices).",
            report.unpriced_models.join(", ")
        );
    }
    out
}

fn blocks_table(blocks: &[jarvis_costs::Block]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<26} {:<8} {:>10} {:>16} {:>12}  Models",
        "Block start", "Status", "Entries", "Tokens", "Cost (USD)"
    );
    for block in blocks {
        let status = if block.is_gap {
            "gap"
        } else if block.is_active {
            "ACTIVE"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:<26} {:<8} {:>10} {:>16} {:>12}  {}",
            block.start_time,
            status,
            block.entries,
            thousands(block.total_tokens),
            format!("${:.2}", block.cost_usd.dollars()),
            block.models.join(", ")
        );
        if let (Some(rate), Some(projection)) = (block.burn_rate, block.projection) {
            let _ = writeln!(
                out,
                "  burn rate ${:.2}/h, {:.0} tokens/min; by the block's end ${:.2} ({} min left)",
                rate.cost_per_hour,
                rate.tokens_per_minute,
                projection.total_cost,
                projection.remaining_minutes
            );
        }
    }
    out.trim_end().to_owned()
}
