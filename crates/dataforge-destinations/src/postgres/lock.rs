//! One load at a time per PostgreSQL table: a transaction-scoped advisory lock.
//!
//! Taken right after `BEGIN`, before anything reads or changes the table, keyed on DataForge's
//! namespace and the quoted table name; released by `COMMIT`, `ROLLBACK` or the session's end
//! (a killed process never leaves it held). The session's `application_name` names the run, so
//! a run that waits too long can say which one holds the table.

use std::time::Duration;

use dataforge_core::{ComponentError, RunContext};
use tokio_postgres::Client;

use super::ddl::TableName;
use super::error::query_error;
use crate::target_lock::Waiter;

/// The first key of DataForge's advisory locks ("DFlk"), so they stay apart from others'.
pub(crate) const NAMESPACE: i32 = 0x4446_6c6b;

/// PostgreSQL keeps at most this many bytes of `application_name`.
const MAX_APPLICATION_NAME: usize = 63;

/// Waits (at most `timeout`) for the table's lock and takes it for the current transaction.
///
/// # Errors
/// When another run holds the table for the whole wait (naming it), the run is cancelled, or a
/// query fails.
pub(crate) async fn lock_table(
    client: &Client,
    table: &TableName,
    ctx: &RunContext,
    timeout: Duration,
) -> Result<(), ComponentError> {
    let key = table.quoted();
    let query_err = |action: &str| query_error(action, table);
    let name = application_name(ctx);
    client
        .execute("SELECT set_config('application_name', $1, false)", &[&name])
        .await
        .map_err(query_err("set application_name"))?;
    let shown = table.display();
    let mut wait = Waiter::new("postgres", &shown, ctx, timeout);
    loop {
        let row = client
            .query_one(
                "SELECT pg_try_advisory_xact_lock($1, hashtext($2))",
                &[&NAMESPACE, &key],
            )
            .await
            .map_err(query_err("lock the table"))?;
        if row.get::<_, bool>(0) {
            wait.done();
            return Ok(());
        }
        let who = if wait.wants_holder() {
            holder(client, &key).await
        } else {
            None
        };
        wait.pause(who).await?;
    }
}

/// Who holds the table's lock: its session's `application_name` (a DataForge run names
/// itself there), backend pid and how long its transaction has run.
async fn holder(client: &Client, key: &str) -> Option<String> {
    let row = client
        .query_opt(
            "SELECT a.application_name, a.pid, \
                    extract(epoch FROM now() - a.xact_start)::float8 \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted \
               AND l.classid = $1::int4::oid AND l.objid = hashtext($2)::oid AND l.objsubid = 2 \
             LIMIT 1",
            &[&NAMESPACE, &key],
        )
        .await
        .ok()??;
    let app: Option<String> = row.get(0);
    let pid: i32 = row.get(1);
    let secs: Option<f64> = row.get(2);
    let who = app
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "a session that has not named itself".into());
    Some(match secs {
        Some(s) => format!("{who}; PostgreSQL backend pid {pid}, loading for {s:.0}s"),
        None => format!("{who}; PostgreSQL backend pid {pid}"),
    })
}

/// `dataforge PIPELINE run RUN_ID`, the pipeline's name cut to fit PostgreSQL's limit.
fn application_name(ctx: &RunContext) -> String {
    let run = format!(" run {}", ctx.run_id());
    let room = MAX_APPLICATION_NAME.saturating_sub("dataforge ".len() + run.len());
    let name = format!("dataforge {}{run}", cut(ctx.pipeline_id(), room));
    cut(&name, MAX_APPLICATION_NAME)
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}
