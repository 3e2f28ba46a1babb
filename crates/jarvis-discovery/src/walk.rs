//! Walking resource folders: symlinks followed, loops and unreadable folders reported.

use std::path::{Path, PathBuf};

use jarvis_core::{Diagnostic, DiagnosticCode};
use walkdir::WalkDir;

/// Lists the files below `root` (recursively, following symlinks, sorted by path) for which
/// `keep` holds. Unreadable entries and symlink loops become diagnostics; the walk goes on.
pub(crate) fn files_below(
    root: &Path,
    max_depth: usize,
    keep: impl Fn(&Path) -> bool,
    diags: &mut Vec<Diagnostic>,
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let walker = WalkDir::new(root)
        .follow_links(true)
        .max_depth(max_depth)
        .sort_by_file_name();
    for entry in walker {
        match entry {
            Ok(entry) => {
                if entry.file_type().is_file() && keep(entry.path()) {
                    out.push(entry.into_path());
                }
            }
            Err(err) => diags.push(walk_error(root, &err)),
        }
    }
    out
}

/// Whether a listing made by [`files_below`] still holds after the `changed` paths (at or
/// below its root) changed: each must be a listed file still there, a file the listing would
/// not keep, or a path gone that held no listed file. A changed folder lists again.
pub(crate) fn listing_holds(
    files: &[PathBuf],
    changed: &[&Path],
    keep: impl Fn(&Path) -> bool,
) -> bool {
    changed.iter().all(|&path| match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => files.iter().any(|f| f == path) || !keep(path),
        Ok(_) => false,
        Err(_) => !files.iter().any(|f| f.starts_with(path)),
    })
}

/// Turns a walkdir error into a diagnostic.
pub(crate) fn walk_error(root: &Path, err: &walkdir::Error) -> Diagnostic {
    let path = err.path().unwrap_or(root).to_path_buf();
    if let Some(ancestor) = err.loop_ancestor() {
        tracing::warn!(path = %path.display(), "symlink loop not followed");
        return Diagnostic::new(
            DiagnosticCode::SymlinkLoop,
            path,
            format!(
                "symbolic link loops back to {}; not followed",
                ancestor.display()
            ),
        );
    }
    let reason = err
        .io_error()
        .map_or_else(|| err.to_string(), ToString::to_string);
    tracing::warn!(path = %path.display(), %reason, "cannot read directory entry");
    Diagnostic::new(
        DiagnosticCode::WalkFailed,
        path,
        format!("cannot be read: {reason}"),
    )
}

/// Whether `path` has the extension `ext` (ASCII case-insensitive).
pub(crate) fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}
