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
