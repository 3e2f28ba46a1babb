//! What the knowledge base reads: notes folders from configuration and, unless turned off,
//! Claude Code's memory files.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The `[knowledge]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnowledgeConfig {
    /// Whether the knowledge base runs.
    pub enabled: bool,
    /// Notes folders, read recursively.
    pub roots: Vec<PathBuf>,
    /// Also index Claude Code's memory files: `~/.claude/CLAUDE.md`, and each configured
    /// project's `CLAUDE.md` and `.claude/CLAUDE.md`.
    pub include_memory: bool,
    /// File name endings indexed (without the dot).
    pub extensions: Vec<String>,
    /// The largest note read, in bytes; a larger one is a `file_too_large` diagnostic.
    pub max_file_bytes: u64,
    /// How long the watcher lets a burst of changes settle, in milliseconds.
    pub debounce_ms: u64,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        KnowledgeConfig {
            enabled: true,
            roots: Vec::new(),
            include_memory: true,
            extensions: vec!["md".into(), "markdown".into(), "txt".into()],
            max_file_bytes: 2 * 1024 * 1024,
            debounce_ms: 200,
        }
    }
}

/// Where notes come from, resolved: folders and single memory files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sources {
    /// Notes folders, read recursively (hidden folders skipped).
    pub roots: Vec<PathBuf>,
    /// Memory files (each may not exist yet: it is watched for).
    pub memory: Vec<PathBuf>,
    /// Endings indexed in the folders, lowercased, without the dot.
    pub extensions: Vec<String>,
}

impl Sources {
    /// The sources of `config`: its roots, and when `include_memory` is on, `CLAUDE.md` in
    /// `claude_dir` (`~/.claude`) and `CLAUDE.md` and `.claude/CLAUDE.md` in each project.
    pub fn resolve(
        config: &KnowledgeConfig,
        claude_dir: Option<&Path>,
        projects: &[PathBuf],
    ) -> Sources {
        let mut memory = Vec::new();
        if config.include_memory {
            if let Some(dir) = claude_dir {
                memory.push(dir.join("CLAUDE.md"));
            }
            for project in projects {
                memory.push(project.join("CLAUDE.md"));
                memory.push(project.join(".claude").join("CLAUDE.md"));
            }
        }
        Sources {
            roots: config.roots.clone(),
            memory,
            extensions: config
                .extensions
                .iter()
                .map(|e| e.trim_start_matches('.').to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether `path` is a note of these sources: a memory file, or a file below a root with an
    /// indexed ending and no hidden folder on the way.
    pub fn admits(&self, path: &Path) -> bool {
        if self.memory.iter().any(|m| m == path) {
            return true;
        }
        let ending = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let Some(ending) = ending else {
            return false;
        };
        self.extensions.contains(&ending) && self.root_of(path).is_some()
    }

    /// The root `path` lies below (hidden folders and files excluded).
    pub fn root_of(&self, path: &Path) -> Option<&Path> {
        self.roots
            .iter()
            .find(|root| {
                path.strip_prefix(root).is_ok_and(|rest| {
                    rest.components().all(|c| {
                        !c.as_os_str()
                            .to_str()
                            .is_some_and(|name| name.starts_with('.'))
                    })
                })
            })
            .map(PathBuf::as_path)
    }
}
