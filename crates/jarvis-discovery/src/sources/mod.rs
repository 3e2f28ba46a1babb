//! One module per kind of source file. Each reads its files through [`crate::scan::Scan`] and
//! pushes resources and diagnostics; none of them decides precedence.

pub(crate) mod agents;
pub(crate) mod commands;
pub(crate) mod mcp;
pub(crate) mod skills;
pub mod workflows;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jarvis_core::{Diagnostic, Resource};
use serde_json::Value;

use crate::scan::Scan;
use crate::walk::{files_below, has_extension, listing_holds};

/// The kind of listing [`Scan::listing`] keeps of an agents or commands folder.
const MARKDOWN_TREE: u8 = 2;

fn is_markdown(path: &Path) -> bool {
    has_extension(path, "md")
}

/// Reads every `*.md` file below `dir` (on all cores) and pushes what `parse` makes of each:
/// the shared shape of the agents and commands folders.
pub(crate) fn scan_markdown_tree(
    scan: &mut Scan<'_>,
    dir: &Path,
    parse: impl Fn(&str, &Path, &mut Vec<Diagnostic>) -> Option<Resource> + Sync,
) {
    // Shared, not copied: a folder's listing is thousands of paths.
    let listing = scan.listing(
        dir,
        MARKDOWN_TREE,
        |before: &Arc<(Vec<PathBuf>, Vec<Diagnostic>)>, changed| {
            listing_holds(&before.0, changed, is_markdown)
        },
        |_| {
            let mut errors = Vec::new();
            let files = files_below(dir, 32, is_markdown, &mut errors);
            Arc::new((files, errors))
        },
    );
    let (files, errors) = &*listing;
    scan.diags().extend(errors.iter().cloned());
    let resources = scan.read_all(files, |path, text, diags| {
        parse(text, path, diags).map(Arc::new)
    });
    for resource in resources.into_iter().flatten() {
        scan.push_shared(resource);
    }
}

/// The strings of a JSON list; anything else (absent, not a list, non-string items) is skipped.
pub(crate) fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The path of `path` relative to `root`, with `/` separators.
pub(crate) fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
