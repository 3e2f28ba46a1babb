//! The dashboard as one user meets it, in headless Chromium against the real server on loopback
//! over a generated setup of 10,000 resources, signed in with a key, browser cache off:
//!
//! - a load of `/ui/`: first contentful paint, and the overview filled with live data (times
//!   from the navigation's start, as the page's own clock gives them); the bytes each asset
//!   took on the wire;
//! - the resources view listing all 10,000 resources (every page fetched, rows drawn), the
//!   page's DOM nodes and JavaScript heap with it open;
//! - scrolling that list to new places, each until the rows in view are drawn;
//! - search as you type: a new query each time, from the last keystroke until its results are
//!   drawn (the page's 120 ms debounce included), and the search request alone.
//!
//! `cargo xtask bench --ui` runs it with `--bench` (20 loads, 10 lists, 100 scrolls, 60
//! queries) over the corpus it generated (`JARVIS_BENCH_CORPUS`); without `--bench` (as under
//! `cargo test --benches`) it runs each once over 300 resources.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark program"
)]

#[allow(
    dead_code,
    reason = "this benchmark loads the catalog of a corpus, not of a home it writes"
)]
mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::percentile;
use jarvis_api::{ApiConfig, Application, Scope};
use jarvis_discovery::{DiscoveryConfig, Environment, ProjectConfig};
use jarvis_tasks::TaskConfig;
use jarvis_testkit::Layout;
use jarvis_testkit::browser::Browser;
use serde_json::{Value, json};

/// Injected into every document before the page's own script: notes the page-clock time at
/// which the overview is first filled (no card still says `…`).
const MARKS: &str = r"
window.__marks = {};
new MutationObserver(() => {
  if (window.__marks.overview) return;
  const cards = document.querySelectorAll('.grid .card');
  if (cards.length >= 6 && document.getElementById('services') && ![...document.querySelectorAll('.card p.muted')].some(p => p.textContent === '…')) {
    window.__marks.overview = performance.now();
  }
}).observe(document, { subtree: true, childList: true, characterData: true });
";

/// Resolves with the page-clock time at which `cond()` first holds, watching the DOM.
const WAIT_FOR: &str = r"
window.__waitFor = (cond) => new Promise((resolve) => {
  const check = () => { try { return cond(); } catch (e) { return false; } };
  if (check()) { resolve(performance.now()); return; }
  const observer = new MutationObserver(() => {
    if (check()) { observer.disconnect(); resolve(performance.now()); }
  });
  observer.observe(document.getElementById('view'), { subtree: true, childList: true, characterData: true });
});
window.__frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve(performance.now())));
";

struct Run {
    loads: usize,
    lists: usize,
    scrolls: usize,
    queries: usize,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let run = if full {
        Run {
            loads: 20,
            lists: 10,
            scrolls: 100,
            queries: 60,
        }
    } else {
        Run {
            loads: 1,
            lists: 1,
            scrolls: 3,
            queries: 3,
        }
    };
    let (corpus, _temp) = match std::env::var_os("JARVIS_BENCH_CORPUS") {
        Some(dir) if full => (PathBuf::from(dir), None),
        _ => {
            let temp = tempfile::tempdir().unwrap();
            let dir = temp.path().join("corpus");
            let count = if full { 10_000 } else { 300 };
            println!("{}", jarvis_testkit::generate(&dir, count).unwrap());
            (dir, Some(temp))
        }
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(bench(corpus, run));
}

async fn bench(corpus: PathBuf, run: Run) {
    let layout = Layout::of(&corpus);
    let roots = DiscoveryConfig {
        claude_dir: Some(layout.claude_dir),
        claude_json: Some(layout.claude_json),
        desktop_config: None,
        projects: layout
            .projects
            .into_iter()
            .map(ProjectConfig::Path)
            .collect(),
        workflow_paths: vec![layout.workflows],
        watch: false,
        ..DiscoveryConfig::default()
    }
    .resolve(&Environment {
        home: Some(corpus.clone()),
        vars: Default::default(),
    })
    .unwrap();
    let common::Parts {
        dir: _dir,
        catalog,
        store,
        follower,
        engine,
        keys,
    } = common::parts_over(
        tempfile::tempdir().unwrap(),
        roots,
        TaskConfig {
            runner: vec!["true".into()],
            search_path: jarvis_tasks::search_path(&std::env::var_os("PATH").unwrap_or_default()),
            ..TaskConfig::default()
        },
        Duration::from_secs(60),
    )
    .await;
    let resources = catalog.snapshot().resources().len();
    let key = keys
        .create("dashboard", &[Scope::Read, Scope::Execute])
        .unwrap()
        .secret;
    let telemetry = jarvis_telemetry::TelemetryConfig {
        live_interval_ms: 1_000,
        ..jarvis_telemetry::TelemetryConfig::default()
    };
    let monitor =
        Arc::new(jarvis_telemetry::Monitor::start(&telemetry, Some(Arc::clone(&store))).unwrap());
    let mut config = ApiConfig {
        port: 0,
        workers: 2,
        ..ApiConfig::default()
    };
    config.rate_limit.enabled = false;
    let app = Application::build(
        &config,
        jarvis_api::Parts {
            catalog,
            keys,
            tasks: engine,
            services: Default::default(),
            executions: follower,
            monitor: Some(monitor),
            clock: jarvis_core::system_clock(),
            costs: None,
            analysis: None,
            knowledge: None,
            mcp: Default::default(),
        },
    )
    .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());

    // New queries: a word of a resource's name, then two words as typed.
    let names = resource_names(&base, &key).await;

    let mut browser =
        Browser::launch(&PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots")).await;
    browser.call("Performance.enable", json!({})).await;
    browser
        .call("Network.setCacheDisabled", json!({ "cacheDisabled": true }))
        .await;
    browser
        .call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": format!("{MARKS}\n{WAIT_FOR}") }),
        )
        .await;
    browser
        .visit(
            &format!("{base}/ui/"),
            "the sign-in form",
            "document.getElementById('signin').open",
        )
        .await;
    browser
        .eval(&format!(
            "sessionStorage.setItem('jarvis.key', {key:?}); true"
        ))
        .await;
    println!("\n==> dashboard: {resources} resources, headless Chromium, cache off, signed in");

    // Loads.
    let (mut paints, mut filled) = (Vec::new(), Vec::new());
    let mut wire: Vec<(String, u64, String)> = Vec::new();
    for i in 0..run.loads {
        browser.events = Some(Vec::new());
        reload(&mut browser).await;
        let paint = browser
            .until(
                "the first paint",
                "!window.__old && performance.getEntriesByName('first-contentful-paint')[0]?.startTime",
            )
            .await;
        let ready = browser
            .until(
                "the overview filled",
                "!window.__old && window.__marks?.overview",
            )
            .await;
        paints.push(paint.as_f64().unwrap());
        filled.push(ready.as_f64().unwrap());
        let events = browser.events.take().unwrap_or_default();
        if i == 0 {
            wire = transferred(&events);
            browser.screenshot("bench-overview").await;
        }
    }
    report("first contentful paint", &mut paints);
    report("overview filled with live data", &mut filled);
    let total: u64 = wire.iter().map(|(_, n, _)| n).sum();
    for (url, n, encoding) in &wire {
        println!(
            "  {:<40} {:>7} bytes on the wire ({encoding})",
            url.trim_start_matches(&base),
            n
        );
    }
    println!("  assets together: {total} bytes on the wire (headers included)");

    // The whole list.
    let mut lists = Vec::new();
    for _ in 0..run.lists {
        reload(&mut browser).await;
        browser
            .until("the overview", "!window.__old && window.__marks?.overview")
            .await;
        let took = browser
            .eval(
                "(async () => { const t0 = performance.now(); location.hash = '#/resources'; \
                 await __waitFor(() => / resources$/.test(document.querySelector('main .toolbar .muted').textContent) && document.querySelector('.list .row')); \
                 await __frame(); return performance.now() - t0; })()",
            )
            .await;
        lists.push(took.as_f64().unwrap());
    }
    let shown = browser
        .eval("document.querySelector('main .toolbar .muted').textContent")
        .await;
    assert_eq!(
        shown,
        format!("{resources} resources"),
        "the list holds every resource"
    );
    report(&format!("all resources listed ({shown})"), &mut lists);
    browser.call("HeapProfiler.collectGarbage", json!({})).await;
    let metrics = browser.call("Performance.getMetrics", json!({})).await;
    let elements = browser
        .eval("document.getElementsByTagName('*').length")
        .await;
    let metric = |name: &str| {
        metrics["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .map_or(0.0, |m| m["value"].as_f64().unwrap_or(0.0))
    };
    println!(
        "  with the list open: {elements} elements in the page, {:.1} MB JavaScript heap in use (after a collection)",
        metric("JSHeapUsedSize") / 1e6
    );
    browser.screenshot("bench-resources").await;

    // Scrolling to new places.
    let mut scrolls = Vec::new();
    for i in 0..run.scrolls {
        let fraction = ((i * 7_919) % 1_000) as f64 / 1_000.0;
        let took = browser
            .eval(&format!(
                "(async () => {{ const box = document.querySelector('.list'); const t0 = performance.now(); \
                 box.scrollTop = Math.floor((box.scrollHeight - box.clientHeight) * {fraction}); \
                 await __waitFor(() => [...box.querySelectorAll('.row')].some(r => parseInt(r.style.top) <= box.scrollTop && parseInt(r.style.top) + 56 > box.scrollTop)); \
                 await __frame(); return performance.now() - t0; }})()"
            ))
            .await;
        scrolls.push(took.as_f64().unwrap());
    }
    report("scroll to a new place, rows drawn", &mut scrolls);

    // Search as you type.
    let (mut typed, mut requests) = (Vec::new(), Vec::new());
    let mut hits = 0u64;
    for query in names.iter().cycle().take(run.queries) {
        let took = browser
            .eval(&format!(
                "(async (q) => {{ const input = document.getElementById('search'); const count = document.querySelector('main .toolbar .muted'); \
                 count.textContent = ''; performance.clearResourceTimings(); const t0 = performance.now(); \
                 input.value = q; input.dispatchEvent(new Event('input', {{ bubbles: true }})); \
                 await __waitFor(() => / hits in /.test(count.textContent)); await __frame(); const t1 = performance.now(); \
                 const entry = performance.getEntriesByType('resource').filter(e => e.name.includes('/api/v2/search?')).pop(); \
                 return {{ total: t1 - t0, request: entry ? entry.responseEnd - entry.startTime : null, hits: parseInt(count.textContent) }}; }})({query:?})"
            ))
            .await;
        typed.push(took["total"].as_f64().unwrap());
        requests.push(took["request"].as_f64().unwrap_or(f64::NAN));
        hits += took["hits"].as_u64().unwrap_or(0);
    }
    browser.screenshot("bench-search").await;
    report(
        "search: last keystroke to results drawn (120 ms debounce included)",
        &mut typed,
    );
    report("search: the request alone", &mut requests);
    println!(
        "  {} queries, {:.1} hits each on average",
        run.queries,
        hits as f64 / run.queries.max(1) as f64
    );
}

/// Loads the page again from the server (the old document marked, so waits can tell them
/// apart); the overview, since the hash is `#/`.
async fn reload(browser: &mut Browser) {
    browser
        .eval("window.__old = true; location.hash = '#/'; true")
        .await;
    browser
        .call("Page.reload", json!({ "ignoreCache": true }))
        .await;
}

/// Prints p50, p99 and the maximum of `values` (ms).
fn report(what: &str, values: &mut [f64]) {
    values.sort_by(f64::total_cmp);
    println!(
        "{what}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} runs)",
        percentile(values, 0.5),
        percentile(values, 0.99),
        values.last().copied().unwrap_or_default(),
        values.len()
    );
}

/// Each `/ui/` asset of one load with the bytes it took on the wire and its content encoding.
fn transferred(events: &[Value]) -> Vec<(String, u64, String)> {
    let mut urls = HashMap::new();
    let mut encodings = HashMap::new();
    let mut out = Vec::new();
    for event in events {
        let params = &event["params"];
        let id = params["requestId"].as_str().unwrap_or_default().to_owned();
        match event["method"].as_str() {
            Some("Network.requestWillBeSent") => {
                urls.insert(
                    id,
                    params["request"]["url"].as_str().unwrap_or("").to_owned(),
                );
            }
            Some("Network.responseReceived") => {
                let headers = &params["response"]["headers"];
                let encoding = headers
                    .as_object()
                    .and_then(|h| {
                        h.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case("content-encoding"))
                            .and_then(|(_, v)| v.as_str())
                    })
                    .unwrap_or("identity");
                encodings.insert(id, encoding.to_owned());
            }
            Some("Network.loadingFinished") => {
                let url = urls.get(&id).cloned().unwrap_or_default();
                if url.contains("/ui/") {
                    let bytes = params["encodedDataLength"].as_f64().unwrap_or(0.0) as u64;
                    let encoding = encodings.get(&id).cloned().unwrap_or_default();
                    out.push((url, bytes, encoding));
                }
            }
            _ => {}
        }
    }
    out
}

/// Queries a user has not asked before: the first word of resource names, then two words of
/// one as typed, in a fixed order.
async fn resource_names(base: &str, key: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let body: Value = client
        .get(format!("{base}/api/v2/agents?limit=200"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out: Vec<String> = Vec::new();
    for agent in body["data"].as_array().unwrap() {
        let name = agent["name"].as_str().unwrap_or_default();
        let words: Vec<&str> = name
            .split(['-', '_', ' '])
            .filter(|w| w.len() > 2)
            .collect();
        let query = match (out.len() % 2, words.as_slice()) {
            (0, [first, ..]) => (*first).to_owned(),
            (_, [first, second, ..]) => format!("{first} {}", &second[..second.len().min(3)]),
            _ => continue,
        };
        if !out.contains(&query) {
            out.push(query);
        }
    }
    assert!(!out.is_empty(), "the corpus has agents to search for");
    out
}
