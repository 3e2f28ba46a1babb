//! A whole scan: which sources are read, in what order, and what happens to their resources
//! after (sorting, precedence, the fingerprint). The per-file machinery it drives is in `scan`;
//! the sources, which read through it, are in `sources`.

use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use jarvis_core::{Diagnostic, Resource, Scope};

use crate::config::ScanRoots;
use crate::precedence;
use crate::scan::{ParseCache, Scan, ScanOutput};
use crate::sources::{agents, commands, mcp, skills, workflows};

/// Scans everything `roots` names. Blocking: run it on a blocking thread.
pub fn scan(roots: &ScanRoots) -> ScanOutput {
    scan_with(roots, &[], 0)
}

/// [`scan_with`], reusing what `previous` parsed for every file whose stamp has not changed
/// (pass `ParseCache::default()` for a first scan); returns the scan and what the next scan can
/// reuse. With `changed` (the paths a file watcher reported), files and folders outside those
/// paths are taken as the previous scan saw them without even a `stat`: the caller vouches that
/// nothing else changed, and a periodic scan without `changed` catches what a watcher missed.
pub fn scan_incremental(
    roots: &ScanRoots,
    external: &[External],
    stamp: u64,
    previous: ParseCache,
    changed: Option<&[PathBuf]>,
) -> (ScanOutput, ParseCache) {
    let changed = changed.filter(|_| !previous.is_empty());
    let mut scan = Scan::new(roots, previous, changed);
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
    let mut scan = Scan::new(roots, ParseCache::default(), None);
    run(&mut scan, external, stamp);
    scan.out
}

fn run(scan: &mut Scan<'_>, external: &[External], stamp: u64) {
    let started = Instant::now();
    let roots = scan.roots;

    match &roots.claude_dir {
        Some(root) if root.path.is_dir() => {
            scan_claude_folder(scan, &root.path, Scope::User, None);
        }
        Some(root) => scan.root_missing(root, "the Claude folder"),
        None => scan.root_unknown("~/.claude", "the user's Claude folder"),
    }
    if roots.claude_json.is_none() {
        scan.root_unknown("~/.claude.json", "the user's MCP servers and approvals");
    }
    if roots.desktop_config.is_none() {
        scan.root_unknown("claude_desktop_config.json", "Claude Desktop's config");
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

    // Sorted before precedence, which finds the definitions of one name as runs of this order.
    // The keys are gathered into one list first (no pointer chasing per comparison); the input
    // position breaks ties, as a stable sort would.
    let order: Vec<usize> = {
        let mut keys: Vec<(jarvis_core::ResourceKind, &str, Scope, &Path, usize)> = scan
            .out
            .resources
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    r.kind,
                    r.qualified_name.as_str(),
                    r.scope,
                    r.source.as_path(),
                    i,
                )
            })
            .collect();
        keys.sort_unstable();
        keys.into_iter().map(|(.., i)| i).collect()
    };
    let unsorted = std::mem::take(&mut scan.out.resources);
    scan.out.resources = order.into_iter().map(|i| unsorted[i].clone()).collect();
    drop(unsorted);
    precedence::apply(&mut scan.out.resources, &mut scan.out.diagnostics);
    scan.out.fingerprint = scan.hash.finish();
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
