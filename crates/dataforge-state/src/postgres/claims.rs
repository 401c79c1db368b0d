//! Run claims in `{schema}.run_claims`, one row per scheduled `(pipeline, logical date)`: who
//! runs it (`owner`), as which `attempt`, in which `status` (`queued`, `running`, `success`,
//! `failed`) and until when its lease holds (`lease_until`, always against the database's
//! `now()`, never a process's clock).
//!
//! Each operation is one statement, atomic on its own, so it can share the store's pipelined
//! connection with other calls: a claim locks the row it takes with `FOR UPDATE SKIP LOCKED`
//! (two claimers never both get it, and neither waits for the other), and renewing or
//! finishing a claim matches its owner and attempt, so an owner whose run was taken over
//! changes nothing.

use std::time::Duration;

use dataforge_core::{Claim, ClaimRequest, RunRecord, RunState};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use super::rows;

/// The rows another claim may take: new or released (`queued`), or running with a lapsed lease.
const CLAIMABLE: &str = "(status = 'queued' OR (status = 'running' AND lease_until < now()))";

/// A lease as the `double precision` seconds `make_interval` takes.
fn seconds(lease: Duration) -> f64 {
    lease.as_secs_f64()
}

/// The claim a row of `RETURNING pipeline_id, logical_date, data_interval_end, run_id,
/// attempt` grants to `owner`.
fn claim_from(row: &Row, owner: &str) -> Claim {
    let mut claim = ClaimRequest::new(
        row.get::<_, String>(0),
        row.get(1),
        row.get(2),
        owner,
        row.get::<_, String>(3),
        Duration::ZERO,
    )
    .granted();
    claim.attempt = u32::try_from(row.get::<_, i64>(4)).unwrap_or(u32::MAX);
    claim
}

/// The `UPDATE` that takes the claimable row `pick` selects for `$1` (owner) with a lease of
/// `$2` seconds, as its next attempt.
fn take(schema: &str, pick: &str) -> String {
    format!(
        "UPDATE {schema}.run_claims c
         SET owner = $1, status = 'running', attempt = c.attempt + 1,
             lease_until = now() + make_interval(secs => $2), updated_at = now()
         FROM ({pick} FOR UPDATE SKIP LOCKED) s
         WHERE c.pipeline_id = s.pipeline_id AND c.logical_date = s.logical_date
         RETURNING c.pipeline_id, c.logical_date, c.data_interval_end, c.run_id, c.attempt"
    )
}

/// Claims the run `request` describes: its row is created (`queued`) if absent, then taken
/// if claimable.
pub(super) async fn claim_run(
    client: &Client,
    schema: &str,
    request: &ClaimRequest,
) -> Result<Option<Claim>, tokio_postgres::Error> {
    let insert = format!(
        "INSERT INTO {schema}.run_claims
            (pipeline_id, logical_date, data_interval_end, run_id, status, attempt, lease_until)
         VALUES ($1, $2, $3, $4, 'queued', 0, now())
         ON CONFLICT (pipeline_id, logical_date) DO NOTHING"
    );
    client
        .execute(
            &insert,
            &[
                &request.pipeline_id,
                &request.logical_date,
                &request.data_interval_end,
                &request.run_id,
            ],
        )
        .await?;
    let pick = format!(
        "SELECT pipeline_id, logical_date FROM {schema}.run_claims
         WHERE pipeline_id = $3 AND logical_date = $4 AND {CLAIMABLE}"
    );
    let row = client
        .query_opt(
            &take(schema, &pick),
            &[
                &request.owner,
                &seconds(request.lease),
                &request.pipeline_id,
                &request.logical_date,
            ],
        )
        .await?;
    Ok(row.map(|r| claim_from(&r, &request.owner)))
}

/// Claims the claimable run of `pipeline_ids` with the earliest logical date.
pub(super) async fn claim_orphan(
    client: &Client,
    schema: &str,
    pipeline_ids: &[String],
    owner: &str,
    lease: Duration,
) -> Result<Option<Claim>, tokio_postgres::Error> {
    let pick = format!(
        "SELECT pipeline_id, logical_date FROM {schema}.run_claims
         WHERE pipeline_id = ANY($3) AND {CLAIMABLE}
         ORDER BY logical_date LIMIT 1"
    );
    let row = client
        .query_opt(
            &take(schema, &pick),
            &[&owner, &seconds(lease), &pipeline_ids],
        )
        .await?;
    Ok(row.map(|r| claim_from(&r, owner)))
}

/// The `WHERE` that matches a claim still held by its owner and attempt, its parameters
/// numbered from `$n` (see [`held_params`]).
fn held(n: usize) -> String {
    format!(
        "pipeline_id = ${} AND logical_date = ${} AND owner = ${} AND attempt = ${} \
         AND status = 'running'",
        n,
        n + 1,
        n + 2,
        n + 3
    )
}

/// The parameters of [`held`].
fn held_params(claim: &Claim) -> Vec<Box<dyn ToSql + Sync + Send>> {
    vec![
        Box::new(claim.pipeline_id.clone()),
        Box::new(claim.logical_date),
        Box::new(claim.owner.clone()),
        Box::new(i64::from(claim.attempt)),
    ]
}

/// Extends a held claim's lease; false when it is no longer held.
pub(super) async fn renew(
    client: &Client,
    schema: &str,
    claim: &Claim,
    lease: Duration,
) -> Result<bool, tokio_postgres::Error> {
    let sql = format!(
        "UPDATE {schema}.run_claims
         SET lease_until = now() + make_interval(secs => $5), updated_at = now()
         WHERE {}",
        held(1)
    );
    let mut values = held_params(claim);
    values.push(Box::new(seconds(lease)));
    Ok(client.execute(&sql, &rows::params(&values)).await? == 1)
}

/// The claim's status once its run ended as `state`: a cancelled run is released for another
/// scheduler (`queued`).
fn final_status(state: RunState) -> &'static str {
    match state {
        RunState::Success => "success",
        RunState::Cancelled | RunState::Queued => "queued",
        _ => "failed",
    }
}

/// Ends a held claim and records its run, in one statement: false, and nothing recorded, when
/// the claim is no longer held.
pub(super) async fn finish(
    client: &Client,
    schema: &str,
    claim: &Claim,
    record: &RunRecord,
) -> Result<bool, tokio_postgres::Error> {
    // The run's values are $1…$15; the claim's follow.
    let held = held(16);
    let sql = format!(
        "WITH held AS (
            UPDATE {schema}.run_claims
            SET status = $20::text, attempt = greatest(attempt, $8), lease_until = now(),
                owner = CASE WHEN $20 = 'queued' THEN NULL ELSE owner END, updated_at = now()
            WHERE {held}
            RETURNING 1
         )
         {}",
        rows::upsert_sql(schema, &format!("SELECT {} FROM held", rows::VALUES))
    );
    let mut values = rows::values(record);
    values.extend(held_params(claim));
    values.push(Box::new(final_status(record.status)));
    Ok(client.execute(&sql, &rows::params(&values)).await? == 1)
}
