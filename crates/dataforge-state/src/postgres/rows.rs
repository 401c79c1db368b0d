//! [`RunRecord`]s to and from PostgreSQL rows.

use dataforge_core::{RunRecord, RunState, RunTrigger};
use tokio_postgres::{Client, Row};

/// The columns of `runs`, in the order [`from_row`] reads them.
pub(super) const COLUMNS: &str = "pipeline_id, run_id, logical_date, data_interval_start, \
    data_interval_end, run_trigger, status, attempts, rows_extracted, rows_rejected, rows_loaded, \
    started_at, ended_at, duration_seconds, error";

/// A count as stored (`bigint` is signed; counts never reach 2^63).
pub(super) fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn uncount(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A run from a row selected with [`COLUMNS`]; the error says which value is unknown.
pub(super) fn from_row(row: &Row) -> Result<RunRecord, String> {
    let trigger: String = row.get(5);
    let status: String = row.get(6);
    let mut run = RunRecord::new(
        row.get::<_, String>(0),
        row.get::<_, String>(1),
        row.get(2),
        RunTrigger::parse(&trigger).ok_or_else(|| format!("unknown run trigger `{trigger}`"))?,
    )
    .with_data_interval(row.get(3), row.get(4));
    run.status =
        RunState::parse(&status).ok_or_else(|| format!("unknown run status `{status}`"))?;
    run.attempts = u32::try_from(row.get::<_, i64>(7)).unwrap_or(0);
    run.rows_extracted = uncount(row.get(8));
    run.rows_rejected = uncount(row.get(9));
    run.rows_loaded = uncount(row.get(10));
    run.started_at = row.get(11);
    run.ended_at = row.get(12);
    run.duration_seconds = row.get(13);
    run.error = row.get(14);
    Ok(run)
}

/// Inserts `run` into `{schema}.runs`, or replaces every column of the run with its id.
pub(super) async fn upsert(
    client: &Client,
    schema: &str,
    run: &RunRecord,
) -> Result<(), tokio_postgres::Error> {
    let sql = format!(
        "INSERT INTO {schema}.runs (pipeline_id, run_id, logical_date, data_interval_start,
            data_interval_end, run_trigger, status, attempts, rows_extracted, rows_rejected,
            rows_loaded, started_at, ended_at, duration_seconds, error, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, now())
         ON CONFLICT (run_id) DO UPDATE SET
            pipeline_id = excluded.pipeline_id, logical_date = excluded.logical_date,
            data_interval_start = excluded.data_interval_start,
            data_interval_end = excluded.data_interval_end, run_trigger = excluded.run_trigger,
            status = excluded.status, attempts = excluded.attempts,
            rows_extracted = excluded.rows_extracted, rows_rejected = excluded.rows_rejected,
            rows_loaded = excluded.rows_loaded, started_at = excluded.started_at,
            ended_at = excluded.ended_at, duration_seconds = excluded.duration_seconds,
            error = excluded.error, updated_at = excluded.updated_at"
    );
    client
        .execute(
            &sql,
            &[
                &run.pipeline_id,
                &run.run_id,
                &run.logical_date,
                &run.data_interval_start,
                &run.data_interval_end,
                &run.trigger.as_str(),
                &run.status.as_str(),
                &i64::from(run.attempts),
                &count(run.rows_extracted),
                &count(run.rows_rejected),
                &count(run.rows_loaded),
                &run.started_at,
                &run.ended_at,
                &run.duration_seconds,
                &run.error,
            ],
        )
        .await?;
    Ok(())
}
