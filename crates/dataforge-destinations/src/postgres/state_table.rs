//! The state committed with the data: `"<schema>"."dataforge_state"`, one row per pipeline,
//! written inside the load's transaction so a row and the cursor that covers it commit
//! together or not at all (see `Destination::commits_state`).
//!
//! ```sql
//! CREATE TABLE "<schema>"."dataforge_state" (
//!     pipeline_id text PRIMARY KEY, state jsonb NOT NULL,
//!     run_id text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())
//! ```

use dataforge_core::{ComponentError, State};
use tokio_postgres::Client;

use super::ddl::TableName;
use super::error::{PostgresError, query_error};

/// The state table's name, in the destination's schema.
pub(crate) const STATE_TABLE: &str = "dataforge_state";

/// The state table beside `table` (same schema).
pub(crate) fn state_table(table: &TableName) -> TableName {
    TableName {
        schema: table.schema.clone(),
        table: STATE_TABLE.to_owned(),
    }
}

/// Writes `state` as the committed state of `pipeline` in the open transaction, creating the
/// table when it is missing (under an advisory lock, so two first loads do not race).
///
/// # Errors
/// When a statement fails or the state cannot be encoded.
pub(crate) async fn write(
    client: &Client,
    table: &TableName,
    pipeline: &str,
    run_id: &str,
    state: &State,
) -> Result<(), ComponentError> {
    let quoted = table.quoted();
    let err = |action: &str| query_error(action, table);
    let exists: Option<String> = client
        .query_one("SELECT to_regclass($1)::text", &[&quoted])
        .await
        .map_err(err("look up the state table"))?
        .get(0);
    if exists.is_none() {
        client
            .execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[&super::lock::NAMESPACE, &quoted],
            )
            .await
            .map_err(err("lock the state table's creation"))?;
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {quoted} (pipeline_id text PRIMARY KEY, \
             state jsonb NOT NULL, run_id text NOT NULL, \
             updated_at timestamptz NOT NULL DEFAULT now())"
        );
        client
            .batch_execute(&sql)
            .await
            .map_err(err("create the state table"))?;
    }
    let json = serde_json::to_string(state).map_err(|source| {
        PostgresError::StateJson {
            table: table.display(),
            pipeline: pipeline.to_owned(),
            source,
        }
        .into_component()
    })?;
    let sql = format!(
        "INSERT INTO {quoted} (pipeline_id, state, run_id, updated_at) \
         VALUES ($1, $2::text::jsonb, $3, now()) ON CONFLICT (pipeline_id) DO UPDATE \
         SET state = excluded.state, run_id = excluded.run_id, updated_at = excluded.updated_at"
    );
    client
        .execute(&sql, &[&pipeline, &json, &run_id])
        .await
        .map_err(err("write the state"))?;
    tracing::debug!(table = %table.display(), pipeline, "state written in the load's transaction");
    Ok(())
}

/// The committed state of `pipeline`, or `None` when the table or its row is missing.
///
/// # Errors
/// When a query fails or the stored state is not a JSON object.
pub(crate) async fn read(
    client: &Client,
    table: &TableName,
    pipeline: &str,
) -> Result<Option<State>, ComponentError> {
    let quoted = table.quoted();
    let err = |action: &str| query_error(action, table);
    let exists: Option<String> = client
        .query_one("SELECT to_regclass($1)::text", &[&quoted])
        .await
        .map_err(err("look up the state table"))?
        .get(0);
    if exists.is_none() {
        return Ok(None);
    }
    let sql = format!("SELECT state::text FROM {quoted} WHERE pipeline_id = $1");
    let Some(row) = client
        .query_opt(&sql, &[&pipeline])
        .await
        .map_err(err("read the state"))?
    else {
        return Ok(None);
    };
    let text: String = row.get(0);
    serde_json::from_str(&text).map(Some).map_err(|source| {
        PostgresError::StateJson {
            table: table.display(),
            pipeline: pipeline.to_owned(),
            source,
        }
        .into_component()
    })
}
