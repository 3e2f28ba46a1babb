//! Resource discovery for Jarvis: find, parse and keep current everything a developer's Claude
//! Code setup holds, and search it.
//!
//! # Design
//!
//! - **Scanning never fails as a whole.** [`scan()`] reads every source and returns resources and
//!   [`Diagnostic`]s side by side: 500 files with 3 broken ones give 497
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
//! - **Secrets stay masked.** MCP `env` and `headers` values are [`Secret`]s.
//!
//! # Example
//!
//! Load a folder laid out as `~/.claude` is, count what it holds, search it, and read what
//! could not be understood:
//!
//! ```
//! use std::collections::BTreeMap;
//! use jarvis_discovery::{
//!     DiagnosticCode, DiscoveryConfig, Environment, LiveCatalog, ResourceKind, SearchQuery,
//! };
//!
//! let home = tempfile::tempdir()?;
//! let agents = home.path().join(".claude/agents");
//! std::fs::create_dir_all(&agents)?;
//! std::fs::write(
//!     agents.join("security-reviewer.md"),
//!     "---\nname: security-reviewer\ndescription: Reviews code for security issues\n---\nBe thorough.\n",
//! )?;
//! std::fs::write(agents.join("broken.md"), "---\nname: broken\n")?; // never closed
//!
//! // A program that should see what Claude Code sees passes `Environment::from_process()`.
//! let env = Environment { home: Some(home.path().to_owned()), vars: BTreeMap::new() };
//! let roots = DiscoveryConfig::default().resolve(&env)?;
//! let catalog = LiveCatalog::load(roots); // blocking: use spawn_blocking in async code
//! let snapshot = catalog.snapshot();
//!
//! assert_eq!(snapshot.stats().kinds[&ResourceKind::Agent].active, 1);
//!
//! let hits = snapshot.search(&SearchQuery::new("secrity review")); // typos are tolerated
//! assert_eq!(hits[0].name, "security-reviewer");
//!
//! let broken = snapshot
//!     .diagnostics()
//!     .iter()
//!     .find(|d| d.code == DiagnosticCode::FrontmatterUnterminated)
//!     .expect("the broken file is reported");
//! assert!(broken.path.ends_with("broken.md"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! To keep the catalog current as files change, start a [`CatalogWatcher`] on it; every
//! reload swaps in a new snapshot and bumps [`CatalogSnapshot::generation`].

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

/// The README's Rust examples, run by `cargo test --doc`.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeExamples;

pub use jarvis_core::{
    Details, Diagnostic, DiagnosticCode, Resource, ResourceId, ResourceKind, Scope, Secret,
    Severity,
};

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
    Vec<Diagnostic>,
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
    Vec<Diagnostic>,
) {
    let text = text::normalize(&String::from_utf8_lossy(bytes));
    let mut diags = Vec::new();
    let doc = frontmatter::parse_document(&text, std::path::Path::new("<input>"), &mut diags);
    (doc.frontmatter, diags)
}
