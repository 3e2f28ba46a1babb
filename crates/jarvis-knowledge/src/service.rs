//! The knowledge base as a running service: one indexing thread owns the index writer and the
//! file watcher; searches read the last committed snapshot and never wait on indexing.
//!
//! At start the index on disk is opened as it is (searches answer at once) and compared with
//! the files — changed, added and removed notes are indexed again in the background. A missing,
//! unreadable or outdated index is rebuilt instead, and while it is, searches answer
//! [`KnowledgeError::Rebuilding`] rather than partial results. A change the watcher sees is
//! indexed after the debounce and committed before it is announced, so a client told `indexed`
//! finds the new text.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jarvis_core::{Diagnostic, DiagnosticCode};
use serde::Serialize;
use tantivy::IndexWriter;

use crate::config::{KnowledgeConfig, Sources};
use crate::index::{self, OpenError, Searchable};
use crate::note::{note_id, read_note, stamp};
use crate::query::{self, NoteView, SearchPage, SearchRequest, Topic};

/// How often every source is walked again besides the watcher (a root created later, events
/// the kernel dropped).
const RESCAN_EVERY: Duration = Duration::from_secs(300);

/// What a search or a read cannot be answered with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KnowledgeError {
    /// The index is being built; answers would be partial.
    #[error("the knowledge index is being rebuilt ({reason}); ask again shortly")]
    Rebuilding {
        /// Why it is rebuilt.
        reason: String,
    },
    /// The index could not be read or written.
    #[error("the knowledge index failed: {0}")]
    Index(String),
}

impl jarvis_core::ErrorCode for KnowledgeError {
    fn error_code(&self) -> jarvis_core::Code {
        match self {
            KnowledgeError::Rebuilding { .. } => jarvis_core::Code::IndexRebuilding,
            KnowledgeError::Index(_) => jarvis_core::Code::InternalError,
        }
    }
}

impl From<tantivy::TantivyError> for KnowledgeError {
    fn from(e: tantivy::TantivyError) -> Self {
        KnowledgeError::Index(e.to_string())
    }
}

/// The most notes one commit announces one by one; beyond, one [`KnowledgeEvent::Updated`].
pub const MAX_NOTE_EVENTS: usize = 64;

/// Something the index did, announced after it is committed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum KnowledgeEvent {
    /// A note was indexed (added or changed).
    Indexed {
        /// The note id.
        id: String,
        /// Its file.
        path: String,
        /// Its title.
        title: String,
    },
    /// A note left the index (deleted, moved away, or now unreadable).
    Removed {
        /// The note id.
        id: String,
        /// Its file.
        path: String,
    },
    /// Many notes changed in one commit (more than [`MAX_NOTE_EVENTS`]: a checkout, a sync, a
    /// copied folder): their counts instead of one event each, which would flood subscribers.
    Updated {
        /// Notes indexed (added or changed).
        indexed: usize,
        /// Notes that left the index.
        removed: usize,
    },
    /// The index is being rebuilt; searches answer `INDEX_REBUILDING` until `ready`.
    Rebuilding {
        /// Why.
        reason: String,
    },
    /// The index is open and current.
    Ready {
        /// Notes in it.
        notes: u64,
        /// How long opening (and building, or catching up) took.
        took_ms: u64,
        /// Whether it was built from scratch.
        rebuilt: bool,
    },
}

/// Where the index stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Opening,
    Ready,
    Rebuilding(String),
}

/// The index's numbers and state.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KnowledgeStats {
    /// `opening`, `ready` or `rebuilding`.
    pub state: &'static str,
    /// Why it is being rebuilt.
    pub reason: Option<String>,
    /// Notes indexed.
    pub notes: u64,
    /// Distinct terms by field.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, u64>))]
    pub terms: BTreeMap<&'static str, u64>,
    /// Bytes on disk.
    pub index_bytes: u64,
    /// The last commit, ms since the Unix epoch (0: none since start).
    pub last_update_ms: u64,
    /// The schema version of the layout.
    pub schema_version: u32,
    /// Notes folders.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub roots: Vec<PathBuf>,
    /// Memory files looked for.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub memory_files: Vec<PathBuf>,
    /// Files that were not indexed, or not wholly, and why.
    pub diagnostics: Vec<Diagnostic>,
    /// How the index last became ready: opened as it was, or rebuilt and why.
    pub opened: Option<Opened>,
}

/// How the index last became ready.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Opened {
    /// Whether it was built from scratch.
    pub rebuilt: bool,
    /// Why it was rebuilt.
    pub reason: Option<String>,
    /// How long opening or building took, ms.
    pub took_ms: u64,
}

#[derive(Debug)]
struct Shared {
    state: RwLock<(Phase, Option<Searchable>)>,
    events: tokio::sync::broadcast::Sender<KnowledgeEvent>,
    diagnostics: Mutex<BTreeMap<PathBuf, Vec<Diagnostic>>>,
    last_update_ms: AtomicU64,
    sources: Sources,
    opened: Mutex<Option<Opened>>,
}

impl Shared {
    fn new(sources: Sources, event_capacity: usize) -> Self {
        Self {
            state: RwLock::new((Phase::Opening, None)),
            events: tokio::sync::broadcast::channel(event_capacity).0,
            diagnostics: Mutex::default(),
            last_update_ms: AtomicU64::new(0),
            sources,
            opened: Mutex::default(),
        }
    }

    fn all_diagnostics(&self) -> Vec<Diagnostic> {
        self.diagnostics
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .flatten()
            .cloned()
            .collect()
    }

    fn set(&self, phase: Phase, index: Option<Searchable>) {
        *self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (phase, index);
    }

    fn publish(&self, event: KnowledgeEvent) {
        // Nobody listening is fine: the state is in the index.
        let _ = self.events.send(event);
    }

    fn diagnose(&self, path: &Path, diags: Vec<Diagnostic>) {
        let mut all = self
            .diagnostics
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if diags.is_empty() {
            all.remove(path);
        } else {
            all.insert(path.to_path_buf(), diags);
        }
    }
}

enum Command {
    Changed(Vec<PathBuf>),
    Rescan,
    Rebuild(String),
    Stop,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
        if let Some(thread) = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            let _ = thread.join();
        }
    }
}

/// The knowledge base. Cheap to clone; the indexing thread stops when the last clone is
/// dropped (or at [`KnowledgeBase::stop`]).
#[derive(Debug, Clone)]
pub struct KnowledgeBase {
    inner: Arc<Inner>,
}

impl KnowledgeBase {
    /// Starts the indexing thread over `sources`, keeping the index in `dir`. Returns at once;
    /// the index opens (or builds) on the thread.
    pub fn start(
        config: &KnowledgeConfig,
        sources: Sources,
        dir: PathBuf,
    ) -> std::io::Result<KnowledgeBase> {
        let shared = Arc::new(Shared::new(sources, 256));
        let (commands, queue) = mpsc::channel();
        let worker = Worker {
            shared: Arc::clone(&shared),
            max_bytes: config.max_file_bytes,
            dir,
            current: None,
            known: HashMap::new(),
        };
        let debounce = Duration::from_millis(config.debounce_ms.max(10));
        let wake = commands.clone();
        let thread = std::thread::Builder::new()
            .name("jarvis-knowledge".into())
            .spawn(move || worker.run(&queue, &wake, debounce))?;
        Ok(KnowledgeBase {
            inner: Arc::new(Inner {
                shared,
                commands,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// Stops the indexing thread and waits for it (what was committed stays on disk).
    pub fn stop(&self) {
        let _ = self.inner.commands.send(Command::Stop);
        if let Some(thread) = self
            .inner
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            let _ = thread.join();
        }
    }

    /// Index updates, after each commit.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<KnowledgeEvent> {
        self.inner.shared.events.subscribe()
    }

    /// Rebuilds the index from the files, in the background. Searches answer
    /// [`KnowledgeError::Rebuilding`] from now until it is ready.
    pub fn rebuild(&self, reason: &str) {
        self.inner
            .shared
            .set(Phase::Rebuilding(reason.to_owned()), None);
        let _ = self
            .inner
            .commands
            .send(Command::Rebuild(reason.to_owned()));
    }

    /// Walks every source again and indexes what changed, in the background.
    pub fn rescan(&self) {
        let _ = self.inner.commands.send(Command::Rescan);
    }

    /// The open index, or why there is none to answer from.
    fn current(&self) -> Result<Searchable, KnowledgeError> {
        let state = self
            .inner
            .shared
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*state {
            (Phase::Ready, Some(index)) => Ok(index.clone()),
            (Phase::Rebuilding(reason), _) => Err(KnowledgeError::Rebuilding {
                reason: reason.clone(),
            }),
            _ => Err(KnowledgeError::Rebuilding {
                reason: "the index is opening".into(),
            }),
        }
    }

    /// Searches (CPU work: call it off the async executor).
    pub fn search(&self, request: &SearchRequest) -> Result<SearchPage, KnowledgeError> {
        Ok(query::search(&self.current()?, request))
    }

    /// Topics with their note counts.
    pub fn topics(&self) -> Result<Vec<Topic>, KnowledgeError> {
        Ok(query::topics(&self.current()?)?)
    }

    /// A note by id.
    pub fn note(&self, id: &str) -> Result<Option<NoteView>, KnowledgeError> {
        Ok(query::note(&self.current()?, id)?)
    }

    /// Files not indexed (or not wholly), and why. Cheap: kept in memory.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        self.inner.shared.all_diagnostics()
    }

    /// The numbers (walks the index folder for its size: call it off the executor).
    pub fn stats(&self) -> KnowledgeStats {
        let shared = &self.inner.shared;
        let (phase, index) = shared
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let (state, reason) = match phase {
            Phase::Opening => ("opening", None),
            Phase::Ready => ("ready", None),
            Phase::Rebuilding(reason) => ("rebuilding", Some(reason)),
        };
        let (notes, terms, index_bytes) = match &index {
            Some(index) => {
                let (notes, terms) = query::counts(&index.reader.searcher(), index);
                (notes, terms, index.disk_bytes())
            }
            None => (0, BTreeMap::new(), 0),
        };
        KnowledgeStats {
            state,
            reason,
            notes,
            terms,
            index_bytes,
            last_update_ms: shared.last_update_ms.load(Ordering::Relaxed),
            schema_version: crate::schema::SCHEMA_VERSION,
            roots: shared.sources.roots.clone(),
            memory_files: shared.sources.memory.clone(),
            diagnostics: self.diagnostics(),
            opened: shared
                .opened
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }
}

/// What a one-shot build did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildReport {
    /// Notes indexed.
    pub notes: u64,
    /// Files not indexed (or not wholly), and why.
    pub diagnostics: Vec<Diagnostic>,
    /// How long it took.
    pub took_ms: u64,
    /// Bytes on disk.
    pub index_bytes: u64,
}

/// Builds the index in `dir` from `sources` in this thread (`jarvis knowledge reindex`). Fails
/// while a running server holds the index.
pub fn build_index(
    config: &KnowledgeConfig,
    sources: Sources,
    dir: &Path,
) -> Result<BuildReport, KnowledgeError> {
    let started = Instant::now();
    if let Ok(existing) = index::open(dir) {
        // Taking the writer is how a running server is noticed, before anything is removed.
        drop(existing.writer().map_err(|e| {
            KnowledgeError::Index(format!(
                "{e}; a running server holds it: ask it with POST /api/v2/knowledge/reindex"
            ))
        })?);
    }
    let mut worker = Worker {
        shared: Arc::new(Shared::new(sources, 1)),
        max_bytes: config.max_file_bytes,
        dir: dir.to_path_buf(),
        current: None,
        known: HashMap::new(),
    };
    worker.rebuild("asked from the command line")?;
    let (notes, index_bytes) = worker.current.as_ref().map_or((0, 0), |(index, _)| {
        (index.reader.searcher().num_docs(), index.disk_bytes())
    });
    Ok(BuildReport {
        notes,
        diagnostics: worker.shared.all_diagnostics(),
        took_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        index_bytes,
    })
}

/// Searches the index in `dir` as it is on disk (`jarvis knowledge search`): no thread, no
/// writer, so it works beside a running server.
pub fn search_index(dir: &Path, request: &SearchRequest) -> Result<SearchPage, KnowledgeError> {
    let index = index::open(dir).map_err(|e| match e {
        OpenError::Missing => KnowledgeError::Index(
            "there is no index yet: run `jarvis knowledge reindex` or start the server".into(),
        ),
        other => KnowledgeError::Index(format!("{other}; run `jarvis knowledge reindex`")),
    })?;
    Ok(query::search(&index, request))
}

struct Worker {
    shared: Arc<Shared>,
    max_bytes: u64,
    dir: PathBuf,
    current: Option<(Searchable, IndexWriter)>,
    known: HashMap<PathBuf, (u64, u64)>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Worker {
    fn run(
        mut self,
        queue: &mpsc::Receiver<Command>,
        wake: &mpsc::Sender<Command>,
        debounce: Duration,
    ) {
        let started = Instant::now();
        match index::open(&self.dir).and_then(|index| {
            let writer = index
                .writer()
                .map_err(|e| OpenError::Corrupt(e.to_string()))?;
            Ok((index, writer))
        }) {
            Ok((index, writer)) => {
                self.known = index.known().unwrap_or_default();
                self.shared.set(Phase::Ready, Some(index.clone()));
                self.current = Some((index, writer));
                tracing::info!(notes = self.known.len(), "knowledge index opened");
                // Catch up with what changed while the server was down.
                if let Err(e) = self.reconcile() {
                    tracing::error!(error = %e, "knowledge index: catching up failed");
                }
                self.ready(started, None);
            }
            Err(reason) => {
                if reason != OpenError::Missing {
                    tracing::warn!(reason = %reason, "knowledge index is rebuilt");
                }
                let reason = reason.to_string();
                match self.rebuild(&reason) {
                    Ok(()) => self.ready(started, Some(reason)),
                    Err(e) => tracing::error!(error = %e, "knowledge index could not be built"),
                }
            }
        }
        let _watcher = self.watch(wake, debounce);
        loop {
            match queue.recv_timeout(RESCAN_EVERY) {
                Ok(Command::Changed(mut paths)) => {
                    // Coalesce what else is already waiting.
                    while let Ok(Command::Changed(more)) = queue.try_recv() {
                        paths.extend(more);
                    }
                    if let Err(e) = self.apply(paths) {
                        tracing::error!(error = %e, "knowledge index: an update failed");
                    }
                }
                Ok(Command::Rescan) | Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(e) = self.reconcile() {
                        tracing::error!(error = %e, "knowledge index: a rescan failed");
                    }
                }
                Ok(Command::Rebuild(reason)) => {
                    let started = Instant::now();
                    match self.rebuild(&reason) {
                        Ok(()) => self.ready(started, Some(reason)),
                        Err(e) => {
                            tracing::error!(error = %e, "knowledge index could not be rebuilt")
                        }
                    }
                }
                Ok(Command::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        // What is not committed is lost with the writer; every update commits, so nothing is.
        drop(self.current.take());
    }

    /// Announces the index ready; `rebuilt` says why it was built from scratch.
    fn ready(&self, started: Instant, rebuilt: Option<String>) {
        let notes = self
            .current
            .as_ref()
            .map_or(0, |(index, _)| index.reader.searcher().num_docs());
        let took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(
            notes,
            took_ms,
            rebuilt = rebuilt.as_deref().unwrap_or("no"),
            "knowledge index ready"
        );
        *self
            .shared
            .opened
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Opened {
            rebuilt: rebuilt.is_some(),
            reason: rebuilt.clone(),
            took_ms,
        });
        self.shared.publish(KnowledgeEvent::Ready {
            notes,
            took_ms,
            rebuilt: rebuilt.is_some(),
        });
    }

    /// Watches the roots (recursively) and the memory files' folders; changes arrive as
    /// commands. `None` (logged) when the platform's watcher cannot start: the rescan remains.
    fn watch(
        &self,
        wake: &mpsc::Sender<Command>,
        debounce: Duration,
    ) -> Option<
        notify_debouncer_full::Debouncer<
            notify::RecommendedWatcher,
            notify_debouncer_full::RecommendedCache,
        >,
    > {
        use notify::RecursiveMode;
        let events = wake.clone();
        let made = notify_debouncer_full::new_debouncer(
            debounce,
            None,
            move |result: notify_debouncer_full::DebounceEventResult| {
                let command = match result {
                    Ok(events) if events.iter().any(|e| e.event.need_rescan()) => Command::Rescan,
                    Ok(events) => {
                        let paths: Vec<PathBuf> = events
                            .into_iter()
                            .filter(|e| !matches!(e.event.kind, notify::EventKind::Access(_)))
                            .flat_map(|e| e.event.paths)
                            .collect();
                        if paths.is_empty() {
                            return;
                        }
                        Command::Changed(paths)
                    }
                    Err(errors) => {
                        for e in errors {
                            tracing::warn!(error = %e, "knowledge watcher error; a rescan follows");
                        }
                        Command::Rescan
                    }
                };
                let _ = events.send(command);
            },
        );
        let mut debouncer = match made {
            Ok(debouncer) => debouncer,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch notes; they are rescanned every 5 minutes");
                return None;
            }
        };
        let sources = &self.shared.sources;
        let mut targets: Vec<(PathBuf, RecursiveMode)> = sources
            .roots
            .iter()
            .map(|r| (r.clone(), RecursiveMode::Recursive))
            .collect();
        let folders: HashSet<PathBuf> = sources
            .memory
            .iter()
            .filter_map(|m| m.parent().map(Path::to_path_buf))
            .collect();
        targets.extend(
            folders
                .into_iter()
                .map(|f| (f, RecursiveMode::NonRecursive)),
        );
        for (path, mode) in targets {
            if !path.exists() {
                tracing::info!(path = %path.display(), "notes folder missing; looked for again every 5 minutes");
                continue;
            }
            if let Err(e) = debouncer.watch(&path, mode) {
                tracing::warn!(path = %path.display(), error = %e, "cannot watch; rescanned every 5 minutes");
            }
        }
        Some(debouncer)
    }

    /// Every note file of the sources, as it is now.
    fn walk(&self) -> Vec<PathBuf> {
        let sources = &self.shared.sources;
        let mut files = Vec::new();
        for root in &sources.roots {
            let walker = walkdir::WalkDir::new(root)
                .follow_links(false)
                .into_iter()
                .filter_entry(|e| {
                    e.depth() == 0 || !e.file_name().to_str().is_some_and(|n| n.starts_with('.'))
                });
            for entry in walker {
                match entry {
                    Ok(entry) if entry.file_type().is_file() && sources.admits(entry.path()) => {
                        files.push(entry.into_path());
                    }
                    Ok(_) => {}
                    Err(e) if e.depth() == 0 => {
                        tracing::debug!(root = %root.display(), error = %e, "notes folder not readable");
                    }
                    Err(e) => {
                        let path = e.path().map_or_else(|| root.clone(), Path::to_path_buf);
                        self.shared.diagnose(
                            &path,
                            vec![Diagnostic::new(
                                DiagnosticCode::WalkFailed,
                                &path,
                                e.to_string(),
                            )],
                        );
                    }
                }
            }
        }
        files.extend(sources.memory.iter().filter(|m| m.is_file()).cloned());
        files
    }

    /// Builds a fresh index from every file; searches answer `Rebuilding` meanwhile.
    fn rebuild(&mut self, reason: &str) -> Result<(), KnowledgeError> {
        tracing::info!(reason, "building the knowledge index");
        self.shared.set(Phase::Rebuilding(reason.to_owned()), None);
        self.shared.publish(KnowledgeEvent::Rebuilding {
            reason: reason.to_owned(),
        });
        // The old writer holds the folder's lock: let it go first.
        drop(self.current.take());
        std::fs::create_dir_all(&self.dir).map_err(|e| KnowledgeError::Index(e.to_string()))?;
        let index = index::create(&self.dir).map_err(|e| KnowledgeError::Index(e.to_string()))?;
        let mut writer = index.writer()?;
        self.known.clear();
        self.shared
            .diagnostics
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        for path in self.walk() {
            self.index_file(&index, &mut writer, &path, &mut Vec::new());
        }
        writer.commit()?;
        index::seal(&self.dir).map_err(|e| KnowledgeError::Index(e.to_string()))?;
        index.reader.reload()?;
        self.shared
            .last_update_ms
            .store(now_ms(), Ordering::Relaxed);
        self.shared.set(Phase::Ready, Some(index.clone()));
        self.current = Some((index, writer));
        Ok(())
    }

    /// Compares the files with the index and indexes the difference.
    fn reconcile(&mut self) -> Result<(), KnowledgeError> {
        let mut stale = Vec::new();
        let mut seen = HashSet::new();
        for path in self.walk() {
            let stamp = std::fs::metadata(&path).map(|m| stamp(&m)).ok();
            if stamp.is_none() || self.known.get(&path) != stamp.as_ref() {
                stale.push(path.clone());
            }
            seen.insert(path);
        }
        stale.extend(self.known.keys().filter(|p| !seen.contains(*p)).cloned());
        if stale.is_empty() {
            return Ok(());
        }
        tracing::info!(files = stale.len(), "knowledge index catching up");
        self.apply(stale)
    }

    /// Indexes again what `paths` name (files, or folders whose files all count), commits,
    /// then announces.
    fn apply(&mut self, paths: Vec<PathBuf>) -> Result<(), KnowledgeError> {
        let Some((index, mut writer)) = self.current.take() else {
            return Ok(());
        };
        let mut files: Vec<PathBuf> = Vec::new();
        for path in paths {
            if path.is_dir() {
                files.extend(
                    walkdir::WalkDir::new(&path)
                        .into_iter()
                        .filter_map(Result::ok)
                        .filter(|e| e.file_type().is_file())
                        .map(walkdir::DirEntry::into_path),
                );
            } else if !path.exists() {
                // A folder removed or renamed away takes its notes with it.
                files.extend(self.known.keys().filter(|k| k.starts_with(&path)).cloned());
                files.push(path);
            } else {
                files.push(path);
            }
        }
        files.sort();
        files.dedup();
        let mut events = Vec::new();
        for path in &files {
            self.index_file(&index, &mut writer, path, &mut events);
        }
        let result = if events.is_empty() {
            Ok(())
        } else {
            writer
                .commit()
                .and_then(|_| index.reader.reload())
                .map_err(KnowledgeError::from)
        };
        self.current = Some((index, writer));
        result?;
        if !events.is_empty() {
            self.shared
                .last_update_ms
                .store(now_ms(), Ordering::Relaxed);
            tracing::debug!(changes = events.len(), "knowledge index updated");
            if events.len() > MAX_NOTE_EVENTS {
                let removed = events
                    .iter()
                    .filter(|e| matches!(e, KnowledgeEvent::Removed { .. }))
                    .count();
                self.shared.publish(KnowledgeEvent::Updated {
                    indexed: events.len() - removed,
                    removed,
                });
            } else {
                for event in events {
                    self.shared.publish(event);
                }
            }
        }
        Ok(())
    }

    /// Brings one file's document up to date (added, replaced, removed), without committing.
    fn index_file(
        &mut self,
        index: &Searchable,
        writer: &mut IndexWriter,
        path: &Path,
        events: &mut Vec<KnowledgeEvent>,
    ) {
        let sources = &self.shared.sources;
        let admitted = sources.admits(path);
        let exists = path.is_file();
        if !admitted || !exists {
            self.shared.diagnose(path, Vec::new());
            if self.known.remove(path).is_some() {
                writer.delete_term(index.path_term(path));
                events.push(KnowledgeEvent::Removed {
                    id: note_id(path),
                    path: path.to_string_lossy().into_owned(),
                });
            }
            return;
        }
        match read_note(path, sources, self.max_bytes) {
            Ok((note, diags)) => {
                for d in &diags {
                    tracing::warn!(path = %path.display(), code = %d.code, message = %d.message, "note indexed with a problem");
                }
                self.shared.diagnose(path, diags);
                writer.delete_term(index.path_term(path));
                if let Err(e) = writer.add_document(index.document(&note)) {
                    tracing::error!(path = %path.display(), error = %e, "note could not be indexed");
                    self.known.remove(path);
                    return;
                }
                self.known
                    .insert(path.to_path_buf(), (note.modified_ms, note.size));
                events.push(KnowledgeEvent::Indexed {
                    id: note.id,
                    path: path.to_string_lossy().into_owned(),
                    title: note.title,
                });
            }
            Err(diag) => {
                tracing::warn!(path = %path.display(), code = %diag.code, message = %diag.message, "note not indexed");
                self.shared.diagnose(path, vec![diag]);
                if self.known.remove(path).is_some() {
                    writer.delete_term(index.path_term(path));
                    events.push(KnowledgeEvent::Removed {
                        id: note_id(path),
                        path: path.to_string_lossy().into_owned(),
                    });
                }
            }
        }
    }
}
