//! Priority, concurrency, timeouts, cancellation, output bounds, argument safety, recovery.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jarvis_core::{Code, Priority, Task, TaskKind, TaskStatus};
use jarvis_store::{SqliteStore, Store};
use jarvis_tasks::{RunVars, TaskConfig, TaskEngine, TaskEvent, TaskSpec};
use jarvis_testkit::eventually;

/// A fake runner: behaves according to its first argument (the prompt), records its argv.
const RUNNER: &str = r#"#!/bin/sh
DIR=$(dirname "$0")
for a in "$@"; do printf '%s\n---\n' "$a"; done > "$DIR/argv-$$"
case "$1" in
  sleep*) sleep "${1#sleep }" ;;
  fail) echo "bad things" >&2; exit 3 ;;
  json) echo '{"type":"result","subtype":"success","total_cost_usd":0.0421,"usage":{"input_tokens":12,"output_tokens":34},"result":"done"}' ;;
  ignore-term) trap '' TERM; sleep 30 ;;
  tree) sleep 30 & echo $! > "$DIR/child.pid"; wait ;;
  flood) i=0; while [ $i -lt 2000 ]; do echo "line $i of a very long flood of output"; i=$((i+1)); done ;;
  order*) echo "${1#order }" >> "$DIR/order"; sleep 0.2 ;;
  overlap*) echo "start $(date +%s%N)" >> "$DIR/overlap"; sleep 0.3; echo "end $(date +%s%N)" >> "$DIR/overlap" ;;
  *) echo "ok" ;;
esac
"#;

struct Setup {
    dir: tempfile::TempDir,
    store: Arc<dyn Store>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("runner.sh");
    std::fs::write(&script, RUNNER).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("jarvis.db")).unwrap());
    Setup { dir, store }
}

impl Setup {
    fn config(&self) -> TaskConfig {
        TaskConfig {
            runner: vec![
                self.dir
                    .path()
                    .join("runner.sh")
                    .to_string_lossy()
                    .into_owned(),
                "{prompt}".into(),
                "--model={model}".into(),
                "--system={system_prompt}".into(),
            ],
            concurrency: 2,
            timeout_secs: 30,
            grace_secs: 1,
            max_output_bytes: 64 * 1024,
            search_path: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn spec(prompt: &str, priority: Priority) -> TaskSpec {
    TaskSpec {
        kind: TaskKind::Command,
        target: "tools:test".into(),
        resource_id: "command_test".into(),
        input: serde_json::json!({ "arguments": prompt }),
        priority,
        vars: RunVars {
            prompt: prompt.into(),
            ..RunVars::default()
        },
        submitted_by: "tests".into(),
    }
}

async fn wait_final(engine: &TaskEngine, id: &str) -> Task {
    eventually(
        &format!("task {id} to end"),
        Duration::from_secs(20),
        || async {
            let task = engine.get(id).await.unwrap();
            task.status.is_final().then_some(task)
        },
    )
    .await
}

async fn wait_status(engine: &TaskEngine, id: &str, status: TaskStatus) {
    eventually(
        &format!("task {id} to be {status}"),
        Duration::from_secs(10),
        || async { (engine.get(id).await.unwrap().status == status).then_some(()) },
    )
    .await;
}

fn recorded_argv(dir: &Path) -> Vec<String> {
    let file = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("argv-")
        })
        .expect("the runner recorded its argv");
    let text = std::fs::read_to_string(file).unwrap();
    text.split("\n---\n")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn arguments_reach_the_runner_intact_and_no_shell_sees_them() {
    let s = setup();
    let engine = TaskEngine::start(Arc::clone(&s.store), s.config())
        .await
        .unwrap();
    let hostile = format!(
        "a \"b c\" ; touch {} $(touch {}) `id` && echo",
        s.path("pwned1").display(),
        s.path("pwned2").display()
    );
    let mut request = spec(&hostile, Priority::Normal);
    request.vars.model = "sonnet".into();
    let task = engine.submit(request).await.unwrap();
    let done = wait_final(&engine, &task.id).await;
    assert_eq!(done.status, TaskStatus::Succeeded, "{done:?}");
    assert_eq!(
        recorded_argv(s.dir.path()),
        [hostile.as_str(), "--model=sonnet"]
    );
    assert!(!s.path("pwned1").exists() && !s.path("pwned2").exists());
    assert_eq!(done.stdout, "ok\n");
    assert_eq!(done.exit_code, Some(0));
}

#[tokio::test]
async fn priorities_order_the_queue_and_concurrency_is_bounded() {
    let s = setup();
    let mut config = s.config();
    config.concurrency = 1;
    let engine = TaskEngine::start(Arc::clone(&s.store), config)
        .await
        .unwrap();
    let first = engine
        .submit(spec("order first", Priority::Low))
        .await
        .unwrap();
    wait_status(&engine, &first.id, TaskStatus::Running).await;
    let mut ids = vec![first.id];
    for (name, priority) in [
        ("low", Priority::Low),
        ("normal", Priority::Normal),
        ("urgent", Priority::Urgent),
        ("high", Priority::High),
        ("normal2", Priority::Normal),
    ] {
        ids.push(
            engine
                .submit(spec(&format!("order {name}"), priority))
                .await
                .unwrap()
                .id,
        );
    }
    for id in &ids {
        assert_eq!(wait_final(&engine, id).await.status, TaskStatus::Succeeded);
    }
    let order = std::fs::read_to_string(s.path("order")).unwrap();
    assert_eq!(
        order.lines().collect::<Vec<_>>(),
        ["first", "urgent", "high", "normal", "normal2", "low"]
    );

    // Concurrency 2: four overlapping runs never exceed two at once.
    let s = setup();
    let engine = TaskEngine::start(Arc::clone(&s.store), s.config())
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(
            engine
                .submit(spec("overlap", Priority::Normal))
                .await
                .unwrap()
                .id,
        );
    }
    for id in &ids {
        wait_final(&engine, id).await;
    }
    let mut events: Vec<(u128, i32)> = std::fs::read_to_string(s.path("overlap"))
        .unwrap()
        .lines()
        .map(|l| {
            let (kind, at) = l.split_once(' ').unwrap();
            (at.parse().unwrap(), if kind == "start" { 1 } else { -1 })
        })
        .collect();
    events.sort();
    let (mut now, mut peak) = (0, 0);
    for (_, delta) in events {
        now += delta;
        peak = peak.max(now);
    }
    assert_eq!(peak, 2);
}

#[tokio::test]
async fn timeouts_stop_even_a_runner_that_ignores_term() {
    let s = setup();
    let mut config = s.config();
    config.timeout_secs = 1;
    let engine = TaskEngine::start(Arc::clone(&s.store), config)
        .await
        .unwrap();
    let started = Instant::now();
    let task = engine
        .submit(spec("ignore-term", Priority::Normal))
        .await
        .unwrap();
    let done = wait_final(&engine, &task.id).await;
    assert_eq!(done.status, TaskStatus::TimedOut);
    assert_eq!(done.error.unwrap().code, Code::TaskTimedOut);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn cancel_ends_the_whole_process_tree() {
    let s = setup();
    let engine = TaskEngine::start(Arc::clone(&s.store), s.config())
        .await
        .unwrap();
    let task = engine.submit(spec("tree", Priority::Normal)).await.unwrap();
    eventually(
        "the runner to start its child",
        Duration::from_secs(10),
        || async { s.path("child.pid").exists().then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let child: u32 = std::fs::read_to_string(s.path("child.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    engine.cancel(&task.id).await.unwrap();
    let done = wait_final(&engine, &task.id).await;
    assert_eq!(done.status, TaskStatus::Canceled);
    // The grandchild is gone too (or at most a zombie awaiting its reaper).
    eventually(
        &format!("child {child} to end with the cancel"),
        Duration::from_secs(5),
        || async {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let alive = stat
                .split(") ")
                .nth(1)
                .is_some_and(|rest| !rest.starts_with('Z'));
            (!alive).then_some(())
        },
    )
    .await;
    // Cancelling again is refused; cancelling a queued task needs no process at all.
    let again = engine.cancel(&task.id).await.unwrap_err();
    assert_eq!(
        jarvis_core::ErrorCode::error_code(&again),
        Code::TaskNotCancelable
    );
}

#[tokio::test]
async fn queued_tasks_cancel_without_running() {
    let s = setup();
    let mut config = s.config();
    config.concurrency = 1;
    let engine = TaskEngine::start(Arc::clone(&s.store), config)
        .await
        .unwrap();
    let blocker = engine
        .submit(spec("sleep 1", Priority::Normal))
        .await
        .unwrap();
    let waiting = engine.submit(spec("fail", Priority::Normal)).await.unwrap();
    let canceled = engine.cancel(&waiting.id).await.unwrap();
    assert_eq!(canceled.status, TaskStatus::Canceled);
    assert_eq!(
        wait_final(&engine, &blocker.id).await.status,
        TaskStatus::Succeeded
    );
    assert_eq!(
        engine.get(&waiting.id).await.unwrap().status,
        TaskStatus::Canceled
    );
    assert!(engine.get(&waiting.id).await.unwrap().started_at.is_none());
}

#[tokio::test]
async fn output_is_bounded_and_usage_recorded_and_failures_carry_codes() {
    let s = setup();
    let mut config = s.config();
    config.max_output_bytes = 1000;
    let engine = TaskEngine::start(Arc::clone(&s.store), config)
        .await
        .unwrap();
    let mut events = engine.subscribe();
    let flood = engine
        .submit(spec("flood", Priority::Normal))
        .await
        .unwrap();
    let done = wait_final(&engine, &flood.id).await;
    assert!(done.output_truncated);
    assert!(done.stdout.starts_with("line 0 of"));
    assert!(done.stdout.contains("bytes omitted"));
    assert!(
        done.stdout
            .trim_end()
            .ends_with("line 1999 of a very long flood of output")
    );
    assert!(done.stdout.len() < 1200, "{}", done.stdout.len());

    let json = engine.submit(spec("json", Priority::Normal)).await.unwrap();
    let done = wait_final(&engine, &json.id).await;
    assert_eq!(done.cost_usd, Some(0.0421));
    assert_eq!(done.usage.unwrap()["output_tokens"], 34);

    let fail = engine.submit(spec("fail", Priority::Normal)).await.unwrap();
    let done = wait_final(&engine, &fail.id).await;
    assert_eq!(done.status, TaskStatus::Failed);
    assert_eq!(done.exit_code, Some(3));
    assert_eq!(done.error.unwrap().code, Code::TaskFailed);
    assert_eq!(done.stderr, "bad things\n");

    // Every state change reached the bus, after the store had it; output streamed too.
    let mut statuses = Vec::new();
    let mut chunks = 0;
    while let Ok(event) = events.try_recv() {
        match event {
            TaskEvent::Changed { task, .. } if task.id == flood.id => statuses.push(task.status),
            TaskEvent::Output { id, .. } if id == flood.id => chunks += 1,
            _ => {}
        }
    }
    assert_eq!(
        statuses,
        [
            TaskStatus::Queued,
            TaskStatus::Running,
            TaskStatus::Succeeded
        ]
    );
    assert!(chunks >= 1);
}

#[tokio::test]
async fn a_missing_runner_is_refused_at_submission() {
    let s = setup();
    let mut config = s.config();
    config.runner = vec!["jarvis-no-such-runner".into(), "{prompt}".into()];
    let engine = TaskEngine::start(Arc::clone(&s.store), config)
        .await
        .unwrap();
    let err = engine
        .submit(spec("x", Priority::Normal))
        .await
        .unwrap_err();
    assert_eq!(
        jarvis_core::ErrorCode::error_code(&err),
        Code::RunnerUnavailable
    );
    assert!(err.to_string().contains("jarvis-no-such-runner"));
}

/// The runner is looked up once at start; one installed later is found by the next submit,
/// without a restart.
#[tokio::test]
async fn a_runner_installed_after_start_is_found() {
    let s = setup();
    let later = s.path("later-runner.sh");
    let mut config = s.config();
    config.runner[0] = later.to_string_lossy().into_owned();
    let engine = TaskEngine::start(Arc::clone(&s.store), config)
        .await
        .unwrap();
    assert!(engine.runner_available().is_err());
    assert!(engine.submit(spec("x", Priority::Normal)).await.is_err());
    std::fs::copy(s.path("runner.sh"), &later).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&later, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let task = engine.submit(spec("now", Priority::Normal)).await.unwrap();
    assert!(engine.runner_available().is_ok());
    let done = wait_final(&engine, task.id.as_str()).await;
    assert_eq!(done.status, TaskStatus::Succeeded, "{done:?}");
}

#[tokio::test]
async fn restart_marks_running_interrupted_and_runs_queued_again() {
    let s = setup();
    {
        // A first life that dies with a task running and one queued.
        let mut config = s.config();
        config.concurrency = 1;
        let engine = TaskEngine::start(Arc::clone(&s.store), config)
            .await
            .unwrap();
        let running = engine
            .submit(spec("sleep 30", Priority::Normal))
            .await
            .unwrap();
        wait_status(&engine, &running.id, TaskStatus::Running).await;
        engine.submit(spec("json", Priority::Normal)).await.unwrap();
    }
    // The second life finds them in the store (the first one's processes are abandoned).
    let engine = TaskEngine::start(Arc::clone(&s.store), s.config())
        .await
        .unwrap();
    let tasks = engine
        .list(jarvis_store::TaskFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let running = tasks
        .iter()
        .find(|t| t.input["arguments"] == "sleep 30")
        .unwrap();
    assert_eq!(running.status, TaskStatus::Interrupted);
    assert_eq!(running.error.as_ref().unwrap().code, Code::TaskInterrupted);
    let queued = tasks
        .iter()
        .find(|t| t.input["arguments"] == "json")
        .unwrap();
    assert_eq!(
        wait_final(&engine, &queued.id).await.status,
        TaskStatus::Succeeded
    );
}
