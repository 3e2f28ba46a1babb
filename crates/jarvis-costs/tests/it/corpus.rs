//! The real-corpus check: the corpus's usage logs summarize to exactly what
//! `expected/usage-summary.json` says ccusage's rules give (`.ci/run` passes the corpus in
//! `JARVIS_CORPUS`; without it the test says that it did not run).

use std::path::PathBuf;

use jarvis_costs::{CostMode, PriceTable, read_all, summarize};
use serde_json::Value;

fn corpus() -> Option<PathBuf> {
    match std::env::var_os("JARVIS_CORPUS") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            eprintln!("real-corpus cost check did not run: set JARVIS_CORPUS to the corpus folder");
            None
        }
    }
}

/// `expected` holds every key of `actual` that `expected` names, equal.
fn assert_matches(what: &str, expected: &Value, actual: &Value) {
    match expected {
        Value::Object(fields) => {
            for (key, value) in fields {
                let Some(got) = actual.get(key) else {
                    panic!("{what}: no `{key}` in {actual}");
                };
                assert_matches(&format!("{what}.{key}"), value, got);
            }
            let extra: Vec<&String> = actual
                .as_object()
                .map(|o| o.keys().filter(|k| !fields.contains_key(*k)).collect())
                .unwrap_or_default();
            assert!(extra.is_empty(), "{what}: unexpected {extra:?}");
        }
        other => assert_eq!(other, actual, "{what}"),
    }
}

#[test]
fn the_corpus_logs_summarize_as_ccusage_does() {
    let Some(dir) = corpus() else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("expected/usage-summary.json")).unwrap();
    let expected: Value = serde_json::from_str(&text).unwrap();
    let (entries, stats) = read_all(&[dir.join("claude-home/projects")]);
    let parse = &expected["parse_stats"];
    assert_eq!(
        stats.usage_lines as u64,
        parse["lines_with_usage_marker"].as_u64().unwrap()
    );
    assert_eq!(
        stats.duplicates as u64,
        parse["duplicates_dropped"].as_u64().unwrap()
    );
    assert_eq!(
        entries.len() as u64,
        parse["entries_kept"].as_u64().unwrap()
    );
    assert_eq!(stats.lines as u64, parse["lines_total"].as_u64().unwrap());
    let table = PriceTable::built_in();
    let calculate = serde_json::to_value(summarize(&entries, CostMode::Calculate, &table)).unwrap();
    assert_matches("calculate", &expected["calculate_mode"], &calculate);
    assert_eq!(calculate["totals"]["totalCost"], 0.5103204);
    let auto = serde_json::to_value(summarize(&entries, CostMode::Auto, &table)).unwrap();
    let expected_auto = &expected["auto_mode_uses_costUSD_when_present"];
    for key in expected_auto.as_object().unwrap().keys() {
        assert_matches(&format!("auto.{key}"), &expected_auto[key], &auto[key]);
    }
}

/// The live service, reading the corpus into a store file in the pieces its passes find, and
/// reporting by day, ends at the same totals and days as the one-shot read.
#[test]
fn the_live_ledger_reports_the_corpus_as_ccusage_does() {
    use std::sync::Arc;

    use jarvis_costs::query::{Budgets, Filter, GroupBy, report};
    use jarvis_costs::{CostService, ServiceConfig, Zone};

    let Some(dir) = corpus() else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("expected/usage-summary.json")).unwrap();
    let expected: Value = serde_json::from_str(&text).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let store: Arc<dyn jarvis_store::Store> =
        Arc::new(jarvis_store::SqliteStore::open(tmp.path().join("j.db")).unwrap());
    let config = ServiceConfig {
        roots: vec![dir.join("claude-home/projects")],
        mode: CostMode::Calculate,
        table: PriceTable::built_in(),
        zone: Zone::utc(),
        budgets: Budgets::default(),
        poll: std::time::Duration::from_secs(60),
        watch: false,
    };
    let service = CostService::open(Arc::clone(&store), config.clone()).unwrap();
    service.scan();
    drop(service);
    // Reopened from the store: the totals survive.
    let service = CostService::open(store, config).unwrap();
    let daily = report(
        &service.ledger(),
        GroupBy::Day,
        &Filter::default(),
        &Zone::utc(),
    );
    let totals = serde_json::to_value(daily.totals).unwrap();
    assert_matches(
        "live totals",
        &expected["calculate_mode"]["totals"],
        &totals,
    );
    let by_day = &expected["calculate_mode"]["byDayUTC"];
    assert_eq!(daily.rows.len(), by_day.as_object().unwrap().len());
    for row in &daily.rows {
        let mut value = serde_json::to_value(row.totals).unwrap();
        value
            .as_object_mut()
            .unwrap()
            .retain(|k, _| by_day[&row.period].get(k).is_some());
        assert_matches(&format!("day {}", row.period), &by_day[&row.period], &value);
    }
}
