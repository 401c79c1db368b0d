//! The state-store suite against SQLite (a temp file per test), plus SQLite's own tests:
//! migrations by two stores and by two processes at once, and the JSON-file import.

mod support;

use std::path::Path;
use std::sync::Arc;

use dataforge_core::{FileStateStore, State, StateStore};
use dataforge_state::{SCHEMA_VERSION, SqliteStateStore};
use support::Fixture;

async fn open(_test: &str) -> Option<Fixture> {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStateStore::open(dir.path().join("state.db"))
        .await
        .expect("open");
    Some(Fixture {
        store: Arc::new(store),
        keep: Some(dir),
        schema: None,
    })
}

state_store_suite!(open);

/// `(version, applied_at)` rows of `schema_migrations`, read with a connection of our own.
fn migrations(db: &Path) -> Vec<(i64, String)> {
    let conn = rusqlite::Connection::open(db).expect("open");
    let mut stmt = conn
        .prepare("SELECT version, applied_at FROM schema_migrations ORDER BY version")
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn assert_migrated_once(db: &Path) {
    let rows = migrations(db);
    let versions: Vec<i64> = rows.iter().map(|(v, _)| *v).collect();
    assert_eq!(
        versions,
        (1..=SCHEMA_VERSION).collect::<Vec<_>>(),
        "{rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_opening_a_fresh_file_at_once_migrate_it_once() {
    for _ in 0..10 {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("sub/state.db");
        let (a, b) = tokio::join!(SqliteStateStore::open(&db), SqliteStateStore::open(&db));
        let (a, b) = (a.expect("first open"), b.expect("second open"));
        assert_migrated_once(&db);
        // Both work on the same data.
        let mut s = State::new();
        s.insert("k".into(), 1.into());
        a.save("p", &s).await.expect("save");
        assert_eq!(b.load("p").await.expect("load"), s);
        // Opening again applies nothing.
        drop(SqliteStateStore::open(&db).await.expect("reopen"));
        assert_migrated_once(&db);
    }
}

const CHILD_DB: &str = "DATAFORGE_STATE_TEST_CHILD_DB";

/// The child side of `two_processes_opening_a_fresh_file_at_once_migrate_it_once`: opens the
/// store named by the variable, records a run (a no-op when run on its own).
#[tokio::test]
async fn child_opens_the_store() {
    let Ok(db) = std::env::var(CHILD_DB) else {
        return;
    };
    let store = SqliteStateStore::open(&db).await.expect("child open");
    let run = dataforge_core::RunRecord::new(
        "p",
        format!("run-{}", std::process::id()),
        support::at(1, 0),
        dataforge_core::RunTrigger::Manual,
    );
    store.record_run(&run).await.expect("child record");
}

#[test]
fn two_processes_opening_a_fresh_file_at_once_migrate_it_once() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("state.db");
        let db_text = db.to_str().expect("utf-8 temp path");
        let children: Vec<_> = (0..2)
            .map(|_| support::spawn_test_child("child_opens_the_store", &[(CHILD_DB, db_text)]))
            .collect();
        for child in children {
            support::expect_success(child);
        }
        assert_migrated_once(&db);
        let conn = rusqlite::Connection::open(&db).expect("open");
        let runs: i64 = conn
            .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
            .expect("count");
        assert_eq!(runs, 2, "each process recorded its run");
    }
}

#[tokio::test]
async fn json_state_files_are_imported_on_first_use_and_left_in_place() {
    let home = tempfile::tempdir().expect("tempdir");
    let files = FileStateStore::new(home.path());
    let mut orders = State::new();
    orders.insert("cursor".into(), "2026-01-01T00:00:00Z".into());
    files.save("orders", &orders).await.expect("file save");
    let mut daily = State::new();
    daily.insert("since_id".into(), 42.into());
    files.save("orders/daily", &daily).await.expect("file save");

    let store = SqliteStateStore::open_in_home(home.path())
        .await
        .expect("open");
    assert_eq!(store.path(), home.path().join("state.db"));
    assert_eq!(store.load("orders").await.expect("load"), orders);
    assert_eq!(store.load("orders/daily").await.expect("load"), daily);
    assert!(store.load("customers").await.expect("load").is_empty());
    assert!(files.file("orders").exists(), "the file is left in place");

    // Imported once: a later save wins over the file, which is no longer read.
    let mut newer = State::new();
    newer.insert("cursor".into(), "2026-02-01T00:00:00Z".into());
    store.save("orders", &newer).await.expect("save");
    drop(store);
    let store = SqliteStateStore::open_in_home(home.path())
        .await
        .expect("reopen");
    assert_eq!(store.load("orders").await.expect("load"), newer);

    // A store opened without a home imports nothing.
    let plain = SqliteStateStore::open(home.path().join("state.db"))
        .await
        .expect("open");
    let mut other = State::new();
    other.insert("x".into(), 1.into());
    files.save("fresh", &other).await.expect("file save");
    assert!(plain.load("fresh").await.expect("load").is_empty());
    assert_eq!(store.load("fresh").await.expect("load"), other);
}

#[tokio::test]
async fn a_corrupt_json_state_file_is_an_error_naming_it() {
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(home.path().join("state")).expect("mkdir");
    std::fs::write(home.path().join("state/orders.json"), "{not json").expect("write");
    let store = SqliteStateStore::open_in_home(home.path())
        .await
        .expect("open");
    let e = store.load("orders").await.expect_err("corrupt");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("orders.json"), "{e}");
}

#[tokio::test]
async fn the_file_is_in_wal_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("state.db");
    let _store = SqliteStateStore::open(&db).await.expect("open");
    let conn = rusqlite::Connection::open(&db).expect("open");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("pragma");
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn state_store_from_env_without_a_url_is_sqlite_in_home() {
    let home = tempfile::tempdir().expect("tempdir");
    let store = dataforge_state::open_state_store(None, home.path())
        .await
        .expect("open");
    assert!(store.keeps_history());
    let mut s = State::new();
    s.insert("k".into(), 1.into());
    store.save("p", &s).await.expect("save");
    assert!(home.path().join("state.db").exists());
    let blank = dataforge_state::open_state_store(Some("  "), home.path())
        .await
        .expect("open");
    assert_eq!(blank.load("p").await.expect("load"), s);
}
