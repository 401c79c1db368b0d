//! [`StoreError`]: why a state database could not be opened, migrated, read or written.

use std::path::PathBuf;

use dataforge_core::StateError;

/// Why a state database could not be opened, migrated, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A SQLite call failed.
    #[cfg(feature = "sqlite")]
    #[error("state database {path}: cannot {action}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The directory of the SQLite file could not be created.
    #[error("cannot create the state directory {path}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `DATAFORGE_STATE_URL` is not a URI.
    #[error("DATAFORGE_STATE_URL is not a valid URI")]
    Url(#[source] dataforge_core::ConnectionError),
    /// The PostgreSQL server could not be reached or refused us.
    #[cfg(feature = "postgres")]
    #[error("cannot connect to the state database")]
    Connect(#[source] dataforge_hooks::postgres::PgConnectError),
    /// A PostgreSQL statement failed.
    #[cfg(feature = "postgres")]
    #[error("state database {target}: cannot {action}")]
    Postgres {
        /// The redacted URI and schema.
        target: String,
        /// What was being done.
        action: &'static str,
        /// The driver's error (never contains the password).
        #[source]
        source: tokio_postgres::Error,
    },
    /// A stored value could not be read back.
    #[error("state database {target}: {detail}")]
    Corrupt {
        /// The database.
        target: String,
        /// What is wrong.
        detail: String,
    },
    /// A store this build leaves out was asked for.
    #[error("{0}: this build has no such state store (enable the crate feature)")]
    Disabled(&'static str),
    /// The blocking thread of a SQLite call stopped.
    #[error("state database {path}: the worker thread stopped")]
    Thread {
        /// The database file.
        path: PathBuf,
        /// Why.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl StoreError {
    /// True when a later attempt may succeed (a busy database, a lost connection).
    pub fn is_retryable(&self) -> bool {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite {
                source: rusqlite::Error::SqliteFailure(e, _),
                ..
            } => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            #[cfg(feature = "postgres")]
            Self::Connect(e) => e.is_retryable(),
            #[cfg(feature = "postgres")]
            Self::Postgres { source, .. } => dataforge_hooks::postgres::is_retryable(source),
            _ => false,
        }
    }
}

impl From<StoreError> for StateError {
    fn from(e: StoreError) -> Self {
        StateError::Other(Box::new(e))
    }
}
