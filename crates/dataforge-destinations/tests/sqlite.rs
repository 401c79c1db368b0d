//! Atomicity of the `sqlite` destination seen from outside: a concurrent reader during a
//! `replace`, and a writer killed with SIGKILL mid-load.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dataforge_core::test_utils::MemorySource;
use dataforge_core::{Record, RunOptions, RunReport, Source, Value, record};
use serde_json::json;
use support::SlowSource;

fn order(i: i64) -> Record {
    record! {"id" => i, "total" => Value::Float(i as f64 + 0.5), "note" => "sqlite"}
}

fn config(path: &Path) -> serde_json::Value {
    json!({"type": "sqlite", "path": path, "table": "t", "write_mode": "replace"})
}

async fn run(config: serde_json::Value, source: impl Source, batch_size: usize) -> RunReport {
    support::run_config(config, source, batch_size, &RunOptions::in_memory()).await
}

/// `(count(*), sum(id))` of `t`, read on a connection of its own.
fn read_table(conn: &rusqlite::Connection) -> (i64, i64) {
    conn.query_row("SELECT count(*), coalesce(sum(id), 0) FROM t", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .expect("reader query")
}

fn sums(ids: std::ops::RangeInclusive<i64>) -> (i64, i64) {
    (ids.clone().count() as i64, ids.sum())
}

#[tokio::test]
async fn a_reader_sees_the_old_or_the_new_table_never_a_partial_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("concurrent.db");
    let old = run(
        config(&path),
        MemorySource::new((1..=5000).map(order).collect()),
        1000,
    )
    .await;
    assert!(old.is_success(), "{:?}", old.error);

    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (done, path) = (done.clone(), path.clone());
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&path).expect("reader opens");
            // A reader that waits on the writer's lock (no WAL) fails instead of hanging.
            conn.busy_timeout(Duration::from_secs(10)).expect("timeout");
            let mut seen = Vec::new();
            while !done.load(Ordering::SeqCst) {
                seen.push(read_table(&conn));
                std::thread::sleep(Duration::from_millis(5));
            }
            seen
        })
    };
    // 20 batches of 1,000 rows, 100 ms apart: about 2 s of load inside one transaction.
    let source = SlowSource {
        batches: 20,
        rows: 1000,
        delay: Duration::from_millis(100),
        make: |i| order(100_000 + i as i64),
    };
    let started = Instant::now();
    let r = run(config(&path), source, 1000).await;
    let took = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let seen = reader.join().expect("reader");
    assert!(r.is_success(), "{:?}", r.error);
    assert!(took > Duration::from_secs(1), "the load took {took:?}");
    assert!(seen.len() > 20, "the reader read {} times", seen.len());
    let (old, new) = (sums(1..=5000), sums(100_000..=119_999));
    for s in &seen {
        assert!(
            *s == old || *s == new,
            "reader saw {s:?}: neither {old:?} nor {new:?}"
        );
    }
    assert!(
        seen.contains(&old),
        "the reader saw the old table while loading"
    );
    let conn = rusqlite::Connection::open(&path).expect("open");
    assert_eq!(read_table(&conn), new);
}

const SIGKILL_CHILD: &str = "DATAFORGE_SQLITE_SIGKILL_CHILD";

#[tokio::test]
async fn sigkill_mid_load_keeps_the_old_data_and_a_usable_file() {
    if let Ok(path) = std::env::var(SIGKILL_CHILD) {
        // The child: a long replace that the parent kills mid-load.
        let source = SlowSource {
            batches: 10_000,
            rows: 1000,
            delay: Duration::from_millis(20),
            make: |i| order(1_000_000 + i as i64),
        };
        let r = run(config(Path::new(&path)), source, 1000).await;
        panic!(
            "the child should have been killed, but its load ended: {:?}",
            r.status
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("killed.db");
    let old = run(
        config(&path),
        MemorySource::new((1..=1000).map(order).collect()),
        500,
    )
    .await;
    assert!(old.is_success(), "{:?}", old.error);
    let mut child = support::spawn_test_child(
        "sigkill_mid_load_keeps_the_old_data_and_a_usable_file",
        &[(SIGKILL_CHILD, path.as_os_str())],
    );
    // Wait until uncommitted pages of the child's transaction are on disk: its page cache
    // (2 MiB) spilled into the write-ahead log.
    let wal = dir.path().join("killed.db-wal");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&wal).map_or(0, |m| m.len()) < 1 << 20 {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the child exited before it was killed: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "the child's load never spilled to disk"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL"); // Command::kill sends SIGKILL on Unix
    assert!(!child.wait().expect("wait").success());

    let conn = rusqlite::Connection::open(&path).expect("open after the kill");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(check, "ok");
    assert_eq!(read_table(&conn), sums(1..=1000), "the old rows, only them");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("tables")
        .collect::<Result<_, _>>()
        .expect("names");
    assert_eq!(tables, ["t"], "no stray tables");
    drop(conn);
    // The file is not left locked: the next run replaces the table.
    let next = run(
        config(&path),
        MemorySource::new((1..=10).map(order).collect()),
        10,
    )
    .await;
    assert!(next.is_success(), "{:?}", next.error);
    let conn = rusqlite::Connection::open(&path).expect("open");
    assert_eq!(read_table(&conn), sums(1..=10));
}

#[tokio::test]
async fn a_database_not_in_wal_mode_gets_its_journal_mode_back_after_a_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.db");
    let journal_mode = |path: &Path| -> String {
        rusqlite::Connection::open(path)
            .expect("open")
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("journal_mode")
    };
    {
        let conn = rusqlite::Connection::open(&path).expect("create");
        conn.execute_batch("CREATE TABLE other (x)")
            .expect("set up");
    }
    // A rollback-journal database (the file records only WAL or not).
    assert_eq!(journal_mode(&path), "delete");
    for (rows, expected) in [(5, 5), (0, 5)] {
        let report = run(
            config(&path),
            MemorySource::new((1..=rows).map(order).collect()),
            10,
        )
        .await;
        assert!(report.is_success(), "{:?}", report.error);
        assert_eq!(journal_mode(&path), "delete", "after a load of {rows} rows");
        let conn = rusqlite::Connection::open(&path).expect("open");
        assert_eq!(read_table(&conn).0, expected);
    }
    // A database already in WAL mode stays in it.
    let wal = dir.path().join("wal.db");
    rusqlite::Connection::open(&wal)
        .expect("create")
        .execute_batch("PRAGMA journal_mode = WAL")
        .expect("wal");
    let report = run(
        config(&wal),
        MemorySource::new((1..=3).map(order).collect()),
        10,
    )
    .await;
    assert!(report.is_success(), "{:?}", report.error);
    assert_eq!(journal_mode(&wal), "wal");
}
