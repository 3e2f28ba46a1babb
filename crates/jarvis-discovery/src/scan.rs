//! One full scan: every source read once, into resources and diagnostics.
//!
//! A scan never fails as a whole. Each source (agents, commands, skills, MCP configs, workflow
//! exports) adds what it can understand and a diagnostic for everything it cannot; precedence is
//! then applied across scopes. The scan also computes a fingerprint of every file it read (path,
//! size, modification time) so that a periodic rescan that finds nothing new can be recognised
//! and does not disturb caches built on the catalog generation.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use jarvis_core::{Diagnostic, DiagnosticCode, Resource, Scope};
use rustc_hash::FxHashMap;

use crate::config::{Root, ScanRoots};
use crate::precedence;
use crate::sources::{agents, commands, mcp, skills, workflows};
use crate::text::{FileStamp, FileText, nanos, read_text};

/// What one scan produced.
#[derive(Debug, Default)]
pub struct ScanOutput {
    /// Every resource found, shadowed ones included. Resources that did not change since the
    /// previous scan are the previous scan's own (the same `Arc`).
    pub resources: Vec<Arc<Resource>>,
    /// Every problem found.
    pub diagnostics: Vec<Diagnostic>,
    /// How many files were read.
    pub files_read: usize,
    /// A hash of every read file's path, size and modification time, and of every folder seen.
    pub fingerprint: u64,
    /// How long the scan took.
    pub duration: Duration,
    /// How many files were parsed and how many were taken from the previous scan.
    pub reuse: ReuseStats,
}

/// What is recorded of a read once its text is no longer needed.
#[derive(Debug, Clone)]
struct ReadFacts {
    stamp: FileStamp,
    not_utf8: Option<Diagnostic>,
    empty: bool,
}

impl ReadFacts {
    fn of(file: &mut FileText) -> ReadFacts {
        ReadFacts {
            stamp: file.stamp,
            not_utf8: file.not_utf8.take(),
            empty: file.text.trim().is_empty(),
        }
    }
}

/// What one scan parsed, file by file, for the next scan to reuse: a rescan after one file
/// changed reads and parses that file only. Entries hold what the parse returned (resources
/// behind `Arc`s, shared with the snapshot) and the diagnostics it pushed. A scan keeps the
/// entries of the files it saw, so a deleted file's entry goes with the scan after it.
#[derive(Default)]
pub struct ParseCache {
    /// By path, as bytes (hashing a `Path` walks its components).
    entries: FxHashMap<Box<[u8]>, Parsed>,
}

impl std::fmt::Debug for ParseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParseCache")
            .field("files", &self.entries.len())
            .finish()
    }
}

impl ParseCache {
    /// How many files the cache remembers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache remembers no file.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A path as the cache's key.
fn key(path: &Path) -> &[u8] {
    path.as_os_str().as_encoded_bytes()
}

/// One file's parse.
#[derive(Clone)]
struct Parsed {
    facts: ReadFacts,
    /// What the source's own dependencies looked like (a skill's folder listing).
    depends: u64,
    /// Whether the stamp can vouch for the content (see [`FileStamp::settled_at`]).
    settled: bool,
    diags: Vec<Diagnostic>,
    value: Option<Arc<dyn Any + Send + Sync>>,
}

/// How many files a scan read and how many it took from the previous scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReuseStats {
    /// Files read and parsed (files that could not be read are in neither count).
    pub parsed: usize,
    /// Files whose stamp had not changed, taken from the previous scan.
    pub reused: usize,
}

/// The state of a scan in progress, handed to each source.
#[derive(Debug)]
pub(crate) struct Scan<'a> {
    pub roots: &'a ScanRoots,
    pub out: ScanOutput,
    previous: ParseCache,
    next: ParseCache,
    hash: u64,
}

impl<'a> Scan<'a> {
    fn new(roots: &'a ScanRoots, previous: ParseCache) -> Self {
        Scan {
            roots,
            out: ScanOutput::default(),
            previous,
            next: ParseCache::default(),
            hash: 0xcbf2_9ce4_8422_2325,
        }
    }

    /// Reads a file, recording it in the fingerprint; a failure becomes a diagnostic.
    pub(crate) fn read(&mut self, path: &Path) -> Option<FileText> {
        match read_text(path, self.roots.max_file_bytes) {
            Ok(mut file) => self
                .record(path, Ok(ReadFacts::of(&mut file)))
                .then_some(file),
            Err(diag) => {
                self.record(path, Err(diag));
                None
            }
        }
    }

    /// Reads and parses many files on all cores, then records them in order, so the outcome is
    /// the same as reading them one by one. `parse` gets the path and the normalized text and
    /// pushes its diagnostics; files that could not be read or are empty yield nothing. A file
    /// whose stamp is the one the previous scan parsed is not read again: its value and
    /// diagnostics are taken from that scan.
    pub(crate) fn read_all<T: Clone + Send + Sync + 'static>(
        &mut self,
        paths: &[PathBuf],
        parse: impl Fn(&Path, &str, &mut Vec<Diagnostic>) -> T + Sync,
    ) -> Vec<T> {
        self.read_all_depending(paths, |_| 0, parse)
    }

    /// [`Scan::read_all`] for parses that look beyond their file: `depends` sums up what else
    /// the parse reads (a skill's folder listing), and a change to it parses the file again.
    pub(crate) fn read_all_depending<T: Clone + Send + Sync + 'static>(
        &mut self,
        paths: &[PathBuf],
        depends: impl Fn(&Path) -> u64 + Sync,
        parse: impl Fn(&Path, &str, &mut Vec<Diagnostic>) -> T + Sync,
    ) -> Vec<T> {
        let max = self.roots.max_file_bytes;
        let previous = &self.previous;
        // Each worker drops a file's text as soon as it is parsed: only the parsed values (with
        // compressed bodies) and the facts of the read travel back, which keeps memory low. A
        // worker that finds the previous parse still good says so; the entry itself is moved
        // over below, on this thread.
        let results = parallel_map(paths, |path| {
            let depends = depends(path);
            if let Some(before) = previous.entries.get(key(path))
                && before.settled
                && before.depends == depends
                && FileStamp::read(path) == Some(before.facts.stamp)
                && before
                    .value
                    .as_ref()
                    .is_none_or(|value| value.downcast_ref::<T>().is_some())
            {
                return (Ok(None), true);
            }
            let read_at = nanos(Some(SystemTime::now()));
            match read_text(path, max) {
                Ok(mut file) => {
                    let facts = ReadFacts::of(&mut file);
                    let mut diags = Vec::new();
                    let value = (!facts.empty).then(|| parse(path, &file.text, &mut diags));
                    let parsed = Parsed {
                        settled: facts.stamp.settled_at(read_at),
                        facts,
                        depends,
                        diags,
                        value: value.map(|v| Arc::new(v) as Arc<dyn Any + Send + Sync>),
                    };
                    (Ok(Some(parsed)), false)
                }
                Err(diag) => (Err(diag), false),
            }
        });
        let mut values = Vec::with_capacity(results.len());
        for (path, (parsed, reused)) in paths.iter().zip(results) {
            let parsed = match parsed {
                Ok(Some(parsed)) => parsed,
                // A path listed twice in one scan finds its entry moved already.
                Ok(None) => match self
                    .previous
                    .entries
                    .remove(key(path))
                    .or_else(|| self.next.entries.get(key(path)).cloned())
                {
                    Some(parsed) => parsed,
                    None => continue,
                },
                Err(diag) => {
                    self.record(path, Err(diag));
                    continue;
                }
            };
            if reused {
                self.out.reuse.reused += 1;
            } else {
                self.out.reuse.parsed += 1;
            }
            if self.record(path, Ok(parsed.facts.clone())) {
                if reused {
                    // Logged when the file was parsed; the diagnostics stay in the catalog.
                    self.out.diagnostics.extend(parsed.diags.iter().cloned());
                } else {
                    for diag in &parsed.diags {
                        self.diag(diag.clone());
                    }
                }
                values.extend(
                    parsed
                        .value
                        .as_ref()
                        .and_then(|value| value.downcast_ref::<T>())
                        .cloned(),
                );
            }
            self.next.entries.insert(key(path).into(), parsed);
        }
        values
    }

    /// Records a read in the fingerprint and diagnostics; `true` when there is text to parse.
    fn record(&mut self, path: &Path, facts: Result<ReadFacts, Diagnostic>) -> bool {
        self.mix(path.as_os_str().as_encoded_bytes());
        match facts {
            Ok(facts) => {
                self.out.files_read += 1;
                self.mix(&facts.stamp.bytes.to_le_bytes());
                self.mix(&facts.stamp.mtime_ns.to_le_bytes());
                self.mix(&facts.stamp.node.to_le_bytes());
                if let Some(diag) = facts.not_utf8 {
                    self.out.diagnostics.push(diag);
                }
                if facts.empty {
                    self.diag(Diagnostic::new(
                        DiagnosticCode::EmptyFile,
                        path,
                        "file is empty; skipped",
                    ));
                }
                !facts.empty
            }
            Err(diag) => {
                self.diag(diag);
                false
            }
        }
    }

    /// Records that a path was seen without being read (folders, listed skill files), so that
    /// creating or deleting one changes the fingerprint.
    pub(crate) fn saw(&mut self, path: &Path, bytes: u64) {
        self.mix(path.as_os_str().as_encoded_bytes());
        self.mix(&bytes.to_le_bytes());
    }

    pub(crate) fn diag(&mut self, diag: Diagnostic) {
        match diag.severity {
            jarvis_core::Severity::Error => {
                tracing::warn!(path = %diag.path.display(), code = %diag.code, "{}", diag.message);
            }
            _ => {
                tracing::debug!(path = %diag.path.display(), code = %diag.code, "{}", diag.message)
            }
        }
        self.out.diagnostics.push(diag);
    }

    pub(crate) fn diag_all(&mut self, diags: Vec<Diagnostic>) {
        for diag in diags {
            self.diag(diag);
        }
    }

    pub(crate) fn diags(&mut self) -> &mut Vec<Diagnostic> {
        &mut self.out.diagnostics
    }

    pub(crate) fn push(&mut self, resource: Resource) {
        self.out.resources.push(Arc::new(resource));
    }

    pub(crate) fn push_shared(&mut self, resource: Arc<Resource>) {
        self.out.resources.push(resource);
    }

    fn mix(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.hash ^= u64::from(b);
            self.hash = self.hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.hash ^= 0xff;
        self.hash = self.hash.wrapping_mul(0x0000_0100_0000_01b3);
    }

    /// Reports a missing location: an error-level diagnostic if the user named it (it existed at
    /// start-up and has since gone), info if it was only a default.
    pub(crate) fn root_missing(&mut self, root: &Root, what: &str) {
        let diag = Diagnostic::new(
            DiagnosticCode::RootMissing,
            &root.path,
            format!("{what} does not exist; nothing to load there"),
        );
        let diag = if root.explicit {
            diag.with_severity(jarvis_core::Severity::Warning)
        } else {
            diag
        };
        self.diag(diag);
    }
}

/// Maps `f` over `items` on up to `available_parallelism` threads, keeping the order.
pub(crate) fn parallel_map<I: Sync, T: Send>(items: &[I], f: impl Fn(&I) -> T + Sync) -> Vec<T> {
    parallel_chunks(items, |chunk| chunk.iter().map(&f).collect::<Vec<T>>())
        .into_iter()
        .flatten()
        .collect()
}

/// Splits `items` into one contiguous chunk per available core and runs `f` on each chunk on its
/// own thread; the results come back in chunk order. Small inputs run on the calling thread.
pub(crate) fn parallel_chunks<I: Sync, T: Send>(
    items: &[I],
    f: impl Fn(&[I]) -> T + Sync,
) -> Vec<T> {
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(8);
    if workers <= 1 || items.len() < 64 {
        return vec![f(items)];
    }
    let chunk = items.len().div_ceil(workers);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || f(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(value) => value,
                // Re-raise a worker's panic on this thread, where `LiveCatalog::reload` catches it.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// Scans everything `roots` names. Blocking: run it on a blocking thread.
pub fn scan(roots: &ScanRoots) -> ScanOutput {
    scan_with(roots, &[], 0)
}

/// [`scan_with`], reusing what `previous` parsed for every file whose stamp has not changed
/// (pass `ParseCache::default()` for a first scan); returns the scan and what the next scan can
/// reuse.
pub fn scan_incremental(
    roots: &ScanRoots,
    external: &[External],
    stamp: u64,
    previous: ParseCache,
) -> (ScanOutput, ParseCache) {
    let mut scan = Scan::new(roots, previous);
    run(&mut scan, external, stamp);
    (scan.out, scan.next)
}

/// Resources a live source supplied (n8n's API), merged into every scan until replaced.
#[derive(Debug, Clone, Default)]
pub struct External {
    /// The resources.
    pub resources: Vec<Arc<Resource>>,
    /// What went wrong fetching them.
    pub diagnostics: Vec<Diagnostic>,
}

/// [`scan`], plus resources from live sources; `stamp` changes whenever they do, so the
/// fingerprint notices.
pub fn scan_with(roots: &ScanRoots, external: &[External], stamp: u64) -> ScanOutput {
    let mut scan = Scan::new(roots, ParseCache::default());
    run(&mut scan, external, stamp);
    scan.out
}

fn run(scan: &mut Scan<'_>, external: &[External], stamp: u64) {
    let started = Instant::now();
    let roots = scan.roots;

    if let Some(root) = &roots.claude_dir {
        if root.path.is_dir() {
            scan_claude_folder(scan, &root.path, Scope::User, None);
        } else {
            scan.root_missing(root, "the Claude folder");
        }
    }
    for project in &roots.projects {
        let claude = project.path.join(".claude");
        if claude.is_dir() {
            scan_claude_folder(scan, &claude, Scope::Project, Some(&project.path));
        }
    }
    mcp::scan_all(scan);
    for path in &roots.workflow_paths {
        workflows::scan_path(scan, path);
    }
    for source in external {
        scan.out.resources.extend(source.resources.iter().cloned());
        scan.out
            .diagnostics
            .extend(source.diagnostics.iter().cloned());
    }
    scan.mix(&stamp.to_le_bytes());

    precedence::apply(&mut scan.out.resources, &mut scan.out.diagnostics);
    scan.out.resources.sort_by(|a, b| {
        (a.kind, &a.qualified_name, a.scope, &a.source).cmp(&(
            b.kind,
            &b.qualified_name,
            b.scope,
            &b.source,
        ))
    });
    scan.out.fingerprint = scan.hash;
    scan.out.duration = started.elapsed();
}

/// Scans one `.claude`-style folder: `agents/`, `commands/`, `skills/`.
fn scan_claude_folder(scan: &mut Scan<'_>, dir: &Path, scope: Scope, project: Option<&Path>) {
    let project: Option<PathBuf> = project.map(Path::to_path_buf);
    let agents = dir.join("agents");
    if agents.is_dir() {
        agents::scan(scan, &agents, scope, project.as_deref());
    }
    let commands = dir.join("commands");
    if commands.is_dir() {
        commands::scan(scan, &commands, scope, project.as_deref());
    }
    let skills = dir.join("skills");
    if skills.is_dir() {
        skills::scan(scan, &skills, scope, project.as_deref());
    }
    scan.saw(dir, 0);
}
