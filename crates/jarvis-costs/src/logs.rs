//! Reading every usage log below Claude Code's `projects` folders: `<project>/<session>.jsonl`
//! and sub-agent logs in `<project>/<session>/subagents/*.jsonl`.

use std::path::{Path, PathBuf};

use crate::usage::{Dedup, Keyed, Skipped, UsageEntry, parse_line};

/// A usage entry with the log it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEntry {
    /// The entry.
    pub usage: UsageEntry,
    /// The project folder (the encoded working directory, `-Users-dev-code-acme-api`).
    pub project: String,
    /// The session id the log's path names.
    pub session: String,
}

impl Keyed for LoggedEntry {
    fn usage(&self) -> &UsageEntry {
        &self.usage
    }
}

/// What a read of the logs saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Log files read.
    pub files: usize,
    /// Lines read.
    pub lines: usize,
    /// Lines carrying a usage object.
    pub usage_lines: usize,
    /// Skipped for a refused null field.
    pub null_fields: usize,
    /// Skipped as unreadable.
    pub unparseable: usize,
    /// Skipped as invalid (empty ids, a version that is not semantic).
    pub invalid: usize,
    /// Copies of a response dropped.
    pub duplicates: usize,
    /// Files that could not be read (each logged).
    pub unreadable_files: usize,
}

/// Every `*.jsonl` below `root`, sorted, so that a read is repeatable.
pub fn log_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(listing) = std::fs::read_dir(dir) else {
            tracing::debug!(dir = %dir.display(), "cannot list a usage log folder");
            return;
        };
        for entry in listing.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => walk(&path, out),
                Ok(kind) if kind.is_file() && path.extension().is_some_and(|e| e == "jsonl") => {
                    out.push(path);
                }
                _ => {}
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    files.sort();
    files
}

/// The project and session a log's path below `root` names, as ccusage reads them: the project
/// is the first folder; the session is the log's name for `<project>/<session>.jsonl`, the
/// folder above `subagents/` for a sub-agent log, else the log's folder.
pub fn project_and_session(root: &Path, file: &Path) -> (String, String) {
    let relative = file.strip_prefix(root).unwrap_or(file);
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let project = parts.first().cloned().unwrap_or_default();
    let n = parts.len();
    let session = match n {
        0..=2 => stem,
        _ if n >= 4 && parts[n - 2] == "subagents" => parts[n - 3].clone(),
        _ => parts[n - 2].clone(),
    };
    (project, session)
}

/// Reads every log below each of `roots` (Claude Code `projects` folders) and keeps one entry
/// per response.
pub fn read_all(roots: &[PathBuf]) -> (Vec<LoggedEntry>, ReadStats) {
    let mut stats = ReadStats::default();
    let mut dedup: Dedup<LoggedEntry> = Dedup::new();
    for root in roots {
        for file in log_files(root) {
            let bytes = match std::fs::read(&file) {
                Ok(bytes) => bytes,
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "cannot read a usage log; it is left out");
                    stats.unreadable_files += 1;
                    continue;
                }
            };
            stats.files += 1;
            let (project, session) = project_and_session(root, &file);
            for line in bytes.split(|&b| b == b'\n') {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                stats.lines += 1;
                let Some(parsed) = parse_line(line) else {
                    continue;
                };
                stats.usage_lines += 1;
                match parsed {
                    Ok(usage) => dedup.push(LoggedEntry {
                        usage,
                        project: project.clone(),
                        session: session.clone(),
                    }),
                    Err(Skipped::NullField) => stats.null_fields += 1,
                    Err(Skipped::Unparseable) => stats.unparseable += 1,
                    Err(Skipped::Invalid) => stats.invalid += 1,
                }
            }
        }
    }
    stats.duplicates = dedup.dropped();
    (dedup.into_entries(), stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_project_and_session_as_ccusage_reads_them() {
        let root = Path::new("/data/projects");
        let named = |rest: &str| project_and_session(root, &root.join(rest));
        assert_eq!(named("-app/s1.jsonl"), ("-app".into(), "s1".into()));
        assert_eq!(
            named("-app/s1/subagents/agent-x.jsonl"),
            ("-app".into(), "s1".into())
        );
        assert_eq!(named("-app/s2/log.jsonl"), ("-app".into(), "s2".into()));
        assert_eq!(named("loose.jsonl"), ("loose.jsonl".into(), "loose".into()));
    }
}
