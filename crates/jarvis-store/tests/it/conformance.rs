//! The cases every backend passes. Each runs against a database of its own, which
//! [`Backend::open`] opens again whenever a case asks (to show what survives a restart).

use std::sync::Arc;

use jarvis_core::{
    Code, ExecutionStatus, Priority, Task, TaskError, TaskKind, TaskStatus, WorkflowExecution,
};
use jarvis_store::{
    ApiKeyRow, CostFilter, CostRow, Error, InstanceRecord, MetricBucket, RunnerProcess, Store,
    TaskFilter, TicketRow, UsageFileCursor,
};

/// A database for one case.
pub trait Backend {
    /// Opens the case's database (again).
    fn open(&self) -> Arc<dyn Store>;
}

/// A case: it panics when the backend fails it.
pub type Case = fn(&dyn Backend);

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        &[$((stringify!($case), $case as Case)),*]
    };
}

/// Every case, by name.
pub const CASES: &[(&str, Case)] = cases![
    runners_of_running_tasks_are_recorded_and_forgotten,
    round_trips_and_survives_reopening,
    workflow_executions_round_trip,
    cost_entries_and_cursors_save_replace_and_reload,
    metric_buckets_upsert_survive_reopening_and_prune,
    a_task_id_is_stored_once,
    writers_on_many_threads_all_land,
    executions_list_newest_first_within_the_limit,
    text_and_numbers_keep_their_edges,
    a_queued_task_is_claimed_once,
    only_the_claimer_finishes_a_task,
    sequence_numbers_are_reserved,
    tasks_of_gone_instances_are_interrupted_once,
    api_keys_and_tickets,
];

fn task(id: &str, seq: i64, status: TaskStatus) -> Task {
    Task {
        id: id.into(),
        kind: TaskKind::Command,
        target: "tools:lint".into(),
        resource_id: "command_1".into(),
        input: serde_json::json!({ "arguments": "src/ \"a b\"" }),
        priority: Priority::High,
        status,
        seq,
        created_at: 1,
        started_at: None,
        finished_at: None,
        exit_code: None,
        error: None,
        stdout: String::new(),
        stderr: String::new(),
        output_truncated: false,
        usage: None,
        cost_usd: None,
        submitted_by: "anonymous".into(),
        result: None,
    }
}

fn execution(id: &str, started_at: i64, status: ExecutionStatus) -> WorkflowExecution {
    WorkflowExecution {
        id: id.into(),
        workflow_id: "A1".into(),
        workflow_name: "PR digest".into(),
        correlation_id: format!("corr-{id}"),
        n8n_execution_id: None,
        status,
        reply: None,
        started_at,
        finished_at: None,
        error: None,
        submitted_by: "tests".into(),
    }
}

pub fn runners_of_running_tasks_are_recorded_and_forgotten(db: &dyn Backend) {
    let store = db.open();
    for (id, seq, status) in [
        ("a", 1, TaskStatus::Running),
        ("b", 2, TaskStatus::Running),
        ("c", 3, TaskStatus::Succeeded),
    ] {
        store.insert_task(&task(id, seq, status)).unwrap();
    }
    let runner = |pid| RunnerProcess {
        pid,
        start_ticks: 123_456_789_012,
    };
    store.set_task_runner("b", Some(runner(20))).unwrap();
    store.set_task_runner("a", Some(runner(10))).unwrap();
    store.set_task_runner("c", Some(runner(30))).unwrap();
    // A task whose update says nothing of its runner keeps the record.
    store
        .update_task(&task("a", 1, TaskStatus::Running))
        .unwrap();
    drop(store);
    let store = db.open();
    assert_eq!(
        store.running_task_runners().unwrap(),
        [("a".to_owned(), runner(10)), ("b".to_owned(), runner(20))]
    );
    store.set_task_runner("a", None).unwrap();
    assert_eq!(
        store.running_task_runners().unwrap(),
        [("b".to_owned(), runner(20))]
    );
    assert!(matches!(
        store.set_task_runner("missing", None),
        Err(Error::Query(_))
    ));
}

pub fn round_trips_and_survives_reopening(db: &dyn Backend) {
    let store = db.open();
    assert_eq!(store.next_seq().unwrap(), 1);
    let mut t = task("a", 1, TaskStatus::Queued);
    store.insert_task(&t).unwrap();
    store
        .insert_task(&task("b", 2, TaskStatus::Running))
        .unwrap();
    t.status = TaskStatus::Failed;
    t.exit_code = Some(3);
    t.error = Some(TaskError {
        code: Code::TaskFailed,
        message: "exit 3".into(),
    });
    t.usage = Some(serde_json::json!({ "input_tokens": 5 }));
    t.cost_usd = Some(0.25);
    t.result = Some(serde_json::json!({ "words": 12 }));
    store.update_task(&t).unwrap();
    drop(store);
    let store = db.open();
    assert_eq!(store.get_task("a").unwrap().unwrap(), t);
    assert_eq!(store.next_seq().unwrap(), 3);
    let unfinished = store.unfinished_tasks().unwrap();
    assert_eq!(unfinished.len(), 1);
    assert_eq!(unfinished[0].id, "b");
    let newest = store
        .list_tasks(&TaskFilter {
            limit: 1,
            ..TaskFilter::default()
        })
        .unwrap();
    assert_eq!(newest[0].id, "b");
    let older = store
        .list_tasks(&TaskFilter {
            limit: 10,
            before_seq: Some(2),
            ..TaskFilter::default()
        })
        .unwrap();
    assert_eq!(older.len(), 1);
    let failed = store
        .list_tasks(&TaskFilter {
            limit: 10,
            status: Some(TaskStatus::Failed),
            ..TaskFilter::default()
        })
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert!(store.get_task("missing").unwrap().is_none());
    assert_eq!(
        store.count_tasks_by_status().unwrap(),
        [(TaskStatus::Failed, 1), (TaskStatus::Running, 1)]
    );
    assert!(
        store
            .update_task(&task("missing", 9, TaskStatus::Queued))
            .is_err()
    );
}

pub fn workflow_executions_round_trip(db: &dyn Backend) {
    let store = db.open();
    let mut e = WorkflowExecution {
        id: "wfx_1".into(),
        workflow_id: "A1".into(),
        workflow_name: "PR digest".into(),
        correlation_id: "corr".into(),
        n8n_execution_id: None,
        status: ExecutionStatus::Triggered,
        reply: Some(serde_json::json!({ "message": "Workflow was started" })),
        started_at: 5,
        finished_at: None,
        error: None,
        submitted_by: "tests".into(),
    };
    store.insert_execution(&e).unwrap();
    assert_eq!(
        store.list_executions(Some(true), None, 10).unwrap().len(),
        1
    );
    e.status = ExecutionStatus::Success;
    e.n8n_execution_id = Some("4".into());
    e.finished_at = Some(9);
    store.update_execution(&e).unwrap();
    assert_eq!(store.get_execution("wfx_1").unwrap().unwrap(), e);
    assert!(
        store
            .list_executions(Some(true), None, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_executions(Some(false), Some(ExecutionStatus::Success), 10)
            .unwrap()
            .len(),
        1
    );
}

pub fn cost_entries_and_cursors_save_replace_and_reload(db: &dyn Backend) {
    let row = |id: &str, at_ms: i64, output: i64| CostRow {
        id: id.into(),
        at_ms,
        source: "claude_code".into(),
        model: Some("claude-sonnet-4-5".into()),
        output_tokens: output,
        cost_nanos: output * 15_000,
        project: "p".into(),
        session: "s".into(),
        tags: vec!["a".into(), "b".into()],
        message_id: Some("msg".into()),
        recorded_by: "usage-log".into(),
        ..CostRow::default()
    };
    let cursor = UsageFileCursor {
        dev: u64::MAX,
        ino: 42,
        offset: 1234,
        head: 0xdead_beef_dead_beef,
        head_len: 256,
    };
    {
        let store = db.open();
        store
            .save_costs(
                &[row("cst_1", 10, 5), row("cst_2", 20, 7)],
                &[("/a.jsonl".into(), cursor), ("/b.jsonl".into(), cursor)],
                &[],
            )
            .unwrap();
        // A larger copy replaces the row; a deleted file's cursor goes.
        store
            .save_costs(&[row("cst_1", 10, 9)], &[], &["/b.jsonl".into()])
            .unwrap();
    }
    let store = db.open();
    let mut rows = Vec::new();
    store
        .load_costs(&mut |row| {
            rows.push(row);
            Ok(())
        })
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].output_tokens, 9);
    assert_eq!(rows[0].tags, vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(
        store.load_usage_cursors().unwrap(),
        vec![("/a.jsonl".to_owned(), cursor)]
    );
    let newest = store
        .list_costs(&CostFilter {
            limit: 1,
            ..CostFilter::default()
        })
        .unwrap();
    assert_eq!(newest[0].id, "cst_2");
    let next = store
        .list_costs(&CostFilter {
            limit: 10,
            before: Some((20, "cst_2".into())),
            ..CostFilter::default()
        })
        .unwrap();
    assert_eq!(
        next.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["cst_1"]
    );
    assert_eq!(store.get_cost("cst_2").unwrap().unwrap().at_ms, 20);
    assert!(store.get_cost("cst_9").unwrap().is_none());
    // The idempotency key is unique.
    let mut keyed = row("cst_3", 30, 1);
    keyed.idempotency_key = Some("k".into());
    store.save_costs(&[keyed.clone()], &[], &[]).unwrap();
    keyed.id = "cst_4".into();
    assert!(store.save_costs(&[keyed], &[], &[]).is_err());
    assert!(store.get_cost("cst_4").unwrap().is_none());
}

pub fn metric_buckets_upsert_survive_reopening_and_prune(db: &dyn Backend) {
    let bucket = |metric: &str, step_secs, start, count| MetricBucket {
        instance: String::new(),
        metric: metric.into(),
        step_secs,
        start,
        min: 1.0,
        max: 5.0,
        sum: 3.0 * count as f64,
        count,
    };
    {
        let store = db.open();
        store
            .save_metric_buckets(&[
                bucket("cpu_usage", 2, 100, 1),
                bucket("cpu_usage", 60, 60, 1),
                bucket("memory_usage", 2, 98, 1),
            ])
            .unwrap();
        // The same bucket again, fuller: replaced, not added.
        store
            .save_metric_buckets(&[bucket("cpu_usage", 2, 100, 4)])
            .unwrap();
    }
    let store = db.open();
    let loaded = store.load_metric_buckets().unwrap();
    assert_eq!(
        loaded,
        [
            bucket("cpu_usage", 60, 60, 1),
            bucket("memory_usage", 2, 98, 1),
            bucket("cpu_usage", 2, 100, 4),
        ]
    );
    // Another instance's bucket of the same metric, tier and start is its own row.
    let theirs = MetricBucket {
        instance: "jarvis-b".into(),
        ..bucket("cpu_usage", 2, 100, 9)
    };
    store
        .save_metric_buckets(std::slice::from_ref(&theirs))
        .unwrap();
    let loaded = store.load_metric_buckets().unwrap();
    assert_eq!(loaded.len(), 4);
    assert!(loaded.contains(&theirs) && loaded.contains(&bucket("cpu_usage", 2, 100, 4)));
    assert_eq!(
        store
            .load_metric_buckets_of("jarvis-b", "cpu_usage")
            .unwrap(),
        std::slice::from_ref(&theirs)
    );
    assert!(
        store
            .load_metric_buckets_of("jarvis-b", "memory_usage")
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.metric_instances().unwrap(), ["", "jarvis-b"]);
    assert_eq!(store.prune_metric_buckets(2, 100).unwrap(), 1);
    assert_eq!(store.load_metric_buckets().unwrap().len(), 3);
    assert_eq!(
        store.prune_metric_buckets(2, 101).unwrap(),
        2,
        "every instance's"
    );
}

pub fn a_task_id_is_stored_once(db: &dyn Backend) {
    let store = db.open();
    store
        .insert_task(&task("a", 1, TaskStatus::Queued))
        .unwrap();
    let mut again = task("a", 2, TaskStatus::Running);
    again.target = "other".into();
    assert!(matches!(store.insert_task(&again), Err(Error::Query(_))));
    let kept = store.get_task("a").unwrap().unwrap();
    assert_eq!((kept.seq, kept.target.as_str()), (1, "tools:lint"));
}

pub fn writers_on_many_threads_all_land(db: &dyn Backend) {
    let store = db.open();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..25 {
                    let seq = t * 100 + i + 1;
                    store
                        .insert_task(&task(&format!("t{seq}"), seq, TaskStatus::Queued))
                        .unwrap();
                    let mut done = task(&format!("t{seq}"), seq, TaskStatus::Succeeded);
                    done.stdout = format!("output of {seq}");
                    store.update_task(&done).unwrap();
                    store
                        .save_metric_buckets(&[MetricBucket {
                            instance: String::new(),
                            metric: format!("m{t}"),
                            step_secs: 2,
                            start: i,
                            min: 0.0,
                            max: 1.0,
                            sum: 1.0,
                            count: 1,
                        }])
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(
        store.count_tasks_by_status().unwrap(),
        [(TaskStatus::Succeeded, 200)]
    );
    assert_eq!(store.load_metric_buckets().unwrap().len(), 200);
    assert_eq!(store.next_seq().unwrap(), 726);
    assert_eq!(
        store.get_task("t512").unwrap().unwrap().stdout,
        "output of 512"
    );
}

pub fn executions_list_newest_first_within_the_limit(db: &dyn Backend) {
    let store = db.open();
    for (id, at, status) in [
        ("wfx_1", 10, ExecutionStatus::Success),
        ("wfx_2", 20, ExecutionStatus::Running),
        ("wfx_3", 30, ExecutionStatus::Error),
        ("wfx_4", 40, ExecutionStatus::Waiting),
    ] {
        store.insert_execution(&execution(id, at, status)).unwrap();
    }
    let ids = |list: Vec<WorkflowExecution>| list.into_iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_executions(None, None, 3).unwrap()),
        ["wfx_4", "wfx_3", "wfx_2"]
    );
    assert_eq!(
        ids(store.list_executions(Some(true), None, 10).unwrap()),
        ["wfx_4", "wfx_2"]
    );
    assert_eq!(
        ids(store.list_executions(Some(false), None, 10).unwrap()),
        ["wfx_3", "wfx_1"]
    );
    assert_eq!(
        ids(store
            .list_executions(None, Some(ExecutionStatus::Error), 10)
            .unwrap()),
        ["wfx_3"]
    );
    assert!(store.get_execution("wfx_9").unwrap().is_none());
    assert!(
        store
            .update_execution(&execution("wfx_9", 1, ExecutionStatus::Success))
            .is_err()
    );
}

pub fn text_and_numbers_keep_their_edges(db: &dyn Backend) {
    let store = db.open();
    let mut t = task("edge", i64::MAX - 1, TaskStatus::Failed);
    t.stdout =
        "naïve — ünïcode ✓ \u{1F600}\n\ttabs, 'quotes' and \"doubles\"; DROP TABLE tasks; --"
            .into();
    t.stderr = "x".repeat(256 * 1024);
    t.exit_code = Some(-1);
    t.cost_usd = Some(1e-12);
    t.created_at = i64::MIN + 1;
    t.input = serde_json::json!({ "nested": { "list": [1, 2.5, null, "s"] } });
    store.insert_task(&t).unwrap();
    assert_eq!(store.get_task("edge").unwrap().unwrap(), t);
    let cost = CostRow {
        id: "cst_edge".into(),
        at_ms: 0,
        source: "manual".into(),
        input_tokens: i64::MAX,
        cost_nanos: i64::MAX,
        tags: vec![String::new(), "with \"quote\"".into()],
        ..CostRow::default()
    };
    let cursor = UsageFileCursor {
        dev: u64::MAX,
        ino: u64::MAX - 1,
        offset: u64::MAX,
        head: 1 << 63,
        head_len: u32::MAX,
    };
    store
        .save_costs(
            std::slice::from_ref(&cost),
            &[("/ü/ä.jsonl".into(), cursor)],
            &[],
        )
        .unwrap();
    assert_eq!(store.get_cost("cst_edge").unwrap().unwrap(), cost);
    assert_eq!(
        store.load_usage_cursors().unwrap(),
        [("/ü/ä.jsonl".to_owned(), cursor)]
    );
}

fn instance(id: &str) -> InstanceRecord {
    InstanceRecord {
        id: id.into(),
        name: format!("name of {id}"),
        host: "host-a".into(),
        pid: 42,
        started_at: 1,
        heartbeat_at: 0,
        stopped_at: None,
    }
}

pub fn a_queued_task_is_claimed_once(db: &dyn Backend) {
    let store = db.open();
    store
        .insert_task(&task("q", 1, TaskStatus::Queued))
        .unwrap();
    // Eight claimers at once: one wins.
    let claims: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || store.claim_task("q", &format!("ins_{i}"), 77).unwrap())
        })
        .collect();
    let won: Vec<Task> = claims
        .into_iter()
        .filter_map(|c| c.join().unwrap())
        .collect();
    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!(won[0].status, TaskStatus::Running);
    assert_eq!(won[0].started_at, Some(77));
    assert_eq!(store.get_task("q").unwrap().unwrap(), won[0]);
    // Running: neither claimed again nor canceled as queued.
    assert!(store.claim_task("q", "ins_x", 78).unwrap().is_none());
    assert!(store.cancel_queued_task("q", 79).unwrap().is_none());
    assert!(store.claim_task("missing", "ins_x", 78).unwrap().is_none());
    // A queued one is canceled once, and then cannot be claimed.
    store
        .insert_task(&task("c", 2, TaskStatus::Queued))
        .unwrap();
    let canceled = store.cancel_queued_task("c", 80).unwrap().unwrap();
    assert_eq!(
        (canceled.status, canceled.finished_at),
        (TaskStatus::Canceled, Some(80))
    );
    assert!(store.cancel_queued_task("c", 81).unwrap().is_none());
    assert!(store.claim_task("c", "ins_x", 82).unwrap().is_none());
}

pub fn only_the_claimer_finishes_a_task(db: &dyn Backend) {
    let store = db.open();
    store
        .insert_task(&task("f", 1, TaskStatus::Queued))
        .unwrap();
    let mut t = store.claim_task("f", "ins_a", 5).unwrap().unwrap();
    store
        .set_task_runner(
            "f",
            Some(RunnerProcess {
                pid: 9,
                start_ticks: 9,
            }),
        )
        .unwrap();
    t.status = TaskStatus::Succeeded;
    t.finished_at = Some(6);
    t.stdout = "done".into();
    assert!(
        !store.finish_task(&t, "ins_b").unwrap(),
        "another instance finished it"
    );
    assert_eq!(
        store.get_task("f").unwrap().unwrap().status,
        TaskStatus::Running
    );
    assert!(store.finish_task(&t, "ins_a").unwrap());
    assert_eq!(store.get_task("f").unwrap().unwrap(), t);
    assert!(
        store.running_task_runners().unwrap().is_empty(),
        "the runner is forgotten"
    );
    // Once ended, it ends no second time.
    assert!(!store.finish_task(&t, "ins_a").unwrap());
}

pub fn sequence_numbers_are_reserved(db: &dyn Backend) {
    let store = db.open();
    let taken: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                (0..25)
                    .map(|_| store.next_seq().unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<i64> = taken.into_iter().flat_map(|t| t.join().unwrap()).collect();
    all.sort_unstable();
    assert_eq!(all, (1..=100).collect::<Vec<_>>());
    // A task stored with a higher number (an older store's) moves the counter past it.
    store
        .insert_task(&task("hi", 500, TaskStatus::Queued))
        .unwrap();
    assert_eq!(store.next_seq().unwrap(), 501);
    drop(store);
    assert_eq!(db.open().next_seq().unwrap(), 502);
}

pub fn tasks_of_gone_instances_are_interrupted_once(db: &dyn Backend) {
    let store = db.open();
    for id in ["ins_me", "ins_live", "ins_gone"] {
        store.register_instance(&instance(id)).unwrap();
    }
    for (id, seq, owner) in [
        ("mine", 1, "ins_me"),
        ("live", 2, "ins_live"),
        ("gone", 3, "ins_gone"),
    ] {
        store
            .insert_task(&task(id, seq, TaskStatus::Queued))
            .unwrap();
        store.claim_task(id, owner, 10).unwrap().unwrap();
    }
    store
        .set_task_runner(
            "gone",
            Some(RunnerProcess {
                pid: 31,
                start_ticks: 32,
            }),
        )
        .unwrap();
    // A task left running by a version that recorded no instance.
    let mut old = task("old", 4, TaskStatus::Running);
    old.started_at = Some(3);
    store.insert_task(&old).unwrap();
    store
        .insert_task(&task("waiting", 5, TaskStatus::Queued))
        .unwrap();
    let error = TaskError {
        code: Code::TaskInterrupted,
        message: "its instance stopped".into(),
    };
    // Nobody is silent for an hour yet: only the task nobody owns is orphaned.
    let swept = store
        .interrupt_orphaned_tasks("ins_me", Some(3_600_000), &error, 50)
        .unwrap();
    assert_eq!(
        swept.iter().map(|o| o.task.id.as_str()).collect::<Vec<_>>(),
        ["old"]
    );
    // One instance stopped, then one silent (by the store's own clock): its task goes, once.
    store.stop_instance("ins_gone", 60).unwrap();
    let swept = store
        .interrupt_orphaned_tasks("ins_me", Some(3_600_000), &error, 61)
        .unwrap();
    assert_eq!(swept.len(), 1);
    let gone = &swept[0];
    assert_eq!(gone.task.id, "gone");
    assert_eq!(gone.task.status, TaskStatus::Interrupted);
    assert_eq!(gone.task.finished_at, Some(61));
    assert_eq!(gone.task.error, Some(error.clone()));
    assert_eq!(
        gone.runner,
        Some(RunnerProcess {
            pid: 31,
            start_ticks: 32
        })
    );
    assert_eq!(gone.host.as_deref(), Some("host-a"));
    assert!(
        store
            .interrupt_orphaned_tasks("ins_me", Some(3_600_000), &error, 62)
            .unwrap()
            .is_empty()
    );
    // One instance to a store: every other instance is gone.
    let swept = store
        .interrupt_orphaned_tasks("ins_me", None, &error, 63)
        .unwrap();
    assert_eq!(
        swept.iter().map(|o| o.task.id.as_str()).collect::<Vec<_>>(),
        ["live"]
    );
    assert_eq!(
        store.get_task("mine").unwrap().unwrap().status,
        TaskStatus::Running
    );
    assert_eq!(
        store.get_task("waiting").unwrap().unwrap().status,
        TaskStatus::Queued
    );
    // An instance found dead learns it from its next heartbeat, and is alive again.
    assert!(!store.heartbeat("ins_live").unwrap());
    assert!(store.heartbeat("ins_live").unwrap());
    assert!(store.heartbeat("ins_me").unwrap());
    assert!(store.heartbeat("ins_nobody").is_err());
    let listed = store.list_instances(10).unwrap();
    assert_eq!(listed.len(), 3);
    let stopped = |id: &str| listed.iter().find(|i| i.id == id).unwrap().stopped_at;
    assert_eq!(stopped("ins_me"), None);
    assert_eq!(stopped("ins_live"), None);
    assert_eq!(stopped("ins_gone"), Some(60));
    assert!(
        listed.iter().all(|i| i.heartbeat_at > 1_700_000_000_000),
        "{listed:?}"
    );
}

pub fn api_keys_and_tickets(db: &dyn Backend) {
    let store = db.open();
    assert!(store.load_api_keys().unwrap().is_empty());
    let key = |id: &str, at| ApiKeyRow {
        id: id.into(),
        name: format!("key {id}"),
        scopes: vec!["read".into(), "execute".into()],
        created_at: at,
        sha256: "ab".repeat(32),
    };
    store.insert_api_key(&key("k2", 20)).unwrap();
    store.insert_api_key(&key("k1", 10)).unwrap();
    assert!(
        store.insert_api_key(&key("k1", 30)).is_err(),
        "an id is stored once"
    );
    assert_eq!(
        store.load_api_keys().unwrap(),
        [key("k1", 10), key("k2", 20)]
    );
    assert!(store.delete_api_key("k1").unwrap());
    assert!(!store.delete_api_key("k1").unwrap());
    assert_eq!(db.open().load_api_keys().unwrap(), [key("k2", 20)]);

    let ticket = |hash: &str, expires_at| TicketRow {
        sha256: hash.into(),
        principal: "{\"key_id\":\"k2\"}".into(),
        expires_at,
    };
    store.insert_ticket(&ticket("old", 5), 0).unwrap();
    store.insert_ticket(&ticket("t1", 100), 50).unwrap();
    // Inserting at 50 forgot the one expired at 5.
    assert!(store.take_ticket("old").unwrap().is_none());
    // Eight takers at once: one gets it.
    let takers: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || store.take_ticket("t1").unwrap())
        })
        .collect();
    let taken: Vec<TicketRow> = takers
        .into_iter()
        .filter_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(taken, [ticket("t1", 100)]);
}
