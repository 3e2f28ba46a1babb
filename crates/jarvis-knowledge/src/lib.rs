//! The knowledge base: full-text search over the user's own notes (Markdown and text folders
//! from configuration) and Claude Code's memory files (`CLAUDE.md`), answered in milliseconds.
//!
//! The index is [tantivy](https://docs.rs/tantivy) on disk in the data folder: BM25 ranking,
//! phrases, prefixes and typo-tolerant terms (exact matches first), title over headings and tags
//! over body, snippets with highlight ranges, topics from tags, frontmatter `topics` and
//! top-level folders. [`KnowledgeBase`] keeps it current with a file watcher on a thread of its
//! own: searches read committed snapshots and never wait on indexing; an index that is missing,
//! unreadable or of an older layout ([`SCHEMA_VERSION`]) is rebuilt in the background while
//! searches answer [`KnowledgeError::Rebuilding`].
//!
//! Nothing here needs an async runtime: indexing runs on the knowledge base's own thread and a
//! search is a quick blocking call (from async code, run it on `spawn_blocking`).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use jarvis_knowledge::{KnowledgeBase, KnowledgeConfig, SearchRequest, Sources};
//!
//! let dir = tempfile::tempdir()?;
//! let notes = dir.path().join("notes");
//! std::fs::create_dir_all(notes.join("rust"))?;
//! std::fs::write(
//!     notes.join("rust/borrowing.md"),
//!     "---\ntags: [rust]\n---\n# Borrowing\n\nThe borrow checker rejects two mutable borrows.\n",
//! )?;
//!
//! let config = KnowledgeConfig { roots: vec![notes], ..KnowledgeConfig::default() };
//! // The memory files (`CLAUDE.md`) of a Claude folder and projects can be added here.
//! let sources = Sources::resolve(&config, None, &[]);
//! let knowledge = KnowledgeBase::start(&config, sources, dir.path().join("index"))?;
//!
//! // The index opens (here: is built) on its own thread; until then searches say so.
//! while knowledge.stats().state != "ready" {
//!     std::thread::sleep(Duration::from_millis(20));
//! }
//! let page = knowledge.search(&SearchRequest {
//!     q: "borow checker".into(), // typo-tolerant
//!     limit: 10,
//!     ..SearchRequest::default()
//! })?;
//! assert_eq!(page.hits[0].title, "Borrowing");
//! assert_eq!(page.hits[0].tags, ["rust"]);
//! assert!(knowledge.topics()?.iter().any(|t| t.topic == "rust"));
//! knowledge.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod index;
mod note;
mod query;
mod schema;
mod service;

pub use config::{KnowledgeConfig, Sources};
pub use index::OpenError;
pub use note::{MEMORY_TOPIC, Note, note_id, read_note};
pub use query::{Hit, MAX_QUERY_TERMS, NoteView, QueryError, SearchPage, SearchRequest, Topic};
pub use schema::SCHEMA_VERSION;
pub use service::{
    BuildReport, KnowledgeBase, KnowledgeError, KnowledgeEvent, KnowledgeStats, MAX_NOTE_EVENTS,
    Opened, build_index, search_index,
};
