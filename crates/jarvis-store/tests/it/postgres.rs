//! The store on PostgreSQL: the conformance suite, and what several stores on one database do.

use std::sync::Arc;

use jarvis_store::{Error, PostgresStore, Store};
use jarvis_testkit::postgres::Cluster;

use crate::conformance::Backend;

struct Postgres(String);

impl Backend for Postgres {
    fn open(&self) -> Arc<dyn Store> {
        Arc::new(PostgresStore::open(&self.0, 4).unwrap())
    }
}

#[test]
fn postgres_passes_the_conformance_suite_and_shares_one_database() {
    let cluster = Cluster::start().unwrap();
    crate::run_all(|i| {
        Box::new(Postgres(
            cluster.create_database(&format!("case_{i}")).unwrap(),
        ))
    });

    // Stores opening one new database at once apply each migration once.
    let url = cluster.create_database("shared").unwrap();
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PostgresStore::open(&url, 2))
        })
        .collect();
    let stores: Vec<PostgresStore> = opened
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    let applied = cluster
        .psql(
            "shared",
            "SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations",
        )
        .unwrap();
    let (all, distinct) = applied.trim().split_once('|').unwrap();
    assert_eq!(all, distinct, "a migration was applied twice");

    // What one store writes, another reads at once.
    let a = &stores[0];
    let b = &stores[1];
    let mut t = jarvis_core::Task {
        id: "tsk_shared".into(),
        kind: jarvis_core::TaskKind::Command,
        target: "t".into(),
        resource_id: "r".into(),
        input: serde_json::json!({}),
        priority: jarvis_core::Priority::Normal,
        status: jarvis_core::TaskStatus::Queued,
        seq: 1,
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
        submitted_by: "a".into(),
        result: None,
    };
    a.insert_task(&t).unwrap();
    t.status = jarvis_core::TaskStatus::Running;
    b.update_task(&t).unwrap();
    assert_eq!(a.get_task("tsk_shared").unwrap().unwrap(), t);

    // A connection the server ends is replaced, not handed out again.
    cluster
        .psql(
            "shared",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'shared' AND pid <> pg_backend_pid()",
        )
        .unwrap();
    let mut recovered = false;
    for _ in 0..3 {
        if a.get_task("tsk_shared").is_ok() {
            recovered = true;
            break;
        }
    }
    assert!(
        recovered,
        "the store did not reconnect after its connections were ended"
    );
}

#[test]
fn an_unreachable_database_is_refused_without_its_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = PostgresStore::open(
        &format!("postgres://jarvis:s3cret-pw@127.0.0.1:{port}/jarvis"),
        2,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    let message = err.to_string();
    assert!(!message.contains("s3cret-pw"), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");

    let err = PostgresStore::open("postgres://jarvis:s3cret-pw@[::1", 2).unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert!(!err.to_string().contains("s3cret-pw"), "{err}");
}

#[test]
fn notifications_reach_every_listener_in_order_large_ones_whole() {
    let cluster = Cluster::start().unwrap();
    let url = cluster.create_database("relay").unwrap();
    let a = PostgresStore::open(&url, 2).unwrap();
    let b = PostgresStore::open(&url, 2).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let sink_tx = std::sync::Mutex::new(tx);
    let listener = b
        .listen(
            &["jarvis_tasks", "jarvis_keys"],
            Box::new(move |n| {
                let _ = sink_tx.lock().unwrap().send(n);
            }),
        )
        .unwrap()
        .expect("PostgreSQL relays");
    let large = "é".repeat(20_000);
    a.notify("jarvis_tasks", "first").unwrap();
    a.notify("jarvis_tasks", &large).unwrap();
    a.notify("jarvis_other", "not listened to").unwrap();
    a.notify("jarvis_keys", "").unwrap();
    let got: Vec<_> = (0..3)
        .map(|_| rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap())
        .collect();
    assert_eq!(
        got.iter()
            .map(|n| (n.channel.as_str(), n.payload.len()))
            .collect::<Vec<_>>(),
        [
            ("jarvis_tasks", 5),
            ("jarvis_tasks", large.len()),
            ("jarvis_keys", 0)
        ]
    );
    assert_eq!(got[1].payload, large);
    assert!(b.listen(&["Bad-Name"], Box::new(|_| {})).is_err());
    // Dropped: its thread ends and its connection goes.
    drop(listener);
    jarvis_testkit::eventually_blocking(
        "the listener's connection to close",
        std::time::Duration::from_secs(10),
        || {
            let listening = cluster
                .psql(
                    "relay",
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = 'relay' AND query LIKE 'LISTEN%'",
                )
                .unwrap();
            (listening.trim() == "0").then_some(())
        },
    );
}
