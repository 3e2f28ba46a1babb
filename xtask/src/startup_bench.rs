//! `cargo xtask bench --startup`: the release server started on the generated corpus, first with
//! no catalog cache (every file read, parsed and tokenized), then several times with the cache
//! the first start wrote. Each start is timed from the spawn to the "jarvis is listening" line
//! (the catalog is loaded before the server listens), with the catalog's own timings from its
//! log; resident memory is read once it listens and again after a round of searches that show
//! body snippets (bodies of a restarted catalog are read from the cache file when asked for).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::http_bench::{KeepAlive, start_server_logged, stop};
use crate::proc_usage;

/// What one start looked like.
struct Start {
    listening: Duration,
    cache_ms: Option<f64>,
    scan_ms: f64,
    index_ms: f64,
    parsed: u64,
    rss_kb: u64,
    peak_kb: u64,
    after_searches_kb: u64,
}

/// Starts the server `warm_starts + 1` times and prints what each start took.
pub fn startup_bench(
    binary: &Path,
    config: &Path,
    corpus: &Path,
    warm_starts: usize,
) -> Result<()> {
    let data = corpus.join(".local/share/jarvis");
    let cache = data.join("catalog.cache");
    if cache.exists() {
        std::fs::remove_file(&cache)?;
    }
    println!(
        "\n==> start-up: `jarvis serve` on {} — once without a catalog cache, {warm_starts} times with it",
        corpus.display()
    );
    let cold = start_once(binary, config, corpus, true)?;
    if !cache.exists() {
        bail!(
            "the first start wrote no catalog cache at {}",
            cache.display()
        );
    }
    let size = std::fs::metadata(&cache)?.len();
    let mut warm = Vec::with_capacity(warm_starts);
    for _ in 0..warm_starts {
        warm.push(start_once(binary, config, corpus, false)?);
    }
    println!(
        "{:<10} {:>12} {:>10} {:>9} {:>9} {:>8} {:>10} {:>10} {:>14}",
        "start",
        "listening ms",
        "cache ms",
        "scan ms",
        "index ms",
        "parsed",
        "RSS MB",
        "peak MB",
        "after search"
    );
    let row = |name: &str, s: &Start| {
        println!(
            "{:<10} {:>12.0} {:>10} {:>9.0} {:>9.0} {:>8} {:>10.1} {:>10.1} {:>14.1}",
            name,
            s.listening.as_secs_f64() * 1000.0,
            s.cache_ms.map_or("—".to_owned(), |ms| format!("{ms:.0}")),
            s.scan_ms,
            s.index_ms,
            s.parsed,
            s.rss_kb as f64 / 1024.0,
            s.peak_kb as f64 / 1024.0,
            s.after_searches_kb as f64 / 1024.0
        );
    };
    row("no cache", &cold);
    for (i, s) in warm.iter().enumerate() {
        row(&format!("cached {}", i + 1), s);
    }
    println!("catalog cache: {:.1} MB", size as f64 / 1e6);
    Ok(())
}

fn start_once(binary: &Path, config: &Path, corpus: &Path, wait_for_cache: bool) -> Result<Start> {
    let started = Instant::now();
    let (server, address, lines) = start_server_logged(
        binary,
        config,
        corpus,
        &[("JARVIS__SERVER__CACHE__ENABLED", "false")],
    )?;
    let listening = started.elapsed();
    let mut cache_ms = None;
    let (mut scan_ms, mut index_ms, mut parsed) = (0.0, 0.0, 0);
    let number = |line: &str, key: &str| -> Option<f64> {
        let start = line.find(&format!("\"{key}\":"))? + key.len() + 3;
        let digits: String = line[start..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        digits.parse().ok()
    };
    for line in &lines {
        if line.contains("catalog cache loaded") {
            cache_ms = number(line, "took_ms");
        }
        if line.contains("catalog reloaded") {
            scan_ms = number(line, "scan_ms").unwrap_or(0.0);
            index_ms = number(line, "index_ms").unwrap_or(0.0);
            parsed = number(line, "files_parsed").unwrap_or(0.0) as u64;
        }
    }
    let result = measure(server.id(), &address, wait_for_cache);
    stop(server);
    let (rss_kb, peak_kb, after_searches_kb) = result?;
    Ok(Start {
        listening,
        cache_ms,
        scan_ms,
        index_ms,
        parsed,
        rss_kb,
        peak_kb,
        after_searches_kb,
    })
}

/// Resident and peak memory once listening, and resident after 200 searches with snippets; with
/// `wait_for_cache`, waits until the catalog cache has been written.
fn measure(pid: u32, address: &str, wait_for_cache: bool) -> Result<(u64, u64, u64)> {
    let (rss, peak, _) = proc_usage(pid)?;
    let mut client = KeepAlive::connect(address)?;
    let words = [
        "security", "review", "docker", "audit", "deploy", "testing", "database", "api",
    ];
    for i in 0..200 {
        let q = format!(
            "{}%20{}",
            words[i % words.len()],
            words[(i / 8) % words.len()]
        );
        client.get(&format!("/api/v2/search?q={q}&limit=20"))?;
    }
    let (after, _, _) = proc_usage(pid)?;
    if wait_for_cache {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let body = String::from_utf8_lossy(&client.get("/")?).into_owned();
            if body.contains("\"saves\":1") {
                break;
            }
            if Instant::now() > deadline {
                bail!("the catalog cache was not written within a minute: {body}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    Ok((rss, peak, after))
}
