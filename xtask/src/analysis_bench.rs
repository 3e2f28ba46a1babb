//! `cargo xtask bench --analysis`: the release server analysing a 60 s 720p clip (H.264 and
//! AAC, made once with ffmpeg's generators), alone and four at once, while one keep-alive client
//! asks what a user asks — new searches, agent pages, `/health` — one request after another.
//! The client's latency with four analyses running is set beside its latency on the idle
//! server, at ffmpeg's default niceness (10) and at 0, so what the executor and the scheduler
//! each contribute can be told apart.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::http_bench::{KeepAlive, quantile_ms, start_server, stop};

/// The clip: 60 s at 1280x720, 25 fps; three scenes of 20 s (test pattern, HD bars, RGB
/// pattern) over a 440 Hz tone for 40 s, then 20 s of silence.
fn clip(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("clip-60s-720p.mp4");
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(dir)?;
    let partial = dir.join("clip-60s-720p.partial.mp4");
    println!("\n==> making the clip: 60 s, 1280x720, 25 fps, H.264 + AAC");
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=s=1280x720:r=25:d=20"])
        .args(["-f", "lavfi", "-i", "smptehdbars=s=1280x720:r=25:d=20"])
        .args(["-f", "lavfi", "-i", "rgbtestsrc=s=1280x720:r=25:d=20"])
        .args(["-f", "lavfi", "-t", "40", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-f", "lavfi", "-t", "20", "-i", "anullsrc=r=48000:cl=stereo"])
        .args([
            "-filter_complex",
            "[0][1][2]concat=n=3:v=1:a=0,format=yuv420p[v];[3]aformat=channel_layouts=stereo[t];[t][4]concat=n=2:v=0:a=1[a]",
            "-map",
            "[v]",
            "-map",
            "[a]",
        ])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "23"])
        .args(["-c:a", "aac", "-b:a", "128k"])
        .arg(&partial)
        .status()
        .context("cannot run ffmpeg (apt-get install -y ffmpeg)")?;
    if !status.success() {
        bail!("ffmpeg could not make the clip ({status})");
    }
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

/// Latencies of one keep-alive client, sorted.
struct Probe {
    latencies: Vec<Duration>,
}

impl Probe {
    fn line(&self) -> String {
        let at = |p: f64| quantile_ms(&self.latencies, p);
        format!(
            "p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms   ({} requests)",
            at(0.5),
            at(0.9),
            at(0.99),
            at(1.0),
            self.latencies.len()
        )
    }
}

/// The requests the probe cycles through: a search nobody asked before, a page of agents,
/// the health check.
fn probe_path(i: usize, words: &[String]) -> String {
    match i % 3 {
        0 => format!("/api/v2/search?q={}", words[(i / 3) % words.len()]),
        1 => format!("/api/v2/agents?limit=20&offset={}", (i * 20) % 2000),
        _ => "/health".to_owned(),
    }
}

/// The pause between two requests of the probe: a busy user's pace, not a flood that would
/// itself take a core from the analyses.
const PACE: Duration = Duration::from_millis(5);

/// Asks one request after another, `PACE` apart, until `done` says stop; answers the
/// latencies and where the sequence stopped (so the next run asks new searches).
fn probe(
    client: &mut KeepAlive,
    words: &[String],
    start: usize,
    mut done: impl FnMut(usize) -> Result<bool>,
) -> Result<(Probe, usize)> {
    let mut latencies = Vec::new();
    let mut i = start;
    while !done(latencies.len())? {
        let path = probe_path(i, words);
        let asked = Instant::now();
        client.get(&path)?;
        latencies.push(asked.elapsed());
        i += 1;
        std::thread::sleep(PACE);
    }
    latencies.sort();
    Ok((Probe { latencies }, i))
}

fn submit(client: &mut KeepAlive, clip: &Path) -> Result<String> {
    let body = serde_json::json!({ "path": clip }).to_string();
    let (status, answer) = client.request("POST", "/api/v2/analyses", Some(&body))?;
    if status != 202 {
        bail!(
            "POST /api/v2/analyses answered {status}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    let answer: serde_json::Value = serde_json::from_slice(&answer)?;
    answer["data"]["id"]
        .as_str()
        .map(str::to_owned)
        .context("no task id in the answer")
}

/// The analysis's status, and the seconds it ran once finished (start to end, not the wait
/// for a slot).
fn state(client: &mut KeepAlive, id: &str) -> Result<(String, Option<f64>)> {
    let body = client.get(&format!("/api/v2/analyses/{id}"))?;
    let task: serde_json::Value = serde_json::from_slice(&body)?;
    let task = &task["data"];
    let status = task["status"].as_str().unwrap_or("?").to_owned();
    let secs = match (task["started_at"].as_i64(), task["finished_at"].as_i64()) {
        (Some(start), Some(end)) => Some((end - start) as f64 / 1000.0),
        _ => None,
    };
    Ok((status, secs))
}

/// Waits for every analysis of `ids` to finish; fails unless each succeeded.
fn all_finished(control: &mut KeepAlive, ids: &[String]) -> Result<bool> {
    for id in ids {
        let (status, _) = state(control, id)?;
        match status.as_str() {
            "queued" | "running" => return Ok(false),
            "succeeded" => {}
            other => bail!("analysis {id} ended {other}"),
        }
    }
    Ok(true)
}

/// Runs the whole benchmark on the corpus server with the clip's folder as a media root.
pub fn analysis_bench(binary: &Path, config: &Path, corpus: &Path, quick: bool) -> Result<()> {
    let media = std::env::temp_dir().join("jarvis-bench-media");
    let clip = clip(&media)?;
    // The corpus's configuration, and the media folder as a root; four analyses at once.
    let text = std::fs::read_to_string(config)?;
    let with_media = corpus.join("jarvis-analysis.toml");
    std::fs::write(
        &with_media,
        format!(
            "{text}\n[analysis]\nroots = [{:?}]\nconcurrency = 4\n",
            media.to_string_lossy()
        ),
    )?;
    let words: Vec<String> = crate::http_bench::word_pairs()?;
    let idle_requests = if quick { 300 } else { 1000 };
    for nice in ["10", "0"] {
        let (server, address) = start_server(
            binary,
            &with_media,
            corpus,
            // The response cache off: every search is computed, however often it is asked.
            &[
                ("JARVIS__ANALYSIS__MEDIA__NICE", nice),
                ("JARVIS__SERVER__CACHE__ENABLED", "false"),
            ],
        )?;
        let result = run(&address, &clip, &words, idle_requests, nice);
        stop(server);
        result?;
    }
    Ok(())
}

fn run(
    address: &str,
    clip: &Path,
    words: &[String],
    idle_requests: usize,
    nice: &str,
) -> Result<()> {
    let mut client = KeepAlive::connect(address)?;
    // Warm: the first searches build what later ones reuse. Every search after is new.
    let (_, next) = probe(&mut client, words, 0, |n| Ok(n >= 100))?;
    let (idle, next) = probe(&mut client, words, next, |n| Ok(n >= idle_requests))?;

    println!("\n==> analysis of a 60 s 720p clip, every type (ffmpeg niceness {nice})");
    // Connections are opened just before use: the server closes one idle for 5 s.
    let mut control = KeepAlive::connect(address)?;
    let started = Instant::now();
    let one = submit(&mut control, clip)?;
    while !all_finished(&mut control, std::slice::from_ref(&one))? {
        std::thread::sleep(Duration::from_millis(100));
    }
    let alone = started.elapsed().as_secs_f64();
    println!(
        "one alone: {alone:.1} s submit to finish ({:.1}x real time, {:.1} analyses/min)",
        60.0 / alone,
        60.0 / alone
    );

    let mut client = KeepAlive::connect(address)?;
    let started = Instant::now();
    let ids = (0..4)
        .map(|_| submit(&mut control, clip))
        .collect::<Result<Vec<_>>>()?;
    let mut last_poll = Instant::now();
    let (busy, _) = probe(&mut client, words, next, |_| {
        if last_poll.elapsed() < Duration::from_millis(250) {
            return Ok(false);
        }
        last_poll = Instant::now();
        all_finished(&mut control, &ids)
    })?;
    let four = started.elapsed().as_secs_f64();
    let each = ids
        .iter()
        .map(|id| {
            Ok(format!(
                "{:.1}",
                state(&mut control, id)?.1.unwrap_or(f64::NAN)
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    println!(
        "four at once: {four:.1} s until the last finished ({:.1} analyses/min); each ran {} s",
        4.0 * 60.0 / four,
        each.join(", ")
    );
    println!(
        "one keep-alive client, new searches, agent pages and /health in turn, {} ms apart:",
        PACE.as_millis()
    );
    println!("  idle server:           {}", idle.line());
    println!("  four analyses running: {}", busy.line());
    Ok(())
}
