//! Two `jarvis serve` processes on one PostgreSQL store, as behind a load balancer: a task
//! submitted to either is run once, by one of them, and streams to a WebSocket client of the
//! other; a key revoked on one is refused by the other; a killed instance's running task is
//! marked `interrupted` by the survivor.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use jarvis_testkit::postgres::Cluster;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::{Home, gone_within_a_second, start_server, stderr, stdout};

/// Writes the runner both instances use: it logs every run to `runs` and prints a line. A
/// prompt containing `wait` first waits for the file `go`; one containing `slow` records
/// `pid parent-pid` in `pids` and sleeps.
fn runner(dir: &Path) -> std::path::PathBuf {
    let runner = dir.join("runner.sh");
    let runs = dir.join("runs");
    let pids = dir.join("pids");
    let go = dir.join("go");
    fs::write(
        &runner,
        format!(
            "#!/bin/sh\necho \"$1\" >> {runs:?}\ncase \"$1\" in *wait*) while [ ! -e {go:?} ]; do sleep 0.05; done ;; esac\ncase \"$1\" in *slow*) echo \"$$ $PPID\" > {pids:?}.tmp; mv {pids:?}.tmp {pids:?}; exec sleep 60 ;; esac\necho \"ran $1\"\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(&runner, fs::Permissions::from_mode(0o755)).unwrap();
    runner
}

fn configure(home: &Home, name: &str, url: &str, runner: &Path) {
    fs::write(
        home.path().join("jarvis.toml"),
        format!(
            "[tasks]\nrunner = [{:?}, \"{{prompt}}\"]\nconcurrency = 2\n\
             [storage]\ndata_dir = {:?}\n\
             [telemetry]\ninterval_ms = 200\nflush_secs = 1\n\
             [store]\nurl = {url:?}\ninstance_name = {name:?}\nheartbeat_secs = 1\ndead_after_secs = 3\n",
            runner.to_string_lossy(),
            home.path().join("data").to_string_lossy(),
        ),
    )
    .unwrap();
}

/// A server process, killed if the test ends early so no instance outlives it.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a WebSocket message within 20 s")
            .expect("the connection stays open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

#[test]
fn two_instances_share_tasks_events_keys_and_notice_a_dead_one() {
    let cluster = Cluster::start().expect("PostgreSQL is installed by cargo xtask ci");
    let url = cluster.create_database("jarvis").unwrap();
    let (a, b) = (Home::new(), Home::new());
    let runner = runner(a.path());
    configure(&a, "a", &url, &runner);
    configure(&b, "b", &url, &runner);

    // The first admin key is made on the command line; it lands in the shared store.
    let out = a.jarvis(&[
        "keys", "create", "--name", "ops", "--scope", "admin", "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let created: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let admin = created["key"].as_str().unwrap().to_owned();
    let out = b.jarvis(&["keys", "list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(created["id"].as_str().unwrap()));

    let (server_a, address_a) = start_server(&a);
    let server_a = Running(server_a);
    let (server_b, address_b) = start_server(&b);
    let server_b = Running(server_b);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, url: String, key: &str, body: Option<Value>| {
        let mut request = client.request(method, url).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        runtime.block_on(async {
            let res = request.send().await.unwrap();
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            (status, body)
        })
    };
    let submit = |address: &str, prompt: &str| {
        let (status, body) = call(
            reqwest::Method::POST,
            format!("{address}/command"),
            &admin,
            Some(json!({ "command": format!("/tools:lint {prompt}") })),
        );
        assert_eq!(status, 202, "{body}");
        body["data"]["id"].as_str().unwrap().to_owned()
    };
    let status_of = |address: &str, id: &str| {
        let (_, body) = call(
            reqwest::Method::GET,
            format!("{address}/api/v2/tasks/{id}"),
            &admin,
            None,
        );
        body["data"]["status"].as_str().unwrap_or("?").to_owned()
    };
    let wait_for = |address: &str, id: &str, want: &str, within: Duration| {
        let deadline = Instant::now() + within;
        loop {
            let status = status_of(address, id);
            if status == want {
                return;
            }
            assert!(Instant::now() < deadline, "{id} is {status}, never {want}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    // A ticket issued by A opens a WebSocket on B: tickets live in the shared store.
    let (status, body) = call(
        reqwest::Method::POST,
        format!("{address_a}/api/v2/ws-ticket"),
        &admin,
        None,
    );
    assert_eq!(status, 201, "{body}");
    let ticket = body["data"]["ticket"].as_str().unwrap().to_owned();
    let ws_b = format!(
        "{}/api/v2/ws?ticket={ticket}",
        address_b.replacen("http://", "ws://", 1)
    );
    let mut ws = runtime.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_b.as_str())
            .await
            .unwrap();
        assert_eq!(next_json(&mut ws).await["type"], "welcome");
        ws.send(Message::text(r#"{"type":"subscribe","topics":["tasks"]}"#))
            .await
            .unwrap();
        ws
    });
    // Redeemed once, on B: A refuses it too.
    let ws_a = format!(
        "{}/api/v2/ws?ticket={ticket}",
        address_a.replacen("http://", "ws://", 1)
    );
    let refused = runtime.block_on(tokio_tungstenite::connect_async(ws_a.as_str()));
    assert!(refused.is_err(), "a ticket worked twice");

    // Submitted to A, streamed to B's client: its output and its end.
    let first = submit(&address_a, "first-wait");
    let (output, end) = runtime.block_on(async {
        let topic = format!("task:{first}");
        ws.send(Message::text(
            json!({ "type": "subscribe", "topics": [topic] }).to_string(),
        ))
        .await
        .unwrap();
        loop {
            let reply = next_json(&mut ws).await;
            if reply["type"] == "subscribed" && reply["topics"][0] == topic.as_str() {
                break;
            }
        }
        fs::write(a.path().join("go"), "").unwrap();
        let mut output = String::new();
        loop {
            let event = next_json(&mut ws).await;
            if event["data"]["id"] != first.as_str() {
                continue;
            }
            if event["event"] == "output" {
                output.push_str(event["data"]["chunk"].as_str().unwrap_or_default());
            }
            if event["event"] == "task"
                && ["succeeded", "failed"].contains(&event["data"]["status"].as_str().unwrap())
            {
                break (output, event);
            }
        }
    });
    assert_eq!(end["data"]["status"], "succeeded", "{end}");
    assert!(output.contains("first-wait"), "{output:?}");

    // Many tasks, submitted to both: each runs exactly once.
    let ids: Vec<(String, String)> = (0..12)
        .map(|n| {
            let prompt = format!("batch-{n}");
            let address = if n % 2 == 0 { &address_a } else { &address_b };
            (submit(address, &prompt), prompt)
        })
        .collect();
    for (id, _) in &ids {
        wait_for(&address_b, id, "succeeded", Duration::from_secs(60));
    }
    let runs = fs::read_to_string(a.path().join("runs")).unwrap();
    for (_, prompt) in &ids {
        let suffix = format!(" {prompt}");
        let times = runs.lines().filter(|line| line.ends_with(&suffix)).count();
        assert_eq!(times, 1, "{prompt} ran {times} times:\n{runs}");
    }

    // A key made on A works on B; revoked on A, B refuses it.
    let (status, body) = call(
        reqwest::Method::POST,
        format!("{address_a}/api/v2/keys"),
        &admin,
        Some(json!({ "name": "reader", "scopes": ["read"] })),
    );
    assert_eq!(status, 201, "{body}");
    let reader = body["data"]["key"].as_str().unwrap().to_owned();
    let reader_id = body["data"]["id"].as_str().unwrap().to_owned();
    let agents_on_b = || {
        call(
            reqwest::Method::GET,
            format!("{address_b}/api/v2/agents"),
            &reader,
            None,
        )
        .0
    };
    let until = |what: &str, check: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    until("B accepts a key made on A", &|| agents_on_b() == 200);
    let (status, body) = call(
        reqwest::Method::DELETE,
        format!("{address_a}/api/v2/keys/{reader_id}"),
        &admin,
        None,
    );
    assert!(status == 200 || status == 204, "{status} {body}");
    until("B refuses a key revoked on A", &|| agents_on_b() == 401);

    // A's own metric history, and B's as B stored it, from either.
    let history = |address: &str, instance: Option<&str>| {
        let mut url = format!("{address}/api/v2/metrics/history?metric=cpu_usage&time_range=15m");
        if let Some(name) = instance {
            url.push_str(&format!("&instance={name}"));
        }
        call(reqwest::Method::GET, url, &admin, None)
    };
    let (status, own) = history(&address_a, None);
    assert_eq!(
        (status, own["data"]["instance"].as_str()),
        (200, Some("a")),
        "{own}"
    );
    // Each stores its history every second; both have before either is stopped.
    until("B's history to be stored", &|| {
        let (status, body) = history(&address_a, Some("b"));
        status == 200 && !body["data"]["points"].as_array().unwrap().is_empty()
    });
    until("A's history to be stored", &|| {
        let (status, body) = history(&address_b, Some("a"));
        status == 200 && !body["data"]["points"].as_array().unwrap().is_empty()
    });
    let (status, body) = history(&address_a, Some("nobody"));
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("`b`")
            || body["error"]["message"].as_str().unwrap().contains("a, b"),
        "{body}"
    );

    // A slow task runs on one of them; that instance is killed without a goodbye.
    let pids = a.path().join("pids");
    let slow = submit(&address_b, "slow");
    wait_for(&address_b, &slow, "running", Duration::from_secs(20));
    let (runner_pid, parent) = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(text) = fs::read_to_string(&pids) {
                let mut numbers = text.split_whitespace().map(|n| n.parse::<u32>().unwrap());
                break (numbers.next().unwrap(), numbers.next().unwrap());
            }
            assert!(Instant::now() < deadline, "the runner never started");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let (victim, mut survivor, survivor_address) = if parent == server_a.0.id() {
        (server_a, server_b, address_b.clone())
    } else {
        assert_eq!(
            parent,
            server_b.0.id(),
            "the runner is a child of an instance"
        );
        (server_b, server_a, address_a.clone())
    };
    let mut victim = victim;
    victim.0.kill().unwrap();
    victim.0.wait().unwrap();
    assert!(
        gone_within_a_second(runner_pid),
        "the runner outlived its instance"
    );
    // The survivor notices the silence (heartbeats every second, dead after three).
    wait_for(
        &survivor_address,
        &slow,
        "interrupted",
        Duration::from_secs(20),
    );
    let (_, task) = call(
        reqwest::Method::GET,
        format!("{survivor_address}/api/v2/tasks/{slow}"),
        &admin,
        None,
    );
    assert_eq!(task["data"]["error"]["code"], "TASK_INTERRUPTED", "{task}");
    // It goes on running work alone.
    let after = submit(&survivor_address, "after");
    wait_for(
        &survivor_address,
        &after,
        "succeeded",
        Duration::from_secs(20),
    );

    Command::new("kill")
        .args(["-TERM", &survivor.0.id().to_string()])
        .status()
        .unwrap();
    assert!(survivor.0.wait().unwrap().success());
    // Both are recorded as stopped: one by its own goodbye, one by the survivor.
    let rows = cluster
        .psql(
            "jarvis",
            "SELECT name, stopped_at IS NOT NULL FROM instances ORDER BY name",
        )
        .unwrap();
    let rows: Vec<&str> = rows.lines().collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows, ["a|t", "b|t"]);
    // Each kept its own metric history, under its name.
    let labels = cluster
        .psql(
            "jarvis",
            "SELECT DISTINCT instance FROM metric_buckets ORDER BY instance",
        )
        .unwrap();
    assert_eq!(labels.lines().collect::<Vec<_>>(), ["a", "b"]);
}
