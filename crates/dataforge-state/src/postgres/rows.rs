//! [`RunRecord`]s to and from PostgreSQL rows.

use dataforge_core::{RunRecord, RunState, RunTrigger};
use tokio_postgres::types::ToSql;
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

/// The `INSERT` of a run into `{schema}.runs` from `source` (`VALUES ($1, …)` or a
/// `SELECT $1, … FROM …` of the [`values`]), replacing every column of the run with its id.
pub(super) fn upsert_sql(schema: &str, source: &str) -> String {
    format!(
        "INSERT INTO {schema}.runs (pipeline_id, run_id, logical_date, data_interval_start,
            data_interval_end, run_trigger, status, attempts, rows_extracted, rows_rejected,
            rows_loaded, started_at, ended_at, duration_seconds, error, updated_at)
         {source}
         ON CONFLICT (run_id) DO UPDATE SET
            pipeline_id = excluded.pipeline_id, logical_date = excluded.logical_date,
            data_interval_start = excluded.data_interval_start,
            data_interval_end = excluded.data_interval_end, run_trigger = excluded.run_trigger,
            status = excluded.status, attempts = excluded.attempts,
            rows_extracted = excluded.rows_extracted, rows_rejected = excluded.rows_rejected,
            rows_loaded = excluded.rows_loaded, started_at = excluded.started_at,
            ended_at = excluded.ended_at, duration_seconds = excluded.duration_seconds,
            error = excluded.error, updated_at = excluded.updated_at"
    )
}

/// The parameters `$1`…`$15` of [`upsert_sql`]: a run's values, in column order, typed (a
/// `SELECT` does not take its parameters' types from the columns as `VALUES` does).
pub(super) const VALUES: &str = "$1::text, $2::text, $3::timestamptz, $4::timestamptz, \
    $5::timestamptz, $6::text, $7::text, $8::int8, $9::int8, $10::int8, $11::int8, \
    $12::timestamptz, $13::timestamptz, $14::float8, $15::text, now()";

/// A run's values for [`VALUES`], owned.
pub(super) fn values(run: &RunRecord) -> Vec<Box<dyn ToSql + Sync + Send>> {
    vec![
        Box::new(run.pipeline_id.clone()),
        Box::new(run.run_id.clone()),
        Box::new(run.logical_date),
        Box::new(run.data_interval_start),
        Box::new(run.data_interval_end),
        Box::new(run.trigger.as_str()),
        Box::new(run.status.as_str()),
        Box::new(i64::from(run.attempts)),
        Box::new(count(run.rows_extracted)),
        Box::new(count(run.rows_rejected)),
        Box::new(count(run.rows_loaded)),
        Box::new(run.started_at),
        Box::new(run.ended_at),
        Box::new(run.duration_seconds),
        Box::new(run.error.clone()),
    ]
}

/// Borrows owned parameters as the driver takes them.
pub(super) fn params(values: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    values
        .iter()
        .map(|v| v.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// Inserts `run` into `{schema}.runs`, or replaces every column of the run with its id.
pub(super) async fn upsert(
    client: &Client,
    schema: &str,
    run: &RunRecord,
) -> Result<(), tokio_postgres::Error> {
    let sql = upsert_sql(schema, &format!("VALUES ({VALUES})"));
    let values = values(run);
    client.execute(&sql, &params(&values)).await?;
    Ok(())
}
