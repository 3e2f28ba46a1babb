//! `cargo bench -p jarvis-costs --bench ingest`: a full read of generated Claude Code usage
//! logs (`JARVIS_BENCH_USAGE_MB`, default 100 MB), priced and summarized, in MB/s; and the same
//! files through `ccusage daily --json --offline` when ccusage is on the `PATH`.

#![allow(
    clippy::print_stdout,
    clippy::expect_used,
    reason = "a benchmark reports on stdout and stops on a broken setup"
)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use jarvis_costs::{CostMode, PriceTable, read_all, summarize};

fn peak_resident_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let megabytes: u64 = std::env::var("JARVIS_BENCH_USAGE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = std::env::temp_dir().join(format!("jarvis-bench-usage-{megabytes}"));
    if !dir.join(".complete").exists() {
        let written = jarvis_testkit::generate_usage_logs(&dir, megabytes).expect("generate logs");
        println!(
            "wrote {} usage logs, {} lines ({} with usage, {} responses), {:.1} MB below {}",
            written.files,
            written.lines,
            written.usage_lines,
            written.responses,
            written.bytes as f64 / 1e6,
            dir.display()
        );
        std::fs::write(dir.join(".complete"), "").expect("mark complete");
    }
    let bytes: u64 = jarvis_costs::logs::log_files(&dir.join("projects"))
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let table = PriceTable::built_in();
    let started = Instant::now();
    let (entries, stats) = read_all(&[dir.join("projects")]);
    let summary = summarize(&entries, CostMode::Calculate, &table);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "costs_full_scan: {:.1} MB in {:.2} s = {:.0} MB/s; {} usage lines → {} entries ({} copies dropped); total {} over {} tokens; peak resident {:.0} MB",
        bytes as f64 / 1e6,
        secs,
        bytes as f64 / 1e6 / secs,
        stats.usage_lines,
        entries.len(),
        stats.duplicates,
        summary.totals.total_cost,
        summary.totals.total_tokens,
        peak_resident_mb()
    );
    ccusage(&dir, bytes);
}

/// The same files through ccusage, when it is installed.
fn ccusage(dir: &Path, bytes: u64) {
    let started = Instant::now();
    let output = Command::new("ccusage")
        .args(["daily", "--json", "--offline", "--mode", "calculate"])
        .env("CLAUDE_CONFIG_DIR", dir)
        .output();
    match output {
        Ok(out) if out.status.success() => {
            let secs = started.elapsed().as_secs_f64();
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            println!(
                "ccusage daily --json --offline: {:.2} s = {:.0} MB/s; totalCost {}, totalTokens {}",
                secs,
                bytes as f64 / 1e6 / secs,
                json["totals"]["totalCost"],
                json["totals"]["totalTokens"]
            );
        }
        Ok(out) => println!(
            "ccusage failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or_default()
        ),
        Err(_) => println!("ccusage is not installed (npm install -g ccusage): not compared"),
    }
}
