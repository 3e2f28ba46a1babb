//! Claude Code's usage logs, read by ccusage's rules.
//!
//! A log is JSON lines; an assistant response carries `message.usage`. Only lines containing
//! `"usage":{` are parsed. A line is skipped when one of the fields ccusage refuses as `null` is
//! null, when `version` does not begin like a semantic version, or when an id or the model is
//! empty. One response is often written as several lines sharing `message.id` and `requestId`,
//! and a resumed session replays earlier lines: [`Dedup`] keeps one entry per pair, preferring a
//! main-conversation copy to a side-conversation one, then the larger token total. A
//! side-conversation copy of a message under a new request id is the same message.

use rustc_hash::FxHashMap;
use serde::Deserialize;

use crate::money::Usd;
use crate::pricing::{Price, PriceTable};

/// The fields ccusage refuses as `null`: a line with any of them null is skipped.
const NULL_REFUSED: &[&str] = &[
    "id",
    "cwd",
    "model",
    "speed",
    "costUSD",
    "version",
    "sessionId",
    "requestId",
    "isApiErrorMessage",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
];

/// The model name Claude Code gives lines it wrote itself; they cost nothing.
pub const SYNTHETIC_MODEL: &str = "<synthetic>";

/// How a cost is arrived at (`costs.mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CostMode {
    /// The `costUSD` a line reports, else computed from its tokens.
    #[default]
    Auto,
    /// Always computed from the tokens.
    Calculate,
    /// Only what lines report; nothing computed.
    Display,
}

impl CostMode {
    /// The setting's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            CostMode::Auto => "auto",
            CostMode::Calculate => "calculate",
            CostMode::Display => "display",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLine {
    timestamp: Option<String>,
    session_id: Option<String>,
    request_id: Option<String>,
    version: Option<String>,
    is_sidechain: Option<bool>,
    #[serde(rename = "costUSD")]
    cost_usd: Option<f64>,
    agent_id: Option<String>,
    message: RawMessage,
}

#[derive(Debug, Deserialize)]
struct RawMessage {
    id: Option<String>,
    model: Option<String>,
    usage: RawUsage,
}

#[derive(Debug, Default, Deserialize)]
struct RawUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: u64,
    #[serde(default)]
    cache_read_input_tokens: u64,
    cache_creation: Option<RawCacheCreation>,
    speed: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawCacheCreation {
    #[serde(default)]
    ephemeral_5m_input_tokens: u64,
    #[serde(default)]
    ephemeral_1h_input_tokens: u64,
}

/// Token counts of one entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Cache writes, both lifetimes (`cache_creation_input_tokens`).
    pub cache_write: u64,
    /// Of the cache writes, those with the 5-minute lifetime.
    pub cache_write_5m: u64,
    /// Of the cache writes, those with the 1-hour lifetime.
    pub cache_write_1h: u64,
    /// Cache reads.
    pub cache_read: u64,
}

impl Tokens {
    /// Input, output, cache writes and cache reads together.
    pub fn total(&self) -> u64 {
        self.input + self.output + self.cache_write + self.cache_read
    }
}

/// One usage line that passed the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageEntry {
    /// When, as the line says (RFC 3339).
    pub timestamp: String,
    /// Milliseconds since the epoch.
    pub at_ms: i64,
    /// `message.id`.
    pub message_id: Option<String>,
    /// `requestId`.
    pub request_id: Option<String>,
    /// `sessionId`.
    pub session_id: Option<String>,
    /// The model as the line names it (`<synthetic>` included).
    pub model: Option<String>,
    /// A side-conversation (`isSidechain`).
    pub sidechain: bool,
    /// The sub-agent that wrote it, for sub-agent logs.
    pub agent_id: Option<String>,
    /// `speed: "fast"`.
    pub fast: bool,
    /// Tokens.
    pub tokens: Tokens,
    /// The `costUSD` the line reports.
    pub reported: Option<Usd>,
}

/// Why a usage line was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// A field ccusage refuses as null is null.
    NullField,
    /// Not JSON of the expected shape, or no readable timestamp.
    Unparseable,
    /// An empty id or model, or a version that is not semantic.
    Invalid,
}

/// Reads one line: `None` when it carries no usage (most lines), else the entry or why not.
pub fn parse_line(line: &[u8]) -> Option<Result<UsageEntry, Skipped>> {
    const MARKER: &[u8] = br#""usage":{"#;
    if !line.windows(MARKER.len()).any(|w| w == MARKER) {
        return None;
    }
    if has_refused_null(line) {
        return Some(Err(Skipped::NullField));
    }
    let Ok(raw) = serde_json::from_slice::<RawLine>(line) else {
        return Some(Err(Skipped::Unparseable));
    };
    let Some(at_ms) = raw
        .timestamp
        .as_deref()
        .and_then(crate::time::parse_rfc3339_ms)
    else {
        return Some(Err(Skipped::Unparseable));
    };
    let empty = |value: &Option<String>| value.as_deref().is_some_and(str::is_empty);
    if raw.version.as_deref().is_some_and(|v| !semver_prefix(v))
        || empty(&raw.session_id)
        || empty(&raw.request_id)
        || empty(&raw.message.id)
        || empty(&raw.message.model)
    {
        return Some(Err(Skipped::Invalid));
    }
    let usage = raw.message.usage;
    let (cache_write_5m, cache_write_1h) = match &usage.cache_creation {
        Some(split) => (
            split.ephemeral_5m_input_tokens,
            split.ephemeral_1h_input_tokens,
        ),
        None => (usage.cache_creation_input_tokens, 0),
    };
    Some(Ok(UsageEntry {
        timestamp: raw.timestamp.unwrap_or_default(),
        at_ms,
        message_id: raw.message.id,
        request_id: raw.request_id,
        session_id: raw.session_id,
        model: raw.message.model,
        sidechain: raw.is_sidechain == Some(true),
        agent_id: raw.agent_id,
        fast: usage.speed.as_deref() == Some("fast"),
        tokens: Tokens {
            input: usage.input_tokens,
            output: usage.output_tokens,
            cache_write: usage.cache_creation_input_tokens,
            cache_write_5m,
            cache_write_1h,
            cache_read: usage.cache_read_input_tokens,
        },
        reported: raw.cost_usd.and_then(Usd::from_dollars),
    }))
}

/// Whether one of [`NULL_REFUSED`] is `null` on the line (without parsing it).
fn has_refused_null(line: &[u8]) -> bool {
    const NULL: &[u8] = b":null";
    let mut from = 0;
    while let Some(found) = line[from..].windows(NULL.len()).position(|w| w == NULL) {
        let at = from + found;
        // The key is the quoted string just before the colon.
        if at >= 2 && line[at - 1] == b'"' {
            let end = at - 1;
            if let Some(start) = line[..end].iter().rposition(|&b| b == b'"') {
                let key = &line[start + 1..end];
                if NULL_REFUSED.iter().any(|name| name.as_bytes() == key) {
                    return true;
                }
            }
        }
        from = at + NULL.len();
    }
    false
}

/// `1.2.3…`: digits, a dot, digits, a dot, a digit.
fn semver_prefix(value: &str) -> bool {
    let mut parts = value.splitn(3, '.');
    let digits = |part: Option<&str>| {
        part.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    digits(parts.next())
        && digits(parts.next())
        && parts
            .next()
            .is_some_and(|rest| rest.as_bytes().first().is_some_and(u8::is_ascii_digit))
}

/// What an entry is priced at, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priced {
    /// The cost.
    pub cost: Usd,
    /// Whether it was computed from tokens (else reported by the line).
    pub computed: bool,
    /// Computing was needed, the entry has tokens, and its model has no price.
    pub unpriced: bool,
}

/// Prices `entry` in `mode` with `table`.
pub fn price(entry: &UsageEntry, mode: CostMode, table: &PriceTable) -> Priced {
    let reported = |cost: Usd| Priced {
        cost,
        computed: false,
        unpriced: false,
    };
    match (mode, entry.reported) {
        (CostMode::Display, reported_cost) => reported(reported_cost.unwrap_or(Usd::ZERO)),
        (CostMode::Auto, Some(cost)) => reported(cost),
        _ => {
            let model = entry.model.as_deref().unwrap_or_default();
            match table.find(model) {
                Some(price) => Priced {
                    cost: compute(&entry.tokens, &price, entry.fast),
                    computed: true,
                    unpriced: false,
                },
                None => Priced {
                    cost: Usd::ZERO,
                    computed: true,
                    unpriced: model != SYNTHETIC_MODEL && entry.tokens.total() > 0,
                },
            }
        }
    }
}

/// The cost of `tokens` at `price`: each field tiered on its own; 1-hour cache writes at twice
/// the input price; fast mode multiplied.
pub fn compute(tokens: &Tokens, price: &Price, fast: bool) -> Usd {
    let tiered = Price::tiered_cost;
    let nanos = [
        tiered(tokens.input, price.input, price.input_above),
        tiered(tokens.output, price.output, price.output_above),
        tiered(
            tokens.cache_write_5m,
            price.cache_write,
            price.cache_write_above,
        ),
        tiered(
            tokens.cache_write_1h,
            price.input * 2,
            price.input_above.map(|p| p * 2),
        ),
        tiered(tokens.cache_read, price.cache_read, price.cache_read_above),
    ]
    .into_iter()
    .sum::<Usd>()
    .nanos();
    let multiplier = if fast { price.fast_multiplier } else { 1 };
    Usd::from_nanos(nanos.saturating_mul(multiplier))
}

/// Keeps one entry per response (see the module's documentation), across every file read.
#[derive(Debug, Default)]
pub struct Dedup<T> {
    entries: Vec<T>,
    exact: FxHashMap<(String, Option<String>), usize>,
    by_message: FxHashMap<String, Vec<usize>>,
    dropped: usize,
}

/// What the dedupe needs of an entry.
pub trait Keyed {
    /// The usage line.
    fn usage(&self) -> &UsageEntry;
}

impl Keyed for UsageEntry {
    fn usage(&self) -> &UsageEntry {
        self
    }
}

impl<T: Keyed> Dedup<T> {
    /// An empty set.
    pub fn new() -> Self {
        Dedup {
            entries: Vec::new(),
            exact: FxHashMap::default(),
            by_message: FxHashMap::default(),
            dropped: 0,
        }
    }

    /// Adds `entry`, or lets it replace the copy it duplicates, or drops it.
    pub fn push(&mut self, entry: T) {
        let usage = entry.usage();
        let Some(message_id) = usage.message_id.clone() else {
            self.entries.push(entry);
            return;
        };
        let key = (message_id.clone(), usage.request_id.clone());
        let candidate_sidechain = usage.sidechain;
        let existing = self.exact.get(&key).copied().or_else(|| {
            self.by_message.get(&message_id).and_then(|indexes| {
                indexes
                    .iter()
                    .copied()
                    .find(|&i| candidate_sidechain || self.entries[i].usage().sidechain)
            })
        });
        match existing {
            Some(index) => {
                self.dropped += 1;
                if replaces(entry.usage(), self.entries[index].usage()) {
                    self.entries[index] = entry;
                    self.exact.insert(key, index);
                }
            }
            None => {
                let index = self.entries.len();
                self.entries.push(entry);
                self.exact.insert(key, index);
                self.by_message.entry(message_id).or_default().push(index);
            }
        }
    }

    /// How many copies were dropped.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// The entries kept, in the order first seen.
    pub fn entries(&self) -> &[T] {
        &self.entries
    }

    /// The entries kept.
    pub fn into_entries(self) -> Vec<T> {
        self.entries
    }
}

/// Whether `candidate` replaces the copy `existing` of the same response: a main-conversation
/// copy beats a side-conversation one, then the larger token total, then one that says its
/// speed.
fn replaces(candidate: &UsageEntry, existing: &UsageEntry) -> bool {
    replaces_copy(
        (
            candidate.sidechain,
            candidate.tokens.total(),
            candidate.fast,
        ),
        (existing.sidechain, existing.tokens.total(), existing.fast),
    )
}

/// The copy rule on its terms — (side conversation, token total, fast mode) of each copy — for
/// every de-duplication (`Dedup` here, the ledger's across passes).
pub(crate) fn replaces_copy(candidate: (bool, u64, bool), existing: (bool, u64, bool)) -> bool {
    let ((new_side, new_total, new_fast), (old_side, old_total, old_fast)) = (candidate, existing);
    if new_side != old_side {
        return old_side;
    }
    if new_total != old_total {
        return new_total > old_total;
    }
    new_fast && !old_fast
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(extra: &str, usage: &str) -> String {
        format!(
            r#"{{"type":"assistant","timestamp":"2025-11-03T10:00:00.000Z","sessionId":"s1","version":"2.0.37","requestId":"req_1"{extra},"message":{{"id":"msg_1","model":"claude-sonnet-4-20250514","usage":{{{usage}}}}}}}"#
        )
    }

    #[test]
    fn lines_are_read_or_refused_by_the_rules() {
        assert!(parse_line(br#"{"type":"user","message":{"content":"hi"}}"#).is_none());
        let ok = parse_line(line("", r#""input_tokens":3,"output_tokens":5"#).as_bytes())
            .unwrap()
            .unwrap();
        assert_eq!(ok.tokens.total(), 8);
        assert_eq!(ok.at_ms, 1_762_164_000_000);
        let null = line(r#","costUSD":null"#, r#""input_tokens":3"#);
        assert_eq!(parse_line(null.as_bytes()), Some(Err(Skipped::NullField)));
        let version = line("", r#""input_tokens":3"#).replace("2.0.37", "beta");
        assert_eq!(parse_line(version.as_bytes()), Some(Err(Skipped::Invalid)));
        let empty = line("", r#""input_tokens":3"#).replace("msg_1", "");
        assert_eq!(parse_line(empty.as_bytes()), Some(Err(Skipped::Invalid)));
        let broken = r#"{"message":{"usage":{"input_tokens":"#;
        assert_eq!(
            parse_line(broken.as_bytes()),
            Some(Err(Skipped::Unparseable))
        );
        // A null elsewhere is fine.
        let other_null = line(r#","gitBranch":null"#, r#""input_tokens":3"#);
        assert!(parse_line(other_null.as_bytes()).unwrap().is_ok());
    }

    #[test]
    fn costs_follow_the_mode_and_unknown_models_are_unpriced() {
        let table = PriceTable::built_in();
        let mut entry = parse_line(
            line(
                r#","costUSD":0.5"#,
                r#""input_tokens":1000,"output_tokens":100,"cache_creation_input_tokens":300,"cache_read_input_tokens":2000,"cache_creation":{"ephemeral_5m_input_tokens":200,"ephemeral_1h_input_tokens":100}"#,
            )
            .as_bytes(),
        )
        .unwrap()
        .unwrap();
        // 1000×3000 + 100×15000 + 200×3750 + 100×6000 + 2000×300 nano-dollars.
        let computed = 3_000_000 + 1_500_000 + 750_000 + 600_000 + 600_000;
        assert_eq!(
            price(&entry, CostMode::Calculate, &table).cost.nanos(),
            computed
        );
        let auto = price(&entry, CostMode::Auto, &table);
        assert_eq!((auto.cost.nanos(), auto.computed), (500_000_000, false));
        entry.reported = None;
        assert_eq!(price(&entry, CostMode::Auto, &table).cost.nanos(), computed);
        assert_eq!(price(&entry, CostMode::Display, &table).cost, Usd::ZERO);
        entry.model = Some("gpt-9".into());
        let unknown = price(&entry, CostMode::Calculate, &table);
        assert!(unknown.unpriced && unknown.cost == Usd::ZERO);
        entry.model = Some(SYNTHETIC_MODEL.into());
        assert!(!price(&entry, CostMode::Calculate, &table).unpriced);
    }

    #[test]
    fn one_entry_per_response_main_copy_then_larger_total() {
        let entry = |request: Option<&str>, tokens: u64, sidechain: bool| UsageEntry {
            timestamp: String::new(),
            at_ms: 0,
            message_id: Some("m".into()),
            request_id: request.map(str::to_owned),
            session_id: None,
            model: None,
            sidechain,
            agent_id: None,
            fast: false,
            tokens: Tokens {
                output: tokens,
                ..Tokens::default()
            },
            reported: None,
        };
        let mut dedup = Dedup::new();
        dedup.push(entry(Some("r"), 5, false));
        dedup.push(entry(Some("r"), 9, false));
        dedup.push(entry(Some("r"), 7, false));
        // A side-conversation copy under a new request id is the same message, and loses.
        dedup.push(entry(Some("r2"), 100, true));
        assert_eq!(dedup.entries().len(), 1);
        assert_eq!(dedup.entries()[0].tokens.output, 9);
        assert_eq!(dedup.dropped(), 3);
        // A new request id in the main conversation is another response.
        dedup.push(entry(Some("r3"), 1, false));
        let mut no_id = entry(None, 1, false);
        no_id.message_id = None;
        dedup.push(no_id.clone());
        dedup.push(no_id);
        assert_eq!(dedup.entries().len(), 4);
    }
}
