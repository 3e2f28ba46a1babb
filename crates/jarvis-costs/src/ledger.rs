//! The ledger: every priced use Jarvis knows of, from every source, one entry per response.
//!
//! [`Record`] is an entry in full, as stored and as a client sees it. [`Ledger`] keeps every
//! entry in memory in a compact form (strings interned, ids as 12 bytes, no message ids) so that
//! reports are sums over a slice; the store keeps the records. The ledger applies ccusage's
//! de-duplication across every file it was fed, so a log read in pieces, across restarts,
//! sums to what one full read would.

use std::hash::{Hash, Hasher};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::money::Usd;
use crate::pricing::{Price, PriceTable};
#[cfg(doc)]
use crate::usage::price;
use crate::usage::{CostMode, Priced, SYNTHETIC_MODEL, Tokens, UsageEntry, compute};

/// Where a cost came from.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A Claude Code usage log.
    ClaudeCode,
    /// A task run, as its runner reported it.
    Task,
    /// A workflow execution.
    Workflow,
    /// Recorded through the API.
    Manual,
}

impl Source {
    /// Every source.
    pub const ALL: [Source; 4] = [
        Source::ClaudeCode,
        Source::Task,
        Source::Workflow,
        Source::Manual,
    ];

    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::ClaudeCode => "claude_code",
            Source::Task => "task",
            Source::Workflow => "workflow",
            Source::Manual => "manual",
        }
    }

    /// The source a stored name names.
    pub fn parse(name: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// A 96-bit entry id from the operating system's randomness, shown as `cst_` and 24 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntryId(pub [u8; 12]);

impl EntryId {
    /// A new random id.
    pub fn random() -> Result<EntryId, getrandom::Error> {
        let mut bytes = [0u8; 12];
        getrandom::fill(&mut bytes)?;
        Ok(EntryId(bytes))
    }

    /// Reads `cst_` and 24 lowercase hex digits.
    pub fn parse(text: &str) -> Option<EntryId> {
        let hex = text.strip_prefix("cst_")?;
        if hex.len() != 24 {
            return None;
        }
        let mut bytes = [0u8; 12];
        for (i, byte) in bytes.iter_mut().enumerate() {
            let pair = hex.get(2 * i..2 * i + 2)?;
            if !pair
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return None;
            }
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(EntryId(bytes))
    }
}

impl std::fmt::Display for EntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cst_")?;
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// One entry in full.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The entry's id.
    pub id: EntryId,
    /// When the use happened, in Unix milliseconds.
    pub at_ms: i64,
    /// Where it came from.
    pub source: Source,
    /// The model, as logged or reported.
    pub model: Option<String>,
    /// Tokens.
    pub tokens: Tokens,
    /// The cost the source reported (a log line's `costUSD`, a runner's total, an amount
    /// recorded by hand).
    pub reported: Option<Usd>,
    /// Whether the response was served in fast mode.
    pub fast: bool,
    /// Whether the log line was a side conversation's copy.
    pub sidechain: bool,
    /// The project (a log's project folder; a task's or client's label).
    pub project: String,
    /// The session.
    pub session: String,
    /// The sub-agent or task agent, when there is one.
    pub agent: Option<String>,
    /// The user's category.
    pub category: Option<String>,
    /// The user's tags.
    pub tags: Vec<String>,
    /// What it was, in the recorder's words.
    pub description: Option<String>,
    /// The response's message id (log lines).
    pub message_id: Option<String>,
    /// The response's request id (log lines).
    pub request_id: Option<String>,
    /// The key that makes a repeated recording the same one (scoped by the recorder).
    pub idempotency_key: Option<String>,
    /// Who recorded it: `usage-log`, a task id, or an API key id.
    pub recorded_by: String,
}

impl Record {
    /// A usage-log entry read from `project`'s `session`.
    pub fn from_log(id: EntryId, usage: UsageEntry, project: String, session: String) -> Record {
        Record {
            id,
            at_ms: usage.at_ms,
            source: Source::ClaudeCode,
            model: usage.model,
            tokens: usage.tokens,
            reported: usage.reported,
            fast: usage.fast,
            sidechain: usage.sidechain,
            project,
            session,
            agent: usage.agent_id,
            category: None,
            tags: Vec::new(),
            description: None,
            message_id: usage.message_id,
            request_id: usage.request_id,
            idempotency_key: None,
            recorded_by: "usage-log".into(),
        }
    }
}

/// What an entry costs in `mode` with `table`: usage-log entries by the mode's rule (as
/// [`price`] prices a log line); other sources what they reported, else computed from their
/// tokens.
pub fn price_record(record: &Record, mode: CostMode, table: &PriceTable) -> Priced {
    let model = record.model.as_deref().unwrap_or_default();
    priced(record, mode, model, table.find(model))
}

/// [`price_record`] with the model's price already looked up (`None`: it has none).
fn priced(record: &Record, mode: CostMode, model: &str, price: Option<Price>) -> Priced {
    let reported = |cost: Usd| Priced {
        cost,
        computed: false,
        unpriced: false,
    };
    match (record.source, mode, record.reported) {
        (Source::ClaudeCode, CostMode::Display, cost) => {
            return reported(cost.unwrap_or(Usd::ZERO));
        }
        (Source::ClaudeCode, CostMode::Auto, Some(cost)) => return reported(cost),
        (Source::ClaudeCode, _, _) => {}
        (_, _, Some(cost)) => return reported(cost),
        (_, _, None) => {}
    }
    match price {
        Some(price) => Priced {
            cost: compute(&record.tokens, &price, record.fast),
            computed: true,
            unpriced: false,
        },
        None => Priced {
            cost: Usd::ZERO,
            computed: true,
            unpriced: model != SYNTHETIC_MODEL && record.tokens.total() > 0,
        },
    }
}

/// An interned string: an index into the ledger's names; 0 is "none".
pub type Sym = u32;

/// One entry as the ledger keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The id.
    pub id: EntryId,
    /// When, in Unix milliseconds.
    pub at_ms: i64,
    /// Tokens.
    pub tokens: Tokens,
    /// What the source reported.
    pub reported: Option<Usd>,
    /// The cost in the ledger's mode.
    pub cost: Usd,
    /// The model (0: none).
    pub model: Sym,
    /// The project.
    pub project: Sym,
    /// The session.
    pub session: Sym,
    /// The agent (0: none).
    pub agent: Sym,
    /// The category (0: none).
    pub category: Sym,
    /// Tags.
    pub tags: Box<[Sym]>,
    /// The source.
    pub source: Source,
    /// Computed from tokens (else reported).
    pub computed: bool,
    /// Its model has no price.
    pub unpriced: bool,
    /// A side conversation's copy.
    pub sidechain: bool,
    /// Fast mode.
    pub fast: bool,
}

/// What adding a record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A new entry, at this index.
    Added(usize),
    /// It replaced the copy at this index (which keeps its id).
    Replaced(usize),
    /// A copy already counted is as large or larger: nothing changed.
    Dropped,
    /// The idempotency key was used before, for the entry at this index.
    Repeated(usize),
}

/// Every entry, de-duplicated and priced.
#[derive(Debug)]
pub struct Ledger {
    mode: CostMode,
    table: PriceTable,
    names: Vec<Box<str>>,
    symbols: FxHashMap<Box<str>, Sym>,
    entries: Vec<Entry>,
    exact: FxHashMap<u64, u32>,
    /// The first entry of each message id; a message answered under several request ids (a
    /// side conversation's copy) keeps its others in `more_by_message`.
    by_message: FxHashMap<u64, u32>,
    more_by_message: FxHashMap<u64, Vec<u32>>,
    idempotency: FxHashMap<u64, u32>,
    /// Each model's price, looked up once (matching an id to a key is string work).
    prices: FxHashMap<Sym, Option<Price>>,
    dropped: u64,
}

fn key_hash(parts: &[Option<&str>]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    for part in parts {
        part.hash(&mut hasher);
    }
    hasher.finish()
}

impl Ledger {
    /// An empty ledger pricing in `mode` with `table`.
    pub fn new(mode: CostMode, table: PriceTable) -> Ledger {
        Ledger {
            mode,
            table,
            names: vec!["".into()],
            symbols: FxHashMap::default(),
            entries: Vec::new(),
            exact: FxHashMap::default(),
            by_message: FxHashMap::default(),
            more_by_message: FxHashMap::default(),
            idempotency: FxHashMap::default(),
            prices: FxHashMap::default(),
            dropped: 0,
        }
    }

    /// The mode entries are priced in.
    pub fn mode(&self) -> CostMode {
        self.mode
    }

    /// The price table.
    pub fn table(&self) -> &PriceTable {
        &self.table
    }

    /// Every entry kept.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// How many copies of responses already counted were dropped.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The string a symbol stands for ("" for none).
    pub fn name(&self, sym: Sym) -> &str {
        self.names.get(sym as usize).map_or("", |name| name)
    }

    /// The symbol of `name`, if it was ever interned.
    pub fn symbol(&self, name: &str) -> Option<Sym> {
        self.symbols.get(name).copied()
    }

    fn intern(&mut self, name: Option<&str>) -> Sym {
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return 0;
        };
        if let Some(&sym) = self.symbols.get(name) {
            return sym;
        }
        let sym = Sym::try_from(self.names.len()).unwrap_or(Sym::MAX);
        self.names.push(name.into());
        self.symbols.insert(name.into(), sym);
        sym
    }

    /// The index of the entry an idempotency key recorded.
    pub fn by_idempotency_key(&self, key: &str) -> Option<usize> {
        self.idempotency
            .get(&key_hash(&[Some(key)]))
            .map(|&i| i as usize)
    }

    /// What `record` costs in this ledger.
    pub fn price(&self, record: &Record) -> Priced {
        price_record(record, self.mode, &self.table)
    }

    fn entry_of(&mut self, record: &Record) -> Entry {
        let model = self.intern(record.model.as_deref());
        let price = match self.prices.get(&model) {
            Some(price) => *price,
            None => {
                let price = self.table.find(self.name(model));
                self.prices.insert(model, price);
                price
            }
        };
        let priced = priced(record, self.mode, self.name(model), price);
        let tags = record
            .tags
            .iter()
            .map(|tag| self.intern(Some(tag)))
            .collect();
        Entry {
            id: record.id,
            at_ms: record.at_ms,
            tokens: record.tokens,
            reported: record.reported,
            cost: priced.cost,
            model,
            project: self.intern(Some(&record.project)),
            session: self.intern(Some(&record.session)),
            agent: self.intern(record.agent.as_deref()),
            category: self.intern(record.category.as_deref()),
            tags,
            source: record.source,
            computed: priced.computed,
            unpriced: priced.unpriced,
            sidechain: record.sidechain,
            fast: record.fast,
        }
    }

    /// Adds `record`, lets it replace the copy of the same response it duplicates (by
    /// ccusage's rule: a main-conversation copy beats a side-conversation one, then the larger
    /// token total, then the one that says fast mode), or drops it. A record whose idempotency
    /// key was seen is not added again.
    pub fn apply(&mut self, record: &Record) -> Applied {
        if let Some(key) = record.idempotency_key.as_deref() {
            let hash = key_hash(&[Some(key)]);
            if let Some(&index) = self.idempotency.get(&hash) {
                return Applied::Repeated(index as usize);
            }
            let index = self.entries.len();
            let entry = self.entry_of(record);
            self.entries.push(entry);
            self.idempotency.insert(hash, index as u32);
            return Applied::Added(index);
        }
        let Some(message_id) = record.message_id.as_deref() else {
            let entry = self.entry_of(record);
            self.entries.push(entry);
            return Applied::Added(self.entries.len() - 1);
        };
        let exact = key_hash(&[Some(message_id), record.request_id.as_deref()]);
        let message = key_hash(&[Some(message_id)]);
        let existing = self.exact.get(&exact).copied().or_else(|| {
            let first = self.by_message.get(&message).copied();
            let more = self.more_by_message.get(&message).map(Vec::as_slice);
            first
                .into_iter()
                .chain(more.unwrap_or_default().iter().copied())
                .find(|&i| record.sidechain || self.entries[i as usize].sidechain)
        });
        match existing {
            Some(index) => {
                self.dropped += 1;
                let old = &self.entries[index as usize];
                if replaces(record, old) {
                    let id = old.id;
                    let mut entry = self.entry_of(record);
                    entry.id = id;
                    self.entries[index as usize] = entry;
                    self.exact.insert(exact, index);
                    Applied::Replaced(index as usize)
                } else {
                    Applied::Dropped
                }
            }
            None => {
                let index = self.entries.len() as u32;
                let entry = self.entry_of(record);
                self.entries.push(entry);
                self.exact.insert(exact, index);
                match self.by_message.entry(message) {
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(index);
                    }
                    std::collections::hash_map::Entry::Occupied(_) => {
                        self.more_by_message.entry(message).or_default().push(index);
                    }
                }
                Applied::Added(index as usize)
            }
        }
    }

    /// Sessions that have usage-log entries: a task entry of such a session is the same
    /// spending seen twice, and reports count the log's, message by message.
    pub fn logged_sessions(&self) -> rustc_hash::FxHashSet<Sym> {
        self.entries
            .iter()
            .filter(|e| e.source == Source::ClaudeCode)
            .map(|e| e.session)
            .collect()
    }

    /// The entries a report counts: all but task entries whose session's own log is read.
    pub fn counted(&self) -> impl Iterator<Item = &Entry> {
        let logged = self.logged_sessions();
        self.entries
            .iter()
            .filter(move |e| !(e.source == Source::Task && logged.contains(&e.session)))
    }

    /// Models that have tokens but no price, with how many entries each.
    pub fn unpriced_models(&self) -> Vec<(String, u64)> {
        let mut counts: FxHashMap<Sym, u64> = FxHashMap::default();
        for entry in self.entries.iter().filter(|e| e.unpriced) {
            *counts.entry(entry.model).or_default() += 1;
        }
        let mut models: Vec<(String, u64)> = counts
            .into_iter()
            .map(|(sym, n)| (self.name(sym).to_owned(), n))
            .collect();
        models.sort();
        models
    }
}

/// Whether `candidate` replaces `existing`, a copy of the same response.
fn replaces(candidate: &Record, existing: &Entry) -> bool {
    crate::usage::replaces_copy(
        (
            candidate.sidechain,
            candidate.tokens.total(),
            candidate.fast,
        ),
        (existing.sidechain, existing.tokens.total(), existing.fast),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        message: Option<&str>,
        request: Option<&str>,
        output: u64,
        sidechain: bool,
    ) -> Record {
        Record {
            id: EntryId::random().unwrap(),
            at_ms: 1_700_000_000_000,
            source: Source::ClaudeCode,
            model: Some("claude-sonnet-4-20250514".into()),
            tokens: Tokens {
                output,
                ..Tokens::default()
            },
            reported: None,
            fast: false,
            sidechain,
            project: "p".into(),
            session: "s".into(),
            agent: None,
            category: None,
            tags: vec![],
            description: None,
            message_id: message.map(Into::into),
            request_id: request.map(Into::into),
            idempotency_key: None,
            recorded_by: "usage-log".into(),
        }
    }

    #[test]
    fn an_entry_stays_small() {
        // A million entries should cost about 150 MB with their indexes, not more.
        assert!(size_of::<Entry>() <= 136, "{}", size_of::<Entry>());
    }

    #[test]
    fn ids_print_and_parse_back() {
        let id = EntryId::random().unwrap();
        let text = id.to_string();
        assert_eq!(text.len(), 28);
        assert_eq!(EntryId::parse(&text), Some(id));
        assert_eq!(EntryId::parse("cst_XYZ"), None);
        assert_eq!(EntryId::parse(&text.to_uppercase()), None);
    }

    #[test]
    fn copies_replace_or_drop_and_keys_repeat() {
        let mut ledger = Ledger::new(CostMode::Calculate, PriceTable::built_in());
        assert_eq!(
            ledger.apply(&record(Some("m"), Some("r"), 10, false)),
            Applied::Added(0)
        );
        let first_id = ledger.entries()[0].id;
        assert_eq!(
            ledger.apply(&record(Some("m"), Some("r"), 5, false)),
            Applied::Dropped
        );
        assert_eq!(
            ledger.apply(&record(Some("m"), Some("r"), 20, false)),
            Applied::Replaced(0)
        );
        assert_eq!(
            ledger.entries()[0].id,
            first_id,
            "a replacement keeps the id"
        );
        assert_eq!(ledger.entries()[0].tokens.output, 20);
        // A side copy under another request id is the same response.
        assert_eq!(
            ledger.apply(&record(Some("m"), Some("other"), 99, true)),
            Applied::Dropped
        );
        assert_eq!(
            ledger.apply(&record(None, None, 1, false)),
            Applied::Added(1)
        );
        let mut manual = record(None, None, 0, false);
        manual.source = Source::Manual;
        manual.reported = Some(Usd::from_nanos(1_500_000_000));
        manual.idempotency_key = Some("key:1".into());
        assert_eq!(ledger.apply(&manual), Applied::Added(2));
        assert_eq!(ledger.apply(&manual), Applied::Repeated(2));
        assert_eq!(ledger.entries()[2].cost, Usd::from_nanos(1_500_000_000));
        assert!(!ledger.entries()[2].computed);
        assert_eq!(ledger.dropped(), 3);
    }

    #[test]
    fn unknown_models_are_counted_as_unpriced() {
        let mut ledger = Ledger::new(CostMode::Calculate, PriceTable::built_in());
        let mut unknown = record(Some("x"), None, 100, false);
        unknown.model = Some("mystery-model-9".into());
        ledger.apply(&unknown);
        let mut synthetic = record(Some("y"), None, 0, false);
        synthetic.model = Some(SYNTHETIC_MODEL.into());
        ledger.apply(&synthetic);
        assert_eq!(
            ledger.unpriced_models(),
            vec![("mystery-model-9".into(), 1)]
        );
        assert_eq!(ledger.entries()[0].cost, Usd::ZERO);
    }

    #[test]
    fn task_entries_of_a_logged_session_are_not_counted_twice() {
        let mut ledger = Ledger::new(CostMode::Auto, PriceTable::built_in());
        let mut task = record(None, None, 0, false);
        task.source = Source::Task;
        task.session = "run-1".into();
        task.reported = Some(Usd::from_nanos(2_000_000_000));
        task.idempotency_key = Some("task:1".into());
        ledger.apply(&task);
        assert_eq!(ledger.counted().count(), 1);
        let mut logged = record(Some("m"), Some("r"), 10, false);
        logged.session = "run-1".into();
        ledger.apply(&logged);
        let counted: Vec<Source> = ledger.counted().map(|e| e.source).collect();
        assert_eq!(counted, vec![Source::ClaudeCode]);
    }
}
