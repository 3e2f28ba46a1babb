//! Reading source files: size caps, byte-order marks, line endings and invalid UTF-8.
//!
//! Every reader in discovery goes through [`read_text`], so the awkward cases of real files are
//! handled once: a file above the cap is not read, a BOM is dropped, CRLF and lone CR become LF,
//! and bytes that are not UTF-8 are replaced (with a diagnostic) rather than rejecting the file.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::time::SystemTime;

use jarvis_core::{Diagnostic, DiagnosticCode};

/// A file's text, normalized, plus what it cost to read.
#[derive(Debug)]
pub(crate) struct FileText {
    /// The normalized text.
    pub text: String,
    /// What identifies this version of the file.
    pub stamp: FileStamp,
    /// Set when invalid bytes were replaced: the file still loads, with this warning.
    pub not_utf8: Option<Diagnostic>,
}

/// Reads `path` as text. On failure the returned diagnostic says why; nothing else is reported.
pub(crate) fn read_text(path: &Path, max_bytes: u64) -> Result<FileText, Diagnostic> {
    let file = fs::File::open(path).map_err(|e| {
        Diagnostic::new(
            DiagnosticCode::ReadFailed,
            path,
            format!("cannot open: {e}"),
        )
    })?;
    let meta = file.metadata().map_err(|e| {
        Diagnostic::new(
            DiagnosticCode::ReadFailed,
            path,
            format!("cannot stat: {e}"),
        )
    })?;
    let stamp = FileStamp::of(&meta);
    let bytes = stamp.bytes;
    if bytes > max_bytes {
        return Err(Diagnostic::new(
            DiagnosticCode::FileTooLarge,
            path,
            format!("{bytes} bytes is above the {max_bytes}-byte limit; not read"),
        ));
    }
    let mut raw = Vec::with_capacity(usize::try_from(bytes).unwrap_or(0));
    // Read at most one byte past the cap: the file may have grown since `metadata`.
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut raw)
        .map_err(|e| {
            Diagnostic::new(
                DiagnosticCode::ReadFailed,
                path,
                format!("cannot read: {e}"),
            )
        })?;
    if raw.len() as u64 > max_bytes {
        return Err(Diagnostic::new(
            DiagnosticCode::FileTooLarge,
            path,
            format!("grew above the {max_bytes}-byte limit while being read; not read"),
        ));
    }
    let (text, not_utf8) = decode(raw, path);
    Ok(FileText {
        text,
        stamp,
        not_utf8,
    })
}

/// What identifies one version of a file without reading it: its size, its modification time
/// and, on Unix, its device, inode and status-change time (which a rewrite that restores the old
/// modification time still moves). Two equal stamps mean the same bytes, unless the file changed
/// within the clock's granularity of being read: see [`FileStamp::settled_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStamp {
    /// The size on disk.
    pub bytes: u64,
    /// The modification time in nanoseconds since the epoch (0 if unknown).
    pub mtime_ns: u128,
    /// A hash of the device, inode and status-change time (0 where the platform has none).
    pub node: u64,
}

impl FileStamp {
    /// The stamp of `meta`.
    pub fn of(meta: &fs::Metadata) -> FileStamp {
        FileStamp {
            bytes: meta.len(),
            mtime_ns: nanos(meta.modified().ok()),
            node: node(meta),
        }
    }

    /// The stamp of the file at `path` (following symlinks, as reading does).
    pub fn read(path: &Path) -> Option<FileStamp> {
        fs::metadata(path).ok().map(|meta| FileStamp::of(&meta))
    }

    /// Whether a read made at `read_at` (nanoseconds since the epoch) can stand for the file as
    /// long as its stamp stays the same: not when the file was modified in the two seconds
    /// before the read, since a second write within the clock's granularity could leave the
    /// stamp as it was (the "racily clean" case git knows).
    pub fn settled_at(&self, read_at: u128) -> bool {
        const SETTLE_NS: u128 = 2_000_000_000;
        self.mtime_ns != 0 && read_at >= self.mtime_ns.saturating_add(SETTLE_NS)
    }
}

/// Nanoseconds since the epoch (0 if unknown or before it).
pub(crate) fn nanos(time: Option<SystemTime>) -> u128 {
    time.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

#[cfg(unix)]
fn node(meta: &fs::Metadata) -> u64 {
    use std::hash::{Hash, Hasher};
    use std::os::unix::fs::MetadataExt;
    let mut hash = rustc_hash::FxHasher::default();
    (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec()).hash(&mut hash);
    hash.finish()
}

#[cfg(not(unix))]
fn node(_meta: &fs::Metadata) -> u64 {
    0
}

/// Turns raw bytes into normalized text, replacing bytes that are not UTF-8.
fn decode(raw: Vec<u8>, path: &Path) -> (String, Option<Diagnostic>) {
    match String::from_utf8(raw) {
        Ok(text) => (normalize(&text), None),
        Err(err) => {
            let valid_up_to = err.utf8_error().valid_up_to();
            let raw = err.into_bytes();
            let line = raw[..valid_up_to].iter().filter(|&&b| b == b'\n').count() + 1;
            let diag = Diagnostic::new(
                DiagnosticCode::NotUtf8,
                path,
                "contains bytes that are not UTF-8; they were replaced with U+FFFD",
            )
            .at_line(u32::try_from(line).unwrap_or(u32::MAX));
            (normalize(&String::from_utf8_lossy(&raw)), Some(diag))
        }
    }
}

/// Drops a leading BOM and turns CRLF and lone CR into LF.
pub(crate) fn normalize(text: &str) -> String {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    if !text.contains('\r') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_strips_bom_and_crlf() {
        assert_eq!(normalize("\u{FEFF}a\r\nb\rc\n"), "a\nb\nc\n");
        assert_eq!(normalize("plain"), "plain");
    }

    #[test]
    fn invalid_utf8_is_recovered_with_a_diagnostic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.md");
        fs::write(&path, b"line one\nbad \xff byte\n").unwrap();
        let file = read_text(&path, 1024).unwrap();
        let diag = file.not_utf8.clone().unwrap();
        assert_eq!(diag.code, DiagnosticCode::NotUtf8);
        assert_eq!(diag.line, Some(2));
        assert_eq!(file.text, "line one\nbad \u{FFFD} byte\n");
    }

    #[test]
    fn files_above_the_cap_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.md");
        fs::write(&path, vec![b'a'; 100]).unwrap();
        let err = read_text(&path, 10).unwrap_err();
        assert_eq!(err.code, DiagnosticCode::FileTooLarge);
    }
}
