//! Errors of the `postgres` destination.

use std::borrow::Cow;

use dataforge_core::{ComponentError, ConnectionError};
use dataforge_hooks::postgres::PgConnectError;

/// What can go wrong while loading into PostgreSQL. Never contains the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The `conn_id` could not be resolved.
    #[error("postgres destination: cannot resolve connection `{conn_id}`")]
    Connection {
        /// The connection id.
        conn_id: String,
        /// Why.
        #[source]
        source: ConnectionError,
    },
    /// The server could not be reached or refused the login.
    #[error("postgres destination")]
    Connect(#[source] PgConnectError),
    /// A statement failed.
    #[error("postgres destination: {action} on {table} failed")]
    Query {
        /// What was being done (`COPY`, `CREATE TABLE`, `upsert merge`, ...).
        action: String,
        /// The target table, as `schema.table`.
        table: String,
        /// The server's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// An upsert's key column is not in the data.
    #[error(
        "postgres destination: primary key column `{column}` is not in the data (columns seen: {seen}); nothing was written"
    )]
    MissingKeyColumn {
        /// The missing key column.
        column: String,
        /// The columns the data has.
        seen: String,
    },
    /// A row has a null primary key value.
    #[error(
        "postgres destination: row {row}: primary key column `{column}` is null; nothing was written"
    )]
    NullKey {
        /// The row number in this load, from 1.
        row: u64,
        /// The key column.
        column: String,
    },
    /// A value cannot be stored in its column's type.
    #[error(
        "postgres destination: row {row}{key}: column `{column}` of type {column_type} cannot hold {} {value_type} value{detail}; nothing was written",
        article(value_type)
    )]
    Misfit {
        /// The row number in this load, from 1.
        row: u64,
        /// The row's primary key, as ` (id=5)`, or empty.
        key: String,
        /// The column.
        column: String,
        /// The column's SQL type.
        column_type: String,
        /// The value's kind.
        value_type: &'static str,
        /// Extra detail, like ` (out of range)`.
        detail: Cow<'static, str>,
    },
    /// The server refused a row of the COPY (a constraint, a trigger, a type check).
    #[error("postgres destination: row {row}{key}: {column}{cause}; nothing was written")]
    Row {
        /// The row number in this load, from 1.
        row: u64,
        /// The row's primary key, as ` (id=5)`, or empty when unknown.
        key: String,
        /// `column `c`: ` when the server named one, else empty.
        column: String,
        /// The server's message and detail, cut to a readable length.
        cause: String,
        /// The server's error (kept for retry decisions, not shown again).
        error: tokio_postgres::Error,
    },
    /// An integer column had to widen for a row's value, and `ALTER COLUMN … TYPE` failed.
    #[error(
        "postgres destination: row {row}: column `{column}` of {table} must widen from {from} to {to} to hold the row's value, and that failed"
    )]
    Widen {
        /// The row number in this load, from 1.
        row: u64,
        /// The target.
        table: String,
        /// The column.
        column: String,
        /// The column's SQL type.
        from: String,
        /// The wider type.
        to: &'static str,
        /// The server's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A column name PostgreSQL cannot hold as it is.
    #[error("postgres destination: column name `{name}` {reason}; nothing was written")]
    ColumnName {
        /// The name (control characters escaped).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An upsert's target has no unique index on the key, and its rows prevent adding one.
    #[error(
        "postgres destination: {table} has no unique constraint on ({columns}) and its rows hold duplicate keys, so none can be added for the upsert{detail}; nothing was written"
    )]
    NoUniqueKey {
        /// The target.
        table: String,
        /// The key columns, comma-separated.
        columns: String,
        /// The server's example, as ` (Key (id)=(1) is duplicated.)`, or empty.
        detail: String,
    },
    /// The target exists but is not a table (a view, a sequence, ...).
    #[error("postgres destination: {table} exists but is not a table")]
    NotATable {
        /// The target.
        table: String,
    },
    /// A column has a type the binary COPY path cannot write.
    #[error(
        "postgres destination: column `{column}` of {table} has type {column_type}, which this destination cannot write (supported: boolean, smallint, integer, bigint, real, double precision, numeric, text, varchar, char, timestamptz, timestamp, date, json, jsonb, uuid)"
    )]
    UnsupportedType {
        /// The target.
        table: String,
        /// The column.
        column: String,
        /// The column's SQL type.
        column_type: String,
    },
    /// The data uses a column name this destination keeps for itself.
    #[error("postgres destination: column name `{0}` is reserved for the upsert staging table")]
    ReservedColumn(String),
    /// The state committed with the data cannot be written or read as JSON.
    #[error(
        "postgres destination: the state of pipeline `{pipeline}` in {table} is not valid JSON"
    )]
    StateJson {
        /// The state table, as `schema.table`.
        table: String,
        /// The pipeline.
        pipeline: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
}

impl PostgresError {
    /// Wraps the error for the runner: connection trouble (a provider temporarily unavailable,
    /// a server that does not answer), serialization failures and
    /// deadlocks are retryable; everything else (bad data, auth, SQL errors) is fatal.
    pub fn into_component(self) -> ComponentError {
        let retryable = match &self {
            PostgresError::Connect(e) => e.is_retryable(),
            PostgresError::Connection { source, .. } => source.is_retryable(),
            PostgresError::Query { source, .. }
            | PostgresError::Widen { source, .. }
            | PostgresError::Row { error: source, .. } => {
                dataforge_hooks::postgres::is_retryable(source)
            }
            _ => false,
        };
        if retryable {
            ComponentError::retryable(self)
        } else {
            ComponentError::fatal(self)
        }
    }
}

/// `an` before a vowel sound of the value kinds (`an integer`, `an object`), else `a`.
fn article(word: &str) -> &'static str {
    match word.as_bytes().first() {
        Some(b'a' | b'e' | b'i' | b'o' | b'u') => "an",
        _ => "a",
    }
}

/// PostgreSQL's longest identifier, in bytes; longer ones are silently cut.
pub(crate) const MAX_IDENTIFIER: usize = 63;

/// Checks a column name before it goes into `CREATE TABLE` or `ADD COLUMN`.
///
/// # Errors
/// [`PostgresError::ColumnName`] naming the byte length and the limit, or the NUL.
/// Turns a failed query on `table` into the load's error, naming what was being done.
pub(crate) fn query_error(
    action: &str,
    table: &super::ddl::TableName,
) -> impl FnOnce(tokio_postgres::Error) -> ComponentError + use<> {
    let action = action.to_owned();
    let table = table.display();
    move |source| {
        PostgresError::Query {
            action,
            table,
            source,
        }
        .into_component()
    }
}

pub(crate) fn check_column_name(name: &str) -> Result<(), PostgresError> {
    let reason = if name.contains('\0') {
        "contains a NUL character, which PostgreSQL names cannot hold".to_owned()
    } else if name.len() > MAX_IDENTIFIER {
        format!(
            "is {} bytes long; PostgreSQL names are at most {MAX_IDENTIFIER} bytes (longer ones are cut), so rename the column (e.g. with the `rename` transform)",
            name.len()
        )
    } else if name.is_empty() {
        "is empty".to_owned()
    } else {
        return Ok(());
    };
    Err(PostgresError::ColumnName {
        name: name.escape_debug().to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misfits_read_as_english() {
        let e = PostgresError::Misfit {
            row: 3,
            key: " (id=3)".into(),
            column: "n".into(),
            column_type: "integer".into(),
            value_type: "integer",
            detail: Cow::Borrowed(" (out of range)"),
        };
        assert_eq!(
            e.to_string(),
            "postgres destination: row 3 (id=3): column `n` of type integer cannot hold an integer value (out of range); nothing was written"
        );
        assert_eq!(article("string"), "a");
        assert_eq!(article("array"), "an");
    }

    #[test]
    fn column_names_over_63_bytes_are_named() {
        let e = check_column_name(&"c".repeat(70)).expect_err("too long");
        assert!(e.to_string().contains("is 70 bytes long"), "{e}");
        check_column_name(&"é".repeat(31)).expect("62 bytes");
        assert!(check_column_name("é".repeat(32).as_str()).is_err());
        assert!(check_column_name("a\0b").is_err());
    }
}
