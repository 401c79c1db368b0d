//! The `postgres` destination: one transaction per load, rows over one binary `COPY`.
//!
//! - `append`: `COPY` into the table.
//! - `replace`: `DELETE FROM` the table, then `COPY`, in the same transaction. Readers keep
//!   seeing the old rows (MVCC, at every isolation level) until the commit makes the new ones
//!   visible at once; the table itself (its OID) never changes, so indexes, constraints,
//!   grants, triggers and dependent views are untouched. A killed process never commits, and no
//!   side table exists to leak.
//! - `upsert`: `COPY` into a session-local temporary table (`ON COMMIT DROP`), then one
//!   `INSERT … SELECT DISTINCT ON (key) … ORDER BY key, row DESC ON CONFLICT (key) DO UPDATE …
//!   WHERE … IS DISTINCT FROM …`: the last row of a key wins, and unchanged rows are not
//!   rewritten (so re-running a load changes nothing).

use std::collections::HashMap;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use dataforge_core::value::CompactString;
use dataforge_core::{
    Batch, BatchReceiver, ComponentError, Destination, LoadSummary, Record, RunContext, Value,
    async_trait,
};
use futures::SinkExt;
use tokio_postgres::{Client, CopyInSink};

use super::config::PostgresConfig;
use super::copy::{Encoder, HEADER, TRAILER};
use super::ddl::{self, ServerColumn, TableName, ident, ident_list};
use super::error::PostgresError;
use crate::schema::{ColumnType, Inferrer};
use crate::write_mode::WriteMode;

/// Bytes of COPY data gathered before they are handed to the connection.
const FLUSH_BYTES: usize = 1 << 20;
/// The upsert staging table (temporary: private to the session, dropped at commit).
const STAGE: &str = "dataforge_upsert_stage";
/// The staging table's row-number column: the last row of a key wins.
const ROW_COL: &str = "__dataforge_row";

/// Loads batches into a PostgreSQL table.
#[derive(Debug, Clone)]
pub struct PostgresDestination {
    cfg: PostgresConfig,
    table: TableName,
    primary_key: Vec<String>,
    pre_sql: Vec<String>,
    post_sql: Vec<String>,
}

impl PostgresDestination {
    /// A destination for a validated config.
    pub(crate) fn new(cfg: PostgresConfig) -> Self {
        Self {
            table: TableName {
                schema: cfg.schema.clone(),
                table: cfg.table.clone(),
            },
            primary_key: cfg.primary_key.to_vec(),
            pre_sql: cfg.pre_sql.to_vec(),
            post_sql: cfg.post_sql.to_vec(),
            cfg,
        }
    }

    fn err(&self, action: &str) -> impl FnOnce(tokio_postgres::Error) -> ComponentError {
        let action = action.to_owned();
        let table = self.table.display();
        move |source| {
            PostgresError::Query {
                action,
                table,
                source,
            }
            .into_component()
        }
    }

    /// The SQL type for a new column: the user's override, else the inferred type.
    fn sql_type(&self, name: &str, inferred: ColumnType) -> String {
        self.cfg
            .columns
            .get(name)
            .cloned()
            .unwrap_or_else(|| inferred.postgres().to_owned())
    }

    async fn run(
        &self,
        client: &Client,
        buffer: Vec<Batch>,
        inferred: Vec<(CompactString, ColumnType)>,
        input: &mut BatchReceiver,
        ctx: &RunContext,
    ) -> Result<LoadSummary, ComponentError> {
        let upsert = self.cfg.write_mode == WriteMode::Upsert;
        client
            .batch_execute("BEGIN")
            .await
            .map_err(self.err("BEGIN"))?;
        // Before anything reads or changes the table: one load at a time into it.
        super::lock::lock_table(client, &self.table, ctx, self.cfg.lock_timeout.0).await?;
        for sql in &self.pre_sql {
            client
                .batch_execute(sql)
                .await
                .map_err(self.err("pre_sql"))?;
        }
        if self.cfg.create_schema {
            ddl::ensure_schema(client, &self.table)
                .await
                .map_err(PostgresError::into_component)?;
        }
        let existing = ddl::table_columns(client, &self.table)
            .await
            .map_err(PostgresError::into_component)?;
        let summary = |rows: u64, inserted: Option<u64>, updated: Option<u64>| LoadSummary {
            rows_loaded: rows,
            rows_inserted: inserted,
            rows_updated: updated,
            target: self.table.display(),
            note: None,
        };
        if inferred.is_empty() {
            // No rows with fields (`on_empty` decided the case of no rows at all): nothing to
            // create; `replace` still empties.
            if existing.is_some() && self.cfg.write_mode == WriteMode::Replace {
                let sql = format!("DELETE FROM {}", self.table.quoted());
                client
                    .batch_execute(&sql)
                    .await
                    .map_err(self.err("DELETE"))?;
            }
            self.finish(client).await?;
            tracing::warn!(table = %self.table.display(), "no rows to load");
            return Ok(summary(0, Some(0), upsert.then_some(0)));
        }
        let server = match existing {
            None => {
                let cols: Vec<(String, String)> = inferred
                    .iter()
                    .map(|(n, t)| (n.to_string(), self.sql_type(n, *t)))
                    .collect();
                let sql = ddl::create_table_sql(&self.table, &cols, &self.primary_key);
                tracing::info!(table = %self.table.display(), "creating table");
                client
                    .batch_execute(&sql)
                    .await
                    .map_err(self.err("CREATE TABLE"))?;
                self.server_columns(client).await?
            }
            Some(cols) => {
                let new: Vec<(String, String)> = inferred
                    .iter()
                    .filter(|(n, _)| !cols.iter().any(|c| c.name == n.as_str()))
                    .map(|(n, t)| (n.to_string(), self.sql_type(n, *t)))
                    .collect();
                if new.is_empty() {
                    cols
                } else {
                    tracing::info!(table = %self.table.display(), columns = ?new, "adding columns");
                    let sql = ddl::add_columns_sql(&self.table.quoted(), &new);
                    client
                        .batch_execute(&sql)
                        .await
                        .map_err(self.err("ADD COLUMN"))?;
                    self.server_columns(client).await?
                }
            }
        };
        if self.cfg.write_mode == WriteMode::Replace {
            let sql = format!("DELETE FROM {}", self.table.quoted());
            client
                .batch_execute(&sql)
                .await
                .map_err(self.err("DELETE"))?;
        }
        let names: Vec<&str> = inferred.iter().map(|(n, _)| n.as_str()).collect();
        let copy_target = if upsert {
            let sql = format!(
                "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {}, 0::int8 AS {} FROM {} WITH NO DATA",
                ident(STAGE),
                ident_list(names.iter().copied(), ""),
                ident(ROW_COL),
                self.table.quoted()
            );
            client
                .batch_execute(&sql)
                .await
                .map_err(self.err("CREATE TEMP TABLE"))?;
            format!("pg_temp.{}", ident(STAGE))
        } else {
            self.table.quoted()
        };
        let mut writer = CopyWriter {
            dest: self,
            client,
            target: copy_target,
            columns: Vec::new(),
            index: HashMap::new(),
            server,
            row_numbers: upsert,
            rows: 0,
            sink: None,
            buf: BytesMut::with_capacity(FLUSH_BYTES + (64 << 10)),
        };
        writer.add_columns(inferred.into_iter().map(|(n, _)| n))?;
        writer.start().await?;
        for batch in &buffer {
            writer.write_batch(batch).await?;
        }
        drop(buffer);
        loop {
            match input.recv().await {
                Ok(Some(batch)) => writer.write_batch(&batch).await?,
                Ok(None) => break,
                // The writer (and its COPY) is dropped on return: COPY fails, then we roll back.
                Err(e) => return Err(e),
            }
        }
        let rows = writer.rows;
        let columns: Vec<(String, bool)> = writer
            .columns
            .iter()
            .map(|c| (c.name.to_string(), c.json))
            .collect();
        writer.end().await?;
        let result = if upsert {
            let (inserted, updated) = self.merge(client, &columns).await?;
            summary(rows, Some(inserted), Some(updated))
        } else {
            summary(rows, Some(rows), None)
        };
        self.finish(client).await?;
        Ok(result)
    }

    async fn server_columns(&self, client: &Client) -> Result<Vec<ServerColumn>, ComponentError> {
        ddl::table_columns(client, &self.table)
            .await
            .map_err(PostgresError::into_component)?
            .ok_or_else(|| {
                ComponentError::fatal_msg(format!(
                    "postgres destination: {} disappeared during the load",
                    self.table.display()
                ))
            })
    }

    /// `post_sql`, then `COMMIT`.
    async fn finish(&self, client: &Client) -> Result<(), ComponentError> {
        for sql in &self.post_sql {
            client
                .batch_execute(sql)
                .await
                .map_err(self.err("post_sql"))?;
        }
        client
            .batch_execute("COMMIT")
            .await
            .map_err(self.err("COMMIT"))
    }

    /// Merges the staging table into the target; returns (inserted, updated).
    async fn merge(
        &self,
        client: &Client,
        columns: &[(String, bool)],
    ) -> Result<(u64, u64), ComponentError> {
        let all = ident_list(columns.iter().map(|(n, _)| n.as_str()), "");
        let key = ident_list(self.primary_key.iter().map(String::as_str), "");
        let rest: Vec<&(String, bool)> = columns
            .iter()
            .filter(|(n, _)| !self.primary_key.contains(n))
            .collect();
        let action = if rest.is_empty() {
            "DO NOTHING".to_owned()
        } else {
            let set = rest
                .iter()
                .map(|(n, _)| format!("{0} = EXCLUDED.{0}", ident(n)))
                .collect::<Vec<_>>()
                .join(", ");
            // `json` has no equality operator: compare its text.
            let side = |prefix: &str| {
                rest.iter()
                    .map(|(n, json)| {
                        let cast = if *json { "::text" } else { "" };
                        format!("{prefix}{}{cast}", ident(n))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                "DO UPDATE SET {set} WHERE ROW({}) IS DISTINCT FROM ROW({})",
                side("t."),
                side("EXCLUDED.")
            )
        };
        let sql = format!(
            "WITH up AS (\
               INSERT INTO {target} AS t ({all}) \
               SELECT DISTINCT ON ({key}) {all} FROM pg_temp.{stage} ORDER BY {key}, {row} DESC \
               ON CONFLICT ({key}) {action} \
               RETURNING (t.xmax = 0) AS inserted) \
             SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up",
            target = self.table.quoted(),
            stage = ident(STAGE),
            row = ident(ROW_COL),
        );
        let row = client
            .query_one(&sql, &[])
            .await
            .map_err(self.err("upsert merge"))?;
        let inserted: i64 = row.get(0);
        let updated: i64 = row.get(1);
        Ok((inserted.max(0) as u64, updated.max(0) as u64))
    }
}

/// One data column of the COPY.
struct Column {
    name: CompactString,
    enc: Encoder,
    type_text: String,
    key: bool,
    json: bool,
}

/// Streams rows into `COPY … FROM STDIN (FORMAT binary)`, adding columns as they appear.
struct CopyWriter<'a> {
    dest: &'a PostgresDestination,
    client: &'a Client,
    target: String,
    columns: Vec<Column>,
    index: HashMap<CompactString, usize>,
    server: Vec<ServerColumn>,
    row_numbers: bool,
    rows: u64,
    sink: Option<Pin<Box<CopyInSink<Bytes>>>>,
    buf: BytesMut,
}

impl CopyWriter<'_> {
    fn add_columns(
        &mut self,
        names: impl IntoIterator<Item = CompactString>,
    ) -> Result<(), ComponentError> {
        for name in names {
            let Some(sc) = self.server.iter().find(|c| c.name == name.as_str()) else {
                return Err(ComponentError::fatal_msg(format!(
                    "postgres destination: column `{name}` is missing from {} after it was added",
                    self.dest.table.display()
                )));
            };
            let enc = Encoder::for_type(&sc.ty).ok_or_else(|| {
                PostgresError::UnsupportedType {
                    table: self.dest.table.display(),
                    column: name.to_string(),
                    column_type: sc.type_text.clone(),
                }
                .into_component()
            })?;
            self.index.insert(name.clone(), self.columns.len());
            self.columns.push(Column {
                key: self.dest.primary_key.iter().any(|k| k == name.as_str()),
                json: enc == Encoder::Json,
                type_text: sc.type_text.clone(),
                name,
                enc,
            });
        }
        Ok(())
    }

    async fn start(&mut self) -> Result<(), ComponentError> {
        let mut cols = ident_list(self.columns.iter().map(|c| c.name.as_str()), "");
        if self.row_numbers {
            cols.push_str(", ");
            cols.push_str(&ident(ROW_COL));
        }
        let sql = format!("COPY {} ({cols}) FROM STDIN (FORMAT binary)", self.target);
        let sink = self
            .client
            .copy_in::<_, Bytes>(&sql)
            .await
            .map_err(self.dest.err("COPY"))?;
        self.sink = Some(Box::pin(sink));
        self.buf.put_slice(HEADER);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ComponentError> {
        let chunk = self.buf.split().freeze();
        match self.sink.as_mut() {
            Some(sink) => sink.send(chunk).await.map_err(self.dest.err("COPY")),
            None => Ok(()),
        }
    }

    /// Ends the current COPY (trailer, flush, wait for the server's count).
    async fn end(&mut self) -> Result<(), ComponentError> {
        self.buf.put_slice(TRAILER);
        self.flush().await?;
        if let Some(mut sink) = self.sink.take() {
            sink.as_mut()
                .finish()
                .await
                .map_err(self.dest.err("COPY"))?;
        }
        Ok(())
    }

    async fn write_batch(&mut self, batch: &[Record]) -> Result<(), ComponentError> {
        let mut slots: Vec<Option<&Value>> = vec![None; self.columns.len()];
        let mut i = 0;
        while i < batch.len() {
            let row = &batch[i];
            slots.iter_mut().for_each(|s| *s = None);
            let mut unknown = false;
            for (pos, (k, v)) in row.iter().enumerate() {
                let j = match self.columns.get(pos) {
                    Some(c) if c.name == *k => pos,
                    _ => match self.index.get(k.as_str()) {
                        Some(j) => *j,
                        None => {
                            unknown = true;
                            break;
                        }
                    },
                };
                slots[j] = Some(v);
            }
            if unknown {
                self.evolve(&batch[i..]).await?;
                slots = vec![None; self.columns.len()];
                continue; // encode this row again with the new columns
            }
            self.rows += 1;
            self.encode_row(&slots)?;
            if self.buf.len() >= FLUSH_BYTES {
                self.flush().await?;
            }
            i += 1;
        }
        Ok(())
    }

    fn encode_row(&mut self, slots: &[Option<&Value>]) -> Result<(), ComponentError> {
        let n = self.columns.len() + usize::from(self.row_numbers);
        self.buf.put_i16(n as i16);
        for (c, slot) in self.columns.iter().zip(slots) {
            match slot {
                None | Some(Value::Null) => {
                    if c.key && self.row_numbers {
                        return Err(PostgresError::NullKey {
                            row: self.rows,
                            column: c.name.to_string(),
                        }
                        .into_component());
                    }
                    self.buf.put_i32(-1);
                }
                Some(v) => c.enc.encode(v, &mut self.buf).map_err(|m| {
                    PostgresError::Misfit {
                        row: self.rows,
                        column: c.name.to_string(),
                        column_type: c.type_text.clone(),
                        value_type: m.value_type,
                        detail: m.detail,
                    }
                    .into_component()
                })?,
            }
        }
        if self.row_numbers {
            self.buf.put_i32(8);
            self.buf.put_i64(self.rows as i64);
        }
        Ok(())
    }

    /// New columns appeared mid-stream: end this COPY, add them (types from the rest of the
    /// batch), and start a new COPY with the wider column list.
    async fn evolve(&mut self, rest: &[Record]) -> Result<(), ComponentError> {
        let mut inf = Inferrer::new();
        inf.observe_all(rest);
        let new: Vec<(CompactString, ColumnType)> = inf
            .columns()
            .into_iter()
            .filter(|(n, _)| !self.index.contains_key(n.as_str()))
            .collect();
        if new.iter().any(|(n, _)| n == ROW_COL) && self.row_numbers {
            return Err(PostgresError::ReservedColumn(ROW_COL.into()).into_component());
        }
        let known: Vec<CompactString> = new
            .iter()
            .filter(|(n, _)| self.server.iter().any(|c| c.name == n.as_str()))
            .map(|(n, _)| n.clone())
            .collect();
        let add: Vec<(String, String)> = new
            .iter()
            .filter(|(n, _)| !known.contains(n))
            .map(|(n, t)| (n.to_string(), self.dest.sql_type(n, *t)))
            .collect();
        self.end().await?;
        if !add.is_empty() {
            tracing::info!(table = %self.dest.table.display(), columns = ?add, "adding columns");
            let sql = ddl::add_columns_sql(&self.dest.table.quoted(), &add);
            ddl::exec(self.client, &sql, "ADD COLUMN", &self.dest.table)
                .await
                .map_err(PostgresError::into_component)?;
            self.server = self.dest.server_columns(self.client).await?;
        }
        if self.row_numbers {
            // The staging table follows the target's new columns.
            let adds: Vec<(String, String)> = new
                .iter()
                .filter_map(|(n, _)| {
                    self.server
                        .iter()
                        .find(|c| c.name == n.as_str())
                        .map(|c| (c.name.clone(), c.type_text.clone()))
                })
                .collect();
            let sql = ddl::add_columns_sql(&format!("pg_temp.{}", ident(STAGE)), &adds);
            ddl::exec(self.client, &sql, "ADD COLUMN (staging)", &self.dest.table)
                .await
                .map_err(PostgresError::into_component)?;
        }
        self.add_columns(new.into_iter().map(|(n, _)| n))?;
        self.start().await
    }
}

#[async_trait]
impl Destination for PostgresDestination {
    async fn load(
        &self,
        input: &mut BatchReceiver,
        ctx: &RunContext,
    ) -> Result<LoadSummary, ComponentError> {
        let started = Instant::now();
        // Look at many rows before deciding column types.
        let (buffer, inf) = crate::schema::buffer_for_inference(input).await?;
        if buffer.iter().all(|b| b.is_empty())
            && let Some(outcome) = self.cfg.on_empty.outcome("postgres", &self.table.display())
        {
            return outcome;
        }
        let inferred = inf.columns();
        if self.cfg.write_mode == WriteMode::Upsert {
            if let Some((column, seen)) =
                crate::schema::missing_key_column(&self.primary_key, &inferred)
            {
                return Err(PostgresError::MissingKeyColumn { column, seen }.into_component());
            }
            if inferred.iter().any(|(n, _)| n == ROW_COL) {
                return Err(PostgresError::ReservedColumn(ROW_COL.into()).into_component());
            }
        }
        let conn = ctx.connection(&self.cfg.conn_id).map_err(|source| {
            PostgresError::Connection {
                conn_id: self.cfg.conn_id.clone(),
                source,
            }
            .into_component()
        })?;
        let client = dataforge_hooks::postgres::connect(&conn)
            .await
            .map_err(|e| PostgresError::Connect(e).into_component())?;
        match self.run(&client, buffer, inferred, input, ctx).await {
            Ok(summary) => {
                tracing::info!(
                    table = %summary.target,
                    rows = summary.rows_loaded,
                    inserted = ?summary.rows_inserted,
                    updated = ?summary.rows_updated,
                    seconds = started.elapsed().as_secs_f64(),
                    "postgres load committed"
                );
                Ok(summary)
            }
            Err(e) => {
                // Any COPY in progress was dropped with `run`'s future (CopyFail sent).
                let rollback =
                    tokio::time::timeout(Duration::from_secs(10), client.batch_execute("ROLLBACK"))
                        .await;
                if !matches!(rollback, Ok(Ok(()))) {
                    tracing::warn!(
                        table = %self.table.display(),
                        "rollback did not complete; closing the connection rolls back"
                    );
                }
                drop(client);
                Err(e)
            }
        }
    }
}
