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
    Batch, BatchReceiver, Columns, ComponentError, Destination, LoadSummary, Record, RunContext,
    State, Value, async_trait,
};
use futures::SinkExt;
use tokio_postgres::{Client, CopyInSink};

use super::config::PostgresConfig;
use super::copy::{Encoder, HEADER, Limit, Misfit, TRAILER, Widen, cut};
use super::ddl::{self, ServerColumn, TableName, ident, ident_list};
use super::error::{PostgresError, check_column_name};
use crate::schema::{ColumnType, Inferrer};
use crate::write_mode::WriteMode;

/// Bytes of COPY data gathered before they are handed to the connection.
const FLUSH_BYTES: usize = 1 << 20;
/// Rows per `COPY` statement: a longer stream is cut into several COPYs in the same
/// transaction. The server reports a bad row only when its COPY ends, so this bounds both how
/// far a load runs past a bad row and the recent keys kept to name it (see [`KeyRing`]).
const ROWS_PER_COPY: u64 = 1 << 16;
/// The upsert staging table (temporary: private to the session, dropped at commit).
const STAGE: &str = "dataforge_upsert_stage";
/// The staging table's row-number column: the last row of a key wins.
const ROW_COL: &str = "__dataforge_row";

/// Loads batches into a PostgreSQL table.
#[derive(Debug, Clone)]
pub struct PostgresDestination {
    pub(super) cfg: PostgresConfig,
    pub(super) table: TableName,
    pub(super) primary_key: Vec<String>,
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

    fn err(&self, action: &str) -> impl FnOnce(tokio_postgres::Error) -> ComponentError + use<> {
        super::error::query_error(action, &self.table)
    }

    /// The SQL type for a new column: the user's override, else the inferred type.
    fn sql_type(&self, name: &str, inferred: ColumnType) -> String {
        self.cfg
            .columns
            .get(name)
            .cloned()
            .unwrap_or_else(|| inferred.postgres().to_owned())
    }

    /// The columns (name, SQL type) of the table a load creates for `inferred`.
    pub(super) fn columns_to_create(
        &self,
        inferred: &[(CompactString, ColumnType)],
    ) -> Vec<(String, String)> {
        inferred
            .iter()
            .map(|(n, t)| (n.to_string(), self.sql_type(n, *t)))
            .collect()
    }

    /// The columns (name, SQL type) of `inferred` a load adds to a table that has `existing`.
    pub(super) fn columns_to_add(
        &self,
        inferred: &[(CompactString, ColumnType)],
        existing: &[ServerColumn],
    ) -> Vec<(String, String)> {
        inferred
            .iter()
            .filter(|(n, _)| !existing.iter().any(|c| c.name == n.as_str()))
            .map(|(n, t)| (n.to_string(), self.sql_type(n, *t)))
            .collect()
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
        let summary = |rows: u64, inserted: Option<u64>, updated: Option<u64>| {
            let mut summary = LoadSummary::new(self.table.display(), rows);
            summary.rows_inserted = inserted;
            summary.rows_updated = updated;
            summary
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
            self.write_state(client, ctx).await?;
            self.finish(client, ctx).await?;
            tracing::warn!(table = %self.table.display(), "no rows to load");
            return Ok(summary(0, Some(0), upsert.then_some(0)));
        }
        let server = match existing {
            None => {
                let cols = self.columns_to_create(&inferred);
                let sql = ddl::create_table_sql(&self.table, &cols, &self.primary_key);
                tracing::info!(table = %self.table.display(), "creating table");
                client
                    .batch_execute(&sql)
                    .await
                    .map_err(self.err("CREATE TABLE"))?;
                self.server_columns(client).await?
            }
            Some(cols) => {
                let new = self.columns_to_add(&inferred, &cols);
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
        let fields: Vec<dataforge_core::observe::DatasetField> = server
            .iter()
            .map(|c| dataforge_core::observe::DatasetField::new(&c.name, &c.type_text))
            .collect();
        let mut writer = CopyWriter::new(self, client, copy_target, server, upsert);
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
        }
        .with_columns(fields);
        // Every batch is in: the cursor that covers them commits with them.
        self.write_state(client, ctx).await?;
        self.finish(client, ctx).await?;
        Ok(result)
    }

    /// Writes the run's staged state into the state table, in the open transaction.
    async fn write_state(&self, client: &Client, ctx: &RunContext) -> Result<(), ComponentError> {
        let Some(state) = ctx.state_to_commit() else {
            return Ok(());
        };
        let table = super::state_table::state_table(&self.table);
        super::state_table::write(client, &table, ctx.pipeline_id(), ctx.run_id(), &state).await
    }

    /// A load that writes no rows (`on_empty: keep`) still commits the staged state, alone.
    async fn commit_state_alone(&self, ctx: &RunContext) -> Result<(), ComponentError> {
        if ctx.state_to_commit().is_none() {
            return Ok(());
        }
        let client = self.connect(ctx).await?;
        let result = async {
            client
                .batch_execute("BEGIN")
                .await
                .map_err(self.err("BEGIN"))?;
            if self.cfg.create_schema {
                ddl::ensure_schema(&client, &self.table)
                    .await
                    .map_err(PostgresError::into_component)?;
            }
            self.write_state(&client, ctx).await?;
            ctx.before_commit().await?;
            client
                .batch_execute("COMMIT")
                .await
                .map_err(self.err("COMMIT"))
        }
        .await;
        if result.is_err() {
            // Closing the connection rolls back what is left open.
            let _ = client.batch_execute("ROLLBACK").await;
        }
        result
    }

    /// Resolves `conn_id` and connects.
    pub(super) async fn connect(&self, ctx: &RunContext) -> Result<Client, ComponentError> {
        let conn = ctx.connection(&self.cfg.conn_id).await.map_err(|source| {
            PostgresError::Connection {
                conn_id: self.cfg.conn_id.clone(),
                source,
            }
            .into_component()
        })?;
        dataforge_hooks::postgres::connect(&conn)
            .await
            .map_err(|e| PostgresError::Connect(e).into_component())
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

    /// `post_sql`, then the run's commit guard, then `COMMIT`.
    async fn finish(&self, client: &Client, ctx: &RunContext) -> Result<(), ComponentError> {
        for sql in &self.post_sql {
            client
                .batch_execute(sql)
                .await
                .map_err(self.err("post_sql"))?;
        }
        ctx.before_commit().await?;
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
    limit: Limit,
    type_text: String,
    key: bool,
    json: bool,
}

/// What stopped a row from being encoded.
enum RowFail {
    /// Column `0`'s integer type is too narrow for the value: widen it to `1` and retry.
    Widen(usize, Widen),
    /// The load fails.
    Fail(ComponentError),
}

/// The key values of the most recent rows (at most one COPY's worth, [`ROWS_PER_COPY`]), so a
/// row the server refuses can be named by its key. Memory stays flat whatever the row count.
#[derive(Default)]
struct KeyRing {
    /// The key columns: the destination's `primary_key`, else the table's primary key.
    names: Vec<String>,
    /// Where each key column sits in the COPY's column list, when the data has it.
    pos: Vec<Option<usize>>,
    /// `names.len()` values per row, row `r` (from 1) at slot `(r - 1) % ROWS_PER_COPY`.
    values: Vec<Value>,
}

impl KeyRing {
    fn cap() -> usize {
        ROWS_PER_COPY as usize
    }

    /// Finds the key columns among the COPY's columns (again after new columns appear).
    fn locate(&mut self, index: &HashMap<CompactString, usize>) {
        self.pos = self
            .names
            .iter()
            .map(|n| index.get(n.as_str()).copied())
            .collect();
    }

    /// Remembers row `row`'s key values.
    fn record(&mut self, row: u64, slots: &[Option<&Value>]) {
        let n = self.names.len();
        if n == 0 {
            return;
        }
        let at = ((row - 1) as usize % Self::cap()) * n;
        for (j, p) in self.pos.iter().enumerate() {
            let v = p.and_then(|p| slots[p]).cloned().unwrap_or(Value::Null);
            if at + j < self.values.len() {
                self.values[at + j] = v;
            } else {
                self.values.push(v);
            }
        }
    }

    /// ` (id=5)` for row `row` when it is still kept (`newest` is the last row recorded).
    fn describe(&self, row: u64, newest: u64) -> String {
        let n = self.names.len();
        if n == 0 || row == 0 || row > newest || newest - row >= ROWS_PER_COPY {
            return String::new();
        }
        let at = ((row - 1) as usize % Self::cap()) * n;
        match self.values.get(at..at + n) {
            Some(vals) => self.format(vals.iter().map(Some)),
            None => String::new(),
        }
    }

    /// ` (id=5)` from the row being encoded.
    fn describe_slots(&self, slots: &[Option<&Value>]) -> String {
        if self.names.is_empty() {
            return String::new();
        }
        self.format(self.pos.iter().map(|p| p.and_then(|p| slots[p])))
    }

    fn format<'v>(&self, vals: impl Iterator<Item = Option<&'v Value>>) -> String {
        let parts: Vec<String> = self
            .names
            .iter()
            .zip(vals)
            .map(|(name, v)| match v {
                None | Some(Value::Null) => format!("{name}=null"),
                Some(v) => format!("{name}={}", cut(&v.to_string(), 100)),
            })
            .collect();
        format!(" ({})", parts.join(", "))
    }
}

/// Streams rows into `COPY … FROM STDIN (FORMAT binary)`, adding columns as they appear and
/// widening integer columns a value does not fit.
struct CopyWriter<'a> {
    dest: &'a PostgresDestination,
    client: &'a Client,
    target: String,
    columns: Vec<Column>,
    index: HashMap<CompactString, usize>,
    server: Vec<ServerColumn>,
    row_numbers: bool,
    /// Rows encoded so far in this load.
    rows: u64,
    /// Rows in the COPYs of this load that have ended: a server error's line is counted from here.
    copy_base: u64,
    /// Whether [`CopyWriter::prepare`] ran.
    prepared: bool,
    keys: KeyRing,
    sink: Option<Pin<Box<CopyInSink<Bytes>>>>,
    buf: BytesMut,
    /// Where the last shape's columns go among the COPY's (columns are only ever added, so a
    /// mapping stays right).
    mapped: Mapped,
}

/// The COPY column of each of a shape's columns.
#[derive(Default)]
struct Mapped {
    columns: Columns,
    at: Vec<usize>,
}

impl<'a> CopyWriter<'a> {
    fn new(
        dest: &'a PostgresDestination,
        client: &'a Client,
        target: String,
        server: Vec<ServerColumn>,
        row_numbers: bool,
    ) -> Self {
        CopyWriter {
            dest,
            client,
            target,
            columns: Vec::new(),
            index: HashMap::new(),
            server,
            row_numbers,
            rows: 0,
            copy_base: 0,
            prepared: false,
            keys: KeyRing::default(),
            sink: None,
            buf: BytesMut::with_capacity(FLUSH_BYTES + (64 << 10)),
            mapped: Mapped::default(),
        }
    }
}

impl CopyWriter<'_> {
    /// Maps `columns` to the COPY's columns; false when one of them is not a COPY column yet.
    fn map_columns(&mut self, columns: &Columns) -> bool {
        let mut at = std::mem::take(&mut self.mapped.at);
        at.clear();
        for (pos, name) in columns.as_slice().iter().enumerate() {
            let j = match self.columns.get(pos) {
                Some(c) if c.name == *name => pos,
                _ => match self.index.get(name.as_str()) {
                    Some(j) => *j,
                    None => {
                        self.mapped = Mapped::default();
                        return false;
                    }
                },
            };
            at.push(j);
        }
        self.mapped = Mapped {
            columns: columns.clone(),
            at,
        };
        true
    }

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
                limit: Limit::of(&sc.ty, sc.typmod),
                type_text: sc.type_text.clone(),
                name,
                enc,
            });
        }
        self.keys.locate(&self.index);
        Ok(())
    }

    /// Once, before the first COPY: finds the key that names failing rows and, for an upsert,
    /// makes sure the target has a unique index on `primary_key`.
    async fn prepare(&mut self) -> Result<(), ComponentError> {
        self.prepared = true;
        let table = &self.dest.table;
        self.keys.names = if self.dest.primary_key.is_empty() {
            ddl::primary_key_columns(self.client, table)
                .await
                .map_err(PostgresError::into_component)?
        } else {
            self.dest.primary_key.clone()
        };
        self.keys.locate(&self.index);
        if self.row_numbers {
            ddl::ensure_unique_key(self.client, table, &self.dest.primary_key)
                .await
                .map_err(PostgresError::into_component)?;
        }
        Ok(())
    }

    async fn start(&mut self) -> Result<(), ComponentError> {
        if !self.prepared {
            self.prepare().await?;
        }
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

    /// Ends the current COPY (trailer, flush, wait for the server's count). A row the server
    /// refused is named by its number in the load and its key.
    async fn end(&mut self) -> Result<(), ComponentError> {
        self.buf.put_slice(TRAILER);
        self.flush().await?;
        if let Some(mut sink) = self.sink.take()
            && let Err(e) = sink.as_mut().finish().await
        {
            return Err(self.copy_error(e));
        }
        self.copy_base = self.rows;
        Ok(())
    }

    /// Maps a COPY error to the row it names (`where`: `COPY t, line 5, column c`).
    fn copy_error(&self, e: tokio_postgres::Error) -> ComponentError {
        let Some(db) = e.as_db_error() else {
            return self.dest.err("COPY")(e);
        };
        let Some((line, where_column)) = db.where_().and_then(parse_copy_where) else {
            return self.dest.err("COPY")(e);
        };
        let row = self.copy_base + line;
        let column = db
            .column()
            .map(str::to_owned)
            .or(where_column)
            .filter(|c| c != ROW_COL)
            .map(|c| format!("column `{c}`: "))
            .unwrap_or_default();
        let mut cause = cut(db.message(), 200).into_owned();
        if let Some(detail) = db.detail() {
            cause.push_str(" (");
            cause.push_str(&cut(detail, 200));
            cause.push(')');
        }
        PostgresError::Row {
            row,
            key: self.keys.describe(row, self.rows),
            column,
            cause,
            error: e,
        }
        .into_component()
    }

    async fn write_batch(&mut self, batch: &[Record]) -> Result<(), ComponentError> {
        let mut slots: Vec<Option<&Value>> = vec![None; self.columns.len()];
        let mut i = 0;
        while i < batch.len() {
            let row = &batch[i];
            slots.iter_mut().for_each(|s| *s = None);
            // Rows of one shape share their `Columns`: their names are matched to the COPY's
            // columns once per shape, not once per row.
            let known =
                self.mapped.columns.same(row.columns()) && self.mapped.at.len() == row.len();
            if !known && !self.map_columns(row.columns()) {
                self.evolve(&batch[i..]).await?;
                slots = vec![None; self.columns.len()];
                continue; // encode this row again with the new columns
            }
            for (v, &j) in row.values().iter().zip(&self.mapped.at) {
                slots[j] = Some(v);
            }
            let start = self.buf.len();
            match self.encode_row(&slots) {
                Ok(()) => {}
                Err(RowFail::Widen(col, to)) => {
                    // Drop the row's partial bytes; the row is encoded again after the ALTER.
                    self.buf.truncate(start);
                    let key = self.keys.describe_slots(&slots);
                    self.widen(col, to, key).await?;
                    continue;
                }
                Err(RowFail::Fail(e)) => return Err(e),
            }
            self.rows += 1;
            self.keys.record(self.rows, &slots);
            if self.rows - self.copy_base >= ROWS_PER_COPY {
                self.end().await?;
                self.start().await?;
            } else if self.buf.len() >= FLUSH_BYTES {
                self.flush().await?;
            }
            i += 1;
        }
        Ok(())
    }

    /// Encodes row `self.rows + 1`.
    fn encode_row(&mut self, slots: &[Option<&Value>]) -> Result<(), RowFail> {
        let row = self.rows + 1;
        let n = self.columns.len() + usize::from(self.row_numbers);
        self.buf.put_i16(n as i16);
        for (j, (c, slot)) in self.columns.iter().zip(slots).enumerate() {
            match slot {
                None | Some(Value::Null) => {
                    if c.key && self.row_numbers {
                        return Err(RowFail::Fail(
                            PostgresError::NullKey {
                                row,
                                column: c.name.to_string(),
                            }
                            .into_component(),
                        ));
                    }
                    self.buf.put_i32(-1);
                }
                Some(v) => {
                    if let Err(m) = c.enc.encode_checked(c.limit, v, &mut self.buf) {
                        if let Some(to) = m.widen
                            && !self.dest.cfg.columns.contains_key(c.name.as_str())
                        {
                            return Err(RowFail::Widen(j, to));
                        }
                        return Err(RowFail::Fail(self.misfit(row, j, m, slots)));
                    }
                }
            }
        }
        if self.row_numbers {
            self.buf.put_i32(8);
            self.buf.put_i64(row as i64);
        }
        Ok(())
    }

    fn misfit(&self, row: u64, col: usize, m: Misfit, slots: &[Option<&Value>]) -> ComponentError {
        let c = &self.columns[col];
        let mut detail = m.detail;
        if m.widen.is_some() {
            detail.to_mut().push_str(
                "; its type comes from the destination's `columns` setting, so it is not widened",
            );
        }
        PostgresError::Misfit {
            row,
            key: self.keys.describe_slots(slots),
            column: c.name.to_string(),
            column_type: c.type_text.clone(),
            value_type: m.value_type,
            detail,
        }
        .into_component()
    }

    /// A value does not fit integer column `col`: end this COPY, `ALTER COLUMN … TYPE` the
    /// target (and the upsert staging table) to `to`, and start a new COPY. The rows already
    /// sent stay in the transaction; PostgreSQL rewrites them to the wider type.
    async fn widen(&mut self, col: usize, to: Widen, key: String) -> Result<(), ComponentError> {
        let row = self.rows + 1;
        let name = self.columns[col].name.to_string();
        let from = self.columns[col].type_text.clone();
        self.end().await?;
        tracing::warn!(
            table = %self.dest.table.display(),
            column = %name,
            from = %from,
            to = to.sql(),
            row,
            key = %key,
            "widening an integer column to hold a value beyond its type"
        );
        let widen_err = |source| {
            PostgresError::Widen {
                row,
                table: self.dest.table.display(),
                column: name.clone(),
                from: from.clone(),
                to: to.sql(),
                source,
            }
            .into_component()
        };
        let alter = |table: &str| {
            format!(
                "ALTER TABLE {table} ALTER COLUMN {} TYPE {}",
                ident(&name),
                to.sql()
            )
        };
        let mut sql = alter(&self.dest.table.quoted());
        if self.row_numbers {
            sql.push_str("; ");
            sql.push_str(&alter(&format!("pg_temp.{}", ident(STAGE))));
        }
        self.client.batch_execute(&sql).await.map_err(widen_err)?;
        self.server = self.dest.server_columns(self.client).await?;
        let Some(sc) = self.server.iter().find(|c| c.name == name) else {
            return Err(ComponentError::fatal_msg(format!(
                "postgres destination: column `{name}` is missing from {} after it was widened",
                self.dest.table.display()
            )));
        };
        let c = &mut self.columns[col];
        // bigint and numeric both have encoders.
        c.enc = Encoder::for_type(&sc.ty).unwrap_or(Encoder::Numeric);
        c.limit = Limit::of(&sc.ty, sc.typmod);
        c.type_text = sc.type_text.clone();
        self.start().await
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
        for (n, _) in &new {
            check_column_name(n).map_err(PostgresError::into_component)?;
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

/// The line (tuple number within the COPY, from 1) and column of a COPY error's `where`
/// (`COPY t, line 5, column c: "…"`), from whichever line of the context is the COPY's.
fn parse_copy_where(where_: &str) -> Option<(u64, Option<String>)> {
    let at = where_.lines().find(|l| l.starts_with("COPY "))?;
    let after = &at[at.find(", line ")? + ", line ".len()..];
    let digits_end = after
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after.len());
    let line = after[..digits_end].parse().ok()?;
    let column = after[digits_end..].strip_prefix(", column ").map(|c| {
        // Binary COPY stops at the name; text COPY adds `: "value"`.
        let end = c.find(": ").unwrap_or(c.len());
        c[..end].to_owned()
    });
    Some((line, column))
}

#[async_trait]
impl Destination for PostgresDestination {
    /// `postgres://host:port` (no user, password or options) and `database.schema.table`.
    async fn lineage_dataset(
        &self,
        ctx: &RunContext,
    ) -> Option<dataforge_core::observe::LineageDataset> {
        let conn = ctx.connection(&self.cfg.conn_id).await.ok()?;
        let host = conn.host().unwrap_or("localhost");
        let port = conn.port().unwrap_or(5432);
        let database = conn.path().trim_start_matches('/');
        let database = if database.is_empty() {
            "postgres"
        } else {
            database
        };
        Some(dataforge_core::observe::LineageDataset::new(
            format!("postgres://{host}:{port}"),
            format!("{database}.{}.{}", self.table.schema, self.table.table),
        ))
    }

    /// The staged state commits with the rows, in `"<schema>"."dataforge_state"`.
    fn commits_state(&self) -> bool {
        true
    }

    async fn saved_state(
        &self,
        pipeline_id: &str,
        ctx: &RunContext,
    ) -> Result<Option<State>, ComponentError> {
        let client = self.connect(ctx).await?;
        let table = super::state_table::state_table(&self.table);
        super::state_table::read(&client, &table, pipeline_id).await
    }

    fn row_check(&self) -> Option<std::sync::Arc<dyn dataforge_core::Transform>> {
        Some(std::sync::Arc::new(super::row_check::NulCheck))
    }

    /// Reads the table (never changes it) and compares it with what a load of `sample` needs.
    async fn plan(
        &self,
        sample: &[Record],
        ctx: &RunContext,
    ) -> Result<Option<dataforge_core::DestinationPlan>, ComponentError> {
        self.plan_sample(sample, ctx).await.map(Some)
    }

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
            if outcome.is_ok() {
                self.commit_state_alone(ctx).await?;
            }
            return outcome;
        }
        let inferred = inf.columns();
        for (name, _) in &inferred {
            check_column_name(name).map_err(PostgresError::into_component)?;
        }
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
        let client = self.connect(ctx).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_context_names_line_and_column() {
        assert_eq!(
            parse_copy_where("COPY t, line 5, column total"),
            Some((5, Some("total".to_owned())))
        );
        assert_eq!(
            parse_copy_where("COPY t, line 12, column a b: \"x\""),
            Some((12, Some("a b".to_owned())))
        );
        assert_eq!(parse_copy_where("COPY t, line 3"), Some((3, None)));
        assert_eq!(
            parse_copy_where("PL/pgSQL function f() line 3 at RAISE\nCOPY t, line 7"),
            Some((7, None))
        );
        assert_eq!(parse_copy_where("SQL statement \"SELECT 1\""), None);
    }

    #[test]
    fn the_key_ring_keeps_one_copy_of_rows() {
        let mut ring = KeyRing {
            names: vec!["id".into()],
            ..KeyRing::default()
        };
        let mut index = HashMap::new();
        index.insert(CompactString::from("v"), 0);
        index.insert(CompactString::from("id"), 1);
        ring.locate(&index);
        let total = ROWS_PER_COPY + 10;
        for row in 1..=total {
            let id = Value::Int(row as i64 * 10);
            ring.record(row, &[None, Some(&id)]);
        }
        assert_eq!(ring.values.len(), ROWS_PER_COPY as usize);
        assert_eq!(ring.describe(total, total), format!(" (id={})", total * 10));
        assert_eq!(ring.describe(11, total), " (id=110)");
        assert_eq!(ring.describe(10, total), "", "fallen out");
        assert_eq!(ring.describe(total + 1, total), "", "not sent");
    }
}
