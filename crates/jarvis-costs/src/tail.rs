//! Reading only what was appended to a log since the last read.
//!
//! A [`Cursor`] remembers a file's identity (device and inode) and how far it was read. A read
//! returns the complete lines written since, and leaves a half-written last line for the next
//! read. A file replaced under the same name (a rotation: another inode) or cut shorter than
//! the cursor (a truncation) is read again from its start, and so is one whose first bytes
//! changed (truncated and grown again between two reads); a file that is gone forgets its
//! cursor. Cursors are plain data, so a restart can resume from stored ones instead of from
//! zero.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How far one file was read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The file system's device number.
    pub dev: u64,
    /// The inode.
    pub ino: u64,
    /// Bytes read: always the end of a complete line.
    pub offset: u64,
    /// A hash of the file's first `head_len` bytes when it was read.
    pub head: u64,
    /// How many leading bytes `head` covers (up to [`HEAD_BYTES`]).
    pub head_len: u32,
}

/// How many leading bytes identify a file's content beside its inode.
pub const HEAD_BYTES: usize = 256;

fn head_hash(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(bytes);
    hasher.finish()
}

/// What a read found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Appended {
    /// The complete lines written since the last read, without their newlines.
    pub lines: Vec<Vec<u8>>,
    /// The file was read again from its start (new file, rotation or truncation).
    pub restarted: bool,
}

/// The cursors of every file read.
#[derive(Debug, Default)]
pub struct Tail {
    cursors: HashMap<PathBuf, Cursor>,
}

fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        (0, 0)
    }
}

impl Tail {
    /// No file read yet.
    pub fn new() -> Self {
        Tail::default()
    }

    /// Resumes from `cursors` (stored by an earlier run).
    pub fn resume(cursors: impl IntoIterator<Item = (PathBuf, Cursor)>) -> Self {
        Tail {
            cursors: cursors.into_iter().collect(),
        }
    }

    /// The cursor of every file read.
    pub fn cursors(&self) -> &HashMap<PathBuf, Cursor> {
        &self.cursors
    }

    /// Reads what `path` gained since the last read; a file that is gone answers nothing and
    /// forgets its cursor.
    pub fn read(&mut self, path: &Path) -> io::Result<Appended> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.cursors.remove(path);
                return Ok(Appended::default());
            }
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let (dev, ino) = identity(&meta);
        let known = self.cursors.get(path).copied();
        let restarted = match known {
            Some(cursor) => cursor.dev != dev || cursor.ino != ino || meta.len() < cursor.offset,
            None => true,
        };
        let offset = match known {
            Some(cursor) if !restarted => cursor.offset,
            _ => 0,
        };
        let mut head = vec![0u8; HEAD_BYTES.min(usize::try_from(meta.len()).unwrap_or(HEAD_BYTES))];
        file.read_exact(&mut head)?;
        // The bytes the cursor saw at the start must still be there.
        let rewritten = known.is_some_and(|cursor| {
            let seen = cursor.head_len as usize;
            !restarted && (head.len() < seen || head_hash(&head[..seen]) != cursor.head)
        });
        let (offset, restarted) = if rewritten {
            (0, true)
        } else {
            (offset, restarted)
        };
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(offset))?;
        file.read_to_end(&mut bytes)?;
        // Only complete lines: a half-written last line waits for its newline. A last line
        // without one that is a whole JSON value is complete (a writer that ended without a
        // newline), as ccusage reads it; a line cut short never parses.
        let mut complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < bytes.len()
            && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes[complete..]).is_ok()
        {
            complete = bytes.len();
        }
        let lines = bytes[..complete]
            .split(|&b| b == b'\n')
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .map(<[u8]>::to_vec)
            .collect();
        self.cursors.insert(
            path.to_path_buf(),
            Cursor {
                dev,
                ino,
                offset: offset + complete as u64,
                head: head_hash(&head),
                head_len: head.len() as u32,
            },
        );
        Ok(Appended { lines, restarted })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn append(path: &Path, text: &str) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    fn text(appended: &Appended) -> Vec<String> {
        appended
            .lines
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    }

    #[test]
    fn appends_truncation_rotation_deletion_and_half_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let mut tail = Tail::new();
        append(&path, "one\ntwo\nthr");
        let first = tail.read(&path).unwrap();
        assert_eq!(text(&first), ["one", "two"]);
        assert!(first.restarted);
        // The half-written line is read once it ends.
        append(&path, "ee\nfour\n");
        let next = tail.read(&path).unwrap();
        assert_eq!(text(&next), ["three", "four"]);
        assert!(!next.restarted);
        assert_eq!(tail.read(&path).unwrap(), Appended::default());
        // A whole JSON line without its newline counts; a cut one waits.
        append(&path, "{\"a\":1}");
        assert_eq!(text(&tail.read(&path).unwrap()), ["{\"a\":1}"]);
        append(&path, "\n{\"b\":");
        assert_eq!(tail.read(&path).unwrap(), Appended::default());
        append(&path, "2}\n");
        assert_eq!(text(&tail.read(&path).unwrap()), ["{\"b\":2}"]);
        // Truncated and re-grown: read from the start.
        std::fs::write(&path, "five\n").unwrap();
        let cut = tail.read(&path).unwrap();
        assert_eq!((text(&cut), cut.restarted), (vec!["five".to_owned()], true));
        // Rewritten in place and grown past the cursor between two reads.
        std::fs::write(&path, "FIVE\nmore\n").unwrap();
        let rewritten = tail.read(&path).unwrap();
        assert_eq!(text(&rewritten), ["FIVE", "more"]);
        assert!(rewritten.restarted);
        // Replaced by another file under the same name (rotation), even a longer one.
        let other = dir.path().join("new.jsonl");
        std::fs::write(&other, "six\nseven\neight\n").unwrap();
        std::fs::rename(&other, &path).unwrap();
        let rotated = tail.read(&path).unwrap();
        assert_eq!(text(&rotated), ["six", "seven", "eight"]);
        assert!(rotated.restarted);
        // A restart resumes where the cursors were.
        let mut resumed = Tail::resume(tail.cursors().clone());
        append(&path, "nine\n");
        assert_eq!(text(&resumed.read(&path).unwrap()), ["nine"]);
        // Gone: nothing, and the cursor is forgotten.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(resumed.read(&path).unwrap(), Appended::default());
        assert!(resumed.cursors().is_empty());
    }
}
