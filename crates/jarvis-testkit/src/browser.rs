//! A headless Chromium (Debian's `chromium`) with one page, driven through the DevTools
//! protocol over its WebSocket: the dashboard's browser tests and its benchmark share it.
//! Failures panic with what the page showed, as a test should; screenshots go to
//! `$JARVIS_ARTIFACTS/ui-screenshots` when that is set, else to the folder given at launch.
//!
//! Behind the `browser` feature, so only the suites that drive a browser build it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support: a failure here is the test's failure"
)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One headless Chromium with one page, spoken to through the DevTools protocol.
pub struct Browser {
    child: tokio::process::Child,
    socket: Socket,
    session: String,
    next_id: u64,
    /// Every URL the page asked for.
    pub requests: Vec<String>,
    /// When set, every DevTools event seen while waiting for answers is kept here, oldest first.
    pub events: Option<Vec<Value>>,
    screenshots: PathBuf,
    _profile: tempfile::TempDir,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("session", &self.session)
            .field("requests", &self.requests.len())
            .finish_non_exhaustive()
    }
}

impl Browser {
    /// Starts Chromium; screenshots go to `screenshots` (unless `$JARVIS_ARTIFACTS` is set).
    pub async fn launch(screenshots: &Path) -> Browser {
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
            events: None,
            screenshots: screenshots.to_path_buf(),
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

    /// Calls a browser-level DevTools method and returns its result.
    pub async fn call_browser(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None).await
    }

    /// Calls a DevTools method on the page and returns its result.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
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
            if let (Some(events), false) = (self.events.as_mut(), value["method"].is_null()) {
                events.push(value.clone());
            }
            if value["id"] == id {
                assert!(value["error"].is_null(), "{method}: {value}");
                return value["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    pub async fn eval(&mut self, expression: &str) -> Value {
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
    pub async fn until(&mut self, what: &str, expression: &str) -> Value {
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

    /// Navigates the page to `url`.
    pub async fn go(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url })).await;
    }

    /// Goes to `url` and waits until `ready` is truthy.
    pub async fn visit(&mut self, url: &str, what: &str, ready: &str) -> Value {
        self.go(url).await;
        self.until(what, ready).await
    }

    /// Saves a PNG of the page as `name.png` and returns its path.
    pub async fn screenshot(&mut self, name: &str) -> PathBuf {
        let shot = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await;
        let dir = std::env::var_os("JARVIS_ARTIFACTS").map_or_else(
            || self.screenshots.clone(),
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

/// JavaScript that sets an input's value as typing would and fires `input`.
pub fn type_into(id: &str, text: &str) -> String {
    format!(
        "(() => {{ const el = document.getElementById({id:?}); el.value = {text:?}; el.dispatchEvent(new Event('input', {{bubbles: true}})); return true; }})()"
    )
}
