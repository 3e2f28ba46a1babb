//! Content analysis as tasks: what both doors (`POST /analyze`, `POST /api/v2/analyses`) check
//! before queueing, and the [`AnalysisJob`] the task engine runs for `analysis` tasks — a local
//! file below a media root or an address that is not internal, analysed as text or as media,
//! with progress, cancel, and thumbnails kept in the data folder.

use std::path::PathBuf;
use std::sync::Arc;

use jarvis_core::{Code, Task, TaskError};
use jarvis_integrations::analyzer::{
    Analyzer, Cancel, FetchError, FetchPolicy, MediaError, PathError, Wanted, analyze_text,
    check_local, fetch,
};
use jarvis_tasks::{Job, JobFuture, JobOutcome, Progress};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The kinds of analysis a client may ask for.
pub const ANALYSIS_TYPES: &[&str] = &[
    "metadata",
    "scenes",
    "loudness",
    "silence",
    "thumbnails",
    "text",
];

/// The `[analysis]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Whether analyses run.
    pub enabled: bool,
    /// Folders whose files may be analysed by path.
    pub roots: Vec<PathBuf>,
    /// How media is analysed.
    pub media: jarvis_integrations::analyzer::MediaConfig,
    /// How addresses are fetched.
    pub fetch: FetchPolicy,
    /// Analyses at once: slots of their own, apart from the runner's `tasks.concurrency`.
    pub concurrency: usize,
    /// The largest text analysed, in bytes.
    pub max_text_bytes: u64,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            enabled: true,
            roots: Vec::new(),
            media: jarvis_integrations::analyzer::MediaConfig::default(),
            fetch: FetchPolicy::default(),
            concurrency: 2,
            max_text_bytes: 10 * 1024 * 1024,
        }
    }
}

/// Content analysis as configured: the settings, the media roots (resolved once), the one
/// shared [`Analyzer`] and the folder analyses keep their files in. Cheap to clone; the task
/// engine's job, the routes and the command line all go through it.
#[derive(Debug, Clone)]
pub struct Analysis {
    config: AnalysisConfig,
    roots: Arc<[PathBuf]>,
    analyzer: Analyzer,
    dir: PathBuf,
}

/// What to analyse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A path a client named: it must lie below a media root ([`check_local`]).
    Requested(String),
    /// A file the caller vouches for (the command line's own user): read as it is.
    Trusted(PathBuf),
    /// An http(s) address, fetched under the configured policy.
    Url(String),
}

impl Analysis {
    /// Analysis over `config`, keeping files below `dir`. Resolves the media roots (blocking).
    pub fn new(config: AnalysisConfig, dir: PathBuf) -> Analysis {
        Analysis {
            roots: jarvis_integrations::analyzer::resolve_roots(&config.roots).into(),
            analyzer: Analyzer::new(config.media.clone(), config.concurrency),
            config,
            dir,
        }
    }

    /// The settings.
    pub fn config(&self) -> &AnalysisConfig {
        &self.config
    }

    /// The shared analyzer (its programs and pool are in [`Analyzer::status`]).
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// The media roots, resolved.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Where analysis `id` keeps its thumbnails: `<dir>/<id>/<n>.jpg`.
    pub fn thumbnails_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// The job the task engine runs for `analysis` tasks.
    pub fn job(&self) -> AnalysisJob {
        AnalysisJob {
            analysis: self.clone(),
        }
    }

    /// Analyses `source` for `types` (all when empty), reporting `(stage, percent)`, until done
    /// or `cancel` fires. Thumbnails go to `thumbnails` when given and asked for; a fetched
    /// media body is kept at `scratch` while it is analysed, then removed.
    pub async fn run(
        &self,
        source: Source,
        types: &[String],
        thumbnails: Option<&std::path::Path>,
        scratch: &std::path::Path,
        cancel: &Cancel,
        progress: impl Fn(&str, f64) + Send + Sync,
    ) -> JobOutcome {
        let wants = |t: &str| types.is_empty() || types.iter().any(|x| x == t);
        let only_text = types.iter().any(|t| t == "text");
        // Where the bytes are: a local file, or a fetched body (kept aside when it is media).
        let (path, text_hint, fetched_text) = match source {
            Source::Url(url) => {
                progress("fetching", 0.0);
                let fetched = tokio::select! {
                    fetched = fetch(&url, &self.config.fetch) => fetched,
                    () = cancel.canceled() => return JobOutcome::Canceled,
                };
                let fetched = match fetched {
                    Ok(fetched) => fetched,
                    Err(e) => return fetch_outcome(e),
                };
                if is_text(&fetched.url, fetched.content_type.as_deref()) || only_text {
                    let text = String::from_utf8_lossy(&fetched.body).into_owned();
                    (None, true, Some(text))
                } else {
                    if let Some(parent) = scratch.parent()
                        && let Err(e) = tokio::fs::create_dir_all(parent).await
                    {
                        return failed(Code::TaskFailed, format!("cannot keep the download: {e}"));
                    }
                    if let Err(e) = tokio::fs::write(scratch, &fetched.body).await {
                        return failed(Code::TaskFailed, format!("cannot keep the download: {e}"));
                    }
                    (Some(scratch.to_path_buf()), false, None)
                }
            }
            Source::Requested(requested) => {
                let roots = Arc::clone(&self.roots);
                let checked =
                    tokio::task::spawn_blocking(move || check_local(&requested, &roots)).await;
                match checked {
                    Ok(Ok(path)) => {
                        let text = is_text(&path.to_string_lossy(), None) || only_text;
                        (Some(path), text, None)
                    }
                    Ok(Err(e)) => return path_outcome(e),
                    Err(e) => return failed(Code::TaskFailed, e.to_string()),
                }
            }
            Source::Trusted(path) => {
                let text = is_text(&path.to_string_lossy(), None) || only_text;
                (Some(path), text, None)
            }
        };
        let outcome = if text_hint {
            let text = match (fetched_text, &path) {
                (Some(text), _) => text,
                (None, Some(path)) => match self.read_text(path).await {
                    Ok(text) => text,
                    Err(outcome) => return outcome,
                },
                (None, None) => String::new(),
            };
            progress("analyzing", 0.0);
            let report = tokio::task::spawn_blocking(move || analyze_text(&text)).await;
            progress("analyzing", 100.0);
            match report {
                Ok(report) => JobOutcome::Succeeded(json!({ "kind": "text", "text": report })),
                Err(e) => failed(Code::TaskFailed, e.to_string()),
            }
        } else {
            let Some(path) = path.as_ref() else {
                return failed(Code::ValidationError, "nothing to analyse");
            };
            let wanted = Wanted {
                scenes: wants("scenes"),
                loudness: wants("loudness"),
                silence: wants("silence"),
            };
            let thumbnails = thumbnails.filter(|_| wants("thumbnails"));
            let report = self
                .analyzer
                .analyze_media(path, wanted, thumbnails, cancel, &progress)
                .await;
            match report {
                Ok(report) => JobOutcome::Succeeded(json!({ "kind": "media", "media": report })),
                Err(e) => media_outcome(e),
            }
        };
        // The download is not kept; the thumbnails are.
        if path.as_deref() == Some(scratch) {
            let _ = tokio::fs::remove_file(scratch).await;
        }
        outcome
    }

    /// Reads a text file of at most `max_text_bytes`.
    async fn read_text(&self, path: &std::path::Path) -> Result<String, JobOutcome> {
        let max_text = self.config.max_text_bytes;
        let unreadable =
            |e: std::io::Error| failed(Code::ValidationError, format!("cannot read the file: {e}"));
        let meta = tokio::fs::metadata(path).await.map_err(unreadable)?;
        if meta.len() > max_text {
            return Err(failed(
                Code::ValidationError,
                format!("the text is larger than {max_text} bytes"),
            ));
        }
        let bytes = tokio::fs::read(path).await.map_err(unreadable)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// The job the task engine runs for `analysis` tasks.
#[derive(Debug)]
pub struct AnalysisJob {
    analysis: Analysis,
}

fn failed(code: Code, message: impl Into<String>) -> JobOutcome {
    JobOutcome::Failed(TaskError {
        code,
        message: message.into(),
    })
}

fn media_outcome(e: MediaError) -> JobOutcome {
    match e {
        MediaError::Canceled => JobOutcome::Canceled,
        MediaError::Timeout(secs) => {
            JobOutcome::TimedOut(format!("the analysis ran past {secs} s"))
        }
        MediaError::ToolMissing { .. } => failed(Code::AnalyzerUnavailable, e.to_string()),
        MediaError::Unreadable { .. } => failed(Code::ValidationError, e.to_string()),
        MediaError::Io(_) => failed(Code::TaskFailed, e.to_string()),
    }
}

fn fetch_outcome(e: FetchError) -> JobOutcome {
    match e {
        FetchError::Timeout(secs) => JobOutcome::TimedOut(format!("the fetch ran past {secs} s")),
        FetchError::Connect(_) | FetchError::Status(_) => {
            failed(Code::UpstreamUnavailable, e.to_string())
        }
        FetchError::Forbidden(_) => failed(Code::SourceForbidden, e.to_string()),
        _ => failed(Code::ValidationError, e.to_string()),
    }
}

fn path_outcome(e: PathError) -> JobOutcome {
    let error = path_error(&e);
    failed(error.code, error.message)
}

/// How a refused path is answered: a missing file is not found; any other refusal is forbidden.
pub(crate) fn path_error(e: &PathError) -> crate::error::ApiError {
    let code = match e {
        PathError::Missing(_) => Code::ResourceNotFound,
        _ => Code::SourceForbidden,
    };
    crate::error::ApiError::new(code, e.to_string()).with_details(json!({ "parameter": "path" }))
}

/// Whether a file name or content type says text.
fn is_text(name: &str, content_type: Option<&str>) -> bool {
    let lower = name.to_ascii_lowercase();
    content_type.is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        t.starts_with("text/") || t.contains("json") || t.contains("xml")
    }) || [".md", ".markdown", ".txt", ".html", ".htm", ".rst"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

impl Job for AnalysisJob {
    fn concurrency(&self) -> usize {
        self.analysis.config.concurrency
    }

    fn run(&self, task: Task, progress: Progress, cancel: oneshot::Receiver<()>) -> JobFuture {
        let analysis = self.analysis.clone();
        Box::pin(async move {
            let stop = Cancel::default();
            let stopper = stop.clone();
            tokio::spawn(async move {
                if cancel.await.is_ok() {
                    stopper.cancel();
                }
            });
            let types: Vec<String> = task.input["types"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let source = if let Some(url) = task.input["url"].as_str() {
                Source::Url(url.to_owned())
            } else if let Some(path) = task.input["path"].as_str() {
                Source::Requested(path.to_owned())
            } else {
                return failed(Code::ValidationError, "give `path` or `url`");
            };
            let thumbnails = analysis.thumbnails_dir(&task.id);
            let scratch = analysis.dir.join(format!("{}.download", task.id));
            analysis
                .run(
                    source,
                    &types,
                    Some(&thumbnails),
                    &scratch,
                    &stop,
                    |stage, p| progress.report(stage, p),
                )
                .await
        })
    }
}

/// Whether a request names media (rather than a text file or a page): local files that are
/// not text, unless only `text` is asked for. Addresses are known only once fetched.
pub(crate) fn names_media(path: Option<&str>, types: &[String]) -> bool {
    path.is_some_and(|p| !is_text(p, None)) && !(types.len() == 1 && types[0] == "text")
}

/// Checks what a client asked before it is queued: one of `path` or `url`, known types. Answers
/// the task input. Local paths and addresses are checked again when the job runs.
pub(crate) fn analysis_input(
    path: Option<String>,
    url: Option<String>,
    types: Vec<String>,
    policy: &FetchPolicy,
) -> Result<(String, Value), crate::error::ApiError> {
    use crate::error::ApiError;
    for t in &types {
        if !ANALYSIS_TYPES.contains(&t.as_str()) {
            return Err(ApiError::invalid(
                "analysis_type",
                format!(
                    "unknown analysis type `{t}`; the types are {}",
                    ANALYSIS_TYPES.join(", ")
                ),
            ));
        }
    }
    match (path, url) {
        (Some(path), None) => Ok((path.clone(), json!({ "path": path, "types": types }))),
        (None, Some(url)) => {
            jarvis_integrations::analyzer::check_url(&url, policy).map_err(|e| match e {
                FetchError::Forbidden(_) => ApiError::new(Code::SourceForbidden, e.to_string())
                    .with_details(json!({ "parameter": "url" })),
                _ => ApiError::invalid("url", e.to_string()),
            })?;
            Ok((url.clone(), json!({ "url": url, "types": types })))
        }
        _ => Err(ApiError::invalid(
            "path",
            "give exactly one of `path` and `url`",
        )),
    }
}
