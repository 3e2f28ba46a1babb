//! The dashboard in a real browser: headless Chromium (Debian's `chromium`, which `cargo xtask
//! ci` installs when missing) driven through the DevTools protocol, against the real server on
//! a loopback port with the fake runner. Screenshots go to `target/tmp/ui-screenshots` (or
//! `$JARVIS_ARTIFACTS`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use jarvis_api::{KeyStore, Scope};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::Spawn;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One headless Chromium with one page, spoken to through the DevTools protocol.
struct Browser {
    child: tokio::process::Child,
    socket: Socket,
    session: String,
    next_id: u64,
    /// Every URL the page asked for.
    requests: Vec<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn launch() -> Browser {
        let program = ["chromium", "chromium-browser", "google-chrome"]
            .into_iter()
            .find(|p| {
                std::process::Command::new(p)
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .expect("Chromium is needed for the dashboard tests: apt-get install -y chromium (cargo xtask ci installs it)");
        let profile = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new(program)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("Chromium exited before it listened");
        })
        .await
        .expect("Chromium's DevTools endpoint");
        // Keep reading stderr so the browser never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut browser = Browser {
            child,
            socket,
            session: String::new(),
            next_id: 0,
            requests: Vec::new(),
            _profile: profile,
        };
        let target = browser
            .call_browser("Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let attached = browser
            .call_browser(
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        browser.call("Page.enable", json!({})).await;
        browser.call("Network.enable", json!({})).await;
        browser.call("Runtime.enable", json!({})).await;
        browser
    }

    async fn call_browser(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None).await
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(method, params, Some(session)).await
    }

    async fn send(&mut self, method: &str, params: Value, session: Option<String>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("{method}: no answer"))
                .unwrap()
                .unwrap();
            let Message::Text(text) = frame else { continue };
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["method"] == "Network.requestWillBeSent" {
                let url = value["params"]["request"]["url"].as_str().unwrap_or("");
                self.requests.push(url.to_owned());
            } else if value["method"] == "Network.webSocketCreated" {
                let url = value["params"]["url"].as_str().unwrap_or("");
                self.requests.push(url.to_owned());
            }
            if value["id"] == id {
                assert!(value["error"].is_null(), "{method}: {value}");
                return value["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
            )
            .await;
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression}: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is truthy in the page (a throw counts as not yet); returns its
    /// value.
    async fn until(&mut self, what: &str, expression: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        // The page may not be there yet (still loading): a throw counts as not yet.
        let guarded = format!(
            "(() => {{ try {{ return ({expression}); }} catch (e) {{ return null; }} }})()"
        );
        loop {
            let value = self.eval(&guarded).await;
            if !(value.is_null() || value == false || value == "" || value == 0) {
                return value;
            }
            if Instant::now() > deadline {
                self.screenshot(&format!("failed-{}", what.replace(' ', "-")))
                    .await;
                let page = self.eval("document.getElementById('view').innerText").await;
                panic!("timed out waiting for {what} ({expression}); the page says: {page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn go(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url })).await;
    }

    /// Goes to `url` and waits until `ready` is truthy.
    async fn visit(&mut self, url: &str, what: &str, ready: &str) -> Value {
        self.go(url).await;
        self.until(what, ready).await
    }

    async fn screenshot(&mut self, name: &str) -> PathBuf {
        let shot = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await;
        let dir = std::env::var_os("JARVIS_ARTIFACTS").map_or_else(
            || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots"),
            |d| PathBuf::from(d).join("ui-screenshots"),
        );
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, base64(shot["data"].as_str().unwrap())).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Standard base64, as DevTools sends screenshots.
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = text.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let v: Vec<u32> = chunk.iter().map(|c| u32::from(value(*c))).collect();
        let n = v.iter().fold(0u32, |acc, x| (acc << 6) | x) << (6 * (4 - v.len()));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..v.len()]);
    }
    out
}

/// Opens the `tools:lint` command and runs it with `arguments` from its form.
async fn run_lint(browser: &mut Browser, base: &str, arguments: &str) {
    browser
        .visit(
            &format!("{base}/ui/#/resources/commands/tools:lint"),
            "the command's run form",
            "document.getElementById('detail')?.textContent.includes('Lint the code') && document.getElementById('run-form')",
        )
        .await;
    browser
        .eval(&format!(
            "{}; document.getElementById('run-form').requestSubmit(); true",
            type_into("run-args", arguments)
        ))
        .await;
}

/// Sets an input's value as typing would and fires `input`.
fn type_into(id: &str, text: &str) -> String {
    format!(
        "(() => {{ const el = document.getElementById({id:?}); el.value = {text:?}; el.dispatchEvent(new Event('input', {{bubbles: true}})); return true; }})()"
    )
}

#[tokio::test]
async fn the_dashboard_signs_in_streams_searches_runs_and_cancels_in_a_real_browser() {
    let mut key = String::new();
    let app = Spawn::new()
        .prepare(|store: &KeyStore| {
            key = store
                .create("browser", &[Scope::Read, Scope::Execute])
                .unwrap()
                .secret;
        })
        .start()
        .await;
    let mut browser = Browser::launch().await;
    // Keys exist: the page asks for one.
    browser
        .visit(
            &format!("{}/ui/", app.base),
            "the sign-in form",
            "document.getElementById('signin').open",
        )
        .await;
    browser.screenshot("01-sign-in").await;
    browser
        .eval(&format!(
            "document.getElementById('key').value = {key:?}; document.getElementById('signin-form').requestSubmit(); true"
        ))
        .await;
    browser
        .until(
            "the overview",
            "!document.getElementById('signin').open && document.querySelector('main h1')?.textContent === 'Overview' && document.querySelectorAll('.card').length > 3",
        )
        .await;

    // A live metric update arrives over the WebSocket (through a ticket).
    browser
        .until(
            "a metrics update",
            "Number(document.body.dataset.metrics || 0) >= 2",
        )
        .await;
    browser
        .until(
            "services and today's cost",
            "document.getElementById('services')?.textContent.includes('analyzer') && document.getElementById('cost-today')?.textContent.startsWith('$')",
        )
        .await;
    browser.screenshot("02-overview").await;

    // Search and open an agent.
    browser
        .visit(
            &format!("{}/ui/#/resources", app.base),
            "the search box",
            "document.getElementById('search')",
        )
        .await;
    browser.eval(&type_into("search", "reviewr")).await;
    browser
        .until(
            "a hit with a highlight",
            "[...document.querySelectorAll('.list .row')].some(r => r.textContent.includes('reviewer') && r.querySelector('mark'))",
        )
        .await;
    browser
        .eval("[...document.querySelectorAll('.list .row')].find(r => r.textContent.includes('reviewer')).click(); true")
        .await;
    browser
        .until(
            "the agent's details",
            "document.getElementById('detail')?.textContent.includes('Reviews code for security problems')",
        )
        .await;
    let shown = browser
        .eval("document.getElementById('detail').textContent")
        .await;
    assert!(
        !shown.as_str().unwrap().contains("[object"),
        "every field renders as text: {shown}"
    );
    assert!(
        shown.as_str().unwrap().contains("Focus on correctness"),
        "the body is shown: {shown}"
    );
    assert_eq!(
        browser
            .eval("document.getElementById('search').value")
            .await,
        "reviewr",
        "the search stays while a result is open"
    );
    browser.screenshot("03-agent").await;

    // Run a command and watch its output stream to success.
    run_lint(&mut browser, &app.base, "src/main.rs").await;
    browser
        .until(
            "the task to succeed",
            "document.getElementById('task-status')?.dataset.status === 'succeeded'",
        )
        .await;
    let output = browser
        .eval("document.getElementById('output').textContent")
        .await;
    assert!(output.as_str().unwrap().contains("src/main.rs"), "{output}");
    browser.screenshot("04-task-succeeded").await;

    // Run a slow one and cancel it.
    run_lint(&mut browser, &app.base, "slow").await;
    browser
        .until(
            "the slow task to run",
            "document.getElementById('task-status')?.dataset.status === 'running'",
        )
        .await;
    browser
        .eval("document.getElementById('cancel').click(); true")
        .await;
    browser
        .until(
            "the task to be canceled",
            "document.getElementById('task-status')?.dataset.status === 'canceled'",
        )
        .await;
    browser.screenshot("05-task-canceled").await;

    // Metrics history, with a range chosen.
    browser
        .visit(
            &format!("{}/ui/#/metrics", app.base),
            "an hour of history",
            "document.getElementById('history-summary')?.textContent.includes('points')",
        )
        .await;
    browser
        .eval("[...document.querySelectorAll('.chips button')].find(b => b.textContent === '1 day').click(); true")
        .await;
    browser
        .until(
            "a day of history",
            "location.hash.includes('range=24h') && document.querySelector('.chips button[aria-pressed=\"true\"]')?.textContent === '1 day' && document.getElementById('history-summary')?.textContent.includes('points')",
        )
        .await;
    browser.screenshot("06-metrics").await;

    // Costs and workflows.
    browser
        .visit(
            &format!("{}/ui/#/costs", app.base),
            "the cost breakdowns",
            "document.getElementById('cost-chart') && document.querySelector('main').textContent.includes('By model')",
        )
        .await;
    browser.screenshot("07-costs").await;
    browser
        .visit(
            &format!("{}/ui/#/workflows", app.base),
            "the workflows",
            "document.getElementById('executions') && document.querySelector('main').textContent.includes('PR digest')",
        )
        .await;
    browser.screenshot("08-workflows").await;

    // Diagnostics, grouped by code.
    browser
        .visit(
            &format!("{}/ui/#/diagnostics", app.base),
            "the diagnostics",
            "document.querySelector('#diagnostics summary code')?.textContent",
        )
        .await;
    browser.screenshot("09-diagnostics").await;

    // Nothing outside the server's own origin was asked for.
    let host = app.base.trim_start_matches("http://").to_owned();
    let outside: Vec<&String> = browser
        .requests
        .iter()
        .filter(|u| {
            !(u.starts_with(&format!("http://{host}/"))
                || u.starts_with(&format!("ws://{host}/"))
                || u.starts_with("about:")
                || u.starts_with("data:"))
        })
        .collect();
    assert!(
        outside.is_empty(),
        "requests outside the origin: {outside:?}"
    );
    assert!(
        browser
            .requests
            .iter()
            .any(|u| u.contains("/api/v2/ws?ticket=")),
        "the WebSocket went through a ticket: {:?}",
        browser.requests
    );
}
