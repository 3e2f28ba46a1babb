//! Typed settings: embedded defaults, then `jarvis.toml`, then `JARVIS__SECTION__KEY`
//! environment variables, then command-line flags; validated before anything starts.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use config::{Config, Environment, File, FileFormat};
use jarvis_discovery::DiscoveryConfig;
use serde::{Deserialize, Serialize};

/// The built-in defaults, shipped inside the binary.
const DEFAULTS: &str = include_str!("../config.default.toml");

/// Every setting Jarvis reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where resources are discovered.
    pub discovery: DiscoveryConfig,
    /// The HTTP server.
    pub server: jarvis_api::ApiConfig,
    /// Where Jarvis keeps its own files.
    pub storage: StorageConfig,
    /// The database: SQLite in the data folder, or PostgreSQL shared by several instances.
    pub store: jarvis_store::StoreConfig,
    /// How tasks run.
    pub tasks: jarvis_tasks::TaskConfig,
    /// The n8n instance, when there is one.
    pub n8n: jarvis_integrations::N8nConfig,
    /// System metrics and their history.
    pub telemetry: jarvis_telemetry::TelemetryConfig,
    /// What AI use costs: usage logs, prices, budgets.
    pub costs: jarvis_costs::CostsConfig,
    /// Content analysis: media folders, ffmpeg, limits.
    pub analysis: jarvis_api::AnalysisConfig,
    /// The knowledge base: notes folders, memory files, limits.
    pub knowledge: jarvis_knowledge::KnowledgeConfig,
    /// MCP server health checks.
    pub mcp: jarvis_integrations::mcp::McpConfig,
    /// Logging.
    pub log: LogConfig,
}

/// The `[storage]` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// The data folder (API keys, later the database). Default: `$XDG_DATA_HOME/jarvis`, else
    /// `~/.local/share/jarvis`.
    pub data_dir: Option<PathBuf>,
}

impl StorageConfig {
    /// The data folder, from the setting or the platform default.
    pub fn data_dir(
        &self,
        home: Option<&Path>,
        xdg_data_home: Option<&str>,
    ) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.data_dir {
            return Ok(dir.clone());
        }
        if let Some(xdg) = xdg_data_home.filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(xdg).join("jarvis"));
        }
        home.map(|h| h.join(".local/share/jarvis")).ok_or_else(|| {
            anyhow::anyhow!(
                "invalid configuration `storage.data_dir`: no home folder to derive it from; set it"
            )
        })
    }
}

/// The `[log]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter (`info`, `jarvis_discovery=debug,info`). `RUST_LOG` wins when set.
    pub level: String,
    /// Output format.
    pub format: LogFormat,
    /// Optional rotated log files.
    pub file: LogFileConfig,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable on a terminal, JSON lines otherwise.
    Auto,
    /// Human-readable.
    Pretty,
    /// JSON lines.
    Json,
}

/// The `[log.file]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFileConfig {
    /// Whether to write log files (JSON lines) besides standard error.
    pub enabled: bool,
    /// The folder for log files (created if missing).
    pub dir: PathBuf,
    /// The file name; rotated files get a suffix.
    pub name: String,
    /// When to start a new file.
    pub rotation: LogRotation,
    /// The size that triggers rotation with `rotation = "size"`.
    pub max_bytes: u64,
    /// How many rotated files to keep.
    pub keep: u64,
}

/// When a log file is rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogRotation {
    /// Every minute (mostly for testing rotation).
    Minutely,
    /// Every hour.
    Hourly,
    /// Every day.
    Daily,
    /// When the file reaches `max_bytes`.
    Size,
}

/// Where settings come from, besides the embedded defaults.
#[derive(Debug, Default)]
pub struct Sources<'a> {
    /// A configuration file; it must exist when given.
    pub file: Option<&'a Path>,
    /// Environment variables (`JARVIS__…`), as read by the binary.
    pub env: Vec<(String, String)>,
    /// Project folders added on the command line.
    pub extra_projects: Vec<PathBuf>,
    /// A log level given on the command line.
    pub log_level: Option<String>,
}

impl Settings {
    /// Layers defaults, file, environment and flags, and validates the result.
    pub fn load(sources: Sources<'_>) -> anyhow::Result<Settings> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = sources.file {
            if !path.is_file() {
                bail!("configuration file {} does not exist", path.display());
            }
            builder = builder.add_source(File::from(path).format(FileFormat::Toml).required(true));
        }
        let mut env = config::Map::new();
        let mut arrays = Vec::new();
        for (name, value) in sources.env {
            if !name.starts_with("JARVIS__") {
                continue;
            }
            match json_list(&name, &value)? {
                Some(list) => arrays.push(list),
                None => {
                    env.insert(name, value);
                }
            }
        }
        let mut environment = Environment::with_prefix("JARVIS")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",");
        for key in LIST_KEYS {
            environment = environment.with_list_parse_key(key);
        }
        builder = builder.add_source(environment.source(Some(env)));
        for (key, list) in arrays {
            builder = builder.set_override(key, list).map_err(explain)?;
        }
        let config = builder.build().map_err(explain)?;
        let mut settings: Settings = config.try_deserialize().map_err(explain)?;
        settings.discovery.projects.extend(
            sources
                .extra_projects
                .into_iter()
                .map(jarvis_discovery::ProjectConfig::Path),
        );
        if let Some(level) = sources.log_level {
            settings.log.level = level;
        }
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.server.host.parse::<std::net::IpAddr>().is_err() && self.server.host != "localhost"
        {
            bail!(
                "invalid configuration `server.host`: `{}` is not an IP address",
                self.server.host
            );
        }
        if !self.n8n.base_url.is_empty() {
            jarvis_integrations::N8nClient::new(&self.n8n).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        self.costs
            .service_config(&jarvis_costs::LogEnvironment::default())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        self.mcp.checks().map_err(|e| anyhow::anyhow!("{e}"))?;
        self.store.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
        if self.tasks.runner.is_empty() || self.tasks.runner[0].trim().is_empty() {
            bail!("invalid configuration `tasks.runner`: needs at least the program to run");
        }
        if self.tasks.concurrency == 0 || self.tasks.concurrency > 64 {
            bail!("invalid configuration `tasks.concurrency`: must be from 1 to 64");
        }
        if self.tasks.timeout_secs == 0 {
            bail!("invalid configuration `tasks.timeout_secs`: must be greater than 0");
        }
        if let Err(e) =
            jarvis_telemetry::History::new(&self.telemetry.tiers, self.telemetry.max_points)
        {
            bail!("invalid configuration `telemetry.tiers`: {e}");
        }
        if self.telemetry.interval_ms < 100 {
            bail!("invalid configuration `telemetry.interval_ms`: must be at least 100");
        }
        if self.telemetry.live_interval_ms < 100 {
            bail!("invalid configuration `telemetry.live_interval_ms`: must be at least 100");
        }
        for origin in &self.server.cors.allowed_origins {
            let ok = (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.ends_with('/')
                && !origin.contains('*');
            if !ok {
                bail!(
                    "invalid configuration `server.cors.allowed_origins`: `{origin}` is not an origin like https://app.example (no path, no wildcard)"
                );
            }
        }
        if self.server.max_uri_bytes < 256 || self.server.max_header_bytes < 1024 {
            bail!(
                "invalid configuration `server.max_uri_bytes`/`server.max_header_bytes`: at least 256 and 1024 bytes"
            );
        }
        if self.server.max_body_bytes == 0 {
            bail!("invalid configuration `server.max_body_bytes`: must be greater than 0");
        }
        if self.server.cache.max_entries == 0 && self.server.cache.enabled {
            bail!(
                "invalid configuration `server.cache.max_entries`: must be at least 1 while the cache is enabled"
            );
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level).with_context(|| {
            format!(
                "invalid configuration `log.level`: `{}` is not a valid filter",
                self.log.level
            )
        })?;
        if self.log.file.enabled {
            if self.log.file.name.is_empty() || self.log.file.name.contains(['/', '\\']) {
                bail!("invalid configuration `log.file.name`: must be a plain file name");
            }
            if self.log.file.keep == 0 {
                bail!("invalid configuration `log.file.keep`: must be at least 1");
            }
            if self.log.file.rotation == LogRotation::Size && self.log.file.max_bytes < 1024 {
                bail!("invalid configuration `log.file.max_bytes`: must be at least 1024");
            }
        }
        Ok(())
    }
}

/// Settings that hold a list. In the environment a list is written either split on commas
/// (`a,b`) or as a JSON array of strings (`["a", "b,c"]`), which can hold commas.
const LIST_KEYS: [&str; 4] = [
    "discovery.projects",
    "discovery.workflow_paths",
    "server.cors.allowed_origins",
    "tasks.runner",
];

/// The key and items of a list variable written as a JSON array; `None` for any other variable
/// or value. A value that opens an array but is not a JSON array of strings is refused, naming
/// the variable, rather than read as one odd item.
fn json_list(name: &str, value: &str) -> anyhow::Result<Option<(&'static str, Vec<String>)>> {
    let key = name
        .trim_start_matches("JARVIS__")
        .replace("__", ".")
        .to_ascii_lowercase();
    let Some(key) = LIST_KEYS.into_iter().find(|k| *k == key) else {
        return Ok(None);
    };
    if !value.trim_start().starts_with('[') {
        return Ok(None);
    }
    let list = serde_json::from_str::<Vec<String>>(value).map_err(|e| {
        anyhow::anyhow!(
            "invalid configuration `{name}`: starts like a JSON array but is not an array of strings ({e}); write [\"a\", \"b\"] or a,b"
        )
    })?;
    Ok(Some((key, list)))
}

/// Makes the `config` crate's errors name the key in our words.
fn explain(err: config::ConfigError) -> anyhow::Error {
    anyhow::anyhow!("invalid configuration: {err}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_load() {
        let s = Settings::load(Sources::default()).unwrap();
        assert_eq!(s.log.level, "info");
        assert_eq!(s.log.format, LogFormat::Auto);
        assert_eq!(s.discovery.max_file_bytes, 1024 * 1024);
        assert!(s.discovery.projects.is_empty());
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jarvis.toml");
        std::fs::write(
            &file,
            "[log]\nlevel = \"debug\"\n[discovery]\nmax_file_bytes = 10\n",
        )
        .unwrap();
        let s = Settings::load(Sources {
            file: Some(&file),
            env: env(&[
                ("JARVIS__DISCOVERY__MAX_FILE_BYTES", "20"),
                ("JARVIS__LOG__FORMAT", "json"),
                ("OTHER", "x"),
            ]),
            extra_projects: vec!["/p".into()],
            log_level: Some("warn".into()),
        })
        .unwrap();
        assert_eq!(s.discovery.max_file_bytes, 20);
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.log.level, "warn");
        assert_eq!(s.discovery.projects.len(), 1);
    }

    #[test]
    fn list_variables_take_commas_or_a_json_array() {
        let s = Settings::load(Sources {
            env: env(&[
                (
                    "JARVIS__TASKS__RUNNER",
                    r#"["/opt/my runner", "-p", "{prompt}", "--tools=Read,Grep"]"#,
                ),
                ("JARVIS__DISCOVERY__WORKFLOW_PATHS", "/a.json,/b.json"),
            ]),
            ..Sources::default()
        })
        .unwrap();
        assert_eq!(
            s.tasks.runner,
            ["/opt/my runner", "-p", "{prompt}", "--tools=Read,Grep"]
        );
        assert_eq!(
            s.discovery.workflow_paths,
            [PathBuf::from("/a.json"), PathBuf::from("/b.json")]
        );

        let s = Settings::load(Sources {
            env: env(&[(
                "JARVIS__DISCOVERY__WORKFLOW_PATHS",
                r#" ["/n8n/a, b.json"]"#,
            )]),
            ..Sources::default()
        })
        .unwrap();
        assert_eq!(
            s.discovery.workflow_paths,
            [PathBuf::from("/n8n/a, b.json")]
        );

        for bad in [r#"["/path"#, "[1, 2]", r#"["a", {"b": 1}]"#] {
            let err = Settings::load(Sources {
                env: env(&[("JARVIS__TASKS__RUNNER", bad)]),
                ..Sources::default()
            })
            .unwrap_err();
            assert!(
                format!("{err:#}").contains("`JARVIS__TASKS__RUNNER`"),
                "{bad}: {err:#}"
            );
        }
        let err = Settings::load(Sources {
            env: env(&[("JARVIS__TASKS__RUNNER", "[]")]),
            ..Sources::default()
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("tasks.runner"), "{err:#}");
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jarvis.toml");
        std::fs::write(&file, "[discovery]\nmax_file_byte = 10\n").unwrap();
        let err = Settings::load(Sources {
            file: Some(&file),
            ..Sources::default()
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("max_file_byte"), "{err:#}");

        let err = Settings::load(Sources {
            env: env(&[("JARVIS__DISCOVERY__WATCH", "sometimes")]),
            ..Sources::default()
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("watch"), "{err:#}");

        let err = Settings::load(Sources {
            log_level: Some("info,[".into()),
            ..Sources::default()
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("log.level"), "{err:#}");
    }
}
