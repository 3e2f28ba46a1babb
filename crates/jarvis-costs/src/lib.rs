//! Cost tracking: what a developer's AI use costs, from the logs Claude Code writes.
//!
//! - `config`: the `[costs]` section, and the `projects` folders to read, found as ccusage
//!   finds them from the environment the program hands in.
//! - `usage`: one log line read by ccusage's rules (which lines count, which copies of a
//!   response are the same), priced in `auto`, `calculate` or `display` mode.
//! - `pricing`: the embedded price table and ccusage's way of matching a model id to it
//!   (provider prefixes, `@version`, dated ids, version boundaries, 200k-token tiers).
//! - `money`: amounts as integer nano-dollars, so that sums are exact.
//! - `logs`: every usage log below Claude Code's `projects` folders, with the project and
//!   session its path names.
//! - `report`: totals in ccusage's field names, by model, day, session and project.
//! - `tail`: what was appended to a log since the last read, across truncation, rotation,
//!   deletion and a half-written last line; cursors a restart resumes from.
//!
//! Architecture invariant: no I/O but reading the logs it is pointed at, no async runtime, no
//! HTTP; an unknown model is never priced at $0 without being marked unpriced.
//!
//! # Example: a daily report from Claude Code's logs
//!
//! ```
//! use jarvis_costs::{
//!     CostMode, EntryId, Filter, GroupBy, Ledger, LogEnvironment, PriceTable, Record, Zone,
//!     log_roots, read_all, report,
//! };
//!
//! let home = tempfile::tempdir()?;
//! let project = home.path().join(".claude/projects/-home-me-app");
//! std::fs::create_dir_all(&project)?;
//! let response = r#"{"timestamp":"2026-11-30T10:00:00Z","sessionId":"s1","requestId":"req_1","version":"2.0.0","message":{"id":"msg_1","model":"claude-sonnet-4-20250514","usage":{"input_tokens":1000,"output_tokens":1000}}}"#;
//! let prompt = r#"{"type":"user","message":{"role":"user","content":"hi"}}"#;
//! // The same response logged twice counts once, as ccusage counts it.
//! std::fs::write(project.join("s1.jsonl"), format!("{prompt}\n{response}\n{response}\n"))?;
//!
//! // A program passes `LogEnvironment::from_process()` to read the user's own logs.
//! let env = LogEnvironment { home: Some(home.path().to_owned()), ..LogEnvironment::default() };
//! let (entries, _stats) = read_all(&log_roots(&env, &[]));
//! assert_eq!(entries.len(), 1);
//!
//! let mut ledger = Ledger::new(CostMode::Calculate, PriceTable::built_in());
//! for logged in entries {
//!     ledger.apply(&Record::from_log(EntryId::random()?, logged.usage, logged.project, logged.session));
//! }
//! let daily = report(&ledger, GroupBy::Day, &Filter::default(), &Zone::utc());
//! assert_eq!(daily.rows[0].period, "2026-11-30");
//! // 1,000 input tokens at $3 and 1,000 output tokens at $15 per million.
//! assert_eq!(daily.totals.total_cost.to_string(), "$0.018");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod config;
pub mod ledger;
pub mod logs;
pub mod money;
pub mod pricing;
pub mod query;
pub mod report;
pub mod service;
pub mod tail;
pub mod time;
pub mod usage;
pub mod zone;

pub use config::{CostsConfig, LogEnvironment, log_roots};
pub use ledger::{Applied, Entry, EntryId, Ledger, Record, Source};
pub use logs::{LoggedEntry, ReadStats, read_all};
pub use money::Usd;
pub use pricing::{Price, PriceTable};
pub use query::{Block, Budgets, Current, Filter, GroupBy, Report, blocks, current, report};
pub use report::{Row, Summary, Totals};
pub use service::{CostEvent, CostService, IngestStats, Readiness, ServiceConfig};
pub use tail::{Appended, Cursor, Tail};
pub use usage::{CostMode, Dedup, Priced, Tokens, UsageEntry, parse_line, price};
pub use zone::{UnknownZone, Zone};

/// The summary of `entries` priced in `mode` with `table`, days in UTC.
pub fn summarize(entries: &[LoggedEntry], mode: CostMode, table: &PriceTable) -> Summary {
    Summary::of(entries.iter().map(|entry| Row {
        model: entry.usage.model.as_deref(),
        day: time::utc_day(entry.usage.at_ms),
        project: &entry.project,
        session: &entry.session,
        tokens: entry.usage.tokens,
        cost: price(&entry.usage, mode, table).cost,
    }))
}
