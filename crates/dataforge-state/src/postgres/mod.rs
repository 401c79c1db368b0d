//! [`PostgresStateStore`]: cursors and run history in PostgreSQL tables (schema `dataforge`),
//! shared by every process that points `DATAFORGE_STATE_URL` at the same database.

mod claims;
mod migrations;
mod rows;

use std::sync::Arc;
use std::time::Duration;

use dataforge_core::{
    Claim, ClaimRequest, Connection, RunQuery, RunRecord, State, StateError, StateStore,
    async_trait,
};
use postgres_protocol::escape::escape_identifier;
use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

use crate::StoreError;

/// Cursors and run history in PostgreSQL.
///
/// The tables live in one schema (`dataforge` unless [`Self::connect_in_schema`] says
/// otherwise), created with the schema on first use by versioned migrations that take an
/// advisory lock, so processes starting together apply each migration once. Statements are
/// single upserts, each atomic; a lost connection is reopened on the next call.
///
/// ```no_run
/// use dataforge_state::PostgresStateStore;
///
/// # async fn demo() -> Result<(), dataforge_state::StoreError> {
/// let store = PostgresStateStore::connect("postgres://dataforge@db.internal/etl?sslmode=require").await?;
/// # Ok(()) }
/// ```
pub struct PostgresStateStore {
    conn: Connection,
    schema: String,
    quoted: String,
    client: tokio::sync::Mutex<Arc<Client>>,
}

impl std::fmt::Debug for PostgresStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStateStore")
            .field("conn", &self.conn)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PostgresStateStore {
    /// The schema the tables live in by default.
    pub const DEFAULT_SCHEMA: &'static str = "dataforge";

    /// Connects to `url` (TLS by its `sslmode`) and migrates the `dataforge` schema.
    ///
    /// # Errors
    /// [`StoreError`]: a bad URI, a connection or authentication failure, or a failed
    /// migration.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_in_schema(url, Self::DEFAULT_SCHEMA).await
    }

    /// As [`Self::connect`], with the tables in `schema` (tests use one schema each).
    ///
    /// # Errors
    /// As [`Self::connect`].
    pub async fn connect_in_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        let conn = Connection::parse("dataforge_state", url).map_err(StoreError::Url)?;
        let mut client = dataforge_hooks::postgres::connect(&conn)
            .await
            .map_err(StoreError::Connect)?;
        let quoted = escape_identifier(schema);
        let applied = migrations::migrate(&mut client, schema, &quoted)
            .await
            .map_err(|source| StoreError::Postgres {
                target: target(&conn, schema),
                action: "migrate the schema",
                source,
            })?;
        if !applied.is_empty() {
            tracing::info!(
                database = %conn.redacted(),
                schema,
                versions = ?applied,
                "state database migrated"
            );
        }
        Ok(Self {
            conn,
            schema: schema.to_owned(),
            quoted,
            client: tokio::sync::Mutex::new(Arc::new(client)),
        })
    }

    /// The schema the tables are in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The client, reconnected when the last one was closed.
    async fn client(&self) -> Result<Arc<Client>, StoreError> {
        let mut client = self.client.lock().await;
        if client.is_closed() {
            tracing::info!(database = %self.conn.redacted(), "reconnecting to the state database");
            let fresh = dataforge_hooks::postgres::connect(&self.conn)
                .await
                .map_err(StoreError::Connect)?;
            *client = Arc::new(fresh);
        }
        Ok(client.clone())
    }

    fn err(&self, action: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StoreError + '_ {
        move |source| StoreError::Postgres {
            target: target(&self.conn, &self.schema),
            action,
            source,
        }
    }
}

/// The database as errors name it: the redacted URI and the schema.
fn target(conn: &Connection, schema: &str) -> String {
    format!("{} (schema {schema})", conn.redacted())
}

#[async_trait]
impl StateStore for PostgresStateStore {
    async fn load(&self, pipeline_id: &str) -> Result<State, StateError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT state FROM {}.cursors WHERE pipeline_id = $1",
            self.quoted
        );
        let row = client
            .query_opt(&sql, &[&pipeline_id])
            .await
            .map_err(self.err("read a cursor"))?;
        let Some(row) = row else {
            return Ok(State::new());
        };
        let value: serde_json::Value = row.get(0);
        serde_json::from_value(value).map_err(|e| {
            StoreError::Corrupt {
                target: target(&self.conn, &self.schema),
                detail: format!("the cursor of `{pipeline_id}` is not a JSON object: {e}"),
            }
            .into()
        })
    }

    async fn save(&self, pipeline_id: &str, state: &State) -> Result<(), StateError> {
        let value = serde_json::to_value(state).map_err(|e| StateError::Other(e.into()))?;
        let client = self.client().await?;
        let sql = format!(
            "INSERT INTO {}.cursors (pipeline_id, state, updated_at) VALUES ($1, $2, now())
             ON CONFLICT (pipeline_id) DO UPDATE
             SET state = excluded.state, updated_at = excluded.updated_at",
            self.quoted
        );
        client
            .execute(&sql, &[&pipeline_id, &value])
            .await
            .map_err(self.err("save a cursor"))?;
        Ok(())
    }

    fn keeps_history(&self) -> bool {
        true
    }

    async fn record_run(&self, run: &RunRecord) -> Result<(), StateError> {
        let client = self.client().await?;
        rows::upsert(&client, &self.quoted, run)
            .await
            .map_err(self.err("record a run"))?;
        Ok(())
    }

    async fn runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>, StateError> {
        let mut sql = format!(
            "SELECT {} FROM {}.runs WHERE true",
            rows::COLUMNS,
            self.quoted
        );
        let status = query.status.map(|s| s.as_str());
        let limit = query.limit.map(|l| rows::count(l as u64));
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
        if let Some(p) = &query.pipeline_id {
            params.push(p);
            sql.push_str(&format!(" AND pipeline_id = ${}", params.len()));
        }
        if let Some(s) = &status {
            params.push(s);
            sql.push_str(&format!(" AND status = ${}", params.len()));
        }
        // Run ids compare byte-wise, as in SQLite and in Rust, whatever the collation.
        sql.push_str(
            " ORDER BY logical_date DESC, started_at DESC NULLS LAST, run_id COLLATE \"C\" DESC",
        );
        if let Some(l) = &limit {
            params.push(l);
            sql.push_str(&format!(" LIMIT ${}", params.len()));
        }
        let client = self.client().await?;
        let found = client
            .query(&sql, &params)
            .await
            .map_err(self.err("read runs"))?;
        found
            .iter()
            .map(|row| {
                rows::from_row(row).map_err(|detail| {
                    StoreError::Corrupt {
                        target: target(&self.conn, &self.schema),
                        detail,
                    }
                    .into()
                })
            })
            .collect()
    }

    fn coordinates_runs(&self) -> bool {
        true
    }

    async fn claim_run(&self, request: &ClaimRequest) -> Result<Option<Claim>, StateError> {
        let client = self.client().await?;
        Ok(claims::claim_run(&client, &self.quoted, request)
            .await
            .map_err(self.err("claim a run"))?)
    }

    async fn claim_orphan(
        &self,
        pipeline_ids: &[String],
        owner: &str,
        lease: Duration,
    ) -> Result<Option<Claim>, StateError> {
        let client = self.client().await?;
        Ok(
            claims::claim_orphan(&client, &self.quoted, pipeline_ids, owner, lease)
                .await
                .map_err(self.err("claim a run whose lease lapsed"))?,
        )
    }

    async fn renew_claim(&self, claim: &Claim, lease: Duration) -> Result<bool, StateError> {
        let client = self.client().await?;
        Ok(claims::renew(&client, &self.quoted, claim, lease)
            .await
            .map_err(self.err("renew a run's lease"))?)
    }

    async fn finish_claim(&self, claim: &Claim, record: &RunRecord) -> Result<bool, StateError> {
        let client = self.client().await?;
        Ok(claims::finish(&client, &self.quoted, claim, record)
            .await
            .map_err(self.err("finish a run's claim"))?)
    }
}
