//! SQL text for the `postgres` destination. Every identifier is quoted here; values never go
//! into SQL text (they travel as binary COPY data or as bind parameters).

use postgres_protocol::escape::escape_identifier;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

use super::copy::cut;
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
    /// `atttypmod`: the `n` of `varchar(n)`, the precision and scale of `numeric` (-1: none).
    pub(crate) typmod: i32,
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

/// True when the table's schema exists.
pub(crate) async fn schema_exists(
    client: &Client,
    table: &TableName,
) -> Result<bool, PostgresError> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1",
            &[&table.schema],
        )
        .await
        .map_err(query_err("schema lookup", table))?
        .is_some())
}

/// Creates the schema when it is missing (checked first: `CREATE SCHEMA IF NOT EXISTS` needs
/// the database's CREATE privilege even when the schema exists).
pub(crate) async fn ensure_schema(client: &Client, table: &TableName) -> Result<(), PostgresError> {
    if !schema_exists(client, table).await? {
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
            "SELECT a.attname::text, a.atttypid, pg_catalog.format_type(a.atttypid, a.atttypmod), \
                    a.atttypmod \
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
                    typmod: r.get(3),
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

/// The columns of the table's primary key, in key order (empty when it has none).
pub(crate) async fn primary_key_columns(
    client: &Client,
    table: &TableName,
) -> Result<Vec<String>, PostgresError> {
    let rows = client
        .query(
            "SELECT a.attname::text FROM pg_catalog.pg_index i \
             JOIN pg_catalog.pg_class c ON c.oid = i.indrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum \
             WHERE n.nspname = $1 AND c.relname = $2 AND i.indisprimary \
             ORDER BY k.ord",
            &[&table.schema, &table.table],
        )
        .await
        .map_err(query_err("primary key lookup", table))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// True when `ON CONFLICT (key)` finds an arbiter: a valid, non-partial, non-deferrable unique
/// index on exactly the key columns (in any order). Reads the catalog only.
pub(crate) async fn has_unique_key(
    client: &Client,
    table: &TableName,
    key: &[String],
) -> Result<bool, PostgresError> {
    let found = client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_index i \
             JOIN pg_catalog.pg_class c ON c.oid = i.indrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 \
               AND i.indisunique AND i.indisvalid AND i.indimmediate \
               AND i.indpred IS NULL AND i.indexprs IS NULL \
               AND i.indnkeyatts = cardinality($3::text[]) \
               AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) \
                    FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum \
                    WHERE k.ord <= i.indnkeyatts) \
                 = (SELECT array_agg(x ORDER BY x) FROM unnest($3::text[]) AS x) \
             LIMIT 1",
            &[&table.schema, &table.table, &key],
        )
        .await
        .map_err(query_err("unique key lookup", table))?;
    Ok(found.is_some())
}

/// Makes sure `ON CONFLICT (key)` finds an arbiter ([`has_unique_key`]). When there is none,
/// one is created in the load's transaction; when the table's rows hold duplicate keys, that
/// is an error naming the table and the columns.
pub(crate) async fn ensure_unique_key(
    client: &Client,
    table: &TableName,
    key: &[String],
) -> Result<(), PostgresError> {
    if has_unique_key(client, table, key).await? {
        return Ok(());
    }
    let columns = key.join(", ");
    let name = unique_index_name(table, key);
    tracing::warn!(
        table = %table.display(),
        columns = %columns,
        index = %name,
        "upsert target has no unique index on its key; creating one"
    );
    let sql = format!(
        "CREATE UNIQUE INDEX {} ON {} ({})",
        ident(&name),
        table.quoted(),
        ident_list(key.iter().map(String::as_str), "")
    );
    match client.batch_execute(&sql).await {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            let detail = e
                .as_db_error()
                .and_then(|d| d.detail())
                .map(|d| format!(" ({})", cut(d, 200)))
                .unwrap_or_default();
            Err(PostgresError::NoUniqueKey {
                table: table.display(),
                columns,
                detail,
            })
        }
        Err(e) => Err(query_err("CREATE UNIQUE INDEX", table)(e)),
    }
}

/// The name of the unique index an upsert adds: `<table>_<columns>` cut to fit, a hash of the
/// full table and column names (so cut names stay distinct), `_key`; at most 63 bytes and the
/// same for the same table and key on every run.
pub(crate) fn unique_index_name(table: &TableName, key: &[String]) -> String {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut hash: u32 = 0x811c_9dc5;
    for part in std::iter::once(&table.table).chain(key) {
        for b in part.bytes().chain(std::iter::once(0)) {
            hash ^= u32::from(b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    let mut base = table.table.clone();
    for k in key {
        base.push('_');
        base.push_str(k);
    }
    // 50 + `_` + 8 hex digits + `_key` = 63.
    let mut end = base.len().min(50);
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}_{hash:08x}_key", &base[..end])
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

    #[test]
    fn unique_index_names_are_stable_short_and_distinct() {
        let t = |table: &str| TableName {
            schema: "s".into(),
            table: table.into(),
        };
        let key = ["id".to_owned()];
        let a = unique_index_name(&t("orders"), &key);
        assert_eq!(a, unique_index_name(&t("orders"), &key));
        assert!(a.starts_with("orders_id_") && a.ends_with("_key"), "{a}");
        let long = "é".repeat(40);
        let b = unique_index_name(&t(&long), &key);
        let c = unique_index_name(&t(&format!("{long}x")), &key);
        assert!(b.len() <= 63 && c.len() <= 63, "{b} {c}");
        assert_ne!(b, c);
    }
}
