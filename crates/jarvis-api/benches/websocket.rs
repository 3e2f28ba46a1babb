//! The WebSocket hub under load: 2,000 authenticated clients subscribed to `metrics`.
//!
//! This program is the server (the real `Application` on loopback, with a telemetry monitor
//! and an API key); it runs itself a second time as the client process, so the server's
//! memory and CPU are measured without the clients'. Reports the fan-out time of each
//! heartbeat — from the moment the server stamps it (`sent_at_us`) to each client's receipt —
//! as p50, p99 and the slowest client per heartbeat; the server's resident memory per
//! connection; and its CPU while serving the heartbeats.
//!
//! `cargo xtask bench` runs it with `--bench` (2,000 clients — `JARVIS_WS_BENCH_CLIENTS`
//! changes that — heartbeats every 2 s, 10 of them); without `--bench` (as under
//! `cargo test --benches`) it runs 20 clients for a moment.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark program"
)]

mod common;

use common::percentile;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use jarvis_api::{ApiConfig, Application, Scope};
use jarvis_tasks::TaskConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const CLIENT_ROLE: &str = "JARVIS_WS_BENCH_CLIENT";

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// Resident memory (bytes) and CPU ticks of this process.
fn own_usage() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let rss_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    (rss_kb * 1024, ticks)
}

fn main() {
    if let Ok(spec) = std::env::var(CLIENT_ROLE) {
        client(&spec);
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    let clients: usize = std::env::var("JARVIS_WS_BENCH_CLIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let (clients, heartbeats, live_ms) = if full {
        (clients, 10, 2000)
    } else {
        (20, 2, 200)
    };
    server(clients, heartbeats, live_ms);
}

fn server(clients: usize, heartbeats: usize, live_ms: u64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let common::Parts { dir: _dir, catalog, store, follower, engine, keys } = common::parts(
            |home| std::fs::create_dir_all(home.join(".claude/agents")).unwrap(),
            TaskConfig { runner: vec!["true".into()], search_path: jarvis_tasks::search_path(&std::env::var_os("PATH").unwrap_or_default()), ..TaskConfig::default() },
            Duration::from_millis(200),
        )
        .await;
        let key = keys.create("bench", &[Scope::Read]).unwrap().secret;
        let telemetry = jarvis_telemetry::TelemetryConfig {
            interval_ms: 10_000,
            live_interval_ms: live_ms,
            ..jarvis_telemetry::TelemetryConfig::default()
        };
        let monitor = Arc::new(jarvis_telemetry::Monitor::start(&telemetry, Some(Arc::clone(&store))).unwrap());
                let mut config = ApiConfig { port: 0, workers: 2, ..ApiConfig::default() };
        config.rate_limit.enabled = false;
        config.max_connections = 4096;
        config.websocket.max_connections = clients + 100;
        let app = Application::build(&config, jarvis_api::Parts { catalog, keys, tasks: engine, services: Default::default(), executions: follower, monitor: Some(Arc::clone(&monitor)), clock: jarvis_core::system_clock(), costs: None, analysis: None, knowledge: None, mcp: Default::default() }).unwrap();
        let address = format!("127.0.0.1:{}", app.port());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (idle_rss, _) = own_usage();

        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .env(CLIENT_ROLE, format!("{address} {clients} {heartbeats}"))
            .env("JARVIS_WS_BENCH_KEY", &key)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let started = Instant::now();
        let ready = tokio::task::spawn_blocking(move || {
            let ready = lines.next().unwrap().unwrap();
            (ready, lines)
        });
        let (ready, lines) = ready.await.unwrap();
        assert_eq!(ready, "READY", "the client process did not connect");
        let connect_secs = started.elapsed().as_secs_f64();
        let (connected_rss, ticks_before) = own_usage();
        let window = Instant::now();
        let report = tokio::task::spawn_blocking(move || {
            let mut lines = lines;
            lines.next().unwrap().unwrap()
        })
        .await
        .unwrap();
        let (_, ticks_after) = own_usage();
        let cpu = (ticks_after - ticks_before) as f64 / 100.0 / window.elapsed().as_secs_f64() * 100.0;
        child.wait().unwrap();
        handle.stop(true).await;
        monitor.stop();

        let per_connection = connected_rss.saturating_sub(idle_rss) as f64 / clients as f64;
        println!("websocket_fanout: {clients} authenticated clients subscribed to `metrics`, heartbeat every {live_ms} ms");
        println!("  connect + subscribe all clients: {connect_secs:.2} s");
        println!("  {report}");
        println!(
            "  server resident: {:.1} MB idle, {:.1} MB with {clients} clients → {:.1} KiB per connection",
            idle_rss as f64 / 1e6,
            connected_rss as f64 / 1e6,
            per_connection / 1024.0
        );
        println!("  server CPU while fanning out: {cpu:.1} % of one core");
    });
}

/// The client process: connects every client, subscribes each to `metrics`, prints `READY`,
/// then collects `heartbeats` heartbeats at every client and prints one summary line.
fn client(spec: &str) {
    let mut parts = spec.split(' ');
    let address = parts.next().unwrap().to_owned();
    let clients: usize = parts.next().unwrap().parse().unwrap();
    let heartbeats: usize = parts.next().unwrap().parse().unwrap();
    let key = std::env::var("JARVIS_WS_BENCH_KEY").unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::env::var("JARVIS_WS_BENCH_CLIENT_THREADS")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(2),
        )
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        // sent_at_us of a heartbeat → each client's latency for it, in µs.
        let seen: Arc<Mutex<BTreeMap<u64, Vec<u64>>>> = Arc::default();
        let subscribed = Arc::new(tokio::sync::Semaphore::new(0));
        let start_at = Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX));
        let mut tasks = Vec::with_capacity(clients);
        let gate = Arc::new(tokio::sync::Semaphore::new(64));
        // Nobody closes before everyone has counted: closing handshakes would compete with the
        // last heartbeat's delivery.
        let done = Arc::new(tokio::sync::Barrier::new(clients));
        for _ in 0..clients {
            let (address, key) = (address.clone(), key.clone());
            let (seen, subscribed, start_at, gate, done) =
                (Arc::clone(&seen), Arc::clone(&subscribed), Arc::clone(&start_at), Arc::clone(&gate), Arc::clone(&done));
            tasks.push(tokio::spawn(async move {
                let permit = gate.acquire_owned().await.unwrap();
                let mut request = format!("ws://{address}/ws").into_client_request().unwrap();
                request.headers_mut().insert("authorization", format!("Bearer {key}").parse().unwrap());
                // tungstenite's default 128 KiB read buffer is zeroed on every read: with 2,000
                // clients that alone would cost the load generator more than the server spends.
                let config = WebSocketConfig::default().read_buffer_size(4096);
                let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                    .await
                    .expect("connect");
                ws.send(Message::text(r#"{"type":"subscribe","topics":["metrics"]}"#)).await.unwrap();
                loop {
                    let Message::Text(text) = ws.next().await.unwrap().unwrap() else { continue };
                    if text.as_str().contains("\"subscribed\"") {
                        break;
                    }
                }
                drop(permit);
                subscribed.add_permits(1);
                let mut counted = 0;
                while counted < heartbeats {
                    let message = ws.next().await.unwrap().unwrap();
                    let received = now_us();
                    let Message::Text(text) = message else { continue };
                    // The stamp is read without parsing the whole sample: the client's own
                    // parsing is not the hub's fan-out time.
                    let text = text.as_str();
                    if !text.contains(r#""topic":"metrics""#) {
                        continue;
                    }
                    let sent: u64 = text
                        .split_once(r#""sent_at_us":"#)
                        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
                        .and_then(|digits| digits.parse().ok())
                        .expect("a heartbeat carries sent_at_us");
                    // Only heartbeats published after every client subscribed count.
                    if sent < start_at.load(std::sync::atomic::Ordering::SeqCst) {
                        continue;
                    }
                    seen.lock().unwrap().entry(sent).or_default().push(received.saturating_sub(sent));
                    counted += 1;
                }
                done.wait().await;
                ws.close(None).await.ok();
            }));
        }
        let _all = subscribed.acquire_many(clients as u32).await.unwrap();
        start_at.store(now_us(), std::sync::atomic::Ordering::SeqCst);
        println!("READY");
        std::io::stdout().flush().unwrap();
        let (_, ticks_before) = own_usage();
        let window = Instant::now();
        for task in tasks {
            task.await.unwrap();
        }
        let (_, ticks_after) = own_usage();
        let client_cpu = (ticks_after - ticks_before) as f64 / 100.0 / window.elapsed().as_secs_f64() * 100.0;
        let seen = seen.lock().unwrap();
        let mut all: Vec<u64> = seen.values().flatten().copied().collect();
        all.sort_unstable();
        let complete: Vec<u64> = seen
            .values()
            .filter(|v| v.len() == clients)
            .map(|v| *v.iter().max().unwrap())
            .collect();
        let worst_last = complete.iter().max().copied().unwrap_or(0);
        println!(
            "heartbeat fan-out over {} heartbeats × {clients} clients: p50 {:.1} ms, p99 {:.1} ms; last client per heartbeat at most {:.1} ms (client process: {client_cpu:.1} % of one core)",
            complete.len(),
            percentile(&all, 0.5) as f64 / 1000.0,
            percentile(&all, 0.99) as f64 / 1000.0,
            worst_last as f64 / 1000.0,
        );
        std::io::stdout().flush().unwrap();
    });
}
