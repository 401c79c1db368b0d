//! # dataforge-core
//!
//! The core of DataForge, a library for declarative data pipelines: extract → transforms → load.
//!
//! - [`Value`] and [`Record`]: the data model; a [`Batch`] is a `Vec<Record>`.
//! - [`Source`], [`Transform`], [`Destination`]: the component traits.
//! - [`Registry`]: component `type` names to factories, filled at link time (`inventory`) or
//!   from code (see the [`registry`] module for the linking rule).
//! - [`PipelineConfig`] and [`load_paths`]: pipeline JSON files, every error reported at once.
//! - [`Pipeline`]: built from config or with [`Pipeline::builder`]; [`Pipeline::run`] streams
//!   batches through bounded channels with retries, cancellation and a [`RunReport`].
//! - [`ConnectionProvider`]: `conn_id` → URI, from `DATAFORGE_CONN_*` by default.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use dataforge_core::{Pipeline, PipelineConfig, Registry, RunOptions};
//! let registry = Registry::global()?; // link component crates: `use dataforge_sources as _;`
//! let parsed = PipelineConfig::from_file("pipelines/orders.json".as_ref())?;
//! let pipeline = Pipeline::from_config(&parsed.config, registry)?;
//! let report = pipeline.run(&RunOptions::default()).await;
//! println!("{} rows loaded", report.rows_loaded);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod component;
pub mod config;
pub mod connection;
pub mod context;
pub mod error;
pub mod pipeline;
pub mod registry;
pub mod runner;
pub mod state;
pub mod stream;
#[cfg(any(test, feature = "test-utils"))]
pub mod test_utils;
pub mod value;

pub use component::{Destination, LoadSummary, Preparer, Rejected, RowContext, Source, Transform};
pub use config::{OnError, PipelineConfig, load_paths};
pub use connection::{
    Connection, ConnectionError, ConnectionProvider, EnvConnections, SecretString,
    StaticConnections,
};
pub use context::RunContext;
pub use error::{
    BoxError, ComponentError, ConfigErrors, ConfigIssue, MAX_ECHO, RegistryError, Retry, RunError,
    clip, error_chain,
};
pub use pipeline::{Pipeline, PipelineBuilder, RunSettings};
pub use registry::{
    ComponentKind, DestinationFactory, Registration, Registry, SourceFactory, TransformFactory,
};
pub use runner::{Progress, RunOptions, RunReport, RunStatus};
pub use state::{FileStateStore, MemoryStateStore, StateStore};
pub use stream::{Batch, BatchReceiver, BatchSender, DeferredBatch, Prepared};
pub use value::{Columns, Record, Value};

/// Re-exported for component authors: `async_trait` for implementing the traits.
pub use async_trait::async_trait;
/// Re-exported so the `register_*!` macros work without a direct dependency.
#[doc(hidden)]
pub use inventory;
/// Re-exported for component configs: `#[derive(JsonSchema)]`.
pub use schemars;

/// Rows per batch when a pipeline does not say.
pub const DEFAULT_BATCH_SIZE: usize = 1000;

/// Where DataForge keeps its own files: `$DATAFORGE_HOME`, default `.dataforge`.
pub fn dataforge_home() -> std::path::PathBuf {
    std::env::var_os("DATAFORGE_HOME")
        .filter(|v| !v.is_empty())
        .map_or_else(|| ".dataforge".into(), Into::into)
}
