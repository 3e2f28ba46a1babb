//! Resource discovery for Jarvis: find, parse and keep current everything a developer's Claude
//! Code setup holds, and search it.
//!
//! # Design
//!
//! - **Scanning never fails as a whole.** [`scan()`] reads every source and returns resources and
//!   [`Diagnostic`](jarvis_core::Diagnostic)s side by side: 500 files with 3 broken ones give 497
//!   resources and 3 diagnostics (path, line, reason). Nothing is skipped silently.
//! - **Real files, lenient parsing.** Frontmatter that strict YAML rejects (an unquoted `: ` in a
//!   description is common) is recovered line by line and flagged; BOMs, CRLF, invalid UTF-8,
//!   empty and oversized files, symlink loops and unreadable folders are each a diagnostic.
//! - **Precedence as in Claude Code** (see the `precedence` rules in
//!   `docs/architecture.md`): shadowed definitions stay visible with `shadowed_by`.
//! - **An immutable snapshot, swapped atomically.** [`LiveCatalog`] serves an
//!   `Arc<CatalogSnapshot>`; reloads build a new one off to the side. A [`CatalogWatcher`] keeps it
//!   current from file events and a periodic rescan.
//! - **Blocking by design.** Nothing here touches an async runtime; async callers run scans on
//!   `spawn_blocking`. This keeps the crate usable from any program.
//! - **Secrets stay masked.** MCP `env` and `headers` values are [`Secret`](jarvis_core::Secret)s.

mod catalog;
mod codec;
mod config;
mod discover;
mod error;
mod fields;
mod frontmatter;
mod persist;
mod precedence;
mod scan;
mod search;
mod sources;
mod text;
mod walk;
mod watch;

pub use catalog::{
    CacheStart, CacheStatus, CatalogSnapshot, KindCount, LiveCatalog, LookupError, LookupFailure,
    ReloadOutcome, ScanStats,
};
pub use config::{DiscoveryConfig, Environment, ProjectConfig, ProjectRoot, Root, ScanRoots};
pub use discover::{External, scan, scan_incremental, scan_with};
pub use error::{Error, Result};
pub use scan::{ParseCache, ReuseStats, ScanOutput};
pub use search::{Highlight, HighlightField, MatchQuality, SearchHit, SearchIndex, SearchQuery};
pub use sources::workflows::workflows_from_api;
pub use watch::{CatalogWatcher, WatchOptions};

/// A Markdown document read the way discovery reads one: BOM dropped and line ends made `\n`,
/// the frontmatter parsed (recovered line by line when it is not valid YAML), and the body
/// after it. Problems become diagnostics on `path`. Never panics, whatever the input.
pub fn read_markdown(
    text: &str,
    path: &std::path::Path,
) -> (
    Option<serde_json::Map<String, serde_json::Value>>,
    String,
    Vec<jarvis_core::Diagnostic>,
) {
    let text = text::normalize(text);
    let mut diags = Vec::new();
    let doc = frontmatter::parse_document(&text, path, &mut diags);
    (doc.frontmatter, doc.body, diags)
}

/// Parses frontmatter of arbitrary text the way discovery does. Exposed for property tests and
/// fuzzing: it must never panic, whatever the input.
pub fn parse_frontmatter_lossy(
    bytes: &[u8],
) -> (
    Option<serde_json::Map<String, serde_json::Value>>,
    Vec<jarvis_core::Diagnostic>,
) {
    let text = text::normalize(&String::from_utf8_lossy(bytes));
    let mut diags = Vec::new();
    let doc = frontmatter::parse_document(&text, std::path::Path::new("<input>"), &mut diags);
    (doc.frontmatter, diags)
}
