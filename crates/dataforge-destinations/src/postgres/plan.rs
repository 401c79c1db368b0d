//! `Destination::plan` for `postgres`: what a load of the sample would change in the table,
//! found with the load's own inference, type overrides, catalog reads and widening rule, in a
//! `READ ONLY` transaction that is rolled back (no DDL, no lock on the table).

use bytes::BytesMut;
use dataforge_core::value::CompactString;
use dataforge_core::{ComponentError, DestinationPlan, PlannedColumn, Record, Widening};
use tokio_postgres::Client;

use super::copy::{Encoder, Widen};
use super::ddl::{self, ServerColumn};
use super::error::{PostgresError, check_column_name};
use super::load::PostgresDestination;
use crate::schema::{self, ColumnType};
use crate::write_mode::WriteMode;

/// Plans a load of `sample` into `dest`'s table; reads the table over `client`.
pub(super) async fn plan(
    dest: &PostgresDestination,
    client: &Client,
    sample: &[Record],
) -> Result<DestinationPlan, ComponentError> {
    let mut plan =
        DestinationPlan::new("postgres", dest.table.quoted(), dest.cfg.write_mode.name());
    plan.key = dest.primary_key.clone();
    let inferred = schema::infer(sample);
    check_rows(dest, &inferred, &mut plan);
    let pg = |e: PostgresError| e.into_component();
    client
        .batch_execute("BEGIN READ ONLY")
        .await
        .map_err(super::error::query_error("BEGIN READ ONLY", &dest.table))?;
    if !ddl::schema_exists(client, &dest.table).await.map_err(pg)? {
        plan.notes.push(if dest.cfg.create_schema {
            format!("schema \"{}\" would be created", dest.table.schema)
        } else {
            format!(
                "the load would fail: schema \"{}\" does not exist and `create_schema` is false",
                dest.table.schema
            )
        });
    }
    match ddl::table_columns(client, &dest.table).await.map_err(pg)? {
        None => {
            plan.create = planned(dest.columns_to_create(&inferred));
        }
        Some(existing) => {
            plan.table_exists = true;
            plan.add = planned(dest.columns_to_add(&inferred, &existing));
            check_existing(dest, &existing, sample, &mut plan);
            let upsert = dest.cfg.write_mode == WriteMode::Upsert;
            if upsert
                && plan
                    .key
                    .iter()
                    .all(|k| existing.iter().any(|c| &c.name == k))
                && !ddl::has_unique_key(client, &dest.table, &dest.primary_key)
                    .await
                    .map_err(pg)?
            {
                plan.key_index = Some(ddl::unique_index_name(&dest.table, &dest.primary_key));
            }
        }
    }
    client
        .batch_execute("ROLLBACK")
        .await
        .map_err(super::error::query_error("ROLLBACK", &dest.table))?;
    Ok(plan)
}

fn planned(columns: Vec<(String, String)>) -> Vec<PlannedColumn> {
    columns
        .into_iter()
        .map(|(name, sql_type)| PlannedColumn { name, sql_type })
        .collect()
}

/// What the load checks before it connects: column names, the upsert key.
fn check_rows(
    dest: &PostgresDestination,
    inferred: &[(CompactString, ColumnType)],
    plan: &mut DestinationPlan,
) {
    if inferred.is_empty() {
        plan.notes
            .push("no sampled row has a field: nothing would be created".to_owned());
    }
    for (name, _) in inferred {
        if let Err(e) = check_column_name(name) {
            plan.notes.push(format!("the load would fail: {e}"));
        }
    }
    if dest.cfg.write_mode == WriteMode::Upsert
        && !inferred.is_empty()
        && let Some((column, _)) = schema::missing_key_column(&dest.primary_key, inferred)
    {
        plan.notes.push(format!(
            "the load would fail: the key column `{column}` is not in the sampled rows"
        ));
    }
}

/// The existing columns the sample's values do not fit: integer columns the load would widen
/// (its own rule: the encoder says which wider type holds the value), and values it would
/// refuse.
fn check_existing(
    dest: &PostgresDestination,
    existing: &[ServerColumn],
    sample: &[Record],
    plan: &mut DestinationPlan,
) {
    let mut buf = BytesMut::new();
    for column in existing {
        let Some(mut encoder) = Encoder::for_type(&column.ty) else {
            if sample
                .iter()
                .any(|r| r.get(&column.name).is_some_and(|v| !v.is_null()))
            {
                plan.notes.push(format!(
                    "the load would fail: column `{}` has type {}, which the load cannot write",
                    column.name, column.type_text
                ));
            }
            continue;
        };
        let overridden = dest.cfg.columns.contains_key(&column.name);
        let mut widened: Option<Widen> = None;
        for (row, record) in sample.iter().enumerate() {
            let Some(value) = record.get(&column.name).filter(|v| !v.is_null()) else {
                continue;
            };
            buf.clear();
            let misfit = match encoder.encode(value, &mut buf) {
                Ok(()) => continue,
                Err(m) => m,
            };
            match misfit.widen {
                Some(to) if !overridden => {
                    widened = Some(to);
                    encoder = to.encoder();
                }
                _ => {
                    let why = if misfit.widen.is_some() {
                        "; its type comes from the destination's `columns`, so it is not widened"
                    } else {
                        ""
                    };
                    plan.notes.push(format!(
                        "the load would fail: sampled row {} has a {}{} in column `{}` ({}){why}",
                        row + 1,
                        misfit.value_type,
                        misfit.detail,
                        column.name,
                        column.type_text
                    ));
                    break;
                }
            }
        }
        if let Some(to) = widened {
            plan.widen.push(Widening {
                name: column.name.clone(),
                from: column.type_text.clone(),
                to: to.sql().to_owned(),
            });
        }
    }
}

impl PostgresDestination {
    /// Connects and plans; the connection closes with the plan.
    pub(super) async fn plan_sample(
        &self,
        sample: &[Record],
        ctx: &dataforge_core::RunContext,
    ) -> Result<DestinationPlan, ComponentError> {
        let client = self.connect(ctx).await?;
        plan(self, &client, sample).await
    }
}
