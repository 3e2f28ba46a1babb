//! The index on disk: `<dir>/tantivy` (tantivy's own files) and `<dir>/meta.json` (the schema
//! version). Opening checks both; anything missing, unreadable or of another version is a
//! reason to rebuild, never a reason to answer from it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};

use crate::note::Note;
use crate::schema::{ANALYZER, Fields, SCHEMA_VERSION, analyzer, schema};

/// The writer's memory budget: small notes, a 2-core machine.
const WRITER_BYTES: usize = 48 * 1024 * 1024;

/// Why an index on disk cannot be used as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// There is none yet.
    #[error("there is no index yet")]
    Missing,
    /// It was built by another layout.
    #[error("the index was built with schema version {found}, this build uses {SCHEMA_VERSION}")]
    Outdated {
        /// The version it says it has.
        found: u32,
    },
    /// It cannot be read.
    #[error("the index cannot be read: {0}")]
    Corrupt(String),
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    schema_version: u32,
}

/// An open index: what searches read and what the indexing thread writes.
#[derive(Clone)]
pub struct Searchable {
    /// The index.
    pub index: Index,
    /// Its reader; reloaded after every commit.
    pub reader: IndexReader,
    /// Its fields.
    pub fields: Fields,
    /// Where it lives.
    pub dir: PathBuf,
}

impl std::fmt::Debug for Searchable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Searchable")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn tantivy_dir(dir: &Path) -> PathBuf {
    dir.join("tantivy")
}

fn corrupt(e: impl std::fmt::Display) -> OpenError {
    OpenError::Corrupt(e.to_string())
}

/// Opens the index in `dir` as it is.
pub fn open(dir: &Path) -> Result<Searchable, OpenError> {
    let meta_path = dir.join("meta.json");
    let meta = match std::fs::read(&meta_path) {
        Ok(bytes) => serde_json::from_slice::<Meta>(&bytes).map_err(corrupt)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(OpenError::Missing),
        Err(e) => return Err(corrupt(e)),
    };
    if meta.schema_version != SCHEMA_VERSION {
        return Err(OpenError::Outdated {
            found: meta.schema_version,
        });
    }
    let index = Index::open_in_dir(tantivy_dir(dir)).map_err(corrupt)?;
    let (expected, fields) = schema();
    if index.schema() != expected {
        return Err(OpenError::Corrupt(
            "its fields differ from this build's".into(),
        ));
    }
    ready(index, fields, dir)
}

/// Makes an empty index in `dir`, removing whatever was there.
pub fn create(dir: &Path) -> Result<Searchable, OpenError> {
    let target = tantivy_dir(dir);
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(corrupt)?;
    }
    let _ = std::fs::remove_file(dir.join("meta.json"));
    std::fs::create_dir_all(&target).map_err(corrupt)?;
    let (schema, fields) = schema();
    let index = Index::create_in_dir(&target, schema).map_err(corrupt)?;
    ready(index, fields, dir)
}

/// Records the schema version: written once the first commit of a build is on disk, so a build
/// cut short is not mistaken for a finished one.
pub fn seal(dir: &Path) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(&Meta {
        schema_version: SCHEMA_VERSION,
    })?;
    let partial = dir.join("meta.json.partial");
    std::fs::write(&partial, bytes)?;
    std::fs::rename(partial, dir.join("meta.json"))
}

fn ready(index: Index, fields: Fields, dir: &Path) -> Result<Searchable, OpenError> {
    index.tokenizers().register(ANALYZER, analyzer());
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .map_err(corrupt)?;
    Ok(Searchable {
        index,
        reader,
        fields,
        dir: dir.to_path_buf(),
    })
}

impl Searchable {
    /// A writer; fails while another process (a running server) holds the index.
    pub fn writer(&self) -> tantivy::Result<IndexWriter> {
        self.index.writer(WRITER_BYTES)
    }

    /// The document of `note`.
    pub fn document(&self, note: &Note) -> TantivyDocument {
        let f = &self.fields;
        let mut document = doc!(
            f.id => note.id.as_str(),
            f.path => note.path.to_string_lossy().as_ref(),
            f.title => note.title.as_str(),
            f.headings => note.headings.join("\n"),
            f.body => note.body.as_str(),
            f.modified => note.modified_ms,
            f.size => note.size,
        );
        for folder in &note.folders {
            document.add_text(f.folders, folder);
        }
        for tag in &note.tags {
            document.add_text(f.tags, tag);
            document.add_text(f.tag_words, tag);
        }
        for topic in &note.topics {
            document.add_text(f.topics, topic);
        }
        document
    }

    /// The term that names the note at `path`.
    pub fn path_term(&self, path: &Path) -> Term {
        Term::from_field_text(self.fields.path, &path.to_string_lossy())
    }

    /// Every indexed note's path with its modification time and size, read from the fast
    /// fields (columns; no stored document is decompressed): the reconcile after a restart
    /// compares them with the files.
    pub fn known(&self) -> tantivy::Result<HashMap<PathBuf, (u64, u64)>> {
        let searcher = self.reader.searcher();
        let mut known = HashMap::with_capacity(usize::try_from(searcher.num_docs()).unwrap_or(0));
        let mut path = String::new();
        for segment in searcher.segment_readers() {
            let fast = segment.fast_fields();
            let Some(paths) = fast.str("path")? else {
                continue;
            };
            let modified = fast.u64("modified")?;
            let size = fast.u64("size")?;
            for doc in segment.doc_ids_alive() {
                let Some(ord) = paths.term_ords(doc).next() else {
                    continue;
                };
                path.clear();
                if paths.ord_to_str(ord, &mut path)? {
                    known.insert(
                        PathBuf::from(&path),
                        (
                            modified.first(doc).unwrap_or(0),
                            size.first(doc).unwrap_or(0),
                        ),
                    );
                }
            }
        }
        Ok(known)
    }

    /// Bytes the index takes on disk.
    pub fn disk_bytes(&self) -> u64 {
        walkdir::WalkDir::new(&self.dir)
            .into_iter()
            .filter_map(Result::ok)
            .filter_map(|e| e.metadata().ok())
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len())
            .sum()
    }
}
