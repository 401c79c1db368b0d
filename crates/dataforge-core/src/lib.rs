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
//! - [`Pipeline::plan`]: what a run would do to its destination, from a sample of its source
//!   ([`PipelinePlan`], [`DestinationPlan`]); nothing is written.
//! - [`Timetable`], [`DataInterval`] and [`Clock`]: Airflow's schedule semantics (cron in a
//!   time zone, catchup, `end_date`, `@once`) as pure functions, and a clock tests can move.
//! - [`ConnectionProvider`]: `conn_id` → URI, from `DATAFORGE_CONN_*` by default (falling back
//!   to Airflow's `AIRFLOW_CONN_*`).
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
//!
//! # A custom component
//! A crate of your own, depending on `dataforge-core` only (and `serde` for the derive):
//! a factory with a typed config, the component, one line to register it at link time and one
//! to generate the crate's `register(&mut Registry)`. Every trait with async methods
//! ([`Source`], [`Destination`], [`StateStore`], [`ConnectionProvider`]) is implemented with
//! `#[async_trait]` (re-exported here; forgetting it gives `error[E0195]`); [`Transform`] is
//! plain CPU work.
//!
//! ```standalone_crate
//! use dataforge_core::schemars::{self, JsonSchema};
//! use dataforge_core::{
//!     Batch, ComponentError, ConfigErrors, ConfigIssue, OnError, Registry, RowContext,
//!     RunContext, Transform, TransformFactory, Value, record, serde_json::json,
//! };
//!
//! /// `{"type": "uppercase", "columns": ["name"]}`
//! #[derive(serde::Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! pub struct UppercaseConfig {
//!     /// The string columns to upper-case.
//!     pub columns: Vec<String>,
//! }
//!
//! /// Upper-cases string columns; a column of another type rejects the row.
//! pub struct Uppercase(Vec<String>);
//!
//! impl Transform for Uppercase {
//!     fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
//!         let mut out = Vec::with_capacity(batch.len());
//!         'rows: for mut record in batch {
//!             for column in &self.0 {
//!                 match record.get_mut(column) {
//!                     Some(Value::String(s)) => *s = s.to_uppercase(),
//!                     Some(Value::Null) | None => {}
//!                     Some(other) => {
//!                         let reason = format!("`{column}` is {}, not a string", other.type_name());
//!                         rows.reject(record, reason); // the step's on_error decides
//!                         continue 'rows;
//!                     }
//!                 }
//!             }
//!             out.push(record);
//!         }
//!         Ok(out)
//!     }
//! }
//!
//! /// Builds `uppercase` from its config: pure, no I/O.
//! pub struct UppercaseFactory;
//!
//! impl TransformFactory for UppercaseFactory {
//!     const NAME: &'static str = "uppercase";
//!     const DESCRIPTION: &'static str = "Upper-cases string columns";
//!     type Config = UppercaseConfig;
//!     fn build(config: UppercaseConfig) -> Result<impl Transform, ConfigErrors> {
//!         if config.columns.is_empty() {
//!             return Err(ConfigIssue::at("columns", "name at least one column").into());
//!         }
//!         Ok(Uppercase(config.columns))
//!     }
//! }
//!
//! dataforge_core::register_transform!(UppercaseFactory); // found by `Registry::global()`
//! dataforge_core::component_crate!(); // `pub fn register(&mut Registry)` for this crate
//!
//! // In the service: the type name in a pipeline file, or in code.
//! let mut registry = Registry::new();
//! register(&mut registry)?;
//! let step = registry.build_transform(&json!({
//!     "type": "uppercase", "columns": ["name"], "on_error": "skip"
//! }))?;
//! assert_eq!(step.on_error, OnError::Skip);
//!
//! let run = RunContext::builder("demo").build();
//! let mut rows = RowContext::new(&run);
//! let out = step.component.transform(
//!     vec![record! {"name" => "ada"}, record! {"name" => 7}],
//!     &mut rows,
//! )?;
//! assert_eq!(out[0]["name"], Value::from("ADA"));
//! assert_eq!(rows.take_rejected().len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A binary that uses such a crate names it once (`use my_components as _;`) or calls its
//! `register`: see the [`registry`] module for the linking rule. `examples/custom-component` in
//! the repository is a complete crate with a source, a transform, a destination and a test.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod airflow_connection;
pub mod component;
pub mod config;
pub mod connection;
pub mod context;
pub mod error;
pub mod observe;
pub mod pipeline;
pub mod pipeline_tests;
pub mod plan;
pub mod projection;
pub mod registry;
pub mod run_local;
pub mod runner;
pub mod schedule;
pub mod scheduler;
pub mod state;
pub mod stream;
pub mod template;
#[cfg(any(test, feature = "test-utils"))]
pub mod test_utils;
pub mod value;

pub use component::{Destination, LoadSummary, Preparer, Rejected, RowContext, Source, Transform};
pub use config::{OnError, PipelineConfig, RejectBudget, load_paths};
pub use connection::{
    Connection, ConnectionError, ConnectionProvider, EnvConnections, SecretString,
    StaticConnections,
};
pub use context::{RunContext, RunContextBuilder};
pub use error::{
    BoxError, ComponentError, ConfigErrors, ConfigIssue, MAX_ECHO, RegistryError, Retry, RunError,
    Stage, clip, error_chain,
};
pub use pipeline::{IntoComponent, Named, Pipeline, PipelineBuilder, RunSettings, TransformStep};
pub use plan::{DestinationPlan, PipelinePlan, PlannedColumn, RejectedGroup, Widening};
pub use projection::Projection;
pub use registry::{
    BuiltTransform, ComponentKind, DestinationFactory, Registration, Registry, SourceFactory,
    TransformFactory,
};
pub use run_local::RunLocal;
pub use runner::{CommitGuard, Progress, RunOptions, RunReport, RunStatus, WorkerPool};
pub use schedule::{Clock, DataInterval, ManualClock, ScheduleError, SystemClock, Timetable};
pub use scheduler::{RunEvent, Scheduler, SchedulerError, SchedulerHandle};
pub use state::{
    Claim, ClaimRequest, FileStateStore, MemoryStateStore, RunQuery, RunRecord, RunState,
    RunTrigger, State, StateError, StateHandle, StateStore,
};
pub use stream::{Batch, BatchReceiver, BatchSender, DeferredBatch, Prepared};
pub use value::{
    Columns, CompactString, JsonError, ProjectedParser, Record, Value, ValueTypeError,
};

/// Re-exported for component authors: `async_trait` for implementing the traits (every trait
/// with async methods needs it on the impl; without it, `error[E0195]`).
pub use async_trait::async_trait;
/// Re-exported: the date and time types of [`Value::Timestamp`] and [`Value::Date`], at the
/// version this crate uses.
pub use chrono;
/// Re-exported: the IANA time zones of [`PipelineConfig::timezone`], at the version this
/// crate uses.
pub use chrono_tz;
/// Re-exported so the `register_*!` macros work without a direct dependency.
#[doc(hidden)]
pub use inventory;
/// Re-exported: the decimal type of [`Value::Decimal`], at the version this crate uses.
pub use rust_decimal::{self, Decimal};
/// Re-exported for component configs: `#[derive(JsonSchema)]`.
pub use schemars;
/// Re-exported: state values and component configs are `serde_json` values.
pub use serde_json;
/// Re-exported: the run's cancellation token ([`RunContext::cancellation`], [`RunOptions`]).
pub use tokio_util::sync::CancellationToken;

/// Rows per batch when a pipeline does not say.
pub const DEFAULT_BATCH_SIZE: usize = 1000;

/// Where DataForge keeps its own files: `$DATAFORGE_HOME`, default `.dataforge`.
pub fn dataforge_home() -> std::path::PathBuf {
    std::env::var_os("DATAFORGE_HOME")
        .filter(|v| !v.is_empty())
        .map_or_else(|| ".dataforge".into(), Into::into)
}
