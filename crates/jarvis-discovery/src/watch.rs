//! Keeping the catalog current: a debounced file watcher plus a periodic full rescan.
//!
//! The watcher (`notify` behind `notify-debouncer-full`) coalesces an editor's burst of events
//! into one batch; a dedicated thread turns each relevant batch into a [`LiveCatalog::reload`].
//! The periodic rescan catches what a watcher can miss (network filesystems, folders created
//! after start-up, dropped events). Both run on their own thread, never on an async executor.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer};

use crate::catalog::LiveCatalog;
use crate::error::{Error, Result};

/// How the watcher behaves.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// Whether to watch the filesystem at all (the periodic rescan runs either way).
    pub watch_files: bool,
    /// How long a burst of events is coalesced.
    pub debounce: Duration,
    /// How often a full rescan runs; `None` disables it.
    pub rescan_interval: Option<Duration>,
}

enum Message {
    Changed(Vec<PathBuf>),
    WatchError(String),
    Stop,
}

/// A running watcher. Dropping it stops the watcher and its thread.
///
/// ```
/// use std::{collections::BTreeMap, time::Duration};
/// use jarvis_discovery::{CatalogWatcher, DiscoveryConfig, Environment, LiveCatalog, ResourceKind};
///
/// let home = tempfile::tempdir()?;
/// let agents = home.path().join(".claude/agents");
/// std::fs::create_dir_all(&agents)?;
/// let env = Environment { home: Some(home.path().to_owned()), vars: BTreeMap::new() };
/// let config = DiscoveryConfig::default();
/// let catalog = LiveCatalog::load(config.resolve(&env)?);
/// let watcher = CatalogWatcher::start(catalog.clone(), config.watch_options())?;
///
/// // Every reload swaps in a new snapshot; listeners hear it on the watcher's thread.
/// let (tx, rx) = std::sync::mpsc::channel();
/// catalog.on_swap(move |snapshot| { let _ = tx.send(snapshot.generation()); });
///
/// std::fs::write(agents.join("planner.md"), "---\nname: planner\ndescription: Plans work\n---\n")?;
/// rx.recv_timeout(Duration::from_secs(10))?; // within the debounce (50 ms by default)
/// assert_eq!(catalog.snapshot().stats().kinds[&ResourceKind::Agent].active, 1);
/// drop(watcher); // stops watching
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CatalogWatcher {
    stop: mpsc::Sender<Message>,
    thread: Option<JoinHandle<()>>,
    watched: Vec<PathBuf>,
    // Dropping the debouncer stops delivery; it lives as long as the watcher.
    _debouncer: Option<
        notify_debouncer_full::Debouncer<
            notify::RecommendedWatcher,
            notify_debouncer_full::RecommendedCache,
        >,
    >,
}

impl std::fmt::Debug for CatalogWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogWatcher")
            .field("watched", &self.watched)
            .finish_non_exhaustive()
    }
}

impl CatalogWatcher {
    /// Starts watching `catalog`'s roots.
    pub fn start(catalog: LiveCatalog, options: WatchOptions) -> Result<CatalogWatcher> {
        let (tx, rx) = mpsc::channel::<Message>();
        let mut watched = Vec::new();
        let debouncer = if options.watch_files {
            let events = tx.clone();
            let mut debouncer = new_debouncer(
                options.debounce,
                None,
                move |result: DebounceEventResult| {
                    let message = match result {
                        // The kernel dropped events (a queue overflow): what changed is
                        // unknown, so everything is looked at.
                        Ok(events) if events.iter().any(|e| e.event.need_rescan()) => {
                            Message::WatchError("events were dropped (queue overflow)".into())
                        }
                        Ok(events) => {
                            let changed: Vec<PathBuf> = events
                                .into_iter()
                                .filter(|e| changes_content(e.event.kind))
                                .flat_map(|e| e.event.paths)
                                .collect();
                            if changed.is_empty() {
                                return;
                            }
                            Message::Changed(changed)
                        }
                        Err(errors) => Message::WatchError(
                            errors
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join("; "),
                        ),
                    };
                    // The receiver is gone only while shutting down.
                    let _ = events.send(message);
                },
            )?;
            for (path, mode) in watch_targets(&catalog) {
                match debouncer.watch(&path, mode) {
                    Ok(()) => watched.push(path),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot watch; the periodic rescan still covers it")
                    }
                }
            }
            Some(debouncer)
        } else {
            None
        };
        let relevant = watched.clone();
        let thread = std::thread::Builder::new()
            .name("jarvis-catalog-watch".into())
            .spawn(move || run(catalog, rx, options.rescan_interval, relevant))
            .map_err(|source| Error::Thread {
                what: "catalog watcher",
                source,
            })?;
        tracing::info!(paths = watched.len(), "watching resource folders");
        Ok(CatalogWatcher {
            stop: tx,
            thread: Some(thread),
            watched,
            _debouncer: debouncer,
        })
    }

    /// The paths being watched.
    pub fn watched(&self) -> &[PathBuf] {
        &self.watched
    }
}

impl Drop for CatalogWatcher {
    fn drop(&mut self) {
        let _ = self.stop.send(Message::Stop);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("catalog watcher thread panicked");
        }
    }
}

/// What to watch: each existing root, recursively for folders.
fn watch_targets(catalog: &LiveCatalog) -> Vec<(PathBuf, RecursiveMode)> {
    let roots = catalog.roots();
    let mut targets = Vec::new();
    let add = |targets: &mut Vec<(PathBuf, RecursiveMode)>, path: &Path| {
        if path.is_dir() {
            targets.push((path.to_path_buf(), RecursiveMode::Recursive));
        } else if path.is_file() {
            // Editors replace files by renaming; watching the file itself would lose track.
            if let Some(parent) = path.parent() {
                targets.push((parent.to_path_buf(), RecursiveMode::NonRecursive));
            }
        }
    };
    if let Some(root) = &roots.claude_dir {
        add(&mut targets, &root.path);
    }
    if let Some(root) = &roots.claude_json {
        add(&mut targets, &root.path);
    }
    if let Some(root) = &roots.desktop_config {
        add(&mut targets, &root.path);
    }
    for project in &roots.projects {
        let claude = project.path.join(".claude");
        add(&mut targets, &claude);
        targets.push((project.path.clone(), RecursiveMode::NonRecursive));
    }
    for path in &roots.workflow_paths {
        add(&mut targets, path);
    }
    targets.sort_by(|a, b| a.0.cmp(&b.0));
    targets.dedup_by(|a, b| a.0 == b.0);
    targets
}

fn run(
    catalog: LiveCatalog,
    rx: mpsc::Receiver<Message>,
    interval: Option<Duration>,
    _watched: Vec<PathBuf>,
) {
    // A long timeout stands in for "never" when periodic rescans are off.
    let timeout = interval.unwrap_or(Duration::from_secs(60 * 60 * 24 * 365));
    loop {
        match rx.recv_timeout(timeout) {
            Ok(Message::Changed(paths)) => {
                if paths.iter().any(|p| is_relevant(p)) {
                    tracing::debug!(events = paths.len(), "resource files changed");
                    catalog.reload_changed(&paths);
                }
            }
            Ok(Message::WatchError(error)) => {
                tracing::warn!(%error, "file watcher reported an error; rescanning");
                catalog.reload();
            }
            Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                if interval.is_some() {
                    catalog.reload();
                }
            }
        }
    }
}

/// Whether an event can change what a scan reads. Opening and reading a file (`Access`) does
/// not — and a rescan itself opens every file, so counting those would make every rescan
/// trigger the next one.
fn changes_content(kind: notify::EventKind) -> bool {
    !matches!(kind, notify::EventKind::Access(_))
}

/// Whether a changed path can affect the catalog: Markdown and JSON files, folders (whose
/// creation, removal or renaming moves whole sets of files), and any file in a skill folder
/// (listed with the skill).
fn is_relevant(path: &Path) -> bool {
    if path
        .parent()
        .is_some_and(|dir| dir.components().any(|c| c.as_os_str() == "skills"))
    {
        return true;
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) => {
            ext.eq_ignore_ascii_case("md") || ext.eq_ignore_ascii_case("json") || path.is_dir()
        }
        // No extension: a folder, or a file we may list inside a skill.
        None => true,
    }
}
