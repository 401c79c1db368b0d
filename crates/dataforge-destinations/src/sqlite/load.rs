//! The `sqlite` destination: one transaction per load on a blocking thread.
//!
//! `replace` deletes and inserts in the same transaction; the load runs in WAL mode, so a
//! reader sees the old rows until the commit and the new ones after it, never a mix, and is not
//! blocked meanwhile (in a rollback journal a large transaction takes the exclusive lock as soon
//! as its pages spill, and readers would wait for the rest of the load). A database that was
//! not in WAL mode is put back in its own journal mode after the load, when no other
//! connection has it open (then it stays in WAL, with a warning: changing the journal mode
//! needs the database to itself). `upsert` uses `INSERT … ON CONFLICT (key) DO UPDATE … WHERE
//! … IS NOT …`: rows are applied in order, so the last row of a key wins and an unchanged row
//! is not rewritten. One load at a time per database file: a lock file beside it
//! ([`FileLock`]).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use dataforge_core::value::CompactString;
use dataforge_core::{
    Batch, BatchReceiver, ComponentError, Destination, LoadSummary, Record, RunContext, State,
    Value, async_trait,
};
use rusqlite::types::{ToSqlOutput, Value as SqlValue};

use super::config::SqliteConfig;
use super::error::SqliteError;
use super::state_table::{self, StateRow};
use crate::schema::{ColumnType, Inferrer, is_date, is_timestamp_tz};
use crate::target_lock::FileLock;
use crate::write_mode::WriteMode;

/// Loads batches into a SQLite table.
#[derive(Debug, Clone)]
pub struct SqliteDestination {
    pub(super) cfg: SqliteConfig,
    pub(super) primary_key: Vec<String>,
}

/// Quotes an SQLite identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl SqliteDestination {
    /// A destination for a validated config.
    pub(crate) fn new(cfg: SqliteConfig) -> Self {
        Self {
            primary_key: cfg.primary_key.to_vec(),
            cfg,
        }
    }
}

/// How values are checked against a column's declared type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Boolean,
    Integer,
    Real,
    Numeric,
    Timestamp,
    Date,
    Any,
}

impl Kind {
    pub(super) fn of_declared(t: &str) -> Kind {
        let t = t.to_ascii_uppercase();
        if t.starts_with("BOOL") {
            Kind::Boolean
        } else if t.contains("INT") {
            Kind::Integer
        } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
            Kind::Real
        } else if t.contains("TIMESTAMP") || t.contains("DATETIME") {
            Kind::Timestamp
        } else if t == "DATE" {
            Kind::Date
        } else if t.starts_with("NUMERIC") || t.starts_with("DECIMAL") {
            Kind::Numeric
        } else {
            // TEXT, JSON, BLOB, no type: anything can be stored.
            Kind::Any
        }
    }

    pub(super) fn fits(self, v: &Value) -> bool {
        match (self, v) {
            (Kind::Any, _) | (_, Value::Null) => true,
            (Kind::Boolean, Value::Bool(_)) => true,
            (Kind::Boolean, Value::Int(i)) => *i == 0 || *i == 1,
            (Kind::Integer, Value::Int(_) | Value::Bool(_)) => true,
            (Kind::Integer, Value::Float(f)) => f.fract() == 0.0,
            (Kind::Integer, Value::Decimal(d)) => d.fract().is_zero(),
            (Kind::Integer, Value::String(s)) => s.trim().parse::<i64>().is_ok(),
            (Kind::Real | Kind::Numeric, Value::Int(_) | Value::Float(_) | Value::Decimal(_)) => {
                true
            }
            (Kind::Real | Kind::Numeric, Value::String(s)) => s.trim().parse::<f64>().is_ok(),
            (Kind::Timestamp, Value::Timestamp(_) | Value::Date(_)) => true,
            (Kind::Timestamp, Value::String(s)) => is_timestamp_tz(s) || is_date(s),
            (Kind::Date, Value::Date(_)) => true,
            (Kind::Date, Value::String(s)) => is_date(s),
            _ => false,
        }
    }
}

/// A value as SQLite stores it: numbers as numbers, timestamps as RFC 3339 text, nested values
/// as JSON text.
fn to_sql(v: &Value) -> ToSqlOutput<'_> {
    use rusqlite::types::ValueRef;
    match v {
        Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
        Value::Bool(b) => ToSqlOutput::Owned(SqlValue::Integer(i64::from(*b))),
        Value::Int(i) => ToSqlOutput::Owned(SqlValue::Integer(*i)),
        Value::Float(f) => ToSqlOutput::Owned(SqlValue::Real(*f)),
        Value::String(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        Value::Array(_) | Value::Object(_) => {
            ToSqlOutput::Owned(SqlValue::Text(v.to_json().to_string()))
        }
        other => ToSqlOutput::Owned(SqlValue::Text(other.to_string())),
    }
}

struct Column {
    name: CompactString,
    kind: Kind,
    declared: String,
    key: bool,
}

/// The state that moves between the async task and the blocking thread.
struct Writer {
    conn: rusqlite::Connection,
    path: String,
    table: String,
    mode: WriteMode,
    primary_key: Vec<String>,
    overrides: BTreeMap<String, String>,
    columns: Vec<Column>,
    index: HashMap<CompactString, usize>,
    insert_sql: String,
    rows: u64,
    changes: u64,
    rows_before: u64,
    /// The journal mode to put back after the load, when the database was not in WAL mode.
    restore_journal: Option<&'static str>,
    /// The staged state, written just before `COMMIT` (set once every batch is in).
    state: Option<StateRow>,
}

impl Writer {
    fn sql_err(&self, action: &'static str) -> impl FnOnce(rusqlite::Error) -> ComponentError {
        let table = self.table.clone();
        let path = self.path.clone();
        move |source| {
            SqliteError::Sql {
                action,
                table,
                path,
                source,
            }
            .into_component()
        }
    }

    fn declared_columns(&self) -> Result<Vec<(String, String)>, ComponentError> {
        declared_columns(&self.conn, &self.table).map_err(self.sql_err("table lookup"))
    }

    /// Begins, creates or widens the table, empties it for `replace`.
    fn begin(&mut self, inferred: &[(CompactString, ColumnType)]) -> Result<(), ComponentError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(self.sql_err("BEGIN"))?;
        let existing = self.declared_columns()?;
        if existing.is_empty() {
            let mut parts: Vec<String> = columns_to_create(&self.overrides, inferred)
                .iter()
                .map(|(n, t)| format!("{} {t}", ident(n)))
                .collect();
            if !self.primary_key.is_empty() {
                let key: Vec<String> = self.primary_key.iter().map(|k| ident(k)).collect();
                parts.push(format!("PRIMARY KEY ({})", key.join(", ")));
            }
            let sql = format!("CREATE TABLE {} ({})", ident(&self.table), parts.join(", "));
            self.conn
                .execute_batch(&sql)
                .map_err(self.sql_err("CREATE TABLE"))?;
        } else {
            self.add_missing(inferred, &existing)?;
        }
        if self.mode == WriteMode::Replace {
            let sql = format!("DELETE FROM {}", ident(&self.table));
            self.conn
                .execute_batch(&sql)
                .map_err(self.sql_err("DELETE"))?;
        }
        if self.mode == WriteMode::Upsert {
            let sql = format!("SELECT count(*) FROM {}", ident(&self.table));
            let n: i64 = self
                .conn
                .query_row(&sql, [], |r| r.get(0))
                .map_err(self.sql_err("count"))?;
            self.rows_before = n.max(0) as u64;
        }
        self.set_columns(inferred.iter().map(|(n, _)| n.clone()))
    }

    fn add_missing(
        &mut self,
        wanted: &[(CompactString, ColumnType)],
        existing: &[(String, String)],
    ) -> Result<(), ComponentError> {
        for (n, t) in columns_to_add(&self.overrides, wanted, existing) {
            let sql = format!(
                "ALTER TABLE {} ADD COLUMN {} {t}",
                ident(&self.table),
                ident(&n),
            );
            self.conn
                .execute_batch(&sql)
                .map_err(self.sql_err("ADD COLUMN"))?;
        }
        Ok(())
    }

    /// Adds `names` to the insert's columns and rebuilds the statement text.
    fn set_columns(
        &mut self,
        names: impl IntoIterator<Item = CompactString>,
    ) -> Result<(), ComponentError> {
        let declared = self.declared_columns()?;
        for name in names {
            let decl = declared
                .iter()
                .find(|(n, _)| n == name.as_str())
                .map(|(_, t)| t.clone())
                .unwrap_or_default();
            self.index.insert(name.clone(), self.columns.len());
            self.columns.push(Column {
                key: self.primary_key.iter().any(|k| k == name.as_str()),
                kind: Kind::of_declared(&decl),
                declared: if decl.is_empty() { "ANY".into() } else { decl },
                name,
            });
        }
        let names: Vec<String> = self.columns.iter().map(|c| ident(&c.name)).collect();
        let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            ident(&self.table),
            names.join(", "),
            marks.join(", ")
        );
        if self.mode == WriteMode::Upsert {
            let key: Vec<String> = self.primary_key.iter().map(|k| ident(k)).collect();
            let rest: Vec<&String> = names
                .iter()
                .zip(&self.columns)
                .filter(|(_, c)| !c.key)
                .map(|(n, _)| n)
                .collect();
            if rest.is_empty() {
                sql.push_str(&format!(" ON CONFLICT ({}) DO NOTHING", key.join(", ")));
            } else {
                let set: Vec<String> = rest.iter().map(|n| format!("{n} = excluded.{n}")).collect();
                let old: Vec<String> = rest
                    .iter()
                    .map(|n| format!("{}.{n}", ident(&self.table)))
                    .collect();
                let new: Vec<String> = rest.iter().map(|n| format!("excluded.{n}")).collect();
                sql.push_str(&format!(
                    " ON CONFLICT ({}) DO UPDATE SET {} WHERE ({}) IS NOT ({})",
                    key.join(", "),
                    set.join(", "),
                    old.join(", "),
                    new.join(", ")
                ));
            }
        }
        self.insert_sql = sql;
        Ok(())
    }

    fn write_batch(&mut self, batch: &[Record]) -> Result<(), ComponentError> {
        let mut i = 0;
        while i < batch.len() {
            let row = &batch[i];
            if let Some((k, _)) = row
                .iter()
                .find(|(k, _)| !self.index.contains_key(k.as_str()))
            {
                tracing::debug!(column = %k, "new column mid-stream");
                let mut inf = Inferrer::new();
                inf.observe_all(&batch[i..]);
                let new: Vec<(CompactString, ColumnType)> = inf
                    .columns()
                    .into_iter()
                    .filter(|(n, _)| !self.index.contains_key(n.as_str()))
                    .collect();
                let existing = self.declared_columns()?;
                self.add_missing(&new, &existing)?;
                self.set_columns(new.into_iter().map(|(n, _)| n))?;
            }
            let mut values: Vec<&Value> = vec![&Value::Null; self.columns.len()];
            for (k, v) in row.iter() {
                if let Some(j) = self.index.get(k.as_str()) {
                    values[*j] = v;
                }
            }
            let n = self.rows + 1;
            for (c, v) in self.columns.iter().zip(&values) {
                if c.key && v.is_null() && self.mode == WriteMode::Upsert {
                    return Err(SqliteError::NullKey {
                        row: n,
                        column: c.name.to_string(),
                    }
                    .into_component());
                }
                if !c.kind.fits(v) {
                    return Err(SqliteError::Misfit {
                        row: n,
                        column: c.name.to_string(),
                        column_type: c.declared.clone(),
                        value_type: v.type_name(),
                    }
                    .into_component());
                }
            }
            let err = self.sql_err("INSERT");
            let mut stmt = match self.conn.prepare_cached(&self.insert_sql) {
                Ok(s) => s,
                Err(e) => return Err(err(e)),
            };
            let params: Vec<ToSqlOutput<'_>> = values.iter().map(|v| to_sql(v)).collect();
            let changed = stmt
                .execute(rusqlite::params_from_iter(params.iter()))
                .map_err(err)?;
            self.changes += changed as u64;
            self.rows = n;
            i += 1;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(u64, u64), ComponentError> {
        let (mut inserted, mut updated) = (self.rows, 0);
        if self.mode == WriteMode::Upsert {
            let sql = format!("SELECT count(*) FROM {}", ident(&self.table));
            let after: i64 = self
                .conn
                .query_row(&sql, [], |r| r.get(0))
                .map_err(self.sql_err("count"))?;
            inserted = (after.max(0) as u64).saturating_sub(self.rows_before);
            updated = self.changes.saturating_sub(inserted);
        }
        self.write_state()?;
        self.conn
            .execute_batch("COMMIT")
            .map_err(self.sql_err("COMMIT"))?;
        self.restore_journal_mode();
        Ok((inserted, updated))
    }

    /// Writes the staged state into the state table, in the open transaction.
    fn write_state(&self) -> Result<(), ComponentError> {
        match &self.state {
            Some(row) => {
                state_table::write(&self.conn, row).map_err(self.sql_err("write the state"))
            }
            None => Ok(()),
        }
    }

    /// Puts a database that was not in WAL mode back in its journal mode (best effort: that
    /// needs the database to itself, so with another connection open it stays in WAL).
    fn restore_journal_mode(&self) {
        let Some(mode) = self.restore_journal else {
            return;
        };
        let result = self
            .conn
            .query_row(&format!("PRAGMA journal_mode = {mode}"), [], |r| {
                r.get::<_, String>(0)
            });
        match result {
            Ok(now) if now.eq_ignore_ascii_case(mode) => {}
            Ok(now) => tracing::warn!(path = %self.path, was = mode, now = %now,
                "the database stays in WAL mode: another connection has it open"),
            Err(e) => tracing::warn!(path = %self.path, was = mode, error = %e,
                "the database stays in WAL mode: its journal mode could not be put back"),
        }
    }
}

/// The declared columns (name, declared type) of `table`, in order; empty when it does not
/// exist.
pub(super) fn declared_columns(
    conn: &rusqlite::Connection,
    table: &str,
) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare("SELECT name, type FROM pragma_table_info(?1)")?;
    let rows = stmt
        .query_map([table], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>();
    // The binding ends the borrow of `stmt` before it is dropped.
    #[allow(clippy::let_and_return)]
    rows
}

/// The SQL type for a new column: the user's override, else the inferred type.
fn sql_type(overrides: &BTreeMap<String, String>, name: &str, t: ColumnType) -> String {
    overrides
        .get(name)
        .cloned()
        .unwrap_or_else(|| t.sqlite().to_owned())
}

/// The columns (name, SQL type) of the table a load creates for `inferred`.
pub(super) fn columns_to_create(
    overrides: &BTreeMap<String, String>,
    inferred: &[(CompactString, ColumnType)],
) -> Vec<(String, String)> {
    inferred
        .iter()
        .map(|(n, t)| (n.to_string(), sql_type(overrides, n, *t)))
        .collect()
}

/// The columns (name, SQL type) of `inferred` a load adds to a table with `existing` columns.
pub(super) fn columns_to_add(
    overrides: &BTreeMap<String, String>,
    inferred: &[(CompactString, ColumnType)],
    existing: &[(String, String)],
) -> Vec<(String, String)> {
    inferred
        .iter()
        .filter(|(n, _)| !existing.iter().any(|(e, _)| e == n.as_str()))
        .map(|(n, t)| (n.to_string(), sql_type(overrides, n, *t)))
        .collect()
}

/// The journal modes a database can be put back in (SQLite's names, as `PRAGMA journal_mode`
/// reports them).
const JOURNAL_MODES: [&str; 5] = ["delete", "truncate", "persist", "memory", "off"];

/// Opens the database for a load: a busy timeout as long as the lock's, and WAL mode for the
/// load; returns the journal mode to put back afterwards, when it was not WAL.
fn open(
    path: &std::path::Path,
    busy: Duration,
) -> Result<(rusqlite::Connection, Option<&'static str>), rusqlite::Error> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(busy)?;
    let before: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    let before = before.to_ascii_lowercase();
    if before == "wal" {
        return Ok((conn, None));
    }
    conn.execute_batch("PRAGMA journal_mode = WAL")?;
    Ok((conn, JOURNAL_MODES.into_iter().find(|m| *m == before)))
}

/// Runs `f` on the writer in a blocking thread and hands the writer back.
async fn blocking<T: Send + 'static>(
    mut w: Writer,
    f: impl FnOnce(&mut Writer) -> Result<T, ComponentError> + Send + 'static,
) -> Result<(Writer, T), ComponentError> {
    let out = tokio::task::spawn_blocking(move || {
        let r = f(&mut w);
        (w, r)
    })
    .await
    .map_err(|e| SqliteError::Thread(e.to_string()).into_component())?;
    match out {
        (w, Ok(t)) => Ok((w, t)),
        (w, Err(e)) => {
            rollback(w).await;
            Err(e)
        }
    }
}

async fn rollback(w: Writer) {
    let _ = tokio::task::spawn_blocking(move || {
        if let Err(e) = w.conn.execute_batch("ROLLBACK") {
            tracing::debug!(error = %e, "sqlite rollback (closing the connection rolls back)");
        }
        w.restore_journal_mode();
    })
    .await;
}

impl SqliteDestination {
    /// The run's staged state, encoded for the state table (`None`: nothing staged).
    fn state_row(&self, ctx: &RunContext) -> Result<Option<StateRow>, ComponentError> {
        let Some(state) = ctx.state_to_commit() else {
            return Ok(None);
        };
        let json = serde_json::to_string(&state).map_err(|source| {
            SqliteError::StateJson {
                path: self.cfg.path.display().to_string(),
                pipeline: ctx.pipeline_id().to_owned(),
                source,
            }
            .into_component()
        })?;
        Ok(Some(StateRow {
            pipeline: ctx.pipeline_id().to_owned(),
            run_id: ctx.run_id().to_owned(),
            json,
        }))
    }

    /// Takes the database's load lock and opens it for a load.
    async fn open_writer(
        &self,
        ctx: &RunContext,
        state: Option<StateRow>,
    ) -> Result<(FileLock, Writer), ComponentError> {
        let path: PathBuf = self.cfg.path.clone();
        // One load at a time into this database, held as long as the lock is.
        let lock = FileLock::acquire("sqlite", &path, ctx, self.cfg.lock_timeout.0).await?;
        let display = path.display().to_string();
        let table = self.cfg.table.clone();
        let busy = self.cfg.lock_timeout.0;
        let (conn, restore_journal) = tokio::task::spawn_blocking(move || open(&path, busy))
            .await
            .map_err(|e| SqliteError::Thread(e.to_string()).into_component())?
            .map_err(|source| {
                SqliteError::Sql {
                    action: "open",
                    table: table.clone(),
                    path: display.clone(),
                    source,
                }
                .into_component()
            })?;
        let writer = Writer {
            conn,
            restore_journal,
            path: display,
            table,
            mode: self.cfg.write_mode,
            primary_key: self.primary_key.clone(),
            overrides: self.cfg.columns.clone(),
            columns: Vec::new(),
            index: HashMap::new(),
            insert_sql: String::new(),
            rows: 0,
            changes: 0,
            rows_before: 0,
            state,
        };
        Ok((lock, writer))
    }
}

#[async_trait]
impl Destination for SqliteDestination {
    /// `sqlite://<absolute path of the database>` and the table.
    async fn lineage_dataset(
        &self,
        _ctx: &RunContext,
    ) -> Option<dataforge_core::observe::LineageDataset> {
        let path = std::path::absolute(&self.cfg.path).unwrap_or_else(|_| self.cfg.path.clone());
        Some(dataforge_core::observe::LineageDataset::new(
            format!("sqlite://{}", path.display()),
            self.cfg.table.clone(),
        ))
    }

    /// The staged state commits with the rows, in table `dataforge_state` of the same file.
    fn commits_state(&self) -> bool {
        true
    }

    async fn saved_state(
        &self,
        pipeline_id: &str,
        _ctx: &RunContext,
    ) -> Result<Option<State>, ComponentError> {
        let path = self.cfg.path.clone();
        let pipeline = pipeline_id.to_owned();
        let busy = self.cfg.lock_timeout.0;
        let json = tokio::task::spawn_blocking(move || state_table::read(&path, &pipeline, busy))
            .await
            .map_err(|e| SqliteError::Thread(e.to_string()).into_component())?
            .map_err(|source| {
                SqliteError::Sql {
                    action: "read the state",
                    table: state_table::STATE_TABLE.to_owned(),
                    path: self.cfg.path.display().to_string(),
                    source,
                }
                .into_component()
            })?;
        let Some(json) = json else {
            return Ok(None);
        };
        state_table::parse(&json).map(Some).map_err(|source| {
            SqliteError::StateJson {
                path: self.cfg.path.display().to_string(),
                pipeline: pipeline_id.to_owned(),
                source,
            }
            .into_component()
        })
    }

    /// Reads the table (never changes it) and compares it with what a load of `sample` needs.
    async fn plan(
        &self,
        sample: &[Record],
        _ctx: &RunContext,
    ) -> Result<Option<dataforge_core::DestinationPlan>, ComponentError> {
        self.plan_sample(sample).await.map(Some)
    }

    async fn load(
        &self,
        input: &mut BatchReceiver,
        ctx: &RunContext,
    ) -> Result<LoadSummary, ComponentError> {
        let started = Instant::now();
        let (buffer, inf) = crate::schema::buffer_for_inference(input).await?;
        let inferred = inf.columns();
        let target = format!("{}:{}", self.cfg.path.display(), self.cfg.table);
        if buffer.iter().all(|b| b.is_empty())
            && let Some(outcome) = self.cfg.on_empty.outcome("sqlite", &target)
        {
            if outcome.is_ok()
                && let Some(row) = self.state_row(ctx)?
            {
                // No rows to write, but the cursor still commits, alone.
                let writer = self.open_writer(ctx, Some(row)).await?;
                let (_lock, writer) = writer;
                ctx.before_commit().await?;
                blocking(writer, |w| {
                    w.conn
                        .execute_batch("BEGIN IMMEDIATE")
                        .map_err(w.sql_err("BEGIN"))?;
                    w.write_state()?;
                    w.conn
                        .execute_batch("COMMIT")
                        .map_err(w.sql_err("COMMIT"))?;
                    w.restore_journal_mode();
                    Ok(())
                })
                .await?;
            }
            return outcome;
        }
        if self.cfg.write_mode == WriteMode::Upsert
            && let Some((column, seen)) =
                crate::schema::missing_key_column(&self.primary_key, &inferred)
        {
            return Err(SqliteError::MissingKeyColumn { column, seen }.into_component());
        }
        let (_lock, writer) = self.open_writer(ctx, None).await?;
        if inferred.is_empty() {
            // No rows: only `replace` has something to do (empty an existing table).
            let mut writer = writer;
            writer.state = self.state_row(ctx)?;
            ctx.before_commit().await?;
            let (_, ()) = blocking(writer, |w| {
                w.conn
                    .execute_batch("BEGIN IMMEDIATE")
                    .map_err(w.sql_err("BEGIN"))?;
                if w.mode == WriteMode::Replace && !w.declared_columns()?.is_empty() {
                    let sql = format!("DELETE FROM {}", ident(&w.table));
                    w.conn.execute_batch(&sql).map_err(w.sql_err("DELETE"))?;
                }
                w.write_state()?;
                w.conn.execute_batch("COMMIT").map_err(w.sql_err("COMMIT"))
            })
            .await?;
            return Ok(LoadSummary::new(target, 0).with_inserted(0));
        }
        let (mut writer, ()) = blocking(writer, move |w| {
            w.begin(&inferred)?;
            for batch in &buffer {
                w.write_batch(batch)?;
            }
            Ok(())
        })
        .await?;
        loop {
            let batch: Batch = match input.recv().await {
                Ok(Some(b)) => b,
                Ok(None) => break,
                Err(e) => {
                    rollback(writer).await;
                    return Err(e);
                }
            };
            writer = blocking(writer, move |w| w.write_batch(&batch)).await?.0;
        }
        // Every batch is in: the cursor that covers them commits with them.
        writer.state = self.state_row(ctx)?;
        let rows = writer.rows;
        let upsert = self.cfg.write_mode == WriteMode::Upsert;
        if let Err(e) = ctx.before_commit().await {
            rollback(writer).await;
            return Err(e);
        }
        let (writer, (inserted, updated)) = blocking(writer, Writer::commit).await?;
        // The table's columns as declared, for lineage; the rows are committed either way.
        let columns = match blocking(writer, |w| w.declared_columns()).await {
            Ok((_, columns)) => columns
                .into_iter()
                .map(|(name, ty)| dataforge_core::observe::DatasetField::new(name, ty))
                .collect(),
            Err(_) => Vec::new(),
        };
        tracing::info!(
            target = %target,
            rows,
            seconds = started.elapsed().as_secs_f64(),
            "sqlite load committed"
        );
        let summary = LoadSummary::new(target, rows)
            .with_inserted(inserted)
            .with_columns(columns);
        Ok(if upsert {
            summary.with_updated(updated)
        } else {
            summary
        })
    }
}
