//! The `sequence` source: numbered rows from a cursor kept in the pipeline's state, after
//! checking that its connection resolves (as a source of a real API would).

use dataforge_core::schemars::{self, JsonSchema};
use dataforge_core::{
    BatchSender, ComponentError, ConfigErrors, ConfigIssue, Decimal, Record, RunContext, Source,
    SourceFactory, Value, async_trait, serde_json,
};
use serde::Deserialize;

/// Config: `{"type": "sequence", "conn_id": "numbers", "rows": 3}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SequenceConfig {
    /// The connection to resolve before reading (its host lands in each row).
    pub conn_id: String,
    /// Rows per run.
    pub rows: u64,
}

/// Emits `rows` rows numbered on from the last committed run's cursor.
#[derive(Debug)]
pub struct Sequence {
    conn_id: String,
    rows: u64,
}

/// The state key of the next id.
const CURSOR: &str = "next_id";

#[async_trait]
impl Source for Sequence {
    async fn extract(&self, ctx: &RunContext, out: &mut BatchSender) -> Result<(), ComponentError> {
        // `?`: a missing connection is fatal; one the provider says is unavailable is retried.
        let conn = ctx.connection(&self.conn_id).await?;
        let host = conn.host().map(str::to_owned);
        let first: u64 = match ctx.state().get(CURSOR) {
            None => 1,
            Some(saved) => u64::try_from(&Value::from(saved.clone()))
                .map_err(|e| ComponentError::msg(format!("state `{CURSOR}`: {e}")))?,
        };
        let mut batch = Vec::with_capacity(ctx.batch_size());
        for id in first..first + self.rows {
            let mut row = Record::with_capacity(4);
            row.push_unchecked("id", id); // u64
            row.push_unchecked("price", Decimal::from(id) * Decimal::new(250, 2)); // Decimal
            row.push_unchecked("at", ctx.logical_date()); // DateTime<Utc>
            row.push_unchecked("host", host.clone()); // Option<String>
            batch.push(row);
            if batch.len() == ctx.batch_size() {
                out.send(std::mem::take(&mut batch)).await?;
            }
        }
        if !batch.is_empty() {
            out.send(batch).await?;
        }
        // Saved only if the load commits.
        ctx.state()
            .set(CURSOR, serde_json::json!(first + self.rows));
        Ok(())
    }
}

/// Registers `sequence`.
pub struct SequenceFactory;

impl SourceFactory for SequenceFactory {
    const NAME: &'static str = "sequence";
    const DESCRIPTION: &'static str =
        "Numbered rows from a cursor in the pipeline's state (example of a downstream source)";
    type Config = SequenceConfig;

    fn build(config: SequenceConfig) -> Result<impl Source, ConfigErrors> {
        if config.rows == 0 {
            return Err(ConfigIssue::at("rows", "must be at least 1").into());
        }
        Ok(Sequence {
            conn_id: config.conn_id,
            rows: config.rows,
        })
    }
}
