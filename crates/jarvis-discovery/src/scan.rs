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
use std::time::{Duration, SystemTime};

use jarvis_core::{Diagnostic, DiagnosticCode, Resource};
use std::hash::Hasher;

use rustc_hash::{FxHashMap, FxHasher};

use crate::config::{Root, ScanRoots};
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
pub(crate) struct ReadFacts {
    pub(crate) stamp: FileStamp,
    pub(crate) not_utf8: Option<Diagnostic>,
    pub(crate) empty: bool,
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
    pub(crate) entries: FxHashMap<Box<[u8]>, Box<Parsed>>,
    /// Folder listings by root and kind of listing, for scans told what changed.
    listings: FxHashMap<(Box<[u8]>, u8), Shared>,
    /// What each batch of files (one [`Scan::read_all`]) added to the scan, by a hash of its
    /// paths: a scan told what changed takes a batch none of whose files changed whole.
    batches: FxHashMap<u64, Batch>,
}

/// What one batch of files added to a scan.
struct Batch {
    /// Its part of the fingerprint.
    hash: u64,
    files_read: usize,
    /// How many of its files had a parse.
    parsed: usize,
    diagnostics: Vec<Diagnostic>,
    /// The values, a `Vec<T>`.
    values: Shared,
    /// Whether every parse can be trusted by its stamp (none was racily written).
    settled: bool,
}

impl std::fmt::Debug for ParseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParseCache")
            .field("files", &self.entries.len())
            .field("listings", &self.listings.len())
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

/// Whether `path` is `ancestor` or below it, comparing bytes (`Path::starts_with` parses
/// components, and this runs for every file of a scan told what changed).
fn within(path: &Path, ancestor: &Path) -> bool {
    let (p, a) = (key(path), key(ancestor));
    p.starts_with(a)
        && (p.len() == a.len()
            || a.last()
                .is_some_and(|&b| std::path::is_separator(char::from(b)))
            || std::path::is_separator(char::from(p[a.len()])))
}

/// A value of some type a source chose, shared between scans.
pub(crate) type Shared = Arc<dyn Any + Send + Sync>;

/// A hash of a batch's paths, in order.
fn paths_hash(paths: &[PathBuf]) -> u64 {
    let mut hash = FxHasher::default();
    for path in paths {
        write_field(&mut hash, key(path));
    }
    hash.finish()
}

/// Writes `bytes` and then their length, so that two fields cannot run into each other.
fn write_field(hash: &mut FxHasher, bytes: &[u8]) {
    hash.write(bytes);
    hash.write_usize(bytes.len());
}

/// A path as the cache's key.
fn key(path: &Path) -> &[u8] {
    path.as_os_str().as_encoded_bytes()
}

/// One file's parse.
#[derive(Clone)]
pub(crate) struct Parsed {
    pub(crate) facts: ReadFacts,
    /// What the source's own dependencies looked like (a skill's folder listing).
    pub(crate) depends: u64,
    /// Whether the stamp can vouch for the content (see [`FileStamp::settled_at`]).
    pub(crate) settled: bool,
    pub(crate) diags: Vec<Diagnostic>,
    pub(crate) value: Option<Shared>,
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
pub(crate) struct Scan<'a> {
    pub roots: &'a ScanRoots,
    pub out: ScanOutput,
    previous: ParseCache,
    pub(crate) next: ParseCache,
    /// The paths the file watcher reported changed, when this scan was triggered by it: every
    /// other file and folder is taken as the previous scan left it, without a system call.
    /// `None` checks every file's stamp and lists every folder.
    changed: Option<&'a [PathBuf]>,
    pub(crate) hash: FxHasher,
}

impl<'a> Scan<'a> {
    pub(crate) fn new(
        roots: &'a ScanRoots,
        previous: ParseCache,
        changed: Option<&'a [PathBuf]>,
    ) -> Self {
        let next = ParseCache {
            batches: FxHashMap::default(),
            entries: FxHashMap::with_capacity_and_hasher(
                previous.entries.len(),
                Default::default(),
            ),
            listings: FxHashMap::default(),
        };
        Scan {
            roots,
            out: ScanOutput::default(),
            previous,
            next,
            changed,
            hash: FxHasher::default(),
        }
    }

    /// Whether nothing at or below `path`, and nothing above it, was reported changed, in a
    /// scan told what changed.
    fn untouched(&self, path: &Path) -> bool {
        self.changed
            .is_some_and(|changed| !changed.iter().any(|c| within(c, path) || within(path, c)))
    }

    /// The changed paths at or below `root` (empty in a full scan).
    fn changed_below(&self, root: &Path) -> Vec<&'a Path> {
        self.changed
            .unwrap_or_default()
            .iter()
            .filter(|c| within(c, root) || within(root, c))
            .map(PathBuf::as_path)
            .collect()
    }

    /// A listing of `root` (`kind` tells listings of one root apart): the previous scan's when
    /// this scan was told what changed and `still_valid` holds for the previous listing and the
    /// changed paths at or below `root`; else `list` runs. Either way the listing is kept for
    /// the next scan.
    pub(crate) fn listing<T: Clone + Send + Sync + 'static>(
        &mut self,
        root: &Path,
        kind: u8,
        still_valid: impl FnOnce(&T, &[&Path]) -> bool,
        list: impl FnOnce(&mut Self) -> T,
    ) -> T {
        let key = (Box::<[u8]>::from(key(root)), kind);
        let reused = if self.changed.is_some() {
            let changed = self.changed_below(root);
            self.previous
                .listings
                .remove(&key)
                .and_then(|any| any.downcast_ref::<T>().cloned())
                .filter(|before| still_valid(before, &changed))
        } else {
            None
        };
        let value = match reused {
            Some(value) => value,
            None => list(self),
        };
        self.next.listings.insert(key, Arc::new(value.clone()));
        value
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
        self.read_all_depending(paths, |path| path, |_, _| 0, parse)
    }

    /// [`Scan::read_all`] for parses that look beyond their file: `reach` is the part of the
    /// tree a parse reads (a skill's folder), `depends` sums up what else it reads (the
    /// folder's listing), and a change to either parses the file again. `depends` is given the
    /// parse when there is one, to derive the sum from it rather than look again.
    pub(crate) fn read_all_depending<T: Clone + Send + Sync + 'static>(
        &mut self,
        paths: &[PathBuf],
        reach: impl for<'p> Fn(&'p Path) -> &'p Path + Sync,
        depends: impl Fn(&Path, Option<&T>) -> u64 + Sync,
        parse: impl Fn(&Path, &str, &mut Vec<Diagnostic>) -> T + Sync,
    ) -> Vec<T> {
        let batch_key = paths_hash(paths);
        if let Some(values) = self.reuse_batch::<T>(batch_key, paths, &reach) {
            return values;
        }
        // The batch's files go into a fingerprint of their own, mixed into the scan's as one
        // value: a later scan can take the batch whole and mix the same value.
        let outer = std::mem::take(&mut self.hash);
        let diagnostics_before = self.out.diagnostics.len();
        let files_read_before = self.out.files_read;
        let max = self.roots.max_file_bytes;
        let previous = &self.previous;
        let this = &*self;
        // Each worker drops a file's text as soon as it is parsed: only the parsed values (with
        // compressed bodies) and the facts of the read travel back, which keeps memory low. A
        // worker that finds the previous parse still good says so; the entry itself is moved
        // over below, on this thread.
        let results = parallel_map(paths, |path| {
            let before = previous.entries.get(key(path)).filter(|before| {
                before
                    .value
                    .as_ref()
                    .is_none_or(|value| value.downcast_ref::<T>().is_some())
            });
            // Told what changed, and nothing in this file's reach did: no need to look.
            if let Some(before) = before
                && before.settled
                && this.untouched(reach(path))
            {
                return (Ok(None), true);
            }
            if let Some(before) = before
                && before.settled
                && before.depends == depends(path, None)
                && FileStamp::read(path) == Some(before.facts.stamp)
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
                        depends: depends(path, value.as_ref()),
                        diags,
                        value: value.map(|v| Arc::new(v) as Shared),
                    };
                    (Ok(Some(Box::new(parsed))), false)
                }
                Err(diag) => (Err(diag), false),
            }
        });
        let mut values = Vec::with_capacity(results.len());
        let (mut with_parse, mut settled) = (0, true);
        for (path, (parsed, reused)) in paths.iter().zip(results) {
            let (old_key, parsed) = match parsed {
                Ok(Some(parsed)) => (None, parsed),
                // A path listed twice in one scan finds its entry moved already.
                Ok(None) => match self.previous.entries.remove_entry(key(path)).or_else(|| {
                    self.next
                        .entries
                        .get_key_value(key(path))
                        .map(|(k, v)| (k.clone(), v.clone()))
                }) {
                    Some((key, parsed)) => (Some(key), parsed),
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
            with_parse += 1;
            settled &= parsed.settled;
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
            self.next
                .entries
                .insert(old_key.unwrap_or_else(|| key(path).into()), parsed);
        }
        let sub = std::mem::replace(&mut self.hash, outer).finish();
        self.hash.write_u64(sub);
        self.next.batches.insert(
            batch_key,
            Batch {
                hash: sub,
                files_read: self.out.files_read - files_read_before,
                parsed: with_parse,
                diagnostics: self.out.diagnostics[diagnostics_before..].to_vec(),
                values: Arc::new(values.clone()),
                settled,
            },
        );
        values
    }

    /// The values of the previous scan's batch of the same `paths`, in a scan told what
    /// changed, when nothing within the reach of any of them changed: its fingerprint part,
    /// diagnostics and parse entries are carried over without a look at any file.
    fn reuse_batch<T: Clone + Send + Sync + 'static>(
        &mut self,
        batch_key: u64,
        paths: &[PathBuf],
        reach: impl for<'p> Fn(&'p Path) -> &'p Path,
    ) -> Option<Vec<T>> {
        let changed = self.changed?;
        let batch = self.previous.batches.get(&batch_key)?;
        if !batch.settled
            || paths.iter().any(|path| {
                let reach = reach(path);
                changed.iter().any(|c| within(c, reach) || within(reach, c))
            })
        {
            return None;
        }
        let values = batch.values.downcast_ref::<Vec<T>>()?.clone();
        let batch = self.previous.batches.remove(&batch_key)?;
        for path in paths {
            if let Some((key, parsed)) = self.previous.entries.remove_entry(key(path)) {
                self.next.entries.insert(key, parsed);
            }
        }
        self.hash.write_u64(batch.hash);
        self.out.files_read += batch.files_read;
        self.out.reuse.reused += batch.parsed;
        self.out
            .diagnostics
            .extend(batch.diagnostics.iter().cloned());
        self.next.batches.insert(batch_key, batch);
        Some(values)
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

    /// [`Scan::saw`] for the file `relative` inside `folder`, without joining the two.
    pub(crate) fn saw_in(&mut self, folder: &Path, relative: &str, bytes: u64) {
        self.mix(folder.as_os_str().as_encoded_bytes());
        self.mix(relative.as_bytes());
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

    /// Mixes `bytes` into the fingerprint.
    pub(crate) fn mix(&mut self, bytes: &[u8]) {
        write_field(&mut self.hash, bytes);
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

    /// Reports a default location that could not be worked out because no home folder (nor
    /// `$CLAUDE_CONFIG_DIR`) was handed in: nothing is read there, and the scan says so.
    pub(crate) fn root_unknown(&mut self, path: &str, what: &str) {
        self.diag(Diagnostic::new(
            DiagnosticCode::RootUnknown,
            path,
            format!(
                "no home folder was given, so {path} ({what}) is not scanned; configure its \
                 path, or pass the process's environment (`Environment::from_process()`)"
            ),
        ));
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
