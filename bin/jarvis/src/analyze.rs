//! `jarvis analyze PATH|URL`: the server's content analysis, run in this process with the same
//! settings (`[analysis]`), a progress bar on a terminal, and Ctrl-C stopping ffmpeg.
//!
//! A local file is read as it is (the user of the shell already reads their own files; the
//! media roots guard the server from its clients). An address is fetched under the configured
//! policy, so internal addresses stay refused unless `analysis.fetch.allow_loopback` says so.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Context;
use jarvis_api::{Analysis, AnalysisConfig, AnalysisSource};
use jarvis_integrations::analyzer::Cancel;
use jarvis_tasks::JobOutcome;
use serde_json::Value;

/// What the command was asked.
#[derive(Debug)]
pub struct Request {
    /// A file, or an http(s) address.
    pub source: String,
    /// The analyses wanted (all when empty).
    pub types: Vec<String>,
    /// Where thumbnails go, when they are wanted.
    pub thumbnails: Option<PathBuf>,
    /// JSON instead of text.
    pub json: bool,
}

/// The exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
const INTERRUPTED: u8 = 130;

/// Runs the analysis: answers what to print and the exit status (130 after Ctrl-C).
pub fn run(
    request: &Request,
    config: &AnalysisConfig,
    data_dir: &std::path::Path,
) -> anyhow::Result<(String, ExitCode)> {
    let source = if request.source.starts_with("http://") || request.source.starts_with("https://")
    {
        jarvis_integrations::analyzer::check_url(&request.source, &config.fetch)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        AnalysisSource::Url(request.source.clone())
    } else {
        let path = std::fs::canonicalize(&request.source)
            .with_context(|| format!("cannot open `{}`", request.source))?;
        if !path.is_file() {
            anyhow::bail!("`{}` is not a regular file", path.display());
        }
        AnalysisSource::Trusted(path)
    };
    if let Some(dir) = &request.thumbnails {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the thumbnail folder `{}`", dir.display()))?;
    }
    // The download of an address is kept beside the server's, under a name of its own.
    let scratch = data_dir
        .join("analyses")
        .join(format!("cli-{}.download", std::process::id()));
    let analysis = Analysis::new(config.clone(), data_dir.join("analyses"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let bar = Bar::new(std::io::stderr().is_terminal());
    let started = std::time::Instant::now();
    let cancel = Cancel::default();
    // Listening starts here, before anything is spawned: a Ctrl-C that comes while ffprobe
    // starts is a cancel, never the default action that would leave ffmpeg running.
    let mut interrupts = {
        let _context = runtime.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .context("cannot listen for Ctrl-C")?
    };
    let outcome = runtime.block_on(async {
        let stopper = cancel.clone();
        // Ctrl-C reaches this process only: ffmpeg runs in a process group of its own, so it
        // is stopped through the cancel handle.
        let interrupt = tokio::spawn(async move {
            if interrupts.recv().await.is_some() {
                stopper.cancel();
            }
        });
        let outcome = analysis
            .run(
                source,
                &request.types,
                request.thumbnails.as_deref(),
                &scratch,
                &cancel,
                |stage, percent| bar.draw(stage, percent),
            )
            .await;
        interrupt.abort();
        outcome
    });
    bar.clear();
    let took = started.elapsed();
    match outcome {
        JobOutcome::Succeeded(result) => {
            let text = if request.json {
                serde_json::to_string_pretty(&result)?
            } else {
                let mut out = render(&request.source, &result, request.thumbnails.as_deref())?;
                writeln!(out, "Took {:.1} s", took.as_secs_f64())?;
                out
            };
            Ok((text, ExitCode::SUCCESS))
        }
        JobOutcome::Failed(error) => {
            anyhow::bail!("{} ({})", error.message, error.code.name())
        }
        JobOutcome::TimedOut(why) => anyhow::bail!("{why} (analysis.media.timeout_secs)"),
        JobOutcome::Canceled => {
            tracing::warn!("analysis interrupted");
            let _ = writeln!(
                std::io::stderr().lock(),
                "interrupted: the analysis was stopped"
            );
            Ok((String::new(), ExitCode::from(INTERRUPTED)))
        }
    }
}

/// A one-line progress bar on standard error, drawn only on a terminal and only when it changes.
struct Bar {
    on: bool,
    last: Mutex<Option<(String, u32)>>,
}

impl Bar {
    const WIDTH: u32 = 30;

    fn new(on: bool) -> Bar {
        Bar {
            on,
            last: Mutex::new(None),
        }
    }

    fn draw(&self, stage: &str, percent: f64) {
        if !self.on {
            return;
        }
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a percentage clamped to 0..=100"
        )]
        let percent = percent.clamp(0.0, 100.0).round() as u32;
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last
            .as_ref()
            .is_some_and(|(s, p)| s == stage && *p == percent)
        {
            return;
        }
        *last = Some((stage.to_owned(), percent));
        let filled = (percent * Self::WIDTH / 100) as usize;
        let empty = Self::WIDTH as usize - filled;
        // A terminal that went away is not worth failing the analysis for.
        let _ = write!(
            std::io::stderr().lock(),
            "\r\x1b[2K{stage:<10} [{}{}] {percent:>3}%",
            "#".repeat(filled),
            "-".repeat(empty)
        );
    }

    fn clear(&self) {
        if self.on && self.last.lock().is_ok_and(|l| l.is_some()) {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}

/// `75.5` as `1:15.50`.
fn clock(secs: f64) -> String {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a media time in seconds, far below u64::MAX"
    )]
    let minutes = (secs.max(0.0) / 60.0).floor() as u64;
    format!("{minutes}:{:05.2}", secs - minutes as f64 * 60.0)
}

/// The result as people read it.
fn render(
    source: &str,
    result: &Value,
    thumbnails: Option<&std::path::Path>,
) -> anyhow::Result<String> {
    let mut out = String::new();
    if let Some(text) = result.get("text") {
        writeln!(out, "{source}: text")?;
        writeln!(
            out,
            "  {} words, {} sentences, {} characters, {} min to read",
            text["words"],
            text["sentences"],
            text["characters"],
            text["reading_time_secs"].as_u64().unwrap_or(0).div_ceil(60)
        )?;
        if let Some(language) = text["language"].as_object() {
            writeln!(
                out,
                "  language: {} ({:.0} %)",
                language["code"].as_str().unwrap_or("?"),
                language["confidence"].as_f64().unwrap_or(0.0) * 100.0
            )?;
        }
        let list = |key: &str, field: &str| -> Vec<String> {
            text[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| {
                            if field.is_empty() {
                                v.as_str().map(str::to_owned)
                            } else {
                                v[field].as_str().map(str::to_owned)
                            }
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let headings = list("headings", "text");
        if !headings.is_empty() {
            writeln!(
                out,
                "  headings ({}): {}",
                headings.len(),
                headings.join(" · ")
            )?;
        }
        let links = list("links", "");
        if !links.is_empty() {
            writeln!(out, "  links ({}): {}", links.len(), links.join(" "))?;
        }
        let keywords = list("keywords", "word");
        if !keywords.is_empty() {
            writeln!(out, "  keywords: {}", keywords.join(", "))?;
        }
        return Ok(out);
    }
    let media = &result["media"];
    let info = &media["info"];
    write!(
        out,
        "{source}: {}",
        info["container"].as_str().unwrap_or("?")
    )?;
    if let Some(d) = info["duration_secs"].as_f64() {
        write!(out, ", {}", clock(d))?;
    }
    if let Some(rate) = info["bit_rate"].as_u64() {
        write!(out, ", {} kb/s", rate / 1000)?;
    }
    writeln!(out)?;
    for stream in info["streams"].as_array().into_iter().flatten() {
        let kind = stream["kind"].as_str().unwrap_or("?");
        write!(
            out,
            "  {kind:<6} {}",
            stream["codec"].as_str().unwrap_or("?")
        )?;
        if let (Some(w), Some(h)) = (stream["width"].as_u64(), stream["height"].as_u64()) {
            write!(out, " {w}x{h}")?;
        }
        if let Some(fps) = stream["frame_rate"].as_f64() {
            write!(out, " {fps} fps")?;
        }
        if let Some(hz) = stream["sample_rate"].as_u64() {
            write!(out, " {hz} Hz")?;
        }
        if let Some(ch) = stream["channels"].as_u64() {
            write!(out, " {ch} ch")?;
        }
        writeln!(out)?;
    }
    let times = |key: &str| -> Vec<f64> {
        media[key]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    let scenes = times("scene_changes");
    if !scenes.is_empty() {
        let shown: Vec<String> = scenes.iter().map(|&s| clock(s)).collect();
        writeln!(
            out,
            "Scene changes ({}): {}",
            scenes.len(),
            shown.join(", ")
        )?;
    }
    if let Some(l) = media["loudness"].as_object() {
        writeln!(
            out,
            "Loudness: {:.1} LUFS integrated, {:.1} LU range, {:.1} dBFS true peak",
            l["integrated_lufs"].as_f64().unwrap_or(f64::NAN),
            l["range_lu"].as_f64().unwrap_or(f64::NAN),
            l["true_peak_dbfs"].as_f64().unwrap_or(f64::NAN)
        )?;
    }
    if let Some(silences) = media["silences"].as_array().filter(|a| !a.is_empty()) {
        let shown: Vec<String> = silences
            .iter()
            .map(|s| {
                format!(
                    "{}–{}",
                    clock(s["start_secs"].as_f64().unwrap_or(0.0)),
                    clock(s["end_secs"].as_f64().unwrap_or(0.0))
                )
            })
            .collect();
        writeln!(out, "Silences ({}): {}", silences.len(), shown.join(", "))?;
    }
    let taken = media["thumbnails"].as_u64().unwrap_or(0);
    if let Some(dir) = thumbnails.filter(|_| taken > 0) {
        writeln!(out, "Thumbnails: {taken} in {}", dir.display())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_shows_minutes_and_hundredths() {
        assert_eq!(clock(0.0), "0:00.00");
        assert_eq!(clock(75.5), "1:15.50");
        assert_eq!(clock(3600.04), "60:00.04");
    }
}
