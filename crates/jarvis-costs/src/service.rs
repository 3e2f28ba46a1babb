//! The live ledger: loaded from the store, fed by the usage logs as they grow and by what
//! other parts of Jarvis record, and saved back with the cursors that read it.
//!
//! Every method blocks (file reads, store writes): async callers use `spawn_blocking`. The
//! reading runs on a thread of its own ([`CostService::start`]), woken by the file watcher
//! within a fraction of a second of an append, and by a slower poll that also notices roots
//! created after start-up.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use jarvis_core::{Code, ErrorCode};
use jarvis_store::{CostRow, Store, UsageFileCursor};
use serde::Serialize;

use crate::ledger::{Applied, EntryId, Ledger, Record, Source};
use crate::logs::{log_files, project_and_session};
use crate::money::Usd;
use crate::pricing::PriceTable;
use crate::query::{Budgets, current};
use crate::tail::{Cursor, Tail};
use crate::time::now_ms;
use crate::usage::{CostMode, Priced, Skipped, Tokens, parse_line};
use crate::zone::Zone;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] jarvis_store::Error),
    /// A stored entry does not read back.
    #[error("a stored cost entry is unreadable: {0}")]
    Decode(String),
    /// The operating system gave no randomness for an id.
    #[error("no randomness for a new id: {0}")]
    Random(String),
    /// The stored ledger could not be read.
    #[error("the cost ledger could not be loaded: {0}")]
    Unloaded(String),
}

impl ErrorCode for Error {
    fn error_code(&self) -> Code {
        Code::StoreUnavailable
    }
}

/// How the service runs.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The `projects` folders to read (those missing now are looked for again at each poll).
    pub roots: Vec<PathBuf>,
    /// How costs are arrived at.
    pub mode: CostMode,
    /// Prices.
    pub table: PriceTable,
    /// The zone days begin in.
    pub zone: Zone,
    /// Budgets.
    pub budgets: Budgets,
    /// How often every root is walked again, besides the watcher's wake-ups.
    pub poll: Duration,
    /// Whether to watch the roots for changes (else only the poll reads them).
    pub watch: bool,
}

/// Something that happened to the ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CostEvent {
    /// Entries were added or replaced.
    Recorded {
        /// How many.
        entries: usize,
        /// Today's cost so far.
        today: Usd,
        /// This month's so far.
        month: Usd,
    },
    /// Spending crossed a share of a budget.
    BudgetThreshold {
        /// `daily` or `monthly`.
        period: &'static str,
        /// The day or month.
        key: String,
        /// 50, 80 or 100.
        threshold: u32,
        /// The limit.
        limit: Usd,
        /// Spent.
        used: Usd,
    },
}

/// What reading the usage logs has found, since start-up.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestStats {
    /// The roots read, and whether each exists.
    pub roots: BTreeMap<String, bool>,
    /// Log files known.
    pub files: usize,
    /// Complete lines read.
    pub lines: u64,
    /// Lines with a usage object.
    pub usage_lines: u64,
    /// Lines skipped because a field was `null`.
    pub null_fields: u64,
    /// Lines that are not JSON.
    pub unparseable: u64,
    /// Lines whose fields are not what a usage line holds.
    pub invalid: u64,
    /// Files that could not be read, with the last error.
    pub unreadable: BTreeMap<String, String>,
    /// Entries saved to the store.
    pub saved: u64,
    /// The last failure to save (the entries are kept and saved again).
    pub save_error: Option<String>,
    /// Reads done (each a pass over changed files).
    pub passes: u64,
}

type Listener = Box<dyn Fn(&CostEvent) + Send + Sync>;

/// Entries queued before a pass saves them (and the cursors that read them).
const SAVE_BATCH: usize = 20_000;

/// The ledger, kept current.
#[derive(Clone)]
pub struct CostService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CostService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CostService").finish_non_exhaustive()
    }
}

struct Inner {
    ledger: RwLock<Ledger>,
    store: Arc<dyn Store>,
    config: ServiceConfig,
    tail: Mutex<Tail>,
    pending: Mutex<Pending>,
    stats: Mutex<IngestStats>,
    listeners: Mutex<Vec<Listener>>,
    announced: Mutex<BTreeMap<(&'static str, String), u32>>,
    recording: Mutex<()>,
    passing: Mutex<()>,
    stop: AtomicBool,
    wake: Mutex<Option<Sender<Wake>>>,
    state: Mutex<Readiness>,
    ready: Condvar,
    loaded_entries: AtomicUsize,
}

/// Whether the stored ledger has been read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Being read: this many entries so far.
    Loading {
        /// Entries read so far.
        entries: usize,
    },
    /// Read; the service answers.
    Ready,
    /// Could not be read (the message says why); nothing is recorded.
    Failed(String),
}

#[derive(Default)]
struct Pending {
    rows: BTreeMap<String, CostRow>,
    cursors: BTreeMap<String, UsageFileCursor>,
    forgotten: Vec<String>,
}

enum Wake {
    Paths(Vec<PathBuf>),
    All,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn nonneg(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The stored form of `record`, priced as `priced` says.
pub fn to_row(record: &Record, priced: Priced) -> CostRow {
    CostRow {
        id: record.id.to_string(),
        at_ms: record.at_ms,
        source: record.source.as_str().to_owned(),
        model: record.model.clone(),
        input_tokens: signed(record.tokens.input),
        output_tokens: signed(record.tokens.output),
        cache_write_tokens: signed(record.tokens.cache_write),
        cache_write_5m_tokens: signed(record.tokens.cache_write_5m),
        cache_write_1h_tokens: signed(record.tokens.cache_write_1h),
        cache_read_tokens: signed(record.tokens.cache_read),
        cost_nanos: priced.cost.nanos(),
        reported_nanos: record.reported.map(Usd::nanos),
        computed: priced.computed,
        unpriced: priced.unpriced,
        fast: record.fast,
        sidechain: record.sidechain,
        project: record.project.clone(),
        session: record.session.clone(),
        agent: record.agent.clone(),
        category: record.category.clone(),
        tags: record.tags.clone(),
        description: record.description.clone(),
        message_id: record.message_id.clone(),
        request_id: record.request_id.clone(),
        idempotency_key: record.idempotency_key.clone(),
        recorded_by: record.recorded_by.clone(),
        recorded_at: now_ms(),
    }
}

/// How the ledger priced an entry.
fn priced_as(entry: &crate::ledger::Entry) -> Priced {
    Priced {
        cost: entry.cost,
        computed: entry.computed,
        unpriced: entry.unpriced,
    }
}

/// The record a stored row holds.
pub fn from_row(row: CostRow) -> Result<Record, Error> {
    let id = EntryId::parse(&row.id).ok_or_else(|| Error::Decode(format!("id {:?}", row.id)))?;
    let source = Source::parse(&row.source)
        .ok_or_else(|| Error::Decode(format!("source {:?}", row.source)))?;
    Ok(Record {
        id,
        at_ms: row.at_ms,
        source,
        model: row.model,
        tokens: Tokens {
            input: nonneg(row.input_tokens),
            output: nonneg(row.output_tokens),
            cache_write: nonneg(row.cache_write_tokens),
            cache_write_5m: nonneg(row.cache_write_5m_tokens),
            cache_write_1h: nonneg(row.cache_write_1h_tokens),
            cache_read: nonneg(row.cache_read_tokens),
        },
        reported: row.reported_nanos.map(Usd::from_nanos),
        fast: row.fast,
        sidechain: row.sidechain,
        project: row.project,
        session: row.session,
        agent: row.agent,
        category: row.category,
        tags: row.tags,
        description: row.description,
        message_id: row.message_id,
        request_id: row.request_id,
        idempotency_key: row.idempotency_key,
        recorded_by: row.recorded_by,
    })
}

impl CostService {
    /// A service over `store` that has not read it yet: [`CostService::load`] (or the
    /// reading thread [`CostService::start`] begins) reads the stored ledger.
    pub fn new(store: Arc<dyn Store>, config: ServiceConfig) -> CostService {
        let ledger = Ledger::new(config.mode, config.table.clone());
        CostService {
            inner: Arc::new(Inner {
                ledger: RwLock::new(ledger),
                store,
                config,
                tail: Mutex::new(Tail::new()),
                pending: Mutex::new(Pending::default()),
                stats: Mutex::new(IngestStats::default()),
                listeners: Mutex::new(Vec::new()),
                announced: Mutex::new(BTreeMap::new()),
                recording: Mutex::new(()),
                passing: Mutex::new(()),
                stop: AtomicBool::new(false),
                wake: Mutex::new(None),
                state: Mutex::new(Readiness::Loading { entries: 0 }),
                ready: Condvar::new(),
                loaded_entries: AtomicUsize::new(0),
            }),
        }
    }

    /// Loads the stored entries and cursors, blocking: a service ready to answer.
    pub fn open(store: Arc<dyn Store>, config: ServiceConfig) -> Result<CostService, Error> {
        let service = CostService::new(store, config);
        service.load()?;
        Ok(service)
    }

    /// Reads the stored ledger and cursors (once; later calls answer at once). The ledger is
    /// built aside and swapped in, so readers never wait for the load. Blocking.
    pub fn load(&self) -> Result<(), Error> {
        if matches!(*lock(&self.inner.state), Readiness::Ready) {
            return Ok(());
        }
        let result = self.load_store();
        let mut state = lock(&self.inner.state);
        *state = match &result {
            Ok(()) => Readiness::Ready,
            Err(e) => {
                tracing::error!(error = %e, "cannot load the cost ledger; cost routes answer 503");
                Readiness::Failed(e.to_string())
            }
        };
        self.inner.ready.notify_all();
        result
    }

    fn load_store(&self) -> Result<(), Error> {
        let started = Instant::now();
        let config = &self.inner.config;
        let mut ledger = Ledger::new(config.mode, config.table.clone());
        let mut stored = 0usize;
        let mut unreadable = None;
        let loaded = &self.inner.loaded_entries;
        self.inner.store.load_costs(&mut |row| {
            match from_row(row) {
                Ok(record) => {
                    ledger.apply(&record);
                    stored += 1;
                    if stored.is_multiple_of(10_000) {
                        loaded.store(stored, Ordering::Relaxed);
                    }
                }
                Err(e) => {
                    unreadable.get_or_insert(e);
                }
            }
            Ok(())
        })?;
        if let Some(e) = unreadable {
            return Err(e);
        }
        let cursors = self
            .inner
            .store
            .load_usage_cursors()?
            .into_iter()
            .map(|(path, c)| {
                (
                    PathBuf::from(path),
                    Cursor {
                        dev: c.dev,
                        ino: c.ino,
                        offset: c.offset,
                        head: c.head,
                        head_len: c.head_len,
                    },
                )
            });
        let tail = Tail::resume(cursors);
        tracing::info!(
            entries = stored,
            files = tail.cursors().len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "cost ledger loaded"
        );
        *lock(&self.inner.tail) = tail;
        *self.write_ledger() = ledger;
        loaded.store(stored, Ordering::Relaxed);
        Ok(())
    }

    /// Whether the stored ledger has been read.
    pub fn readiness(&self) -> Readiness {
        match &*lock(&self.inner.state) {
            Readiness::Loading { .. } => Readiness::Loading {
                entries: self.inner.loaded_entries.load(Ordering::Relaxed),
            },
            other => other.clone(),
        }
    }

    /// Waits until the stored ledger has been read (or could not be).
    fn wait_ready(&self) -> Result<(), Error> {
        let mut state = lock(&self.inner.state);
        loop {
            match &*state {
                Readiness::Ready => return Ok(()),
                Readiness::Failed(message) => return Err(Error::Unloaded(message.clone())),
                Readiness::Loading { .. } => {
                    state = self
                        .inner
                        .ready
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }

    /// Calls `listener` with every event, on the thread that caused it.
    pub fn subscribe(&self, listener: impl Fn(&CostEvent) + Send + Sync + 'static) {
        lock(&self.inner.listeners).push(Box::new(listener));
    }

    /// The ledger, for reading (hold it briefly: ingestion waits for it).
    pub fn ledger(&self) -> RwLockReadGuard<'_, Ledger> {
        self.inner
            .ledger
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// What reading has found.
    pub fn stats(&self) -> IngestStats {
        lock(&self.inner.stats).clone()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    fn emit(&self, event: &CostEvent) {
        for listener in lock(&self.inner.listeners).iter() {
            listener(event);
        }
    }

    /// Records an entry from another source (a task, a workflow, a client) and saves it
    /// before answering. A record whose idempotency key was used before is not recorded
    /// again: the answer is the earlier entry's id and `false`. Blocking.
    pub fn record(&self, mut record: Record) -> Result<(EntryId, bool), Error> {
        self.wait_ready()?;
        let _one_at_a_time = lock(&self.inner.recording);
        if let Some(key) = record.idempotency_key.as_deref() {
            let ledger = self.ledger();
            if let Some(index) = ledger.by_idempotency_key(key) {
                return Ok((ledger.entries()[index].id, false));
            }
        }
        record.id = EntryId::random().map_err(|e| Error::Random(e.to_string()))?;
        let row = to_row(&record, self.ledger().price(&record));
        self.inner.store.save_costs(&[row], &[], &[])?;
        let applied = self.write_ledger().apply(&record);
        if matches!(applied, Applied::Added(_) | Applied::Replaced(_)) {
            self.after_change(1);
        }
        Ok((record.id, true))
    }

    fn write_ledger(&self) -> std::sync::RwLockWriteGuard<'_, Ledger> {
        self.inner
            .ledger
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Announces a change and the budget thresholds it crossed.
    fn after_change(&self, changed: usize) {
        let config = &self.inner.config;
        let now = now_ms();
        let state = current(&self.ledger(), now, &config.zone, &config.budgets);
        self.emit(&CostEvent::Recorded {
            entries: changed,
            today: state.today.totals.total_cost,
            month: state.month.totals.total_cost,
        });
        let periods = [
            ("daily", state.today.period.clone(), state.today.budget),
            ("monthly", state.month.period.clone(), state.month.budget),
        ];
        for (period, key, budget) in periods {
            let Some(budget) = budget else { continue };
            let reached = [100, 80, 50]
                .into_iter()
                .find(|t| budget.percent >= f64::from(*t));
            let Some(threshold) = reached else { continue };
            let mut announced = lock(&self.inner.announced);
            let last = announced.entry((period, key.clone())).or_insert(0);
            if *last >= threshold {
                continue;
            }
            *last = threshold;
            drop(announced);
            tracing::warn!(period, key, threshold, used = %budget.used, limit = %budget.limit, "cost budget threshold reached");
            self.emit(&CostEvent::BudgetThreshold {
                period,
                key,
                threshold,
                limit: budget.limit,
                used: budget.used,
            });
        }
    }

    /// Reads every root once: what each log gained since the last read. Blocking.
    pub fn scan(&self) -> usize {
        let mut files = Vec::new();
        let mut roots = BTreeMap::new();
        for root in &self.inner.config.roots {
            let exists = root.is_dir();
            roots.insert(root.display().to_string(), exists);
            if exists {
                files.extend(log_files(root).into_iter().map(|f| (root.clone(), f)));
            }
        }
        // Files read before but not found now: their cursors go.
        let known: Vec<PathBuf> = lock(&self.inner.tail).cursors().keys().cloned().collect();
        for path in known {
            if !files.iter().any(|(_, f)| *f == path) {
                files.push((PathBuf::new(), path));
            }
        }
        {
            let mut stats = lock(&self.inner.stats);
            stats.roots = roots;
        }
        self.read_files(files)
    }

    /// Reads what `paths` gained (the watcher's wake-up): logs, and every log below a folder
    /// (a folder created with its first log in it, before the watcher saw the folder). Blocking.
    pub fn read_paths(&self, paths: &[PathBuf]) -> usize {
        let mut files: Vec<(PathBuf, PathBuf)> = Vec::new();
        for path in paths {
            let Some(root) = self
                .inner
                .config
                .roots
                .iter()
                .find(|root| path.starts_with(root))
            else {
                continue;
            };
            if path.extension().is_some_and(|e| e == "jsonl") {
                files.push((root.clone(), path.clone()));
            } else if path.is_dir() {
                files.extend(log_files(path).into_iter().map(|f| (root.clone(), f)));
            }
        }
        files.sort();
        files.dedup();
        self.read_files(files)
    }

    fn read_files(&self, files: Vec<(PathBuf, PathBuf)>) -> usize {
        // One pass at a time; each file is read, applied and queued for saving before the
        // next, so a pass over a large history never holds more than a batch.
        let _one_pass = lock(&self.inner.passing);
        let mut counts = IngestStats::default();
        let mut unreadable = Vec::new();
        let mut readable = Vec::new();
        let mut changed = 0usize;
        for (root, path) in &files {
            let (appended, cursor) = {
                let mut tail = lock(&self.inner.tail);
                match tail.read(path) {
                    Ok(appended) => (appended, tail.cursors().get(path).copied()),
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "cannot read a usage log; it is tried again at the next pass");
                        unreadable.push((path.display().to_string(), e.to_string()));
                        continue;
                    }
                }
            };
            let name = path.display().to_string();
            readable.push(name.clone());
            let Some(cursor) = cursor else {
                lock(&self.inner.pending).forgotten.push(name);
                continue;
            };
            let mut records = Vec::new();
            if !appended.lines.is_empty() {
                let (project, session) = project_and_session(root, path);
                for line in &appended.lines {
                    counts.lines += 1;
                    let Some(parsed) = parse_line(line) else {
                        continue;
                    };
                    counts.usage_lines += 1;
                    match parsed {
                        Ok(usage) => records.push(Record::from_log(
                            EntryId([0; 12]),
                            usage,
                            project.clone(),
                            session.clone(),
                        )),
                        Err(Skipped::NullField) => counts.null_fields += 1,
                        Err(Skipped::Unparseable) => counts.unparseable += 1,
                        Err(Skipped::Invalid) => counts.invalid += 1,
                    }
                }
            }
            drop(appended);
            let mut rows = Vec::new();
            if !records.is_empty() {
                let mut ledger = self.write_ledger();
                for mut record in records {
                    record.id = match EntryId::random() {
                        Ok(id) => id,
                        Err(e) => {
                            tracing::error!(error = %e, "no randomness for a cost entry id; the entry waits for the next pass");
                            continue;
                        }
                    };
                    match ledger.apply(&record) {
                        Applied::Added(index) => {
                            rows.push(to_row(&record, priced_as(&ledger.entries()[index])));
                        }
                        Applied::Replaced(index) => {
                            let entry = &ledger.entries()[index];
                            record.id = entry.id;
                            rows.push(to_row(&record, priced_as(entry)));
                        }
                        Applied::Dropped | Applied::Repeated(_) => {}
                    }
                }
            }
            changed += rows.len();
            let full = {
                let mut pending = lock(&self.inner.pending);
                for row in rows {
                    pending.rows.insert(row.id.clone(), row);
                }
                // The cursor goes with the rows it read, in the same transaction.
                pending.cursors.insert(
                    name,
                    UsageFileCursor {
                        dev: cursor.dev,
                        ino: cursor.ino,
                        offset: cursor.offset,
                        head: cursor.head,
                        head_len: cursor.head_len,
                    },
                );
                pending.rows.len() >= SAVE_BATCH
            };
            if full {
                self.flush();
            }
        }
        counts.files = lock(&self.inner.tail).cursors().len();
        self.flush();
        {
            let mut stats = lock(&self.inner.stats);
            stats.files = counts.files;
            stats.lines += counts.lines;
            stats.usage_lines += counts.usage_lines;
            stats.null_fields += counts.null_fields;
            stats.unparseable += counts.unparseable;
            stats.invalid += counts.invalid;
            stats.passes += 1;
            for path in readable {
                stats.unreadable.remove(&path);
            }
            stats.unreadable.extend(unreadable);
        }
        if changed > 0 {
            self.after_change(changed);
        }
        changed
    }

    /// Saves what is pending; on failure keeps it for the next try.
    fn flush(&self) {
        let mut pending = lock(&self.inner.pending);
        if pending.rows.is_empty() && pending.cursors.is_empty() && pending.forgotten.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut *pending);
        let rows: Vec<CostRow> = batch.rows.into_values().collect();
        let cursors: Vec<(String, UsageFileCursor)> = batch.cursors.into_iter().collect();
        match self
            .inner
            .store
            .save_costs(&rows, &cursors, &batch.forgotten)
        {
            Ok(()) => {
                let mut stats = lock(&self.inner.stats);
                stats.saved += rows.len() as u64;
                stats.save_error = None;
            }
            Err(e) => {
                tracing::error!(error = %e, entries = rows.len(), "cannot save cost entries; they are kept and saved at the next pass");
                lock(&self.inner.stats).save_error = Some(e.to_string());
                // Back in the queue, under what arrived since (newer versions win).
                for row in rows {
                    pending.rows.entry(row.id.clone()).or_insert(row);
                }
                for (path, cursor) in cursors {
                    pending.cursors.entry(path).or_insert(cursor);
                }
                let mut forgotten = batch.forgotten;
                forgotten.append(&mut pending.forgotten);
                pending.forgotten = forgotten;
            }
        }
    }

    /// Starts the reading thread: it loads the stored ledger (unless [`CostService::load`]
    /// did), makes a first pass, then a pass for each change the watcher sees and a full pass
    /// every `poll`. Stops with [`CostService::stop`].
    pub fn start(&self) -> std::io::Result<std::thread::JoinHandle<()>> {
        let (sender, receiver) = channel();
        *lock(&self.inner.wake) = Some(sender.clone());
        let service = self.clone();
        std::thread::Builder::new()
            .name("jarvis-costs".into())
            .spawn(move || service.run(&sender, &receiver))
    }

    /// Asks the reading thread to read every root now (without waiting for it).
    pub fn wake(&self) {
        if let Some(sender) = lock(&self.inner.wake).as_ref() {
            let _ = sender.send(Wake::All);
        }
    }

    /// Stops the reading thread (it ends within a poll interval or at the next wake-up).
    pub fn stop(&self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        if let Some(sender) = lock(&self.inner.wake).take() {
            let _ = sender.send(Wake::All);
        }
    }

    fn run(&self, sender: &Sender<Wake>, receiver: &Receiver<Wake>) {
        if self.load().is_err() {
            return;
        }
        let mut watcher = None;
        let mut watched: Vec<PathBuf> = Vec::new();
        let mut next_poll = Instant::now();
        while !self.inner.stop.load(Ordering::SeqCst) {
            if self.inner.config.watch {
                self.watch_new_roots(&mut watcher, &mut watched, sender);
            }
            let wait = next_poll.saturating_duration_since(Instant::now());
            let wake = if wait.is_zero() {
                Ok(Wake::All)
            } else {
                receiver.recv_timeout(wait)
            };
            if self.inner.stop.load(Ordering::SeqCst) {
                break;
            }
            match wake {
                Ok(Wake::All) | Err(RecvTimeoutError::Timeout) => {
                    self.scan();
                    next_poll = Instant::now() + self.inner.config.poll;
                }
                Ok(Wake::Paths(mut paths)) => {
                    // A burst of writes is read in one pass.
                    let settle = Instant::now() + Duration::from_millis(30);
                    let mut all = false;
                    while let Some(left) = settle.checked_duration_since(Instant::now()) {
                        match receiver.recv_timeout(left) {
                            Ok(Wake::Paths(more)) => paths.extend(more),
                            Ok(Wake::All) => all = true,
                            Err(_) => break,
                        }
                    }
                    if all {
                        self.scan();
                    } else {
                        paths.sort();
                        paths.dedup();
                        self.read_paths(&paths);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        drop(watcher);
        tracing::debug!("cost reading stopped");
    }

    fn watch_new_roots(
        &self,
        watcher: &mut Option<notify::RecommendedWatcher>,
        watched: &mut Vec<PathBuf>,
        sender: &Sender<Wake>,
    ) {
        use notify::Watcher as _;
        if watcher.is_none() {
            let sender = Mutex::new(sender.clone());
            let made = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let wake = match event {
                    Ok(event) if matches!(event.kind, notify::EventKind::Access(_)) => return,
                    Ok(event) if event.need_rescan() => Wake::All,
                    Ok(event) => Wake::Paths(event.paths),
                    Err(_) => Wake::All,
                };
                let _ = lock(&sender).send(wake);
            });
            match made {
                Ok(made) => *watcher = Some(made),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch the usage logs; they are read at each poll");
                    return;
                }
            }
        }
        let Some(active) = watcher.as_mut() else {
            return;
        };
        for root in &self.inner.config.roots {
            if watched.contains(root) || !root.is_dir() {
                continue;
            }
            match active.watch(root, notify::RecursiveMode::Recursive) {
                Ok(()) => watched.push(root.clone()),
                Err(e) => {
                    tracing::warn!(root = %root.display(), error = %e, "cannot watch a usage-log folder; it is read at each poll");
                }
            }
        }
    }
}
