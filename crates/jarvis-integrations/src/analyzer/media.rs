//! Video and audio analysis through ffprobe and ffmpeg, run as subprocesses: the container and
//! its streams; scene changes; EBU R128 loudness; silence spans; keyframe thumbnails; progress
//! from ffmpeg's `-progress` output.
//!
//! Each subprocess runs in a process group of its own, is killed with its group on cancel or
//! timeout, and is waited for: none outlives the call. The file names are passed as arguments,
//! never through a shell.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;

#[cfg(target_os = "linux")]
use crate::child::die_with_parent;
use crate::child::kill_group;

/// How media is analysed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// The ffmpeg program (a path, or a name looked up in `PATH`).
    pub ffmpeg: String,
    /// The ffprobe program.
    pub ffprobe: String,
    /// The longest one analysis may take, in seconds.
    pub timeout_secs: u64,
    /// A frame whose difference from the one before is above this (0 to 1) starts a scene.
    pub scene_threshold: f64,
    /// Audio below this level, in dB, is silence.
    pub silence_db: f64,
    /// The shortest silence reported, in seconds.
    pub silence_min_secs: f64,
    /// Thumbnails taken of a video.
    pub thumbnails: usize,
    /// The scheduling niceness ffprobe and ffmpeg run at (0 to 19; Linux): an analysis takes
    /// every core it can get, and at 10 it yields them to the server and to the user's own work.
    pub nice: u8,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
            timeout_secs: 600,
            scene_threshold: 0.3,
            silence_db: -50.0,
            silence_min_secs: 0.5,
            thumbnails: 3,
            nice: 10,
        }
    }
}

/// Why an analysis did not finish.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MediaError {
    /// The program is not installed or not executable.
    #[error("{tool} is not installed or cannot be run ({reason})")]
    ToolMissing {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
        /// What starting it said.
        reason: String,
    },
    /// The program ran and failed: the input is not media it can read.
    #[error("{tool} could not read the input: {message}")]
    Unreadable {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
        /// Its last words on stderr.
        message: String,
    },
    /// The analysis ran past its time limit and was stopped.
    #[error("the analysis ran past {0} s and was stopped")]
    Timeout(u64),
    /// The analysis was canceled.
    #[error("the analysis was canceled")]
    Canceled,
    /// Reading the program's output failed.
    #[error("cannot read the analyzer's output: {0}")]
    Io(String),
}

/// One stream of a container.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamInfo {
    /// The stream's index.
    pub index: u32,
    /// `video`, `audio`, `subtitle`, `data`.
    pub kind: String,
    /// The codec's short name.
    pub codec: Option<String>,
    /// Width in pixels (video).
    pub width: Option<u32>,
    /// Height in pixels (video).
    pub height: Option<u32>,
    /// Frames a second (video).
    pub frame_rate: Option<f64>,
    /// Samples a second (audio).
    pub sample_rate: Option<u32>,
    /// Channels (audio).
    pub channels: Option<u32>,
    /// Bits a second.
    pub bit_rate: Option<u64>,
}

/// A container and its streams.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MediaInfo {
    /// The container format (`mov,mp4,m4a,3gp,3g2,mj2`, `wav`, …).
    pub container: String,
    /// Seconds.
    pub duration_secs: Option<f64>,
    /// Bits a second, overall.
    pub bit_rate: Option<u64>,
    /// Bytes.
    pub size_bytes: Option<u64>,
    /// The streams.
    pub streams: Vec<StreamInfo>,
}

impl MediaInfo {
    /// Whether a video stream is present (an attached picture does not count).
    pub fn has_video(&self) -> bool {
        self.streams
            .iter()
            .any(|s| s.kind == "video" && s.width.is_some())
    }

    /// Whether an audio stream is present.
    pub fn has_audio(&self) -> bool {
        self.streams.iter().any(|s| s.kind == "audio")
    }
}

/// EBU R128 loudness.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Loudness {
    /// Integrated loudness, LUFS.
    pub integrated_lufs: f64,
    /// Loudness range, LU.
    pub range_lu: f64,
    /// True peak, dBFS.
    pub true_peak_dbfs: f64,
}

/// A span of silence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Silence {
    /// Start, seconds.
    pub start_secs: f64,
    /// End, seconds.
    pub end_secs: f64,
}

/// What the filters found.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Findings {
    /// Where a new scene begins, seconds.
    pub scene_changes: Vec<f64>,
    /// Loudness, when there is audio.
    pub loudness: Option<Loudness>,
    /// Silent spans.
    pub silences: Vec<Silence>,
}

/// Which analyses to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wanted {
    /// Scene changes (video).
    pub scenes: bool,
    /// Loudness (audio).
    pub loudness: bool,
    /// Silence (audio).
    pub silence: bool,
}

/// A handle that cancels an analysis; cheap to clone.
#[derive(Debug, Clone)]
pub struct Cancel(watch::Sender<bool>);

impl Default for Cancel {
    fn default() -> Self {
        Cancel(watch::channel(false).0)
    }
}

impl Cancel {
    /// Cancels every analysis holding this handle.
    pub fn cancel(&self) {
        self.0.send_replace(true);
    }

    /// Whether it was canceled.
    pub fn is_canceled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the handle is canceled.
    pub async fn canceled(&self) {
        let mut receiver = self.0.subscribe();
        let _ = receiver.wait_for(|canceled| *canceled).await;
    }
}

/// What a finished subprocess left.
struct Ran {
    stdout: String,
    stderr: String,
}

/// The most of a subprocess's stderr kept (its end, where ffmpeg's summaries are).
const STDERR_KEPT: usize = 1 << 20;

/// Runs `program` with `args` in a process group of its own, feeding each stdout line to
/// `on_line`, until it exits, `cancel` fires or `timeout` passes; the group is killed on the
/// latter two and the process always waited for.
async fn run(
    tool: &'static str,
    program: &str,
    nice: u8,
    args: &[String],
    timeout: Duration,
    cancel: &Cancel,
    mut on_line: impl FnMut(&str),
) -> Result<Ran, MediaError> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    #[cfg(target_os = "linux")]
    die_with_parent(&mut command, nice);
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
    let mut child = command.spawn().map_err(|e| MediaError::ToolMissing {
        tool,
        reason: e.to_string(),
    })?;
    let pid = child.id();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let collect_stderr = async move {
        let mut kept = Vec::new();
        if let Some(mut stderr) = stderr {
            let mut chunk = vec![0u8; 64 * 1024];
            while let Ok(n) = stderr.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&chunk[..n]);
                if kept.len() > STDERR_KEPT {
                    kept.drain(..kept.len() - STDERR_KEPT);
                }
            }
        }
        String::from_utf8_lossy(&kept).into_owned()
    };
    let read_stdout = async {
        let mut all = String::new();
        if let Some(stdout) = stdout {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                on_line(&line);
                if all.len() < STDERR_KEPT {
                    all.push_str(&line);
                    all.push('\n');
                }
            }
        }
        all
    };
    let work = async {
        let (stdout, stderr, status) = tokio::join!(read_stdout, collect_stderr, child.wait());
        (stdout, stderr, status)
    };
    let outcome = tokio::select! {
        done = work => Ok(done),
        () = tokio::time::sleep(timeout) => Err(MediaError::Timeout(timeout.as_secs())),
        () = cancel.canceled() => Err(MediaError::Canceled),
    };
    match outcome {
        Ok((stdout, stderr, status)) => {
            let status = status.map_err(|e| MediaError::Io(e.to_string()))?;
            if status.success() {
                Ok(Ran { stdout, stderr })
            } else {
                Err(MediaError::Unreadable {
                    tool,
                    message: last_words(&stderr),
                })
            }
        }
        Err(e) => {
            kill_group(pid);
            // Reaped, so nothing is left behind.
            let _ = child.wait().await;
            Err(e)
        }
    }
}

/// Runs `program -version` (ten seconds at most) and reads the version from its first line.
pub(crate) async fn check_tool(tool: &'static str, program: &str) -> super::ToolStatus {
    let mut command = Command::new(program);
    command
        .arg("-version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let (available, version, error) =
        match tokio::time::timeout(Duration::from_secs(10), command.output()).await {
            Ok(Ok(out)) if out.status.success() => {
                let text = String::from_utf8_lossy(&out.stdout);
                // `ffmpeg version 7.1.2-0+deb13u1 Copyright (c) …`
                let version = text
                    .lines()
                    .next()
                    .and_then(|line| line.split_whitespace().nth(2))
                    .map(str::to_owned);
                (true, version, None)
            }
            Ok(Ok(out)) => (
                false,
                None,
                Some(format!("`-version` exited with {}", out.status)),
            ),
            Ok(Err(e)) => (false, None, Some(e.to_string())),
            Err(_) => (false, None, Some("`-version` ran past 10 s".to_owned())),
        };
    super::ToolStatus {
        tool,
        program: program.to_owned(),
        available,
        version,
        error,
    }
}

/// The last non-empty line of a program's stderr, cut to 300 characters.
fn last_words(stderr: &str) -> String {
    let line = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no message")
        .trim();
    line.chars().take(300).collect()
}

fn number<T: std::str::FromStr>(value: Option<&serde_json::Value>) -> Option<T> {
    match value? {
        serde_json::Value::String(text) => text.parse().ok(),
        other => other.to_string().parse().ok(),
    }
}

/// `30000/1001` as 29.97.
fn rate(value: Option<&serde_json::Value>) -> Option<f64> {
    let text = value?.as_str()?;
    let (num, den) = text.split_once('/')?;
    let (num, den): (f64, f64) = (num.parse().ok()?, den.parse().ok()?);
    (den > 0.0 && num > 0.0).then(|| (num / den * 1000.0).round() / 1000.0)
}

/// Reads ffprobe's JSON (`-show_format -show_streams`).
pub fn parse_probe(json: &str) -> Result<MediaInfo, MediaError> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| MediaError::Unreadable {
            tool: "ffprobe",
            message: format!("unexpected output: {e}"),
        })?;
    let format = &value["format"];
    let streams = value["streams"]
        .as_array()
        .map(|streams| {
            streams
                .iter()
                .map(|s| StreamInfo {
                    index: number(s.get("index")).unwrap_or(0),
                    kind: s["codec_type"].as_str().unwrap_or("unknown").to_owned(),
                    codec: s["codec_name"].as_str().map(str::to_owned),
                    width: number(s.get("width")),
                    height: number(s.get("height")),
                    frame_rate: rate(s.get("avg_frame_rate"))
                        .or_else(|| rate(s.get("r_frame_rate"))),
                    sample_rate: number(s.get("sample_rate")),
                    channels: number(s.get("channels")),
                    bit_rate: number(s.get("bit_rate")),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(MediaInfo {
        container: format["format_name"]
            .as_str()
            .unwrap_or("unknown")
            .to_owned(),
        duration_secs: number(format.get("duration")),
        bit_rate: number(format.get("bit_rate")),
        size_bytes: number(format.get("size")),
        streams,
    })
}

/// The container and streams of `path`.
///
/// Needs a Tokio runtime with I/O and time enabled (it panics outside one): see
/// [the crate's runtime notes](crate#runtime).
pub async fn probe(
    config: &MediaConfig,
    path: &Path,
    cancel: &Cancel,
) -> Result<MediaInfo, MediaError> {
    let args = vec![
        "-v".into(),
        "error".into(),
        "-print_format".into(),
        "json".into(),
        "-show_format".into(),
        "-show_streams".into(),
        "-protocol_whitelist".into(),
        "file".into(),
        "--".into(),
        path.to_string_lossy().into_owned(),
    ];
    let ran = run(
        "ffprobe",
        &config.ffprobe,
        config.nice,
        &args,
        Duration::from_secs(config.timeout_secs.clamp(1, 60)),
        cancel,
        |_| {},
    )
    .await?;
    let info = parse_probe(&ran.stdout)?;
    if let Some(format) = info
        .container
        .split(',')
        .find(|f| PLAYLIST_FORMATS.contains(f))
    {
        return Err(MediaError::Unreadable {
            tool: "ffprobe",
            message: format!(
                "a `{format}` playlist names other files or addresses, which are not analysed"
            ),
        });
    }
    Ok(info)
}

/// Containers that read other files or addresses named inside them: a playlist below a media
/// root could otherwise reach a file outside every root. Refused after the probe, and every
/// ffmpeg run is limited to the `file` protocol (`-protocol_whitelist file`) besides.
pub const PLAYLIST_FORMATS: &[&str] = &["hls", "applehttp", "concat", "dash"];

/// Reads what the filters logged: `showinfo` frames kept by the scene `select`, the `ebur128`
/// summary, and `silencedetect` spans (a silence still open at the end ends at `duration`).
pub fn parse_findings(stderr: &str, duration: Option<f64>) -> Findings {
    let mut findings = Findings::default();
    let value_after = |line: &str, key: &str| -> Option<f64> {
        let rest = &line[line.find(key)? + key.len()..];
        let token = rest.split_whitespace().next()?;
        token.trim_end_matches('|').parse().ok()
    };
    let mut open_silence: Option<f64> = None;
    let mut summary = false;
    let (mut integrated, mut range, mut peak) = (None, None, None);
    for line in stderr.lines() {
        if line.contains("Parsed_showinfo") {
            if let Some(t) = value_after(line, "pts_time:") {
                findings.scene_changes.push(t);
            }
        } else if line.contains("silence_start:") {
            open_silence = value_after(line, "silence_start:");
        } else if line.contains("silence_end:") {
            if let Some(end) = value_after(line, "silence_end:") {
                let duration = value_after(line, "silence_duration:").unwrap_or(0.0);
                let start = open_silence.take().unwrap_or((end - duration).max(0.0));
                findings.silences.push(Silence {
                    start_secs: start,
                    end_secs: end,
                });
            }
        } else if line.contains("Summary:") {
            summary = true;
        } else if summary {
            let trimmed = line.trim_start();
            if trimmed.starts_with("I:") {
                integrated = value_after(trimmed, "I:");
            } else if trimmed.starts_with("LRA:") {
                range = value_after(trimmed, "LRA:");
            } else if trimmed.starts_with("Peak:") {
                peak = value_after(trimmed, "Peak:").or(Some(f64::NEG_INFINITY));
            }
        }
    }
    if let Some(start) = open_silence {
        findings.silences.push(Silence {
            start_secs: start,
            end_secs: duration.unwrap_or(start).max(start),
        });
    }
    if let (Some(integrated_lufs), Some(range_lu)) = (integrated, range) {
        findings.loudness = Some(Loudness {
            integrated_lufs,
            range_lu,
            true_peak_dbfs: peak.unwrap_or(f64::NEG_INFINITY),
        });
    }
    findings
}

/// Runs the wanted filters over `path` in one ffmpeg pass, reporting progress (0 to 100) as
/// ffmpeg's `-progress` output moves.
///
/// Needs a Tokio runtime with I/O and time enabled (it panics outside one): see
/// [the crate's runtime notes](crate#runtime).
pub async fn analyze(
    config: &MediaConfig,
    path: &Path,
    info: &MediaInfo,
    wanted: Wanted,
    cancel: &Cancel,
    mut progress: impl FnMut(f64),
) -> Result<Findings, MediaError> {
    let scenes = wanted.scenes && info.has_video();
    let audio = (wanted.loudness || wanted.silence) && info.has_audio();
    if !scenes && !audio {
        return Ok(Findings::default());
    }
    let mut args: Vec<String> = vec![
        "-hide_banner".into(),
        "-nostats".into(),
        "-nostdin".into(),
        "-progress".into(),
        "pipe:1".into(),
        "-protocol_whitelist".into(),
        "file".into(),
        "-i".into(),
        path.to_string_lossy().into_owned(),
    ];
    if scenes {
        args.push("-vf".into());
        args.push(format!(
            "select='gt(scene,{})',showinfo",
            config.scene_threshold
        ));
    } else {
        args.push("-vn".into());
    }
    if audio {
        let mut filters = Vec::new();
        if wanted.loudness {
            // `framelog=verbose` keeps the per-frame lines below the default log level.
            filters.push("ebur128=peak=true:framelog=verbose".to_owned());
        }
        if wanted.silence {
            filters.push(format!(
                "silencedetect=noise={}dB:d={}",
                config.silence_db, config.silence_min_secs
            ));
        }
        args.push("-af".into());
        args.push(filters.join(","));
    } else {
        args.push("-an".into());
    }
    args.extend(["-f".into(), "null".into(), "-".into()]);
    let duration_us = info.duration_secs.map(|d| d * 1e6).filter(|d| *d > 0.0);
    let ran = run(
        "ffmpeg",
        &config.ffmpeg,
        config.nice,
        &args,
        Duration::from_secs(config.timeout_secs.max(1)),
        cancel,
        |line| {
            if let (Some(total), Some(done)) = (
                duration_us,
                line.strip_prefix("out_time_us=")
                    .and_then(|v| v.trim().parse::<f64>().ok()),
            ) {
                progress((done / total * 100.0).clamp(0.0, 100.0));
            }
        },
    )
    .await?;
    progress(100.0);
    Ok(parse_findings(&ran.stderr, info.duration_secs))
}

/// Takes up to `config.thumbnails` JPEG frames of a video (320 pixels wide) into `dir`: at the
/// first scene changes, else spread over the duration. Answers the files written, in order.
///
/// Needs a Tokio runtime with I/O and time enabled (it panics outside one): see
/// [the crate's runtime notes](crate#runtime).
pub async fn thumbnails(
    config: &MediaConfig,
    path: &Path,
    info: &MediaInfo,
    scene_changes: &[f64],
    dir: &Path,
    cancel: &Cancel,
) -> Result<Vec<PathBuf>, MediaError> {
    if !info.has_video() || config.thumbnails == 0 {
        return Ok(Vec::new());
    }
    let duration = info.duration_secs.unwrap_or(0.0);
    let mut times: Vec<f64> = scene_changes
        .iter()
        .copied()
        .take(config.thumbnails)
        .collect();
    let spread = config.thumbnails.saturating_sub(times.len());
    for i in 0..spread {
        times.push(duration * (i as f64 + 0.5) / spread as f64);
    }
    times.sort_by(f64::total_cmp);
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| MediaError::Io(e.to_string()))?;
    let mut written = Vec::new();
    for (n, at) in times.iter().enumerate() {
        let out = dir.join(format!("{n}.jpg"));
        let args = vec![
            "-hide_banner".into(),
            "-loglevel".into(),
            "error".into(),
            "-nostdin".into(),
            "-y".into(),
            "-ss".into(),
            format!("{:.3}", at.max(0.0)),
            "-protocol_whitelist".into(),
            "file".into(),
            "-i".into(),
            path.to_string_lossy().into_owned(),
            "-frames:v".into(),
            "1".into(),
            "-vf".into(),
            "scale=320:-2".into(),
            out.to_string_lossy().into_owned(),
        ];
        run(
            "ffmpeg",
            &config.ffmpeg,
            config.nice,
            &args,
            Duration::from_secs(config.timeout_secs.clamp(1, 60)),
            cancel,
            |_| {},
        )
        .await?;
        if tokio::fs::metadata(&out).await.is_ok() {
            written.push(out);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_logs_are_read() {
        let stderr = "\
[Parsed_showinfo_1 @ 0x1] n:   0 pts:  51200 pts_time:2       duration:512
[silencedetect @ 0x2] silence_start: 2.01
[silencedetect @ 0x2] silence_end: 3.5 | silence_duration: 1.49
[silencedetect @ 0x2] silence_start: 5
[Parsed_ebur128_0 @ 0x3] Summary:

  Integrated loudness:
    I:         -22.1 LUFS
    Threshold: -32.1 LUFS

  Loudness range:
    LRA:         1.5 LU
    Threshold: -42.1 LUFS

  True peak:
    Peak:      -17.7 dBFS
";
        let findings = parse_findings(stderr, Some(6.0));
        assert_eq!(findings.scene_changes, [2.0]);
        assert_eq!(
            findings.silences,
            [
                Silence {
                    start_secs: 2.01,
                    end_secs: 3.5
                },
                Silence {
                    start_secs: 5.0,
                    end_secs: 6.0
                }
            ]
        );
        assert_eq!(
            findings.loudness,
            Some(Loudness {
                integrated_lufs: -22.1,
                range_lu: 1.5,
                true_peak_dbfs: -17.7
            })
        );
        let silent = parse_findings(
            "Summary:\n    I:  -70.0 LUFS\n    LRA: 0.0 LU\n    Peak: -inf dBFS\n",
            None,
        );
        assert_eq!(silent.loudness.unwrap().true_peak_dbfs, f64::NEG_INFINITY);
    }

    #[test]
    fn probe_output_is_read() {
        let json = r#"{"streams":[{"index":0,"codec_name":"h264","codec_type":"video","width":320,"height":240,"r_frame_rate":"25/1","avg_frame_rate":"25/1","bit_rate":"11000"},{"index":1,"codec_name":"aac","codec_type":"audio","sample_rate":"44100","channels":1,"avg_frame_rate":"0/0"}],"format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"4.000000","size":"25206","bit_rate":"50412"}}"#;
        let info = parse_probe(json).unwrap();
        assert_eq!(info.duration_secs, Some(4.0));
        assert_eq!(info.streams[0].frame_rate, Some(25.0));
        assert_eq!(info.streams[1].sample_rate, Some(44100));
        assert_eq!(info.streams[1].frame_rate, None);
        assert!(info.has_video() && info.has_audio());
        assert!(parse_probe("not json").is_err());
    }
}
