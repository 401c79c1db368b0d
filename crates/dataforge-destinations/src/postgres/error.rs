//! Errors of the `postgres` destination.

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
        "postgres destination: row {row}: column `{column}` of type {column_type} cannot hold a {value_type} value{detail}; nothing was written"
    )]
    Misfit {
        /// The row number in this load, from 1.
        row: u64,
        /// The column.
        column: String,
        /// The column's SQL type.
        column_type: String,
        /// The value's kind.
        value_type: &'static str,
        /// Extra detail, like ` (out of range)`.
        detail: &'static str,
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
}

impl PostgresError {
    /// Wraps the error for the runner: connection trouble, serialization failures and
    /// deadlocks are retryable; everything else (bad data, auth, SQL errors) is fatal.
    pub fn into_component(self) -> ComponentError {
        let retryable = match &self {
            PostgresError::Connect(e) => e.is_retryable(),
            PostgresError::Query { source, .. } => dataforge_hooks::postgres::is_retryable(source),
            _ => false,
        };
        if retryable {
            ComponentError::retryable(self)
        } else {
            ComponentError::fatal(self)
        }
    }
}
