//! Media made by ffmpeg's own generators, so no binary fixture lives in the repository, and the
//! processes a test looks for in `/proc` (an ffmpeg that must have stopped).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `ffmpeg -hide_banner -loglevel error -y ARGS`; panics, saying how to install ffmpeg,
/// when it is missing or fails.
pub fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .expect(
            "ffmpeg is not installed: `cargo xtask ci` installs it (apt-get install -y ffmpeg)",
        );
    assert!(status.success(), "ffmpeg {args:?}");
}

/// `dir/cut.mkv`: red then blue, 2 s each at 25 fps (320x240, H.264), over a 440 Hz tone for
/// 2 s then 2 s of silence (48 kHz mono PCM). The truth: one cut at 2.0 s, silence from 2.0 s.
pub fn cut_clip(dir: &Path) -> PathBuf {
    let path = dir.join("cut.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=320x240:d=2:r=25",
        "-f",
        "lavfi",
        "-i",
        "color=c=blue:s=320x240:d=2:r=25",
        "-f",
        "lavfi",
        "-t",
        "2",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-f",
        "lavfi",
        "-t",
        "2",
        "-i",
        "anullsrc=r=48000:cl=mono",
        "-filter_complex",
        "[0][1]concat=n=2:v=1:a=0[v];[2][3]concat=n=2:v=0:a=1[a]",
        "-map",
        "[v]",
        "-map",
        "[a]",
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        "-c:a",
        "pcm_s16le",
        path.to_str().expect("a UTF-8 temp path"),
    ]);
    path
}

/// `path`: a 440 Hz tone of `secs` seconds, 8 kHz mono 8-bit WAV (8 KB a second, made in a
/// fraction of a second). Its loudness analysis takes seconds: long enough to be watched,
/// canceled or killed mid-run.
pub fn long_tone(path: &Path, secs: u32) {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("sine=frequency=440:sample_rate=8000:duration={secs}"),
        "-c:a",
        "pcm_u8",
        path.to_str().expect("a UTF-8 temp path"),
    ]);
}

/// Whether `pid` runs (a zombie, dead but not yet reaped, does not).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rfind(')')
            .and_then(|end| stat[end + 1..].split_whitespace().next());
        state.is_some_and(|s| s != "Z")
    })
}

/// The running processes whose command line names `needle`.
pub fn processes_naming(needle: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
                && alive(pid)
        })
        .collect()
}
