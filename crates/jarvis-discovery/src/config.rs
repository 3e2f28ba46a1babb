//! Where discovery looks, and how it behaves.
//!
//! [`DiscoveryConfig`] is the serde-facing configuration section (`[discovery]` in `jarvis.toml`).
//! Paths left unset derive from the home directory, the way Claude Code itself finds them;
//! [`DiscoveryConfig::resolve`] turns the section into [`ScanRoots`], refusing explicitly
//! configured paths that do not exist (a typo should stop start-up, not silently scan nothing).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The `[discovery]` configuration section.
///
/// Defaults are worked out by [`DiscoveryConfig::resolve`] from the [`Environment`] handed to
/// it, never from the process directly: "`$CLAUDE_CONFIG_DIR`" below means that variable in
/// `Environment::vars`, and "`~`" means `Environment::home`.
///
/// ```
/// use jarvis_discovery::{DiscoveryConfig, ProjectConfig};
///
/// // As in `jarvis.toml`; every field is optional.
/// let config: DiscoveryConfig = serde_json::from_value(serde_json::json!({
///     "projects": ["/srv/app", { "path": "/mnt/app", "claude_json_key": "/home/me/app" }],
///     "watch": false,
/// }))?;
/// assert_eq!(config.projects[1].path(), std::path::Path::new("/mnt/app"));
/// assert_eq!(config.max_file_bytes, DiscoveryConfig::default().max_file_bytes);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// The user's Claude folder. Default: `$CLAUDE_CONFIG_DIR`, else `~/.claude`.
    pub claude_dir: Option<PathBuf>,
    /// The user's `.claude.json`. Default: `$CLAUDE_CONFIG_DIR/.claude.json`, else `~/.claude.json`.
    pub claude_json: Option<PathBuf>,
    /// Claude Desktop's config file. Default: the platform's usual location below `~`
    /// (`~/.config/Claude/claude_desktop_config.json` on Linux, `$XDG_CONFIG_HOME` honoured).
    pub desktop_config: Option<PathBuf>,
    /// Project folders whose `.claude/` and `.mcp.json` also count.
    pub projects: Vec<ProjectConfig>,
    /// n8n workflow export files, or folders of them.
    pub workflow_paths: Vec<PathBuf>,
    /// Files larger than this are reported and not read.
    pub max_file_bytes: u64,
    /// Whether to watch the folders for changes.
    pub watch: bool,
    /// How long a burst of file events is coalesced before the catalog reloads, in milliseconds.
    /// Default 50: an editor's save burst takes a few milliseconds, and a reload told which
    /// files changed costs tens of milliseconds at 16,000 resources, so a burst split in two
    /// costs little while every edit shows sooner.
    pub debounce_ms: u64,
    /// A full rescan runs this often (seconds) to catch what a watcher misses; 0 disables it.
    pub rescan_interval_secs: u64,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            claude_dir: None,
            claude_json: None,
            desktop_config: None,
            projects: Vec::new(),
            workflow_paths: Vec::new(),
            max_file_bytes: 1024 * 1024,
            watch: true,
            debounce_ms: 50,
            rescan_interval_secs: 300,
        }
    }
}

/// One project folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProjectConfig {
    /// Just the folder.
    Path(PathBuf),
    /// The folder, and the key `~/.claude.json` files it under when that is not the folder's
    /// own absolute path (for example a project moved or mounted elsewhere).
    Detailed {
        /// The project folder.
        path: PathBuf,
        /// Its key in `~/.claude.json` → `projects`.
        #[serde(default)]
        claude_json_key: Option<String>,
    },
}

impl ProjectConfig {
    /// The project folder.
    pub fn path(&self) -> &Path {
        match self {
            ProjectConfig::Path(path) | ProjectConfig::Detailed { path, .. } => path,
        }
    }
}

/// What discovery knows of the process environment: the home folder and the variables.
///
/// Discovery never reads the environment by itself; the program hands this value in, so that a
/// scan can be pointed at any folder (tests, another user's setup) without touching the
/// process. Which one to use:
///
/// - [`Environment::from_process`] in a program that should see what Claude Code sees: the
///   user's home, `$CLAUDE_CONFIG_DIR`, `$XDG_CONFIG_HOME` and the variables MCP entries expand
///   (`${VAR}`). This is what the `jarvis` binary does.
/// - A value built by hand (as below) to scan a chosen folder and nothing else.
/// - `Environment::default()` knows no home folder: `~/.claude`, `~/.claude.json` and Claude
///   Desktop's config are then not scanned unless configured explicitly, and each scan says so
///   with a [`root_unknown`](jarvis_core::DiagnosticCode::RootUnknown) diagnostic.
///
/// ```
/// use std::collections::BTreeMap;
/// use jarvis_discovery::{DiscoveryConfig, Environment};
///
/// // Everything below a chosen home folder, with no variables.
/// let home = std::env::temp_dir().join("jarvis-doc-environment");
/// let env = Environment { home: Some(home.clone()), vars: BTreeMap::new() };
/// let roots = DiscoveryConfig::default().resolve(&env)?;
/// assert_eq!(roots.claude_dir.unwrap().path, home.join(".claude"));
///
/// // What the process itself sees.
/// let process = Environment::from_process();
/// assert_eq!(process.home, std::env::home_dir());
/// # Ok::<(), jarvis_discovery::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// The home directory, if known.
    pub home: Option<PathBuf>,
    /// The environment variables, for `$CLAUDE_CONFIG_DIR` and MCP `${VAR}` expansion.
    pub vars: BTreeMap<String, String>,
}

impl Environment {
    /// The process's own environment: its home folder and every variable whose name and value
    /// are valid Unicode (others cannot be named in a `${VAR}` and are left out).
    ///
    /// The one place in the library crates that reads the process environment; call it once,
    /// at start-up, and pass the value on.
    pub fn from_process() -> Environment {
        Environment {
            home: std::env::home_dir(),
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }
}

/// A resolved location: the path, and whether the user named it (a missing default is only a
/// diagnostic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// The location.
    pub path: PathBuf,
    /// Whether it came from the configuration rather than a default.
    pub explicit: bool,
}

/// A project folder, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRoot {
    /// The folder.
    pub path: PathBuf,
    /// The keys under which `~/.claude.json` may file it.
    pub claude_json_keys: Vec<String>,
}

/// Everything a scan reads, resolved from [`DiscoveryConfig`] and [`Environment`].
#[derive(Debug, Clone)]
pub struct ScanRoots {
    /// The user's Claude folder.
    pub claude_dir: Option<Root>,
    /// The user's `.claude.json`.
    pub claude_json: Option<Root>,
    /// Claude Desktop's config.
    pub desktop_config: Option<Root>,
    /// Project folders.
    pub projects: Vec<ProjectRoot>,
    /// Workflow export files or folders.
    pub workflow_paths: Vec<PathBuf>,
    /// The size cap for one file.
    pub max_file_bytes: u64,
    /// Variables for `${VAR}` expansion.
    pub vars: Arc<BTreeMap<String, String>>,
}

impl DiscoveryConfig {
    /// How a [`CatalogWatcher`](crate::CatalogWatcher) should run under this configuration.
    pub fn watch_options(&self) -> crate::WatchOptions {
        crate::WatchOptions {
            watch_files: self.watch,
            debounce: std::time::Duration::from_millis(self.debounce_ms),
            rescan_interval: (self.rescan_interval_secs > 0)
                .then(|| std::time::Duration::from_secs(self.rescan_interval_secs)),
        }
    }

    /// Resolves defaults against `env` and checks every explicitly configured path exists.
    pub fn resolve(&self, env: &Environment) -> Result<ScanRoots> {
        let config_dir = env
            .vars
            .get("CLAUDE_CONFIG_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let home = env.home.as_deref();

        let claude_dir = explicit_or(
            "discovery.claude_dir",
            self.claude_dir.as_deref(),
            config_dir
                .clone()
                .or_else(|| home.map(|h| h.join(".claude"))),
        )?;
        let claude_json = explicit_or(
            "discovery.claude_json",
            self.claude_json.as_deref(),
            config_dir
                .map(|d| d.join(".claude.json"))
                .or_else(|| home.map(|h| h.join(".claude.json"))),
        )?;
        let desktop_config = explicit_or(
            "discovery.desktop_config",
            self.desktop_config.as_deref(),
            home.map(|h| default_desktop_config(h, &env.vars)),
        )?;

        let mut projects = Vec::with_capacity(self.projects.len());
        for (i, project) in self.projects.iter().enumerate() {
            let path = project.path();
            require_dir(&format!("discovery.projects[{i}]"), path)?;
            let mut keys = vec![path.to_string_lossy().into_owned()];
            if let Ok(canonical) = path.canonicalize() {
                keys.push(canonical.to_string_lossy().into_owned());
            }
            if let ProjectConfig::Detailed {
                claude_json_key: Some(key),
                ..
            } = project
            {
                keys.insert(0, key.clone());
            }
            keys.dedup();
            projects.push(ProjectRoot {
                path: path.to_path_buf(),
                claude_json_keys: keys,
            });
        }
        for (i, path) in self.workflow_paths.iter().enumerate() {
            if !path.exists() {
                return Err(Error::Config {
                    key: format!("discovery.workflow_paths[{i}]"),
                    message: format!("{} does not exist", path.display()),
                });
            }
        }
        if self.debounce_ms == 0 || self.debounce_ms > 60_000 {
            return Err(Error::Config {
                key: "discovery.debounce_ms".into(),
                message: "must be between 1 and 60000".into(),
            });
        }
        if self.max_file_bytes == 0 {
            return Err(Error::Config {
                key: "discovery.max_file_bytes".into(),
                message: "must be greater than 0".into(),
            });
        }
        Ok(ScanRoots {
            claude_dir,
            claude_json,
            desktop_config,
            projects,
            workflow_paths: self.workflow_paths.clone(),
            max_file_bytes: self.max_file_bytes,
            vars: Arc::new(env.vars.clone()),
        })
    }
}

fn explicit_or(
    key: &str,
    explicit: Option<&Path>,
    default: Option<PathBuf>,
) -> Result<Option<Root>> {
    match explicit {
        Some(path) => {
            if !path.exists() {
                return Err(Error::Config {
                    key: key.to_owned(),
                    message: format!("{} does not exist", path.display()),
                });
            }
            Ok(Some(Root {
                path: path.to_path_buf(),
                explicit: true,
            }))
        }
        None => Ok(default.map(|path| Root {
            path,
            explicit: false,
        })),
    }
}

fn require_dir(key: &str, path: &Path) -> Result<()> {
    if path.is_dir() {
        Ok(())
    } else {
        Err(Error::Config {
            key: key.to_owned(),
            message: format!("{} is not an existing folder", path.display()),
        })
    }
}

/// Claude Desktop's config location on this platform.
fn default_desktop_config(home: &Path, vars: &BTreeMap<String, String>) -> PathBuf {
    const FILE: &str = "claude_desktop_config.json";
    if cfg!(target_os = "macos") {
        home.join("Library/Application Support/Claude").join(FILE)
    } else if cfg!(target_os = "windows") {
        vars.get("APPDATA")
            .map_or_else(|| home.join("AppData/Roaming"), PathBuf::from)
            .join("Claude")
            .join(FILE)
    } else {
        vars.get("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map_or_else(|| home.join(".config"), PathBuf::from)
            .join("Claude")
            .join(FILE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_derive_from_home_and_claude_config_dir() {
        let env = Environment {
            home: Some("/home/u".into()),
            vars: BTreeMap::new(),
        };
        let roots = DiscoveryConfig::default().resolve(&env).unwrap();
        assert_eq!(roots.claude_dir.unwrap().path, Path::new("/home/u/.claude"));
        assert_eq!(
            roots.claude_json.unwrap().path,
            Path::new("/home/u/.claude.json")
        );
        assert!(!roots.desktop_config.unwrap().explicit);

        let mut vars = BTreeMap::new();
        vars.insert("CLAUDE_CONFIG_DIR".into(), "/cfg".into());
        let env = Environment {
            home: Some("/home/u".into()),
            vars,
        };
        let roots = DiscoveryConfig::default().resolve(&env).unwrap();
        assert_eq!(roots.claude_dir.unwrap().path, Path::new("/cfg"));
        assert_eq!(
            roots.claude_json.unwrap().path,
            Path::new("/cfg/.claude.json")
        );
    }

    #[test]
    fn explicit_missing_paths_name_the_key() {
        let config = DiscoveryConfig {
            projects: vec![ProjectConfig::Path("/definitely/not/here".into())],
            ..DiscoveryConfig::default()
        };
        let err = config.resolve(&Environment::default()).unwrap_err();
        assert!(err.to_string().contains("discovery.projects[0]"), "{err}");

        let config = DiscoveryConfig {
            claude_dir: Some("/definitely/not/here".into()),
            ..DiscoveryConfig::default()
        };
        let err = config.resolve(&Environment::default()).unwrap_err();
        assert!(err.to_string().contains("discovery.claude_dir"), "{err}");
    }
}
