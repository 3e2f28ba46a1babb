//! The `[costs]` configuration section, and where Claude Code's usage logs are.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::usage::CostMode;

/// How costs are tracked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostsConfig {
    /// Claude Code data folders (each holding `projects/`, or a `projects/` folder itself)
    /// read beside the defaults of [`log_roots`].
    pub roots: Vec<PathBuf>,
    /// How a cost is arrived at: `auto` (what a line reports, else computed), `calculate`, or
    /// `display`.
    pub mode: CostMode,
}

/// What the process environment says about Claude Code's folders, handed in by the program
/// (the library reads no environment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogEnvironment {
    /// The home folder.
    pub home: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME`.
    pub xdg_config_home: Option<PathBuf>,
    /// `$CLAUDE_CONFIG_DIR`: comma-separated folders.
    pub claude_config_dir: Option<String>,
}

/// The `projects` folders to read, each once, in order, as ccusage finds them: every folder
/// `$CLAUDE_CONFIG_DIR` names (a data folder or its `projects/` itself; `~/` expanded) when it is
/// set, else `$XDG_CONFIG_HOME/claude` (default `~/.config/claude`) and `~/.claude`; then the
/// configured `extra` ones. Only folders that exist are answered.
pub fn log_roots(env: &LogEnvironment, extra: &[PathBuf]) -> Vec<PathBuf> {
    let expand = |raw: &str| -> PathBuf {
        match (raw.strip_prefix("~/"), &env.home) {
            (Some(rest), Some(home)) => home.join(rest),
            _ if raw == "~" => env.home.clone().unwrap_or_else(|| PathBuf::from(raw)),
            _ => PathBuf::from(raw),
        }
    };
    let mut candidates: Vec<PathBuf> = Vec::new();
    match env
        .claude_config_dir
        .as_deref()
        .filter(|v| !v.trim().is_empty())
    {
        Some(list) => candidates.extend(
            list.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(expand),
        ),
        None => {
            let xdg = env
                .xdg_config_home
                .clone()
                .or_else(|| env.home.as_ref().map(|h| h.join(".config")));
            candidates.extend(xdg.map(|x| x.join("claude")));
            candidates.extend(env.home.as_ref().map(|h| h.join(".claude")));
        }
    }
    candidates.extend(extra.iter().cloned());
    let mut roots: Vec<PathBuf> = Vec::new();
    for candidate in candidates {
        let projects = projects_folder(&candidate);
        if projects.is_dir() && !roots.contains(&projects) {
            roots.push(projects);
        }
    }
    roots
}

/// `dir/projects`, or `dir` when it is a `projects` folder itself.
fn projects_folder(dir: &Path) -> PathBuf {
    if dir.file_name().is_some_and(|n| n == "projects") && dir.is_dir() {
        dir.to_path_buf()
    } else {
        dir.join("projects")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_come_from_the_environment_as_ccusage_finds_them() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        for folder in [
            ".claude/projects",
            ".config/claude/projects",
            "alt/projects",
            "other/projects",
        ] {
            std::fs::create_dir_all(home.join(folder)).unwrap();
        }
        let env = LogEnvironment {
            home: Some(home.clone()),
            ..LogEnvironment::default()
        };
        assert_eq!(
            log_roots(&env, &[]),
            [
                home.join(".config/claude/projects"),
                home.join(".claude/projects")
            ]
        );
        // `$CLAUDE_CONFIG_DIR` replaces the defaults; a `projects` folder may be named itself;
        // missing folders and repeats are left out; configured roots come last.
        let named = LogEnvironment {
            claude_config_dir: Some(" ~/alt , ~/other/projects,~/missing,~/alt".into()),
            ..env.clone()
        };
        assert_eq!(
            log_roots(&named, &[home.join(".claude")]),
            [
                home.join("alt/projects"),
                home.join("other/projects"),
                home.join(".claude/projects")
            ]
        );
        let xdg = LogEnvironment {
            xdg_config_home: Some(home.join("nowhere")),
            ..env
        };
        assert_eq!(log_roots(&xdg, &[]), [home.join(".claude/projects")]);
    }
}
