//! Content analysis: video and audio through ffprobe and ffmpeg ([`media`]), text of notes and
//! pages ([`text`]), from a local file below a media root ([`local`]) or an address that is not
//! internal ([`fetch`]). [`Analyzer`] is the one shared entry point: it bounds how many media
//! analyses run at once, and each runs under its own time limit and cancel handle.

pub mod fetch;
pub mod local;
pub mod media;
pub mod text;

use std::path::Path;
use std::sync::Arc;

use tokio::sync::Semaphore;

pub use fetch::{FetchError, FetchPolicy, Fetched, check_url, fetch};
pub use local::{PathError, check_local, resolve_roots};
pub use media::{
    Cancel, Findings, Loudness, MediaConfig, MediaError, MediaInfo, Silence, StreamInfo, Wanted,
};
pub use text::{Heading, Keyword, LanguageGuess, TextReport, analyze_text};

/// The shared analyzer: media analyses run at most `concurrency` at a time.
#[derive(Debug, Clone)]
pub struct Analyzer {
    config: MediaConfig,
    slots: Arc<Semaphore>,
}

impl Analyzer {
    /// An analyzer running at most `concurrency` (at least 1) media analyses at once.
    pub fn new(config: MediaConfig, concurrency: usize) -> Analyzer {
        Analyzer {
            config,
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &MediaConfig {
        &self.config
    }

    /// Probes `path`, runs the wanted filters (progress 0 to 100 as ffmpeg moves) and, when
    /// `thumbnails` names a folder, takes thumbnails into it. Waits for a slot first (a
    /// cancel while waiting ends the wait).
    pub async fn analyze_media(
        &self,
        path: &Path,
        wanted: Wanted,
        thumbnails: Option<&Path>,
        cancel: &Cancel,
        mut progress: impl FnMut(&'static str, f64),
    ) -> Result<MediaReport, MediaError> {
        let _slot = tokio::select! {
            slot = self.slots.acquire() => slot.map_err(|e| MediaError::Io(e.to_string()))?,
            () = cancel.canceled() => return Err(MediaError::Canceled),
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
