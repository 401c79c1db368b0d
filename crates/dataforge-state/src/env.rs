//! Choosing a store: PostgreSQL when `DATAFORGE_STATE_URL` is set, else SQLite under home.

use std::path::Path;
use std::sync::Arc;

use dataforge_core::StateStore;

use crate::StoreError;

/// The variable that selects the PostgreSQL store: `DATAFORGE_STATE_URL=postgres://…`.
pub const STATE_URL_VAR: &str = "DATAFORGE_STATE_URL";

/// The variable that names the PostgreSQL store's schema (default `dataforge`): processes
/// that share runs must name the same one.
pub const STATE_SCHEMA_VAR: &str = "DATAFORGE_STATE_SCHEMA";

/// The store the `dataforge` command uses: PostgreSQL (schema `dataforge`) when
/// `DATAFORGE_STATE_URL` is set and not empty (its tables in `DATAFORGE_STATE_SCHEMA` when set),
/// else SQLite in `home/state.db`, importing the
/// JSON cursor files of `home/state/` on first use.
///
/// ```no_run
/// # async fn demo() -> Result<(), dataforge_state::StoreError> {
/// let store = dataforge_state::state_store_from_env(&dataforge_core::dataforge_home()).await?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`StoreError`]: the database cannot be opened, reached or migrated, or the selected store
/// is not in this build.
pub async fn state_store_from_env(home: &Path) -> Result<Arc<dyn StateStore>, StoreError> {
    let url = std::env::var(STATE_URL_VAR).ok();
    let schema = std::env::var(STATE_SCHEMA_VAR).ok();
    match url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => {
            postgres(
                url,
                schema.as_deref().map(str::trim).filter(|s| !s.is_empty()),
            )
            .await
        }
        None => sqlite(home).await,
    }
}

/// As [`state_store_from_env`], with the URL given: PostgreSQL for `Some` non-empty URL, else
/// SQLite in `home/state.db`.
///
/// # Errors
/// As [`state_store_from_env`].
pub async fn open_state_store(
    url: Option<&str>,
    home: &Path,
) -> Result<Arc<dyn StateStore>, StoreError> {
    match url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => postgres(url, None).await,
        None => sqlite(home).await,
    }
}

/// The PostgreSQL store at `url`, its tables in `schema` (default `dataforge`).
#[cfg(feature = "postgres")]
async fn postgres(url: &str, schema: Option<&str>) -> Result<Arc<dyn StateStore>, StoreError> {
    let schema = schema.unwrap_or(crate::PostgresStateStore::DEFAULT_SCHEMA);
    Ok(Arc::new(
        crate::PostgresStateStore::connect_in_schema(url, schema).await?,
    ))
}

#[cfg(not(feature = "postgres"))]
async fn postgres(_url: &str, _schema: Option<&str>) -> Result<Arc<dyn StateStore>, StoreError> {
    Err(StoreError::Disabled("DATAFORGE_STATE_URL (postgres)"))
}

#[cfg(feature = "sqlite")]
async fn sqlite(home: &Path) -> Result<Arc<dyn StateStore>, StoreError> {
    Ok(Arc::new(crate::SqliteStateStore::open_in_home(home).await?))
}

#[cfg(not(feature = "sqlite"))]
async fn sqlite(_home: &Path) -> Result<Arc<dyn StateStore>, StoreError> {
    Err(StoreError::Disabled("the SQLite state store (sqlite)"))
}
