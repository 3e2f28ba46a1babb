//! The whole task path under load: HTTP → store → runner → store, with a no-op runner (`true`).
//!
//! Reports tasks per second from the first submission to the last task's end, the HTTP
//! submission latency, and enqueue-to-start latency (from each task's stored timestamps).
//! `cargo xtask bench` runs it with `--bench`; as a test (no `--bench`) it runs a few tasks.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark program"
)]

mod common;

use common::percentile;

use std::sync::Arc;
use std::time::{Duration, Instant};

use jarvis_api::{ApiConfig, Application};
use jarvis_store::TaskFilter;
use jarvis_tasks::TaskConfig;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let total: usize = if full { 2000 } else { 20 };
    let clients: usize = 8;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let common::Parts { dir: _dir, catalog, store, follower, engine, keys } = common::parts(
            |home| {
                let commands = home.join(".claude/commands");
                std::fs::create_dir_all(&commands).unwrap();
                std::fs::write(commands.join("noop.md"), "Do $ARGUMENTS\n").unwrap();
            },
            TaskConfig { runner: vec!["true".into(), "{prompt}".into()], concurrency: 2, search_path: jarvis_tasks::search_path(&std::env::var_os("PATH").unwrap_or_default()), ..TaskConfig::default() },
            Duration::from_millis(200),
        )
        .await;
        let mut config = ApiConfig { port: 0, ..ApiConfig::default() };
        config.rate_limit.enabled = false;
        let app = Application::build(&config, jarvis_api::Parts { catalog, keys, tasks: engine, services: Default::default(), executions: follower, monitor: None, clock: jarvis_core::system_clock(), costs: None, analysis: None, knowledge: None, mcp: Default::default() }).unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());

        let client = reqwest::Client::new();
        let started = Instant::now();
        let mut workers = Vec::new();
        for w in 0..clients {
            let client = client.clone();
            let base = base.clone();
            workers.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                for i in (w..total).step_by(clients) {
                    let sent = Instant::now();
                    let res = client
                        .post(format!("{base}/command"))
                        .json(&serde_json::json!({ "command": format!("/noop {i}") }))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 202);
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                }
                latencies
            }));
        }
        let mut submit_ms = Vec::new();
        for w in workers {
            submit_ms.extend(w.await.unwrap());
        }
        // Wait until every task has ended.
        let tasks = loop {
            let store = Arc::clone(&store);
            let tasks = tokio::task::spawn_blocking(move || store.list_tasks(&TaskFilter { limit: total + 10, ..TaskFilter::default() }))
                .await
                .unwrap()
                .unwrap();
            if tasks.len() == total && tasks.iter().all(|t| t.status.is_final()) {
                break tasks;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let wall = started.elapsed().as_secs_f64();

        // An idle queue: one task at a time, each submitted after the last ended.
        let singles = if full { 200 } else { 5 };
        let mut idle_to_start = Vec::new();
        for i in 0..singles {
            let res = client
                .post(format!("{base}/command"))
                .json(&serde_json::json!({ "command": format!("/noop single {i}") }))
                .send()
                .await
                .unwrap();
            let body: serde_json::Value = res.json().await.unwrap();
            let id = body["data"]["id"].as_str().unwrap().to_owned();
            let task = loop {
                let store = Arc::clone(&store);
                let key = id.clone();
                let task = tokio::task::spawn_blocking(move || store.get_task(&key)).await.unwrap().unwrap().unwrap();
                if task.status.is_final() {
                    break task;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            };
            idle_to_start.push((task.started_at.unwrap() - task.created_at) as f64);
        }
        idle_to_start.sort_by(f64::total_cmp);
        handle.stop(true).await;
        let succeeded = tasks.iter().filter(|t| t.status == jarvis_core::TaskStatus::Succeeded).count();
        let mut to_start: Vec<f64> = tasks
            .iter()
            .filter_map(|t| t.started_at.map(|s| (s - t.created_at) as f64))
            .collect();
        to_start.sort_by(f64::total_cmp);
        submit_ms.sort_by(f64::total_cmp);
        println!("tasks_end_to_end: {total} tasks ({succeeded} succeeded) from {clients} concurrent clients, runner `true`, concurrency 2");
        println!("  throughput        {:.0} tasks/s (first submission to last end: {:.2} s)", total as f64 / wall, wall);
        println!("  HTTP submit (202) p50 {:.2} ms, p99 {:.2} ms", percentile(&submit_ms, 0.5), percentile(&submit_ms, 0.99));
        println!("  enqueue → start   p50 {:.0} ms, p99 {:.0} ms (queueing included: {clients} clients outpace 2 slots)", percentile(&to_start, 0.5), percentile(&to_start, 0.99));
        println!("  idle queue: enqueue → start p50 {:.0} ms, p99 {:.0} ms over {singles} tasks (millisecond timestamps)", percentile(&idle_to_start, 0.5), percentile(&idle_to_start, 0.99));
        assert_eq!(succeeded, total);
    });
}
