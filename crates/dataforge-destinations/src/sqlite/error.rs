//! Errors of the `sqlite` destination.

use dataforge_core::ComponentError;

/// What can go wrong while loading into SQLite.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// A statement failed.
    #[error("sqlite destination: {action} on `{table}` in {path} failed")]
    Sql {
        /// What was being done.
        action: &'static str,
        /// The table.
        table: String,
        /// The database file.
        path: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// An upsert's key column is not in the data.
    #[error(
        "sqlite destination: primary key column `{column}` is not in the data (columns seen: {seen}); nothing was written"
    )]
    MissingKeyColumn {
        /// The missing key column.
        column: String,
        /// The columns the data has.
        seen: String,
    },
    /// A row has a null primary key value.
    #[error(
        "sqlite destination: row {row}: primary key column `{column}` is null; nothing was written"
    )]
    NullKey {
        /// The row number in this load, from 1.
        row: u64,
        /// The key column.
        column: String,
    },
    /// A value cannot be stored in its column's declared type.
    #[error(
        "sqlite destination: row {row}: column `{column}` of type {column_type} cannot hold {} {value_type} value; nothing was written",
        article(value_type)
    )]
    Misfit {
        /// The row number in this load, from 1.
        row: u64,
        /// The column.
        column: String,
        /// The declared type.
        column_type: String,
        /// The value's kind.
        value_type: &'static str,
    },
    /// The blocking writer thread stopped unexpectedly.
    #[error("sqlite destination: the writer thread stopped: {0}")]
    Thread(String),
    /// The state committed with the data cannot be written or read as JSON.
    #[error("sqlite destination: the state of pipeline `{pipeline}` in {path} is not valid JSON")]
    StateJson {
        /// The database file.
        path: String,
        /// The pipeline.
        pipeline: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
}

impl SqliteError {
    /// Wraps the error for the runner: a busy or locked database is retryable, the rest fatal.
    pub fn into_component(self) -> ComponentError {
        let busy = matches!(
            &self,
            SqliteError::Sql { source: rusqlite::Error::SqliteFailure(e, _), .. }
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        if busy {
            ComponentError::retryable(self)
        } else {
            ComponentError::fatal(self)
        }
    }
}

/// `an` before the value kinds that start with a vowel (`an integer`), else `a`.
fn article(word: &str) -> &'static str {
    match word.as_bytes().first() {
        Some(b'a' | b'e' | b'i' | b'o' | b'u') => "an",
        _ => "a",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misfits_read_as_english() {
        let e = SqliteError::Misfit {
            row: 2,
            column: "n".into(),
            column_type: "TEXT".into(),
            value_type: "integer",
        };
        assert!(
            e.to_string()
                .contains("column `n` of type TEXT cannot hold an integer value"),
            "{e}"
        );
    }
}
