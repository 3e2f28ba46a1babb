//! The `[costs]` configuration section, and where Claude Code's usage logs are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::pricing::{Price, PriceTable};
use crate::query::Budgets;
use crate::service::ServiceConfig;
use crate::usage::CostMode;
use crate::zone::Zone;

/// How costs are tracked (the `[costs]` section).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostsConfig {
    /// Whether usage logs are read and the cost routes answer.
    pub enabled: bool,
    /// Claude Code data folders (each holding `projects/`, or a `projects/` folder itself)
    /// read beside the defaults of [`log_roots`].
    pub roots: Vec<PathBuf>,
    /// How a cost is arrived at: `auto` (what a line reports, else computed), `calculate`, or
    /// `display`.
    pub mode: CostMode,
    /// The IANA zone days, weeks and months begin in (default: the system's).
    pub timezone: Option<String>,
    /// Daily and monthly budgets in US$.
    pub budgets: Budgets,
    /// Seconds between full passes over the logs (the watcher reads appends at once).
    pub poll_secs: u64,
    /// Whether the logs are watched for changes.
    pub watch: bool,
    /// Prices by model key (matched as the built-in keys are), in US$ per million tokens,
    /// replacing or adding to the embedded table.
    pub prices: BTreeMap<String, PriceOverride>,
}

impl Default for CostsConfig {
    fn default() -> Self {
        CostsConfig {
            enabled: true,
            roots: Vec::new(),
            mode: CostMode::Auto,
            timezone: None,
            budgets: Budgets::default(),
            poll_secs: 30,
            watch: true,
            prices: BTreeMap::new(),
        }
    }
}

/// A model's prices in US$ per million tokens; cache prices default to 1.25 × and 0.1 × the
/// input price; `*_above` prices apply beyond 200k tokens a field (cache prices beyond it
/// derived from `input_above` the same way).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceOverride {
    /// Input.
    pub input: f64,
    /// Output.
    pub output: f64,
    /// Cache writes.
    pub cache_write: Option<f64>,
    /// Cache reads.
    pub cache_read: Option<f64>,
    /// Input beyond 200k tokens.
    pub input_above: Option<f64>,
    /// Output beyond 200k tokens.
    pub output_above: Option<f64>,
}

/// A setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration `costs.{key}`: {message}")]
pub struct ConfigError {
    /// The key.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl CostsConfig {
    /// The service's configuration: the roots found in `env` and configured, the zone, and
    /// the price table with the overrides.
    pub fn service_config(&self, env: &LogEnvironment) -> Result<ServiceConfig, ConfigError> {
        let error = |key: &str, message: String| ConfigError {
            key: key.to_owned(),
            message,
        };
        let zone = match &self.timezone {
            Some(name) => Zone::named(name).map_err(|e| error("timezone", e.to_string()))?,
            None => Zone::system(),
        };
        for (key, limit) in [
            ("budgets.daily_usd", self.budgets.daily_usd),
            ("budgets.monthly_usd", self.budgets.monthly_usd),
        ] {
            if limit.is_some_and(|l| !(0.0..1e9).contains(&l)) {
                return Err(error(key, "must be a number from 0 to 1e9".into()));
            }
        }
        if self.poll_secs == 0 {
            return Err(error("poll_secs", "must be at least 1".into()));
        }
        let mut table = PriceTable::built_in();
        for (model, p) in &self.prices {
            let values = [
                Some(p.input),
                Some(p.output),
                p.cache_write,
                p.cache_read,
                p.input_above,
                p.output_above,
            ];
            if model.is_empty() || values.iter().flatten().any(|v| !(0.0..1e6).contains(v)) {
                return Err(error(
                    &format!("prices.{model}"),
                    "prices are US$ per million tokens, from 0 to 1e6, for a named model".into(),
                ));
            }
            let mut price = Price::per_million(p.input, p.output, p.cache_write, p.cache_read);
            if p.input_above.is_some() || p.output_above.is_some() {
                let input = p.input_above.unwrap_or(p.input);
                price = price.tiered(
                    input,
                    p.output_above.unwrap_or(p.output),
                    input * 1.25,
                    input * 0.1,
                );
            }
            table.set(model, price);
        }
        Ok(ServiceConfig {
            roots: candidate_roots(env, &self.roots),
            mode: self.mode,
            table,
            zone,
            budgets: self.budgets,
            poll: Duration::from_secs(self.poll_secs),
            watch: self.watch,
        })
    }
}

/// What the process environment says about Claude Code's folders, handed in by the program:
/// [`LogEnvironment::from_process`] for what Claude Code itself sees, or a value built by hand
/// to read chosen folders. `LogEnvironment::default()` knows no home folder, so only the
/// configured extra folders are read.
///
/// ```
/// use jarvis_costs::{LogEnvironment, log_roots};
///
/// let home = tempfile::tempdir()?;
/// std::fs::create_dir_all(home.path().join(".claude/projects"))?;
/// let env = LogEnvironment { home: Some(home.path().to_owned()), ..LogEnvironment::default() };
/// assert_eq!(log_roots(&env, &[]), [home.path().join(".claude/projects")]);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogEnvironment {
    /// The home folder.
    pub home: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME`.
    pub xdg_config_home: Option<PathBuf>,
    /// `$CLAUDE_CONFIG_DIR`: comma-separated folders.
    pub claude_config_dir: Option<String>,
}

impl LogEnvironment {
    /// The process's own: its home folder, `$XDG_CONFIG_HOME` (when set and not empty) and
    /// `$CLAUDE_CONFIG_DIR`. Call it once, at start-up, and pass the value on.
    pub fn from_process() -> LogEnvironment {
        LogEnvironment {
            home: std::env::home_dir(),
            xdg_config_home: std::env::var_os("XDG_CONFIG_HOME")
                .filter(|v| !v.is_empty())
                .map(Into::into),
            claude_config_dir: std::env::var("CLAUDE_CONFIG_DIR").ok(),
        }
    }
}

/// The `projects` folders to read, each once, in order, as ccusage finds them: every folder
/// `$CLAUDE_CONFIG_DIR` names (a data folder or its `projects/` itself; `~/` expanded) when it is
/// set, else `$XDG_CONFIG_HOME/claude` (default `~/.config/claude`) and `~/.claude`; then the
/// configured `extra` ones. Only folders that exist are answered.
pub fn log_roots(env: &LogEnvironment, extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut roots = candidate_roots(env, extra);
    roots.retain(|root| root.is_dir());
    roots
}

/// The `projects` folders [`log_roots`] looks for, whether they exist or not (a live reader
/// watches for those created later).
pub fn candidate_roots(env: &LogEnvironment, extra: &[PathBuf]) -> Vec<PathBuf> {
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
        if !roots.contains(&projects) {
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

    #[test]
    fn settings_resolve_and_bad_ones_name_their_key() {
        let toml_like = serde_json::json!({
            "mode": "calculate",
            "timezone": "Europe/Paris",
            "budgets": { "daily_usd": 5.0 },
            "prices": {
                "mystery-model": { "input": 2.0, "output": 10.0 },
                "claude-sonnet-4-5": { "input": 1.0, "output": 2.0, "cache_read": 0.0 }
            }
        });
        let config: CostsConfig = serde_json::from_value(toml_like).unwrap();
        let service = config.service_config(&LogEnvironment::default()).unwrap();
        assert_eq!(service.zone.name(), "Europe/Paris");
        assert_eq!(service.mode, CostMode::Calculate);
        // Added, matched like the built-in keys, with the usual cache prices derived.
        let added = service.table.find("mystery-model-2026-01-01").unwrap();
        assert_eq!(
            (
                added.input,
                added.output,
                added.cache_write,
                added.cache_read
            ),
            (2_000, 10_000, 2_500, 200)
        );
        // Replaced.
        let replaced = service.table.find("claude-sonnet-4-5-20250929").unwrap();
        assert_eq!((replaced.input, replaced.cache_read), (1_000, 0));
        for (bad, key) in [
            (
                serde_json::json!({ "timezone": "Nowhere/Land" }),
                "costs.timezone",
            ),
            (
                serde_json::json!({ "budgets": { "daily_usd": -1.0 } }),
                "costs.budgets.daily_usd",
            ),
            (serde_json::json!({ "poll_secs": 0 }), "costs.poll_secs"),
            (
                serde_json::json!({ "prices": { "m": { "input": -3.0, "output": 1.0 } } }),
                "costs.prices.m",
            ),
        ] {
            let config: CostsConfig = serde_json::from_value(bad).unwrap();
            let err = config
                .service_config(&LogEnvironment::default())
                .unwrap_err();
            assert!(err.to_string().contains(key), "{err}");
        }
        assert!(
            serde_json::from_value::<CostsConfig>(serde_json::json!({ "surprise": 1 })).is_err()
        );
    }
}
