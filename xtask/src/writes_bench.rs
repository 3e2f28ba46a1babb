//! `cargo xtask bench --writes`: the release server watching the generated corpus, one file
//! written after another. Each write changes one agent's description to a word no other file
//! holds; the time until a search through HTTP finds that word is the time a user waits to see
//! an edit, and resident memory is read after each write.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::http_bench::{KeepAlive, quantile_ms, start_server, stop};
use crate::proc_usage;

/// Writes one agent `count` times and reports latency and memory.
pub fn writes_bench(binary: &Path, config: &Path, corpus: &Path, count: usize) -> Result<()> {
    let (server, address) = start_server(
        binary,
        config,
        corpus,
        &[("JARVIS__DISCOVERY__WATCH", "true")],
    )?;
    let agent = corpus.join("home/.claude/agents/zz-bench-write.md");
    let result = run(server.id(), &address, corpus, &agent, count);
    stop(server);
    // The corpus is shared with the other benches: leave it as it was, whatever happened.
    if agent.exists() {
        std::fs::remove_file(&agent)?;
    }
    result
}

fn run(pid: u32, address: &str, corpus: &Path, agent: &Path, count: usize) -> Result<()> {
    let mut client = KeepAlive::connect(address)?;
    // Settle: the first metrics samples, the first flush of history.
    std::thread::sleep(Duration::from_secs(3));
    let (start_rss, _, _) = proc_usage(pid)?;
    println!(
        "\n==> {count} single-file writes on the watched corpus ({})",
        corpus.display()
    );
    println!("resident after start: {:.1} MB", start_rss as f64 / 1024.0);
    let mut latencies = Vec::with_capacity(count);
    let mut rss = Vec::with_capacity(count);
    for i in 0..count {
        let word = format!("qwrite{i}x");
        let started = Instant::now();
        std::fs::write(
            agent,
            format!(
                "---\nname: zz-bench-write\ndescription: Written by the bench, {word}\n---\nChecks that an edit is searchable.\n"
            ),
        )?;
        loop {
            let body = client.get(&format!("/api/v2/search?q={word}"))?;
            if String::from_utf8_lossy(&body).contains(&format!("bench, {word}")) {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("write {i} not searchable after 30 s");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        latencies.push(started.elapsed());
        rss.push(proc_usage(pid)?.0);
    }
    let mut sorted = latencies.clone();
    sorted.sort();
    let at = |p: f64| quantile_ms(&sorted, p);
    println!(
        "write to searchable: p50 {:.0} ms   p90 {:.0} ms   max {:.0} ms   (debounce included)",
        at(0.5),
        at(0.9),
        at(1.0)
    );
    let mb = |kb: u64| kb as f64 / 1024.0;
    let marks: Vec<String> = [1usize, 10, 25, 50, 75, 100, count]
        .into_iter()
        .filter(|&n| n <= count)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|n| format!("after {n}: {:.1} MB", mb(rss[n - 1])))
        .collect();
    println!("resident {}", marks.join("   "));
    // The server hands freed memory back a second after a burst of reloads and again once its
    // catalog cache is written: what stays is what the catalog holds.
    std::thread::sleep(Duration::from_secs(15));
    println!(
        "resident 15 s after the last write: {:.1} MB",
        mb(proc_usage(pid)?.0)
    );
    Ok(())
}
