//! Cursors committed with the data (PostgreSQL and SQLite): the staged state is written in the
//! load's own transaction, a failed load leaves neither rows nor state, and the next run
//! starts from the destination's copy even when the state store's is older or missing.

mod support;

use std::path::Path;
use std::sync::Arc;

use dataforge_core::{
    BatchSender, ComponentError, MemoryStateStore, Pipeline, Registry, RunContext, RunOptions,
    RunReport, Source, State, StateStore, StaticConnections, async_trait, record,
};
use serde_json::json;

/// Ids `1..=upto`, from the cursor on; stages the new cursor, then fails when `fail` says so.
struct Ids {
    upto: i64,
    fail: bool,
}

#[async_trait]
impl Source for Ids {
    async fn extract(&self, ctx: &RunContext, out: &mut BatchSender) -> Result<(), ComponentError> {
        let since = ctx
            .state()
            .get("cursor")
            .and_then(|c| c.as_i64())
            .unwrap_or(0);
        let batch = (since + 1..=self.upto)
            .map(|id| record! {"id" => id})
            .collect();
        out.send(batch).await?;
        ctx.state().set("cursor", json!(self.upto));
        if self.fail {
            return Err(ComponentError::fatal_msg("the source broke after its rows"));
        }
        Ok(())
    }
}

const PIPELINE: &str = "cursor_with_data";

async fn run(
    config: &serde_json::Value,
    url: &str,
    store: Arc<dyn StateStore>,
    source: Ids,
) -> RunReport {
    let mut registry = Registry::new();
    dataforge_destinations::register(&mut registry).expect("register");
    let destination = registry
        .build_destination(config)
        .unwrap_or_else(|e| panic!("destination config: {e}"));
    let pipeline = Pipeline::builder(PIPELINE)
        .source(source)
        .destination(destination)
        .build()
        .expect("pipeline");
    let connections = StaticConnections::new()
        .with("postgres_default", url)
        .expect("connection");
    let opts = RunOptions {
        connections: Arc::new(connections),
        state_store: store,
        ..RunOptions::in_memory()
    };
    pipeline.run(&opts).await
}

fn cursor(n: i64) -> State {
    let mut s = State::new();
    s.insert("cursor".into(), json!(n));
    s
}

#[tokio::test]
async fn postgres_commits_the_cursor_with_the_rows_and_it_wins_next_run() {
    let Some(db) = support::TestDb::new("state_with_data").await else {
        return;
    };
    let cfg = db.config("orders", json!({"write_mode": "append"}));
    let state_table = db.qualified("dataforge_state");

    // A failed load: neither rows nor state (the state table's creation rolls back too).
    let store: Arc<dyn StateStore> = Arc::new(MemoryStateStore::default());
    let failed = run(
        &cfg,
        &db.url,
        store.clone(),
        Ids {
            upto: 10,
            fail: true,
        },
    )
    .await;
    assert!(!failed.is_success());
    assert!(!db.relations().await.contains(&"dataforge_state".to_owned()));
    assert!(store.load(PIPELINE).await.expect("load").is_empty());

    // A committed load: both, in the same transaction.
    let ok = run(
        &cfg,
        &db.url,
        store.clone(),
        Ids {
            upto: 10,
            fail: false,
        },
    )
    .await;
    assert!(ok.is_success(), "{:?}", ok.error);
    assert_eq!(db.rows("orders").await, 10);
    let row = db
        .client
        .query_one(
            &format!("SELECT state->>'cursor', run_id FROM {state_table} WHERE pipeline_id = $1"),
            &[&PIPELINE],
        )
        .await
        .expect("state row");
    assert_eq!(row.get::<_, &str>(0), "10");
    assert_eq!(row.get::<_, &str>(1), ok.run_id);

    // A failed load after it changes neither.
    let failed = run(
        &cfg,
        &db.url,
        store.clone(),
        Ids {
            upto: 20,
            fail: true,
        },
    )
    .await;
    assert!(!failed.is_success());
    assert_eq!(db.rows("orders").await, 10);
    let n: String = db
        .client
        .query_one(&format!("SELECT state->>'cursor' FROM {state_table}"), &[])
        .await
        .expect("state row")
        .get(0);
    assert_eq!(n, "10");

    // The store's copy older than the destination's: the destination's wins (no duplicates).
    store.save(PIPELINE, &cursor(3)).await.expect("save");
    let next = run(
        &cfg,
        &db.url,
        store.clone(),
        Ids {
            upto: 15,
            fail: false,
        },
    )
    .await;
    assert!(next.is_success(), "{:?}", next.error);
    assert_eq!(next.rows_loaded, 5);
    // The store's copy absent: the destination's still wins.
    let fresh: Arc<dyn StateStore> = Arc::new(MemoryStateStore::default());
    let again = run(
        &cfg,
        &db.url,
        fresh.clone(),
        Ids {
            upto: 18,
            fail: false,
        },
    )
    .await;
    assert!(again.is_success(), "{:?}", again.error);
    assert_eq!(again.rows_loaded, 3);
    // The store still gets its copy after the commit, for inspection.
    assert_eq!(fresh.load(PIPELINE).await.expect("load"), cursor(18));
    let distinct = db
        .count(&format!(
            "SELECT count(DISTINCT id) FROM {}",
            db.qualified("orders")
        ))
        .await;
    assert_eq!((db.rows("orders").await, distinct), (18, 18));
    db.drop().await;
}

fn sqlite_count(path: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

fn sqlite_tables(path: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).expect("open");
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")
        .expect("prepare");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[tokio::test]
async fn sqlite_commits_the_cursor_with_the_rows_and_it_wins_next_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.db");
    let cfg = json!({"type": "sqlite", "path": path, "table": "orders", "write_mode": "append"});
    let url = support::database_url();

    let store: Arc<dyn StateStore> = Arc::new(MemoryStateStore::default());
    let failed = run(
        &cfg,
        &url,
        store.clone(),
        Ids {
            upto: 10,
            fail: true,
        },
    )
    .await;
    assert!(!failed.is_success());
    assert!(
        !path.exists() || !sqlite_tables(&path).contains(&"dataforge_state".to_owned()),
        "a failed load leaves no state"
    );

    let ok = run(
        &cfg,
        &url,
        store.clone(),
        Ids {
            upto: 10,
            fail: false,
        },
    )
    .await;
    assert!(ok.is_success(), "{:?}", ok.error);
    assert_eq!(sqlite_count(&path, "SELECT count(*) FROM orders"), 10);
    let conn = rusqlite::Connection::open(&path).expect("open");
    let (state, run_id): (String, String) = conn
        .query_row(
            "SELECT state, run_id FROM dataforge_state WHERE pipeline_id = ?1",
            [PIPELINE],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("state row");
    drop(conn);
    assert_eq!(
        serde_json::from_str::<State>(&state).expect("json"),
        cursor(10)
    );
    assert_eq!(run_id, ok.run_id);

    let failed = run(
        &cfg,
        &url,
        store.clone(),
        Ids {
            upto: 20,
            fail: true,
        },
    )
    .await;
    assert!(!failed.is_success());
    assert_eq!(sqlite_count(&path, "SELECT count(*) FROM orders"), 10);
    assert_eq!(
        sqlite_count(
            &path,
            "SELECT json_extract(state, '$.cursor') FROM dataforge_state"
        ),
        10
    );

    store.save(PIPELINE, &cursor(3)).await.expect("save");
    let next = run(
        &cfg,
        &url,
        store.clone(),
        Ids {
            upto: 15,
            fail: false,
        },
    )
    .await;
    assert!(next.is_success(), "{:?}", next.error);
    assert_eq!(next.rows_loaded, 5);
    let fresh: Arc<dyn StateStore> = Arc::new(MemoryStateStore::default());
    let again = run(
        &cfg,
        &url,
        fresh.clone(),
        Ids {
            upto: 18,
            fail: false,
        },
    )
    .await;
    assert!(again.is_success(), "{:?}", again.error);
    assert_eq!(again.rows_loaded, 3);
    assert_eq!(fresh.load(PIPELINE).await.expect("load"), cursor(18));
    assert_eq!(
        sqlite_count(&path, "SELECT count(DISTINCT id) FROM orders"),
        18
    );
    assert_eq!(sqlite_count(&path, "SELECT count(*) FROM orders"), 18);
}

#[tokio::test]
async fn an_empty_load_kept_as_is_still_commits_the_cursor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty.db");
    let cfg = json!({"type": "sqlite", "path": path, "table": "orders", "write_mode": "append"});
    let url = support::database_url();
    let store: Arc<dyn StateStore> = Arc::new(MemoryStateStore::default());
    let ok = run(
        &cfg,
        &url,
        store.clone(),
        Ids {
            upto: 5,
            fail: false,
        },
    )
    .await;
    assert!(ok.is_success(), "{:?}", ok.error);
    // Nothing new (on_empty: keep), but the cursor moves: the destination's copy stays current.
    store.save(PIPELINE, &cursor(0)).await.expect("save");
    let empty = run(
        &cfg,
        &url,
        store.clone(),
        Ids {
            upto: 5,
            fail: false,
        },
    )
    .await;
    assert!(empty.is_success(), "{:?}", empty.error);
    assert_eq!(empty.rows_loaded, 0);
    assert_eq!(sqlite_count(&path, "SELECT count(*) FROM orders"), 5);
    let conn = rusqlite::Connection::open(&path).expect("open");
    let run_id: String = conn
        .query_row("SELECT run_id FROM dataforge_state", [], |r| r.get(0))
        .expect("state row");
    assert_eq!(run_id, empty.run_id, "the empty run committed its cursor");
}
