//! A note as indexed: read from disk (size cap, binary check, lossy UTF-8), its frontmatter
//! (`title`, `tags`, `topics`), headings and body.

use std::path::{Path, PathBuf};

use jarvis_core::{Diagnostic, DiagnosticCode};
use serde::Serialize;

use crate::config::Sources;

/// The topic every memory file is under.
pub const MEMORY_TOPIC: &str = "memory";

/// A note, ready to index.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    /// `note_` and 16 hex digits, derived from the path.
    pub id: String,
    /// The file.
    pub path: PathBuf,
    /// The frontmatter `title`, else the first level-1 heading, else the file name.
    pub title: String,
    /// Headings, in order.
    pub headings: Vec<String>,
    /// Frontmatter `tags`, lowercased.
    pub tags: Vec<String>,
    /// Frontmatter `topics`, the tags, and the top-level folder below the root (`memory` for
    /// memory files), lowercased.
    pub topics: Vec<String>,
    /// The folders between the root and the file (`a`, `a/b`), for the `path` filter.
    pub folders: Vec<String>,
    /// The text after the frontmatter.
    pub body: String,
    /// Last modification, milliseconds since the Unix epoch.
    pub modified_ms: u64,
    /// Bytes on disk.
    pub size: u64,
}

/// The id of the note at `path`: stable across restarts and rebuilds.
pub fn note_id(path: &Path) -> String {
    // FNV-1a, 64 bits: the same derivation style as resource ids.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in path.to_string_lossy().as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("note_{hash:016x}")
}

/// Modification time and size of a file, as the index keeps them.
pub fn stamp(meta: &std::fs::Metadata) -> (u64, u64) {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    (modified, meta.len())
}

/// Reads the note at `path`. A file too large, binary or unreadable answers the diagnostic
/// that says so; bytes that are not UTF-8 are replaced, with a diagnostic beside the note.
pub fn read_note(
    path: &Path,
    sources: &Sources,
    max_bytes: u64,
) -> Result<(Note, Vec<Diagnostic>), Diagnostic> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Diagnostic::new(DiagnosticCode::ReadFailed, path, e.to_string()))?;
    if !meta.is_file() {
        return Err(Diagnostic::new(
            DiagnosticCode::ReadFailed,
            path,
            "not a regular file",
        ));
    }
    if meta.len() > max_bytes {
        return Err(Diagnostic::new(
            DiagnosticCode::FileTooLarge,
            path,
            format!(
                "{} bytes, above knowledge.max_file_bytes ({max_bytes}); not indexed",
                meta.len()
            ),
        ));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| Diagnostic::new(DiagnosticCode::ReadFailed, path, e.to_string()))?;
    if bytes.contains(&0) {
        return Err(Diagnostic::new(
            DiagnosticCode::BinaryFile,
            path,
            "holds binary data (a NUL byte); not indexed",
        ));
    }
    let mut diags = Vec::new();
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            diags.push(Diagnostic::new(
                DiagnosticCode::NotUtf8,
                path,
                "bytes that are not UTF-8 were replaced",
            ));
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }
    };
    let (modified_ms, size) = stamp(&meta);
    let (frontmatter, body, parse_diags) = jarvis_discovery::read_markdown(&text, path);
    // A note without frontmatter is normal: only real problems are kept.
    diags.extend(
        parse_diags
            .into_iter()
            .filter(|d| d.code != DiagnosticCode::NoFrontmatter),
    );
    let fields = frontmatter.unwrap_or_default();
    let headings = headings(&body);
    let title = fields
        .get("title")
        .and_then(|t| t.as_str())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .or_else(|| first_h1(&body))
        .unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
    let tags = words_of(fields.get("tags"));
    let mut topics = words_of(fields.get("topics"));
    topics.extend(tags.iter().cloned());
    let mut folders = Vec::new();
    if let Some(root) = sources.root_of(path) {
        if let Some(parent) = path.parent().and_then(|p| p.strip_prefix(root).ok()) {
            let mut so_far = String::new();
            for part in parent.components() {
                let part = part.as_os_str().to_string_lossy();
                if !so_far.is_empty() {
                    so_far.push('/');
                }
                so_far.push_str(&part);
                folders.push(so_far.clone());
            }
        }
        if let Some(top) = folders.first() {
            topics.push(top.to_lowercase());
        }
    } else {
        topics.push(MEMORY_TOPIC.to_owned());
    }
    topics.sort();
    topics.dedup();
    Ok((
        Note {
            id: note_id(path),
            path: path.to_path_buf(),
            title,
            headings,
            tags,
            topics,
            folders,
            body,
            modified_ms,
            size,
        },
        diags,
    ))
}

/// A list (`[a, b]`) or a string (`a, b` or `a b`) of words, lowercased, `#` dropped, deduped.
fn words_of(value: Option<&serde_json::Value>) -> Vec<String> {
    let raw: Vec<String> = match value {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Some(serde_json::Value::String(s)) => s.split([',', ' ']).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    let mut words: Vec<String> = raw
        .iter()
        .map(|w| w.trim().trim_start_matches('#').to_lowercase())
        .filter(|w| !w.is_empty() && w.len() <= 100)
        .collect();
    words.sort();
    words.dedup();
    words
}

/// ATX headings (`# Title`) outside fenced code blocks.
fn headings(body: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in body.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let hashes = trimmed.bytes().take_while(|&b| b == b'#').count();
        if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
            let text = trimmed[hashes..].trim().trim_end_matches('#').trim();
            if !text.is_empty() {
                out.push(text.to_owned());
            }
        }
    }
    out
}

/// The first level-1 heading.
fn first_h1(body: &str) -> Option<String> {
    body.lines()
        .map(str::trim_start)
        .find(|l| l.starts_with("# "))
        .map(|l| l[2..].trim().trim_end_matches('#').trim().to_owned())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_skip_code_fences_and_closing_hashes() {
        let body = "# One #\ntext\n```\n# not a heading\n```\n### Three\n#nospace\n";
        assert_eq!(headings(body), ["One", "Three"]);
        assert_eq!(first_h1(body).as_deref(), Some("One"));
    }

    #[test]
    fn tags_come_as_lists_or_strings() {
        let list = serde_json::json!(["Rust", "#search", "rust", 2026]);
        assert_eq!(words_of(Some(&list)), ["2026", "rust", "search"]);
        let text = serde_json::json!("ops, on-call  #pager");
        assert_eq!(words_of(Some(&text)), ["on-call", "ops", "pager"]);
        assert!(words_of(None).is_empty());
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = note_id(Path::new("/notes/a.md"));
        assert_eq!(a, note_id(Path::new("/notes/a.md")));
        assert_ne!(a, note_id(Path::new("/notes/b.md")));
        assert!(a.starts_with("note_") && a.len() == 21);
    }
}
