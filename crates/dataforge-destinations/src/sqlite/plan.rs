//! `Destination::plan` for `sqlite`: what a load of the sample would change in the table,
//! found with the load's own inference, type overrides and value checks. The database is
//! opened without the create flag and in `query_only` mode: a missing file stays missing and
//! nothing is written or locked. (SQLite integers are 64-bit: nothing is ever widened.)

use std::path::Path;

use dataforge_core::{ComponentError, DestinationPlan, PlannedColumn, Record};

use super::error::SqliteError;
use super::load::{Kind, SqliteDestination, columns_to_add, columns_to_create, declared_columns};
use crate::schema;
use crate::write_mode::WriteMode;

impl SqliteDestination {
    /// Reads the table (on a blocking thread) and compares it with what a load of `sample`
    /// needs.
    pub(super) async fn plan_sample(
        &self,
        sample: &[Record],
    ) -> Result<DestinationPlan, ComponentError> {
        let path = self.cfg.path.clone();
        let table = self.cfg.table.clone();
        let busy = self.cfg.lock_timeout.0;
        let read = tokio::task::spawn_blocking(move || read_columns(&path, &table, busy))
            .await
            .map_err(|e| SqliteError::Thread(e.to_string()).into_component())?;
        let existing = read.map_err(|source| {
            SqliteError::Sql {
                action: "read the table",
                table: self.cfg.table.clone(),
                path: self.cfg.path.display().to_string(),
                source,
            }
            .into_component()
        })?;
        let target = format!("{}:{}", self.cfg.path.display(), self.cfg.table);
        let mut plan = DestinationPlan::new("sqlite", target, self.cfg.write_mode.name());
        plan.key = self.primary_key.clone();
        let inferred = schema::infer(sample);
        if inferred.is_empty() {
            plan.notes
                .push("no sampled row has a field: nothing would be created".to_owned());
        } else if self.cfg.write_mode == WriteMode::Upsert
            && let Some((column, _)) = schema::missing_key_column(&self.primary_key, &inferred)
        {
            plan.notes.push(format!(
                "the load would fail: the key column `{column}` is not in the sampled rows"
            ));
        }
        let planned = |columns: Vec<(String, String)>| -> Vec<PlannedColumn> {
            columns
                .into_iter()
                .map(|(name, sql_type)| PlannedColumn { name, sql_type })
                .collect()
        };
        match existing {
            None => {
                plan.notes.push(format!(
                    "database file {} would be created",
                    self.cfg.path.display()
                ));
                plan.create = planned(columns_to_create(&self.cfg.columns, &inferred));
            }
            Some(columns) if columns.is_empty() => {
                plan.create = planned(columns_to_create(&self.cfg.columns, &inferred));
            }
            Some(columns) => {
                plan.table_exists = true;
                plan.add = planned(columns_to_add(&self.cfg.columns, &inferred, &columns));
                check_values(&columns, sample, &mut plan);
            }
        }
        Ok(plan)
    }
}

/// The table's declared columns (empty: no such table), or `None` when the file is missing.
/// Opened read-write without the create flag (a WAL database without its `-shm` file may
/// refuse read-only), then `query_only`, so nothing can be written.
fn read_columns(
    path: &Path,
    table: &str,
    busy: std::time::Duration,
) -> rusqlite::Result<Option<Vec<(String, String)>>> {
    if !path.exists() {
        return Ok(None);
    }
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
        | rusqlite::OpenFlags::SQLITE_OPEN_URI
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(busy)?;
    conn.execute_batch("PRAGMA query_only = 1")?;
    declared_columns(&conn, table).map(Some)
}

/// Sampled values the existing columns would refuse (the load's own check), one note per
/// column.
fn check_values(columns: &[(String, String)], sample: &[Record], plan: &mut DestinationPlan) {
    for (name, declared) in columns {
        let kind = Kind::of_declared(declared);
        let misfit = sample.iter().enumerate().find_map(|(i, r)| {
            r.get(name)
                .filter(|v| !kind.fits(v))
                .map(|v| (i + 1, v.type_name()))
        });
        if let Some((row, value_type)) = misfit {
            plan.notes.push(format!(
                "the load would fail: sampled row {row} has a {value_type} in column `{name}` ({declared})"
            ));
        }
    }
}
