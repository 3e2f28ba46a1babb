//! One module per kind of source file. Each reads its files through [`crate::scan::Scan`] and
//! pushes resources and diagnostics; none of them decides precedence.

pub(crate) mod agents;
pub(crate) mod commands;
pub(crate) mod mcp;
pub(crate) mod skills;
pub(crate) mod workflows;

use std::path::Path;

/// The path of `path` relative to `root`, with `/` separators.
pub(crate) fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
