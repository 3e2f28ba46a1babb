//! `cargo xtask bench --knowledge`: the knowledge base over generated notes, as a user meets it.
//! The release `jarvis knowledge reindex` builds the index (time, size on disk); the release
//! server opens it (time to ready) and one keep-alive client asks new queries one after another
//! (words, two-word queries, prefixes as typed, typos, phrases) with the response cache off;
//! then a note is edited again and again, each time until a search finds the new word.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::http_bench::{KeepAlive, quantile_ms, start_server, stop};
use crate::proc_usage;

/// Writes `count` notes (once), builds the index and measures it.
pub fn knowledge_bench(binary: &Path, config: &Path, corpus: &Path, count: usize) -> Result<()> {
    let notes = std::env::temp_dir().join(format!("jarvis-bench-notes-{count}"));
    if !notes.join(".complete").exists() {
        println!("\n==> {}", jarvis_testkit::generate_notes(&notes, count)?);
        std::fs::write(notes.join(".complete"), "")?;
    }
    let data = std::env::temp_dir().join(format!("jarvis-bench-knowledge-data-{count}"));
    let text = std::fs::read_to_string(config)?;
    let with_notes = corpus.join("jarvis-knowledge.toml");
    std::fs::write(
        &with_notes,
        format!(
            "{text}\n[knowledge]\nroots = [{:?}]\ninclude_memory = false\n[storage]\ndata_dir = {:?}\n",
            notes.to_string_lossy(),
            data.to_string_lossy()
        ),
    )?;

    println!("\n==> knowledge: {count} notes, index built by `jarvis knowledge reindex` (release)");
    let started = Instant::now();
    let out = Command::new(binary)
        .arg("--config")
        .arg(&with_notes)
        .args(["--log-level", "warn", "knowledge", "reindex", "--json"])
        .env("HOME", corpus)
        .output()
        .context("cannot run jarvis knowledge reindex")?;
    if !out.status.success() {
        bail!("reindex failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let wall = started.elapsed();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    println!(
        "build: {} notes in {} ms ({:.1} s with the process); index {:.1} MB on disk; {} diagnostics",
        report["notes"],
        report["took_ms"],
        wall.as_secs_f64(),
        report["index_bytes"].as_f64().unwrap_or(0.0) / 1e6,
        report["diagnostics"].as_array().map_or(0, Vec::len)
    );

    let started = Instant::now();
    let (server, address) = start_server(
        binary,
        &with_notes,
        corpus,
        &[("JARVIS__SERVER__CACHE__ENABLED", "false")],
    )?;
    let result = run(server.id(), &address, &notes, started);
    stop(server);
    result
}

/// New queries of each shape, in a fixed order.
fn queries() -> Result<Vec<(&'static str, String)>> {
    let pairs = crate::http_bench::word_pairs()?;
    let mut out = Vec::new();
    for (i, pair) in pairs.iter().enumerate() {
        let (a, b) = pair.split_once("%20").unwrap_or((pair, pair));
        out.push(("one word", a.to_owned()));
        out.push(("two words", pair.clone()));
        out.push(("prefix as typed", format!("{a}%20{}", &b[..b.len().min(3)])));
        // A typo: two letters swapped in the middle.
        let mut typo: Vec<char> = b.chars().collect();
        if typo.len() > 4 {
            typo.swap(2, 3);
        }
        out.push(("typo", format!("{a}%20{}", typo.iter().collect::<String>())));
        if i % 2 == 0 {
            out.push(("phrase", format!("%22{pair}%22")));
        }
    }
    Ok(out)
}

fn run(pid: u32, address: &str, notes: &Path, started: Instant) -> Result<()> {
    let mut client = KeepAlive::connect(address)?;
    // Opening an existing index: the server answers at once; the index is ready when it says.
    loop {
        let body = client.get("/api/v2/knowledge/stats")?;
        let stats: serde_json::Value = serde_json::from_slice(&body)?;
        if stats["data"]["state"] == "ready" && stats["data"]["opened"].is_object() {
            println!(
                "restart: index opened and compared with the {} files in {} ms (rebuilt: {}); server spawn to ready {} ms (catalog load included); resident {:.1} MB",
                stats["data"]["notes"],
                stats["data"]["opened"]["took_ms"],
                stats["data"]["opened"]["rebuilt"],
                started.elapsed().as_millis(),
                proc_usage(pid)?.0 as f64 / 1024.0
            );
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("the index never became ready");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let queries = queries()?;
    let mut by_shape: std::collections::BTreeMap<&str, Vec<Duration>> = Default::default();
    let mut all = Vec::with_capacity(queries.len());
    let mut hits = 0u64;
    for (shape, q) in &queries {
        let asked = Instant::now();
        let body = client.get(&format!("/api/v2/knowledge/search?q={q}&limit=10"))?;
        let took = asked.elapsed();
        let page: serde_json::Value = serde_json::from_slice(&body)?;
        hits += page["metadata"]["pagination"]["total"]
            .as_u64()
            .unwrap_or(0);
        by_shape.entry(shape).or_default().push(took);
        all.push(took);
    }
    all.sort();
    println!(
        "{} new queries, one keep-alive client, response cache off ({:.0} matching notes on average):",
        all.len(),
        hits as f64 / all.len() as f64
    );
    let line = |latencies: &[Duration]| {
        format!(
            "p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
            quantile_ms(latencies, 0.5),
            quantile_ms(latencies, 0.9),
            quantile_ms(latencies, 0.99),
            quantile_ms(latencies, 1.0)
        )
    };
    println!("  all:             {}", line(&all));
    for (shape, mut latencies) in by_shape {
        latencies.sort();
        println!("  {shape:<16} {}", line(&latencies));
    }

    // An edit until a search finds it: debounce, read, commit, reload included.
    let note = walk_first_note(notes)?;
    let original = std::fs::read_to_string(&note)?;
    let mut delays = Vec::new();
    for i in 0..30 {
        // Eight letters of their own each time: no earlier edit's word is within two typos.
        let mut state = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let word: String = (0..8)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                char::from(b'a' + u8::try_from((state >> 33) % 26).unwrap_or(0))
            })
            .collect();
        let written = Instant::now();
        std::fs::write(&note, format!("{original}\n{word}\n"))?;
        loop {
            // A trailing space: the word as a whole, not as a prefix.
            let body = client.get(&format!("/api/v2/knowledge/search?q={word}%20"))?;
            let page: serde_json::Value = serde_json::from_slice(&body)?;
            if page["data"][0]["snippet"]
                .as_str()
                .is_some_and(|s| s.contains(&word))
            {
                break;
            }
            if written.elapsed() > Duration::from_secs(10) {
                bail!("edit {i} not found after 10 s");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        delays.push(written.elapsed());
    }
    std::fs::write(&note, original)?;
    delays.sort();
    println!(
        "edit to searchable (debounce 200 ms included), 30 edits: {}",
        line(&delays)
    );
    println!(
        "resident after: {:.1} MB",
        proc_usage(pid)?.0 as f64 / 1024.0
    );
    Ok(())
}

fn walk_first_note(notes: &Path) -> Result<std::path::PathBuf> {
    let mut dirs = vec![notes.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)?.filter_map(Result::ok).collect();
        entries.sort_by_key(std::fs::DirEntry::path);
        for entry in entries {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                return Ok(path);
            }
        }
    }
    bail!("no note below {}", notes.display())
}
