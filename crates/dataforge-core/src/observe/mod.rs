//! Watching runs: [`RunObserver`]s the runner tells when each run starts and ends (OpenLineage,
//! audit logs), the [`LineageDataset`]s components describe themselves as, and the run metrics
//! the runner records through the [`metrics`](https://docs.rs/metrics) facade (a no-op until
//! the application installs a recorder, such as `dataforge serve --metrics-addr`).

mod dataset;
mod observer;
pub mod run_metrics;

pub use dataset::{DatasetField, LineageDataset};
pub use observer::{ObservedRun, RunObserver};
