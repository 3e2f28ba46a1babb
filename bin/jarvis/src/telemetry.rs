//! The global tracing subscriber: standard error (pretty on a terminal, JSON lines otherwise)
//! plus optional rotated JSON log files. Only the binary installs it; libraries only emit.

use std::io::IsTerminal;

use anyhow::Context;
use logroller::{LogRollerBuilder, Rotation, RotationAge, RotationSize};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::settings::{LogConfig, LogFormat, LogRotation};

/// Keeps the log-file writer flushing; drop it last.
#[derive(Debug)]
pub struct LogGuard {
    _file: Option<WorkerGuard>,
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// `directives` with the MCP SDK (`rmcp`) silenced unless they name it. Jarvis reports every MCP
/// check itself, with secrets scrubbed; the SDK logs peers' answers and transport errors as
/// they come, URLs included, which may hold credentials.
fn quiet_mcp_sdk(directives: &str) -> String {
    if directives.contains("rmcp") {
        directives.to_owned()
    } else if directives.trim().is_empty() {
        "rmcp=off".to_owned()
    } else {
        format!("{directives},rmcp=off")
    }
}

/// Builds the subscriber's layers from `config`. `rust_log` (the `RUST_LOG` variable, read by the
/// caller) overrides the configured level.
pub fn layers(
    config: &LogConfig,
    rust_log: Option<&str>,
) -> anyhow::Result<(EnvFilter, Vec<BoxedLayer>, LogGuard)> {
    let directives = match rust_log.filter(|v| !v.trim().is_empty()) {
        Some(directives) => directives,
        None => config.level.as_str(),
    };
    let filter = EnvFilter::try_new(quiet_mcp_sdk(directives)).context(if rust_log.is_some() {
        "invalid RUST_LOG"
    } else {
        "invalid configuration `log.level`"
    })?;
    let json = match config.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let mut layers: Vec<BoxedLayer> = Vec::new();
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    layers.push(if json {
        stderr.json().with_current_span(true).boxed()
    } else {
        stderr.with_ansi(std::io::stderr().is_terminal()).boxed()
    });
    let mut guard = LogGuard { _file: None };
    if config.file.enabled {
        let file = &config.file;
        std::fs::create_dir_all(&file.dir).with_context(|| {
            format!(
                "cannot create log folder {} (`log.file.dir`)",
                file.dir.display()
            )
        })?;
        let rotation = match file.rotation {
            LogRotation::Minutely => Rotation::AgeBased(RotationAge::Minutely),
            LogRotation::Hourly => Rotation::AgeBased(RotationAge::Hourly),
            LogRotation::Daily => Rotation::AgeBased(RotationAge::Daily),
            LogRotation::Size => Rotation::SizeBased(RotationSize::Bytes(file.max_bytes)),
        };
        let roller = LogRollerBuilder::new(file.dir.as_path(), std::path::Path::new(&file.name))
            .rotation(rotation)
            .max_keep_files(file.keep)
            .build()
            .with_context(|| format!("cannot open log file in {}", file.dir.display()))?;
        let (writer, worker) = tracing_appender::non_blocking(roller);
        layers.push(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(writer)
                .with_ansi(false)
                .boxed(),
        );
        guard._file = Some(worker);
    }
    Ok((filter, layers, guard))
}

/// Installs the global subscriber.
pub fn init(config: &LogConfig, rust_log: Option<&str>) -> anyhow::Result<LogGuard> {
    let (filter, layers, guard) = layers(config, rust_log)?;
    tracing_subscriber::registry()
        .with(layers)
        .with(filter)
        .try_init()
        .context("a tracing subscriber is already installed")?;
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::quiet_mcp_sdk;

    #[test]
    fn the_mcp_sdk_is_quiet_unless_named() {
        assert_eq!(quiet_mcp_sdk("info"), "info,rmcp=off");
        assert_eq!(quiet_mcp_sdk(""), "rmcp=off");
        assert_eq!(quiet_mcp_sdk("info,rmcp=debug"), "info,rmcp=debug");
    }
}
