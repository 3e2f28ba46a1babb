//! Content analysis: video and audio through ffprobe and ffmpeg ([`media`]), text of notes and
//! pages ([`text`]), from a local file below a media root ([`local`]) or an address that is not
//! internal ([`fetch`](mod@fetch)). [`Analyzer`] is the one shared entry point: it bounds how many media
//! analyses run at once, and each runs under its own time limit and cancel handle.

pub mod fetch;
pub mod local;
pub mod media;
pub mod text;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::sync::Semaphore;

pub use fetch::{FetchError, FetchPolicy, Fetched, check_url, fetch};
pub use local::{PathError, check_local, resolve_roots};
pub use media::{
    Cancel, Findings, Loudness, MediaConfig, MediaError, MediaInfo, Silence, StreamInfo, Wanted,
};
pub use text::{Heading, Keyword, LanguageGuess, TextReport, analyze_text};

/// How long a check of ffprobe and ffmpeg is trusted before it is made again: a program
/// installed or removed since is noticed within this time, without a restart.
pub const TOOL_CHECK_TTL: Duration = Duration::from_secs(30);

/// A program the analyzer runs, as last checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolStatus {
    /// `ffprobe` or `ffmpeg`.
    pub tool: &'static str,
    /// The program as configured (a name looked up in `PATH`, or a path).
    pub program: String,
    /// Whether `program -version` ran and succeeded.
    pub available: bool,
    /// The version it reported (`7.1.2-0+deb13u1`).
    pub version: Option<String>,
    /// Why it could not be run.
    pub error: Option<String>,
}

/// The analyzer's state: its programs and its pool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnalyzerStatus {
    /// ffprobe and ffmpeg, as last checked.
    pub tools: Vec<ToolStatus>,
    /// When they were checked (seconds since the Unix epoch).
    pub checked_at: u64,
    /// Media analyses run at once, at most.
    pub concurrency: usize,
    /// Media analyses running now.
    pub running: usize,
    /// Media analyses waiting for a slot.
    pub waiting: usize,
}

impl AnalyzerStatus {
    /// The first program that cannot be run, if any.
    pub fn missing(&self) -> Option<&ToolStatus> {
        self.tools.iter().find(|t| !t.available)
    }
}

#[derive(Debug, Default)]
struct ToolCheck {
    at: Option<Instant>,
    checked_at: u64,
    tools: Vec<ToolStatus>,
}

/// The shared analyzer: media analyses run at most `concurrency` at a time.
#[derive(Debug, Clone)]
pub struct Analyzer {
    config: MediaConfig,
    concurrency: usize,
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    check: Arc<tokio::sync::Mutex<ToolCheck>>,
}

/// Counts a wait for a slot for as long as it lasts (a canceled wait included).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn start(count: &'a AtomicUsize) -> Waiting<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Analyzer {
    /// An analyzer running at most `concurrency` (at least 1) media analyses at once.
    pub fn new(config: MediaConfig, concurrency: usize) -> Analyzer {
        let concurrency = concurrency.max(1);
        Analyzer {
            config,
            concurrency,
            slots: Arc::new(Semaphore::new(concurrency)),
            waiting: Arc::default(),
            check: Arc::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &MediaConfig {
        &self.config
    }

    /// The programs and the pool. The programs are asked themselves (`-version`) at most once
    /// per [`TOOL_CHECK_TTL`]; callers at the same time share one check.
    ///
    /// Needs a Tokio runtime with I/O and time enabled (it panics outside one): see
    /// [the crate's runtime notes](crate#runtime).
    pub async fn status(&self) -> AnalyzerStatus {
        let (tools, checked_at) = {
            let mut check = self.check.lock().await;
            if check.at.is_none_or(|at| at.elapsed() >= TOOL_CHECK_TTL) {
                let mut tools = Vec::with_capacity(2);
                for (tool, program) in [
                    ("ffprobe", &self.config.ffprobe),
                    ("ffmpeg", &self.config.ffmpeg),
                ] {
                    tools.push(media::check_tool(tool, program).await);
                }
                for tool in tools.iter().filter(|t| !t.available) {
                    tracing::warn!(
                        tool = tool.tool,
                        program = %tool.program,
                        error = tool.error.as_deref().unwrap_or(""),
                        "media analysis cannot run this program"
                    );
                }
                *check = ToolCheck {
                    at: Some(Instant::now()),
                    checked_at: SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs()),
                    tools,
                };
            }
            (check.tools.clone(), check.checked_at)
        };
        AnalyzerStatus {
            tools,
            checked_at,
            concurrency: self.concurrency,
            running: self
                .concurrency
                .saturating_sub(self.slots.available_permits()),
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }

    /// Probes `path`, runs the wanted filters (progress 0 to 100 as ffmpeg moves) and, when
    /// `thumbnails` names a folder, takes thumbnails into it. Waits for a slot first (a
    /// cancel while waiting ends the wait).
    ///
    /// Needs a Tokio runtime with I/O and time enabled (it panics outside one): see
    /// [the crate's runtime notes](crate#runtime).
    pub async fn analyze_media(
        &self,
        path: &Path,
        wanted: Wanted,
        thumbnails: Option<&Path>,
        cancel: &Cancel,
        mut progress: impl FnMut(&'static str, f64),
    ) -> Result<MediaReport, MediaError> {
        let _slot = {
            let _waiting = Waiting::start(&self.waiting);
            tokio::select! {
                slot = self.slots.acquire() => slot.map_err(|e| MediaError::Io(e.to_string()))?,
                () = cancel.canceled() => return Err(MediaError::Canceled),
            }
        };
        progress("probing", 0.0);
        let info = media::probe(&self.config, path, cancel).await?;
        progress("analyzing", 0.0);
        let findings = media::analyze(&self.config, path, &info, wanted, cancel, |p| {
            progress("analyzing", p);
        })
        .await?;
        let thumbnails = match thumbnails {
            Some(dir) => {
                progress("thumbnails", 100.0);
                media::thumbnails(
                    &self.config,
                    path,
                    &info,
                    &findings.scene_changes,
                    dir,
                    cancel,
                )
                .await?
                .len()
            }
            None => 0,
        };
        Ok(MediaReport {
            info,
            findings,
            thumbnails,
        })
    }
}

/// What a media analysis found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MediaReport {
    /// The container and streams.
    pub info: MediaInfo,
    /// Scenes, loudness, silences.
    #[serde(flatten)]
    pub findings: Findings,
    /// How many thumbnails were written (`0.jpg`, `1.jpg`, … in the folder given).
    pub thumbnails: usize,
}
