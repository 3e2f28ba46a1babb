//! The store's tests: one conformance suite that every backend passes (SQLite in a temp file,
//! PostgreSQL in a throw-away cluster this test starts), and what only PostgreSQL has (several
//! stores on one database).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod conformance;
mod postgres;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use jarvis_store::{SqliteStore, Store};

use conformance::{Backend, CASES};

/// Runs every case, each on a fresh database from `fresh`; names every case that failed.
fn run_all(mut fresh: impl FnMut(usize) -> Box<dyn Backend>) {
    let failed: Vec<&str> = CASES
        .iter()
        .enumerate()
        .filter_map(|(i, (name, case))| {
            let db = fresh(i);
            catch_unwind(AssertUnwindSafe(|| case(db.as_ref())))
                .is_err()
                .then_some(*name)
        })
        .collect();
    assert!(failed.is_empty(), "cases failed: {failed:?}");
}

struct Sqlite(tempfile::TempDir);

impl Backend for Sqlite {
    fn open(&self) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(self.0.path().join("data/jarvis.db")).unwrap())
    }
}

#[test]
fn sqlite_passes_the_conformance_suite() {
    run_all(|_| Box::new(Sqlite(tempfile::tempdir().unwrap())));
}
