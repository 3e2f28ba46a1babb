//! The execution follower on a PostgreSQL store two instances share: what one stores, the
//! other's subscribers hear, once, and neither hears itself.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::sync::Arc;
use std::time::Duration;

use jarvis_core::{ExecutionStatus, WorkflowExecution};
use jarvis_store::{PostgresStore, Store};
use jarvis_testkit::postgres::Cluster;
use jarvis_workflows::ExecutionFollower;
use tokio::sync::broadcast;

fn follower(url: &str) -> ExecutionFollower {
    let store: Arc<dyn Store> = Arc::new(PostgresStore::open(url, 2).unwrap());
    ExecutionFollower::new(
        store,
        Duration::from_millis(10),
        Duration::from_millis(100),
        Duration::from_secs(10),
    )
}

async fn next(bus: &mut broadcast::Receiver<WorkflowExecution>) -> WorkflowExecution {
    tokio::time::timeout(Duration::from_secs(10), bus.recv())
        .await
        .expect("an execution within 10 s")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_stored_by_one_instance_is_heard_by_the_other_once() {
    let cluster = Cluster::start().expect("PostgreSQL is installed by cargo xtask ci");
    let url = cluster.create_database("workflows").unwrap();
    // Connecting blocks, as every store call does: on the blocking pool.
    let (a, b) = tokio::task::spawn_blocking(move || (follower(&url), follower(&url)))
        .await
        .unwrap();
    let (relay_a, relay_b) = (a.clone(), b.clone());
    let listening_a = tokio::task::spawn_blocking(move || relay_a.relay())
        .await
        .unwrap()
        .unwrap()
        .expect("a shared store relays");
    let listening_b = tokio::task::spawn_blocking(move || relay_b.relay())
        .await
        .unwrap()
        .unwrap()
        .expect("a shared store relays");
    let (mut heard_a, mut heard_b) = (a.subscribe(), b.subscribe());

    let started = WorkflowExecution {
        id: "exe_1".into(),
        workflow_id: "wf1".into(),
        workflow_name: "Deploy".into(),
        correlation_id: "cor_1".into(),
        n8n_execution_id: None,
        status: ExecutionStatus::Running,
        reply: None,
        started_at: 1_000,
        finished_at: None,
        error: None,
        submitted_by: "ops".into(),
    };
    a.save(&started, true).await.unwrap();
    assert_eq!(next(&mut heard_b).await, started);
    assert_eq!(next(&mut heard_a).await, started);

    // The other way, with a reply too large for a notification's payload: fetched by id.
    let finished = WorkflowExecution {
        n8n_execution_id: Some("77".into()),
        status: ExecutionStatus::Success,
        reply: Some(serde_json::json!({ "log": "x".repeat(20_000) })),
        finished_at: Some(2_000),
        ..started.clone()
    };
    b.save(&finished, false).await.unwrap();
    // Had A heard its own first change, it would come before this one.
    assert_eq!(next(&mut heard_a).await, finished);
    assert_eq!(next(&mut heard_b).await, finished);
    let store = Arc::clone(a.store());
    let stored = tokio::task::spawn_blocking(move || store.get_execution("exe_1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, Some(finished));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        heard_a.try_recv().is_err() && heard_b.try_recv().is_err(),
        "an echo arrived"
    );
    drop((listening_a, listening_b));
}
