//! Tasks run inside the server by a registered job: queued and stored like runner tasks, with
//! no runner installed at all; progress announced in order, the result stored, a failure coded,
//! a cancel obeyed; jobs run in slots of their own, so they never hold back the runner's tasks.
//! Without a job for its kind, a submit is refused.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jarvis_core::{Code, Priority, TaskError, TaskKind, TaskStatus};
use jarvis_store::{SqliteStore, Store};
use jarvis_tasks::{
    Job, JobFuture, JobOutcome, Progress, RunVars, TaskConfig, TaskEngine, TaskEvent, TaskSpec,
};
use jarvis_testkit::eventually;
use tokio::sync::oneshot;

/// Reads `input.mode`: `ok` (progress 0, 50, 100, then a result), `fail`, or `wait` (until
/// canceled). Runs `slots` at once.
#[derive(Debug)]
struct FakeAnalysis {
    slots: usize,
}

impl Job for FakeAnalysis {
    fn concurrency(&self) -> usize {
        self.slots
    }

    fn run(
        &self,
        task: jarvis_core::Task,
        progress: Progress,
        cancel: oneshot::Receiver<()>,
    ) -> JobFuture {
        Box::pin(async move {
            match task.input["mode"].as_str() {
                Some("ok") => {
                    for p in [0.0, 50.0, 100.0] {
                        progress.report("analyzing", p);
                    }
                    JobOutcome::Succeeded(serde_json::json!({ "words": 3 }))
                }
                Some("wait") => {
                    let _ = cancel.await;
                    JobOutcome::Canceled
                }
                _ => JobOutcome::Failed(TaskError {
                    code: Code::ValidationError,
                    message: "not media".into(),
                }),
            }
        })
    }
}

fn spec(mode: &str) -> TaskSpec {
    TaskSpec {
        kind: TaskKind::Analysis,
        target: "notes.md".into(),
        resource_id: String::new(),
        input: serde_json::json!({ "mode": mode }),
        priority: Priority::Normal,
        vars: RunVars::default(),
        submitted_by: "tests".into(),
    }
}

fn config() -> TaskConfig {
    TaskConfig {
        // No runner is installed: jobs do not need one.
        runner: vec!["/nonexistent/runner".into()],
        concurrency: 2,
        timeout_secs: 30,
        grace_secs: 1,
        max_output_bytes: 1024,
        search_path: Vec::new(),
    }
}

async fn wait_final(engine: &TaskEngine, id: &str) -> jarvis_core::Task {
    eventually(&format!("task {id}"), Duration::from_secs(10), || async {
        let task = engine.get(id).await.unwrap();
        task.status.is_final().then_some(task)
    })
    .await
}

#[tokio::test]
async fn jobs_run_report_progress_store_results_and_obey_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("j.db")).unwrap());
    let mut jobs: HashMap<TaskKind, Arc<dyn Job>> = HashMap::new();
    jobs.insert(TaskKind::Analysis, Arc::new(FakeAnalysis { slots: 1 }));
    let engine = TaskEngine::start_with_jobs(Arc::clone(&store), config(), jobs)
        .await
        .unwrap();
    let mut events = engine.subscribe();

    let done = engine.submit(spec("ok")).await.unwrap();
    let done = wait_final(&engine, &done.id).await;
    assert_eq!(done.status, TaskStatus::Succeeded);
    assert_eq!(done.result, Some(serde_json::json!({ "words": 3 })));
    let mut progress = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let TaskEvent::Progress { id, percent, .. } = event {
            assert_eq!(id, done.id);
            progress.push(percent);
        }
    }
    assert_eq!(progress, [0.0, 50.0, 100.0]);

    let failed = engine.submit(spec("fail")).await.unwrap();
    let failed = wait_final(&engine, &failed.id).await;
    assert_eq!(failed.status, TaskStatus::Failed);
    assert_eq!(failed.error.unwrap().code, Code::ValidationError);

    let waiting = engine.submit(spec("wait")).await.unwrap();
    eventually("the job to run", Duration::from_secs(5), || async {
        (engine.get(&waiting.id).await.unwrap().status == TaskStatus::Running).then_some(())
    })
    .await;
    engine.cancel(&waiting.id).await.unwrap();
    assert_eq!(
        wait_final(&engine, &waiting.id).await.status,
        TaskStatus::Canceled
    );

    // The result survives a restart of the store.
    drop(engine);
    let reopened = SqliteStore::open(dir.path().join("j.db")).unwrap();
    assert_eq!(
        reopened.get_task(&done.id).unwrap().unwrap().result,
        Some(serde_json::json!({ "words": 3 }))
    );
}

#[tokio::test]
async fn without_a_registered_job_an_analysis_is_refused_as_a_runner_task_is_without_a_runner() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("j.db")).unwrap());
    let engine = TaskEngine::start(store, config()).await.unwrap();
    // An analysis task with no job: refused at submit like a runner task with no runner.
    assert!(engine.submit(spec("ok")).await.is_err());
    let command = TaskSpec {
        kind: TaskKind::Command,
        ..spec("ok")
    };
    assert!(
        engine.submit(command).await.is_err(),
        "the runner is missing"
    );
}

#[tokio::test]
async fn jobs_have_slots_of_their_own_apart_from_the_runners() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("j.db")).unwrap());
    let mut jobs: HashMap<TaskKind, Arc<dyn Job>> = HashMap::new();
    jobs.insert(TaskKind::Analysis, Arc::new(FakeAnalysis { slots: 2 }));
    let config = TaskConfig {
        runner: vec!["true".into(), "{prompt}".into()],
        concurrency: 1,
        search_path: jarvis_tasks::search_path(&std::env::var_os("PATH").unwrap_or_default()),
        ..config()
    };
    let engine = TaskEngine::start_with_jobs(Arc::clone(&store), config, jobs)
        .await
        .unwrap();
    let analyses = [
        engine.submit(spec("wait")).await.unwrap(),
        engine.submit(spec("wait")).await.unwrap(),
        engine.submit(spec("wait")).await.unwrap(),
    ];
    eventually("two analyses running", Duration::from_secs(5), || async {
        let mut running = 0;
        for a in &analyses {
            running += usize::from(engine.get(&a.id).await.unwrap().status == TaskStatus::Running);
        }
        (running == 2).then_some(())
    })
    .await;
    // Both job slots are taken, the third analysis waits, and a command still runs at once in
    // the runner's one slot.
    let command = engine
        .submit(TaskSpec {
            kind: TaskKind::Command,
            ..spec("ok")
        })
        .await
        .unwrap();
    assert_eq!(
        wait_final(&engine, &command.id).await.status,
        TaskStatus::Succeeded
    );
    assert_eq!(
        engine.get(&analyses[2].id).await.unwrap().status,
        TaskStatus::Queued
    );
    // A slot freed starts the waiting analysis.
    engine.cancel(&analyses[0].id).await.unwrap();
    eventually(
        "the third analysis running",
        Duration::from_secs(5),
        || async {
            (engine.get(&analyses[2].id).await.unwrap().status == TaskStatus::Running).then_some(())
        },
    )
    .await;
    for a in &analyses[1..] {
        engine.cancel(&a.id).await.unwrap();
        assert_eq!(
            wait_final(&engine, &a.id).await.status,
            TaskStatus::Canceled
        );
    }
}
