//! An empty source never wipes a target by default: every empty form of the file source gives
//! no rows, and every destination then follows `on_empty` (`keep`, `replace`, `fail`).

mod support;

use std::path::{Path, PathBuf};

use dataforge_core::test_utils::MemorySource;
use dataforge_core::{Pipeline, Registry, RunOptions, RunReport, Value, record};
use serde_json::json;

/// The empty forms of the file source: `(file name, contents)`.
const EMPTY_FORMS: [(&str, &str); 7] = [
    ("empty.jsonl", ""),
    ("blank.jsonl", "\n \n"),
    ("empty.csv", ""),
    ("header_only.csv", "id,total\n"),
    ("empty_array.json", "[]"),
    ("zero_bytes.json", ""),
    ("blank.json", " \n"),
];

/// Writes `contents` to `dir/name` and returns a file source config reading it.
fn empty_source(dir: &Path, name: &str, contents: &str) -> serde_json::Value {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write the source file");
    json!({"type": "file", "path": path})
}

/// Runs a file source into `destination`, both built through the registry.
async fn run(source: serde_json::Value, destination: serde_json::Value) -> RunReport {
    run_with(source, destination, &RunOptions::in_memory()).await
}

async fn run_with(
    source: serde_json::Value,
    destination: serde_json::Value,
    opts: &RunOptions,
) -> RunReport {
    let mut registry = Registry::new();
    dataforge_sources::register(&mut registry).expect("register sources");
    dataforge_destinations::register(&mut registry).expect("register destinations");
    let pipeline = Pipeline::builder("on_empty_test")
        .source(registry.build_source(&source).expect("source config"))
        .destination(
            registry
                .build_destination(&destination)
                .expect("destination config"),
        )
        .build()
        .expect("pipeline");
    pipeline.run(opts).await
}

fn sqlite_count(path: &Path) -> i64 {
    rusqlite::Connection::open(path)
        .expect("open")
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .expect("count")
}

/// A SQLite database whose table `t` holds 3 rows.
async fn sqlite_with_rows(dir: &Path) -> PathBuf {
    let db = dir.join("target.db");
    let report = support::run_config(
        json!({"type": "sqlite", "path": db, "table": "t", "write_mode": "replace"}),
        MemorySource::new((1..=3).map(|i| record! {"id" => i}).collect()),
        10,
        &RunOptions::in_memory(),
    )
    .await;
    assert!(report.is_success(), "{:?}", report.error);
    db
}

#[tokio::test]
async fn every_empty_form_of_the_file_source_keeps_a_sqlite_table_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_with_rows(dir.path()).await;
    for (name, contents) in EMPTY_FORMS {
        let report = run(
            empty_source(dir.path(), name, contents),
            json!({"type": "sqlite", "path": db, "table": "t", "write_mode": "replace"}),
        )
        .await;
        assert!(report.is_success(), "{name}: {:?}", report.error);
        assert_eq!(report.rows_extracted, 0, "{name}");
        assert_eq!(sqlite_count(&db), 3, "{name}: the table was kept");
        let note = report.load.as_ref().and_then(|l| l.note.clone());
        assert!(
            note.as_deref()
                .is_some_and(|n| n.contains("no rows") && n.contains("on_empty: keep")),
            "{name}: the report says the target was kept: {note:?}"
        );
    }
}

#[tokio::test]
async fn on_empty_fail_fails_and_replace_empties_a_sqlite_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_with_rows(dir.path()).await;
    let source = empty_source(dir.path(), "empty.jsonl", "");
    let failed = run(
        source.clone(),
        json!({"type": "sqlite", "path": db, "table": "t", "write_mode": "replace",
               "on_empty": "fail"}),
    )
    .await;
    let msg = support::failure(&failed);
    assert!(
        msg.contains("the source gave no rows and on_empty is `fail`"),
        "{msg}"
    );
    assert_eq!(sqlite_count(&db), 3, "fail leaves the table as it was");

    let replaced = run(
        source,
        json!({"type": "sqlite", "path": db, "table": "t", "write_mode": "replace",
               "on_empty": "replace"}),
    )
    .await;
    assert!(replaced.is_success(), "{:?}", replaced.error);
    assert_eq!(
        sqlite_count(&db),
        0,
        "replace lets the empty load empty the table"
    );
}

#[tokio::test]
async fn a_missing_sqlite_database_is_not_created_for_no_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("never.db");
    let report = run(
        empty_source(dir.path(), "empty.csv", ""),
        json!({"type": "sqlite", "path": db, "table": "t"}),
    )
    .await;
    assert!(report.is_success(), "{:?}", report.error);
    assert!(!db.exists(), "the target was not touched");
}

#[tokio::test]
async fn the_file_destination_follows_on_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = empty_source(dir.path(), "empty_array.json", "[]");
    for format in ["jsonl", "csv"] {
        let out = dir.path().join(format!("out.{format}"));
        let old = match format {
            "csv" => "id\n1\n",
            _ => "{\"id\":1}\n",
        };
        for mode in ["replace", "append"] {
            std::fs::write(&out, old).expect("old contents");
            let kept = run(
                source.clone(),
                json!({"type": "file", "path": out, "write_mode": mode}),
            )
            .await;
            assert!(kept.is_success(), "{format} {mode}: {:?}", kept.error);
            assert_eq!(
                std::fs::read_to_string(&out).expect("read"),
                old,
                "{format} {mode}"
            );

            let failed = run(
                source.clone(),
                json!({"type": "file", "path": out, "write_mode": mode, "on_empty": "fail"}),
            )
            .await;
            assert!(support::failure(&failed).contains("on_empty is `fail`"));
            assert_eq!(
                std::fs::read_to_string(&out).expect("read"),
                old,
                "{format} {mode}"
            );
        }
        let replaced = run(
            source.clone(),
            json!({"type": "file", "path": out, "write_mode": "replace", "on_empty": "replace"}),
        )
        .await;
        assert!(replaced.is_success(), "{:?}", replaced.error);
        assert_eq!(std::fs::read_to_string(&out).expect("read"), "", "{format}");
    }
    let missing = dir.path().join("missing.jsonl");
    let report = run(
        source,
        json!({"type": "file", "path": missing, "write_mode": "append"}),
    )
    .await;
    assert!(report.is_success(), "{:?}", report.error);
    assert!(!missing.exists(), "no file is created for no rows");
}

#[tokio::test]
async fn the_postgres_destination_follows_on_empty() {
    let Some(db) = support::TestDb::new("on_empty").await else {
        return;
    };
    let opts = RunOptions {
        connections: std::sync::Arc::new(
            dataforge_core::StaticConnections::new()
                .with("postgres_default", &db.url)
                .expect("connection"),
        ),
        ..RunOptions::in_memory()
    };
    let full = db
        .run(
            db.config("t", json!({"write_mode": "replace"})),
            MemorySource::new(
                (1..=3)
                    .map(|i| record! {"id" => i, "v" => Value::from("x")})
                    .collect(),
            ),
            10,
        )
        .await;
    assert!(full.is_success(), "{:?}", full.error);
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, contents) in EMPTY_FORMS {
        let report = run_with(
            empty_source(dir.path(), name, contents),
            db.config("t", json!({"write_mode": "replace"})),
            &opts,
        )
        .await;
        assert!(report.is_success(), "{name}: {:?}", report.error);
        assert_eq!(db.rows("t").await, 3, "{name}: the table was kept");
    }
    let source = empty_source(dir.path(), "empty.jsonl", "");
    let failed = run_with(
        source.clone(),
        db.config("t", json!({"write_mode": "replace", "on_empty": "fail"})),
        &opts,
    )
    .await;
    assert!(support::failure(&failed).contains("on_empty is `fail`"));
    assert_eq!(db.rows("t").await, 3);
    let kept_missing = run_with(
        source.clone(),
        db.config("never_created", json!({"write_mode": "replace"})),
        &opts,
    )
    .await;
    assert!(kept_missing.is_success(), "{:?}", kept_missing.error);
    assert!(
        !db.relations().await.contains(&"never_created".to_owned()),
        "no table is created for no rows"
    );
    let replaced = run_with(
        source,
        db.config("t", json!({"write_mode": "replace", "on_empty": "replace"})),
        &opts,
    )
    .await;
    assert!(replaced.is_success(), "{:?}", replaced.error);
    assert_eq!(db.rows("t").await, 0);
    db.drop().await;
}
