//! `cargo bench -p jarvis-costs --bench live`: the live ledger over generated usage logs
//! (`JARVIS_BENCH_USAGE_MB`, default 100 MB) and a real SQLite file — the first pass into an
//! empty store, a restart from the store, a pass that finds nothing new, how long an appended
//! line takes to reach the ledger through the watcher, the reports over the whole ledger, and
//! resident memory across it all.

#![allow(
    clippy::print_stdout,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a benchmark reports on stdout and stops on a broken setup"
)]

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jarvis_costs::query::{Budgets, Filter, GroupBy};
use jarvis_costs::{CostMode, CostService, PriceTable, ServiceConfig, Zone};
use jarvis_store::{SqliteStore, Store};

fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn rss() -> f64 {
    status_mb("VmRSS:")
}

fn median_ms(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn time_ms(mut work: impl FnMut()) -> f64 {
    median_ms(
        (0..5)
            .map(|_| {
                let started = Instant::now();
                work();
                started.elapsed().as_secs_f64() * 1000.0
            })
            .collect(),
    )
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
        jarvis_testkit::generate_usage_logs(&dir, megabytes).expect("generate logs");
        std::fs::write(dir.join(".complete"), "").expect("mark complete");
    }
    let root = dir.join("projects");
    // What an interrupted run appended is not part of the generated logs.
    let appended = root.join("-bench-live");
    if appended.exists() && std::env::var_os("JARVIS_BENCH_LIVE_RESTART").is_none() {
        std::fs::remove_dir_all(&appended).expect("remove an earlier run's appends");
    }
    let bytes: u64 = jarvis_costs::logs::log_files(&root)
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let owned_dir;
    let db_dir: &Path = match std::env::var_os("JARVIS_BENCH_LIVE_DB") {
        Some(dir) => Path::new(Box::leak(Box::new(dir))),
        None => {
            owned_dir = tempfile::tempdir().expect("temp dir");
            owned_dir.path()
        }
    };
    let config = ServiceConfig {
        roots: vec![root.clone()],
        mode: CostMode::Calculate,
        table: PriceTable::built_in(),
        zone: Zone::utc(),
        budgets: Budgets::default(),
        poll: Duration::from_secs(3600),
        watch: true,
    };
    let open = || -> (Arc<dyn Store>, CostService) {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(db_dir.join("jarvis.db")).unwrap());
        let service = CostService::open(Arc::clone(&store), config.clone()).unwrap();
        (store, service)
    };
    if std::env::var_os("JARVIS_BENCH_LIVE_RESTART").is_some() {
        // The child: a restart in a fresh process, so resident memory is the ledger's own.
        let started = Instant::now();
        let (_, service) = open();
        println!(
            "costs_live_restart_fresh_process: {} entries loaded in {:.2} s; resident {:.0} MB (peak {:.0} MB)",
            service.ledger().entries().len(),
            started.elapsed().as_secs_f64(),
            rss(),
            status_mb("VmHWM:")
        );
        return;
    }
    println!("resident at start: {:.0} MB", rss());

    let (_, service) = open();
    let started = Instant::now();
    service.scan();
    let secs = started.elapsed().as_secs_f64();
    let entries = service.ledger().entries().len();
    println!(
        "costs_live_first_pass: {:.1} MB read and saved in {:.2} s = {:.0} MB/s; {entries} entries; resident {:.0} MB (peak {:.0} MB)",
        bytes as f64 / 1e6,
        secs,
        bytes as f64 / 1e6 / secs,
        rss(),
        status_mb("VmHWM:")
    );
    drop(service);
    let db_mb = std::fs::metadata(db_dir.join("jarvis.db")).map_or(0.0, |m| m.len() as f64 / 1e6);

    // A restart in a fresh process first (this one still holds the first pass's freed heap).
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--bench")
        .env("JARVIS_BENCH_LIVE_RESTART", "1")
        .env("JARVIS_BENCH_LIVE_DB", db_dir)
        .output()
        .unwrap();
    print!("{}", String::from_utf8_lossy(&child.stdout));
    let started = Instant::now();
    let (_, service) = open();
    let load = started.elapsed().as_secs_f64();
    assert_eq!(service.ledger().entries().len(), entries);
    let started = Instant::now();
    let again = service.scan();
    let rescan_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(again, 0, "a restart reads nothing twice");
    println!(
        "costs_live_restart: {entries} entries loaded from a {db_mb:.0} MB database in {load:.2} s; a pass over {} files that finds nothing new: {rescan_ms:.0} ms; resident {:.0} MB",
        service.stats().files,
        rss()
    );

    let zone = Zone::utc();
    let now = 1_767_225_600_000; // 2026-01-01: every entry is in the past
    let budgets = Budgets::default();
    let current = time_ms(|| {
        let _ = jarvis_costs::current(&service.ledger(), now, &zone, &budgets);
    });
    let daily = time_ms(|| {
        let _ = jarvis_costs::report(&service.ledger(), GroupBy::Day, &Filter::default(), &zone);
    });
    let paris = Zone::named("Europe/Paris").unwrap();
    let daily_paris = time_ms(|| {
        let _ = jarvis_costs::report(&service.ledger(), GroupBy::Day, &Filter::default(), &paris);
    });
    let sessions = time_ms(|| {
        let _ = jarvis_costs::report(
            &service.ledger(),
            GroupBy::Session,
            &Filter::default(),
            &zone,
        );
    });
    let blocks = time_ms(|| {
        let _ = jarvis_costs::blocks(&service.ledger(), now, None);
    });
    println!(
        "costs_queries over {entries} entries (median of 5): current {current:.1} ms, daily {daily:.1} ms (Europe/Paris {daily_paris:.1} ms), session {sessions:.1} ms, blocks {blocks:.1} ms"
    );

    // Appends through the watcher, one line at a time.
    let thread = service.start().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let log = appended.join("appended.jsonl");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let before_appends = rss();
    let mut latencies = Vec::new();
    for i in 0..100 {
        let line = format!(
            r#"{{"type":"assistant","timestamp":"2026-01-01T00:00:{:02}.000Z","sessionId":"live","version":"2.0.37","requestId":"req_live_{i}","message":{{"id":"msg_live_{i}","model":"claude-sonnet-4-5-20250929","usage":{{"input_tokens":10,"output_tokens":20}}}}}}"#,
            i % 60
        ) + "\n";
        let want = service.ledger().entries().len() + 1;
        let started = Instant::now();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        file.write_all(line.as_bytes()).unwrap();
        drop(file);
        while service.ledger().entries().len() < want {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "append {i} not seen"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "costs_append_visible: 100 lines appended one at a time, each in the ledger (and the store) after p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; resident {:.0} MB before, {:.0} MB after",
        sorted[50],
        sorted[98],
        sorted[99],
        before_appends,
        rss()
    );
    service.stop();
    thread.join().unwrap();
    std::fs::remove_dir_all(log.parent().unwrap()).unwrap();
}
