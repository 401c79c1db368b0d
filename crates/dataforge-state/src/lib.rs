//! DataForge state stores: cursors and run history in SQLite (embedded, the default) or
//! PostgreSQL (shared by several processes or machines).
//!
//! Both implement [`dataforge_core::StateStore`]: cursors ([`load`](StateStore::load),
//! [`save`](StateStore::save)) and run history ([`record_run`](StateStore::record_run),
//! [`runs`](StateStore::runs), [`last_successful`](StateStore::last_successful)). Their tables
//! (`schema_migrations`, `runs`, `cursors`, and in PostgreSQL `run_claims`) are created on first use by versioned migrations,
//! applied in order and exactly once even when several processes open the store together.
//!
//! [`state_store_from_env`] picks one the way the `dataforge` command does: PostgreSQL when
//! `DATAFORGE_STATE_URL` is set, else SQLite in `$DATAFORGE_HOME/state.db` (which imports the
//! older JSON cursor files of `$DATAFORGE_HOME/state/` on first use).
//!
//! ```no_run
//! use dataforge_core::{RunOptions, RunQuery};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = dataforge_state::state_store_from_env(&dataforge_core::dataforge_home()).await?;
//! let options = RunOptions { state_store: store.clone(), ..RunOptions::default() };
//! for run in store.runs(&RunQuery::pipeline("orders").limit(10)).await? {
//!     println!("{} {} {}", run.logical_date, run.status, run.rows_loaded);
//! }
//! # drop(options);
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod env;
mod error;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use dataforge_core::StateStore;
pub use env::{STATE_SCHEMA_VAR, STATE_URL_VAR, open_state_store, state_store_from_env};
pub use error::StoreError;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStateStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStateStore;

/// The schema version this build migrates a SQLite state database to (the number of its
/// migrations).
pub const SCHEMA_VERSION: i64 = 2;

/// The schema version this build migrates a PostgreSQL state database to: SQLite's, plus the
/// run claims that let several schedulers share it (3).
pub const POSTGRES_SCHEMA_VERSION: i64 = 3;
