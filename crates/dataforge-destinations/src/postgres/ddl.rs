//! SQL text for the `postgres` destination. Every identifier is quoted here; values never go
//! into SQL text (they travel as binary COPY data or as bind parameters).

use postgres_protocol::escape::escape_identifier;
use tokio_postgres::Client;
use tokio_postgres::types::Type;

use super::error::PostgresError;

/// A schema-qualified table: quoted for SQL, plain for messages.
#[derive(Clone, Debug)]
pub(crate) struct TableName {
    pub(crate) schema: String,
    pub(crate) table: String,
}

impl TableName {
    /// `"schema"."table"`, each part quoted separately.
    pub(crate) fn quoted(&self) -> String {
        format!(
            "{}.{}",
            escape_identifier(&self.schema),
            escape_identifier(&self.table)
        )
    }

    /// `schema.table`, for messages and the run report.
    pub(crate) fn display(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }
}

/// Quotes one identifier.
pub(crate) fn ident(name: &str) -> String {
    escape_identifier(name)
}

/// Quoted, comma-separated identifiers, each optionally prefixed (`t.`).
pub(crate) fn ident_list<'a>(names: impl IntoIterator<Item = &'a str>, prefix: &str) -> String {
    names
        .into_iter()
        .map(|n| format!("{prefix}{}", escape_identifier(n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A column as the server has it.
#[derive(Clone, Debug)]
pub(crate) struct ServerColumn {
    pub(crate) name: String,
    pub(crate) ty: Type,
    /// `format_type()` text, for messages (`numeric(12,2)`).
    pub(crate) type_text: String,
}

fn query_err(
    action: &str,
    table: &TableName,
) -> impl FnOnce(tokio_postgres::Error) -> PostgresError {
    let action = action.to_owned();
    let table = table.display();
    move |source| PostgresError::Query {
        action,
        table,
        source,
    }
}

/// Creates the schema when it is missing (checked first: `CREATE SCHEMA IF NOT EXISTS` needs
/// the database's CREATE privilege even when the schema exists).
pub(crate) async fn ensure_schema(client: &Client, table: &TableName) -> Result<(), PostgresError> {
    let exists = client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1",
            &[&table.schema],
        )
        .await
        .map_err(query_err("schema lookup", table))?
        .is_some();
    if !exists {
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                ident(&table.schema)
            ))
            .await
            .map_err(query_err("CREATE SCHEMA", table))?;
    }
    Ok(())
}

/// The table's columns in order, or `None` when it does not exist.
pub(crate) async fn table_columns(
    client: &Client,
    table: &TableName,
) -> Result<Option<Vec<ServerColumn>>, PostgresError> {
    let kind = client
        .query_opt(
            "SELECT c.relkind::text FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2",
            &[&table.schema, &table.table],
        )
        .await
        .map_err(query_err("table lookup", table))?;
    let Some(kind) = kind else { return Ok(None) };
    let kind: String = kind.get(0);
    if kind != "r" && kind != "p" {
        return Err(PostgresError::NotATable {
            table: table.display(),
        });
    }
    let rows = client
        .query(
            "SELECT a.attname::text, a.atttypid, pg_catalog.format_type(a.atttypid, a.atttypmod) \
             FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&table.schema, &table.table],
        )
        .await
        .map_err(query_err("column lookup", table))?;
    Ok(Some(
        rows.iter()
            .map(|r| {
                let oid: u32 = r.get(1);
                ServerColumn {
                    name: r.get(0),
                    // Unknown (extension) types keep their OID; the encoder lookup rejects them.
                    ty: Type::from_oid(oid).unwrap_or(Type::UNKNOWN),
                    type_text: r.get(2),
                }
            })
            .collect(),
    ))
}

/// `CREATE TABLE` with the given (already resolved) SQL types and optional primary key.
pub(crate) fn create_table_sql(
    table: &TableName,
    columns: &[(String, String)],
    primary_key: &[String],
) -> String {
    let mut parts: Vec<String> = columns
        .iter()
        .map(|(n, t)| format!("{} {t}", ident(n)))
        .collect();
    if !primary_key.is_empty() {
        parts.push(format!(
            "PRIMARY KEY ({})",
            ident_list(primary_key.iter().map(String::as_str), "")
        ));
    }
    format!("CREATE TABLE {} ({})", table.quoted(), parts.join(", "))
}

/// `ALTER TABLE ... ADD COLUMN ...` for each new column, in one statement.
pub(crate) fn add_columns_sql(table_sql: &str, columns: &[(String, String)]) -> String {
    let adds: Vec<String> = columns
        .iter()
        .map(|(n, t)| format!("ADD COLUMN {} {t}", ident(n)))
        .collect();
    format!("ALTER TABLE {table_sql} {}", adds.join(", "))
}

/// Runs a statement, naming the action in the error.
pub(crate) async fn exec(
    client: &Client,
    sql: &str,
    action: &str,
    table: &TableName,
) -> Result<(), PostgresError> {
    client
        .batch_execute(sql)
        .await
        .map_err(query_err(action, table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_stay_names() {
        let t = TableName {
            schema: "s\"; DROP SCHEMA public; --".into(),
            table: "x\"; DROP TABLE y; --".into(),
        };
        assert_eq!(
            t.quoted(),
            r#""s""; DROP SCHEMA public; --"."x""; DROP TABLE y; --""#
        );
        let sql = create_table_sql(&t, &[("a\"b".into(), "TEXT".into())], &["a\"b".into()]);
        assert!(
            sql.ends_with(r#"("a""b" TEXT, PRIMARY KEY ("a""b"))"#),
            "{sql}"
        );
    }
}
