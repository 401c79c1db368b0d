//! The SQLite schema, as versioned migrations applied once under `BEGIN IMMEDIATE`.

use rusqlite::{Connection, TransactionBehavior};

/// The migrations, in order: `(version, SQL)`. Plain `CREATE` (no `IF NOT EXISTS`): applying
/// one twice fails loudly rather than passing unnoticed.
pub(super) const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE runs (
            run_id              TEXT PRIMARY KEY,
            pipeline_id         TEXT NOT NULL,
            logical_date        TEXT NOT NULL,
            data_interval_start TEXT NOT NULL,
            data_interval_end   TEXT NOT NULL,
            run_trigger         TEXT NOT NULL,
            status              TEXT NOT NULL,
            attempts            INTEGER NOT NULL,
            rows_extracted      INTEGER NOT NULL,
            rows_rejected       INTEGER NOT NULL,
            rows_loaded         INTEGER NOT NULL,
            started_at          TEXT,
            ended_at            TEXT,
            duration_seconds    REAL,
            error               TEXT,
            updated_at          TEXT NOT NULL
        );
        CREATE INDEX runs_pipeline_logical_date ON runs (pipeline_id, logical_date);",
    ),
    (
        2,
        "CREATE TABLE cursors (
            pipeline_id TEXT PRIMARY KEY,
            state       TEXT NOT NULL,
            updated_at  TEXT NOT NULL
        );",
    ),
];

/// Brings the database to the latest version. `BEGIN IMMEDIATE` takes the write lock before
/// the version is read, so a second process waits (busy timeout), then finds nothing to do.
pub(super) fn migrate(conn: &mut Connection, now: &str) -> rusqlite::Result<Vec<i64>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER PRIMARY KEY,
            applied_at TEXT NOT NULL
        )",
    )?;
    let current: i64 = tx.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    if current > crate::SCHEMA_VERSION {
        tracing::warn!(
            found = current,
            known = crate::SCHEMA_VERSION,
            "the state database was migrated by a newer dataforge"
        );
    }
    let mut applied = Vec::new();
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            rusqlite::params![version, now],
        )?;
        applied.push(*version);
    }
    tx.commit()?;
    Ok(applied)
}
