//! The live ledger against a real store file and real logs: appends are read as they land,
//! copies across files and passes count once, a restart resumes from the stored cursors, a
//! recording with a used idempotency key is not counted twice, and budget thresholds are
//! announced once each.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jarvis_costs::query::Budgets;
use jarvis_costs::time::iso_ms;
use jarvis_costs::{
    CostEvent, CostMode, CostService, EntryId, PriceTable, Record, ServiceConfig, Source, Tokens,
    Usd, Zone,
};
use jarvis_store::{SqliteStore, Store};
use jarvis_testkit::{eventually_blocking, write_file};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn line(message: &str, request: &str, at_ms: i64, output: u64) -> String {
    format!(
        r#"{{"type":"assistant","timestamp":"{}","sessionId":"s","version":"2.0.37","requestId":"{request}","message":{{"id":"{message}","model":"claude-sonnet-4-20250514","usage":{{"input_tokens":10,"output_tokens":{output}}}}}}}"#,
        iso_ms(at_ms)
    ) + "\n"
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

fn config(root: &Path, budgets: Budgets) -> ServiceConfig {
    ServiceConfig {
        roots: vec![root.to_path_buf()],
        mode: CostMode::Calculate,
        table: PriceTable::built_in(),
        zone: Zone::utc(),
        budgets,
        poll: Duration::from_secs(30),
        watch: true,
    }
}

fn totals(service: &CostService) -> (usize, u64) {
    let ledger = service.ledger();
    let output = ledger.entries().iter().map(|e| e.tokens.output).sum();
    (ledger.entries().len(), output)
}

#[test]
fn appends_are_read_live_and_a_restart_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("projects");
    let log = root.join("-home-me-app/sess-1.jsonl");
    let now = now_ms();
    write_file(&log, line("m1", "r1", now - 60_000, 100));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("j.db")).unwrap());
    let service = CostService::open(Arc::clone(&store), config(&root, Budgets::default())).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    service.subscribe(move |event| seen.lock().unwrap().push(event.clone()));
    let thread = service.start().unwrap();
    eventually_blocking("the first pass", Duration::from_secs(5), || {
        (totals(&service) == (1, 100)).then_some(())
    });
    // An append, a larger copy of the same response, and one in a second file.
    append(&log, &line("m2", "r2", now - 30_000, 7));
    append(&log, &line("m1", "r1", now - 60_000, 150));
    write_file(
        &root.join("-home-me-app/sess-2.jsonl"),
        line("m3", "r3", now - 10_000, 1) + &line("m2", "r2", now - 30_000, 5),
    );
    eventually_blocking("the appends", Duration::from_secs(5), || {
        (totals(&service) == (3, 158)).then_some(())
    });
    let first_id = service.ledger().entries()[0].id;
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, CostEvent::Recorded { .. }))
    );
    service.stop();
    thread.join().unwrap();

    // A restart: the same entries from the store, nothing read twice.
    let again = CostService::open(Arc::clone(&store), config(&root, Budgets::default())).unwrap();
    assert_eq!(totals(&again), (3, 158));
    assert_eq!(again.ledger().entries()[0].id, first_id);
    assert_eq!(again.scan(), 0, "every byte was read before");
    assert_eq!(again.stats().lines, 0);
    append(&log, &line("m4", "r4", now, 2));
    assert_eq!(again.scan(), 1);
    assert_eq!(totals(&again), (4, 160));
    // A deleted log forgets its cursor and keeps its entries.
    std::fs::remove_file(&log).unwrap();
    again.scan();
    assert_eq!(totals(&again), (4, 160));
    assert_eq!(store.load_usage_cursors().unwrap().len(), 1);
}

fn manual(key: Option<&str>, dollars: f64) -> Record {
    Record {
        id: EntryId([0; 12]),
        at_ms: now_ms(),
        source: Source::Manual,
        model: None,
        tokens: Tokens::default(),
        reported: Usd::from_dollars(dollars),
        fast: false,
        sidechain: false,
        project: "infra".into(),
        session: String::new(),
        agent: None,
        category: Some("hosting".into()),
        tags: vec!["monthly".into()],
        description: Some("GPU box".into()),
        message_id: None,
        request_id: None,
        idempotency_key: key.map(Into::into),
        recorded_by: "key_test".into(),
    }
}

#[test]
fn recordings_are_saved_once_and_budgets_announced_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("projects");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("j.db")).unwrap());
    let budgets = Budgets {
        daily_usd: Some(10.0),
        monthly_usd: None,
    };
    let service = CostService::open(Arc::clone(&store), config(&root, budgets)).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    service.subscribe(move |event| seen.lock().unwrap().push(event.clone()));

    let (id, new) = service.record(manual(Some("k1"), 6.0)).unwrap();
    assert!(new);
    let (again, new) = service.record(manual(Some("k1"), 6.0)).unwrap();
    assert_eq!(
        (again, new),
        (id, false),
        "a retried recording is the same entry"
    );
    service.record(manual(None, 3.0)).unwrap();
    service.record(manual(None, 2.0)).unwrap();
    service.record(manual(None, 0.5)).unwrap();
    let thresholds: Vec<u32> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            CostEvent::BudgetThreshold { threshold, .. } => Some(*threshold),
            CostEvent::Recorded { .. } => None,
        })
        .collect();
    assert_eq!(thresholds, [50, 80, 100]);
    let stored = store.get_cost(&id.to_string()).unwrap().unwrap();
    assert_eq!(stored.cost_nanos, 6_000_000_000);
    assert_eq!(stored.category.as_deref(), Some("hosting"));
    // Reopened: the key still answers the first entry.
    let reopened = CostService::open(Arc::clone(&store), config(&root, budgets)).unwrap();
    assert_eq!(
        reopened.record(manual(Some("k1"), 6.0)).unwrap(),
        (id, false)
    );
    assert_eq!(reopened.ledger().entries().len(), 4);
}

#[test]
fn a_root_created_after_start_is_found_by_the_poll() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("projects");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("j.db")).unwrap());
    let mut config = config(&root, Budgets::default());
    config.poll = Duration::from_millis(300);
    let service = CostService::open(store, config).unwrap();
    let thread = service.start().unwrap();
    write_file(&root.join("-first/s.jsonl"), line("a", "a", now_ms(), 1));
    eventually_blocking("the root, once it exists", Duration::from_secs(5), || {
        (totals(&service) == (1, 1)).then_some(())
    });
    service.stop();
    thread.join().unwrap();
}

#[test]
fn folders_created_after_start_are_read_through_the_watcher() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("projects");
    std::fs::create_dir_all(&root).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("j.db")).unwrap());
    // The poll is 30 s: only the watcher can see these within the test.
    let service = CostService::open(store, config(&root, Budgets::default())).unwrap();
    let thread = service.start().unwrap();
    eventually_blocking("the first pass", Duration::from_secs(5), || {
        (service.stats().passes > 0).then_some(())
    });
    let now = now_ms();
    // A project folder made with its first log already in it.
    for i in 0..5 {
        let message = format!("new-{i}");
        write_file(
            &root.join(format!("-project-{i}/session.jsonl")),
            line(&message, &message, now, 10),
        );
        eventually_blocking("a log in a new folder", Duration::from_secs(5), || {
            (totals(&service).0 == 1 + i).then_some(())
        });
    }
    service.stop();
    thread.join().unwrap();
}

#[test]
fn a_ledger_that_cannot_be_read_is_said_so_and_records_nothing() {
    use jarvis_costs::Readiness;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("projects");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("j.db")).unwrap());
    let service = CostService::new(Arc::clone(&store), config(&root, Budgets::default()));
    assert_eq!(service.readiness(), Readiness::Loading { entries: 0 });
    service.load().unwrap();
    assert_eq!(service.readiness(), Readiness::Ready);
    // A row no version of Jarvis wrote.
    let bogus = jarvis_store::CostRow {
        id: "cst_000000000000000000000001".into(),
        source: "telepathy".into(),
        recorded_by: "someone".into(),
        ..jarvis_store::CostRow::default()
    };
    store.save_costs(&[bogus], &[], &[]).unwrap();
    let broken = CostService::new(Arc::clone(&store), config(&root, Budgets::default()));
    assert!(broken.load().is_err());
    let Readiness::Failed(message) = broken.readiness() else {
        panic!("{:?}", broken.readiness());
    };
    assert!(message.contains("telepathy"), "{message}");
    assert!(broken.record(manual(None, 1.0)).is_err());
    // The reading thread ends at once rather than reading logs into a ledger it cannot save.
    let thread = broken.start().unwrap();
    thread.join().unwrap();
}
