//! The catalog: an immutable snapshot of every resource, swapped atomically on reload.
//!
//! Readers take an `Arc<CatalogSnapshot>` and keep it as long as they like; a reload builds a
//! complete new snapshot (resources, diagnostics, search index) off to the side and swaps the
//! pointer, so a reader never sees half a reload. Each swap bumps the generation, which caches
//! use as their invalidation key. A reload that finds the same files unchanged (same
//! fingerprint) keeps the current snapshot and generation. A reload that panics keeps serving
//! the last good snapshot and records the failure.

use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use jarvis_core::{Code, Diagnostic, Resource, ResourceId, ResourceKind, Severity};
use serde::Serialize;
use serde_json::json;

use crate::config::ScanRoots;
use crate::discover::{External, scan_incremental};
use crate::persist;
use crate::scan::{ParseCache, Parsed, ReuseStats, ScanOutput};
use crate::search::{SearchHit, SearchIndex, SearchQuery};

/// Counts for one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindCount {
    /// Every definition found.
    pub total: usize,
    /// Those in effect.
    pub active: usize,
    /// Those shadowed by another definition.
    pub shadowed: usize,
}

/// Facts about the scan behind a snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct ScanStats {
    /// Counts per kind; every kind is present, so `kinds[&kind]` never panics. Serialized
    /// keyed by the kind's plural name (`"agents"`, `"mcp-servers"`).
    #[serde(serialize_with = "plural_keys")]
    pub kinds: BTreeMap<ResourceKind, KindCount>,
    /// Diagnostics per severity.
    pub diagnostics: HashMap<Severity, usize>,
    /// How many files were read.
    pub files_read: usize,
    /// How long the scan took.
    pub duration: Duration,
    /// How long building the search index took.
    pub index_duration: Duration,
    /// How many files were parsed, and how many taken unchanged from the previous scan.
    pub reuse: ReuseStats,
    /// How many resources were tokenized for the search index (the rest kept their postings).
    pub indexed: usize,
    /// When the scan finished.
    pub scanned_at: SystemTime,
}

impl ScanStats {
    /// The counts keyed by each kind's plural name (`"agents"`, `"mcp-servers"`), as they are
    /// serialized.
    pub fn kinds_by_plural(&self) -> BTreeMap<&'static str, KindCount> {
        plural_names(&self.kinds)
    }
}

fn plural_names(kinds: &BTreeMap<ResourceKind, KindCount>) -> BTreeMap<&'static str, KindCount> {
    kinds
        .iter()
        .map(|(kind, count)| (kind.plural(), *count))
        .collect()
}

fn plural_keys<S: serde::Serializer>(
    kinds: &BTreeMap<ResourceKind, KindCount>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(plural_names(kinds))
}

/// One immutable view of every resource.
#[derive(Debug)]
pub struct CatalogSnapshot {
    generation: u64,
    fingerprint: u64,
    resources: Vec<Arc<Resource>>,
    /// (hash of the id, position), sorted: one allocation, where a map of ids would copy every
    /// id on each reload.
    by_id: Vec<(u64, u32)>,
    diagnostics: Vec<Diagnostic>,
    index: SearchIndex,
    stats: ScanStats,
}

impl CatalogSnapshot {
    /// Builds a snapshot from a scan. CPU-bound (it builds the search index): call it off the
    /// async executor.
    pub fn from_scan(generation: u64, out: ScanOutput) -> Self {
        CatalogSnapshot::assemble(generation, out, None)
    }

    /// Builds a snapshot from a scan that followed `previous`'s: the search index keeps the
    /// postings of every resource the two share and tokenizes only the rest.
    pub fn from_rescan(generation: u64, out: ScanOutput, previous: &CatalogSnapshot) -> Self {
        CatalogSnapshot::assemble(generation, out, Some(previous))
    }

    fn assemble(generation: u64, out: ScanOutput, previous: Option<&CatalogSnapshot>) -> Self {
        let ScanOutput {
            resources,
            diagnostics,
            files_read,
            fingerprint,
            duration,
            reuse,
        } = out;
        let mut by_id: Vec<(u64, u32)> = resources
            .iter()
            .zip(0u32..)
            .map(|(r, i)| (id_hash(&r.id), i))
            .collect();
        by_id.sort_unstable();
        let mut kinds: BTreeMap<ResourceKind, KindCount> = ResourceKind::ALL
            .iter()
            .map(|&k| (k, KindCount::default()))
            .collect();
        for r in &resources {
            let count = kinds.entry(r.kind).or_default();
            count.total += 1;
            if r.is_active() {
                count.active += 1;
            } else {
                count.shadowed += 1;
            }
        }
        let mut by_severity = HashMap::new();
        for d in &diagnostics {
            *by_severity.entry(d.severity).or_insert(0) += 1;
        }
        let index_started = std::time::Instant::now();
        let index = match previous {
            Some(previous) if !previous.resources.is_empty() => {
                SearchIndex::update(&resources, &previous.index, &previous.resources)
            }
            _ => SearchIndex::build(&resources),
        };
        let index_duration = index_started.elapsed();
        let indexed = index.last_tokenized();
        CatalogSnapshot {
            generation,
            fingerprint,
            by_id,
            diagnostics,
            index,
            stats: ScanStats {
                kinds,
                diagnostics: by_severity,
                files_read,
                duration,
                index_duration,
                reuse,
                indexed,
                scanned_at: SystemTime::now(),
            },
            resources,
        }
    }

    /// A base for the first scan of a run that found a cache: the resources and search index
    /// the cache held, to be updated rather than rebuilt. Never served.
    fn seed(resources: Vec<Arc<Resource>>, index: SearchIndex) -> Self {
        let mut seed = CatalogSnapshot::empty();
        seed.resources = resources;
        seed.index = index;
        seed
    }

    /// An empty snapshot (generation 0), for a catalog that has not loaded yet.
    pub fn empty() -> Self {
        CatalogSnapshot::from_scan(0, ScanOutput::default())
    }

    /// The generation: bumped on every swap that changed something.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Every resource, shadowed ones included, sorted by kind, name, scope and source. A
    /// resource that did not change across a reload is the same `Arc` in both snapshots.
    pub fn resources(&self) -> &[Arc<Resource>] {
        &self.resources
    }

    /// The resources of one kind.
    pub fn of_kind(&self, kind: ResourceKind) -> impl Iterator<Item = &Resource> {
        self.resources
            .iter()
            .map(|r| &**r)
            .filter(move |r| r.kind == kind)
    }

    /// A resource by id.
    pub fn get(&self, id: &ResourceId) -> Option<&Resource> {
        let hash = id_hash(id);
        let start = self.by_id.partition_point(|&(h, _)| h < hash);
        self.by_id[start..]
            .iter()
            .take_while(|&&(h, _)| h == hash)
            .map(|&(_, i)| &*self.resources[i as usize])
            .find(|r| &r.id == id)
    }

    /// The resource in effect for `name` of `kind`, as Claude Code would pick it: by qualified
    /// name first (`tools:smart-debug`), then by bare name (`smart-debug`), preferring active
    /// definitions and then the project scope. `None` when nothing matches or when a bare name
    /// is ambiguous (see [`CatalogSnapshot::candidates`]).
    pub fn resolve(&self, kind: ResourceKind, name: &str) -> Option<&Resource> {
        let candidates = self.candidates(kind, name);
        let best = candidates.first()?;
        let rank = |r: &Resource| {
            (
                !r.is_active(),
                r.scope != jarvis_core::Scope::Project,
                r.qualified_name != r.name,
            )
        };
        let ties = candidates
            .iter()
            .filter(|r| rank(r) == rank(best) && r.qualified_name != name.trim_start_matches('/'))
            .count();
        if best.qualified_name == name.trim_start_matches('/') || ties <= 1 {
            Some(best)
        } else {
            None
        }
    }

    /// The resource of `kind` a client means by `key`: its id; for a workflow, its n8n id among
    /// workflows in effect; else its name, as [`CatalogSnapshot::resolve`] picks it. One rule
    /// for every door (HTTP routes, WebSocket commands): a name that several definitions answer
    /// to, none preferred by precedence, is [`LookupError::Ambiguous`] with those definitions.
    pub fn lookup(&self, kind: ResourceKind, key: &str) -> Result<&Resource, LookupError<'_>> {
        if let Some(r) = self
            .get(&ResourceId::from_raw(key))
            .filter(|r| r.kind == kind)
        {
            return Ok(r);
        }
        if kind == ResourceKind::Workflow {
            let by_n8n_id: Vec<&Resource> = self
                .of_kind(kind)
                .filter(|r| {
                    r.is_active()
                        && matches!(&r.details, jarvis_core::Details::Workflow(d) if d.workflow_id.as_deref() == Some(key))
                })
                .collect();
            match by_n8n_id.as_slice() {
                [] => {}
                [one] => return Ok(one),
                _ => return Err(LookupError::Ambiguous(by_n8n_id)),
            }
        }
        if let Some(r) = self.resolve(kind, key) {
            return Ok(r);
        }
        let candidates = self.candidates(kind, key);
        if candidates.is_empty() {
            Err(LookupError::NotFound)
        } else {
            Err(LookupError::Ambiguous(candidates))
        }
    }

    /// [`CatalogSnapshot::lookup`] with the failure in the shape a client is told: what was
    /// asked for and, when ambiguous, the candidates.
    pub fn find(&self, kind: ResourceKind, key: &str) -> crate::Result<&Resource> {
        self.lookup(kind, key)
            .map_err(|e| crate::Error::Lookup(e.to_failure(kind, key)))
    }

    /// Every resource of `kind` that answers to `name` (qualified name or alias), best first.
    pub fn candidates(&self, kind: ResourceKind, name: &str) -> Vec<&Resource> {
        let name = name.trim_start_matches('/');
        let mut candidates: Vec<&Resource> = self
            .of_kind(kind)
            .filter(|r| r.qualified_name == name || r.aliases.iter().any(|a| a == name))
            .collect();
        candidates.sort_by_key(|r| {
            (
                r.qualified_name != name,
                !r.is_active(),
                r.scope != jarvis_core::Scope::Project,
                r.project.clone(),
                r.source.clone(),
            )
        });
        candidates
    }

    /// Every diagnostic of the scan.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// Scan facts and counts.
    pub fn stats(&self) -> &ScanStats {
        &self.stats
    }

    /// Ranked search. CPU-bound but fast (microseconds to a millisecond at 10,000 resources).
    pub fn search(&self, query: &SearchQuery) -> Vec<SearchHit> {
        self.index.search(&self.resources, query)
    }

    /// The number of distinct terms and of postings in the search index.
    pub fn index_size(&self) -> (usize, usize) {
        (self.index.term_count(), self.index.posting_count())
    }

    /// Bytes held by resource bodies (compressed).
    pub fn body_bytes(&self) -> usize {
        self.resources.iter().map(|r| r.body.stored_bytes()).sum()
    }
}

fn id_hash(id: &ResourceId) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = rustc_hash::FxHasher::default();
    id.hash(&mut hasher);
    hasher.finish()
}

/// Why [`CatalogSnapshot::lookup`] found no resource.
#[derive(Debug, Clone, PartialEq)]
pub enum LookupError<'a> {
    /// Nothing of that kind has that id or name.
    NotFound,
    /// Several definitions answer to the name and precedence prefers none: ask by id or by the
    /// namespaced name. Best first.
    Ambiguous(Vec<&'a Resource>),
}

impl LookupError<'_> {
    /// The failure as a client is told it, for a lookup of `kind` by `key`.
    pub fn to_failure(&self, kind: ResourceKind, key: &str) -> LookupFailure {
        match self {
            LookupError::NotFound => LookupFailure {
                code: Code::ResourceNotFound,
                message: format!(
                    "no {} with id or name `{key}`",
                    kind.as_str().replace('_', " ")
                ),
                details: json!({ "kind": kind, "id": key }),
            },
            LookupError::Ambiguous(candidates) => LookupFailure {
                code: Code::AmbiguousName,
                message: format!(
                    "`{key}` names {} {}; ask by id or by the namespaced name",
                    candidates.len(),
                    kind.plural()
                ),
                details: json!({
                    "candidates": candidates
                        .iter()
                        .map(|r| json!({
                            "id": r.id,
                            "qualified_name": r.qualified_name,
                            "scope": r.scope,
                            "source": r.source,
                        }))
                        .collect::<Vec<_>>(),
                }),
            },
        }
    }
}

/// A lookup that found nothing, owned: `RESOURCE_NOT_FOUND`, or `AMBIGUOUS_NAME` with the
/// candidates in its details. Answered as [`Error::Lookup`](crate::Error::Lookup).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct LookupFailure {
    /// `ResourceNotFound` or `AmbiguousName`.
    pub code: Code,
    /// A sentence for the client.
    pub message: String,
    /// What was asked for, or the candidates.
    pub details: serde_json::Value,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// A new snapshot with this generation is in service.
    Swapped(u64),
    /// Nothing changed on disk; the current snapshot stays.
    Unchanged(u64),
    /// The scan failed; the last good snapshot (this generation) stays.
    Failed {
        /// The generation still served.
        generation: u64,
        /// Why the scan failed.
        reason: String,
    },
}

type Listener = Box<dyn Fn(&Arc<CatalogSnapshot>) + Send + Sync>;

struct Shared {
    roots: ScanRoots,
    /// Resources from live sources, by origin.
    external: RwLock<BTreeMap<String, External>>,
    /// Bumped on every change to `external`.
    external_stamp: std::sync::atomic::AtomicU64,
    current: RwLock<Arc<CatalogSnapshot>>,
    /// Serializes reloads (two at once would race to publish), and holds what the last scan
    /// parsed for the next one to reuse.
    reload: Mutex<ParseCache>,
    /// Reloads run, whatever their outcome.
    reloads: std::sync::atomic::AtomicU64,
    last_error: RwLock<Option<String>>,
    listeners: RwLock<Vec<Listener>>,
    /// Where the catalog keeps its cache between runs, if it does.
    cache_file: Option<Arc<CacheFile>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // A catalog dropped writes nothing more: a write still waiting is abandoned.
        if let Some(file) = &self.cache_file {
            file.dropped
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// The live catalog: the current snapshot plus the means to reload it.
///
/// Cloning is cheap (an `Arc`). Every method that scans is blocking; async callers wrap it in
/// `spawn_blocking`. [`LiveCatalog::snapshot`] is non-blocking in practice (a read lock held for a
/// pointer copy).
#[derive(Clone)]
pub struct LiveCatalog {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LiveCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCatalog")
            .field("generation", &self.snapshot().generation())
            .finish_non_exhaustive()
    }
}

impl LiveCatalog {
    /// Scans `roots` and returns a catalog serving the result as generation 1. Blocking.
    pub fn load(roots: ScanRoots) -> LiveCatalog {
        LiveCatalog::start(roots, None, ParseCache::default(), None)
    }

    /// [`LiveCatalog::load`], keeping a cache in the file `path` (in the data directory): what
    /// the scan parsed and the search index built from it. A start that finds the cache reads,
    /// parses and tokenizes only the files whose stamp (size, modification time, inode) changed
    /// since it was written, and serves exactly what a full scan would. A missing, damaged or
    /// outdated cache is said so in the log and in [`LiveCatalog::cache_status`], and the start
    /// reads every file. After each reload the cache is written again in the background, once
    /// the catalog has been quiet for a few seconds. Blocking.
    pub fn load_cached(roots: ScanRoots, path: impl Into<PathBuf>) -> LiveCatalog {
        let path = path.into();
        let settings = persist::settings_hash(&roots);
        let started = std::time::Instant::now();
        let mut status = CacheStatus {
            path: path.clone(),
            start: CacheStart::Missing,
            files_loaded: 0,
            load_ms: 0.0,
            reason: None,
            saves: 0,
            saved_at_ms: None,
            save_error: None,
        };
        persist::sweep(&path);
        let mut written = None;
        let (cache, seed) = match persist::load(&path, settings) {
            Ok(loaded) => {
                written = Some(loaded.fingerprint);
                status.start = CacheStart::Loaded;
                status.files_loaded = loaded.files;
                status.load_ms = started.elapsed().as_secs_f64() * 1000.0;
                tracing::info!(path = %path.display(), files = loaded.files, took_ms = status.load_ms as u64, "catalog cache loaded; reading only files changed since it was written");
                let seed = CatalogSnapshot::seed(loaded.docs, loaded.index);
                (loaded.cache, Some(seed))
            }
            Err(crate::codec::Unusable::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::info!(path = %path.display(), "no catalog cache yet; reading every file");
                (ParseCache::default(), None)
            }
            Err(e) => {
                status.start = CacheStart::Unusable;
                status.reason = Some(e.to_string());
                tracing::warn!(path = %path.display(), reason = %e, "catalog cache not used; reading every file");
                (ParseCache::default(), None)
            }
        };
        let file = Arc::new(CacheFile {
            path,
            settings,
            written: Mutex::new(written),
            dropped: std::sync::atomic::AtomicBool::new(false),
            catalog: Mutex::new(std::sync::Weak::new()),
            status: Mutex::new(status),
            pending: Mutex::new(Pending::default()),
        });
        LiveCatalog::start(roots, Some(file), cache, seed)
    }

    fn start(
        roots: ScanRoots,
        cache_file: Option<Arc<CacheFile>>,
        cache: ParseCache,
        seed: Option<CatalogSnapshot>,
    ) -> LiveCatalog {
        let file = cache_file.clone();
        let catalog = LiveCatalog {
            shared: Arc::new(Shared {
                roots,
                external: RwLock::new(BTreeMap::new()),
                external_stamp: std::sync::atomic::AtomicU64::new(0),
                current: RwLock::new(Arc::new(seed.unwrap_or_else(CatalogSnapshot::empty))),
                reload: Mutex::new(cache),
                reloads: std::sync::atomic::AtomicU64::new(0),
                last_error: RwLock::new(None),
                listeners: RwLock::new(Vec::new()),
                cache_file,
            }),
        };
        if let Some(file) = file {
            *file.catalog.lock().unwrap_or_else(PoisonError::into_inner) =
                Arc::downgrade(&catalog.shared);
        }
        catalog.reload();
        if catalog.snapshot().generation() == 0 {
            // The first scan failed: serve nothing rather than the cache's seed.
            *catalog
                .shared
                .current
                .write()
                .unwrap_or_else(PoisonError::into_inner) = Arc::new(CatalogSnapshot::empty());
        }
        catalog
    }

    /// Where the catalog keeps its cache and how loading and saving it went; `None` for a
    /// catalog made with [`LiveCatalog::load`].
    pub fn cache_status(&self) -> Option<CacheStatus> {
        self.shared.cache_file.as_ref().map(|file| {
            file.status
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        })
    }

    /// Writes the cache now, on this thread, rather than after the quiet period (a command that
    /// exits after one scan calls this). Does nothing for a catalog without a cache file.
    /// Blocking.
    pub fn save_cache(&self) -> std::io::Result<()> {
        let Some(file) = &self.shared.cache_file else {
            return Ok(());
        };
        file.write(self.save_job())
    }

    /// What a write of the cache takes: the last scan's parses and the snapshot built from
    /// them, taken together under the reload lock (a reload swaps both under it). Cloning the
    /// parses is a few milliseconds; the lock is not held while the file is written.
    fn save_job(&self) -> SaveJob {
        let cache = self
            .shared
            .reload
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        SaveJob {
            entries: cache
                .entries
                .iter()
                .map(|(path, parsed)| (path.clone(), parsed.clone()))
                .collect(),
            snapshot: self.snapshot(),
        }
    }

    /// The snapshot currently in service.
    pub fn snapshot(&self) -> Arc<CatalogSnapshot> {
        self.shared
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What the catalog scans.
    pub fn roots(&self) -> &ScanRoots {
        &self.shared.roots
    }

    /// How many reloads (scans) have run, including the first and those that found nothing
    /// new: what watching the folders costs.
    pub fn reloads(&self) -> u64 {
        self.shared
            .reloads
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Why the last reload failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.shared
            .last_error
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Registers a function called with every new snapshot (on the reloading thread).
    pub fn on_swap(&self, listener: impl Fn(&Arc<CatalogSnapshot>) + Send + Sync + 'static) {
        self.shared
            .listeners
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(listener));
    }

    /// Replaces the resources that the live source `origin` supplies, then reloads. Blocking.
    ///
    /// The reload takes every file as the last scan left it (no folder is listed, no file
    /// looked at): a change on disk has its own reload, from the watcher or the periodic
    /// rescan.
    pub fn set_external(&self, origin: &str, external: External) -> ReloadOutcome {
        self.shared
            .external
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(origin.to_owned(), external);
        self.shared
            .external_stamp
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.reload_with(Some(&[]))
    }

    /// What the live source `origin` last supplied.
    pub fn external(&self, origin: &str) -> Option<External> {
        self.shared
            .external
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(origin)
            .cloned()
    }

    /// Rescans everything and swaps in the result if anything changed. Blocking.
    ///
    /// Files whose stamp (size, modification time, inode) is the one the last scan saw are not
    /// read again, and resources that did not change keep their place in the search index.
    pub fn reload(&self) -> ReloadOutcome {
        self.reload_with(None)
    }

    /// Records a reload that panicked (`fallback` when the panic carries no message) and keeps
    /// serving `current`.
    fn failed(
        &self,
        current: &CatalogSnapshot,
        panic: &(dyn std::any::Any + Send),
        fallback: &str,
    ) -> ReloadOutcome {
        let reason = jarvis_core::panic_message(panic)
            .unwrap_or(fallback)
            .to_owned();
        tracing::error!(generation = current.generation(), %reason, "catalog reload failed; keeping the last good snapshot");
        *self
            .shared
            .last_error
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(reason.clone());
        ReloadOutcome::Failed {
            generation: current.generation(),
            reason,
        }
    }

    /// Rescans after a file watcher reported `changed` paths, taking every other file and
    /// folder as the last scan saw it — without listing folders or checking stamps. The
    /// caller vouches that nothing else changed; a periodic [`LiveCatalog::reload`] catches
    /// what a watcher missed. Blocking.
    pub fn reload_changed(&self, changed: &[PathBuf]) -> ReloadOutcome {
        self.reload_with(Some(changed))
    }

    fn reload_with(&self, changed: Option<&[PathBuf]>) -> ReloadOutcome {
        self.reload_from(changed, None)
    }

    /// Serves the catalog from the cache file just written, when the snapshot in service holds
    /// many bodies in memory (a start that read every file): a full rescan seeded with the
    /// file's parses, whose bodies stay in the file. Answers are unchanged; the generation
    /// moves by one.
    fn rebase_on_cache(&self, file: &CacheFile) {
        let held = self.snapshot().body_bytes();
        if held < REBASE_FROM_BYTES {
            return;
        }
        let started = std::time::Instant::now();
        let loaded = match persist::load(&file.path, file.settings) {
            Ok(loaded) => loaded,
            Err(e) => {
                tracing::warn!(path = %file.path.display(), reason = %e, "cannot read back the catalog cache just written; bodies stay in memory");
                return;
            }
        };
        let seed = CatalogSnapshot::seed(loaded.docs, loaded.index);
        let outcome = self.reload_from(None, Some((loaded.cache, &seed)));
        let now_held = self.snapshot().body_bytes();
        tracing::info!(
            ?outcome,
            bodies_in_memory_before = held,
            bodies_in_memory = now_held,
            took_ms = started.elapsed().as_millis() as u64,
            "catalog now reads its bodies from the cache file"
        );
    }

    /// A reload; with `base`, seeded with those parses and that snapshot's search index rather
    /// than the last scan's, and swapped in even when nothing changed on disk.
    fn reload_from(
        &self,
        changed: Option<&[PathBuf]>,
        base: Option<(ParseCache, &CatalogSnapshot)>,
    ) -> ReloadOutcome {
        let mut cache = self
            .shared
            .reload
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.shared
            .reloads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let current = self.snapshot();
        let roots = &self.shared.roots;
        let external: Vec<External> = self
            .shared
            .external
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let stamp = self
            .shared
            .external_stamp
            .load(std::sync::atomic::Ordering::SeqCst);
        // Taken: a scan that panics leaves an empty cache, and the next scan reads everything.
        let mut previous = std::mem::take(&mut *cache);
        let mut index_base = &*current;
        let forced = base.is_some();
        if let Some((parses, snapshot)) = base {
            previous = parses;
            index_base = snapshot;
        }
        let result = catch_unwind(AssertUnwindSafe(|| {
            scan_incremental(roots, &external, stamp, previous, changed)
        }));
        let (out, next_cache) = match result {
            Ok(out) => out,
            Err(panic) => return self.failed(&current, &*panic, "scan panicked"),
        };
        *self
            .shared
            .last_error
            .write()
            .unwrap_or_else(PoisonError::into_inner) = None;
        *cache = next_cache;
        if !forced && current.generation() > 0 && out.fingerprint == current.fingerprint {
            tracing::debug!(generation = current.generation(), "rescan found no change");
            return ReloadOutcome::Unchanged(current.generation());
        }
        let generation = current.generation() + 1;
        let built = catch_unwind(AssertUnwindSafe(|| {
            CatalogSnapshot::from_rescan(generation, out, index_base)
        }));
        let snapshot = match built {
            Ok(snapshot) => Arc::new(snapshot),
            Err(panic) => {
                // The parses are sound, but start the next scan afresh all the same.
                *cache = ParseCache::default();
                return self.failed(&current, &*panic, "building the snapshot panicked");
            }
        };
        let stats = snapshot.stats();
        tracing::info!(
            generation,
            resources = snapshot.resources().len(),
            diagnostics = snapshot.diagnostics().len(),
            files_parsed = stats.reuse.parsed,
            files_reused = stats.reuse.reused,
            indexed = stats.indexed,
            scan_ms = stats.duration.as_millis() as u64,
            index_ms = stats.index_duration.as_millis() as u64,
            took_ms = (stats.duration + stats.index_duration).as_millis() as u64,
            "catalog reloaded"
        );
        *self
            .shared
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = snapshot.clone();
        if let Some(file) = &self.shared.cache_file {
            CacheFile::schedule(file, snapshot.fingerprint);
        }
        for listener in self
            .shared
            .listeners
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            listener(&snapshot);
        }
        ReloadOutcome::Swapped(generation)
    }
}

/// What a start made of the cache file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheStart {
    /// There was none (the first start, or it was deleted): every file was read.
    Missing,
    /// It was read: only files changed since it was written were read.
    Loaded,
    /// It could not be used (damaged, another version, other settings): every file was read.
    Unusable,
}

/// Where a catalog keeps its cache, and how loading and saving it went.
#[derive(Debug, Clone, Serialize)]
pub struct CacheStatus {
    /// The file.
    pub path: PathBuf,
    /// What the start made of it.
    pub start: CacheStart,
    /// How many parsed files the start took from it.
    pub files_loaded: usize,
    /// How long reading it took, in milliseconds.
    pub load_ms: f64,
    /// Why it could not be used, when it could not.
    pub reason: Option<String>,
    /// How many times it was written since the start.
    pub saves: u64,
    /// When it was last written, in milliseconds since the Unix epoch.
    pub saved_at_ms: Option<u64>,
    /// Why the last write failed, when it did (cleared by the next one that succeeds).
    pub save_error: Option<String>,
}

/// The catalog's cache file, and the write waiting to happen.
struct CacheFile {
    path: PathBuf,
    settings: u64,
    /// The fingerprint of the scan the file on disk holds: a scan with the same one has
    /// nothing new to write.
    written: Mutex<Option<u64>>,
    /// Set when the catalog is dropped.
    dropped: std::sync::atomic::AtomicBool,
    /// The catalog, to serve from the file once it is written (see
    /// [`LiveCatalog::rebase_on_cache`]).
    catalog: Mutex<std::sync::Weak<Shared>>,
    status: Mutex<CacheStatus>,
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    /// When the catalog last moved past what the file holds: the write waits for it to be
    /// quiet.
    since: Option<std::time::Instant>,
    /// When the oldest unwritten change was scheduled: a catalog that never goes quiet is
    /// still written this often.
    first: Option<std::time::Instant>,
    writer_running: bool,
}

/// What one write of the cache needs: a scan's parses and the snapshot built from them.
struct SaveJob {
    entries: Vec<(Box<[u8]>, Box<Parsed>)>,
    snapshot: Arc<CatalogSnapshot>,
}

/// Bodies held in memory beyond this make the catalog serve from its cache file once written.
const REBASE_FROM_BYTES: usize = 8 << 20;
/// How long the catalog must go without a reload before its cache is written.
const SAVE_QUIET: Duration = Duration::from_secs(3);
/// The longest a change waits to be written when reloads keep coming.
const SAVE_AT_MOST_EVERY: Duration = Duration::from_secs(60);

impl CacheFile {
    /// Notes that the catalog moved to a scan with `fingerprint` and starts the writer thread if
    /// it is not running; the writer takes what to write when it writes. Nothing is copied on
    /// the reload's path.
    fn schedule(file: &Arc<CacheFile>, fingerprint: u64) {
        if file.holds(fingerprint) {
            return;
        }
        let now = std::time::Instant::now();
        let mut pending = file.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.since = Some(now);
        pending.first.get_or_insert(now);
        if pending.writer_running {
            return;
        }
        pending.writer_running = true;
        drop(pending);
        let writer = Arc::clone(file);
        let spawned = std::thread::Builder::new()
            .name("catalog-cache".into())
            .spawn(move || writer.run_writer());
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the catalog cache writer; the cache is not updated");
            let mut pending = file.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending.writer_running = false;
        }
    }

    /// Waits for a quiet moment, writes what the catalog then holds, and ends when nothing is
    /// left to write (or the catalog is gone).
    fn run_writer(&self) {
        loop {
            {
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                let dropped = self.dropped.load(std::sync::atomic::Ordering::SeqCst);
                let (Some(since), Some(first), false) = (pending.since, pending.first, dropped)
                else {
                    pending.writer_running = false;
                    return;
                };
                let due = (since + SAVE_QUIET).min(first + SAVE_AT_MOST_EVERY);
                let now = std::time::Instant::now();
                if now < due {
                    drop(pending);
                    std::thread::sleep(due - now);
                    continue;
                }
                pending.since = None;
                pending.first = None;
            }
            let catalog = self
                .catalog
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .upgrade()
                .map(|shared| LiveCatalog { shared });
            if let Some(catalog) = catalog
                && self.write(catalog.save_job()).is_ok()
            {
                catalog.rebase_on_cache(self);
            }
        }
    }

    /// Whether the file already holds the scan with `fingerprint`.
    fn holds(&self, fingerprint: u64) -> bool {
        *self.written.lock().unwrap_or_else(PoisonError::into_inner) == Some(fingerprint)
    }

    fn write(&self, job: SaveJob) -> std::io::Result<()> {
        if self.holds(job.snapshot.fingerprint) {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let result = persist::save(
            &self.path,
            self.settings,
            job.snapshot.fingerprint,
            &job.entries,
            job.snapshot.resources(),
            &job.snapshot.index,
        );
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(saved) => {
                *self.written.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(job.snapshot.fingerprint);
                status.saves += 1;
                status.saved_at_ms = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .ok()
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                status.save_error = None;
                tracing::debug!(path = %self.path.display(), files = saved.files, resources = saved.resources, bytes = saved.bytes, generation = job.snapshot.generation(), took_ms = started.elapsed().as_millis() as u64, "catalog cache written");
                Ok(())
            }
            Err(e) => {
                status.save_error = Some(e.to_string());
                tracing::warn!(path = %self.path.display(), error = %e, "cannot write the catalog cache; the next start reads every file");
                Err(e)
            }
        }
    }
}
