//! The three component traits: [`Source`], [`Transform`] and [`Destination`], and the
//! [`Preparer`] a destination may hand the runner for its per-batch CPU work.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::context::RunContext;
use crate::error::ComponentError;
use crate::observe::{DatasetField, LineageDataset};
use crate::plan::DestinationPlan;
use crate::projection::Projection;
use crate::state::State;
use crate::stream::{Batch, BatchReceiver, BatchSender, Prepared};
use crate::value::Record;

/// Extracts records and pushes them downstream in batches.
///
/// Implementations use `#[async_trait]` (re-exported as [`crate::async_trait`]); forgetting
/// it gives `error[E0195]: lifetime parameters or bounds on method do not match the trait
/// declaration`. `?` works on the errors a source meets: a [`crate::ConnectionError`] or
/// [`crate::StateError`] (each retryable or fatal by its kind), a full channel's error.
///
/// ```no_run
/// use dataforge_core::{
///     BatchSender, ComponentError, Record, RunContext, Source, async_trait, record, serde_json,
/// };
///
/// /// Orders from a shop's API, from the cursor the last committed run saved.
/// struct Orders;
///
/// #[async_trait]
/// impl Source for Orders {
///     async fn extract(&self, ctx: &RunContext, out: &mut BatchSender) -> Result<(), ComponentError> {
///         let shop = ctx.connection("shop").await?; // retryable when the provider is unavailable
///         let since = ctx.state().get("cursor").and_then(|c| c.as_i64()).unwrap_or(0);
///         let mut batch: Vec<Record> = Vec::with_capacity(ctx.batch_size());
///         for id in since + 1..=since + 3 {
///             // A real source would call `shop.expose_url()` here.
///             batch.push(record! {"id" => id, "shop" => shop.host().unwrap_or_default()});
///         }
///         out.send(batch).await?;
///         ctx.state().set("cursor", serde_json::json!(since + 3)); // saved if the load commits
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait Source: Send + Sync + 'static {
    /// Reads the data and sends it in batches of about `ctx.batch_size()` rows.
    ///
    /// Return after the last batch; the runner marks the end of the stream. A source that reads
    /// incrementally takes its cursor from `ctx.state()` and stages the new one there: it is saved
    /// only when the load commits.
    ///
    /// A source whose rows take CPU work to decode (text to parse) may send that work instead,
    /// with [`BatchSender::send_deferred`]: the runner runs it on the worker thread that then
    /// transforms the batch, in parallel, order kept.
    ///
    /// # Errors
    /// Any failure to read; an error from `out.send` (the destination stopped) is returned as is.
    async fn extract(&self, ctx: &RunContext, out: &mut BatchSender) -> Result<(), ComponentError>;

    /// What this source reads, named for lineage (OpenLineage's input dataset); asked once per
    /// run, only when the run has [observers](crate::observe::RunObserver). It must hold no
    /// credentials. The default: not said.
    async fn lineage_dataset(&self, _ctx: &RunContext) -> Option<LineageDataset> {
        None
    }
}

/// Maps a batch to a batch. Transforms are CPU work: the runner calls them on its worker threads,
/// several batches at once unless [`Transform::is_ordered`] says otherwise.
///
/// One transform serves every run of its pipeline, concurrent ones included: state kept across
/// the batches of a run belongs in a [`RunLocal`](crate::RunLocal), which gives each run (each
/// attempt) its own value and drops it with the run, never in the transform itself.
///
/// Its methods are plain functions, so an impl needs no `#[async_trait]` (unlike [`Source`],
/// [`Destination`], [`crate::StateStore`] and [`crate::ConnectionProvider`], whose impls do:
/// forgetting it there gives `error[E0195]`). A row the transform cannot handle goes to
/// [`RowContext::reject`], and the step's `on_error` decides its fate.
///
/// ```
/// use dataforge_core::{Batch, ComponentError, RowContext, RunContext, Transform, record};
///
/// /// Adds `total = price * quantity`; rows without a numeric price are rejected.
/// struct Total;
///
/// impl Transform for Total {
///     fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
///         let mut out = Vec::with_capacity(batch.len());
///         for mut record in batch {
///             let price = f64::try_from(&record["price"]);
///             let quantity = i64::try_from(&record["quantity"]);
///             match (price, quantity) {
///                 (Ok(p), Ok(q)) => {
///                     record.insert("total", p * q as f64);
///                     out.push(record);
///                 }
///                 (Err(e), _) | (_, Err(e)) => rows.reject(record, e),
///             }
///         }
///         Ok(out)
///     }
/// }
///
/// let run = RunContext::builder("demo").build();
/// let mut rows = RowContext::new(&run);
/// let batch = vec![
///     record! {"price" => 2.5, "quantity" => 4},
///     record! {"price" => "n/a", "quantity" => 1},
/// ];
/// let out = Total.transform(batch, &mut rows)?;
/// assert_eq!(out[0]["total"], 10.0.into());
/// assert_eq!(rows.take_rejected()[0].reason, "expected f64, found string");
/// # Ok::<(), ComponentError>(())
/// ```
pub trait Transform: Send + Sync + 'static {
    /// Transforms one batch. A row that cannot be transformed goes to `rows.reject(..)`; the
    /// pipeline's `on_error` policy for this transform decides what happens to it.
    ///
    /// # Errors
    /// Only for failures of the whole batch; row problems are rejections.
    fn transform(&self, batch: Batch, rows: &mut RowContext<'_>) -> Result<Batch, ComponentError>;

    /// Called once after the last batch, for transforms that hold rows back (such as
    /// `deduplicate` keeping the last row of each key): the rows returned go on through the
    /// rest of the chain. The default holds nothing back.
    ///
    /// # Errors
    /// As [`Transform::transform`].
    fn finish(&self, _rows: &mut RowContext<'_>) -> Result<Batch, ComponentError> {
        Ok(Vec::new())
    }

    /// True when the result depends on the order batches arrive in (state kept across batches,
    /// like `deduplicate`): the runner then runs the chain on one batch at a time.
    fn is_ordered(&self) -> bool {
        false
    }

    /// What this transform reads of its input, given `output`, what the rest of the chain
    /// reads of its output: the source may skip every other field (see [`Projection`]). It
    /// must name every field whose value or presence can change the rows this transform gives,
    /// keeps or rejects, or the reasons it gives; the default, [`Projection::All`], is always
    /// correct.
    fn input_projection(&self, output: &Projection) -> Projection {
        let _ = output;
        Projection::All
    }
}

/// What a transform sees besides its batch: the run and a place for rejected rows.
pub struct RowContext<'a> {
    run: &'a RunContext,
    rejected: Vec<Rejected>,
}

/// A row a transform could not handle, with the reason.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Rejected {
    /// The row, as the transform received it.
    pub record: Record,
    /// Why it was rejected.
    pub reason: String,
}

impl<'a> RowContext<'a> {
    /// A context for one transform call.
    pub fn new(run: &'a RunContext) -> Self {
        Self {
            run,
            rejected: Vec::new(),
        }
    }

    /// The run this batch belongs to (run id, logical date, params).
    pub fn run(&self) -> &'a RunContext {
        self.run
    }

    /// Rejects a row: it leaves the batch, and the `on_error` policy handles it.
    pub fn reject(&mut self, record: Record, reason: impl fmt::Display) {
        self.rejected.push(Rejected {
            record,
            reason: reason.to_string(),
        });
    }

    /// Takes the rows rejected so far.
    pub fn take_rejected(&mut self) -> Vec<Rejected> {
        std::mem::take(&mut self.rejected)
    }
}

/// What a destination reports about a finished load: `LoadSummary::new(target, rows)`, then
/// the optional parts with the `with_*` setters (it may grow, so it is not built with a
/// struct literal outside this crate).
///
/// ```
/// use dataforge_core::LoadSummary;
/// let summary = LoadSummary::new("public.orders", 10).with_inserted(7).with_updated(3);
/// assert_eq!((summary.rows_loaded, summary.rows_updated), (10, Some(3)));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct LoadSummary {
    /// Rows written.
    pub rows_loaded: u64,
    /// Rows inserted (where the destination tells inserts from updates).
    pub rows_inserted: Option<u64>,
    /// Rows updated (upserts).
    pub rows_updated: Option<u64>,
    /// What was written: a table (`public.orders`) or a file path.
    pub target: String,
    /// Why the target was left as it was, when the load chose not to write (the source gave
    /// no rows and `on_empty` is `keep`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The target's columns after the load, where the destination knows them (for lineage's
    /// schema facet; not in the JSON report).
    #[serde(skip)]
    pub columns: Vec<DatasetField>,
}

impl LoadSummary {
    /// `rows_loaded` rows written to `target` (a table, a file path).
    pub fn new(target: impl Into<String>, rows_loaded: u64) -> Self {
        Self {
            rows_loaded,
            target: target.into(),
            ..Self::default()
        }
    }

    /// Sets the rows inserted (where the destination tells inserts from updates).
    #[must_use]
    pub fn with_inserted(mut self, rows: u64) -> Self {
        self.rows_inserted = Some(rows);
        self
    }

    /// Sets the rows updated (upserts).
    #[must_use]
    pub fn with_updated(mut self, rows: u64) -> Self {
        self.rows_updated = Some(rows);
        self
    }

    /// Sets the target's columns after the load (name and declared type).
    #[must_use]
    pub fn with_columns(mut self, columns: Vec<DatasetField>) -> Self {
        self.columns = columns;
        self
    }

    /// Sets why the target was left as it was.
    #[must_use]
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// Consumes the stream and writes it, all or nothing.
///
/// # The cursor and the commit
///
/// By default the runner saves the state a source staged (its cursor) through the
/// [`StateStore`](crate::StateStore) after `load` returned `Ok`: a process killed between the
/// two has committed rows whose cursor was not saved, and the next run loads them again. A
/// transactional destination closes that gap by returning true from
/// [`commits_state`](Self::commits_state): its `load` then writes
/// [`RunContext::state_to_commit`] (read after the last batch, just before `COMMIT`) inside its
/// own transaction, on every path that returns `Ok` (an empty load included), and
/// [`saved_state`](Self::saved_state) reads that copy back. The runner asks for it before each
/// attempt and, when there is one, it wins over the store's; the runner still saves to the
/// store after the commit (for inspection and for other tools), but that copy only matters
/// when the destination has none.
///
/// Implementations use `#[async_trait]` (re-exported as [`crate::async_trait`]); forgetting
/// it gives `error[E0195]: lifetime parameters or bounds on method do not match the trait
/// declaration`. `load` commits only when `input.recv()` says the stream ended cleanly.
///
/// ```no_run
/// use std::sync::Mutex;
/// use dataforge_core::{
///     BatchReceiver, ComponentError, Destination, LoadSummary, Record, RunContext, async_trait,
/// };
///
/// /// Keeps the rows of the last committed load in memory.
/// #[derive(Default)]
/// struct InMemory(Mutex<Vec<Record>>);
///
/// #[async_trait]
/// impl Destination for InMemory {
///     async fn load(
///         &self,
///         input: &mut BatchReceiver,
///         _ctx: &RunContext,
///     ) -> Result<LoadSummary, ComponentError> {
///         let mut pending = Vec::new();
///         // An error here (the source failed, the run was cancelled) returns before the commit.
///         while let Some(batch) = input.recv().await? {
///             pending.extend(batch);
///         }
///         let rows = pending.len() as u64;
///         let mut table = self
///             .0
///             .lock()
///             .map_err(|_| ComponentError::msg("a previous load panicked"))?;
///         *table = pending; // the commit
///         Ok(LoadSummary::new("memory", rows))
///     }
/// }
/// ```
#[async_trait]
pub trait Destination: Send + Sync + 'static {
    /// Runs before the load (connect, check, create what is missing).
    ///
    /// # Errors
    /// Any failure; the load does not start.
    async fn pre_load(&self, _ctx: &RunContext) -> Result<(), ComponentError> {
        Ok(())
    }

    /// Writes every batch of `input`. It must commit only when `input.recv()` returns
    /// `Ok(None)` (a clean end); on an error from `recv` it rolls back and returns that error.
    ///
    /// # Errors
    /// Any failure to write, after rolling back.
    async fn load(
        &self,
        input: &mut BatchReceiver,
        ctx: &RunContext,
    ) -> Result<LoadSummary, ComponentError>;

    /// True when `load` commits [`RunContext::state_to_commit`] in its own transaction and
    /// [`saved_state`](Self::saved_state) reads it back (see "The cursor and the commit").
    fn commits_state(&self) -> bool {
        false
    }

    /// The state the last committed load of `pipeline_id` wrote with its rows, if any; called
    /// by the runner before each attempt, with a context whose state is not loaded yet.
    ///
    /// # Errors
    /// When the destination cannot be read; the attempt fails (retryable as the error says).
    async fn saved_state(
        &self,
        _pipeline_id: &str,
        _ctx: &RunContext,
    ) -> Result<Option<State>, ComponentError> {
        Ok(None)
    }

    /// Runs after the load committed.
    ///
    /// # Errors
    /// Any failure; the data is already committed.
    async fn post_load(&self, _ctx: &RunContext) -> Result<(), ComponentError> {
        Ok(())
    }

    /// The destination's per-batch CPU work (encoding rows, counting them), if it has any that
    /// needs no order and no I/O. The runner then runs it on the transform workers, right after
    /// the chain and on the same thread, so batches are prepared in parallel while their rows
    /// are still in that core's cache; `load` reads the results, in order, with
    /// [`BatchReceiver::recv_prepared`]. Called once per attempt, before `pre_load`: it may
    /// depend on the config only. The default has none, and `load` receives the rows.
    fn preparer(&self) -> Option<Arc<dyn Preparer>> {
        None
    }

    /// A check for rows the destination can never hold (a NUL character for PostgreSQL's
    /// text), run by the runner as the last step of the transform chain. The rows it rejects
    /// follow the destination's `on_error` (`fail`, `skip` or `dead_letter`), as a
    /// transform's do, instead of failing the load half-way. The default checks nothing.
    fn row_check(&self) -> Option<Arc<dyn Transform>> {
        None
    }

    /// What this destination writes, named for lineage (OpenLineage's output dataset); asked
    /// once per run, only when the run has [observers](crate::observe::RunObserver). It must
    /// hold no credentials. The columns written go in [`LoadSummary::columns`]. The default:
    /// not said.
    async fn lineage_dataset(&self, _ctx: &RunContext) -> Option<LineageDataset> {
        None
    }

    /// What loading `sample` (rows that came out of the chain) would change in the target,
    /// found by reading it, never by changing it: no DDL, no locks. `dataforge plan` calls it.
    /// The default, `None`, means this destination cannot plan.
    ///
    /// # Errors
    /// The target cannot be read (an unreachable database): a plan is never a guess.
    async fn plan(
        &self,
        _sample: &[Record],
        _ctx: &RunContext,
    ) -> Result<Option<DestinationPlan>, ComponentError> {
        Ok(None)
    }
}

/// A destination's per-batch CPU work, run by the runner on the transform workers (see
/// [`Destination::preparer`]). It must not depend on the order batches are prepared in.
pub trait Preparer: Send + Sync + 'static {
    /// Turns one batch into what the destination's `load` writes (encoded bytes, a count). Its
    /// rows are freed here, on the thread that transformed them.
    ///
    /// # Errors
    /// A batch that cannot be encoded: the load fails with this error.
    fn prepare(&self, batch: Batch) -> Result<Prepared, ComponentError>;
}
