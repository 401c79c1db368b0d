//! [`RunRecord`]s to and from SQLite rows: timestamps as fixed-width RFC 3339 text (UTC,
//! microseconds), so text order is time order.

use chrono::{DateTime, SecondsFormat, Utc};
use dataforge_core::{RunRecord, RunState, RunTrigger};

/// The columns of `runs`, in the order [`from_row`] reads them.
pub(super) const COLUMNS: &str = "pipeline_id, run_id, logical_date, data_interval_start, \
    data_interval_end, run_trigger, status, attempts, rows_extracted, rows_rejected, rows_loaded, \
    started_at, ended_at, duration_seconds, error";

/// A timestamp as stored.
pub(super) fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(i: usize, s: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
        })
}

fn ts_at(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<DateTime<Utc>> {
    parse_ts(i, &row.get::<_, String>(i)?)
}

fn opt_ts_at(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    row.get::<_, Option<String>>(i)?
        .map(|s| parse_ts(i, &s))
        .transpose()
}

fn bad_name(i: usize, name: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        i,
        rusqlite::types::Type::Text,
        format!("unknown value `{name}`").into(),
    )
}

/// A count as stored (SQLite integers are signed; counts never reach 2^63).
pub(super) fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn count_at(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(row.get::<_, i64>(i)?).unwrap_or(0))
}

/// A run from a row selected with [`COLUMNS`].
pub(super) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let trigger: String = row.get(5)?;
    let status: String = row.get(6)?;
    let mut run = RunRecord::new(
        row.get::<_, String>(0)?,
        row.get::<_, String>(1)?,
        ts_at(row, 2)?,
        RunTrigger::parse(&trigger).ok_or_else(|| bad_name(5, &trigger))?,
    )
    .with_data_interval(ts_at(row, 3)?, ts_at(row, 4)?);
    run.status = RunState::parse(&status).ok_or_else(|| bad_name(6, &status))?;
    run.attempts = u32::try_from(row.get::<_, i64>(7)?).unwrap_or(0);
    run.rows_extracted = count_at(row, 8)?;
    run.rows_rejected = count_at(row, 9)?;
    run.rows_loaded = count_at(row, 10)?;
    run.started_at = opt_ts_at(row, 11)?;
    run.ended_at = opt_ts_at(row, 12)?;
    run.duration_seconds = row.get(13)?;
    run.error = row.get(14)?;
    Ok(run)
}

/// Inserts `run`, or replaces every column of the run with its id.
pub(super) fn upsert(
    conn: &rusqlite::Connection,
    run: &RunRecord,
    now: &str,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO runs (pipeline_id, run_id, logical_date, data_interval_start,
            data_interval_end, run_trigger, status, attempts, rows_extracted, rows_rejected,
            rows_loaded, started_at, ended_at, duration_seconds, error, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
         ON CONFLICT (run_id) DO UPDATE SET
            pipeline_id = excluded.pipeline_id, logical_date = excluded.logical_date,
            data_interval_start = excluded.data_interval_start,
            data_interval_end = excluded.data_interval_end, run_trigger = excluded.run_trigger,
            status = excluded.status, attempts = excluded.attempts,
            rows_extracted = excluded.rows_extracted, rows_rejected = excluded.rows_rejected,
            rows_loaded = excluded.rows_loaded, started_at = excluded.started_at,
            ended_at = excluded.ended_at, duration_seconds = excluded.duration_seconds,
            error = excluded.error, updated_at = excluded.updated_at",
    )?;
    stmt.execute(rusqlite::params![
        run.pipeline_id,
        run.run_id,
        ts(&run.logical_date),
        ts(&run.data_interval_start),
        ts(&run.data_interval_end),
        run.trigger.as_str(),
        run.status.as_str(),
        i64::from(run.attempts),
        count(run.rows_extracted),
        count(run.rows_rejected),
        count(run.rows_loaded),
        run.started_at.as_ref().map(ts),
        run.ended_at.as_ref().map(ts),
        run.duration_seconds,
        run.error,
        now,
    ])?;
    Ok(())
}
